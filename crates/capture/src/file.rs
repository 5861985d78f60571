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
//!   counted; a pcapng block whose framing is broken (length not a multiple of 4, below the
//!   minimum, or disagreeing with its trailing copy) ends the read with
//!   [`CaptureError::Format`], because nothing after it can be located reliably.
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
//! and decoded here (not with pcap-parser's readers, whose `next()` allocates a `Vec` for
//! the options of every Enhanced Packet Block that has any, reports a packet whose
//! `caplen` overruns its complete block as "incomplete", does not know obsolete Packet
//! Blocks, and reads `if_tsoffset` little-endian even in big-endian sections).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use httptop_wire::{Frame, LinkType, Timestamp};

use crate::error::{CaptureError, FormatError};

/// Initial read buffer: large sequential reads are what makes file replay fast.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;
/// Largest record (pcap record header + data, or whole pcapng block) the reader will buffer.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 1 << 20;
/// Most interfaces remembered per pcapng section.
pub const DEFAULT_MAX_INTERFACES: usize = 4096;

/// Smallest buffer accepted, so a header always fits in the first read.
const MIN_BUFFER_SIZE: usize = 64;

const SHB_TYPE: u32 = 0x0A0D_0D0A;
const IDB_TYPE: u32 = 0x0000_0001;
const PB_TYPE: u32 = 0x0000_0002;
const SPB_TYPE: u32 = 0x0000_0003;
const EPB_TYPE: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

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
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            max_interfaces: DEFAULT_MAX_INTERFACES,
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
        /// pcapng sections seen.
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
    } extra {
        /// The input ended inside a record (a cut-short file).
        pub truncated: bool,
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
        self.buf.read_ahead()
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

    fn open_pcap(mut reader: R, magic: [u8; 4], opts: FileOptions) -> Result<Self, CaptureError> {
        let magic_le = u32::from_le_bytes(magic);
        // (big endian, nanoseconds per fraction unit, record header length)
        let (be, frac_mult, rec_hdr) = match magic_le {
            0xa1b2_c3d4 => (false, 1_000, 16),
            0xa1b2_3c4d => (false, 1, 16),
            0xa1b2_cd34 => (false, 1_000, 24),
            0xd4c3_b2a1 => (true, 1_000, 16),
            0x4d3c_b2a1 => (true, 1, 16),
            // pcap-parser's reader refuses this header; no such file is known in the wild.
            0x34cd_b2a1 => return Err(format_err(0, FormatError::UnsupportedMagic(magic_le))),
            other => return Err(format_err(0, FormatError::UnknownMagic(other))),
        };
        let mut header = [0u8; 24];
        header[..4].copy_from_slice(&magic);
        if read_full(&mut reader, &mut header[4..])? != 20 {
            return Err(format_err(0, FormatError::TruncatedHeader));
        }
        // Upper bits carry FCS information; libpcap's LT_LINKTYPE keeps these 26.
        let linktype = LinkType(u32_at(&header, 20, be) & 0x03FF_FFFF);
        let layout = PcapLayout {
            be,
            frac_mult,
            rec_hdr,
            linktype,
        };
        // The header is checked; records start after it.
        let buf = Buf::new(Input::new(Vec::new(), reader), header.len() as u64, &opts);
        Ok(FileSource {
            buf,
            kind: Kind::Pcap(layout),
            opts,
            pending: 0,
            done: false,
            stats: FileStats::default(),
        })
    }

    fn open_pcapng(mut reader: R, magic: [u8; 4], opts: FileOptions) -> Result<Self, CaptureError> {
        // pcap-parser's reader wants the whole Section Header Block in its first read, which a
        // pipe does not promise; read it here and replay it through `Input`.
        let mut head = [0u8; 12];
        head[..4].copy_from_slice(&magic);
        if read_full(&mut reader, &mut head[4..])? != 8 {
            return Err(format_err(0, FormatError::TruncatedHeader));
        }
        let be = match u32_at(&head, 8, false) {
            BYTE_ORDER_MAGIC => false,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
            m => return Err(format_err(0, FormatError::BadByteOrderMagic(m))),
        };
        let blen32 = u32_at(&head, 4, be);
        if blen32 < 28 || blen32 % 4 != 0 {
            return Err(format_err(0, FormatError::BadBlockLength(blen32)));
        }
        let blen = blen32 as usize;
        if blen > opts.max_record_size {
            return Err(too_large(0, blen as u64, opts.max_record_size));
        }
        let mut shb = head.to_vec();
        // `take` + `read_to_end` grows with the data actually present, so a lying length
        // in a tiny file does not allocate the full claim.
        (&mut reader)
            .take((blen - head.len()) as u64)
            .read_to_end(&mut shb)?;
        if shb.len() != blen {
            return Err(format_err(0, FormatError::TruncatedHeader));
        }
        Ok(FileSource {
            buf: Buf::new(Input::new(shb, reader), 0, &opts),
            // The SHB is left in the buffer: the block loop reads it like any other.
            kind: Kind::Ng(NgState {
                be,
                interfaces: Vec::new(),
                last_ts: Timestamp::ZERO,
            }),
            opts,
            pending: 0,
            done: false,
            stats: FileStats::default(),
        })
    }

    /// The next frame, `Ok(None)` at the end of the input (including a cut-short input:
    /// see [`FileStats::truncated`]). The frame borrows the source's buffer.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.pending != 0 {
            self.buf.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        let found = match &mut self.kind {
            Kind::Pcap(layout) => next_pcap(&mut self.buf, *layout, &mut self.stats),
            Kind::Ng(ng) => next_pcapng(&mut self.buf, ng, &self.opts, &mut self.stats),
        };
        let rec = match found {
            Ok(Some(rec)) => rec,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) => {
                self.done = true;
                return Err(e);
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
        Ok(Some(Frame {
            ts: rec.ts,
            linktype: rec.linktype,
            orig_len: rec.orig_len.max(caplen),
            data,
        }))
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

fn next_pcap<R: Read>(
    buf: &mut Buf<R>,
    l: PcapLayout,
    stats: &mut FileStats,
) -> Result<Option<Record>, CaptureError> {
    if !buf.ensure(l.rec_hdr)? {
        return Ok(buf.end(stats));
    }
    let d = buf.data();
    let sec = u32_at(d, 0, l.be);
    let frac = u32_at(d, 4, l.be);
    let caplen = u32_at(d, 8, l.be);
    let orig_len = u32_at(d, 12, l.be);
    let total = (caplen as usize).saturating_add(l.rec_hdr);
    if total > buf.max_record {
        return Err(too_large(buf.offset(), total as u64, buf.max_record));
    }
    if !buf.ensure(total)? {
        return Ok(buf.end(stats));
    }
    let ns = u64::from(sec)
        .saturating_mul(NANOS_PER_SEC)
        .saturating_add(u64::from(frac).saturating_mul(l.frac_mult));
    Ok(Some(Record {
        start: l.rec_hdr,
        len: caplen as usize,
        total,
        ts: Timestamp(ns),
        linktype: l.linktype,
        orig_len,
    }))
}

fn next_pcapng<R: Read>(
    buf: &mut Buf<R>,
    ng: &mut NgState,
    opts: &FileOptions,
    stats: &mut FileStats,
) -> Result<Option<Record>, CaptureError> {
    // Each turn either returns or consumes one whole block (at least 12 bytes).
    loop {
        if !buf.ensure(12)? {
            return Ok(buf.end(stats));
        }
        let d = buf.data();
        // The SHB type reads the same in both orders; its byte-order magic sets the order
        // of the whole section, itself included.
        let be = if u32_at(d, 0, false) == SHB_TYPE {
            match u32_at(d, 8, false) {
                BYTE_ORDER_MAGIC => false,
                m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
                m => return Err(format_err(buf.offset(), FormatError::BadByteOrderMagic(m))),
            }
        } else {
            ng.be
        };
        let btype = u32_at(d, 0, be);
        let blen32 = u32_at(d, 4, be);
        if blen32 < 12 || blen32 % 4 != 0 {
            return Err(format_err(
                buf.offset(),
                FormatError::BadBlockLength(blen32),
            ));
        }
        let blen = blen32 as usize;
        if blen > buf.max_record {
            return Err(too_large(buf.offset(), blen as u64, buf.max_record));
        }
        if !buf.ensure(blen)? {
            return Ok(buf.end(stats));
        }
        let block = buf.data().get(..blen).unwrap_or(&[]);
        let trailer = u32_at(block, blen - 4, be);
        if trailer != blen32 {
            return Err(format_err(
                buf.offset(),
                FormatError::BlockLengthMismatch {
                    first: blen32,
                    second: trailer,
                },
            ));
        }
        let found = match btype {
            SHB_TYPE => {
                if blen < 28 {
                    return Err(format_err(
                        buf.offset(),
                        FormatError::BadBlockLength(blen32),
                    ));
                }
                let (major, minor) = (u16_at(block, 12, be), u16_at(block, 14, be));
                if major != 1 {
                    return Err(format_err(
                        buf.offset(),
                        FormatError::UnsupportedVersion { major, minor },
                    ));
                }
                ng.be = be;
                ng.interfaces.clear();
                stats.sections += 1;
                None
            }
            IDB_TYPE => {
                add_interface(ng, block, be, opts.max_interfaces, stats);
                None
            }
            EPB_TYPE | PB_TYPE => packet_block(ng, block, be, btype == PB_TYPE, stats),
            SPB_TYPE => simple_packet_block(ng, block, be, stats),
            _ => {
                stats.skipped_blocks += 1;
                None
            }
        };
        match found {
            Some(rec) => return Ok(Some(rec)),
            None => buf.consume(blen),
        }
    }
}

/// Enhanced Packet Block, or the obsolete Packet Block (16-bit interface id, then a drop
/// count, otherwise the same layout).
fn packet_block(
    ng: &mut NgState,
    block: &[u8],
    be: bool,
    obsolete: bool,
    stats: &mut FileStats,
) -> Option<Record> {
    const HDR: usize = 28;
    if block.len() < HDR + 4 {
        stats.malformed_blocks += 1;
        return None;
    }
    let if_id = if obsolete {
        u32::from(u16_at(block, 8, be))
    } else {
        u32_at(block, 8, be)
    };
    let ts_raw = (u64::from(u32_at(block, 12, be)) << 32) | u64::from(u32_at(block, 16, be));
    let caplen = u32_at(block, 20, be) as usize;
    let orig_len = u32_at(block, 24, be);
    if caplen > block.len() - HDR - 4 {
        stats.malformed_blocks += 1;
        return None;
    }
    let Some(Some(iface)) = ng.interfaces.get(if_id as usize) else {
        stats.unknown_interface += 1;
        return None;
    };
    let ts = iface.ts.convert(ts_raw);
    ng.last_ts = ts;
    Some(Record {
        start: HDR,
        len: caplen,
        total: block.len(),
        ts,
        linktype: iface.linktype,
        orig_len,
    })
}

/// Simple Packet Block: interface 0, no timestamp (the last one seen stands in), captured
/// length implied by the original length, the block and the interface's snaplen.
fn simple_packet_block(
    ng: &NgState,
    block: &[u8],
    be: bool,
    stats: &mut FileStats,
) -> Option<Record> {
    const HDR: usize = 12;
    if block.len() < HDR + 4 {
        stats.malformed_blocks += 1;
        return None;
    }
    let Some(Some(iface)) = ng.interfaces.first() else {
        stats.unknown_interface += 1;
        return None;
    };
    let orig_len = u32_at(block, 8, be);
    let mut caplen = (orig_len as usize).min(block.len() - HDR - 4);
    if iface.snaplen != 0 {
        caplen = caplen.min(iface.snaplen as usize);
    }
    Some(Record {
        start: HDR,
        len: caplen,
        total: block.len(),
        ts: ng.last_ts,
        linktype: iface.linktype,
        orig_len,
    })
}

fn add_interface(
    ng: &mut NgState,
    block: &[u8],
    be: bool,
    max_interfaces: usize,
    stats: &mut FileStats,
) {
    if ng.interfaces.len() >= max_interfaces {
        stats.interfaces_over_cap += 1;
        return;
    }
    if block.len() < 20 {
        // Keep the slot so later interface ids still point at the right descriptions.
        stats.malformed_blocks += 1;
        ng.interfaces.push(None);
        return;
    }
    let linktype = LinkType(u32::from(u16_at(block, 8, be)));
    let snaplen = u32_at(block, 12, be);
    let mut tsresol = None;
    let mut tsoffset = None;
    let mut opts = block.get(16..block.len() - 4).unwrap_or(&[]);
    while opts.len() >= 4 {
        let code = u16_at(opts, 0, be);
        let len = usize::from(u16_at(opts, 2, be));
        if code == OPT_ENDOFOPT {
            break;
        }
        let Some(value) = opts.get(4..4 + len) else {
            break;
        };
        match (code, value) {
            (OPT_IF_TSRESOL, &[r]) if tsresol.is_none() => tsresol = Some(r),
            (OPT_IF_TSOFFSET, v) if v.len() == 8 && tsoffset.is_none() => {
                let mut b = [0u8; 8];
                b.copy_from_slice(v);
                tsoffset = Some(if be {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                });
            }
            _ => {}
        }
        opts = opts.get(4 + ((len + 3) & !3)..).unwrap_or(&[]);
    }
    ng.interfaces.push(Some(Interface {
        linktype,
        snaplen,
        ts: TsConv::new(tsresol.unwrap_or(6), tsoffset.unwrap_or(0)),
    }));
}

#[derive(Clone, Copy, Debug)]
struct PcapLayout {
    be: bool,
    /// Nanoseconds per unit of the sub-second field.
    frac_mult: u64,
    /// Record header length: 16, or 24 in the modified format.
    rec_hdr: usize,
    linktype: LinkType,
}

enum Kind {
    Pcap(PcapLayout),
    Ng(NgState),
}

struct NgState {
    /// Byte order of the current section.
    be: bool,
    /// Interfaces of the current section by id; `None` for a malformed description.
    interfaces: Vec<Option<Interface>>,
    /// Timestamp of the last timestamped packet, for Simple Packet Blocks.
    last_ts: Timestamp,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: LinkType,
    snaplen: u32,
    ts: TsConv,
}

/// Converts an interface's timestamp units to nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TsConv {
    unit: TsUnit,
    /// `if_tsoffset`, in nanoseconds.
    offset_ns: i128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsUnit {
    /// Units coarser than or equal to a nanosecond: multiply.
    Mul(u64),
    /// Finer decimal units: divide.
    Div(u64),
    /// 2^-n seconds.
    Pow2(u32),
    /// So fine that every representable value is below one nanosecond.
    Zero,
}

impl TsConv {
    fn new(tsresol: u8, tsoffset_s: i64) -> Self {
        let n = u32::from(tsresol & 0x7f);
        let unit = if tsresol & 0x80 != 0 {
            TsUnit::Pow2(n)
        } else if n <= 9 {
            TsUnit::Mul(10u64.pow(9 - n))
        } else {
            10u64.checked_pow(n - 9).map_or(TsUnit::Zero, TsUnit::Div)
        };
        TsConv {
            unit,
            offset_ns: i128::from(tsoffset_s) * i128::from(NANOS_PER_SEC),
        }
    }

    fn convert(&self, raw: u64) -> Timestamp {
        let ns: u128 = match self.unit {
            TsUnit::Mul(m) => u128::from(raw) * u128::from(m),
            TsUnit::Div(d) => u128::from(raw / d),
            TsUnit::Pow2(n) => (u128::from(raw) * u128::from(NANOS_PER_SEC))
                .checked_shr(n)
                .unwrap_or(0),
            TsUnit::Zero => 0,
        };
        // Both terms are far below 2^127 (raw < 2^64, multipliers < 2^30).
        let t = (ns as i128).saturating_add(self.offset_ns);
        Timestamp(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
    }
}

/// The streaming reader and what we know about its buffer.
struct Buf<R> {
    chunks: Chunks<R>,
    /// The current buffer: `buf[start..end]` is unconsumed input.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Input offset of `buf[start]`.
    consumed: u64,
    eof: bool,
    /// Room in front of each chunk for the tail of the one before.
    head: usize,
    /// Bytes read per chunk.
    chunk: usize,
    /// The largest contiguous data the buffer has had room for (the chunk size, or a
    /// record longer than the headroom).
    capacity: usize,
    max_record: usize,
}

/// Where chunks come from. A chunk is a buffer of `head + chunk` bytes and the number of
/// bytes read into it after the headroom.
enum Chunks<R> {
    Inline {
        input: Input<R>,
        spare: Option<Vec<u8>>,
    },
    Ahead {
        full: Receiver<io::Result<(Vec<u8>, usize)>>,
        free: SyncSender<Vec<u8>>,
    },
    /// Between the two above while switching to read-ahead.
    Switching,
}

/// Headroom per chunk: room for a whole record of a 65,535-byte snaplen with any header.
const HEADROOM: usize = 128 << 10;

impl<R: Read> Buf<R> {
    fn new(input: Input<R>, consumed: u64, opts: &FileOptions) -> Self {
        Buf {
            chunks: Chunks::Inline { input, spare: None },
            buf: Vec::new(),
            start: 0,
            end: 0,
            consumed,
            eof: false,
            head: HEADROOM.min(opts.buffer_size),
            chunk: opts.buffer_size,
            capacity: opts.buffer_size,
            max_record: opts.max_record_size,
        }
    }

    #[inline]
    fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    /// Input offset of the first buffered byte.
    fn offset(&self) -> u64 {
        self.consumed
    }

    /// Makes at least `needed` bytes available. Callers have checked `needed` against
    /// the cap. `Ok(false)` at end of input.
    fn ensure(&mut self, needed: usize) -> Result<bool, CaptureError> {
        while self.end - self.start < needed {
            if self.eof {
                return Ok(false);
            }
            match self.next_chunk().map_err(CaptureError::Io)? {
                Some((c, n)) => self.append(c, n),
                None => self.eof = true,
            }
        }
        Ok(true)
    }

    /// Puts a new chunk after the unconsumed bytes.
    fn append(&mut self, mut c: Vec<u8>, n: usize) {
        let (head, tail) = (self.head, self.end - self.start);
        let Some(new) = c.get(head..head + n) else {
            return;
        };
        if tail <= head {
            // The common case: the tail (part of one record) goes into the headroom.
            c[head - tail..head].copy_from_slice(&self.buf[self.start..self.end]);
            let old = std::mem::replace(&mut self.buf, c);
            self.start = head - tail;
            self.end = head + n;
            self.recycle(old);
        } else {
            // A record longer than the headroom: one buffer grows (amortised) until it
            // holds the record; bounded by the record cap the callers check.
            self.buf.copy_within(self.start..self.end, 0);
            self.buf.truncate(tail);
            self.buf.extend_from_slice(new);
            self.start = 0;
            self.end = self.buf.len();
            self.capacity = self.capacity.max(self.end);
            self.recycle(c);
        }
    }

    fn next_chunk(&mut self) -> io::Result<Option<(Vec<u8>, usize)>> {
        let size = self.head + self.chunk;
        match &mut self.chunks {
            Chunks::Inline { input, spare } => {
                let mut v = spare
                    .take()
                    .filter(|v| v.len() == size)
                    .unwrap_or_else(|| vec![0; size]);
                let n = read_some(input, &mut v[self.head..])?;
                if n == 0 {
                    *spare = Some(v);
                    return Ok(None);
                }
                Ok(Some((v, n)))
            }
            Chunks::Ahead { full, .. } => match full.recv() {
                Ok(Ok(c)) => Ok(Some(c)),
                Ok(Err(e)) => Err(e),
                // The reader thread ended: end of input.
                Err(_) => Ok(None),
            },
            Chunks::Switching => Ok(None),
        }
    }

    /// Gives a chunk-sized buffer back for reuse; others (grown ones) are freed.
    fn recycle(&mut self, v: Vec<u8>) {
        if v.len() != self.head + self.chunk {
            return;
        }
        match &mut self.chunks {
            Chunks::Inline { spare, .. } => *spare = Some(v),
            Chunks::Ahead { free, .. } => {
                let _ = free.try_send(v);
            }
            Chunks::Switching => {}
        }
    }

    /// End of input: whatever is left is an incomplete record.
    fn end(&self, stats: &mut FileStats) -> Option<Record> {
        let left = self.data().len();
        if left > 0 {
            stats.truncated = true;
            stats.truncated_bytes = left as u64;
        }
        None
    }
}

impl<R: Read + Send + 'static> Buf<R> {
    /// Moves the reading to a thread of its own (once).
    fn read_ahead(&mut self) -> Result<(), CaptureError> {
        let Chunks::Inline { input, .. } = std::mem::replace(&mut self.chunks, Chunks::Switching)
        else {
            return Ok(());
        };
        let (head, size) = (self.head, self.head + self.chunk);
        // One chunk being read, one waiting, one being decoded, one recycled.
        let (full_tx, full) = sync_channel(1);
        let (free, free_rx) = sync_channel::<Vec<u8>>(1);
        let mut input = input;
        std::thread::Builder::new()
            .name("httptop-read".into())
            .spawn(move || loop {
                let mut v = free_rx.try_recv().unwrap_or_else(|_| vec![0; size]);
                // Dropping `full_tx` (returning) ends the input for the reader; a failed send
                // means the source was dropped.
                match read_some(&mut input, &mut v[head..]) {
                    Ok(0) => return,
                    Ok(n) => {
                        if full_tx.send(Ok((v, n))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            })
            .map_err(CaptureError::Io)?;
        self.chunks = Chunks::Ahead { full, free };
        Ok(())
    }
}

/// Feeds the already-read header back, then the rest of the input.
struct Input<R> {
    prefix: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R> Input<R> {
    fn new(prefix: Vec<u8>, inner: R) -> Self {
        Input {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(rest) = self.prefix.get(self.pos..) {
            if !rest.is_empty() {
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                if self.pos >= self.prefix.len() {
                    self.prefix = Vec::new();
                    self.pos = 0;
                }
                return Ok(n);
            }
        }
        self.inner.read(out).map(|n| n.min(out.len()))
    }
}

/// One read, retried when interrupted; 0 at end of input.
fn read_some<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
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

#[cfg(test)]
mod tests {
    use super::*;

    // ---- writers -------------------------------------------------------------------------

    fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn put64(v: &mut Vec<u8>, x: u64, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn pad4(v: &mut Vec<u8>) {
        while v.len() % 4 != 0 {
            v.push(0);
        }
    }

    const MAGIC_USEC: u32 = 0xa1b2_c3d4;
    const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
    const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

    struct Rec<'a> {
        sec: u32,
        frac: u32,
        orig: u32,
        data: &'a [u8],
    }

    /// A capture file built in code, with the offset after each record or block and whether
    /// that record should yield a frame.
    struct Built {
        bytes: Vec<u8>,
        ends: Vec<(usize, bool)>,
    }

    impl Built {
        fn header_len(&self) -> usize {
            self.ends.first().map_or(0, |e| e.0)
        }
    }

    fn pcap_file(magic: u32, be: bool, linktype: u32, recs: &[Rec<'_>]) -> Built {
        let modified = magic == MAGIC_MODIFIED;
        let mut v = Vec::new();
        put32(&mut v, magic, be);
        put16(&mut v, 2, be);
        put16(&mut v, 4, be);
        put32(&mut v, 0, be); // thiszone
        put32(&mut v, 0, be); // sigfigs
        put32(&mut v, 65535, be); // snaplen
        put32(&mut v, linktype, be);
        let mut ends = vec![(v.len(), false)];
        for r in recs {
            put32(&mut v, r.sec, be);
            put32(&mut v, r.frac, be);
            put32(&mut v, r.data.len() as u32, be);
            put32(&mut v, r.orig, be);
            if modified {
                v.extend_from_slice(&[0; 8]);
            }
            v.extend_from_slice(r.data);
            ends.push((v.len(), true));
        }
        Built { bytes: v, ends }
    }

    /// pcapng writer; `be` is the byte order of the current section.
    struct Ng {
        be: bool,
        out: Vec<u8>,
        ends: Vec<(usize, bool)>,
    }

    impl Ng {
        fn new(be: bool) -> Self {
            let mut n = Ng {
                be,
                out: Vec::new(),
                ends: Vec::new(),
            };
            n.shb(be, &[]);
            n
        }
        fn block(&mut self, btype: u32, body: &[u8], yields: bool) -> &mut Self {
            let be = self.be;
            let len = 12 + body.len().div_ceil(4) * 4;
            put32(&mut self.out, btype, be);
            put32(&mut self.out, len as u32, be);
            self.out.extend_from_slice(body);
            pad4(&mut self.out);
            put32(&mut self.out, len as u32, be);
            self.ends.push((self.out.len(), yields));
            self
        }
        fn options(&self, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
            let mut v = Vec::new();
            if opts.is_empty() {
                return v;
            }
            for (code, value) in opts {
                put16(&mut v, *code, self.be);
                put16(&mut v, value.len() as u16, self.be);
                v.extend_from_slice(value);
                pad4(&mut v);
            }
            put32(&mut v, 0, self.be); // opt_endofopt
            v
        }
        fn shb(&mut self, be: bool, opts: &[(u16, Vec<u8>)]) -> &mut Self {
            self.be = be;
            let mut b = Vec::new();
            put32(&mut b, BYTE_ORDER_MAGIC, be);
            put16(&mut b, 1, be);
            put16(&mut b, 0, be);
            put64(&mut b, u64::MAX, be); // section length unknown
            b.extend(self.options(opts));
            self.block(SHB_TYPE, &b, false)
        }
        fn idb(&mut self, linktype: u16, snaplen: u32, opts: &[(u16, Vec<u8>)]) -> &mut Self {
            let mut b = Vec::new();
            put16(&mut b, linktype, self.be);
            put16(&mut b, 0, self.be);
            put32(&mut b, snaplen, self.be);
            b.extend(self.options(opts));
            self.block(IDB_TYPE, &b, false)
        }
        fn epb_with(
            &mut self,
            if_id: u32,
            ts: u64,
            orig: u32,
            data: &[u8],
            opts: &[(u16, Vec<u8>)],
            yields: bool,
        ) -> &mut Self {
            let be = self.be;
            let mut b = Vec::new();
            put32(&mut b, if_id, be);
            put32(&mut b, (ts >> 32) as u32, be);
            put32(&mut b, ts as u32, be);
            put32(&mut b, data.len() as u32, be);
            put32(&mut b, orig, be);
            b.extend_from_slice(data);
            pad4(&mut b);
            b.extend(self.options(opts));
            self.block(EPB_TYPE, &b, yields)
        }
        fn epb(&mut self, if_id: u32, ts: u64, orig: u32, data: &[u8]) -> &mut Self {
            self.epb_with(if_id, ts, orig, data, &[], true)
        }
        fn spb(&mut self, orig: u32, data: &[u8]) -> &mut Self {
            let mut b = Vec::new();
            put32(&mut b, orig, self.be);
            b.extend_from_slice(data);
            self.block(SPB_TYPE, &b, true)
        }
        fn pb(&mut self, if_id: u16, ts: u64, orig: u32, data: &[u8]) -> &mut Self {
            let be = self.be;
            let mut b = Vec::new();
            put16(&mut b, if_id, be);
            put16(&mut b, 3, be); // drops count: must not leak into the interface id
            put32(&mut b, (ts >> 32) as u32, be);
            put32(&mut b, ts as u32, be);
            put32(&mut b, data.len() as u32, be);
            put32(&mut b, orig, be);
            b.extend_from_slice(data);
            self.block(PB_TYPE, &b, true)
        }
        fn build(&self) -> Built {
            Built {
                bytes: self.out.clone(),
                ends: self.ends.clone(),
            }
        }
    }

    fn tsresol(r: u8) -> (u16, Vec<u8>) {
        (OPT_IF_TSRESOL, vec![r])
    }
    fn tsoffset(s: i64, be: bool) -> (u16, Vec<u8>) {
        let v = if be { s.to_be_bytes() } else { s.to_le_bytes() };
        (OPT_IF_TSOFFSET, v.to_vec())
    }

    fn payload(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    // ---- readers -------------------------------------------------------------------------

    /// An owned copy of a frame, for comparisons.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct F {
        ts: u64,
        lt: u32,
        orig: u32,
        data: Vec<u8>,
    }

    fn f(ts: u64, lt: LinkType, orig: u32, data: &[u8]) -> F {
        F {
            ts,
            lt: lt.0,
            orig,
            data: data.to_vec(),
        }
    }

    /// Reads to the end; the error, if any, comes back beside the frames read before it.
    /// Bounded so a looping reader fails the test instead of hanging it.
    fn drain<R: Read>(src: &mut FileSource<R>, bound: usize) -> (Vec<F>, Option<CaptureError>) {
        let mut frames = Vec::new();
        for _ in 0..bound {
            match src.next_frame() {
                Ok(Some(fr)) => frames.push(F {
                    ts: fr.ts.0,
                    lt: fr.linktype.0,
                    orig: fr.orig_len,
                    data: fr.data.to_vec(),
                }),
                Ok(None) => return (frames, None),
                Err(e) => {
                    // Fused: the end follows an error.
                    assert!(matches!(src.next_frame(), Ok(None)));
                    return (frames, Some(e));
                }
            }
        }
        panic!("reader did not end within {bound} calls");
    }

    fn read_ok(bytes: &[u8]) -> (Vec<F>, FileStats) {
        let mut src = FileSource::new(bytes).expect("header");
        let (frames, err) = drain(&mut src, bytes.len() + 2);
        assert!(err.is_none(), "unexpected error {err:?}");
        (frames, src.stats())
    }

    /// A `Read` handing out at most `chunk` bytes per call, optionally interrupting every
    /// other call and failing after `fail_at` bytes.
    struct Trickle<'a> {
        data: &'a [u8],
        pos: usize,
        chunk: usize,
        interrupt: bool,
        calls: usize,
        fail_at: Option<usize>,
    }

    impl<'a> Trickle<'a> {
        fn new(data: &'a [u8], chunk: usize) -> Self {
            Trickle {
                data,
                pos: 0,
                chunk,
                interrupt: false,
                calls: 0,
                fail_at: None,
            }
        }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.interrupt && self.calls % 2 == 0 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|at| self.pos >= at) {
                return Err(io::Error::other("disk on fire"));
            }
            let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// Deterministic xorshift, so fuzz-style tests replay exactly.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    // ---- classic pcap --------------------------------------------------------------------

    #[test]
    fn pcap_all_byte_orders_and_resolutions() {
        let d0 = payload(60, 1);
        let d1 = payload(100, 2);
        let recs = [
            Rec {
                sec: 1_700_000_000,
                frac: 123_456,
                orig: 60,
                data: &d0,
            },
            Rec {
                sec: 1_700_000_001,
                frac: 999_999,
                orig: 1514,
                data: &d1,
            },
            Rec {
                sec: 0,
                frac: 0,
                orig: 0,
                data: &[],
            },
        ];
        for (magic, mult) in [(MAGIC_USEC, 1_000), (MAGIC_NSEC, 1)] {
            for be in [false, true] {
                let file = pcap_file(magic, be, 101, &recs);
                let (frames, stats) = read_ok(&file.bytes);
                let want = vec![
                    f(
                        1_700_000_000_000_000_000 + 123_456 * mult,
                        LinkType::RAW,
                        60,
                        &d0,
                    ),
                    f(
                        1_700_000_001_000_000_000 + 999_999 * mult,
                        LinkType::RAW,
                        1514,
                        &d1,
                    ),
                    f(0, LinkType::RAW, 0, &[]),
                ];
                assert_eq!(frames, want, "magic {magic:#x} be {be}");
                assert_eq!(stats.frames, 3);
                assert_eq!(stats.bytes, 160);
                assert!(!stats.truncated);
                let src = FileSource::new(&file.bytes[..]).expect("header");
                assert_eq!(src.format(), FileFormat::Pcap);
            }
        }
    }

    #[test]
    fn pcap_modified_format_has_longer_record_headers() {
        let d = payload(42, 3);
        let file = pcap_file(
            MAGIC_MODIFIED,
            false,
            1,
            &[Rec {
                sec: 10,
                frac: 5,
                orig: 42,
                data: &d,
            }],
        );
        let (frames, _) = read_ok(&file.bytes);
        assert_eq!(frames, vec![f(10_000_005_000, LinkType::ETHERNET, 42, &d)]);
    }

    #[test]
    fn pcap_big_endian_modified_is_refused_not_misread() {
        let file = pcap_file(MAGIC_MODIFIED, true, 1, &[]);
        let err = FileSource::new(&file.bytes[..]).expect_err("refused");
        assert!(matches!(
            err,
            CaptureError::Format {
                problem: FormatError::UnsupportedMagic(_),
                ..
            }
        ));
    }

    #[test]
    fn pcap_linktype_drops_fcs_bits() {
        // Upper bits announce an FCS; the link type is still Ethernet.
        let file = pcap_file(
            MAGIC_USEC,
            false,
            0x1400_0001,
            &[Rec {
                sec: 1,
                frac: 0,
                orig: 1,
                data: &[7],
            }],
        );
        let (frames, _) = read_ok(&file.bytes);
        assert_eq!(frames[0].lt, LinkType::ETHERNET.0);
    }

    #[test]
    fn pcap_orig_len_below_caplen_is_raised() {
        let d = payload(50, 4);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[Rec {
                sec: 1,
                frac: 0,
                orig: 10,
                data: &d,
            }],
        );
        let (frames, _) = read_ok(&file.bytes);
        assert_eq!(frames[0].orig, 50);
    }

    #[test]
    fn pcap_caplen_above_snaplen_is_read() {
        // The header says snaplen 65535; the record carries more. Not trusted, not refused.
        let d = payload(70_000, 5);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[Rec {
                sec: 1,
                frac: 0,
                orig: 70_000,
                data: &d,
            }],
        );
        let (frames, _) = read_ok(&file.bytes);
        assert_eq!(frames[0].data.len(), 70_000);
    }

    #[test]
    fn header_only_file_has_no_frames() {
        let file = pcap_file(MAGIC_USEC, false, 1, &[]);
        let (frames, stats) = read_ok(&file.bytes);
        assert!(frames.is_empty());
        assert!(!stats.truncated);
        let ng = Ng::new(false).build();
        let (frames, stats) = read_ok(&ng.bytes);
        assert!(frames.is_empty());
        assert_eq!(stats.sections, 1);
    }

    #[test]
    fn not_a_capture_is_a_format_error() {
        let cases: [(&[u8], FormatError); 4] = [
            (b"", FormatError::Empty),
            (b"\xd4\xc3", FormatError::TruncatedHeader),
            (
                b"GET / HTTP/1.1\r\n\r\n",
                FormatError::UnknownMagic(0x2054_4547),
            ),
            (
                b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00",
                FormatError::BadByteOrderMagic(0),
            ),
        ];
        for (bytes, want) in cases {
            match FileSource::new(bytes) {
                Err(CaptureError::Format { offset: 0, problem }) => assert_eq!(problem, want),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
    }

    // ---- pcapng --------------------------------------------------------------------------

    /// Two sections of opposite byte orders, interfaces of different link types and
    /// resolutions, every packet block kind, and blocks to skip.
    fn sample_pcapng() -> (Built, Vec<F>) {
        let d = |n, s| payload(n, s);
        let (a, b, c, e, g, h) = (d(60, 1), d(41, 2), d(33, 3), d(50, 4), d(9, 5), d(24, 6));
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[])
            .idb(101, 65535, &[tsresol(9)])
            .idb(113, 0, &[tsresol(0x80 | 10), tsoffset(100, false)])
            .epb(0, 1_700_000_000_123_456, 80, &a)
            .block(4, &[0, 0, 0, 0], false) // name resolution
            .epb(1, 1_700_000_001_000_000_001, 41, &b)
            .block(0x0bad, &[1, 2, 3], false) // unknown type
            .epb(2, 5 * 1024 + 512, 33, &c)
            .epb_with(7, 1, 1, &[1], &[], false) // no interface 7
            .spb(50, &e)
            .pb(1, 42, 9, &g)
            .block(5, &[0; 12], false) // interface statistics
            .epb_with(
                0,
                2,
                9,
                &g,
                &[(1, b"comment".to_vec()), (2, vec![0; 4])],
                true,
            );
        // Second section, big-endian: interfaces start over.
        ng.shb(true, &[(4, b"httptop test".to_vec())])
            .idb(276, 20, &[tsresol(3), tsoffset(2, true)])
            .epb(0, 1_500, 24, &h)
            .epb_with(1, 1, 1, &[1], &[], false) // interface 1 was the previous section's
            .spb(100, &h[..20])
            .epb(0, 0, 24, &h);
        let want = vec![
            f(1_700_000_000_123_456_000, LinkType::ETHERNET, 80, &a),
            f(1_700_000_001_000_000_001, LinkType::RAW, 41, &b),
            f(105_500_000_000, LinkType::LINUX_SLL, 33, &c),
            f(105_500_000_000, LinkType::ETHERNET, 50, &e),
            f(42, LinkType::RAW, 9, &g),
            f(2_000, LinkType::ETHERNET, 9, &g),
            // Milliseconds, plus a big-endian if_tsoffset of 2 s.
            f(3_500_000_000, LinkType::LINUX_SLL2, 24, &h),
            // SPB: snaplen-long, timestamp of the last packet.
            f(3_500_000_000, LinkType::LINUX_SLL2, 100, &h[..20]),
            f(2_000_000_000, LinkType::LINUX_SLL2, 24, &h),
        ];
        (ng.build(), want)
    }

    #[test]
    fn pcapng_sections_interfaces_and_block_kinds() {
        let (file, want) = sample_pcapng();
        let (frames, stats) = read_ok(&file.bytes);
        assert_eq!(frames, want);
        assert_eq!(stats.frames, 9);
        assert_eq!(stats.sections, 2);
        assert_eq!(stats.skipped_blocks, 3);
        assert_eq!(stats.unknown_interface, 2);
        assert_eq!(stats.malformed_blocks, 0);
        assert!(!stats.truncated);
        let src = FileSource::new(&file.bytes[..]).expect("header");
        assert_eq!(src.format(), FileFormat::PcapNg);
    }

    #[test]
    fn pcapng_resolutions_convert_exactly() {
        let cases: [(u8, i64, u64, u64); 12] = [
            (6, 0, 1_234_567, 1_234_567_000),
            (9, 0, 1_234_567, 1_234_567),
            (0, 0, 7, 7_000_000_000),
            (3, 0, 7, 7_000_000),
            (12, 0, 1_234_567, 1_234),
            (19, 0, u64::MAX, 1_844_674_407),
            (29, 0, u64::MAX, 0),
            (127, 0, u64::MAX, 0),
            (0x80, 0, 3, 3_000_000_000),
            (0x80 | 30, 0, 1 << 30, 1_000_000_000),
            (0xff, 5, u64::MAX, 5_000_000_000),
            (6, i64::MIN, u64::MAX, 0),
        ];
        for (r, off, raw, ns) in cases {
            assert_eq!(
                TsConv::new(r, off).convert(raw),
                Timestamp(ns),
                "tsresol {r:#x}"
            );
        }
        // Saturates instead of wrapping.
        assert_eq!(
            TsConv::new(0, i64::MAX).convert(u64::MAX),
            Timestamp(u64::MAX)
        );
    }

    #[test]
    fn pcapng_packet_overrunning_its_block_is_skipped_and_counted() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[]);
        // caplen 200, then 9 (reaching into the trailer), in blocks with room for 8.
        for caplen in [200u32, 9] {
            let mut body = Vec::new();
            for x in [0u32, 0, 1, caplen, caplen] {
                put32(&mut body, x, false);
            }
            body.extend_from_slice(&[0; 8]);
            ng.block(EPB_TYPE, &body, false);
        }
        ng.block(SPB_TYPE, &[], false) // too short for its original length field
            .epb(0, 5, 1, &[9]);
        let (frames, stats) = read_ok(&ng.build().bytes);
        assert_eq!(frames, vec![f(5_000, LinkType::ETHERNET, 1, &[9])]);
        assert_eq!(stats.malformed_blocks, 3);
    }

    #[test]
    fn pcapng_malformed_interface_keeps_later_ids_aligned() {
        let mut ng = Ng::new(false);
        ng.block(IDB_TYPE, &[1, 0], false) // too short
            .idb(101, 0, &[])
            .epb_with(0, 1, 1, &[1], &[], false)
            .epb(1, 1, 1, &[2]);
        let (frames, stats) = read_ok(&ng.build().bytes);
        assert_eq!(frames, vec![f(1_000, LinkType::RAW, 1, &[2])]);
        assert_eq!(stats.malformed_blocks, 1);
        assert_eq!(stats.unknown_interface, 1);
    }

    #[test]
    fn pcapng_interfaces_over_cap_are_counted() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[])
            .idb(101, 0, &[])
            .epb(0, 1, 1, &[1])
            .epb_with(1, 1, 1, &[2], &[], false);
        let opts = FileOptions {
            max_interfaces: 1,
            ..FileOptions::default()
        };
        let bytes = ng.build().bytes;
        let mut src = FileSource::with_options(&bytes[..], opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none());
        assert_eq!(frames.len(), 1);
        assert_eq!(src.stats().interfaces_over_cap, 1);
        assert_eq!(src.stats().unknown_interface, 1);
    }

    #[test]
    fn pcapng_spb_is_cut_at_the_interface_snaplen() {
        // Non-conformant writers may pad an SPB beyond the snaplen; the spec's captured length
        // is min(original length, snaplen).
        let mut ng = Ng::new(false);
        ng.idb(1, 4, &[]).spb(100, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let (frames, _) = read_ok(&ng.build().bytes);
        assert_eq!(frames, vec![f(0, LinkType::ETHERNET, 100, &[1, 2, 3, 4])]);
    }

    #[test]
    fn pcapng_spb_before_any_timestamp_gets_zero() {
        let mut ng = Ng::new(true);
        ng.idb(1, 0, &[]).spb(3, &[1, 2, 3]);
        let (frames, _) = read_ok(&ng.build().bytes);
        assert_eq!(frames, vec![f(0, LinkType::ETHERNET, 3, &[1, 2, 3])]);
    }

    #[test]
    fn pcapng_broken_framing_ends_with_format_error_after_good_frames() {
        let base = || {
            let mut ng = Ng::new(false);
            ng.idb(1, 0, &[]).epb(0, 1, 1, &[1]);
            ng
        };
        let good = base().build().bytes.len();
        // Length not a multiple of 4.
        let mut bad_len = base().build().bytes;
        bad_len.extend_from_slice(&[6, 0, 0, 0, 13, 0, 0, 0]);
        bad_len.extend_from_slice(&[0; 13]);
        // Trailing length disagrees.
        let mut mismatch = base().build().bytes;
        mismatch.extend_from_slice(&[6, 0, 0, 0, 12, 0, 0, 0, 16, 0, 0, 0]);
        // A second section of an unknown major version.
        let mut version = base();
        version.shb(false, &[]);
        let mut version = version.build().bytes;
        version[good + 12] = 2;
        // A second section with a bad byte-order magic.
        let mut bom = base();
        bom.shb(false, &[]);
        let mut bom = bom.build().bytes;
        bom[good + 8] = 0;
        let cases = [
            (bad_len, FormatError::BadBlockLength(13)),
            (
                mismatch,
                FormatError::BlockLengthMismatch {
                    first: 12,
                    second: 16,
                },
            ),
            (
                version,
                FormatError::UnsupportedVersion { major: 2, minor: 0 },
            ),
            (bom, FormatError::BadByteOrderMagic(0x1A2B_3C00)),
        ];
        for (bytes, want) in cases {
            let mut src = FileSource::new(&bytes[..]).expect("header");
            let (frames, err) = drain(&mut src, 10);
            assert_eq!(frames.len(), 1, "{want:?}");
            match err {
                Some(CaptureError::Format { offset, problem }) => {
                    assert_eq!(problem, want);
                    assert_eq!(offset, good as u64);
                }
                other => panic!("{want:?}: got {other:?}"),
            }
        }
    }

    #[test]
    fn pcapng_section_header_larger_than_the_buffer() {
        let mut ng = Ng {
            be: false,
            out: Vec::new(),
            ends: Vec::new(),
        };
        ng.shb(false, &[(4, vec![b'x'; 300])])
            .idb(1, 0, &[])
            .epb(0, 1, 1, &[1]);
        let opts = FileOptions {
            buffer_size: 64,
            ..FileOptions::default()
        };
        let bytes = ng.build().bytes;
        let mut src = FileSource::with_options(Trickle::new(&bytes, 5), opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none());
        assert_eq!(frames.len(), 1);
    }

    // ---- truncation, pipes, hostile input ------------------------------------------------

    fn small_pcap() -> Built {
        let (a, b) = (payload(30, 1), payload(5, 2));
        pcap_file(
            MAGIC_NSEC,
            true,
            1,
            &[
                Rec {
                    sec: 1,
                    frac: 2,
                    orig: 30,
                    data: &a,
                },
                Rec {
                    sec: 3,
                    frac: 4,
                    orig: 5,
                    data: &b,
                },
                Rec {
                    sec: 5,
                    frac: 6,
                    orig: 0,
                    data: &[],
                },
            ],
        )
    }

    /// Cut at every byte offset and read through readers of several chunk sizes: only the
    /// complete records come out, the cut is flagged exactly when it falls inside a record,
    /// and nothing panics.
    fn check_every_truncation(file: &Built) {
        let (all, _) = read_ok(&file.bytes);
        for cut in 0..=file.bytes.len() {
            let bytes = &file.bytes[..cut];
            let complete = file.ends.iter().filter(|e| e.0 <= cut && e.1).count();
            let at_boundary = file.ends.iter().any(|e| e.0 == cut);
            for chunk in [usize::MAX, 1, 7] {
                let opened = FileSource::with_options(
                    Trickle::new(bytes, chunk),
                    FileOptions {
                        buffer_size: 64,
                        ..FileOptions::default()
                    },
                );
                let mut src = match opened {
                    Ok(src) => src,
                    Err(CaptureError::Format { .. }) if cut < file.header_len() => continue,
                    Err(e) => panic!("cut {cut}: {e}"),
                };
                assert!(cut >= file.header_len(), "cut {cut} opened");
                let (frames, err) = drain(&mut src, cut + 2);
                assert!(err.is_none(), "cut {cut} chunk {chunk}: {err:?}");
                assert_eq!(frames, all[..complete], "cut {cut} chunk {chunk}");
                let stats = src.stats();
                assert_eq!(stats.truncated, !at_boundary, "cut {cut}");
                let last_end = file
                    .ends
                    .iter()
                    .rev()
                    .find(|e| e.0 <= cut)
                    .map_or(0, |e| e.0);
                assert_eq!(stats.truncated_bytes, (cut - last_end) as u64, "cut {cut}");
            }
        }
    }

    #[test]
    fn pcap_every_truncation_yields_only_complete_records() {
        check_every_truncation(&small_pcap());
    }

    #[test]
    fn pcapng_every_truncation_yields_only_complete_records() {
        check_every_truncation(&sample_pcapng().0);
    }

    #[test]
    fn interrupted_reads_are_retried() {
        let (file, want) = sample_pcapng();
        let mut input = Trickle::new(&file.bytes, 3);
        input.interrupt = true;
        let mut src = FileSource::new(input).expect("header");
        let (frames, err) = drain(&mut src, 100);
        assert!(err.is_none());
        assert_eq!(frames, want);
    }

    #[test]
    fn read_errors_keep_the_os_error_after_the_good_frames() {
        let file = small_pcap();
        let mut input = Trickle::new(&file.bytes, 8);
        input.fail_at = Some(file.ends[1].0);
        let mut src = FileSource::new(input).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        match err {
            Some(CaptureError::Io(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("{other:?}"),
        }
    }

    /// The read-ahead thread and the caller's thread read the same frames, whatever the
    /// chunking: records spanning chunks, records longer than the headroom (grown buffer),
    /// reads that return a few bytes or are interrupted.
    #[test]
    fn read_ahead_reads_what_inline_reading_reads() {
        let mut rng = Rng(7);
        let mut recs_data = Vec::new();
        for i in 0..300 {
            let n = match i % 50 {
                0 => 20_000,
                _ => rng.below(1500),
            };
            recs_data.push(payload(n, i as u8));
        }
        let recs: Vec<Rec<'_>> = recs_data
            .iter()
            .enumerate()
            .map(|(i, d)| Rec {
                sec: i as u32,
                frac: 0,
                orig: d.len() as u32,
                data: d,
            })
            .collect();
        let pcap = pcap_file(MAGIC_USEC, false, 1, &recs).bytes;
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[]);
        for (i, d) in recs_data.iter().enumerate() {
            ng.epb(0, i as u64, d.len() as u32, d);
        }
        let ng = ng.build().bytes;
        for bytes in [pcap, ng] {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            for (buffer_size, trickle) in [(4096, 1000), (4096, 4096), (1 << 20, 1 << 20), (64, 7)]
            {
                let opts = FileOptions {
                    buffer_size,
                    ..FileOptions::default()
                };
                let mut inline =
                    FileSource::with_options(Trickle::new(bytes, trickle), opts).expect("header");
                let (want, err) = drain(&mut inline, 1000);
                assert!(err.is_none());
                assert_eq!(want.len(), 300);
                let mut input = Trickle::new(bytes, trickle);
                input.interrupt = true;
                let mut ahead = FileSource::with_options(input, opts).expect("header");
                ahead.start_read_ahead().expect("thread");
                let (got, err) = drain(&mut ahead, 1000);
                assert!(err.is_none(), "{err:?}");
                assert!(got == want, "buffer {buffer_size}, reads of {trickle}");
                assert_eq!(ahead.stats(), inline.stats());
            }
        }
    }

    #[test]
    fn read_ahead_reports_read_errors_after_the_good_frames() {
        let file = small_pcap();
        let bytes: &'static [u8] = Box::leak(file.bytes.clone().into_boxed_slice());
        let mut input = Trickle::new(bytes, 8);
        input.fail_at = Some(file.ends[1].0);
        let mut src = FileSource::new(input).expect("header");
        src.start_read_ahead().expect("thread");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        match err {
            Some(CaptureError::Io(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("{other:?}"),
        }
    }

    /// Random bytes after a valid header, and random mutations of valid files: every read
    /// ends (bounded number of calls) and no frame exceeds the input.
    #[test]
    fn hostile_input_never_panics_or_loops() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let pcap = small_pcap().bytes;
        let ng = sample_pcapng().0.bytes;
        let small = FileOptions {
            buffer_size: 128,
            max_record_size: 64 << 10,
            ..FileOptions::default()
        };
        for round in 0..6000 {
            let base = if round % 2 == 0 { &pcap } else { &ng };
            let mut bytes = if round % 3 == 0 {
                // Header, then noise.
                let hdr = if round % 2 == 0 { 24 } else { 28 };
                let mut v = base[..hdr].to_vec();
                let n = rng.below(600);
                v.extend((0..n).map(|_| rng.next() as u8));
                v
            } else {
                // Flip a few bytes, sometimes cut.
                let mut v = base.clone();
                for _ in 0..1 + rng.below(6) {
                    let i = rng.below(v.len());
                    v[i] = rng.next() as u8;
                }
                if rng.below(4) == 0 {
                    v.truncate(rng.below(v.len()));
                }
                v
            };
            // Small length fields reach deeper than uniform noise.
            if round % 5 == 0 {
                for b in bytes.iter_mut().skip(28) {
                    *b &= 0x1f;
                }
            }
            let opts = if round % 100 == 0 {
                FileOptions::default()
            } else {
                small
            };
            let Ok(mut src) = FileSource::with_options(Trickle::new(&bytes, 61), opts) else {
                continue;
            };
            let (frames, _err) = drain(&mut src, bytes.len() / 12 + 2);
            for fr in &frames {
                assert!(fr.data.len() <= bytes.len(), "round {round}");
            }
        }
    }

    // ---- buffer growth and the record cap ------------------------------------------------

    #[test]
    fn record_larger_than_the_buffer_grows_it() {
        let big = payload(100_000, 9);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[
                Rec {
                    sec: 1,
                    frac: 0,
                    orig: 3,
                    data: &[1, 2, 3],
                },
                Rec {
                    sec: 2,
                    frac: 0,
                    orig: 100_000,
                    data: &big,
                },
                Rec {
                    sec: 3,
                    frac: 0,
                    orig: 1,
                    data: &[4],
                },
            ],
        );
        let opts = FileOptions {
            buffer_size: 4096,
            ..FileOptions::default()
        };
        let mut src =
            FileSource::with_options(Trickle::new(&file.bytes, 1000), opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].data, big);
        assert!(src.buf.capacity >= 100_016);
    }

    #[test]
    fn record_larger_than_the_default_buffer_is_read() {
        let big = payload(3 << 20, 8);
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[])
            .epb(0, 1, 1, &[1])
            .epb(0, 2, big.len() as u32, &big)
            .epb(0, 3, 1, &[3]);
        let bytes = ng.build().bytes;
        let opts = FileOptions {
            max_record_size: 4 << 20,
            ..FileOptions::default()
        };
        let mut src = FileSource::with_options(&bytes[..], opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].data, big);
    }

    #[test]
    fn record_over_the_cap_is_an_error_without_allocation() {
        let big = payload(100 << 10, 7);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[
                Rec {
                    sec: 1,
                    frac: 0,
                    orig: 1,
                    data: &[1],
                },
                Rec {
                    sec: 2,
                    frac: 0,
                    orig: 1,
                    data: &big,
                },
            ],
        );
        let opts = FileOptions {
            buffer_size: 4096,
            max_record_size: 64 << 10,
            ..FileOptions::default()
        };
        let mut src = FileSource::with_options(&file.bytes[..], opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        match err {
            Some(CaptureError::RecordTooLarge { offset, size, max }) => {
                assert_eq!(offset, file.ends[1].0 as u64);
                assert_eq!(size, (100 << 10) + 16);
                assert_eq!(max, 64 << 10);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(src.buf.capacity, 4096);
    }

    #[test]
    fn lying_lengths_over_the_default_cap_do_not_allocate() {
        // A pcap record header claiming 64 MiB + 1 bytes, and a pcapng block claiming 1 GiB,
        // with no data behind either.
        let mut pcap = pcap_file(MAGIC_USEC, false, 1, &[]).bytes;
        for x in [1u32, 0, (64 << 20) + 1, 10] {
            put32(&mut pcap, x, false);
        }
        let mut ng = Ng::new(false).build().bytes;
        put32(&mut ng, EPB_TYPE, false);
        put32(&mut ng, 1 << 30, false);
        put32(&mut ng, 0, false);
        for bytes in [pcap, ng] {
            let mut src = FileSource::new(&bytes[..]).expect("header");
            let (_, err) = drain(&mut src, 10);
            assert!(
                matches!(err, Some(CaptureError::RecordTooLarge { .. })),
                "{err:?}"
            );
            assert_eq!(src.buf.capacity, DEFAULT_BUFFER_SIZE);
        }
        // A section header claiming 64 MiB in a 12-byte file: over the cap, refused before
        // anything is read for it; one claiming 512 KiB: refused as truncated, and only
        // what was actually read is held.
        let shb = b"\x0a\x0d\x0d\x0a\x00\x00\x00\x04\x4d\x3c\x2b\x1a";
        assert!(matches!(
            FileSource::new(&shb[..]),
            Err(CaptureError::RecordTooLarge { .. })
        ));
        let shb = b"\x0a\x0d\x0d\x0a\x00\x00\x08\x00\x4d\x3c\x2b\x1a";
        assert!(matches!(
            FileSource::new(&shb[..]),
            Err(CaptureError::Format {
                problem: FormatError::TruncatedHeader,
                ..
            })
        ));
    }

    // ---- the real corpus -----------------------------------------------------------------

    /// Every capture of ../shared/corpus: the frame count is tshark's and the first frame's
    /// link type matches tshark's encapsulation name.
    #[test]
    fn corpus_matches_tshark_oracle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
        let pcaps = root.join("pcaps");
        let Ok(dir) = std::fs::read_dir(&pcaps) else {
            eprintln!("skipping: no corpus at {}", pcaps.display());
            return;
        };
        let summary = std::fs::read_to_string(root.join("oracle/summary.json"))
            .expect("corpus without oracle/summary.json");
        let summary: serde_json::Value = serde_json::from_str(&summary).expect("summary.json");
        let mut checked = 0;
        for entry in dir {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name");
            let oracle = &summary["files"][name];
            let want = oracle["packets"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: not in summary.json"));
            let want_lt: &[u32] = match oracle["linktype"].as_str() {
                Some("ether") => &[1],
                Some("linux-sll") => &[113],
                Some("linux-sll2") => &[276],
                Some("rawip") => &[12, 14, 101],
                Some("rawip4") => &[228],
                Some("rawip6") => &[229],
                Some("null") => &[0],
                Some("loop") => &[108],
                other => panic!("{name}: unmapped tshark encapsulation {other:?}"),
            };
            let mut src = FileSource::open(&path).expect("open");
            let mut first_lt = None;
            let mut n = 0u64;
            while let Some(fr) = src.next_frame().unwrap_or_else(|e| panic!("{name}: {e}")) {
                first_lt.get_or_insert(fr.linktype.0);
                n += 1;
            }
            assert_eq!(n, want, "{name}: frame count");
            let lt = first_lt.unwrap_or_else(|| panic!("{name}: no frames"));
            assert!(want_lt.contains(&lt), "{name}: link type {lt}");
            assert_eq!(
                src.stats().truncated,
                name == "sv-mime-truncated.pcap",
                "{name}: truncation flag"
            );
            checked += 1;
        }
        assert!(checked > 0, "empty corpus directory");
    }
}
