//! Encapsulations: from the payload of an outer layer to the network layer it carries.
//!
//! Contract: like every layer here, each function reads only inside its slice, checks
//! each length before reading, never panics and returns a sub-slice (zero copy). Each
//! layer entered is pushed onto the caller's [`Encap`], so the nesting depth is capped at
//! [`crate::MAX_ENCAP_DEPTH`] (beyond: [`DecodeError::TooManyEncapsulations`]). A packet
//! that only looks like a tunnel by its port or protocol number but whose header says
//! otherwise (VXLAN without the I flag, GRE version 1, a GTP-U message that is not a
//! G-PDU, an unknown inner protocol) is not an error: it is `None`, counted by the caller
//! as other IP traffic. A header cut by the capture is `Truncated` with the tunnel's
//! [`Layer`].
//!
//! Recognised (RFC / reference):
//! - IP protocol 4 and 41: IPv4 and IPv6 in IPv4 or IPv6 (RFC 2003, 4213, 2473).
//! - IP protocol 47, GRE version 0 (RFC 2784, 2890): checksum, key and sequence words
//!   skipped; payload IPv4 (0x0800), IPv6 (0x86DD), Ethernet (0x6558, transparent
//!   Ethernet bridging), MPLS (0x8847/0x8848), ERSPAN type I (0x88BE without sequence
//!   number: Ethernet right after GRE), type II (0x88BE with a sequence number, 8-byte
//!   header) and type III (0x22EB, 12-byte header, plus 8 bytes when its O flag is set).
//!   The routing bit (RFC 1701) is not entered.
//! - UDP destination port 4789, VXLAN (RFC 7348; the I flag must be set): Ethernet.
//! - UDP destination port 6081, Geneve (RFC 8926, version 0): options skipped; Ethernet,
//!   IPv4 or IPv6.
//! - UDP port 2152 either way, GTP-U version 1 G-PDU (3GPP TS 29.281): optional fields
//!   and the extension header chain skipped; IPv4 or IPv6 by the version nibble.
//! - UDP port 3544 either way, Teredo (RFC 4380): authentication and origin indication
//!   skipped; IPv6.
//! - EtherType 0x8847/0x8848, MPLS (RFC 3032): labels up to bottom of stack, then IPv4 or
//!   IPv6 by the first nibble (anything else, such as a pseudowire control word, is not IP).
//! - EtherType 0x8864, PPPoE session (RFC 2516): PPP protocol 0x0021 (IPv4) or 0x0057
//!   (IPv6), trimmed to the PPPoE length.

use crate::encap::{Encap, EncapKind};
use crate::error::{DecodeError, Layer};
use crate::ip::IpBody;
use crate::link::{self, Network};

const PROTO_IPIP: u8 = 4;
const PROTO_IPV6: u8 = 41;
const PROTO_GRE: u8 = 47;
const PROTO_UDP: u8 = 17;

pub(crate) const ETHERTYPE_TEB: u16 = 0x6558;
pub(crate) const ETHERTYPE_MPLS: u16 = 0x8847;
pub(crate) const ETHERTYPE_MPLS_MC: u16 = 0x8848;
pub(crate) const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_ERSPAN_2: u16 = 0x88be;
const ETHERTYPE_ERSPAN_3: u16 = 0x22eb;

const PORT_VXLAN: u16 = 4789;
const PORT_GENEVE: u16 = 6081;
const PORT_GTPU: u16 = 2152;
const PORT_TEREDO: u16 = 3544;

/// The network layer inside IP protocol `proto` (`v6`: the outer header was IPv6), or
/// `None` when it is not a tunnel httptop enters.
#[inline]
pub(crate) fn enter<'a>(
    v6: bool,
    proto: u8,
    body: IpBody<'a>,
    encap: &mut Encap,
) -> Result<Option<Network<'a>>, DecodeError> {
    match proto {
        PROTO_IPIP => {
            *encap = encap.push(if v6 {
                EncapKind::Ip4in6
            } else {
                EncapKind::Ip4in4
            })?;
            Ok(Some(Network::Ipv4(body.bytes)))
        }
        PROTO_IPV6 => {
            *encap = encap.push(if v6 {
                EncapKind::Ip6in6
            } else {
                EncapKind::Ip6in4
            })?;
            Ok(Some(Network::Ipv6(body.bytes)))
        }
        PROTO_GRE => gre(body, encap),
        PROTO_UDP => udp(body, encap),
        _ => Ok(None),
    }
}

