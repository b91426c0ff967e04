"""A node made of network namespaces: a bridge namespace (the node's
switch), one namespace per pod running socklb-bench-server, client
namespaces (one for direct/socklb/proxies, one for iptables rules, one for
nftables rules, so netfilter runs only where its mode needs it) and one
namespace per userspace proxy. Every veth hangs off the bridge; nothing
has a route off the machine."""

import os

from system import Spawned, in_netns, log, run

SUBNET = "10.244.0"          # /24 of pods, clients and proxies
POD_COUNT = 4                # backends of the measured service
SPARE_POD = POD_COUNT + 1    # the pod an endpoint change switches to
CLIENT_ADDRS = {"plain": f"{SUBNET}.2", "iptables": f"{SUBNET}.3", "nftables": f"{SUBNET}.4"}
PROXY_ADDRS = {"haproxy": f"{SUBNET}.5", "nginx": f"{SUBNET}.6"}

# Same in every namespace: enough ephemeral ports and TIME_WAIT reuse so a
# CRR run measures connects, not port exhaustion; deep accept queues.
NS_SYSCTLS = {
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_tw_reuse": "1",
    "net.core.somaxconn": "8192",
    "net.ipv4.tcp_max_syn_backlog": "8192",
}


def pod_ip(i):
    return f"{SUBNET}.{10 + i}"


class Topology:
    def __init__(self, cleanup, prefix, server_bin, workdir):
        self.cleanup = cleanup
        self.prefix = prefix
        self.node = f"{prefix}-node"
        self.clients = {k: f"{prefix}-client-{k}" for k in CLIENT_ADDRS}
        self.proxies = {k: f"{prefix}-{k}" for k in PROXY_ADDRS}
        self.pods = {i: f"{prefix}-pod{i}" for i in range(1, SPARE_POD + 1)}
        self.servers = {}
        self._server_bin = server_bin
        self._workdir = workdir
        self._links = 0

    def build(self):
        self._add_ns(self.node)
        run(["ip", "-n", self.node, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", self.node, "link", "set", "br0", "up"])
        for i, ns in self.pods.items():
            self._add_ns(ns)
            self._plug(ns, pod_ip(i))
            self.servers[i] = Spawned(
                self.cleanup, f"server pod{i}",
                in_netns(ns, [self._server_bin, "--rr", f"{pod_ip(i)}:8080", "--sink", f"{pod_ip(i)}:9000",
                              "--label", f"pod{i}"]),
                os.path.join(self._workdir, f"server-pod{i}.log"))
        for kind, ns in self.clients.items():
            self._add_ns(ns)
            self._plug(ns, CLIENT_ADDRS[kind])
        for kind, ns in self.proxies.items():
            self._add_ns(ns)
            self._plug(ns, PROXY_ADDRS[kind])
        # Where kube-proxy's rules DNAT in OUTPUT, the route lookup comes
        # first: the service range must be routable, and it stays inside.
        for kind in ("iptables", "nftables"):
            run(["ip", "-n", self.clients[kind], "route", "add", "10.96.0.0/12", "dev", "lo",
                 "src", CLIENT_ADDRS[kind]])
        for s in self.servers.values():
            s.wait_for_output("ready")
        log(f"topology up: {len(self.pods)} pods, {len(self.clients)} client and "
            f"{len(self.proxies)} proxy namespaces on bridge br0 in {self.node}")

    def _add_ns(self, ns):
        run(["ip", "netns", "add", ns])
        self.cleanup.push(f"netns {ns}", lambda: run(["ip", "netns", "del", ns], check=False))
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for key, value in NS_SYSCTLS.items():
            run(in_netns(ns, ["sysctl", "-q", "-w", f"{key}={value}"]))

    def _plug(self, ns, addr):
        """A veth from ns (eth0, addr/24) to the bridge."""
        self._links += 1
        port = f"port{self._links}"
        run(["ip", "link", "add", port, "netns", self.node, "type", "veth", "peer", "name", "eth0", "netns", ns])
        run(["ip", "-n", self.node, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def server_pids(self, pods=range(1, POD_COUNT + 1)):
        return [self.servers[i].pid for i in pods]
