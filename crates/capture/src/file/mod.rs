//! Capture files: classic pcap and pcapng, read from any [`Read`] (a file, or stdin for `-r -`).
//!
//! Contract:
//! - The format is chosen from the magic number, never from a file name. pcap: both byte
//!   orders, microsecond and nanosecond magics, and the little-endian "modified" (Kuznetsov)
//!   variant; the link type comes from the global header. pcapng: any number of sections
//!   (byte order per section), any number of interfaces per section, each with its own link
//!   type, `if_tsresol` (power of 10 or of 2) and `if_tsoffset`; Enhanced, Simple and obsolete
//!   Packet Blocks yield frames, every other block is skipped and counted.
//! - Frames are lent, not copied: [`FileSource::next_frame`] returns a [`Frame`] borrowing the
//!   reader's buffer until the next call. The per-frame path neither allocates nor copies;
//!   the input is read in large chunks (default 1 MiB) into one buffer.
//! - Every length in the file is untrusted. A record larger than the buffer grows it, up to
//!   [`FileOptions::max_record_size`] (default 1 MiB, four times the largest snaplen
//!   libpcap writes, so the buffer never grows past its initial size); a record claiming more is
//!   [`CaptureError::RecordTooLarge`], reported before anything is allocated for it. A pcap
//!   `caplen` above the header's snaplen is read as is (the snaplen is not trusted for sizing).
//!   `Frame::orig_len` is raised to the captured length when a file claims less.
//! - Input that ends inside a record is not an error: every complete record is yielded, then
//!   the source ends and [`FileStats::truncated`] is set. A packet naming an interface the
//!   section never described, or whose lengths disagree with its block, is skipped and
//!   counted.
//! - Damage is named, stepped over and counted (`resync.rs`). A pcap record claiming more
//!   than the record limit, a pcapng block whose framing is broken (length not a multiple
//!   of 4, below the minimum or over the limit, disagreeing with its trailing copy, a
//!   section header of an unknown version or byte order) is *damage* at its offset: the
//!   reader scans forward, byte by byte, for the next plausible record (pcap: a record
//!   header with a sane timestamp and lengths whose following header is sane too; pcapng:
//!   a block of a known type whose trailing length matches, followed by a plausible block)
//!   or a new file header, and goes on from there; the bytes skipped are counted in
//!   [`FileStats::skipped_bytes`], each such place in [`FileStats::resyncs`], and a
//!   [`Damage`] (offset, problem, bytes skipped, where reading resumed) waits in
//!   [`FileSource::take_damage`]. The scan is bounded by [`FileOptions::max_resync_bytes`]
//!   (default 16 MiB): past it the source ends with [`CaptureError::Damaged`]. Input that
//!   ends during the scan ends the source (the rest counted as skipped).
//! - Concatenated captures: a pcap file header (either byte order, µs or ns, the modified
//!   variant) or a pcapng Section Header Block where a record or block should start begins
//!   a new section with its own format, link type, byte order and resolution; this is not
//!   damage (`cat a.pcap b.pcapng | httptop -r -` reads both, with nothing skipped). A pcap
//!   record whose first word happens to equal a magic number is read as a record unless a
//!   whole valid header is there.
//! - Nothing here panics on any input, and every call consumes input or ends the source, so
//!   garbage cannot make it loop. The source is fused: after an error or the end it keeps
//!   returning `Ok(None)`.
//!
//! Buffering: the input is read in chunks (default 1 MiB) into buffers with headroom in
//! front; a record that spans two chunks is made contiguous by copying its (short) head
//! into the next chunk's headroom, and a record longer than the headroom by growing one
//! buffer (up to the record cap). [`FileSource::start_read_ahead`] reads the chunks on a
//! separate thread (at most four chunks in memory), so that reading the file overlaps
//! decoding it; [`FileSource::new`] reads them on the caller's thread. Records are framed
//! and decoded in place by this module: options of Enhanced Packet Blocks are skipped
//! without allocating, a packet whose `caplen` overruns its complete block is skipped and
//! counted (not taken for a cut-short file), obsolete Packet Blocks are read, and
//! `if_tsoffset` follows the byte order of its section.
//!
//! Where the code is: this file holds [`FileSource`], its options and statistics, the
//! record each format hands back and the bounds-checked integer readers; `pcap.rs` and
//! `pcapng.rs` check their headers and frame their records; `read_ahead.rs` owns the
//! chunked buffer and the reader thread. Tests sit beside each, on the fixtures of
//! `testing.rs`; `tests.rs` checks the contract as a whole (hostile input, the corpus).

