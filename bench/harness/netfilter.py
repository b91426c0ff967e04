"""kube-proxy's iptables and nftables rules in their client namespaces:
programmed with iptables-restore / nft -f, timed, peak RSS recorded."""

import os
import signal
import subprocess
import time

import services
from system import in_netns


def timed_load(cmd, path, timeout):
    """Runs cmd < path; returns (seconds, peak RSS MiB) or (None, None) on timeout.
    The peak comes from GNU time: a child forked straight from this (large)
    Python process would inherit its RSS as a floor of ru_maxrss."""
    rss_path = path + ".maxrss"
    with open(path) as stdin:
        start = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss_path] + cmd, stdin=stdin,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)   # time and the loader under it
                os.wait4(proc.pid, 0)
                return None, None
            time.sleep(0.01)
        took = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"`{' '.join(cmd)} < {path}` failed: {proc.stderr.read().decode()[:2000]}")
    with open(rss_path) as f:
        return took, int(f.read().split()[-1]) / 1024


class KubeProxyRules:
    """One mode ('iptables' or 'nftables') in its namespace."""

    def __init__(self, mode, ns, workdir):
        self.mode = mode
        self.ns = ns
        self.workdir = workdir

    def command(self):
        return in_netns(self.ns, ["iptables-restore"] if self.mode == "iptables" else ["nft", "-f", "-"])

    def text(self, svcs, shared_filler_chain=False):
        if self.mode == "iptables":
            return services.iptables_restore_text(svcs)
        return services.nft_text(svcs, shared_filler_chain)

    def program(self, svcs, timeout=600, shared_filler_chain=False):
        """Replaces the rules with these services; returns (seconds, peak MiB, rule file)."""
        path = os.path.join(self.workdir, f"{self.mode}-rules.txt")
        with open(path, "w") as f:
            f.write(self.text(svcs, shared_filler_chain))
        took, rss = timed_load(self.command(), path, timeout)
        return took, rss, path
