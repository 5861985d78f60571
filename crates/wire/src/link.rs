//! Link layers: from a captured frame to the network-layer bytes it carries.
//!
//! Contract: [`network`] reads only inside the slice it is given and never panics; it
//! returns the network payload as a sub-slice of the input (zero-copy), or [`Network::NotIp`]
//! for frames that carry something other than IPv4/IPv6 (ARP, LLDP, 802.3/LLC, MPLS, PPPoE,
//! ...). Stacked VLAN tags are followed for as long as the frame has bytes, so the loop is
//! bounded by the frame length: each tag consumes 4 bytes.
//!
//! Link trailers (Ethernet padding, FCS, vendor trailers) are left on the returned slice;
//! the IP layer trims them using its own length field.

use crate::encap::Encap;
use crate::error::{DecodeError, Layer};
use crate::frame::LinkType;
use crate::tunnel;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q customer tag.
const TPID_8021Q: u16 = 0x8100;
/// 802.1ad service tag.
const TPID_8021AD: u16 = 0x88a8;
/// Pre-standard QinQ service tag still sent by some switches.
const TPID_QINQ: u16 = 0x9100;

/// BSD `AF_INET`, the same on every platform.
const AF_INET: u32 = 2;
/// `AF_INET6` as numbered by Linux, NetBSD/OpenBSD, FreeBSD/DragonFly and Darwin.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// What a link layer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Network<'a> {
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    /// Raw IP: the version comes from the first nibble.
    AnyIp(&'a [u8]),
    NotIp,
}

/// Strips the link-layer header of `linktype` off `data` (MPLS and PPPoE under it are
/// entered and pushed onto `encap`).
#[inline]
pub(crate) fn network<'a>(
    linktype: LinkType,
    data: &'a [u8],
    encap: &mut Encap,
) -> Result<Network<'a>, DecodeError> {
    match linktype {
        LinkType::ETHERNET => ethernet(data, encap),
        LinkType::LINUX_SLL => linux_sll(data, encap),
        LinkType::LINUX_SLL2 => linux_sll2(data, encap),
        LinkType::NFLOG => tunnel::nflog(data),
        LinkType::NULL | LinkType::LOOP => loopback(data),
        LinkType::RAW | LinkType::RAW_DLT12 | LinkType::RAW_DLT14 => Ok(Network::AnyIp(data)),
        LinkType::IPV4 => Ok(Network::Ipv4(data)),
        LinkType::IPV6 => Ok(Network::Ipv6(data)),
        LinkType(other) => Err(DecodeError::UnsupportedLinkType(other)),
    }
}

/// An Ethernet II frame (also the inner frame of VXLAN, Geneve, GRE bridging, ERSPAN).
#[inline]
pub(crate) fn ethernet<'a>(data: &'a [u8], encap: &mut Encap) -> Result<Network<'a>, DecodeError> {
    let (h, rest) = data
        .split_first_chunk::<14>()
        .ok_or(DecodeError::Truncated {
            layer: Layer::Ethernet,
        })?;
    ethertype(u16::from_be_bytes([h[12], h[13]]), rest, encap)
}

/// Linux cooked capture v1: packet type, ARPHRD type, address length, 8 address bytes,
/// protocol (an EtherType for the link types that matter here).
#[inline]
fn linux_sll<'a>(data: &'a [u8], encap: &mut Encap) -> Result<Network<'a>, DecodeError> {
    let (h, rest) = data
        .split_first_chunk::<16>()
        .ok_or(DecodeError::Truncated {
            layer: Layer::LinuxSll,
        })?;
    ethertype(u16::from_be_bytes([h[14], h[15]]), rest, encap)
}

/// Linux cooked capture v2: protocol first, then reserved, interface index, ARPHRD type,
/// packet type, address length and 8 address bytes.
#[inline]
fn linux_sll2<'a>(data: &'a [u8], encap: &mut Encap) -> Result<Network<'a>, DecodeError> {
    let (h, rest) = data
        .split_first_chunk::<20>()
        .ok_or(DecodeError::Truncated {
            layer: Layer::LinuxSll2,
        })?;
    ethertype(u16::from_be_bytes([h[0], h[1]]), rest, encap)
}

