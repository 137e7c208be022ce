#!/usr/bin/env bash
# Pre-training throughput (windows/s counting the 7 versions; forward + backward + Adam), on a
# synthetic dataset of BATCH × STEPS windows (throughput does not depend on the values):
#   bench/train.sh [BATCH] [STEPS]
#       ecg-train pretrain against TensorFlow training the same graph with the same batch,
#       same machine, same run (1 and 2 threads);
#   bench/train.sh --ab OLD NEW [BATCH] [STEPS] [THREADS] [ROUNDS]
#       two ecg-train binaries (e.g. before and after a change) in interleaved rounds: the
#       windows/s of each round and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
OUT=bench/out; mkdir -p "$OUT"

# One epoch of pretrain on DATA; prints windows/s.   rate BIN DATA BATCH THREADS
rate() {
    rm -rf "$OUT/train_run"
    "$1" pretrain --data "$2" --out "$OUT/train_run" --epochs 1 --batch "$3" --threads "$4" --val-fraction 0 --quiet
    tail -1 "$OUT/train_run/output/epochs.csv" | cut -d, -f11
}

if [ "${1:-}" = --ab ]; then
    A=$2; B=$3; BATCH=${4:-32}; STEPS=${5:-6}; THREADS=${6:-2}; ROUNDS=${7:-3}
    synthetic_train_data "$OUT/train_ab.npz" $((BATCH * STEPS))
    RA=""; RB=""
    for _ in $(seq 1 "$ROUNDS"); do
        RA+="$(rate "$A" "$OUT/train_ab.npz" "$BATCH" "$THREADS") "
        RB+="$(rate "$B" "$OUT/train_ab.npz" "$BATCH" "$THREADS") "
    done
    python3 - "$RA" "$RB" "$BATCH" "$THREADS" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]; b = [float(x) for x in sys.argv[2].split()]
print(f"batch {sys.argv[3]} (x7), {sys.argv[4]} threads; windows/s per round: old {a}, new {b}")
print(f"median: old {statistics.median(a):.1f}, new {statistics.median(b):.1f}, new/old {statistics.median(b) / statistics.median(a):.3f}")
PY
    exit 0
fi

BATCH=${1:-32}; STEPS=${2:-6}
swift build -c release --product ecg-train >&2
[ -x bench/.venv/bin/python ] || { python3 -m venv bench/.venv; bench/.venv/bin/pip install -q numpy tensorflow-cpu onnxruntime onnx; }
PY=bench/.venv/bin/python
synthetic_train_data "$OUT/train_data.npz" $((BATCH * STEPS))
echo "| batch (×7) | threads | ecg-affect windows/s | TensorFlow windows/s | × TF |"
echo "|---:|---:|---:|---:|---:|"
for t in 1 2; do
    OURS=$(rate .build/release/ecg-train "$OUT/train_data.npz" "$BATCH" "$t")
    TF=$($PY bench/train_tf.py "$t" "$BATCH" "$STEPS" 2>/dev/null | cut -f4)
    python3 -c "print(f'| $BATCH | $t | {$OURS:.1f} | {$TF:.1f} | {$OURS / $TF:.2f} |')"
done
