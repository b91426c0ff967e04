"""The phases of a run: set up, compare modes (interleaved rounds), sweep the
number of services, time the control plane. Results are plain dicts."""

import json
import os
import platform
import statistics
import time

import bpf_stats
import services
from measure import MODES, Runner
from netfilter import KubeProxyRules
from profile import PerfProfile
from proxies import HAPROXY_SETTINGS, NGINX_SETTINGS, start_proxies
from socklb_agent import Agent, Trace, speaks_trace
from system import cpu_seconds, loadavg, log, run
from topology import CLIENT_ADDRS, POD_COUNT, PROXY_ADDRS, SPARE_POD, Topology, pod_ip

# direct runs in every sweep round as the control: it does not depend on the
# number of services, so mode/direct in the same round cancels the drift of a
# shared machine between sweep steps that are minutes apart.
SWEEP_MODES = ["direct", "socklb", "iptables", "nftables"]


class Plan:
    def __init__(self, rounds, duration, warmup, sweep, control_plane, endpoint_changes, netfilter_timeout, pipeline):
        self.rounds, self.duration, self.warmup = rounds, duration, warmup
        self.sweep = sweep
        self.pipeline = pipeline  # (services, backends each) for the in-process control-plane benchmark
        self.control_plane = control_plane
        self.endpoint_changes = endpoint_changes
        self.netfilter_timeout = netfilter_timeout

    @staticmethod
    def full():
        return Plan(rounds=7, duration=1.5, warmup=0.3, sweep=[1, 1000, 10000, 100000],
                    control_plane=[1000, 10000, 100000], endpoint_changes=20, netfilter_timeout=180,
                    pipeline=[(50000, 1), (100000, 1), (100000, 10)])

    @staticmethod
    def quick():
        return Plan(rounds=1, duration=1, warmup=0.3, sweep=[1, 1000], control_plane=[1000],
                    endpoint_changes=3, netfilter_timeout=60, pipeline=[(1000, 1)])


class Commands:
    """Every distinct command line the run used, in order."""

    def __init__(self):
        self.lines = []

    def add(self, line):
        if line not in self.lines:
            self.lines.append(line)


