#!/usr/bin/env python3
"""The request bodies every benchmark sends, written once so that all of them measure the
same input (bench/server.sh, cpu_ratio.sh, tls.sh, soak.sh, profiles):

  window.json     {"ecg": 2560 samples, "fs": 256}: a real 10 s window (the first of
                  biopsykit Vp01_Baseline, 256 Hz) when the corpus is beside the checkout,
                  else the shipped synthetic example resampled to 256 Hz
  window_f64.json the same samples divided by 3, as json.dumps writes float64 (17 digits)
  window.npy      the same samples, float32 .npy
  window8.npy     80 s (8 windows) at 256 Hz, float32 .npy
  window_500hz.json  the shipped example's first 10 s at its own 500 Hz (resampled by the server)
  windows512.npy  512 preprocessed windows (the TF fixture's 8, tiled) for `ecg-train embed`

    python3 bench/make_windows.py OUT_DIR
"""
import json, os, sys
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
real = "../shared/data/ecg/biopsykit/Vp01_Baseline.npz"
example = json.load(open("examples/ecg_500hz.json"))["ecg"]
if os.path.exists(real):
    z = np.load(real)
    assert float(z["fs"]) == 256.0
    x = np.asarray(z["ecg"], dtype=np.float64).ravel()
    what = real
else:
    x = np.array([example[int(i * 500 / 256)] for i in range(int(len(example) * 256 / 500))])
    what = "examples/ecg_500hz.json resampled to 256 Hz"
x8 = np.resize(x, 8 * 2560)   # repeats the recording if it is shorter than 80 s
json.dump({"ecg": x[:2560].tolist(), "fs": 256}, open(f"{out}/window.json", "w"))
# The same window as a client that scaled it in float64 sends it (json.dumps: 16-17 digits).
json.dump({"ecg": (x[:2560] / 3).tolist(), "fs": 256}, open(f"{out}/window_f64.json", "w"))
np.save(f"{out}/window.npy", x[:2560].astype("<f4"))
np.save(f"{out}/window8.npy", x8.astype("<f4"))
json.dump({"ecg": example[:5000], "fs": 500}, open(f"{out}/window_500hz.json", "w"))
np.save(f"{out}/windows512.npy", np.tile(np.load("Tests/ModelTests/Fixtures/inputs.npy"), (64, 1)))
print(f"bench windows from {what} in {out}/", file=sys.stderr)
