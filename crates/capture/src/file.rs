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
//!   [`FileOptions::max_record_size`] (default 64 MiB); a record claiming more is
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
//! The buffering is pcap-parser's streaming readers ([`LegacyPcapReader`], [`PcapNGReader`]:
//! `refill`, `grow`, `consume_noshift`). Records are framed and decoded here rather than with
//! their `next()`, because that path allocates a `Vec` for the options of every Enhanced
//! Packet Block that has any, reports a packet whose `caplen` overruns its (complete) block as
//! "incomplete" (so a corrupt file would read as truncated), does not know obsolete Packet
//! Blocks, and reads `if_tsoffset` little-endian even in big-endian sections.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use httptop_wire::{Frame, LinkType, Timestamp};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapNGReader};

use crate::error::{CaptureError, FormatError};

/// Initial read buffer: large sequential reads are what makes file replay fast.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;
/// Largest record (pcap record header + data, or whole pcapng block) the reader will buffer.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 64 << 20;
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

/// What a [`FileSource`] has read so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileStats {
    /// Frames yielded.
    pub frames: u64,
    /// Captured bytes of the frames yielded.
    pub bytes: u64,
    /// The input ended inside a record (a cut-short file).
    pub truncated: bool,
    /// Bytes of that incomplete trailing record, dropped.
    pub truncated_bytes: u64,
    /// pcapng sections seen.
    pub sections: u64,
    /// pcapng blocks that carry no packet and were skipped (statistics, name resolution,
    /// decryption secrets, custom, unknown types...).
    pub skipped_blocks: u64,
    /// Packets naming an interface not described in their section; skipped.
    pub unknown_interface: u64,
    /// Packet or interface blocks whose own lengths disagree (e.g. a `caplen` overrunning the
    /// block); skipped.
    pub malformed_blocks: u64,
    /// Interface descriptions beyond [`FileOptions::max_interfaces`]; ignored.
    pub interfaces_over_cap: u64,
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
        let (input, io_error) = Input::new(header.to_vec(), reader);
        let capacity = opts.buffer_size;
        let reader = LegacyPcapReader::new(capacity, input)
            .map_err(|_| take_io_error(&io_error, FormatError::TruncatedHeader))?;
        let mut buf = Buf {
            reader: Reader::Pcap(reader),
            capacity,
            max_record: opts.max_record_size,
            io_error,
        };
        // The header is checked; records start after it.
        buf.consume(header.len());
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
        let (input, io_error) = Input::new(shb, reader);
        let capacity = opts.buffer_size.max(blen);
        let reader = PcapNGReader::new(capacity, input)
            .map_err(|_| take_io_error(&io_error, FormatError::BadBlockLength(blen32)))?;
        Ok(FileSource {
            buf: Buf {
                reader: Reader::Ng(reader),
                capacity,
                max_record: opts.max_record_size,
                io_error,
            },
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
struct Buf<R: Read> {
    reader: Reader<R>,
    /// Current buffer capacity (pcap-parser does not expose it).
    capacity: usize,
    max_record: usize,
    /// The real I/O error behind pcap-parser's opaque `ReadError`.
    io_error: Arc<Mutex<Option<io::Error>>>,
}

enum Reader<R: Read> {
    Pcap(LegacyPcapReader<Input<R>>),
    Ng(PcapNGReader<Input<R>>),
}

impl<R: Read> Buf<R> {
    #[inline]
    fn data(&self) -> &[u8] {
        match &self.reader {
            Reader::Pcap(r) => r.data(),
            Reader::Ng(r) => r.data(),
        }
    }

    /// Drops `n` bytes from the front. No shift: the next refill moves the (short) tail once.
    #[inline]
    fn consume(&mut self, n: usize) {
        match &mut self.reader {
            Reader::Pcap(r) => r.consume_noshift(n),
            Reader::Ng(r) => r.consume_noshift(n),
        }
    }

    /// Input offset of the first buffered byte.
    fn offset(&self) -> u64 {
        let n = match &self.reader {
            Reader::Pcap(r) => r.consumed(),
            Reader::Ng(r) => r.consumed(),
        };
        n as u64
    }

    fn exhausted(&self) -> bool {
        match &self.reader {
            Reader::Pcap(r) => r.reader_exhausted(),
            Reader::Ng(r) => r.reader_exhausted(),
        }
    }

    /// Makes at least `needed` bytes available, growing the buffer when the record is larger
    /// than it. Callers have checked `needed` against the cap. `Ok(false)` at end of input.
    fn ensure(&mut self, needed: usize) -> Result<bool, CaptureError> {
        loop {
            if self.data().len() >= needed {
                return Ok(true);
            }
            if self.exhausted() {
                return Ok(false);
            }
            if needed > self.capacity {
                let new_cap = needed.max(self.capacity.saturating_mul(2).min(self.max_record));
                match &mut self.reader {
                    Reader::Pcap(r) => r.grow(new_cap),
                    Reader::Ng(r) => r.grow(new_cap),
                };
                self.capacity = new_cap;
            }
            // Shifts the partial record to the front and reads into the free space, which is
            // not empty since fewer than `needed <= capacity` bytes are buffered: each turn
            // reads something or marks the reader exhausted.
            let ok = match &mut self.reader {
                Reader::Pcap(r) => r.refill().is_ok(),
                Reader::Ng(r) => r.refill().is_ok(),
            };
            if !ok {
                let e = self
                    .io_error
                    .lock()
                    .ok()
                    .and_then(|mut slot| slot.take())
                    .unwrap_or_else(|| io::Error::other("read failed"));
                return Err(CaptureError::Io(e));
            }
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

/// Feeds the already-read header back, then the rest of the input; retries interrupted
/// reads and keeps the real error for [`Buf::ensure`].
struct Input<R> {
    prefix: Vec<u8>,
    pos: usize,
    inner: R,
    error: Arc<Mutex<Option<io::Error>>>,
}

impl<R> Input<R> {
    fn new(prefix: Vec<u8>, inner: R) -> (Self, Arc<Mutex<Option<io::Error>>>) {
        let error = Arc::new(Mutex::new(None));
        let input = Input {
            prefix,
            pos: 0,
            inner,
            error: Arc::clone(&error),
        };
        (input, error)
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
        loop {
            match self.inner.read(out) {
                Ok(n) => return Ok(n.min(out.len())),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kind = e.kind();
                    if let Ok(mut slot) = self.error.lock() {
                        *slot = Some(e);
                    }
                    return Err(kind.into());
                }
            }
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

fn take_io_error(slot: &Mutex<Option<io::Error>>, otherwise: FormatError) -> CaptureError {
    match slot.lock().ok().and_then(|mut s| s.take()) {
        Some(e) => CaptureError::Io(e),
        None => format_err(0, otherwise),
    }
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
