//! Fuzz targets, one per parser, on the stable toolchain: the text trace
//! reader and the binary trace reader (each through the structural
//! checker), the chip config, the model config and the CSV reader.
//!
//! Each target mutates a corpus (shipped configs and traces, the error
//! fixtures, arch/plots CSVs) with byte flips, boundary numbers, long
//! tokens, deletions, duplications and splices, keeps a few accepted
//! mutants as new seeds, and requires every input to be accepted or
//! rejected with an error. A panic fails the run with the input; any single
//! allocation over 256 MiB aborts it after writing the input to
//! `target/fuzz-crash-TARGET.bin` (so an allocation before validation is a
//! crash, not a slow test). Crashes found become fixtures in tests/errors/.
//!
//! `cargo test --test fuzz` runs a short, bounded campaign; the long ones
//! (arch/limits.md) run in release:
//!
//!     FUZZ_EXECS=10000000 cargo test --release --test fuzz -- --ignored --nocapture

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::time::Instant;
use tilesim::config::shipped::{self, Kind};

/// Largest single allocation a parser may make on a small input.
const HUGE: usize = 256 << 20;

struct Guard;

/// The input being run (pointer and length) and the crash file's path.
static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static CRASH_PATH: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HUGE {
            crash(layout.size());
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if new > HUGE {
            crash(new);
        }
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GUARD: Guard = Guard;

/// Writes the current input to the crash file without allocating, then aborts.
fn crash(size: usize) -> ! {
    let msg = b"fuzz: a single allocation over 256 MiB; input written to the crash file\n";
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        let path = CRASH_PATH.load(Ordering::SeqCst);
        let input = INPUT.load(Ordering::SeqCst);
        if !path.is_null() && !input.is_null() {
            let fd = libc::open(path.cast(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                libc::write(fd, input.cast(), INPUT_LEN.load(Ordering::SeqCst));
                libc::close(fd);
            }
        }
    }
    let _ = size;
    std::process::abort()
}

/// xorshift64*: a fixed, seedable generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b"0",
    b"1",
    b"-1",
    b"255",
    b"65535",
    b"65536",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"1e308",
    b"1e-308",
    b"nan",
    b"inf",
    b"1e30",
    b"0x",
    b"0xffffffffffffffff",
    b"[[[[[[[[[[[[[[[[[[[[",
    b"]]]]",
    b"{",
    b"\"",
    b"'''",
    b"\n",
    b"\r\n",
    b"=",
    b"#",
    b",",
    b" ",
    b"0-67108863",
    b"0-4294967295/1",
    b"loop count=4294967296\n",
    b"endloop\n",
    b"tile 0\n",
    b"group 0 0-15\n",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
    b"\xfe",
    b"\xff",
    b"\xef\xbb\xbf",
    b"\xc3\x28",
    b"\"1 B\"",
    b"\"1e30 B\"",
    b"\"1e-30 B/s\"",
    b"\"0 cycles\"",
];

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    for _ in 0..1 + rng.below(6) {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(9) {
            0 if len > 0 => out[at.min(len - 1)] ^= 1 << rng.below(8),
            1 if len > 0 => out[at.min(len - 1)] = rng.next() as u8,
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, t.iter().copied());
            }
            4 if len > 0 => {
                let end = (at + 1 + rng.below(32)).min(len);
                out.drain(at.min(len)..end);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = out[start..end].to_vec();
                out.splice(at..at, chunk);
            }
            6 => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(256)).min(other.len());
                    out.splice(at..at, other[start..end].iter().copied());
                }
            }
            7 => {
                // A long token, as a hostile user would paste.
                let n = 1 + rng.below(4096);
                out.splice(at..at, std::iter::repeat_n(b'7', n));
            }
            _ if len > 0 => {
                // Replace a run of digits with a boundary number.
                let mut s = at.min(len - 1);
                while s < len && !out[s].is_ascii_digit() {
                    s += 1;
                }
                let mut e = s;
                while e < len && out[e].is_ascii_digit() {
                    e += 1;
                }
                let t = TOKENS[rng.below(12)];
                out.splice(s..e, t.iter().copied());
            }
            _ => {}
        }
    }
}

