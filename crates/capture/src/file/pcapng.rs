//! pcapng: sections (byte order per section), interfaces (link type, snaplen,
//! `if_tsresol`, `if_tsoffset`), Enhanced, Simple and obsolete Packet Blocks; every other
//! block is skipped and counted.

use std::io::Read;

use httptop_wire::{LinkType, Timestamp};

use super::read_ahead::{read_full, Buf, Input};
use super::resync::{is_header_word, sniff_header, Header, Step};
use super::{
    format_err, too_large, u16_at, u32_at, FileOptions, FileSource, FileStats, Kind, Record,
    NANOS_PER_SEC,
};
use crate::error::{CaptureError, FormatError};

pub(super) const SHB_TYPE: u32 = 0x0A0D_0D0A;
pub(super) const IDB_TYPE: u32 = 0x0000_0001;
pub(super) const PB_TYPE: u32 = 0x0000_0002;
pub(super) const SPB_TYPE: u32 = 0x0000_0003;
pub(super) const EPB_TYPE: u32 = 0x0000_0006;
pub(super) const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

pub(super) const OPT_ENDOFOPT: u16 = 0;
pub(super) const OPT_IF_TSRESOL: u16 = 9;
pub(super) const OPT_IF_TSOFFSET: u16 = 14;

impl<R: Read> FileSource<R> {
    pub(super) fn open_pcapng(
        mut reader: R,
        magic: [u8; 4],
        opts: FileOptions,
    ) -> Result<Self, CaptureError> {
        // The first Section Header Block is read whole and checked here (a pipe may hand it
        // over in pieces), then replayed through `Input` to the block loop.
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
        // The SHB is left in the buffer: the block loop reads it like any other.
        Ok(FileSource::from_parts(
            Buf::new(Input::new(shb, reader), 0, &opts),
            Kind::Ng(NgState::new()),
            opts,
            FileStats::default(),
        ))
    }
}

pub(super) fn next_pcapng<R: Read>(
    buf: &mut Buf<R>,
    ng: &mut NgState,
    opts: &FileOptions,
    stats: &mut FileStats,
) -> Result<Step, CaptureError> {
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
                m => return damaged(buf, FormatError::BadByteOrderMagic(m)),
            }
        } else {
            ng.be
        };
        let btype = u32_at(d, 0, be);
        let blen32 = u32_at(d, 4, be);
        if blen32 < 12 || blen32 % 4 != 0 {
            return damaged(buf, FormatError::BadBlockLength(blen32));
        }
        let blen = blen32 as usize;
        if blen > buf.max_record {
            return damaged(
                buf,
                FormatError::BlockTooLong {
                    len: blen32,
                    max: buf.max_record as u64,
                },
            );
        }
        if !buf.ensure(blen)? {
            return Ok(buf.end(stats));
        }
        let block = buf.data().get(..blen).unwrap_or(&[]);
        let trailer = u32_at(block, blen - 4, be);
        if trailer != blen32 {
            return damaged(
                buf,
                FormatError::BlockLengthMismatch {
                    first: blen32,
                    second: trailer,
                },
            );
        }
        let found = match btype {
            SHB_TYPE => {
                if blen < 28 {
                    return damaged(buf, FormatError::BadBlockLength(blen32));
                }
                let (major, minor) = (u16_at(block, 12, be), u16_at(block, 14, be));
                if major != 1 {
                    return damaged(buf, FormatError::UnsupportedVersion { major, minor });
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
            Some(rec) => return Ok(Step::Record(rec)),
            None => buf.consume(blen),
        }
    }
}

/// A block whose framing is broken: a pcap file header there starts a new section (pcap
/// captures concatenated after this one), anything else is damage.
#[cold]
fn damaged<R: Read>(buf: &mut Buf<R>, problem: FormatError) -> Result<Step, CaptureError> {
    if is_header_word(u32_at(buf.data(), 0, false)) {
        // Only a pcap header: a valid SHB never reaches here.
        if let Some(h @ Header::Pcap(_)) = sniff_header(buf)? {
            return Ok(Step::Header(h));
        }
    }
    Ok(Step::Damaged(problem))
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

pub(super) struct NgState {
    /// Byte order of the current section.
    pub(super) be: bool,
    /// Interfaces of the current section by id; `None` for a malformed description.
    interfaces: Vec<Option<Interface>>,
    /// Timestamp of the last timestamped packet, for Simple Packet Blocks.
    last_ts: Timestamp,
}

impl NgState {
    /// Before the first Section Header Block is read.
    pub(super) fn new() -> Self {
        NgState {
            be: false,
            interfaces: Vec::new(),
            last_ts: Timestamp::ZERO,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;
    use super::*;

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
    fn pcapng_broken_framing_is_damage_named_at_its_offset() {
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
        // Nothing plausible follows: everything after the good frame is skipped.
        for (bytes, want) in cases {
            let mut src = FileSource::new(&bytes[..]).expect("header");
            let (frames, err) = drain(&mut src, 10);
            assert_eq!(frames.len(), 1, "{want:?}");
            assert!(err.is_none(), "{want:?}: {err:?}");
            let d = src.take_damage().expect("damage reported");
            assert_eq!(d.problem, want);
            assert_eq!(d.offset, good as u64);
            assert_eq!(d.resumed, Resumed::End);
            assert_eq!(d.skipped, (bytes.len() - good) as u64);
            assert_eq!(src.stats().skipped_bytes, d.skipped);
            assert_eq!(src.stats().resyncs, 1);
            assert!(src.take_damage().is_none());
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

    #[test]
    fn pcapng_every_truncation_yields_only_complete_records() {
        check_every_truncation(&sample_pcapng().0);
    }
}
