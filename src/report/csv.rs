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

/// Parses `text`. Errors carry the 1-based line and what was wrong.
pub fn parse(text: &str) -> Result<Table, (usize, String)> {
    let mut records = Vec::new();
    let mut field = String::new();
    let mut record: Vec<String> = Vec::new();
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err((line, "a closing quote must end its field".into()));
                    }
                }
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                quoted = true;
                at_field_start = false;
            }
            '"' => return Err((line, "a quote inside an unquoted field (quote the whole field)".into())),
            ',' => {
                record.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut record)));
                line += 1;
                start_line = line;
                at_field_start = true;
            }
            _ => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if quoted {
        return Err((start_line, "a quoted field is never closed".into()));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push((start_line, record));
    }
    // Blank lines are not records.
    records.retain(|(_, r)| !(r.len() == 1 && r[0].is_empty()));
    let mut it = records.into_iter();
    let Some((_, header)) = it.next() else { return Err((1, "empty: expected a header line".into())) };
    let records: Vec<(usize, Vec<String>)> = it.collect();
    for (l, r) in &records {
        if r.len() != header.len() {
            return Err((*l, format!("expected {} fields as in the header, found {}", header.len(), r.len())));
        }
    }
    Ok(Table { header, records })
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
    fn rejects_stray_quotes() {
        assert_eq!(parse("x\nab\"c\n").unwrap_err().0, 2);
        assert_eq!(parse("x\n\"abc\n").unwrap_err().0, 2);
    }
}
