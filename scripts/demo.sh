#!/usr/bin/env bash
# The main job on the bundled default: installs what is missing, builds, and
# runs socklb on manifests/default on a throwaway "node" made of network
# namespaces: one per pod (a small server answering with its pod name), and a
# client namespace that connects to each service by ClusterIP. Nothing routes
# off the machine; programs attach to a cgroup of the demo's own. Everything
# it makes is removed when it ends or is interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<USAGE
usage: scripts/demo.sh [--keep] [--manifests DIR] [--connects N]
  --keep           keep the demo running for exploration until Ctrl-C
  --manifests DIR  manifests to serve (default: manifests/default)
  --connects N     connects per service (default: 6)
USAGE
}
keep=0 manifests=manifests/default connects=6
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --manifests) manifests=$2; shift ;;
    --connects) connects=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root: it loads BPF programs and makes network namespaces" >&2; exit 1; }

scripts/install-deps.sh
scripts/build.sh >/dev/null
echo "demo: built build/userspace/socklb"

SOCKLB=$PWD/build/userspace/socklb
PROBE=$PWD/build/tests/socklb-probe
EVENTS="python3 $PWD/bench/harness/agent_events.py"  # reads the agent's JSON events (docs/events.md)
id=slbdemo$$
CG=$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)/$id
BPFFS=/sys/fs/bpf/$id
CLIENT=$id-client
CLIENT4=169.254.100.1 CLIENT6=fd00:5c1b::1   # the client's own addresses, inside its namespace
LOG=$(mktemp /tmp/$id-agent.XXXX.log)
DNS=$(mktemp -d /tmp/$id-dns.XXXX)   # the agent's hosts file of service names, served by dnsmasq
agent_pid="" pids=() namespaces=()

