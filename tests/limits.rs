//! Every bound of arch/limits.md, tried at the bound and one step past it.
//!
//! `CASES` has one row per row of `tilesim::limits::table()` (the test
//! fails for a row without a case, or a case without a row). Each case is
//! an input at the bound, which the limit must not refuse (it may fail for
//! another reason: a model that does not fit), and one just past it, which
//! must exit 2 with the limit's message and a location: the file and line
//! for a config or trace, the flag for a command-line value. Every run is
//! the real binary under a 4 GiB address-space cap and a 60 s timeout, so
//! an allocation before validation or a hang fails the test instead of the
//! machine. Bounds that cannot be reached without running for minutes
//! (events of a simulation, traffic slots, the memory budget) are tried at
//! the bound through the library's own check and past it through the CLI.
//!
//! Also here: arch/limits.md's table equals the code's
//! (`UPDATE_LIMITS_DOC=1 cargo test --test limits` rewrites it), and a
//! proptest campaign of values far past every config bound.

mod common;

use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The chip every config case edits: a 4x4 mesh with two HBM stacks.
const CHIP: &str = r#"name = "limit-chip"
description = "4x4 mesh with two HBM stacks"
clock = "1 GHz"

[tile]
sram = "1 MiB"
sram_bandwidth = "256 B/cycle"
macs_per_cycle = { fp16 = 1024, int8 = 2048 }
runs_as = { bf16 = "fp16" }
vector_lanes = 64
matrix_latency = "10 cycles"
vector_latency = "5 cycles"
dma_engines = 4

[noc]
topology = "mesh"
grid = [4, 4]
link_bandwidth = "64 B/cycle"
router_latency = "3 cycles"
link_latency = "1 cycle"
inject_latency = "2 cycles"
eject_latency = "1 cycle"
packet = "4 KiB"

[hbm]
stacks = 2
channels_per_stack = 8
capacity = "16 GiB"
bandwidth = "256 GB/s"
banks = 16
row_size = "1 KiB"
interleave = "256 B"
controller_latency = "50 ns"
attach = [4, 7]

[hbm.timing]
cl = "12.5 ns"
trcd = "19.4 ns"
trp = "16.25 ns"
tras = "28 ns"
trc = "45 ns"
tfaw = "15 ns"
trrd = "2.5 ns"
trfc = "350 ns"
trefi = "3.9 us"
"#;

const MODEL: &str = r#"name = "limit-model"
description = "Mixtral 8x7B shape"
layers = 32
hidden = 4096
heads = 32
kv_heads = 8
head_dim = 128
ffn = 14336
vocab = 32000
experts = 8
top_k = 2
dtype = "bf16"
tied_embeddings = false
"#;

/// `text` with `key` of `[section]` ("" for the top level) set to `value`
/// (added when absent), or removed when `value` is None.
fn set(text: &str, section: &str, key: &str, value: Option<&str>) -> String {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut done = false;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').to_string();
        }
        let is_key = t.split_once('=').is_some_and(|(k, _)| k.trim() == key);
        if current == section && is_key && !done {
            if let Some(v) = value {
                out.push(format!("{key} = {v}"));
            }
            done = true;
            continue;
        }
        out.push(line.to_string());
        // Append at the end of the section when the key is absent.
        let next_is_new_section = lines.get(i + 1).is_none_or(|n| n.trim().starts_with('['));
        if !done && current == section && next_is_new_section && !section.is_empty() {
            if let Some(v) = value {
                out.push(format!("{key} = {v}"));
            }
            done = true;
        }
    }
    if !done && let Some(v) = value {
        if section.is_empty() {
            out.insert(2, format!("{key} = {v}"));
        } else {
            out.push(format!("[{section}]"));
            out.push(format!("{key} = {v}"));
        }
    }
    out.join("\n") + "\n"
}

fn chip_with(edits: &[(&str, &str, Option<&str>)]) -> String {
    edits.iter().fold(CHIP.to_string(), |t, (s, k, v)| set(&t, s, k, *v))
}

fn model_with(key: &str, v: &str) -> String {
    set(MODEL, "", key, Some(v))
}

/// A text trace for the structure-only checks (its chip is not shipped).
fn trace(tiles: u32, header: &str, body: &str) -> String {
    format!("tilesim-trace 2\nchip limit-chip\ntiles {tiles}\n{header}\ntile 0\n{body}\n")
}

/// What a case runs.
#[derive(Clone)]
enum Input {
    /// `tilesim check FILE` on a chip config.
    Chip(String),
    /// `tilesim check FILE` on a model config.
    Model(String),
    /// `tilesim check FILE` on a text trace.
    Trace(String),
    /// `tilesim check --chip CHIP TRACE`.
    TraceOnChip(String, String),
    /// `tilesim run --chip chip.toml TRACE` (CHIP): a bound only the run
    /// meets.
    Run(String),
    /// The CLI with these arguments (`{chip}` is a file holding CHIP).
    Args(Vec<String>),
    /// `tilesim plot FILE --x a --y b -o out.svg` on these bytes.
    Csv(Vec<u8>),
    /// A check in the library, for bounds too slow to reach end to end.
    Lib(fn() -> Result<(), String>),
}

