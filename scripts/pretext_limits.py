#!/usr/bin/env python3
"""How far can one simple statistic of a window tell a transformed copy from the original?

For the pretext tasks that stay below F1 0.9 (negation, scaling, time warp), this measures
on a dataset made by `ecg-train prepare` how well the statistic that carries each
transformation separates originals from their transformed copies: the best balanced
accuracy of a single threshold on it (chosen on the same data, so an upper bound for that
statistic alone), overall and per source dataset.

  scripts/pretext_limits.py DATASET.npz [--seed 1] [--subjects RUN/output/validation_subjects.tsv]
  (numpy, scipy; --subjects: only these subjects, e.g. a pre-training run's held-out ones)

- negation: v = log((q99.7 - mean) / (mean - q0.3)), "negated" when v < 0. Reaches 1.0
  only if every original has its QRS upwards (`prepare --polarity qrs-up`). Also its F1
  as pre-training scores it, against all 7 versions of each window: a window that looks
  inverted (fraction p) makes its 6 other versions false positives and its negated copy a
  miss, so F1 = 2(1 - p) / (2 + 5p), which is below 0.9 once p > 3.1 %.
- scaling x1.1: the largest |sample| (what max pooling sees) and the std of the central
  95 % (what the robust z-score fixes at 1 for every original).
- time warp (9 pieces, each x1.05 or x1/1.05, as `Transformations.timeWarp`): the largest
  change between successive RR intervals, |log(RR_i / RR_i-1)|, from R peaks found with
  scipy's find_peaks (at least 0.3 s apart, above half the 99.5th percentile).
"""
import argparse, collections, json
import numpy as np
from scipy.signal import find_peaks

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("data")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--json", help="also write the figures to this file")
ap.add_argument("--subjects", help="TSV whose first column names the subjects to keep (header line skipped)")
a = ap.parse_args()

d = np.load(a.data)
w = d["windows"].astype(np.float64)
meta = json.loads(bytes(d["names"]).decode())
ds_names = np.array(meta["datasets"])[d["dataset"]]
if a.subjects:
    keep = {l.split("\t")[0] for l in open(a.subjects).read().splitlines()[1:] if l.strip()}
    m = np.isin(np.array(meta["subjects"])[d["subject"]], list(keep))
    w, ds_names = w[m], ds_names[m]
rng = np.random.default_rng(a.seed)
n, L = w.shape


def best_balanced_accuracy(orig, trans):
    """Best balanced accuracy of `stat > t` (or < t) separating trans from orig."""
    x = np.concatenate([orig, trans]); y = np.concatenate([np.zeros(len(orig)), np.ones(len(trans))])
    o = np.argsort(x, kind="stable"); y = y[o]
    # Threshold after position k: predicted 1 for the top part.
    tp = np.cumsum(y[::-1])[::-1]; fp = np.cumsum((1 - y)[::-1])[::-1]
    P, N = y.sum(), (1 - y).sum()
    bal = 0.5 * (tp / P + 1 - fp / N)
    return float(max(bal.max(), (1 - bal).max()))


def polarity(x):
    hi = np.percentile(x, 99.7, axis=-1); lo = np.percentile(x, 0.3, axis=-1); m = x.mean(axis=-1)
    return np.log(np.maximum(hi - m, 1e-12) / np.maximum(m - lo, 1e-12))


def warp(x):
    p, f = 9, 1.05
    stretch = rng.random(p) < 0.5
    bounds = [L * k // p for k in range(p + 1)]
    def lengths():
        return [int(round((bounds[k + 1] - bounds[k]) * (f if stretch[k] else 1 / f))) for k in range(p)]
    while sum(lengths()) < L and not stretch.all():
        stretch[np.argmin(stretch)] = True
    out = []
    for k, m in enumerate(lengths()):
        seg = x[bounds[k]:bounds[k + 1]]
        pos = np.arange(m) * (len(seg) - 1) / (m - 1)
        out.append(np.interp(pos, np.arange(len(seg)), seg))
    out = np.concatenate(out)
    s = rng.integers(0, len(out) - L + 1)
    return out[s:s + L]


def rr_jump(x):
    up = x if polarity(x) >= 0 else -x
    pk, _ = find_peaks(up, distance=int(0.3 * 256), height=0.5 * np.percentile(up, 99.5))
    rr = np.diff(pk)
    if len(rr) < 2: return 0.0
    return float(np.max(np.abs(np.diff(np.log(rr)))))


pol = polarity(w)
amax = np.abs(w - w.mean(axis=1, keepdims=True)).max(axis=1)
def central_sd(x):
    s = np.sort(x, axis=-1); lo, hi = int(np.floor(0.025 * L)), int(np.ceil(0.975 * L))
    return s[..., lo:hi].std(axis=-1)
csd = central_sd(w)
jump_o = np.array([rr_jump(x) for x in w])
jump_w = np.array([rr_jump(warp(x)) for x in w])

rows = collections.OrderedDict()
groups = [("all", np.ones(n, bool))] + [(g, ds_names == g) for g in sorted(set(ds_names))]
for g, m in groups:
    down = float((pol[m] < 0).mean())
    rows[g] = {
        "windows": int(m.sum()),
        "qrs_down_fraction": down,
        "negation_sign_rule": best_balanced_accuracy(-pol[m], pol[m]),      # negated copy has -v
        "negation_sign_rule_f1_7_versions": 2 * (1 - down) / (2 + 5 * down),
        "scaling_max_abs": best_balanced_accuracy(amax[m], 1.1 * amax[m]),
        "scaling_central_sd": best_balanced_accuracy(csd[m], 1.1 * csd[m]),
        "warp_rr_jump": best_balanced_accuracy(jump_o[m], jump_w[m]),
        "rr_jump_median_original": float(np.median(jump_o[m])),
    }
hdr = ["windows", "qrs_down_fraction", "negation_sign_rule", "negation_sign_rule_f1_7_versions", "scaling_max_abs", "scaling_central_sd", "warp_rr_jump", "rr_jump_median_original"]
print("| dataset | " + " | ".join(hdr) + " |")
print("|---|" + "---:|" * len(hdr))
for g, r in rows.items():
    print(f"| {g} | " + " | ".join(str(r[h]) if h == "windows" else f"{r[h]:.3f}" for h in hdr) + " |")
if a.json:
    json.dump(rows, open(a.json, "w"), indent=1)
