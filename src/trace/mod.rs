//! Instruction traces: the contract between the compiler and the simulator.
//!
//! A trace is a header followed by one instruction stream per tile. It has a
//! line-oriented text form (`text.rs`) and a compact binary form
//! (`binary.rs`) holding exactly the same information; arch/trace-format.md
//! specifies both. Readers stream: they yield one record at a time, and
//! `Checker` validates the structure (tile ranges, loops, groups) as records
//! pass, so checking a trace never holds it in memory.

pub mod against;
pub mod binary;
mod check;
mod header;
pub mod lazy;
mod program;
pub mod text;

pub use check::Checker;
pub use header::{Header, TileSetError, parse_tile_set, write_tile_set};
pub use program::{Program, Trace};

use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::Instr;
use std::io::{self, Read};

use std::path::Path;

/// Version written by this build and the only one it reads.
pub const FORMAT_VERSION: u32 = 2;
/// First word of a text trace.
pub const TEXT_MAGIC: &str = "tilesim-trace";
/// First bytes of a binary trace.
pub const BINARY_MAGIC: &[u8; 8] = b"TSIMBIN\0";

/// One record of a trace body.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// Starts the instruction stream of a tile.
    Tile(TileId),
    Instr(Instr),
}

/// Where a record came from: a 1-based line (text) or a byte offset (binary).
pub type Pos = u64;

/// The two encodings of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Binary,
}