struct Case {
    key: &'static str,
    at: Input,
    past: Input,
    /// Words of the limit's message.
    marker: &'static str,
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
    /// What the location must name (the file, or the flag).
    locate: String,
    /// Whether the location must carry a line (configs and text traces).
    line: bool,
}

/// Runs the binary under a 4 GiB address-space cap and a 60 s timeout.
fn tilesim(args: &[String], dir: &Path, stdin: Option<&[u8]>) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tilesim"));
    cmd.args(args).current_dir(dir).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
        unsafe {
            cmd.pre_exec(|| {
                let cap = libc::rlimit { rlim_cur: 4 << 30, rlim_max: 4 << 30 };
                libc::setrlimit(libc::RLIMIT_AS, &cap);
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("run tilesim");
    if let (Some(bytes), Some(mut i)) = (stdin, child.stdin.take()) {
        let _ = i.write_all(bytes);
    }
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut s);
        s
    });
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`tilesim {}` ran past 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (code, String::from_utf8_lossy(&reader.join().unwrap()).into_owned())
}

fn run(input: &Input) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &[u8]| {
        std::fs::write(dir.path().join(name), text).unwrap();
        name.to_string()
    };
    let check = |file: String| {
        let (code, stderr) = tilesim(&["check".into(), file.clone()], dir.path(), None);
        Outcome { code, stderr, locate: file, line: true }
    };
    match input {
        Input::Chip(t) => check(write("chip.toml", t.as_bytes())),
        Input::Model(t) => check(write("model.toml", t.as_bytes())),
        Input::Trace(t) => check(write("t.trace", t.as_bytes())),
        Input::TraceOnChip(t, c) => {
            write("chip.toml", c.as_bytes());
            let file = write("t.trace", t.as_bytes());
            let args = ["check", "--chip", "chip.toml", "t.trace"].map(String::from);
            let (code, stderr) = tilesim(&args, dir.path(), None);
            Outcome { code, stderr, locate: file, line: true }
        }
        Input::Run(t) => {
            write("chip.toml", CHIP.as_bytes());
            let file = write("t.trace", t.as_bytes());
            let args = ["run", "--chip", "chip.toml", "t.trace"].map(String::from);
            let (code, stderr) = tilesim(&args, dir.path(), None);
            Outcome { code, stderr, locate: file, line: false }
        }
        Input::Args(a) => {
            write("chip.toml", CHIP.as_bytes());
            write("model.toml", MODEL.as_bytes());
            let (code, stderr) = tilesim(a, dir.path(), None);
            // The flag under test is the last one given.
            let flag = a.iter().rev().find(|x| x.starts_with("--")).cloned().unwrap_or_default();
            Outcome { code, stderr, locate: flag, line: false }
        }
        Input::Csv(bytes) => {
            let file = write("in.csv", bytes);
            let args = ["plot", "in.csv", "--x", "a", "--y", "b", "-o", "out.svg"].map(String::from);
            let (code, stderr) = tilesim(&args, dir.path(), None);
            Outcome { code, stderr, locate: file, line: false }
        }
        Input::Lib(f) => {
            let (code, stderr) = match f() {
                Ok(()) => (Some(0), String::new()),
                Err(m) => (Some(2), m),
            };
            Outcome { code, stderr, locate: String::new(), line: false }
        }
    }
}

/// A small `serve` run whose arrivals are `arrival`.
fn serve_with_arrival(arrival: &str) -> Input {
    args(&[
        "serve",
        "--model",
        "model.toml",
        "--chip",
        "chip.toml",
        "--no-cache",
        "--rate",
        "1",
        "--requests",
        "2",
        "--arrival",
        arrival,
    ])
}

/// A small `serve` run of two evenly spaced requests with `extra` flags
/// (the flag under test last).
fn serve_with(extra: &[&str]) -> Input {
    let base = [
        "serve",
        "--model",
        "model.toml",
        "--chip",
        "chip.toml",
        "--no-cache",
        "--requests",
        "2",
        "--arrival",
        "constant",
    ];
    args(&[&base[..], extra].concat())
}

/// 32 silu instructions of 2^53 elements of `dtype`, then `extra`.
fn silu_loop(dtype: &str, extra: &str) -> String {
    trace(16, "", &format!("loop count=32\nvec op=silu n=9007199254740992 dtype={dtype}\nendloop\n{extra}"))
}

/// A `--floor-only` sweep of `batches` x 4096 contexts at `--spec 1025`
/// (past its own bound, so a run that passes the point count stops at the
/// first point), the batch axis last.
fn sweep_grid(batches: u64) -> Vec<String> {
    let list = |n: u64| (1..=n).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    let head = ["sweep", "--model", "model.toml", "--chip", "chip.toml", "--floor-only", "--spec", "1025"];
    let mut a: Vec<String> = head.iter().map(|s| s.to_string()).collect();
    a.extend(["--context".to_string(), list(4096), "--batch".to_string(), list(batches)]);
    a
}