mod pcap;
mod pcapng;
mod read_ahead;
mod resync;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use httptop_wire::{Frame, LinkType, Timestamp};

use crate::error::{CaptureError, Damage, FormatError};
use pcap::{next_pcap, PcapLayout};
use pcapng::{next_pcapng, NgState, SHB_TYPE};
pub use read_ahead::Chunk;
use read_ahead::{read_full, Buf};
use resync::Step;

/// Initial read buffer: large sequential reads are what makes file replay fast.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;
/// Largest record (pcap record header + data, or whole pcapng block) the reader will buffer.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 1 << 20;
/// Most interfaces remembered per pcapng section.
pub const DEFAULT_MAX_INTERFACES: usize = 4096;
/// Most bytes scanned for a plausible record after damage before giving up.
pub const DEFAULT_MAX_RESYNC_BYTES: usize = 16 << 20;
/// Damage reports held until [`FileSource::take_damage`] takes them; further ones are
/// only counted ([`FileStats::resyncs`]).
const MAX_DAMAGE_QUEUED: usize = 16;

/// Smallest buffer accepted, so a header always fits in the first read.
const MIN_BUFFER_SIZE: usize = 64;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Limits of a [`FileSource`]; see the module documentation for the policy when exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileOptions {
    /// Initial buffer size in bytes (at least 64).
    pub buffer_size: usize,
    /// Largest record, header included, that the buffer may grow to hold.
    pub max_record_size: usize,
    /// Most interfaces remembered per pcapng section; later ones are counted in
    /// [`FileStats::interfaces_over_cap`] and their packets in
    /// [`FileStats::unknown_interface`].
    pub max_interfaces: usize,
    /// Most bytes scanned for the next plausible record after damage; past it the source
    /// ends with [`CaptureError::Damaged`].
    pub max_resync_bytes: usize,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            max_interfaces: DEFAULT_MAX_INTERFACES,
            max_resync_bytes: DEFAULT_MAX_RESYNC_BYTES,
        }
    }
}

/// The container format, as told by the magic number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileFormat {
    Pcap,
    PcapNg,
}

httptop_wire::counters! {
    /// What a [`FileSource`] has read so far.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct FileStats {
        [Capture]
        /// Frames the capture file reader yielded.
        frames: Frames => "capture_file_frames",
        /// Captured bytes of the frames the capture file reader yielded.
        bytes: Bytes => "capture_file_bytes",
        /// Bytes of an incomplete record at the end of a cut-short capture file, dropped.
        truncated_bytes: Bytes,
        /// Capture file headers and pcapng section headers read (more than one: captures
        /// concatenated, or a pcapng file of several sections).
        sections: Blocks,
        /// pcapng blocks that carry no packet and were skipped (statistics, name resolution,
        /// decryption secrets, custom, unknown types...).
        skipped_blocks: Blocks,
        /// pcapng packets naming an interface not described in their section; skipped.
        unknown_interface: Frames,
        /// Packet or interface blocks whose own lengths disagree (e.g. a caplen overrunning
        /// the block); skipped.
        malformed_blocks: Blocks,
        /// pcapng interface descriptions beyond the interface limit; ignored.
        interfaces_over_cap: Blocks,
        /// Damaged places in a capture file (a record or block with impossible lengths,
        /// bytes that are no record) where the reader skipped to the next plausible record.
        resyncs: Events anomaly,
        /// Bytes of a capture file skipped over damage.
        skipped_bytes: Bytes anomaly,
    } extra {
        /// The input ended inside a record (a cut-short file).
        pub truncated: bool,
    }
}

/// A frame located in a shared buffer (see [`FileSource::next_shared`]).
#[derive(Clone, Copy, Debug)]
pub struct SharedFrame {
    pub ts: Timestamp,
    pub linktype: LinkType,
    pub orig_len: u32,
    pub start: usize,
    pub len: usize,
}

