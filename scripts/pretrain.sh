#!/usr/bin/env bash
# The project's long pre-training run, resumable across machines and sessions.
#
#   scripts/pretrain.sh start [RUN]   # prepares the corpus, resumes from weights/pretrain-checkpoint/
#                                     # (or starts), runs in the foreground (wrap in nohup)
#   scripts/pretrain.sh save [RUN]    # copies RUN's newest checkpoint and its CSVs into
#                                     # weights/pretrain-checkpoint/ for committing
#
# RUN defaults to ../runs/ssl-unlab (outside git). The settings below are the run's; changing
# them and resuming mixes two runs. The run (issue #17): from a random initialisation, on the
# UNLABELLED subjects only (--unlabelled-subjects-only: no record of the 32 people the stress
# head is evaluated on), band-filtered (0.8-40 Hz, 50/60 Hz notches, prepare's default) and
# turned by the beat-based polarity rule (--polarity qrs-t-down-beats).
set -euo pipefail
cd "$(dirname "$0")/.."
CMD=${1:-start}
RUN=${2:-../runs/ssl-unlab}
CORPUS=${CORPUS:-../shared/data/ecg}
DATA=${DATA:-$(dirname "$RUN")/corpus_unlabelled.npz}
ARGS=(--epochs 100 --batch 128 --seed 20201 --save-every 20 --threads 2)
case "$CMD" in
start)
    swift build -c release --product ecg-train
    BIN=$(swift build -c release --show-bin-path)/ecg-train
    mkdir -p "$RUN"
    [ -s "$DATA" ] || "$BIN" prepare --corpus "$CORPUS" --out "$DATA" --overlap 50 --polarity qrs-t-down-beats --unlabelled-subjects-only --quiet
    if [ -f weights/pretrain-checkpoint/state.json ]; then
        have=$(python3 -c "import json,glob; print(max([json.load(open(f))['step'] for f in glob.glob('$RUN/models/*/state.json')] or [-1]))")
        committed=$(python3 -c "import json; print(json.load(open('weights/pretrain-checkpoint/state.json'))['step'])")
        if [ "$have" -lt "$committed" ]; then
            echo "resuming from the committed checkpoint (step $committed)"
            mkdir -p "$RUN/models" "$RUN/output"
            rm -rf "$RUN/models/committed"; cp -r weights/pretrain-checkpoint "$RUN/models/committed"
            rm -f "$RUN/models/committed/"*.csv
            cp weights/pretrain-checkpoint/steps.csv weights/pretrain-checkpoint/epochs.csv "$RUN/output/"
        fi
    fi
    exec "$BIN" pretrain --data "$DATA" --out "$RUN" "${ARGS[@]}" --resume --quiet
    ;;
save)
    newest=$(python3 -c "
import json,glob,os
c=[(json.load(open(f))['step'],os.path.dirname(f)) for f in glob.glob('$RUN/models/*/state.json') if '.partial-' not in f]
print(max(c)[1] if c else '')")
    [ -n "$newest" ] || { echo "no checkpoint in $RUN/models" >&2; exit 1; }
    rm -rf weights/pretrain-checkpoint.tmp; mkdir -p weights/pretrain-checkpoint.tmp
    cp "$newest"/{encoder.npz,optimizer.npz,state.json,manifest.json} weights/pretrain-checkpoint.tmp/
    cp "$RUN"/output/steps.csv "$RUN"/output/epochs.csv weights/pretrain-checkpoint.tmp/
    rm -rf weights/pretrain-checkpoint; mv weights/pretrain-checkpoint.tmp weights/pretrain-checkpoint
    echo "saved $newest ($(cat weights/pretrain-checkpoint/state.json | tr -d '\n ')) to weights/pretrain-checkpoint/"
    ;;
*) echo "usage: scripts/pretrain.sh start|save [RUN]" >&2; exit 64 ;;
esac