/// `gen traffic` of uniform traffic on chip.toml into t.trace with
/// `extra` flags (the flag under test last).
fn gen_traffic(extra: &[&str]) -> Input {
    let base = ["gen", "traffic", "--chip", "chip.toml", "--pattern", "uniform", "-o", "t.trace"];
    args(&[&base[..], extra].concat())
}

fn args(a: &[&str]) -> Input {
    Input::Args(a.iter().map(|s| s.to_string()).collect())
}

fn chip_pair(section: &'static str, key: &'static str, at: &str, past: &str) -> (Input, Input) {
    (Input::Chip(chip_with(&[(section, key, Some(at))])), Input::Chip(chip_with(&[(section, key, Some(past))])))
}

fn model_pair(key: &str, at: &str, past: &str) -> (Input, Input) {
    (Input::Model(model_with(key, at)), Input::Model(model_with(key, past)))
}

fn fat_tree(arity: &str) -> String {
    chip_with(&[
        ("noc", "topology", Some("\"fat-tree\"")),
        ("noc", "grid", None),
        ("noc", "tiles", Some("16")),
        ("noc", "arity", Some(arity)),
    ])
}

fn dram3d(channels: &str) -> String {
    let base = CHIP.split("[hbm]").next().unwrap().to_string();
    format!(
        "{base}[dram3d]\ncapacity_per_tile = \"1 GiB\"\nbandwidth_per_tile = \"256 GB/s\"\nchannels_per_tile = \
         {channels}\nbanks = 16\nrow_size = \"1 KiB\"\ninterleave = \"256 B\"\ncontroller_latency = \"10 ns\"\n\n\
         [dram3d.timing]\ncl = \"12.5 ns\"\ntrcd = \"19.4 ns\"\ntrp = \"16.25 ns\"\ntras = \"28 ns\"\ntrc = \"45 ns\"\n\
         tfaw = \"15 ns\"\ntrrd = \"2.5 ns\"\ntrfc = \"350 ns\"\ntrefi = \"3.9 us\"\n"
    )
}

fn system(chips: &str, grid: &str) -> String {
    let c = chip_with(&[("noc", "grid", Some(grid)), ("hbm", "attach", None)]);
    format!(
        "{c}\n[system]\nchips = {chips}\ntopology = \"ring\"\nlink_bandwidth = \"100 GB/s\"\nlink_latency = \
         \"1 us\"\ngateway = 0\n"
    )
}

fn cost(price: &str, power: &str) -> String {
    format!("{CHIP}\n[cost]\nchip_price_usd = {price}\nchip_power = \"{power}\"\n")
}

fn energy(mac: &str) -> String {
    format!(
        "{CHIP}\n[energy]\nmac = {{ fp16 = \"{mac}\", int8 = \"0.1 pJ\" }}\nvector_op = \"1 pJ\"\nsram = \"1 pJ/B\"\nhbm = \
         \"3.9 pJ/bit\"\nnoc = \"2 pJ/B\"\nchip_static = \"1 W\"\n"
    )
}

/// A config padded with a comment to exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let mut t = CHIP.as_bytes().to_vec();
    t.extend_from_slice(b"#");
    while t.len() < len - 1 {
        t.push(b'x');
    }
    t.push(b'\n');
    t
}

fn nested(depth: usize) -> String {
    set(CHIP, "", "extra", Some(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth))))
}

fn long_line(len: usize) -> String {
    // The header, then a comment line of exactly `len` bytes with its newline.
    format!("tilesim-trace 2\nchip limit-chip\ntiles 4\n#{}\ntile 0\ndelay cycles=1\n", "x".repeat(len - 2))
}

fn workload_of(len: usize) -> String {
    trace(4, &format!("workload {}", "w".repeat(len)), "delay cycles=1")
}

fn csv_of(len: usize) -> Vec<u8> {
    let mut v = b"a,b\n1,\"".to_vec();
    v.resize(len - 2, b'z');
    v.extend_from_slice(b"\"\n");
    v
}

fn groups(n: usize) -> String {
    let header: Vec<String> = (0..n).map(|g| format!("group {g} 0-15")).collect();
    trace(16, &header.join("\n"), "delay cycles=1")
}

fn pieces_chip() -> String {
    chip_with(&[
        ("tile", "sram", Some("\"1 GiB\"")),
        ("noc", "packet", Some("\"64 B\"")),
        ("hbm", "interleave", Some("\"2 KiB\"")),
    ])
}

fn pieces_trace(bytes: u64) -> String {
    trace(16, "", &format!("load tok=0 mem=hbm:0x0 sram=0x0 bytes={bytes}\nwait tok=0"))
}

fn budget_chip() -> tilesim::chip::Chip {
    tilesim::config::chip::load_str("chip.toml", &pieces_chip()).unwrap()
}

