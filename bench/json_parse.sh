#!/usr/bin/env bash
# Instructions to parse a JSON body with the server's parser (valgrind/callgrind counts
# instructions: repeatable whatever else the machine does). Parses examples/ecg_500hz.json
# (15,000 numbers, 108 kB), the same numbers as float64 printers write them, and a
# one-number body; the differences are the parses.
#   bench/json_parse.sh [BINARY]     (default: a release build of the Fuzz replay tool)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [ -z "$BIN" ]; then swift build -c release --product Fuzz >/dev/null; BIN=$(swift build -c release --show-bin-path)/Fuzz; fi
tiny=$(mktemp); echo '{"ecg":[1]}' > "$tiny"
count() { FUZZ_TARGET=json-parse valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" 2>&1 | awk '/refs:/ {gsub(",", "", $4); print $4}'; }
# The same samples divided by 3 as Python's json.dumps writes float64 (16-17 significant
# digits, exponents below 1e-4): what a client that filtered or scaled its signal sends.
f64=$(mktemp); python3 -c "
import json; d = json.load(open('examples/ecg_500hz.json'))
print(json.dumps({'ecg': [v / 3 for v in d['ecg']]}))" > "$f64"
a=$(count "$tiny"); b=$(count examples/ecg_500hz.json); c=$(count "$f64"); rm -f "$tiny" "$f64"
echo "parse of 15,000 numbers as in examples/ecg_500hz.json (2-4 digits): $((b - a)) instructions ($(( (b - a) / 15000 )) per number)"
echo "parse of 15,000 numbers as Python writes float64 (17 digits): $((c - a)) instructions ($(( (c - a) / 15000 )) per number)"
