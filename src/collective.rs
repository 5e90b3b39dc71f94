//! Collectives lowered to sends, receives and vector adds, so their cost
//! comes from the topology they run on. Used by `tilesim gen allreduce`
//! and by the compiler.
//!
//! Each participant's instructions are appended to its own list. A step
//! sends one chunk to a peer, receives one from another, waits for the
//! receive and (when reducing) adds it in. Tags are `tag_base + step`, so
//! steps of one collective never match each other's messages.

use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::isa::{Count, Instr, SramAddr, Tag, Token, VecOp};
use crate::units::Bytes;

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
        match self {
            Algorithm::Ring => "ring",
            Algorithm::RecursiveDoubling => "recursive-doubling",
            Algorithm::TwoD { .. } => "2d",
        }
    }
}

/// Tokens, tags and buffer an emitted collective uses.
#[derive(Clone, Copy, Debug)]
pub struct Resources {
    pub send_token: u32,
    pub recv_token: u32,
    pub tag_base: u32,
    /// SRAM address of the buffer being reduced.
    pub sram: u64,
    pub dtype: Dtype,
}

/// Instructions per participant, in participant order.
pub type Streams = Vec<Vec<Instr>>;

struct Emitter<'a> {
    tiles: &'a [TileId],
    out: &'a mut Streams,
    r: Resources,
    step: u32,
}

impl Emitter<'_> {
    /// One step: every participant i sends `bytes` to `to(i)` and receives
    /// from `from(i)`, then optionally adds the received chunk.
    fn step(&mut self, bytes: u64, reduce: bool, to: impl Fn(usize) -> usize, from: impl Fn(usize) -> usize) {
        let tag = Tag(self.r.tag_base + self.step);
        self.step += 1;
        for i in 0..self.tiles.len() {
            let s = &mut self.out[i];
            s.push(Instr::Send {
                tok: Token(self.r.send_token),
                to: self.tiles[to(i)],
                tag,
                sram: SramAddr(self.r.sram),
                bytes: Bytes(bytes),
            });
            s.push(Instr::Recv {
                tok: Token(self.r.recv_token),
                from: self.tiles[from(i)],
                tag,
                sram: SramAddr(self.r.sram),
                bytes: Bytes(bytes),
            });
            s.push(Instr::Wait { tok: Token(self.r.recv_token) });
            if reduce {
                let elems = (bytes * 8).div_ceil(self.r.dtype.bits());
                s.push(Instr::Vec { op: VecOp::Add, n: Count(elems), dtype: self.r.dtype });
            }
        }
    }

    /// Ring reduce-scatter (or all-gather) over the members `ring` (indices
    /// into `tiles`), chunk `bytes`, p-1 steps. Non-members are untouched.
    fn ring_phase(&mut self, groups: &[Vec<usize>], bytes: u64, reduce: bool) {
        let p = groups.first().map_or(0, |g| g.len());
        if p < 2 {
            return;
        }
        let mut pos = vec![(0usize, 0usize); self.tiles.len()];
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
            self.step(bytes, reduce, to, from);
        }
    }
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
    let mut e = Emitter { tiles, out, r, step: 0 };
    match alg {
        Algorithm::Ring => {
            let ring = vec![(0..p).collect::<Vec<_>>()];
            let chunk = bytes.div_ceil(p as u64);
            e.ring_phase(&ring, chunk, true);
            e.ring_phase(&ring, chunk, false);
        }
        Algorithm::RecursiveDoubling => {
            if !p.is_power_of_two() {
                return Err(format!("recursive doubling needs a power-of-two participant count, found {p}"));
            }
            let mut k = 1;
            while k < p {
                e.step(bytes, true, |i| i ^ k, |i| i ^ k);
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
            e.ring_phase(&rows, row_chunk, true);
            e.ring_phase(&cols, col_chunk, true);
            e.ring_phase(&cols, col_chunk, false);
            e.ring_phase(&rows, row_chunk, false);
        }
    }
    let steps = e.step;
    for s in out.iter_mut().take(p) {
        s.push(Instr::Wait { tok: Token(r.send_token) });
    }
    Ok(steps)
}
