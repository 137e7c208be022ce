#!/usr/bin/env python3
"""Markdown table of `ecg-train evaluate` reports: eval_table.py LABEL=DIR/evaluation.json ..."""
import json, sys
def f(v): return "–" if v is None or (isinstance(v, str)) or v != v else f"{v:.3f}"
print("| encoder | model | balanced acc. | macro-F1 | ROC AUC | Brier (T-scaled) | per subject: mean ± std (min) | recordings: bal. acc. / AUC |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    r = json.load(open(path))
    for m in r["models"]:
        p, rec = m["pooled"], m["recordings"]
        brier = f(p["brier"]) + (f" ({f(m['brierCalibrated'])})" if m.get("brierCalibrated") is not None else "")
        print(f"| {label} | {m['name']} | {f(p['balancedAccuracy'])} | {f(p['macroF1'])} | {f(p.get('rocAUC'))} | {brier} | "
              f"{f(m['subjectMean'])} ± {f(m['subjectStd'])} ({f(m['subjectMin'])}) | {f(rec['balancedAccuracy'])} / {f(rec.get('rocAUC'))} |")
