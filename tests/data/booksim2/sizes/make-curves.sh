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
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

# NAME -> "TOPOLOGY K N ROUTING USE_NOC_LATENCY"
net() {
  case $1 in
    mesh4x4) echo "mesh 4 2 dor 1" ;;
    mesh16x16) echo "mesh 16 2 dor 1" ;;
    torus4x4) echo "torus 4 2 dim_order 0" ;;
    *) echo "unknown network $1" >&2; exit 1 ;;
  esac
}

# columns NAME and lines NAME: its CSV columns (topology,k,n,routing,traffic)
# and its config lines.
columns() {
  local topo k n routing noclat
  read -r topo k n routing noclat <<<"$(net "$1")"
  echo "$topo,$k,$n,$routing,uniform"
}
lines() {
  local topo k n routing noclat
  read -r topo k n routing noclat <<<"$(net "$1")"
  printf 'topology = %s;\nk = %s;\nn = %s;\nrouting_function = %s;\nuse_noc_latency = %s;' \
    "$topo" "$k" "$n" "$routing" "$noclat"
}

# row NAME P RATE SIMTYPE and curve NAME P RATES (booksim.sh).
row() { booksim_row "$1" "$(columns "$1")" "$(lines "$1")" "$2" "$3" "$4"; }
curve() { booksim_curve "booksim2-$1-uniform-p$2.csv" "$1" "$(columns "$1")" "$(lines "$1")" "$2" "$3"; }

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

# Offered 1.0 (booksim.sh).
booksim_saturated mesh4x4 torus4x4 mesh16x16
