//! What the engine produces: one [`Event`] stream, whatever the protocol. Every analyzer
//! reports through it ([`Event::Exchange`] per HTTP request, paired with its response when
//! one was seen; [`Event::RequestStarted`] when a request head is recognised), and the
//! engine adds what it knows of connections ([`Event::ConnectionDecided`],
//! [`Event::ConnectionClosed`]).
//!
//! Contract: a request is one thing everywhere. Each [`Event::RequestStarted`] has
//! exactly one later [`Event::Exchange`] without [`Flags::NO_REQUEST`] (at the latest when
//! its connection closes), and each such exchange had one `RequestStarted`; the
//! counters `HttpCounters::requests` and `ProtocolCounts::requests` count the same
//! events. Alerting counts `RequestStarted`, statistics count the exchanges.

use crate::protocol::Protocol;
use httptop_wire::Timestamp;
use smallvec::SmallVec;
use std::net::{IpAddr, SocketAddr};

/// Bytes of a [`WireStr`] stored without allocation.
pub const WIRESTR_INLINE: usize = 24;

/// Bytes taken from the wire, cut to `Limits::max_string_len`. Not necessarily UTF-8:
/// presenters escape or sanitise them; the engine keeps them as they were.
///
/// Up to [`WIRESTR_INLINE`] bytes are stored inline (methods, most hosts): no
/// allocation per exchange for them.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct WireStr {
    pub bytes: SmallVec<[u8; WIRESTR_INLINE]>,
    /// The wire value was longer than the limit and was cut.
    pub truncated: bool,
}

/// By hand: `SmallVec`'s own `clone` extends element by element; bytes are copied at once.
impl Clone for WireStr {
    fn clone(&self) -> Self {
        WireStr {
            bytes: SmallVec::from_slice(&self.bytes),
            truncated: self.truncated,
        }
    }
}

impl WireStr {
    /// Copies at most `max` bytes of `src`.
    pub fn capped(src: &[u8], max: usize) -> Self {
        let n = src.len().min(max);
        WireStr {
            bytes: SmallVec::from_slice(&src[..n]),
            truncated: src.len() > max,
        }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Flags on an exchange (a bit set; see the associated constants).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// No response was seen for this request (connection closed, timed out, evicted,
    /// capture ended, or the response was lost in a gap).
    pub const NO_RESPONSE: Flags = Flags(1 << 0);
    /// Data of this exchange was lost in the capture (a reassembly gap).
    pub const GAP: Flags = Flags(1 << 1);
    /// A string or the head was cut at a limit, or the message ended early.
    pub const TRUNCATED: Flags = Flags(1 << 2);
    /// The request or response did not parse cleanly (see the anomaly counters).
    pub const MALFORMED: Flags = Flags(1 << 3);
    /// A response seen without any request (the capture started mid-connection, or the
    /// request was lost). Method, host and path are empty.
    pub const NO_REQUEST: Flags = Flags(1 << 4);
    /// A gRPC call (`content-type: application/grpc...` on an HTTP/2 request).
    pub const GRPC: Flags = Flags(1 << 5);
    /// HTTP/2: the stream was reset (RST_STREAM; its error code in
    /// [`Exchange::reset_code`]).
    pub const RESET: Flags = Flags(1 << 6);
    /// HTTP/2: the stream was cut by a GOAWAY (its id above the last stream the GOAWAY
    /// said would be processed, or still open when the connection ended after one).
    pub const GOAWAY: Flags = Flags(1 << 7);
    /// HTTP/2: the response ended with a trailer section (HEADERS after DATA).
    pub const TRAILERS: Flags = Flags(1 << 8);

    /// Names in bit order, as written by the JSON log.
    pub const NAMES: [(Flags, &'static str); 9] = [
        (Flags::NO_RESPONSE, "no_response"),
        (Flags::GAP, "gap"),
        (Flags::TRUNCATED, "truncated"),
        (Flags::MALFORMED, "malformed"),
        (Flags::NO_REQUEST, "no_request"),
        (Flags::GRPC, "grpc"),
        (Flags::RESET, "reset"),
        (Flags::GOAWAY, "goaway"),
        (Flags::TRAILERS, "trailers"),
    ];

    pub const fn empty() -> Self {
        Flags(0)
    }
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

/// HTTP version of a message: `major.minor` (1.0, 1.1; 0.9 for a bare request line;
/// 2.0 for HTTP/2, written `2`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    /// HTTP/2 (one stream of an HTTP/2 connection).
    pub const HTTP2: Version = Version { major: 2, minor: 0 };
}

/// The client as a proxy in front of the host reported it: the source address of a PROXY
/// protocol header (with its port), or the first address of `X-Forwarded-For` /
/// `Forwarded: for=` (with a port only when the header gave one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OriginalClient {
    pub ip: IpAddr,
    pub port: Option<u16>,
}

impl std::fmt::Display for OriginalClient {
    /// `ip` without a port; `ip:port` (`[v6]:port`) with one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => SocketAddr::new(self.ip, p).fmt(f),
            None => self.ip.fmt(f),
        }
    }
}

