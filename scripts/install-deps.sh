#!/usr/bin/env bash
# Installs (apt) what socklb needs to build, test and run its demo, and only
# what is missing. Debian 12 (bookworm) packages.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  clang-16          # BPF programs: clang 14 trips on kfunc prototypes with libbpf 1.1
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libyaml-dev       # manifests and kubeconfig (libyaml's event parser)
  libxxhash-dev     # hashes of manifest files and documents (XXH3)
  libspdlog-dev libfmt-dev   # logging
  nlohmann-json3-dev         # JSON output, and JSON from the Kubernetes API
  libcurl4-openssl-dev       # Kubernetes API client: TLS, HTTP/1.1 chunked watch streams
  libcpp-httplib-dev         # the agent's /healthz, /livez and /metrics
  libcli11-dev               # command line
  doctest-dev                # unit and kernel tests
  # bug hunting (scripts/test.sh): g++'s ASan/UBSan/LSan runtimes for build-asan/,
  # clang-16's compiler-rt for the libFuzzer build in build-fuzz/
  libasan8 libubsan1 libclang-rt-16-dev
  # run, test, demo
  iproute2 util-linux procps jq
  dnsmasq-base               # serves --hosts-file's service names in the demo and a kernel test
  # the fake Kubernetes API server and its checks against real clients
  # (tests/fake_apiserver), the deploy checks (tests/deploy)
  openssl python3-kubernetes python3-yaml systemd
  # benchmarks (bench/run): the runner, the peers it compares with, its charts
  python3
  iptables nftables                  # kube-proxy's iptables and nftables modes
  haproxy nginx-light libnginx-mod-stream   # userspace TCP proxies (nginx: stream module)
  gnuplot-nox                        # PNG charts
  linux-perf                         # profiling a missed target
  time                               # peak RSS (bench/, bench/soak.sh, bench/control_plane)
)

# kubectl checks the fake API server too. Any kubectl will do: Debian's is
# kubernetes-client; a machine may have another (e.g. google-cloud-sdk's
# kubectl package), which conflicts with it, so only when there is none.
command -v kubectl > /dev/null || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "socklb: all build and test dependencies are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "socklb: missing packages: ${missing[*]}; run this script as root to install them" >&2
  exit 1
fi
echo "socklb: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# haproxy and nginx are benchmark peers that bench/run starts in its own
# namespaces: keep apt from starting them as host services on port 80
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
