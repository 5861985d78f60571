//! Zero-copy decode views for captured frames: link layers, IPv4/IPv6 and TCP.
//!
//! Contract: every function here takes untrusted bytes and never panics; lengths are
//! checked once and accessors only read inside checked bounds. A frame that cannot be
//! decoded yields a typed [`DecodeError`] the caller counts; it is never fatal. Nothing
//! here allocates or copies payload bytes: a [`TcpSegment`] borrows from the frame.
//!
//! Decoded link types: Ethernet II (any number of 802.1Q / 802.1ad / QinQ tags), Linux
//! cooked capture v1 and v2, BSD NULL and LOOP, and raw IP (LINKTYPE 101, 12, 14, 228, 229).
//! NFLOG (239) too. Tunnels are entered (`tunnel.rs`: IP-in-IP, GRE with Ethernet bridging
//! and ERSPAN I/II/III, VXLAN, Geneve, GTP-U, Teredo, MPLS, PPPoE), at most
//! [`MAX_ENCAP_DEPTH`] deep; the layers are named by the segment's [`Encap`]. IP fragments
//! are handed out whole ([`Decoded::Fragment`]) for the caller to reassemble and decode
//! again with [`decode_datagram`].
//!
//! ```
//! use httptop_wire::{decode, Decoded, LinkType};
//!
//! # let frame: &[u8] = &[];
//! match decode(LinkType::ETHERNET, frame) {
//!     Ok(Decoded::Tcp(segment)) => { /* hand to the flow table */ }
//!     Ok(Decoded::Fragment(fragment)) => { /* reassemble, then decode_datagram */ }
//!     Ok(Decoded::OtherIp | Decoded::NotIp) => { /* count, or ignore */ }
//!     Err(e) => { let _counter_label: &str = e.label(); }
//! }
//! ```

pub mod build;
pub mod counter;
mod decode;
mod encap;
mod error;
mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod ip;
mod ipv4;
mod ipv6;
mod link;
mod tcp;
#[cfg(test)]
mod testutil;
mod tunnel;

pub use decode::{decode, decode_datagram, decode_plain, decode_traced, Decoded};
pub use encap::{Encap, EncapCounters, EncapKind, MAX_ENCAP_DEPTH};
pub use error::{DecodeError, DecodeErrorCounts, Layer};
pub use frame::{Frame, LinkType, Timestamp};
pub use ip::IpFragment;
pub use tcp::{TcpFlags, TcpSegment};

/// The most IPv6 extension headers walked before a packet is given up on
/// ([`DecodeError::TooManyExtensionHeaders`]). Real traffic carries at most three or four;
/// the cap keeps the per-packet cost bounded on crafted chains of minimal headers.
pub const MAX_IPV6_EXT_HEADERS: usize = 8;
