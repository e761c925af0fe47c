// Jinja subset for chat templates (in progress).
