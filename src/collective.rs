//! Collectives lowered to sends, receives and vector adds, so their cost
//! comes from the topology they run on. Used by `tilesim gen allreduce`
//! and by the compiler.
//!
//! Each participant's instructions are appended to its own list. A step
//! sends one chunk to a peer, receives one from another, waits for the
//! receive and (when reducing) adds it in. Tags are `tag_base + step`, so
//! steps of one collective never match each other's messages.

use crate::chip::CollectiveKind;
use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::isa::{Count, Instr, SramAddr, Tag, Token, VecOp};
use crate::units::{Bytes, Cycles};

/// How an all-reduce is decomposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Reduce-scatter then all-gather around a ring: 2(p-1) steps of n/p.
    Ring,
    /// lg p exchanges of the whole buffer with partner i xor 2^k.
    RecursiveDoubling,
    /// Participants as an x by y grid: ring reduce-scatter along rows, ring
    /// all-reduce of the row's share along columns, all-gather along rows.
    TwoD { x: u32, y: u32 },
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        self.kind().name()
    }
    pub fn kind(self) -> CollectiveKind {
        match self {
            Algorithm::Ring => CollectiveKind::Ring,
            Algorithm::RecursiveDoubling => CollectiveKind::RecursiveDoubling,
            Algorithm::TwoD { .. } => CollectiveKind::TwoD,
        }
    }
}

/// Tokens, tags and buffer an emitted collective uses, and the software's
/// fixed costs it pays (`chip::Software`): `call` once at the start, `step`
/// before every step, as `delay`s (zero: none emitted).
#[derive(Clone, Copy, Debug)]
pub struct Resources {
    pub send_token: u32,
    pub recv_token: u32,
    pub tag_base: u32,
    /// SRAM address of the buffer being reduced.
    pub sram: u64,
    pub dtype: Dtype,
    pub call: Cycles,
    pub step: Cycles,
    /// First of the `MAX_SLICES - 1` tokens slices beyond the first use
    /// (the first uses `recv_token`).
    pub slice_token: u32,
}

/// Instructions per participant, in participant order.
pub type Streams = Vec<Vec<Instr>>;

/// Largest message of a collective step: longer chunks go in slices, and
/// slice j of a step leaves as soon as slice j of the step before has
/// arrived (and been added), so large collectives pipeline instead of
/// storing and forwarding whole chunks (NCCL cuts its chunks the same way).
pub const SLICE: u64 = 64 << 10;
/// Most slices a step is cut into (each holds a token while in flight).
pub const MAX_SLICES: u64 = 16;

/// One step: every participant i sends `bytes` to `to[i]`, receives as
/// many from `from[i]`, and adds them in when `reduce`.
struct Step {
    bytes: u64,
    reduce: bool,
    to: Vec<usize>,
    from: Vec<usize>,
}

impl Step {
    fn slices(&self) -> u64 {
        self.bytes.div_ceil(SLICE).clamp(1, MAX_SLICES)
    }
}

/// The steps of a collective, in order.
#[derive(Default)]
struct Plan {
    steps: Vec<Step>,
}

impl Plan {
    fn step(&mut self, p: usize, bytes: u64, reduce: bool, to: impl Fn(usize) -> usize, from: impl Fn(usize) -> usize) {
        self.steps.push(Step { bytes, reduce, to: (0..p).map(&to).collect(), from: (0..p).map(&from).collect() });
    }

    /// Ring reduce-scatter (or all-gather) within each group of `groups`
    /// (indices into the participants), chunk `bytes`, p-1 steps.
    fn ring_phase(&mut self, n: usize, groups: &[Vec<usize>], bytes: u64, reduce: bool) {
        let p = groups.first().map_or(0, |g| g.len());
        if p < 2 {
            return;
        }
        let mut pos = vec![(0usize, 0usize); n];
        for (gi, g) in groups.iter().enumerate() {
            for (k, &m) in g.iter().enumerate() {
                pos[m] = (gi, k);
            }
        }
        for _ in 0..p - 1 {
            let to = |i: usize| {
                let (g, k) = pos[i];
                groups[g][(k + 1) % p]
            };
            let from = |i: usize| {
                let (g, k) = pos[i];
                groups[g][(k + p - 1) % p]
            };
            self.step(n, bytes, reduce, to, from);
        }
    }

