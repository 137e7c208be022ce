#!/usr/bin/env bash
# Issue #10's CPU ratio measured with the server and the engine running AT THE SAME TIME,
# each pinned to its own core, so that both see the same moment of this shared machine
# (bench/cpu_ratio.sh alternates them instead, and the engine's own rate moved 2x between
# two of its rounds). Per round, for a body kind (JSON or npy):
#   core A: ecg-server --workers 1 (all its threads), loaded by wrk (8 connections, one raw
#           10 s window per request: json (2-4-digit numbers), json64 (as json.dumps writes
#           float64), npy; or 80 s = 8 windows per request: npy8)
#           -> served windows per CPU-second of the server process
#   core B: ecg-train embed --threads 1 over 512 preprocessed windows, repeated for the same
#           seconds, and wrk itself -> engine windows per CPU-second (its rusage)
# The cores swap every round (a per-core difference cancels); the result is the median of
# the per-round ratios. Needs taskset (util-linux) and at least 2 cores.
#   [KINDS="json json64 npy npy8"] [SERVER=other/ecg-server] bench/cpu_ratio_side_by_side.sh [SECONDS] [ROUNDS]   (defaults: 6 s, 6 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-6}
ROUNDS=${2:-6}
KINDS=${KINDS:-json json64 npy npy8}
[ "$(nproc)" -ge 2 ] || { echo "needs at least 2 cores" >&2; exit 2; }
OUT=bench/out; mkdir -p "$OUT"
. scripts/lib.sh
need_wrk
swift build -c release --product ecg-server >&2
swift build -c release --product ecg-train >&2
BIN=.build/release
SERVER=${SERVER:-$BIN/ecg-server}   # another build's server to compare, e.g. SERVER=/tmp/old/ecg-server
python3 bench/make_windows.py "$OUT" >&2
cpu() { cpu_seconds "$1"; }

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
# Engine on core $1 for about $2 seconds: prints windows per CPU-second (children's rusage).
engine() {
    taskset -c "$1" python3 -c "
import resource, subprocess, time
end, n = time.time() + $2, 0
while time.time() < end:
    subprocess.run(['$BIN/ecg-train', 'embed', '--weights', 'weights', '--in', '$OUT/windows512.npy', '--out', '$OUT/emb512_side.npy', '--preprocessed', '--threads', '1', '--quiet'], check=True)
    n += 512
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f'{n / (r.ru_utime + r.ru_stime):.2f}')"
}
# One round: server on core $1, engine + wrk on core $2, body kind $3 (json|npy).
round() {
    local log="$OUT/side_server.log"
    taskset -c "$1" "$SERVER" --host 127.0.0.1 --port 0 --weights weights --workers 1 --quiet > "$log" 2>&1 &
    local pid=$!; PIDS+=("$pid")
    until grep -q '"ready"' "$log"; do sleep 0.05; done
    local port; port=$(grep -o '"port":[0-9]*' "$log" | head -1 | cut -d: -f2)
    local script=bench/post.lua body="$OUT/window.json" per=1
    if [ "$3" = json64 ]; then body="$OUT/window_f64.json"; fi
    if [ "$3" = npy ]; then script=bench/post_npy.lua body="$OUT/window.npy"; fi
    if [ "$3" = npy8 ]; then script=bench/post_npy.lua body="$OUT/window8.npy" per=8; fi
    ECG_BODY="$body" taskset -c "$2" wrk -t1 -c8 -d1s -s "$script" "http://127.0.0.1:$port/embed" > /dev/null   # warm-up
    local c0; c0=$(cpu "$pid")
    ECG_BODY="$body" taskset -c "$2" wrk -t1 -c8 -d"${SECS}s" -s "$script" "http://127.0.0.1:$port/embed" > "$OUT/side_wrk.txt" &
    local wrk=$!
    local e; e=$(engine "$2" "$SECS")
    wait "$wrk"
    local c1; c1=$(cpu "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local n bad; n=$(awk '/requests in/ {print $1}' "$OUT/side_wrk.txt")
    bad=$(awk '/Non-2xx/ {print $4}' "$OUT/side_wrk.txt"); bad=${bad:-0}
    [ "$bad" = 0 ] || echo "WARNING: $bad non-2xx answers" >&2
    python3 -c "s = ($n - $bad) * $per / ($c1 - $c0); print(f'{s:.2f} $e {s / $e:.3f}')"
}
echo "| round | server core | body | served windows per CPU-s | engine windows per CPU-s (same seconds) | ratio |"
echo "|---:|---:|---|---:|---:|---:|"
ROWS=$(mktemp); trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -f "$ROWS"' EXIT
for r in $(seq 1 "$ROUNDS"); do
    a=$(( r % 2 )); b=$(( 1 - a ))
    for kind in $KINDS; do
        read -r S E R < <(round "$a" "$b" "$kind")
        echo "| $r | $a | $kind | $S | $E | $R |"
        echo "$kind $R" >> "$ROWS"
    done
done
python3 - "$ROWS" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for kind in dict.fromkeys(r[0] for r in rows):
    v = sorted(float(r[1]) for r in rows if r[0] == kind)
    print(f"{kind}: median {st.median(v):.3f} over {len(v)} rounds (range {v[0]:.3f}-{v[-1]:.3f})")
PY
