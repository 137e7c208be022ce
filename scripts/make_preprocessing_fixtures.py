#!/usr/bin/env python3
"""scipy-computed vectors for the preprocessing tests (Tests/ModelTests/Fixtures/preprocessing.npz).

Run from the repository root: python3 scripts/make_preprocessing_fixtures.py
- resample_<fs>: scipy.signal.resample_poly of a test signal from fs to 256 Hz
- hp_in, hp_out: scipy.signal.sosfiltfilt(butter(4, 0.8, 'highpass', fs=256, output='sos'), hp_in)
- hp_sos: those sections
- band_sos, band_in, band_out: the band filter of issue #17 (butter(4, 0.8, 'highpass') + butter(4, 40,
  'lowpass') + iirnotch(50, 30) + iirnotch(60, 30) at 256 Hz) and sosfiltfilt of a signal with 50 and 60 Hz hum
- z_in, z_out: robust z-score (mean; std of the central 95 % of sorted samples) in numpy
"""
import os
from fractions import Fraction
import numpy as np
from scipy import signal

rng = np.random.default_rng(7)
out = {}
for fs in (50, 128, 250, 360, 500, 1000, 257.5):
    n = int(fs * 12.3)
    t = np.arange(n) / fs
    x = np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 17 * t) + 0.05 * rng.standard_normal(n)
    f = Fraction(256 * 1000, int(round(fs * 1000)))
    out[f"resample_in_{fs}"] = x
    out[f"resample_out_{fs}"] = signal.resample_poly(x, f.numerator, f.denominator)
sos = signal.butter(4, 0.8, "highpass", fs=256, output="sos")
x = np.cumsum(rng.standard_normal(256 * 30)) * 0.05 + np.sin(2 * np.pi * 1.1 * np.arange(256 * 30) / 256)
out["hp_sos"] = sos
out["hp_in"] = x
out["hp_out"] = signal.sosfiltfilt(sos, x)
band = [signal.butter(4, 0.8, "highpass", fs=256, output="sos"), signal.butter(4, 40, "lowpass", fs=256, output="sos")]
for f0 in (50.0, 60.0):
    b, a = signal.iirnotch(f0, 30.0, fs=256)
    band.append(np.concatenate([b, a])[None, :])
band = np.vstack(band)
t = np.arange(256 * 30) / 256
xb = x + 0.3 * np.sin(2 * np.pi * 50 * t) + 0.2 * np.sin(2 * np.pi * 60 * t + 1) + 0.05 * rng.standard_normal(len(t))
out["band_sos"] = band
out["band_in"] = xb
out["band_out"] = signal.sosfiltfilt(band, xb)
z = rng.standard_normal(2560) * 3 + 1.5
z[::97] += 40  # outliers the central 95 % ignores
s = np.sort(z)
lo, hi = int(np.floor(0.025 * len(z))), int(np.ceil(0.975 * len(z)))
out["z_in"] = z.astype(np.float32)
out["z_out"] = ((z.astype(np.float64) - z.mean()) / s[lo:hi].std()).astype(np.float32)
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ModelTests", "Fixtures", "preprocessing.npz")
np.savez_compressed(path, **out)
print("wrote", os.path.relpath(path), len(out), "arrays")