    /// Participant `i`'s instructions: every step's slices sent as soon as
    /// the same slice of the step before is in (and added), each step
    /// paying the software's per-step cost before its first slice.
    fn emit(&self, i: usize, tiles: &[TileId], r: &Resources, s: &mut Vec<Instr>) {
        let token = |j: u64| Token(if j == 0 { r.recv_token } else { r.slice_token + j as u32 - 1 });
        let add = |s: &mut Vec<Instr>, step: &Step, j: u64| {
            if step.reduce {
                let b = slice_bytes(step, j);
                let elems = (b * 8).div_ceil(r.dtype.bits());
                s.push(Instr::Vec { op: VecOp::Add, n: Count(elems), dtype: r.dtype });
            }
        };
        let mut before: Option<&Step> = None;
        for (k, step) in self.steps.iter().enumerate() {
            let tag = Tag(r.tag_base + k as u32);
            let n = step.slices();
            // A step cut differently waits for all of the previous one.
            if let Some(prev) = before.filter(|p| p.slices() != n) {
                for j in 0..prev.slices() {
                    s.push(Instr::Wait { tok: token(j) });
                    add(s, prev, j);
                }
                before = None;
            }
            for j in 0..n {
                if let Some(prev) = before {
                    s.push(Instr::Wait { tok: token(j) });
                    add(s, prev, j);
                }
                if j == 0 && r.step.0 > 0 {
                    s.push(Instr::Delay { cycles: r.step });
                }
                let (sram, bytes) = (SramAddr(r.sram), Bytes(slice_bytes(step, j)));
                s.push(Instr::Send { tok: Token(r.send_token), to: tiles[step.to[i]], tag, sram, bytes });
                s.push(Instr::Recv { tok: token(j), from: tiles[step.from[i]], tag, sram, bytes });
            }
            before = Some(step);
        }
        if let Some(prev) = before {
            for j in 0..prev.slices() {
                s.push(Instr::Wait { tok: token(j) });
                add(s, prev, j);
            }
        }
        s.push(Instr::Wait { tok: Token(r.send_token) });
    }
}

/// Bytes of slice `j` of a step.
fn slice_bytes(step: &Step, j: u64) -> u64 {
    let n = step.slices();
    (j + 1) * step.bytes / n - j * step.bytes / n
}

/// Appends an all-reduce of `bytes` over `tiles` to `out` (one list per
/// participant, created if missing). Returns the number of steps.
pub fn all_reduce(
    tiles: &[TileId],
    bytes: u64,
    alg: Algorithm,
    r: Resources,
    out: &mut Streams,
) -> Result<u32, String> {
    let p = tiles.len();
    out.resize_with(p.max(out.len()), Vec::new);
    if p < 2 {
        return Ok(0);
    }
    let mut plan = Plan::default();
    match alg {
        Algorithm::Ring => {
            let ring = vec![(0..p).collect::<Vec<_>>()];
            let chunk = bytes.div_ceil(p as u64);
            plan.ring_phase(p, &ring, chunk, true);
            plan.ring_phase(p, &ring, chunk, false);
        }
        Algorithm::RecursiveDoubling => {
            if !p.is_power_of_two() {
                return Err(format!("recursive doubling needs a power-of-two participant count, found {p}"));
            }
            let mut k = 1;
            while k < p {
                plan.step(p, bytes, true, |i| i ^ k, |i| i ^ k);
                k <<= 1;
            }
        }
        Algorithm::TwoD { x, y } => {
            let (x, y) = (x as usize, y as usize);
            if x * y != p {
                return Err(format!("a {x} x {y} grid does not hold {p} participants"));
            }
            let rows: Vec<Vec<usize>> = (0..y).map(|j| (0..x).map(|i| j * x + i).collect()).collect();
            let cols: Vec<Vec<usize>> = (0..x).map(|i| (0..y).map(|j| j * x + i).collect()).collect();
            let row_chunk = bytes.div_ceil(x as u64);
            let col_chunk = row_chunk.div_ceil(y as u64);
            plan.ring_phase(p, &rows, row_chunk, true);
            plan.ring_phase(p, &cols, col_chunk, true);
            plan.ring_phase(p, &cols, col_chunk, false);
            plan.ring_phase(p, &rows, row_chunk, false);
        }
    }
    for (i, s) in out.iter_mut().take(p).enumerate() {
        if r.call.0 > 0 {
            s.push(Instr::Delay { cycles: r.call });
        }
        plan.emit(i, tiles, &r, s);
    }
    Ok(plan.steps.len() as u32)
}
