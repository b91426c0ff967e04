"""The socklb agent of a run: its own cgroup, bpffs directory and manifest
directory; programming N services by dropping manifest files in; timing an
endpoint change from the manifest write to the first connect that reaches the
new pod."""

import os
import re
import shutil
import signal
import subprocess
import time

import agent_events
import services
from system import Spawned, in_cgroup_netns, log, run

# Only for a --baseline-build from before `--log-format json` (docs/events.md):
# its human sync line is all it tells. Every build since is read by its events.
LEGACY_SYNC_LINE = re.compile(r"sync (\d+): (\d+) services, (\d+) backends")


def speaks_events(socklb_bin):
    """Whether this build's agent has the JSON event log."""
    r = run([socklb_bin, "run", "--help"], check=False)
    return "--log-format" in (r.stdout or "") + (r.stderr or "")


def speaks_trace(socklb_bin):
    """Whether this build has `socklb trace`."""
    r = run([socklb_bin, "--help"], check=False)
    return re.search(r"^\s+trace\s", r.stdout or "", re.MULTILINE) is not None


class Trace:
    """`socklb trace -o json` on the agent's pins while some runs measure what
    a running trace costs the programs: its output is thrown away (it still
    reads, decodes and renders every event), its summary kept."""

    SUMMARY = re.compile(r"(\d+) decisions? shown, (\d+) lost")

    def __init__(self, cleanup, socklb_bin, bpffs, workdir):
        self.log_path = os.path.join(workdir, "trace.log")
        self.cmd = [socklb_bin, "trace", "--bpffs", bpffs, "-o", "json"]
        # only stdout to /dev/null: its notes on stderr go to the log
        self.proc = Spawned(cleanup, "socklb trace", ["sh", "-c", "exec \"$@\" > /dev/null", "sh"] + self.cmd,
                            self.log_path)
        self.proc.wait_for_output("socklb trace: tracing")

    def stop(self):
        """Ends it (SIGTERM, as Ctrl-C); returns (decisions shown, lost)."""
        self.proc.stop()
        m = self.SUMMARY.search(self.proc.output())
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def serves_http(socklb_bin):
    """Whether this build's agent has /healthz and /metrics (then the bench
    keeps them on loopback, on ports of the kernel's choosing)."""
    r = run([socklb_bin, "run", "--help"], check=False)
    return "--health-addr" in (r.stdout or "") + (r.stderr or "")


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    raise RuntimeError("no cgroup v2 mount in /proc/mounts; socklb attaches to a cgroup v2 directory")


