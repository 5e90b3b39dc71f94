//! A binary trace read lazily for simulation: every tile's stream is read
//! from its own offset in the file as the tile issues, and only a window
//! of it is held — from the oldest instruction the tile may still need
//! (the outermost open loop's, else the one issuing) to the furthest read.
//! Memory is flat in the trace's length (arch/performance.md).
//!
//! The whole file is checked once first (`Lazy::scan`, the same checker as
//! every other reader), so the sections read later are known to be well
//! formed; a file changed in between is reported as an I/O error.

use super::binary::BinaryReader;
use super::{Format, Header, Item, Pos, Source, StreamError, TraceError, TraceErrorKind};
use crate::diag::Location;
use crate::ids::TileId;
use crate::isa::Instr;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// Bytes of read buffer shared out over the tiles' sections.
const BUFFERS: usize = 32 << 20;
/// Each section's buffer stays within these bounds, and is no longer than
/// the section (and `MIN_BUFFER`): groq-576's 70B step has 6,560 sections
/// of 400 bytes on average, and a 5 KiB share for each was 32 MiB of
/// buffers for a 2.6 MB file, zeroed page by page (18% of the run in the
/// kernel).
const MIN_BUFFER: usize = 512;
const MAX_BUFFER: usize = 64 << 10;

/// A checked binary trace whose streams are read on demand.
pub struct Lazy {
    pub header: Header,
    pub file: String,
    /// Instructions in the file (static count).
    pub instructions: u64,
    handle: Arc<File>,
    sections: Vec<Section>,
    buffer: usize,
    /// Read buffers of finished sections, reused by the next ones opened
    /// (allocating and zeroing one per section was ~2% of a 576-chip run).
    spare: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Section {
    /// Byte offset of the tile's marker; `None`: the tile has no stream.
    offset: Option<u64>,
    /// Bytes from the marker to the next section's (or the file's end).
    len: u64,
    /// Boxed: a section is read by every fetch, its reader only when the
    /// window runs out (the section stays two cache lines).
    reader: Option<Box<BinaryReader>>,
    /// Instructions `base..base + window.len()` of the stream.
    window: VecDeque<(Instr, Pos)>,
    base: usize,
    done: bool,
}

/// Why `Lazy::scan` stopped.
pub enum ScanError<E> {
    /// The file is not a valid trace (or not a binary one on disk).
    Trace(TraceError),
    /// `f` refused an instruction.
    Refused(E),
}

/// `pread` at a moving offset: many sections read one file handle.
struct At {
    file: Arc<File>,
    pos: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Whether `path` can be read lazily: a regular file that starts with the
/// binary trace magic.
pub fn applies(path: &Path) -> bool {
    let mut head = [0u8; super::BINARY_MAGIC.len()];
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
        && File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok()
        && &head == super::BINARY_MAGIC
}

impl Lazy {
    /// Checks the binary trace at `path` from end to end, calling `f` on
    /// every instruction with its tile and position, and records where each
    /// tile's stream starts. Text traces and pipes are refused
    /// (`TraceErrorKind::Invalid`): load those whole, or convert them.
    pub fn scan<E>(path: &Path, mut f: impl FnMut(TileId, &Instr, Pos) -> Result<(), E>) -> Result<Lazy, ScanError<E>> {
        let file = path.display().to_string();
        let io_err =
            |e: io::Error| ScanError::Trace(TraceError::new(Location::file(&file), TraceErrorKind::Io(e.to_string())));
        let handle = File::open(path).map_err(io_err)?;
        let meta = handle.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(ScanError::Trace(TraceError::new(
                Location::file(&file),
                TraceErrorKind::Invalid("a lazily read trace must be a regular file".into()),
            )));
        }
        let mut src = super::open(path).map_err(ScanError::Trace)?;
        if src.format() != Format::Binary {
            return Err(ScanError::Trace(TraceError::new(
                Location::file(&file),
                TraceErrorKind::Invalid("a lazily read trace must be binary (tilesim convert)".into()),
            )));
        }
        let header = src.header().clone();
        let mut sections: Vec<Section> = (0..header.tiles).map(|_| Section::default()).collect();
        let mut current = TileId(0);
        let mut instructions = 0u64;
        // The section before, which ends where the next one starts.
        let mut open: Option<TileId> = None;
        let r = super::stream(src.as_mut(), |item, pos| {
            match item {
                Item::Tile(t) => {
                    if let Some(p) = open.replace(*t) {
                        let s = &mut sections[p.index()];
                        s.len = pos - s.offset.unwrap_or(pos);
                    }
                    current = *t;
                    sections[t.index()].offset = Some(pos);
                }
                Item::Instr(i) => {
                    instructions += 1;
                    f(current, i, pos)?;
                }
            }
            Ok(())
        });
        match r {
            Ok(_) => {}
            Err(StreamError::Trace(e)) => return Err(ScanError::Trace(e)),
            Err(StreamError::Sink(e)) => return Err(ScanError::Refused(e)),
        }
        if let Some(p) = open {
            let s = &mut sections[p.index()];
            s.len = meta.len().saturating_sub(s.offset.unwrap_or(0));
        }
        let streams = sections.iter().filter(|s| s.offset.is_some()).count().max(1);
        let buffer = (BUFFERS / streams).clamp(MIN_BUFFER, MAX_BUFFER);
        Ok(Lazy { header, file, instructions, handle: Arc::new(handle), sections, buffer, spare: Vec::new() })
    }

