//! File output that never leaves a half-written file behind: data goes to a
//! temporary file beside the target, renamed into place only on success.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: &Path) -> io::Result<Self> {
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "output path has no file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = target.with_file_name(tmp_name);
        let file = File::create(&tmp)?;
        Ok(AtomicFile { tmp, target: target.to_path_buf(), out: Some(BufWriter::with_capacity(1 << 16, file)) })
    }

    /// Flushes and moves the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        let out = self.out.take().expect("committed twice");
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all().ok();
        drop(file);
        std::fs::rename(&self.tmp, &self.target)
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
        if self.out.is_some() {
            // Not committed: an error happened; remove the partial file.
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
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

impl Finish for &mut Vec<u8> {
    fn finish(self) -> io::Result<()> {
        Ok(())
    }
}
