//! The text form of a trace: line-oriented, `#` comments, one instruction
//! per line as `mnemonic name=value ...`. See arch/trace-format.md.

use super::{FORMAT_VERSION, Format, Header, Item, Pos, Sink, Source, TEXT_MAGIC, TraceError, TraceErrorKind};
use super::{TileSetError, write_tile_set};
use crate::diag::Location;
use crate::fileio::Finish;
use crate::ids::TileId;
use crate::isa::{Args, Flags, Instr, Opcode};
use crate::limits::excerpt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

const HEADER_DIRECTIVES: &[&str] = &["chip", "tiles", "model", "workload", "tokens", "users", "group", "measure"];

/// Splits a line into words with their 1-based columns, dropping a `#` comment.
fn words(line: &str) -> Vec<(&str, usize)> {
    let code = match line.find('#') {
        Some(i) => &line[..i],
        None => line,
    };
    // Columns count characters, as editors and config errors do.
    let mut out = Vec::new();
    let mut start = None;
    for (col, (i, c)) in code.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((s, scol)) = start.take() {
                out.push((&code[s..i], scol));
            }
        } else if start.is_none() {
            start = Some((i, col + 1));
        }
    }
    if let Some((s, scol)) = start {
        out.push((&code[s..], scol));
    }
    out
}

pub struct TextReader {
    file: String,
    lines: BufReader<Box<dyn Read + Send>>,
    buf: String,
    bytes: Vec<u8>,
    /// Members of the header's groups so far (bounded per declared tile).
    members: u64,
    line_no: u64,
    header: Header,
    /// Line of each header directive given.
    directive_lines: Vec<(&'static str, u64)>,
    /// The `tile` line that ended the header, not yet returned.
    pending: Option<(Item, Pos)>,
}

impl TextReader {
    pub fn open(path: &Path) -> Result<Self, TraceError> {
        let file = path.display().to_string();
        let f = crate::fileio::open_input(path)
            .map_err(|e| TraceError::new(Location::file(&file), TraceErrorKind::Io(e.to_string())))?;
        Self::new(&file, f)
    }

    /// A reader of the text trace `f`; `file` names it in messages.
    pub fn new(file: &str, f: Box<dyn Read + Send>) -> Result<Self, TraceError> {
        let mut r = TextReader {
            file: file.to_string(),
            lines: BufReader::with_capacity(1 << 16, f),
            buf: String::new(),
            bytes: Vec::new(),
            members: 0,
            line_no: 0,
            header: Header::default(),
            directive_lines: Vec::new(),
            pending: None,
        };
        r.read_header()?;
        Ok(r)
    }

    fn err(&self, col: Option<usize>, kind: TraceErrorKind) -> TraceError {
        TraceError::new(Location::line(&self.file, self.line_no, col), kind)
    }

    /// Reads the next line into `self.buf`; false at end of file. A line
    /// longer than `MAX_TRACE_LINE_BYTES` is an error, read no further.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        self.buf.clear();
        self.bytes.clear();
        let limit = crate::limits::MAX_TRACE_LINE_BYTES;
        let read = (&mut self.lines).take(limit + 1).read_until(b'\n', &mut self.bytes);
        match read {
            Ok(0) => return Ok(false),
            Ok(_) => self.line_no += 1,
            Err(e) => {
                self.line_no += 1;
                return Err(self.err(None, TraceErrorKind::Io(e.to_string())));
            }
        }
        if self.bytes.len() as u64 > limit {
            return Err(self.err(
                None,
                TraceErrorKind::Syntax(format!(
                    "the line is longer than {} (arch/limits.md); is this a trace?",
                    crate::units::human_bytes(limit as f64)
                )),
            ));
        }
        match std::str::from_utf8(&self.bytes) {
            Ok(t) => {
                self.buf.push_str(t);
                Ok(true)
            }
            Err(e) => {
                let col = String::from_utf8_lossy(&self.bytes[..e.valid_up_to()]).chars().count() + 1;
                Err(self.err(
                    Some(col),
                    TraceErrorKind::Syntax("the line is not valid UTF-8 text (is this a damaged binary trace?)".into()),
                ))
            }
        }
    }