/// A parser under test: `Ok(true)` accepted, `Ok(false)` rejected.
type Target = fn(&[u8]) -> bool;

fn text_trace(bytes: &[u8]) -> bool {
    let Ok(mut src) = tilesim::trace::open_reader("f.trace", Box::new(Cursor::new(bytes.to_vec()))) else {
        return false;
    };
    tilesim::trace::check(src.as_mut(), |_, _| {}).is_ok()
}

fn chip_config(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    match tilesim::config::chip::load_str("f.toml", &text) {
        Ok(c) => {
            let _ = c.totals();
            let _ = tilesim::sim::budget::chip_memory(&c);
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

fn model_config(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    match tilesim::config::model::load_str("f.toml", &text) {
        Ok(m) => {
            let _ = (m.params(), m.active_params(), m.kv_elements_per_token());
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

fn csv(bytes: &[u8]) -> bool {
    tilesim::report::csv::parse_bytes(bytes).is_ok()
}

fn binary_of(text: &str) -> Vec<u8> {
    let mut src = tilesim::trace::open_reader("s", Box::new(Cursor::new(text.as_bytes().to_vec()))).unwrap();
    let mut out = Vec::new();
    use tilesim::trace::Sink;
    let mut sink = Box::new(tilesim::trace::binary::BinaryWriter::new(&mut out));
    sink.header(src.header()).unwrap();
    tilesim::trace::check(src.as_mut(), |item, _| match item {
        tilesim::trace::Item::Tile(t) => sink.tile(*t).unwrap(),
        tilesim::trace::Item::Instr(i) => sink.instr(i).unwrap(),
    })
    .unwrap();
    sink.finish().unwrap();
    out
}

/// A config seed without its comments: mutations land in the values, and
/// each execution parses less.
fn uncommented(text: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in text.lines() {
        let code = line.split(" #").next().unwrap_or("");
        if !code.trim_start().starts_with('#') && !code.trim().is_empty() {
            out.push_str(code.trim_end());
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn files(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v.into_iter().map(|p| std::fs::read(p).unwrap()).filter(|b| b.len() <= 64 << 10).collect()
}

/// The targets with their seed corpora.
fn targets() -> Vec<(&'static str, Target, Vec<Vec<u8>>)> {
    let small = "tilesim-trace 2\nchip mini-mesh\ntiles 16\nmodel m\nworkload decode batch=1\ntokens 1\nusers 1\n\
                 group 0 0-15\n\ntile 0\nload tok=0 mem=hbm:0x0 sram=0x0 bytes=4096\nloop count=2\n  gemm m=1 n=64 \
                 k=64 dtype=fp16\nendloop\nwait tok=0\nbarrier group=0\nattn q=1 ctx=128 heads=8 kv_heads=2 hd=64 \
                 dtype=fp16\nsend tok=1 to=3 tag=0 sram=0x0 bytes=64\nrecv tok=2 from=3 tag=0 sram=0x100 bytes=64\n\
                 wait tok=1\nwait tok=2\nvec op=add n=64 dtype=fp16\ndelay cycles=5\n\ntile 3\nrecv tok=2 from=0 \
                 tag=0 sram=0x0 bytes=64\nsend tok=1 to=0 tag=0 sram=0x0 bytes=64\nwait tok=1\nwait tok=2\n";
    let allreduce = include_str!("../traces/allreduce-ring-1mib-dgx-h100.trace");
    let mut text = files("tests/errors", "trace");
    text.push(small.as_bytes().to_vec());
    text.push(allreduce.as_bytes().to_vec());
    let mut binary = files("tests/errors", "tbin");
    binary.push(binary_of(small));
    binary.push(binary_of(allreduce));
    let mut chips: Vec<Vec<u8>> = shipped::Kind::Chip.table().iter().map(|(_, t)| uncommented(t)).collect();
    chips.extend(
        files("tests/errors", "toml")
            .into_iter()
            .filter(|b| b.starts_with(b"# error") && b.windows(6).any(|w| w == b"[tile]")),
    );
    let models: Vec<Vec<u8>> = Kind::Model.table().iter().map(|(_, t)| uncommented(t)).collect();
    let mut csvs: Vec<Vec<u8>> = files("arch/plots", "csv").into_iter().filter(|c| c.len() <= 3 << 10).collect();
    csvs.push(b"\xef\xbb\xbfa,b\r\n1,\"x,\"\"y\"\"\"\r\n\r\n2,3\n".to_vec());
    vec![
        ("text_trace", text_trace as Target, text),
        ("binary_trace", text_trace as Target, binary),
        ("chip_config", chip_config as Target, chips),
        ("model_config", model_config as Target, models),
        ("csv", csv as Target, csvs),
    ]
}

/// Runs `execs` mutated inputs through target `name`; returns (accepted, seconds).
fn campaign(name: &str, target: Target, mut corpus: Vec<Vec<u8>>, execs: u64, seed: u64) -> (u64, f64) {
    let crash = format!("{}/target/fuzz-crash-{name}.bin\0", env!("CARGO_MANIFEST_DIR"));
    CRASH_PATH.store(crash.as_ptr() as *mut u8, Ordering::SeqCst);
    let seeds = corpus.len();
    let mut rng = Rng((seed << 1) | 1);
    let mut input = Vec::new();
    let mut accepted = 0;
    let start = Instant::now();
    for n in 0..execs {
        mutate(&mut rng, &corpus, &mut input);
        INPUT.store(input.as_mut_ptr(), Ordering::SeqCst);
        INPUT_LEN.store(input.len(), Ordering::SeqCst);
        let r = catch_unwind(AssertUnwindSafe(|| target(&input)));
        INPUT.store(std::ptr::null_mut(), Ordering::SeqCst);
        match r {
            Ok(true) => {
                accepted += 1;
                // Keep some accepted mutants: they reach deeper than the seeds.
                if input.len() <= 64 << 10 && rng.below(64) == 0 {
                    if corpus.len() < seeds + 256 {
                        corpus.push(input.clone());
                    } else {
                        let i = seeds + rng.below(256);
                        corpus[i] = input.clone();
                    }
                }
            }
            Ok(false) => {}
            Err(_) => {
                std::fs::write(crash.trim_end_matches('\0'), &input).unwrap();
                panic!(
                    "fuzz target {name} panicked on input {n} (written to {crash}): {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }
    drop(crash);
    CRASH_PATH.store(std::ptr::null_mut(), Ordering::SeqCst);
    (accepted, start.elapsed().as_secs_f64())
}

#[test]
fn every_parser_survives_a_short_campaign() {
    // Panics are caught and reported; keep the default hook quiet meanwhile.
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target, corpus) in targets() {
        campaign(name, target, corpus, 6000, 0x5eed);
    }
    let _ = std::panic::take_hook();
}

#[test]
#[ignore = "long: run in release with --ignored (arch/limits.md)"]
fn long_campaigns() {
    let execs: u64 = std::env::var("FUZZ_EXECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    // FUZZ_TARGET=a,b runs only those targets; FUZZ_SEED varies the stream.
    let only = std::env::var("FUZZ_TARGET").ok();
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x1234_5678);
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target, corpus) in targets() {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|t| t == name)) {
            continue;
        }
        let (accepted, secs) = campaign(name, target, corpus, execs, seed);
        println!(
            "{name}: {execs} executions, {accepted} accepted, {secs:.0} s, {:.0} exec/s, no crash",
            execs as f64 / secs
        );
    }
    let _ = std::panic::take_hook();
}