/// BSD loopback. NULL stores the address family in the byte order of the capturing host,
/// LOOP in network byte order; a capture file may come from any host, so both readings are
/// tried for both link types. No family value below 2^16 collides with the byte-swap of
/// another, so this is unambiguous.
#[inline]
fn loopback(data: &[u8]) -> Result<Network<'_>, DecodeError> {
    let (h, rest) = data
        .split_first_chunk::<4>()
        .ok_or(DecodeError::Truncated {
            layer: Layer::Loopback,
        })?;
    let le = u32::from_le_bytes(*h);
    let be = u32::from_be_bytes(*h);
    Ok(if le == AF_INET || be == AF_INET {
        Network::Ipv4(rest)
    } else if AF_INET6.contains(&le) || AF_INET6.contains(&be) {
        Network::Ipv6(rest)
    } else {
        Network::NotIp
    })
}

/// Dispatches on an EtherType, skipping any number of VLAN tags; MPLS and PPPoE sessions
/// are entered.
#[inline]
fn ethertype<'a>(
    mut ty: u16,
    mut rest: &'a [u8],
    encap: &mut Encap,
) -> Result<Network<'a>, DecodeError> {
    loop {
        match ty {
            ETHERTYPE_IPV4 => return Ok(Network::Ipv4(rest)),
            ETHERTYPE_IPV6 => return Ok(Network::Ipv6(rest)),
            TPID_8021Q | TPID_8021AD | TPID_QINQ => {
                // Tag control information (PCP, DEI, VLAN id; id 0 is priority tagging and
                // is treated like any other), then the inner EtherType.
                let (tag, inner) = rest
                    .split_first_chunk::<4>()
                    .ok_or(DecodeError::Truncated { layer: Layer::Vlan })?;
                ty = u16::from_be_bytes([tag[2], tag[3]]);
                rest = inner;
            }
            tunnel::ETHERTYPE_MPLS | tunnel::ETHERTYPE_MPLS_MC => return tunnel::mpls(rest, encap),
            tunnel::ETHERTYPE_PPPOE_SESSION => return tunnel::pppoe(rest, encap),
            _ => return Ok(Network::NotIp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    fn net(lt: LinkType, data: &[u8]) -> Result<Network<'_>, DecodeError> {
        let mut encap = Encap::NONE;
        network(lt, data, &mut encap)
    }

    const IP: &[u8] = &[0x45, 1, 2, 3];

    #[test]
    fn ethernet_ipv4_and_ipv6() {
        let f = eth_frame(&[], ETHERTYPE_IPV4, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(IP)));
        let f = eth_frame(&[], ETHERTYPE_IPV6, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv6(IP)));
    }

    #[test]
    fn ethernet_non_ip_is_not_ip() {
        for ty in [0x0806, 0x88cc, 0x0000, 0x05dc, 0xffff] {
            let f = eth_frame(&[], ty, IP);
            assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::NotIp), "{ty:#06x}");
        }
    }

    #[test]
    fn vlan_id_zero_priority_tag() {
        let f = eth_frame(&[(TPID_8021Q, 0x0000)], ETHERTYPE_IPV4, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(IP)));
        let f = eth_frame(&[(TPID_8021Q, 0xe000)], ETHERTYPE_IPV6, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv6(IP)));
    }

    #[test]
    fn three_stacked_tags() {
        let tags = [(TPID_8021AD, 100), (TPID_8021Q, 200), (TPID_8021Q, 0)];
        let f = eth_frame(&tags, ETHERTYPE_IPV4, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(IP)));
        let tags = [(TPID_QINQ, 1), (TPID_QINQ, 2), (TPID_8021Q, 3)];
        let f = eth_frame(&tags, ETHERTYPE_IPV6, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv6(IP)));
    }

    #[test]
    fn many_stacked_tags_are_bounded_by_the_frame() {
        let tags = vec![(TPID_8021Q, 7); 40];
        let f = eth_frame(&tags, ETHERTYPE_IPV4, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(IP)));
        // A frame made only of tags runs out of bytes.
        let f = eth_frame(&tags, TPID_8021Q, &[]);
        assert_eq!(
            net(LinkType::ETHERNET, &f),
            Err(DecodeError::Truncated { layer: Layer::Vlan })
        );
    }

    #[test]
    fn vlan_carrying_arp_is_not_ip() {
        let f = eth_frame(&[(TPID_8021Q, 5)], 0x0806, IP);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::NotIp));
    }

    #[test]
    fn short_ethernet_header() {
        let f = eth_frame(&[], ETHERTYPE_IPV4, &[]);
        assert_eq!(net(LinkType::ETHERNET, &f), Ok(Network::Ipv4(&[])));
        assert_eq!(
            net(LinkType::ETHERNET, &f[..13]),
            Err(DecodeError::Truncated {
                layer: Layer::Ethernet
            })
        );
    }

    #[test]
    fn linux_sll_v1_and_v2() {
        let f = sll_frame(ETHERTYPE_IPV4, IP);
        assert_eq!(f.len(), 16 + IP.len());
        assert_eq!(net(LinkType::LINUX_SLL, &f), Ok(Network::Ipv4(IP)));
        let f = sll_frame(ETHERTYPE_IPV6, IP);
        assert_eq!(net(LinkType::LINUX_SLL, &f), Ok(Network::Ipv6(IP)));
        let f = sll_frame(0x0004, IP);
        assert_eq!(net(LinkType::LINUX_SLL, &f), Ok(Network::NotIp));
        assert_eq!(
            net(LinkType::LINUX_SLL, &f[..15]),
            Err(DecodeError::Truncated {
                layer: Layer::LinuxSll
            })
        );

        let f = sll2_frame(ETHERTYPE_IPV4, IP);
        assert_eq!(f.len(), 20 + IP.len());
        assert_eq!(net(LinkType::LINUX_SLL2, &f), Ok(Network::Ipv4(IP)));
        let f = sll2_frame(ETHERTYPE_IPV6, IP);
        assert_eq!(net(LinkType::LINUX_SLL2, &f), Ok(Network::Ipv6(IP)));
        let f = sll2_frame(0x0806, IP);
        assert_eq!(net(LinkType::LINUX_SLL2, &f), Ok(Network::NotIp));
        assert_eq!(
            net(LinkType::LINUX_SLL2, &f[..19]),
            Err(DecodeError::Truncated {
                layer: Layer::LinuxSll2
            })
        );
    }

    #[test]
    fn linux_sll_with_untagged_vlan() {
        // When the kernel does not strip the tag, SLL's protocol is the TPID.
        let mut inner = vec![0, 42, 0x86, 0xdd];
        inner.extend_from_slice(IP);
        let f = sll_frame(TPID_8021Q, &inner);
        assert_eq!(net(LinkType::LINUX_SLL, &f), Ok(Network::Ipv6(IP)));
        let f = sll2_frame(TPID_8021Q, &inner);
        assert_eq!(net(LinkType::LINUX_SLL2, &f), Ok(Network::Ipv6(IP)));
    }

    #[test]
    fn null_families_in_either_byte_order() {
        for lt in [LinkType::NULL, LinkType::LOOP] {
            for big_endian in [false, true] {
                let f = null_frame(AF_INET, big_endian, IP);
                assert_eq!(net(lt, &f), Ok(Network::Ipv4(IP)));
                for fam in AF_INET6 {
                    let f = null_frame(fam, big_endian, IP);
                    assert_eq!(net(lt, &f), Ok(Network::Ipv6(IP)), "family {fam}");
                }
                for fam in [0, 1, 7, 17, 0x0200, 0x0800] {
                    let f = null_frame(fam, big_endian, IP);
                    assert_eq!(net(lt, &f), Ok(Network::NotIp), "family {fam}");
                }
            }
            assert_eq!(
                net(lt, &[2, 0, 0]),
                Err(DecodeError::Truncated {
                    layer: Layer::Loopback
                })
            );
        }
    }

    #[test]
    fn raw_ip_link_types() {
        for lt in [LinkType::RAW, LinkType::RAW_DLT12, LinkType::RAW_DLT14] {
            assert_eq!(net(lt, IP), Ok(Network::AnyIp(IP)));
        }
        assert_eq!(net(LinkType::IPV4, IP), Ok(Network::Ipv4(IP)));
        assert_eq!(net(LinkType::IPV6, IP), Ok(Network::Ipv6(IP)));
    }

    #[test]
    fn unsupported_link_type() {
        for lt in [2, 105, 127, 147, 192, u32::MAX] {
            assert_eq!(
                net(LinkType(lt), IP),
                Err(DecodeError::UnsupportedLinkType(lt))
            );
        }
    }
}