/// Cuts `n` bytes of header of `layer` off `body`.
#[inline]
fn skip<'a>(body: IpBody<'a>, n: usize, layer: Layer) -> Result<IpBody<'a>, DecodeError> {
    let bytes = body.bytes.get(n..).ok_or(body.overrun(layer))?;
    Ok(IpBody { bytes, ..body })
}

fn udp<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    // A UDP header cut short is not known to carry a tunnel: other IP, as before.
    let Some((h, rest)) = body.bytes.split_first_chunk::<8>() else {
        return Ok(None);
    };
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let bytes = match len.checked_sub(8) {
        Some(n) if n > 0 => rest.get(..n).unwrap_or(rest),
        _ => rest,
    };
    let inner = IpBody { bytes, ..body };
    match (sport, dport) {
        (_, PORT_VXLAN) => vxlan(inner, encap),
        (_, PORT_GENEVE) => geneve(inner, encap),
        (PORT_GTPU, _) | (_, PORT_GTPU) => gtpu(inner, encap),
        (PORT_TEREDO, _) | (_, PORT_TEREDO) => teredo(inner, encap),
        _ => Ok(None),
    }
}

fn vxlan<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    let (h, _) = body
        .bytes
        .split_first_chunk::<8>()
        .ok_or(body.overrun(Layer::Vxlan))?;
    if h[0] & 0x08 == 0 {
        return Ok(None);
    }
    *encap = encap.push(EncapKind::Vxlan)?;
    let inner = skip(body, 8, Layer::Vxlan)?;
    link::ethernet(inner.bytes, encap).map(Some)
}

fn geneve<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    let (h, _) = body
        .bytes
        .split_first_chunk::<8>()
        .ok_or(body.overrun(Layer::Geneve))?;
    if h[0] >> 6 != 0 {
        return Ok(None);
    }
    let len = 8 + usize::from(h[0] & 0x3f) * 4;
    let proto = u16::from_be_bytes([h[2], h[3]]);
    *encap = encap.push(EncapKind::Geneve)?;
    let inner = skip(body, len, Layer::Geneve)?;
    by_ethertype(proto, inner.bytes, encap)
}

/// The payload of a tunnel that names it by EtherType (GRE, Geneve).
#[inline]
fn by_ethertype<'a>(
    ty: u16,
    bytes: &'a [u8],
    encap: &mut Encap,
) -> Result<Option<Network<'a>>, DecodeError> {
    Ok(Some(match ty {
        ETHERTYPE_IPV4 => Network::Ipv4(bytes),
        ETHERTYPE_IPV6 => Network::Ipv6(bytes),
        ETHERTYPE_TEB => link::ethernet(bytes, encap)?,
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MC => mpls(bytes, encap)?,
        _ => return Ok(None),
    }))
}

fn gtpu<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    let (h, _) = body
        .bytes
        .split_first_chunk::<8>()
        .ok_or(body.overrun(Layer::GtpU))?;
    // Version 1, protocol type GTP, message type G-PDU.
    if h[0] >> 5 != 1 || h[0] & 0x10 == 0 || h[1] != 0xff {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let body = IpBody {
        bytes: body.bytes.get(..8 + len).unwrap_or(body.bytes),
        ..body
    };
    *encap = encap.push(EncapKind::GtpU)?;
    let mut rest = skip(body, 8, Layer::GtpU)?;
    if h[0] & 0x07 != 0 {
        // Sequence number, N-PDU number, next extension header type.
        let (opt, _) = rest
            .bytes
            .split_first_chunk::<4>()
            .ok_or(rest.overrun(Layer::GtpU))?;
        let mut next = opt[3];
        rest = skip(rest, 4, Layer::GtpU)?;
        // Each extension is at least 4 bytes: the chain is bounded by the packet.
        while next != 0 {
            let units = *rest.bytes.first().ok_or(rest.overrun(Layer::GtpU))?;
            if units == 0 {
                return Err(DecodeError::BadHeaderLength { layer: Layer::GtpU });
            }
            let n = usize::from(units) * 4;
            next = *rest.bytes.get(n - 1).ok_or(rest.overrun(Layer::GtpU))?;
            rest = skip(rest, n, Layer::GtpU)?;
        }
    }
    Ok(Some(Network::AnyIp(rest.bytes)))
}

