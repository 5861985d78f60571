//! From a captured frame to a TCP segment: the one entry point the engine calls per packet.
//!
//! Contract: [`decode`] never panics, never allocates and never copies: the segment it
//! returns borrows from `data`. Whatever the bytes, it returns either a [`Decoded`] value or
//! a [`DecodeError`] for the caller to count. Lengths are checked once per layer; after that,
//! fields are read from fixed-size arrays, so no read can go out of bounds.
//!
//! A frame cut short by the capture's snaplen still decodes as long as the TCP header is
//! complete; the bytes lost from the payload are reported in
//! [`TcpSegment::payload_missing`].
//!
//! [`decode_plain`] is the common case alone, for the per-packet path to inline: a TCP
//! segment in an unfragmented IPv4 packet right under an Ethernet or Linux cooked header.
//! It runs the same parsers and finds the segment [`decode_traced`] finds, or nothing
//! (every error included): its caller then falls back on [`decode_traced`], so errors are
//! only ever reported, and counted, there.

use crate::encap::Encap;
use crate::error::DecodeError;
use crate::frame::{Frame, LinkType};
use crate::ip::{self, Ip, IpBody, IpFragment, PROTO_TCP};
use crate::link::{self, Network};
use crate::tcp::{self, TcpSegment};
use crate::{ipv4, ipv6, tunnel};
use std::net::IpAddr;

/// What a frame turned out to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A TCP segment over IPv4 or IPv6 (inside the tunnels its `encap` names).
    Tcp(TcpSegment<'a>),
    /// IPv4/IPv6 but not TCP, and not a tunnel httptop enters (UDP, ICMP, ESP...).
    OtherIp,
    /// An IP fragment (any fragment, first or not), for the caller to reassemble and
    /// hand to [`decode_datagram`].
    Fragment(IpFragment<'a>),
    /// Not IP at all (ARP, LLDP, 802.3/LLC...).
    NotIp,
}

/// Decodes one captured frame of link type `linktype` down to its TCP segment.
#[inline]
pub fn decode(linktype: LinkType, data: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    decode_traced(linktype, data).0
}

/// [`decode`], and the encapsulations entered on the way (also when the result is not TCP
/// or an error: a frame cut inside its VXLAN payload was still in VXLAN).
#[inline]
pub fn decode_traced(linktype: LinkType, data: &[u8]) -> (Result<Decoded<'_>, DecodeError>, Encap) {
    let mut encap = Encap::NONE;
    let r = link::network(linktype, data, &mut encap).and_then(|net| layers(net, &mut encap));
    (r, encap)
}

/// The common case in line: a complete TCP segment in an unfragmented IPv4 packet right
/// under an Ethernet or Linux cooked header (no VLAN tag, no tunnel). `Some` only when
/// [`decode_traced`] gives `Ok(Decoded::Tcp)` with the same segment and no encapsulation
/// (it runs the same parsers); `None` says nothing else (every error included): a caller
/// tries this first and falls back on [`decode_traced`].
#[inline(always)]
pub fn decode_plain(linktype: LinkType, data: &[u8]) -> Option<TcpSegment<'_>> {
    const IPV4: [u8; 2] = [0x08, 0x00];
    let packet = match linktype {
        LinkType::ETHERNET => match data.split_first_chunk::<14>()? {
            (h, rest) if h[12..] == IPV4 => rest,
            _ => return None,
        },
        LinkType::LINUX_SLL => match data.split_first_chunk::<16>()? {
            (h, rest) if h[14..] == IPV4 => rest,
            _ => return None,
        },
        LinkType::LINUX_SLL2 => match data.split_first_chunk::<20>()? {
            (h, rest) if h[..2] == IPV4 => rest,
            _ => return None,
        },
        _ => return None,
    };
    match ipv4::parse(packet) {
        Ok(Ip::Tcp { src, dst, body }) => tcp::parse(src, dst, body).ok(),
        _ => None,
    }
}

