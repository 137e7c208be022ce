#!/usr/bin/env python3
"""Which mains/out-of-band filter to put before the network, measured (issue #17, item 2).

For each candidate (all zero-phase, at 256 Hz after resampling, after the 0.8 Hz high-pass):
  hp        the 0.8 Hz high-pass alone (the old preprocessing)
  lp40      + 4th-order Butterworth low-pass at 40 Hz
  notch     + notches at 50 and 60 Hz (scipy.signal.iirnotch, Q = 30)
  lp40n     + both
it reports
  * how much of a 50 Hz and a 60 Hz hum survives (amplitude after / before, steady state);
  * how much of the QRS it keeps: on the MIT-BIH records with reference beats, the average
    beat (±100 ms around each annotated R) against the same beat through `hp`: correlation
    and the ratio of QRS peak-to-peak amplitudes (1.0 = untouched);
  * white noise (20 dB SNR on clean windows): residual noise power after / before.

Usage: scripts/preprocessing_choice.py [--corpus ../shared/data/ecg]
Needs numpy and scipy (PyPI); reads the corpus, writes nothing.
"""
import argparse
import glob
import os

import numpy as np
from scipy import signal

FS = 256.0


def sos_for(name):
    hp = signal.butter(4, 0.8, "highpass", fs=FS, output="sos")
    parts = [hp]
    if name in ("lp40", "lp40n"):
        parts.append(signal.butter(4, 40, "lowpass", fs=FS, output="sos"))
    if name in ("notch", "lp40n"):
        for f0 in (50.0, 60.0):
            b, a = signal.iirnotch(f0, 30.0, fs=FS)
            parts.append(np.concatenate([b, a])[None, :])
    return np.vstack(parts)


def to256(x, fs):
    from fractions import Fraction
    fr = Fraction(256000, int(round(fs * 1000))).limit_denominator(50000)
    return signal.resample_poly(x, fr.numerator, fr.denominator)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "../../shared/data/ecg"))
    args = ap.parse_args()
    names = ["hp", "lp40", "notch", "lp40n"]
    t = np.arange(int(60 * FS)) / FS
    print("filter   hum50 kept  hum60 kept  QRS corr (min)   QRS p-p ratio (min)  white-noise power kept")
    rpeaks = sorted(glob.glob(os.path.join(args.corpus, "tpcp-mitdb/rpeaks/*.csv")))
    beats = {}
    for path in rpeaks:
        rec = os.path.basename(path)[:-4]
        z = np.load(os.path.join(args.corpus, "tpcp-mitdb", rec + ".npz"))
        x, fs = z["ecg"].astype(float)[: int(fs_ := float(z["fs"])) * 300], fs_
        r = np.loadtxt(path, skiprows=1, dtype=int)
        r = r[r < len(x)]
        beats[rec] = (to256(x, fs), np.round(r * FS / fs).astype(int))
    rng = np.random.default_rng(17)
    for name in names:
        sos = sos_for(name)
        kept = []
        for f0 in (50.0, 60.0):
            h = np.sin(2 * np.pi * f0 * t)
            y = signal.sosfiltfilt(sos, h)[int(10 * FS):int(50 * FS)]
            kept.append(np.sqrt(2) * y.std())
        corrs, ratios, noise = [], [], []
        ref_sos = sos_for("hp")
        for rec, (x, r) in beats.items():
            a, b = signal.sosfiltfilt(ref_sos, x), signal.sosfiltfilt(sos, x)
            h = int(0.1 * FS)
            r = r[(r > h) & (r < len(x) - h)]
            ba = np.mean([a[p - h:p + h] for p in r], axis=0)
            bb = np.mean([b[p - h:p + h] for p in r], axis=0)
            corrs.append(np.corrcoef(ba, bb)[0, 1])
            ratios.append(np.ptp(bb) / np.ptp(ba))
            seg = a[: int(60 * FS)]
            n = rng.standard_normal(len(seg)) * np.sqrt(np.mean(seg ** 2) / 100)
            nb = signal.sosfiltfilt(sos, seg + n) - signal.sosfiltfilt(sos, seg)
            noise.append(np.mean(nb ** 2) / np.mean(n ** 2))
        print(f"{name:8s} {kept[0]:10.4f} {kept[1]:10.4f}  {np.mean(corrs):.4f} ({min(corrs):.4f})  "
              f"{np.mean(ratios):.4f} ({min(ratios):.4f})      {np.mean(noise):.3f}")


if __name__ == "__main__":
    main()
