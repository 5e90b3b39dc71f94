#!/usr/bin/env bash
# Produces the BookSim2 reference curves of the 8x8 torus under the transpose
# and bitcomp traffic patterns in this folder
# (booksim2-torus8x8-{transpose,bitcomp}-p{1,4}.csv, and the offered-1.0
# throughput runs in booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/torus-patterns/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit 28f43299, unmodified; see
#   ../shared/tools/booksim2/README.md).
#
# Every run's config is base.cfg (the torus reference's parameters,
# ../torus/base.cfg, without its traffic line) with the topology, routing,
# traffic, packet size, injection rate and sim_type lines below appended, as
# ../torus/make-curves.sh sets up the 8x8 torus. The exact config of each
# row is written to configs/ as it runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

# lines TRAFFIC: the 8x8 torus with dim_order_torus under TRAFFIC.
lines() {
  printf 'topology = torus;\nk = 8;\nn = 2;\nrouting_function = dim_order;\ntraffic = %s;' "$1"
}

# row TRAFFIC P RATE SIMTYPE and curve TRAFFIC P RATES (booksim.sh).
row() { booksim_row "torus_k8_n2_$1" "torus,8,2,dim_order,$1" "$(lines "$1")" "$2" "$3" "$4"; }
curve() { booksim_curve "booksim2-torus8x8-$1-p$2.csv" "torus_k8_n2_$1" "torus,8,2,dim_order,$1" "$(lines "$1")" "$2" "$3"; }

# A coarse grid, then steps of 0.01 or 0.02 where a first run of the coarse
# grid found the knee.
curve transpose 1 "0.02 0.05 0.08 0.1 0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25"
curve transpose 4 "0.02 0.05 0.1 0.15 0.18 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28 0.29 0.3 0.31 0.32 0.33 0.34 0.35"
curve bitcomp 1 "0.02 0.05 0.1 0.15 0.17 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28 0.29 0.3"
curve bitcomp 4 "0.02 0.05 0.1 0.2 0.3 0.35 0.38 0.4 0.42 0.44 0.46 0.48 0.5 0.52 0.54 0.56 0.58 0.6"

# Offered 1.0 (booksim.sh).
booksim_saturated transpose bitcomp
