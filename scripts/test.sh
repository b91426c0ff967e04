#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs the unit
# tests and the kernel tests (real programs, throwaway cgroup + netns). Run as
# root; without root or BPF the kernel tests report themselves skipped, and
# under CI=true a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure "$@"
