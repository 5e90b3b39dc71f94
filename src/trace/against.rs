//! Checks that need the chip a trace runs on: tile count, SRAM and memory
//! address ranges, memory kinds the chip has.

use crate::chip::{Chip, Memory};
use crate::ids::TileId;
use crate::isa::{ComputeUnit, Effect, Instr, Loc, Space, SramAddr};
use crate::units::Bytes;

/// Checks the header against the chip.
pub fn check_header(chip: &Chip, h: &super::Header) -> Result<(), String> {
    let tiles = chip.total_tiles();
    if h.tiles != tiles {
        let chips = chip.system.chips;
        return Err(format!(
            "the trace addresses {} tiles but chip `{}` has {} ({} chip{} x {} tiles)",
            h.tiles,
            chip.name,
            tiles,
            chips,
            if chips == 1 { "" } else { "s" },
            chip.tiles_per_chip()
        ));
    }
    Ok(())
}

/// [addr, addr + bytes) for a message, or what it is when the end is past
/// 2^64 (a saturated end would print a range that is not the one asked for).
fn range(addr: u64, bytes: u64) -> String {
    match addr.checked_add(bytes) {
        Some(end) => format!("[{addr:#x}, {end:#x})"),
        None => format!("of {bytes} bytes at {addr:#x} (ending past 2^64)"),
    }
}

fn sram_range(chip: &Chip, what: &str, addr: SramAddr, bytes: Bytes) -> Result<(), String> {
    let end = addr.0.checked_add(bytes.0);
    match end {
        Some(e) if e <= chip.tile.sram.0 => Ok(()),
        _ => Err(format!(
            "{what} {} is beyond the tile's SRAM ({} = {:#x} bytes)",
            range(addr.0, bytes.0),
            chip.tile.sram,
            chip.tile.sram.0
        )),
    }
}

fn mem_range(chip: &Chip, mem: &Loc, bytes: Bytes) -> Result<(), String> {
    let end = mem.addr().saturating_add(bytes.0);
    match (mem.space(), &chip.memory) {
        (Space::Sram, _) => sram_range(chip, "remote SRAM range", SramAddr(mem.addr()), bytes),
        (Space::Hbm, Memory::Hbm { capacity, .. }) if end <= capacity.0 => Ok(()),
        (Space::Hbm, Memory::Hbm { capacity, .. }) => {
            Err(format!("HBM range {} is beyond the chip's HBM ({capacity})", range(mem.addr(), bytes.0)))
        }
        (Space::Dram, Memory::Dram3d { capacity_per_tile, .. }) if end <= capacity_per_tile.0 => Ok(()),
        (Space::Dram, Memory::Dram3d { capacity_per_tile, .. }) => {
            Err(format!("DRAM range {} is beyond the tile's vault ({capacity_per_tile})", range(mem.addr(), bytes.0)))
        }
        (Space::Hbm, _) => Err(format!("chip `{}` has no HBM", chip.name)),
        (Space::Dram, _) => Err(format!("chip `{}` has no stacked DRAM", chip.name)),
    }
}

/// Checks that a transfer of `bytes` is not split into more packets (or
/// DRAM granules) than `MAX_PIECES_PER_TRANSFER`: a tiny `noc.packet` or
/// interleave on a large transfer is millions of events.
fn pieces(chip: &Chip, bytes: Bytes, dram: bool) -> Result<(), String> {
    let max = crate::limits::MAX_PIECES_PER_TRANSFER;
    let packets = bytes.0.div_ceil(chip.noc.packet.0.max(1));
    if packets > max {
        return Err(format!(
            "{} bytes make {packets} packets of noc.packet = {}, more than the 2^20 one transfer may \
             (arch/limits.md); use a larger noc.packet",
            bytes.0, chip.noc.packet
        ));
    }
    if let (true, Memory::Hbm { dram, .. } | Memory::Dram3d { dram, .. }) = (dram, &chip.memory) {
        let granules = bytes.0.div_ceil(dram.interleave.0.max(1));
        if granules > max {
            return Err(format!(
                "{} bytes touch {granules} DRAM granules of interleave = {}, more than the 2^20 one transfer may \
                 (arch/limits.md)",
                bytes.0, dram.interleave
            ));
        }
    }
    Ok(())
}

/// Checks one instruction of `tile`'s stream against the chip.
pub fn check_instr(chip: &Chip, _tile: TileId, i: &Instr) -> Result<(), String> {
    let effect = i.effect();
    match effect {
        Effect::Dma { mem, bytes, .. } => pieces(chip, bytes, !matches!(mem, Loc::Sram { .. }))?,
        Effect::Send { bytes, .. } | Effect::Recv { bytes, .. } => pieces(chip, bytes, false)?,
        _ => {}
    }
    if let Some((sram, bytes)) = effect.sram_range() {
        sram_range(chip, "SRAM range", sram, bytes)?;
    }
    match effect {
        Effect::Dma { mem, bytes, .. } => mem_range(chip, &mem, bytes),
        Effect::Compute { unit: ComputeUnit::Matrix, dtype, .. } if chip.tile.macs_per_cycle(dtype).is_none() => {
            Err(format!("the matrix unit of `{}` has no {dtype} path", chip.name))
        }
        Effect::Compute { .. }
        | Effect::Send { .. }
        | Effect::Recv { .. }
        | Effect::Wait(_)
        | Effect::Barrier(_)
        | Effect::Delay(_)
        | Effect::LoopOpen(_)
        | Effect::LoopClose => Ok(()),
    }
}
