#!/usr/bin/env bash
# Makes weights/ from a pre-training checkpoint: the stress head fine-tuned on its frozen
# encoder (10-fold CV by subject, classes balanced), the evaluation against a random
# encoder and the heart-rate baseline (leave one subject out), the validation plot, and a
# manifest whose provenance names the exact commands and seeds.
#   [LAYERS=0] scripts/ship_weights.sh CHECKPOINT_DIR RUN_DIR   e.g. ../runs/ssl/models/epoch_4 ../runs/ssl
# LAYERS: the stress head's hidden layers (0, the default: logistic regression on the
# embedding, the best model on unseen subjects; 2: the paper's 2 x 512 MLP). The evaluation
# set is prepared with the checkpoint's polarity (its manifest's input.preprocessing).
# EPOCH_OFFSET: when RUN's epochs.csv numbers the checkpoint's epochs after an earlier
# part of the run (e.g. 17), the checkpoint's epoch N is row N + EPOCH_OFFSET there;
# MARK="17 text" draws a line after that epoch in the plot; LINEAGE: the commands of the
# earlier part, put first in the manifest's provenance command.
# Needs python3 with matplotlib for the plot (PLOT_PYTHON, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=$1; RUN=$2
LAYERS=${LAYERS:-0}
POLARITY=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['input']['preprocessing'].get('polarity') or 'keep')" "$CKPT/manifest.json")
CORPUS=${CORPUS:-../shared/data/ecg}
WORK=${WORK:-$(mktemp -d)}
swift build -c release --product ecg-train
BIN=$(swift build -c release --show-bin-path)/ecg-train
if [ ! -f "$WORK/eval/evaluation.json" ]; then
"$BIN" prepare --corpus "$CORPUS" --out "$WORK/eval.npz" --polarity "$POLARITY" --quiet
"$BIN" finetune --data "$WORK/eval.npz" --weights "$CKPT" --head stress --labels rest,stress --folds 10 --split subject --layers "$LAYERS" --seed 1 --out "$WORK/w"
"$BIN" evaluate --data "$WORK/eval.npz" --weights "$WORK/w" --labels rest,stress --out "$WORK/eval" --mlp --seed 1 | tee "$WORK/table.md"
fi
STATE=$(tr -d '\n ' < "$CKPT/state.json")
rm -rf weights.new && mkdir weights.new
cp "$WORK/w"/{encoder.npz,head_stress.npz,manifest.json,cv_stress.csv,cv_stress.json} weights.new/
cp "$WORK/eval/evaluation.json" weights.new/evaluation_stress.json
cp "$RUN/output/epochs.csv" weights.new/pretrain_epochs.csv
${PLOT_PYTHON:-python3} scripts/plot_pretrain.py "$RUN/output/epochs.csv" weights.new/pretrain_validation.png ${MARK:+"${MARK%% *}" "${MARK#* }"}
python3 - "$STATE" "$LAYERS" "$POLARITY" "${EPOCH_OFFSET:-0}" "${LINEAGE:-}" "$(tr -d '\n' < "$CKPT/manifest.json" | python3 -c "import json,sys; print(json.load(sys.stdin)['provenance']['command'])")" <<'PY'
import json, sys, datetime
state, layers, polarity, offset, lineage, ckpt_command = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
part = (f" (epoch {state['epoch']} of the run's second part, which continued epoch {offset}'s weights on the QRS-up corpus)"
        if offset else "")
head = ("a logistic regression on the standardised embedding, classes weighted" if layers == 0
        else f"{layers} x 512 ReLU, classes balanced")
turned = " turned QRS-up (--polarity qrs-up)" if polarity == "qrs-up" else ""
m = json.load(open("weights.new/manifest.json"))
m["provenance"] = {
    "description": (f"SSL-ECG encoder and its 7 pre-training heads after epoch {state['epoch'] + offset}{part} (step {state['step']}, batch 128 x 7 versions, "
                    f"seed {state['seed']}) of the long run of scripts/pretrain.sh on the public corpus of ../shared/data/ecg (records with "
                    f"quality=poor skipped; 11,515 ten-second windows with 50 % overlap{turned}, 106 subjects, 11 held out for validation); head "
                    f"\"stress\" (rest vs mental arithmetic / MIST) on the frozen encoder: {head}, 10-fold CV by subject "
                    "on 729 windows; evaluation against a random encoder and a heart-rate baseline in evaluation_stress.json. "
                    "See README \"Data and licences\" for attribution."),
    "datasets": ["eegmat (PhysioNet EEG During Mental Arithmetic Tasks, ECG channel)", "biopsykit example data",
                 "tpcp-mitdb (MIT-BIH Arrhythmia Database)", "wfdb-mimic (MIMIC / MIMIC-II waveform samples)", "wfdb-challenge2015",
                 "wfdb-icu-sample", "cinc2021 (PhysioNet/CinC Challenge 2021 samples)", "cpsc2021 samples", "biosignalsnotebooks samples"],
    "licenses": ["ODC-By-1.0", "CC-BY-4.0", "MIT"],
    "command": ((lineage + " && " if lineage else "") +
                f"ecg-train prepare --corpus ../shared/data/ecg --out {'corpus_ov50_pol.npz' if polarity == 'qrs-up' else 'corpus_ov50.npz'} --overlap 50 --polarity {polarity} && "
                f"{ckpt_command} (this checkpoint: epoch {state['epoch']}, step {state['step']}) && ecg-train prepare --corpus ../shared/data/ecg --out eval.npz --polarity {polarity} && "
                f"ecg-train finetune --data eval.npz --weights run/models/epoch_{state['epoch']} --head stress --labels rest,stress --folds 10 --split subject --layers {layers} --seed 1 --out weights && "
                "ecg-train evaluate --data eval.npz --weights weights --labels rest,stress --out eval --mlp --seed 1"),
    "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
json.dump(m, open("weights.new/manifest.json", "w"), indent=2, sort_keys=True)
open("weights.new/manifest.json", "a").write("\n")
PY
python3 scripts/manifest_evaluation.py weights.new "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['epoch'] + int(sys.argv[2]))" "$STATE" "${EPOCH_OFFSET:-0}")" "$([ "$LAYERS" = 0 ] && echo ssl_linear || echo ssl_mlp)"
[ -d weights/pretrain-checkpoint ] && mv weights/pretrain-checkpoint weights.new/   # the resumable run stays
rm -rf weights && mv weights.new weights
echo "weights/ made from $CKPT; evaluation table in $WORK/table.md"
