#!/usr/bin/env bash
# Produces the BookSim2 crossbar reference curves in this folder
# (booksim2-crossbar64-uniform-p{1,4}.csv, and the offered-1.0 throughput
# runs in booksim2-saturated.csv).
#
# Usage: tests/data/booksim2/crossbar/make-curves.sh [BOOKSIM]
#   BOOKSIM defaults to ../shared/tools/booksim2/booksim beside the
#   repository (BookSim2 commit 28f43299, unmodified; see
#   ../shared/tools/booksim2/README.md).
#
# Every run's config is base.cfg (mesh88_lat's router and flow control on a
# 64-ary 1-fly: one 64-port router, uniform traffic) with the packet size,
# injection rate and sim_type lines appended. The exact config of each row
# is written to configs/ as it runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../booksim.sh
source "$here/../booksim.sh"
booksim_init "${1:-}"

columns="fly,64,1,dest_tag,uniform"
row() { booksim_row crossbar64 "$columns" "" "$@"; }
curve() { booksim_curve "booksim2-crossbar64-uniform-p$1.csv" crossbar64 "$columns" "" "$1" "$2"; }

# A coarse grid, then steps of 0.02 up to past the knee (a single router has
# no channel-load bound below 1: its allocators and VCs limit it).
coarse="0.02 0.05 0.1 0.2 0.3 0.4 0.5"
fine="0.52 0.54 0.56 0.58 0.6 0.62 0.64 0.66 0.68 0.7 0.72 0.74 0.76 0.78 0.8"
curve 1 "$coarse $fine 0.82 0.84 0.86 0.88 0.9 0.92 0.94 0.96 0.98"
curve 4 "$coarse $fine 0.82 0.84 0.86 0.88 0.9 0.92 0.94 0.96 0.98"

# Offered 1.0 (booksim.sh).
booksim_saturated ""
