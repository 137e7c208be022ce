#!/usr/bin/env bash
# Served windows per CPU-second of the server process against the engine's windows per
# CPU-second (ecg-train embed over 512 preprocessed windows) in the same run (issue #10: goals
# JSON >= 0.9, npy >= 0.97). Per CPU-second, so that other load on the machine does not
# count. One raw 10 s window per request (wrk), or 8 for npy8. Two methods:
#
#   bench/cpu_ratio.sh [SECONDS] [ROUNDS]                  (defaults: 5 s per measure, 7 rounds)
#       alternating: one server (all workers) loaded by wrk -c32 for JSON, then npy, then the
#       engine (--threads 2); each served figure is divided by the mean of the engine runs
#       just before and after it (this machine's speed drifts by tens of per cent within a
#       minute); the result is the median over the rounds.
#
#   [KINDS="json json64 npy npy8"] [SERVER=other/ecg-server] \
#   bench/cpu_ratio.sh --side-by-side [SECONDS] [ROUNDS]   (defaults: 6 s, 6 rounds)
#       at the same time, each pinned to its own core so both see the same moment of the
#       machine: core A ecg-server --workers 1 loaded by wrk -c8; core B the engine
#       (--threads 1, repeated for the same seconds) and wrk itself. The cores swap every
#       round; the result is the median of the per-round ratios. Needs taskset and 2 cores.
#       Bodies: json (2-4-digit numbers), json64 (as json.dumps writes float64), npy, npy8.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h | --help) usage; exit 0 ;; esac
SIDE=0
if [ "${1:-}" = --side-by-side ]; then SIDE=1; shift; fi
if [ $SIDE = 1 ]; then SECS=${1:-6}; ROUNDS=${2:-6}; else SECS=${1:-5}; ROUNDS=${2:-7}; fi
KINDS=${KINDS:-json json64 npy npy8}
for v in "$SECS" "$ROUNDS"; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "SECONDS and ROUNDS must be positive integers, got '$v'" >&2; usage >&2; exit 2; }
done
for k in $KINDS; do
    case $k in json | json64 | npy | npy8) ;; *) echo "unknown body kind '$k' in KINDS (json, json64, npy, npy8)" >&2; exit 2 ;; esac
done
[ $SIDE = 0 ] || [ "$(nproc)" -ge 2 ] || { echo "--side-by-side needs at least 2 cores" >&2; exit 2; }
OUT=bench/out; mkdir -p "$OUT"
. scripts/lib.sh
need_wrk
swift build -c release --product ecg-server >&2
swift build -c release --product ecg-train >&2
BIN=.build/release
SERVER=${SERVER:-$BIN/ecg-server}   # another build's server to compare, e.g. SERVER=/tmp/old/ecg-server
python3 bench/make_windows.py "$OUT" >&2

# Engine windows per CPU-second (children's rusage): ecg-train embed --threads THREADS over the
# 512 windows, repeated until SECONDS have passed (0: once), pinned to CORE unless "-".
#   engine CORE THREADS SECONDS
engine() {
    local pin=(); [ "$1" = - ] || pin=(taskset -c "$1")
    "${pin[@]}" python3 -c "
import resource, subprocess, time
end, n = time.time() + $3, 0
while n == 0 or time.time() < end:
    subprocess.run(['$BIN/ecg-train', 'embed', '--weights', 'weights', '--in', '$OUT/windows512.npy', '--out', '$OUT/emb512_$1.npy', '--preprocessed', '--threads', '$2', '--quiet'], check=True)
    n += 512
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f'{n / (r.ru_utime + r.ru_stime):.2f}')"
}

# The body file of a kind and the windows in it.   body KIND -> "FILE WINDOWS"
body() {
    case $1 in
        json) echo "$OUT/window.json 1" ;;
        json64) echo "$OUT/window_f64.json 1" ;;
        npy) echo "$OUT/window.npy 1" ;;
        npy8) echo "$OUT/window8.npy 8" ;;
    esac
}

# Load the server PID on PORT with wrk (CONNS connections, SECS seconds, after a 1 s warm-up)
# while running WHILE (a command, or "" for none); prints served windows per CPU-second of
# the server, then WHILE's output.   load PID PORT KIND CONNS WRK-CORE WHILE...
load() {
    local pid=$1 port=$2 conns=$4 pin=(); [ "$5" = - ] || pin=(taskset -c "$5")
    local file per; read -r file per < <(body "$3")
    shift 5
    ECG_BODY="$file" "${pin[@]}" wrk -t1 -c"$conns" -d1s -s bench/post.lua "http://127.0.0.1:$port/embed" > /dev/null
    local c0; c0=$(cpu_seconds "$pid")
    ECG_BODY="$file" "${pin[@]}" wrk -t1 -c"$conns" -d"${SECS}s" -s bench/post.lua "http://127.0.0.1:$port/embed" > "$OUT/ratio_wrk.txt" &
    local wrk=$! also=""
    if [ $# -gt 0 ]; then also=$("$@"); fi
    wait "$wrk"
    local c1; c1=$(cpu_seconds "$pid")
    local n bad; n=$(awk '/requests in/ {print $1}' "$OUT/ratio_wrk.txt")
    bad=$(awk '/Non-2xx/ {print $4}' "$OUT/ratio_wrk.txt"); bad=${bad:-0}
    [ "$bad" = 0 ] || echo "WARNING: $bad non-2xx answers" >&2
    python3 -c "print(f'{($n - $bad) * $per / ($c1 - $c0):.2f}')"
    [ -z "$also" ] || echo "$also"
}

ROWS=$(mktemp)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -f "$ROWS"' EXIT

if [ $SIDE = 0 ]; then
    start_server "$SERVER" "$OUT/server.log"
    PIDS+=("$SERVER_PID")
    echo "| round | engine before | JSON | npy | engine after | JSON / engine | npy / engine |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    E0=$(engine - 2 0)
    for r in $(seq 1 "$ROUNDS"); do
        J=$(load "$SERVER_PID" "$PORT" json 32 -)
        N=$(load "$SERVER_PID" "$PORT" npy 32 -)
        E1=$(engine - 2 0)
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
    exit 0
fi

echo "| round | server core | body | served windows per CPU-s | engine windows per CPU-s (same seconds) | ratio |"
echo "|---:|---:|---|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
    a=$((r % 2)); b=$((1 - a))
    for kind in $KINDS; do
        log="$OUT/side_server.log"
        taskset -c "$a" "$SERVER" --host 127.0.0.1 --port 0 --weights weights --workers 1 --quiet > "$log" 2>&1 &
        pid=$!; PIDS+=("$pid")
        until grep -qs '"ready"' "$log"; do sleep 0.05; done
        port=$(grep -o '"port":[0-9]*' "$log" | head -1 | cut -d: -f2)
        { read -r S; read -r E; } < <(load "$pid" "$port" "$kind" 8 "$b" engine "$b" 1 "$SECS")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        R=$(python3 -c "print(f'{$S / $E:.3f}')")
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