/// A trace of `iterations` sends of 2^20 packets each, for the event estimate.
fn events_trace(iterations: u64) -> tilesim::trace::Trace {
    use tilesim::ids::TileId;
    use tilesim::isa::{Count, Instr, SramAddr, Tag, Token};
    use tilesim::units::Bytes;
    let chip = budget_chip();
    let header = tilesim::trace::Header { chip: chip.name.clone(), tiles: 16, ..Default::default() };
    let send = Instr::Send { tok: Token(0), to: TileId(1), tag: Tag(0), sram: SramAddr(0), bytes: Bytes(1 << 26) };
    let body = vec![Instr::Loop { count: Count(iterations) }, send, Instr::EndLoop {}];
    tilesim::trace::Trace::from_streams(header, [(TileId(0), body)], "t")
}

fn events_at() -> Result<(), String> {
    let chip = budget_chip();
    // The largest loop count whose estimate is within the bound.
    // n iterations cost 1 + n * (2 + per): loop, send and endloop.
    let per = tilesim::sim::budget::events(&chip, &events_trace(1)) - 3;
    let n = ((1u128 << 33) - 1) / (per + 2);
    let e = tilesim::sim::budget::events(&chip, &events_trace(n as u64));
    assert!(e <= 1 << 33, "{e}");
    tilesim::sim::budget::check(&chip, &events_trace(n as u64))
}

fn events_past() -> Result<(), String> {
    tilesim::sim::budget::check(&budget_chip(), &events_trace(1 << 14))
}

fn memory_past() -> Result<(), String> {
    tilesim::limits::check_memory("a test", tilesim::limits::DEFAULT_MAX_MEMORY as u128 + 1)
}

fn traffic_at() -> Result<(), String> {
    tilesim::synth::traffic_budget(64, 1 << 26, 0.0001, 1)
}

fn memory_at() -> Result<(), String> {
    tilesim::limits::check_memory("a test", tilesim::limits::DEFAULT_MAX_MEMORY as u128)
}

