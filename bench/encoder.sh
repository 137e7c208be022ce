#!/usr/bin/env bash
# Encoder throughput: ecg-affect vs TensorFlow and ONNX Runtime, same weights, same
# machine, same run. Prints one table of median windows/s per (batch, threads) cell.
#
#   bench/encoder.sh [WEIGHTS_DIR] [SECONDS_PER_CELL]
#
# Builds ecg-train in release, creates bench/.venv (git-ignored) with tensorflow-cpu,
# onnxruntime and onnx if it is missing, exports the weights to both frameworks (the
# same encoder.npz), checks that their embeddings agree with ours, then measures every
# cell: batch 1/8/32/128 x threads 1/2.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS=${1:-weights}
SECS=${2:-2}
ROUNDS=${ROUNDS:-3}
BATCHES=${BATCHES:-1,8,32,128}
THREADS=${THREADS:-"1 2"}
OUT=bench/out; mkdir -p "$OUT"

swift build -c release --product ecg-train >&2
BIN=.build/release/ecg-train

if [ ! -x bench/.venv/bin/python ] || ! bench/.venv/bin/python -c "import tensorflow, onnxruntime, onnx" 2>/dev/null; then
    echo "creating bench/.venv with tensorflow-cpu, onnxruntime, onnx (once)…" >&2
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q --upgrade pip >&2
    bench/.venv/bin/pip install -q numpy tensorflow-cpu onnxruntime onnx >&2
fi
PY=bench/.venv/bin/python

# The same weights for everyone: the encoder.npz named by the manifest.
NPZ="$WEIGHTS/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["encoder"]["file"])' "$WEIGHTS/manifest.json")"
# Parity check inputs: the TF fixture windows, embedded by ecg-affect.
cp Tests/ModelTests/Fixtures/inputs.npy "$OUT/check.npy"
$BIN embed --weights "$WEIGHTS" --in "$OUT/check.npy" --out "$OUT/check_emb.npy" --preprocessed --quiet

# Rounds interleave the frameworks so that the machine's background load (these are
# shared machines) hits all of them alike; the table shows the median over rounds.
RES="$OUT/results.tsv"; : > "$RES"
for r in $(seq 1 "$ROUNDS"); do
    for t in $THREADS; do
        echo "round $r/$ROUNDS threads $t: ecg-affect…" >&2
        $BIN bench --weights "$WEIGHTS" --batch "$BATCHES" --threads "$t" --seconds "$SECS" --format tsv >> "$RES"
        for fw in tf ort; do
            echo "round $r/$ROUNDS threads $t: $fw…" >&2
            CHECK=""; [ "$r" = 1 ] && CHECK="$OUT/check.npy"
            TF_CPP_MIN_LOG_LEVEL=3 $PY bench/frameworks.py "$NPZ" "$fw" "$t" "$BATCHES" "$SECS" $CHECK 2>/dev/null >> "$RES"
        done
    done
done

python3 - "$RES" "$($BIN bench --help >/dev/null; $BIN bench --weights "$WEIGHTS" --batch 1 --threads 1 --seconds 0.1 | head -1)" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
checks = {r[1]: r[2] for r in rows if r[0] == "#check"}
import statistics
acc = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows:
    if r[0].startswith("#"): continue
    acc[(int(r[1]), int(r[2]))][r[0]].append(float(r[3]))
v = {k: {fw: statistics.median(xs) for fw, xs in d.items()} for k, d in acc.items()}
n_rounds = max(len(xs) for d in acc.values() for xs in d.values())
print(f"ecg-affect {sys.argv[2]}")
print("embedding agreement with ecg-affect (max|diff|/max): " + ", ".join(f"{k} {x}" for k, x in checks.items()))
print(f"median windows/s over {n_rounds} interleaved rounds (each a median of timed runs)")
print("| batch | threads | ecg-affect | TensorFlow | ONNX Runtime | × TF | × ORT |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for (b, t) in sorted(v, key=lambda k: (k[1], k[0])):
    c = v[(b, t)]; e, tf, ort = c.get("ecg-affect"), c.get("tf"), c.get("ort")
    f = lambda x: f"{x:.0f}" if x else "—"
    r = lambda a, b: f"{a / b:.2f}" if a and b else "—"
    print(f"| {b} | {t} | {f(e)} | {f(tf)} | {f(ort)} | {r(e, tf)} | {r(e, ort)} |")
PY
