//! The `--log FILE` file: reopened on SIGHUP, optionally rotated by size.
//!
//! Contract:
//! - [`LogFile::reopen`] (SIGHUP, the logrotate convention: the file was moved away, or
//!   copied and truncated): the file at the path is opened again, created when it is gone,
//!   appended to when it exists. The caller flushes its buffer into the old file first and
//!   reopens only between two records, so no record is split, lost or written twice. When
//!   the new file cannot be opened the old one is kept and the error returned.
//! - Rotation (`--log-max-mib N --log-keep K`, for hosts without logrotate): once the
//!   file holds N MiB or more, `FILE.K-1` becomes `FILE.K` (the old `FILE.K` is removed),
//!   ..., `FILE` becomes `FILE.1`, and a new empty `FILE` is created; with `K = 0` the full
//!   file is removed. A file never exceeds N MiB by more than one buffer (64 KiB) and one
//!   record: the caller checks [`LogFile::rotation_due`] between records.
//! - The bytes written are counted from the file's size at open, so a restart that
//!   appends does not let the file grow past the limit.
//!
//! Both need write access to the log's directory after the privilege drop; the sandbox
//! allows it for that one directory (see `crate::privs`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size-based rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    pub max_bytes: u64,
    /// Old files kept: `FILE.1` (newest) to `FILE.keep`.
    pub keep: u32,
}

/// The log file at `path`.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    /// Bytes in the file now (as far as this process knows).
    size: u64,
    rotation: Option<Rotation>,
    /// Reopens and rotations done (for the messages).
    pub reopened: u64,
}

impl LogFile {
    /// Creates (or truncates) the file, as `--log` always has.
    pub fn create(path: &Path, rotation: Option<Rotation>) -> io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: File::create(path)?,
            size: 0,
            rotation,
            reopened: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_append(path: &Path) -> io::Result<(File, u64)> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let size = f.metadata()?.len();
        Ok((f, size))
    }

    /// Opens the path again (after the caller flushed into the old file).
    pub fn reopen(&mut self) -> io::Result<()> {
        let (f, size) = Self::open_append(&self.path)?;
        self.file = f;
        self.size = size;
        self.reopened += 1;
        Ok(())
    }

    /// Whether the file is full once `pending` more bytes (the caller's buffer) land.
    #[inline]
    pub fn rotation_due(&self, pending: usize) -> bool {
        self.rotation
            .is_some_and(|r| self.size.saturating_add(pending as u64) >= r.max_bytes)
    }

    /// `FILE.n` for `n >= 1`.
    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.as_os_str().to_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Shifts the old files and starts a new one (after the caller flushed).
    pub fn rotate(&mut self) -> io::Result<()> {
        let keep = self.rotation.map_or(0, |r| r.keep);
        let gone = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        if keep == 0 {
            gone(std::fs::remove_file(&self.path))?;
        } else {
            gone(std::fs::remove_file(self.numbered(keep)))?;
            for n in (1..keep).rev() {
                gone(std::fs::rename(self.numbered(n), self.numbered(n + 1)))?;
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        self.file = File::create(&self.path)?;
        self.size = 0;
        self.reopened += 1;
        Ok(())
    }
}

impl Write for LogFile {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where `--log` writes: standard output or a file.
pub enum LogSink {
    Stdout(io::Stdout),
    File(LogFile),
}

impl Write for LogSink {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LogSink::Stdout(s) => s.write(buf),
            LogSink::File(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LogSink::Stdout(s) => s.flush(),
            LogSink::File(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ht16-logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        Dir(d)
    }
    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| format!("<{e}>"))
    }

    #[test]
    fn reopen_after_a_move_creates_and_after_a_truncate_appends() {
        let d = dir("reopen");
        let p = d.0.join("log");
        let mut f = LogFile::create(&p, None).expect("create");
        f.write_all(b"a\n").expect("write");
        std::fs::rename(&p, d.0.join("log.old")).expect("mv");
        f.write_all(b"b\n").expect("write");
        f.reopen().expect("reopen");
        f.write_all(b"c\n").expect("write");
        assert_eq!(read(&d.0.join("log.old")), "a\nb\n");
        assert_eq!(read(&p), "c\n");
        // copytruncate: an existing file is appended to, never truncated.
        f.reopen().expect("reopen");
        f.write_all(b"d\n").expect("write");
        assert_eq!(read(&p), "c\nd\n");
        assert_eq!(f.reopened, 2);
    }

    #[test]
    fn a_failed_reopen_keeps_the_old_file() {
        let d = dir("fail");
        let p = d.0.join("log");
        let mut f = LogFile::create(&p, None).expect("create");
        std::fs::remove_file(&p).expect("rm");
        std::fs::create_dir(&p).expect("a directory where the log was");
        assert!(f.reopen().is_err());
        f.write_all(b"still\n").expect("the old file is still open");
    }

    #[test]
    fn rotation_shifts_keeps_k_and_removes_the_oldest() {
        let d = dir("rotate");
        let p = d.0.join("log");
        let rot = Rotation {
            max_bytes: 4,
            keep: 2,
        };
        let mut f = LogFile::create(&p, Some(rot)).expect("create");
        for rec in ["r1\n", "r2\n", "r3\n", "r4\n", "r5\n", "r6\n", "r7\n"] {
            f.write_all(rec.as_bytes()).expect("write");
            if f.rotation_due(0) {
                f.rotate().expect("rotate");
            }
        }
        // Each file is rotated once it holds 4 bytes or more: two records each.
        assert_eq!(read(&p), "r7\n");
        assert_eq!(read(&d.0.join("log.1")), "r5\nr6\n");
        assert_eq!(read(&d.0.join("log.2")), "r3\nr4\n");
        assert!(!d.0.join("log.3").exists(), "only --log-keep 2 files kept");
        assert!(f.rotation_due(1));
        assert!(!f.rotation_due(0));
    }

    #[test]
    fn keep_zero_removes_the_full_file() {
        let d = dir("keep0");
        let p = d.0.join("log");
        let rot = Rotation {
            max_bytes: 2,
            keep: 0,
        };
        let mut f = LogFile::create(&p, Some(rot)).expect("create");
        f.write_all(b"xx").expect("write");
        f.rotate().expect("rotate");
        f.write_all(b"y").expect("write");
        assert_eq!(read(&p), "y");
        assert!(!d.0.join("log.1").exists());
    }
}
