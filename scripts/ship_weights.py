#!/usr/bin/env python3
"""Makes weights/ from a pre-training run and the nested protocol's choice (issue #17).

  scripts/ship_weights.py --run ../runs/ssl-unlab --protocol ../runs/protocol --data ../runs/eval.npz [--epoch N] [--out weights]

1. The encoder: the checkpoint whose embedding the protocol's served row chose, else --epoch,
   else the run's newest epoch (its /embed answers; heads may not read it).
2. The heads, fitted by `ecg-train fit-head` on every labelled subject with what the nested
   selection chose on all subjects (selected.json, rows "any of the above (served)" and
   "baseline: any of the above (served)"; rows "heart rate (ecg-affect R peaks)" when the
   protocol ran without encoders): `stress` (absolute) and `stress` relative to a personal
   baseline, each carrying its figures from protocol.json.
3. The manifest: every protocol row as an evaluation (exact metric names, intervals), the
   report protocol_stress.json, the pretext tasks at the shipped epoch, provenance.
The previous weights/pretrain-checkpoint/ is kept (`scripts/pretrain.sh save` replaces it with
the run's newest checkpoint). Needs python3 (stdlib) and a release ecg-train.
"""
import argparse
import csv
import datetime
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys

TASKS = ["original", "noise", "scaling", "negation", "time_reversal", "permutation", "time_warp"]
FEATURES = {"hr": "heart_rate_bpm", "hrv": "heart_rate_bpm,sdnn_ms,rmssd_ms", "emb": "embedding",
            "emb+hrv": "embedding,heart_rate_bpm,sdnn_ms,rmssd_ms", "nk2_hrv": None}


