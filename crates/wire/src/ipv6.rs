//! IPv6 fixed header and extension-header chain.
//!
//! Contract: [`parse`] checks the version and the 40-byte fixed header once, trims the body
//! to the payload length (0, as in jumbograms and TSO captures, means "use what was
//! captured"), then walks at most [`MAX_IPV6_EXT_HEADERS`] extension headers, each
//! length-checked before it is skipped. Hop-by-hop, routing and destination options are
//! skipped; a fragment header that is a real fragment (nonzero offset or M set) gives
//! [`Ip::Fragment`], while an atomic fragment (RFC 6946: offset 0, M clear) is a whole packet
//! and is skipped like the others; AH is skipped using its own length unit (4-byte words,
//! minus 2). "No next header", ESP, and every other protocol give [`Ip::Other`].
//!
//! [`MAX_IPV6_EXT_HEADERS`]: crate::MAX_IPV6_EXT_HEADERS

use std::net::{IpAddr, Ipv6Addr};

use crate::encap::Encap;
use crate::error::{DecodeError, Layer};
use crate::ip::{trim, Ip, IpBody, IpFragment, PROTO_TCP};
use crate::MAX_IPV6_EXT_HEADERS;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTS: u8 = 60;

#[inline]
pub(crate) fn parse(packet: &[u8]) -> Result<Ip<'_>, DecodeError> {
    let (h, src, dst, rest) =
        split_header(packet).ok_or(DecodeError::Truncated { layer: Layer::Ipv6 })?;
    let version = h[0] >> 4;
    if version != 6 {
        return Err(DecodeError::BadIpVersion(version));
    }
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let body = if payload_len == 0 {
        IpBody {
            bytes: rest,
            missing: 0,
            announced: false,
        }
    } else {
        let (bytes, missing) = trim(rest, payload_len);
        IpBody {
            bytes,
            missing,
            announced: true,
        }
    };

    let src = IpAddr::V6(Ipv6Addr::from(*src));
    let dst = IpAddr::V6(Ipv6Addr::from(*dst));
    walk(h[6], src, dst, body)
}

/// Walks the extension headers from next header `next` over `body` (after the fixed
/// header, or at the start of a reassembled datagram's payload).
#[inline]
pub(crate) fn walk(
    mut next: u8,
    src: IpAddr,
    dst: IpAddr,
    mut body: IpBody<'_>,
) -> Result<Ip<'_>, DecodeError> {
    let mut seen = 0;
    loop {
        let ext_len = match next {
            PROTO_TCP => break,
            HOP_BY_HOP | ROUTING | DEST_OPTS | FRAGMENT | AUTH => {
                if seen == MAX_IPV6_EXT_HEADERS {
                    return Err(DecodeError::TooManyExtensionHeaders);
                }
                seen += 1;
                let &[following, len] = body
                    .bytes
                    .first_chunk::<2>()
                    .ok_or(body.overrun(Layer::Ipv6Ext))?;
                let ext_len = match next {
                    FRAGMENT => {
                        let frag = body
                            .bytes
                            .first_chunk::<8>()
                            .ok_or(body.overrun(Layer::Ipv6Ext))?;
                        // 13-bit offset, 2 reserved bits, M flag.
                        let field = u16::from_be_bytes([frag[2], frag[3]]);
                        if field & 0xfff9 != 0 {
                            return Ok(Ip::Fragment(IpFragment {
                                src,
                                dst,
                                id: u32::from_be_bytes([frag[4], frag[5], frag[6], frag[7]]),
                                proto: following,
                                offset: field & 0xfff8,
                                more: field & 1 != 0,
                                payload: body.bytes.get(8..).unwrap_or_default(),
                                payload_missing: body.missing,
                                encap: Encap::NONE,
                            }));
                        }
                        8
                    }
                    AUTH => (usize::from(len) + 2) * 4,
                    _ => (usize::from(len) + 1) * 8,
                };
                next = following;
                ext_len
            }
            proto => {
                return Ok(Ip::Other {
                    v6: true,
                    proto,
                    body,
                })
            }
        };
        body.bytes = body
            .bytes
            .get(ext_len..)
            .ok_or(body.overrun(Layer::Ipv6Ext))?;
    }

    Ok(Ip::Tcp { src, dst, body })
}

