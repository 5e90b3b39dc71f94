//! Operand types of the instruction set: how each is written in text, encoded
//! in binary, and sampled for property tests. The instruction table in
//! `isa/mod.rs` names these types; nothing else knows their formats.

use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::isa::varint;
use crate::rng::Rng;
use crate::units::{Bytes, Cycles};
use std::fmt::Write;

/// Error decoding binary data: boxed, so that the `Result` of every
/// operand decode stays two words (the error path is rare; the decode of a
/// trace's instructions is a hot loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(Box<DecodeErrorData>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeErrorData {
    pub kind: DecodeErrorKind,
    /// Position in the reader where the failing value starts.
    pub at: usize,
    /// The instruction operand being decoded, if any.
    pub operand: Option<&'static str>,
}

impl std::ops::Deref for DecodeError {
    type Target = DecodeErrorData;
    fn deref(&self) -> &DecodeErrorData {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The data ends inside the value.
    Truncated,
    /// The value is not valid; the message says why.
    Invalid(String),
}

impl DecodeError {
    #[cold]
    pub fn truncated(at: usize) -> Self {
        DecodeError(Box::new(DecodeErrorData { kind: DecodeErrorKind::Truncated, at, operand: None }))
    }
    #[cold]
    pub fn invalid(message: String) -> Self {
        DecodeError(Box::new(DecodeErrorData { kind: DecodeErrorKind::Invalid(message), at: 0, operand: None }))
    }
    /// Attributes the error to `operand`, whose value starts at `at`.
    #[cold]
    pub fn in_operand(mut self, operand: &'static str, at: usize) -> Self {
        if let DecodeErrorKind::Invalid(_) = self.0.kind {
            self.0.at = at;
        }
        self.0.operand = Some(operand);
        self
    }
}

/// A byte cursor over binary trace data.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| DecodeError::truncated(self.pos))?;
        self.pos += 1;
        Ok(b)
    }
    #[inline]
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        varint::read(self)
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| DecodeError::invalid(format!("{v} does not fit 32 bits")))
    }
}

/// One operand type: its text form, binary form and a sampler.
pub trait Operand: Sized + Copy + PartialEq + std::fmt::Debug {
    /// What the operand is, as the ISA documentation and errors name it.
    const KIND: &'static str;
    /// How it is written, for documentation and "expected ..." messages.
    const SYNTAX: &'static str;
    fn parse(s: &str) -> Result<Self, String>;
    fn write(&self, out: &mut String);
    fn encode(&self, buf: &mut Vec<u8>);
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    fn sample(rng: &mut Rng) -> Self;
}

