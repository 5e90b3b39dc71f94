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
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

# lines K N: the config lines of a K-ary N-dimensional torus (N = 1: a ring).
lines() {
  printf 'topology = torus;\nk = %s;\nn = %s;\nrouting_function = dim_order;' "$1" "$2"
}

# curve NAME K N P RATES, and row NAME K N P RATE SIMTYPE (booksim.sh).
curve() { booksim_curve "booksim2-$1-uniform-p$4.csv" "$1" "torus,$2,$3,dim_order,uniform" "$(lines "$2" "$3")" "$4" "$5"; }
row() { booksim_row "$1" "torus,$2,$3,dim_order,uniform" "$(lines "$2" "$3")" "$4" "$5" "$6"; }

# A coarse grid, then steps of 0.01 where a first run of the coarse grid
# found the knee.
coarse="0.02 0.05 0.1 0.15 0.2 0.25 0.3"
curve torus8x8 8 2 1 "$coarse 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.4"
curve torus8x8 8 2 4 "$coarse 0.35 0.4 0.45 0.5 0.55 0.6 0.61 0.62 0.63 0.64 0.65 0.66 0.67 0.68 0.69 0.7"
curve ring16 16 1 1 "0.02 0.05 0.1 0.15 0.16 0.17 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25"
curve ring16 16 1 4 "$coarse 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.4"

# Offered 1.0 (booksim.sh).
booksim_saturated "torus8x8 8 2" "ring16 16 1"