impl SharedFrame {
    /// The frame, its bytes in `chunk` (an empty frame if they are not there).
    #[inline]
    pub fn frame<'a>(&self, chunk: &'a Chunk) -> Frame<'a> {
        Frame {
            ts: self.ts,
            linktype: self.linktype,
            orig_len: self.orig_len,
            data: chunk
                .bytes()
                .get(self.start..self.start.saturating_add(self.len))
                .unwrap_or(&[]),
        }
    }
}

/// A pcap or pcapng capture read from `R`, yielding borrowed frames.
pub struct FileSource<R: Read> {
    buf: Buf<R>,
    kind: Kind,
    opts: FileOptions,
    /// Length of the record lent out by the last call, consumed at the start of the next.
    pending: usize,
    done: bool,
    stats: FileStats,
    /// Timestamp of the last frame yielded in this section (zero: none yet), the window
    /// of a plausible pcap record after damage.
    last_ts: Timestamp,
    /// Damage reports not yet taken (at most [`MAX_DAMAGE_QUEUED`]).
    damage: VecDeque<Damage>,
}

impl FileSource<File> {
    /// Opens a capture file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        FileSource::new(File::open(path)?)
    }
}

impl<R: Read + Send + 'static> FileSource<R> {
    /// From now on the input is read ahead by a thread of its own (see the module
    /// documentation): reading overlaps decoding. Data already buffered is kept; a
    /// second call does nothing. The thread ends at the end of the input, on a read error
    /// (reported by `next_frame`), or once the source is dropped and its current read
    /// returns.
    pub fn start_read_ahead(&mut self) -> Result<(), CaptureError> {
        self.buf.read_ahead(read_ahead::POOL)
    }

    /// [`FileSource::start_read_ahead`] with a pool of `chunks` buffers (at least four):
    /// room for the frames lent to other threads ([`FileSource::next_shared`]) while
    /// reading goes on. Memory: `chunks` times the buffer size plus 128 KiB.
    pub fn start_read_ahead_with(&mut self, chunks: usize) -> Result<(), CaptureError> {
        self.buf.read_ahead(chunks)
    }
}

impl<R: Read> FileSource<R> {
    /// Reads and checks the file header from `reader`, with default limits.
    pub fn new(reader: R) -> Result<Self, CaptureError> {
        FileSource::with_options(reader, FileOptions::default())
    }

    /// Reads and checks the file header from `reader`.
    pub fn with_options(mut reader: R, opts: FileOptions) -> Result<Self, CaptureError> {
        let opts = FileOptions {
            buffer_size: opts.buffer_size.max(MIN_BUFFER_SIZE),
            max_record_size: opts.max_record_size.max(MIN_BUFFER_SIZE),
            max_interfaces: opts.max_interfaces,
            max_resync_bytes: opts.max_resync_bytes,
        };
        let mut magic = [0u8; 4];
        match read_full(&mut reader, &mut magic)? {
            0 => return Err(format_err(0, FormatError::Empty)),
            4 => {}
            _ => return Err(format_err(0, FormatError::TruncatedHeader)),
        }
        if u32::from_le_bytes(magic) == SHB_TYPE {
            Self::open_pcapng(reader, magic, opts)
        } else {
            Self::open_pcap(reader, magic, opts)
        }
    }

