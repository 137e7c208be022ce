#!/usr/bin/env bash
# Served windows per CPU-second of the server process, for JSON and for npy bodies, against
# the engine's windows per CPU-second (ecg-train embed, 2 threads, 512 windows) in the same
# run (issue #10: goals JSON >= 0.9, npy >= 0.97). Per CPU-second, so that other load on the
# machine (and wrk itself) does not count. One raw 10 s window per request (wrk, 32 connections).
#   bench/cpu_ratio.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
OUT=bench/out; mkdir -p "$OUT"
swift build -c release --product ecg-server >&2
swift build -c release --product ecg-train >&2
BIN=.build/release
python3 - "$OUT" <<'PY'
import json, struct, sys
out = sys.argv[1]
x = json.load(open("examples/ecg_500hz.json"))["ecg"]
# 2560 samples resampled by taking every second-ish sample is not needed: send 256 Hz data.
w = [x[int(i * 500 / 256)] for i in range(2560)]
json.dump({"ecg": w, "fs": 256}, open(f"{out}/window.json", "w"))
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2560,), }"
h += " " * (64 - 10 - len(h) - 1) + "\n"
open(f"{out}/window.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + struct.pack("<2560f", *w))
import numpy as np
np.save(f"{out}/windows512.npy", np.tile(np.load("Tests/ModelTests/Fixtures/inputs.npy"), (64, 1)))
PY
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }   # utime + stime, clock ticks at 100 Hz
# Engine: CPU seconds of ecg-train embed over 512 windows (children's rusage).
ENGINE=$(python3 - <<PY
import resource, subprocess
subprocess.run(["$BIN/ecg-train", "embed", "--weights", "weights", "--in", "$OUT/windows512.npy", "--out", "$OUT/emb512.npy", "--preprocessed", "--threads", "2", "--quiet"], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(512 / (r.ru_utime + r.ru_stime))
PY
)
LOG="$OUT/server.log"
$BIN/ecg-server --host 127.0.0.1 --port 0 --weights weights --quiet > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until grep -q '"ready"' "$LOG"; do sleep 0.05; done
PORT=$(grep -o '"port":[0-9]*' "$LOG" | head -1 | cut -d: -f2)
run() {  # $1 = lua script, $2 = body file
    wrk -t1 -c32 -d2s -s "$1" "http://127.0.0.1:$PORT/embed" > /dev/null   # warm-up
    local c0; c0=$(cpu $PID)
    ECG_BODY="$2" wrk -t1 -c32 -d"${SECS}s" -s "$1" "http://127.0.0.1:$PORT/embed" > "$OUT/wrk.txt"
    local c1; c1=$(cpu $PID)
    local n; n=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
    local bad; bad=$(awk '/Non-2xx/ {print $4}' "$OUT/wrk.txt"); bad=${bad:-0}
    python3 -c "print(f'{($n - $bad) / ($c1 - $c0):.1f} {$n} {$bad} {$c1 - $c0:.2f}')"
}
read -r J JN JBAD JCPU < <(run bench/post.lua "$OUT/window.json")
read -r N NN NBAD NCPU < <(run bench/post_npy.lua "$OUT/window.npy")
python3 - <<PY
e, j, n = $ENGINE, $J, $N
print("| measure | windows per CPU-second | / engine |")
print("|---|---:|---:|")
print(f"| engine (ecg-train embed, 2 threads, 512 windows) | {e:.1f} | 1.00 |")
print(f"| served, JSON bodies ($JN requests, $JBAD non-2xx, {$JCPU} CPU-s) | {j:.1f} | {j / e:.2f} |")
print(f"| served, npy bodies ($NN requests, $NBAD non-2xx, {$NCPU} CPU-s) | {n:.1f} | {n / e:.2f} |")
PY