fn cases() -> Vec<Case> {
    let c = |key, (at, past): (Input, Input), marker| Case { key, at, past, marker };
    vec![
        c(
            "config_bytes",
            (
                Input::Chip(String::from_utf8(padded(1 << 20)).unwrap()),
                Input::Chip(String::from_utf8(padded((1 << 20) + 1)).unwrap()),
            ),
            "larger than",
        ),
        c("config_nesting", (Input::Chip(nested(16)), Input::Chip(nested(17))), "nested more than"),
        c("csv_bytes", (Input::Csv(csv_of(256 << 20)), Input::Csv(csv_of((256 << 20) + 1))), "larger than"),
        c("trace_line", (Input::Trace(long_line(64 << 10)), Input::Trace(long_line((64 << 10) + 1))), "line is longer"),
        c("header_string", (Input::Trace(workload_of(4096)), Input::Trace(workload_of(4097))), "more than the 4096"),
        c("clock", chip_pair("", "clock", "\"100 GHz\"", "\"100.001 GHz\""), "plausible 1 MHz"),
        c("rate", chip_pair("noc", "link_bandwidth", "\"1 MB/s\"", "\"0.999 MB/s\""), "plausible 1 MB/s"),
        c(
            "rate_per_cycle",
            chip_pair("noc", "link_bandwidth", "\"16777216 B/cycle\"", "\"16777217 B/cycle\""),
            "bytes per cycle at the clock",
        ),
        c("time", chip_pair("noc", "router_latency", "\"1 s\"", "\"1.001 s\""), "longer than the 1 s"),
        c("sram", chip_pair("tile", "sram", "\"64 GiB\"", "\"68719476737 B\""), "more than the 64.00 GiB"),
        c(
            "memory_capacity",
            chip_pair("hbm", "capacity", "\"16 TiB\"", "\"17592186044417 B\""),
            "more than the 16.00 TiB",
        ),
        c("packet", chip_pair("noc", "packet", "\"64 B\"", "\"63 B\""), "less than the 64 B"),
        c("dram_granule", chip_pair("hbm", "interleave", "\"32 B\"", "\"31 B\""), "less than the 32 B"),
        c(
            "macs",
            chip_pair("tile", "macs_per_cycle", "{ fp16 = 16777216 }", "{ fp16 = 16777217 }"),
            "must be in 1..=16777216",
        ),
        c("vector_lanes", chip_pair("tile", "vector_lanes", "1048576", "1048577"), "must be in 1..=1048576"),
        c("dma_engines", chip_pair("tile", "dma_engines", "1024", "1025"), "must be in 1..=1024"),
        c(
            "hbm_stacks",
            (
                Input::Chip(chip_with(&[("hbm", "stacks", Some("64")), ("hbm", "attach", None)])),
                Input::Chip(chip_with(&[("hbm", "stacks", Some("65")), ("hbm", "attach", None)])),
            ),
            "must be in 1..=64",
        ),
        c("hbm_channels", chip_pair("hbm", "channels_per_stack", "1024", "1025"), "must be in 1..=1024"),
        c("banks", chip_pair("hbm", "banks", "1024", "1025"), "must be in 1..=1024"),
        c("vault_channels", (Input::Chip(dram3d("64")), Input::Chip(dram3d("65"))), "must be in 1..=64"),
        c("vcs", chip_pair("noc", "vcs", "1024", "1025"), "must be at most 1024"),
        c("arity", (Input::Chip(fat_tree("1024")), Input::Chip(fat_tree("1025"))), "must be in 2..=1024"),
        c("tiles_per_chip", chip_pair("noc", "grid", "[4096, 4096]", "[4097, 4096]"), "supported per chip"),
        c(
            "chips",
            (Input::Chip(system("1048576", "[1, 1]")), Input::Chip(system("1048577", "[1, 1]"))),
            "must be in 1..=1048576",
        ),
        c(
            "system_tiles",
            (Input::Chip(system("4", "[4096, 4096]")), Input::Chip(system("5", "[4096, 4096]"))),
            "tiles in the system",
        ),
        c("price", (Input::Chip(cost("1e12", "1 kW")), Input::Chip(cost("1.1e12", "1 kW"))), "more than the 1e12"),
        c(
            "chip_price",
            (Input::Chip(cost("0.01", "1 kW")), Input::Chip(cost("0.0099", "1 kW"))),
            "less than the $0.01",
        ),
        c("power", (Input::Chip(cost("1", "1000 MW")), Input::Chip(cost("1", "1001 MW"))), "more than the 1 GW"),
        c(
            "min_power",
            (Input::Chip(cost("1", "0.000001 W")), Input::Chip(cost("1", "0.00000099 W"))),
            "less than the 1 µW",
        ),
        c("energy", (Input::Chip(energy("1 nJ")), Input::Chip(energy("1.001 nJ"))), "more than the 1 nJ allowed"),
        c(
            "min_energy",
            (Input::Chip(energy("0.000001 fJ")), Input::Chip(energy("0.00000099 fJ"))),
            "below the Landauer limit",
        ),
        c("layers", model_pair("layers", "65536", "65537"), "must be at most 65536"),
        c("hidden", model_pair("hidden", "1048576", "1048577"), "must be at most 1048576"),
        c("heads", model_pair("heads", "65536", "65537"), "must be at most 65536"),
        c("head_dim", model_pair("head_dim", "65536", "65537"), "must be at most 65536"),
        c("ffn", model_pair("ffn", "16777216", "16777217"), "must be at most 16777216"),
        c("vocab", model_pair("vocab", "16777216", "16777217"), "must be at most 16777216"),
        c("experts", model_pair("experts", "65536", "65537"), "must be at most 65536"),
        c(
            "params",
            (
                Input::Model(set(&model_with("experts", "65536"), "", "ffn", Some("14336"))),
                Input::Model(set(&model_with("experts", "65536"), "", "ffn", Some("1048576"))),
            ),
            "parameters, more than the 2^50",
        ),
        c(
            "batch",
            (
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--batch", "1048576"]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--batch", "1048577"]),
            ),
            "--batch must be at most",
        ),
        c(
            "context",
            (
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--context", "16777216"]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--context", "16777217"]),
            ),
            "--context must be at most",
        ),
        c(
            "prompt",
            (
                args(&[
                    "roofline",
                    "--model",
                    "model.toml",
                    "--chip",
                    "chip.toml",
                    "--phase",
                    "prefill",
                    "--prompt",
                    "16777216",
                ]),
                args(&[
                    "roofline",
                    "--model",
                    "model.toml",
                    "--chip",
                    "chip.toml",
                    "--phase",
                    "prefill",
                    "--prompt",
                    "16777217",
                ]),
            ),
            "--prompt must be at most",
        ),
        c(
            "spec",
            (
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--spec", "1024"]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--spec", "1025"]),
            ),
            "--spec must be at most",
        ),
        c(
            "tokens_per_pass",
            (
                args(&[
                    "roofline",
                    "--model",
                    "model.toml",
                    "--chip",
                    "chip.toml",
                    "--batch",
                    "16384",
                    "--spec",
                    "1024",
                ]),
                args(&[
                    "roofline",
                    "--model",
                    "model.toml",
                    "--chip",
                    "chip.toml",
                    "--batch",
                    "16385",
                    "--spec",
                    "1024",
                ]),
            ),
            "tokens in one pass",
        ),
        c(
            "fraction",
            (
                args(&[
                    "roofline",
                    "--model",
                    "model.toml",
                    "--chip",
                    "chip.toml",
                    "--kv-keep",
                    "5.960464477539063e-8",
                ]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--kv-keep", "5.96e-8"]),
            ),
            "at least 2^-24",
        ),
        c(
            "steps",
            (
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--steps", "1048576"]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--steps", "1048577"]),
            ),
            "--steps must be at most",
        ),
        c(
            "jobs",
            (
                args(&["sweep", "--model", "model.toml", "--chip", "chip.toml", "--floor-only", "--jobs", "1024"]),
                args(&["sweep", "--model", "model.toml", "--chip", "chip.toml", "--floor-only", "--jobs", "1025"]),
            ),
            "1025",
        ),
        c(
            // 4096 x 4096 points at the bound, refused for --spec on the first
            // point checked; 4097 x 4096 past it, before any point is.
            "sweep_points",
            (Input::Args(sweep_grid(4096)), Input::Args(sweep_grid(4097))),
            "one sweep may have",
        ),
        c(
            "length_sigma",
            (
                serve_with(&["--rate", "1", "--prompt", "lognormal:512:3"]),
                serve_with(&["--rate", "1", "--prompt", "lognormal:512:3.001"]),
            ),
            "SIGMA is more than",
        ),
        c("arrival_cv", (serve_with_arrival("gamma:100"), serve_with_arrival("gamma:100.001")), "CV in 0..=100"),
        c(
            "request_tokens",
            (
                serve_with(&["--rate", "1", "--prompt", "16777216"]),
                serve_with(&["--rate", "1", "--prompt", "16777217"]),
            ),
            "a request may have",
        ),
        c(
            "token_budget",
            (
                serve_with(&["--rate", "1", "--token-budget", "16777216"]),
                serve_with(&["--rate", "1", "--token-budget", "16777217"]),
            ),
            "--token-budget must be at most",
        ),
        c(
            // Two requests 1/rate apart: 2^25 s at the bound.
            "arrival_span",
            (serve_with(&["--rate", "2.98023223876953125e-8"]), serve_with(&["--rate", "2.98e-8"])),
            "arrivals may span",
        ),
        c(
            "degrees",
            (
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--pp", "1"]),
                args(&["roofline", "--model", "model.toml", "--chip", "chip.toml", "--pp", "0"]),
            ),
            "--pp must be at least 1",
        ),
        c(
            "tokens",
            (Input::Trace(trace(4, "", "wait tok=65535")), Input::Trace(trace(4, "", "wait tok=65536"))),
            "too large",
        ),
        c(
            "delay",
            (
                Input::Trace(trace(4, "", "delay cycles=281474976710656")),
                Input::Trace(trace(4, "", "delay cycles=281474976710657")),
            ),
            "too long",
        ),
        c(
            // 32 x 2^53 silu elements: 2^60 vector operations and (fp16, one
            // input, one output) 2^60 bytes at the SRAM port, both at their
            // bounds; the run then passes 2^50 cycles (another bound).
            "run_work",
            (Input::Run(silu_loop("fp16", "")), Input::Run(silu_loop("fp16", "vec op=silu n=1 dtype=fp16"))),
            "\"run_work\"",
        ),
        c(
            // fp32 doubles the bytes, not the operations.
            "run_bytes",
            (Input::Run(silu_loop("fp16", "")), Input::Run(silu_loop("fp32", ""))),
            "\"run_bytes\"",
        ),
        c(
            // Four delays of 2^48 cycles end the run at 2^50; one cycle more
            // is past it.
            "sim_cycles",
            (
                Input::Run(trace(16, "", "loop count=4\ndelay cycles=281474976710656\nendloop")),
                Input::Run(trace(16, "", "loop count=4\ndelay cycles=281474976710656\nendloop\ndelay cycles=1")),
            ),
            "the most simulated time one run may take",
        ),
        c(
            "work",
            (
                Input::Trace(trace(4, "", "gemm m=268435456 n=268435455 k=1 dtype=fp16")),
                Input::Trace(trace(4, "", "gemm m=268435456 n=268435456 k=1 dtype=fp16")),
            ),
            "2^56",
        ),
        c(
            "transfer_bytes",
            (
                Input::Trace(trace(4, "", "load tok=0 mem=hbm:0x0 sram=0x0 bytes=68719476736")),
                Input::Trace(trace(4, "", "load tok=0 mem=hbm:0x0 sram=0x0 bytes=68719476737")),
            ),
            "one transfer may",
        ),
        c(
            "loop_product",
            (
                Input::Trace(trace(4, "", "loop count=65536\nloop count=65536\nendloop\nendloop")),
                Input::Trace(trace(4, "", "loop count=65536\nloop count=65537\nendloop\nendloop")),
            ),
            "repeats its body",
        ),
        c(
            "issued",
            (
                Input::Trace(trace(4, "", "loop count=4294967295\nendloop")),
                Input::Trace(trace(4, "", "loop count=4294967295\nendloop\ndelay cycles=1")),
            ),
            "issues more than 2^32",
        ),
        c("group_members", (Input::Trace(groups(8)), Input::Trace(groups(9))), "members in all"),
        c(
            "pieces",
            (
                Input::TraceOnChip(pieces_trace(1 << 26), pieces_chip()),
                Input::TraceOnChip(pieces_trace((1 << 26) + 1), pieces_chip()),
            ),
            "one transfer may",
        ),
        c("sim_events", (Input::Lib(events_at), Input::Lib(events_past)), "2^33"),
        c(
            "traffic_rate",
            (
                gen_traffic(&["--cycles", "10", "--rate", "2.3283064365386963e-10"]),
                gen_traffic(&["--cycles", "10", "--rate", "2.3e-10"]),
            ),
            "less than 2^-32",
        ),
        c(
            "traffic",
            (Input::Lib(traffic_at), gen_traffic(&["--rate", "0.1", "--cycles", "268435457"])),
            "injection slots",
        ),
        c("memory", (Input::Lib(memory_at), Input::Lib(memory_past)), "--max-memory"),
    ]
}