fn teredo<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    let mut rest = body;
    if let Some(&[0, 1, id_len, au_len]) = rest.bytes.first_chunk::<4>() {
        // Authentication: client id, authentication value, 8-byte nonce, confirmation.
        let n = 4 + usize::from(id_len) + usize::from(au_len) + 9;
        rest = skip(rest, n, Layer::Teredo)?;
    }
    if let Some(&[0, 0]) = rest.bytes.first_chunk::<2>() {
        // Origin indication: port and address of the client.
        rest = skip(rest, 8, Layer::Teredo)?;
    }
    match rest.bytes.first() {
        Some(b) if b >> 4 == 6 => {}
        None if rest.missing > 0 => {
            return Err(DecodeError::Truncated {
                layer: Layer::Teredo,
            })
        }
        _ => return Ok(None),
    }
    *encap = encap.push(EncapKind::Teredo)?;
    Ok(Some(Network::Ipv6(rest.bytes)))
}

fn gre<'a>(body: IpBody<'a>, encap: &mut Encap) -> Result<Option<Network<'a>>, DecodeError> {
    let (h, _) = body
        .bytes
        .split_first_chunk::<4>()
        .ok_or(body.overrun(Layer::Gre))?;
    let flags = u16::from_be_bytes([h[0], h[1]]);
    let proto = u16::from_be_bytes([h[2], h[3]]);
    // Version 0 only (1 is PPTP's enhanced GRE); no source routing.
    if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
        return Ok(None);
    }
    let checksum = flags & 0x8000 != 0;
    let key = flags & 0x2000 != 0;
    let seq = flags & 0x1000 != 0;
    let len = 4 + 4 * (usize::from(checksum) + usize::from(key) + usize::from(seq));
    *encap = encap.push(EncapKind::Gre)?;
    let rest = skip(body, len, Layer::Gre)?;
    match proto {
        ETHERTYPE_ERSPAN_2 if !seq => {
            *encap = encap.push(EncapKind::Erspan1)?;
            link::ethernet(rest.bytes, encap).map(Some)
        }
        ETHERTYPE_ERSPAN_2 => {
            let (e, _) = rest
                .bytes
                .split_first_chunk::<8>()
                .ok_or(rest.overrun(Layer::Erspan))?;
            if e[0] >> 4 != 1 {
                return Ok(None);
            }
            *encap = encap.push(EncapKind::Erspan2)?;
            link::ethernet(skip(rest, 8, Layer::Erspan)?.bytes, encap).map(Some)
        }
        ETHERTYPE_ERSPAN_3 => {
            let (e, _) = rest
                .bytes
                .split_first_chunk::<12>()
                .ok_or(rest.overrun(Layer::Erspan))?;
            if e[0] >> 4 != 2 {
                return Ok(None);
            }
            // The O flag: an 8-byte platform-specific subheader follows.
            let n = if e[11] & 1 != 0 { 20 } else { 12 };
            *encap = encap.push(EncapKind::Erspan3)?;
            link::ethernet(skip(rest, n, Layer::Erspan)?.bytes, encap).map(Some)
        }
        ty => by_ethertype(ty, rest.bytes, encap),
    }
}

/// An MPLS label stack: labels up to the bottom of stack (4 bytes each, so the walk is
/// bounded by the frame), then IP by the version nibble.
pub(crate) fn mpls<'a>(mut bytes: &'a [u8], encap: &mut Encap) -> Result<Network<'a>, DecodeError> {
    *encap = encap.push(EncapKind::Mpls)?;
    loop {
        let (label, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(DecodeError::Truncated { layer: Layer::Mpls })?;
        bytes = rest;
        if label[2] & 0x01 != 0 {
            break;
        }
    }
    Ok(match bytes.first().map(|b| b >> 4) {
        Some(4) => Network::Ipv4(bytes),
        Some(6) => Network::Ipv6(bytes),
        None => return Err(DecodeError::Truncated { layer: Layer::Mpls }),
        _ => Network::NotIp,
    })
}

