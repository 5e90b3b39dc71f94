//! Source locations for error messages: every bad-input error names the file
//! and, where it makes sense, the line and column (or byte offset for binary
//! files) and what was expected.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<usize>,
    /// Byte offset, for binary files (which have no lines).
    pub byte: Option<u64>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location { file: file.into(), ..Default::default() }
    }
    pub fn line(file: impl Into<String>, line: u64, column: Option<usize>) -> Self {
        Location { file: file.into(), line: Some(line), column, byte: None }
    }
    pub fn byte(file: impl Into<String>, byte: u64) -> Self {
        Location { file: file.into(), line: None, column: None, byte: Some(byte) }
    }
    /// Location of byte `offset` of `text`, as 1-based line and column.
    pub fn at_offset(file: impl Into<String>, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location::line(file, line, Some(column))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if let Some(b) = self.byte {
            write!(f, " (byte {b})")?;
        }
        Ok(())
    }
}