class Bench:
    def __init__(self, cleanup, bins, plan, workdir, prefix):
        self.cleanup, self.bins, self.plan, self.workdir, self.prefix = cleanup, bins, plan, workdir, prefix
        self.commands = Commands()
        self.pods = [pod_ip(i) for i in range(1, POD_COUNT + 1)]
        self.results = {"plan": vars(plan), "machine": machine(), "modes": MODES, "failures": []}

    def run_all(self, skip_control_plane=False, hook_cost_only=False):
        started = time.monotonic()
        self.results["loadavg_before"] = loadavg()
        self.setup()
        bpf_stats.enable(self.cleanup)
        if not hook_cost_only:
            before = bpf_stats.program_stats(self.agent.bpffs)
            self.compare_modes()
            self.results["bpf_stats"] = bpf_stats.delta(before, bpf_stats.program_stats(self.agent.bpffs))
        self.hook_cost()
        if not hook_cost_only:
            self.sweep()
        if not (skip_control_plane or hook_cost_only):
            self.pipeline()
            self.control_plane()
        self.results["loadavg_after"] = loadavg()
        self.results["elapsed_s"] = time.monotonic() - started
        self.results["commands"] = self.commands.lines
        return self.results

    # ---- set up ----

    def setup(self):
        self.topo = Topology(self.cleanup, self.prefix, self.bins["server"], self.workdir)
        self.topo.build()
        self.agent = Agent(self.cleanup, self.bins["socklb"], self.prefix, self.workdir, self.pods)
        self.agent.start(max_services=262144, max_backends=1200000)
        self.commands.add(" ".join(self.agent.command))
        self.proxies, configs = start_proxies(self.cleanup, self.topo, PROXY_ADDRS, self.pods,
                                              [services.RR_TARGET, services.STREAM_TARGET], self.workdir)
        for p in self.proxies.values():
            self.commands.add(" ".join(p.cmd))
        self.results["proxy_configs"] = {k: open(v).read() for k, v in configs.items()}
        self.results["proxy_settings"] = {"haproxy": HAPROXY_SETTINGS, "nginx": NGINX_SETTINGS}
        self.rules = {m: KubeProxyRules(m, self.topo.clients[m], self.workdir) for m in ("iptables", "nftables")}
        for m, r in self.rules.items():
            r.program([services.measured_service(self.pods)])
            self.commands.add(" ".join(r.command()) + " < rules")
            # The conntrack table is shared by the machine (nf_conntrack_max);
            # CRR leaves one TIME_WAIT entry per connection for 120 s by default.
            run(["ip", "netns", "exec", self.topo.clients[m], "sysctl", "-q", "-w",
                 "net.netfilter.nf_conntrack_tcp_timeout_time_wait=5"])
        self.results["ipvs"] = ipvs_status()
        self.runner = Runner(self.bins["loadgen"], self.topo, self.agent, self.proxies, self.commands)

    # ---- modes side by side ----

    def compare_modes(self):
        out = self.results["compare"] = {}
        p = self.plan
        for workload in ("crr", "rr", "stream"):
            out[workload] = {m: [] for m in MODES}
            for r in range(p.rounds):
                # Rotate the starting mode each round so no mode always runs first.
                order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
                for mode in order:
                    res = self._one(mode, workload, p.duration, p.warmup, r)
                    if res:
                        out[workload][mode].append(res)
                        log(f"{workload} round {r + 1}/{p.rounds} {mode:9s} {summary(res)}")

    def _one(self, mode, workload, duration, warmup, round_index):
        try:
            res = self.runner.run(mode, workload, duration, warmup)
            res["round"] = round_index
        except Exception as e:
            self.results["failures"].append(f"{mode}/{workload}: {e}")
            log(f"{workload} {mode}: FAILED: {e}")
            return None
        if res["ops"] == 0 or res["bytes"] == 0:
            self.results["failures"].append(f"{mode}/{workload}: moved no data (errors: {res['errors']})")
        return res

    # ---- what the connect hook costs, per kind of destination ----

    def hook_cost(self):
        """CRR from the socklb client to three kinds of destination, each on
        its own, with the connect4 program's run time per call: a ClusterIP
        (translated), an address that is nothing of socklb's (one lookup), and
        a pod that backs the ClusterIP dialled directly (marked, so that
        getpeername() keeps showing the pod). With a baseline build, each
        round runs both builds' agents in turn, so the two are compared side
        by side on the same machine state. A build with `socklb trace` is
        also measured with a trace running ("traced"), in the same rounds."""
        cases = {"clusterip": f"{services.MEASURED_VIP}:{services.RR_PORT}",
                 "other": f"{pod_ip(SPARE_POD)}:{services.RR_TARGET}",
                 "pod_direct": f"{pod_ip(1)}:{services.RR_TARGET}"}
        builds = {"current": self.bins["socklb"]}
        if self.bins.get("baseline_socklb"):
            builds["baseline"] = self.bins["baseline_socklb"]
        if speaks_trace(self.bins["socklb"]):
            builds["traced"] = self.bins["socklb"]
        samples = {build: {name: [] for name in cases} for build in builds}
        traced = {"shown": 0, "lost": 0}
        for r in range(self.plan.rounds):
            for build, binary in (builds.items() if r % 2 == 0 else reversed(builds.items())):
                self.agent.switch_binary(binary)
                trace = Trace(self.cleanup, binary, self.agent.bpffs, self.workdir) if build == "traced" else None
                if trace:
                    self.commands.add(" ".join(trace.cmd) + " > /dev/null")
                try:
                    for name, target in cases.items():
                        c4 = self._hook_run(name, target)
                        if c4:
                            samples[build][name].append(c4)
                            log(f"hook cost round {r + 1}/{self.plan.rounds} {build:8s} {name:10s} {target}: "
                                f"connect4 {c4['ns_per_call']:.0f} ns per call over {c4['calls']} calls")
                finally:
                    if trace:
                        shown, lost = trace.stop()
                        traced["shown"] += shown
                        traced["lost"] += lost
        self.agent.switch_binary(builds["current"])
        key = {"current": "hook_cost", "baseline": "hook_cost_baseline", "traced": "hook_cost_traced"}
        for build, by_case in samples.items():
            self.results[key[build]] = {
                name: {"target": cases[name], "ns_per_call": statistics.median(s["ns_per_call"] for s in runs),
                       "calls": sum(s["calls"] for s in runs), "rounds": len(runs)}
                for name, runs in by_case.items() if runs}
        if "traced" in builds:
            self.results["hook_cost_trace_events"] = traced
        if "baseline" in builds:
            checkout = os.path.dirname(os.path.dirname(os.path.dirname(builds["baseline"])))
            rev = run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
            self.results["hook_cost_baseline_build"] = f"{checkout} (commit {rev or '?'})"

    def _hook_run(self, name, target):
        before = bpf_stats.program_stats(self.agent.bpffs)
        try:
            res = self.runner.run_to("socklb", "crr", [target], self.plan.duration, self.plan.warmup)
        except Exception as e:
            self.results["failures"].append(f"hook cost {name}: {e}")
            log(f"hook cost {name}: FAILED: {e}")
            return None
        c4 = bpf_stats.delta(before, bpf_stats.program_stats(self.agent.bpffs)).get("connect4")
        if res["ops"] == 0 or not c4:
            self.results["failures"].append(f"hook cost {name}: no connects measured")
            return None
        return c4

    # ---- services sweep ----

    def sweep(self):
        out = self.results["sweep"] = []
        p = self.plan
        for n in p.sweep:
            step = {"services": n, "program": {}, "crr": {m: [] for m in SWEEP_MODES}}
            log(f"sweep: programming {n} services (fillers with 1 backend each)")
            step["program"]["socklb"] = self.agent.set_fillers(n - 1, 1, timeout=600)[0]
            svcs = services.all_services(self.pods, n, 1)
            for m, rules in self.rules.items():
                took, _, _ = rules.program(svcs, timeout=600, shared_filler_chain=True)
                step["program"][m] = took
            log("sweep: programmed in " + ", ".join(f"{m} {t:.2f}s" for m, t in step["program"].items()))
            stats_before = bpf_stats.program_stats(self.agent.bpffs)
            for r in range(p.rounds):
                k = r % len(SWEEP_MODES)
                for mode in SWEEP_MODES[k:] + SWEEP_MODES[:k]:
                    res = self._one(mode, "crr", p.duration, p.warmup, r)
                    if res:
                        step["crr"][mode].append(res)
                        log(f"sweep {n} services round {r + 1}/{p.rounds} {mode:9s} {summary(res)}")
            step["bpf_stats"] = bpf_stats.delta(stats_before, bpf_stats.program_stats(self.agent.bpffs))
            out.append(step)

    # ---- control plane ----

    def control_plane(self):
        out = self.results["control_plane"] = []
        p = self.plan
        for n in p.control_plane:
            row = {"services": n, "backends_each": 10}
            log(f"control plane: {n} services x 10 backends")
            self.agent.clear_fillers(timeout=900)
            self.agent.restart()
            took, rss = self.agent.set_fillers(n - 1, 10, timeout=900)
            row["socklb"] = {"seconds": took, "peak_rss_mib": rss, "map_mib": self.agent.map_memory_mib()}
            log(f"control plane: socklb {took:.2f}s, agent peak RSS {rss:.0f} MiB")
            if n == max(p.control_plane):
                (row["endpoint_change"], row["endpoint_change_agent_ms"],
                 row["endpoint_change_cleanup_ms"]) = self.endpoint_changes()
            svcs = services.all_services(self.pods, n, 10)
            for m, rules in self.rules.items():
                previous = out[-1][m] if out else None
                if previous and (previous["seconds"] is None
                                 or previous["seconds"] * n / previous_n > p.netfilter_timeout):
                    # Growth is at least linear: the projection alone passes the time limit.
                    row[m] = {"seconds": None, "peak_rss_mib": None, "timeout_s": p.netfilter_timeout,
                              "projected_s": (previous["seconds"] or float("inf")) * n / previous_n}
                    log(f"control plane: {m} at {n} not run: at least {row[m]['projected_s']:.0f}s projected")
                    continue
                rules.program([services.measured_service(self.pods)])
                took, rss, _ = rules.program(svcs, timeout=p.netfilter_timeout)
                row[m] = {"seconds": took, "peak_rss_mib": rss, "timeout_s": p.netfilter_timeout}
                log(f"control plane: {m} " + (f"{took:.2f}s, peak RSS {rss:.0f} MiB" if took is not None
                                              else f"did not finish in {p.netfilter_timeout}s (stopped)"))
                rules.program([services.measured_service(self.pods)])
            out.append(row)
            previous_n = n
        self.agent.clear_fillers(timeout=900)

    def endpoint_changes(self):
        """Alternates the measured service between the spare pod and pod 4."""
        samples, agent_ms, cleanup_ms = [], [], []
        cpu_before = cpu_seconds([self.agent.proc.pid])
        for i in range(self.plan.endpoint_changes):
            target = SPARE_POD if i % 2 == 0 else POD_COUNT
            # The first two changes run under perf: where the agent's time goes.
            profile = PerfProfile(self.agent.proc.pid, os.path.join(self.workdir, "agent.perf.data"))
            before = self.agent.last_sync()[0]
            with profile if i < 2 else _nothing():
                samples.append(self.agent.time_endpoint_change(self.bins["loadgen"], self.topo.clients["plain"],
                                                               pod_ip(target), f"pod{target}", timeout=60))
            # the agent's own figures for the same change: inotify to its writes done (its
            # sync event comes right after the writes a connect may already have used), and
            # to the removals of what they replaced (its cleanup event, a grace period later)
            event = self.agent.next_sync_event(after=before, timeout=10)
            agent_ms.append(event.get("since_change_ms"))
            cleanup = self.agent.cleanup_event(event["sync"], timeout=10) if event else {}
            cleanup_ms.append(cleanup.get("since_change_ms"))
            if i == 1:
                self.results["agent_profile"] = profile.top()
            time.sleep(0.05)
        self.results["agent_cpu_per_change_s"] = (cpu_seconds([self.agent.proc.pid]) - cpu_before) / len(samples)
        self.agent.write_measured(self.pods)
        time.sleep(0.5)
        log(f"endpoint change: median {statistics.median(samples) * 1000:.1f} ms, "
            f"max {max(samples) * 1000:.1f} ms over {len(samples)} changes")
        return samples, agent_ms, cleanup_ms

    def pipeline(self):
        """The control plane alone in one process (bench/control_plane/pipeline_bench.cpp)."""
        out = self.results["pipeline"] = []
        for n, backends in self.plan.pipeline:
            cmd = [self.bins["pipeline"], "--services", str(n), "--backends", str(backends), "--changes", "200"]
            r = run(cmd)
            row = json.loads(r.stdout)
            row["command"] = " ".join(cmd)
            out.append(row)
            log(f"pipeline: {n} x {backends}: {row['upserts_per_s']:.0f} service upserts/s, "
                f"{row['heap_bytes_per_service']:.0f} B of heap per service, one change p99 {row['change_p99_ms']:.2f} ms")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def summary(res):
    if res["workload"] == "stream":
        return f"{res['gbit_per_s']:.2f} Gbit/s"
    lat = res["latency_us"]
    errs = sum(res["errors"].values())
    return (f"{res['ops_per_s']:9.0f}/s p50 {lat['p50']:.0f}us p99 {lat['p99']:.0f}us"
            + (f" errors {errs}" if errs else ""))


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
    versions = {}
    for name, cmd in {"haproxy": ["haproxy", "-v"], "nginx": ["nginx", "-v"], "iptables": ["iptables", "-V"],
                      "nft": ["nft", "-V"]}.items():
        r = run(cmd, check=False)
        versions[name] = ((r.stdout or "") + (r.stderr or "")).strip().splitlines()[0]
    return {"kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(), "memory_gib": int(mem) / 2**20,
            "versions": versions}


def ipvs_status():
    if os.path.exists("/proc/net/ip_vs"):
        return "present"
    moddir = f"/lib/modules/{platform.release()}"
    found = False
    for root, _, files in os.walk(moddir) if os.path.isdir(moddir) else []:
        found |= any(f.startswith("ip_vs.ko") for f in files)
    return ("not available in this kernel: no /proc/net/ip_vs (not built in) and "
            + ("an ip_vs module exists but is not loaded" if found else f"no ip_vs module ({moddir} "
               + ("has none)" if os.path.isdir(moddir) else "does not exist)")))