    /// The next frame, `Ok(None)` at the end of the input (including a cut-short input:
    /// see [`FileStats::truncated`]). The frame borrows the source's buffer. Damage on the
    /// way is stepped over (see the module documentation and [`FileSource::take_damage`]).
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.pending != 0 {
            self.buf.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        let rec = loop {
            let step = match &mut self.kind {
                Kind::Pcap(layout) => next_pcap(&mut self.buf, *layout, &mut self.stats),
                Kind::Ng(ng) => next_pcapng(&mut self.buf, ng, &self.opts, &mut self.stats),
            };
            match step {
                Ok(Step::Record(rec)) => break rec,
                Ok(Step::End) => {
                    // A record running past the end with plausible records inside its
                    // claimed length is damage, not a cut-short file.
                    if !self.stats.truncated || !self.salvage_tail()? {
                        self.done = true;
                        return Ok(None);
                    }
                }
                Ok(Step::Header(h)) => self.start_section(h),
                Ok(Step::Damaged(problem)) => {
                    if let Err(e) = self.recover(problem) {
                        self.done = true;
                        return Err(e);
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
            if self.done {
                return Ok(None);
            }
        };
        self.pending = rec.total;
        // In bounds: `rec` was located inside the buffered data.
        let data = self
            .buf
            .data()
            .get(rec.start..rec.start + rec.len)
            .unwrap_or(&[]);
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.stats.frames += 1;
        self.stats.bytes += u64::from(caplen);
        self.last_ts = rec.ts;
        Ok(Some(Frame {
            ts: rec.ts,
            linktype: rec.linktype,
            orig_len: rec.orig_len.max(caplen),
            data,
        }))
    }

    /// The next frame as a place in a shared buffer, for handing to another thread: its
    /// bytes are `chunk.bytes()[start..start + len]` of [`FileSource::frame_chunk`]
    /// (the buffer does not change while any holder keeps it).
    pub fn next_shared(&mut self) -> Result<Option<SharedFrame>, CaptureError> {
        let Some(f) = self.next_frame()? else {
            return Ok(None);
        };
        let (ts, linktype, orig_len) = (f.ts, f.linktype, f.orig_len);
        let (ptr, len) = (f.data.as_ptr() as usize, f.data.len());
        let base = self.buf.chunk().bytes().as_ptr() as usize;
        // The frame lies in the current buffer (`next_frame` lends from it).
        let start = ptr.wrapping_sub(base);
        Ok(Some(SharedFrame {
            ts,
            linktype,
            orig_len,
            start,
            len,
        }))
    }

    /// The buffer the frame [`FileSource::next_shared`] returned lies in.
    #[inline]
    pub fn frame_chunk(&self) -> &std::sync::Arc<Chunk> {
        self.buf.chunk()
    }

    /// True when a [`Damage`] report waits in [`FileSource::take_damage`].
    #[inline]
    pub fn has_damage(&self) -> bool {
        !self.damage.is_empty()
    }

    /// The oldest damage report not yet taken: damage the source stepped over before the
    /// frame it last returned (or before its end). At most 16 wait; every one is counted
    /// in [`FileStats::resyncs`].
    pub fn take_damage(&mut self) -> Option<Damage> {
        self.damage.pop_front()
    }

    /// The largest contiguous buffer held so far (the chunk size, or a record longer
    /// than the headroom): the memory bound the fuzz target checks.
    #[doc(hidden)]
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity
    }

    /// Counters so far; final once [`FileSource::next_frame`] has returned `Ok(None)`.
    pub fn stats(&self) -> FileStats {
        self.stats
    }

    /// The container format.
    pub fn format(&self) -> FileFormat {
        match self.kind {
            Kind::Pcap(_) => FileFormat::Pcap,
            Kind::Ng(_) => FileFormat::PcapNg,
        }
    }
}

impl<R: Read> fmt::Debug for FileSource<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("format", &self.format())
            .field("buffer_capacity", &self.buf.capacity)
            .field("done", &self.done)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R: Read> FileSource<R> {
    fn from_parts(buf: Buf<R>, kind: Kind, opts: FileOptions, stats: FileStats) -> Self {
        FileSource {
            buf,
            kind,
            opts,
            pending: 0,
            done: false,
            stats,
            last_ts: Timestamp::ZERO,
            damage: VecDeque::new(),
        }
    }
}

/// Where the next record sits in the buffer, and what it says.
struct Record {
    start: usize,
    len: usize,
    /// Whole record length, consumed once the frame is returned.
    total: usize,
    ts: Timestamp,
    linktype: LinkType,
    orig_len: u32,
}

enum Kind {
    Pcap(PcapLayout),
    Ng(NgState),
}

fn format_err(offset: u64, problem: FormatError) -> CaptureError {
    CaptureError::Format { offset, problem }
}

fn too_large(offset: u64, size: u64, max: usize) -> CaptureError {
    CaptureError::RecordTooLarge {
        offset,
        size,
        max: max as u64,
    }
}

/// Reads a u32 at `off`; 0 if out of bounds (callers check lengths first).
#[inline]
fn u32_at(d: &[u8], off: usize, be: bool) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = d.get(off..off + 4) {
        b.copy_from_slice(s);
    }
    if be {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// Reads a u16 at `off`; 0 if out of bounds (callers check lengths first).
#[inline]
fn u16_at(d: &[u8], off: usize, be: bool) -> u16 {
    let mut b = [0u8; 2];
    if let Some(s) = d.get(off..off + 2) {
        b.copy_from_slice(s);
    }
    if be {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    }
}
