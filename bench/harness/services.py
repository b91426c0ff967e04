"""The services every mode serves, and the same services written three ways:
socklb manifests, kube-proxy's iptables-restore text, kube-proxy's nft -f text.

One measured service (bench/bench, ClusterIP MEASURED_VIP, port 80 -> the
pods' 8080 for CRR/RR and port 9000 -> 9000 for STREAM) plus N-1 filler
services whose backends are addresses nothing ever connects to."""

import base64
import hashlib
import ipaddress
import os
from dataclasses import dataclass

SERVICE_CIDR = "10.96.0.0/12"
CLUSTER_CIDR = "10.244.0.0/16"       # pods; kube-proxy masquerades traffic from outside it
MEASURED_VIP = "10.96.0.10"
RR_PORT, RR_TARGET = 80, 8080
STREAM_PORT, STREAM_TARGET = 9000, 9000
FILLER_VIP_BASE = int(ipaddress.ip_address("10.100.0.0"))      # inside SERVICE_CIDR
FILLER_POD_BASE = int(ipaddress.ip_address("10.200.0.0"))      # never connected to
SERVICES_PER_MANIFEST_FILE = 5000    # keeps each file far below the reader's 64 MiB cap


@dataclass
class Port:
    name: str
    port: int
    target: int


@dataclass
class Service:
    name: str
    vip: str
    ports: list
    backends: list   # pod IPs


def measured_service(pod_ips):
    return Service("bench", MEASURED_VIP,
                   [Port("rr", RR_PORT, RR_TARGET), Port("stream", STREAM_PORT, STREAM_TARGET)], list(pod_ips))


def filler_services(count, backends_each):
    for i in range(count):
        pods = [str(ipaddress.ip_address(FILLER_POD_BASE + i * backends_each + k)) for k in range(backends_each)]
        yield Service(f"filler-{i}", str(ipaddress.ip_address(FILLER_VIP_BASE + i)), [Port("http", 80, 8080)], pods)


def all_services(pod_ips, total, backends_each):
    """The measured service sits in the middle of the fillers: kube-proxy's
    KUBE-SERVICES order is arbitrary, so the middle is the expected case."""
    fillers = list(filler_services(total - 1, backends_each))
    middle = len(fillers) // 2
    return fillers[:middle] + [measured_service(pod_ips)] + fillers[middle:]


# ---- socklb: Service + EndpointSlice per service ----

def manifest_text(svc):
    ports = "".join(f"  - {{name: {p.name}, protocol: TCP, port: {p.port}, targetPort: {p.target}}}\n"
                    for p in svc.ports)
    eps = "".join(f"- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n" for ip in svc.backends)
    slice_ports = "".join(f"- {{name: {p.name}, protocol: TCP, port: {p.target}}}\n" for p in svc.ports)
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {svc.name}, namespace: bench}}\n"
            f"spec:\n  type: ClusterIP\n  clusterIP: {svc.vip}\n  ports:\n{ports}---\n"
            f"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            f"metadata:\n  name: {svc.name}-1\n  namespace: bench\n"
            f"  labels: {{kubernetes.io/service-name: {svc.name}}}\naddressType: IPv4\n"
            f"endpoints:\n{eps}ports:\n{slice_ports}---\n")


def write_manifests(directory, services):
    """Writes services into numbered files; returns the file paths."""
    os.makedirs(directory, exist_ok=True)
    paths, batch = [], []
    for svc in services:
        batch.append(manifest_text(svc))
        if len(batch) == SERVICES_PER_MANIFEST_FILE:
            paths.append(_flush(directory, len(paths), batch))
            batch = []
    if batch:
        paths.append(_flush(directory, len(paths), batch))
    return paths


def _flush(directory, index, batch):
    path = os.path.join(directory, f"services-{index:04d}.yaml")
    with open(path, "w") as f:
        f.write("".join(batch))
    return path


# ---- kube-proxy iptables mode ----

