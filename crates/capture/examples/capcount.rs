//! Reads a capture file (or stdin with `-`) and prints frame count, bytes and reader stats.
//! `--dump` prints one line per frame: `seconds.nanoseconds caplen orig_len linktype`.
//!
//! Used to measure the file reader against `cat` and to compare with tshark by hand.

use std::io::{self, Write};
use std::time::Instant;

use httptop_capture::{CaptureError, FileSource};

fn main() -> Result<(), CaptureError> {
    let mut dump = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--dump" => dump = true,
            _ => path = Some(arg),
        }
    }
    let path = path.unwrap_or_else(|| "-".to_owned());
    let start = Instant::now();
    let input: Box<dyn io::Read> = if path == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&path)?)
    };
    let mut src = FileSource::new(input)?;
    let out = io::stdout();
    let mut out = io::BufWriter::new(out.lock());
    let mut checksum = 0u64;
    let result = loop {
        match src.next_frame() {
            Ok(Some(f)) => {
                // Touch the data so the read is not optimised away.
                checksum = checksum.wrapping_add(u64::from(f.data.first().copied().unwrap_or(0)));
                if dump {
                    let _ = writeln!(
                        out,
                        "{}.{:09} {} {} {}",
                        f.ts.0 / 1_000_000_000,
                        f.ts.0 % 1_000_000_000,
                        f.data.len(),
                        f.orig_len,
                        f.linktype.0
                    );
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let _ = out.flush();
    let elapsed = start.elapsed();
    let s = src.stats();
    eprintln!(
        "{path}: {} frames, {} bytes, {:.3} s, {:.0} MB/s, checksum {checksum}, {s:?}",
        s.frames,
        s.bytes,
        elapsed.as_secs_f64(),
        s.bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
    );
    result
}
