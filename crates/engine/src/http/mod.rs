//! HTTP/1.x over one reassembled TCP connection: request/response heads, body framing,
//! pairing, resynchronisation after gaps.
//!
//! Contract (the interface the flow table relies on):
//! - [`HttpConn::feed`] takes the two byte streams of one connection, in order, as
//!   `Data | Gap | Fin | Rst` events, and pushes one [`Exchange`] per request into
//!   `ctx.out` when the exchange is complete (response fully framed, or request given up).
//! - HTTP is recognised by content, never by port: the side that sends a request line is
//!   the client, whichever side opened the connection.
//! - Results are identical whether a stream is fed whole, split at any offset, or one byte
//!   at a time.
//! - Hostile input never panics and never grows memory past the [`Limits`]: the head
//!   buffer is capped by `max_header_bytes`, the pending queue by `max_pending_requests`,
//!   strings by `max_string_len`. Each limit hit bumps a counter in [`HttpCounters`].

use crate::event::Exchange;
use crate::limits::Limits;
use httptop_wire::Timestamp;

/// Which side of the TCP connection a byte stream comes from. `Orig` is the side that
/// sent the SYN, or the side first seen when the connection was picked up mid-stream.
/// Which of them is the HTTP client is decided by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Orig,
    Resp,
}

impl Dir {
    pub fn other(self) -> Dir {
        match self {
            Dir::Orig => Dir::Resp,
            Dir::Resp => Dir::Orig,
        }
    }
}

/// One in-order event of a reassembled byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// This many bytes of the stream were lost (not captured).
    Gap(u64),
    /// The sender closed its side (FIN).
    Fin,
    /// The connection was reset.
    Rst,
}

/// Anomaly and limit counters of the HTTP layer (like Zeek's weird.log, by name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCounters {
    pub requests: u64,
    pub responses: u64,
    pub malformed_requests: u64,
    pub malformed_responses: u64,
    pub header_too_large: u64,
    pub too_many_headers: u64,
    pub pending_overflow: u64,
    pub strings_truncated: u64,
    pub bad_content_length: u64,
    pub bad_chunk: u64,
    pub responses_without_request: u64,
    pub resyncs: u64,
    pub gaps: u64,
    pub not_http_connections: u64,
}

/// What [`HttpConn`] needs from its caller on every call.
pub struct Ctx<'a> {
    pub limits: &'a Limits,
    pub counters: &'a mut HttpCounters,
    pub out: &'a mut Vec<Exchange>,
}