/// The payload of a reassembled datagram (`proto`: IPv4 protocol or the next header of
/// the IPv6 fragment header), decoded as if it had arrived whole in the encapsulations
/// `encap` names: it may be TCP, a tunnel, or (inside a tunnel) a fragment again.
pub fn decode_datagram(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &[u8],
    encap: Encap,
) -> (Result<Decoded<'_>, DecodeError>, Encap) {
    let mut encap = encap;
    let body = IpBody {
        bytes: payload,
        missing: 0,
        announced: true,
    };
    let ip = if src.is_ipv6() {
        ipv6::walk(proto, src, dst, body)
    } else if proto == PROTO_TCP {
        Ok(Ip::Tcp { src, dst, body })
    } else {
        Ok(Ip::Other {
            v6: false,
            proto,
            body,
        })
    };
    let r = ip.and_then(|ip| transport(ip, &mut encap));
    (r, encap)
}

/// From a network layer down through every tunnel (each pushes onto `encap`, which caps
/// the loop at `MAX_ENCAP_DEPTH` turns) to TCP.
#[inline]
fn layers<'a>(mut net: Network<'a>, encap: &mut Encap) -> Result<Decoded<'a>, DecodeError> {
    loop {
        let ip = match net {
            Network::Ipv4(packet) => ipv4::parse(packet)?,
            Network::Ipv6(packet) => ipv6::parse(packet)?,
            Network::AnyIp(packet) => ip::any(packet)?,
            Network::NotIp => return Ok(Decoded::NotIp),
        };
        match ip {
            Ip::Other { v6, proto, body } => match tunnel::enter(v6, proto, body, encap)? {
                Some(inner) => net = inner,
                None => return Ok(Decoded::OtherIp),
            },
            ip => return transport(ip, encap),
        }
    }
}

#[inline]
fn transport<'a>(ip: Ip<'a>, encap: &mut Encap) -> Result<Decoded<'a>, DecodeError> {
    match ip {
        Ip::Tcp { src, dst, body } => tcp::parse(src, dst, body).map(|mut s| {
            s.encap = *encap;
            Decoded::Tcp(s)
        }),
        Ip::Fragment(mut f) => {
            f.encap = *encap;
            Ok(Decoded::Fragment(f))
        }
        Ip::Other { v6, proto, body } => match tunnel::enter(v6, proto, body, encap)? {
            Some(inner) => layers(inner, encap),
            None => Ok(Decoded::OtherIp),
        },
    }
}

impl<'a> Frame<'a> {
    /// [`decode`] applied to this frame's link type and captured bytes.
    #[inline]
    pub fn decode(&self) -> Result<Decoded<'a>, DecodeError> {
        decode(self.linktype, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Layer;
    use crate::frame::Timestamp;
    use crate::testutil::*;
    use crate::TcpFlags;
    use proptest::prelude::*;
    use std::net::IpAddr;

    const V4_SRC: [u8; 4] = [10, 1, 2, 3];
    const V4_DST: [u8; 4] = [93, 184, 216, 34];
    const V6_SRC: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    const V6_DST: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
    ];

