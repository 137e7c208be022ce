# Helpers shared by scripts/ and bench/ (source it from the repository's root):
#   start_server BIN LOG [ARGS...]   ecg-server on 127.0.0.1, a free port, the shipped weights,
#                                    --quiet; returns once it is ready with SERVER_PID and PORT
#                                    set (fails, showing the log, if it exits or takes 60 s)
#   cpu_seconds PID                  user + system CPU seconds of a process so far
#   synthetic_train_data PATH N      a prepared dataset of N random windows (throughput runs:
#                                    the values do not matter), in `ecg-train prepare`'s layout
#   need_wrk                         installs wrk (Debian package) when missing
#   DEBUG_BUILD                      the flags of the scripts' debug builds: -Xcc -O2 compiles the C
#                                    kernels optimised (SwiftPM's debug -O0 makes the suite 6x slower:
#                                    636 s against 109 s, measured); the same flags for every
#                                    build of one scratch path, or SwiftPM rebuilds everything

DEBUG_BUILD=(-Xcc -O2)

start_server() {
    local bin=$1 log=$2
    shift 2
    "$bin" --host 127.0.0.1 --port 0 --weights weights --quiet "$@" > "$log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 60))
    until grep -q '"ready"' "$log"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "ecg-server did not become ready:" >&2; cat "$log" >&2; return 1
        fi
        sleep 0.01
    done
    PORT=$(grep -o '"port":[0-9]*' "$log" | head -1 | cut -d: -f2)
}

cpu_seconds() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }   # utime + stime, clock ticks at 100 Hz

synthetic_train_data() {
    python3 - "$1" "$2" <<'PY'
import json, sys, numpy as np
n = int(sys.argv[2]); rng = np.random.default_rng(0)
names = json.dumps({"subjects": ["s"], "datasets": ["synthetic"], "records": ["r"], "labels": [], "preprocessing": {}}).encode()
np.savez(sys.argv[1], windows=rng.standard_normal((n, 2560)).astype(np.float32), subject=np.zeros(n, np.int64),
         dataset=np.zeros(n, np.int64), record=np.zeros(n, np.int64), label=-np.ones(n, np.int64), names=np.frombuffer(names, np.uint8))
PY
}

need_wrk() { command -v wrk >/dev/null || { apt-get update && apt-get install -y --no-install-recommends wrk; }; }
