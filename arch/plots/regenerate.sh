#!/bin/sh
# Regenerates every CSV and SVG that arch/claims.md quotes. Run from the
# repository root:
#
#   cargo build --release && arch/plots/regenerate.sh          # everything
#   arch/plots/regenerate.sh batching spec                      # some sections
#   TILESIM="cargo run --release --" arch/plots/regenerate.sh   # another binary
#
# Sections (in claims.md's order): bandwidth batching spec sparsity medium
# coupling topology serving. `balance` has no step of its own: it plots `medium`'s
# CSV. `sparsity` also reads batching.csv (checked in) for its MoE chart.
# Environment: TILESIM (default target/release/tilesim, built if missing),
# JOBS (sweep workers, default 2).
set -eu

OUT=arch/plots
JOBS=${JOBS:-2}
if [ -z "${TILESIM:-}" ]; then
    TILESIM=target/release/tilesim
    [ -x "$TILESIM" ] || cargo build --release
fi
[ -d "$OUT" ] || { echo "run from the repository root ($OUT/ not found)" >&2; exit 2; }

ts() { $TILESIM "$@"; }
sweep() { ts sweep --jobs "$JOBS" "$@"; }
plot() { ts plot "$@"; }

# The value of "KEY": in tilesim's pretty-printed JSON on standard input
# (one key per line; the first match).
jget() { sed -n "s/^ *\"$1\": \([-0-9.eE+]*\),\{0,1\}\$/\1/p" | head -n 1; }
# (roofline --json: the first "seconds" is rows[0].floor.seconds, arch/report-schema.md)

