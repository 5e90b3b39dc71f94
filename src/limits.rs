//! Every bound tilesim enforces on its input, as data. The validators name
//! these constants; `TABLE` lists them with their reasons, where they are
//! enforced and whether going past them is refused; arch/limits.md holds
//! the same table (tests/limits.rs checks the two agree and tries every row
//! at its bound and one step past it).
//!
//! Three reasons recur: **memory** (a structure sized by the input must fit
//! the memory budget, `max_memory`), **arithmetic** (u64 counters keep
//! headroom: a product of bounded fields cannot wrap) and **physics** (a
//! value no real part has is a typo, not a study).

use std::sync::atomic::{AtomicU64, Ordering};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

// ---- Files --------------------------------------------------------------

/// Largest config file read (shipped configs are under 8 KiB).
pub const MAX_CONFIG_BYTES: u64 = MIB;
/// Deepest nesting of arrays and tables in a config.
pub const MAX_CONFIG_NESTING: usize = 16;
/// Largest CSV file `tilesim plot` reads.
pub const MAX_CSV_BYTES: u64 = 256 * MIB;
/// Longest line of a text trace.
pub const MAX_TRACE_LINE_BYTES: u64 = 64 * KIB;
/// Longest string of a trace header (chip, model, workload).
pub const MAX_HEADER_STRING_BYTES: u64 = 4 * KIB;
/// Characters of input echoed in a message; longer input is cut with `...`.
pub const MAX_ECHO_CHARS: usize = 80;

// ---- Memory -------------------------------------------------------------

/// Bytes one instruction takes in a trace held in memory (the instruction,
/// its source position, its loop partner), for estimates.
pub const BYTES_PER_INSTRUCTION: u128 = 48;

/// Memory a run may plan to use, unless `--max-memory` raises it.
pub const DEFAULT_MAX_MEMORY: u64 = GIB;

static MAX_MEMORY: AtomicU64 = AtomicU64::new(DEFAULT_MAX_MEMORY);

/// The memory budget of this process (`--max-memory`, else 1 GiB).
pub fn max_memory() -> u64 {
    MAX_MEMORY.load(Ordering::Relaxed)
}

/// Sets the memory budget (the command line's `--max-memory`).
pub fn set_max_memory(bytes: u64) {
    MAX_MEMORY.store(bytes, Ordering::Relaxed);
}

/// Checks that `estimate` bytes fit the memory budget before they are
/// allocated; the error says what needed them, how much, and the limit.
pub fn check_memory(what: &str, estimate: u128) -> Result<(), String> {
    let limit = max_memory();
    if estimate <= limit as u128 {
        return Ok(());
    }
    Err(format!(
        "{what} needs about {} of memory, more than the limit of {} (raise it with --max-memory, e.g. \
         --max-memory {})",
        crate::units::human_bytes(estimate as f64),
        crate::units::human_bytes(limit as f64),
        suggest(estimate),
    ))
}

/// A `--max-memory` value above `estimate`, in whole GiB.
fn suggest(estimate: u128) -> String {
    let gib = estimate.div_ceil(GIB as u128).max(1);
    format!("{gib}GiB")
}

// ---- Chip configs -------------------------------------------------------

