"""The scale sweep's section of report.md: CRR against the number of
services, each mode normalised by direct in the same round."""

import statistics

import charts

SWEPT = ("socklb", "iptables", "nftables")


def _median(vals):
    return statistics.median(vals) if vals else float("nan")


def _rate_median(runs):
    return _median([r["ops_per_s"] for r in runs])


def _vs_direct(step, mode):
    """Median over rounds of mode's rate / direct's rate in the same round."""
    direct = {r["round"]: r["ops_per_s"] for r in step["crr"]["direct"]}
    return _median([r["ops_per_s"] / direct[r["round"]] for r in step["crr"][mode] if direct.get(r["round"])])


def write_sweep(w, outdir, sweep):
    """Writes the section; returns the target row for socklb at the largest size."""
    w("## CRR against the number of services\n")
    w("One measured service (in the middle of KUBE-SERVICES for iptables), the rest filler services with one "
      "backend each (for nftables the fillers' map entries share one chain: the per-packet path is one map "
      "lookup either way, and it keeps 100k services loadable in seconds). `direct` runs in every round as "
      "the control: it does not depend on the services, so *mode / direct in the same round* cancels the "
      "drift of the shared machine between sweep steps minutes apart; *vs 1 service* compares those "
      "normalised values. *socklb connect4 ns/call* is the run time of socklb's connect hook over the step "
      "(`kernel.bpf_stats_enabled`): the datapath cost itself, free of the machine's noise.\n")
    w("| services | direct conn/s | socklb conn/s | iptables conn/s | nftables conn/s | socklb / direct | "
      "iptables / direct | nftables / direct | socklb vs 1 service | iptables vs 1 service | "
      "nftables vs 1 service | socklb connect4 ns/call | programmed in (socklb / iptables / nft) |")
    w("|" + "---|" * 13)
    base = {m: _vs_direct(sweep[0], m) for m in SWEPT}
    series = {m: [] for m in ("direct",) + SWEPT}
    norm = {m: [] for m in SWEPT}
    for step in sweep:
        meds = {m: _rate_median(runs) for m, runs in step["crr"].items()}
        rel = {m: _vs_direct(step, m) for m in SWEPT}
        for m in series:
            series[m].append((step["services"], meds[m]))
        for m in SWEPT:
            norm[m].append(rel[m] / base[m])
        pr = step["program"]
        w(f"| {step['services']} | " + " | ".join(f"{meds[m]:.0f}" for m in series) + " | "
          + " | ".join(f"{rel[m]:.3f}" for m in SWEPT) + " | "
          + " | ".join(f"{norm[m][-1]:.3f}" for m in SWEPT) + " | "
          + f"{step.get('bpf_stats', {}).get('connect4', {}).get('ns_per_call', float('nan')):.0f} | "
          + f"{pr['socklb']:.2f} / {pr['iptables']:.2f} / {pr['nftables']:.2f} s |")
    n_last = sweep[-1]["services"]
    if n_last > 1:
        w(f"\nSlope from 1 to {n_last:,} services, in share of the 1-service rate lost per 10,000 services "
          "(normalised by direct): " + ", ".join(
              f"{m} {(1 - norm[m][-1]) / (n_last - 1) * 10000 * 100:.2f}%" for m in SWEPT) + ".\n")
    w("![CRR against the number of services](scale.png)\n")
    charts.scale_chart(outdir, series)
    got = norm["socklb"][-1]
    return (f"socklb CRR at {n_last:,} services within 5% of 1 service (normalised by direct)", ">= 0.95",
            f"{got:.3f} (iptables {norm['iptables'][-1]:.3f}, nftables {norm['nftables'][-1]:.3f})",
            got >= 0.95 if n_last >= 100000 else None)