# cat_csv FILE...: the first file's header, then every file's records.
cat_csv() {
    head -n 1 "$1"
    for f in "$@"; do tail -n +2 "$f"; done
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- 1. Memory bandwidth sets token cost -----------------------------------
bandwidth() {
    sweep --model llama-2-7b --chip h100 --context 1024,4096,8192,16384,24576,32768 \
        --set 'hbm.bandwidth=1.675 TB/s|3.35 TB/s|6.7 TB/s' -o $OUT/bandwidth.csv
    # The legend shows only the value: `tilesim plot` clips long labels.
    sed 's/hbm\.bandwidth=//' $OUT/bandwidth.csv > "$TMP/bandwidth.csv"
    plot "$TMP/bandwidth.csv" --x context --y seconds_per_token --series overrides \
        --title "llama-2-7b decode, one H100: s/token vs context, per hbm.bandwidth" -o $OUT/bandwidth.svg
    echo context,weight_bytes,kv_read_bytes,floor_seconds > $OUT/bandwidth-bytes.csv
    for c in 1024 4096 8192 16384 24576 32768; do
        ts roofline --model llama-2-7b --chip h100 --context $c --json > "$TMP/r.json"
        echo "$c,$(jget weight_bytes < "$TMP/r.json"),$(jget kv_read_bytes < "$TMP/r.json"),$(jget seconds < "$TMP/r.json")"
    done >> $OUT/bandwidth-bytes.csv
}

# --- 2. Batching shares the weights until the KV cache dominates -----------
batching() {
    sweep --model llama-2-70b --chip dgx-h100 --chip dgx-h200 --batch 1,2,4,8,16,32,64,128 \
        -o $OUT/batching.csv
    plot $OUT/batching.csv --x batch --y tokens_per_second --series chip --log-x --log-y \
        --title "llama-2-70b decode: tokens/s (system) vs batch" -o $OUT/batching.svg
    plot $OUT/batching.csv --x batch --y tokens_per_second_per_user --series chip --log-x \
        --title "llama-2-70b decode: tokens/s per user vs batch" -o $OUT/batching-per-user.svg
    echo batch,weight_bytes,kv_read_bytes,floor_seconds > $OUT/batching-bytes.csv
    for b in 1 2 4 8 16 32 64 128; do
        ts roofline --model llama-2-70b --chip dgx-h100 --batch $b --json > "$TMP/r.json"
        echo "$b,$(jget weight_bytes < "$TMP/r.json"),$(jget kv_read_bytes < "$TMP/r.json"),$(jget seconds < "$TMP/r.json")"
    done >> $OUT/batching-bytes.csv
}

# --- 3. Speculative decoding -----------------------------------------------
spec() {
    sweep --model llama-2-7b --chip h100 --spec 1,2,3,4,6,8,12,16 --accept-rate 0.6,0.8,0.9 \
        -o $OUT/spec.csv
    plot $OUT/spec.csv --x spec --y tokens_per_second --series accept_rate \
        --title "llama-2-7b decode, one H100: tokens/s vs drafted tokens K" -o $OUT/spec.svg
    sweep --model llama-2-70b --chip dgx-h100 --batch 1,64 --spec 1,4,8 -o $OUT/spec-70b.csv
}

# --- 4. Sparsity ------------------------------------------------------------
sparsity() {
    sweep --model llama-2-70b --chip dgx-h100 --batch 16 --context 8192,32768 \
        --kv-keep 1,0.5,0.25,0.125 -o $OUT/sparsity-kv.csv
    plot $OUT/sparsity-kv.csv --x kv_keep --y tokens_per_second --series context --log-x \
        --title "llama-2-70b, 16 users, dgx-h100: tokens/s vs share of KV read" -o $OUT/sparsity-kv.svg
    sweep --model llama-2-70b --chip dgx-h100 --context 32768 --batch 16,32,48,56,64 \
        --kv-keep 1,0.125 --floor-only -o $OUT/sparsity-capacity.csv
    sweep --model mixtral-8x7b --chip dgx-h100 --batch 1,2,4,8,16,32,64,128 -o $OUT/moe.csv
    cat_csv $OUT/moe.csv $OUT/batching.csv > "$TMP/moe-and-dense.csv"
    plot "$TMP/moe-and-dense.csv" --where chip=dgx-h100 --x batch --y tokens_per_second \
        --series model --log-x --log-y \
        --title "dgx-h100 decode: tokens/s vs batch, MoE vs dense" -o $OUT/moe.svg
    echo batch,weight_bytes,kv_read_bytes,floor_seconds > $OUT/moe-bytes.csv
    for b in 1 2 3 4 8 16; do
        ts roofline --model mixtral-8x7b --chip dgx-h100 --batch $b --json > "$TMP/r.json"
        echo "$b,$(jget weight_bytes < "$TMP/r.json"),$(jget kv_read_bytes < "$TMP/r.json"),$(jget seconds < "$TMP/r.json")"
    done >> $OUT/moe-bytes.csv
}

# --- 5. The medium, and 8. the balance point ------------------------------
medium() {
    sweep --model llama-2-70b --weights-dtype int8 --kv-dtype int8 \
        --chip dgx-h100 --chip dgx-h200 --chip groq-576 --chip cerebras-cs3x4 --chip mesh-3ddram \
        -o $OUT/medium.csv
    # cerebras-cs3x4 is left out of the batch sweep: 100-180 s per point above batch 1.
    sweep --model llama-2-70b --weights-dtype int8 --kv-dtype int8 \
        --chip h100 --chip dgx-a100 --chip dgx-h100 --chip dgx-h200 --chip groq-576 --chip mesh-3ddram \
        --batch 1,2,4,8,16,32,64,128 -o $OUT/medium-batch.csv
    plot $OUT/medium-batch.csv --x batch --y tokens_per_second --series chip --log-x --log-y \
        --title "llama-2-70b int8 decode: tokens/s vs batch" -o $OUT/medium-batch.svg
    plot $OUT/medium-batch.csv --x batch --y tokens_per_second_per_kusd --series chip --log-x --log-y \
        --title "llama-2-70b int8 decode: tokens/s per \$1k vs batch" -o $OUT/balance.svg
}

# --- 6. Tight coupling: TP vs PP, link bandwidth ----------------------------
coupling() {
    for plan in "8 1" "4 2" "2 4" "1 8"; do
        set -- $plan
        sweep --model llama-2-70b --chip dgx-h100 --tp $1 --pp $2 --batch 1,8 -o "$TMP/tp$1-pp$2.csv"
    done
    cat_csv "$TMP/tp8-pp1.csv" "$TMP/tp4-pp2.csv" "$TMP/tp2-pp4.csv" "$TMP/tp1-pp8.csv" > $OUT/tp-pp.csv
    LINKS='system.link_bandwidth=25 GB/s|50 GB/s|100 GB/s|225 GB/s|450 GB/s|900 GB/s'
    sweep --model llama-2-70b --chip dgx-h100 --tp 8 --batch 1,8,32,128 --set "$LINKS" -o $OUT/link.csv
    sed 's/system\.link_bandwidth=//' $OUT/link.csv > "$TMP/link.csv"
    plot "$TMP/link.csv" --x batch --y tokens_per_second --series overrides --log-x --log-y \
        --title "llama-2-70b, dgx-h100 tp=8: tokens/s vs batch, per link_bandwidth" -o $OUT/link.svg
    plot "$TMP/link.csv" --x overrides --y seconds_per_token --series batch --log-y \
        --title "llama-2-70b, dgx-h100 tp=8: time per token vs NVLink bandwidth" -o $OUT/link-bandwidth.svg
    sweep --model llama-2-70b --chip dgx-h100 --tp 8 --phase prefill --prompt 1024 --set "$LINKS" \
        -o $OUT/link-prefill.csv
    sweep --model llama-2-70b --weights-dtype int8 --kv-dtype int8 --chip groq-576 \
        --set 'system.link_bandwidth=7 GB/s|14 GB/s|28 GB/s|56 GB/s' \
        --set 'system.link_latency=250 ns|500 ns|1000 ns' -o $OUT/groq-links.csv
}

# --- 7. Topology -----------------------------------------------------------
topology() {
    echo pattern,chip,net,load_pct,rate,latency_mean,latency_p99,accepted > $OUT/topology.csv
    for pat in uniform transpose; do
        for chip in mesh8x8 torus8x8; do
            case $chip in mesh8x8) net="mesh $pat" ;; *) net="torus $pat" ;; esac
            for pct in 5 10 15 20 25 30 35 40 45 50 55 60 70 80; do
                r=$(awk "BEGIN { print $pct / 100 }")
                ts gen traffic --chip $chip --pattern $pat --rate $r --packet-flits 4 --cycles 10000 \
                    -o "$TMP/t.trace"
                ts run "$TMP/t.trace" --chip $chip --json > "$TMP/t.json"
                echo "$pat,$chip,$net,$pct,$r,$(jget packet_latency_mean < "$TMP/t.json"),$(jget packet_latency_p99 < "$TMP/t.json"),$(jget accepted_flits_per_node_cycle < "$TMP/t.json")"
            done
        done
    done >> $OUT/topology.csv
    plot $OUT/topology.csv --x load_pct --y latency_mean --series net --log-y \
        --title "8x8, 4-flit packets: mean latency (cycles) vs offered load (% of a flit/node/cycle)" \
        -o $OUT/topology.svg
    sweep --model llama-2-70b --weights-dtype int8 --kv-dtype int8 --chip mesh-3ddram \
        --set 'noc.topology=mesh|torus' --set 'noc.link_bandwidth=32 B/cycle|64 B/cycle|128 B/cycle|256 B/cycle' \
        -o $OUT/mesh-3ddram-noc.csv
}

