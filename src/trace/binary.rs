//! The binary form of a trace: the same records as the text form, with
//! LEB128 varints and one opcode byte per instruction. See
//! arch/trace-format.md for the layout.

use super::{BINARY_MAGIC, FORMAT_VERSION, Format, Header, Item, Pos, Sink, Source, TraceError, TraceErrorKind};
use crate::diag::Location;
use crate::fileio::Finish;
use crate::ids::TileId;
use crate::isa::{DecodeError, DecodeErrorKind, Instr, Opcode, Reader, varint};
use std::io::{self, Read, Write};
use std::path::Path;

/// Record marker: a tile's stream starts (followed by the tile index).
pub const TILE_MARK: u8 = 0xFE;
/// Record marker: end of the trace.
pub const END_MARK: u8 = 0xFF;
/// Every instruction fits in this many bytes (opcode + at most six operands
/// of at most 16 bytes each), so a window this large decodes any record.
const MAX_RECORD: usize = 128;

pub struct BinaryReader {
    file: String,
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Window of valid bytes in `buf`.
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    header: Header,
    /// Byte offset of the tile count, for messages about it.
    tiles_at: u64,
    /// Byte offset of each header field, for messages about it.
    field_at: Vec<(&'static str, u64)>,
    done: bool,
}

impl BinaryReader {
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = path.display().to_string();
        let src = crate::fileio::open_input(path)
            .map_err(|e| TraceError::new(Location::file(&file), TraceErrorKind::Io(e.to_string())))?;
        Self::new(&file, src)
    }

    /// A reader of the binary trace `src`; `file` names it in messages.
    pub fn new(file: &str, src: Box<dyn Read + Send>) -> Result<Self, TraceError> {
        let mut r = BinaryReader {
            file: file.to_string(),
            field_at: Vec::new(),
            src,
            buf: vec![0; 1 << 16],
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            header: Header::default(),
            tiles_at: 0,
            done: false,
        };
        r.read_header()?;
        Ok(r)
    }

    /// A reader of one tile's section of an already checked binary trace:
    /// `src` is positioned at the section's tile marker, byte `offset` of
    /// the file; `buf` is the read buffer (grown to two records' worth if
    /// shorter; its contents do not matter), which [`Self::into_buffer`]
    /// gives back for the next section.
    pub fn section(file: &str, src: Box<dyn Read + Send>, offset: u64, mut buf: Vec<u8>) -> Self {
        if buf.len() < 2 * MAX_RECORD {
            buf.resize(2 * MAX_RECORD, 0);
        }
        BinaryReader {
            file: file.to_string(),
            field_at: Vec::new(),
            src,
            buf,
            start: 0,
            end: 0,
            base: offset,
            eof: false,
            header: Header::default(),
            tiles_at: 0,
            done: false,
        }
    }

    /// The read buffer, for another section's reader.
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    fn err_at(&self, at: u64, kind: TraceErrorKind) -> TraceError {
        TraceError::new(Location::byte(&self.file, at), kind)
    }

