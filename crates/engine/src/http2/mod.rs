//! HTTP/2 (RFC 9113) over cleartext TCP: frames, HPACK, one exchange per stream.
//!
//! Contract (the interface the analyzer seam, `crate::analyzer`, relies on):
//! - **Detection**: the seam decides HTTP/2 when the originator's stream starts with the
//!   24-byte client preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n` (matched in place by the
//!   preface probe before HTTP/1 could take `PRI * HTTP/2.0` for a request line; also
//!   after a PROXY header, and when the server spoke first: its first bytes went to the
//!   speculative HTTP/1 probe and are not replayed, the server side is read from the
//!   next event on, taken to start at a frame boundary), or when HTTP/1.1 `Upgrade: h2c`
//!   is answered by `101` ([`H2Conn::upgraded`]: the upgrade request becomes stream 1's,
//!   its `RequestStarted` already counted under http/1, the 101 counted as an interim
//!   response; the exchange is emitted when stream 1's HTTP/2 response ends).
//! - **Mid-stream pickup** (no preface seen: the capture started later or lost it):
//!   [`MidProbe`] (`mid.rs`, its contract there) runs beside HTTP/1's probe while the
//!   connection is undecided, from a side's data event starting with 0x00, and decides
//!   HTTP/2 on 3 well-formed frame headers in a row (both sides together) whose frames
//!   name the client side without contradiction; HTTP/1 deciding first (or on the same
//!   event) wins. Its window of at most 8 KiB and 32 events is charged and replayed into
//!   [`H2Conn::mid`], each side from its synchronised start (a side that was not is
//!   given up, `h2_lost_sync`). What is seen then: streams whose request HEADERS come
//!   after the pickup are exchanges as usual; a response HEADERS on a stream opened
//!   before (an id below the first one seen from its initiator) opens a NO_REQUEST
//!   exchange; HPACK decodes the static table, literals, and the entries inserted after
//!   the pickup, a reference to an older entry is counted (`h2_hpack_unknown_refs`, the
//!   exchange TRUNCATED) and its field missing; table size updates are all allowed (the
//!   SETTINGS were not seen). Not seen: requests of streams opened before the pickup, a
//!   pickup whose first 8 KiB name no client side (DATA only), a side whose first event
//!   after the pickup does not start at a frame boundary. Counted in `h2_midstream`.
//! - **Frames**: [`H2Conn::feed`] takes both directions' `StreamEvent`s; each
//!   direction's frame reader is a push parser over 9-byte frame headers: results are
//!   identical whether a stream is fed whole, split at any byte or byte by byte (every
//!   decision is taken at a stream position; times are those of the event carrying a
//!   frame's first byte). Payloads are never buffered except header block fragments
//!   (HEADERS, PUSH_PROMISE, CONTINUATION), capped by `max_header_bytes` and
//!   `max_continuations`; DATA is counted in place. Padding and priority fields are
//!   skipped; padding longer than its frame, a CONTINUATION without its block, or a frame
//!   interrupting a block count `h2_bad_frames` (the frame is skipped). Unknown frame types
//!   are skipped (`h2_unknown_frames`). SETTINGS_HEADER_TABLE_SIZE bounds the other
//!   side's HPACK size updates (see [`hpack`]); RST_STREAM ends its stream (RESET,
//!   `reset_code`); GOAWAY's last stream id flags the later streams of the receiving
//!   side GOAWAY (and every stream still open at close after a GOAWAY).
//! - **Gaps**: a gap inside a DATA payload (or padding) is skipped without losing frame
//!   sync (`h2_data_gaps`, the stream flagged GAP); anywhere else the direction is given
//!   up (`h2_lost_sync`): nothing more is read from it and every open stream is flagged
//!   GAP (its exchange comes out at close). There is no resynchronisation on frame
//!   headers: a frame header is too weak a pattern to find in arbitrary bytes without
//!   false positives, and the HPACK state is lost with the header blocks anyway.
//! - **Streams**: one stream, one [`Exchange`](crate::Exchange): `:method`, `:authority`
//!   as host (`host` when absent), `:path`, `user-agent`, `:status`; request and response
//!   bytes are the wire bytes (frame headers included) of the stream's HEADERS,
//!   CONTINUATION and DATA frames each way; `ts` is the first request frame's time,
//!   latency runs to the first final (non-1xx) response HEADERS (1xx count in
//!   `interim_responses`); a response HEADERS after the final one is a trailer section
//!   (TRAILERS). One `RequestStarted { protocol: Http2 }` per stream when its request
//!   header block completes (or when its exchange is emitted, if the block never did);
//!   the exchange is emitted when the response ends (END_STREAM), the stream is reset,
//!   or the connection closes (NO_RESPONSE without a final response). Exchanges of a
//!   connection come out in completion order. A server HEADERS on a stream we never saw
//!   opened is a response without request (NO_REQUEST).
//! - **Server push**: a PUSH_PROMISE opens the promised stream with the promised request
//!   (its header block is the request's; the PUSH_PROMISE frames are its request bytes):
//!   pushed streams count as requests, as tshark counts their `:method`. `h2_pushes`
//!   counts them.
//! - **gRPC**: `content-type: application/grpc...` on the request flags GRPC;
//!   `grpc-status` and `grpc-message` (cut to `max_string_len`) come from the trailers or
//!   a trailers-only response (HEADERS with END_STREAM). The `grpc` protocol row (a part
//!   of `http/2`) counts the connections with a call (once, at the first call's end),
//!   the calls (at their RequestStarted; the event itself says `Http2`: a call is an
//!   HTTP/2 request) and the wire bytes of their streams (at the exchange's end).
//! - **WebSocket (RFC 8441)**: a request HEADERS with `:method CONNECT` and `:protocol
//!   websocket` answered by a 2xx `:status` makes its stream a WebSocket session (the
//!   server's SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 is not required: a capture may start
//!   after it; without it the session counts in `websocket_h2_unannounced`). The DATA
//!   payloads of the stream each way (padding removed) go to a
//!   [`WsStreams`](crate::websocket::WsStreams) from the 2xx on (client DATA sent before
//!   the 2xx was seen is not parsed: that direction is flagged GAP and stops); a gap in
//!   them, or a direction losing frame sync, stops that direction (GAP). The stream is
//!   still one exchange (`CONNECT`, 200), emitted as for any stream (at the server's
//!   END_STREAM, a reset or the close); the session's [`Event::WebSocket`](crate::Event)
//!   record (version 2, stream id, `:authority` as host, `:path`, `ts` of the CONNECT
//!   HEADERS) comes out when both sides have sent END_STREAM (`end`: that frame's
//!   time), at RST_STREAM (RESET), or at the connection's close. Sessions count in
//!   `WebSocketCounters` as over HTTP/1.1 (plus `websocket_h2_sessions`) and each one as
//!   a connection of the `websocket` protocol row; their bytes stay under `http/2`'s.
//!   At most `max_h2_websockets` sessions are parsed at once per connection (past it:
//!   `websocket_h2_over_cap`, not parsed, no record); their state is charged through
//!   `heap_bytes`.
//! - **Caps** (all counted in [`Http2Counters`]): streams tracked per connection
//!   (`max_h2_streams`: a stream past it is not tracked, its frames only count as
//!   bytes); compressed header block bytes (`max_header_bytes`) and CONTINUATION frames
//!   per block (`max_continuations`): past either the block is dropped, its stream
//!   flagged MALFORMED and TRUNCATED, and the direction's HPACK table misses that
//!   block's insertions (later references to them count as unknown); decoded header list
//!   bytes per block (`max_header_list_bytes`); the HPACK tables (`max_hpack_table`, 64 KiB, whatever
//!   SETTINGS asks). A 16 MiB frame costs nothing but its counting (DATA) or the block
//!   cap (HEADERS). Memory held is charged through `AppLayer::heap_bytes`.