fn parse_u64(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Defines a newtype over an integer operand written in decimal.
macro_rules! int_operand {
    ($(#[$m:meta])* $name:ident($t:ty), $kind:literal, $syntax:literal, $bits:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $t);
        impl Operand for $name {
            const KIND: &'static str = $kind;
            const SYNTAX: &'static str = $syntax;
            fn parse(s: &str) -> Result<Self, String> {
                parse_u64(s)
                    .and_then(|v| <$t>::try_from(v).ok())
                    .map($name)
                    .ok_or_else(|| format!("expected {} ({}), found `{s}`", $kind, $syntax))
            }
            fn write(&self, out: &mut String) {
                let _ = write!(out, "{}", self.0);
            }
            fn encode(&self, buf: &mut Vec<u8>) {
                varint::write(buf, self.0 as u64);
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let v = r.varint()?;
                <$t>::try_from(v)
                    .map($name)
                    .map_err(|_| DecodeError::invalid(format!("{} {v} out of range", $kind)))
            }
            fn sample(rng: &mut Rng) -> Self {
                $name(rng.wide($bits) as $t)
            }
        }
    };
}

int_operand!(
    /// A completion token: a per-tile counter of outstanding asynchronous operations.
    Token(u32), "a token", "integer", 16
);
int_operand!(
    /// A dimension or repetition count.
    Count(u64), "a count", "integer", 40
);
int_operand!(
    /// A message tag matching a send with its receive.
    Tag(u32), "a tag", "integer", 32
);
int_operand!(
    /// A tile group declared in the trace header (barriers and multicasts).
    Group(u32), "a group", "integer", 8
);

impl Operand for Bytes {
    const KIND: &'static str = "a byte count";
    const SYNTAX: &'static str = "integer, bytes";
    fn parse(s: &str) -> Result<Self, String> {
        parse_u64(s).map(Bytes).ok_or_else(|| format!("expected a byte count (integer, bytes), found `{s}`"))
    }
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{}", self.0);
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        varint::write(buf, self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.varint().map(Bytes)
    }
    fn sample(rng: &mut Rng) -> Self {
        Bytes(rng.wide(40))
    }
}

impl Operand for Cycles {
    const KIND: &'static str = "a cycle count";
    const SYNTAX: &'static str = "integer, cycles";
    fn parse(s: &str) -> Result<Self, String> {
        parse_u64(s).map(Cycles).ok_or_else(|| format!("expected a cycle count (integer, cycles), found `{s}`"))
    }
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{}", self.0);
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        varint::write(buf, self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.varint().map(Cycles)
    }
    fn sample(rng: &mut Rng) -> Self {
        Cycles(rng.wide(40))
    }
}

impl Operand for TileId {
    const KIND: &'static str = "a tile";
    const SYNTAX: &'static str = "integer, global tile index";
    fn parse(s: &str) -> Result<Self, String> {
        parse_u64(s)
            .and_then(|v| u32::try_from(v).ok())
            .map(TileId)
            .ok_or_else(|| format!("expected a tile (integer, global tile index), found `{s}`"))
    }
    fn write(&self, out: &mut String) {
        let _ = write!(out, "{}", self.0);
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        varint::write(buf, self.0 as u64);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.u32().map(TileId)
    }
    fn sample(rng: &mut Rng) -> Self {
        TileId(rng.wide(20) as u32)
    }
}

/// A byte address in the issuing tile's SRAM, written in hexadecimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SramAddr(pub u64);

fn write_hex(out: &mut String, v: u64) {
    let _ = write!(out, "0x{v:x}");
}

impl Operand for SramAddr {
    const KIND: &'static str = "an SRAM address";
    const SYNTAX: &'static str = "0x-prefixed hexadecimal byte address";
    fn parse(s: &str) -> Result<Self, String> {
        parse_u64(s).map(SramAddr).ok_or_else(|| format!("expected an SRAM address (e.g. 0x4000), found `{s}`"))
    }
    fn write(&self, out: &mut String) {
        write_hex(out, self.0)
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        varint::write(buf, self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.varint().map(SramAddr)
    }
    fn sample(rng: &mut Rng) -> Self {
        SramAddr(rng.wide(32))
    }
}

/// Which memory a `Loc` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// HBM stacks of the issuing tile's chip (addresses interleaved over channels).
    Hbm,
    /// A tile's stacked DRAM vault (the issuing tile's own unless a tile is named).
    Dram,
    /// Another tile's SRAM.
    Sram,
}

/// A memory location: `hbm:0x1000`, `dram:0x1000`, `dram@5:0x1000`, `sram@5:0x40`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loc {
    /// The issuing tile's chip's HBM (addresses interleaved over channels).
    Hbm { addr: u64 },
    /// A DRAM vault: the issuing tile's own, or tile `tile`'s.
    Dram { tile: Option<TileId>, addr: u64 },
    /// Tile `tile`'s SRAM.
    Sram { tile: TileId, addr: u64 },
}

impl Loc {
    pub fn space(&self) -> Space {
        match self {
            Loc::Hbm { .. } => Space::Hbm,
            Loc::Dram { .. } => Space::Dram,
            Loc::Sram { .. } => Space::Sram,
        }
    }
    /// The tile owning the vault or SRAM, if named.
    pub fn tile(&self) -> Option<TileId> {
        match *self {
            Loc::Hbm { .. } => None,
            Loc::Dram { tile, .. } => tile,
            Loc::Sram { tile, .. } => Some(tile),
        }
    }
    pub fn addr(&self) -> u64 {
        match *self {
            Loc::Hbm { addr } | Loc::Dram { addr, .. } | Loc::Sram { addr, .. } => addr,
        }
    }
}

impl Operand for Loc {
    const KIND: &'static str = "a memory location";
    const SYNTAX: &'static str = "hbm:ADDR, dram:ADDR, dram@TILE:ADDR or sram@TILE:ADDR";
    fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("expected a memory location (hbm:ADDR, dram:ADDR, dram@TILE:ADDR or sram@TILE:ADDR), found `{s}`")
        };
        let (place, addr) = s.split_once(':').ok_or_else(bad)?;
        let addr = parse_u64(addr).ok_or_else(bad)?;
        let (space, tile) = match place.split_once('@') {
            None => (place, None),
            Some((sp, t)) => (sp, Some(TileId::parse(t).map_err(|_| bad())?)),
        };
        match (space, tile) {
            ("hbm", None) => Ok(Loc::Hbm { addr }),
            ("dram", tile) => Ok(Loc::Dram { tile, addr }),
            ("sram", Some(tile)) => Ok(Loc::Sram { tile, addr }),
            _ => Err(bad()),
        }
    }
    fn write(&self, out: &mut String) {
        match *self {
            Loc::Hbm { .. } => out.push_str("hbm"),
            Loc::Dram { tile: None, .. } => out.push_str("dram"),
            Loc::Dram { tile: Some(t), .. } => {
                let _ = write!(out, "dram@{}", t.0);
            }
            Loc::Sram { tile, .. } => {
                let _ = write!(out, "sram@{}", tile.0);
            }
        }
        out.push(':');
        write_hex(out, self.addr());
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        match *self {
            Loc::Hbm { .. } => buf.push(0),
            Loc::Dram { tile: None, .. } => buf.push(1),
            Loc::Dram { tile: Some(t), .. } => {
                buf.push(2);
                varint::write(buf, t.0 as u64);
            }
            Loc::Sram { tile, .. } => {
                buf.push(3);
                varint::write(buf, tile.0 as u64);
            }
        }
        varint::write(buf, self.addr());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = r.byte()?;
        Ok(match tag {
            0 => Loc::Hbm { addr: r.varint()? },
            1 => Loc::Dram { tile: None, addr: r.varint()? },
            2 => {
                let tile = Some(TileId(r.u32()?));
                Loc::Dram { tile, addr: r.varint()? }
            }
            3 => {
                let tile = TileId(r.u32()?);
                Loc::Sram { tile, addr: r.varint()? }
            }
            other => return Err(DecodeError::invalid(format!("memory space code {other} (expected 0..=3)"))),
        })
    }
    fn sample(rng: &mut Rng) -> Self {
        let tile = TileId::sample(rng);
        match rng.below(4) {
            0 => Loc::Hbm { addr: rng.wide(40) },
            1 => Loc::Dram { tile: None, addr: rng.wide(32) },
            2 => Loc::Dram { tile: Some(tile), addr: rng.wide(32) },
            _ => Loc::Sram { tile, addr: rng.wide(24) },
        }
    }
}

