//! Structural validation of a trace stream, independent of any chip: tile
//! indices in range, one stream per tile, loops balanced, groups declared.

use super::{Format, Header, Item, Pos, TraceErrorKind};
use crate::isa::{Flags, Instr, Loc};

pub struct Checker {
    header: Header,
    format: Format,
    current: Option<u32>,
    /// Position of each tile's stream start, indexed by tile.
    seen: Vec<Option<Pos>>,
    open_loops: Vec<Pos>,
    /// Instructions and tile streams seen (for summaries).
    pub instructions: u64,
    pub streams: u64,
}

impl Checker {
    pub fn new(header: Header, format: Format) -> Self {
        let n = header.tiles as usize;
        Checker {
            header,
            format,
            current: None,
            seen: vec![None; n],
            open_loops: Vec::new(),
            instructions: 0,
            streams: 0,
        }
    }

    fn describe(&self, pos: Pos) -> String {
        match self.format {
            Format::Text => format!("line {pos}"),
            Format::Binary => format!("byte {pos}"),
        }
    }

    fn tile_in_range(&self, t: u32) -> Result<(), TraceErrorKind> {
        if t < self.header.tiles {
            Ok(())
        } else {
            Err(TraceErrorKind::TileOutOfRange { tile: t, tiles: self.header.tiles })
        }
    }

    pub fn item(&mut self, item: &Item, pos: Pos) -> Result<(), TraceErrorKind> {
        match item {
            Item::Tile(t) => {
                if let Some(&open) = self.open_loops.last() {
                    return Err(TraceErrorKind::UnclosedLoop(self.describe(open), "the next `tile`"));
                }
                self.tile_in_range(t.0)?;
                if let Some(first) = self.seen[t.index()] {
                    return Err(TraceErrorKind::DuplicateTile { tile: t.0, first: self.describe(first) });
                }
                self.seen[t.index()] = Some(pos);
                self.current = Some(t.0);
                self.streams += 1;
            }
            Item::Instr(i) => {
                if self.current.is_none() {
                    return Err(TraceErrorKind::InstrOutsideTile);
                }
                self.instructions += 1;
                let flags = i.opcode().flags();
                if flags.contains(Flags::LOOP_OPEN) {
                    self.open_loops.push(pos);
                }
                if flags.contains(Flags::LOOP_CLOSE) && self.open_loops.pop().is_none() {
                    return Err(TraceErrorKind::UnmatchedEndloop);
                }
                self.operands(i)?;
            }
        }
        Ok(())
    }

    fn loc_tile(&self, l: &Loc) -> Result<(), TraceErrorKind> {
        match l.tile {
            Some(t) => self.tile_in_range(t.0),
            None => Ok(()),
        }
    }

    /// Operand checks that need the header (tile and group ranges).
    fn operands(&self, i: &Instr) -> Result<(), TraceErrorKind> {
        match i {
            Instr::Load { mem, .. } | Instr::Store { mem, .. } => self.loc_tile(mem),
            Instr::Send { to, .. } => self.tile_in_range(to.0),
            Instr::Recv { from, .. } => self.tile_in_range(from.0),
            Instr::Barrier { group } => {
                let declared = self.header.groups.len();
                let g = group.0 as usize;
                match self.header.groups.get(g) {
                    None => Err(TraceErrorKind::UnknownGroup { group: group.0, declared }),
                    Some(members) if !members.contains(&crate::ids::TileId(self.current.unwrap_or(0))) => {
                        Err(TraceErrorKind::Syntax(format!(
                            "tile {} waits on barrier group {} but is not a member of it",
                            self.current.unwrap_or(0),
                            group.0
                        )))
                    }
                    Some(_) => Ok(()),
                }
            }
            Instr::Loop { count } if count.0 == 0 => Err(TraceErrorKind::ZeroLoop),
            Instr::Loop { .. }
            | Instr::EndLoop {}
            | Instr::Wait { .. }
            | Instr::Gemm { .. }
            | Instr::Attn { .. }
            | Instr::Vec { .. }
            | Instr::Delay { .. } => Ok(()),
        }
    }

    /// Checks the end of the stream; on error returns the position to blame.
    pub fn finish(&self) -> Result<(), (TraceErrorKind, Pos)> {
        if let Some(&open) = self.open_loops.last() {
            return Err((TraceErrorKind::UnclosedLoop(self.describe(open), "the end of the trace"), open));
        }
        Ok(())
    }
}