/// A PPPoE session frame: version/type 0x11, code 0, session id, length, then the PPP
/// protocol number.
pub(crate) fn pppoe<'a>(bytes: &'a [u8], encap: &mut Encap) -> Result<Network<'a>, DecodeError> {
    let (h, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or(DecodeError::Truncated {
            layer: Layer::Pppoe,
        })?;
    if h[0] != 0x11 || h[1] != 0 {
        return Ok(Network::NotIp);
    }
    *encap = encap.push(EncapKind::Pppoe)?;
    // The length counts the PPP protocol field and what follows.
    let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let rest = rest.get(..len.saturating_sub(2)).unwrap_or(rest);
    Ok(match u16::from_be_bytes([h[6], h[7]]) {
        0x0021 => Network::Ipv4(rest),
        0x0057 => Network::Ipv6(rest),
        _ => Network::NotIp,
    })
}

/// LINKTYPE_NFLOG (239): family, version, resource id, then TLVs (length and type in the
/// byte order of the host that wrote the capture: each length is read little-endian
/// unless only the big-endian reading fits), padded to 4 bytes; type 9 is the packet.
pub(crate) fn nflog(data: &[u8]) -> Result<Network<'_>, DecodeError> {
    let truncated = DecodeError::Truncated {
        layer: Layer::Nflog,
    };
    let (h, mut rest) = data.split_first_chunk::<4>().ok_or(truncated)?;
    let family = h[0];
    // Each TLV is at least 4 bytes: the walk is bounded by the frame.
    loop {
        if rest.is_empty() {
            return Ok(Network::NotIp);
        }
        let (t, _) = rest.split_first_chunk::<4>().ok_or(truncated)?;
        let le = usize::from(u16::from_le_bytes([t[0], t[1]]));
        let (len, ty) = if (4..=rest.len()).contains(&le) {
            (le, u16::from_le_bytes([t[2], t[3]]))
        } else {
            (
                usize::from(u16::from_be_bytes([t[0], t[1]])),
                u16::from_be_bytes([t[2], t[3]]),
            )
        };
        if len < 4 {
            return Err(DecodeError::BadHeaderLength {
                layer: Layer::Nflog,
            });
        }
        let value = rest.get(4..len).ok_or(truncated)?;
        if ty == 9 {
            return Ok(match family {
                2 => Network::Ipv4(value),
                10 => Network::Ipv6(value),
                _ => Network::NotIp,
            });
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use crate::decode::{decode, decode_traced, Decoded};
    use crate::encap::MAX_ENCAP_DEPTH;
    use crate::error::{DecodeError, Layer};
    use crate::frame::LinkType;
    use crate::testutil::*;
    use crate::TcpSegment;
    use std::net::IpAddr;

    const IN_SRC: [u8; 4] = [192, 168, 10, 1];
    const IN_DST: [u8; 4] = [192, 168, 10, 2];
    const OUT_SRC: [u8; 4] = [10, 0, 0, 1];
    const OUT_DST: [u8; 4] = [10, 0, 0, 2];
    const V6_SRC: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const V6_DST: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn tcp() -> TcpB {
        TcpB {
            src_port: 40000,
            dst_port: 80,
            payload: b"GET / HTTP/1.1\r\nHost: inner\r\n\r\n".to_vec(),
            ..TcpB::default()
        }
    }
    fn inner_ip4() -> Vec<u8> {
        Ipv4B::new(IN_SRC, IN_DST, 6, &tcp().build()).build()
    }
    fn inner_ip6() -> Vec<u8> {
        Ipv6B::new(V6_SRC, V6_DST, 6, &tcp().build()).build()
    }
    fn inner_eth() -> Vec<u8> {
        eth_frame(&[(0x8100, 7)], 0x0800, &inner_ip4())
    }
    fn outer4(proto: u8, payload: &[u8]) -> Vec<u8> {
        eth_frame(
            &[],
            0x0800,
            &Ipv4B::new(OUT_SRC, OUT_DST, proto, payload).build(),
        )
    }
    fn outer6(proto: u8, payload: &[u8]) -> Vec<u8> {
        eth_frame(
            &[],
            0x86dd,
            &Ipv6B::new(V6_DST, V6_SRC, proto, payload).build(),
        )
    }
    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(payload);
        v
    }
    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }
    fn vxlan(inner: &[u8]) -> Vec<u8> {
        cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], inner])
    }
    fn geneve(opt_words: u8, proto: u16, inner: &[u8]) -> Vec<u8> {
        let p = proto.to_be_bytes();
        let opts = vec![0xab; usize::from(opt_words) * 4];
        cat(&[&[opt_words, 0, p[0], p[1], 0, 0, 42, 0], &opts, inner])
    }
    /// GRE with the checksum, key and sequence words `csk` selects.
    fn gre(csk: (bool, bool, bool), proto: u16, inner: &[u8]) -> Vec<u8> {
        let (c, k, s) = csk;
        let flags = u16::from(c) << 15 | u16::from(k) << 13 | u16::from(s) << 12;
        let mut v = cat(&[&flags.to_be_bytes(), &proto.to_be_bytes()]);
        for on in [c, k, s] {
            if on {
                v.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]);
            }
        }
        v.extend_from_slice(inner);
        v
    }
    fn gtpu(ext: bool, inner: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        if ext {
            // Sequence number present, one PDU session container (1 unit), then none.
            body.extend_from_slice(&[0, 7, 0, 0x85, 1, 0x10, 0x09, 0]);
        }
        body.extend_from_slice(inner);
        let flags = if ext { 0x32 } else { 0x30 };
        let len = (body.len() as u16).to_be_bytes();
        cat(&[&[flags, 0xff, len[0], len[1], 0, 0, 0, 9], &body])
    }
    fn teredo(inner: &[u8]) -> Vec<u8> {
        // Authentication (id 2 bytes, value 3 bytes), then origin indication.
        let auth = cat(&[&[0, 1, 2, 3, 9, 9, 8, 8, 8], &[0; 8], &[0]]);
        cat(&[&auth, &[0, 0, 0x12, 0x34, 1, 2, 3, 4], inner])
    }
    fn mpls(inner: &[u8]) -> Vec<u8> {
        cat(&[&[0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64], inner])
    }
    fn pppoe(inner: &[u8]) -> Vec<u8> {
        let len = ((inner.len() + 2) as u16).to_be_bytes();
        cat(&[&[0x11, 0, 0, 7, len[0], len[1], 0, 0x21], inner])
    }
    fn nflog(inner: &[u8]) -> Vec<u8> {
        let tlv = |ty: u16, v: &[u8]| {
            let mut t = cat(&[&((4 + v.len()) as u16).to_le_bytes(), &ty.to_le_bytes(), v]);
            t.resize(t.len().next_multiple_of(4), 0);
            t
        };
        cat(&[
            &[2, 0, 0, 5],
            &tlv(1, &[8, 0, 3, 0]),
            &tlv(10, b"pfx"),
            &tlv(9, inner),
        ])
    }

    /// (name, link type, frame, encapsulation, inner is IPv6)
    fn cases() -> Vec<(&'static str, LinkType, Vec<u8>, &'static str, bool)> {
        let e = LinkType::ETHERNET;
        let (i4, i6, ie) = (inner_ip4(), inner_ip6(), inner_eth());
        vec![
            (
                "vxlan",
                e,
                outer4(17, &udp(51000, 4789, &vxlan(&ie))),
                "vxlan",
                false,
            ),
            (
                "vxlan over ipv6",
                e,
                outer6(17, &udp(51000, 4789, &vxlan(&ie))),
                "vxlan",
                false,
            ),
            (
                "geneve eth",
                e,
                outer4(17, &udp(1, 6081, &geneve(2, 0x6558, &ie))),
                "geneve",
                false,
            ),
            (
                "geneve ip",
                e,
                outer4(17, &udp(1, 6081, &geneve(0, 0x86dd, &i6))),
                "geneve",
                true,
            ),
            (
                "gre ipv4",
                e,
                outer4(47, &gre((false, false, false), 0x0800, &i4)),
                "gre",
                false,
            ),
            (
                "gre key ipv6",
                e,
                outer4(47, &gre((false, true, false), 0x86dd, &i6)),
                "gre",
                true,
            ),
            (
                "gretap csum key seq",
                e,
                outer4(47, &gre((true, true, true), 0x6558, &ie)),
                "gre",
                false,
            ),
            (
                "ip6gre",
                e,
                outer6(47, &gre((false, true, false), 0x6558, &ie)),
                "gre",
                false,
            ),
            (
                "erspan1",
                e,
                outer4(47, &gre((false, false, false), 0x88be, &ie)),
                "gre/erspan1",
                false,
            ),
            (
                "erspan2",
                e,
                outer4(
                    47,
                    &gre(
                        (false, false, true),
                        0x88be,
                        &cat(&[&[0x10, 5, 0, 0, 0, 0, 0, 1], &ie]),
                    ),
                ),
                "gre/erspan2",
                false,
            ),
            (
                "erspan3",
                e,
                outer4(
                    47,
                    &gre(
                        (false, false, true),
                        0x22eb,
                        &cat(&[&[0x20, 5, 0, 0], &[0; 8], &ie]),
                    ),
                ),
                "gre/erspan3",
                false,
            ),
            (
                "erspan3 platform subheader",
                e,
                outer4(
                    47,
                    &gre(
                        (false, false, true),
                        0x22eb,
                        &cat(&[&[0x20, 5, 0, 0], &[0, 0, 0, 0, 0, 0, 0, 1], &[0; 8], &ie]),
                    ),
                ),
                "gre/erspan3",
                false,
            ),
            (
                "gtpu",
                e,
                outer4(17, &udp(2152, 2152, &gtpu(false, &i4))),
                "gtpu",
                false,
            ),
            (
                "gtpu extensions",
                e,
                outer4(17, &udp(2152, 2152, &gtpu(true, &i6))),
                "gtpu",
                true,
            ),
            (
                "teredo",
                e,
                outer4(17, &udp(3544, 51000, &teredo(&i6))),
                "teredo",
                true,
            ),
            ("4in4", e, outer4(4, &i4), "4in4", false),
            ("6in4", e, outer4(41, &i6), "6in4", true),
            ("4in6", e, outer6(4, &i4), "4in6", false),
            ("6in6", e, outer6(41, &i6), "6in6", true),
            ("mpls", e, eth_frame(&[], 0x8847, &mpls(&i4)), "mpls", false),
            (
                "pppoe",
                e,
                eth_frame(&[(0x8100, 3)], 0x8864, &pppoe(&i4)),
                "pppoe",
                false,
            ),
            ("nflog", LinkType::NFLOG, nflog(&i4), "", false),
            (
                "nested",
                e,
                outer6(
                    4,
                    &Ipv4B::new(
                        OUT_SRC,
                        OUT_DST,
                        17,
                        &udp(
                            5,
                            4789,
                            &vxlan(&eth_frame(
                                &[],
                                0x8847,
                                &mpls(&outer4(47, &gre((false, true, false), 0x0800, &i4))[14..]),
                            )),
                        ),
                    )
                    .build(),
                ),
                "4in6/vxlan/mpls/gre",
                false,
            ),
        ]
    }

    fn seg<'a>(name: &str, r: Result<Decoded<'a>, DecodeError>) -> TcpSegment<'a> {
        match r {
            Ok(Decoded::Tcp(s)) => s,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn every_encapsulation_reaches_the_inner_segment() {
        for (name, lt, frame, encap, v6) in cases() {
            let s = seg(name, decode(lt, &frame));
            let (src, dst) = if v6 {
                (IpAddr::from(V6_SRC), IpAddr::from(V6_DST))
            } else {
                (IpAddr::from(IN_SRC), IpAddr::from(IN_DST))
            };
            assert_eq!(
                (s.src, s.dst, s.src_port, s.dst_port),
                (src, dst, 40000, 80),
                "{name}"
            );
            assert_eq!(s.payload, &tcp().payload[..], "{name}");
            assert_eq!(s.encap.to_string(), encap, "{name}");
            assert_eq!(decode_traced(lt, &frame).1, s.encap, "{name}");
        }
    }

    #[test]
    fn every_truncated_length_is_an_error_or_a_shorter_view() {
        for (name, lt, frame, _, _) in cases() {
            let full = seg(name, decode(lt, &frame));
            for n in 0..frame.len() {
                match decode(lt, &frame[..n]) {
                    Ok(Decoded::Tcp(s)) => {
                        assert_eq!(s.payload, &full.payload[..s.payload.len()], "{name} {n}");
                        assert_eq!(
                            (s.src, s.dst, s.seq, s.encap),
                            (full.src, full.dst, full.seq, full.encap)
                        );
                        assert!(s.wire_payload_len() >= s.payload.len() as u64);
                    }
                    Err(DecodeError::Truncated { .. }) => {}
                    // A cut UDP header is no known tunnel; an NFLOG message cut at a
                    // TLV boundary has no packet.
                    Ok(Decoded::OtherIp) if name != "nflog" => {}
                    Ok(Decoded::NotIp) if name == "nflog" => {}
                    other => panic!("{name}: prefix {n} of {}: {other:?}", frame.len()),
                }
            }
        }
    }

    #[test]
    fn look_alikes_are_other_ip() {
        let ie = inner_eth();
        let i4 = inner_ip4();
        let cases = [
            (
                "vxlan without I flag",
                outer4(17, &udp(1, 4789, &cat(&[&[0; 8], &ie]))),
            ),
            (
                "geneve version 1",
                outer4(
                    17,
                    &udp(1, 6081, &cat(&[&[0x40, 0, 0x65, 0x58, 0, 0, 0, 0], &ie])),
                ),
            ),
            (
                "geneve unknown protocol",
                outer4(17, &udp(1, 6081, &geneve(0, 0x1234, &ie))),
            ),
            (
                "gre version 1 (pptp)",
                outer4(47, &cat(&[&[0x30, 0x01, 0x88, 0x0b], &[0; 8], &i4])),
            ),
            (
                "gre routing",
                outer4(47, &cat(&[&[0x40, 0, 0x08, 0], &[0; 4], &i4])),
            ),
            (
                "gre unknown",
                outer4(47, &gre((false, false, false), 0x0806, &[0; 28])),
            ),
            (
                "gtp echo",
                outer4(
                    17,
                    &udp(2152, 2152, &[0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]),
                ),
            ),
            ("teredo bubble-less", outer4(17, &udp(3544, 1, &i4))),
            ("plain udp", outer4(17, &udp(53, 53, b"dns"))),
            ("esp", outer4(50, &[0; 32])),
        ];
        for (name, f) in cases {
            assert_eq!(
                decode(LinkType::ETHERNET, &f),
                Ok(Decoded::OtherIp),
                "{name}"
            );
        }
        let f = eth_frame(&[], 0x8847, &cat(&[&[0, 0x10, 0x01, 64], &[0; 4], &ie]));
        assert_eq!(
            decode(LinkType::ETHERNET, &f),
            Ok(Decoded::NotIp),
            "mpls pseudowire"
        );
        let f = eth_frame(
            &[],
            0x8864,
            &cat(&[&[0x11, 0, 0, 7, 0, 4, 0xc0, 0x21], &[1, 2]]),
        );
        assert_eq!(
            decode(LinkType::ETHERNET, &f),
            Ok(Decoded::NotIp),
            "pppoe lcp"
        );
    }

    #[test]
    fn nesting_is_capped() {
        // n layers of 4in4 around the segment: MAX_ENCAP_DEPTH decode, one more does not.
        for n in [MAX_ENCAP_DEPTH, MAX_ENCAP_DEPTH + 1, 100] {
            let mut p = inner_ip4();
            for _ in 0..n {
                p = Ipv4B::new(OUT_SRC, OUT_DST, 4, &p).build();
            }
            let r = decode(LinkType::RAW, &p);
            if n <= MAX_ENCAP_DEPTH {
                assert_eq!(seg("nest", r).encap.depth(), n);
            } else {
                assert_eq!(r, Err(DecodeError::TooManyEncapsulations), "{n}");
            }
        }
    }

    #[test]
    fn bad_lengths_are_named() {
        // A Geneve option length past the packet.
        let f = outer4(17, &udp(1, 6081, &[0x3f, 0, 0x65, 0x58, 0, 0, 0, 0]));
        assert_eq!(
            decode(LinkType::ETHERNET, &f),
            Err(DecodeError::BadHeaderLength {
                layer: Layer::Geneve
            })
        );
        // A GTP-U extension of length zero.
        let f = outer4(
            17,
            &udp(
                2152,
                2152,
                &[0x32, 0xff, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0x85, 0, 0, 0, 0],
            ),
        );
        assert_eq!(
            decode(LinkType::ETHERNET, &f),
            Err(DecodeError::BadHeaderLength { layer: Layer::GtpU })
        );
        // An NFLOG TLV shorter than its own header.
        let f = [2, 0, 0, 0, 0, 0, 9, 0];
        assert_eq!(
            decode(LinkType::NFLOG, &f),
            Err(DecodeError::BadHeaderLength {
                layer: Layer::Nflog
            })
        );
    }

    #[test]
    fn fragments_inside_tunnels_carry_the_encapsulation() {
        let mut b = Ipv4B::new(IN_SRC, IN_DST, 6, &tcp().build());
        b.frag = 0x2000;
        let f = outer4(
            17,
            &udp(1, 4789, &vxlan(&eth_frame(&[], 0x0800, &b.build()))),
        );
        match decode(LinkType::ETHERNET, &f) {
            Ok(Decoded::Fragment(g)) => {
                assert_eq!(g.encap.to_string(), "vxlan");
                assert_eq!((g.src, g.offset, g.more), (IpAddr::from(IN_SRC), 0, true));
                assert_eq!(g.payload, &tcp().build()[..]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod datagram_tests {
    use crate::decode::{decode_datagram, Decoded};
    use crate::encap::{Encap, EncapKind};
    use crate::testutil::*;
    use std::net::IpAddr;

    #[test]
    fn a_reassembled_payload_decodes_like_a_whole_packet() {
        let t = TcpB {
            payload: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            ..TcpB::default()
        };
        let seg = t.build();
        let (a4, b4) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let (a6, b6) = (
            IpAddr::from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            IpAddr::from([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]),
        );
        // IPv4 TCP, and IPv6 TCP behind a destination options header.
        let (r, e) = decode_datagram(a4, b4, 6, &seg, Encap::NONE);
        assert!(matches!(r, Ok(Decoded::Tcp(s)) if s.payload == t.payload && s.src == a4));
        assert!(e.is_empty());
        let mut with_opts = vec![6, 0, 1, 4, 0, 0, 0, 0];
        with_opts.extend_from_slice(&seg);
        let (r, _) = decode_datagram(a6, b6, 60, &with_opts, Encap::NONE);
        assert!(matches!(r, Ok(Decoded::Tcp(s)) if s.payload == t.payload && s.dst == b6));
        // A VXLAN datagram inside a GRE tunnel: the layers continue the outer ones.
        let inner = eth_frame(
            &[],
            0x0800,
            &Ipv4B::new([192, 168, 0, 1], [192, 168, 0, 2], 6, &seg).build(),
        );
        let mut udp = vec![0xc0, 0, 0x12, 0xb5];
        udp.extend_from_slice(&((16 + inner.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0, 8, 0, 0, 0, 0, 0, 1, 0]);
        udp.extend_from_slice(&inner);
        let gre = Encap::NONE.push(EncapKind::Gre).expect("one");
        let (r, e) = decode_datagram(a4, b4, 17, &udp, gre);
        assert!(matches!(r, Ok(Decoded::Tcp(s)) if s.encap.to_string() == "gre/vxlan"));
        assert_eq!(
            (e.to_string(), e.inner_of(gre).to_string()),
            ("gre/vxlan".into(), "vxlan".into())
        );
    }
}
