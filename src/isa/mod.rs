//! The instruction set: one declarative table (`instructions!` below) from
//! which the `Opcode` and `Instr` enums, the text parser and printer, the
//! binary encoder and decoder, the random sampler used by property tests and
//! the operand documentation all follow. Adding an instruction is adding a row.
//!
//! arch/isa.md specifies every instruction; `tests/isa_doc.rs` checks that
//! the generated reference table there matches this one.

pub mod operand;
pub mod semantics;
pub mod varint;

use crate::dtype::Dtype;
use crate::ids::TileId;
use crate::rng::Rng;
use crate::units::{Bytes, Cycles};
use bitflags::bitflags;
pub use operand::{
    Count, DecodeError, DecodeErrorKind, Group, Loc, Operand, Reader, Space, SramAddr, Tag, Token, VecOp,
};
pub use semantics::{ComputeUnit, Dest, Dir, Effect, Repeats, Work};

/// The functional unit an instruction occupies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Matrix (MAC array) unit: GEMM/GEMV and attention.
    Matrix,
    /// Vector lanes: elementwise ops, reductions, norms, activations.
    Vector,
    /// DMA engines: asynchronous loads and stores.
    Dma,
    /// Network interface: asynchronous sends and receives.
    Net,
    /// Issue logic only: waits, barriers, delays, loops.
    Control,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Matrix => "matrix",
            Unit::Vector => "vector",
            Unit::Dma => "dma",
            Unit::Net => "net",
            Unit::Control => "control",
        }
    }
}

bitflags! {
    /// Properties of an opcode, for documentation and tools; the trace
    /// checker and loader rely on the two loop flags.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Flags: u8 {
        /// Completes later and decrements its token; issue continues at once.
        const ASYNC = 1 << 0;
        /// Occupies a compute unit; issue waits until it finishes.
        const COMPUTE = 1 << 1;
        /// Moves bytes between this tile's SRAM and a memory.
        const MEMORY = 1 << 2;
        /// Moves bytes between tiles over the NoC and chip links.
        const NETWORK = 1 << 3;
        /// May hold issue until another event happens (wait, barrier, delay).
        const BLOCKING = 1 << 4;
        /// Opens a loop body.
        const LOOP_OPEN = 1 << 5;
        /// Closes the innermost loop body.
        const LOOP_CLOSE = 1 << 6;
    }
}

impl Flags {
    pub fn names(self) -> String {
        self.iter_names().map(|(n, _)| n.to_ascii_lowercase()).collect::<Vec<_>>().join("|")
    }
}

/// One operand of an opcode, for documentation and error messages.
#[derive(Clone, Copy, Debug)]
pub struct OperandSpec {
    pub name: &'static str,
    pub kind: &'static str,
    pub syntax: &'static str,
    pub doc: &'static str,
}

/// Error parsing the operands of one instruction in text form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperandError {
    /// 1-based column of the offending text, when one exists.
    pub column: Option<usize>,
    pub message: String,
}

/// The `key=value` operands of one text instruction, consumed by name.
pub struct Args<'a> {
    items: Vec<(&'a str, &'a str, usize, bool)>,
    mnemonic: &'a str,
    end_column: usize,
}

