//! Classic pcap: the global header (both byte orders, microsecond and nanosecond
//! magics, the little-endian "modified" variant) and its fixed-size record headers.

use std::io::Read;

use httptop_wire::{LinkType, Timestamp};

use super::read_ahead::{read_full, Buf, Input};
use super::resync::{is_header_word, sniff_header, Step};
use super::{format_err, u32_at, FileOptions, FileSource, FileStats, Kind, Record, NANOS_PER_SEC};
use crate::error::{CaptureError, FormatError};

/// Length of the pcap file header.
pub(super) const HEADER_LEN: usize = 24;

impl<R: Read> FileSource<R> {
    pub(super) fn open_pcap(
        mut reader: R,
        magic: [u8; 4],
        opts: FileOptions,
    ) -> Result<Self, CaptureError> {
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&magic);
        // The magic is checked before anything more is read.
        pcap_layout(&header).map_err(|e| format_err(0, e))?;
        if read_full(&mut reader, &mut header[4..])? != 20 {
            return Err(format_err(0, FormatError::TruncatedHeader));
        }
        let layout = pcap_layout(&header).map_err(|e| format_err(0, e))?;
        // The header is checked; records start after it.
        let buf = Buf::new(Input::new(Vec::new(), reader), header.len() as u64, &opts);
        let stats = FileStats {
            sections: 1,
            ..FileStats::default()
        };
        Ok(FileSource::from_parts(buf, Kind::Pcap(layout), opts, stats))
    }
}

/// The layout a pcap file header announces (`header`: at least the 4-byte magic; the
/// fields after it read as zero when absent).
pub(super) fn pcap_layout(header: &[u8]) -> Result<PcapLayout, FormatError> {
    let magic_le = u32_at(header, 0, false);
    // (big endian, nanoseconds per fraction unit, record header length)
    let (be, frac_mult, rec_hdr) = match magic_le {
        0xa1b2_c3d4 => (false, 1_000, 16),
        0xa1b2_3c4d => (false, 1, 16),
        0xa1b2_cd34 => (false, 1_000, 24),
        0xd4c3_b2a1 => (true, 1_000, 16),
        0x4d3c_b2a1 => (true, 1, 16),
        // The big-endian "modified" header: refused, not guessed at; no such file is
        // known in the wild to check a reading against.
        0x34cd_b2a1 => return Err(FormatError::UnsupportedMagic(magic_le)),
        other => return Err(FormatError::UnknownMagic(other)),
    };
    Ok(PcapLayout {
        be,
        frac_mult,
        rec_hdr,
        snaplen: u32_at(header, 16, be),
        // Upper bits carry FCS information; libpcap's LT_LINKTYPE keeps these 26.
        linktype: LinkType(u32_at(header, 20, be) & 0x03FF_FFFF),
    })
}

pub(super) fn next_pcap<R: Read>(
    buf: &mut Buf<R>,
    l: PcapLayout,
    stats: &mut FileStats,
) -> Result<Step, CaptureError> {
    if !buf.ensure(l.rec_hdr)? {
        return Ok(buf.end(stats));
    }
    let mut h = record_header(buf.data());
    if is_header_word(u32::from_le_bytes([h[0], h[1], h[2], h[3]])) {
        // Rare (a timestamp equal to a magic number, or captures concatenated): off the
        // per-record path.
        if let Some(header) = sniff_header(buf)? {
            return Ok(Step::Header(header));
        }
        // The same bytes, possibly moved to a new chunk.
        h = record_header(buf.data());
    }
    let word = |i: usize| {
        let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
        if l.be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let (sec, frac, caplen, orig_len) = (word(0), word(4), word(8), word(12));
    let total = (caplen as usize).saturating_add(l.rec_hdr);
    if total > buf.max_record {
        return Ok(Step::Damaged(FormatError::RecordTooLong {
            len: caplen,
            max: buf.max_record as u64,
        }));
    }
    if !buf.ensure(total)? {
        return Ok(buf.end(stats));
    }
    let ns = u64::from(sec)
        .saturating_mul(NANOS_PER_SEC)
        .saturating_add(u64::from(frac).saturating_mul(l.frac_mult));
    Ok(Step::Record(Record {
        start: l.rec_hdr,
        len: caplen as usize,
        total,
        ts: Timestamp(ns),
        linktype: l.linktype,
        orig_len,
    }))
}

/// The four fields every record header starts with (timestamp seconds and fraction,
/// captured and original length), copied out of `d` once `ensure` has made them
/// available (all zeros otherwise, which cannot happen).
#[inline]
fn record_header(d: &[u8]) -> [u8; 16] {
    d.first_chunk().copied().unwrap_or([0; 16])
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PcapLayout {
    pub(super) be: bool,
    /// Nanoseconds per unit of the sub-second field.
    pub(super) frac_mult: u64,
    /// Record header length: 16, or 24 in the modified format.
    pub(super) rec_hdr: usize,
    /// The header's snaplen: not trusted for sizing, only to judge a record after damage.
    pub(super) snaplen: u32,
    linktype: LinkType,
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::*;

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

    #[test]
    fn pcap_every_truncation_yields_only_complete_records() {
        check_every_truncation(&small_pcap());
    }
}
