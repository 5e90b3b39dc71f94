//! Where the simulator reads instructions from: a trace held in memory, a
//! binary trace read lazily from its file (`trace::lazy`), or instructions
//! made as they are needed (an [`InstrSource`]: synthetic traffic,
//! `synth::stream`), behind one interface so the engine does not care
//! which.

use super::stats::SimError;
use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::Instr;
use crate::trace::lazy::Lazy;
use crate::trace::{Header, Pos, Trace};

/// Instructions made on demand, tile by tile, rather than read from a trace
/// (`sim::simulate_source`). The source must have been checked before the
/// run as a trace is (`sim::scan`): its instructions against the chip, its
/// events against the budget.
pub trait InstrSource {
    fn header(&self) -> &Header;
    /// Whether tile `t` has any instruction.
    fn has_stream(&self, t: TileId) -> bool;
    /// Instruction `pc` of tile `t` with its position; `None` past the end.
    /// `pc` is never below what was retired.
    fn fetch(&mut self, t: TileId, pc: usize) -> Result<Option<(Instr, Pos)>, SimError>;
    /// Tile `t` will not fetch below `pc` again.
    fn retire(&mut self, t: TileId, pc: usize);
    /// Where the instruction at `pos` is, for messages.
    fn location(&self, pos: Pos) -> Location;
}

pub enum Code<'a> {
    Held(&'a Trace),
    Lazy(&'a mut Lazy),
    Source(&'a mut dyn InstrSource),
    /// No instructions at all (a run of packets, `simulate_packets`): the
    /// run's header and name.
    Empty(&'a Header, &'a str),
}

impl Code<'_> {
    pub fn header(&self) -> &Header {
        match self {
            Code::Held(t) => &t.header,
            Code::Lazy(l) => &l.header,
            Code::Source(s) => s.header(),
            Code::Empty(h, _) => h,
        }
    }

    pub fn has_stream(&self, t: TileId) -> bool {
        match self {
            Code::Held(tr) => !tr.programs[t.index()].is_empty(),
            Code::Lazy(l) => l.has_stream(t),
            Code::Source(s) => s.has_stream(t),
            Code::Empty(..) => false,
        }
    }

    /// Instruction `pc` of tile `t` with its position; `None` past the end.
    pub fn fetch(&mut self, t: TileId, pc: usize) -> Result<Option<(Instr, Pos)>, SimError> {
        match self {
            Code::Held(tr) => {
                let p = &tr.programs[t.index()];
                Ok((pc < p.len()).then(|| (p.instrs[pc], p.pos[pc])))
            }
            Code::Lazy(l) => l.fetch(t, pc).map_err(|e| SimError::Mismatch(e.loc.clone(), e.kind.to_string())),
            Code::Source(s) => s.fetch(t, pc),
            Code::Empty(..) => Ok(None),
        }
    }

    /// Prefetches what fetching tile `t`'s next instruction reads first (a
    /// hint).
    #[inline(always)]
    pub fn prefetch(&self, t: TileId) {
        if let Code::Lazy(l) = self {
            l.prefetch(t);
        }
    }

    /// Prefetches instruction `pc` of tile `t` if it is held (a hint).
    #[inline(always)]
    pub fn prefetch_instr(&self, t: TileId, pc: usize) {
        if let Code::Lazy(l) = self {
            l.prefetch_instr(t, pc);
        }
    }

    /// Tile `t` will not fetch below `pc` again.
    pub fn retire(&mut self, t: TileId, pc: usize) {
        match self {
            Code::Held(_) => {}
            Code::Lazy(l) => l.retire(t, pc),
            Code::Source(s) => s.retire(t, pc),
            Code::Empty(..) => {}
        }
    }

    pub fn location(&self, pos: Pos) -> Location {
        match self {
            Code::Held(t) => t.location(pos),
            Code::Lazy(l) => l.location(pos),
            Code::Source(s) => s.location(pos),
            Code::Empty(_, name) => Location::file(*name),
        }
    }
}
