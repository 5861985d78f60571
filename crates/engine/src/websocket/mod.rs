//! WebSocket (RFC 6455): the frames of both directions of a connection after an HTTP/1.1
//! `101` with `Upgrade: websocket`, counted, never kept; one
//! [`Event::WebSocket`] record when the connection ends.
//!
//! Two layers:
//! - [`WsStreams`]: the frame parsers of the two directions of one WebSocket
//!   connection, fed the bytes of each direction in order (`feed`), told of lost bytes
//!   (`gap`), and read out once (`finish` -> [`WebSocketSession`]). It knows nothing of
//!   TCP or HTTP, so it runs as well over an RFC 8441 extended CONNECT stream of HTTP/2
//!   (`:protocol = websocket`): feed it the stream's DATA payloads, pass the stream's
//!   head (host = `:authority`, path, version 2, stream id) to `finish`.
//! - The analyzer of a TCP connection upgraded by HTTP/1.1 (`crate::analyzer` hands both
//!   streams over after the 101's head; see ARCHITECTURE.md "WebSocket").
//!
//! Contract:
//! - **Frames** per direction: FIN, opcode (continuation, text, binary, close, ping,
//!   pong), MASK and the masking key, 7-, 16- and 64-bit lengths. A frame counts once
//!   its header is read; its payload bytes as they stream by; a data **message** once
//!   the payload of its last frame (a FIN text or binary frame, or a FIN continuation)
//!   is complete. Control frames may come between the fragments of a message (RFC 6455
//!   section 5.4) and are frames, not messages. RSV bits are not checked (an extension
//!   such as permessage-deflate sets them); payload bytes are those on the wire
//!   (compressed, if the extension compressed them).
//! - **Nothing is buffered** but the header of the frame being read (at most 14 bytes,
//!   in place) and the payload of a Close frame (at most 125 bytes, in place, unmasked
//!   with the frame's key): results are identical whatever way the streams are split.
//! - The **first Close frame** to complete, from either side, gives `close_code` (when
//!   its payload has at least 2 bytes) and `close_reason` (the bytes after the code,
//!   cut to `max_string_len`: the caller counts a cut reason in `http.strings_truncated`).
//!   A session without any Close frame is `TRUNCATED`.
//! - **Malformed framing** stops the direction: a reserved opcode (3-7, 11-15), a
//!   control frame longer than 125 bytes or without FIN, a 64-bit length with its most
//!   significant bit set, a continuation with no fragmented message in progress, a text
//!   or binary frame inside one. The session is flagged `MALFORMED`, the direction
//!   counted in `websocket_malformed`, and the rest of that direction is only counted as
//!   bytes (by the protocol table). Masking is not checked (client frames must be
//!   masked, server frames must not; framing does not depend on it).
//! - **A gap** loses frame sync: the direction stops the same way (`GAP`,
//!   `websocket_gaps`). No resynchronisation is attempted: a frame header has no marker
//!   that could be found again without false positives.
//! - Hostile input is data: no allocation per frame or per byte, no panic on any input,
//!   lengths up to 2^63 - 1 are counted down without overflow.

mod frame;
#[cfg(test)]
mod tests;

use crate::event::{Event, Flags, Version, WebSocketSession, WireStr};
use crate::stream::{Dir, StreamEvent};
use frame::{FrameParser, Outcome, State, Stop};
use httptop_wire::Timestamp;

