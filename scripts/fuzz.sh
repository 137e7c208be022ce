#!/usr/bin/env bash
# libFuzzer on the parsers that read what clients and files send (issue #8):
#   scripts/fuzz.sh [RUNS] [TARGET ...]     # default: 10,000,000 runs of each target
# Targets: http (HTTPParser, whole vs split input), json (JSONParser, round trip), npy (.npy
# and .npz readers), gzip (gunzip with its bomb limit), checkpoint (TF .index parser).
# Builds once with --sanitize=fuzzer and --sanitize=address into .build-fuzz; seeds are in
# fuzz/corpus/TARGET (committed), new inputs go to a temporary corpus. A crash leaves its
# input as fuzz/crash-TARGET-*; replay one with `.build/debug/Fuzz FILE` (FUZZ_TARGET=…).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10000000}; shift || true
TARGETS=${*:-http json npy gzip checkpoint}
# --sanitize makes SwiftPM link libFuzzer's main; -Xswiftc instruments every module, not only Fuzz.
swift build -c release --product Fuzz --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
BIN=$(swift build -c release --sanitize=fuzzer --sanitize=address --scratch-path .build-fuzz --show-bin-path)/Fuzz
export ASAN_OPTIONS="detect_leaks=0"
for t in $TARGETS; do
    work=$(mktemp -d)
    echo "== fuzz $t: $RUNS runs"
    start=$(date +%s)
    FUZZ_TARGET=$t "$BIN" "$work" "fuzz/corpus/$t" -runs="$RUNS" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="fuzz/crash-$t-" -print_final_stats=1 2>&1 | grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::new_units_added|Done|ERROR|SUMMARY|crash-" || true
    echo "   $(( $(date +%s) - start )) s"
    rm -rf "$work"
done
if ls fuzz/crash-* >/dev/null 2>&1; then echo "crashes found:"; ls fuzz/crash-*; exit 1; fi
echo "fuzz: no crashes"
