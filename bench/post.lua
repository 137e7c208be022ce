-- wrk script: POST one request body to /embed, read once from $ECG_BODY (default
-- bench/out/window.json). A .npy body (float32, raw 256 Hz samples) goes as
-- application/x-npy to /embed?fs=256, anything else as application/json to the URL's path;
-- $ECG_PATH overrides the path.
wrk.method = "POST"
local body = os.getenv("ECG_BODY") or "bench/out/window.json"
if body:sub(-4) == ".npy" then
    wrk.headers["Content-Type"] = "application/x-npy"
    wrk.path = "/embed?fs=256"
else
    wrk.headers["Content-Type"] = "application/json"
end
if os.getenv("ECG_PATH") then wrk.path = os.getenv("ECG_PATH") end
local f = assert(io.open(body, "rb"))
wrk.body = f:read("*a")
f:close()
