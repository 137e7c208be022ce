#!/usr/bin/env python3
"""How much does choosing the pre-training epoch by the stress evaluation flatter it?

Nested leave-one-subject-out: in each outer fold (one subject held out) the epoch is chosen
by an inner 4-fold-by-subject CV on the other 31 subjects, then the same logistic regression
as `ecg-train evaluate`'s ssl_linear (standardised, classes weighted, L2 1e-2, Adam 0.05,
400 steps, threshold 0.5) is fitted on those 31 and scores the held-out one; the pooled
balanced accuracy is the estimate for "this pipeline, epoch choice included".
(This numpy regression reproduces ecg-train's ssl_linear LOSO figures to 3 decimals.)

  scripts/nested_epoch_choice.py DIR EPOCH [EPOCH ...] [--plain]

DIR holds eval_y.npy, eval_subject.npy (the 729 labelled windows of the evaluation set, rest = 0,
stress = 1) and emb_EPOCH.npy for each epoch: the 128-d embeddings of those windows, e.g.
  ecg-train embed --weights run/models/epoch_N --in DIR/eval_windows.npy --out DIR/emb_N.npy --preprocessed
(the windows taken from a `prepare`d evaluation set with the encoder's polarity).
"""
import numpy as np, sys, time
import argparse
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("dir", help="folder with eval_y.npy, eval_subject.npy and emb_EPOCH.npy")
ap.add_argument("epochs", type=int, nargs="+", help="the epochs to choose among")
ap.add_argument("--plain", action="store_true", help="also print each epoch's plain LOSO figure")
args = ap.parse_args()
D = args.dir.rstrip('/') + '/'
epochs = args.epochs
X = {e: np.load(f'{D}emb_{e}.npy').astype(np.float64) for e in epochs}
y = np.load(f'{D}eval_y.npy'); subj = np.load(f'{D}eval_subject.npy')
S = np.unique(subj)

def fit_many(Xe, masks):
    """One regression per row of masks (F, n) on rows where mask is true; returns (mu, sc, w, b)."""
    F, n = masks.shape; d = Xe.shape[1]
    m = masks.astype(np.float64); cnt = m.sum(1, keepdims=True)
    mu = m @ Xe / cnt
    var = (m @ (Xe ** 2)) / cnt - mu ** 2
    sc = np.where(var > 1e-12, np.sqrt(np.maximum(var, 0)), 1.0)
    Z = (Xe[None, :, :] - mu[:, None, :]) / sc[:, None, :]           # (F, n, d)
    pos = (m * y).sum(1, keepdims=True); neg = cnt - pos
    wts = np.where(y[None, :] == 1, cnt / (2 * pos), cnt / (2 * neg)) * m / cnt   # (F, n)
    w = np.zeros((F, d)); b = np.zeros(F)
    mw = np.zeros((F, d)); vw = np.zeros((F, d)); mb = np.zeros(F); vb = np.zeros(F)
    for t in range(1, 401):
        s = np.einsum('fnd,fd->fn', Z, w) + b[:, None]
        p = 1 / (1 + np.exp(-s))
        e = (p - y[None, :]) * wts
        gw = np.einsum('fn,fnd->fd', e, Z) + 1e-2 * w; gb = e.sum(1)
        mw = 0.9 * mw + 0.1 * gw; vw = 0.999 * vw + 0.001 * gw * gw
        mb = 0.9 * mb + 0.1 * gb; vb = 0.999 * vb + 0.001 * gb * gb
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        w -= 0.05 * (mw / c1) / (np.sqrt(vw / c2) + 1e-8); b -= 0.05 * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
    return mu, sc, w, b

def predict(model, f, Xrows):
    mu, sc, w, b = model
    return 1 / (1 + np.exp(-(((Xrows - mu[f]) / sc[f]) @ w[f] + b[f])))

def bal(yt, p):
    pr = p > 0.5
    return 0.5 * ((pr[yt == 1]).mean() + (~pr[yt == 0]).mean())

def loso(Xe, rows, k=None):
    """Pooled balanced accuracy over the subjects of `rows`: leave one subject out, or
    k folds of subjects (subject i of the sorted list in fold i mod k)."""
    ss = np.unique(subj[rows])
    groups = [[s] for s in ss] if k is None else [list(ss[i::k]) for i in range(k)]
    masks = np.array([np.isin(np.arange(len(y)), rows) & ~np.isin(subj, g) for g in groups])
    model = fit_many(Xe, masks)
    p = np.zeros(len(y))
    for f, g in enumerate(groups):
        te = rows[np.isin(subj[rows], g)]; p[te] = predict(model, f, Xe[te])
    return bal(y[rows], p[rows])

t0 = time.time()
allrows = np.arange(len(y))
if args.plain:
    print('plain LOSO per epoch:', {e: round(loso(X[e], allrows), 3) for e in epochs}, flush=True)
p = np.zeros(len(y)); chosen = []
for k, s in enumerate(S):
    tr = allrows[subj != s]; te = allrows[subj == s]
    inner = {e: loso(X[e], tr, k=4) for e in epochs}
    best = max(epochs, key=lambda e: inner[e]); chosen.append(best)
    model = fit_many(X[best], np.array([subj != s]))
    p[te] = predict(model, 0, X[best][te])
    print(f'outer {k + 1}/{len(S)}: chose epoch {best} (inner {inner[best]:.3f}) {time.time() - t0:.0f} s', flush=True)
print('nested LOSO balanced accuracy (epoch chosen inside each fold):', round(bal(y, p), 3))
print('epochs chosen:', {e: chosen.count(e) for e in sorted(set(chosen))})
