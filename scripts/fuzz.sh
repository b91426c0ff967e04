#!/usr/bin/env bash
# Fuzzes the manifest parser and the sync path (tests/fuzz/manifest_fuzzer.cpp)
# for SECONDS (default 60) with clang's libFuzzer + ASan + UBSan, built into
# build-fuzz/. Starts from tests/fuzz/seeds, the bad-input corpus and the
# bundled manifests. A crash or a failed check fails the script; the input is
# copied to tests/fuzz/regressions/, which the unit tests replay on every run
# (commit it with the fix).
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKLB_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-16 -DCMAKE_CXX_COMPILER=clang++-16 > build-fuzz-configure.log 2>&1 ||
  { cat build-fuzz-configure.log; exit 1; }
rm -f build-fuzz-configure.log
cmake --build build-fuzz --target manifest_fuzzer

# the working corpus grows across runs in build-fuzz/; the committed seeds stay small
corpus=build-fuzz/corpus
crashes=build-fuzz/crashes
mkdir -p "$corpus" "$crashes"
rm -f "$crashes"/*
echo "socklb: fuzzing the manifest parser and sync path for ${seconds}s"
status=0
build-fuzz/tests/fuzz/manifest_fuzzer "$corpus" tests/fuzz/seeds tests/corpus/bad manifests/default \
  -dict=tests/fuzz/manifest.dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -artifact_prefix="$crashes/" -print_final_stats=1 > build-fuzz/last-run.log 2>&1 || status=$?
grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' build-fuzz/last-run.log || true
grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' build-fuzz/last-run.log | tail -1 || true

found=("$crashes"/*)
if [ "$status" -ne 0 ] || [ -e "${found[0]}" ]; then
  echo "socklb: the fuzzer found a failure (exit $status); log: build-fuzz/last-run.log" >&2
  grep -E 'ERROR|manifest_fuzzer:|SUMMARY|runtime error' build-fuzz/last-run.log | head -20 >&2 || true
  mkdir -p tests/fuzz/regressions
  for f in "${found[@]}"; do
    [ -e "$f" ] || continue
    cp "$f" "tests/fuzz/regressions/$(basename "$f")"
    echo "  saved tests/fuzz/regressions/$(basename "$f"): fix the bug and commit it" >&2
  done
  exit 1
fi
echo "socklb: fuzzing found nothing in ${seconds}s"
