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
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

# row ROUTING P RATE SIMTYPE and curve ROUTING P RATES (booksim.sh): the
# 4-ary 3-tree. ROUTING: nca (fattree_nca: up-port at random) or anca
# (fattree_anca: the less loaded of two up-ports drawn at random).
lines() { printf 'topology = fattree;\nk = 4;\nn = 3;\nrouting_function = %s;' "$1"; }
row() { booksim_row "fattree64_$1" "fattree,4,3,$1,uniform" "$(lines "$1")" "$2" "$3" "$4"; }
curve() { booksim_curve "booksim2-fattree64-$1-uniform-p$2.csv" "fattree64_$1" "fattree,4,3,$1,uniform" "$(lines "$1")" "$2" "$3"; }

# The channel-load bound under uniform traffic is 1.0 (the injection and
# ejection channels; a k-ary n-tree has full bisection): a coarse grid, then
# steps of 0.01 where a first run of the coarse grid found the knee.
coarse="0.02 0.05 0.1 0.2 0.3 0.4 0.5 0.6"
curve nca 1 "$coarse 0.61 0.62 0.63 0.64 0.65 0.66 0.67 0.68 0.69 0.7 0.71 0.72 0.73 0.74 0.75 0.76 0.77 0.78 0.79 0.8"
curve nca 4 "$coarse 0.65 0.7 0.75 0.76 0.77 0.78 0.79 0.8 0.81 0.82 0.83 0.84 0.85 0.86 0.87 0.88 0.89 0.9"
curve anca 1 "0.02 0.5 0.6 0.62 0.64 0.66 0.68 0.7 0.72 0.74 0.76 0.78 0.8"
curve anca 4 "0.02 0.5 0.6 0.7 0.75 0.78 0.8 0.82 0.84 0.86 0.88 0.9"

# Offered 1.0 (booksim.sh).
booksim_saturated nca anca
