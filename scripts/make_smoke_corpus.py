#!/usr/bin/env python3
"""A tiny synthetic ECG corpus in the layout of ../shared/data/ecg (manifest.csv + one .npz
per record with `ecg` and `fs`), for the training smoke run in CI.
Usage: make_smoke_corpus.py DIR"""
import os, sys
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(3)
rows = ["path,dataset,subject,record,label,fs,n_samples,duration_s,units,quality,license,origin"]
for k, (fs, secs, label, quality) in enumerate([(500, 32, "rest", "ok"), (360, 25, "stress", "ok"), (256, 21, "rest", "ok"), (250, 30, "none", "poor")]):
    t = np.arange(int(fs * secs)) / fs
    hr = 1.1 + 0.2 * k
    ecg = sum(a * np.exp(-((t * hr) % 1 - c) ** 2 / (2 * w ** 2)) for a, c, w in [(0.1, 0.2, 0.03), (-0.1, 0.38, 0.01), (1.0, 0.4, 0.012), (-0.2, 0.42, 0.01), (0.3, 0.65, 0.05)])
    ecg = ecg + 0.05 * rng.standard_normal(t.size) + 0.2 * np.sin(2 * np.pi * 0.3 * t)
    name = f"rec{k}.npz"
    np.savez(os.path.join(out, name), ecg=ecg.astype(np.float32), fs=np.float64(fs))
    rows.append(f"{name},synthetic,S{k % 2},rec{k},{label},{fs},{t.size},{secs},mV,{quality},CC0,synthetic")
open(os.path.join(out, "manifest.csv"), "w").write("\n".join(rows) + "\n")
print(f"wrote {len(rows) - 1} records to {out}")
