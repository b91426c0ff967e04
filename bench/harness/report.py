"""report.md from a run's results: tables of medians over rounds, ratios to
socklb, the targets of issue 3 met or missed, the machine, every command."""

import json
import os
import statistics

import charts
import report_sweep


def med(runs, key):
    vals = [key(r) for r in runs]
    return statistics.median(vals) if vals else 0.0


def rate(r):
    return r["ops_per_s"]


def cpu_per_100k(r):
    return (r["cpu_client_s"] + r["cpu_others_s"]) / r["ops"] * 1e5 if r["ops"] else 0.0


def machine_cpu_per_100k(r):
    return r["cpu_machine_s"] / r["ops"] * 1e5 if r["ops"] else 0.0


def pct(r, p):
    return r["latency_us"][p]


def ratio(a, b):
    return a / b if b else float("nan")


def paired_ratio(runs_a, runs_b, key):
    """Median over rounds of key(a) / key(b), a and b from the same round:
    runs seconds apart share the machine's background load, so the ratio
    is steadier than a ratio of medians taken over minutes."""
    by_round = {r["round"]: key(r) for r in runs_b}
    vals = [key(a) / by_round[a["round"]] for a in runs_a if by_round.get(a["round"])]
    return statistics.median(vals) if vals else float("nan")


def problems(results):
    """What makes a run fail (quick mode in CI): a failed mode or no data."""
    out = list(results.get("failures", []))
    for workload, modes in results.get("compare", {}).items():
        for mode, runs in modes.items():
            if not runs:
                out.append(f"{mode}/{workload}: no completed run")
    for step in results.get("sweep", []):
        for mode, runs in step["crr"].items():
            if not runs or not all(r["ops"] > 0 for r in runs):
                out.append(f"sweep {step['services']} services, {mode}: no data")
    return sorted(set(out))


def check_count(results):
    """Mode x workload runs and sweep points: what problems() looks at."""
    return (sum(len(modes) for modes in results.get("compare", {}).values())
            + sum(len(step["crr"]) for step in results.get("sweep", [])) + len(results.get("hook_cost", {})))