httptop_wire::counters! {
    /// WebSocket frames and messages (RFC 6455), after a 101 upgrade or over an HTTP/2
    /// extended CONNECT stream (RFC 8441).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct WebSocketCounters {
        [Http]
        /// WebSocket frames (control frames included), both directions.
        websocket_frames: Frames,
        /// Complete WebSocket data messages (text or binary, fragments joined), both directions.
        websocket_messages: Messages,
        /// WebSocket frame payload bytes (after frame headers), both directions.
        websocket_payload_bytes: Bytes,
        /// WebSocket directions that stopped at a frame breaking RFC 6455 framing (the rest is counted as bytes only).
        websocket_malformed: Events anomaly => "anomalies" { kind = "websocket_malformed" },
        /// WebSocket directions whose frame sync was lost in a capture gap (the rest is counted as bytes only).
        websocket_gaps: Events anomaly,
        /// WebSocket sessions over HTTP/2 (RFC 8441: an extended CONNECT stream with :protocol websocket answered 2xx).
        websocket_h2_sessions: Connections,
        /// Of those, sessions whose connection showed no SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 from the server (the capture may have started after it).
        websocket_h2_unannounced: Connections,
        /// WebSocket sessions over HTTP/2 not parsed because the connection had max_h2_websockets already.
        websocket_h2_over_cap: Events anomaly => "anomalies" { kind = "websocket_h2_over_cap" },
    }
}

/// The first Close frame of a session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Close {
    code: Option<u16>,
    reason: WireStr,
}

/// The frame parsers of both directions of one WebSocket connection or HTTP/2 stream
/// (see the module documentation for what is counted and when).
#[derive(Clone, Debug)]
pub struct WsStreams {
    /// Client to server, server to client.
    sides: [FrameParser; 2],
    close: Option<Close>,
    flags: Flags,
    /// Packet time of the last frame header read.
    last: Timestamp,
    max_string_len: usize,
}

fn side(dir_is_client: bool) -> usize {
    usize::from(!dir_is_client)
}

impl WsStreams {
    /// `max_string_len`: the cap on the close reason kept (`Limits::max_string_len`).
    pub fn new(max_string_len: usize) -> Self {
        WsStreams {
            sides: [FrameParser::default(), FrameParser::default()],
            close: None,
            flags: Flags::empty(),
            last: Timestamp::ZERO,
            max_string_len,
        }
    }

    /// The next bytes sent by the client (`dir_is_client`) or the server, at packet
    /// time `ts`.
    pub fn feed(
        &mut self,
        dir_is_client: bool,
        data: &[u8],
        ts: Timestamp,
        c: &mut WebSocketCounters,
    ) {
        let s = &mut self.sides[side(dir_is_client)];
        let frames = s.frames;
        let mut rest = data;
        loop {
            match s.feed(rest, c) {
                Outcome::More => break,
                Outcome::Close(n) => {
                    if self.close.is_none() {
                        let p = s.close_payload();
                        self.close = Some(match p {
                            [a, b, reason @ ..] => Close {
                                code: Some(u16::from_be_bytes([*a, *b])),
                                reason: WireStr::capped(reason, self.max_string_len),
                            },
                            _ => Close::default(),
                        });
                    }
                    rest = &rest[n..];
                }
                Outcome::Malformed(_) => {
                    self.flags.insert(Flags::MALFORMED);
                    break;
                }
            }
        }
        if s.frames != frames {
            self.last = self.last.max(ts);
        }
    }

    /// `n` bytes of the client's (`dir_is_client`) or the server's stream were lost:
    /// that direction stops parsing.
    pub fn gap(&mut self, dir_is_client: bool, n: u64, c: &mut WebSocketCounters) {
        if n == 0 {
            return;
        }
        self.flags.insert(Flags::GAP);
        let s = &mut self.sides[side(dir_is_client)];
        if s.state != State::Stopped {
            s.stop(Stop::Gap);
            c.websocket_gaps += 1;
        }
    }

    /// Neither direction is parsed any more (both stopped at a malformed frame or a gap).
    pub fn is_stopped(&self) -> bool {
        self.sides.iter().all(|s| s.state == State::Stopped)
    }

    /// Heap bytes held: a close reason longer than a `WireStr` stores inline.
    pub fn heap_bytes(&self) -> usize {
        match &self.close {
            Some(c) if c.reason.bytes.spilled() => crate::budget::heap(c.reason.bytes.capacity()),
            _ => 0,
        }
    }

