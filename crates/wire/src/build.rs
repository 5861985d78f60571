//! Building frames, the other way round from decoding: Ethernet/IPv4/TCP frames for the
//! demo's synthetic traffic and for tests. Not used on the capture path.

/// One TCP endpoint: IPv4 address and port.
pub type Endpoint = ([u8; 4], u16);

/// TCP flag bits, for [`ethernet_ipv4_tcp`].
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// An Ethernet II frame carrying IPv4 (no options, DF) and TCP (no options) from `src`
/// to `dst`. Checksums are left zero (capture tools and httptop do not check them).
pub fn ethernet_ipv4_tcp(
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[0; 12]);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = u16::try_from(40 + payload.len()).unwrap_or(u16::MAX);
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&tcp_segment(src, dst, seq, ack, flags, payload));
    f
}

/// A TCP header (no options, checksum zero) from `src`'s port to `dst`'s, and its
/// payload: the bytes an IP header (or a fragment of one) carries.
pub fn tcp_segment(
    src: Endpoint,
    dst: Endpoint,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&src.1.to_be_bytes());
    t.extend_from_slice(&dst.1.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Decoded, LinkType};

    #[test]
    fn built_frames_decode_to_what_was_built() {
        let f = ethernet_ipv4_tcp(
            ([10, 0, 0, 1], 40000),
            ([10, 0, 0, 2], 80),
            7,
            9,
            flags::PSH | flags::ACK,
            b"GET /",
        );
        let Ok(Decoded::Tcp(t)) = decode(LinkType::ETHERNET, &f) else {
            panic!("not tcp")
        };
        assert_eq!(
            (t.src_port, t.dst_port, t.seq, t.ack, t.payload),
            (40000, 80, 7, 9, &b"GET /"[..])
        );
        assert!(t.flags.psh() && t.flags.ack());
        assert_eq!(t.src, std::net::IpAddr::from([10, 0, 0, 1]));
    }
}
