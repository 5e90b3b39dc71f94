//! Comma-separated values as sweeps write them (RFC 4180: fields with a
//! comma, quote or line break are quoted, quotes doubled), and a reader for
//! the same, so `tilesim plot` can take a sweep's output or any CSV with a
//! header line.

/// `field` as one CSV field.
pub fn escape(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// A CSV table: the header and each record with the line it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub records: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// Index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Parses `text` with the `csv` crate (RFC 4180 quoting, CRLF or LF line
/// ends, a UTF-8 byte-order mark ignored, blank lines skipped). Errors
/// carry the 1-based line and what was wrong; a record with more or fewer
/// fields than the header is an error at its line.
pub fn parse(text: &str) -> Result<Table, (usize, String)> {
    parse_bytes(text.as_bytes())
}

pub fn parse_bytes(bytes: &[u8]) -> Result<Table, (usize, String)> {
    let mut r = ::csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut records = Vec::new();
    let mut rec = ::csv::StringRecord::new();
    // Where the previous record ended: the next one starts at the first
    // byte after it that is no line end (the csv crate's record positions
    // are those of the reader before it skips the previous terminator).
    let mut end = 0usize;
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let start = bytes[end.min(bytes.len())..]
                    .iter()
                    .position(|&b| b != b'\n' && b != b'\r')
                    .map_or(bytes.len(), |i| end + i);
                end = r.position().byte() as usize;
                let line = line_at(bytes, start as u64);
                records.push((line, rec.iter().map(str::to_string).collect::<Vec<String>>()));
            }
            Err(e) => return Err(csv_error(bytes, &e)),
        }
    }
    let mut it = records.into_iter();
    let Some((_, mut header)) = it.next() else { return Err((1, "empty: expected a header line".into())) };
    if let Some(first) = header.first_mut()
        && let Some(rest) = first.strip_prefix('\u{feff}')
    {
        *first = rest.to_string();
    }
    let records: Vec<(usize, Vec<String>)> = it.collect();
    for (l, r) in &records {
        if r.len() != header.len() {
            return Err((*l, format!("expected {} fields as in the header, found {}", header.len(), r.len())));
        }
    }
    Ok(Table { header, records })
}

/// The 1-based line of byte `at` (the csv crate's own line count is that
/// of the records' starts, blank lines aside).
fn line_at(bytes: &[u8], at: u64) -> usize {
    let at = (at as usize).min(bytes.len());
    bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1
}

fn csv_error(bytes: &[u8], e: &::csv::Error) -> (usize, String) {
    let line = e.position().map_or(1, |p| line_at(bytes, p.byte()));
    let m = match e.kind() {
        ::csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not UTF-8 text", err.field() + 1),
        _ => e.to_string(),
    };
    (line, crate::limits::excerpt(&m))
}

/// Reads and parses the CSV file `path` (`-`: standard input), at most
/// `MAX_CSV_BYTES`. Errors carry the line where there is one.
pub fn read(path: &std::path::Path) -> Result<Table, (Option<usize>, String)> {
    let limit = crate::limits::MAX_CSV_BYTES;
    let bytes = crate::fileio::read_limited(path, limit)
        .map_err(|e| (None, format!("cannot read: {e}")))?
        .ok_or_else(|| (None, format!("larger than {} (arch/limits.md)", crate::units::human_bytes(limit as f64))))?;
    parse_bytes(&bytes).map_err(|(l, m)| (Some(l), m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(escape("dgx-h100"), "dgx-h100");
        assert_eq!(escape("450 GB/s"), "450 GB/s");
        assert_eq!(escape("a,b"), "\"a,b\"");
        assert_eq!(escape("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(escape("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn round_trips_awkward_fields() {
        let fields = ["plain", "a,b", "say \"hi\"", "", "two\nlines"];
        let line: Vec<_> = fields.iter().map(|f| escape(f)).collect();
        let text = format!("a,b,c,d,e\n{}\n", line.join(","));
        let t = parse(&text).unwrap();
        assert_eq!(t.records.len(), 1);
        assert_eq!(t.records[0].1, fields);
    }

    #[test]
    fn reports_the_line_of_a_ragged_record() {
        let e = parse("x,y\n1,2\n\n3\n").unwrap_err();
        assert_eq!(e.0, 4);
        assert!(e.1.contains("expected 2 fields"), "{}", e.1);
    }

    #[test]
    fn reads_bom_crlf_and_reports_ragged_rows() {
        let t = parse("\u{feff}x,y\r\n1,2\r\n\r\n3,4\r\n").unwrap();
        assert_eq!(t.header, ["x", "y"]);
        assert_eq!(t.records, [(2, vec!["1".to_string(), "2".into()]), (4, vec!["3".into(), "4".into()])]);
        let e = parse("x,y\n1,2,3\n").unwrap_err();
        assert_eq!(e.0, 2, "{}", e.1);
    }
}