class Agent:
    def __init__(self, cleanup, socklb_bin, prefix, workdir, pod_ips):
        self.cleanup = cleanup
        self.bin = socklb_bin
        self.cgroup = os.path.join(cgroup2_root(), prefix)
        self.bpffs = f"/sys/fs/bpf/{prefix}"
        self.manifests = os.path.join(workdir, "manifests")
        self.staging = os.path.join(workdir, "staging")
        self.log_path = os.path.join(workdir, "agent.log")
        self.pod_ips = pod_ips
        self.proc = None
        self.command = None
        self.events = True  # the running build logs JSON events; False for a legacy baseline

    def start(self, max_services, max_backends):
        os.makedirs(self.manifests)
        os.makedirs(self.staging)
        self.write_measured(self.pod_ips)
        os.mkdir(self.cgroup)
        self.cleanup.push(f"cgroup {self.cgroup}", self._remove_cgroup)
        self.cleanup.push(f"socklb pins {self.bpffs}", lambda: run(
            [self.bin, "uninstall", "--bpffs", self.bpffs, "--cgroup", self.cgroup], check=False))
        self.command = [self.bin, "run", "--log-format", "json", "--manifests", self.manifests,
                        "--cgroup", self.cgroup, "--bpffs", self.bpffs, "--max-services", str(max_services),
                        "--max-backends", str(max_backends)]
        self.proc = Spawned(self.cleanup, "socklb agent", self._command(), self.log_path)
        self.wait_for_services(2, after_sync=0, timeout=30)
        log(f"socklb agent up (cgroup {self.cgroup}, pins {self.bpffs})")

    def _remove_cgroup(self):
        """Only this run's clients join the cgroup: end any left, then remove it."""
        with open(os.path.join(self.cgroup, "cgroup.procs")) as f:
            for pid in f.read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _ in range(50):
            try:
                os.rmdir(self.cgroup)
                return
            except OSError:
                time.sleep(0.1)
        os.rmdir(self.cgroup)

    def switch_binary(self, socklb_bin):
        """Runs another build's agent on the same node: the datapath of the
        one running is removed first (two builds' map layouts differ)."""
        if socklb_bin == self.bin:
            return
        self.proc.stop()
        run([self.bin, "uninstall", "--bpffs", self.bpffs, "--cgroup", self.cgroup])
        self.bin = socklb_bin
        self.command[0] = socklb_bin
        self.events = speaks_events(socklb_bin)
        self.proc = Spawned(self.cleanup, "socklb agent", self._command(), self.log_path)
        self.wait_for_services(2, after_sync=0, timeout=60)

    def _command(self):
        """The agent's command line for the build that runs now."""
        command = list(self.command) if self.events else [a for a in self.command if a not in ("--log-format", "json")]
        if serves_http(self.bin):
            command += ["--health-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"]
        return command

    def restart(self):
        """A new agent process that adopts the pinned maps (its peak memory
        starts afresh); the datapath keeps serving meanwhile."""
        self.proc.stop()
        self.proc = Spawned(self.cleanup, "socklb agent", self._command(), self.log_path)
        self.wait_for_services(2, after_sync=0, timeout=60)

    def client_command(self, ns, cmd):
        return in_cgroup_netns(self.cgroup, ns, cmd)

    def last_sync(self):
        """(number, services, backends) of the agent's last sync; zeros before the first."""
        text = open(self.log_path, errors="replace").read()
        if not self.events:
            syncs = LEGACY_SYNC_LINE.findall(text)
            return tuple(int(x) for x in syncs[-1]) if syncs else (0, 0, 0)
        syncs = agent_events.parse_text(text, "sync")
        return (syncs[-1]["sync"], syncs[-1]["services"], syncs[-1]["backends"]) if syncs else (0, 0, 0)

    def cleanup_event(self, sync, timeout):
        """The cleanup event of sync number `sync` (its removals, after their grace period), waiting for it;
        {} without events or when that sync removed nothing."""
        if not self.events:
            return {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = open(self.log_path, errors="replace").read()
            mine = [e for e in agent_events.parse_text(text, "cleanup") if e["sync"] == sync]
            if mine:
                return mine[0]
            if not any(e["sync"] == sync and e.get("removals_pending") for e in agent_events.parse_text(text, "sync")):
                return {}
            time.sleep(0.002)
        raise RuntimeError(f"no cleanup event of sync {sync} within {timeout}s")

    def next_sync_event(self, after, timeout):
        """The first sync event numbered above `after` (docs/events.md), waiting for it; {} without events."""
        if not self.events:
            return {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            syncs = agent_events.parse_text(open(self.log_path, errors="replace").read(), "sync")
            newer = [e for e in syncs if e["sync"] > after]
            if newer:
                return newer[0]
            time.sleep(0.002)
        raise RuntimeError(f"no sync event after sync {after} within {timeout}s")

    def wait_for_services(self, count, after_sync, timeout):
        """Waits for a sync numbered above after_sync that serves `count`
        service ports; returns its monotonic time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            number, served, _ = self.last_sync()
            if number > after_sync and served == count:
                return time.monotonic_ns()
            if not self.proc.alive():
                raise RuntimeError(f"socklb agent exited: {self.proc.output()[-2000:]}")
            time.sleep(0.002)
        raise RuntimeError(f"socklb agent did not reach {count} services within {timeout}s; "
                           f"log tail: {self.proc.output()[-1500:]}")

    def write_measured(self, pod_ips):
        """Atomically replaces the measured service's manifest (write, rename)."""
        tmp = os.path.join(self.staging, "measured.yaml")
        with open(tmp, "w") as f:
            f.write(services.manifest_text(services.measured_service(pod_ips)))
        os.rename(tmp, os.path.join(self.manifests, "measured.yaml"))

    def set_fillers(self, count, backends_each, timeout):
        """Serves `count` filler services; returns (seconds from the manifest
        rename to the sync that serves them, the agent's peak RSS in MiB)."""
        self.clear_fillers(timeout)
        if count == 0:
            return 0.0, self.peak_rss_mib()
        filler_dir = os.path.join(self.staging, "fillers")
        shutil.rmtree(filler_dir, ignore_errors=True)
        paths = services.write_manifests(filler_dir, services.filler_services(count, backends_each))
        before = self.last_sync()[0]
        start = time.monotonic_ns()
        for p in paths:
            os.rename(p, os.path.join(self.manifests, os.path.basename(p)))
        done = self.wait_for_services(count + 2, before, timeout)
        return (done - start) / 1e9, self.peak_rss_mib()

    def clear_fillers(self, timeout):
        names = [n for n in os.listdir(self.manifests) if n.startswith("services-")]
        if not names:
            return
        before = self.last_sync()[0]
        for n in names:
            os.unlink(os.path.join(self.manifests, n))
        self.wait_for_services(2, before, timeout)

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0

    def map_memory_mib(self):
        """Kernel memory of the pinned maps as bpftool reports it (memlock)."""
        total = 0
        for name in os.listdir(self.bpffs):
            if name.startswith("link_"):
                continue
            r = run(["bpftool", "-j", "map", "show", "pinned", os.path.join(self.bpffs, name)], check=False)
            m = re.search(r'"bytes_memlock":\s*(\d+)', r.stdout or "")
            total += int(m.group(1)) if m else 0
        return total / 2**20

    def time_endpoint_change(self, loadgen_bin, client_ns, new_pod_ip, new_label, timeout=10):
        """Rewrites the measured service's EndpointSlice to one new pod and
        returns seconds from that write to the first connect that reached it."""
        waiter = subprocess.Popen(
            self.client_command(client_ns, [loadgen_bin, "wait-for-backend", "--target",
                                            f"{services.MEASURED_VIP}:{services.RR_PORT}", "--label", new_label,
                                            "--timeout", str(timeout)]),
            stdout=subprocess.PIPE, text=True)
        try:
            if waiter.stdout.readline().strip() != "started":
                raise RuntimeError("wait-for-backend could not reach the measured service before the change")
            written = time.monotonic_ns()
            self.write_measured([new_pod_ip])
            line = waiter.stdout.readline()
            waiter.wait(timeout=timeout + 5)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
        import json
        result = json.loads(line)
        if not result.get("reached"):
            raise RuntimeError(f"the endpoint change to {new_label} never took effect within {timeout}s")
        return (result["connect_ns"] - written) / 1e9