/// One HTTP request and, when seen, its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    /// Time of the first request byte (of the first response byte for `NO_REQUEST`).
    pub ts: Timestamp,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    /// The client behind a proxy: from the connection's PROXY protocol header, else from
    /// the request's `X-Forwarded-For` / `Forwarded` header; `None` without either.
    pub original_client: Option<OriginalClient>,
    pub method: WireStr,
    /// Host header, or the authority of an absolute-form URI; empty when neither.
    pub host: WireStr,
    /// Request target as sent (origin form; for absolute form, the path part).
    pub path: WireStr,
    pub user_agent: WireStr,
    pub version: Version,
    /// Final status code (interim 1xx responses other than 101 are not final).
    pub status: Option<u16>,
    /// Head + body bytes of the request on the wire.
    pub request_bytes: u64,
    /// Head + body bytes of the response on the wire (0 without response).
    pub response_bytes: u64,
    /// First request byte to first response byte, in nanoseconds.
    pub latency_ns: Option<u64>,
    /// Interim (1xx, not 101) responses seen before the final one.
    pub interim_responses: u8,
    pub flags: Flags,
    /// The tunnels that carried the connection, outermost first (none: empty), as the
    /// segment that created its flow arrived.
    pub encap: httptop_wire::Encap,
    /// HTTP/2: the stream's id (0 for HTTP/1).
    pub stream_id: u32,
    /// HTTP/2: the error code of the RST_STREAM that ended the stream (with
    /// [`Flags::RESET`]).
    pub reset_code: Option<u32>,
    /// gRPC ([`Flags::GRPC`]): `grpc-status` from the trailers or a trailers-only
    /// response; `None` when the call has none (not gRPC, reset, cut).
    pub grpc_status: Option<u32>,
    /// gRPC: `grpc-message` as sent (percent-encoded), cut to `max_string_len`; empty
    /// when none.
    pub grpc_message: WireStr,
    /// Read as TLS plaintext at OpenSSL's boundary ([`crate::plain`]), not from packets.
    pub tls: bool,
    /// TLS plaintext: the process whose SSL calls the exchange was read from; `None`
    /// from the wire.
    pub process: Option<Process>,
    /// TLS plaintext: the process at the other end of the same TCP connection when it is
    /// local too and was seen (curl -> nginx on one host: the exchange is reported once,
    /// from `process`'s streams; see [`crate::plain`]).
    pub peer_process: Option<Process>,
    /// TLS plaintext: `process` wrote the responses (it is the server's end); false when
    /// it wrote the requests, or there is no process. With `peer_process`, `process` is
    /// always the client's (false).
    pub process_is_server: bool,
}

/// A process on this host, as the TLS plaintext probe saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Process {
    /// Process (thread group) id.
    pub pid: u32,
    /// Command name as the kernel keeps it (at most 15 bytes; not necessarily UTF-8).
    pub comm: WireStr,
}

