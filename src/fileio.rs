//! Files in and out.
//!
//! Output never destroys anything: `create` writes a regular file through a
//! temporary file beside its target (`.NAME.tmpPID.XXXXXX`, tempfile's
//! `persist`, an atomic rename) so a failed or interrupted command leaves
//! no half-written file; a symlink is written through to its target; a
//! character device or FIFO (`/dev/null`, `/dev/stdout`, a pipe) is written
//! directly, never replaced; any other kind of file (a directory, a block
//! device, a socket) is refused; `-` is standard output. Temporary files
//! are registered so a SIGINT/SIGTERM handler (`remove_temporaries`, called
//! by the binary) can delete them, and those a killed process left behind
//! are swept by the next write to the same name.
//!
//! Input: `-` is standard input (readable once per process); reads are
//! bounded (`read_limited`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `path` names a standard stream (`-`).
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

static STDIN_TAKEN: AtomicBool = AtomicBool::new(false);

/// Opens an input: `-` is standard input, which only one input of a
/// command may use.
pub fn open_input(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if is_stdio(path) {
        if STDIN_TAKEN.swap(true, Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "standard input (`-`) is already used by another input of this command",
            ));
        }
        return Ok(Box::new(io::stdin()));
    }
    Ok(Box::new(File::open(path)?))
}

/// Reads at most `limit` bytes of `path` (`-`: standard input); `None` when
/// there is more.
pub fn read_limited(path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let r = open_input(path)?;
    let mut bytes = Vec::new();
    r.take(limit + 1).read_to_end(&mut bytes)?;
    Ok(if bytes.len() as u64 > limit { None } else { Some(bytes) })
}

// ---- Temporary files and signals ----------------------------------------

struct Registry {
    live: Vec<PathBuf>,
    /// Set by `remove_temporaries`: the process is going away.
    closed: bool,
}

static TEMPORARIES: Mutex<Registry> = Mutex::new(Registry { live: Vec::new(), closed: false });

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    TEMPORARIES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deletes every temporary output file of this process and refuses new
/// ones; for a signal handler, before the process exits.
pub fn remove_temporaries() {
    let mut r = registry();
    r.closed = true;
    for p in r.live.drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// Temporary files of this process still open (for tests).
pub fn temporaries() -> Vec<PathBuf> {
    registry().live.clone()
}

/// Whether process `pid` exists.
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for the process.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    true
}

/// Removes `.NAME.tmpPID*` files in `dir` left by processes that no longer
/// exist (killed with SIGKILL, or a crash).
fn sweep_stale(dir: &Path, name: &std::ffi::OsStr) {
    let Some(name) = name.to_str() else { return };
    let prefix = format!(".{name}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Ok(pid) = digits.parse::<u32>() else { continue };
        if pid != std::process::id() && !alive(pid) && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

// ---- Output -------------------------------------------------------------

/// A regular file written atomically: the data goes to a temporary file in
/// the target's directory, renamed over the target by `commit`; dropped
/// uncommitted, the temporary file is removed.
pub struct AtomicFile {
    target: PathBuf,
    out: Option<BufWriter<tempfile::NamedTempFile>>,
}

/// The path `target` resolves to through any chain of symlinks (the last
/// link's target when it dangles); `target` itself when it is no link.
fn through_symlinks(target: &Path) -> io::Result<PathBuf> {
    let mut p = target.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!("too many levels of symbolic links at {}", target.display())))
}

impl AtomicFile {
    /// A writer for `target`, which must not exist or be a regular file
    /// (use `create` for any output).
    pub fn create(target: &Path) -> io::Result<Self> {
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name"))?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        sweep_stale(&dir, name);
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(format!(".tmp{}.", std::process::id()));
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).rand_bytes(6);
        // Keep an existing file's permissions; a new one gets 0666 less the
        // umask, as any created file (tempfile's default is 0600).
        #[cfg(unix)]
        builder.permissions(match std::fs::metadata(target) {
            Ok(m) => m.permissions(),
            Err(_) => std::os::unix::fs::PermissionsExt::from_mode(0o666),
        });
        let mut reg = registry();
        if reg.closed {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the command was interrupted"));
        }
        let tmp = builder.tempfile_in(&dir)?;
        reg.live.push(tmp.path().to_path_buf());
        drop(reg);
        Ok(AtomicFile { target: target.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 16, tmp)) })
    }

    /// Flushes, syncs and moves the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self.out.take().expect("committed twice");
        let tmp = out.into_inner().map_err(|e| e.into_error())?;
        tmp.as_file().sync_all().ok();
        let path = tmp.path().to_path_buf();
        // Under the registry lock, so a signal's cleanup sees the file
        // either before the rename (and removes it) or not at all.
        let mut reg = registry();
        if reg.closed {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "the command was interrupted"));
        }
        reg.live.retain(|p| *p != path);
        tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.as_mut().expect("write after commit").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("flush after commit").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(out) = self.out.take() {
            // Not committed: an error happened; the temporary file goes.
            let mut reg = registry();
            if let Ok(tmp) = out.into_inner() {
                let path = tmp.path().to_path_buf();
                reg.live.retain(|p| *p != path);
                drop(tmp);
            }
        }
    }
}

