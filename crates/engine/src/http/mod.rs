//! HTTP/1.x over one reassembled TCP connection: request/response heads, body framing,
//! pairing, resynchronisation after gaps.
//!
//! Contract (the interface the analyzer seam, `crate::analyzer`, relies on):
//! - [`HttpConn::feed`] takes the two byte streams of one connection, in order, as
//!   `Data | Gap | Fin | Rst` events ([`StreamEvent`]), and pushes into `ctx.out` one
//!   [`Event::RequestStarted`] when a request head is recognised and one
//!   [`Event::Exchange`] per request when the exchange is complete (response fully
//!   framed, or request given up). Exchanges of requests are pushed in request order; a
//!   response without request is pushed when it is complete.
//! - **Requests** mean one thing: every request pushed as an exchange (every exchange
//!   without `NO_REQUEST`) had exactly one `RequestStarted`, and `HttpCounters::requests`
//!   counts those events. The analyzer seam reports HTTP/1 as decided once
//!   [`HttpConn::client`] is known, as not HTTP once [`HttpConn::is_dead`], and hands the
//!   connection over once [`HttpConn::upgrade`] is set.
//! - HTTP is recognised by content, never by port: the side that sends a request line is
//!   the client, whichever side opened the connection (a capture starting with a
//!   response makes the side that sent the status line the server).
//! - Results are identical whether a stream is fed whole, split at any offset, or one byte
//!   at a time: every decision is taken at a stream position (end of a start line, end of
//!   a head, the head limit), never at an event boundary.
//! - Hostile input never panics and never grows memory past the [`Limits`]: the head
//!   buffer is capped by `max_header_bytes` (at least 32), the pending queue by
//!   `max_pending_requests` (at least 1), strings by `max_string_len`. Each limit hit
//!   bumps a counter in [`HttpCounters`]. Body bytes are counted, never stored; a head
//!   is parsed in place from the event slice and copied (into a per-direction buffer)
//!   only when it spans events.
//!
//! Documented choices:
//! - **Recognition without sync** (stream start, after a gap or a malformed message): a
//!   start line is looked for at the first byte of the stream, at the first byte after a
//!   gap, and after every LF; a status line also at any `H` inside a line (a response
//!   often follows a body whose framing was lost, with no line end before it). Not at
//!   arbitrary event starts, which would make results depend on segmentation. Request
//!   line: a known method (`parse::KNOWN_METHODS`: RFC 9110, WebDAV, UPnP, a few
//!   vendor methods) followed by SP or the line end, however malformed the rest (as
//!   tshark recognises them: scanners send such lines and servers answer them); or any
//!   `[A-Z_-]{1,20} SP target SP HTTP/d.d (CR)LF` with a target free of spaces and
//!   control bytes. Status line: `HTTP/d.d SP ddd` then SP, CR or LF. SMTP/FTP/IRC
//!   commands are not methods and are never taken for HTTP. On a synchronised stream the
//!   parser is lenient: any token method, runs of spaces, spaces and control bytes
//!   inside the target (kept raw).
//! - **Not HTTP**: when the first line of both directions (each starting at its real
//!   first byte, no gap before) is not a start line and no start line was found yet, the
//!   connection is dead (`not_http_connections`): the flow becomes opaque. A side that
//!   starts with a gap never says "not HTTP"; nor does a side never heard from.
//! - **HTTP/0.9** (obsolete since 1996, still answered by nginx and Apache): a request
//!   line with a known method and no version, or a broken version (`GET / HTTP/1.`), is
//!   a request flagged MALFORMED (counted in `requests` and `malformed_requests`) whose
//!   head runs to the blank line, as tshark reads it, unless the server answers first
//!   without a status line: then the versionless line was a complete HTTP/0.9 request
//!   (not MALFORMED, version 0.9, its buffered bytes as request bytes) and the answer is
//!   its body until close (counted in `responses`, status null, no GAP, latency to its
//!   first byte). On a new connection the server side counts as synchronised from its
//!   first byte when the client began with such a request before it. (tshark decodes
//!   neither side of such an exchange: it waits for the end of the request head.)
//! - **Malformed**: any other start line that does not parse counts `malformed_requests`
//!   / `malformed_responses` and is not counted in `responses`. A start line that does
//!   not parse on a synchronised server side, and a lower-case `http/1.1 200` anywhere a
//!   status line is looked for (HTTP-name is case-sensitive: such a line is a response,
//!   but malformed), is the malformed response to the request it pairs with: that
//!   exchange is flagged MALFORMED (status null, latency to the bad line), and its
//!   response bytes run to the next start line found, or the end of the stream (no GAP:
//!   nothing was lost; a real gap meanwhile ends it with GAP). The side resynchronises
//!   at the next status line, which answers the same request (the bad line was a
//!   preamble), or at the first line start after a request that started after the bad
//!   line (a serial client: that line answers the new request). tshark shows such
//!   answers as "Continuation" data and no response. At the start of a server side, bytes
//!   that are no start line (other than the above) are skipped as the tail of a response
//!   picked up mid-stream (the parser cannot tell a capture that missed the SYN), and
//!   the next response pairs as after a gap. If a request line still
//!   shows `token SP`, a MALFORMED exchange (method, target as path) is queued so that
//!   the server's 400 pairs with it, and, being reported as a request, it is counted in
//!   `requests` (with a `RequestStarted`); a line without even that is no request. A
//!   header block that `httparse`'s grammar rejects (read by `parse::fields`; after
//!   unfolding obsolete line folding, which is tolerated and counted in `obs_folds`)
//!   keeps the message counted, takes Host/User-Agent from a line-by-line salvage,
//!   flags MALFORMED, and the side resynchronises after the head (its body length
//!   cannot be trusted).
//! - **Content-Length**: digits only, `n, n` lists and repeated equal fields accepted;
//!   negative, non-numeric, over `u64::MAX`, or different values count
//!   `bad_content_length` and flag MALFORMED: a request is then taken as bodiless and
//!   the client side resynchronises at the next request line; a response is read until
//!   close. `2^64-1` itself is a valid (if endless) length. Transfer-Encoding with
//!   `chunked` last wins over Content-Length (`te_cl_conflicts`); a request whose
//!   Transfer-Encoding does not end in `chunked` counts `bad_transfer_encoding`, flags
//!   MALFORMED and resynchronises; such a response is read until close.
//! - **Limits**: a head longer than `max_header_bytes` counts `header_too_large`, is
//!   emitted with what its start line and complete header lines say (TRUNCATED), and
//!   the side resynchronises. More than `max_headers` fields count `too_many_headers`
//!   and flag TRUNCATED: Host/User-Agent come from the first `max_headers` fields,
//!   framing headers from all of them.
//! - **Interim responses** (1xx but 101) count in `responses` and
//!   `Exchange::interim_responses`, and their bytes in `response_bytes`; `latency_ns` is
//!   measured to the first byte of the final response.
//! - **Pairing**: FIFO, with a timing rule: a response cannot answer a request whose
//!   first byte came after the response's first byte (it then has no request:
//!   NO_REQUEST, `responses_without_request`). A queue over `max_pending_requests`
//!   emits its oldest request with NO_RESPONSE (`pending_overflow`).
//! - **Gaps**: inside a Content-Length body, a chunk of known size, or a body read until
//!   close, a gap is skipped (GAP on the exchange, `body_gaps`). Anywhere else the side
//!   loses sync (`gaps`): a head cut by the gap is emitted with GAP|TRUNCATED if its
//!   start line was complete, and the side hunts for the next start line (`resyncs`
//!   when found). *Gap-pairing heuristic*: when the server side lost sync, the first
//!   response found afterwards considers the waiting requests that started before it.
//!   If there are several and the client was never seen pipelining (two requests in
//!   the same packet, or a request sent before the previous response started), the
//!   client is serial, so the response answers the newest of them and the older ones had
//!   their responses in the lost bytes: NO_RESPONSE|GAP. A pipelining client keeps FIFO
//!   order. Requests still waiting at close after a server-side loss get
//!   NO_RESPONSE|GAP.
//! - **Tunnels**: after a 101, or a 2xx to CONNECT, HTTP/1 is over on the connection:
//!   [`HttpConn::upgrade`] says where (the direction of the switching response and the
//!   stream offset just after its head), both sides parse nothing more, and the seam
//!   closes the parser and hands both streams to the next analyzer (opaque today). Bytes
//!   the client sends after CONNECT before the answer are not parsed; if the answer is
//!   not 2xx the client side resumes (hunting if such bytes came).
//! - **FIN/close**: a response framed by close completes; a partial head is emitted with
//!   what is known and TRUNCATED (its start line taken to end at the end of data); a
//!   body cut short is TRUNCATED. RST closes the connection.
//! - For an exchange without request, `version` is the response's.