def write(outdir, results):
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = []
    w = lines.append
    m = results["machine"]
    cmp_ = results.get("compare", {})
    w(f"# socklb benchmark report\n")
    if results["plan"]["rounds"] < 3:
        w("**Smoke run (`--quick`)**: proves the harness works; too short to judge any number.\n")
    w(f"Command: `{results['command']}` (took {results['elapsed_s'] / 60:.1f} min). "
      f"Raw numbers: [results.json](results.json).\n")
    w("## Machine\n")
    w(f"- kernel {m['kernel']}, {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']:.0f} GiB")
    w(f"- load average (1/5/15 min) before: {results['loadavg_before']}, after: {results['loadavg_after']} "
      "(the machine is shared; only ratios from interleaved rounds are meaningful)")
    w("- " + "; ".join(f"{v}" for v in m["versions"].values()))
    w(f"- IPVS: {results['ipvs']}; there is no IPVS column rather than a fake one\n")
    p = results["plan"]
    w("## Method\n")
    w(f"- A node made of network namespaces: a bridge namespace, {4} pod namespaces running "
      "`socklb-bench-server` (epoll, 64 B reply per 64 B request; a discard port for STREAM), client "
      "namespaces and one namespace per proxy, each joined to the bridge by a veth pair. The same 4 pods "
      "serve every mode.")
    w("- Modes: **direct** (client connects to the pod IPs, round-robin), **socklb** (to the ClusterIP, "
      "client in the agent's cgroup), **iptables** (kube-proxy's iptables-mode nat rules: KUBE-SERVICES -> "
      "KUBE-SVC-* with `statistic --mode random` -> KUBE-SEP-* DNAT, in the client namespace), **nftables** "
      "(kube-proxy's nftables-mode structure: a `service-ips` verdict map on daddr . proto . dport -> service "
      "chain -> `numgen random` vmap -> endpoint chain with dnat), **haproxy** and **nginx** (stream) "
      "in TCP mode.")
    w(f"- {p['rounds']} rounds; each round runs every mode once, starting from a different mode each round; "
      f"{p['duration']} s measured after {p['warmup']} s warm-up per run. Tables show the median over rounds.")
    w("- Load: CRR 2 threads x 16 connections in flight; RR 1 thread x 4 persistent connections; "
      "STREAM 1 connection, 64 KiB writes. Latency percentiles from all samples of a run (sorted).")
    w("- CPU s/100k = CPU seconds of the client (getrusage) + the 4 servers + the proxy (from /proc) per "
      "100,000 operations. Machine CPU s/100k = all CPUs' busy time (/proc/stat, includes softirq work "
      "and other users of this shared machine).")
    w("- Every namespace: `ip_local_port_range 1024 65535`, `tcp_tw_reuse 1`, `somaxconn 8192`. The "
      "iptables/nftables client namespaces route 10.96.0.0/12 to `lo` (the route lookup precedes OUTPUT "
      "DNAT) and set `nf_conntrack_tcp_timeout_time_wait=5` so CRR does not fill the machine-wide conntrack "
      "table (on a real node it stays 120 s).")
    for name, settings in results.get("proxy_settings", {}).items():
        w(f"- {name}: " + "; ".join(settings) + f" (config in the appendix)")
    w("")

    targets = []
    if cmp_:
        w("## CRR: connections per second\n")
        w(_compare_table(cmp_["crr"], lambda r: f"{rate(r):.0f}", rate, "conn/s"))
        w("![CRR rate per mode](crr_rate.png)\n")
        w("## RR: requests per second on persistent connections\n")
        w(_compare_table(cmp_["rr"], lambda r: f"{rate(r):.0f}", rate, "req/s"))
        w("![Latency percentiles per mode](latency.png)\n")
        if results.get("bpf_stats"):
            w("socklb's programs during these runs (`kernel.bpf_stats_enabled`): " + ", ".join(
                f"{hook} {s['ns_per_call']:.0f} ns per call ({s['calls']} calls)"
                for hook, s in results["bpf_stats"].items()) + ".")
            c4 = results["bpf_stats"].get("connect4")
            per_conn_us = med(cmp_["crr"]["socklb"], cpu_per_100k) * 10   # s per 100k -> us per connection
            if c4 and per_conn_us:
                w(f"That is {c4['ns_per_call'] / 1000 / per_conn_us:.1%} of the {per_conn_us:.0f} us of CPU "
                  "(client, servers) one CRR connection costs: what socklb adds to a connection, measured "
                  "without the noise of the machine.")
            w("")
        w("## STREAM: bulk throughput, one connection\n")
        w("| mode | Gbit/s (median) | min-max | CPU s per GB (processes) | socklb / mode |")
        w("|---|---|---|---|---|")
        s_sock = med(cmp_["stream"]["socklb"], lambda r: r["gbit_per_s"])
        for mode, runs in cmp_["stream"].items():
            g = med(runs, lambda r: r["gbit_per_s"])
            vals = [r["gbit_per_s"] for r in runs] or [0]
            cpu_gb = med(runs, lambda r: (r["cpu_client_s"] + r["cpu_others_s"]) / (r["bytes"] / 1e9)
                         if r["bytes"] else 0)
            w(f"| {mode} | {g:.2f} | {min(vals):.2f}-{max(vals):.2f} | {cpu_gb:.3f} | {ratio(s_sock, g):.2f} |")
        w("")
        targets += _compare_targets(cmp_)
        charts.crr_rate_chart(outdir, [
            (mode, med(runs, rate), min([rate(r) for r in runs] or [0]), max([rate(r) for r in runs] or [0]))
            for mode, runs in cmp_["crr"].items()])
        charts.latency_chart(outdir, *[[(mode,) + tuple(med(runs, lambda r, q=q: pct(r, q))
                                                         for q in ("p50", "p90", "p99", "p99.9"))
                                        for mode, runs in cmp_[wl].items()] for wl in ("crr", "rr")])
    if results.get("hook_cost"):
        targets += _hook_cost(w, results["hook_cost"], results.get("hook_cost_baseline"),
                              results.get("hook_cost_baseline_build"), results.get("hook_cost_traced"),
                              results.get("hook_cost_trace_events"))
    if results.get("sweep"):
        targets.append(report_sweep.write_sweep(w, outdir, results["sweep"]))
    if results.get("control_plane"):
        w("## Control plane\n")
        w("Time to program N services x 10 backends: socklb from the manifest files appearing in the watched "
          "directory to the agent's sync that serves them (parse, reconcile, plan, map writes); kube-proxy's "
          "rules from `iptables-restore` / `nft -f` start to exit (the rule text generated beforehand). Each "
          "starts from the measured service alone. Peak memory: the agent's VmHWM over its life, and the "
          "peak RSS of iptables-restore / nft; socklb's kernel maps as bpftool reports them.\n")
        w("| services x 10 backends | socklb | socklb agent peak RSS / maps | iptables-restore | peak RSS | "
          "nft -f | peak RSS |")
        w("|---|---|---|---|---|---|---|")
        for row in results["control_plane"]:
            s = row["socklb"]
            cells = []
            for mode in ("iptables", "nftables"):
                r = row[mode]
                if r["seconds"] is not None:
                    cells += [f"{r['seconds']:.2f} s", f"{r['peak_rss_mib']:.0f} MiB"]
                elif "projected_s" in r:
                    cells += [f"not run: >= {r['projected_s']:.0f} s projected from the size before "
                              f"(limit {r['timeout_s']} s)", "-"]
                else:
                    cells += [f"not done in {r['timeout_s']} s (stopped)", "-"]
            w(f"| {row['services']} | {s['seconds']:.2f} s | {s['peak_rss_mib']:.0f} MiB / {s['map_mib']:.0f} MiB | "
              + " | ".join(cells) + " |")
            if row["services"] == 10000:
                targets.append(("10k services x 10 backends programmed (socklb)", "<= 0.5 s",
                                f"{s['seconds']:.2f} s", s["seconds"] <= 0.5))
            if row["services"] == 100000:
                targets.append(("100k services x 10 backends programmed (socklb)", "<= 3 s",
                                f"{s['seconds']:.2f} s", s["seconds"] <= 3))
                targets.append(("agent peak RSS at 100k services x 10 backends", "<= 300 MiB",
                                f"{s['peak_rss_mib']:.0f} MiB", s["peak_rss_mib"] <= 300))
        w("")
        for row in results["control_plane"]:
            if "endpoint_change" in row:
                samples = sorted(row["endpoint_change"])
                p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
                agent = sorted(x for x in row.get("endpoint_change_agent_ms", []) if x is not None)
                agent_p99 = agent[min(len(agent) - 1, int(0.99 * len(agent)))] if agent else None
                cleaned = sorted(x for x in row.get("endpoint_change_cleanup_ms", []) if x is not None)
                cleaned_p99 = cleaned[min(len(cleaned) - 1, int(0.99 * len(cleaned)))] if cleaned else None
                w(f"Endpoint change at {row['services']} services: the measured service's EndpointSlice "
                  f"rewritten (write + rename) to a different pod, timed to the first connect that reaches it "
                  f"(a client connecting in a loop), {len(samples)} changes: median "
                  f"{statistics.median(samples) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
                  f"{samples[-1] * 1000:.1f} ms. "
                  + (f"The agent's own figure for the same changes (its sync event's `since_change_ms`: the change "
                     f"reaching it to its writes done, the new pod served): median {statistics.median(agent):.2f} ms, "
                     f"p99 {agent_p99:.2f} ms. " if agent else "")
                  + (f"To the removals of what those writes replaced (its cleanup event's `since_change_ms`, one "
                     f"grace period for the programs in flight later): median {statistics.median(cleaned):.2f} ms, "
                     f"p99 {cleaned_p99:.2f} ms. " if cleaned else "")
                  + f"The agent used {results.get('agent_cpu_per_change_s', 0) * 1000:.1f} ms of CPU per change.\n")
                if results.get("agent_profile"):
                    w("Where the agent spends an endpoint change (`perf record -F 999 -p <agent>` over the first "
                      "two changes, `perf report --no-children --sort dso,symbol`):\n")
                    w("```\n" + results["agent_profile"] + "\n```\n")
                big = row["services"] >= 100000
                targets.append((f"one endpoint change at {row['services']} services, rename to first connect",
                                "<= 50 ms p99", f"{p99 * 1000:.1f} ms", p99 <= 0.05 if big else None))
                if agent:
                    targets.append((f"one endpoint change at {row['services']} services, the agent's own figure",
                                    "<= 20 ms p99", f"{agent_p99:.2f} ms", agent_p99 <= 20 if big else None))
    if results.get("pipeline"):
        w("## The control plane alone\n")
        w("`socklb-control-plane-bench` (bench/control_plane/pipeline_bench.cpp): a source's events -> object store "
          "-> reconcile -> plan -> apply, in one process, against maps held in memory (no kernel, no YAML). *Cold*: "
          "every service arriving in one batch; *heap per service*: bytes in use after it (mallinfo2), the store, "
          "the desired state, the carried kernel state and the endpoint listing together, the in-memory maps "
          "left out; *one change*: one EndpointSlice upserted, 200 times. Cilium's new load-balancer control "
          "plane, by its own benchmark with fake maps: 50,000 services in 708 ms, about 70,000 services/s and "
          "about 3.5 KB of heap per service (figures as quoted in issue 11, not measured here).\n")
        w("| services x backends | cold | service upserts/s | heap per service | one change p50 / p99 / max | command |")
        w("|---|---|---|---|---|---|")
        for r in results["pipeline"]:
            w(f"| {r['services']} x {r['backends_per_service']} | {r['cold_ms']:.0f} ms | {r['upserts_per_s']:.0f} | "
              f"{r['heap_bytes_per_service']:.0f} B | {r['change_p50_ms']:.3f} / {r['change_p99_ms']:.3f} / "
              f"{r['change_max_ms']:.3f} ms | `{r['command']}` |")
            if r["backends_per_service"] == 1 and r["services"] >= 50000:
                targets.append((f"control plane alone: service upserts/s ({r['services']} x 1)", ">= 100,000",
                                f"{r['upserts_per_s']:.0f}", r["upserts_per_s"] >= 100000))
                targets.append((f"control plane alone: heap per service ({r['services']} x 1)", "<= 2 KB",
                                f"{r['heap_bytes_per_service']:.0f} B", r["heap_bytes_per_service"] <= 2048))
        w("")
    w("## Targets\n")
    w("| target | wanted | measured | met |")
    w("|---|---|---|---|")
    for name, want, got, ok in targets:
        verdict = "n/a (the target is for 100,000 services)" if ok is None else ("yes" if ok else "**no**")
        w(f"| {name} | {want} | {got} | {verdict} |")
    w("")
    fails = problems(results)
    if fails:
        w("## Failures\n")
        for f in fails:
            w(f"- {f}")
        w("")
    w("## Every command line\n")
    w("```")
    for c in results.get("commands", []):
        w(c)
    w("```\n")
    w("## Appendix: proxy configurations\n")
    for name, cfg in results.get("proxy_configs", {}).items():
        w(f"{name}:\n```\n{cfg}```\n")
    path = os.path.join(outdir, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _compare_table(runs_by_mode, show, key, unit):
    sock = med(runs_by_mode["socklb"], key)
    out = [f"| mode | {unit} (median) | min-max | p50 us | p90 us | p99 us | p99.9 us | CPU s/100k (processes) | "
           "machine CPU s/100k | errors | socklb / mode (paired) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for mode, runs in runs_by_mode.items():
        if not runs:
            out.append(f"| {mode} | failed | | | | | | | | | |")
            continue
        vals = [key(r) for r in runs]
        errs = sum(sum(r["errors"].values()) for r in runs)
        out.append(f"| {mode} | {med(runs, key):.0f} | {min(vals):.0f}-{max(vals):.0f} | "
                   + " | ".join(f"{med(runs, lambda r, q=q: pct(r, q)):.0f}" for q in ("p50", "p90", "p99", "p99.9"))
                   + f" | {med(runs, cpu_per_100k):.2f} | {med(runs, machine_cpu_per_100k):.2f} | {errs} | "
                   f"{paired_ratio(runs_by_mode['socklb'], runs, key):.2f} |")
    return "\n".join(out) + "\n"


# What the connect hook may cost (issue 8), per kind of destination.
HOOK_TARGETS = {"clusterip": ("a new TCP connect to a ClusterIP", 400),
                "other": ("a connect to any other address", 150)}


def _hook_cost(w, cost, baseline=None, baseline_build=None, traced=None, trace_events=None):
    w("## What the connect hook costs per connect\n")
    w("CRR from the socklb client (in the agent's cgroup) to one kind of destination at a time; the run time of "
      "the `connect4` program per call, from `kernel.bpf_stats_enabled` over that run alone; median over rounds."
      + (f" *Before* is the agent of `{baseline_build}`, run in the same rounds (each round runs both, in turn)."
         if baseline else "")
      + (" *Traced* is this build again with `socklb trace -o json > /dev/null` running, in the same rounds"
         + (f" (it showed {trace_events['shown']} decisions and lost {trace_events['lost']})" if trace_events else "")
         + "." if traced else "") + "\n")
    labels = {"clusterip": "the ClusterIP (translated)", "other": "an address that is no service's or pod's",
              "pod_direct": "a pod of the service, dialled directly (marked so getpeername shows the pod)"}
    if baseline:
        t_head = " traced: ns per call | traced / now |" if traced else ""
        w("| destination | target | before: ns per call | now: ns per call | now / before | calls (now) |" + t_head)
        w("|---|---|---|---|---|---|" + ("---|---|" if traced else ""))
        for name, c in cost.items():
            b = baseline.get(name, {}).get("ns_per_call", float("nan"))
            t_cells = ""
            if traced:
                t = traced.get(name, {}).get("ns_per_call", float("nan"))
                t_cells = f" {t:.0f} | {ratio(t, c['ns_per_call']):.2f} |"
            w(f"| {labels.get(name, name)} | `{c['target']}` | {b:.0f} | {c['ns_per_call']:.0f} | "
              f"{ratio(c['ns_per_call'], b):.2f} | {c['calls']} |" + t_cells)
    else:
        w("| destination | target | connect4 ns per call | calls |" + (" traced: ns per call |" if traced else ""))
        w("|---|---|---|---|" + ("---|" if traced else ""))
        for name, c in cost.items():
            t = f" {traced.get(name, {}).get('ns_per_call', float('nan')):.0f} |" if traced else ""
            w(f"| {labels.get(name, name)} | `{c['target']}` | {c['ns_per_call']:.0f} | {c['calls']} |" + t)
    w("")
    out = []
    for name, (what, limit) in HOOK_TARGETS.items():
        if name in cost:
            got = cost[name]["ns_per_call"]
            out.append((f"connect4 run time, {what}", f"<= {limit} ns", f"{got:.0f} ns", got <= limit))
    return out


def _compare_targets(cmp_):
    crr, rr, stream = cmp_["crr"], cmp_["rr"], cmp_["stream"]
    t = []
    r = paired_ratio(crr["socklb"], crr["direct"], rate)
    t.append(("socklb CRR vs direct", ">= 0.95x", f"{r:.3f}x", r >= 0.95))
    r = paired_ratio(rr["socklb"], rr["direct"], lambda x: pct(x, "p99"))
    t.append(("socklb RR p99 latency vs direct", "<= 1.05x", f"{r:.3f}x", r <= 1.05))
    r = paired_ratio(stream["socklb"], stream["direct"], lambda x: x["gbit_per_s"])
    spread = [x["gbit_per_s"] for x in cmp_["stream"]["direct"]]
    noise = (max(spread) - min(spread)) / statistics.median(spread) if spread and statistics.median(spread) else 0
    t.append(("socklb STREAM vs direct", f"= 1 within noise (direct's own spread {noise:.0%})", f"{r:.3f}x",
              abs(r - 1) <= max(noise, 0.05)))
    for peer, want in (("haproxy", 2.0), ("nginx", 2.0), ("iptables", 1.2)):
        r = paired_ratio(crr["socklb"], crr[peer], rate)
        t.append((f"socklb CRR vs {peer}" + (" at 1 service" if peer == "iptables" else ""), f">= {want}x",
                  f"{r:.2f}x", r >= want))
    return t
