set terminal pngcairo size 1000,560 font 'DejaVu Sans,11'
set grid ytics
set key top right
set output '/tmp/benchrun/scale.png'
set title 'CRR rate against the number of services programmed (median of rounds; direct: the control)'
set logscale x
set rmargin 6
set xtics ('1' 1, '1k' 1000, '10k' 10000, '100k' 100000)
set xlabel 'services'
set ylabel 'connections per second'
set yrange [0:*]
set key bottom left
plot '/tmp/benchrun/scale_direct.dat' using 1:2 with linespoints lc rgb '#777777' dt 2 lw 2 pt 6 title 'direct', '/tmp/benchrun/scale_socklb.dat' using 1:2 with linespoints lc rgb '#aa3377' lw 2 pt 7 title 'socklb', '/tmp/benchrun/scale_iptables.dat' using 1:2 with linespoints lc rgb '#228833' lw 2 pt 7 title 'iptables', '/tmp/benchrun/scale_nftables.dat' using 1:2 with linespoints lc rgb '#4477aa' lw 2 pt 7 title 'nftables'
