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
ap.add_argument("--robustness", help="the table scripts/check_robustness.py --out wrote (into the model card)")
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


def versus(dd):
    """How a difference to heart rate reads, from its interval."""
    if not dd:
        return "compares with heart rate as follows"
    lo, hi = dd["balanced_accuracy_ci95"]
    if lo > 0:
        return "beats heart rate"
    if hi < 0:
        return "does worse than heart rate"
    return ("does not beat heart rate: its point estimate is " + ("lower" if dd["balanced_accuracy"] < 0 else "higher")
            + ", and the interval of the difference spans 0")


hr_only = "heart rate (ecg-affect R peaks)"
augmented = all("augmented copies" in (h.get("protocol") or "") for h in heads.values())
chose_hr = all("embedding" not in (h.get("inputs") or {"features": ["embedding"]})["features"] for h in heads.values())
headline = (
    f"Measured by nested leave-one-subject-out over the {n_sub} labelled subjects with usable windows (none of them seen by "
    f"the encoder in pre-training), {n_win} usable 10 s windows, rest vs mental arithmetic / MIST, every choice made inside "
    "the folds, 95 % intervals from a bootstrap over subjects"
    + (", heads trained on clean and augmented copies (mains hum, noise, wander) of their training windows" if augmented else "") + ":\n\n"
    f"- **With a personal baseline** (60 s of the person at rest, sent with the request), the served head {versus(db)}: balanced "
    f"accuracy **{f(sb)}** and ROC AUC **{f(sb, 'roc_auc')}**; NeuroKit2 heart rate, relative to the same baseline, "
    f"{f('baseline: ' + nk)} / {f('baseline: ' + nk, 'roc_auc')}{diffb}.\n"
    f"- **Without a baseline** it {versus(d)}: balanced accuracy **{f(sa)}**, AUC **{f(sa, 'roc_auc')}**, against a "
    f"logistic regression on NeuroKit2's HR, SDNN and RMSSD at {f(nk)} / {f(nk, 'roc_auc')}{diff}. "
    + (f"The nested selection picked heart-rate features over the embedding (served: {reads(heads['absolute'])}; with a baseline: "
       f"{reads(heads['baseline'])}): on {n_sub} people, the self-supervised embedding adds nothing measurable to heart rate."
       if chose_hr else f"Served: {reads(heads['absolute'])}; with a baseline: {reads(heads['baseline'])}.")
    + ("" if sa == hr_only or r[sa]["balanced_accuracy"] == r[hr_only]["balanced_accuracy"] else
       f" The same kind of head chosen among heart-rate features only scores {f(hr_only)}; the figure above is the honest one "
       "for the pipeline that was run, which could also have chosen the embedding."))
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

# The model card: the same table, the differences to heart rate, and per-subject figures.
card = os.path.join(os.path.dirname(os.path.abspath(args.readme)), "docs/MODEL_CARD.md")
if os.path.exists(card):
    lines = ["| model | balanced accuracy [95 % CI] | ROC AUC [95 % CI] | minus NeuroKit2 heart rate: balanced accuracy / AUC [95 % CI] | Brier of P(stress) (base rate) | per subject: mean (min) | chosen on all subjects |",
             "|---|---|---|---|---|---|---|"]
    sel = {}
    sp = os.path.join(os.path.dirname(args.report), "selected_stress.json")
    for name, x in r.items():
        dd = x.get("minus_nk2_heart_rate")
        dtxt = (f"{dd['balanced_accuracy']:+.3f} [{dd['balanced_accuracy_ci95'][0]:+.3f}, {dd['balanced_accuracy_ci95'][1]:+.3f}] / "
                f"{dd['roc_auc']:+.3f} [{dd['roc_auc_ci95'][0]:+.3f}, {dd['roc_auc_ci95'][1]:+.3f}]") if dd else "–"
        tag = " (**served**)" if name in (sa, sb) else ""
        lines.append(f"| {name}{tag} | {f(name)} | {f(name, 'roc_auc')} | {dtxt} | {x['brier_p_stress']:.3f} ({x['brier_base_rate']:.3f}) | "
                     f"{x['per_subject_mean']} ({x['per_subject_min']}) | {x.get('chosen_on_all_subjects', '')}"
                     + (f" (folds: {', '.join(f'{k} ×{v}' for k, v in list(x['chosen_in_folds'].items())[:3])})" if x.get('chosen_in_folds') else "") + " |")
    per = ["", "Balanced accuracy per held-out subject (subjects with both classes among their usable windows):", "",
           "| subject | served, no baseline | served, with baseline | NeuroKit2 heart rate, no baseline |", "|---|---:|---:|---:|"]
    subs = sorted(set(r[sa]["per_subject_balanced_accuracy"]) | set(r[sb]["per_subject_balanced_accuracy"]))
    for s_ in subs:
        g = lambda row: r[row]["per_subject_balanced_accuracy"].get(s_)
        fmt = lambda v: "–" if v is None else f"{v:.2f}"
        per.append(f"| {s_} | {fmt(g(sa))} | {fmt(g(sb))} | {fmt(g(nk))} |")
    body = ("Nested leave-one-subject-out, windows graded unusable left out (rows starting \"baseline:\" score "
            "relative to the personal baseline, on the rest recording after its first 60 s and the stress recording):\n\n"
            + "\n".join(lines) + "\n" + "\n".join(per))
    c = open(card).read()
    c = re.sub(r"<!-- card-results -->.*?<!-- /card-results -->", lambda _: f"<!-- card-results -->\n{body}\n<!-- /card-results -->", c, flags=re.S)
    rob = args.robustness
    if rob and os.path.exists(rob):
        c = re.sub(r"<!-- card-robustness -->.*?<!-- /card-robustness -->", lambda _: f"<!-- card-robustness -->\n{open(rob).read().strip()}\n<!-- /card-robustness -->", c, flags=re.S)
    open(card, "w").write(c)
    print("docs/MODEL_CARD.md: results" + (" and robustness" if rob else ""))
