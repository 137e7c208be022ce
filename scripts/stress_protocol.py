#!/usr/bin/env python3
"""The never-seen, nested protocol for the stress head (issue #17, items 1, 3 and 4).

  scripts/stress_protocol.py --data eval.npz --encoder NAME=WEIGHTS_DIR [...] --random 4 --out protocol/

Every labelled subject is scored by a model that never saw them: the encoders are
pre-trained on the unlabelled subjects only (`ecg-train prepare --unlabelled-subjects-only`),
and the stress models are fitted by leave-one-subject-out (LOSO). Everything chosen is chosen
inside each outer fold (nested): the feature set, the encoder (pre-training epoch), the L2
strength C and the temperature, by an inner LOSO over the training subjects only.

Windows: the labelled windows of --data (`ecg-train prepare`, no overlap) that
`ecg-train features` (the server's grading) does not grade `unusable`.

Candidates (logistic regression, standardised features, classes weighted):
  hrv            HR, SDNN, RMSSD from this project's R peaks (what ecg-server computes)
  emb:<encoder>  the 128-d embedding of an encoder
  emb+hrv:<enc>  both
Baselines, with C chosen the same nested way:
  nk2_hrv        HR, SDNN, RMSSD from NeuroKit2's R peaks (ecg_clean + ecg_peaks) on the raw record
  random:<seed>  the embedding of a randomly initialised encoder
Personal baseline (item 4): per subject the first 60 s (6 windows) of the rest recording are
the baseline; every feature is taken relative to its mean over the usable baseline windows;
scored: the rest of the rest recording and the stress recording. Same nested selection.

Augmentation (item 2): with --augmented A.npz (repeatable; `ecg-train prepare` with the
same arguments as --data plus `--augment hum,noise[,wander] --augment-seed S`), every fit
(inner and outer) also trains on the augmented copies of its training windows (graded and
featurised by the same code; a copy graded unusable is left out; the personal baseline stays
the clean one). Held-out windows are always the clean ones. The NeuroKit2 baseline is
the issue's (trained on the clean windows only).

Reported per model: pooled balanced accuracy and ROC AUC over held-out windows with 95 %
intervals from 2,000 bootstrap resamples of subjects, Brier score of P(stress) after the
fold's temperature, and balanced accuracy per subject. Writes OUT/protocol.json,
OUT/per_subject.csv, OUT/selected.json (what the nested selection picked in each fold and
what it picks on all subjects: the served configuration) and prints a Markdown table.
Needs numpy, scikit-learn, neurokit2 (PyPI; evaluation only, never at run time).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
CS = (0.01, 0.1, 1.0)
CONTEXTS = (0, 1, 2)  # windows either side whose features are averaged in (same recording, usable)
BASELINE_WINDOWS = 6  # 60 s


def sh(cmd):
    subprocess.run(cmd, check=True)


def load_dataset(path):
    z = np.load(path)
    names = json.loads(bytes(z["names"]).decode())
    return z, names


def nk2_features(corpus, manifest, records, starts):
    import neurokit2 as nk
    out = np.full((len(records), 3), np.nan)
    cache = {}
    for i, (rec, start) in enumerate(zip(records, starts)):
        if rec not in cache:
            zz = np.load(os.path.join(corpus, manifest[rec]["path"]))
            x, fs = zz["ecg"].astype(float), float(zz["fs"])
            _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs)
            cache[rec] = (np.asarray(info["ECG_R_Peaks"]), fs)
        peaks, fs = cache[rec]
        p = peaks[(peaks >= round(start * fs)) & (peaks < round((start + 10) * fs))]
        rr = np.diff(p) / fs * 1000
        if len(rr) >= 1:
            out[i, 0] = 60000 / rr.mean()
        if len(rr) >= 2:
            out[i, 1] = rr.std(ddof=1)
            out[i, 2] = np.sqrt(np.mean(np.diff(rr) ** 2))
    return out


def impute(xtr, xte):
    m = np.nanmean(xtr, axis=0)
    m = np.where(np.isfinite(m), m, 0)
    xtr = np.where(np.isfinite(xtr), xtr, m)
    xte = np.where(np.isfinite(xte), xte, m)
    return xtr, xte


def fit_predict(xtr, ytr, xte, c):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    xtr, xte = impute(xtr, xte)
    if xte.shape[0] == 0:
        return np.zeros(0)
    s = StandardScaler().fit(xtr)
    m = LogisticRegression(C=c, class_weight="balanced", max_iter=3000).fit(s.transform(xtr), ytr)
    return m.decision_function(s.transform(xte))


def bal_acc(y, p):
    y, p = np.asarray(y), np.asarray(p)
    r = []
    for c in (0, 1):
        if (y == c).any():
            r.append(np.mean(p[y == c] >= 0.5) if c else np.mean(p[y == c] < 0.5))
    return float(np.mean(r))


def auc(y, s):
    from sklearn.metrics import roc_auc_score
    y = np.asarray(y)
    return float(roc_auc_score(y, s)) if len(set(y)) == 2 else float("nan")


def fit_temperature(logits, y):
    best, bt = 1e9, 1.0
    for t in np.exp(np.linspace(np.log(0.2), np.log(10), 60)):
        p = 1 / (1 + np.exp(-logits / t))
        ll = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        if ll < best:
            best, bt = ll, t
    return bt


def training_set(feats, aug, y, train):
    """The rows `train` of the clean features, plus those of every augmented copy whose
    window is usable in that copy. aug: [(features (N, d), usable (N,))]."""
    xs, ys = [feats[train]], [y[train]]
    for fa, ua in aug:
        keep = train[ua[train]]
        xs.append(fa[keep]); ys.append(y[keep])
    return np.vstack(xs), np.concatenate(ys)


def inner_oof(feats, aug, y, subj, idx, c, folds=8):
    """Out-of-fold logits over idx, folds by subject (8 groups of the subjects of idx)."""
    out = np.zeros(len(idx))
    su = subj[idx]
    us = np.unique(su)
    group = {s: k % folds for k, s in enumerate(us)}
    g = np.array([group[s] for s in su])
    for k in range(min(folds, len(us))):
        te, tr = g == k, g != k
        if len(set(y[idx][tr])) < 2:
            continue
        xtr, ytr = training_set(feats, aug, y, idx[tr])
        out[te] = fit_predict(xtr, ytr, feats[idx][te], c)
    return out


INNER_CACHE = {}


def nested(cands, y, subj, rows, tag="", augs=None):
    """cands: {name: features (N, d)}, augs: {name: [(augmented features, usable)]} — the nested LOSO over `rows`. Returns per-window
    probabilities, the choice in each fold, and the choice on all subjects. Inner results
    are cached by (tag, candidate, C, training rows): a candidate in several tables is
    fitted once."""
    augs = augs or {}
    p = np.full(len(y), np.nan)
    choices = {}
    subjects = np.unique(subj[rows])

    def choose(train):
        best = None
        key_rows = hash(train.tobytes())
        for name, f in cands.items():
            for c in CS:
                key = (tag, name, c, key_rows)
                if key not in INNER_CACHE:
                    INNER_CACHE[key] = inner_oof(f, augs.get(name, []), y, subj, train, c)
                oof = INNER_CACHE[key]
                score = bal_acc(y[train], 1 / (1 + np.exp(-oof)))
                if best is None or score > best[0] + 1e-12:
                    best = (score, name, c, oof)
        score, name, c, oof = best
        return name, c, fit_temperature(oof, y[train]), score

    for s in subjects:
        te = rows[subj[rows] == s]
        tr = rows[subj[rows] != s]
        name, c, t, _ = choose(tr)
        xtr, ytr = training_set(cands[name], augs.get(name, []), y, tr)
        logit = fit_predict(xtr, ytr, cands[name][te], c)
        p[te] = 1 / (1 + np.exp(-logit / t))
        choices[str(s)] = {"features": name, "C": c, "temperature": round(t, 4)}
    name, c, t, score = choose(rows)
    return p, choices, {"features": name, "C": c, "temperature": round(float(t), 4), "inner_balanced_accuracy": round(score, 4)}


def summarise(y, p, subj, rows, names, boot=2000, seed=17):
    rng = np.random.default_rng(seed)
    ys, ps, ss = y[rows], p[rows], subj[rows]
    subjects = np.unique(ss)
    ba, au = bal_acc(ys, ps), auc(ys, ps)
    by = {s: np.where(ss == s)[0] for s in subjects}
    bb, ba_ = [], []
    for _ in range(boot):
        pick = rng.choice(subjects, len(subjects), replace=True)
        ii = np.concatenate([by[s] for s in pick])
        bb.append(bal_acc(ys[ii], ps[ii]))
        ba_.append(auc(ys[ii], ps[ii]))
    per = {names[int(s)]: bal_acc(ys[ss == s], ps[ss == s]) for s in subjects if len(set(ys[ss == s])) == 2}
    return {
        "windows": int(len(rows)), "subjects": int(len(subjects)),
        "balanced_accuracy": round(ba, 4), "balanced_accuracy_ci95": [round(float(np.percentile(bb, 2.5)), 4), round(float(np.percentile(bb, 97.5)), 4)],
        "roc_auc": round(au, 4), "roc_auc_ci95": [round(float(np.nanpercentile(ba_, 2.5)), 4), round(float(np.nanpercentile(ba_, 97.5)), 4)],
        "brier_p_stress": round(float(np.mean((ps - ys) ** 2)), 4),
        "brier_base_rate": round(float(np.mean((np.mean(ys) - ys) ** 2)), 4),
        "per_subject_balanced_accuracy": {k: round(v, 4) for k, v in per.items()},
        "per_subject_mean": round(float(np.mean(list(per.values()))), 4) if per else None,
        "per_subject_min": round(float(np.min(list(per.values()))), 4) if per else None,
    }


def paired_difference(y, p_model, p_base, subj, rows, boot=2000, seed=23):
    """Balanced accuracy and AUC of a model minus a baseline's on the same windows, with a
    95 % interval from bootstrap resamples of subjects (the same resample for both)."""
    rng = np.random.default_rng(seed)
    ys, pm, pb, ss = y[rows], p_model[rows], p_base[rows], subj[rows]
    subjects = np.unique(ss)
    by = {s: np.where(ss == s)[0] for s in subjects}
    d_ba, d_auc = [], []
    for _ in range(boot):
        ii = np.concatenate([by[s] for s in rng.choice(subjects, len(subjects), replace=True)])
        d_ba.append(bal_acc(ys[ii], pm[ii]) - bal_acc(ys[ii], pb[ii]))
        d_auc.append(auc(ys[ii], pm[ii]) - auc(ys[ii], pb[ii]))
    q = lambda v: [round(float(np.nanpercentile(v, 2.5)), 4), round(float(np.nanpercentile(v, 97.5)), 4)]
    return {"balanced_accuracy": round(bal_acc(ys, pm) - bal_acc(ys, pb), 4), "balanced_accuracy_ci95": q(d_ba),
            "roc_auc": round(auc(ys, pm) - auc(ys, pb), 4), "roc_auc_ci95": q(d_auc)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", required=True, help="dataset from `ecg-train prepare` (no overlap, all records)")
    ap.add_argument("--corpus", default=os.path.join(here, "../../shared/data/ecg"))
    ap.add_argument("--train", default=os.path.join(here, "../.build/release/ecg-train"))
    ap.add_argument("--encoder", action="append", default=[], help="NAME=WEIGHTS_DIR (repeatable): candidate encoders")
    ap.add_argument("--random", type=int, default=4, help="random encoders (seeds 1..N) as baselines")
    ap.add_argument("--labels", default="rest,stress")
    ap.add_argument("--out", required=True)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--augmented", action="append", default=[],
                    help="dataset prepared as --data plus --augment (repeatable): its windows train every fit too")
    ap.add_argument("--hrv-source", choices=["window", "record"], default="window",
                    help="HRV of the preprocessed 256 Hz window (/classify's path) or of the record at its own rate (/features')")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    z, names = load_dataset(args.data)
    lab = z["label"]
    want = args.labels.split(",")
    ymap = {names["labels"].index(w): i for i, w in enumerate(want)}
    idx = np.array([i for i in range(len(lab)) if lab[i] in ymap])
    y = np.array([ymap[l] for l in lab[idx]])
    subj = z["subject"][idx]
    rec_of = [names["records"][r] for r in z["record"][idx]]
    # Window start within its record (prepare cuts consecutive windows from the start).
    starts, seen = [], {}
    for r in z["record"][idx]:
        starts.append(10.0 * seen.get(r, 0)); seen[r] = seen.get(r, 0) + 1
    if any(v for k, v in json.loads(bytes(z["names"]).decode())["preprocessing"].items() if k == "overlap_percent" and float(v) != 0):
        sys.exit("--data must be prepared without overlap")
    wpath = os.path.join(args.out, "windows.npy")
    if not os.path.exists(wpath):
        np.save(wpath, z["windows"][idx].astype(np.float32))
    # The server's features and grades, on the same preprocessed windows.
    fpath = os.path.join(args.out, "features.csv")
    if not os.path.exists(fpath):
        sh([args.train, "features", "--data", args.data, "--out", fpath, "--quiet"])
    frows = list(csv.DictReader(open(fpath)))
    frows = [frows[i] for i in idx]
    hrv = np.array([[float(r[k]) if r[k] else np.nan for k in ("heart_rate_bpm", "sdnn_ms", "rmssd_ms")] for r in frows])
    if args.hrv_source == "record":
        # R peaks over the whole record at its own rate (POST /features), per 10 s window.
        cpath = os.path.join(args.out, "features_corpus.csv")
        if not os.path.exists(cpath):
            sh([args.train, "features", "--corpus", args.corpus, "--labelled-only", "--out", cpath, "--quiet"])
        by = {(r["record"], float(r["start_s"])): r for r in csv.DictReader(open(cpath))}
        crow = [by[(rec, st)] for rec, st in zip(rec_of, starts)]
        hrv = np.array([[float(r[k]) if r[k] else np.nan for k in ("heart_rate_bpm", "sdnn_ms", "rmssd_ms")] for r in crow])
    usable = np.array([r["quality"] != "unusable" for r in frows])
    # Augmented copies of the same windows (same order): their features, grades and embeddings.
    copies = []
    for k, a in enumerate(args.augmented, start=1):
        za, na = load_dataset(a)
        if not (np.array_equal(za["record"], z["record"]) and np.array_equal(za["label"], z["label"]) and na["records"] == names["records"]
                and "augment" in na["preprocessing"]):
            sys.exit(f"{a} does not align with {args.data}: prepare it with the same arguments plus --augment")
        apath = os.path.join(args.out, f"windows_aug{k}.npy")
        if not os.path.exists(apath):
            np.save(apath, za["windows"][idx].astype(np.float32))
        fa = os.path.join(args.out, f"features_aug{k}.csv")
        if not os.path.exists(fa):
            sh([args.train, "features", "--data", a, "--out", fa, "--quiet"])
        ra = list(csv.DictReader(open(fa)))
        ra = [ra[i] for i in idx]
        copies.append({"path": apath, "augment": na["preprocessing"]["augment"],
                       "hrv": np.array([[float(r[c]) if r[c] else np.nan for c in ("heart_rate_bpm", "sdnn_ms", "rmssd_ms")] for r in ra]),
                       "usable": np.array([r["quality"] != "unusable" for r in ra]), "emb": {}})
        print(f"augmented copy {k} ({copies[-1]['augment']}): {int(copies[-1]['usable'].sum())} of {len(idx)} windows usable "
              f"(clean: {int(usable.sum())})", file=sys.stderr)
    manifest = {r["dataset"] + "/" + r["record"]: r for r in csv.DictReader(open(os.path.join(args.corpus, "manifest.csv")))}
    npath = os.path.join(args.out, "nk2_features.npy")
    if not os.path.exists(npath):
        np.save(npath, nk2_features(args.corpus, manifest, rec_of, starts))
    nk2 = np.load(npath)
    emb = {}

    def embed(name, how):
        for suffix, src, store in [("", wpath, emb)] + [(f"_aug{k}", c["path"], c["emb"]) for k, c in enumerate(copies, start=1)]:
            e = os.path.join(args.out, f"emb_{name}{suffix}.npy")
            if not os.path.exists(e):
                sh([args.train, "embed", *how, "--in", src, "--out", e, "--preprocessed", "--quiet"])
            store[name] = np.load(e).astype(float)

    for spec in args.encoder:
        name, d = spec.split("=", 1)
        embed(name, ["--weights", d])
    for k in range(1, args.random + 1):
        embed(f"random{k}", ["--random-init", str(k)])

    subj_names = names["subjects"]
    results, selected = {}, {}
    rows = np.where(usable)[0]
    print(f"{len(idx)} labelled windows of {len(np.unique(subj))} subjects; {len(rows)} usable "
          f"({int(np.sum(y[rows] == 0))} {want[0]}, {int(np.sum(y[rows] == 1))} {want[1]})", file=sys.stderr)

    # Personal baseline: the first 60 s (6 windows) of each subject's first rest record. Those
    # windows and the rest of that record are separate segments (a client sends the baseline
    # and the recording to score apart), so context never crosses between them; ecg-train
    # fit-head and ecg-server do the same (HeadInputs).
    rest_rec = {}
    for i in range(len(idx)):
        if y[i] == 0:
            rest_rec.setdefault(subj[i], rec_of[i])
    is_base = np.array([rec_of[i] == rest_rec.get(subj[i]) and starts[i] < 10 * BASELINE_WINDOWS for i in range(len(idx))])
    segment = np.array([2 * names["records"].index(r) + int(b) for r, b in zip(rec_of, is_base)])

    def context(f, k, ok=usable):
        """Mean of the features over the windows usable (`ok`) within ±k of each window in its segment."""
        if k == 0:
            return f
        out = f.copy()
        pos = {(segment[i], starts[i]): i for i in range(len(f)) if ok[i]}
        for i in range(len(f)):
            near = [pos[(segment[i], starts[i] + 10 * d)] for d in range(-k, k + 1) if (segment[i], starts[i] + 10 * d) in pos]
            if near:
                out[i] = np.nanmean(f[near], axis=0)
        return out

    def relative(f, ref=None):
        """Minus the mean over the subject's usable baseline windows of `ref` (default f; an
        augmented copy is taken relative to the clean baseline). f already has its context."""
        ref = f if ref is None else ref
        out = np.full_like(f, np.nan)
        for s in np.unique(subj):
            b = np.where((subj == s) & is_base & usable)[0]
            if len(b) == 0:
                continue
            sel = subj == s
            out[sel] = f[sel] - np.nanmean(ref[b], axis=0)
        return out

    has_base = np.array([np.sum((subj == s) & is_base & usable) >= 3 for s in subj])
    rel_rows = np.where(usable & ~is_base & has_base)[0]

    AUGS = {}  # candidate name -> [(augmented features, usable)], filled by family()

    def family(prefix, f, rel=False, faug=()):
        """Candidates `prefix|ctxK` of features f (N, d); faug: the same features of each
        augmented copy (registered in AUGS for training)."""
        out = {}
        for k in CONTEXTS:
            fc = context(f, k)
            name = f"{prefix}|ctx{k}"
            out[name] = relative(fc) if rel else fc
            AUGS[(rel, name)] = [(relative(context(fa, k, c["usable"]), fc) if rel else context(fa, k, c["usable"]), c["usable"])
                                 for fa, c in zip(faug, copies)]
        return out

    probs = {}

    def run(label, cands, rws, tag=""):
        rel = label.startswith("baseline: ")
        augs = {n: AUGS.get((rel, n), []) for n in cands}
        p, ch, final = nested(cands, y, subj, rws, tag, augs)
        probs[label] = p
        results[label] = summarise(y, p, subj, rws, subj_names, boot=args.boot)
        base = ("baseline: " if label.startswith("baseline: ") else "") + "heart rate (NeuroKit2 R peaks, one window)"
        if base in probs and base != label:
            results[label]["minus_nk2_heart_rate"] = paired_difference(y, p, probs[base], subj, rws, boot=args.boot)
        results[label]["candidates"] = sorted(cands)
        results[label]["chosen_on_all_subjects"] = f"{final['features']}, C {final['C']}, T {final['temperature']}"
        counts = {}
        for c in ch.values():
            counts[c["features"]] = counts.get(c["features"], 0) + 1
        results[label]["chosen_in_folds"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        selected[label] = {"per_fold": ch, "all_subjects": final}
        r = results[label]
        dd = r.get("minus_nk2_heart_rate")
        diff = f"{dd['balanced_accuracy']:+.3f} [{dd['balanced_accuracy_ci95'][0]:+.3f}, {dd['balanced_accuracy_ci95'][1]:+.3f}]" if dd else "–"
        print(f"| {label} | {diff} | {r['balanced_accuracy']:.3f} [{r['balanced_accuracy_ci95'][0]:.3f}, {r['balanced_accuracy_ci95'][1]:.3f}] "
              f"| {r['roc_auc']:.3f} [{r['roc_auc_ci95'][0]:.3f}, {r['roc_auc_ci95'][1]:.3f}] | {r['brier_p_stress']:.3f} ({r['brier_base_rate']:.3f}) "
              f"| {r['per_subject_mean']} ({r['per_subject_min']}) | {final['features']}, C {final['C']} |", flush=True)

    print("| model (nested LOSO) | balanced accuracy minus NeuroKit2 HR's [95 % CI] | balanced accuracy [95 % CI] | ROC AUC [95 % CI] | Brier (base rate) | per subject mean (min) | chosen on all subjects |")
    print("|---|---|---|---|---|---|---|")
    ssl = {k: v for k, v in emb.items() if not k.startswith("random")}
    rnd = {k: v for k, v in emb.items() if k.startswith("random")}
    for rel, rws in ((False, rows), (True, rel_rows)):
        pre = "baseline: " if rel else ""
        if rel:
            print("\nwith a personal baseline (the first 60 s of the rest recording), every feature minus its mean there:")
        # The baseline: NeuroKit2 HR/SDNN/RMSSD of one window (no context).
        tag = "rel" if rel else "abs"
        run(pre + "heart rate (NeuroKit2 R peaks, one window)", {"nk2_hrv|ctx0": relative(nk2) if rel else nk2}, rws, tag)
        run(pre + "heart rate (NeuroKit2 R peaks, context chosen)", family("nk2_hrv", nk2, rel), rws, tag)
        hr_fams = {**family("hr", hrv[:, :1], rel, [c["hrv"][:, :1] for c in copies]), **family("hrv", hrv, rel, [c["hrv"] for c in copies])}
        run(pre + "heart rate (ecg-affect R peaks)", hr_fams, rws, tag)
        if rnd:
            run(pre + "random encoders (embedding)", {k2: v2 for k, v in rnd.items()
                                                       for k2, v2 in family(f"emb:{k}", v, rel, [c["emb"][k] for c in copies]).items()}, rws, tag)
        if ssl:
            emb_fams = {k2: v2 for k, v in ssl.items() for k2, v2 in family(f"emb:{k}", v, rel, [c["emb"][k] for c in copies]).items()}
            both = {k2: v2 for k, v in ssl.items()
                    for k2, v2 in family(f"emb+hrv:{k}", np.hstack([v, hrv]), rel, [np.hstack([c["emb"][k], c["hrv"]]) for c in copies]).items()}
            run(pre + "pre-trained encoder (embedding)", emb_fams, rws, tag)
            run(pre + "pre-trained encoder + HRV", both, rws, tag)
            run(pre + "any of the above (served)", {**hr_fams, **emb_fams, **both}, rws, tag)
    if copies:
        selected["_augmentation"] = {"copies": [c["augment"] for c in copies], "trained_on": "clean windows and every usable augmented copy of each fit's training windows; held-out windows clean; NeuroKit2 rows clean only"}
    json.dump(results, open(os.path.join(args.out, "protocol.json"), "w"), indent=1)
    json.dump(selected, open(os.path.join(args.out, "selected.json"), "w"), indent=1)
    with open(os.path.join(args.out, "per_subject.csv"), "w") as f:
        f.write("model,subject,balanced_accuracy\n")
        for m, r in results.items():
            for s, v in r["per_subject_balanced_accuracy"].items():
                f.write(f"\"{m}\",{s},{v}\n")


if __name__ == "__main__":
    main()
