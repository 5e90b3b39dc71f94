#!/usr/bin/env bash
# Produces the BookSim2 reference curves of the 8x8 mesh under tilesim's
# hotspot traffic in this folder (booksim2-mesh8x8-hotspot-p{1,4}.csv, and
# the offered-1.0 throughput runs in booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/hotspot/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit 28f43299, unmodified; see
#   ../shared/tools/booksim2/README.md).
#
# tilesim's Pattern::Hotspot sends a packet to the middle tile (64 / 2 =
# 32) with probability 1/4 and to a uniformly random tile (itself and the
# hotspot included) otherwise: tile 32 with probability 1/4 + 3/4 * 1/64 =
# 67/256, every other tile 3/256. BookSim's `hotspot({NODES},{WEIGHTS})`
# (written hotspot({{NODES},{WEIGHTS}})) picks node i of NODES with
# probability WEIGHTS[i] / sum(WEIGHTS)
# (HotSpotTrafficPattern::dest: RandomInt(sum - 1), inclusive), so NODES =
# every node, 32 first, and WEIGHTS = 67 for node 32 and 3 for the others
# (sum 256) is the same distribution exactly.
#
# Every run's config is base.cfg (the mesh reference's config,
# ../shared/reference/noc/README.md: mesh88_lat, 8x8 mesh, dor,
# use_noc_latency = 1) with that traffic line and the packet size, injection
# rate and sim_type lines appended. The exact config of each row is written
# to configs/ as it runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

nodes=32 weights=67
for i in $(seq 0 63); do
  [ "$i" -eq 32 ] && continue
  nodes="$nodes,$i" weights="$weights,3"
done
# BookSim's config lexer takes the braces and commas as one string (no
# spaces); the pattern's parameters are one brace list of the two lists.
traffic="traffic = hotspot({{$nodes},{$weights}});"

row() { booksim_row "mesh_k8_n2_hotspot" "mesh,8,2,dor,hotspot" "$traffic" "$1" "$2" "$3"; }
curve() { booksim_curve "booksim2-mesh8x8-hotspot-p$1.csv" "mesh_k8_n2_hotspot" "mesh,8,2,dor,hotspot" "$traffic" "$1" "$2"; }

# The hotspot's ejection channel carries 64 x 67/256 = 16.75 times the
# offered rate, so the network saturates near 1 / 16.75 = 0.060
# flits/node/cycle: a coarse grid, then steps of 0.0025 up to past it.
rates="0.01 0.02 0.03 0.04 0.045 0.05 0.0525 0.055 0.0575 0.06 0.0625 0.065 0.0675 0.07 0.075 0.08"
curve 1 "$rates"
curve 4 "$rates"

# Offered 1.0 (booksim.sh).
booksim_saturated ""