/// Clock: 1 MHz ..= 100 GHz.
pub const MIN_CLOCK_HZ: f64 = 1e6;
pub const MAX_CLOCK_HZ: f64 = 100e9;
/// Any bandwidth: 1 MB/s ..= 1 EB/s, and at the clock 1/1024 ..= 2^24 bytes
/// per cycle (the bandwidth servers count 1/1024 of a cycle).
pub const MIN_RATE_BPS: f64 = 1e6;
pub const MAX_RATE_BPS: f64 = 1e18;
pub const MIN_RATE_PER_CYCLE: f64 = 1.0 / 1024.0;
pub const MAX_RATE_PER_CYCLE: f64 = (1u64 << 24) as f64;
/// Any latency or DRAM timing: at most 1 s (and 2^40 cycles).
pub const MAX_TIME_S: f64 = 1.0;
/// SRAM of one tile: 1 B ..= 64 GiB (a whole wafer has 44 GB).
pub const MAX_SRAM_BYTES: u64 = 64 * GIB;
/// Attached memory: per chip (HBM) or per tile (3D DRAM), at most 16 TiB.
pub const MAX_MEMORY_CAPACITY_BYTES: u64 = 16 * 1024 * GIB;
/// NoC packet: 64 B (a cache line) ..= 16 MiB (a simulation granularity:
/// packets per transfer bound the events of a run).
pub const MIN_PACKET_BYTES: u64 = 64;
pub const MAX_PACKET_BYTES: u64 = 16 * MIB;
/// DRAM row and interleave granule: 32 B (a burst) ..= 1 GiB.
pub const MIN_DRAM_GRANULE_BYTES: u64 = 32;
pub const MAX_DRAM_GRANULE_BYTES: u64 = GIB;
/// MACs per cycle of one tile, per data type.
pub const MAX_MACS_PER_CYCLE: u64 = 1 << 24;
/// Vector lanes of one tile.
pub const MAX_VECTOR_LANES: u64 = 1 << 20;
/// DMA engines of one tile.
pub const MAX_DMA_ENGINES: u32 = 1024;
/// HBM stacks per chip, channels per stack, banks per channel, vault channels.
pub const MAX_HBM_STACKS: u32 = 64;
pub const MAX_CHANNELS_PER_STACK: u32 = 1024;
pub const MAX_BANKS: u32 = 1024;
pub const MAX_VAULT_CHANNELS: u32 = 64;
/// Virtual channels per router port.
pub const MAX_VCS: u32 = 1024;
/// Fat-tree switch ports.
pub const MAX_ARITY: u32 = 1024;
/// Tiles of one chip.
pub const MAX_TILES_PER_CHIP: u32 = 1 << 24;
/// Chips of a system.
pub const MAX_CHIPS: u32 = 1 << 20;
/// Tiles of a whole system, and of a trace.
pub const MAX_TILES: u32 = 1 << 26;
/// Price of a system, US dollars, and its power.
pub const MAX_PRICE_USD: f64 = 1e12;
pub const MAX_POWER_W: f64 = 1e9;
/// Least price of one chip, US dollars: a cent, under the cheapest
/// microcontroller. Reports divide by the price: `chip_price_usd = 1e-300`
/// printed a 306-digit "tokens/s per $1k" (0 is no price: leave it out).
pub const MIN_CHIP_PRICE_USD: f64 = 0.01;
/// Least power that is not 0 (a chip's `[cost]` power, never 0, and the
/// static powers): 1 µW, under the leakage of the smallest always-on
/// inference chips. Reports divide by the power charged: 1e-300 W printed
/// "7.9 W average of 0.000 W charged (794706328987280073483278362869760%)".
pub const MIN_POWER_W: f64 = 1e-6;
/// Energy per operation, and per byte moved (arch/energy.md): 1 nJ, a
/// thousand times a DRAM access per byte.
pub const MAX_ENERGY_J: f64 = 1e-9;
/// Least energy that is not 0, per operation or per byte: 1 zJ (1e-21 J),
/// under the Landauer limit (kT ln 2, about 3 zJ per bit at 300 K) that
/// no logic operation or bit moved goes below. Figures of 1e-300 J printed
/// a 303-digit tokens per joule.
pub const MIN_ENERGY_J: f64 = 1e-21;

// ---- Model configs ------------------------------------------------------

pub const MAX_LAYERS: u64 = 1 << 16;
pub const MAX_HIDDEN: u64 = 1 << 20;
pub const MAX_HEADS: u64 = 1 << 16;
pub const MAX_HEAD_DIM: u64 = 1 << 16;
pub const MAX_FFN: u64 = 1 << 24;
pub const MAX_VOCAB: u64 = 1 << 24;
pub const MAX_EXPERTS: u64 = 1 << 16;
/// Parameters of a whole model (1,000x the largest published).
pub const MAX_PARAMS: u128 = 1 << 50;

// ---- Workload flags -----------------------------------------------------