def parse_candidate(name):
    """'hr|ctx2' -> ('heart_rate_bpm', 2, None); 'emb+hrv:e7|ctx0' -> (..., 0, 'e7')."""
    base, ctx = name.split("|ctx")
    kind, enc = (base.split(":", 1) + [None])[:2]
    kind = kind.replace("_rel", "")
    return FEATURES[kind], int(ctx), enc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--run", required=True)
    ap.add_argument("--protocol", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epoch", type=int)
    ap.add_argument("--encoders", default="", help="NAME=EPOCH,... as given to stress_protocol.py (e.g. e4=4,e6=6)")
    ap.add_argument("--out", default=os.path.join(here, "../weights"))
    ap.add_argument("--augmented", action="append", default=[],
                    help="augmented copies of --data (as given to stress_protocol.py --augmented): the heads train on them too")
    ap.add_argument("--train", default=os.path.join(here, "../.build/release/ecg-train"))
    args = ap.parse_args()
    enc_epoch = dict(kv.split("=") for kv in args.encoders.split(",") if kv)
    sel = json.load(open(os.path.join(args.protocol, "selected.json")))
    results = json.load(open(os.path.join(args.protocol, "protocol.json")))
    served = "any of the above (served)" if "any of the above (served)" in sel else "heart rate (ecg-affect R peaks)"
    choice = {False: (served, sel[served]["all_subjects"]), True: ("baseline: " + served, sel["baseline: " + served]["all_subjects"])}
    encs = {parse_candidate(c["features"])[2] for _, c in choice.values()} - {None}
    if len(encs) > 1:
        sys.exit(f"the two heads chose different encoders {encs}; ship one by hand")
    epochs = sorted(int(os.path.basename(p).split("_")[1]) for p in glob.glob(os.path.join(args.run, "models/epoch_*")))
    epoch = int(enc_epoch[encs.pop()]) if encs else (args.epoch or epochs[-1])
    ckpt = os.path.join(args.run, "models", f"epoch_{epoch}")
    new = args.out.rstrip("/") + ".new"
    shutil.rmtree(new, ignore_errors=True)
    os.makedirs(new)
    for f in ("encoder.npz", "manifest.json"):
        shutil.copy(os.path.join(ckpt, f), new)
    m = json.load(open(os.path.join(new, "manifest.json")))
    m["heads"] = []
    json.dump(m, open(os.path.join(new, "manifest.json"), "w"))
    commands = []
    for baseline, (row, c) in sorted(choice.items()):
        feats, ctx, _ = parse_candidate(c["features"])
        cmd = [args.train, "fit-head", "--data", args.data, "--weights", new, "--head", "stress", "--labels", "rest,stress",
               "--features", feats, "--context", str(ctx), "--c", str(c["C"]), "--temperature", str(c["temperature"]),
               "--metrics", os.path.join(args.protocol, "protocol.json"), "--metrics-model", row, "--out", new]
        if baseline:
            cmd += ["--baseline-seconds", "60"]
        for a in args.augmented:
            cmd += ["--augmented", a]
        subprocess.run(cmd, check=True)
        commands.append("ecg-train " + " ".join(x if not x.startswith("/") else os.path.basename(x) for x in cmd[1:]))
    shutil.copy(os.path.join(args.protocol, "protocol.json"), os.path.join(new, "protocol_stress.json"))
    shutil.copy(os.path.join(args.run, "output/epochs.csv"), os.path.join(new, "pretrain_epochs.csv"))
    plot = subprocess.run([sys.executable, os.path.join(here, "plot_pretrain.py"), os.path.join(args.run, "output/epochs.csv"),
                           os.path.join(new, "pretrain_validation.png")])
    m = json.load(open(os.path.join(new, "manifest.json")))

    def ref(name):
        return {"file": name, "sha256": hashlib.sha256(open(os.path.join(new, name), "rb").read()).hexdigest()}

    evals = []
    for baseline in (False, True):
        models = []
        for name, r in results.items():
            if name.startswith("baseline: ") != baseline:
                continue
            models.append({
                "name": name, "description": ("the served head: " if name == choice[baseline][0] else "") + name
                + f"; chosen on all subjects: {sel[name]['all_subjects']['features']}, C {sel[name]['all_subjects']['C']}",
                "balanced_accuracy": r["balanced_accuracy"], "balanced_accuracy_ci95": r["balanced_accuracy_ci95"],
                "roc_auc": r["roc_auc"], "roc_auc_ci95": r["roc_auc_ci95"],
                "brier_p_stress": r["brier_p_stress"], "brier_base_rate": r["brier_base_rate"],
                "subject_balanced_accuracy_mean": r["per_subject_mean"], "subject_balanced_accuracy_min": r["per_subject_min"],
                "subjects": r["subjects"], "windows": r["windows"]})
        evals.append({
            "head": "stress" + (" (with a personal baseline)" if baseline else ""),
            "protocol": ("nested leave-one-subject-out over the labelled subjects, none of whom the encoder saw in pre-training; "
                         "feature set, encoder epoch, context, C and temperature chosen on inner folds of the training subjects only; "
                         "windows graded unusable left out; 95 % intervals from 2,000 bootstrap resamples of subjects"
                         + (f"; every fit trained on the clean windows and augmented copies ({'; '.join(sel['_augmentation']['copies'])}), held-out windows clean"
                            if "_augmentation" in sel else "")
                         + ("; baseline = the first 60 s of the subject's rest recording, scored: the rest of it and the stress recording" if baseline else "")),
            "report": ref("protocol_stress.json"), "models": models})
    m["evaluations"] = evals
    rows = [r for r in csv.DictReader(open(os.path.join(new, "pretrain_epochs.csv"))) if int(r["epoch"]) == epoch]
    r = rows[0]
    m["pretext_validation"] = {"epoch": epoch, "step": int(r["steps"]), "loss": float(r["val_total"]),
                               "f1": {t: float(r[f"val_f1_{i}"]) for i, t in enumerate(TASKS)}, "curves": ref("pretrain_epochs.csv")}
    state = json.load(open(os.path.join(ckpt, "state.json")))
    m["provenance"] = {
        "description": (f"SSL-ECG encoder and its 7 pre-training heads after epoch {epoch} (step {state['step']}, batch 128 x 7 versions, seed {state['seed']}) "
                        "of a fresh pre-training run on the UNLABELLED subjects of ../shared/data/ecg only (prepare --unlabelled-subjects-only: "
                        "every record of the 32 labelled people left out, so the affect figures are on people the encoder never saw), "
                        "band-filtered (0.8-40 Hz, 50/60 Hz notches) and turned by the beat-based polarity rule; heads 'stress' (absolute and "
                        "relative to a personal baseline) chosen and evaluated by scripts/stress_protocol.py (nested LOSO) and fitted by "
                        "ecg-train fit-head. See docs/MODEL_CARD.md and README 'Data and licences'."),
        "datasets": ["pre-training: tpcp-mitdb (MIT-BIH Arrhythmia Database)", "wfdb-mimic (MIMIC / MIMIC-II waveform samples)", "wfdb-challenge2015",
                     "wfdb-icu-sample", "cinc2021 (PhysioNet/CinC Challenge 2021 samples)", "cpsc2021 samples", "biosignalsnotebooks samples",
                     "heads: eegmat (PhysioNet EEG During Mental Arithmetic Tasks, ECG channel)", "biopsykit example data"],
        "licenses": ["ODC-By-1.0", "CC-BY-4.0", "MIT"],
        "command": " && ".join([
            "ecg-train prepare --corpus ../shared/data/ecg --out corpus_unlabelled.npz --overlap 50 --polarity qrs-t-down-beats --unlabelled-subjects-only",
            f"ecg-train pretrain --data corpus_unlabelled.npz --out ssl-unlab --epochs 100 --batch 128 --seed 20201 --save-every 20 --threads 2 --resume (this checkpoint: epoch {epoch})",
            "ecg-train prepare --corpus ../shared/data/ecg --out eval.npz --polarity qrs-t-down-beats --include-poor"]
            + [f"ecg-train prepare --corpus ../shared/data/ecg --out {os.path.basename(a)} --polarity qrs-t-down-beats --include-poor "
               f"--augment {aug.split(' seed ')[0]} --augment-seed {aug.split(' seed ')[1]}"
               for a, aug in zip(args.augmented, sel.get("_augmentation", {}).get("copies", []))]
            + ["scripts/stress_protocol.py --data eval.npz --encoder ... --random 4"
               + "".join(f" --augmented {os.path.basename(a)}" for a in args.augmented) + " --out protocol"] + commands),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    json.dump(m, open(os.path.join(new, "manifest.json"), "w"), indent=2, sort_keys=True)
    open(os.path.join(new, "manifest.json"), "a").write("\n")
    ck = os.path.join(args.out, "pretrain-checkpoint")
    if os.path.isdir(ck):
        shutil.move(ck, os.path.join(new, "pretrain-checkpoint"))
    shutil.rmtree(args.out, ignore_errors=True)
    shutil.move(new, args.out)
    print(f"{args.out}: encoder of epoch {epoch}; heads: " + "; ".join(f"{'baseline' if b else 'absolute'} {c['features']} C {c['C']} T {c['temperature']}" for b, (_, c) in choice.items()))


if __name__ == "__main__":
    main()