cleanup() {
  set +e
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  "$SOCKLB" uninstall --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
  [ -d "$CG" ] && rmdir "$CG"
  rm -rf "$LOG" /tmp/$id-*.ready /tmp/$id-trace.out "$DNS" "/etc/netns/$CLIENT"

  echo "demo: removed its namespaces, cgroup, pins and processes"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The agent, attached to a cgroup of the demo's own.
mkdir "$CG"
"$SOCKLB" run --log-format json --manifests "$manifests" --cgroup "$CG" --bpffs "$BPFFS" \
  --hosts-file "$DNS/socklb.hosts" --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 >"$LOG" 2>&1 &
agent_pid=$!
$EVENTS wait "$LOG" sync --timeout 10 --pid "$agent_pid" ||
  { $EVENTS show "$LOG"; echo "demo: the agent did not start" >&2; exit 1; }
echo "demo: agent running; its events (socklb run --log-format json, shown one per line):"
$EVENTS show "$LOG" | sed 's/^/  | /'
services=$("$SOCKLB" services --bpffs "$BPFFS" -o json)

# 2. The pods: one namespace each, a veth to the client namespace, a server
#    on every port the kernel maps to it. Pod names come from the manifests.
pod_name() {
  awk -v ip="$1" '/^---/{kind="";name="";meta=0} /^kind:/{kind=$2} /^metadata:/{meta=1;next} /^[a-z]/{meta=0}
                  meta && /^  name:/{name=$2} kind=="Pod" && /podIP:/ && $2==ip {print name; exit}
                  kind=="EndpointSlice" && /addresses: \[/ {a=$0; sub(/.*\[ */,"",a); sub(/[ ,\]].*/,"",a)}
                  kind=="EndpointSlice" && /targetRef:.*name: / && a==ip {n=$0; sub(/.*name: */,"",n); sub(/[ ,}].*/,"",n); print n; exit}' \
      $(find "$manifests" -name '*.yaml' -o -name '*.yml') 2>/dev/null | head -1
}
ip netns add "$CLIENT"; namespaces+=("$CLIENT")
ip -n "$CLIENT" link set lo up
ip -n "$CLIENT" addr add $CLIENT4/32 dev lo
ip -n "$CLIENT" addr add $CLIENT6/128 dev lo nodad
i=0
for pod_ip in $(jq -r '[.[].backends[].address] | unique | .[]' <<<"$services"); do
  i=$((i + 1)) ns=$id-pod$i
  ip netns add "$ns"; namespaces+=("$ns")
  ip link add veth$i netns "$CLIENT" type veth peer name eth0 netns "$ns"
  ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; ip -n "$CLIENT" link set veth$i up
  if [[ $pod_ip == *:* ]]; then
    ip -n "$ns" addr add "$pod_ip/128" dev eth0 nodad
    ip -n "$ns" route add $CLIENT6/128 dev eth0
    ip -n "$CLIENT" route add "$pod_ip/128" dev veth$i src $CLIENT6
    host="[$pod_ip]"
  else
    ip -n "$ns" addr add "$pod_ip/32" dev eth0
    ip -n "$ns" route add $CLIENT4/32 dev eth0
    ip -n "$CLIENT" route add "$pod_ip/32" dev veth$i src $CLIENT4
    host=$pod_ip
  fi
  name=$(pod_name "$pod_ip"); name=${name:-pod-$pod_ip}
  args=()
  while read -r proto port; do
    args+=(--"${proto,,}" "$host:$port=$name")
  done < <(jq -r --arg ip "$pod_ip" '.[] | .protocol as $p | .backends[] | select(.address == $ip) | "\($p) \(.port)"' \
             <<<"$services" | sort -u)
  "$PROBE" --netns "$ns" serve "${args[@]}" >/tmp/$id-$i.ready 2>&1 &
  pids+=($!)
  for _ in $(seq 50); do grep -q ready /tmp/$id-$i.ready && break; sleep 0.1; done
  echo "demo: pod $name ($pod_ip) in namespace $ns"
done

# 3. The client: connects by ClusterIP from inside the cgroup and its namespace.
echo
echo "demo: $connects connects to each service from namespace $CLIENT:"
while read -r svc vip port proto; do
  [[ $vip == *:* ]] && target="[$vip]:$port" || target="$vip:$port"
  [ "$proto" = UDP ] && mode=udp-unconnected || mode=tcp
  echo "  $svc -> $target/$proto"
  "$PROBE" --netns "$CLIENT" --cgroup "$CG" connect --to "$target" --proto $mode --count "$connects" |
    jq -r '"    #\(.i + 1): " + (if .ok then "answered by \(.label) (\(.backend)); the client saw its peer as \(.peer)"
                              else "failed: \(.error)" end)'
done < <(jq -r '.[] | "\(.namespace)/\(.name) \(.cluster_ip) \(.port) \(.protocol)"' <<<"$services")

# 4. By name: the agent keeps a hosts file of the services (--hosts-file);
#    dnsmasq serves it inside the client namespace (no upstream servers: it
#    answers those names or nothing), with a pod's search path. --local makes
#    it answer "no such name" under cluster.local (not "refused"), so the
#    resolver goes on to the next search domain.
mkdir -p "/etc/netns/$CLIENT"
printf 'nameserver 127.0.0.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
  > "/etc/netns/$CLIENT/resolv.conf"
ip netns exec "$CLIENT" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
  --hostsdir="$DNS" --local=/cluster.local/ --listen-address=127.0.0.1 --bind-interfaces --user=root --pid-file= >/tmp/$id-dns.ready 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "read $DNS" /tmp/$id-dns.ready && break; sleep 0.1; done
echo
echo "demo: by name, through dnsmasq in $CLIENT serving the agent's --hosts-file:"
sed 's/^/  | /' "$DNS/socklb.hosts"
while read -r name ns port; do
  # the search path starts with default.svc.cluster.local: other namespaces' short name is NAME.NAMESPACE
  [ "$ns" = default ] && short=$name || short=$name.$ns
  for host in "$name.$ns.svc.cluster.local" "$short"; do
    echo "  $host -> $(ip netns exec "$CLIENT" getent hosts "$host" | awk '{print $1}'):$port"
    # the shell joins the cgroup; `ip netns exec` gives the probe the namespace's resolv.conf
    sh -c "echo \$\$ > $CG/cgroup.procs && exec ip netns exec $CLIENT $PROBE connect --to $host:$port" |
      jq -r '"    " + (if .ok then "answered by \(.label) (\(.backend))" else "failed: \(.error)" end)'
  done