    fn read_header(&mut self) -> Result<(), TraceError> {
        let mut seen_magic = false;
        let mut seen: Vec<&'static str> = Vec::new();
        loop {
            if !self.next_line()? {
                if !seen_magic {
                    return Err(TraceError::new(
                        Location::file(&self.file),
                        TraceErrorKind::NotATrace("an empty file".into()),
                    ));
                }
                break;
            }
            let line = std::mem::take(&mut self.buf);
            let w = words(&line);
            let Some(&(first, col)) = w.first() else {
                self.buf = line;
                continue;
            };
            if !seen_magic {
                if first != TEXT_MAGIC {
                    return Err(self.err(Some(col), TraceErrorKind::NotATrace(format!("`{}`", excerpt(first)))));
                }
                if w.len() == 1 {
                    return Err(self.err(
                        Some(col + first.chars().count()),
                        TraceErrorKind::Syntax(format!(
                            "the first line must be `{TEXT_MAGIC} {FORMAT_VERSION}`; found `{TEXT_MAGIC}` with no version"
                        )),
                    ));
                }
                let v = w[1].0;
                if v != FORMAT_VERSION.to_string() || w.len() > 2 {
                    let c = w.get(1).map(|x| x.1);
                    let found = w[1..].iter().map(|x| x.0).collect::<Vec<_>>().join(" ");
                    return Err(self.err(c, TraceErrorKind::Version(excerpt(&found))));
                }
                seen_magic = true;
                continue;
            }
            if first == "tile" {
                let item = self.tile_line(&w)?;
                self.pending = Some((item, self.line_no));
                break;
            }
            let Some(&dir) = HEADER_DIRECTIVES.iter().find(|d| **d == first) else {
                if Opcode::from_mnemonic(first).is_some() {
                    return Err(self.err(Some(col), TraceErrorKind::InstrOutsideTile));
                }
                return Err(self.err(Some(col), TraceErrorKind::UnknownDirective(excerpt(first))));
            };
            if dir != "group" {
                if seen.contains(&dir) {
                    return Err(self.err(Some(col), TraceErrorKind::DuplicateHeader(dir.into())));
                }
                seen.push(dir);
            }
            self.directive_lines.push((dir, self.line_no));
            self.directive(dir, &w, &line)?;
            self.buf = line;
        }
        for required in ["chip", "tiles"] {
            if !seen.contains(&required) {
                return Err(self.err(None, TraceErrorKind::MissingHeader(required)));
            }
        }
        Ok(())
    }

