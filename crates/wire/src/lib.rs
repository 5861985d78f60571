//! Zero-copy decode views for captured frames: link layers, IPv4/IPv6 and TCP.
//!
//! Contract: every function here takes untrusted bytes and never panics; lengths are
//! checked once and accessors only read inside checked bounds. A frame that cannot be
//! decoded yields a typed [`DecodeError`] the caller counts; it is never fatal.

mod frame;
pub use frame::{Frame, LinkType, Timestamp};
