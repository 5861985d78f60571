//! What the IP layers hand to the transport layer.
//!
//! Contract: an [`IpBody`] is a sub-slice of the captured frame already trimmed to the length
//! the IP header announces, so link trailers (Ethernet padding, FCS) never reach TCP, plus
//! the count of announced bytes the capture did not keep.

use std::net::IpAddr;

use crate::encap::Encap;
use crate::error::{DecodeError, Layer};
use crate::{ipv4, ipv6};

/// IP protocol / IPv6 next-header number of TCP.
pub(crate) const PROTO_TCP: u8 = 6;

/// The bytes an IP packet carries after its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpBody<'a> {
    /// Captured bytes, never past the announced end of the packet.
    pub bytes: &'a [u8],
    /// Announced bytes past the end of the capture (snaplen).
    pub missing: u32,
    /// Whether the IP header gave a length. Without one (IPv4 total length 0 under TSO,
    /// IPv6 jumbograms) the capture is the only bound.
    pub announced: bool,
}

impl IpBody<'_> {
    /// The error for a header of `layer` that runs past `bytes`: a cut capture if bytes are
    /// (or may be) missing, otherwise a header longer than its packet.
    pub fn overrun(&self, layer: Layer) -> DecodeError {
        if self.missing > 0 || !self.announced {
            DecodeError::Truncated { layer }
        } else {
            DecodeError::BadHeaderLength { layer }
        }
    }
}

/// The outcome of the IP layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ip<'a> {
    Tcp {
        src: IpAddr,
        dst: IpAddr,
        body: IpBody<'a>,
    },
    /// Another protocol (a tunnel is entered from here). `v6`: the header was IPv6.
    Other {
        v6: bool,
        proto: u8,
        body: IpBody<'a>,
    },
    Fragment(IpFragment<'a>),
}

/// One IPv4 or IPv6 fragment (first, middle or last), its payload borrowed from the frame,
/// for the caller to reassemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpFragment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// IPv4 protocol, or the IPv6 fragment header's next header.
    pub proto: u8,
    /// Byte offset of `payload` in the datagram (a multiple of 8).
    pub offset: u16,
    /// More fragments follow (the MF / M flag).
    pub more: bool,
    /// The fragment's bytes after the IP headers (and the IPv6 fragment header), trimmed to
    /// the announced length.
    pub payload: &'a [u8],
    /// Announced payload bytes the capture cut (snaplen).
    pub payload_missing: u32,
    /// The encapsulations the fragment arrived in.
    pub encap: Encap,
}

/// Splits `packet` at `announced` bytes, or keeps it whole and counts what the capture lost.
#[inline]
pub(crate) fn trim(packet: &[u8], announced: usize) -> (&[u8], u32) {
    match packet.split_at_checked(announced) {
        Some((kept, _trailer)) => (kept, 0),
        // Announced lengths come from 16-bit fields (plus a fixed header), so this fits.
        None => (
            packet,
            u32::try_from(announced - packet.len()).unwrap_or(u32::MAX),
        ),
    }
}

/// Raw IP: the version nibble chooses the decoder.
#[inline]
pub(crate) fn any(packet: &[u8]) -> Result<Ip<'_>, DecodeError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => ipv4::parse(packet),
        Some(6) => ipv6::parse(packet),
        Some(v) => Err(DecodeError::BadIpVersion(v)),
        None => Err(DecodeError::Truncated {
            layer: Layer::RawIp,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_keeps_announced_and_counts_missing() {
        let data = [1u8, 2, 3, 4, 5];
        assert_eq!(trim(&data, 3), (&data[..3], 0));
        assert_eq!(trim(&data, 5), (&data[..], 0));
        assert_eq!(trim(&data, 9), (&data[..], 4));
        assert_eq!(trim(&[], 0), (&[][..], 0));
    }

    #[test]
    fn any_dispatches_on_version_nibble() {
        assert_eq!(
            any(&[]),
            Err(DecodeError::Truncated {
                layer: Layer::RawIp
            })
        );
        assert_eq!(
            any(&[0x45]),
            Err(DecodeError::Truncated { layer: Layer::Ipv4 })
        );
        assert_eq!(
            any(&[0x60]),
            Err(DecodeError::Truncated { layer: Layer::Ipv6 })
        );
        for v in [0u8, 1, 5, 7, 15] {
            assert_eq!(any(&[v << 4; 60]), Err(DecodeError::BadIpVersion(v)));
        }
    }
}
