//! One-line and detailed descriptions of chips and models (`tilesim check`).

use crate::chip::{Chip, Memory};
use crate::model::Model;
use crate::units::{human_bytes, human_rate, si};
use std::fmt::Write;

pub fn chip_line(c: &Chip) -> String {
    let mem = match &c.memory {
        Memory::SramOnly => "SRAM only".to_string(),
        Memory::Hbm { stacks, cache: None, .. } => format!("{stacks} HBM stacks"),
        Memory::Hbm { stacks, cache: Some(l2), .. } => {
            format!("{stacks} HBM stacks behind a {} cache", human_bytes(l2.capacity.0 as f64))
        }
        Memory::Dram3d { .. } => "3D-DRAM vault per tile".to_string(),
    };
    format!(
        "chip {}: {} chip(s) x {} tiles ({} NoC), {}, {} system",
        c.name,
        c.system.chips,
        c.tiles_per_chip(),
        c.noc.topology.name(),
        mem,
        c.system.topology.name()
    )
}

pub fn chip_totals(c: &Chip) -> String {
    let t = c.totals();
    let mut s = String::new();
    let _ = writeln!(s, "    clock                  {}", si(c.clock_hz, "Hz"));
    let _ = writeln!(s, "    tiles                  {}", t.tiles);
    let _ = writeln!(s, "    total SRAM             {} ({:.4e} B)", human_bytes(t.sram_bytes), t.sram_bytes);
    let _ = writeln!(s, "    SRAM bandwidth         {}", human_rate(t.sram_bandwidth));
    let _ = writeln!(s, "    memory capacity        {}", human_bytes(t.memory_bytes));
    let _ = writeln!(s, "    memory bandwidth       {}", human_rate(t.memory_bandwidth));
    if let Memory::Hbm { cache: Some(l2), stacks, .. } = &c.memory {
        let _ = writeln!(
            s,
            "    HBM cache per chip     {}, {}, hit {} cycles, {} slices",
            human_bytes(l2.capacity.0 as f64),
            human_rate(l2.bw.0 * c.clock_hz),
            l2.hit.0,
            stacks
        );
    }
    for (d, f) in &t.peak_flops {
        let _ = writeln!(s, "    peak {:<4}              {}", d.name(), si(*f, "FLOP/s"));
    }
    let _ = writeln!(s, "    NoC bisection          {}", human_rate(t.noc_bisection));
    let _ = writeln!(s, "    system bisection       {}", human_rate(t.system_bisection));
    let _ = write!(s, "    chip links per chip    {}", human_rate(t.chip_link_bandwidth));
    if let Some(p) = c.cost.price_usd {
        let _ = write!(s, "\n    price                  ${p:.0}");
    }
    if let Some(p) = c.cost.power_w {
        let _ = write!(s, "\n    power                  {}", si(p, "W"));
    }
    s
}

pub fn model_line(m: &Model) -> String {
    format!(
        "model {}: {} layers, hidden {}, {} params ({} active per token)",
        m.name,
        m.layers,
        m.hidden,
        si(m.params() as f64, ""),
        si(m.active_params() as f64, "")
    )
}

pub fn model_totals(m: &Model) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "    parameters             {}", m.params());
    let _ = writeln!(s, "    active per token       {}", m.active_params());
    let _ = writeln!(s, "    weights ({})         {}", m.dtype, human_bytes(m.dtype.bytes(m.params()) as f64));
    let _ =
        write!(s, "    KV per token ({})    {}", m.dtype, human_bytes(m.dtype.bytes(m.kv_elements_per_token()) as f64));
    s
}