    fn request() -> TcpB {
        TcpB {
            src_port: 51514,
            dst_port: 8080,
            seq: 0x1122_3344,
            ack: 0x5566_7788,
            flags: 0x18,
            window: 0x0400,
            options: vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], // NOP NOP timestamps
            payload: b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
        }
    }

    fn v4(tcp: &TcpB) -> Vec<u8> {
        Ipv4B::new(V4_SRC, V4_DST, 6, &tcp.build()).build()
    }

    fn v6(tcp: &TcpB, exts: Vec<Ext>) -> Vec<u8> {
        let mut b = Ipv6B::new(V6_SRC, V6_DST, 6, &tcp.build());
        b.exts = exts;
        b.build()
    }

    fn tcp(r: Result<Decoded<'_>, DecodeError>) -> TcpSegment<'_> {
        match r {
            Ok(Decoded::Tcp(s)) => s,
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    fn assert_matches_builder(s: &TcpSegment<'_>, b: &TcpB) {
        assert_eq!((s.src_port, s.dst_port), (b.src_port, b.dst_port));
        assert_eq!((s.seq, s.ack), (b.seq, b.ack));
        assert_eq!(s.flags, TcpFlags::from_bits(b.flags));
        assert_eq!(s.window, b.window);
        assert_eq!(s.payload, &b.payload[..]);
        assert_eq!(s.payload_missing, 0);
    }

    #[test]
    fn every_link_type_ipv4_and_ipv6() {
        let t = request();
        for link in LinkB::all() {
            let (lt, f) = link.wrap(false, &v4(&t));
            let s = tcp(decode(lt, &f));
            assert_eq!(s.src, IpAddr::from(V4_SRC), "{link:?}");
            assert_eq!(s.dst, IpAddr::from(V4_DST));
            assert_matches_builder(&s, &t);

            let (lt, f) = link.wrap(true, &v6(&t, vec![]));
            let s = tcp(decode(lt, &f));
            assert_eq!(s.src, IpAddr::from(V6_SRC), "{link:?}");
            assert_eq!(s.dst, IpAddr::from(V6_DST));
            assert_matches_builder(&s, &t);
        }
    }

    #[test]
    fn frame_decode_uses_its_link_type() {
        let t = request();
        let (linktype, data) = LinkB::Sll2.wrap(false, &v4(&t));
        let frame = Frame {
            ts: Timestamp::from_secs(1),
            linktype,
            orig_len: data.len() as u32,
            data: &data,
        };
        assert_matches_builder(&tcp(frame.decode()), &t);
    }

    #[test]
    fn ethernet_padding_is_trimmed() {
        // A bare ACK is 54 bytes on Ethernet: the NIC pads it to 60.
        let ack = TcpB {
            flags: 0x10,
            ..TcpB::default()
        };
        let f = pad_to_min(eth_frame(&[], 0x0800, &v4(&ack)));
        assert_eq!(f.len(), 60);
        let s = tcp(decode(LinkType::ETHERNET, &f));
        assert_eq!(s.payload, b"");
        assert!(s.flags.ack());

        let one = TcpB {
            payload: b"x".to_vec(),
            ..TcpB::default()
        };
        let f = pad_to_min(eth_frame(&[(0x8100, 0)], 0x0800, &v4(&one)));
        assert_eq!(tcp(decode(LinkType::ETHERNET, &f)).payload, b"x");
    }

    #[test]
    fn ipv4_total_length_zero_takes_captured_length() {
        let t = request();
        let mut ip = Ipv4B::new(V4_SRC, V4_DST, 6, &t.build());
        ip.total_len = Some(0);
        let f = eth_frame(&[], 0x0800, &ip.build());
        let s = tcp(decode(LinkType::ETHERNET, &f));
        assert_matches_builder(&s, &t);
    }

    #[test]
    fn ipv4_fragments_first_and_later() {
        let t = request();
        for frag in [0x2000, 0x2000 | 100, 100] {
            let mut ip = Ipv4B::new(V4_SRC, V4_DST, 6, &t.build());
            ip.frag = frag;
            let f = eth_frame(&[], 0x0800, &ip.build());
            assert!(matches!(
                decode(LinkType::ETHERNET, &f),
                Ok(Decoded::Fragment(g)) if g.id == 0x1c46 && g.proto == 6 && g.encap.is_empty()
            ));
        }
    }

    #[test]
    fn ipv6_hop_by_hop_dest_opts_fragment() {
        let t = request();
        let p = v6(
            &t,
            vec![Ext::HopByHop(0), Ext::DestOpts(1), Ext::Fragment(1)],
        );
        let f = eth_frame(&[], 0x86dd, &p);
        assert!(matches!(
            decode(LinkType::ETHERNET, &f),
            Ok(Decoded::Fragment(g)) if g.offset == 0 && g.more
        ));
        let p = v6(&t, vec![Ext::HopByHop(0), Ext::DestOpts(1)]);
        let f = eth_frame(&[], 0x86dd, &p);
        assert_matches_builder(&tcp(decode(LinkType::ETHERNET, &f)), &t);
    }

    #[test]
    fn other_ip_and_not_ip() {
        let udp = Ipv4B::new(V4_SRC, V4_DST, 17, &[0; 16]).build();
        let f = eth_frame(&[], 0x0800, &udp);
        assert_eq!(decode(LinkType::ETHERNET, &f), Ok(Decoded::OtherIp));
        let icmp6 = Ipv6B::new(V6_SRC, V6_DST, 58, &[0; 16]).build();
        assert_eq!(decode(LinkType::RAW, &icmp6), Ok(Decoded::OtherIp));
        let arp = pad_to_min(eth_frame(&[], 0x0806, &[0; 28]));
        assert_eq!(decode(LinkType::ETHERNET, &arp), Ok(Decoded::NotIp));
    }

    #[test]
    fn link_type_and_version_disagree() {
        let t = request();
        assert_eq!(
            decode(LinkType::IPV4, &v6(&t, vec![])),
            Err(DecodeError::BadIpVersion(6))
        );
        let f = eth_frame(&[], 0x86dd, &v4(&t));
        assert_eq!(
            decode(LinkType::ETHERNET, &f),
            Err(DecodeError::BadIpVersion(4))
        );
    }

    #[test]
    fn snaplen_cut_sets_payload_missing() {
        let t = TcpB {
            payload: vec![b'a'; 1400],
            ..request()
        };
        for (v6p, ip) in [(false, v4(&t)), (true, v6(&t, vec![Ext::HopByHop(0)]))] {
            let (lt, f) = LinkB::Ethernet(vec![(0x8100, 1)]).wrap(v6p, &ip);
            let s = tcp(decode(lt, &f[..128]));
            let header_bytes = f.len() - 1400;
            assert_eq!(s.payload, &t.payload[..128 - header_bytes]);
            assert_eq!(s.payload_missing as usize, 1400 - s.payload.len());
            assert_eq!(s.wire_payload_len(), 1400);
        }
    }

    /// The valid frames every prefix of which is decoded below, with whether their IP
    /// header announces a length.
    fn corpus() -> Vec<(LinkType, Vec<u8>, bool)> {
        let t = request();
        let mut out = Vec::new();
        for link in LinkB::all() {
            let (lt, f) = link.wrap(false, &v4(&t));
            out.push((lt, f, true));
            let exts = vec![
                Ext::HopByHop(0),
                Ext::Routing(1),
                Ext::Auth(1),
                Ext::DestOpts(0),
            ];
            let (lt, f) = link.wrap(true, &v6(&t, exts));
            out.push((lt, f, true));
        }
        let mut ip = Ipv4B::new(V4_SRC, V4_DST, 6, &t.build());
        ip.total_len = Some(0);
        ip.options = vec![1; 8];
        out.push((
            LinkType::ETHERNET,
            eth_frame(&[], 0x0800, &ip.build()),
            false,
        ));
        let mut ip = Ipv6B::new(V6_SRC, V6_DST, 6, &t.build());
        ip.payload_len = Some(0);
        out.push((LinkType::LINUX_SLL, sll_frame(0x86dd, &ip.build()), false));
        out
    }

    /// [`decode_plain`] on `frame`: its segment is [`decode_traced`]'s, unencapsulated.
    /// Returns whether it found one.
    fn plain_agrees(lt: LinkType, frame: &[u8]) -> bool {
        match decode_plain(lt, frame) {
            Some(s) => {
                assert_eq!(
                    decode_traced(lt, frame),
                    (Ok(Decoded::Tcp(s)), Encap::NONE),
                    "{lt:?} {frame:02x?}"
                );
                true
            }
            None => false,
        }
    }

    /// Frames of the shape [`decode_plain`] takes: IPv4 right under the link header.
    fn plain_shapes() -> Vec<(LinkType, Vec<u8>)> {
        let t = request();
        let mut out = Vec::new();
        for link in [LinkB::Ethernet(vec![]), LinkB::Sll, LinkB::Sll2] {
            out.push(link.wrap(false, &v4(&t)));
            let mut ip = Ipv4B::new(V4_SRC, V4_DST, 6, &t.build());
            ip.total_len = Some(0);
            ip.options = vec![1; 8];
            out.push(link.wrap(false, &ip.build()));
            let bare = TcpB {
                flags: 0x10,
                ..TcpB::default()
            };
            let (lt, f) = link.wrap(false, &v4(&bare));
            out.push((lt, pad_to_min(f)));
        }
        out
    }

    #[test]
    fn plain_is_the_full_decode_or_nothing() {
        for (lt, frame) in plain_shapes() {
            // Whole, cut at every length, and with each header byte (link, IP, TCP)
            // replaced by values that matter to some check.
            assert!(plain_agrees(lt, &frame), "{lt:?}");
            for n in 0..frame.len() {
                let traced_tcp = matches!(decode_traced(lt, &frame[..n]).0, Ok(Decoded::Tcp(_)));
                assert_eq!(plain_agrees(lt, &frame[..n]), traced_tcp, "{lt:?} cut {n}");
            }
            for i in 0..frame.len().min(80) {
                for b in [
                    0x00, 0x01, 0x06, 0x08, 0x20, 0x40, 0x45, 0x4f, 0x50, 0x60, 0xff,
                ] {
                    let mut f = frame.clone();
                    f[i] = b;
                    plain_agrees(lt, &f);
                }
            }
        }
        // Everything else (VLAN tags, IPv6, other link types, fragments) is left to the
        // layers, whatever they make of it.
        for (lt, frame, _) in corpus() {
            plain_agrees(lt, &frame);
        }
        let mut ip = Ipv4B::new(V4_SRC, V4_DST, 6, &request().build());
        ip.frag = 0x2000;
        let f = eth_frame(&[], 0x0800, &ip.build());
        assert!(!plain_agrees(LinkType::ETHERNET, &f));
        let f = eth_frame(&[(0x8100, 0)], 0x0800, &v4(&request()));
        assert!(!plain_agrees(LinkType::ETHERNET, &f));
    }

    #[test]
    fn every_truncated_length_is_an_error_or_a_shorter_view() {
        for (lt, frame, announced) in corpus() {
            let full = tcp(decode(lt, &frame));
            let mut decoded_prefixes = 0;
            for n in 0..frame.len() {
                match decode(lt, &frame[..n]) {
                    Ok(Decoded::Tcp(s)) => {
                        decoded_prefixes += 1;
                        assert_eq!(s.payload, &full.payload[..s.payload.len()]);
                        assert_eq!(
                            TcpSegment {
                                payload: full.payload,
                                payload_missing: full.payload_missing,
                                ..s
                            },
                            full
                        );
                        if announced {
                            assert_eq!(s.wire_payload_len(), full.wire_payload_len());
                        } else {
                            assert_eq!(s.payload_missing, 0);
                        }
                    }
                    Err(DecodeError::Truncated { .. }) => {}
                    other => panic!("{lt:?} prefix {n} of {}: {other:?}", frame.len()),
                }
            }
            assert_eq!(decoded_prefixes, full.payload.len(), "{lt:?}");
        }
    }

    #[test]
    fn truncated_layers_are_named() {
        let t = request();
        let f = eth_frame(&[(0x8100, 0)], 0x0800, &v4(&t));
        let layer_at = |n: usize| match decode(LinkType::ETHERNET, &f[..n]) {
            Err(DecodeError::Truncated { layer }) => Some(layer),
            _ => None,
        };
        assert_eq!(layer_at(10), Some(Layer::Ethernet));
        assert_eq!(layer_at(16), Some(Layer::Vlan));
        assert_eq!(layer_at(30), Some(Layer::Ipv4));
        assert_eq!(layer_at(50), Some(Layer::Tcp));
    }

    const LINK_TYPES: [LinkType; 10] = [
        LinkType::NULL,
        LinkType::ETHERNET,
        LinkType::RAW_DLT12,
        LinkType::RAW_DLT14,
        LinkType::RAW,
        LinkType::LOOP,
        LinkType::LINUX_SLL,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::LINUX_SLL2,
    ];

    /// Random bytes behind a plausible prefix reach the deeper layers more often than
    /// uniformly random bytes would.
    fn hostile_frame() -> impl Strategy<Value = (LinkType, Vec<u8>)> {
        let prefix = prop_oneof![
            Just(vec![]),
            Just(vec![0x45]),
            Just(vec![0x60]),
            Just(eth_frame(&[], 0x0800, &[0x45])),
            Just(eth_frame(&[], 0x86dd, &[0x60])),
            Just(eth_frame(&[(0x8100, 0), (0x88a8, 1)], 0x0800, &[0x4f])),
            Just(sll_frame(0x0800, &[0x46])),
            Just(sll2_frame(0x86dd, &[0x60])),
            Just(null_frame(2, false, &[0x45])),
            Just(null_frame(30, true, &[0x60])),
        ];
        let lt = prop_oneof![
            proptest::sample::select(LINK_TYPES.to_vec()),
            any::<u32>().prop_map(LinkType),
        ];
        (lt, prefix, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(
            |(lt, mut prefix, rest)| {
                prefix.extend(rest);
                (lt, prefix)
            },
        )
    }

    /// A valid IPv6 packet with random bytes written over part of it.
    fn mangled_ipv6() -> impl Strategy<Value = Vec<u8>> {
        let exts = proptest::collection::vec(
            prop_oneof![
                any::<u8>().prop_map(|l| Ext::HopByHop(l % 4)),
                any::<u8>().prop_map(|l| Ext::DestOpts(l % 4)),
                any::<u8>().prop_map(|l| Ext::Routing(l % 4)),
                any::<u8>().prop_map(|l| Ext::Auth(l % 4)),
                any::<u16>().prop_map(Ext::Fragment),
            ],
            0..10,
        );
        (
            exts,
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..8),
        )
            .prop_map(|(exts, at, noise)| {
                let mut p = v6(&request(), exts);
                let at = at % p.len();
                for (i, b) in noise.into_iter().enumerate() {
                    if let Some(x) = p.get_mut(at + i) {
                        *x = b;
                    }
                }
                p
            })
    }

    #[derive(Clone, Debug)]
    struct Sample {
        v6: bool,
        src: [u8; 16],
        dst: [u8; 16],
        tcp: TcpB,
        link: LinkB,
        trailer: usize,
    }

    impl Sample {
        /// The address the decoder should give back for `a`.
        fn addr(&self, a: &[u8; 16]) -> IpAddr {
            if self.v6 {
                IpAddr::from(*a)
            } else {
                IpAddr::from([a[0], a[1], a[2], a[3]])
            }
        }
    }

    fn sample() -> impl Strategy<Value = Sample> {
        let tags = proptest::collection::vec(
            (
                proptest::sample::select(vec![0x8100u16, 0x88a8, 0x9100]),
                any::<u16>(),
            ),
            0..5,
        );
        let link = prop_oneof![
            3 => tags.prop_map(LinkB::Ethernet),
            1 => Just(LinkB::Sll),
            1 => Just(LinkB::Sll2),
            1 => any::<bool>().prop_map(LinkB::Null),
            1 => Just(LinkB::Loop),
            1 => proptest::sample::select(vec![
                LinkType::RAW, LinkType::RAW_DLT12, LinkType::RAW_DLT14, LinkType::IPV4,
            ]).prop_map(LinkB::Raw),
        ];
        let tcp = (
            any::<(u16, u16, u32, u32, u8, u16)>(),
            0usize..=10,
            proptest::collection::vec(any::<u8>(), 0..1500),
        )
            .prop_map(
                |((sp, dp, seq, ack, flags, window), opt_words, payload)| TcpB {
                    src_port: sp,
                    dst_port: dp,
                    seq,
                    ack,
                    flags,
                    window,
                    options: vec![1; opt_words * 4],
                    payload,
                },
            );
        (
            any::<bool>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            tcp,
            link,
            0usize..30,
        )
            .prop_map(|(v6, src, dst, tcp, link, trailer)| Sample {
                v6,
                src,
                dst,
                tcp,
                link,
                trailer,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Differential check against an independent encoder: etherparse's PacketBuilder.
        #[test]
        fn decodes_what_etherparse_builds(
            v6 in any::<bool>(),
            vlans in 0usize..=2,
            src in any::<[u8; 16]>(),
            dst in any::<[u8; 16]>(),
            (sp, dp, seq, ack, window) in any::<(u16, u16, u32, u32, u16)>(),
            (syn, fin, rst, psh) in any::<(bool, bool, bool, bool)>(),
            payload in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            use etherparse::{PacketBuilder, VlanId};
            let vid = VlanId::try_new(seq as u16 & 0x0fff).unwrap_or(VlanId::ZERO);
            let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
            let s4 = [src[0], src[1], src[2], src[3]];
            let d4 = [dst[0], dst[1], dst[2], dst[3]];
            let ip = match (vlans, v6) {
                (0, false) => eth.ipv4(s4, d4, 64),
                (0, true) => eth.ipv6(src, dst, 64),
                (1, false) => eth.single_vlan(vid).ipv4(s4, d4, 64),
                (1, true) => eth.single_vlan(vid).ipv6(src, dst, 64),
                (_, false) => eth.double_vlan(vid, VlanId::ZERO).ipv4(s4, d4, 64),
                (_, true) => eth.double_vlan(vid, VlanId::ZERO).ipv6(src, dst, 64),
            };
            let mut b = ip.tcp(sp, dp, seq, window).ack(ack);
            if syn { b = b.syn(); }
            if fin { b = b.fin(); }
            if rst { b = b.rst(); }
            if psh { b = b.psh(); }
            let mut frame = Vec::new();
            prop_assert!(b.write(&mut frame, &payload).is_ok());
            let got = match decode(LinkType::ETHERNET, &frame) {
                Ok(Decoded::Tcp(seg)) => seg,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            let (want_src, want_dst) = if v6 {
                (IpAddr::from(src), IpAddr::from(dst))
            } else {
                (IpAddr::from(s4), IpAddr::from(d4))
            };
            prop_assert_eq!(got.src, want_src);
            prop_assert_eq!(got.dst, want_dst);
            prop_assert_eq!((got.src_port, got.dst_port, got.seq, got.ack), (sp, dp, seq, ack));
            prop_assert_eq!(got.window, window);
            prop_assert!(got.flags.ack());
            prop_assert_eq!(
                (got.flags.syn(), got.flags.fin(), got.flags.rst(), got.flags.psh()),
                (syn, fin, rst, psh)
            );
            prop_assert_eq!(got.payload, &payload[..]);
        }


        #[test]
        fn random_bytes_never_panic((lt, bytes) in hostile_frame()) {
            let _ = decode(lt, &bytes);
            for known in LINK_TYPES {
                let _ = decode(known, &bytes);
            }
        }

        #[test]
        fn random_bytes_plain_is_the_full_decode_or_nothing((lt, bytes) in hostile_frame()) {
            plain_agrees(lt, &bytes);
            for known in LINK_TYPES {
                plain_agrees(known, &bytes);
            }
        }

        #[test]
        fn mangled_ipv6_never_panics(p in mangled_ipv6()) {
            if let Ok(Decoded::Tcp(s)) = decode(LinkType::RAW, &p) {
                prop_assert!(s.payload.len() <= p.len());
            }
        }

        #[test]
        fn round_trip(s in sample()) {
            let segment = s.tcp.build();
            let ip = if s.v6 {
                Ipv6B::new(s.src, s.dst, 6, &segment).build()
            } else {
                let src = [s.src[0], s.src[1], s.src[2], s.src[3]];
                let dst = [s.dst[0], s.dst[1], s.dst[2], s.dst[3]];
                Ipv4B::new(src, dst, 6, &segment).build()
            };
            let (lt, mut frame) = s.link.wrap(s.v6, &ip);
            frame.extend(std::iter::repeat_n(0xee, s.trailer));
            let got = match decode(lt, &frame) {
                Ok(Decoded::Tcp(seg)) => seg,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(got.src, s.addr(&s.src));
            prop_assert_eq!(got.dst, s.addr(&s.dst));
            prop_assert_eq!(got.src_port, s.tcp.src_port);
            prop_assert_eq!(got.dst_port, s.tcp.dst_port);
            prop_assert_eq!(got.seq, s.tcp.seq);
            prop_assert_eq!(got.ack, s.tcp.ack);
            prop_assert_eq!(got.flags.bits(), s.tcp.flags);
            prop_assert_eq!(got.window, s.tcp.window);
            prop_assert_eq!(got.payload, &s.tcp.payload[..]);
            prop_assert_eq!(got.payload_missing, 0);
            let plain_link = match &s.link {
                LinkB::Ethernet(tags) => tags.is_empty(),
                LinkB::Sll | LinkB::Sll2 => true,
                _ => false,
            };
            prop_assert_eq!(plain_agrees(lt, &frame), plain_link && !s.v6);
        }
    }
}