mod conn;
pub(crate) mod parse;
#[doc(hidden)]
pub mod script;
#[cfg(test)]
mod tests;

/// The stream interface, re-exported where the HTTP code has always used it.
pub use crate::stream::{Dir, StreamEvent};
pub use conn::{HttpConn, QueuePool, Upgrade};

use crate::event::{Event, Exchange};
use crate::limits::Limits;
use crate::protocol::Protocol;
use httptop_wire::Timestamp;
use parse::trim_ows;

httptop_wire::counters! {
    /// Anomaly and limit counters of the HTTP layer (like Zeek's weird.log, by name).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct HttpCounters {
        [Http]
        /// Requests: one per request-started event, so one per exchange with a request.
        /// Request lines recognised (including HTTP/0.9 and heads cut by a limit, gap or
        /// FIN), and malformed request lines that still show a method (reported as
        /// malformed exchanges).
        requests: Requests,
        /// Status lines recognised, interim (1xx) included, plus HTTP/0.9 responses.
        responses: Responses,
        /// Request lines that did not parse, and request header blocks that did not.
        malformed_requests: Requests anomaly => "anomalies" { kind = "malformed_request" },
        /// Status lines that did not parse on a synchronised side, and response header
        /// blocks that did not.
        malformed_responses: Responses anomaly => "anomalies" { kind = "malformed_response" },
        /// Heads longer than the head limit (--max-header-bytes).
        header_too_large: Messages anomaly => "truncations" { kind = "heads" },
        /// Heads with more header fields than the limit.
        too_many_headers: Messages anomaly => "truncations" { kind = "header_fields" },
        /// Requests reported without response because the pending queue was full.
        pending_overflow: Requests anomaly => "anomalies" { kind = "pending_overflow" },
        /// Strings cut at the string limit (--max-string-len).
        strings_truncated: Events anomaly => "truncations" { kind = "strings" },
        /// Content-Length values that are not a number, negative, over 2^64, or conflicting.
        bad_content_length: Messages anomaly => "anomalies" { kind = "bad_content_length" },
        /// Chunked framing errors (bad or overflowing chunk size, missing CRLF).
        bad_chunk: Messages anomaly => "anomalies" { kind = "bad_chunk" },
        /// Responses paired with no request.
        responses_without_request: Responses anomaly => "anomalies" { kind = "response_without_request" },
        /// Start lines found again after a side lost sync.
        resyncs: Events => "anomalies" { kind = "http_resync" },
        /// Gaps that cost a side its sync (outside any body of known extent).
        gaps: Events anomaly,
        /// Connections given up as not HTTP: their first line in both directions is no
        /// start line (they become opaque, `unknown` in the protocol table).
        not_http_connections: Connections anomaly => "anomalies" { kind = "not_http_connection" },
        /// Heads that used obsolete line folding (tolerated).
        obs_folds: Messages,
        /// Messages with both Transfer-Encoding: chunked and Content-Length (chunked wins).
        te_cl_conflicts: Messages anomaly,
        /// Requests whose Transfer-Encoding does not end in chunked.
        bad_transfer_encoding: Requests anomaly => "anomalies" { kind = "bad_transfer_encoding" },
        /// Gaps inside a body of known extent, skipped without losing sync (the gaps that
        /// cost sync are counted in gaps).
        body_gaps: Events anomaly,
    }
}

