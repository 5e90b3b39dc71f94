//! The step-time cache: simulated step times kept across runs, keyed by
//! model, chip config (a hash of the derived chip), plan, data types and
//! the step's shape, and stamped with a hash of the library's sources so
//! a build whose timing may differ never reads another build's numbers.
//!
//! The file is text, one entry a line:
//!
//! ```text
//! tilesim-step-cache 1 source=0123456789abcdef
//! decode llama-2-70b#… dgx-h100#… tp=8,pp=1,ep=1 w=fp16,kv=fp16,act=fp16 layers=1 size=4 context=512<TAB>0.000123
//! ```
//!
//! The value is seconds per step, or `none` for a step that does not fit.

use super::ServeError;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The first word of a cache file and its format version.
pub const MAGIC: &str = "tilesim-step-cache";
pub const VERSION: u32 = 1;

/// A hash of the library's sources (build.rs): entries from another build
/// are dropped.
pub const SOURCE: &str = env!("TILESIM_SOURCE_HASH");

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepCache {
    entries: BTreeMap<String, Option<f64>>,
    added: usize,
}

/// FNV-1a, 64 bits: a stable fingerprint of a config's derived form.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl StepCache {
    pub fn new() -> StepCache {
        StepCache::default()
    }

    /// Reads a cache file's text. A file that is not a step cache at all is
    /// an error (it is not ours to overwrite); one from another build or
    /// format version is dropped, and unreadable lines skipped, each with a
    /// warning in the returned list.
    pub fn parse(name: &str, text: &str) -> Result<(StepCache, Vec<String>), ServeError> {
        let mut warnings = Vec::new();
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l).unwrap_or("");
        let mut words = header.split_whitespace();
        if text.is_empty() {
            return Ok((StepCache::new(), warnings));
        }
        if words.next() != Some(MAGIC) {
            return Err(ServeError::Input {
                at: format!("{name}:1"),
                message: format!(
                    "not a tilesim step-time cache (expected a first line `{MAGIC} {VERSION} source=...`); \
                     pass another --cache file or remove this one"
                ),
            });
        }
        let version = words.next();
        let source = words.next().and_then(|w| w.strip_prefix("source="));
        if version != Some(&VERSION.to_string()) || source != Some(SOURCE) {
            warnings.push(format!(
                "{name}: step times from another build of tilesim (format {}, source {}; this build: {VERSION}, {SOURCE}); \
                 they are dropped and the file rewritten",
                version.unwrap_or("?"),
                source.unwrap_or("?")
            ));
            return Ok((StepCache::new(), warnings));
        }
        let mut cache = StepCache::new();
        let mut bad = 0;
        let mut first_bad = 0;
        for (n, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let value = line.rsplit_once('\t').and_then(|(k, v)| {
                let v = match v {
                    "none" => Some(None),
                    v => v.parse::<f64>().ok().filter(|x| x.is_finite() && *x > 0.0).map(Some),
                }?;
                (!k.is_empty()).then(|| (k.to_string(), v))
            });
            match value {
                Some((k, v)) => {
                    cache.entries.insert(k, v);
                }
                None => {
                    if bad == 0 {
                        first_bad = n + 1;
                    }
                    bad += 1;
                }
            }
        }
        if bad > 0 {
            warnings.push(format!(
                "{name}:{first_bad}: {bad} unreadable line(s) skipped (expected `KEY<TAB>SECONDS` or `KEY<TAB>none`)"
            ));
        }
        Ok((cache, warnings))
    }

    pub fn get(&self, key: &str) -> Option<Option<f64>> {
        self.entries.get(key).copied()
    }

    pub fn insert(&mut self, key: String, value: Option<f64>) {
        if self.entries.insert(key, value).is_none() {
            self.added += 1;
        }
    }

    /// Entries added since the cache was read.
    pub fn added(&self) -> usize {
        self.added
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes in `other`'s entries (another run's, read back before writing,
    /// so concurrent runs lose nothing but a race).
    pub fn merge(&mut self, other: StepCache) {
        for (k, v) in other.entries {
            self.entries.entry(k).or_insert(v);
        }
    }

    pub fn write(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "{MAGIC} {VERSION} source={SOURCE}")?;
        for (k, v) in &self.entries {
            match v {
                Some(s) => writeln!(w, "{k}\t{s:?}")?,
                None => writeln!(w, "{k}\tnone")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_exactly() {
        let mut c = StepCache::new();
        c.insert("decode a b size=1".into(), Some(0.1 + 0.2));
        c.insert("prefill a b size=9".into(), None);
        let mut out = Vec::new();
        c.write(&mut out).unwrap();
        let (back, warnings) = StepCache::parse("c", std::str::from_utf8(&out).unwrap()).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(back.get("decode a b size=1"), Some(Some(0.1 + 0.2)));
        assert_eq!(back.get("prefill a b size=9"), Some(None));
        assert_eq!(back.added(), 0);
    }

    #[test]
    fn foreign_files_are_errors_and_stale_or_corrupt_ones_warnings() {
        let e = StepCache::parse("notes.txt", "hello\n").unwrap_err().to_string();
        assert!(e.starts_with("notes.txt:1: not a tilesim step-time cache"), "{e}");
        let (c, w) = StepCache::parse("c", &format!("{MAGIC} {VERSION} source=0\nk\t1.0\n")).unwrap();
        assert!(c.is_empty() && w[0].contains("another build"), "{w:?}");
        let text = format!("{MAGIC} {VERSION} source={SOURCE}\nk\t1.0\nbroken\nj\t-3\nm\tnone\n");
        let (c, w) = StepCache::parse("c", &text).unwrap();
        assert_eq!(c.len(), 2);
        assert!(w.len() == 1 && w[0].starts_with("c:3: 2 unreadable"), "{w:?}");
        // Random bytes never panic.
        let mut rng = crate::rng::Rng::new(1);
        for _ in 0..200 {
            let n = rng.below(60) as usize;
            let junk: String =
                (0..n).map(|_| char::from(b"\t\n =.0123456789abnoesource-"[rng.below(27) as usize])).collect();
            let _ = StepCache::parse("j", &format!("{MAGIC} {VERSION} source={SOURCE}\n{junk}"));
            let _ = StepCache::parse("j", &junk);
        }
    }
}
