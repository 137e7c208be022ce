#!/usr/bin/env bash
# Pre-training throughput (windows/s counting the 7 versions; forward + backward + Adam):
# ecg-train pretrain vs TensorFlow training the same graph with the same batch, same
# machine, same run.   bench/train.sh [BATCH] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${1:-32}; STEPS=${2:-6}
OUT=bench/out; mkdir -p "$OUT"
swift build -c release --product ecg-train >&2
[ -x bench/.venv/bin/python ] || { python3 -m venv bench/.venv; bench/.venv/bin/pip install -q numpy tensorflow-cpu onnxruntime onnx; }
PY=bench/.venv/bin/python
# A synthetic dataset of BATCH × STEPS windows (throughput does not depend on the values).
. scripts/lib.sh
synthetic_train_data "$OUT/train_data.npz" $((BATCH * STEPS))
echo "| batch (×7) | threads | ecg-affect windows/s | TensorFlow windows/s | × TF |"
echo "|---:|---:|---:|---:|---:|"
for t in 1 2; do
    rm -rf "$OUT/train_run"
    .build/release/ecg-train pretrain --data "$OUT/train_data.npz" --out "$OUT/train_run" --epochs 1 --batch "$BATCH" --threads "$t" --val-fraction 0 --quiet
    OURS=$(tail -1 "$OUT/train_run/output/epochs.csv" | cut -d, -f11)
    TF=$($PY bench/train_tf.py "$t" "$BATCH" "$STEPS" 2>/dev/null | cut -f4)
    python3 -c "print(f'| $BATCH | $t | {$OURS:.1f} | {$TF:.1f} | {$OURS / $TF:.2f} |')"
done
