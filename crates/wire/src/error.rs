//! Why a frame could not be decoded.
//!
//! Contract: errors are small `Copy` values that carry no bytes from the frame, so the caller
//! can count them by [`DecodeError::label`] (a bounded set of static names fit for a metric
//! label) without allocating. Every variant means "this frame is malformed or cut", never
//! "the program is in trouble": the caller counts it and moves on.

use crate::counter::{Descriptor, Group, Sample, Unit};
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
    /// VXLAN header (8 bytes).
    Vxlan,
    /// Geneve header (8 bytes and its options).
    Geneve,
    /// GRE header (4 bytes, plus checksum, key and sequence words).
    Gre,
    /// ERSPAN type II/III header.
    Erspan,
    /// GTP-U header (8 bytes, optional fields and extension headers).
    GtpU,
    /// Teredo authentication or origin indication.
    Teredo,
    /// An MPLS label stack entry (4 bytes each).
    Mpls,
    /// PPPoE session header and PPP protocol (8 bytes).
    Pppoe,
    /// NFLOG header or TLV.
    Nflog,
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
            Layer::Vxlan => "vxlan",
            Layer::Geneve => "geneve",
            Layer::Gre => "gre",
            Layer::Erspan => "erspan",
            Layer::GtpU => "gtpu",
            Layer::Teredo => "teredo",
            Layer::Mpls => "mpls",
            Layer::Pppoe => "pppoe",
            Layer::Nflog => "nflog",
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
    /// More encapsulation layers than [`crate::MAX_ENCAP_DEPTH`].
    TooManyEncapsulations,
}

impl DecodeError {
    /// Number of kinds ([`DecodeError::kind_index`] is below it).
    pub const KINDS: usize = KINDS.len();

    /// The kind's index into [`DecodeErrorCounts`], from 0 to [`DecodeError::KINDS`] - 1.
    pub const fn kind_index(&self) -> usize {
        match self {
            DecodeError::Truncated { layer } => match layer {
                Layer::Ethernet => 0,
                Layer::Vlan => 1,
                Layer::LinuxSll => 2,
                Layer::LinuxSll2 => 3,
                Layer::Loopback => 4,
                Layer::RawIp => 5,
                Layer::Ipv4 => 6,
                Layer::Ipv6 => 7,
                Layer::Ipv6Ext => 8,
                Layer::Tcp => 9,
                Layer::Vxlan => 18,
                Layer::Geneve => 19,
                Layer::Gre => 20,
                Layer::Erspan => 21,
                Layer::GtpU => 22,
                Layer::Teredo => 23,
                Layer::Mpls => 24,
                Layer::Pppoe => 25,
                Layer::Nflog => 26,
            },
            DecodeError::UnsupportedLinkType(_) => 10,
            DecodeError::BadIpVersion(_) => 11,
            DecodeError::BadHeaderLength { layer } => match layer {
                Layer::Ipv4 => 12,
                Layer::Ipv6Ext => 13,
                Layer::Tcp => 14,
                _ => 15,
            },
            DecodeError::BadTotalLength { .. } => 16,
            DecodeError::TooManyExtensionHeaders => 17,
            DecodeError::TooManyEncapsulations => 27,
        }
    }

    /// A stable static name for counting this error, e.g. `"truncated_tcp"`.
    ///
    /// The set of labels is bounded (no values from the frame appear in it).
    pub const fn label(&self) -> &'static str {
        KINDS[self.kind_index()].0
    }
}

/// Label and help of every kind, at its [`DecodeError::kind_index`].
const KINDS: [(&str, &str); 28] = [
    (
        "truncated_ethernet",
        "Frames cut inside the Ethernet header.",
    ),
    ("truncated_vlan", "Frames cut inside an 802.1Q/802.1ad tag."),
    (
        "truncated_linux_sll",
        "Frames cut inside the Linux cooked (SLL) header.",
    ),
    (
        "truncated_linux_sll2",
        "Frames cut inside the Linux cooked v2 (SLL2) header.",
    ),
    (
        "truncated_loopback",
        "Frames cut inside the BSD loopback header.",
    ),
    (
        "truncated_raw_ip",
        "Raw IP frames with no byte to read the version from.",
    ),
    ("truncated_ipv4", "Frames cut inside the IPv4 header."),
    ("truncated_ipv6", "Frames cut inside the IPv6 header."),
    (
        "truncated_ipv6_ext",
        "Frames cut inside an IPv6 extension header.",
    ),
    ("truncated_tcp", "Frames cut inside the TCP header."),
    (
        "unsupported_link_type",
        "Frames of a link type httptop does not decode.",
    ),
    (
        "bad_ip_version",
        "Frames whose IP version does not match the link layer.",
    ),
    (
        "bad_header_length_ipv4",
        "IPv4 headers with an impossible header length.",
    ),
    (
        "bad_header_length_ipv6_ext",
        "IPv6 extension headers running past the packet.",
    ),
    (
        "bad_header_length_tcp",
        "TCP headers with an impossible data offset.",
    ),
    (
        "bad_header_length",
        "Other headers with an impossible length.",
    ),
    (
        "bad_total_length",
        "IP length fields smaller than the IP header.",
    ),
    (
        "too_many_extension_headers",
        "IPv6 packets with more extension headers than httptop walks (8).",
    ),
    ("truncated_vxlan", "Frames cut inside a VXLAN header."),
    (
        "truncated_geneve",
        "Frames cut inside a Geneve header or its options.",
    ),
    ("truncated_gre", "Frames cut inside a GRE header."),
    ("truncated_erspan", "Frames cut inside an ERSPAN header."),
    (
        "truncated_gtpu",
        "Frames cut inside a GTP-U header or extension.",
    ),
    ("truncated_teredo", "Frames cut inside a Teredo indication."),
    ("truncated_mpls", "Frames cut inside an MPLS label stack."),
    (
        "truncated_pppoe",
        "Frames cut inside a PPPoE session header.",
    ),
    (
        "truncated_nflog",
        "Frames cut inside an NFLOG header or TLV.",
    ),
    (
        "too_many_encapsulations",
        "Frames nested in more tunnels than httptop enters (8).",
    ),
];

