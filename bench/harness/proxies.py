"""haproxy and nginx (stream module) as TCP load balancers in front of the
same pods, each in its own namespace, configured the way their docs advise
for plain TCP balancing. The settings are written into the report."""

import os
import time

from system import Spawned, in_netns, run

HAPROXY_SETTINGS = [
    "mode tcp, balance roundrobin, no health checks, no logging",
    "nbthread 2 (one per core), maxconn 7000 (the hard limit on open files here is 20000; haproxy needs about 2.9 per connection with splicing)",
    "option tcp-smart-accept / tcp-smart-connect (fewer packets per connection)",
    "option splice-auto (kernel splice for bulk transfers)",
]
NGINX_SETTINGS = [
    "stream module, round-robin upstream, no logging (access_log off)",
    "worker_processes 2 (one per core), worker_connections 8000, worker_rlimit_nofile 20000",
    "listen ... reuseport (one accept queue per worker), multi_accept on, tcp_nodelay on",
]


def haproxy_config(listen_ip, pod_ips, ports):
    lines = ["global", "  nbthread 2", "  maxconn 7000", "defaults", "  mode tcp",
             "  timeout connect 5s", "  timeout client 60s", "  timeout server 60s",
             "  option tcp-smart-accept", "  option tcp-smart-connect", "  option splice-auto"]
    for port in ports:
        lines += [f"frontend f{port}", f"  bind {listen_ip}:{port}", f"  default_backend b{port}",
                  f"backend b{port}", "  balance roundrobin"]
        lines += [f"  server pod{i} {ip}:{port}" for i, ip in enumerate(pod_ips, 1)]
    return "\n".join(lines) + "\n"


def nginx_config(listen_ip, pod_ips, ports, workdir):
    upstreams = servers = ""
    for port in ports:
        upstreams += f"  upstream u{port} {{\n" + "".join(f"    server {ip}:{port};\n" for ip in pod_ips) + "  }\n"
        servers += (f"  server {{ listen {listen_ip}:{port} reuseport; proxy_pass u{port}; "
                    f"proxy_connect_timeout 5s; tcp_nodelay on; }}\n")
    return (f"load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n"
            f"worker_processes 2;\nworker_rlimit_nofile 20000;\npid {workdir}/nginx.pid;\n"
            f"error_log {workdir}/nginx-error.log warn;\n"
            f"events {{ worker_connections 8000; multi_accept on; use epoll; }}\n"
            f"stream {{\n  access_log off;\n{upstreams}{servers}}}\n")


def start_proxies(cleanup, topo, addrs, pod_ips, ports, workdir):
    """Starts both proxies; returns {name: Spawned}."""
    hcfg = os.path.join(workdir, "haproxy.cfg")
    with open(hcfg, "w") as f:
        f.write(haproxy_config(addrs["haproxy"], pod_ips, ports))
    ncfg = os.path.join(workdir, "nginx.conf")
    with open(ncfg, "w") as f:
        f.write(nginx_config(addrs["nginx"], pod_ips, ports, workdir))
    run(["haproxy", "-c", "-q", "-f", hcfg])
    # nginx -t binds its reuseport listeners: test where the address exists.
    run(in_netns(topo.proxies["nginx"], ["nginx", "-t", "-q", "-c", ncfg, "-e",
                                         os.path.join(workdir, "nginx-error.log")]))
    procs = {
        "haproxy": Spawned(cleanup, "haproxy", in_netns(topo.proxies["haproxy"], ["haproxy", "-db", "-f", hcfg]),
                           os.path.join(workdir, "haproxy.log")),
        "nginx": Spawned(cleanup, "nginx", in_netns(topo.proxies["nginx"], [
            "nginx", "-c", ncfg, "-e", os.path.join(workdir, "nginx-error.log"), "-g", "daemon off;"]),
            os.path.join(workdir, "nginx.log")),
    }
    time.sleep(0.5)
    for name, proc in procs.items():
        if not proc.alive():
            raise RuntimeError(f"{name} exited at start: {proc.output()[-1500:]}")
    return procs, {"haproxy": hcfg, "nginx": ncfg}
