"""A flat perf profile of one process while something happens (linux-perf),
for the report's explanation of a missed target."""

import os
import shutil
import signal
import subprocess


class PerfProfile:
    """with PerfProfile(pid, path) as p: ...; p.top(n) -> the hottest symbols."""

    def __init__(self, pid, data_path):
        self.pid, self.data_path = pid, data_path
        self.proc = None
        self.available = shutil.which("perf") is not None

    def __enter__(self):
        if self.available:
            self.proc = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-p", str(self.pid), "-o",
                                          self.data_path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)   # perf writes its data on SIGINT
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False

    def top(self, count=12):
        """The share of samples per library, then the hottest symbols."""
        if not self.available or not os.path.exists(self.data_path):
            return "perf not available"
        return (self._report(["dso"], 6) + "\n...\n" + self._report(["dso", "symbol"], count))

    def _report(self, sort, count):
        r = subprocess.run(["perf", "report", "-i", self.data_path, "--stdio", "--no-children", "--sort",
                            ",".join(sort), "--percent-limit", "1"], capture_output=True, text=True)
        lines = [" ".join(l.split()).replace(" - -", "") for l in r.stdout.splitlines()
                 if l.strip() and not l.startswith("#")]
        return "\n".join(lines[:count]) or r.stderr.strip()[:500]