impl<'a> Args<'a> {
    /// `parts` are (token text, 1-based column).
    pub fn new(mnemonic: &'a str, parts: &[(&'a str, usize)], end_column: usize) -> Result<Self, OperandError> {
        let mut items: Vec<(&'a str, &'a str, usize, bool)> = Vec::with_capacity(parts.len());
        for &(text, col) in parts {
            let Some((k, v)) = text.split_once('=') else {
                return Err(OperandError {
                    column: Some(col),
                    message: format!("expected an operand `name=value`, found `{text}`"),
                });
            };
            if items.iter().any(|(k2, ..)| *k2 == k) {
                return Err(OperandError {
                    column: Some(col),
                    message: format!("operand `{k}` given twice to `{mnemonic}`"),
                });
            }
            items.push((k, v, col + k.len() + 1, false));
        }
        Ok(Args { items, mnemonic, end_column })
    }

    fn take<T: Operand>(&mut self, name: &str) -> Result<T, OperandError> {
        match self.items.iter_mut().find(|(k, ..)| *k == name) {
            Some(item) => {
                item.3 = true;
                T::parse(item.1).map_err(|m| OperandError {
                    column: Some(item.2),
                    message: format!("operand `{name}` of `{}`: {m}", self.mnemonic),
                })
            }
            None => Err(OperandError {
                column: Some(self.end_column),
                message: format!("`{}` is missing operand `{name}` ({}: {})", self.mnemonic, T::KIND, T::SYNTAX),
            }),
        }
    }

    fn finish(self, op: Opcode) -> Result<(), OperandError> {
        if let Some((k, _, col, _)) = self.items.iter().find(|i| !i.3) {
            let expected: Vec<&str> = op.operands().iter().map(|o| o.name).collect();
            return Err(OperandError {
                column: Some(col - k.len() - 1),
                message: format!(
                    "`{}` has no operand `{k}` (expected: {})",
                    self.mnemonic,
                    if expected.is_empty() { "none".to_string() } else { expected.join(", ") }
                ),
            });
        }
        Ok(())
    }
}

macro_rules! instructions {
    ($(
        $variant:ident $mnemonic:literal unit($unit:ident) flags($($flag:ident)|*) doc($doc:literal) {
            $($field:ident : $ty:ty = $fdoc:literal),* $(,)?
        }
    )*) => {
        /// The opcode of an instruction; its binary code is its table position.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode { $($variant),* }

        /// One instruction with its operands.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum Instr { $($variant { $($field: $ty),* }),* }

        impl Opcode {
            /// Every opcode, in table (= binary code) order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$variant),*];

            pub fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$variant => $mnemonic),* }
            }
            pub fn unit(self) -> Unit {
                match self { $(Opcode::$variant => Unit::$unit),* }
            }
            pub fn flags(self) -> Flags {
                match self { $(Opcode::$variant => Flags::empty() $(| Flags::$flag)*),* }
            }
            pub fn doc(self) -> &'static str {
                match self { $(Opcode::$variant => $doc),* }
            }
            pub fn operands(self) -> &'static [OperandSpec] {
                match self {
                    $(Opcode::$variant => &[$(OperandSpec {
                        name: stringify!($field),
                        kind: <$ty as Operand>::KIND,
                        syntax: <$ty as Operand>::SYNTAX,
                        doc: $fdoc,
                    }),*]),*
                }
            }
        }

        impl Instr {
            pub fn opcode(&self) -> Opcode {
                match self { $(Instr::$variant { .. } => Opcode::$variant),* }
            }

            /// Parses the operands of `op` from text.
            pub fn parse(op: Opcode, mut args: Args<'_>) -> Result<Instr, OperandError> {
                let instr = match op {
                    $(Opcode::$variant => Instr::$variant { $($field: args.take::<$ty>(stringify!($field))?),* }),*
                };
                args.finish(op)?;
                Ok(instr)
            }

            /// Appends the canonical text form (no newline).
            #[allow(unused_variables)]
            pub fn write_text(&self, out: &mut String) {
                match self {
                    $(Instr::$variant { $($field),* } => {
                        out.push_str($mnemonic);
                        $(
                            out.push(' ');
                            out.push_str(stringify!($field));
                            out.push('=');
                            Operand::write($field, out);
                        )*
                    }),*
                }
            }

            /// Appends the binary form: opcode byte, then each operand.
            #[allow(unused_variables)]
            pub fn encode(&self, buf: &mut Vec<u8>) {
                buf.push(self.opcode() as u8);
                match self {
                    $(Instr::$variant { $($field),* } => { $(Operand::encode($field, buf);)* }),*
                }
            }

            /// Decodes the operands of `op` (the opcode byte already read).
            #[allow(unused_variables)]
            pub fn decode(op: Opcode, r: &mut Reader<'_>) -> Result<Instr, DecodeError> {
                Ok(match op {
                    $(Opcode::$variant => Instr::$variant { $($field: {
                        let at = r.pos;
                        <$ty as Operand>::decode(r).map_err(|e| e.in_operand(stringify!($field), at))?
                    }),* }),*
                })
            }

            /// A random instance of `op` (for property tests and fuzzing).
            #[allow(unused_variables)]
            pub fn sample(op: Opcode, rng: &mut Rng) -> Instr {
                match op {
                    $(Opcode::$variant => Instr::$variant { $($field: <$ty as Operand>::sample(rng)),* }),*
                }
            }
        }
    };
}

