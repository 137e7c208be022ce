#!/usr/bin/env python3
"""examples/ecg_500hz.json: 30 s of synthetic single-lead ECG at 500 Hz (our own, no
licence attached): P-QRS-T waves as Gaussians at 72 bpm with slight heart-rate
variability, baseline wander and noise. Deterministic (seed 7)."""
import json, math, os, random
random.seed(7)
fs, secs = 500, 30
n = fs * secs
x = [0.15 * math.sin(2 * math.pi * 0.25 * i / fs) for i in range(n)]
t = 0.3
waves = [(0.12, -0.20, 0.025), (-0.12, -0.03, 0.008), (1.1, 0.0, 0.010), (-0.25, 0.025, 0.008), (0.3, 0.25, 0.040)]
while t < secs:
    for a, c, w in waves:
        for i in range(max(0, int((t + c - 4 * w) * fs)), min(n, int((t + c + 4 * w) * fs) + 1)):
            d = i / fs - (t + c)
            x[i] += a * math.exp(-d * d / (2 * w * w))
    t += 60 / 72 * (1 + 0.04 * math.sin(2 * math.pi * t / 4.5)) + random.gauss(0, 0.01)
x = [round(v + random.gauss(0, 0.01), 4) for v in x]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "ecg_500hz.json")
json.dump({"ecg": x, "fs": fs}, open(out, "w"), separators=(",", ":"))
print(f"wrote {out}: {n} samples at {fs} Hz")