/// Where a command's output goes (see the module documentation).
pub enum Output {
    Stdout(io::Stdout),
    /// A character device or FIFO, written in place.
    Direct(BufWriter<File>),
    File(AtomicFile),
}

/// Opens the output `path` (`-`: standard output).
pub fn create(path: &Path) -> io::Result<Output> {
    if is_stdio(path) {
        return Ok(Output::Stdout(io::stdout()));
    }
    let target = through_symlinks(path)?;
    match std::fs::metadata(&target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Output::File(AtomicFile::create(&target)?)),
        Err(e) => Err(e),
        Ok(m) if m.is_file() => Ok(Output::File(AtomicFile::create(&target)?)),
        Ok(m) => {
            let kind = file_kind(&m);
            if kind == "character device" || kind == "FIFO" {
                let f = OpenOptions::new().write(true).open(&target)?;
                Ok(Output::Direct(BufWriter::with_capacity(1 << 16, f)))
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "it is a {kind}; output goes to a regular file, a FIFO, a character device such as \
                         /dev/null, or `-` for standard output"
                    ),
                ))
            }
        }
    }
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "character device";
        }
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    "special file"
}

impl Output {
    /// Completes the output: commits a file, flushes a stream.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut o) => o.flush(),
            Output::Direct(mut f) => f.flush(),
            Output::File(f) => f.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(o) => o.write(buf),
            Output::Direct(f) => f.write(buf),
            Output::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(o) => o.flush(),
            Output::Direct(f) => f.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

/// Refuses an output that is one of the inputs: the same path once
/// canonical, or the same file (device and inode) under another name.
/// Inputs that are not files (shipped config names, `-`) are skipped.
pub fn check_not_input(output: &Path, inputs: &[&Path]) -> Result<(), String> {
    if is_stdio(output) {
        return Ok(());
    }
    let out_meta = std::fs::metadata(output).ok();
    // Only a regular file can be destroyed by writing; /dev/null may be
    // both an input and an output.
    if out_meta.as_ref().is_some_and(|m| !m.is_file()) {
        return Ok(());
    }
    let out_canon = canonical(output);
    for input in inputs {
        if is_stdio(input) {
            continue;
        }
        let Ok(in_meta) = std::fs::metadata(input) else { continue };
        let same = match &out_meta {
            Some(om) => same_file(om, &in_meta),
            None => out_canon.is_some() && out_canon == canonical(input),
        };
        if same {
            return Err(format!(
                "the output {} is the input {}; writing it would destroy the input (choose another output file)",
                output.display(),
                input.display()
            ));
        }
    }
    Ok(())
}

/// The canonical form of a path whose file may not exist yet (its directory
/// canonical, then its name).
fn canonical(p: &Path) -> Option<PathBuf> {
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(p.file_name()?))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

/// A writer that has a final step: committing a file, or nothing for memory.
pub trait Finish: Write {
    fn finish(self) -> io::Result<()>;
}

impl Finish for AtomicFile {
    fn finish(self) -> io::Result<()> {
        self.commit()
    }
}

impl Finish for Output {
    fn finish(self) -> io::Result<()> {
        self.commit()
    }
}

impl Finish for &mut Vec<u8> {
    fn finish(self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_and_a_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"hello").unwrap();
        drop(f);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"hello").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_written_through_and_stale_files_swept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        // A temporary file of a process that is gone (pid 0 is never alive).
        let stale = dir.path().join(".real.txt.tmp0.abcdef");
        std::fs::write(&stale, "junk").unwrap();
        let mut o = create(&link).unwrap();
        o.write_all(b"new").unwrap();
        o.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert!(!stale.exists());
    }

    #[cfg(unix)]
    #[test]
    fn devices_are_written_in_place_and_inputs_protected() {
        let mut o = create(Path::new("/dev/null")).unwrap();
        assert!(matches!(o, Output::Direct(_)));
        o.write_all(b"x").unwrap();
        o.commit().unwrap();
        assert!(create(Path::new("/")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        std::fs::write(&a, "x").unwrap();
        let hard = dir.path().join("b.toml");
        std::fs::hard_link(&a, &hard).unwrap();
        assert!(check_not_input(&hard, &[&a]).is_err());
        assert!(check_not_input(&dir.path().join("c.toml"), &[&a]).is_ok());
        let dotted = dir.path().join(".").join("a.toml");
        assert!(check_not_input(&dotted, &[&a]).is_err());
    }
}
