//! IPv4 header.
//!
//! Contract: [`parse`] checks the version, the header length (IHL >= 5 and within the
//! capture) and the total length once, then reads only from a fixed 20-byte array. The body
//! it returns is trimmed to the total length, so Ethernet padding is dropped; a total length
//! of 0 (seen on captures of TSO/LRO super-segments) means "use what was captured". Every
//! fragment, first or later, is reported as [`Ip::Fragment`] whatever its protocol; a packet
//! with only DF set is not a fragment. Options are skipped, not interpreted.

use std::net::{IpAddr, Ipv4Addr};

use crate::encap::Encap;
use crate::error::{DecodeError, Layer};
use crate::ip::{trim, Ip, IpBody, IpFragment, PROTO_TCP};

const MIN_HEADER_LEN: usize = 20;
/// More-fragments flag and 13-bit fragment offset (DF and the reserved bit are excluded).
const FRAGMENT_MASK: u16 = 0x3fff;

#[inline]
pub(crate) fn parse(packet: &[u8]) -> Result<Ip<'_>, DecodeError> {
    let (h, _) = packet
        .split_first_chunk::<MIN_HEADER_LEN>()
        .ok_or(DecodeError::Truncated { layer: Layer::Ipv4 })?;
    let version = h[0] >> 4;
    if version != 4 {
        return Err(DecodeError::BadIpVersion(version));
    }
    let header_len = usize::from(h[0] & 0x0f) * 4;
    if header_len < MIN_HEADER_LEN {
        return Err(DecodeError::BadHeaderLength { layer: Layer::Ipv4 });
    }
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let (packet, missing, announced) = if total_len == 0 {
        (packet, 0, false)
    } else if total_len < header_len {
        return Err(DecodeError::BadTotalLength { layer: Layer::Ipv4 });
    } else {
        let (kept, missing) = trim(packet, total_len);
        (kept, missing, true)
    };
    // header_len <= total_len here, so running out of bytes means the capture was cut.
    let bytes = packet
        .get(header_len..)
        .ok_or(DecodeError::Truncated { layer: Layer::Ipv4 })?;

    let body = IpBody {
        bytes,
        missing,
        announced,
    };
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    let frag = u16::from_be_bytes([h[6], h[7]]);
    if frag & FRAGMENT_MASK != 0 {
        return Ok(Ip::Fragment(IpFragment {
            src,
            dst,
            id: u32::from(u16::from_be_bytes([h[4], h[5]])),
            proto: h[9],
            offset: (frag & 0x1fff) << 3,
            more: frag & 0x2000 != 0,
            payload: body.bytes,
            payload_missing: body.missing,
            encap: Encap::NONE,
        }));
    }
    if h[9] != PROTO_TCP {
        return Ok(Ip::Other {
            v6: false,
            proto: h[9],
            body,
        });
    }
    Ok(Ip::Tcp { src, dst, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const SRC: [u8; 4] = [192, 0, 2, 1];
    const DST: [u8; 4] = [198, 51, 100, 7];

    fn body(r: Result<Ip<'_>, DecodeError>) -> IpBody<'_> {
        match r {
            Ok(Ip::Tcp { body, .. }) => body,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn plain_tcp() {
        let p = Ipv4B::new(SRC, DST, PROTO_TCP, b"segment").build();
        match parse(&p) {
            Ok(Ip::Tcp { src, dst, body }) => {
                assert_eq!(src, IpAddr::from(SRC));
                assert_eq!(dst, IpAddr::from(DST));
                assert_eq!(body.bytes, b"segment");
                assert_eq!(body.missing, 0);
                assert!(body.announced);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn trailer_after_total_length_is_trimmed() {
        let mut p = Ipv4B::new(SRC, DST, PROTO_TCP, b"abc").build();
        p.extend_from_slice(&[0xee; 20]);
        assert_eq!(body(parse(&p)).bytes, b"abc");
    }

    #[test]
    fn total_length_zero_uses_captured_length() {
        let mut b = Ipv4B::new(SRC, DST, PROTO_TCP, b"tso super-segment");
        b.total_len = Some(0);
        let p = b.build();
        let body = body(parse(&p));
        assert_eq!(body.bytes, b"tso super-segment");
        assert_eq!(body.missing, 0);
        assert!(!body.announced);
    }

    #[test]
    fn cut_capture_counts_missing_bytes() {
        let p = Ipv4B::new(SRC, DST, PROTO_TCP, &[7; 100]).build();
        let body = body(parse(&p[..60]));
        assert_eq!(body.bytes, &[7; 40][..]);
        assert_eq!(body.missing, 60);
    }

    #[test]
    fn fragments_first_middle_last() {
        // (flags+offset field, is fragment)
        let cases = [
            (0x2000, true),       // first: MF, offset 0
            (0x2000 | 185, true), // middle: MF, offset 1480
            (185, true),          // last: offset only
            (0x4000, false),      // DF only
            (0x0000, false),
            (0x8000, false), // reserved ("evil") bit is not fragmentation
        ];
        for (field, is_frag) in cases {
            for proto in [PROTO_TCP, 17] {
                let mut b = Ipv4B::new(SRC, DST, proto, &[0; 8]);
                b.frag = field;
                let p = b.build();
                let r = parse(&p);
                match r {
                    Ok(Ip::Fragment(f)) => {
                        assert!(is_frag, "{field:#06x}");
                        assert_eq!((f.proto, f.payload), (proto, &[0u8; 8][..]));
                        assert_eq!(f.offset, (field & 0x1fff) << 3);
                        assert_eq!(f.more, field & 0x2000 != 0);
                    }
                    _ => assert!(!is_frag, "{field:#06x}"),
                }
            }
        }
    }

    #[test]
    fn other_protocols() {
        for proto in [1, 17, 41, 47, 50, 132] {
            let p = Ipv4B::new(SRC, DST, proto, &[0; 8]).build();
            assert!(
                matches!(parse(&p), Ok(Ip::Other { v6: false, proto: p, body }) if p == proto && body.bytes == [0; 8]),
                "protocol {proto}"
            );
        }
    }

    #[test]
    fn options_are_skipped() {
        for words in 1..=10 {
            let mut b = Ipv4B::new(SRC, DST, PROTO_TCP, b"after options");
            b.options = vec![1; words * 4]; // NOPs
            let p = b.build();
            assert_eq!(p[0] & 0x0f, 5 + words as u8);
            assert_eq!(body(parse(&p)).bytes, b"after options");
        }
    }

    #[test]
    fn header_length_below_minimum() {
        for ihl in 0..5 {
            let mut p = Ipv4B::new(SRC, DST, PROTO_TCP, &[0; 40]).build();
            p[0] = 0x40 | ihl;
            assert_eq!(
                parse(&p),
                Err(DecodeError::BadHeaderLength { layer: Layer::Ipv4 })
            );
        }
    }

    #[test]
    fn total_length_below_header_length() {
        let mut b = Ipv4B::new(SRC, DST, PROTO_TCP, &[0; 40]);
        b.total_len = Some(19);
        assert_eq!(
            parse(&b.build()),
            Err(DecodeError::BadTotalLength { layer: Layer::Ipv4 })
        );
        // Equal to the header length is a valid empty body.
        b.total_len = Some(20);
        assert_eq!(body(parse(&b.build())).bytes, b"");
    }

    #[test]
    fn options_cut_by_the_capture() {
        let mut b = Ipv4B::new(SRC, DST, PROTO_TCP, &[0; 40]);
        b.options = vec![1; 40];
        let p = b.build();
        assert_eq!(
            parse(&p[..50]),
            Err(DecodeError::Truncated { layer: Layer::Ipv4 })
        );
    }

    #[test]
    fn wrong_version() {
        let mut p = Ipv4B::new(SRC, DST, PROTO_TCP, &[0; 40]).build();
        p[0] = 0x65;
        assert_eq!(parse(&p), Err(DecodeError::BadIpVersion(6)));
    }

    #[test]
    fn every_prefix_is_truncated_or_shorter() {
        let p = Ipv4B::new(SRC, DST, PROTO_TCP, &[9; 30]).build();
        for n in 0..p.len() {
            match parse(&p[..n]) {
                Err(DecodeError::Truncated { layer: Layer::Ipv4 }) => assert!(n < 20),
                Ok(Ip::Tcp { body, .. }) => {
                    assert_eq!(body.bytes.len(), n - 20);
                    assert_eq!(body.missing as usize, p.len() - n);
                }
                other => panic!("prefix {n}: {other:?}"),
            }
        }
    }
}
