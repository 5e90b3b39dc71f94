//! The snapshot directory of a suite, `SUITE.snapshots/`: `NAME.snap` is
//! the accepted snapshot of case `NAME`, `NAME.snap.new` one waiting for
//! review. Every write goes through `fileio::AtomicFile`, so a snapshot is
//! whole or absent; the directory is created on the first write.

use crate::fileio::AtomicFile;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file operation that failed, with its path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    pub source: io::Error,
    /// Whether it was a read (of a snapshot or the directory's listing):
    /// what is there is not what a store holds, where a failed write is
    /// the machine's.
    pub reading: bool,
}

/// The snapshots of one suite.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

/// What the directory holds: case names with an accepted snapshot, and
/// with one waiting, each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub accepted: Vec<String>,
    pub pending: Vec<String>,
}

const SNAP: &str = ".snap";
const NEW: &str = ".snap.new";

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/NAME.snap`.
    pub fn accepted_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{SNAP}"))
    }

    /// `DIR/NAME.snap.new`.
    pub fn pending_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{NEW}"))
    }

    /// The accepted snapshot of `name`, if there is one.
    pub fn accepted(&self, name: &str) -> Result<Option<String>, StoreError> {
        read(&self.accepted_path(name))
    }

    /// The snapshot of `name` waiting for review, if there is one.
    pub fn pending(&self, name: &str) -> Result<Option<String>, StoreError> {
        read(&self.pending_path(name))
    }

    /// Writes `text` as the snapshot of `name` waiting for review.
    pub fn write_pending(&self, name: &str, text: &str) -> Result<(), StoreError> {
        self.write(&self.pending_path(name), text)
    }

    /// Writes `text` as the accepted snapshot of `name` and removes any
    /// waiting one.
    pub fn accept(&self, name: &str, text: &str) -> Result<(), StoreError> {
        self.write(&self.accepted_path(name), text)?;
        self.discard(name).map(|_| ())
    }

    /// Makes the waiting snapshot of `name` the accepted one; `false` when
    /// none was waiting.
    pub fn promote(&self, name: &str) -> Result<bool, StoreError> {
        let (from, to) = (self.pending_path(name), self.accepted_path(name));
        match std::fs::rename(&from, &to) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(StoreError { path: to, source, reading: false }),
        }
    }

    /// Removes the waiting snapshot of `name`; `false` when there was none.
    pub fn discard(&self, name: &str) -> Result<bool, StoreError> {
        remove(&self.pending_path(name))
    }

    /// Removes the accepted snapshot of `name`; `false` when there was none.
    pub fn remove_accepted(&self, name: &str) -> Result<bool, StoreError> {
        remove(&self.accepted_path(name))
    }

    /// The snapshots in the directory (none when it does not exist). Other
    /// files, hidden ones included (the temporary files of a write), are
    /// not listed.
    pub fn list(&self) -> Result<Listing, StoreError> {
        let err = |source| StoreError { path: self.dir.clone(), source, reading: true };
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(err(e)),
        };
        let mut l = Listing::default();
        for entry in entries {
            let entry = entry.map_err(err)?;
            let Some(file) = entry.file_name().to_str().map(str::to_string) else { continue };
            if file.starts_with('.') {
                continue;
            }
            if let Some(name) = file.strip_suffix(NEW) {
                l.pending.push(name.to_string());
            } else if let Some(name) = file.strip_suffix(SNAP) {
                l.accepted.push(name.to_string());
            }
        }
        l.accepted.sort();
        l.pending.sort();
        Ok(l)
    }

    fn write(&self, path: &Path, text: &str) -> Result<(), StoreError> {
        let err = |source| StoreError { path: path.to_path_buf(), source, reading: false };
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError {
            path: self.dir.clone(),
            source,
            reading: false,
        })?;
        let mut f = AtomicFile::create(path).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.commit().map_err(err)
    }
}

/// Largest snapshot read back (a snapshot is about 1 KiB of text).
pub const MAX_SNAPSHOT_BYTES: u64 = 1 << 20;

/// A snapshot file's text; one larger than `MAX_SNAPSHOT_BYTES` (a
/// symlink to `/dev/zero`, a stray file) is not read to its end but reads
/// as a one-line text no run produces, so its case shows as changed.
fn read(path: &Path) -> Result<Option<String>, StoreError> {
    use std::io::Read;
    let err = |source| StoreError { path: path.to_path_buf(), source, reading: true };
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(err(source)),
    };
    let mut bytes = Vec::new();
    f.take(MAX_SNAPSHOT_BYTES + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Ok(Some("(not a snapshot: the file is larger than 1 MiB)\n".to_string()));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn remove(path: &Path) -> Result<bool, StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(StoreError { path: path.to_path_buf(), source, reading: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An accepted snapshot that is a symlink to `/dev/zero` was once read
    /// until memory ran out; it reads as a short text that shows as changed.
    #[cfg(unix)]
    #[test]
    fn an_endless_snapshot_is_not_read_to_its_end() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::new(tmp.path().join("x.snapshots"));
        std::fs::create_dir_all(s.dir()).unwrap();
        std::os::unix::fs::symlink("/dev/zero", s.accepted_path("a")).unwrap();
        let text = s.accepted("a").unwrap().unwrap();
        assert!(text.starts_with("(not a snapshot") && text.len() < 100, "{text}");
    }

    #[test]
    fn write_promote_discard_list() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::new(tmp.path().join("x.snapshots"));
        assert_eq!(s.list().unwrap(), Listing::default());
        assert_eq!(s.accepted("a").unwrap(), None);
        s.write_pending("a", "one\n").unwrap();
        s.write_pending("b", "two\n").unwrap();
        assert_eq!(s.list().unwrap().pending, ["a", "b"]);
        assert!(s.promote("a").unwrap());
        assert!(!s.promote("a").unwrap());
        assert_eq!(s.accepted("a").unwrap().as_deref(), Some("one\n"));
        s.accept("b", "three\n").unwrap();
        let l = s.list().unwrap();
        assert_eq!((l.accepted, l.pending), (vec!["a".to_string(), "b".to_string()], vec![]));
        assert!(s.remove_accepted("a").unwrap());
        assert!(!s.discard("a").unwrap());
    }
}