instructions! {
    Load "load" unit(Dma) flags(ASYNC | MEMORY)
    doc("Copy `bytes` from memory location `mem` into this tile's SRAM at `sram`; adds 1 to token `tok` now and subtracts 1 when the last byte has landed.") {
        tok: Token = "completion token",
        mem: Loc = "source: HBM, a DRAM vault, or another tile's SRAM",
        sram: SramAddr = "destination address in this tile's SRAM",
        bytes: Bytes = "bytes to copy",
    }
    Store "store" unit(Dma) flags(ASYNC | MEMORY)
    doc("Copy `bytes` from this tile's SRAM at `sram` to memory location `mem`; token as for `load`, released when the memory has accepted the last byte.") {
        tok: Token = "completion token",
        mem: Loc = "destination: HBM, a DRAM vault, or another tile's SRAM",
        sram: SramAddr = "source address in this tile's SRAM",
        bytes: Bytes = "bytes to copy",
    }
    Wait "wait" unit(Control) flags(BLOCKING)
    doc("Hold issue until token `tok` has no outstanding operations.") {
        tok: Token = "token to wait on",
    }
    Gemm "gemm" unit(Matrix) flags(COMPUTE)
    doc("Matrix multiply C[m,n] = A[m,k] B[k,n] on operands in SRAM: m*n*k MACs; reads (m*k + k*n) and writes m*n elements of `dtype` through the SRAM port. A GEMV is m=1.") {
        m: Count = "rows of A and C (tokens)",
        n: Count = "columns of B and C (output features)",
        k: Count = "reduction length (input features)",
        dtype: Dtype = "operand type; selects the MAC rate",
    }
    Attn "attn" unit(Matrix) flags(COMPUTE)
    doc("Fused attention for `q` query tokens over `ctx` cached positions: `heads` query heads sharing `kv_heads` KV heads of width `hd`. 2*q*heads*ctx*hd MACs (scores and context), softmax over q*heads*ctx scores on the vector lanes, and 2*ctx*kv_heads*hd elements of KV read from SRAM.") {
        q: Count = "query tokens",
        ctx: Count = "KV positions attended (after any sparsity)",
        heads: Count = "query heads",
        kv_heads: Count = "KV heads (grouped-query attention)",
        hd: Count = "head dimension",
        dtype: Dtype = "KV cache and MAC type",
    }
    Vec "vec" unit(Vector) flags(COMPUTE)
    doc("Vector operation `op` over `n` elements of `dtype`; cost per element and operands read are in the vector-op table.") {
        op: VecOp = "operation",
        n: Count = "elements",
        dtype: Dtype = "element type",
    }
    Send "send" unit(Net) flags(ASYNC | NETWORK)
    doc("Send `bytes` from this tile's SRAM at `sram` to tile `to` with tag `tag`; token released when the last byte is delivered.") {
        tok: Token = "completion token",
        to: TileId = "destination tile (any chip)",
        tag: Tag = "matching tag",
        sram: SramAddr = "source address in this tile's SRAM",
        bytes: Bytes = "message size",
    }
    Recv "recv" unit(Net) flags(ASYNC | NETWORK)
    doc("Post a receive for the next message from tile `from` with tag `tag` into SRAM at `sram`; token released when it has fully arrived. Messages between a pair with one tag match in order.") {
        tok: Token = "completion token",
        from: TileId = "source tile (any chip)",
        tag: Tag = "matching tag",
        sram: SramAddr = "destination address in this tile's SRAM",
        bytes: Bytes = "expected message size",
    }
    Barrier "barrier" unit(Control) flags(BLOCKING)
    doc("Hold issue until every tile of `group` (declared in the header) has reached a barrier on it.") {
        group: Group = "barrier group",
    }
    Delay "delay" unit(Control) flags(BLOCKING)
    doc("Hold issue for `cycles` (models fixed software overhead such as a kernel launch).") {
        cycles: Cycles = "cycles to wait",
    }
    Loop "loop" unit(Control) flags(LOOP_OPEN)
    doc("Repeat the instructions up to the matching `endloop` `count` times (count >= 1). Loops nest.") {
        count: Count = "iterations",
    }
    EndLoop "endloop" unit(Control) flags(LOOP_CLOSE)
    doc("Close the innermost loop.") {}
    Mcast "mcast" unit(Net) flags(ASYNC | NETWORK)
    doc("Multicast `bytes` from this tile's SRAM at `sram` to every other member of tile group `group` (declared in the header) with tag `tag`, in one traversal: each link of the union of the routes to the members carries the data once, and each member takes it with a `recv` from this tile. Token released when every member has the last byte.") {
        tok: Token = "completion token",
        group: Group = "destination group (the sender, if a member, is skipped)",
        tag: Tag = "matching tag",
        sram: SramAddr = "source address in this tile's SRAM",
        bytes: Bytes = "message size",
    }
    Mla "mla" unit(Matrix) flags(COMPUTE)
    doc("Multi-head latent attention in the weight-absorbed form (DeepSeek-V2, arXiv 2405.04434, section 2.1) for `q` query tokens over `ctx` cached positions: every one of `heads` query heads attends to one shared cache entry per position, the compressed latent (`latent` elements, serving as key and value) and the decoupled RoPE key (`rope` elements). q*heads*ctx*(2*latent + rope) MACs (scores over latent + rope, context over the latent), softmax over q*heads*ctx scores on the vector lanes, and ctx*(latent + rope) elements of KV read from SRAM.") {
        q: Count = "query tokens",
        ctx: Count = "KV positions attended (after any sparsity)",
        heads: Count = "query heads",
        latent: Count = "latent width (kv_lora_rank)",
        rope: Count = "decoupled RoPE key width (qk_rope_head_dim)",
        dtype: Dtype = "KV cache and MAC type",
    }
}

