#!/usr/bin/env bash
# Produces the BookSim2 reference curves of the mesh88_lat network at other
# sizes than the 8x8 it was validated on, in this folder:
# booksim2-{mesh4x4,mesh16x16,torus4x4}-uniform-p{1,4}.csv, and the
# offered-1.0 throughput runs in booksim2-saturated.csv.
#
# Usage: tests/data/booksim2/sizes/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit
#   28f43299, unmodified; see ../shared/tools/booksim2/README.md).
#
# Every run's config is base.cfg (the mesh88_lat parameters of the mesh
# reference, ../shared/reference/noc/README.md) with the topology, routing,
# channel latency, packet size, injection rate and sim_type lines below
# appended. The exact config of each row is written to configs/ as it runs.
# The 16x16 runs take up to 30 s each near saturation; the whole script
# about 5 minutes on one core.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
booksim=${1:-$root/../shared/tools/booksim2/booksim}
[ -x "$booksim" ] || { echo "no BookSim binary at $booksim" >&2; exit 1; }
mkdir -p "$here/configs"
header=topology,k,n,routing,traffic,packet_size,injection_rate,avg_packet_latency,avg_network_latency,accepted_flits_per_node_cycle,simulated_cycles,wall_seconds

# NAME -> "TOPOLOGY K N ROUTING USE_NOC_LATENCY"
net() {
  case $1 in
    mesh4x4) echo "mesh 4 2 dor 1" ;;
    mesh16x16) echo "mesh 16 2 dor 1" ;;
    torus4x4) echo "torus 4 2 dim_order 0" ;;
    *) echo "unknown network $1" >&2; exit 1 ;;
  esac
}

# run NAME P RATE SIMTYPE -> prints one CSV row, or nothing if unstable
run() {
  local name=$1 p=$2 rate=$3 simtype=$4 topo k n routing noclat
  read -r topo k n routing noclat <<<"$(net "$name")"
  local cfg="$here/configs/${name}_p${p}_r${rate}_${simtype}_s0.cfg"
  {
    cat "$here/base.cfg"
    printf 'topology = %s;\nk = %s;\nn = %s;\nrouting_function = %s;\nuse_noc_latency = %s;\n' \
      "$topo" "$k" "$n" "$routing" "$noclat"
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
  printf '%s,%s,%s,%s,uniform,%s,%s,%s,%s,%s,%s,%.2f\n' \
    "$topo" "$k" "$n" "$routing" "$p" "$rate" "$lat" "$net" "$acc" "$cyc" "$(echo "$t1 - $t0" | bc)"
}

# curve NAME P RATES: one latency run per rate, in order, up to the first
# rate BookSim reports unstable (that rate is noted on stderr).
curve() {
  local name=$1 p=$2 rates=$3 row
  local csv="$here/booksim2-${name}-uniform-p${p}.csv"
  echo "$header" > "$csv"
  for r in $rates; do
    row=$(run "$name" "$p" "$r" latency)
    if [ -z "$row" ]; then
      echo "$name p$p: first unstable rate $r" >&2
      rm -f "$here/configs/${name}_p${p}_r${r}_latency_s0.cfg"
      break
    fi
    echo "$row" >> "$csv"
  done
  echo "wrote $csv ($(($(wc -l < "$csv") - 1)) stable rows)" >&2
}

# A coarse grid, then steps of 0.01 where a first run of the coarse grid
# found the knee. Uniform channel-load bounds (flits/node/cycle): 4x4 mesh
# 4/k = 1.0, 16x16 mesh 0.25, 4x4 torus 8/k = 2.0 (injection-bound at 1.0).
coarse="0.02 0.05 0.1 0.2 0.3 0.4 0.5 0.6"
curve mesh4x4 1 "$coarse 0.65 0.66 0.67 0.68 0.69 0.7 0.71 0.72 0.73 0.74 0.75 0.76 0.77 0.78 0.79 0.8"
curve mesh4x4 4 "$coarse 0.7 0.75 0.8 0.81 0.82 0.83 0.84 0.85 0.86 0.87 0.88 0.89 0.9 0.91 0.92 0.93 0.94 0.95"
curve torus4x4 1 "$coarse 0.61 0.62 0.63 0.64 0.65 0.66 0.67 0.68 0.69 0.7 0.71 0.72 0.73 0.74 0.75"
curve torus4x4 4 "$coarse 0.7 0.75 0.8 0.85 0.86 0.87 0.88 0.89 0.9 0.91 0.92 0.93 0.94 0.95 0.96 0.97 0.98 0.99 1.0"
curve mesh16x16 1 "0.02 0.05 0.1 0.15 0.16 0.17 0.18 0.19 0.2 0.21 0.22 0.23 0.24"
curve mesh16x16 4 "0.02 0.05 0.1 0.15 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28"

# Offered 1.0 (every source always has a packet): BookSim's sim_type =
# throughput reports the accepted rate past saturation.
sat="$here/booksim2-saturated.csv"
echo "$header" > "$sat"
for name in mesh4x4 torus4x4 mesh16x16; do
  for p in 1 4; do run "$name" "$p" 1.0 throughput >> "$sat"; done
done
echo "wrote $sat" >&2
