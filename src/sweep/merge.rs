//! `tilesim merge`: the outputs of a sharded sweep (`--shard K/N`, one file
//! per task of a job array) joined into exactly what the unsharded sweep
//! writes — the CSV header once and every row in index order, or the JSON
//! Lines in index order — after checking that the files are the N shards
//! of one sweep: the same format and header, rows that step by N, no shard
//! twice, none missing, none cut short (arch/sweep.md, "Sharding").
//!
//! Rows are taken as the bytes the sweep wrote, never re-rendered, so the
//! result is byte for byte the unsharded output. Records are cut at line
//! breaks outside double quotes (RFC 4180, as `row::write_csv` quotes);
//! nothing else of a field is interpreted but the leading `index`.

use super::row::COLUMNS;
use crate::diag::Location;

/// Why shard files cannot be merged; `loc` names the file (and line).
#[derive(Debug, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct MergeError {
    pub loc: Location,
    pub message: String,
}

fn err(loc: Location, message: impl Into<String>) -> MergeError {
    MergeError { loc, message: message.into() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Csv,
    Json,
}

/// One shard file, read.
struct ShardFile<'a> {
    name: &'a str,
    /// CSV, JSON Lines, or `None` for an empty file (an empty JSON Lines
    /// shard).
    form: Option<Form>,
    /// (index, the record's bytes with its line break, line), in file order.
    rows: Vec<(usize, &'a str, u64)>,
}

fn header() -> String {
    COLUMNS.join(",")
}

fn read<'a>(name: &'a str, text: &'a str) -> Result<ShardFile<'a>, MergeError> {
    if text.is_empty() {
        return Ok(ShardFile { name, form: None, rows: Vec::new() });
    }
    if !text.ends_with('\n') {
        return Err(err(Location::file(name), "does not end with a line break: not a complete sweep output"));
    }
    let (form, body, first_line) = if text.starts_with("{\"index\":") {
        (Form::Json, text, 1)
    } else {
        let (head, rest) = text.split_once('\n').expect("ends with a line break");
        if head.trim_end_matches('\r') != header() {
            return Err(err(
                Location::line(name, 1, None),
                format!(
                    "not a tilesim sweep's output: expected the CSV header `{}` or JSON Lines rows starting \
                     `{{\"index\":` (a sweep of another tilesim version has other columns)",
                    header()
                ),
            ));
        }
        (Form::Csv, rest, 2)
    };
    let mut rows = Vec::new();
    let mut line = first_line;
    let mut rest = body;
    while !rest.is_empty() {
        let end = match form {
            Form::Json => rest.find('\n').expect("ends with a line break") + 1,
            Form::Csv => record_end(rest).ok_or_else(|| {
                err(Location::line(name, line, None), "a quoted field is never closed: the file is cut short")
            })?,
        };
        let rec = &rest[..end];
        let digits = match form {
            Form::Json => rec.strip_prefix("{\"index\":").map(|r| r.split([',', '}']).next().unwrap_or("")),
            Form::Csv => rec.split(',').next(),
        }
        .unwrap_or("");
        let index = digits.parse::<usize>().map_err(|_| {
            let what = if form == Form::Json { "`{\"index\":N,` first" } else { "the point's index first" };
            err(Location::line(name, line, None), format!("not a sweep row: expected {what}"))
        })?;
        rows.push((index, rec, line));
        line += rec.matches('\n').count() as u64;
        rest = &rest[end..];
    }
    Ok(ShardFile { name, form: Some(form), rows })
}

/// The end of the first CSV record of `s` (just past its line break), or
/// `None` when a quoted field runs to the end.
fn record_end(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Merges shard outputs, given as (file name, contents), into the
/// unsharded sweep's output. `shards`, when given, is N, checked against
/// the files; otherwise N is the step between a file's rows, or the number
/// of files when no file has two rows.
pub fn merge(files: &[(String, String)], shards: Option<usize>) -> Result<String, MergeError> {
    if files.is_empty() {
        return Err(err(Location::file("tilesim merge"), "no shard files given"));
    }
    let read: Vec<ShardFile> = files.iter().map(|(n, t)| read(n, t)).collect::<Result<_, _>>()?;

    // One format.
    let mut form: Option<(Form, &str)> = None;
    for f in &read {
        if let Some(x) = f.form {
            match form {
                None => form = Some((x, f.name)),
                Some((y, first)) if y != x => {
                    let name = |v| if v == Form::Csv { "CSV" } else { "JSON Lines" };
                    return Err(err(
                        Location::file(f.name),
                        format!("is {} but {first} is {}: shards of one sweep share a format", name(x), name(y)),
                    ));
                }
                _ => {}
            }
        }
    }

    // Rows in order, one step in each file.
    let mut step: Option<(usize, &str)> = None;
    for f in &read {
        for w in f.rows.windows(2) {
            let ((a, _, _), (b, _, line)) = (w[0], w[1]);
            if b <= a {
                return Err(err(
                    Location::line(f.name, line, None),
                    format!("index {b} after {a}: a shard's rows are in increasing index order"),
                ));
            }
            match step {
                None => step = Some((b - a, f.name)),
                Some((s, first)) if s != b - a => {
                    return Err(err(
                        Location::line(f.name, line, None),
                        format!(
                            "index {b} after {a}: rows step by {} here but by {s} in {first}, so these are not \
                             shards of one sweep (shard K/N holds the points K, K+N, K+2N, ...)",
                            b - a
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    let n = match (step, shards) {
        (Some((s, first)), Some(n)) if s != n => {
            return Err(err(Location::file(first), format!("rows step by {s}, not by --shards {n}")));
        }
        (Some((s, _)), _) => s,
        (None, Some(n)) => n,
        (None, None) => read.len(),
    };
    if n == 0 {
        return Err(err(Location::file("tilesim merge"), "--shards must be at least 1"));
    }

    // Each shard once, all of them, none cut short.
    let total = read.iter().flat_map(|f| f.rows.last()).map(|r| r.0 + 1).max().unwrap_or(0);
    let mut holder: Vec<Option<&str>> = vec![None; n];
    for f in &read {
        let Some(&(first, _, line)) = f.rows.first() else { continue };
        let k = first % n;
        if first != k {
            return Err(err(
                Location::line(f.name, line, None),
                format!("starts at index {first}: shard {k}/{n} starts at index {k}, so rows are missing"),
            ));
        }
        if let Some(other) = holder[k] {
            return Err(err(
                Location::file(f.name),
                format!("holds shard {k}/{n} (from index {k}), as {other} does: the shards overlap"),
            ));
        }
        holder[k] = Some(f.name);
        let last = f.rows.last().expect("not empty").0;
        let should = k + (total - 1 - k) / n * n;
        if last != should {
            return Err(err(
                Location::file(f.name),
                format!(
                    "shard {k}/{n} ends at index {last}, but the sweep has points up to {} (so it should end at \
                     {should}): a shard of another sweep, or cut short",
                    total - 1
                ),
            ));
        }
    }
    if let Some(k) = (0..n.min(total)).find(|&k| holder[k].is_none()) {
        return Err(err(
            Location::file("tilesim merge"),
            format!("shard {k}/{n} is missing: no file holds index {k} (give every shard's file)"),
        ));
    }
    if read.len() != n {
        let names: Vec<&str> = read.iter().map(|f| f.name).collect();
        return Err(err(
            Location::file(names.join(", ")),
            format!(
                "{} files for {n} shards (rows step by {n}): each task of the array writes one file, so there \
                 should be {n}",
                read.len()
            ),
        ));
    }

    // Stitch.
    let mut rows: Vec<(usize, &str)> = read.iter().flat_map(|f| f.rows.iter().map(|&(i, r, _)| (i, r))).collect();
    rows.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(rows.iter().map(|r| r.1.len()).sum::<usize>() + 1024);
    if form.map(|f| f.0) == Some(Form::Csv) {
        out.push_str(&header());
        out.push('\n');
    }
    for (_, r) in rows {
        out.push_str(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(indices: &[usize]) -> String {
        let mut s = header() + "\n";
        for i in indices {
            s.push_str(&format!("{i},m,\"a\nb, c\",x\n"));
        }
        s
    }

    fn files(v: &[(&str, String)]) -> Vec<(String, String)> {
        v.iter().map(|(n, t)| (n.to_string(), t.clone())).collect()
    }

    #[test]
    fn shards_merge_into_index_order() {
        let f = files(&[("s1", csv(&[1, 4])), ("s0", csv(&[0, 3])), ("s2", csv(&[2]))]);
        assert_eq!(merge(&f, None).unwrap(), csv(&[0, 1, 2, 3, 4]));
        // An empty shard (more shards than points).
        let f = files(&[("s0", csv(&[0])), ("s1", csv(&[1])), ("s2", csv(&[]))]);
        assert_eq!(merge(&f, None).unwrap(), csv(&[0, 1]));
        let j = |i: usize| format!("{{\"index\":{i},\"x\":\"a,b\"}}\n");
        let f = files(&[("b", j(1)), ("a", j(0) + &j(2))]);
        assert_eq!(merge(&f, None).unwrap(), j(0) + &j(1) + &j(2));
        assert_eq!(merge(&f, Some(3)).unwrap_err().to_string(), "a: rows step by 2, not by --shards 3");
        let f = files(&[("b", j(1)), ("a", j(0)), ("c", String::new())]);
        assert_eq!(merge(&f, None).unwrap(), j(0) + &j(1));
    }

    #[test]
    fn bad_sets_of_shards_name_the_file() {
        let e = |v: &[(&str, String)]| merge(&files(v), None).unwrap_err().to_string();
        assert!(e(&[("s0", csv(&[0, 2])), ("s0b", csv(&[0, 2]))]).starts_with("s0b: holds shard 0/2"));
        assert!(e(&[("s0", csv(&[0, 3])), ("s1", csv(&[1, 4]))]).contains("shard 2/3 is missing"));
        assert!(e(&[("s0", csv(&[0, 2, 4])), ("s1", csv(&[1]))]).starts_with("s1: shard 1/2 ends at index 1"));
        assert!(e(&[("s0", csv(&[0, 2])), ("s1", csv(&[1, 4]))]).starts_with("s1:4: index 4 after 1"));
        assert!(e(&[("s0", csv(&[0])), ("s1", "index,x\n1,y\n".into())]).starts_with("s1:1: not a tilesim sweep"));
        assert!(e(&[("s0", csv(&[0])), ("s1", "{\"index\":1}\n".into())]).starts_with("s1: is JSON Lines but s0"));
        assert!(e(&[("s0", "{\"index\":0}".into())]).starts_with("s0: does not end with a line break"));
    }
}