    pub fn has_stream(&self, t: TileId) -> bool {
        self.sections[t.index()].offset.is_some()
    }

    /// Instruction `pc` of tile `t`'s stream with its position, or `None`
    /// past its end. `pc` must not be below what was retired.
    pub fn fetch(&mut self, t: TileId, pc: usize) -> Result<Option<(Instr, Pos)>, TraceError> {
        let s = &mut self.sections[t.index()];
        debug_assert!(pc >= s.base, "instruction {pc} of tile {t} was retired");
        while s.base + s.window.len() <= pc {
            if s.done {
                return Ok(None);
            }
            let r = match &mut s.reader {
                Some(r) => r,
                None => {
                    let Some(offset) = s.offset else { return Ok(None) };
                    let at = At { file: Arc::clone(&self.handle), pos: offset };
                    // A finished section's buffer if it is big enough
                    // (a small one would read a long section in many
                    // pieces), else a new one.
                    let want = self.buffer.min((s.len as usize).max(MIN_BUFFER));
                    let buf = match self.spare.last() {
                        Some(b) if b.len() >= want => self.spare.pop().expect("a spare buffer"),
                        _ => vec![0; want],
                    };
                    let mut r = BinaryReader::section(&self.file, Box::new(at), offset, buf);
                    // The section starts with its own tile marker.
                    match r.next_item()? {
                        Some((Item::Tile(x), _)) if x == t => {}
                        _ => return Err(changed(&self.file, offset)),
                    }
                    s.reader.insert(Box::new(r))
                }
            };
            match r.next_item()? {
                Some((Item::Instr(i), pos)) => s.window.push_back((i, pos)),
                // The next tile's section, or the end: this stream is over.
                Some((Item::Tile(_), _)) | None => {
                    s.done = true;
                    if let Some(r) = s.reader.take() {
                        self.spare.push(r.into_buffer());
                    }
                }
            }
        }
        Ok(Some(s.window[pc - s.base]))
    }

    /// Asks the CPU to bring tile `t`'s section into the cache (a hint).
    #[inline(always)]
    pub fn prefetch(&self, t: TileId) {
        if let Some(s) = self.sections.get(t.index()) {
            crate::hint::prefetch_all(s);
        }
    }

    /// Asks the CPU to bring instruction `pc` of tile `t` in if the window
    /// holds it (a hint).
    #[inline(always)]
    pub fn prefetch_instr(&self, t: TileId, pc: usize) {
        if let Some(s) = self.sections.get(t.index())
            && let Some(i) = pc.checked_sub(s.base).and_then(|i| s.window.get(i))
        {
            crate::hint::prefetch_all(i);
        }
    }

    /// Tile `t` will not ask for instructions below `pc` again.
    pub fn retire(&mut self, t: TileId, pc: usize) {
        let s = &mut self.sections[t.index()];
        while s.base < pc && !s.window.is_empty() {
            s.window.pop_front();
            s.base += 1;
        }
    }

    /// Instructions held in the windows now.
    pub fn held(&self) -> usize {
        self.sections.iter().map(|s| s.window.len()).sum()
    }

    pub fn location(&self, pos: Pos) -> Location {
        Location::byte(&self.file, pos)
    }
}

fn changed(file: &str, offset: u64) -> TraceError {
    TraceError::new(Location::byte(file, offset), TraceErrorKind::Io("the file changed after it was checked".into()))
}
