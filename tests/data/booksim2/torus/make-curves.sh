#!/usr/bin/env bash
# Produces the BookSim2 torus and ring reference curves in this folder
# (booksim2-torus8x8-uniform-p{1,4}.csv, booksim2-ring16-uniform-p{1,4}.csv,
# and the offered-1.0 throughput runs in booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/torus/make-curves.sh [BOOKSIM]
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

# run NAME K N P RATE SIMTYPE -> prints one CSV row, or nothing if unstable
run() {
  local name=$1 k=$2 n=$3 p=$4 rate=$5 simtype=$6
  local cfg="$here/configs/${name}_p${p}_r${rate}_${simtype}_s0.cfg"
  {
    cat "$here/base.cfg"
    printf 'topology = torus;\nk = %s;\nn = %s;\nrouting_function = dim_order;\n' "$k" "$n"
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
  printf 'torus,%s,%s,dim_order,uniform,%s,%s,%s,%s,%s,%s,%.2f\n' \
    "$k" "$n" "$p" "$rate" "$lat" "$net" "$acc" "$cyc" "$(echo "$t1 - $t0" | bc)"
}

# curve NAME K N P RATES: one latency run per rate, in order, up to the
# first rate BookSim reports unstable (that rate is noted on stderr).
curve() {
  local name=$1 k=$2 n=$3 p=$4 rates=$5 row
  local csv="$here/booksim2-${name}-uniform-p${p}.csv"
  echo "$header" > "$csv"
  for r in $rates; do
    row=$(run "$name" "$k" "$n" "$p" "$r" latency)
    if [ -z "$row" ]; then echo "$name p$p: first unstable rate $r" >&2; rm -f "$here/configs/${name}_p${p}_r${r}_latency_s0.cfg"; break; fi
    echo "$row" >> "$csv"
  done
  echo "wrote $csv ($(($(wc -l < "$csv") - 1)) stable rows)" >&2
}

# A coarse grid, then steps of 0.01 where a first run of the coarse grid
# found the knee.
coarse="0.02 0.05 0.1 0.15 0.2 0.25 0.3"
curve torus8x8 8 2 1 "$coarse 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.4"
curve torus8x8 8 2 4 "$coarse 0.35 0.4 0.45 0.5 0.55 0.6 0.61 0.62 0.63 0.64 0.65 0.66 0.67 0.68 0.69 0.7"
curve ring16 16 1 1 "0.02 0.05 0.1 0.15 0.16 0.17 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25"
curve ring16 16 1 4 "$coarse 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.4"

# Offered 1.0 (every source always has a packet): BookSim's sim_type =
# throughput reports the accepted rate past saturation.
sat="$here/booksim2-saturated.csv"
echo "$header" > "$sat"
for net in "torus8x8 8 2" "ring16 16 1"; do
  set -- $net
  for p in 1 4; do run "$1" "$2" "$3" "$p" 1.0 throughput >> "$sat"; done
done
echo "wrote $sat" >&2
