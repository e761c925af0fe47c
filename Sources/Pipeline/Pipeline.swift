// Recipes, runs, iterations, sweeps, resume and reports (in progress).
