//! Frame builders for the tests. Deliberately written from the RFC layouts, not from the
//! decoder, so a test checks the decoder against an independent encoding.

use crate::frame::LinkType;

/// A TCP header plus payload.
#[derive(Clone, Debug)]
pub struct TcpB {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Must be a multiple of 4 bytes.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Default for TcpB {
    fn default() -> Self {
        TcpB {
            src_port: 40000,
            dst_port: 80,
            seq: 1,
            ack: 2,
            flags: 0x18,
            window: 502,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }
}

impl TcpB {
    pub fn build(&self) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let words = 5 + self.options.len() / 4;
        assert!(words <= 15);
        let mut v = Vec::with_capacity(words * 4 + self.payload.len());
        v.extend_from_slice(&self.src_port.to_be_bytes());
        v.extend_from_slice(&self.dst_port.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.ack.to_be_bytes());
        v.push((words as u8) << 4);
        v.push(self.flags);
        v.extend_from_slice(&self.window.to_be_bytes());
        v.extend_from_slice(&[0xab, 0xcd]); // checksum: not checked
        v.extend_from_slice(&[0, 0]); // urgent pointer
        v.extend_from_slice(&self.options);
        v.extend_from_slice(&self.payload);
        v
    }
}

/// An IPv4 packet around `payload`.
#[derive(Clone, Debug)]
pub struct Ipv4B {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub proto: u8,
    /// Overrides the computed total length.
    pub total_len: Option<u16>,
    /// Flags and fragment offset field.
    pub frag: u16,
    /// Must be a multiple of 4 bytes, at most 40.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

impl Ipv4B {
    pub fn new(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Self {
        Ipv4B {
            src,
            dst,
            proto,
            total_len: None,
            frag: 0x4000, // DF, as most TCP stacks send
            options: Vec::new(),
            payload: payload.to_vec(),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        assert_eq!(self.options.len() % 4, 0);
        let ihl = 5 + self.options.len() / 4;
        assert!(ihl <= 15);
        let total = self
            .total_len
            .unwrap_or((ihl * 4 + self.payload.len()) as u16);
        let mut v = Vec::with_capacity(ihl * 4 + self.payload.len());
        v.push(0x40 | ihl as u8);
        v.push(0);
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&0x1c46u16.to_be_bytes()); // identification
        v.extend_from_slice(&self.frag.to_be_bytes());
        v.push(64);
        v.push(self.proto);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&self.src);
        v.extend_from_slice(&self.dst);
        v.extend_from_slice(&self.options);
        let sum = checksum(&v);
        v[10..12].copy_from_slice(&sum.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv6 extension header; the number is the header's own length field.
#[derive(Clone, Copy, Debug)]
pub enum Ext {
    /// (len + 1) * 8 bytes.
    HopByHop(u8),
    /// (len + 1) * 8 bytes.
    DestOpts(u8),
    /// (len + 1) * 8 bytes.
    Routing(u8),
    /// The fragment offset (13 bits, shifted left 3), reserved bits and M flag field.
    Fragment(u16),
    /// (len + 2) * 4 bytes.
    Auth(u8),
}

impl Ext {
    fn number(self) -> u8 {
        match self {
            Ext::HopByHop(_) => 0,
            Ext::DestOpts(_) => 60,
            Ext::Routing(_) => 43,
            Ext::Fragment(_) => 44,
            Ext::Auth(_) => 51,
        }
    }

    fn write(self, next: u8, v: &mut Vec<u8>) {
        match self {
            Ext::HopByHop(len) | Ext::DestOpts(len) => {
                v.extend_from_slice(&[next, len]);
                // One PadN option filling the rest.
                let pad = usize::from(len) * 8 + 6;
                v.extend_from_slice(&[1, (pad - 2) as u8]);
                v.extend(std::iter::repeat_n(0, pad - 2));
            }
            Ext::Routing(len) => {
                v.extend_from_slice(&[next, len, 4, 0]); // segment routing, 0 left
                v.extend(std::iter::repeat_n(0x5a, usize::from(len) * 8 + 4));
            }
            Ext::Fragment(field) => {
                v.extend_from_slice(&[next, 0]);
                v.extend_from_slice(&field.to_be_bytes());
                v.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
            }
            Ext::Auth(len) => {
                v.extend_from_slice(&[next, len, 0, 0]);
                v.extend(std::iter::repeat_n(0xa5, (usize::from(len) + 2) * 4 - 4));
            }
        }
    }
}

/// An IPv6 packet around `payload`.
#[derive(Clone, Debug)]
pub struct Ipv6B {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub next: u8,
    pub exts: Vec<Ext>,
    /// Overrides the computed payload length.
    pub payload_len: Option<u16>,
    pub payload: Vec<u8>,
}

impl Ipv6B {
    pub fn new(src: [u8; 16], dst: [u8; 16], next: u8, payload: &[u8]) -> Self {
        Ipv6B {
            src,
            dst,
            next,
            exts: Vec::new(),
            payload_len: None,
            payload: payload.to_vec(),
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut exts = Vec::new();
        for (i, e) in self.exts.iter().enumerate() {
            let next = self.exts.get(i + 1).map_or(self.next, |n| n.number());
            e.write(next, &mut exts);
        }
        let plen = self
            .payload_len
            .unwrap_or((exts.len() + self.payload.len()) as u16);
        let first = self.exts.first().map_or(self.next, |e| e.number());
        let mut v = Vec::with_capacity(40 + exts.len() + self.payload.len());
        v.extend_from_slice(&[0x60, 0x0a, 0xbc, 0xde]); // version, class, flow label
        v.extend_from_slice(&plen.to_be_bytes());
        v.push(first);
        v.push(64);
        v.extend_from_slice(&self.src);
        v.extend_from_slice(&self.dst);
        v.extend_from_slice(&exts);
        v.extend_from_slice(&self.payload);
        v
    }
}

/// Ethernet II with VLAN tags given as (TPID, TCI), outermost first.
pub fn eth_frame(tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![
        0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02,
    ];
    for &(tpid, tci) in tags {
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&tci.to_be_bytes());
    }
    v.extend_from_slice(&ethertype.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Pads an Ethernet frame to the 60-byte minimum with nonzero bytes, as some NICs do.
pub fn pad_to_min(mut frame: Vec<u8>) -> Vec<u8> {
    while frame.len() < 60 {
        frame.push(0xee);
    }
    frame
}

/// Linux cooked capture v1.
pub fn sll_frame(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 1, 0, 6]; // to us, ARPHRD_ETHER, 6-byte address
    v.extend_from_slice(&[0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0, 0]);
    v.extend_from_slice(&protocol.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Linux cooked capture v2.
pub fn sll2_frame(protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = protocol.to_be_bytes().to_vec();
    v.extend_from_slice(&[0, 0]); // reserved
    v.extend_from_slice(&3u32.to_be_bytes()); // interface index
    v.extend_from_slice(&[0, 1, 4, 6]); // ARPHRD_ETHER, outgoing, 6-byte address
    v.extend_from_slice(&[0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0, 0]);
    v.extend_from_slice(payload);
    v
}

/// BSD NULL / LOOP with `family` in the given byte order.
pub fn null_frame(family: u32, big_endian: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = if big_endian {
        family.to_be_bytes().to_vec()
    } else {
        family.to_le_bytes().to_vec()
    };
    v.extend_from_slice(payload);
    v
}

/// The link layers a test can wrap an IP packet in.
#[derive(Clone, Debug)]
pub enum LinkB {
    /// Ethernet with these VLAN tags.
    Ethernet(Vec<(u16, u16)>),
    Sll,
    Sll2,
    /// NULL with the family in big-endian (`true`) or little-endian order.
    Null(bool),
    Loop,
    /// A raw-IP link type (101, 12, 14), or 228/229 matching the packet.
    Raw(LinkType),
}

impl LinkB {
    /// Frames `ip` (an IPv6 packet if `v6`), returning the link type to decode it with.
    pub fn wrap(&self, v6: bool, ip: &[u8]) -> (LinkType, Vec<u8>) {
        let ethertype = if v6 { 0x86dd } else { 0x0800 };
        match self {
            LinkB::Ethernet(tags) => (LinkType::ETHERNET, eth_frame(tags, ethertype, ip)),
            LinkB::Sll => (LinkType::LINUX_SLL, sll_frame(ethertype, ip)),
            LinkB::Sll2 => (LinkType::LINUX_SLL2, sll2_frame(ethertype, ip)),
            LinkB::Null(be) => (LinkType::NULL, null_frame(if v6 { 30 } else { 2 }, *be, ip)),
            LinkB::Loop => (
                LinkType::LOOP,
                null_frame(if v6 { 24 } else { 2 }, true, ip),
            ),
            LinkB::Raw(lt) if *lt == LinkType::IPV4 || *lt == LinkType::IPV6 => (
                if v6 { LinkType::IPV6 } else { LinkType::IPV4 },
                ip.to_vec(),
            ),
            LinkB::Raw(lt) => (*lt, ip.to_vec()),
        }
    }

    /// One of each kind, for tests that loop over link types.
    pub fn all() -> Vec<LinkB> {
        vec![
            LinkB::Ethernet(vec![]),
            LinkB::Ethernet(vec![(0x8100, 0)]),
            LinkB::Ethernet(vec![(0x88a8, 10), (0x8100, 20), (0x8100, 30)]),
            LinkB::Sll,
            LinkB::Sll2,
            LinkB::Null(false),
            LinkB::Null(true),
            LinkB::Loop,
            LinkB::Raw(LinkType::RAW),
            LinkB::Raw(LinkType::RAW_DLT12),
            LinkB::Raw(LinkType::RAW_DLT14),
            LinkB::Raw(LinkType::IPV4),
        ]
    }
}
