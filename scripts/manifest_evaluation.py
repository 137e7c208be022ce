#!/usr/bin/env python3
"""Adds to a weights directory's manifest.json what /v1/model shows of its evaluation:
the stress head against its baselines (from evaluation_stress.json, made by `ecg-train
evaluate`) and the pretext tasks on held-out subjects at the shipped encoder's epoch (from
pretrain_epochs.csv), each naming its file with SHA-256 (checked by the ShippedWeights test).

    scripts/manifest_evaluation.py WEIGHTS_DIR EPOCH [SERVED_MODEL]

SERVED_MODEL (default ssl_mlp) names the evaluated model that is the served head.
"""
import csv, hashlib, json, sys

d, epoch = sys.argv[1], int(sys.argv[2])
served = sys.argv[3] if len(sys.argv) > 3 else "ssl_mlp"
TASKS = ["original", "noise", "scaling", "negation", "time_reversal", "permutation", "time_warp"]
DESCRIPTIONS = {
    "ssl_linear": "logistic regression on the shipped encoder's 128-d embedding",
    "random_linear": "the same logistic regression on a randomly initialised encoder",
    "hr": "heart-rate baseline: logistic regression on mean HR, SDNN, RMSSD (Pan-Tompkins R peaks)",
    "ssl_linear_hr": "logistic regression on the embedding and the three HR features",
    "ssl_mlp": "the paper's head (2 x 512 ReLU, classes balanced) on the shipped encoder",
    "random_mlp": "the paper's head on a randomly initialised encoder",
}


def ref(name):
    return {"file": name, "sha256": hashlib.sha256(open(f"{d}/{name}", "rb").read()).hexdigest()}


m = json.load(open(f"{d}/manifest.json"))
e = json.load(open(f"{d}/evaluation_stress.json"))
models = []
for r in e["models"]:
    p = r["pooled"]
    desc = DESCRIPTIONS.get(r["name"], r["name"]) + (" (the served head)" if r["name"] == served else "")
    row = {"name": r["name"], "description": desc,
           "balanced_accuracy": p["balancedAccuracy"], "macro_f1": p["macroF1"], "brier": p["brier"],
           "subject_balanced_accuracy_mean": r["subjectMean"], "subject_balanced_accuracy_std": r["subjectStd"],
           "recordings_balanced_accuracy": r["recordings"]["balancedAccuracy"]}
    if p.get("rocAUC") is not None:
        row["roc_auc"] = p["rocAUC"]
    if r.get("brierCalibrated") is not None:
        row["brier_temperature_scaled"] = r["brierCalibrated"]
    models.append(row)
m["evaluations"] = [{
    "head": "stress",
    "protocol": f"{e['protocolDescription']} cross-validation, {e['subjects']} subjects, {e['windows']} windows "
                f"({', '.join(e['labels'])}); every model computed the same way on the same windows",
    "report": ref("evaluation_stress.json"),
    "models": models,
}]
rows = [r for r in csv.DictReader(open(f"{d}/pretrain_epochs.csv")) if int(r["epoch"]) == epoch]
if not rows:
    sys.exit(f"epoch {epoch} is not in {d}/pretrain_epochs.csv")
r = rows[0]
m["pretext_validation"] = {"epoch": epoch, "step": int(r["steps"]), "loss": float(r["val_total"]),
                           "f1": {t: float(r[f"val_f1_{i}"]) for i, t in enumerate(TASKS)},
                           "curves": ref("pretrain_epochs.csv")}
json.dump(m, open(f"{d}/manifest.json", "w"), indent=2, sort_keys=True)
open(f"{d}/manifest.json", "a").write("\n")
print(f"{d}/manifest.json: evaluation of 'stress' ({len(models)} models) and pretext validation of epoch {epoch}")