/// Frame types (RFC 9113 section 6), shared by the frame reader and the mid-stream probe.
mod frame_type {
    pub(super) const DATA: u8 = 0;
    pub(super) const HEADERS: u8 = 1;
    pub(super) const PRIORITY: u8 = 2;
    pub(super) const RST_STREAM: u8 = 3;
    pub(super) const SETTINGS: u8 = 4;
    pub(super) const PUSH_PROMISE: u8 = 5;
    pub(super) const PING: u8 = 6;
    pub(super) const GOAWAY: u8 = 7;
    pub(super) const WINDOW_UPDATE: u8 = 8;
    pub(super) const CONTINUATION: u8 = 9;
}

mod conn;
mod hpack;
mod huffman;
mod mid;
#[cfg(test)]
pub(crate) mod tests;
mod ws;
#[cfg(test)]
mod ws_tests;

pub(crate) use conn::{H2Conn, H2Ctx, PREFACE};
pub(crate) use hpack::MAX_TABLE;
pub(crate) use mid::{MidProbe, Verdict as MidVerdict};

httptop_wire::counters! {
    /// HTTP/2: frames, streams and the caps of the HTTP/2 analyzer.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Http2Counters {
        [Http]
        /// HTTP/2 connections (client preface seen, or upgraded from HTTP/1.1 by h2c).
        h2_connections: Connections,
        /// Of those, connections upgraded from HTTP/1.1 (Upgrade: h2c answered by 101).
        h2_upgrades: Connections,
        /// Of those, connections picked up mid-stream: recognised by their frame headers, no preface seen (HPACK state unknown).
        h2_midstream: Connections,
        /// HTTP/2 requests: one per stream whose request was seen (pushed streams included).
        h2_requests: Requests,
        /// HTTP/2 responses: response header sections decoded (interim 1xx included, trailers not), as http.responses counts HTTP/1's.
        h2_responses: Responses,
        /// HTTP/2 frames read (both directions).
        h2_frames: Frames,
        /// RST_STREAM frames.
        h2_resets: Frames,
        /// GOAWAY frames.
        h2_goaways: Frames,
        /// PUSH_PROMISE frames (each opens a pushed stream, counted as a request).
        h2_pushes: Frames,
        /// Frames of unknown types (skipped).
        h2_unknown_frames: Frames,
        /// Frames that break HTTP/2 framing (padding longer than the frame, a CONTINUATION without its block, a frame inside a header block, a payload shorter than its fixed fields): skipped.
        h2_bad_frames: Frames anomaly => "anomalies" { kind = "h2_bad_frame" },
        /// Streams not tracked because the connection had max_h2_streams open already.
        h2_streams_over_cap: Events anomaly => "anomalies" { kind = "h2_streams_over_cap" },
        /// Header blocks longer than --max-header-bytes (dropped).
        h2_header_blocks_too_large: Blocks anomaly => "truncations" { kind = "h2_header_blocks" },
        /// Header blocks with more CONTINUATION frames than max_continuations (dropped).
        h2_continuation_floods: Blocks anomaly => "anomalies" { kind = "h2_continuation_flood" },
        /// Header blocks whose decoded size went past max_header_list_bytes (the rest was decoded, not used).
        h2_header_lists_over_budget: Blocks anomaly => "truncations" { kind = "h2_header_lists" },
        /// Header blocks HPACK could not decode to their end (bad index, integer overflow, invalid Huffman, truncated).
        h2_hpack_errors: Blocks anomaly => "anomalies" { kind = "h2_hpack_error" },
        /// Header blocks referencing dynamic table entries not held (state unknown or lost): those fields are missing.
        h2_hpack_unknown_refs: Blocks anomaly => "anomalies" { kind = "h2_hpack_unknown_ref" },
        /// HPACK table size updates above our 64 KiB cap (the table stays at the cap).
        h2_table_size_capped: Events anomaly => "truncations" { kind = "h2_hpack_table" },
        /// Gaps inside DATA payloads or padding, skipped without losing frame sync.
        h2_data_gaps: Events anomaly,
        /// Gaps that cost a direction its frame sync: the direction is given up.
        h2_lost_sync: Events anomaly => "anomalies" { kind = "h2_lost_sync" },
    }
}
