#!/usr/bin/env bash
# The whole test suite: installs what is missing, then
#   1. builds build/ and runs ctest: unit tests and kernel tests (real
#      programs, throwaway cgroup + netns);
#   2. builds build-asan/ with AddressSanitizer + UBSan (leaks included) and
#      runs the same ctest there, the kernel tests driving the sanitized agent;
#   3. fuzzes the manifest parser and sync path for 60 s (scripts/fuzz.sh).
# Run as root; without root or BPF the kernel tests report themselves skipped,
# and under CI=true a skip is a failure. Arguments go to both ctest runs.
# For a quicker local run: SOCKLB_ASAN=0 skips step 2, SOCKLB_FUZZ_SECONDS=0 step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/install-deps.sh

# the counts the corpus and fuzz tests print, from ctest's log
counts() { grep -hE '^(bad-input|fuzz replay)' "$1/Testing/Temporary/LastTest.log" 2>/dev/null | sed 's/^/  /' || true; }

echo "== build/: unit + kernel tests"
scripts/build.sh
ctest --test-dir build --output-on-failure "$@"
counts build

if [ "${SOCKLB_ASAN:-1}" != 0 ]; then
  echo "== build-asan/: unit + kernel tests under ASan + UBSan + LeakSanitizer ($((SECONDS - started)) s so far)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKLB_SANITIZE=ON > build-asan-configure.log 2>&1 ||
    { cat build-asan-configure.log; exit 1; }
  rm -f build-asan-configure.log
  cmake --build build-asan
  # Reports go to files: a child process (the agent, a CLI call in a test's
  # cleanup) may report where no test looks at its exit code or output.
  reports="$PWD/build-asan/sanitizer-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  status=0
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$reports/report" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/report" \
    ctest --test-dir build-asan --output-on-failure "$@" || status=$?
  counts build-asan
  if compgen -G "$reports/report*" > /dev/null; then
    echo "socklb: sanitizer reports (build-asan/sanitizer-reports):" >&2
    head -n 40 "$reports"/report* >&2
    status=1
  else
    echo "  sanitizer reports: 0 (every process of both suites, the agent included)"
  fi
  [ "$status" -eq 0 ] || exit "$status"
fi

fuzz_seconds="${SOCKLB_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" != 0 ]; then
  echo "== build-fuzz/: libFuzzer over the manifest parser and sync path ($((SECONDS - started)) s so far)"
  scripts/fuzz.sh "$fuzz_seconds"
fi
echo "socklb: all tests passed in $((SECONDS - started)) s"
