#!/usr/bin/env python3
"""Heart rate against NeuroKit2 and signal quality on ECG and non-ECG (issue #17, items 5 and 6).

  scripts/check_quality_hr.py [--corpus ../shared/data/ecg] [--train .build/release/ecg-train] [--strict]

1. Heart rate: `ecg-train features --corpus … --labelled-only` (the code ecg-server's
   /features runs) against NeuroKit2 (ecg_clean + ecg_peaks, method "neurokit") on every
   labelled public record, per 10 s window: the share within 3 bpm and the number off by
   more than 10 bpm, over usable windows (quality not "unusable") and over all windows.
2. Quality: synthetic non-ECG (white and pink noise, sines, square, sawtooth, constant, a
   PPG-like pulse; 60 s at 256 and 500 Hz) graded by the same command: every window should
   be "unusable"; and the share of the real labelled windows that stay usable.
--strict exits 1 when a goal is missed (>= 99 % within 3 bpm, none > 10; every synthetic
window unusable). Needs numpy and neurokit2 (PyPI; for this check only).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np


METHODS = ("neurokit", "pantompkins1985", "hamilton2002", "elgendi2010", "kalidas2017")


def synthetic(fs, seconds=60, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(fs * seconds)) / fs
    pink = np.cumsum(rng.standard_normal(len(t)))
    f = np.fft.rfft(rng.standard_normal(len(t)))
    f[1:] /= np.sqrt(np.arange(1, len(f)))
    pink = np.fft.irfft(f, len(t))
    phase = (t * 1.2) % 1.0
    ppg = np.exp(-((phase - 0.25) ** 2) / 0.01) + 0.4 * np.exp(-((phase - 0.55) ** 2) / 0.02)
    return {
        "white_noise": rng.standard_normal(len(t)),
        "pink_noise": pink,
        "sine_1hz": np.sin(2 * np.pi * 1.0 * t),
        "sine_1.3hz": np.sin(2 * np.pi * 1.3 * t),
        "sine_5hz": np.sin(2 * np.pi * 5 * t),
        "sine_10hz": np.sin(2 * np.pi * 10 * t),
        "square_1hz": np.sign(np.sin(2 * np.pi * 1.0 * t)),
        "square_1.2hz": np.sign(np.sin(2 * np.pi * 1.2 * t)),
        "sawtooth_1hz": (t * 1.0) % 1.0,
        "sawtooth_1.2hz_down": 1 - (t * 1.2) % 1.0,
        "constant": np.ones(len(t)),
        "ppg_like": ppg,
    }


def run_features(train, corpus, labelled):
    out = tempfile.mktemp(suffix=".csv")
    cmd = [train, "features", "--corpus", corpus, "--out", out, "--quiet"] + (["--labelled-only"] if labelled else [])
    subprocess.run(cmd, check=True)
    rows = list(csv.DictReader(open(out)))
    os.unlink(out)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--corpus", default=os.path.join(here, "../../shared/data/ecg"))
    ap.add_argument("--train", default=os.path.join(here, "../.build/release/ecg-train"))
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--reference", choices=["neurokit", "consensus"], default="neurokit",
                    help="NeuroKit2's default detector, or the median HR of its five detectors %s" % (METHODS,))
    args = ap.parse_args()
    import neurokit2 as nk

    ok = True
    rows = run_features(args.train, args.corpus, True)
    manifest = {r["dataset"] + "/" + r["record"]: r for r in csv.DictReader(open(os.path.join(args.corpus, "manifest.csv")))}
    diffs, usable, worst = [], [], []
    cache = {}
    for r in rows:
        rec = r["record"]
        if rec not in cache:
            z = np.load(os.path.join(args.corpus, manifest[rec]["path"]))
            x, fs = z["ecg"].astype(float), float(z["fs"])
            found = {}
            for m in METHODS:
                clean = nk.ecg_clean(x, sampling_rate=fs, method=m if m != "kalidas2017" else "neurokit")
                _, info = nk.ecg_peaks(clean, sampling_rate=fs, method=m)
                found[m] = np.asarray(info["ECG_R_Peaks"])
            cache[rec] = (found, fs)
        found, fs = cache[rec]
        a, b = float(r["start_s"]) * fs, (float(r["start_s"]) + 10) * fs
        hrs = {}
        for m, peaks in found.items():
            p = peaks[(peaks >= round(a)) & (peaks < round(b))]
            hrs[m] = 60.0 / (np.mean(np.diff(p)) / fs) if len(p) >= 2 else np.nan
        ref = hrs["neurokit"] if args.reference == "neurokit" else np.nanmedian(list(hrs.values()))
        ours = float(r["heart_rate_bpm"]) if r["heart_rate_bpm"] else np.nan
        d = abs(ours - ref) if np.isfinite(ours) and np.isfinite(ref) else np.inf
        diffs.append(d)
        usable.append(r["quality"] != "unusable")
        if d > 10:
            worst.append((rec, r["start_s"], ours, ref, r["quality"]))
    diffs, usable = np.array(diffs), np.array(usable)
    for name, m in (("usable", usable), ("all", np.ones_like(usable))):
        within = np.mean(diffs[m] <= 3) if m.any() else float("nan")
        print(f"HR vs NeuroKit2, {name} windows: {m.sum()} windows, {100 * within:.1f} % within 3 bpm, "
              f"{int(np.sum(diffs[m] > 10))} off by > 10 bpm")
    print(f"(reference: {args.reference})")
    print(f"usable: {usable.sum()} of {len(usable)} labelled windows "
          f"(rest {sum(u for u, r in zip(usable, rows) if r['label'] == 'rest')} of {sum(r['label'] == 'rest' for r in rows)}, "
          f"stress {sum(u for u, r in zip(usable, rows) if r['label'] == 'stress')} of {sum(r['label'] == 'stress' for r in rows)})")
    for w in [w for w in worst if w[4] != "unusable"][:10]:
        print("  usable window off by > 10 bpm:", w)
    u = usable
    if np.mean(diffs[u] <= 3) < 0.99 or np.sum(diffs[u] > 10) > 0:
        ok = False

    with tempfile.TemporaryDirectory() as d:
        lines = ["path,dataset,subject,record,label,fs,quality"]
        for fs in (256.0, 500.0):
            for name, x in synthetic(fs).items():
                rec = f"{name}_{int(fs)}"
                np.savez(os.path.join(d, rec + ".npz"), ecg=x.astype(np.float32), fs=np.float64(fs))
                lines.append(f"{rec}.npz,synthetic,{rec},{rec},none,{fs},ok")
        open(os.path.join(d, "manifest.csv"), "w").write("\n".join(lines) + "\n")
        syn = run_features(args.train, d, False)
    by = {}
    for r in syn:
        by.setdefault(r["record"], []).append(r["quality"])
    for rec, q in sorted(by.items()):
        bad = [x for x in q if x != "unusable"]
        print(f"  {rec:28s} {len(q) - len(bad)}/{len(q)} windows unusable" + ("" if not bad else f"  <- {bad}"))
        ok = ok and not bad
    print("all goals met" if ok else "goals missed")
    if args.strict and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
