#!/bin/sh
# generation.engine.reload_command for llama.cpp's llama-server: idpo runs it after π(t) is saved,
# with IDPO_POLICY_GGUF naming π(t) exported to GGUF. It restarts the server on that file and returns
# once the server answers; idpo then checks (the staleness check) that it serves π(t).
# LLAMA_SERVER (default: llama-server on PATH) and PORT (default 8080) may be set in the environment.
set -eu
PORT=${PORT:-8080}
[ -f llama-server.pid ] && kill "$(cat llama-server.pid)" 2>/dev/null && sleep 1
"${LLAMA_SERVER:-llama-server}" -m "$IDPO_POLICY_GGUF" --host 127.0.0.1 --port "$PORT" -c 4096 -np 4 > llama-server.log 2>&1 &
echo $! > llama-server.pid
for i in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/health" > /dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "llama-server did not start on $IDPO_POLICY_GGUF (see llama-server.log)" >&2
exit 1
