//! Where the simulator reads instructions from: a trace held in memory, or
//! a binary trace read lazily from its file (`trace::lazy`), behind one
//! interface so the engine does not care which.

use super::stats::SimError;
use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::Instr;
use crate::trace::lazy::Lazy;
use crate::trace::{Header, Pos, Trace};

pub enum Code<'a> {
    Held(&'a Trace),
    Lazy(&'a mut Lazy),
}

impl Code<'_> {
    pub fn header(&self) -> &Header {
        match self {
            Code::Held(t) => &t.header,
            Code::Lazy(l) => &l.header,
        }
    }

    pub fn has_stream(&self, t: TileId) -> bool {
        match self {
            Code::Held(tr) => !tr.programs[t.index()].is_empty(),
            Code::Lazy(l) => l.has_stream(t),
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
        }
    }

    /// Tile `t` will not fetch below `pc` again.
    pub fn retire(&mut self, t: TileId, pc: usize) {
        if let Code::Lazy(l) = self {
            l.retire(t, pc);
        }
    }

    pub fn location(&self, pos: Pos) -> Location {
        match self {
            Code::Held(t) => t.location(pos),
            Code::Lazy(l) => l.location(pos),
        }
    }
}
