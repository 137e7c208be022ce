#!/usr/bin/env bash
# Served throughput and latency of the release ecg-server, with wrk (Debian package),
# against the engine's own throughput (`ecg-train embed`) in the same run.
#   [SERVER_ARGS="--batch-wait-ms 0"] bench/server.sh [SECONDS]
# Prints: requests/s, windows/s, p50/p99 at full load (32 connections), p99 at half of
# that load (open loop), the batches the workers gathered at each load, the batch-1 compute
# time, idle RSS, and time to /ready.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
OUT=bench/out; mkdir -p "$OUT"
. scripts/lib.sh
need_wrk
swift build -c release --product ecg-server >&2
swift build -c release --product ecg-train >&2
BIN=.build/release

python3 bench/make_windows.py "$OUT"

# Engine throughput, same machine, same run: ecg-train embed over 512 windows, all cores.
T0=$(date +%s.%N)
$BIN/ecg-train embed --weights weights --in "$OUT/windows512.npy" --out "$OUT/emb512.npy" --preprocessed --quiet
T1=$(date +%s.%N)
ENGINE=$(python3 -c "print(512 / ($T1 - $T0))")
B1=$($BIN/ecg-train bench --weights weights --batch 1 --threads 1 --seconds 2 --format tsv | cut -f4)
B1MS=$(python3 -c "print(1000 / $B1)")

# Start-up: time until /ready answers 200.
LOG="$OUT/server.log"
S0=$(date +%s.%N)
$BIN/ecg-server --host 127.0.0.1 --port 0 --weights weights --quiet ${SERVER_ARGS:-} > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
until grep -q '"port"' "$LOG"; do sleep 0.005; done
PORT=$(grep -o '"port":[0-9]*' "$LOG" | head -1 | cut -d: -f2)
until curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.005; done
S1=$(date +%s.%N)
READY=$(python3 -c "print($S1 - $S0)")
RSS=$(awk '/VmRSS/ {print $2/1024}' /proc/$PID/status)

curl -fs "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics_full0.txt"
wrk -t1 -c32 -d"${SECS}s" --latency -s bench/post.lua "http://127.0.0.1:$PORT/embed" > "$OUT/wrk.txt"
curl -fs "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics_full1.txt"
RPS=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk.txt")
P50=$(awk '$1=="50%" {print $2}' "$OUT/wrk.txt")
P99=$(awk '$1=="99%" {print $2}' "$OUT/wrk.txt")
NON2XX=$(awk '/Non-2xx/ {print $4}' "$OUT/wrk.txt"); NON2XX=${NON2XX:-0}
HALF=$(python3 -c "print($RPS / 2)")
cc -O2 -pthread -o "$OUT/paced" bench/paced.c
curl -fs "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics0.txt"
read -r HP50 HP90 HP99 HERR HN < <("$OUT/paced" "$PORT" "$OUT/window.json" "$HALF" "$SECS" 16)
curl -fs "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics1.txt"
# Where the half-load latency went, per window (the server's own histograms, paced run only).
STAGES=$(python3 - "$OUT/metrics0.txt" "$OUT/metrics1.txt" <<'PY2'
import re, sys
def read(f):
    h = {}
    for line in open(f):
        m = re.match(r'(ecg_inference_(queue|compute)_seconds)_(bucket\{le="([^"]+)"\}|sum|count) (\S+)', line)
        if m: h[(m.group(2), m.group(4) or m.group(3))] = float(m.group(5))
    return h
a, b = read(sys.argv[1]), read(sys.argv[2])
out = []
for stage in ("queue", "compute"):
    n = b[(stage, "count")] - a[(stage, "count")]
    mean = (b[(stage, "sum")] - a[(stage, "sum")]) / n * 1000
    bounds = sorted(float(k[1]) for k in b if k[0] == stage and k[1] not in ("sum", "count", "+Inf"))
    def q(p):
        for bd in bounds:
            key = (stage, str(int(bd)) if bd == int(bd) else repr(bd))
            if b[key] - a[key] >= p * n: return f"≤ {bd * 1000:g}"
        return "> 5000"
    out.append(f"{stage} mean {mean:.2f} ms, p50 {q(0.5)} ms, p99 {q(0.99)} ms")
print("; ".join(out))
PY2
)
# Batches the workers actually gathered (each computed window by window; README "Batches").
batches() {
python3 - "$1" "$2" <<'PY3'
import re, sys
def read(f):
    h = {}
    for line in open(f):
        m = re.match(r'ecg_inference_batch_size_(bucket\{le="([^"]+)"\}|sum|count) (\S+)', line)
        if m: h[m.group(2) or m.group(1)] = float(m.group(3))
    return h
a, b = read(sys.argv[1]), read(sys.argv[2])
n = b["count"] - a["count"]
if n == 0: print("none"); sys.exit()
les = sorted((float(k), k) for k in b if k not in ("sum", "count", "+Inf"))
prev, lo, parts = 0.0, 1, []
for v, k in les:
    c = (b[k] - a[k]) - prev; prev = b[k] - a[k]
    if c > 0: parts.append(f"{f'{v:g}' if lo == v else f'{lo}–{v:g}'}: {100 * c / n:.1f} %")
    lo = int(v) + 1
rest = n - prev
if rest > 0: parts.append(f">{les[-1][0]:g}: {100 * rest / n:.0f} %")
print(f"{n:.0f} batches, mean {(b['sum'] - a['sum']) / n:.2f} windows ({', '.join(parts)})")
PY3
}
BFULL=$(batches "$OUT/metrics_full0.txt" "$OUT/metrics_full1.txt")
BHALF=$(batches "$OUT/metrics0.txt" "$OUT/metrics1.txt")

python3 - <<PY
rps, engine, b1ms = $RPS, $ENGINE, $B1MS
print("| measure | value |")
print("|---|---:|")
print(f"| requests/s (wrk, 32 connections, 1 window each) | {rps:.0f} |")
print(f"| served windows/s | {rps:.0f} |")
print(f"| engine windows/s (ecg-train embed, 512 windows, all cores) | {engine:.0f} |")
print(f"| served / engine | {rps / engine:.2f} |")
print(f"| p50 / p99 latency at full load | $P50 / $P99 |")
print(f"| p99 at half load ({rps/2:.0f} req/s, open loop) | {$HP99:.1f} ms (p50 {$HP50:.1f}) |")
print(f"| per window at half load (server histograms) | $STAGES |")
print(f"| batches gathered at full load | $BFULL |")
print(f"| batches gathered at half load | $BHALF |")
print(f"| batch-1 compute time (1 thread) | {b1ms:.2f} ms → p99/compute = {$HP99 / b1ms:.2f} |")
print(f"| idle RSS after warm-up | {$RSS:.1f} MiB |")
print(f"| start → /ready 200 | {$READY:.3f} s |")
print(f"| non-2xx under load | $NON2XX (+ {$HERR} in the paced run) |")
PY