    /// Ensures at least `MAX_RECORD` bytes are buffered unless the file ends.
    fn fill(&mut self) -> Result<(), TraceError> {
        if self.end - self.start >= MAX_RECORD || self.eof {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        while self.end < self.buf.len() {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err_at(self.offset(), TraceErrorKind::Io(e.to_string()))),
            }
        }
        Ok(())
    }

    /// Decodes one value from the buffered window.
    fn decode<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, TraceError> {
        self.decode_with(|| what.to_string(), f)
    }

    /// `decode` naming the value only if it is bad: `what` is called on an
    /// error alone (one `format!` per instruction was 15% of a NoC run).
    fn decode_with<T>(
        &mut self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, TraceError> {
        self.fill()?;
        self.decode_buffered(what, f)
    }

    /// `decode_with` on what is buffered, without refilling first.
    #[inline]
    fn decode_buffered<T>(
        &mut self,
        what: impl FnOnce() -> String,
        f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, TraceError> {
        let at = self.offset();
        let mut r = Reader::new(&self.buf[self.start..self.end]);
        let v = f(&mut r).map_err(|e| {
            let what = what();
            let operand = e.operand.map(|o| format!("operand `{o}` of ")).unwrap_or_default();
            match &e.kind {
                DecodeErrorKind::Truncated => self.err_at(
                    at,
                    TraceErrorKind::Truncated(format!(
                        "the file ends at byte {} inside {operand}{what}",
                        at + e.at as u64
                    )),
                ),
                DecodeErrorKind::Invalid(m) => {
                    self.err_at(at + e.at as u64, TraceErrorKind::Invalid(format!("{operand}{what}: {m}")))
                }
            }
        })?;
        self.start += r.pos;
        Ok(v)
    }

    fn string(&mut self, what: &'static str) -> Result<String, TraceError> {
        let at = self.offset();
        let len = self.decode(what, |r| r.varint())?;
        let max = crate::limits::MAX_HEADER_STRING_BYTES;
        if len > max {
            return Err(self.err_at(
                at,
                TraceErrorKind::Invalid(format!(
                    "the header's {what} is {len} bytes long, more than the {max} allowed"
                )),
            ));
        }
        let len = len as usize;
        let mut bytes = Vec::with_capacity(len.min(1 << 16));
        while bytes.len() < len {
            self.fill()?;
            let take = (len - bytes.len()).min(self.end - self.start);
            if take == 0 {
                let m = format!(
                    "the file ends at byte {} inside the header's {what} ({len} bytes declared, {} present)",
                    self.offset(),
                    bytes.len()
                );
                return Err(self.err_at(at, TraceErrorKind::Truncated(m)));
            }
            bytes.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
        }
        String::from_utf8(bytes).map_err(|_| self.err_at(at, TraceErrorKind::Invalid(format!("{what} is not UTF-8"))))
    }

    fn read_header(&mut self) -> Result<(), TraceError> {
        self.fill()?;
        let avail = self.end - self.start;
        if avail < BINARY_MAGIC.len() || self.buf[..7] != BINARY_MAGIC[..7] {
            return Err(self.err_at(0, TraceErrorKind::Truncated("the file is shorter than the magic number".into())));
        }
        if self.buf[7] != BINARY_MAGIC[7] {
            return Err(self.err_at(
                7,
                TraceErrorKind::Invalid(format!("bad magic: expected `TSIMBIN\\0`, byte 7 is {:#04x}", self.buf[7])),
            ));
        }
        self.start += BINARY_MAGIC.len();
        let vat = self.offset();
        let version = self.decode("the header's format version", |r| r.varint())?;
        if version != FORMAT_VERSION as u64 {
            return Err(self.err_at(vat, TraceErrorKind::Version(version.to_string())));
        }
        self.field_at.push(("chip", self.offset()));
        let chip = self.string("chip name")?;
        let tat = self.offset();
        self.tiles_at = tat;
        let tiles = self.decode("the header's tile count", |r| r.u32())?;
        if tiles == 0 || tiles > super::MAX_TILES {
            return Err(self.err_at(
                tat,
                TraceErrorKind::Syntax(format!("`tiles` must be in 1..={}, found {tiles}", super::MAX_TILES)),
            ));
        }
        self.field_at.push(("model", self.offset()));
        let model = self.string("model name")?;
        self.field_at.push(("workload", self.offset()));
        let workload = self.string("workload")?;
        self.field_at.push(("tokens", self.offset()));
        let tokens = self.decode("the header's token count", |r| {
            let mut b = [0u8; 8];
            for x in &mut b {
                *x = r.byte()?;
            }
            Ok(f64::from_le_bytes(b))
        })?;
        let users = self.decode("the header's user count", |r| r.varint())?;
        self.field_at.push(("groups", self.offset()));
        let ngroups = self.decode("the header's group count", |r| r.varint())?;
        let mut groups = Vec::new();
        let mut members_total = 0u64;
        for g in 0..ngroups {
            let gat = self.offset();
            let n = self.decode("a group size", |r| r.varint())?;
            members_total = members_total.saturating_add(n);
            if members_total > super::group_budget(tiles) {
                return Err(self.err_at(gat, TraceErrorKind::Invalid(super::too_many_members(tiles, members_total))));
            }
            let mut members = Vec::with_capacity(n.min(1 << 20) as usize);
            let mut prev: Option<u32> = None;
            for _ in 0..n {
                let d = self.decode("a group member", |r| r.u32())?;
                let t = match prev {
                    None => Some(d),
                    Some(p) => p.checked_add(d).filter(|_| d > 0),
                };
                let Some(t) = t.filter(|&t| t < tiles) else {
                    return Err(self.err_at(
                        gat,
                        TraceErrorKind::Invalid(format!("group {g} has a tile out of range or repeated")),
                    ));
                };
                members.push(TileId(t));
                prev = Some(t);
            }
            if members.is_empty() {
                return Err(self.err_at(gat, TraceErrorKind::Syntax("a group needs at least one tile".into())));
            }
            groups.push(members);
        }
        let mat = self.offset();
        let measure = match self.decode("the header's measure flag", |r| r.byte())? {
            0 => None,
            1 => {
                let a = self.decode("the measure window", |r| r.varint())?;
                let b = self.decode("the measure window", |r| r.varint())?;
                if a >= b {
                    return Err(self.err_at(mat, TraceErrorKind::Invalid("measure window is empty".into())));
                }
                Some((a, b))
            }
            f => return Err(self.err_at(mat, TraceErrorKind::Invalid(format!("measure flag {f}")))),
        };
        let header = Header { chip, tiles, model, workload, tokens, users, groups, measure };
        if let Err((field, m)) = header.validate_field() {
            let at = self.field_at.iter().find(|(f, _)| *f == field).map_or(tat, |&(_, at)| at);
            return Err(self.err_at(at, TraceErrorKind::Invalid(m)));
        }
        self.header = header;
        Ok(())
    }
}

impl Source for BinaryReader {
    fn header(&self) -> &Header {
        &self.header
    }

    fn next_item(&mut self) -> Result<Option<(Item, Pos)>, TraceError> {
        if self.done {
            return Ok(None);
        }
        let at = self.offset();
        self.fill()?;
        if self.start == self.end {
            let m = format!("the file ends at byte {at} without the end marker 0xff");
            return Err(self.err_at(at, TraceErrorKind::Truncated(m)));
        }
        // `fill` left a whole record buffered (MAX_RECORD bytes, opcode
        // included), unless the file ends first: decode it in place.
        let tag = self.buf[self.start];
        self.start += 1;
        let item = match tag {
            END_MARK => {
                self.done = true;
                self.fill()?;
                if self.end > self.start {
                    return Err(
                        self.err_at(self.offset(), TraceErrorKind::Invalid("bytes after the end marker".into()))
                    );
                }
                return Ok(None);
            }
            TILE_MARK => Item::Tile(TileId(self.decode_with(|| format!("the tile marker at byte {at}"), |r| r.u32())?)),
            code => {
                let op = Opcode::from_code(code).ok_or_else(|| {
                    let m = format!(
                        "unknown opcode byte {code:#04x} (expected 0x00..={:#04x}, {TILE_MARK:#04x} for a tile or {END_MARK:#04x} for the end)",
                        Opcode::ALL.len() - 1
                    );
                    self.err_at(at, TraceErrorKind::Invalid(m))
                })?;
                let what = || format!("`{}` (instruction at byte {at})", op.mnemonic());
                Item::Instr(self.decode_buffered(what, |r| Instr::decode(op, r))?)
            }
        };
        Ok(Some((item, at)))
    }

    fn location(&self, pos: Pos) -> Location {
        Location::byte(&self.file, pos)
    }

    fn header_location(&self, field: &str) -> Location {
        match field {
            "tiles" => Location::byte(&self.file, self.tiles_at),
            _ => match self.field_at.iter().find(|(f, _)| *f == field) {
                Some(&(_, at)) => Location::byte(&self.file, at),
                None => Location::byte(&self.file, BINARY_MAGIC.len() as u64),
            },
        }
    }

    fn format(&self) -> Format {
        Format::Binary
    }
}

pub struct BinaryWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
}

