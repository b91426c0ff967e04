"""One load generator run in one mode, with the CPU time of every process
involved (client from its own getrusage, servers and proxy from /proc)."""

import json
import subprocess
import time

import services
from system import cpu_seconds, in_netns, machine_busy_seconds, process_tree
from topology import CLIENT_ADDRS, POD_COUNT, PROXY_ADDRS, pod_ip

MODES = ["direct", "socklb", "iptables", "nftables", "haproxy", "nginx"]

# Load shape per workload: threads x connections in flight per thread.
SHAPES = {"crr": (2, 16), "rr": (1, 4), "stream": (1, 1)}


class Runner:
    def __init__(self, loadgen_bin, topo, agent, proxies, commands_log):
        self.loadgen = loadgen_bin
        self.topo = topo
        self.agent = agent
        self.proxies = proxies
        self.commands = commands_log   # every command line, for the report

    def targets(self, mode, workload):
        port_vip = services.STREAM_PORT if workload == "stream" else services.RR_PORT
        port_pod = services.STREAM_TARGET if workload == "stream" else services.RR_TARGET
        if mode == "direct":
            return [f"{pod_ip(i)}:{port_pod}" for i in range(1, POD_COUNT + 1)]
        if mode in PROXY_ADDRS:
            return [f"{PROXY_ADDRS[mode]}:{port_pod}"]
        return [f"{services.MEASURED_VIP}:{port_vip}"]

    def command(self, mode, workload, duration, warmup, targets=None):
        threads, conns = SHAPES[workload]
        cmd = [self.loadgen, workload, "--threads", str(threads), "--connections", str(conns),
               "--duration", str(duration), "--warmup", str(warmup)]
        for t in targets or self.targets(mode, workload):
            cmd += ["--target", t]
        if mode == "socklb":
            return self.agent.client_command(self.topo.clients["plain"], cmd)
        ns = self.topo.clients[mode if mode in CLIENT_ADDRS else "plain"]
        return in_netns(ns, cmd)

    def run(self, mode, workload, duration, warmup):
        return self.run_to(mode, workload, None, duration, warmup)

    def run_to(self, mode, workload, targets, duration, warmup):
        """As run(), to other targets than the mode's own."""
        cmd = self.command(mode, workload, duration, warmup, targets)
        self.commands.add(" ".join(cmd))
        other_pids = self.topo.server_pids()
        if mode in self.proxies:
            other_pids += process_tree(self.proxies[mode].pid)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(warmup)
            cpu_before, busy_before, t_before = cpu_seconds(other_pids), machine_busy_seconds(), time.monotonic()
            out, err = proc.communicate(timeout=duration + warmup + 60)
            cpu_after, busy_after, t_after = cpu_seconds(other_pids), machine_busy_seconds(), time.monotonic()
        finally:
            if proc.poll() is None:   # interrupted: the client must not outlive the run
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen {mode}/{workload} exited {proc.returncode}: {err.strip()[:1000]}")
        result = json.loads(out.strip().splitlines()[-1])
        # The window above is a little longer than the client's; scale to it.
        scale = duration / max(t_after - t_before, duration)
        result["mode"] = mode
        result["cpu_client_s"] = result["cpu_s"]["user"] + result["cpu_s"]["system"]
        result["cpu_others_s"] = (cpu_after - cpu_before) * scale
        result["cpu_machine_s"] = (busy_after - busy_before) * scale
        return result
