#!/usr/bin/env bash
# Installs the system packages ecg-affect needs, only those missing (Debian/Ubuntu).
# zlib1g-dev: .npz DEFLATE and CRC-32; libssl-dev: SHA-256 of weights and TLS; pkg-config: finds them;
# curl and openssl (the CLI): the tests use them as real HTTPS clients and to make certificates.
set -euo pipefail
need=()
for p in zlib1g-dev libssl-dev pkg-config curl openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need[@]}"
fi
