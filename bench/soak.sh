#!/usr/bin/env bash
# Soak: a real agent under continuous manifest churn for N minutes, with its
# memory and file descriptors sampled. Does the agent leak?
#
# It makes a throwaway node of its own: a network namespace (a canary pod's
# server on its loopback, no route off the machine), a child cgroup, a bpffs
# directory and a manifest directory. A churn loop rewrites the manifests
# without pause: endpoints move, services are added and removed. Every few
# seconds it samples the agent's VmRSS and open fds, the syncs so far (from its
# event stream, docs/events.md),
# and one connect from the namespace to the canary's ClusterIP (through the
# cgroup, so through socklb). Everything it made is removed at the end, also
# on failure or Ctrl-C.
#
# Verdict: memory is flat when the largest RSS of the last minute is within
# 10% of the largest RSS of the first minute after warm-up (the first minute);
# fds are constant: the fewest open in the last minute equals the fewest in the
# first minute after warm-up (a sample may catch a manifest file being read);
# every canary connect reached the canary.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: bench/soak.sh [--minutes N] [--services N] [--interval SECONDS]
  --minutes N         how long to churn (default: 10)
  --services N        services kept in play, each with its own file (default: 400)
  --interval SECONDS  time between samples (default: 5)
USAGE
}
minutes=10 services=400 interval=5
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes=$2; shift ;;
    --services) services=$2; shift ;;
    --interval) interval=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "soak: run as root: the agent loads BPF programs" >&2; exit 1; }

SOCKLB=$PWD/build/userspace/socklb
PROBE=$PWD/build/tests/socklb-probe
EVENTS="python3 $PWD/bench/harness/agent_events.py"  # the agent's JSON events, read for us
if [ ! -x "$SOCKLB" ] || [ ! -x "$PROBE" ]; then
  scripts/install-deps.sh >/dev/null
  scripts/build.sh >/dev/null
fi

id=slbsoak$$
CG=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)/$id
BPFFS=/sys/fs/bpf/$id
NS=$id
WORK=$(mktemp -d /tmp/$id.XXXX)
MANIFESTS=$WORK/manifests
LOG=$WORK/agent.log
CANARY_VIP=10.96.255.1 CANARY_POD=10.244.255.1
agent_pid="" churn_pid="" server_pid=""

cleanup() {
  set +e
  for p in "$churn_pid" "$server_pid" "$agent_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  "$SOCKLB" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1
  rm -rf "$BPFFS"
  if [ -d "$CG" ]; then
    for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    rmdir "$CG" 2>/dev/null
  fi
  ip netns del "$NS" 2>/dev/null
  rm -rf "$WORK"
  echo "soak: removed its namespace, cgroup, pins, files and processes"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One service and its EndpointSlice per file: ClusterIP 10.96.<i/250>.<i%250+1>,
# 1 to 8 endpoints whose addresses move with each generation.
service_file() {  # index generation
  local i=$1 g=$2 n=$(( ($1 + $2) % 8 + 1 ))
  printf 'apiVersion: v1\nkind: Service\nmetadata: {name: svc-%d, namespace: soak}\n' "$i"
  printf 'spec:\n  clusterIP: 10.96.%d.%d\n  ports: [{name: http, port: 80, targetPort: 8080}]\n' $((i / 250)) $((i % 250 + 1))
  printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
  printf 'metadata: {name: svc-%d-x, namespace: soak, labels: {kubernetes.io/service-name: svc-%d}}\n' "$i" "$i"
  printf 'addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n'
  for ((b = 0; b < n; b++)); do
    printf -- '- addresses: ["10.%d.%d.%d"]\n  conditions: {ready: %s}\n' \
      $((128 + (g + b) % 64)) $(( (i + b) % 250 )) $(( (g * 7 + b) % 250 + 1 )) "$([ $(( (g + b) % 5 )) -eq 0 ] && echo false || echo true)"
  done
}

write_atomic() {  # file (content on stdin)
  cat > "$MANIFESTS/.$1.tmp" && mv -f "$MANIFESTS/.$1.tmp" "$MANIFESTS/$1"
}

mkdir -p "$MANIFESTS"
cat > "$MANIFESTS/canary.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: canary, namespace: soak}
spec:
  clusterIP: $CANARY_VIP
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: canary-x, namespace: soak, labels: {kubernetes.io/service-name: canary}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: ["$CANARY_POD"]
YAML
for ((i = 0; i < services; i++)); do service_file "$i" 0 | write_atomic "svc-$i.yaml"; done

# The node: a namespace whose loopback holds the canary pod, and the agent.
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "$CANARY_POD/32" dev lo
mkdir "$CG"
"$PROBE" --netns "$NS" serve --tcp "$CANARY_POD:8080" >"$WORK/server.log" 2>&1 &
server_pid=$!
"$SOCKLB" run --log-format json --manifests "$MANIFESTS" --cgroup "$CG" --bpffs "$BPFFS" --node-name soak-node \
  >"$LOG" 2>&1 &
agent_pid=$!
$EVENTS wait "$LOG" sync --timeout 30 --pid "$agent_pid" ||
  { tail -20 "$LOG"; echo "soak: no first sync in 30 s (the agent's last lines above)" >&2; exit 1; }
for _ in $(seq 50); do grep -q '^ready' "$WORK/server.log" && break; sleep 0.1; done
grep -q '^ready' "$WORK/server.log" || { cat "$WORK/server.log"; echo "soak: the canary's server did not start" >&2; exit 1; }

# Churn: endpoint moves mostly, a service removed or (re)added now and then.
# Bounded: it stops when the soak ends (killed), at most one write per 50 ms.
churn() {
  local generation=0 i
  RANDOM=$$
  while :; do
    generation=$((generation + 1))
    i=$((RANDOM % (services + services / 4)))  # the last fifth come and go
    case $((RANDOM % 10)) in
      0) rm -f "$MANIFESTS/svc-$i.yaml" ;;
      *) service_file "$i" "$generation" | write_atomic "svc-$i.yaml" ;;
    esac
    sleep 0.05
  done
}
churn &
churn_pid=$!

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$agent_pid/status"; }
fd_count() { ls "/proc/$agent_pid/fd" | wc -l; }
syncs() { $EVENTS count "$LOG" sync; }
canary() {  # ok when the connect reached the canary pod through the ClusterIP
  "$PROBE" --netns "$NS" --cgroup "$CG" connect --to "$CANARY_VIP:80" --proto tcp --count 1 --timeout-ms 2000 2>/dev/null |
    grep -q '"ok":true' && echo ok || echo FAIL
}