impl Exchange {
    /// Heap bytes its strings hold (those longer than [`WIRESTR_INLINE`]), allocator
    /// overhead included.
    pub fn heap_bytes(&self) -> usize {
        [
            &self.method,
            &self.host,
            &self.path,
            &self.user_agent,
            &self.grpc_message,
        ]
        .iter()
        .map(|w| {
            if w.bytes.spilled() {
                crate::budget::heap(w.bytes.capacity())
            } else {
                0
            }
        })
        .sum()
    }

    /// A failed request: a 5xx status, or a gRPC call whose `grpc-status` is not 0 (OK).
    pub fn is_error(&self) -> bool {
        matches!(self.status, Some(500..=599)) || self.grpc_status.is_some_and(|g| g != 0)
    }

    /// gRPC: `(service, method)` of a call's path `/package.Service/Method`; `None` for
    /// other exchanges or a path of another shape.
    pub fn grpc_call(&self) -> Option<(&[u8], &[u8])> {
        if !self.flags.contains(Flags::GRPC) {
            return None;
        }
        grpc_call_of(self.path.as_bytes())
    }

    /// The first path segment: `/api/user?id=1` -> `/api`, `/` -> `/`, `*` -> `*`;
    /// for CONNECT, the authority as is.
    pub fn section(&self) -> &[u8] {
        section_of(self.path.as_bytes())
    }
}

/// See [`Exchange::grpc_call`]: `/pkg.Service/Method` -> (`pkg.Service`, `Method`).
pub fn grpc_call_of(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (service, method) = (&rest[..slash], &rest[slash + 1..]);
    if service.is_empty() || method.is_empty() || method.contains(&b'/') {
        return None;
    }
    Some((service, method))
}

/// A WebSocket connection (RFC 6455), reported once when it ends: after a `101` with
/// `Upgrade: websocket` (HTTP/1.1), or an RFC 8441 extended CONNECT stream (HTTP/2).
/// Counts are per direction; payloads are never kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebSocketSession {
    /// Time of the upgrade request's first byte.
    pub ts: Timestamp,
    /// Time of the last frame, or of the close of the connection or stream.
    pub end: Timestamp,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub original_client: Option<OriginalClient>,
    /// Host (`:authority`) and path of the upgrade request.
    pub host: WireStr,
    pub path: WireStr,
    /// The HTTP version that carried it: 1.1, or 2 (extended CONNECT).
    pub version: Version,
    /// HTTP/2 stream id (0 over HTTP/1.1).
    pub stream_id: u32,
    /// Frames (control frames included), client to server and server to client.
    pub frames_to_server: u64,
    pub frames_to_client: u64,
    /// Complete data messages (text or binary, fragments joined).
    pub messages_to_server: u64,
    pub messages_to_client: u64,
    /// Payload bytes of all frames (after frame headers).
    pub payload_to_server: u64,
    pub payload_to_client: u64,
    /// The status code of the first Close frame (either side), if it carried one.
    pub close_code: Option<u16>,
    /// Its reason, cut to `max_string_len`.
    pub close_reason: WireStr,
    /// GAP (data lost), MALFORMED (a frame that breaks RFC 6455 framing: the rest is
    /// counted as bytes only), TRUNCATED (ended without a Close frame), RESET (HTTP/2:
    /// the stream was reset).
    pub flags: Flags,
    pub encap: httptop_wire::Encap,
}

/// See [`Exchange::section`].
pub fn section_of(path: &[u8]) -> &[u8] {
    if !path.starts_with(b"/") {
        return path;
    }
    let end = path[1..]
        .iter()
        .position(|&b| b == b'/' || b == b'?' || b == b'#')
        .map_or(path.len(), |i| i + 1);
    if end == 1 {
        b"/"
    } else {
        &path[..end]
    }
}

