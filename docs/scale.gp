# Controller CPU and memory against fleet size, from `go run ./test/bench` at 1k, 10k and 50k
# instances (100 instances per group, 10 groups per cluster, 10% scaled in at once).
# Regenerate with: gnuplot docs/scale.gp (writes docs/scale.png).
$data << EOD
# revision 25d292d, load average 0.4-0.7 at the start of each run
# instances  peakRSSMiB  idleResyncCPUs  drainCPUms  drainCores
1000         40.8        0.123           2.0         0.005
10000        70.1        0.323           2.2         0.049
50000        120.7       1.017           3.3         0.182
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