/// What [`HttpConn`] needs from its caller on every call.
pub struct Ctx<'a> {
    pub limits: &'a Limits,
    pub counters: &'a mut HttpCounters,
    /// Where exchanges and request starts go.
    pub out: &'a mut Vec<Event>,
    /// Spare request queues of the engine (see [`QueuePool`]).
    pub pool: &'a mut QueuePool,
    /// Packet time of the engine call in progress (the time of
    /// [`Event::RequestStarted`]).
    pub now: Timestamp,
}

impl Ctx<'_> {
    fn emit(&mut self, ex: Exchange) {
        self.out.push(Event::Exchange(ex));
    }

    /// A request head was recognised: counted once, for every consumer.
    fn request_started(&mut self) {
        self.counters.requests += 1;
        // `resize_with` writes the small event straight into the queue; `push` would build
        // a whole `Event` (the size of an exchange) on the stack and copy it in. The
        // queue grows as `push` grows it.
        let ts = self.now;
        self.out
            .resize_with(self.out.len() + 1, || Event::RequestStarted {
                protocol: Protocol::Http1,
                ts,
            });
    }
}

/// The protocol an `Upgrade` header field names: its first token, case-insensitive
/// (`websocket`, `h2c`); any other token is `Other`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpgradeTo {
    /// No `Upgrade` field.
    #[default]
    Absent,
    /// `h2c`: HTTP/2 over cleartext TCP (RFC 7540 section 3.2).
    H2c,
    /// `websocket` (RFC 6455).
    WebSocket,
    /// Any other protocol.
    Other,
}

impl UpgradeTo {
    pub(crate) fn of(value: &[u8]) -> Self {
        let first = value
            .split(|&b| b == b',')
            .map(trim_ows)
            .next()
            .unwrap_or(b"");
        // A token may carry a version (`websocket/13` is not registered, but tolerated).
        let name = first.split(|&b| b == b'/').next().unwrap_or(b"");
        if name.eq_ignore_ascii_case(b"websocket") {
            UpgradeTo::WebSocket
        } else if name.eq_ignore_ascii_case(b"h2c") {
            UpgradeTo::H2c
        } else {
            UpgradeTo::Other
        }
    }
}
