#!/usr/bin/env bash
# Instructions the server spends per one-window request against the engine's for the same
# window (issue #19 item 9), counted by valgrind/callgrind: repeatable whatever else the
# machine does, unlike CPU seconds on 2 shared cores.
#
#   bench/instructions.sh [N]      (N requests of each kind, default 20)
#
# Server: a release ecg-server (debug info stripped: valgrind cannot read Swift 6.3's) runs
# under callgrind, answers N one-window JSON requests (or npy), then SIGTERM; minus the same
# run with no request, over N. Engine: `ecg-train embed --threads 1` on N+1 windows minus on 1
# window, over N. The ratio engine / server is the share of the server's work that is the
# encoder; the rest is HTTP, decoding, preprocessing, the quality grade and the answer.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
swift build -c release --product ecg-server >/dev/null
swift build -c release --product ecg-train >/dev/null
BIN=$(swift build -c release --show-bin-path)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$BIN/ecg-server" "$BIN/ecg-train" "$WORK/"
strip --strip-debug "$WORK/ecg-server" "$WORK/ecg-train"
# One raw 10 s window at 256 Hz as the request bodies (JSON numbers and float32 .npy).
python3 - "$WORK" <<'PY'
import json, math, struct, sys
d = sys.argv[1]
x = [math.exp(-((i % 205) - 100) ** 2 / 20) + 0.1 * math.sin(i / 40) for i in range(2560)]
json.dump({"ecg": [round(v, 4) for v in x], "fs": 256}, open(f"{d}/w.json", "w"))
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2560,), }"
h += " " * (64 - 10 - len(h) - 1) + "\n"
open(f"{d}/w.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + b"".join(struct.pack("<f", v) for v in x))
PY
# The engine's inputs: the same window, preprocessed as the server does, 1 and N + 1 times.
"$WORK/ecg-train" embed --help >/dev/null
python3 - "$WORK" "$N" <<'PY'
import json, struct, sys
d, n = sys.argv[1], int(sys.argv[2])
x = json.load(open(f"{d}/w.json"))["ecg"]
def save(path, rows):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 2560), }" % rows
    h += " " * (64 * ((len(h) + 11) // 64 + 1) - 10 - len(h) - 1) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + b"".join(struct.pack("<f", v) for v in x) * rows)
save(f"{d}/one.npy", 1); save(f"{d}/many.npy", n + 1)
PY
ir() { awk '/refs:/ {gsub(",", "", $4); print $4}' "$1"; }
server_run() {  # $1: kind (none|json|npy)
    local log="$WORK/server-$1.log"
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$WORK/ecg-server" --weights weights --port 0 --host 127.0.0.1 \
        --workers 1 --quiet > "$WORK/out-$1.log" 2> "$log" &
    local pid=$!
    for _ in $(seq 1 600); do grep -q '"ready"' "$WORK/out-$1.log" 2>/dev/null && break; sleep 0.1; done
    local port; port=$(grep -o '"port":[0-9]*' "$WORK/out-$1.log" | head -1 | cut -d: -f2)
    if [ "$1" != none ]; then
        for _ in $(seq 1 "$N"); do
            if [ "$1" = json ]; then curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary @"$WORK/w.json" "http://127.0.0.1:$port/embed"
            else curl -s -o /dev/null -H 'Content-Type: application/x-npy' --data-binary @"$WORK/w.npy" "http://127.0.0.1:$port/embed?fs=256"; fi
        done
    fi
    kill -TERM "$pid"; wait "$pid" || true
    ir "$log"
}
engine_run() {  # $1: file
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$WORK/ecg-train" embed --weights weights --in "$1" --out "$WORK/e.npy" \
        --threads 1 --batch 1 --quiet 2> "$WORK/engine.log" >/dev/null
    ir "$WORK/engine.log"
}
s0=$(server_run none); sj=$(server_run json); sn=$(server_run npy)
e1=$(engine_run "$WORK/one.npy"); en=$(engine_run "$WORK/many.npy")
python3 - "$s0" "$sj" "$sn" "$e1" "$en" "$N" <<'PY'
import sys
s0, sj, sn, e1, en, n = map(int, sys.argv[1:])
eng = (en - e1) / n
for kind, s in (("JSON", sj), ("npy", sn)):
    per = (s - s0) / n
    print(f"{kind}: server {per / 1e6:.1f} M instructions per one-window request, engine {eng / 1e6:.1f} M per window: "
          f"engine / server = {eng / per:.3f}")
PY
