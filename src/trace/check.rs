//! Structural validation of a trace stream, independent of any chip: tile
//! indices in range, one stream per tile, loops balanced, groups declared.

use super::{Header, Item, Pos, TraceErrorKind};
use crate::isa::{Dest, Effect, Flags, Instr, Loc};
use std::collections::HashMap;

/// Tokens a tile may use (its token counters are a plain vector).
pub const MAX_TOKENS: u32 = crate::limits::MAX_TOKENS;
/// Longest `delay`, so simulated time cannot overflow.
pub const MAX_DELAY: u64 = crate::limits::MAX_DELAY;

pub struct Checker {
    header: Header,
    current: Option<u32>,
    /// Where each tile's stream starts (only tiles that have one).
    seen: HashMap<u32, Pos>,
    describe: fn(Pos) -> String,
    open_loops: Vec<Pos>,
    /// Iterations of each open loop's body, counting the enclosing loops.
    multiplier: Vec<u128>,
    /// Instructions one run issues, loops multiplied out (all tiles).
    pub issued: u128,
    /// Instructions and tile streams seen (for summaries).
    pub instructions: u64,
    pub streams: u64,
}

impl Checker {
    /// `describe` renders a position for messages ("line 12", "byte 80").
    pub fn new(header: Header, describe: fn(Pos) -> String) -> Self {
        Checker {
            header,
            current: None,
            seen: HashMap::new(),
            describe,
            open_loops: Vec::new(),
            multiplier: Vec::new(),
            issued: 0,
            instructions: 0,
            streams: 0,
        }
    }

    /// `what` names the operand, and is called only when it is out of range.
    fn tile_in_range(&self, t: u32, what: impl FnOnce() -> String) -> Result<(), TraceErrorKind> {
        if t < self.header.tiles {
            Ok(())
        } else {
            Err(TraceErrorKind::TileOutOfRange { what: what(), tile: t, tiles: self.header.tiles })
        }
    }

    pub fn item(&mut self, item: &Item, pos: Pos) -> Result<(), TraceErrorKind> {
        match item {
            Item::Tile(t) => {
                if !self.open_loops.is_empty() {
                    return Err(TraceErrorKind::UnclosedLoop("the next `tile`"));
                }
                self.tile_in_range(t.0, || "a tile stream".into())?;
                if let Some(&first) = self.seen.get(&t.0) {
                    return Err(TraceErrorKind::DuplicateTile { tile: t.0, first: (self.describe)(first) });
                }
                self.seen.insert(t.0, pos);
                self.current = Some(t.0);
                self.streams += 1;
            }
            Item::Instr(i) => {
                if self.current.is_none() {
                    return Err(TraceErrorKind::InstrOutsideTile);
                }
                self.instructions += 1;
                let flags = i.opcode().flags();
                let outer = self.multiplier.last().copied().unwrap_or(1);
                if flags.contains(Flags::LOOP_OPEN) {
                    self.open_loops.push(pos);
                    let count = match i {
                        Instr::Loop { count } => count.0 as u128,
                        _ => 1,
                    };
                    let inner = outer.saturating_mul(count);
                    if inner > crate::limits::MAX_LOOP_PRODUCT {
                        return Err(TraceErrorKind::Syntax(format!(
                            "this loop nest repeats its body {inner} times, more than the 2^32 allowed \
                             (the product of the open loops' counts; arch/limits.md)"
                        )));
                    }
                    self.multiplier.push(inner);
                    self.count_issued(outer)?;
                } else if flags.contains(Flags::LOOP_CLOSE) {
                    if self.open_loops.pop().is_none() {
                        return Err(TraceErrorKind::UnmatchedEndloop);
                    }
                    // `endloop` issues once per iteration of its loop.
                    self.count_issued(outer)?;
                    self.multiplier.pop();
                } else {
                    self.count_issued(outer)?;
                }
                self.operands(i)?;
            }
        }
        Ok(())
    }