echo "soak: $minutes min, $services services churned (+ a fifth coming and going), sample every ${interval}s; agent pid $agent_pid"
printf '%8s %10s %5s %8s %7s\n' "t(s)" "rss(KiB)" "fds" "syncs" "canary"
start=$(date +%s)
end=$((start + minutes * 60))
times=() rss=() fds=() canary_fail=0
while [ "$(date +%s)" -lt "$end" ]; do
  kill -0 "$agent_pid" 2>/dev/null || { tail -20 "$LOG"; echo "soak: the agent died" >&2; exit 1; }
  t=$(( $(date +%s) - start )) r=$(rss_kb) f=$(fd_count) s=$(syncs) c=$(canary)
  [ "$c" = ok ] || canary_fail=$((canary_fail + 1))
  times+=("$t") rss+=("$r") fds+=("$f")
  printf '%8d %10d %5d %8d %7s\n' "$t" "$r" "$f" "$s" "$c"
  sleep "$interval"
done
kill "$churn_pid" 2>/dev/null; wait "$churn_pid" 2>/dev/null || true; churn_pid=""

# Windows: warm-up is the first minute (a fifth of the run if shorter), then
# the first window after it, and the last one, each as long.
total=$((minutes * 60))
window=$(( total / 5 < 60 ? total / 5 : 60 ))
first_max=0 last_max=0 first_fds=999999 last_fds=999999 fd_max=0
for k in "${!times[@]}"; do
  t=${times[$k]}
  [ "$t" -lt "$window" ] && continue
  [ "${fds[$k]}" -gt "$fd_max" ] && fd_max=${fds[$k]}
  if [ "$t" -lt $((2 * window)) ]; then
    [ "${rss[$k]}" -gt "$first_max" ] && first_max=${rss[$k]}
    [ "${fds[$k]}" -lt "$first_fds" ] && first_fds=${fds[$k]}
  fi
  if [ "$t" -ge $((total - window)) ]; then
    [ "${rss[$k]}" -gt "$last_max" ] && last_max=${rss[$k]}
    [ "${fds[$k]}" -lt "$last_fds" ] && last_fds=${fds[$k]}
  fi
done
errors=$($EVENTS errors "$LOG" | wc -l)
echo "soak: $(syncs) syncs, $errors error events in the agent log, $canary_fail canary connects failed"
if [ "$errors" -gt 0 ]; then  # which kinds, without the numbers
  $EVENTS errors "$LOG" | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -5 | sed 's/^/soak:   /'
fi
echo "soak: max RSS ${first_max} KiB in [${window}s, $((2 * window))s), ${last_max} KiB in the last ${window}s" \
     "($(( (last_max - first_max) * 1000 / (first_max > 0 ? first_max : 1) )) per mille)"
echo "soak: open fds at least ${first_fds} in the first window, ${last_fds} in the last, ${fd_max} at most after warm-up"
verdict=PASS
if [ "$first_max" -eq 0 ] || [ "$last_max" -gt $((first_max * 110 / 100)) ]; then
  verdict=FAIL; echo "soak: memory grew more than 10% (or too few samples)"
fi
if [ "$first_fds" -ne "$last_fds" ]; then verdict=FAIL; echo "soak: the fd count changed"; fi
if [ "$canary_fail" -ne 0 ]; then verdict=FAIL; echo "soak: the datapath failed the canary"; fi
echo "soak: $verdict"
[ "$verdict" = PASS ]
