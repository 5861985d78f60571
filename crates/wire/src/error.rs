//! Why a frame could not be decoded.
//!
//! Contract: errors are small `Copy` values that carry no bytes from the frame, so the caller
//! can count them by [`DecodeError::label`] (a bounded set of static names fit for a metric
//! label) without allocating. Every variant means "this frame is malformed or cut", never
//! "the program is in trouble": the caller counts it and moves on.

use core::fmt;

/// The protocol layer an error was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// Ethernet II header (14 bytes).
    Ethernet,
    /// An 802.1Q / 802.1ad / QinQ tag (4 bytes each).
    Vlan,
    /// Linux cooked capture v1 header (16 bytes).
    LinuxSll,
    /// Linux cooked capture v2 header (20 bytes).
    LinuxSll2,
    /// BSD loopback (NULL / LOOP) 4-byte family header.
    Loopback,
    /// Raw IP link type with no byte to read the version from.
    RawIp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header (hop-by-hop, routing, destination options, fragment, AH).
    Ipv6Ext,
    /// TCP header.
    Tcp,
}

impl Layer {
    /// A short lowercase name, stable across releases (used in metric labels).
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Ethernet => "ethernet",
            Layer::Vlan => "vlan",
            Layer::LinuxSll => "linux_sll",
            Layer::LinuxSll2 => "linux_sll2",
            Layer::Loopback => "loopback",
            Layer::RawIp => "raw_ip",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::Ipv6Ext => "ipv6_ext",
            Layer::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A frame that cannot be decoded as far as its TCP header.
///
/// Frames that decode fine but are not TCP are not errors: see [`crate::Decoded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// The capture ends inside a header of `layer` (short snaplen, or a runt frame).
    Truncated { layer: Layer },
    /// The link type is not one this crate decodes.
    UnsupportedLinkType(u32),
    /// The IP version nibble does not match what the link layer announced
    /// (or is neither 4 nor 6 on raw-IP link types).
    BadIpVersion(u8),
    /// A header-length field is below the protocol minimum, or runs past the length the
    /// enclosing layer announces (as opposed to past the captured bytes: that is `Truncated`).
    BadHeaderLength { layer: Layer },
    /// The IP length field is smaller than the IP header itself.
    BadTotalLength { layer: Layer },
    /// More IPv6 extension headers than [`crate::MAX_IPV6_EXT_HEADERS`].
    TooManyExtensionHeaders,
}

impl DecodeError {
    /// A stable static name for counting this error, e.g. `"truncated_tcp"`.
    ///
    /// The set of labels is bounded (no values from the frame appear in it).
    pub const fn label(&self) -> &'static str {
        match self {
            DecodeError::Truncated { layer } => match layer {
                Layer::Ethernet => "truncated_ethernet",
                Layer::Vlan => "truncated_vlan",
                Layer::LinuxSll => "truncated_linux_sll",
                Layer::LinuxSll2 => "truncated_linux_sll2",
                Layer::Loopback => "truncated_loopback",
                Layer::RawIp => "truncated_raw_ip",
                Layer::Ipv4 => "truncated_ipv4",
                Layer::Ipv6 => "truncated_ipv6",
                Layer::Ipv6Ext => "truncated_ipv6_ext",
                Layer::Tcp => "truncated_tcp",
            },
            DecodeError::UnsupportedLinkType(_) => "unsupported_link_type",
            DecodeError::BadIpVersion(_) => "bad_ip_version",
            DecodeError::BadHeaderLength { layer } => match layer {
                Layer::Ipv4 => "bad_header_length_ipv4",
                Layer::Ipv6Ext => "bad_header_length_ipv6_ext",
                Layer::Tcp => "bad_header_length_tcp",
                _ => "bad_header_length",
            },
            DecodeError::BadTotalLength { .. } => "bad_total_length",
            DecodeError::TooManyExtensionHeaders => "too_many_extension_headers",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { layer } => write!(f, "frame truncated in {layer} header"),
            DecodeError::UnsupportedLinkType(lt) => write!(f, "unsupported link type {lt}"),
            DecodeError::BadIpVersion(v) => write!(f, "unexpected IP version {v}"),
            DecodeError::BadHeaderLength { layer } => write!(f, "bad {layer} header length"),
            DecodeError::BadTotalLength { layer } => write!(f, "bad {layer} total length"),
            DecodeError::TooManyExtensionHeaders => f.write_str("too many IPv6 extension headers"),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_per_truncated_layer() {
        let layers = [
            Layer::Ethernet,
            Layer::Vlan,
            Layer::LinuxSll,
            Layer::LinuxSll2,
            Layer::Loopback,
            Layer::RawIp,
            Layer::Ipv4,
            Layer::Ipv6,
            Layer::Ipv6Ext,
            Layer::Tcp,
        ];
        let mut labels = Vec::new();
        for layer in layers {
            let label = DecodeError::Truncated { layer }.label();
            assert_eq!(label, format!("truncated_{}", layer.name()));
            labels.push(label);
        }
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), layers.len());
    }

    #[test]
    fn display_names_the_layer() {
        let e = DecodeError::Truncated { layer: Layer::Tcp };
        assert_eq!(e.to_string(), "frame truncated in tcp header");
        assert_eq!(
            DecodeError::UnsupportedLinkType(147).to_string(),
            "unsupported link type 147"
        );
    }
}
