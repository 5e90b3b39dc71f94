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
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

# row TRAFFIC P RATE SIMTYPE and curve TRAFFIC P RATES (booksim.sh): the
# mesh reference under another traffic pattern.
row() { booksim_row "mesh_k8_n2_$1" "mesh,8,2,dor,$1" "traffic = $1;" "$2" "$3" "$4"; }
curve() { booksim_curve "booksim2-mesh8x8-$1-p$2.csv" "mesh_k8_n2_$1" "mesh,8,2,dor,$1" "traffic = $1;" "$2" "$3"; }

# Under XY routing the busiest channel carries 7 sources' packets under
# transpose (row 7 into the diagonal tile (7,7), and its mirror) and 4 under
# bitcomp (every row and column's middle link), so the channel-load bounds
# are 1/7 = 0.143 and 1/4 = 0.25 flits/node/cycle: a coarse grid, then steps
# of 0.01 up to past the bound.
curve transpose 1 "0.02 0.05 0.08 0.1 0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.2"
curve transpose 4 "0.02 0.05 0.08 0.1 0.11 0.12 0.13 0.14 0.15 0.16 0.17 0.18 0.19 0.2"
curve bitcomp 1 "0.02 0.05 0.1 0.15 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28"
curve bitcomp 4 "0.02 0.05 0.1 0.15 0.18 0.19 0.2 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28"

# Offered 1.0 (booksim.sh).
booksim_saturated transpose bitcomp