/// The fixed header as (version..hop limit, source, destination), and what follows it.
#[inline]
#[allow(clippy::type_complexity)]
fn split_header(packet: &[u8]) -> Option<(&[u8; 8], &[u8; 16], &[u8; 16], &[u8])> {
    let (fixed, rest) = packet.split_first_chunk::<8>()?;
    let (src, rest) = rest.split_first_chunk::<16>()?;
    let (dst, rest) = rest.split_first_chunk::<16>()?;
    Some((fixed, src, dst, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 2, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
    ];

    fn body(r: Result<Ip<'_>, DecodeError>) -> IpBody<'_> {
        match r {
            Ok(Ip::Tcp { body, .. }) => body,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    #[test]
    fn plain_tcp() {
        let p = Ipv6B::new(SRC, DST, PROTO_TCP, b"segment").build();
        match parse(&p) {
            Ok(Ip::Tcp { src, dst, body }) => {
                assert_eq!(src, IpAddr::from(SRC));
                assert_eq!(dst, IpAddr::from(DST));
                assert_eq!(body.bytes, b"segment");
                assert_eq!(body.missing, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hop_by_hop_dest_opts_and_fragment_is_a_fragment() {
        for offset_and_m in [0x0001, 0x00b9 << 3, (0x00b9 << 3) | 1] {
            let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, &[0; 16]);
            b.exts = vec![
                Ext::HopByHop(0),
                Ext::DestOpts(1),
                Ext::Fragment(offset_and_m),
            ];
            match parse(&b.build()) {
                Ok(Ip::Fragment(f)) => {
                    assert_eq!(f.offset, offset_and_m & 0xfff8);
                    assert_eq!(f.more, offset_and_m & 1 == 1);
                    assert_eq!((f.proto, f.payload), (PROTO_TCP, &[0u8; 16][..]));
                }
                other => panic!("{offset_and_m:#06x}: {other:?}"),
            }
        }
    }

    #[test]
    fn atomic_fragment_is_a_whole_packet() {
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, b"whole");
        b.exts = vec![Ext::HopByHop(0), Ext::DestOpts(1), Ext::Fragment(0)];
        assert_eq!(body(parse(&b.build())).bytes, b"whole");
    }

    #[test]
    fn extension_headers_are_skipped() {
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, b"after exts");
        b.exts = vec![
            Ext::HopByHop(2),
            Ext::DestOpts(0),
            Ext::Routing(3),
            Ext::Auth(4),
            Ext::DestOpts(1),
        ];
        assert_eq!(body(parse(&b.build())).bytes, b"after exts");
    }

    #[test]
    fn auth_header_uses_four_byte_units() {
        // AH payload length 1 means (1 + 2) * 4 = 12 bytes, not a multiple of 8.
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, b"after ah");
        b.exts = vec![Ext::Auth(1)];
        let p = b.build();
        assert_eq!(p.len(), 40 + 12 + 8);
        assert_eq!(body(parse(&p)).bytes, b"after ah");
    }

    #[test]
    fn no_next_header_and_other_protocols() {
        for proto in [59, 17, 58, 50, 4, 41, 47, 135] {
            let p = Ipv6B::new(SRC, DST, proto, &[0; 16]).build();
            assert!(
                matches!(parse(&p), Ok(Ip::Other { v6: true, proto: p, .. }) if p == proto),
                "next header {proto}"
            );
        }
        let mut b = Ipv6B::new(SRC, DST, 59, &[]);
        b.exts = vec![Ext::HopByHop(0)];
        assert!(matches!(parse(&b.build()), Ok(Ip::Other { proto: 59, .. })));
    }

    #[test]
    fn payload_length_zero_uses_captured_length() {
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, b"jumbo");
        b.payload_len = Some(0);
        let p = b.build();
        let body = body(parse(&p));
        assert_eq!(body.bytes, b"jumbo");
        assert!(!body.announced);
    }

    #[test]
    fn trailer_is_trimmed_and_cut_counted() {
        let mut p = Ipv6B::new(SRC, DST, PROTO_TCP, &[3; 100]).build();
        let full = p.len();
        p.extend_from_slice(&[0xee; 6]);
        assert_eq!(body(parse(&p)).bytes, &[3; 100][..]);
        let cut = body(parse(&p[..full - 30]));
        assert_eq!(cut.bytes.len(), 70);
        assert_eq!(cut.missing, 30);
    }

    #[test]
    fn extension_header_cap() {
        for n in [MAX_IPV6_EXT_HEADERS, MAX_IPV6_EXT_HEADERS + 1] {
            let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, b"x");
            b.exts = vec![Ext::DestOpts(0); n];
            let p = b.build();
            let r = parse(&p);
            if n <= MAX_IPV6_EXT_HEADERS {
                assert_eq!(body(r).bytes, b"x");
            } else {
                assert_eq!(r, Err(DecodeError::TooManyExtensionHeaders));
            }
        }
    }

    #[test]
    fn extension_header_past_payload_length_is_malformed() {
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, &[]);
        b.exts = vec![Ext::HopByHop(3)];
        b.payload_len = Some(16);
        assert_eq!(
            parse(&b.build()),
            Err(DecodeError::BadHeaderLength {
                layer: Layer::Ipv6Ext
            })
        );
    }

    #[test]
    fn extension_header_past_capture_is_truncated() {
        let mut b = Ipv6B::new(SRC, DST, PROTO_TCP, &[0; 20]);
        b.exts = vec![Ext::HopByHop(3)];
        let p = b.build();
        for n in 40..40 + 32 {
            assert_eq!(
                parse(&p[..n]),
                Err(DecodeError::Truncated {
                    layer: Layer::Ipv6Ext
                }),
                "prefix {n}"
            );
        }
        assert!(matches!(parse(&p[..72]), Ok(Ip::Tcp { .. })));
    }

    #[test]
    fn wrong_version() {
        let mut p = Ipv6B::new(SRC, DST, PROTO_TCP, &[]).build();
        p[0] = 0x45;
        assert_eq!(parse(&p), Err(DecodeError::BadIpVersion(4)));
        assert_eq!(
            parse(&p[..39]),
            Err(DecodeError::Truncated { layer: Layer::Ipv6 })
        );
    }
}