pub const MAX_BATCH: u64 = 1 << 20;
pub const MAX_CONTEXT: u64 = 1 << 24;
pub const MAX_PROMPT: u64 = 1 << 24;
pub const MAX_SPEC: u64 = 1024;
/// Tokens one pass pushes through the weights (batch x tokens per user).
pub const MAX_TOKENS_PER_PASS: u64 = 1 << 24;
/// Decode steps (or prefill passes) in one trace.
pub const MAX_STEPS: u64 = 1 << 20;
/// Worker threads of a sweep.
pub const MAX_JOBS: u32 = 1024;
/// Least `--kv-keep`, and least `--accept-rate` that is not 0: 2^-24. The
/// KV positions read are `ceil(kv_keep x context)` with the context at most
/// 2^24, so a smaller share reads the same one position; an acceptance
/// rate under 2^-24 moves the tokens a pass yields by less than 2^-24 of
/// one. Both are written into trace headers: `--kv-keep 1e-300` wrote a
/// 302-digit number there.
pub const MIN_FRACTION: f64 = 1.0 / (1u64 << 24) as f64;
/// Coefficient of variation of `serve --arrival gamma:CV` gaps: past it the
/// gamma's shape (1 / CV^2) is so small that every gap but a vanishing few
/// is 0 in f64 (CV 1e300 gave NaN arrival times and a run that never ended).
pub const MAX_ARRIVAL_CV: f64 = 100.0;
/// Tokens of one served request's prompt or output (`serve --prompt`,
/// `--output`, a trace's token columns), and of a page (`--block-size`):
/// as `--context`. Past it the step grid was asked for a context it never
/// simulated ("internal error (a bug ...)" for `--prompt 18446744073709551615`).
pub const MAX_REQUEST_TOKENS: u64 = MAX_CONTEXT;
/// SIGMA of a `lognormal:MEAN:SIGMA` request length: 3, a coefficient of
/// variation of 90 (sqrt(e^(SIGMA^2) - 1)), as the gamma arrivals' CV is at
/// most 100. Above it the log-mean ln(MEAN) - SIGMA^2/2 sinks so low that
/// every draw is 1 token (`lognormal:512:1e300` ran requests of 1 token, not
/// 512 on average).
pub const MAX_LENGTH_SIGMA: f64 = 3.0;
/// Seconds from the first arrival to the last (`serve --rate` x
/// `--requests`, or a trace's times): 2^25 s, about 388 days, where f64
/// seconds still resolve 2^-27 s (7.5 ns), far below any step. `--rate
/// 1e-300` put arrivals 1e301 s apart and printed every TTFT p50 as 0.0 ns.
pub const MAX_ARRIVAL_SPAN_S: f64 = (1u64 << 25) as f64;

// ---- Traces -------------------------------------------------------------

/// Tokens a tile may use.
pub const MAX_TOKENS: u32 = 1 << 16;
/// Longest `delay`, in cycles.
pub const MAX_DELAY: u64 = 1 << 48;
/// Simulated time of one run, in cycles: 2^50, 13 days at 1 GHz (35 years
/// at the slowest clock allowed, 3 hours at the fastest), far past any
/// inference run. Instants are kept in ticks of 2^-10 cycle in a `u64`,
/// which end at 2^54 cycles; time arithmetic saturates (src/units.rs), so
/// an instant past that still reaches the check as one past the bound.
/// Loops of long delays or slow work reached 2^64 cycles and wrapped ("an
/// event was scheduled ... before the current cycle (a simulator bug)"; a
/// panic in debug builds).
pub const MAX_SIM_CYCLES: u64 = 1 << 50;
/// Units of work (MACs, vector ops, elements) one instruction may ask.
pub const MAX_WORK: u128 = 1 << 56;
/// Bytes one load, store, send or receive may move.
pub const MAX_TRANSFER_BYTES: u64 = MAX_SRAM_BYTES;
/// Product of the counts of the loops open at once.
pub const MAX_LOOP_PRODUCT: u128 = 1 << 32;
/// Instructions issued in one run of a trace, loops multiplied out.
pub const MAX_ISSUED: u128 = 1 << 32;
/// Members of all barrier groups together, per declared tile.
pub const MAX_GROUP_MEMBERS_PER_TILE: u64 = 8;
/// Packets one transfer is split into (bytes / noc.packet), and DRAM
/// granules it touches (bytes / interleave).
pub const MAX_PIECES_PER_TRANSFER: u64 = 1 << 20;
/// Work of one simulation: instructions issued, packet hops and DRAM
/// accesses together (about 15 minutes at 10 M events/s).
pub const MAX_SIM_EVENTS: u128 = 1 << 33;
/// MACs and vector operations of one run, loops multiplied out: 2^60, 10^6
/// times a batch-32 70B decode step. One instruction may ask 2^56 and a
/// run issue 2^32, so the u64 counters of MACs and flops wrapped (4,096
/// iterations of the largest `gemm`, a panic in debug builds).
pub const MAX_RUN_WORK: u128 = 1 << 60;
/// Bytes one run counts, loops multiplied out: a transfer's bytes at the
/// SRAM port and on every link of the longest route (the report's NoC
/// bytes are per link crossed), and compute's bytes at the SRAM port. 2^60,
/// twice the largest instruction's (2^59) and 10^6 times a batch-32 70B
/// step's; per-tile, per-link and per-channel byte counters and their sums
/// stay below 2^64.
pub const MAX_RUN_BYTES: u128 = 1 << 60;
/// Cycles of `gen traffic` injection, times the tiles that inject.
pub const MAX_TRAFFIC_SLOTS: u128 = 1 << 32;
/// Points of one sweep (models x chips x `--set` values x workload axes):
/// 2^24, four times a 2000 x 2000 grid (which `--floor-only` writes in 16 s
/// as 1.8 GB of CSV). Axes multiply: three axes of 1,000 values each were
/// 10^9 points, checked one by one before the first ran and loading a chip
/// per `--set` combination, hours with nothing written. A larger study is
/// several sweeps.
pub const MAX_SWEEP_POINTS: u128 = 1 << 24;
/// Least offered load of `gen traffic` and `run --traffic` that is not 0,
/// flits per node per cycle: 2^-32, under which even the longest run
/// (2^32 injection slots) expects less than one flit. The rate is written
/// into the trace header: `--rate 1e-300` wrote 302 digits there.
pub const MIN_TRAFFIC_RATE: f64 = 1.0 / (1u64 << 32) as f64;

