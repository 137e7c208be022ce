#!/usr/bin/env python3
"""Fills README.md's results from weights/protocol_stress.json (what ship_weights.py shipped):
the headline paragraph and the results table, between their markers. Every figure comes from
the nested never-seen protocol; re-run after shipping new weights.

  scripts/readme_results.py [--readme README.md] [--report weights/protocol_stress.json]
"""
import argparse
import json
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--readme", default=os.path.join(here, "../README.md"))
ap.add_argument("--report", default=os.path.join(here, "../weights/protocol_stress.json"))
ap.add_argument("--manifest", default=os.path.join(here, "../weights/manifest.json"))
args = ap.parse_args()
r = json.load(open(args.report))
m = json.load(open(args.manifest))


def f(row, k="balanced_accuracy"):
    x = r[row]
    return f"{x[k]:.3f} [{x[k + '_ci95'][0]:.3f}, {x[k + '_ci95'][1]:.3f}]"


served = "any of the above (served)" if "any of the above (served)" in r else "heart rate (ecg-affect R peaks)"
nk = "heart rate (NeuroKit2 R peaks, one window)"
sa, sb = served, "baseline: " + served
d = r[sa].get("minus_nk2_heart_rate")
db = r[sb].get("minus_nk2_heart_rate")
n_sub, n_win = r[sa]["subjects"], r[sa]["windows"]
heads = {("baseline" if (h.get("inputs") or {}).get("baseline") else "absolute"): h for h in m["heads"]}


def reads(h):
    i = h.get("inputs") or {"features": ["embedding"], "context_windows": 0}
    return f"{' + '.join(i['features'])} over ±{i['context_windows']} windows"


diff = (f"; minus heart rate: {d['balanced_accuracy']:+.3f} [{d['balanced_accuracy_ci95'][0]:+.3f}, {d['balanced_accuracy_ci95'][1]:+.3f}]"
        if d else "")
diffb = (f"; minus heart rate: {db['balanced_accuracy']:+.3f} [{db['balanced_accuracy_ci95'][0]:+.3f}, {db['balanced_accuracy_ci95'][1]:+.3f}]"
         if db else "")
headline = (
    f"Measured by nested leave-one-subject-out over the {n_sub} labelled subjects with usable windows (none of them seen by "
    f"the encoder in pre-training), {n_win} usable 10 s windows, rest vs mental arithmetic / MIST, every choice made inside "
    "the folds, 95 % intervals from a bootstrap over subjects:\n\n"
    f"- **With a personal baseline** (60 s of the person at rest, sent with the request), the served head reaches balanced "
    f"accuracy **{f(sb)}** and ROC AUC **{f(sb, 'roc_auc')}**; NeuroKit2 heart rate, relative to the same baseline, "
    f"{f('baseline: ' + nk)} / {f('baseline: ' + nk, 'roc_auc')}{diffb}.\n"
    f"- **Without a baseline** it does not beat heart rate: balanced accuracy **{f(sa)}**, AUC **{f(sa, 'roc_auc')}**, against a "
    f"logistic regression on NeuroKit2's HR, SDNN and RMSSD at {f(nk)} / {f(nk, 'roc_auc')}{diff}. The nested selection "
    f"picked heart-rate features over the embedding (served: {reads(heads['absolute'])}; with a baseline: "
    f"{reads(heads['baseline'])}): on {n_sub} people, the self-supervised embedding adds nothing measurable to heart rate.")
rows = ["| model (nested LOSO; windows graded unusable left out) | balanced accuracy [95 % CI] | ROC AUC [95 % CI] | Brier of P(stress) (base rate) |",
        "|---|---|---|---|"]
for name, x in r.items():
    tag = " (**served**)" if name in (sa, sb) else ""
    rows.append(f"| {name}{tag} | {f(name)} | {f(name, 'roc_auc')} | {x['brier_p_stress']:.3f} ({x['brier_base_rate']:.3f}) |")
results = ("Per subject, per window, the choices made in each fold: `weights/protocol_stress.json`; the protocol, the data, "
           "robustness to hum and noise and the limits: **[docs/MODEL_CARD.md](docs/MODEL_CARD.md)**.\n\n" + "\n".join(rows))
s = open(args.readme).read()
s = re.sub(r"<!-- headline -->.*?<!-- /headline -->", lambda _: f"<!-- headline -->\n{headline}\n<!-- /headline -->", s, flags=re.S)
s = re.sub(r"<!-- results -->.*?<!-- /results -->", lambda _: f"<!-- results -->\n{results}\n<!-- /results -->", s, flags=re.S)
open(args.readme, "w").write(s)
print("README.md: headline and results from", args.report)
