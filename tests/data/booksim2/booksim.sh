# BookSim2 runs as CSV rows, for the make-curves.sh scripts in the folders
# beside this file (sourced, not run). The caller sets `here` (its folder,
# holding base.cfg) and calls `booksim_init "${1:-}"`; every run's config is
# base.cfg plus the caller's lines plus packet_size, injection_rate and
# sim_type, written to $here/configs/ as it runs.

# booksim_init [BOOKSIM]: the binary (default ../shared/tools/booksim2/booksim
# beside the repository: BookSim2 commit 28f43299, unmodified; see
# ../shared/tools/booksim2/README.md) and the CSV header.
booksim_init() {
  local root
  root=$(cd "$here/../../../.." && pwd)
  booksim=${1:-$root/../shared/tools/booksim2/booksim}
  [ -x "$booksim" ] || { echo "no BookSim binary at $booksim" >&2; exit 1; }
  mkdir -p "$here/configs"
  header=topology,k,n,routing,traffic,packet_size,injection_rate,avg_packet_latency,avg_network_latency,accepted_flits_per_node_cycle,simulated_cycles,wall_seconds
}

# booksim_row STEM COLUMNS LINES P RATE SIMTYPE -> one CSV row (COLUMNS:
# the row's topology,k,n,routing,traffic), or nothing if BookSim reports
# the run unstable. LINES: the config lines after base.cfg's (without the
# last newline, as $(...) gives them); the config is
# configs/STEM_pP_rRATE_SIMTYPE_s0.cfg.
booksim_row() {
  local stem=$1 columns=$2 lines=$3 p=$4 rate=$5 simtype=$6
  local cfg="$here/configs/${stem}_p${p}_r${rate}_${simtype}_s0.cfg"
  {
    cat "$here/base.cfg"
    printf '%s\n' "$lines"
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
  printf '%s,%s,%s,%s,%s,%s,%s,%.2f\n' \
    "$columns" "$p" "$rate" "$lat" "$net" "$acc" "$cyc" "$(echo "$t1 - $t0" | bc)"
}

# booksim_curve CSV STEM COLUMNS LINES P RATES: one latency run per rate,
# in order, up to the first rate BookSim reports unstable (noted on stderr,
# its config removed), into CSV (in $here).
booksim_curve() {
  local csv="$here/$1" stem=$2 columns=$3 lines=$4 p=$5 rates=$6 r row
  echo "$header" > "$csv"
  for r in $rates; do
    row=$(booksim_row "$stem" "$columns" "$lines" "$p" "$r" latency)
    if [ -z "$row" ]; then
      echo "$stem p$p: first unstable rate $r" >&2
      rm -f "$here/configs/${stem}_p${p}_r${r}_latency_s0.cfg"
      break
    fi
    echo "$row" >> "$csv"
  done
  echo "wrote $csv ($(($(wc -l < "$csv") - 1)) stable rows)" >&2
}

# booksim_saturated NET...: the accepted rate at offered 1.0 (sim_type =
# throughput: every source always has a packet, and BookSim reports the
# rate accepted past saturation) of each NET with 1- and 4-flit packets,
# into $here/booksim2-saturated.csv. NET is the words the caller's
# `row NET... P RATE SIMTYPE` takes before P ("" for none).
booksim_saturated() {
  local sat="$here/booksim2-saturated.csv" net p
  echo "$header" > "$sat"
  for net in "$@"; do
    for p in 1 4; do
      # shellcheck disable=SC2086 # NET's words are row's arguments.
      row $net "$p" 1.0 throughput >> "$sat"
    done
  done
  echo "wrote $sat" >&2
}
