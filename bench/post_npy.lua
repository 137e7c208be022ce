-- wrk script: POST one raw 10 s window (float32 .npy, 2560 samples at 256 Hz) to /embed?fs=256.
wrk.method = "POST"
wrk.path = "/embed?fs=256"
wrk.headers["Content-Type"] = "application/x-npy"
local f = assert(io.open(os.getenv("ECG_BODY") or "bench/out/window.npy", "rb"))
wrk.body = f:read("*a")
f:close()
