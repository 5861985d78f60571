//! Fuzzing entry point, shared by the cargo-fuzz target `capture_file` (in `fuzz/`) and the
//! corpus replay test (`tests/fuzz_corpus.rs`), so both run exactly the same code.
//!
//! Input format of [`read_file`]: the first byte sets how the file is handed over (0: in
//! one piece; n > 0: at most n bytes per `read` call, like a pipe); the rest is the
//! capture file. The file is read twice: once with the smallest buffer (64 bytes, so every
//! record makes the buffer refill or grow) through the chosen reader, once with a 64 KiB
//! buffer in one piece. Beyond "never panics", it asserts:
//! - the reader ends (fused: after the end or an error it keeps returning `Ok(None)`), and
//!   it yields no more frames than the input has room for;
//! - every frame lies within its record: its bytes are no more than the input, and
//!   `orig_len` is at least the captured length;
//! - the statistics agree with the frames yielded; the bytes yielded, skipped over damage
//!   and dropped at a cut-short end together fit the input; every resynchronisation
//!   skipped at least one byte, and is reported as a `Damage` (or as the error it gave up
//!   with) whose skipped bytes lie in the input;
//! - memory stays bounded: the buffer never holds more than a record (at most the cap),
//!   the header after it and a chunk, whatever the damage scanned;
//! - buffering does not change the result: both reads yield the same frames, damage
//!   reports (offsets, problems, bytes skipped, where reading resumed), stats and error.
//!
//! Records are capped at 1 MiB here (the default is 64 MiB) so a lying length cannot make
//! every run allocate tens of MiB; the cap's own path is still exercised.

use std::io::{self, Read};

use crate::error::{CaptureError, Damage};
use crate::file::{FileOptions, FileSource, FileStats};

/// Largest record accepted while fuzzing.
pub const MAX_RECORD: usize = 1 << 20;

/// A reader that returns at most `chunk` bytes per call.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.chunk.min(out.len()).min(self.data.len());
        let (now, rest) = self.data.split_at(n);
        out[..n].copy_from_slice(now);
        self.data = rest;
        Ok(n)
    }
}

/// What one complete read of a file gave.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    frames: Vec<(u64, u32, u32, Vec<u8>)>,
    damage: Vec<Damage>,
    stats: Option<FileStats>,
    error: Option<String>,
}

fn read_all(reader: impl Read, opts: FileOptions, input_len: usize) -> Outcome {
    let mut src = match FileSource::with_options(reader, opts) {
        Ok(src) => src,
        Err(e) => {
            return Outcome {
                frames: Vec::new(),
                damage: Vec::new(),
                stats: None,
                error: Some(e.to_string()),
            }
        }
    };
    // Every frame consumes at least a 12-byte pcapng block or a 16-byte pcap record header.
    let max_frames = input_len / 12 + 1;
    let mut frames = Vec::new();
    let mut damage = Vec::new();
    let mut error = None;
    let mut bytes = 0u64;
    loop {
        let step = src.next_frame();
        let done = match step {
            Ok(Some(f)) => {
                assert!(f.data.len() <= input_len, "frame larger than the input");
                assert!(
                    u64::from(f.orig_len) >= f.data.len() as u64,
                    "orig_len below the captured length"
                );
                bytes += f.data.len() as u64;
                frames.push((f.ts.nanos(), f.linktype.0, f.orig_len, f.data.to_vec()));
                assert!(
                    frames.len() <= max_frames,
                    "more frames than the input holds"
                );
                false
            }
            Ok(None) => true,
            Err(e) => {
                if let CaptureError::Damaged(d) = &e {
                    damage.push(*d);
                }
                error = Some(e.to_string());
                true
            }
        };
        while let Some(d) = src.take_damage() {
            damage.push(d);
        }
        assert!(
            src.buffer_capacity() <= opts.max_record_size + 2 * opts.buffer_size + 64,
            "buffer grew to {}",
            src.buffer_capacity()
        );
        if done {
            break;
        }
    }
    for _ in 0..2 {
        assert!(
            matches!(src.next_frame(), Ok(None)),
            "source not fused after its end"
        );
    }
    let stats = src.stats();
    assert_eq!(stats.frames, frames.len() as u64, "stats.frames");
    assert_eq!(stats.bytes, bytes, "stats.bytes");
    if error.is_some() {
        assert!(!stats.truncated, "both an error and a truncation");
    }
    let input = input_len as u64;
    assert!(
        bytes + stats.skipped_bytes + stats.truncated_bytes <= input,
        "more bytes accounted for than the input has"
    );
    assert!(
        stats.resyncs <= stats.skipped_bytes,
        "a resync that skipped nothing"
    );
    // At most 16 reports wait between two frames; every one is counted.
    assert!(
        damage.len() as u64 <= stats.resyncs,
        "damage reported, not counted"
    );
    if stats.resyncs <= 16 {
        assert_eq!(
            damage.len() as u64,
            stats.resyncs,
            "damage counted, not reported"
        );
    }
    for d in &damage {
        assert!(d.skipped >= 1 && d.offset + d.skipped <= input, "{d}");
    }
    Outcome {
        frames,
        damage,
        stats: Some(stats),
        error,
    }
}

/// Reads `data` (delivery byte + capture file) twice and checks the reader's promises.
pub fn read_file(data: &[u8]) {
    let Some((&chunk, file)) = data.split_first() else {
        return;
    };
    let small = FileOptions {
        buffer_size: 64,
        max_record_size: MAX_RECORD,
        ..FileOptions::default()
    };
    let large = FileOptions {
        buffer_size: 64 << 10,
        ..small
    };
    let a = if chunk == 0 {
        read_all(file, small, file.len())
    } else {
        let trickle = Trickle {
            data: file,
            chunk: usize::from(chunk),
        };
        read_all(trickle, small, file.len())
    };
    let b = read_all(file, large, file.len());
    assert_eq!(a, b, "the buffering changed the result");
}
