#!/usr/bin/env python3
"""The Open Inference Protocol (KServe v2) with the real Triton client, against a running
ecg-server: health, metadata, infer with JSON and with binary tensors, errors.
Usage: check_kserve.py PORT   (needs tritonclient[http] and numpy)"""
import json, sys, urllib.request
import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

port = int(sys.argv[1])
c = httpclient.InferenceServerClient(url=f"127.0.0.1:{port}")
assert c.is_server_live() and c.is_server_ready() and c.is_model_ready("ssl-ecg")
meta = c.get_model_metadata("ssl-ecg")
names = [o["name"] for o in meta["outputs"]]
assert meta["name"] == "ssl-ecg" and meta["inputs"][0]["name"] == "ecg" and "embedding" in names, meta
ex = json.load(open("examples/ecg_500hz.json"))
x = np.array([ex["ecg"][:10000], ex["ecg"][5000:15000]], dtype=np.float32)   # 2 recordings of 20 s at 500 Hz

# The native API's answer for the same input.
req = urllib.request.Request(f"http://127.0.0.1:{port}/embed", data=json.dumps({"ecg": x.tolist(), "fs": 500}).encode(),
                             headers={"Content-Type": "application/json"})
native = np.array(json.load(urllib.request.urlopen(req))["embeddings"], dtype=np.float32)

for binary in (False, True):
    inp = httpclient.InferInput("ecg", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("embedding", "window_recording", "window_start_s", "window_quality")]
    r = c.infer("ssl-ecg", [inp], outputs=outs, request_id="req-1", parameters={"fs": 500})
    e = r.as_numpy("embedding")
    assert e.shape == (4, 128) and e.dtype == np.float32, e.shape
    assert np.abs(e - native).max() <= 1e-6 * np.abs(native).max(), "differs from /embed"
    assert r.as_numpy("window_recording").tolist() == [0, 0, 1, 1] and r.as_numpy("window_start_s").tolist() == [0, 10, 0, 10]
    assert r.get_response()["id"] == "req-1"
    print(f"infer ({'binary' if binary else 'JSON'} tensors): embedding {e.shape}, equal to /embed; qualities {r.as_numpy('window_quality').tolist()}")

# No outputs named: every output, binary (the client's default).
inp = httpclient.InferInput("ecg", list(x.shape), "FP32"); inp.set_data_from_numpy(x)
r = c.infer("ssl-ecg", [inp], parameters={"fs": 500})
got = sorted(o["name"] for o in r.get_response()["outputs"])
assert got == sorted(names), got
print("all outputs:", ", ".join(got))

# Errors come back as InferenceServerException with the server's message.
for params, want in (({}, "sampling rate"), ({"fs": 500, "preprocessed": "yes"}, "wrong type")):
    try:
        c.infer("ssl-ecg", [inp], parameters=params); raise SystemExit(f"no error for {params}")
    except InferenceServerException as err:
        assert want in str(err), str(err)
short = httpclient.InferInput("ecg", [1, 100], "FP32"); short.set_data_from_numpy(np.zeros((1, 100), np.float32))
try:
    c.infer("ssl-ecg", [short], parameters={"fs": 500}); raise SystemExit("no error for a short recording")
except InferenceServerException as err:
    assert "10 s" in str(err), str(err)
print("errors: missing rate, bad parameter, short recording -> InferenceServerException with the server's message")
print("kserve: all checks passed")
