-- wrk script: POST one real 10 s ECG window (2560 samples at 256 Hz) to /embed.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("ECG_BODY") or "bench/out/window.json", "r"))
wrk.body = f:read("*a")
f:close()
