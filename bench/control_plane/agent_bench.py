#!/usr/bin/env python3
"""Control-plane benchmark of a real `socklb run` (root).

Generates N services x B backends (gen_manifests.py), starts the agent on a
cgroup and a bpffs directory of its own (no traffic is sent: only the maps are
programmed), and measures

  start:  from the agent's exec to its first sync event;
  change: from an EndpointSlice file rewrite (one endpoint moved, the file
          renamed into place) to the sync event that applied it, CHANGES
          times; prints p50/p99/max, and the agent's own figures for the same
          changes (the sync event's since_change_ms: the change reaching the
          agent to its writes done, every service serving its new state; the
          cleanup event's: to the removals of what they replaced, one RCU
          grace period later);
  stream: with --stream-rate R, then R changes a second for --stream-seconds,
          written on a fixed schedule that never waits for the agent (a
          cluster's stream does not pause), each moving one endpoint of a
          service not changed before; for each change, from its write to the
          sync event that lists its service (the event's own wall-clock time,
          so the harness's reading of the events does not count), and the
          agent's since_change_ms over those syncs. Use many small files
          (--files) so that writing a change takes well under 1/R s;
  memory: peak RSS of the agent (/usr/bin/time -v).

It reads the agent's JSON event stream (`--log-format json`, docs/events.md)
through ../harness/agent_events.py. bench/run's control-plane section measures
the same with traffic (to the first connect that reaches the new pod); this
one is for profiling the agent alone (--perf-record) at any scale.

Everything it makes (cgroup, pins, manifest dir, the agent) is removed on exit,
also on failure or Ctrl-C (../harness/agent_process.py).

  bench/control_plane/agent_bench.py --socklb build/userspace/socklb --services 10000 --changes 200
"""

