#!/usr/bin/env python3
"""Control-plane benchmark of `socklb run --kubeconfig` against the fake API server (root).

Starts tests/fake_apiserver/fake_apiserver.py on 127.0.0.1, has it /generate
N services x B ready endpoints (one EndpointSlice per service), writes a
kubeconfig pointing at it, starts the agent on a cgroup and a bpffs directory
of its own (no traffic is sent: only the maps are programmed) and measures

  start:  from the agent's exec to its first sync event (everything listed
          and served), split into the list (exec -> the lists complete, which
          is the sync event's arrival minus its since_change_ms) and the first
          sync (its read/plan/apply);
  change: CHANGES EndpointSlice updates, one at a time, through the fake's
          control API (POST /objects: one endpoint of a random service moved
          to a new pod IP), each waited for by the sync event that applies
          it; p50/p99/max of the agent's own since_change_ms (the watch event
          reaching the agent's loop -> its map writes done) and end to end
          (the control POST -> the sync event line read);
  memory: peak RSS of the agent (/usr/bin/time -v), and the fake's.

It reads the agent's JSON event stream (`--log-format json`, docs/events.md)
through ../harness/agent_process.py, shared with agent_bench.py (the same from
manifest files). Everything it makes (the fake, the agent, the cgroup, the
pins, the work directory) is removed on exit, also on failure or Ctrl-C.

  bench/control_plane/api_bench.py --socklb build/userspace/socklb --services 100000 --backends 10 --changes 200
  bench/control_plane/api_bench.py --services 10000 --json /tmp/api.json --perf-record /tmp/api.perf.data

The issue's targets (a benchmark, not a timed test): 100,000 services, start
to all served <= 5 s; a watch event to the map write <= 20 ms p99.
"""

import argparse
import http.client
import ipaddress
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
from agent_process import Sandbox, describe, percentile  # noqa: E402

FAKE = os.path.join(ROOT, "tests", "fake_apiserver", "fake_apiserver.py")
SLICES = "/apis/discovery.k8s.io/v1"
START_TARGET_S = 5.0
CHANGE_P99_TARGET_MS = 20.0
NODE = "bench-node"