impl Operand for Dtype {
    const KIND: &'static str = "a data type";
    const SYNTAX: &'static str = "fp32, bf16, fp16, fp8, int8 or int4";
    fn parse(s: &str) -> Result<Self, String> {
        s.parse()
    }
    fn write(&self, out: &mut String) {
        out.push_str(self.name());
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        let i = Dtype::ALL.iter().position(|d| d == self).expect("dtype in table");
        buf.push(i as u8);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.byte()?;
        Dtype::ALL.get(b as usize).copied().ok_or_else(|| {
            DecodeError::invalid(format!("unknown data type code {b} (expected 0..={})", Dtype::ALL.len() - 1))
        })
    }
    fn sample(rng: &mut Rng) -> Self {
        Dtype::ALL[rng.below(Dtype::ALL.len() as u64) as usize]
    }
}

/// Vector operations, one row each: (variant, name, ALU operations per
/// element, input operands read per element, whether the output is a
/// reduction to one element per row rather than one per input element).
macro_rules! vec_ops {
    ($($v:ident $name:literal $ops:literal $inputs:literal $reduces:literal $doc:literal;)*) => {
        /// The operation a `vec` instruction performs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum VecOp { $(#[doc = $doc] $v),* }
        impl VecOp {
            pub const ALL: &'static [VecOp] = &[$(VecOp::$v),*];
            pub fn name(self) -> &'static str { match self { $(VecOp::$v => $name),* } }
            /// Vector-lane operations per element.
            pub fn ops_per_element(self) -> u64 { match self { $(VecOp::$v => $ops),* } }
            /// Input elements read from SRAM per element processed.
            pub fn inputs(self) -> u64 { match self { $(VecOp::$v => $inputs),* } }
            /// True when the result is one value per row (no full-size output).
            pub fn reduces(self) -> bool { match self { $(VecOp::$v => $reduces),* } }
            pub fn doc(self) -> &'static str { match self { $(VecOp::$v => $doc),* } }
        }
    };
}

vec_ops! {
    Add      "add"      1 2 false "elementwise sum (residual connections)";
    Mul      "mul"      1 2 false "elementwise product";
    Silu     "silu"     4 1 false "x * sigmoid(x)";
    SiluMul  "silu_mul" 5 2 false "silu(gate) * up, the SwiGLU combination";
    Gelu     "gelu"     8 1 false "GELU activation (tanh form)";
    Exp      "exp"      2 1 false "elementwise exponential";
    RmsNorm  "rmsnorm"  4 2 false "RMSNorm: square, sum, rsqrt, scale by weight";
    LayerNorm "layernorm" 6 2 false "LayerNorm: mean, variance, normalise, affine";
    Softmax  "softmax"  5 1 false "max, subtract, exp, sum, divide";
    Rope     "rope"     3 2 false "rotary position embedding with a cos/sin table";
    Sum      "sum"      1 1 true  "sum reduction (partial-sum combine)";
    Max      "max"      1 1 true  "max reduction";
    TopK     "topk"     4 1 true  "top-k selection (MoE router)";
    Copy     "copy"     1 1 false "move or convert data";
}

impl Operand for VecOp {
    const KIND: &'static str = "a vector operation";
    const SYNTAX: &'static str =
        "add, mul, silu, silu_mul, gelu, exp, rmsnorm, layernorm, softmax, rope, sum, max, topk, copy";
    fn parse(s: &str) -> Result<Self, String> {
        VecOp::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("expected a vector operation ({}), found `{s}`", Self::SYNTAX))
    }
    fn write(&self, out: &mut String) {
        out.push_str(self.name());
    }
    fn encode(&self, buf: &mut Vec<u8>) {
        let i = VecOp::ALL.iter().position(|d| d == self).expect("vec op in table");
        buf.push(i as u8);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = r.byte()?;
        VecOp::ALL.get(b as usize).copied().ok_or_else(|| {
            DecodeError::invalid(format!("unknown vector operation code {b} (expected 0..={})", VecOp::ALL.len() - 1))
        })
    }
    fn sample(rng: &mut Rng) -> Self {
        VecOp::ALL[rng.below(VecOp::ALL.len() as u64) as usize]
    }
}
