"""Run time of socklb's programs (kernel.bpf_stats_enabled): how many
nanoseconds the connect4 hook adds to each connect(). The sysctl is
machine-wide, so the run puts back the value it found."""

import json
import os

from system import run

SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"


def enable(cleanup):
    with open(SYSCTL) as f:
        old = f.read().strip()
    with open(SYSCTL, "w") as f:
        f.write("1")

    def restore():
        with open(SYSCTL, "w") as f:
            f.write(old)
    cleanup.push("kernel.bpf_stats_enabled", restore)


def program_stats(bpffs):
    """{hook: (run_cnt, run_time_ns)} for the programs behind the pinned links."""
    out = {}
    for name in sorted(os.listdir(bpffs)):
        if not name.startswith("link_"):
            continue
        link = json.loads(run(["bpftool", "-j", "link", "show", "pinned", os.path.join(bpffs, name)]).stdout)
        prog = json.loads(run(["bpftool", "-j", "prog", "show", "id", str(link["prog_id"])]).stdout)
        out[name[len("link_"):]] = (prog.get("run_cnt", 0), prog.get("run_time_ns", 0))
    return out


def delta(before, after):
    """{hook: {calls, ns_per_call}} for hooks that ran between the two."""
    out = {}
    for hook, (cnt, ns) in after.items():
        c0, n0 = before.get(hook, (0, 0))
        if cnt > c0:
            out[hook] = {"calls": cnt - c0, "ns_per_call": (ns - n0) / (cnt - c0)}
    return out
