//! The progress bar of `-r FILE` on a terminal: bytes read of the file's size, packets
//! per second, exchanges so far, time left.
//!
//! Shown only when the file is read as fast as possible (not `--realtime`, which has its
//! own periodic output or dashboard), is a file (not `-`: no size), standard error is a
//! terminal and `-q` is not given. Updated every 4,096 frames (no per-packet cost but a
//! relaxed atomic add per read of the file); indicatif rate-limits the drawing and
//! starts no thread (no steady tick), so nothing runs before or around the privilege
//! drop. At the end the bar stays, completed, above the summary.
//!
//! Why indicatif: the maintained terminal progress bar of the Rust ecosystem (cargo-like
//! drawing, ETA and rates, hides itself when its target is not a terminal).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A reader that counts the bytes read through it (on the reader's thread).
pub struct Counting<R> {
    pub inner: R,
    pub bytes: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Whether a bar is shown (see the module documentation).
pub fn wanted(file_mode: bool, is_stdin: bool, quiet: bool) -> bool {
    file_mode && !is_stdin && !quiet && io::stderr().is_terminal()
}

pub struct Progress {
    bar: ProgressBar,
    bytes: Arc<AtomicU64>,
    started: Instant,
}

impl Progress {
    /// A bar over `total` bytes, fed by `bytes` (a [`Counting`] reader's counter).
    pub fn new(total: u64, bytes: Arc<AtomicU64>) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{elapsed:>4} [{wide_bar}] {bytes}/{total_bytes} {msg}, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        Progress {
            bar,
            bytes,
            started: Instant::now(),
        }
    }

    fn message(&self, frames: u64, exchanges: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "{:.0} packets/s, {exchanges} exchanges",
            frames as f64 / secs
        )
    }

    /// After `frames` frames and `exchanges` exchanges.
    pub fn update(&self, frames: u64, exchanges: u64) {
        self.bar.set_message(self.message(frames, exchanges));
        self.bar.set_position(self.bytes.load(Ordering::Relaxed));
    }

    /// Prints `text` on standard error without breaking the bar.
    pub fn suspend_for(&self, text: &str) {
        self.bar.suspend(|| eprintln!("{text}"));
    }

    /// The bar completed, left on screen.
    pub fn finish(&self, frames: u64, exchanges: u64) {
        self.bar.set_message(self.message(frames, exchanges));
        self.bar.set_position(self.bytes.load(Ordering::Relaxed));
        self.bar.abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counting_reader_counts_what_it_reads() {
        let bytes = Arc::new(AtomicU64::new(0));
        let mut r = Counting {
            inner: &b"hello world"[..],
            bytes: Arc::clone(&bytes),
        };
        let mut v = Vec::new();
        r.read_to_end(&mut v).expect("read");
        assert_eq!(bytes.load(Ordering::Relaxed), 11);
    }

    #[test]
    fn no_bar_for_stdin_quiet_or_replays() {
        assert!(!wanted(true, true, false));
        assert!(!wanted(true, false, true));
        assert!(!wanted(false, false, false));
    }
}
