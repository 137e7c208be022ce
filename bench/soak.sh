#!/usr/bin/env bash
# Soak (issue #8): the release server under 70 % of its measured maximum load for SOAK
# seconds (default 600), open loop, mixed traffic (/embed and /classify, one raw 10 s JSON
# window each); RSS and open descriptors sampled every 10 s. Passes when RSS grows < 5 %
# from the end of the warm-up to the end and stays <= 64 MiB, with no failed request.
#   bench/soak.sh [SOAK_SECONDS] [WARMUP_SECONDS]
# Writes bench/out/soak.csv (t, rss_mib, fds) and prints a summary; exits 1 on a failed criterion.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK=${1:-600}; WARM=${2:-60}
OUT=bench/out; mkdir -p "$OUT"
. scripts/lib.sh
swift build -c release --product ecg-server >&2
cc -O2 -pthread -o "$OUT/paced" bench/paced.c
python3 bench/make_windows.py "$OUT"
LOG="$OUT/soak-server.log"
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
start_server .build/release/ecg-server "$LOG"
PID=$SERVER_PID
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
echo "idle RSS $(rss) MiB, fds $(fds)"

# Maximum: closed loop, 32 connections, 10 s.
ECG_BODY="$OUT/window_500hz.json" wrk -t1 -c32 -d10s -s bench/post.lua "http://127.0.0.1:$PORT/embed" > "$OUT/soak_wrk.txt" 2>&1
if grep -q "Non-2xx" "$OUT/soak_wrk.txt"; then echo "wrk saw non-2xx answers:" >&2; cat "$OUT/soak_wrk.txt" >&2; exit 1; fi
MAX=$(awk '/Requests\/sec/ {print $2}' "$OUT/soak_wrk.txt")
RATE=$(python3 -c "print(round(0.7 * $MAX, 1))")
HALF=$(python3 -c "print(round($RATE / 2, 1))")
echo "max $MAX req/s (wrk -c32, /embed); soak at 70 %: $RATE req/s ($HALF /embed + $HALF /classify)"

# Warm-up, then the soak with RSS sampled every 10 s.
"$OUT/paced" "$PORT" "$OUT/window_500hz.json" "$HALF" "$WARM" 8 /embed > /dev/null &
W1=$!
"$OUT/paced" "$PORT" "$OUT/window_500hz.json" "$HALF" "$WARM" 8 /classify > /dev/null
wait $W1 || true
RSS0=$(rss); FD0=$(fds)
echo "after ${WARM} s warm-up: RSS $RSS0 MiB, fds $FD0"
"$OUT/paced" "$PORT" "$OUT/window_500hz.json" "$HALF" "$SOAK" 8 /embed > "$OUT/soak_embed.txt" &
P1=$!
"$OUT/paced" "$PORT" "$OUT/window_500hz.json" "$HALF" "$SOAK" 8 /classify > "$OUT/soak_classify.txt" &
P2=$!
echo "t,rss_mib,fds" > "$OUT/soak.csv"
T=0
while kill -0 $P1 2>/dev/null || kill -0 $P2 2>/dev/null; do
    R=$(rss); F=$(fds)
    echo "$T,$R,$F" >> "$OUT/soak.csv"
    # Progress on stderr, one line rewritten in place: elapsed, RSS, descriptors.
    printf '\rsoak %4d / %d s [%-30s] RSS %s MiB, fds %s ' "$T" "$SOAK" "$(head -c $((T * 30 / SOAK)) /dev/zero | tr '\0' '#')" "$R" "$F" >&2
    sleep 10; T=$((T + 10))
done
wait $P1 $P2 || true
echo >&2
RSS1=$(rss); FD1=$(fds)
echo "$T,$RSS1,$FD1" >> "$OUT/soak.csv"
read -r E50 E90 E99 EERR EN < "$OUT/soak_embed.txt"
read -r C50 C90 C99 CERR CN < "$OUT/soak_classify.txt"
python3 - "$OUT/soak.csv" "$RSS0" "$RSS1" "$FD0" "$FD1" "$EN" "$EERR" "$E99" "$CN" "$CERR" "$C99" "$SOAK" <<'PY'
import csv, sys
f, rss0, rss1, fd0, fd1, en, eerr, e99, cn, cerr, c99, soak = sys.argv[1:]
rows = list(csv.DictReader(open(f)))
peak = max(float(r["rss_mib"]) for r in rows)
growth = (float(rss1) - float(rss0)) / float(rss0) * 100
print(f"soak {soak} s: /embed {en} requests (p99 {e99} ms, {eerr} failed), /classify {cn} requests (p99 {c99} ms, {cerr} failed)")
print(f"RSS {rss0} -> {rss1} MiB ({growth:+.1f} %), peak {peak:.1f} MiB; fds {fd0} -> {fd1}")
ok = growth < 5 and peak <= 64 and int(eerr) == 0 and int(cerr) == 0
print("PASS" if ok else "FAIL (criteria: growth < 5 %, peak <= 64 MiB, no failed request)")
sys.exit(0 if ok else 1)
PY
