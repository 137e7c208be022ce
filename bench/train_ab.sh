#!/usr/bin/env bash
# Pre-training throughput of two ecg-train binaries (e.g. before and after a change), in
# interleaved rounds on the same synthetic data: windows/s counting the 7 versions
# (forward + backward + Adam), median of ROUNDS.   bench/train_ab.sh OLD NEW [BATCH] [STEPS] [THREADS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1; B=$2; BATCH=${3:-32}; STEPS=${4:-6}; THREADS=${5:-2}; ROUNDS=${6:-3}
OUT=bench/out; mkdir -p "$OUT"
. scripts/lib.sh
synthetic_train_data "$OUT/train_ab.npz" $((BATCH * STEPS))
declare -A rates
for r in $(seq 1 "$ROUNDS"); do
    for which in A B; do
        bin=${!which}; rm -rf "$OUT/train_ab_run"
        "$bin" pretrain --data "$OUT/train_ab.npz" --out "$OUT/train_ab_run" --epochs 1 --batch "$BATCH" --threads "$THREADS" --val-fraction 0 --quiet
        rates[$which]+="$(tail -1 "$OUT/train_ab_run/output/epochs.csv" | cut -d, -f11) "
    done
done
python3 - "${rates[A]}" "${rates[B]}" "$BATCH" "$THREADS" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
print(f"batch {sys.argv[3]} (x7), {sys.argv[4]} threads; windows/s per round: old {a}, new {b}")
print(f"median: old {statistics.median(a):.1f}, new {statistics.median(b):.1f}, new/old {statistics.median(b) / statistics.median(a):.3f}")
PY
