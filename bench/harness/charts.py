"""PNG charts with gnuplot (Debian's gnuplot-nox): CRR rate per mode,
latency percentiles per mode, CRR against the number of services."""

import os

from system import run

STYLE = "set terminal pngcairo size 1000,560 font 'DejaVu Sans,11'\nset grid ytics\nset key top right\n"


def _write(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(" ".join(str(x) for x in r) + "\n")


def crr_rate_chart(outdir, rows):
    """rows: (mode, median, min, max) connections/s."""
    data = os.path.join(outdir, "crr_rate.dat")
    _write(data, [(m, med, lo, hi) for m, med, lo, hi in rows])
    script = STYLE + f"""set output '{outdir}/crr_rate.png'
set title 'CRR: new connection, 64 B request, 64 B reply, close (median of rounds, bars: min-max)'
set ylabel 'connections per second'
set yrange [0:*]
set style fill solid 0.6 border -1
set boxwidth 0.6
unset key
plot '{data}' using 0:2:xtic(1) with boxes lc rgb '#4477aa', \\
     '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0, \\
     '' using 0:2:(sprintf('%.0f', $2)) with labels offset 0,1.5
"""
    _plot(outdir, "crr_rate", script)


def latency_chart(outdir, crr_rows, rr_rows):
    """rows: (mode, p50, p90, p99, p99.9) in microseconds."""
    parts = []
    for name, rows in (("crr", crr_rows), ("rr", rr_rows)):
        data = os.path.join(outdir, f"latency_{name}.dat")
        _write(data, rows)
        parts.append(data)
    script = STYLE + f"""set output '{outdir}/latency.png'
set terminal pngcairo size 1000,800 font 'DejaVu Sans,11'
set multiplot layout 2,1
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set logscale y
set yrange [10:*]
set ylabel 'microseconds (log)'
set key outside right vertical
set title 'CRR latency (connect() to last reply byte), median of rounds'
plot '{parts[0]}' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'
set title 'RR latency on persistent connections (send() to last reply byte), median of rounds'
plot '{parts[1]}' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'
unset multiplot
"""
    _plot(outdir, "latency", script)


def scale_chart(outdir, series):
    """series: {mode: [(services, median conn/s), ...]}"""
    plots = []
    for mode, points in series.items():
        data = os.path.join(outdir, f"scale_{mode}.dat")
        _write(data, points)
        color = {"direct": "#777777", "socklb": "#aa3377", "iptables": "#228833", "nftables": "#4477aa"}.get(mode, "black")
        style = f"lc rgb '{color}' " + ("dt 2 lw 2 pt 6" if mode == "direct" else "lw 2 pt 7")
        plots.append(f"'{data}' using 1:2 with linespoints {style} title '{mode}'")
    script = STYLE + f"""set output '{outdir}/scale.png'
set title 'CRR rate against the number of services programmed (median of rounds; direct: the control)'
set logscale x
set rmargin 6
set xtics ('1' 1, '1k' 1000, '10k' 10000, '100k' 100000)
set xlabel 'services'
set ylabel 'connections per second'
set yrange [0:*]
set key bottom left
plot {', '.join(plots)}
"""
    _plot(outdir, "scale", script)


def _plot(outdir, name, script):
    path = os.path.join(outdir, f"{name}.gp")
    with open(path, "w") as f:
        f.write(script)
    run(["gnuplot", path])