    fn one_arg<'a>(&self, dir: &str, w: &[(&'a str, usize)], what: &str) -> Result<(&'a str, usize), TraceError> {
        if w.len() != 2 {
            let col = w.get(2).map(|x| x.1).or(Some(w[0].1 + dir.len()));
            return Err(self.err(col, TraceErrorKind::Syntax(format!("`{dir}` takes one argument: {what}"))));
        }
        Ok(w[1])
    }

    fn number<T: std::str::FromStr>(&self, dir: &str, w: &[(&str, usize)], what: &str) -> Result<T, TraceError> {
        let (v, col) = self.one_arg(dir, w, what)?;
        v.parse().map_err(|_| {
            self.err(Some(col), TraceErrorKind::Syntax(format!("`{dir}` expects {what}, found `{}`", excerpt(v))))
        })
    }

    fn directive(&mut self, dir: &str, w: &[(&str, usize)], line: &str) -> Result<(), TraceError> {
        match dir {
            "chip" => self.header.chip = self.header_string(dir, self.one_arg(dir, w, "the chip config name")?)?,
            "model" => self.header.model = self.header_string(dir, self.one_arg(dir, w, "the model name")?)?,
            "tiles" => {
                let n: u32 = self.number(dir, w, "a tile count (integer >= 1)")?;
                if n == 0 || n > super::MAX_TILES {
                    return Err(self.err(
                        Some(w[1].1),
                        TraceErrorKind::Syntax(format!("`tiles` must be in 1..={}, found {n}", super::MAX_TILES)),
                    ));
                }
                self.header.tiles = n;
            }
            "tokens" => {
                let t: f64 = self.number(dir, w, "a token count (a number >= 0)")?;
                if !(t.is_finite() && t >= 0.0) {
                    return Err(self.err(
                        Some(w[1].1),
                        TraceErrorKind::Syntax(format!("`tokens` expects a number >= 0, found `{}`", w[1].0)),
                    ));
                }
                self.header.tokens = t;
            }
            "users" => self.header.users = self.number(dir, w, "a user count (integer)")?,
            "workload" => {
                let rest = w.get(1).map(|&(_, c)| {
                    let at = line.char_indices().nth(c - 1).map_or(line.len(), |(i, _)| i);
                    (line[at..].split('#').next().unwrap_or("").trim(), c)
                });
                if let Some(r) = rest {
                    self.header.workload = self.header_string(dir, r)?;
                }
            }
            "measure" => {
                let parse = |i: usize| w.get(i).and_then(|x| x.0.parse::<u64>().ok());
                match (parse(1), parse(2), w.len()) {
                    (Some(a), Some(b), 3) if a < b => self.header.measure = Some((a, b)),
                    _ => {
                        return Err(self.err(
                            Some(w[0].1),
                            TraceErrorKind::Syntax(
                                "`measure` takes two cycle counts FROM TO with FROM < TO, e.g. `measure 2000 10000`"
                                    .into(),
                            ),
                        ));
                    }
                }
            }
            "group" => {
                if w.len() != 3 {
                    return Err(self.err(
                        Some(w[0].1),
                        TraceErrorKind::Syntax("`group` takes an id and a tile set, e.g. `group 0 0-63`".into()),
                    ));
                }
                let expected = self.header.groups.len();
                if w[1].0.parse::<usize>().ok() != Some(expected) {
                    return Err(self.err(
                        Some(w[1].1),
                        TraceErrorKind::Syntax(format!(
                            "groups are numbered in order: expected `group {expected}`, found `group {}`",
                            excerpt(w[1].0)
                        )),
                    ));
                }
                if self.header.tiles == 0 {
                    return Err(self.err(
                        Some(w[0].1),
                        TraceErrorKind::Syntax("`tiles` must come before the first `group`".into()),
                    ));
                }
                let tiles = self.header.tiles;
                let budget = super::group_budget(tiles).saturating_sub(self.members);
                let set = super::header::parse_tile_set_within(w[2].0, tiles, budget).map_err(|e| {
                    let kind = match e {
                        TileSetError::Syntax(m) => TraceErrorKind::Syntax(m),
                        TileSetError::OutOfRange(tile) => {
                            TraceErrorKind::TileOutOfRange { what: format!("group {expected}"), tile, tiles }
                        }
                        TileSetError::TooMany(n) => {
                            TraceErrorKind::Syntax(super::too_many_members(tiles, self.members + n))
                        }
                    };
                    self.err(Some(w[2].1), kind)
                })?;
                self.members += set.len() as u64;
                self.header.groups.push(set);
            }
            _ => unreachable!("directive list and match agree"),
        }
        Ok(())
    }

    /// A header string (chip, model, workload) within `MAX_HEADER_STRING_BYTES`.
    fn header_string(&self, dir: &str, (v, col): (&str, usize)) -> Result<String, TraceError> {
        let max = crate::limits::MAX_HEADER_STRING_BYTES;
        if v.len() as u64 > max {
            return Err(self.err(
                Some(col),
                TraceErrorKind::Syntax(format!("`{dir}` is {} bytes long, more than the {max} allowed", v.len())),
            ));
        }
        Ok(v.to_string())
    }

    fn tile_line(&self, w: &[(&str, usize)]) -> Result<Item, TraceError> {
        let t: u32 = self.number("tile", w, "a tile index (integer)")?;
        Ok(Item::Tile(TileId(t)))
    }

    fn parse_instr(&self, w: &[(&str, usize)], line_len: usize) -> Result<Instr, TraceError> {
        let (mnemonic, col) = w[0];
        let op = Opcode::from_mnemonic(mnemonic).ok_or_else(|| {
            let kind = if HEADER_DIRECTIVES.contains(&mnemonic) || mnemonic == TEXT_MAGIC {
                TraceErrorKind::HeaderAfterBody(excerpt(mnemonic))
            } else {
                TraceErrorKind::UnknownOpcode { found: excerpt(mnemonic), expected: Opcode::mnemonics() }
            };
            self.err(Some(col), kind)
        })?;
        let args = Args::new(mnemonic, &w[1..], line_len + 1)
            .map_err(|e| self.err(e.column, TraceErrorKind::Operand(e.message)))?;
        Instr::parse(op, args).map_err(|e| self.err(e.column, TraceErrorKind::Operand(e.message)))
    }
}