/// Undecodable frames by [`DecodeError`] kind: a fixed array, one addition per error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeErrorCounts([u64; DecodeError::KINDS]);

impl DecodeErrorCounts {
    /// One descriptor per kind, at its index; all in the `decode_errors` family, labelled
    /// by `kind`.
    pub const DESCRIPTORS: [Descriptor; DecodeError::KINDS] = {
        let mut d = [Descriptor {
            group: Group::Decode,
            name: "",
            help: "",
            unit: Unit::Frames,
            metric: Some("decode_errors"),
            label: None,
            anomaly: false,
        }; DecodeError::KINDS];
        let mut i = 0;
        while i < DecodeError::KINDS {
            d[i].name = KINDS[i].0;
            d[i].help = KINDS[i].1;
            d[i].label = Some(("kind", KINDS[i].0));
            i += 1;
        }
        d
    };

    #[inline]
    pub fn count(&mut self, e: &DecodeError) {
        if let Some(c) = self.0.get_mut(e.kind_index()) {
            *c += 1;
        }
    }

    /// Frames of this kind so far.
    pub fn get(&self, e: &DecodeError) -> u64 {
        self.0.get(e.kind_index()).copied().unwrap_or(0)
    }

    /// The counts, at [`DecodeError::kind_index`], to set (tests, merging).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut u64> {
        self.0.iter_mut()
    }

    pub fn samples(&self) -> impl Iterator<Item = Sample> {
        crate::counter::samples(&Self::DESCRIPTORS, self.0, None)
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
            DecodeError::TooManyEncapsulations => f.write_str("too many encapsulations"),
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
            Layer::Vxlan,
            Layer::Geneve,
            Layer::Gre,
            Layer::Erspan,
            Layer::GtpU,
            Layer::Teredo,
            Layer::Mpls,
            Layer::Pppoe,
            Layer::Nflog,
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
    fn every_kind_has_its_own_index_and_label() {
        let all = [
            DecodeError::Truncated {
                layer: Layer::Ethernet,
            },
            DecodeError::Truncated { layer: Layer::Vlan },
            DecodeError::Truncated {
                layer: Layer::LinuxSll,
            },
            DecodeError::Truncated {
                layer: Layer::LinuxSll2,
            },
            DecodeError::Truncated {
                layer: Layer::Loopback,
            },
            DecodeError::Truncated {
                layer: Layer::RawIp,
            },
            DecodeError::Truncated { layer: Layer::Ipv4 },
            DecodeError::Truncated { layer: Layer::Ipv6 },
            DecodeError::Truncated {
                layer: Layer::Ipv6Ext,
            },
            DecodeError::Truncated { layer: Layer::Tcp },
            DecodeError::UnsupportedLinkType(147),
            DecodeError::BadIpVersion(5),
            DecodeError::BadHeaderLength { layer: Layer::Ipv4 },
            DecodeError::BadHeaderLength {
                layer: Layer::Ipv6Ext,
            },
            DecodeError::BadHeaderLength { layer: Layer::Tcp },
            DecodeError::BadHeaderLength { layer: Layer::Vlan },
            DecodeError::BadTotalLength { layer: Layer::Ipv4 },
            DecodeError::TooManyExtensionHeaders,
            DecodeError::Truncated {
                layer: Layer::Vxlan,
            },
            DecodeError::Truncated {
                layer: Layer::Geneve,
            },
            DecodeError::Truncated { layer: Layer::Gre },
            DecodeError::Truncated {
                layer: Layer::Erspan,
            },
            DecodeError::Truncated { layer: Layer::GtpU },
            DecodeError::Truncated {
                layer: Layer::Teredo,
            },
            DecodeError::Truncated { layer: Layer::Mpls },
            DecodeError::Truncated {
                layer: Layer::Pppoe,
            },
            DecodeError::Truncated {
                layer: Layer::Nflog,
            },
            DecodeError::TooManyEncapsulations,
        ];
        let mut c = DecodeErrorCounts::default();
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.kind_index(), i);
            for _ in 0..=i {
                c.count(e);
            }
            assert_eq!(DecodeErrorCounts::DESCRIPTORS[i].name, e.label());
            assert_eq!(
                DecodeErrorCounts::DESCRIPTORS[i].label,
                Some(("kind", e.label()))
            );
        }
        let values: Vec<u64> = c.samples().map(|s| s.value).collect();
        assert_eq!(values, (1..=all.len() as u64).collect::<Vec<_>>());
        assert_eq!(c.get(&DecodeError::TooManyExtensionHeaders), 18);
        assert_eq!(c.get(&DecodeError::TooManyEncapsulations), 28);
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
