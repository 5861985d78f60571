//! Capture sources: the only code of httptop that touches the OS for packets.
//!
//! Two sources hand borrowed [`Frame`]s to the engine: [`FileSource`] (pcap or pcapng from
//! any `Read`) and [`LiveSource`] (libpcap). Both lend each frame from their own buffer until
//! the next call and allocate nothing per frame. [`CaptureSource`] is the small common
//! surface; [`Source`] holds either one when the caller decides at run time.
//!
//! Contract shared by both: hostile input never panics a source and never makes it loop;
//! damage a source can step over is counted in its stats, damage it cannot is one
//! [`CaptureError`], after which the source only reports the end. A file source never returns
//! [`Next::Timeout`]; a live source never returns [`Next::End`] and returns `Timeout` at least
//! once per read timeout while idle, so a capture loop can poll an `AtomicBool` set by a
//! signal handler:
//!
//! ```no_run
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use httptop_capture::{CaptureError, CaptureSource, LiveConfig, LiveSource, Next, Source};
//!
//! static STOP: AtomicBool = AtomicBool::new(false); // set from the SIGINT handler
//!
//! fn run(src: &mut impl CaptureSource) -> Result<(), CaptureError> {
//!     while !STOP.load(Ordering::Relaxed) {
//!         match src.next()? {
//!             Next::Frame(frame) => { /* engine.on_frame(frame) */ let _ = frame; }
//!             Next::Timeout => { /* engine.on_tick(wall clock), rate-limited */ }
//!             Next::End => break,
//!         }
//!     }
//!     Ok(())
//! }
//!
//! let mut src: Source = Source::Live(LiveSource::open(&LiveConfig::new(Some("lo")))?);
//! run(&mut src)?;
//! # Ok::<(), CaptureError>(())
//! ```

mod error;
pub mod file;
#[doc(hidden)]
pub mod fuzzing;
pub mod live;

use std::io::Read;

pub use error::{CaptureError, Damage, FormatError, Resumed};
pub use file::{Chunk, FileFormat, FileOptions, FileSource, FileStats, SharedFrame};
pub use httptop_wire::{Frame, LinkType, Timestamp};
pub use live::{
    list_interfaces, InterfaceAddress, InterfaceFlags, InterfaceInfo, LiveConfig, LiveNext,
    LiveSource, LiveStats,
};

/// One step of any capture source.
#[derive(Clone, Copy, Debug)]
pub enum Next<'a> {
    Frame(Frame<'a>),
    /// Live capture only: no packet was ready (see [`live`] for how long it waited).
    Timeout,
    /// File only: the input is finished (see the file's stats for truncation).
    End,
}

/// What the capture loop needs from a source.
pub trait CaptureSource {
    /// The next frame, a timeout, or the end. The frame borrows the source until the next call.
    fn next(&mut self) -> Result<Next<'_>, CaptureError>;
}

impl<R: Read> CaptureSource for FileSource<R> {
    #[inline]
    fn next(&mut self) -> Result<Next<'_>, CaptureError> {
        Ok(match self.next_frame()? {
            Some(frame) => Next::Frame(frame),
            None => Next::End,
        })
    }
}

impl CaptureSource for LiveSource {
    #[inline]
    fn next(&mut self) -> Result<Next<'_>, CaptureError> {
        Ok(match LiveSource::next(self)? {
            LiveNext::Frame(frame) => Next::Frame(frame),
            LiveNext::Timeout => Next::Timeout,
        })
    }
}

/// Either source, chosen at run time (`-r FILE` or `-i DEV`).
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "built once per run and never moved on the per-frame path"
)]
pub enum Source<R: Read = Box<dyn Read + Send>> {
    File(FileSource<R>),
    Live(LiveSource),
}

impl<R: Read> CaptureSource for Source<R> {
    #[inline]
    fn next(&mut self) -> Result<Next<'_>, CaptureError> {
        match self {
            Source::File(f) => CaptureSource::next(f),
            Source::Live(l) => CaptureSource::next(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sources move to a collector thread.
    #[test]
    fn sources_are_send() {
        fn send<T: Send>() {}
        send::<FileSource<std::fs::File>>();
        send::<LiveSource>();
        send::<Source>();
        send::<CaptureError>();
    }

    fn one_frame_pcap() -> Vec<u8> {
        let mut v = Vec::new();
        for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for x in [7u32, 8, 2, 2] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(&[0xab, 0xcd]);
        v
    }

    #[test]
    fn file_source_through_the_enum_ends_and_stays_ended() {
        let bytes = one_frame_pcap();
        let file = FileSource::new(Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>)
            .expect("header");
        let mut src: Source = Source::File(file);
        match src.next().expect("frame") {
            Next::Frame(f) => {
                assert_eq!(f.ts, Timestamp(7_000_008_000));
                assert_eq!(f.linktype, LinkType::ETHERNET);
                assert_eq!(f.data, &[0xab, 0xcd]);
            }
            other => panic!("{other:?}"),
        }
        for _ in 0..3 {
            assert!(matches!(src.next(), Ok(Next::End)));
        }
        let Source::File(file) = &src else {
            panic!("not a file source");
        };
        assert_eq!(file.stats().frames, 1);
    }
}
