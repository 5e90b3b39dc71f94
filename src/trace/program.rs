//! A trace held in memory for simulation: one instruction vector per tile,
//! with each loop's matching partner resolved once.

use super::{Format, Header, Item, Pos, Source, TraceError, TraceErrorKind};
use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::{Flags, Instr};
use std::path::Path;

/// One tile's instruction stream.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub instrs: Vec<Instr>,
    /// Source position of each instruction (line or byte offset).
    pub pos: Vec<Pos>,
    /// For `loop`: index of its `endloop`; for `endloop`: index of its `loop`.
    pub partner: Vec<u32>,
}

impl Program {
    pub fn len(&self) -> usize {
        self.instrs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.instrs.is_empty()
    }
    fn push(&mut self, i: Instr, pos: Pos, open: &mut Vec<u32>) {
        let idx = self.instrs.len() as u32;
        let flags = i.opcode().flags();
        let mut partner = u32::MAX;
        if flags.contains(Flags::LOOP_OPEN) {
            open.push(idx);
        } else if flags.contains(Flags::LOOP_CLOSE) {
            let o = open.pop().expect("checker guarantees balanced loops");
            self.partner[o as usize] = idx;
            partner = o;
        }
        self.instrs.push(i);
        self.pos.push(pos);
        self.partner.push(partner);
    }
}

impl Program {
    /// A program from instructions (positions are their indices), e.g.
    /// straight from the compiler. Loops must be balanced.
    pub fn from_instrs(instrs: Vec<Instr>) -> Program {
        let mut p = Program::default();
        let mut open = Vec::new();
        for (i, ins) in instrs.into_iter().enumerate() {
            p.push(ins, i as Pos, &mut open);
        }
        p
    }
}

/// A whole trace in memory.
#[derive(Clone, Debug)]
pub struct Trace {
    pub header: Header,
    /// Indexed by tile; tiles without a stream have an empty program.
    pub programs: Vec<Program>,
    pub file: String,
    pub format: Format,
}

impl Trace {
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let mut src = super::open(path)?;
        Self::from_source(src.as_mut(), path.display().to_string())
    }

    pub fn from_source(src: &mut dyn Source, file: String) -> Result<Trace, TraceError> {
        let header = src.header().clone();
        let format = src.format();
        // Memory is estimated before it is allocated: the per-tile table
        // now, the instructions every 64 Ki of them (arch/limits.md).
        let per_tile = std::mem::size_of::<Program>() as u128;
        let fixed = header.tiles as u128 * per_tile + header.groups.iter().map(|g| g.len() as u128 * 4).sum::<u128>();
        let over = |held: u128, pos: Pos| {
            let what = format!("holding this trace ({} tiles, {held} instructions so far)", header.tiles);
            crate::limits::check_memory(&what, fixed + held * crate::limits::BYTES_PER_INSTRUCTION)
                .map_err(|m| (m, pos))
        };
        over(0, 0).map_err(|(m, _)| TraceError::new(src.header_location("tiles"), TraceErrorKind::Limit(m)))?;
        let mut programs = vec![Program::default(); header.tiles as usize];
        let mut current: Option<usize> = None;
        let mut open = Vec::new();
        let mut held: u128 = 0;
        let mut too_big: Option<(String, Pos)> = None;
        // `stream` validates before handing each record over; positions come
        // from a side channel because the callback sees only the item.
        let r = super::stream(src, |item, pos| {
            match item {
                Item::Tile(t) => current = Some(t.index()),
                Item::Instr(i) => {
                    held += 1;
                    if held.is_multiple_of(1 << 16)
                        && let Err(e) = over(held, pos)
                    {
                        too_big = Some(e);
                        return Err(());
                    }
                    let p = &mut programs[current.expect("checker guarantees a tile")];
                    p.push(*i, pos, &mut open);
                }
            }
            Ok(())
        });
        match r {
            Ok(_) => Ok(Trace { header, programs, file, format }),
            Err(super::StreamError::Trace(e)) => Err(e),
            Err(super::StreamError::Sink(())) => {
                let (m, pos) = too_big.expect("set with the error");
                Err(TraceError::new(src.location(pos), TraceErrorKind::Limit(m)))
            }
        }
    }

    /// A trace built in memory (no file); `name` stands in for the path.
    pub fn from_programs(header: Header, programs: Vec<Program>, name: &str) -> Trace {
        Trace { header, programs, file: name.to_string(), format: Format::Binary }
    }

    /// A trace built in memory from per-tile instruction lists (loops
    /// balanced); tiles not listed idle.
    pub fn from_streams(header: Header, streams: impl IntoIterator<Item = (TileId, Vec<Instr>)>, name: &str) -> Trace {
        let mut programs = vec![Program::default(); header.tiles as usize];
        for (t, s) in streams {
            programs[t.index()] = Program::from_instrs(s);
        }
        Self::from_programs(header, programs, name)
    }

    /// Renders an instruction's position for messages.
    pub fn location(&self, pos: Pos) -> Location {
        match self.format {
            Format::Text => Location::line(&self.file, pos, None),
            Format::Binary => Location::byte(&self.file, pos),
        }
    }

    /// Instructions held (static count, loops not unrolled).
    pub fn instruction_count(&self) -> usize {
        self.programs.iter().map(|p| p.len()).sum()
    }
}