def _chain_hash(text):
    """kube-proxy names chains KUBE-SVC-/KUBE-SEP- + 16 chars of base32(sha256)."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def iptables_restore_text(services):
    chains = [":KUBE-SERVICES - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]",
              ":KUBE-NODEPORTS - [0:0]"]
    rules = ["-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING",
             "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
             "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
             "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" "
             "-j MASQUERADE --random-fully",
             "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    for svc in services:
        for p in svc.ports:
            sp = f"bench/{svc.name}:{p.name}"
            svc_chain = "KUBE-SVC-" + _chain_hash(sp + "tcp")
            chains.append(f":{svc_chain} - [0:0]")
            match = f"-m tcp -p tcp -d {svc.vip}/32 --dport {p.port}"
            rules.append(f"-A KUBE-SERVICES -m comment --comment \"{sp} cluster IP\" {match} -j {svc_chain}")
            rules.append(f"-A {svc_chain} -m comment --comment \"{sp} cluster IP\" {match} "
                         f"! -s {CLUSTER_CIDR} -j KUBE-MARK-MASQ")
            n = len(svc.backends)
            for i, ip in enumerate(svc.backends):
                sep = "KUBE-SEP-" + _chain_hash(sp + "tcp" + f"{ip}:{p.target}")
                chains.append(f":{sep} - [0:0]")
                stat = f" -m statistic --mode random --probability {1.0 / (n - i):.10f}" if i < n - 1 else ""
                rules.append(f"-A {svc_chain} -m comment --comment \"{sp} -> {ip}:{p.target}\"{stat} -j {sep}")
                rules.append(f"-A {sep} -m comment --comment {sp} -s {ip}/32 -j KUBE-MARK-MASQ")
                rules.append(f"-A {sep} -m comment --comment {sp} -m tcp -p tcp "
                             f"-j DNAT --to-destination {ip}:{p.target}")
    rules.append("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the "
                 "last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
    return "*nat\n" + "\n".join(chains) + "\n" + "\n".join(rules) + "\nCOMMIT\n"


# ---- kube-proxy nftables mode ----

def nft_text(services, shared_filler_chain=False):
    """shared_filler_chain: filler services all jump to one chain. The
    per-packet path is one map lookup either way; the scale sweep uses it so
    that 100k services load in seconds (nft 1.0.6 takes time quadratic in the
    number of chains; the control-plane table times the full structure)."""
    out = ["table ip kube-proxy", "delete table ip kube-proxy", "table ip kube-proxy {",
           "  comment \"rules for kube-proxy\";",
           "  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; "
           "comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\"; }",
           "  chain nat-output { type nat hook output priority -100; policy accept; jump services; }",
           "  chain nat-prerouting { type nat hook prerouting priority -100; policy accept; jump services; }",
           "  chain nat-postrouting { type nat hook postrouting priority 100; policy accept; jump masquerading; }",
           "  chain mark-for-masquerade { meta mark set meta mark | 0x4000; }",
           "  chain masquerading { meta mark & 0x4000 == 0 return; meta mark set meta mark ^ 0x4000; "
           "masquerade fully-random; }",
           "  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }",
           "}"]
    elements = []
    if shared_filler_chain:
        out.append("add chain ip kube-proxy filler-services")
        out.append("add rule ip kube-proxy filler-services reject")
    for svc in services:
        if shared_filler_chain and svc.name.startswith("filler-"):
            elements += [f"{svc.vip} . tcp . {p.port} : goto filler-services" for p in svc.ports]
            continue
        for p in svc.ports:
            sp = f"bench/{svc.name}/tcp/{p.name}"
            svc_chain = f"service-{_chain_hash(sp)[:8]}-{sp}"
            vmap = []
            for i, ip in enumerate(svc.backends):
                ep = f"endpoint-{_chain_hash(sp + ip)[:8]}-{sp}__{ip}/{p.target}"
                out.append(f"add chain ip kube-proxy {ep}")
                out.append(f"add rule ip kube-proxy {ep} ip saddr {ip} jump mark-for-masquerade")
                out.append(f"add rule ip kube-proxy {ep} meta l4proto tcp dnat to {ip}:{p.target}")
                vmap.append(f"{i} : goto {ep}")
            out.append(f"add chain ip kube-proxy {svc_chain}")
            out.append(f"add rule ip kube-proxy {svc_chain} ip daddr {svc.vip} tcp dport {p.port} "
                       f"ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade")
            out.append(f"add rule ip kube-proxy {svc_chain} numgen random mod {len(vmap)} "
                       f"vmap {{ {', '.join(vmap)} }}")
            elements.append(f"{svc.vip} . tcp . {p.port} : goto {svc_chain}")
    for start in range(0, len(elements), 1000):
        out.append("add element ip kube-proxy service-ips { " + ", ".join(elements[start:start + 1000]) + " }")
    return "\n".join(out) + "\n"