/// Cases whose error rightly has no line: the file as a whole is refused.
const NO_LINE: &[&str] = &["config_bytes"];

#[test]
fn every_row_has_a_case_and_every_case_a_row() {
    let rows: Vec<&str> = tilesim::limits::table().iter().map(|r| r.key).collect();
    let keys: Vec<&str> = cases().iter().map(|c| c.key).collect();
    for r in &rows {
        assert!(keys.contains(r), "arch/limits.md row `{r}` has no case in tests/limits.rs");
    }
    for k in &keys {
        assert!(rows.contains(k), "case `{k}` is no row of limits::table()");
    }
}

#[test]
fn every_limit_holds_at_its_bound_and_refuses_past_it() {
    let mut problems = Vec::new();
    for case in cases() {
        let at = run(&case.at);
        if at.code.is_none_or(|c| c != 0 && c != 2) || at.stderr.contains("panicked") {
            problems.push(format!("{}: at the bound: exit {:?}\n{}", case.key, at.code, at.stderr));
        } else if !case.marker.is_empty() && at.stderr.contains(case.marker) {
            problems.push(format!("{}: refused at the bound:\n{}", case.key, at.stderr));
        }
        let past = run(&case.past);
        let located = if past.line && !NO_LINE.contains(&case.key) {
            past.stderr.contains(&format!("{}:", past.locate))
                && past
                    .stderr
                    .split(&format!("{}:", past.locate))
                    .nth(1)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        } else {
            past.stderr.contains(&past.locate)
        };
        if past.code != Some(2) || !past.stderr.contains(case.marker) || !located {
            problems.push(format!(
                "{}: past the bound: exit {:?}, expected 2 with `{}` and a location ({}):\n{}",
                case.key, past.code, case.marker, past.locate, past.stderr
            ));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n\n{}", problems.len(), problems.join("\n\n"));
}

#[test]
fn arch_limits_md_holds_the_table_of_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("arch/limits.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let table = tilesim::limits::markdown_table();
    let (begin, end) = ("<!-- limits table: generated -->\n", "<!-- end of limits table -->");
    if std::env::var_os("UPDATE_LIMITS_DOC").is_some() {
        let (a, rest) = doc.split_once(begin).expect("arch/limits.md has the begin marker");
        let (_, b) = rest.split_once(end).expect("arch/limits.md has the end marker");
        std::fs::write(&path, format!("{a}{begin}{table}{end}{b}")).unwrap();
        return;
    }
    assert!(
        doc.contains(&format!("{begin}{table}{end}")),
        "arch/limits.md's table differs from tilesim::limits::table(); run UPDATE_LIMITS_DOC=1 cargo test --test \
         limits and review the diff"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Extreme values in every numeric config field: accepted or exit 2
    /// with the file and line, never a panic, an abort or a hang.
    #[test]
    fn extreme_values_in_configs_are_refused_with_a_location(
        field in 0usize..30,
        value in prop_oneof![
            Just("0".to_string()), Just("-1".to_string()), Just("9223372036854775807".to_string()),
            Just("18446744073709551616".to_string()), Just("4294967296".to_string()),
            Just("\"1e300 B\"".to_string()), Just("\"1e-300 B/s\"".to_string()), Just("\"1e30 GHz\"".to_string()),
            Just("\"1 B\"".to_string()), Just("\"1e300 ns\"".to_string()), Just("\"nan GB/s\"".to_string()),
            Just("[4, 4, 4]".to_string()), Just("[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]".to_string()),
            "[a-z]{300}".prop_map(|s| format!("\"{s}\"")),
        ],
    ) {
        const FIELDS: &[(&str, &str)] = &[
            ("", "clock"), ("tile", "sram"), ("tile", "sram_bandwidth"), ("tile", "vector_lanes"),
            ("tile", "matrix_latency"), ("tile", "dma_engines"), ("tile", "macs_per_cycle"), ("noc", "grid"),
            ("noc", "link_bandwidth"), ("noc", "router_latency"), ("noc", "packet"), ("noc", "vcs"),
            ("noc", "credit_latency"), ("hbm", "stacks"), ("hbm", "channels_per_stack"), ("hbm", "capacity"),
            ("hbm", "bandwidth"), ("hbm", "banks"), ("hbm", "row_size"), ("hbm", "interleave"),
            ("hbm", "attach"), ("hbm.timing", "trefi"), ("hbm.timing", "cl"), ("", "layers"), ("", "hidden"),
            ("", "heads"), ("", "vocab"), ("", "experts"), ("", "top_k"), ("", "ffn"),
        ];
        let (section, key) = FIELDS[field];
        let model_field = section.is_empty() && key != "clock";
        let text = if model_field { set(MODEL, "", key, Some(&value)) } else { chip_with(&[(section, key, Some(&value))]) };
        let out = if model_field { run(&Input::Model(text)) } else { run(&Input::Chip(text)) };
        prop_assert!(out.code == Some(0) || out.code == Some(2), "exit {:?}:\n{}", out.code, out.stderr);
        prop_assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        if out.code == Some(2) {
            let at = format!("{}:", out.locate);
            prop_assert!(
                out.stderr.split(&at).nth(1).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit())),
                "no line in:\n{}", out.stderr
            );
            prop_assert!(out.stderr.lines().all(|l| l.len() < 400), "echoes too much:\n{}", out.stderr);
        }
    }
}

/// Every example of issue 9, as a hostile user typed it: exit 2 naming the
/// file (and line) or the flag, under the cap and the timeout.
#[test]
fn the_examples_of_issue_9_exit_2_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    let mini = include_str!("../configs/chips/mini-mesh.toml");
    let edit = |key: &str, value: &str| set(mini, if key == "clock" { "" } else { "noc" }, key, Some(value));
    w("huge.toml", &edit("grid", "[4096, 4096]").replace("attach = [", "# attach = ["));
    w("huge.trace", "tilesim-trace 2\nchip mini-mesh\ntiles 16777216\ntile 0\ndelay cycles=1\n");
    let fc = include_str!("../configs/chips/dgx-h100.toml");
    let fc = set(
        &set(&set(fc, "system", "chips", Some("20000")), "system", "topology", Some("\"fully-connected\"")),
        "system",
        "switch_latency",
        None,
    );
    w("fc.toml", &fc);
    w(
        "groups.trace",
        &format!(
            "tilesim-trace 2\nchip x\ntiles 67108864\n{}",
            (0..8).map(|g| format!("group {g} 0-67108863\n")).collect::<String>()
        ),
    );
    w("sram.toml", &set(mini, "tile", "sram", Some("\"1e30 B\"")));
    w("loop.trace", "tilesim-trace 2\nchip mini-mesh\ntiles 16\ntile 0\nloop count=18446744073709551615\nendloop\n");
    w("packet.toml", &edit("packet", "\"1 B\""));
    w("bw.toml", &edit("link_bandwidth", "\"1e-30 B/s\""));
    w("clock.toml", &edit("clock", "\"1e30 GHz\""));
    w("grid.toml", &edit("grid", "[4, 4, 4, 99, -1, \"x\"]"));
    w(
        "attn.trace",
        "tilesim-trace 2\nchip mini-mesh\ntiles 16\ntile 0\nattn q=1 ctx=16 heads=8 kv_heads=0 hd=64 dtype=fp16\n",
    );
    let model = include_str!("../configs/models/llama-2-7b.toml");
    w("layers.toml", &set(model, "", "layers", Some("4294967296")));
    w("heads.toml", &set(model, "", "heads", Some("9223372036854775807")));
    let cases: &[(&[&str], &str)] = &[
        (&["roofline", "--model", "llama-2-7b", "--chip", "dgx-h100", "--pp", "0"], "--pp"),
        (&["check", "-v", "layers.toml"], "layers.toml:"),
        (&["roofline", "--model", "layers.toml", "--chip", "h100"], "layers.toml:"),
        (&["run", "huge.trace", "--chip", "huge.toml"], "huge.trace:"),
        (&["characterize", "--chip", "fc.toml"], "fc.toml"),
        (&["roofline", "--model", "llama-2-7b", "--chip", "h100", "--spec", "18446744073709551615"], "--spec"),
        (
            &[
                "gen",
                "traffic",
                "--chip",
                "mesh8x8",
                "--pattern",
                "uniform",
                "--rate",
                "0.1",
                "--cycles",
                "18446744073709551615",
                "-o",
                "t.trace",
            ],
            "--cycles",
        ),
        (&["check", "groups.trace"], "groups.trace:"),
        (&["check", "sram.toml"], "sram.toml:"),
        (&["check", "--chip", "/dev/zero", "loop.trace"], "/dev/zero"),
        (&["check", "loop.trace"], "loop.trace:"),
        (&["run", "loop.trace", "--chip", "mini-mesh"], "loop.trace:"),
        (&["check", "packet.toml"], "packet.toml:"),
        (&["check", "bw.toml"], "bw.toml:"),
        (&["check", "clock.toml"], "clock.toml:"),
        (&["roofline", "--model", "llama-2-7b", "--chip", "h100", "--context", "18446744073709551615"], "--context"),
        (&["check", "grid.toml"], "grid.toml:"),
        (&["run", "attn.trace", "--chip", "mini-mesh"], "attn.trace:"),
        (&["check", "heads.toml"], "heads.toml:"),
    ];
    let mut problems = Vec::new();
    for (a, locate) in cases {
        let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        let (code, stderr) = tilesim(&args, d, None);
        if code != Some(2) || !stderr.contains(locate) || stderr.contains("panicked") {
            problems.push(format!("tilesim {}: exit {code:?}, expected 2 naming {locate}:\n{stderr}", a.join(" ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
