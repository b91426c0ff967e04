set terminal pngcairo size 1000,560 font 'DejaVu Sans,11'
set grid ytics
set key top right
set output '/tmp/benchrun/latency.png'
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
plot '/tmp/benchrun/latency_crr.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'
set title 'RR latency on persistent connections (send() to last reply byte), median of rounds'
plot '/tmp/benchrun/latency_rr.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p90', '' using 4 title 'p99', '' using 5 title 'p99.9'
unset multiplot
