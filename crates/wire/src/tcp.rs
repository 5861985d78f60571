//! TCP header.
//!
//! Contract: [`parse`] checks the data offset once (at least 5 words, and within the
//! segment) and then reads only from a fixed 20-byte array; options are skipped, not
//! interpreted. The segment it returns borrows its payload from the frame (zero-copy), never
//! past the end the IP layer announced. Checksums are not verified: captures taken on the
//! sending host carry offloaded, not-yet-computed checksums.

use core::fmt;
use std::net::IpAddr;

use crate::encap::Encap;
use crate::error::{DecodeError, Layer};
use crate::ip::IpBody;

const MIN_HEADER_LEN: usize = 20;

/// The TCP flag bits of a segment (the eight bits of header byte 13).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Flags from the raw header byte; every bit pattern is valid.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Whether every flag set in `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub const fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

/// Lists the set flags in tcpdump's order of letters, e.g. `TcpFlags(SYN|ACK)`.
impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        f.write_str("TcpFlags(")?;
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// One decoded TCP segment, borrowing its payload from the captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The TCP payload as captured, trimmed to the IP length (link padding removed).
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture cut (snaplen); 0 normally,
    /// and 0 when the IP header gives no length (IPv4 total length 0, IPv6 jumbo).
    pub payload_missing: u32,
    /// The tunnels the segment arrived in (none for a plain frame).
    pub encap: Encap,
}

impl TcpSegment<'_> {
    /// Payload length on the wire: captured plus missing bytes.
    pub fn wire_payload_len(&self) -> u64 {
        self.payload.len() as u64 + u64::from(self.payload_missing)
    }
}

#[inline]
pub(crate) fn parse(
    src: IpAddr,
    dst: IpAddr,
    body: IpBody<'_>,
) -> Result<TcpSegment<'_>, DecodeError> {
    let (h, _) = body
        .bytes
        .split_first_chunk::<MIN_HEADER_LEN>()
        .ok_or(body.overrun(Layer::Tcp))?;
    let header_len = usize::from(h[12] >> 4) * 4;
    if header_len < MIN_HEADER_LEN {
        return Err(DecodeError::BadHeaderLength { layer: Layer::Tcp });
    }
    let payload = body
        .bytes
        .get(header_len..)
        .ok_or(body.overrun(Layer::Tcp))?;
    Ok(TcpSegment {
        src,
        dst,
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags(h[13]),
        window: u16::from_be_bytes([h[14], h[15]]),
        payload,
        payload_missing: body.missing,
        encap: Encap::NONE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn whole(bytes: &[u8]) -> IpBody<'_> {
        IpBody {
            bytes,
            missing: 0,
            announced: true,
        }
    }

    #[test]
    fn fields_in_network_byte_order() {
        let seg = TcpB {
            src_port: 0x1234,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 0x0102_0304,
            flags: 0x18,
            window: 0xfedc,
            payload: b"GET / HTTP/1.1\r\n".to_vec(),
            ..TcpB::default()
        }
        .build();
        let s = parse(A, B, whole(&seg)).expect("valid segment");
        assert_eq!((s.src, s.dst), (A, B));
        assert_eq!((s.src_port, s.dst_port), (0x1234, 80));
        assert_eq!((s.seq, s.ack), (0xdead_beef, 0x0102_0304));
        assert_eq!(s.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(s.window, 0xfedc);
        assert_eq!(s.payload, b"GET / HTTP/1.1\r\n");
        assert_eq!(s.payload_missing, 0);
        assert_eq!(s.wire_payload_len(), 16);
    }

    #[test]
    fn options_are_skipped() {
        for words in 0..=10 {
            let seg = TcpB {
                options: vec![1; words * 4],
                payload: b"data".to_vec(),
                ..TcpB::default()
            }
            .build();
            assert_eq!(usize::from(seg[12] >> 4), 5 + words);
            let s = parse(A, B, whole(&seg)).expect("valid segment");
            assert_eq!(s.payload, b"data");
        }
    }

    #[test]
    fn data_offset_below_five_words() {
        for doff in 0..5u8 {
            let mut seg = TcpB::default().build();
            seg[12] = doff << 4;
            assert_eq!(
                parse(A, B, whole(&seg)),
                Err(DecodeError::BadHeaderLength { layer: Layer::Tcp })
            );
        }
    }

    #[test]
    fn data_offset_past_segment() {
        let mut seg = TcpB::default().build();
        seg[12] = 6 << 4;
        seg.extend_from_slice(&[0; 3]);
        assert_eq!(
            parse(A, B, whole(&seg)),
            Err(DecodeError::BadHeaderLength { layer: Layer::Tcp })
        );
        let cut = IpBody {
            bytes: &seg,
            missing: 10,
            announced: true,
        };
        assert_eq!(
            parse(A, B, cut),
            Err(DecodeError::Truncated { layer: Layer::Tcp })
        );
        let unknown = IpBody {
            bytes: &seg,
            missing: 0,
            announced: false,
        };
        assert_eq!(
            parse(A, B, unknown),
            Err(DecodeError::Truncated { layer: Layer::Tcp })
        );
    }

    #[test]
    fn segment_shorter_than_header() {
        let seg = TcpB::default().build();
        assert_eq!(
            parse(A, B, whole(&seg[..19])),
            Err(DecodeError::BadHeaderLength { layer: Layer::Tcp })
        );
    }

    #[test]
    fn flag_accessors() {
        let f = TcpFlags::from_bits(0x02 | 0x10);
        assert!(f.syn() && f.ack());
        assert!(!f.fin() && !f.rst() && !f.psh() && !f.urg());
        assert!(TcpFlags::from_bits(0x01).fin());
        assert!(TcpFlags::from_bits(0x04).rst());
        assert!(TcpFlags::from_bits(0x08).psh());
        assert!(TcpFlags::from_bits(0x20).urg());
        assert_eq!(f.bits(), 0x12);
        assert!(f.contains(TcpFlags::SYN));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
    }

    #[test]
    fn flags_debug_lists_names() {
        assert_eq!(format!("{:?}", TcpFlags::default()), "TcpFlags()");
        assert_eq!(
            format!("{:?}", TcpFlags::SYN | TcpFlags::ACK),
            "TcpFlags(SYN|ACK)"
        );
        assert_eq!(
            format!("{:?}", TcpFlags::from_bits(0xff)),
            "TcpFlags(FIN|SYN|RST|PSH|ACK|URG|ECE|CWR)"
        );
    }
}
