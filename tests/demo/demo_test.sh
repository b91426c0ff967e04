#!/usr/bin/env bash
# The README's first command, scripts/demo.sh, on both bundled manifest sets:
# it must finish, every connect it shows must be answered (or refused where
# the manifests say so), and it must leave nothing behind.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo test skipped: needs root (it loads BPF programs and makes network namespaces)"
  [ "${CI:-}" = true ] && exit 1 || exit 77
fi
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
expect() {  # expect LOG PATTERN COUNT: PATTERN occurs COUNT times
  local n; n=$(grep -cE -- "$2" "$1")
  [ "$n" -eq "$3" ] || fail "$(basename "$1"): '$2' seen $n times, expected $3"
}
# What a demo makes is named slbdemo<pid> (netns, bpffs directory, cgroup,
# files in /tmp): only those are looked at, so another user of the machine
# (a benchmark, a test of its own names) adding or removing pins meanwhile
# is not taken for the demo's leftovers.
cgroup2=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)  # where scripts/demo.sh makes its cgroup
demo_objects() {
  { ip netns list | grep -o '^slbdemo[^ ]*'; ls -d /sys/fs/bpf/slbdemo* "$cgroup2"/slbdemo* /tmp/slbdemo* 2>/dev/null; } | sort
}
objects_before=$(demo_objects)
log=$(mktemp /tmp/socklb-demo-test.XXXX)
trap 'rm -f "$log" "$log".*' EXIT

scripts/demo.sh --connects 3 >"$log.default" 2>&1 || fail "scripts/demo.sh exited $?"
expect "$log.default" '#[0-9]+: answered by (user|payment)-service-' 6
expect "$log.default" 'failed' 0
expect "$log.default" '^    answered by ' 4          # by name through dnsmasq, full and short names
expect "$log.default" '^  status: ok$' 1
expect "$log.default" 'default/(user|payment)-service:http .* 10.244' 2
expect "$log.default" 'refused: no-such-port' 1
expect "$log.default" '^  socklb_connects_total 12$' 1  # 6 + 4 by name + 2 traced

scripts/demo.sh --manifests manifests/operating --connects 2 >"$log.operating" 2>&1 ||
  fail "scripts/demo.sh --manifests manifests/operating exited $?"
expect "$log.operating" '#[0-9]+: failed: ECONNREFUSED' 2     # shop/orders has no pod
expect "$log.operating" '#[0-9]+: answered by ' 4
expect "$log.operating" '10.244.0.2:8080  serving' 1          # terminating, still serving
expect "$log.operating" '-> 10.244.0.1:8080 \(affinity\)' 2
expect "$log.operating" '^  socklb_connect_refusals_total\{reason="no-backend"\} 4$' 1  # 2 + 2 by name

objects_after=$(demo_objects)
[ "$objects_after" = "$objects_before" ] ||
  fail "the demo left behind (network namespaces, pins, cgroups, files): $(comm -13 <(echo "$objects_before") <(echo "$objects_after") | tr '\n' ' ')"
if [ "$failures" -ne 0 ]; then
  echo "--- demo output (default):"; cat "$log.default"
  echo "--- demo output (operating):"; cat "$log.operating"
  exit 1
fi
echo "demo test: both manifest sets served as expected, nothing left behind"