class FakeApi:
    """The fake API server of this run, on 127.0.0.1 (ports from its port files)."""

    def __init__(self, box):
        self.log_path = box.path("fake.log")
        port_file, control_file = box.path("api-port"), box.path("control-port")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["/usr/bin/python3", FAKE, "--listen", "127.0.0.1:0", "--port-file", port_file,
                                      "--control-listen", "127.0.0.1:0", "--control-port-file", control_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        box.on_cleanup(self.stop)
        deadline = time.monotonic() + 30
        while not (os.path.exists(port_file) and os.path.exists(control_file)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake API server did not start: " + self.output())
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.control_port = int(open(control_file).read())
        self._control = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=600)
        self._api = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def server(self):
        return f"http://127.0.0.1:{self.port}"

    def output(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @staticmethod
    def _request(conn, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        text = r.read()
        return r.status, json.loads(text) if text else None

    def control(self, path, body):
        status, out = self._request(self._control, "POST", path, body)
        if status != 200:
            raise RuntimeError(f"fake API control {path}: {status} {out}")
        return out

    def get(self, path):
        """(status, object) of a GET on the API port."""
        return self._request(self._api, "GET", path)

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write_kubeconfig(path, server):
    """A kubeconfig (JSON is one too) with the fake as its current context; the fake allows anonymous."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "fake",
              "clusters": [{"name": "fake", "cluster": {"server": server}}],
              "users": [{"name": "agent", "user": {}}],
              "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "agent"}}]}
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def thread_cpu(pid):
    """(main thread, other threads) CPU seconds of a process: the agent's
    main thread runs the datapath install and the syncs, the others the
    reflectors' lists and watches (and the HTTP endpoints)."""
    tick = os.sysconf("SC_CLK_TCK")
    main, others = 0.0, 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / tick
        if int(tid) == pid:
            main += cpu
        else:
            others += cpu
    return main, others


def process_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Every 50 ms until stopped: (monotonic, agent main thread CPU, its other
    threads' CPU, the fake's CPU), so a phase known only by its times (the
    list, the first sync) gets its CPU figures too: what the load of a shared
    machine does not inflate."""

    def __init__(self, agent, fake_pid):
        self.agent, self.fake_pid = agent, fake_pid
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pid = None
        while not self.done.is_set():
            pid = pid or self.agent.pid()
            if pid:
                try:
                    main, others = thread_cpu(pid)
                    self.samples.append((time.monotonic(), main, others, process_cpu(self.fake_pid)))
                except OSError:
                    pass
            self.done.wait(0.05)

    def stop(self):
        self.done.set()
        self.thread.join()

    def at(self, t):
        """The sample nearest before t: (main, others, fake) CPU seconds; zeros before the first."""
        before = [s for s in self.samples if s[0] <= t]
        return before[-1][1:] if before else (0.0, 0.0, 0.0)


def stats(values):
    if not values:
        return None
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values), "count": len(values)}


def fmt(s):
    return f"p50 {s['p50']:.1f} ms, p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms" if s else "none"


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mib": mem, "kernel": platform.release(),
            "loadavg": os.getloadavg()[0]}


class SliceChanger:
    """Moves one endpoint of a random service's EndpointSlice to a new pod IP
    through the fake's control API, reading the slice as the API serves it."""

    def __init__(self, fake, namespace, services, first_pod_ip, backends, seed):
        self.fake = fake
        self.ns = namespace
        self.services = services
        self.rng = random.Random(seed)
        # new pod IPs after every generated one
        self.next_ip = ipaddress.ip_address(first_pod_ip) + services * backends

    def slice_of(self, i):
        name = f"svc-{i}"
        # the name /generate gives a service's slice; the label selector if that ever changes
        status, obj = self.fake.get(f"{SLICES}/namespaces/{self.ns}/endpointslices/{name}-{i & 0xfffff:05x}")
        if status == 200:
            return obj
        status, out = self.fake.get(f"{SLICES}/namespaces/{self.ns}/endpointslices"
                                    f"?labelSelector=kubernetes.io/service-name%3D{name}")
        if status != 200 or not out.get("items"):
            raise RuntimeError(f"no EndpointSlice of {self.ns}/{name} from the fake: {status}")
        return out["items"][0]

    def next(self):
        """(service name, the modified slice) of the next change."""
        i = self.rng.randrange(self.services)
        obj = self.slice_of(i)
        endpoints = obj.get("endpoints") or []
        if not endpoints:
            raise RuntimeError(f"the slice of svc-{i} has no endpoints")
        ep = endpoints[self.rng.randrange(len(endpoints))]
        ep["addresses"] = [str(self.next_ip)]
        if isinstance(ep.get("targetRef"), dict):
            ep["targetRef"]["name"] = f"moved-{self.next_ip}"
        self.next_ip += 1
        return f"svc-{i}", obj


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socklb", default=os.path.join(ROOT, "build", "userspace", "socklb"))
    p.add_argument("--services", type=int, default=100000)
    p.add_argument("--backends", type=int, default=10)
    p.add_argument("--changes", type=int, default=200)
    p.add_argument("--namespace", default="bench")
    p.add_argument("--first-cluster-ip", default="10.96.0.1")
    p.add_argument("--first-pod-ip", default="10.128.0.1")
    p.add_argument("--seed", type=int, default=None, help="of the services changed [default: the pid]")
    p.add_argument("--json", metavar="OUT", help="write the figures here as JSON")
    p.add_argument("--agent-log", metavar="FILE", help="keep the agent's event stream here")
    p.add_argument("--perf-record", metavar="FILE",
                   help="run the agent under perf record --call-graph dwarf into FILE (slows it: time it without)")
    p.add_argument("--perf-freq", type=int, default=499, help="samples per second of --perf-record")
    p.add_argument("--perf-call-graph", default="dwarf,16384",
                   help="perf record's --call-graph, or 'none' (a flat profile: far smaller at 100k)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the agent loads BPF programs")
    a.socklb = os.path.abspath(a.socklb)
    if not os.access(a.socklb, os.X_OK):
        sys.exit(f"no agent at {a.socklb}: build it (cmake --build build --target socklb) or give --socklb")
    result = {"services": a.services, "backends": a.backends, "changes_requested": a.changes,
              "command": [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:], "machine": machine()}
    print(f"machine: {result['machine']['cpus']} CPUs ({result['machine']['cpu_model']}), "
          f"{result['machine']['memory_mib']} MiB, kernel {result['machine']['kernel']}, "
          f"load {result['machine']['loadavg']:.2f}")

    with Sandbox(a.socklb, "socklb-apibench") as box:
        fake = FakeApi(box)
        t = time.monotonic()
        out = fake.control("/generate", {"services": a.services, "backends": a.backends, "namespace": a.namespace,
                                         "first_cluster_ip": a.first_cluster_ip, "first_pod_ip": a.first_pod_ip,
                                         "port": 80, "target_port": 8080})
        fake.control("/objects", {"objects": [{"kind": "Node", "apiVersion": "v1",
                                               "metadata": {"name": NODE, "labels": {}}}]})
        generate_s = time.monotonic() - t
        print(f"fake API at {fake.server()}: generated {out['services']} services + {out['endpointslices']} "
              f"EndpointSlices x {a.backends} endpoints in {generate_s:.1f} s")
        result["fake"] = {"generate_s": generate_s}
        kubeconfig = box.path("kubeconfig.json")
        write_kubeconfig(kubeconfig, fake.server())

        argv = [a.socklb, "run", "--kubeconfig", kubeconfig, "--node-name", NODE, "--cgroup", box.cgroup,
                "--bpffs", box.bpffs, "--log-format", "json", "--health-addr", "127.0.0.1:0",
                "--metrics-addr", "127.0.0.1:0",
                "--max-services", str(max(65536, a.services * 2)),
                "--max-backends", str(max(262144, a.services * a.backends * 3))]
        if a.perf_record:
            graph = [] if a.perf_call_graph == "none" else ["--call-graph", a.perf_call_graph]
            # -k CLOCK_MONOTONIC: sample times on this script's clock (perf report --time)
            argv = ["perf", "record", "-k", "CLOCK_MONOTONIC", "-F", str(a.perf_freq)] + graph + \
                ["-o", a.perf_record, "--"] + argv
        result["agent_command"] = argv
        fake_cpu_before = process_cpu(fake.proc.pid)
        agent = box.start_agent(argv, a.agent_log)
        sampler = CpuSampler(agent, fake.proc.pid)

        # start: exec -> the first sync (everything listed, then served)
        try:
            t_sync, sync = agent.wait_sync(0, 600)
        finally:
            sampler.stop()
        pid = agent.pid()
        main_cpu, other_cpu = thread_cpu(pid)
        fake_cpu = process_cpu(fake.proc.pid) - fake_cpu_before
        first_ms = 1000 * (t_sync - agent.started)
        datapath = agent.first("datapath")
        datapath_ms = 1000 * (datapath[0] - agent.started) if datapath else None
        sync_ms = sync.get("since_change_ms")  # the lists complete (news reaching the loop) -> last map write
        list_ms = first_ms - sync_ms if sync_ms is not None else None
        start = {"first_sync_ms": first_ms, "datapath_ms": datapath_ms, "listed_ms": list_ms, "first_sync_own_ms": sync_ms,
                 "read_ms": sync["read_ms"], "plan_ms": sync["plan_ms"], "apply_ms": sync["apply_ms"],
                 "writes": sync["writes"], "served_services": sync["services"], "served_backends": sync["backends"],
                 "errors": sync["errors"], "warnings": sync["warnings"], "cpu_main_thread_s": main_cpu,
                 "cpu_other_threads_s": other_cpu, "fake_cpu_s": fake_cpu}
        if list_ms is not None:
            # CPU by phase, from the samples: until the lists were complete, then the first sync
            m, o, f = sampler.at(agent.started + list_ms / 1000)
            start["list_cpu"] = {"main_thread_s": m, "other_threads_s": o, "fake_s": f - fake_cpu_before}
            start["sync_cpu"] = {"main_thread_s": main_cpu - m, "other_threads_s": other_cpu - o}
        result["start"] = start
        result["start"]["exec_monotonic"] = agent.started
        print(f"start: first sync {first_ms:.0f} ms after exec (target <= {1000 * START_TARGET_S:.0f} ms) | "
              f"{describe(sync)}")
        if datapath_ms is not None:
            print(f"start:   programs loaded and attached (datapath event) at {datapath_ms:.0f} ms")
        if list_ms is not None:
            print(f"start:   list: services and endpointslices listed and parsed at {list_ms:.0f} ms; "
                  f"first sync: {sync_ms:.0f} ms more (read {sync['read_ms']:.0f}, plan {sync['plan_ms']:.0f}, "
                  f"apply {sync['apply_ms']:.0f} ms)")
        print(f"start:   agent CPU {main_cpu + other_cpu:.2f} s: main thread {main_cpu:.2f} s (datapath, syncs), "
              f"other threads {other_cpu:.2f} s (reflectors' lists); the fake API server {fake_cpu:.2f} s")
        if "list_cpu" in start:
            lc, sc = start["list_cpu"], start["sync_cpu"]
            print(f"start:   CPU until listed: agent main thread {lc['main_thread_s']:.2f} s, reflectors "
                  f"{lc['other_threads_s']:.2f} s, fake {lc['fake_s']:.2f} s; in the first sync: agent main thread "
                  f"{sc['main_thread_s']:.2f} s (of {sync_ms / 1000:.2f} s wall), other threads {sc['other_threads_s']:.2f} s")
        want = (a.services, a.services * a.backends)
        if (sync["services"], sync["backends"]) != want or sync["errors"]:
            print(f"start: WARNING: the first sync serves {sync['services']} services and {sync['backends']} "
                  f"backends with {sync['errors']} errors; expected {want[0]} and {want[1]}")

        # change: one EndpointSlice update at a time, through the fake's control API
        changer = SliceChanger(fake, a.namespace, a.services, a.first_pod_ip, a.backends,
                               a.seed if a.seed is not None else os.getpid())
        cpu_before = agent.cpu_seconds()
        end_to_end, posts, in_agent, served, unexpected = [], [], [], [], 0
        each = []  # every change's figures, for the tail's anatomy
        for n in range(a.changes):
            name, obj = changer.next()
            before = len(agent.syncs())
            posted = time.monotonic()
            fake.control("/objects", {"objects": [obj]})
            answered = time.monotonic()
            t, sync = agent.wait_sync(before, 30)
            end_to_end.append(1000 * (t - posted))
            posts.append(1000 * (answered - posted))
            if sync["since_change_ms"] is not None:
                in_agent.append(sync["since_change_ms"])
            if sync.get("served_since_change_ms") is not None:
                served.append(sync["served_since_change_ms"])
            each.append({"service": name, "end_to_end_ms": end_to_end[-1], "post_ms": posts[-1],
                         **{k: sync.get(k) for k in ("since_change_ms", "served_since_change_ms", "read_ms", "plan_ms",
                                                     "apply_ms", "writes")}})
            mine = [c for c in sync["changes"] if c.startswith(f"~{a.namespace}/{name}:")]
            if (sync["added"], sync["updated"], sync["removed"]) != (0, 1, 0) or not mine:
                unexpected += 1
                print(f"change {n} ({a.namespace}/{name}) gave an unexpected sync: {describe(sync)} {sync['changes']}")
            time.sleep(0.03)
        change = {"count": len(end_to_end), "unexpected": unexpected, "agent_since_change_ms": stats(in_agent),
                  "agent_served_since_change_ms": stats(served), "end_to_end_ms": stats(end_to_end),
                  "control_post_ms": stats(posts), "each": each}
        if end_to_end:
            change["agent_cpu_ms_per_change"] = 1000 * (agent.cpu_seconds() - cpu_before) / len(end_to_end)
            print(f"change: {len(end_to_end)} EndpointSlice updates, agent CPU "
                  f"{change['agent_cpu_ms_per_change']:.1f} ms per change (average)")
            print(f"change: in the agent (since_change_ms: watch event reaching the agent's loop -> map writes done): "
                  f"{fmt(change['agent_since_change_ms'])} (target p99 <= {CHANGE_P99_TARGET_MS:.0f} ms)")
            print(f"change: in the agent (served_since_change_ms: -> the writes that serve it): "
                  f"{fmt(change['agent_served_since_change_ms'])}")
            print(f"change: end to end (control POST -> sync event read): {fmt(change['end_to_end_ms'])}; "
                  f"of which the POST's answer: {fmt(change['control_post_ms'])}")
        result["change"] = change

        agent.stop(60)
        result["agent_peak_rss_mib"] = agent.peak_rss_mib()
        result["fake"]["peak_rss_mib"] = fake.peak_rss_mib()
        print(f"memory: agent peak RSS {result['agent_peak_rss_mib'] or 0:.0f} MiB; "
              f"fake API server {result['fake']['peak_rss_mib'] or 0:.0f} MiB")
        result["machine"]["loadavg_end"] = os.getloadavg()[0]

    p99 = (result["change"].get("agent_since_change_ms") or {}).get("p99")
    result["targets"] = {"start_le_5s": first_ms <= 1000 * START_TARGET_S,
                         "change_p99_le_20ms": None if p99 is None else p99 <= CHANGE_P99_TARGET_MS}
    change_verdict = ("not measured" if p99 is None else
                      f"{'met' if p99 <= CHANGE_P99_TARGET_MS else 'MISSED'} ({p99:.1f} ms)")
    print(f"targets ({a.services} services x {a.backends}): start <= 5 s "
          f"{'met' if result['targets']['start_le_5s'] else 'MISSED'} ({first_ms / 1000:.2f} s); "
          f"change p99 <= 20 ms (agent's own) {change_verdict}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
