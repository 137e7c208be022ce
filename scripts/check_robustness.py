#!/usr/bin/env python3
"""Does mains hum, noise or baseline wander move the served affect answer? (issue #17, item 2)

  scripts/check_robustness.py PORT [--corpus ../shared/data/ecg] [--recordings 12] [--strict]

Against a running ecg-server (POST /classify over loopback), for labelled public recordings
(eegmat, alternately rest and stress, subjects in sorted order; `quality=ok` only):
  hum50 / hum60   a 50 or 60 Hz sine of amplitude 10 % of the recording's range (max - min)
  noise20db       white Gaussian noise at 20 dB SNR (power of the 0.5 Hz high-passed signal / 100)
  wander          a 0.3 Hz sine of amplitude 50 % of the range (strong baseline wander)
Each perturbed recording is sent as the original was, without and with a personal baseline
(the first 60 s of the same subject's rest recording, unperturbed). Reported per perturbation:
recordings whose label changed, and the largest |change of P(stress)| over windows usable in
both answers. Goal (issue #17): no label changes and max |dP| <= 0.10. --strict exits 1 if missed.
Needs numpy (PyPI). Seeded (--seed) and the seed is printed.
"""
import argparse
import csv
import json
import os
import sys
import urllib.request

import numpy as np


def classify(port, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/classify", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def summary(ans):
    s = ans["heads"]["stress"]
    probs = [None if p is None else p[1] for p in s["probabilities"]]
    usable = [w["quality"] != "unusable" for w in ans["windows"]]
    return ans["recordings"][0]["stress"]["label"], probs, usable


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("port", type=int)
    ap.add_argument("--corpus", default=os.path.join(here, "../../shared/data/ecg"))
    ap.add_argument("--recordings", type=int, default=12)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--out", help="also write the table (Markdown) to this file")
    args = ap.parse_args()
    print(f"seed {args.seed}")
    rng = np.random.default_rng(args.seed)
    rows = [r for r in csv.DictReader(open(os.path.join(args.corpus, "manifest.csv")))
            if r["dataset"] == "eegmat" and r["quality"] == "ok" and r["label"] in ("rest", "stress")]
    by_subject = {}
    for r in rows:
        by_subject.setdefault(r["subject"], {})[r["label"]] = r
    chosen = []
    for k, s in enumerate(sorted(s for s, v in by_subject.items() if len(v) == 2)):
        chosen.append(by_subject[s]["rest" if k % 2 == 0 else "stress"])
        if len(chosen) == args.recordings:
            break

    def load(r):
        z = np.load(os.path.join(args.corpus, r["path"]))
        return z["ecg"].astype(float), float(z["fs"])

    pert = ["hum50", "hum60", "noise20db", "wander"]
    stats = {(p, b): {"changed": 0, "max_dp": 0.0, "windows": 0} for p in pert for b in (False, True)}
    for r in chosen:
        x, fs = load(r)
        base_x, base_fs = load(by_subject[r["subject"]]["rest"])
        baseline = {"ecg": base_x[: int(60 * base_fs)].tolist(), "fs": base_fs}
        t = np.arange(len(x)) / fs
        rng_ = np.ptp(x)
        hp = x - np.convolve(x, np.ones(int(fs)) / int(fs), mode="same")
        variants = {
            "hum50": x + 0.1 * rng_ * np.sin(2 * np.pi * 50 * t),
            "hum60": x + 0.1 * rng_ * np.sin(2 * np.pi * 60 * t),
            "noise20db": x + rng.standard_normal(len(x)) * np.sqrt(np.mean(hp ** 2) / 100),
            "wander": x + 0.5 * rng_ * np.sin(2 * np.pi * 0.3 * t),
        }
        for with_base in (False, True):
            extra = {"baseline": baseline} if with_base else {}
            if with_base and r["label"] == "rest":
                # Score the rest recording after its first 60 s (the baseline), as a user would.
                x0 = x[int(60 * fs):]
            else:
                x0 = x
            lab0, p0, u0 = summary(classify(args.port, {"ecg": x0.tolist(), "fs": fs, **extra}))
            for name, v in variants.items():
                v = v[int(60 * fs):] if (with_base and r["label"] == "rest") else v
                lab1, p1, u1 = summary(classify(args.port, {"ecg": v.tolist(), "fs": fs, **extra}))
                st = stats[(name, with_base)]
                st["changed"] += int(lab0 != lab1)
                for a, b, ua, ub in zip(p0, p1, u0, u1):
                    if ua and ub and a is not None and b is not None:
                        st["max_dp"] = max(st["max_dp"], abs(a - b))
                        st["windows"] += 1
    ok = True
    table = []
    print(f"{len(chosen)} recordings ({', '.join(r['record'] for r in chosen)})")
    table.append("| perturbation | personal baseline | recording labels changed | max abs change of P(stress) | windows compared |")
    table.append("|---|---|---:|---:|---:|")
    for (p, b), st in stats.items():
        table.append(f"| {p} | {'yes' if b else 'no'} | {st['changed']} of {len(chosen)} | {st['max_dp']:.3f} | {st['windows']} |")
        ok = ok and st["changed"] == 0 and st["max_dp"] <= 0.10
    print("\n".join(table))
    if args.out:
        open(args.out, "w").write("\n".join(table) + "\n")
    print("goal met" if ok else "goal missed")
    if args.strict and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