impl<W: Write> BinaryWriter<W> {
    pub fn new(out: W) -> Self {
        BinaryWriter { out, buf: Vec::with_capacity(256) }
    }
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    varint::write(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

impl<W: Finish> Sink for BinaryWriter<W> {
    fn header(&mut self, h: &Header) -> io::Result<()> {
        h.validate().map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(BINARY_MAGIC);
        varint::write(b, FORMAT_VERSION as u64);
        write_str(b, &h.chip);
        varint::write(b, h.tiles as u64);
        write_str(b, &h.model);
        write_str(b, &h.workload);
        b.extend_from_slice(&h.tokens.to_le_bytes());
        varint::write(b, h.users);
        varint::write(b, h.groups.len() as u64);
        for g in &h.groups {
            varint::write(b, g.len() as u64);
            let mut prev = None;
            for t in g {
                varint::write(b, (t.0 - prev.unwrap_or(0)) as u64);
                prev = Some(t.0);
            }
        }
        match h.measure {
            None => b.push(0),
            Some((x, y)) => {
                b.push(1);
                varint::write(b, x);
                varint::write(b, y);
            }
        }
        self.out.write_all(&self.buf)
    }
    fn tile(&mut self, t: TileId) -> io::Result<()> {
        self.buf.clear();
        self.buf.push(TILE_MARK);
        varint::write(&mut self.buf, t.0 as u64);
        self.out.write_all(&self.buf)
    }
    fn instr(&mut self, i: &Instr) -> io::Result<()> {
        self.buf.clear();
        i.encode(&mut self.buf);
        debug_assert!(self.buf.len() <= MAX_RECORD);
        self.out.write_all(&self.buf)
    }
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.out.write_all(&[END_MARK])?;
        self.out.finish()
    }
}
