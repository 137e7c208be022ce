#!/usr/bin/env python3
"""The request bodies of the README's examples (synthetic single-lead ECG at 500 Hz, our
own, no licence attached): P-QRS-T waves as Gaussians with slight heart-rate variability,
baseline wander and noise. Deterministic (seed 7).

  examples/ecg_500hz.json           30 s at 72 bpm: {"ecg": [...], "fs": 500}
  examples/ecg_with_baseline.json   30 s at 90 bpm with a personal baseline of 70 s at 70 bpm:
                                    {"ecg": [...], "fs": 500, "baseline": {"ecg": [...], "fs": 500}}
"""
import json, math, os, random

fs = 500
waves = [(0.12, -0.20, 0.025), (-0.12, -0.03, 0.008), (1.1, 0.0, 0.010), (-0.25, 0.025, 0.008), (0.3, 0.25, 0.040)]


def ecg(secs, bpm):
    n = fs * secs
    x = [0.15 * math.sin(2 * math.pi * 0.25 * i / fs) for i in range(n)]
    t = 0.3
    while t < secs:
        for a, c, w in waves:
            for i in range(max(0, int((t + c - 4 * w) * fs)), min(n, int((t + c + 4 * w) * fs) + 1)):
                d = i / fs - (t + c)
                x[i] += a * math.exp(-d * d / (2 * w * w))
        t += 60 / bpm * (1 + 0.04 * math.sin(2 * math.pi * t / 4.5)) + random.gauss(0, 0.01)
    return [round(v + random.gauss(0, 0.01), 4) for v in x]


random.seed(7)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
json.dump({"ecg": ecg(30, 72), "fs": fs}, open(os.path.join(here, "ecg_500hz.json"), "w"), separators=(",", ":"))
json.dump({"ecg": ecg(30, 90), "fs": fs, "baseline": {"ecg": ecg(70, 70), "fs": fs}},
          open(os.path.join(here, "ecg_with_baseline.json"), "w"), separators=(",", ":"))
print("wrote examples/ecg_500hz.json and examples/ecg_with_baseline.json")