/// How an input past a bound is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Exit 2 with the file, line and field (or flag).
    Refused,
}

/// One row of arch/limits.md.
#[derive(Clone, Debug)]
pub struct Row {
    /// Stable key; tests/limits.rs has a probe for each.
    pub key: &'static str,
    /// What is bounded.
    pub what: &'static str,
    /// The bound, as people read it.
    pub bound: String,
    pub reason: &'static str,
    /// Where it is enforced.
    pub enforced: &'static str,
    pub action: Action,
}

fn pow2(v: u128) -> String {
    if v.is_power_of_two() && v >= 1024 { format!("2^{}", v.trailing_zeros()) } else { v.to_string() }
}

fn bytes(v: u64) -> String {
    crate::units::human_bytes(v as f64)
}

/// Every bound, in the order of arch/limits.md.
pub fn table() -> Vec<Row> {
    use Action::Refused as R;
    let row = |key, what, bound: String, reason, enforced| Row { key, what, bound, reason, enforced, action: R };
    let cfg = "config::chip::derive";
    let model = "config::model::derive";
    let wl = "compiler::Workload::validate";
    let chk = "trace::Checker";
    vec![
        row("config_bytes", "config file size", bytes(MAX_CONFIG_BYTES), "memory: read whole", "config::read"),
        row(
            "config_nesting",
            "config nesting depth",
            MAX_CONFIG_NESTING.to_string(),
            "parser recursion",
            "config::read",
        ),
        row(
            "csv_bytes",
            "CSV file size (plot, serve --trace)",
            bytes(MAX_CSV_BYTES),
            "memory: read whole",
            "report::csv::read, cli::serve",
        ),
        row("trace_line", "text trace line length", bytes(MAX_TRACE_LINE_BYTES), "memory per line", "trace::text"),
        row(
            "header_string",
            "trace header string (chip, model, workload)",
            bytes(MAX_HEADER_STRING_BYTES),
            "memory",
            "trace::binary, trace::text",
        ),
        row("clock", "clock", "1 MHz ..= 100 GHz".into(), "physics", cfg),
        row("rate", "every bandwidth", "1 MB/s ..= 1 EB/s".into(), "physics", cfg),
        row(
            "rate_per_cycle",
            "every bandwidth at the clock",
            "1/1024 ..= 2^24 B/cycle".into(),
            "arithmetic: 1/1024-cycle ticks",
            cfg,
        ),
        row("time", "every latency and DRAM timing", "<= 1 s".into(), "physics", cfg),
        row("sram", "tile.sram", format!("1 B ..= {}", bytes(MAX_SRAM_BYTES)), "physics", cfg),
        row(
            "memory_capacity",
            "hbm.capacity, dram3d.capacity_per_tile",
            format!("1 B ..= {}", bytes(MAX_MEMORY_CAPACITY_BYTES)),
            "physics; u64 addresses",
            cfg,
        ),
        row(
            "packet",
            "noc.packet",
            format!("{} B ..= {}", MIN_PACKET_BYTES, bytes(MAX_PACKET_BYTES)),
            "events per transfer",
            cfg,
        ),
        row(
            "dram_granule",
            "row_size, interleave",
            format!("{} B ..= {}", MIN_DRAM_GRANULE_BYTES, bytes(MAX_DRAM_GRANULE_BYTES)),
            "DRAM accesses per transfer",
            cfg,
        ),
        row(
            "macs",
            "tile.macs_per_cycle values",
            format!("1 ..= {}", pow2(MAX_MACS_PER_CYCLE as u128)),
            "physics",
            cfg,
        ),
        row("vector_lanes", "tile.vector_lanes", format!("1 ..= {}", pow2(MAX_VECTOR_LANES as u128)), "physics", cfg),
        row("dma_engines", "tile.dma_engines", format!("1 ..= {MAX_DMA_ENGINES}"), "memory per tile", cfg),
        row("hbm_stacks", "hbm.stacks", format!("1 ..= {MAX_HBM_STACKS}"), "physics", cfg),
        row("hbm_channels", "hbm.channels_per_stack", format!("1 ..= {MAX_CHANNELS_PER_STACK}"), "memory", cfg),
        row("banks", "hbm.banks, dram3d.banks", format!("1 ..= {MAX_BANKS}"), "memory per channel", cfg),
        row("vault_channels", "dram3d.channels_per_tile", format!("1 ..= {MAX_VAULT_CHANNELS}"), "memory", cfg),
        row("vcs", "noc.vcs", format!("1 ..= {MAX_VCS}"), "memory per link", cfg),
        row("arity", "noc.arity", format!("2 ..= {MAX_ARITY}"), "physics", cfg),
        row("tiles_per_chip", "tiles per chip", format!("1 ..= {}", pow2(MAX_TILES_PER_CHIP as u128)), "memory", cfg),
        row("chips", "system.chips", format!("1 ..= {}", pow2(MAX_CHIPS as u128)), "memory", cfg),
        row("system_tiles", "tiles of a system or trace", format!("1 ..= {}", pow2(MAX_TILES as u128)), "memory", cfg),
        row("price", "cost.chip_price_usd, cost.node_price_usd", "0 ..= 1e12".into(), "physics", cfg),
        row("chip_price", "cost.chip_price_usd", "$0.01 ..= 1e12".into(), "physics: reports divide by it", cfg),
        row(
            "power",
            "cost.chip_power, cost.node_power, energy.chip_static, energy.node_static",
            "0 ..= 1 GW".into(),
            "physics",
            cfg,
        ),
        row(
            "min_power",
            "the same powers when not 0 (cost.chip_power: never 0)",
            ">= 1 µW".into(),
            "physics: reports divide by it",
            cfg,
        ),
        row("energy", "energy.* per operation (J) and per byte (J/B)", "0 ..= 1 nJ".into(), "physics", cfg),
        row(
            "min_energy",
            "the same energies when not 0",
            ">= 1 zJ (1e-21 J)".into(),
            "physics: the Landauer limit",
            cfg,
        ),
        row("layers", "layers", format!("1 ..= {}", pow2(MAX_LAYERS as u128)), "arithmetic", model),
        row("hidden", "hidden", format!("1 ..= {}", pow2(MAX_HIDDEN as u128)), "arithmetic", model),
        row("heads", "heads, kv_heads", format!("1 ..= {}", pow2(MAX_HEADS as u128)), "arithmetic", model),
        row("head_dim", "head_dim", format!("1 ..= {}", pow2(MAX_HEAD_DIM as u128)), "arithmetic", model),
        row("ffn", "ffn", format!("1 ..= {}", pow2(MAX_FFN as u128)), "arithmetic", model),
        row("vocab", "vocab", format!("1 ..= {}", pow2(MAX_VOCAB as u128)), "arithmetic", model),
        row("experts", "experts", format!("1 ..= {}", pow2(MAX_EXPERTS as u128)), "arithmetic", model),
        row("params", "parameters of a model", format!("<= {}", pow2(MAX_PARAMS)), "arithmetic: u64 bytes", model),
        row("batch", "--batch", format!("1 ..= {}", pow2(MAX_BATCH as u128)), "arithmetic", wl),
        row("context", "--context", format!("0 ..= {}", pow2(MAX_CONTEXT as u128)), "arithmetic", wl),
        row("prompt", "--prompt", format!("1 ..= {}", pow2(MAX_PROMPT as u128)), "arithmetic", wl),
        row("spec", "--spec", format!("1 ..= {MAX_SPEC}"), "arithmetic", wl),
        row(
            "tokens_per_pass",
            "--batch x tokens per user",
            format!("<= {}", pow2(MAX_TOKENS_PER_PASS as u128)),
            "memory of activations",
            wl,
        ),
        row(
            "fraction",
            "--kv-keep, and --accept-rate when not 0",
            "2^-24 ..= 1".into(),
            "arithmetic: context <= 2^24; trace headers",
            "compiler::Workload::validate (and the flags, cli::values)",
        ),
        row("steps", "--steps", format!("1 ..= {}", pow2(MAX_STEPS as u128)), "run time", "compiler::plan::choose"),
        row("jobs", "sweep --jobs", format!("1 ..= {MAX_JOBS}"), "threads", "cli::sweep (clap)"),
        row(
            "sweep_points",
            "points of one sweep (models x chips x --set values x workload axes)",
            format!("<= {}", pow2(MAX_SWEEP_POINTS)),
            "run time, output size",
            "sweep::space (check_points), before any chip loads",
        ),
        row(
            "arrival_cv",
            "serve --arrival gamma:CV",
            format!("0 ..= {MAX_ARRIVAL_CV}"),
            "arithmetic: f64 gaps",
            "serve::request::Arrivals",
        ),
        row(
            "request_tokens",
            "serve prompt and output tokens (flags, trace), --block-size",
            format!("1 ..= {}", pow2(MAX_REQUEST_TOKENS as u128)),
            "arithmetic: as --context",
            "serve::request::Lengths, serve::request::parse_trace, cli::serve",
        ),
        row(
            "token_budget",
            "serve --token-budget",
            format!("1 ..= {}", pow2(MAX_TOKENS_PER_PASS as u128)),
            "memory of activations: as --batch x tokens per user",
            "cli::serve",
        ),
        row(
            "length_sigma",
            "serve lognormal:MEAN:SIGMA request lengths",
            format!("SIGMA <= {MAX_LENGTH_SIGMA}"),
            "the distribution's mean: past it every draw is 1 token",
            "serve::request (Lengths::from_str)",
        ),
        row(
            "arrival_span",
            "serve arrivals, first to last",
            format!("<= 2^{} s", MAX_ARRIVAL_SPAN_S.log2() as u32),
            "arithmetic: f64 seconds",
            "serve::request (Generator::generate, parse_trace)",
        ),
        row(
            "degrees",
            "--tp, --pp, --ep",
            "1 ..= chips (pp <= layers)".into(),
            "no division by zero",
            "compiler::plan::choose",
        ),
        row("tokens", "token ids of a tile", format!("0 ..< {}", pow2(MAX_TOKENS as u128)), "memory per tile", chk),
        row("delay", "delay cycles", format!("<= {}", pow2(MAX_DELAY as u128)), "arithmetic: u64 cycles", chk),
        row(
            "run_work",
            "MACs and vector ops of one run, loops multiplied out",
            format!("<= {}", pow2(MAX_RUN_WORK)),
            "arithmetic: u64 counters",
            "sim::budget (Events::check_totals)",
        ),
        row(
            "run_bytes",
            "bytes one run counts (transfers per link crossed), loops multiplied out",
            format!("<= {}", pow2(MAX_RUN_BYTES)),
            "arithmetic: u64 counters",
            "sim::budget (Events::check_totals)",
        ),
        row(
            "sim_cycles",
            "simulated time of one run, cycles",
            format!("<= {}", pow2(MAX_SIM_CYCLES as u128)),
            "arithmetic: u64 ticks of 2^-10 cycle",
            "sim::event (EventQueue::schedule)",
        ),
        row(
            "work",
            "MACs or vector ops of one instruction (its bytes: 8x)",
            format!("< {}", pow2(MAX_WORK)),
            "arithmetic: u64 counters",
            chk,
        ),
        row("transfer_bytes", "bytes of one transfer", format!("<= {}", bytes(MAX_TRANSFER_BYTES)), "arithmetic", chk),
        row("loop_product", "product of open loop counts", format!("<= {}", pow2(MAX_LOOP_PRODUCT)), "run time", chk),
        row("issued", "instructions issued per run", format!("<= {}", pow2(MAX_ISSUED)), "run time", chk),
        row(
            "group_members",
            "barrier group members, all groups",
            format!("<= {MAX_GROUP_MEMBERS_PER_TILE} x tiles"),
            "memory",
            "trace::text, trace::binary",
        ),
        row(
            "pieces",
            "packets and DRAM granules per transfer",
            format!("<= {}", pow2(MAX_PIECES_PER_TRANSFER as u128)),
            "events per instruction",
            "trace::against",
        ),
        row(
            "sim_events",
            "events of one simulation",
            format!("<= {}", pow2(MAX_SIM_EVENTS)),
            "run time",
            "sim::budget::check_parts (a trace; run --traffic from its offered load before any packet, then its instructions)",
        ),
        row(
            "traffic_rate",
            "gen traffic and run --traffic --rate",
            ">= 2^-32 flits/node/cycle".into(),
            "run time: under one flit in 2^32 slots; trace headers",
            "cli::TrafficArgs::options",
        ),
        row(
            "traffic",
            "gen traffic and run --traffic tiles x cycles",
            format!("<= {}", pow2(MAX_TRAFFIC_SLOTS)),
            "run time",
            "synth::traffic_slots",
        ),
        row(
            "memory",
            "memory a run plans (--max-memory)",
            format!("{} by default", bytes(DEFAULT_MAX_MEMORY)),
            "memory",
            "limits::check_memory (trace load, simulate, check --chip, characterize, gen)",
        ),
    ]
}