    fn count_issued(&mut self, n: u128) -> Result<(), TraceErrorKind> {
        self.issued = self.issued.saturating_add(n);
        if self.issued > crate::limits::MAX_ISSUED {
            return Err(TraceErrorKind::Syntax(format!(
                "the trace issues more than 2^32 instructions in one run (loops multiplied out, all tiles; \
                 arch/limits.md): {} so far",
                self.issued
            )));
        }
        Ok(())
    }

    fn loc_tile(&self, l: &Loc, mnemonic: &str) -> Result<(), TraceErrorKind> {
        match l.tile() {
            Some(t) => self.tile_in_range(t.0, || format!("operand `mem` of `{mnemonic}`")),
            None => Ok(()),
        }
    }

    /// Operand checks that need the header (tile and group ranges), and
    /// bounds that keep per-tile state and arithmetic small.
    fn operands(&self, i: &Instr) -> Result<(), TraceErrorKind> {
        let current = self.current.unwrap_or(0);
        let mnemonic = i.opcode().mnemonic();
        let effect = i.effect();
        if let Some(t) = effect.token().filter(|t| t.0 >= MAX_TOKENS) {
            return Err(TraceErrorKind::Syntax(format!("token {} is too large (tokens are 0..{MAX_TOKENS})", t.0)));
        }
        i.check_work().map_err(TraceErrorKind::Syntax)?;
        if let Some(b) = effect.sram_range().map(|(_, b)| b.0).filter(|&b| b > crate::limits::MAX_TRANSFER_BYTES) {
            return Err(TraceErrorKind::Syntax(format!(
                "`{mnemonic}` moves {b} bytes, more than the {} (64 GiB) one transfer may (arch/limits.md)",
                crate::limits::MAX_TRANSFER_BYTES
            )));
        }
        match effect {
            Effect::Delay(cycles) if cycles.0 > MAX_DELAY => {
                Err(TraceErrorKind::Syntax(format!("delay of {} cycles is too long (at most {MAX_DELAY})", cycles.0)))
            }
            Effect::Dma { mem, .. } => self.loc_tile(&mem, mnemonic),
            Effect::Send { to: Dest::Tile(to), .. } => {
                self.tile_in_range(to.0, || format!("operand `to` of `{mnemonic}`"))
            }
            Effect::Send { to: Dest::Group(group), .. } => match self.header.groups.get(group.0 as usize) {
                None => Err(TraceErrorKind::UnknownGroup { group: group.0, declared: self.header.groups.len() }),
                Some(members) if members.iter().all(|m| m.0 == current) => Err(TraceErrorKind::Syntax(format!(
                    "tile {current} multicasts to group {} but the group has no other member",
                    group.0
                ))),
                Some(_) => Ok(()),
            },
            Effect::Recv { from, .. } => self.tile_in_range(from.0, || format!("operand `from` of `{mnemonic}`")),
            Effect::Barrier(group) => match self.header.groups.get(group.0 as usize) {
                None => Err(TraceErrorKind::UnknownGroup { group: group.0, declared: self.header.groups.len() }),
                Some(members) if !members.contains(&crate::ids::TileId(current)) => Err(TraceErrorKind::Syntax(
                    format!("tile {current} waits on barrier group {} but is not a member of it", group.0),
                )),
                Some(_) => Ok(()),
            },
            Effect::LoopOpen(count) if count.0 == 0 => Err(TraceErrorKind::ZeroLoop),
            Effect::LoopOpen(_) | Effect::LoopClose | Effect::Wait(_) | Effect::Compute { .. } | Effect::Delay(_) => {
                Ok(())
            }
        }
    }

    /// Checks the end of the stream; on error returns the position to blame.
    pub fn finish(&self) -> Result<(), (TraceErrorKind, Pos)> {
        if let Some(&open) = self.open_loops.last() {
            return Err((TraceErrorKind::UnclosedLoop("the end of the trace"), open));
        }
        Ok(())
    }
}
