#!/usr/bin/env bash
# Installs what is missing, builds in release and serves the shipped weights on :8080.
# Extra arguments go to ecg-server (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift build -c release --product ecg-server
exec .build/release/ecg-server --weights weights --port "${ECG_PORT:-8080}" "$@"