    /// The session record at its end (`end`: the close of the connection or stream):
    /// `head` gives what the upgrade said (`ts`, addresses, original client, host, path,
    /// version, stream id, encapsulation); counts, close code and reason, flags and `end`
    /// (the later of `end` and the last frame's time) come from the frames.
    pub fn finish(&self, end: Timestamp, head: WebSocketSession) -> WebSocketSession {
        let [cs, sc] = &self.sides;
        let close = self.close.clone().unwrap_or_default();
        let mut flags = head.flags | self.flags;
        if self.close.is_none() {
            flags.insert(Flags::TRUNCATED);
        }
        WebSocketSession {
            end: end.max(self.last).max(head.ts),
            frames_to_server: cs.frames,
            frames_to_client: sc.frames,
            messages_to_server: cs.messages,
            messages_to_client: sc.messages,
            payload_to_server: cs.payload,
            payload_to_client: sc.payload,
            close_code: close.code,
            close_reason: close.reason,
            flags,
            ..head
        }
    }
}

/// The analyzer of a TCP connection after an HTTP/1.1 upgrade to WebSocket.
#[derive(Debug)]
pub(crate) struct WsConn {
    streams: WsStreams,
    /// The upgrade's part of the record (see [`WsStreams::finish`]).
    head: WebSocketSession,
    /// The side that sent the upgrade request.
    client: Dir,
}

impl WsConn {
    /// After the 101 of an upgrade whose exchanges are among `out` (the one with status
    /// 101 gives time, addresses, host and path; without it, `ts` and no host or path).
    pub fn new(out: &[Event], client: Dir, ts: Timestamp, max_string_len: usize) -> Self {
        let switched = out.iter().rev().find_map(|e| match e {
            Event::Exchange(x) if x.status == Some(101) => Some(x),
            _ => None,
        });
        let head = match switched {
            Some(x) => WebSocketSession {
                ts: x.ts,
                client: x.client,
                server: x.server,
                original_client: x.original_client,
                host: x.host.clone(),
                path: x.path.clone(),
                version: Version { major: 1, minor: 1 },
                ..WebSocketSession::default()
            },
            None => WebSocketSession {
                ts,
                version: Version { major: 1, minor: 1 },
                ..WebSocketSession::default()
            },
        };
        WsConn {
            streams: WsStreams::new(max_string_len),
            head,
            client,
        }
    }

    /// One in-order event of the `dir` stream at packet time `ts`.
    pub fn feed(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        c: &mut WebSocketCounters,
    ) {
        let is_client = dir == self.client;
        match ev {
            StreamEvent::Data(d) => self.streams.feed(is_client, d, ts, c),
            StreamEvent::Gap(n) => self.streams.gap(is_client, n, c),
            // The record is written when the flow closes, which follows.
            StreamEvent::Fin | StreamEvent::Rst => {}
        }
    }

    /// The connection ended at `ts`: its record. A cut close reason counts in
    /// `strings_truncated`.
    pub fn finish(&self, ts: Timestamp, strings_truncated: &mut u64) -> WebSocketSession {
        let s = self.streams.finish(ts, self.head.clone());
        if s.close_reason.truncated {
            *strings_truncated += 1;
        }
        s
    }

    /// Neither direction is parsed any more: the flow need not buffer or report holes.
    pub fn is_stopped(&self) -> bool {
        self.streams.is_stopped()
    }

    /// Heap bytes held: this state (boxed by the analyzer), its strings.
    pub fn heap_bytes(&self) -> usize {
        let strings: usize = [&self.head.host, &self.head.path]
            .iter()
            .filter(|w| w.bytes.spilled())
            .map(|w| crate::budget::heap(w.bytes.capacity()))
            .sum();
        crate::budget::heap(std::mem::size_of::<WsConn>()) + strings + self.streams.heap_bytes()
    }
}
