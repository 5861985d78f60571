//! Every cap that wire input can push against, in one place.
//!
//! Each limit has a documented default, a policy when full, and a counter in
//! [`crate::Counters`] that says how often it was hit. ARCHITECTURE.md gives the memory
//! budget these defaults imply.

/// Caps on every structure that traffic can grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Concurrent TCP connections tracked. When full, the least recently active flow is
    /// closed (its pending requests are reported without response) to make room.
    /// Counter: `flows_evicted`.
    pub max_flows: usize,
    /// Concurrent TLS plaintext connections (process + SSL object, see [`crate::plain`]).
    /// When full, the least recently active is closed. Counter: `plain_evicted`.
    pub max_plain_connections: usize,
    /// A flow with no packet for this long (packet time) is closed. Counter: `flows_timed_out`.
    pub flow_idle_timeout_ns: u64,
    /// Out-of-order bytes buffered per direction. When full, the hole before the buffered
    /// data is declared lost (a gap) and the buffer is delivered. Counter: `reasm.overflows`.
    pub max_reasm_bytes: usize,
    /// Out-of-order segments buffered per direction; same policy and counter as bytes.
    pub max_reasm_segments: usize,
    /// Request or response head (start line + headers) size. Past it the message is
    /// counted as `header_too_large`, marked truncated, and the parser resynchronises.
    pub max_header_bytes: usize,
    /// Header fields per message. Past it: `too_many_headers`, same policy.
    pub max_headers: usize,
    /// Requests waiting for their response on one connection. Past it the oldest is
    /// reported without response. Counter: `pending_overflow`.
    pub max_pending_requests: usize,
    /// Bytes kept of any string taken from the wire (host, path, User-Agent...). Longer
    /// strings are cut and flagged truncated. Counter: `strings_truncated`.
    pub max_string_len: usize,
    /// Heap bytes buffered over all connections at once (out-of-order data, heads that
    /// span packets, requests waiting for their response and their strings, allocator
    /// overhead included). Past it, the least recently active connections holding
    /// buffers are closed until the total is back under it. Counter: `flows_shed`.
    pub max_buffered_bytes: usize,
    /// Recently closed connections remembered (FIN both ways or RST), so that late
    /// copies of their segments are dropped as retransmissions instead of opening a new
    /// flow (see [`crate::closed`]); entries expire after 2 MSL (120 s), at most
    /// `flow_idle_timeout_ns`. When full, the oldest is forgotten. 0 disables the memory.
    /// Counter: `closed_evicted` (and `late_duplicates` for the segments dropped).
    pub max_closed_flows: usize,
    /// IP datagrams being reassembled from fragments at once. Past it the oldest is
    /// dropped. Counter: `frag_evicted`.
    pub max_frag_datagrams: usize,
    /// Heap bytes held by datagrams being reassembled (fragment bytes, piece lists, a
    /// fixed cost per datagram). Past it the oldest datagrams are dropped. Counter:
    /// `frag_evicted`.
    pub max_frag_bytes: usize,
    /// Fragments per datagram. Past it the datagram is dropped. Counter: `frag_too_many`.
    pub max_frags_per_datagram: usize,
    /// A datagram still incomplete this long (packet time) after its first fragment is
    /// dropped. Counter: `frag_timed_out`.
    pub frag_timeout_ns: u64,
    /// HTTP/2 streams tracked at once per connection. A stream opened past it is not
    /// tracked (its frames are counted as bytes, its request is not reported). Counter:
    /// `h2_streams_over_cap`.
    pub max_h2_streams: usize,
    /// HTTP/2: decoded header list size handed out per header block (RFC 9113's size:
    /// name + value + 32 per field). Fields past it are decoded (the HPACK table stays in
    /// step) but not used. Counter: `h2_header_lists_over_budget`.
    pub max_header_list_bytes: usize,
    /// HTTP/2: CONTINUATION frames per header block. Past it the block is dropped
    /// (the stream is reported MALFORMED and TRUNCATED). Counter: `h2_continuation_floods`.
    /// The compressed block itself is capped by `max_header_bytes` (same policy,
    /// counter `h2_header_blocks_too_large`).
    pub max_continuations: usize,
    /// HTTP/2: size of each HPACK dynamic table (RFC 7541 size), whatever SETTINGS and
    /// the encoder ask. An encoder size update above it keeps the table at it (entries
    /// the encoder holds and we evicted become unknown references). Counter:
    /// `h2_table_size_capped` (and `h2_hpack_unknown_refs`).
    pub max_hpack_table: usize,
    /// HTTP/2: WebSocket sessions (RFC 8441 extended CONNECT streams answered 2xx)
    /// parsed at once per connection. A session past it is not parsed (its DATA only
    /// counts as the stream's bytes) and gives no record. Counter: `websocket_h2_over_cap`.
    pub max_h2_websockets: usize,
    /// TLS: one handshake message buffered per direction (header included). A longer
    /// message is not parsed and that direction's handshake is given up. Counter:
    /// `tls_handshake_too_large`.
    pub max_tls_handshake_bytes: usize,
    /// TLS: the longest leaf certificate (DER) decoded. It is decoded in place from the
    /// buffered Certificate message (itself capped by `max_tls_handshake_bytes`; no DER
    /// is kept), so this only bounds the decoding work: a longer leaf is not decoded,
    /// its lengths only are reported. Counter: `tls_certs_undecoded`.
    pub max_tls_cert_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 32_768,
            max_plain_connections: 16_384,
            flow_idle_timeout_ns: 120 * 1_000_000_000,
            max_reasm_bytes: 256 * 1024,
            max_reasm_segments: 64,
            max_header_bytes: 32 * 1024,
            max_headers: 128,
            max_pending_requests: 64,
            max_string_len: 1024,
            max_buffered_bytes: 12 << 20,
            max_closed_flows: 4096,
            max_frag_datagrams: 1024,
            max_frag_bytes: 2 << 20,
            max_frags_per_datagram: 64,
            frag_timeout_ns: 30 * 1_000_000_000,
            max_h2_streams: 128,
            max_header_list_bytes: 64 << 10,
            max_continuations: 32,
            max_hpack_table: crate::http2::MAX_TABLE,
            max_h2_websockets: 16,
            max_tls_handshake_bytes: 64 << 10,
            max_tls_cert_bytes: 16 << 10,
        }
    }
}
