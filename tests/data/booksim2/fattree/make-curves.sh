#!/usr/bin/env bash
# Produces the BookSim2 fat-tree curves in this folder: a 4-ary 3-tree (64
# nodes) with nearest-common-ancestor routing, random up-port choice
# (booksim2-fattree64-nca-uniform-p{1,4}.csv), the same with adaptive up-port
# choice near the knee, for comparison (booksim2-fattree64-anca-uniform-p{1,4}.csv),
# and the offered-1.0 throughput runs of both (booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/fattree/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit
#   28f43299, unmodified; see ../shared/tools/booksim2/README.md).
#
# Every run's config is base.cfg (the mesh88_lat parameters of the mesh
# reference, ../shared/reference/noc/README.md) with the topology, routing,
# packet size, injection rate and sim_type lines below appended. The exact
# config of each row is written to configs/ as it runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
booksim=${1:-$root/../shared/tools/booksim2/booksim}
[ -x "$booksim" ] || { echo "no BookSim binary at $booksim" >&2; exit 1; }
mkdir -p "$here/configs"
header=topology,k,n,routing,traffic,packet_size,injection_rate,avg_packet_latency,avg_network_latency,accepted_flits_per_node_cycle,simulated_cycles,wall_seconds
k=4
n=3

# run ROUTING P RATE SIMTYPE -> prints one CSV row, or nothing if unstable.
# ROUTING: nca (fattree_nca: up-port at random) or anca (fattree_anca: the
# less loaded of two up-ports drawn at random).
run() {
  local routing=$1 p=$2 rate=$3 simtype=$4
  local cfg="$here/configs/fattree64_${routing}_p${p}_r${rate}_${simtype}_s0.cfg"
  {
    cat "$here/base.cfg"
    printf 'topology = fattree;\nk = %s;\nn = %s;\nrouting_function = %s;\n' "$k" "$n" "$routing"
    printf 'packet_size = %s;\ninjection_rate = %s;\nsim_type = %s;\n' "$p" "$rate" "$simtype"
  } > "$cfg"
  local out t0 t1
  t0=$(date +%s.%N)
  out=$("$booksim" "$cfg" 2>&1 || true)
  t1=$(date +%s.%N)
  if grep -q "unstable" <<<"$out"; then return 0; fi
  local overall lat net acc cyc
  overall=$(sed -n '/Overall Traffic Statistics/,$p' <<<"$out")
  lat=$(grep -m1 "Packet latency average" <<<"$overall" | awk '{print $5}')
  net=$(grep -m1 "Network latency average" <<<"$overall" | awk '{print $5}')
  acc=$(grep -m1 "Accepted flit rate average" <<<"$overall" | awk '{print $6}')
  cyc=$(grep -m1 "Time taken is" <<<"$out" | awk '{print $4}')
  [ -n "$lat" ] && [ -n "$acc" ] || { echo "no statistics from $cfg" >&2; exit 1; }
  printf 'fattree,%s,%s,%s,uniform,%s,%s,%s,%s,%s,%s,%.2f\n' \
    "$k" "$n" "$routing" "$p" "$rate" "$lat" "$net" "$acc" "$cyc" "$(echo "$t1 - $t0" | bc)"
}

# curve ROUTING P RATES: one latency run per rate, in order, up to the
# first rate BookSim reports unstable (that rate is noted on stderr).
curve() {
  local routing=$1 p=$2 rates=$3 row
  local csv="$here/booksim2-fattree64-${routing}-uniform-p${p}.csv"
  echo "$header" > "$csv"
  for r in $rates; do
    row=$(run "$routing" "$p" "$r" latency)
    if [ -z "$row" ]; then
      echo "fattree64 $routing p$p: first unstable rate $r" >&2
      rm -f "$here/configs/fattree64_${routing}_p${p}_r${r}_latency_s0.cfg"
      break
    fi
    echo "$row" >> "$csv"
  done
  echo "wrote $csv ($(($(wc -l < "$csv") - 1)) stable rows)" >&2
}

# The channel-load bound under uniform traffic is 1.0 (the injection and
# ejection channels; a k-ary n-tree has full bisection): a coarse grid, then
# steps of 0.01 where a first run of the coarse grid found the knee.
coarse="0.02 0.05 0.1 0.2 0.3 0.4 0.5 0.6"
curve nca 1 "$coarse 0.61 0.62 0.63 0.64 0.65 0.66 0.67 0.68 0.69 0.7 0.71 0.72 0.73 0.74 0.75 0.76 0.77 0.78 0.79 0.8"
curve nca 4 "$coarse 0.65 0.7 0.75 0.76 0.77 0.78 0.79 0.8 0.81 0.82 0.83 0.84 0.85 0.86 0.87 0.88 0.89 0.9"
curve anca 1 "0.02 0.5 0.6 0.62 0.64 0.66 0.68 0.7 0.72 0.74 0.76 0.78 0.8"
curve anca 4 "0.02 0.5 0.6 0.7 0.75 0.78 0.8 0.82 0.84 0.86 0.88 0.9"

# Offered 1.0 (every source always has a packet): BookSim's sim_type =
# throughput reports the accepted rate past saturation.
sat="$here/booksim2-saturated.csv"
echo "$header" > "$sat"
for routing in nca anca; do
  for p in 1 4; do run "$routing" "$p" 1.0 throughput >> "$sat"; done
done
echo "wrote $sat" >&2
