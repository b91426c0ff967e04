"""Processes, namespaces and the cleanup that undoes everything a run made."""

import os
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Cleanup:
    """A stack of undo actions, run in reverse on exit, error or Ctrl-C."""

    def __init__(self):
        self._actions = []

    def push(self, what, fn):
        self._actions.append((what, fn))

    def run_all(self):
        while self._actions:
            what, fn = self._actions.pop()
            try:
                fn()
            except Exception as e:  # keep undoing the rest
                print(f"bench: cleanup of {what} failed: {e}", file=sys.stderr)


def run(cmd, check=True, capture=True, timeout=None, input_text=None):
    """Runs cmd (a list); raises with its stderr when it fails and check is set."""
    r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, input=input_text)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` exited {r.returncode}: {(r.stderr or '').strip()[:2000]}")
    return r


def in_netns(ns, cmd):
    return ["ip", "netns", "exec", ns] + cmd


def in_cgroup_netns(cgroup, ns, cmd):
    """Joins the cgroup first, then enters the namespace: `ip netns exec`
    remounts /sys, so the host's cgroup tree is not visible inside it."""
    quoted = " ".join(_shell_quote(c) for c in cmd)
    return ["sh", "-c", f"echo $$ > {cgroup}/cgroup.procs && exec ip netns exec {ns} {quoted}"]


def _shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class Spawned:
    """A background process that cleanup stops (SIGTERM, then SIGKILL)."""

    def __init__(self, cleanup, name, cmd, stdout_path=None):
        self.name = name
        self.cmd = cmd
        self.stdout_path = stdout_path
        out = open(stdout_path, "w") if stdout_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        cleanup.push(f"process {name}", self.stop)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait_for_output(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stdout_path and text in open(self.stdout_path).read():
                return
            if not self.alive():
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.output()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not print {text!r} within {timeout}s: {self.output()[-2000:]}")

    def output(self):
        return open(self.stdout_path).read() if self.stdout_path else ""


def process_tree(pid):
    """pid and all its descendants (nginx workers, `ip netns exec` children)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pids):
    """user + system CPU seconds of these processes (from /proc/PID/stat)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def machine_busy_seconds():
    """All CPUs' non-idle time (includes softirq and everyone else's load)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / CLK_TCK


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