done < <(jq -r '[.[] | select(.protocol == "TCP") | "\(.name) \(.namespace) \(.port)"] | unique | .[]' <<<"$services")

echo
echo "demo: \`socklb status --bpffs $BPFFS\` (exit code 1 when something is wrong):"
"$SOCKLB" status --bpffs "$BPFFS" | sed 's/^/  /'

echo
echo "demo: \`socklb services --bpffs $BPFFS\` (read back from the pinned maps):"
"$SOCKLB" services --bpffs "$BPFFS" | sed 's/^/  /'
echo
# explain and trace look at a TCP service with backends (the first service when there is none)
read -r first_ip first_port first_proto < <(jq -r '([.[] | select(.protocol == "TCP" and (.backends | length) > 0)] + .)[0] |
                                                 "\(.cluster_ip) \(.port) \(.protocol | ascii_downcase)"' <<<"$services")
[[ $first_ip == *:* ]] && first_ip="[$first_ip]"
first=$first_ip:$first_port
echo "demo: \`socklb explain\` (what a connect to one destination would do now, from the maps):"
"$SOCKLB" explain "$first/$first_proto" --bpffs "$BPFFS" | sed 's/^/  /'
"$SOCKLB" explain "$first_ip:1/$first_proto" --bpffs "$BPFFS" | sed 's/^/  /'
echo
# 5. A live trace: the programs report each decision while a tracer runs.
echo "demo: \`socklb trace --bpffs $BPFFS --count 3\` during 2 connects to $first and 1 to $first_ip:1:"
"$SOCKLB" trace --bpffs "$BPFFS" --count 3 >/tmp/$id-trace.out 2>/tmp/$id-trace.ready &
trace_pid=$!
for _ in $(seq 50); do grep -q "tracing the decisions" /tmp/$id-trace.ready && break; sleep 0.1; done
[ "$first_proto" = udp ] && mode=udp-unconnected || mode=tcp
"$PROBE" --netns "$CLIENT" --cgroup "$CG" connect --to "$first" --proto $mode --count 2 >/dev/null
"$PROBE" --netns "$CLIENT" --cgroup "$CG" connect --to "$first_ip:1" --proto $mode >/dev/null
wait "$trace_pid"
sed 's/^/  /' /tmp/$id-trace.out
echo
metrics_port=$(jq -rR 'fromjson? | select(.event == "http") | .metrics_port' "$LOG" | head -1)
echo "demo: the totals on /metrics (http://127.0.0.1:$metrics_port/metrics; per service with --metrics-per-service):"
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
  "http://127.0.0.1:$metrics_port/metrics" | grep -E '^socklb_(connects|connect_refusals|udp_sends)' | sed 's/^/  /'
echo
echo "demo: \`bpftool map dump pinned $BPFFS/reverse\` (each pod address:port and the ClusterIP:port it serves,"
echo "      which getpeername() shows; ports in network order, addresses as integers):"
bpftool map dump pinned "$BPFFS/reverse" | sed 's/^/  /'

if [ $keep -eq 1 ]; then
  cat <<EXPLORE

demo: still running. From another shell:
  $SOCKLB services --bpffs $BPFFS
  $SOCKLB explain ADDRESS:PORT --bpffs $BPFFS   # what a connect there would do, and why
  bpftool map dump pinned $BPFFS/addrs_v4     # ClusterIPs with their ports and service ids, and their pods
  $PROBE --netns $CLIENT --cgroup $CG connect --to $first --count 5
  sh -c 'echo \$\$ > $CG/cgroup.procs; exec ip netns exec $CLIENT <command>'   # any program as a client
  edit $manifests/*.yaml and follow the agent: $EVENTS show --follow $LOG
Ctrl-C stops the demo and removes everything it made.
EXPLORE
  wait "$agent_pid"
fi