/// One thing an analyzer or the engine reports (see the module documentation).
// Events live in the engine's one reused buffer, drained after every frame: a boxed
// exchange would cost an allocation per request, the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An exchange is complete (or given up): one per request, plus responses without
    /// request.
    Exchange(Exchange),
    /// A request head was recognised. `ts` is the packet time of the packet whose
    /// processing completed it (the frame's time; a tick's or the end of the capture's
    /// time when a close completed it), so a request counts in the second it was sent.
    RequestStarted { protocol: Protocol, ts: Timestamp },
    /// The connection's content decided its protocol (`Unknown`: no analyzer claims
    /// it, its payload is only counted from now on).
    ConnectionDecided { protocol: Protocol },
    /// A WebSocket connection ended (boxed: one per connection, not per request).
    WebSocket(Box<WebSocketSession>),
    /// A TLS connection ended (boxed: one per connection).
    Tls(Box<crate::tls::TlsSession>),
    /// The connection is gone: its protocol as finally decided (`Unknown` if never) and
    /// its TCP payload bytes each way (each byte once; retransmissions and gaps
    /// excluded).
    ConnectionClosed {
        protocol: Protocol,
        bytes_to_server: u64,
        bytes_to_client: u64,
    },
}

/// Receives what the engine produces. A sink interested only in exchanges implements
/// `on_exchange`; one that wants every event overrides `on_event`.
pub trait Sink {
    fn on_exchange(&mut self, ex: &Exchange);
    fn on_event(&mut self, ev: &Event) {
        if let Event::Exchange(ex) = ev {
            self.on_exchange(ex)
        }
    }
    /// A shard's collector (see [`crate::shard`]): takes the events in place instead of
    /// by [`Sink::on_event`], so they are never copied. `out` is the engine's event
    /// vector: the events handed over before and left in it by the collector, then this
    /// drain's (one packet's, or one closed connection's, worth), all with merge key
    /// `key`. The collector may leave them there to grow, or take the vector (leaving an
    /// empty one) and pass them on before the call ends (a sweep or the end can close
    /// thousands). Returns false (the default) when the sink is no collector. Not called
    /// when `out` is empty: a collector must do nothing with an empty vector.
    fn keyed(&mut self, _key: crate::shard::Key, _out: &mut Vec<Event>) -> bool {
        false
    }
}

impl<F: FnMut(&Exchange)> Sink for F {
    fn on_exchange(&mut self, ex: &Exchange) {
        self(ex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_examples() {
        assert_eq!(section_of(b"/api/user?id=1"), b"/api");
        assert_eq!(section_of(b"/"), b"/");
        assert_eq!(section_of(b"/?q=1"), b"/");
        assert_eq!(section_of(b"/index.html"), b"/index.html");
        assert_eq!(section_of(b"*"), b"*");
        assert_eq!(section_of(b"example.com:443"), b"example.com:443");
        assert_eq!(section_of(b""), b"");
    }

    #[test]
    fn grpc_call_examples() {
        let ok: Option<(&[u8], &[u8])> = Some((b"helloworld.Greeter", b"SayHello"));
        assert_eq!(grpc_call_of(b"/helloworld.Greeter/SayHello"), ok);
        assert_eq!(grpc_call_of(b"/a/b/c"), None);
        assert_eq!(grpc_call_of(b"/a"), None);
        assert_eq!(grpc_call_of(b"//m"), None);
        assert_eq!(grpc_call_of(b"a/b"), None);
    }

    #[test]
    fn is_error_is_a_5xx_or_a_failed_grpc_call() {
        let ex = |status, grpc_status| Exchange {
            status,
            grpc_status,
            ..Exchange::default()
        };
        assert!(ex(Some(503), None).is_error());
        assert!(ex(Some(200), Some(14)).is_error());
        assert!(!ex(Some(200), Some(0)).is_error());
        assert!(!ex(Some(404), None).is_error());
        assert!(!ex(None, None).is_error());
        // Not a 5xx: a status outside 100..=599 is in the class `other`.
        assert!(!ex(Some(600), None).is_error());
    }

    #[test]
    fn wirestr_caps_at_limit() {
        assert!(!WireStr::capped(b"abc", 3).truncated);
        let s = WireStr::capped(b"abcd", 3);
        assert_eq!((s.as_bytes(), s.truncated), (&b"abc"[..], true));
    }
}
