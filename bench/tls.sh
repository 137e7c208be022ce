#!/usr/bin/env bash
# TLS against plain TCP in the same run, on the release server (issue #8 figures):
#   1. full handshakes per second: `openssl s_time -new` (one client process, TLS 1.3 and 1.2);
#   2. keep-alive request rate, GET /health and POST /embed (one npy window), wrk -t1 -c16,
#      over https and http on two servers started alike.
#   bench/tls.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
OUT=bench/out; mkdir -p "$OUT"
python3 bench/make_windows.py "$OUT"
swift build -c release --product ecg-server >&2
BIN=.build/release/ecg-server
TMP=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -days 2 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
start() {  # start LOG ARGS...: a server on a free port; prints the port
    local log=$1; shift
    "$BIN" --host 127.0.0.1 --port 0 --weights weights --quiet "$@" > "$log" 2>&1 &
    for _ in $(seq 1 100); do grep -q '"ready"' "$log" && break; sleep 0.1; done
    grep -o '"port":[0-9]*' "$log" | head -1 | cut -d: -f2
}
TLSP=$(start "$TMP/tls.log" --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem")
PLAINP=$(start "$TMP/plain.log")
trap 'pkill -f "$BIN --host 127.0.0.1 --port 0 --weights weights --quiet" || true; rm -rf "$TMP"' EXIT
echo "== full handshakes (openssl s_time -new, RSA-2048 certificate, ${SECS} s each)"
for v in -tls1_3 -tls1_2; do
    n=$(openssl s_time -connect "127.0.0.1:$TLSP" -new $v -time "$SECS" 2>/dev/null | grep -o '[0-9.]* connections/user sec' | head -1)
    r=$(openssl s_time -connect "127.0.0.1:$TLSP" -new $v -time "$SECS" 2>/dev/null | grep -E '^[0-9]+ connections in [0-9]+ real' | head -1)
    echo "$v: $r ($n)"
done
echo "== keep-alive request rate, wrk -t1 -c16 -d${SECS}s"
printf "%-28s %12s %12s\n" route https http
for route in health embed; do
    if [ $route = health ]; then args=(); path=/health; else args=(-s bench/post.lua); path=/embed?fs=256; export ECG_BODY="$OUT/window.npy"; fi
    t=$(wrk -t1 -c16 -d"${SECS}s" "${args[@]}" "https://localhost:$TLSP$path" | awk '/Requests\/sec/ {print $2}')
    p=$(wrk -t1 -c16 -d"${SECS}s" "${args[@]}" "http://localhost:$PLAINP$path" | awk '/Requests\/sec/ {print $2}')
    printf "%-28s %12s %12s\n" "$path (req/s)" "$t" "$p"
done