/// The table as Markdown, as arch/limits.md holds it.
pub fn markdown_table() -> String {
    let mut s =
        String::from("| key | bound on | limit | reason | enforced in | past it |\n|---|---|---|---|---|---|\n");
    for r in table() {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | `{}` | {:?} |\n",
            r.key, r.what, r.bound, r.reason, r.enforced, r.action
        ));
    }
    s
}

/// `s` cut to `MAX_ECHO_CHARS` characters for a message, with `...` and
/// the full length when it was longer.
pub fn excerpt(s: &str) -> String {
    let mut chars = s.char_indices();
    match chars.nth(MAX_ECHO_CHARS) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}... ({} bytes)", &s[..cut], s.len()),
    }
}

/// A message with every run of input it quotes (between backticks or
/// double quotes) and every overlong word cut by `excerpt`: the last guard
/// before a message is printed, so no input is echoed whole.
pub fn cap_message(m: &str) -> String {
    // Twice the excerpt length, so an excerpt already made is left alone.
    let long = |w: &str| w.chars().count() > 2 * MAX_ECHO_CHARS;
    if !m.split(char::is_whitespace).any(long) && !m.split(['`', '"']).any(long) {
        return m.to_string();
    }
    let mut out = String::with_capacity(m.len().min(1024));
    for (i, part) in m.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let mut words = Vec::new();
        for w in part.split(' ') {
            words.push(if long(w) { excerpt(w) } else { w.to_string() });
        }
        let joined = words.join(" ");
        if i % 2 == 1 && long(&joined) {
            out.push_str(&excerpt(&joined));
        } else {
            out.push_str(&joined);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_never_echo_long_input() {
        let m = format!("f.trace:3:1: unknown instruction `{}` (expected one of: a, b)", "x".repeat(100_000));
        let c = cap_message(&m);
        assert!(c.len() < 200, "{c}");
        assert!(c.ends_with("(expected one of: a, b)"), "{c}");
        assert_eq!(cap_message("short `ok` message"), "short `ok` message");
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(excerpt("abc"), "abc");
        let long = "x".repeat(1000);
        let e = excerpt(&long);
        assert!(e.len() < 120, "{e}");
        assert!(e.ends_with("(1000 bytes)"));
        assert_eq!(excerpt(&"é".repeat(81)).chars().filter(|&c| c == 'é').count(), 80);
    }

    #[test]
    fn keys_are_unique() {
        let t = table();
        for (i, r) in t.iter().enumerate() {
            assert!(t[..i].iter().all(|o| o.key != r.key), "{}", r.key);
        }
    }

    #[test]
    fn memory_check_names_the_estimate_and_limit() {
        let e = check_memory("a trace of 16777216 tiles", 3 << 30).unwrap_err();
        assert!(e.contains("3.2 GB") || e.contains("GiB") || e.contains("GB"), "{e}");
        assert!(e.contains("--max-memory"), "{e}");
    }
}