impl Opcode {
    pub fn from_code(code: u8) -> Option<Opcode> {
        Opcode::ALL.get(code as usize).copied()
    }
    pub fn from_mnemonic(s: &str) -> Option<Opcode> {
        Opcode::ALL.iter().copied().find(|o| o.mnemonic() == s)
    }
    pub fn mnemonics() -> String {
        Opcode::ALL.iter().map(|o| o.mnemonic()).collect::<Vec<_>>().join(", ")
    }
}

impl Instr {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }
}

/// The instruction reference as a Markdown table, generated from the table
/// above; arch/isa.md embeds it and a test keeps the two equal.
pub fn reference_markdown() -> String {
    use std::fmt::Write;
    let mut s = String::new();
    s.push_str("| code | mnemonic | unit | flags | operands |\n|---|---|---|---|---|\n");
    for op in Opcode::ALL {
        let operands: Vec<String> =
            op.operands().iter().map(|o| format!("`{}` ({}: {})", o.name, o.kind, o.doc)).collect();
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} | {} |",
            *op as u8,
            op.mnemonic(),
            op.unit().name(),
            op.flags().names().replace('|', ", "),
            if operands.is_empty() { "none".to_string() } else { operands.join("; ") }
        );
    }
    s.push_str("\n| vector op | ops/element | inputs/element | reduces | meaning |\n|---|---|---|---|---|\n");
    for v in VecOp::ALL {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            v.name(),
            v.ops_per_element(),
            v.inputs(),
            if v.reduces() { "yes" } else { "no" },
            v.doc()
        );
    }
    s
}