#[derive(Debug, thiserror::Error)]
#[error("{loc}: {kind}")]
pub struct TraceError {
    pub loc: Location,
    pub kind: TraceErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceErrorKind {
    #[error("cannot read the trace: {0}")]
    Io(String),
    #[error(
        "not a tilesim trace: expected `{TEXT_MAGIC} {FORMAT_VERSION}` as the first line or the binary magic, found {0}"
    )]
    NotATrace(String),
    #[error("unsupported trace format version `{0}` (this tilesim reads version {FORMAT_VERSION})")]
    Version(String),
    #[error(
        "unknown header directive `{0}` (expected chip, tiles, model, workload, tokens, users, group, measure or tile)"
    )]
    UnknownDirective(String),
    #[error("the header has no `{0}` line (expected before the first `tile`)")]
    MissingHeader(&'static str),
    #[error("`{0}` appears twice in the header")]
    DuplicateHeader(String),
    #[error("`{0}` is a header directive and cannot appear after the first `tile` line")]
    HeaderAfterBody(String),
    #[error("{0}")]
    Syntax(String),
    #[error("unknown instruction `{found}` (expected one of: {expected})")]
    UnknownOpcode { found: String, expected: String },
    #[error("{0}")]
    Operand(String),
    #[error("instruction before the first `tile N` line")]
    InstrOutsideTile,
    #[error("{what} names tile {tile}, but the header declares {tiles} tiles (0..={})", tiles.saturating_sub(1))]
    TileOutOfRange { what: String, tile: u32, tiles: u32 },
    #[error("tile {tile} has a second instruction stream (the first starts at {first})")]
    DuplicateTile { tile: u32, first: String },
    #[error("this `loop` is never closed (expected `endloop` before {0})")]
    UnclosedLoop(&'static str),
    #[error("`endloop` without a matching `loop`")]
    UnmatchedEndloop,
    #[error("loop count must be at least 1, found 0")]
    ZeroLoop,
    #[error("group {group} is not declared in the header ({})", declared_groups(*.declared))]
    UnknownGroup { group: u32, declared: usize },
    #[error("{0}")]
    AgainstChip(String),
    #[error("truncated binary trace: {0}")]
    Truncated(String),
    #[error("invalid binary trace: {0}")]
    Invalid(String),
    /// Past a bound of arch/limits.md (memory, size).
    #[error("{0}")]
    Limit(String),
}

fn declared_groups(n: usize) -> String {
    match n {
        0 => "it declares no groups".into(),
        1 => "it declares group 0 only".into(),
        n => format!("it declares groups 0..={}", n - 1),
    }
}

/// Most tiles a trace may address (keeps per-tile tables bounded).
pub const MAX_TILES: u32 = crate::limits::MAX_TILES;

/// Members all barrier groups of a `tiles`-tile trace may have together:
/// 8 per declared tile, and at 4 bytes each within half the memory budget.
pub fn group_budget(tiles: u32) -> u64 {
    (crate::limits::MAX_GROUP_MEMBERS_PER_TILE * tiles as u64).min(crate::limits::max_memory() / 8)
}

pub(crate) fn too_many_members(tiles: u32, members: u64) -> String {
    format!(
        "the barrier groups name {members} or more members in all, more than the {} allowed ({} per declared \
         tile, within --max-memory; arch/limits.md)",
        group_budget(tiles),
        crate::limits::MAX_GROUP_MEMBERS_PER_TILE
    )
}

impl TraceError {
    pub fn new(loc: Location, kind: TraceErrorKind) -> Self {
        TraceError { loc, kind }
    }
}

/// A streaming source of trace records.
pub trait Source {
    fn header(&self) -> &Header;
    /// The next record with its position, or `None` at a proper end.
    fn next_item(&mut self) -> Result<Option<(Item, Pos)>, TraceError>;
    /// Renders a position of this source for messages.
    fn location(&self, pos: Pos) -> Location;
    /// Where a header field (`tiles`, `chip`, ...) was given.
    fn header_location(&self, field: &str) -> Location;
    fn format(&self) -> Format;
}

/// A streaming consumer of trace records (text or binary writer).
pub trait Sink {
    fn header(&mut self, h: &Header) -> io::Result<()>;
    fn tile(&mut self, t: TileId) -> io::Result<()>;
    fn instr(&mut self, i: &Instr) -> io::Result<()>;
    /// Completes the output (end marker, flush, atomic rename).
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Opens a trace file (`-`: standard input), detecting text or binary from
/// its first bytes, and reads its header. The file is opened once and the
/// bytes sniffed are handed on, so pipes, `/dev/stdin` and process
/// substitution work.
pub fn open(path: &Path) -> Result<Box<dyn Source>, TraceError> {
    let name = path.display().to_string();
    let f = crate::fileio::open_input(path)
        .map_err(|e| TraceError::new(Location::file(&name), TraceErrorKind::Io(e.to_string())))?;
    open_reader(&name, f)
}

/// `open` for any reader; `name` stands for the file in messages.
pub fn open_reader(name: &str, mut f: Box<dyn Read + Send>) -> Result<Box<dyn Source>, TraceError> {
    let io_err = |e: io::Error| TraceError::new(Location::file(name), TraceErrorKind::Io(e.to_string()));
    let mut magic = [0u8; 8];
    let n = read_up_to(&mut f, &mut magic).map_err(io_err)?;
    let whole: Box<dyn Read + Send> = Box::new(io::Cursor::new(magic[..n].to_vec()).chain(f));
    if n >= 7 && magic[..7] == BINARY_MAGIC[..7] {
        return Ok(Box::new(binary::BinaryReader::new(name, whole)?));
    }
    // Neither the binary magic nor text: say what the first bytes are.
    let head = &magic[..n];
    let text_like = head.iter().all(|&b| b >= 0x20 || b == b'\n' || b == b'\r' || b == b'\t')
        && std::str::from_utf8(head).map_or_else(|e| e.error_len().is_none(), |_| true);
    if !text_like {
        let hex: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
        return Err(TraceError::new(
            Location::byte(name, 0),
            TraceErrorKind::NotATrace(format!("bytes {}", hex.join(" "))),
        ));
    }
    Ok(Box::new(text::TextReader::new(name, whole)?))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Error from `stream`: the trace is bad, or the consumer failed.
#[derive(Debug)]
pub enum StreamError<E> {
    Trace(TraceError),
    Sink(E),
}

/// Reads and checks a whole trace, calling `f` on each record. Used by
/// `tilesim check`, conversion and loading; holds nothing but the checker
/// state.
pub fn stream<E>(
    src: &mut dyn Source,
    mut f: impl FnMut(&Item, Pos) -> Result<(), E>,
) -> Result<Checker, StreamError<E>> {
    let describe: fn(Pos) -> String = match src.format() {
        Format::Text => |p| format!("line {p}"),
        Format::Binary => |p| format!("byte {p}"),
    };
    let mut checker = Checker::new(src.header().clone(), describe);
    while let Some((item, pos)) = src.next_item().map_err(StreamError::Trace)? {
        checker.item(&item, pos).map_err(|k| StreamError::Trace(TraceError::new(src.location(pos), k)))?;
        f(&item, pos).map_err(StreamError::Sink)?;
    }
    checker.finish().map_err(|(k, pos)| StreamError::Trace(TraceError::new(src.location(pos), k)))?;
    Ok(checker)
}

/// `stream` with a consumer that cannot fail.
pub fn check(src: &mut dyn Source, mut f: impl FnMut(&Item, Pos)) -> Result<Checker, TraceError> {
    stream(src, |i, p| {
        f(i, p);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        StreamError::Trace(t) => t,
        StreamError::Sink(never) => match never {},
    })
}

/// Creates a writer for `format` at `path` (`fileio::create`: atomic for a
/// regular file, nothing appears unless `finish` succeeds; `-` is standard
/// output).
pub fn create(path: &Path, format: Format) -> io::Result<Box<dyn Sink>> {
    let file = crate::fileio::create(path)?;
    Ok(match format {
        Format::Text => Box::new(text::TextWriter::new(file)),
        Format::Binary => Box::new(binary::BinaryWriter::new(file)),
    })
}
