#!/usr/bin/env bash
# The whole test suite and the training smoke run under ThreadSanitizer and
# AddressSanitizer (what CI runs after the plain suite). Any sanitizer report fails.
#   scripts/sanitizers.sh              # thread, then address
#   scripts/sanitizers.sh thread       # one of them
# Builds go to .build-thread / .build-address (git-ignored). Needs the venv that
# scripts/test.sh makes (numpy, for the synthetic corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
SANITIZERS=${*:-thread address}
VENV=.venv-checks
# halt_on_error: the first report aborts the process with a non-zero status.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4"
export ASAN_OPTIONS="halt_on_error=1 detect_leaks=0 detect_stack_use_after_return=1"
for san in $SANITIZERS; do
    SP=.build-$san
    echo "== $san sanitizer: build"
    swift build --build-tests --sanitize="$san" --scratch-path "$SP" "${DEBUG_BUILD[@]}"
    BIN=$(swift build --sanitize="$san" --scratch-path "$SP" --show-bin-path)
    echo "== $san sanitizer: swift test"
    # ECG_SANITIZER lets the RSS test step aside (sanitizers keep freed memory on purpose).
    ECG_SANITIZER=$san swift test --skip-build --sanitize="$san" --scratch-path "$SP"
    echo "== $san sanitizer: training smoke run (2 threads)"
    SMOKE=$(mktemp -d)
    "$VENV/bin/python" scripts/make_smoke_corpus.py "$SMOKE/corpus" > /dev/null
    "$BIN/ecg-train" prepare --corpus "$SMOKE/corpus" --out "$SMOKE/data.npz" --quiet
    "$BIN/ecg-train" pretrain --data "$SMOKE/data.npz" --out "$SMOKE/run" --epochs 1 --batch 4 --threads 2 --save-every 2 --quiet
    "$BIN/ecg-train" pretrain --data "$SMOKE/data.npz" --out "$SMOKE/run" --epochs 2 --batch 4 --threads 2 --resume --quiet
    "$BIN/ecg-train" embed --weights "$SMOKE/run/models/epoch_2" --in Tests/ModelTests/Fixtures/inputs.npy --out "$SMOKE/emb.npy" --threads 2 --quiet
    "$BIN/ecg-train" finetune --data "$SMOKE/data.npz" --weights "$SMOKE/run/models/epoch_2" --head stress \
        --labels rest,stress --folds 2 --split window --epochs 2 --out "$SMOKE/ft" > /dev/null
    rm -rf "$SMOKE"
done
echo "sanitizers: no reports"
