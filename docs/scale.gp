# Controller CPU and memory against fleet size, from `go run ./test/bench` at 1k, 10k and 50k
# instances (100 instances per group, 10 groups per cluster, 10% scaled in at once).
# Regenerate with: gnuplot docs/scale.gp (writes docs/scale.png).
$data << EOD
# revision d9ab1a1, load average 1.5-1.8 at the start of each run
# instances  peakRSSMiB  idleResyncCPUs  drainCPUms  drainCores
1000         33.7        0.117           2.5         0.006
10000        63.7        0.323           2.5         0.053
50000        112.5       1.060           4.3         0.114
EOD
set terminal pngcairo size 1100,460 font "sans,11"
set output "docs/scale.png"
set multiplot layout 1,2 title "ecs-drainer cost vs fleet size (2-core machine, awssim in a separate process)" font "sans,13"
set logscale x
set xrange [700:70000]
set xtics ("1k" 1000, "10k" 10000, "50k" 50000)
set xlabel "instances in the fleet"
set grid
set title "Memory"
set ylabel "MiB"
set yrange [0:150]
set key bottom right
plot $data using 1:2 with linespoints lw 2 pt 7 ps 1.5 title "controller peak RSS", \
     128 with lines dt 2 lw 1.5 lc rgb "red" title "128 MiB target"
set title "CPU"
set key top left
set ylabel "CPU seconds per idle resync"
set y2label "CPU milliseconds per drain"
set yrange [0:1.2]
set y2range [0:6]
set ytics nomirror
set y2tics
plot $data using 1:3 axes x1y1 with linespoints lw 2 pt 7 ps 1.5 title "per idle resync (left)", \
     $data using 1:4 axes x1y2 with linespoints lw 2 pt 5 ps 1.5 title "per drain (right)"
unset multiplot
