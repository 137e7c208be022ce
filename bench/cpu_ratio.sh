#!/usr/bin/env bash
# Served windows per CPU-second of the server process, for JSON and for npy bodies, against
# the engine's windows per CPU-second (ecg-train embed, 2 threads, 512 windows) in the same
# run (issue #10: goals JSON >= 0.9, npy >= 0.97). Per CPU-second, so that other load on the
# machine (and wrk itself) does not count. One raw 10 s window per request (wrk, 32 connections).
#   bench/cpu_ratio.sh [SECONDS] [ROUNDS]     (defaults: 5 s per measure, 7 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-7}
OUT=bench/out; mkdir -p "$OUT"
swift build -c release --product ecg-server >&2
swift build -c release --product ecg-train >&2
BIN=.build/release
python3 bench/make_windows.py "$OUT"
. scripts/lib.sh
cpu() { cpu_seconds "$1"; }
# Engine: windows per CPU-second of ecg-train embed over 512 windows (children's rusage).
engine() {
    python3 -c "
import resource, subprocess
subprocess.run(['$BIN/ecg-train', 'embed', '--weights', 'weights', '--in', '$OUT/windows512.npy', '--out', '$OUT/emb512.npy', '--preprocessed', '--threads', '2', '--quiet'], check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f'{512 / (r.ru_utime + r.ru_stime):.1f}')"
}
LOG="$OUT/server.log"
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
start_server $BIN/ecg-server "$LOG"
PID=$SERVER_PID
run() {  # $1 = lua script, $2 = body file; prints served windows per CPU-second of the server
    ECG_BODY="$2" wrk -t1 -c32 -d1s -s "$1" "http://127.0.0.1:$PORT/embed" > /dev/null   # warm-up
    local c0; c0=$(cpu $PID)
    ECG_BODY="$2" wrk -t1 -c32 -d"${SECS}s" -s "$1" "http://127.0.0.1:$PORT/embed" > "$OUT/wrk.txt"
    local c1; c1=$(cpu $PID)
    local n; n=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
    local bad; bad=$(awk '/Non-2xx/ {print $4}' "$OUT/wrk.txt"); bad=${bad:-0}
    [ "$bad" = 0 ] || echo "WARNING: $bad non-2xx answers" >&2
    python3 -c "print(f'{($n - $bad) / ($c1 - $c0):.1f}')"
}
# Interleaved rounds: this machine's speed drifts by tens of per cent within a minute, so
# each served figure is divided by the mean of the engine runs just before and after it;
# the medians over the rounds are the result.
echo "| round | engine before | JSON | npy | engine after | JSON / engine | npy / engine |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
ROWS=$(mktemp); trap 'kill $SERVER_PID 2>/dev/null || true; rm -f "$ROWS"' EXIT
E0=$(engine)
for r in $(seq 1 "$ROUNDS"); do
    J=$(run bench/post.lua "$OUT/window.json")
    N=$(run bench/post_npy.lua "$OUT/window.npy")
    E1=$(engine)
    python3 -c "e = ($E0 + $E1) / 2; print(f'| $r | $E0 | $J | $N | $E1 | {$J / e:.3f} | {$N / e:.3f} |')" | tee -a "$ROWS"
    E0=$E1
done
python3 - "$ROWS" <<'PY'
import sys, statistics as st
rows = [l.split('|') for l in open(sys.argv[1]) if l.strip()]
j = [float(r[6]) for r in rows]; n = [float(r[7]) for r in rows]
print(f"median of {len(rows)} rounds, served windows per CPU-second / engine's: "
      f"JSON {st.median(j):.3f} (range {min(j):.3f}-{max(j):.3f}), npy {st.median(n):.3f} (range {min(n):.3f}-{max(n):.3f})")
PY