# --- 9. Serving: tokens per $1k at a per-user speed ------------------------
# Step times are simulated once per build of tilesim and kept in the step
# cache (~/.cache/tilesim/step-times; SERVE_CACHE to put it elsewhere).
serving() {
    set --
    [ -z "${SERVE_CACHE:-}" ] || set -- --cache "$SERVE_CACHE"
    ts serve --sweep-rate --model llama-2-70b --weights-dtype int8 --kv-dtype int8 \
        --chip dgx-h100 --chip dgx-h200 --chip groq-576 --chip cerebras-cs3x4 --chip mesh-3ddram \
        --scheduler sarathi --max-batch 128 --requests 400 --seed 1 \
        --prompt lognormal:512:0.5:1024 --output lognormal:128:0.5:256 \
        --slo-ttft 2000 --slo-tpot 5,10,20,35,50,75,100 --jobs "$JOBS" "$@" -o $OUT/serve-frontier.csv
    plot $OUT/serve-frontier.csv --where status=ok --x target_tokens_per_second_per_user \
        --y tokens_per_second_per_kusd --series chip --log-y \
        --title "llama-2-70b int8 serving: tokens/s per \$1k at a per-user speed (90% of users)" \
        -o $OUT/serve-frontier.svg
    plot $OUT/serve-frontier.csv --where status=ok --x target_tokens_per_second_per_user \
        --y tokens_per_joule --series chip --log-y \
        --title "llama-2-70b int8 serving: tokens per joule at a per-user speed (90% of users)" \
        -o $OUT/serve-frontier-joule.svg
}

ALL="bandwidth batching spec sparsity medium coupling topology serving"
[ $# -gt 0 ] || set -- $ALL
for s in "$@"; do
    case " $ALL " in
        *" $s "*) ;;
        *) echo "unknown section \`$s' (expected one of: $ALL)" >&2; exit 2 ;;
    esac
done
for s in "$@"; do
    echo "== $s" >&2
    start=$(date +%s)
    $s
    echo "== $s: $(( $(date +%s) - start )) s" >&2
done
