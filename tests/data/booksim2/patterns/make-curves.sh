#!/usr/bin/env bash
# Produces the BookSim2 reference curves of the 8x8 mesh under the transpose
# and bitcomp traffic patterns in this folder
# (booksim2-mesh8x8-{transpose,bitcomp}-p{1,4}.csv, and the offered-1.0
# throughput runs in booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/patterns/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit
#   28f43299, unmodified; see ../shared/tools/booksim2/README.md).
#
# Every run's config is base.cfg (the mesh reference's config,
# ../shared/reference/noc/README.md: mesh88_lat, 8x8 mesh, dor,
# use_noc_latency = 1) with the traffic, packet size, injection rate and
# sim_type lines below appended. The exact config of each row is written to
# configs/ as it runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
booksim=${1:-$root/../shared/tools/booksim2/booksim}
[ -x "$booksim" ] || { echo "no BookSim binary at $booksim" >&2; exit 1; }
mkdir -p "$here/configs"
header=topology,k,n,routing,traffic,packet_size,injection_rate,avg_packet_latency,avg_network_latency,accepted_flits_per_node_cycle,simulated_cycles,wall_seconds

# run TRAFFIC P RATE SIMTYPE -> prints one CSV row, or nothing if unstable
run() {
  local traffic=$1 p=$2 rate=$3 simtype=$4
  local cfg="$here/configs/mesh_k8_n2_${traffic}_p${p}_r${rate}_${simtype}_s0.cfg"
  {
    cat "$here/base.cfg"
    printf 'traffic = %s;\npacket_size = %s;\ninjection_rate = %s;\nsim_type = %s;\n' \
      "$traffic" "$p" "$rate" "$simtype"
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
  printf 'mesh,8,2,dor,%s,%s,%s,%s,%s,%s,%s,%.2f\n' \
    "$traffic" "$p" "$rate" "$lat" "$net" "$acc" "$cyc" "$(echo "$t1 - $t0" | bc)"
}

# curve TRAFFIC P RATES: one latency run per rate, in order, up to the first
# rate BookSim reports unstable (that rate is noted on stderr).
curve() {
  local traffic=$1 p=$2 rates=$3 row
  local csv="$here/booksim2-mesh8x8-${traffic}-p${p}.csv"
  echo "$header" > "$csv"
  for r in $rates; do
    row=$(run "$traffic" "$p" "$r" latency)
    if [ -z "$row" ]; then
      echo "$traffic p$p: first unstable rate $r" >&2
      rm -f "$here/configs/mesh_k8_n2_${traffic}_p${p}_r${r}_latency_s0.cfg"
      break
    fi
    echo "$row" >> "$csv"
  done
  echo "wrote $csv ($(($(wc -l < "$csv") - 1)) stable rows)" >&2
}

# Under XY routing the busiest channel carries 7 sources' packets under
# transpose (row 7 into the diagonal tile (7,7), and its mirror) and 4 under
# bitcomp (every row and column's middle link), so the channel-load bounds
# are 1/7 = 0.143 and 1/4 = 0.25 flits/node/cycle: a coarse grid, then steps
# of 0.01 up to past the bound.
curve transpose 1 "0.02 0.05 0.08 0.1 0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.2"
curve transpose 4 "0.02 0.05 0.08 0.1 0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.2"
curve bitcomp 1 "0.02 0.05 0.1 0.15 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28"
curve bitcomp 4 "0.02 0.05 0.1 0.15 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28"

# Offered 1.0 (every source always has a packet): BookSim's sim_type =
# throughput reports the accepted rate past saturation.
sat="$here/booksim2-saturated.csv"
echo "$header" > "$sat"
for traffic in transpose bitcomp; do
  for p in 1 4; do run "$traffic" "$p" 1.0 throughput >> "$sat"; done
done
echo "wrote $sat" >&2
