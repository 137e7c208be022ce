#!/usr/bin/env bash
# Instructions to parse a JSON body with the server's parser (valgrind/callgrind counts
# instructions: repeatable whatever else the machine does). Parses examples/ecg_500hz.json
# (15,000 numbers, 108 kB) and a one-number body; the difference is the parse.
#   bench/json_parse.sh [BINARY]     (default: a release build of the Fuzz replay tool)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then swift build -c release --product Fuzz >/dev/null; BIN=$(swift build -c release --show-bin-path)/Fuzz; fi
tiny=$(mktemp); echo '{"ecg":[1]}' > "$tiny"
count() { FUZZ_TARGET=json-parse valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" 2>&1 | awk '/refs:/ {gsub(",", "", $4); print $4}'; }
a=$(count "$tiny"); b=$(count examples/ecg_500hz.json); rm -f "$tiny"
echo "parse of 15,000 numbers: $((b - a)) instructions ($(( (b - a) / 15000 )) per number)"
