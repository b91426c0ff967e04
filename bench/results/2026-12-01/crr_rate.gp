set terminal pngcairo size 1000,560 font 'DejaVu Sans,11'
set grid ytics
set key top right
set output '/tmp/benchrun/crr_rate.png'
set title 'CRR: new connection, 64 B request, 64 B reply, close (median of rounds, bars: min-max)'
set ylabel 'connections per second'
set yrange [0:*]
set style fill solid 0.6 border -1
set boxwidth 0.6
unset key
plot '/tmp/benchrun/crr_rate.dat' using 0:2:xtic(1) with boxes lc rgb '#4477aa', \
     '' using 0:2:3:4 with yerrorbars lc rgb 'black' pt 0, \
     '' using 0:2:(sprintf('%.0f', $2)) with labels offset 0,1.5