import argparse
import datetime
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
import gen_manifests  # noqa: E402
from agent_process import Sandbox, describe, percentile  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socklb", default="build/userspace/socklb")
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--backends", type=int, default=10)
    p.add_argument("--files", type=int, default=0, help="default: one service file and one slice file per 1250 services")
    p.add_argument("--changes", type=int, default=100)
    p.add_argument("--stream-rate", type=int, default=0, help="after the changes, this many changes a second (0: none)")
    p.add_argument("--stream-seconds", type=float, default=10)
    p.add_argument("--keep-manifests", help="reuse/keep generated manifests in this directory")
    p.add_argument("--perf-record", help="record the agent with perf into this file (perf record --call-graph dwarf)")
    p.add_argument("--heaptrack", help="record the agent's heap with heaptrack into this file (heaptrack_print reads it)")
    a = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the agent loads BPF programs")
    files = a.files or max(1, (a.services + 1249) // 1250)

    with Sandbox(a.socklb, "socklb-perf") as box:
        cgroup, bpffs = box.cgroup, box.bpffs
        manifests = a.keep_manifests or box.path("manifests")
        if not (a.keep_manifests and os.listdir(manifests)):
            t = time.monotonic()
            subprocess.run([sys.executable, gen_manifests.__file__, "--out", manifests, "--services", str(a.services),
                            "--backends", str(a.backends), "--files", str(files)], check=True)
            print(f"generated {a.services} services x {a.backends} backends in {2 * files} files "
                  f"({sum(os.path.getsize(os.path.join(manifests, f)) for f in os.listdir(manifests)) >> 20} MiB) "
                  f"in {time.monotonic() - t:.1f} s")
        argv = [a.socklb, "run", "--log-format", "json", "--manifests", manifests, "--cgroup", cgroup, "--bpffs", bpffs,
                "--max-services", str(max(65536, a.services * 2)),
                "--max-backends", str(max(262144, a.services * a.backends * 3))]
        if a.perf_record:
            argv = ["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", a.perf_record, "--"] + argv
        elif a.heaptrack:
            argv = ["heaptrack", "-o", a.heaptrack] + argv
        agent = box.start_agent(argv)
        t, sync = agent.wait_sync(0, 300)
        print(f"start: first sync {1000 * (t - agent.started):.0f} ms after exec, agent CPU {agent.cpu_seconds():.2f} s "
              f"| {describe(sync)}")
        cpu_before = agent.cpu_seconds()

        latencies = []
        in_agent = []  # the agent's own: change reaching it -> map writes done
        rng = random.Random(os.getpid())
        change_syncs = set()
        generations = {}  # service -> how often its first endpoint moved: every change stays
        for n in range(a.changes):
            before = len(agent.syncs())
            service = rng.randrange(a.services)
            index, per_file = gen_manifests.file_of(service, a.services, files)
            generations[service] = n + 1
            text = gen_manifests.slice_file_text(index, per_file, a.services, a.backends, generations)
            gen_manifests.write_atomic(os.path.join(manifests, f"slices-{index:03d}.yaml"), text)
            written = time.monotonic()
            t, sync = agent.wait_sync(before, 30)
            change_syncs.add(sync["sync"])
            latencies.append(1000 * (t - written))
            if sync["since_change_ms"] is not None:
                in_agent.append(sync["since_change_ms"])
            if (sync["added"], sync["updated"], sync["removed"]) != (0, 1, 0):
                print(f"change {n} (svc-{service}, slices-{index:03d}.yaml written at +{written - agent.started:.3f} s) "
                      f"gave an unexpected sync at +{t - agent.started:.3f} s:", describe(sync))
            time.sleep(0.03)
        if latencies:
            cpu = (agent.cpu_seconds() - cpu_before) / len(latencies)
            print(f"change: agent CPU {1000 * cpu:.1f} ms per change (average)")
            print(f"change: {len(latencies)} endpoint changes, file write -> sync event: "
                  f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
                  f"max {max(latencies):.1f} ms | last: {describe(sync)}")
        time.sleep(0.1)  # the last change's cleanup
        cleaned = [e["since_change_ms"] for _, e in agent.events("cleanup")
                   if e["sync"] in change_syncs and e["since_change_ms"] is not None]
        if in_agent:
            print(f"change: in the agent (since_change_ms, change noticed -> its writes done, serving it): "
                  f"p50 {percentile(in_agent, 50):.1f} ms, p99 {percentile(in_agent, 99):.1f} ms, "
                  f"max {max(in_agent):.1f} ms")
        if cleaned:
            print(f"change: in the agent (cleanup since_change_ms, change noticed -> the removals of what it "
                  f"replaced, after a grace period): {len(cleaned)} changes, p50 {percentile(cleaned, 50):.1f} ms, "
                  f"p99 {percentile(cleaned, 99):.1f} ms, max {max(cleaned):.1f} ms")
        if a.stream_rate:
            stream(agent, manifests, a, files)
        agent.stop(30)
        rss = agent.peak_rss_mib()
        if rss:
            print(f"memory: peak RSS {rss:.0f} MiB")


CHANGED_SERVICE = re.compile(r"^[~+-][^/]*/svc-(\d+)[ :]")


def event_wall_time(event):
    """The event's `time` (UTC, milliseconds) as seconds since the epoch."""
    return datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def stream(agent, manifests, a, files):
    """Writes a.stream_rate changes a second for a.stream_seconds, on a fixed
    schedule, then waits for the agent to apply the last one; prints per
    change the time from its write to the sync event that lists it."""
    before = len(agent.syncs())
    period = 1.0 / a.stream_rate
    count = int(a.stream_seconds * a.stream_rate)
    rng = random.Random(os.getpid() + 1)
    pending = rng.sample(range(a.services), min(count, a.services))  # one change per service: none supersedes another
    generations = {}
    written = {}  # service -> wall-clock time of its write
    late_writes = 0
    start = time.monotonic()
    for n, service in enumerate(pending):
        due = start + n * period
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now - due > period:
            late_writes += 1
        index, per_file = gen_manifests.file_of(service, a.services, files)
        generations[service] = 1000 + n
        text = gen_manifests.slice_file_text(index, per_file, a.services, a.backends, generations)
        gen_manifests.write_atomic(os.path.join(manifests, f"slices-{index:03d}.yaml"), text)
        written[service] = time.time()
    took = time.monotonic() - start
    served = {}  # service -> wall-clock time of the sync event that listed it
    stream_syncs = []
    omitted = 0
    deadline = time.monotonic() + 30
    while len(served) < len(written) and time.monotonic() < deadline:
        seen = agent.syncs()[before:]
        for _, sync in seen[len(stream_syncs):]:
            stream_syncs.append(sync)
            omitted += sync.get("changes_omitted", 0)
            for change in sync.get("changes", []):
                m = CHANGED_SERVICE.match(change)
                if m and int(m.group(1)) in written:
                    served.setdefault(int(m.group(1)), event_wall_time(sync))
        time.sleep(0.05)
    latencies = [1000 * (served[s] - written[s]) for s in served]
    in_agent = [s["since_change_ms"] for s in stream_syncs if s.get("since_change_ms") is not None]
    print(f"stream: {len(written)} changes written in {took:.2f} s ({len(written) / took:.0f}/s, "
          f"{late_writes} written more than one period late), applied in {len(stream_syncs)} syncs")
    if latencies:
        print(f"stream: change written -> the sync event listing it (wall clock, ms resolution): "
              f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")
    if in_agent:
        print(f"stream: in the agent (since_change_ms of those syncs): p50 {percentile(in_agent, 50):.1f} ms, "
              f"p99 {percentile(in_agent, 99):.1f} ms, max {max(in_agent):.1f} ms")
        for field, what in (("read_ms", "reading the named files"),
                            ("plan_ms", "reconcile and plan, and the rest of the grace period of the previous "
                                        "sync's removals when they were still pending")):
            values = [s[field] for s in stream_syncs]
            print(f"stream: {field} ({what}): p50 {percentile(values, 50):.1f} ms, "
                  f"p99 {percentile(values, 99):.1f} ms")
    missing = len(written) - len(served)
    if missing:
        print(f"stream: {missing} changes not seen in a sync event's changes within 30 s"
              f"{f' ({omitted} changes were omitted from the events: more than 100 in one sync)' if omitted else ''}")


if __name__ == "__main__":
    main()