impl Source for TextReader {
    fn header(&self) -> &Header {
        &self.header
    }

    fn next_item(&mut self) -> Result<Option<(Item, Pos)>, TraceError> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        loop {
            if !self.next_line()? {
                return Ok(None);
            }
            let line = std::mem::take(&mut self.buf);
            let w = words(&line);
            let result = match w.first() {
                None => None,
                Some(&("tile", _)) => Some(self.tile_line(&w)),
                Some(_) => {
                    // Missing operands are reported just after the last word.
                    let end = w.last().map_or(0, |&(t, c)| c + t.chars().count() - 1);
                    Some(self.parse_instr(&w, end).map(Item::Instr))
                }
            };
            self.buf = line;
            if let Some(r) = result {
                return r.map(|item| Some((item, self.line_no)));
            }
        }
    }

    fn location(&self, pos: Pos) -> Location {
        Location::line(&self.file, pos, None)
    }

    fn header_location(&self, field: &str) -> Location {
        match self.directive_lines.iter().find(|(d, _)| *d == field) {
            Some(&(_, line)) => Location::line(&self.file, line, None),
            None => Location::file(&self.file),
        }
    }

    fn format(&self) -> Format {
        Format::Text
    }
}

/// Writes the canonical text form. Loop bodies are indented two spaces per
/// level for readability; readers ignore indentation.
pub struct TextWriter<W: Write> {
    out: W,
    depth: usize,
    line: String,
}

impl<W: Write> TextWriter<W> {
    pub fn new(out: W) -> Self {
        TextWriter { out, depth: 0, line: String::with_capacity(128) }
    }
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Renders a header in canonical text form.
pub fn header_text(h: &Header) -> String {
    let mut s = format!("{TEXT_MAGIC} {FORMAT_VERSION}\nchip {}\ntiles {}\n", h.chip, h.tiles);
    if !h.model.is_empty() {
        s.push_str(&format!("model {}\n", h.model));
    }
    if !h.workload.is_empty() {
        s.push_str(&format!("workload {}\n", h.workload));
    }
    s.push_str(&format!("tokens {}\nusers {}\n", h.tokens, h.users));
    if let Some((a, b)) = h.measure {
        s.push_str(&format!("measure {a} {b}\n"));
    }
    for (i, g) in h.groups.iter().enumerate() {
        s.push_str(&format!("group {i} {}\n", write_tile_set(g)));
    }
    s
}

impl<W: Write> TextWriter<W> {
    fn write_header(&mut self, h: &Header) -> io::Result<()> {
        h.validate().map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
        self.out.write_all(header_text(h).as_bytes())
    }
    fn write_tile(&mut self, t: TileId) -> io::Result<()> {
        self.depth = 0;
        writeln!(self.out, "\ntile {}", t.0)
    }
    fn write_instr(&mut self, i: &Instr) -> io::Result<()> {
        let flags = i.opcode().flags();
        if flags.contains(Flags::LOOP_CLOSE) {
            self.depth = self.depth.saturating_sub(1);
        }
        self.line.clear();
        for _ in 0..self.depth {
            self.line.push_str("  ");
        }
        i.write_text(&mut self.line);
        self.line.push('\n');
        if flags.contains(Flags::LOOP_OPEN) {
            self.depth += 1;
        }
        self.out.write_all(self.line.as_bytes())
    }
}

impl<W: Finish> Sink for TextWriter<W> {
    fn header(&mut self, h: &Header) -> io::Result<()> {
        self.write_header(h)
    }
    fn tile(&mut self, t: TileId) -> io::Result<()> {
        self.write_tile(t)
    }
    fn instr(&mut self, i: &Instr) -> io::Result<()> {
        self.write_instr(i)
    }
    fn finish(self: Box<Self>) -> io::Result<()> {
        self.out.finish()
    }
}
