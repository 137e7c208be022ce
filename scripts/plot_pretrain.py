#!/usr/bin/env python3
"""Plots a pre-training run's validation curves (loss, and F1 per pretext task per epoch)
from its epochs.csv into a PNG.  Usage: plot_pretrain.py EPOCHS_CSV OUT_PNG [MARK_EPOCH LABEL]
(matplotlib). MARK_EPOCH: a vertical line after that epoch, e.g. where the data changed."""
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

rows = list(csv.DictReader(open(sys.argv[1])))
names = ["original", "noise", "scaling ×1.1", "negation", "time reversal", "permutation", "time warp"]
ep = [int(r["epoch"]) for r in rows]
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
a.plot(ep, [float(r["mean_total"]) for r in rows], "o-", label="training (mean over the epoch)")
a.plot(ep, [float(r["val_total"]) for r in rows], "s-", label="validation (held-out subjects)")
a.xaxis.set_major_locator(MaxNLocator(integer=True)); b.xaxis.set_major_locator(MaxNLocator(integer=True))
a.set_xlabel("epoch"); a.set_ylabel("weighted loss"); a.set_title("Pre-training loss"); a.legend(); a.grid(alpha=0.3)
for i, n in enumerate(names):
    b.plot(ep, [float(r[f"val_f1_{i}"]) for r in rows], "o-", label=n)
b.axhline(0.9, color="gray", ls="--", lw=1, label="target 0.9")
b.set_ylim(-0.02, 1.02); b.set_xlabel("epoch"); b.set_ylabel("F1 on held-out subjects"); b.set_title("Pretext tasks")
b.legend(fontsize=8, loc="lower right"); b.grid(alpha=0.3)
if len(sys.argv) > 4:
    for ax in (a, b):
        ax.axvline(float(sys.argv[3]) + 0.5, color="black", ls=":", lw=1)
    a.text(float(sys.argv[3]) + 0.3, 0.98, sys.argv[4], fontsize=8, rotation=90, va="top", ha="right", transform=a.get_xaxis_transform())
steps = rows[-1]["steps"]
fig.suptitle(f"SSL-ECG pre-training on the public corpus (batch 128 × 7, {steps} steps)", fontsize=11)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print("wrote", sys.argv[2])
