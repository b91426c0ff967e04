"""One `socklb run` for the control-plane benchmarks (control_plane/agent_bench.py
from manifests, control_plane/api_bench.py from the fake API server): the agent
on a cgroup and a bpffs directory of its own, under /usr/bin/time -v for its
peak RSS, its JSON event stream (`--log-format json`, docs/events.md) read
line by line with each line's arrival time, and the removal of everything it
made (the agent, its pins, the cgroup, the work directory, and whatever the
caller adds), also on failure, Ctrl-C or SIGTERM.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import agent_events


def cgroup2_root():
    with open("/proc/mounts") as f:
        for line in f:
            dev, path, kind = line.split()[:3]
            if kind == "cgroup2":
                return path
    sys.exit("no cgroup v2 mount")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def describe(sync):
    """One sync event, briefly."""
    return (f"sync {sync['sync']}: {sync['services']} services, {sync['backends']} backends, "
            f"+{sync['added']} ~{sync['updated']} -{sync['removed']}, {sync['writes']} map writes; "
            f"read {sync['read_ms']:.1f} ms, plan {sync['plan_ms']:.1f} ms, apply {sync['apply_ms']:.1f} ms")


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _descendants(pid):
    """Every process under pid, nearest first."""
    out, todo = [], _children(pid)
    while todo:
        child = todo.pop(0)
        out.append(child)
        todo += _children(child)
    return out


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


class Agent:
    """The agent under /usr/bin/time -v (and perf, if argv starts with it);
    each stderr line kept with its arrival time."""

    def __init__(self, argv, time_file, log_file=None):
        self.lines = []  # (monotonic, text)
        self.events_seen = []  # (monotonic, event)
        self.syncs_seen = []  # (monotonic, sync event)
        self.cond = threading.Condition()
        self.time_file = time_file
        self.log = open(log_file, "w") if log_file else None
        self.started = time.monotonic()
        # the agent's process name: its binary's, as the kernel keeps it (15 characters)
        self.name = os.path.basename(argv[argv.index("run") - 1] if "run" in argv else "socklb")[:15]
        self.proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", time_file] + argv,
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def stop(self, timeout=30):
        # /usr/bin/time dies of SIGTERM without waiting (and perf would stop
        # recording): signal the agent under them
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
        else:
            # not found by name: every process under /usr/bin/time, so none outlives the run
            for child in _descendants(self.proc.pid):
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        code = self.proc.wait(timeout)
        self.reader.join(5)
        return code

    def pid(self):
        """The agent: the first process named as its binary under /usr/bin/time (perf may sit between)."""
        for pid in _descendants(self.proc.pid):
            if _comm(pid) == self.name:
                return pid
        return None

    def cpu_seconds(self):
        """user + system CPU time of the agent so far: a figure the machine's load does not inflate."""
        pid = self.pid()
        if not pid:
            raise RuntimeError(f"no process named {self.name} under /usr/bin/time: the agent has exited")
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        """The agent's peak RSS from /usr/bin/time -v, once it has exited; None if unknown."""
        try:
            with open(self.time_file) as f:
                m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        except OSError:
            return None
        return int(m.group(1)) / 1024 if m else None

    def _read(self):
        for line in self.proc.stderr:
            now = time.monotonic()
            if self.log:
                self.log.write(line)
            event = agent_events.parse_line(line)
            with self.cond:
                self.lines.append((now, line.rstrip("\n")))
                if event:
                    self.events_seen.append((now, event))
                    if event["event"] == "sync":
                        self.syncs_seen.append((now, event))
                self.cond.notify_all()
        if self.log:
            self.log.close()

    def syncs(self):
        with self.cond:
            return list(self.syncs_seen)

    def events(self, name):
        """(arrival time, event) of every event called `name` so far."""
        with self.cond:
            return [(t, e) for t, e in self.events_seen if e["event"] == name]

    def first(self, name):
        """(arrival time, event) of the first event called `name`, or None."""
        with self.cond:
            return next(((t, e) for t, e in self.events_seen if e["event"] == name), None)

    def tail(self, n=20):
        with self.cond:
            return "\n".join(l for _, l in self.lines[-n:])

    def wait_sync(self, after, timeout):
        """(arrival time, event) of the sync after the first `after` ones."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if len(self.syncs_seen) > after:
                    return self.syncs_seen[after]
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"no sync #{after + 1} in {timeout}s; agent output:\n{self.tail()}")
                self.cond.wait(0.05)


class Sandbox:
    """A cgroup, a bpffs directory and a work directory of this run's own, and
    the agent run on them. cleanup() (also registered for SIGTERM/SIGHUP, and
    to be called from a finally) stops the agent, removes the pins and the
    programs (`socklb uninstall`), the cgroup, the work directory, and runs
    the callbacks added with on_cleanup, last added first."""

    def __init__(self, socklb, prefix):
        self.socklb = socklb
        self.name = f"{prefix}-{os.getpid()}"
        self.cgroup = os.path.join(cgroup2_root(), self.name)
        self.bpffs = os.path.join("/sys/fs/bpf", self.name)
        self.agent = None
        self._callbacks = []
        self._done = False
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: sys.exit(1))
        os.mkdir(self.cgroup)
        try:
            self.work = tempfile.mkdtemp(prefix=self.name + "-")
        except OSError:
            os.rmdir(self.cgroup)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.cleanup()

    def path(self, name):
        return os.path.join(self.work, name)

    def on_cleanup(self, callback):
        self._callbacks.append(callback)

    def start_agent(self, argv, log_file=None):
        """Runs `argv` (which should hold --cgroup self.cgroup --bpffs self.bpffs) as the agent."""
        self.agent = Agent(argv, self.path("time.txt"), log_file)
        return self.agent

    def cleanup(self):
        if self._done:
            return
        self._done = True
        # a second Ctrl-C or SIGTERM (a terminal or `timeout` signals the
        # whole process group) must not leave half of the cleanup undone
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            agent = self.agent
            if agent and agent.proc.poll() is None:
                try:
                    agent.stop(10)
                except (subprocess.TimeoutExpired, OSError):
                    pid = agent.pid()
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                    agent.proc.kill()
                    agent.proc.wait()
            subprocess.run([self.socklb, "uninstall", "--bpffs", self.bpffs, "--cgroup", self.cgroup],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(self.bpffs, ignore_errors=True)
            if os.path.isdir(self.cgroup):
                self._remove_cgroup()
            for callback in reversed(self._callbacks):
                try:
                    callback()
                except Exception as e:  # the rest must still be removed
                    print(f"cleanup: {e}", file=sys.stderr)
            shutil.rmtree(self.work, ignore_errors=True)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _remove_cgroup(self):
        """Nothing of ours should be in it; anything that is gets killed, then it goes."""
        try:
            with open(os.path.join(self.cgroup, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(self.cgroup)
                return
            except OSError:
                time.sleep(0.1)
        print(f"cleanup: cannot remove {self.cgroup}", file=sys.stderr)
