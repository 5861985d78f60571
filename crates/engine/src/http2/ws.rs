//! WebSocket over HTTP/2 (RFC 8441): the WebSocket sessions of one connection, each on
//! an extended CONNECT stream, parsed by [`WsStreams`] (see the contract in `super`).
//!
//! The connection ([`super::H2Conn`]) decides when a session starts (a request HEADERS
//! with `:method CONNECT` and `:protocol websocket` answered by a 2xx `:status`), hands
//! each DATA payload of the stream (padding removed) to [`H2WebSockets::data`], and
//! tells of its end: END_STREAM of each side ([`H2WebSockets::end`]: the record comes
//! out once both have ended), RST_STREAM ([`H2WebSockets::reset`]) or the connection's
//! close ([`H2WebSockets::close`]). This set knows nothing of frames or HPACK.

use crate::event::{Event, Flags, WebSocketSession};
use crate::websocket::{WebSocketCounters, WsStreams};
use httptop_wire::Timestamp;

/// One session: its stream, its parsers, the record's head, which sides have ended.
#[derive(Debug)]
struct H2Ws {
    id: u32,
    streams: WsStreams,
    head: WebSocketSession,
    /// END_STREAM seen from the client, from the server.
    ended: [bool; 2],
}

/// The WebSocket sessions of one HTTP/2 connection, at most `max_h2_websockets`.
#[derive(Debug, Default)]
pub(super) struct H2WebSockets {
    list: Vec<H2Ws>,
}

fn side(is_client: bool) -> usize {
    usize::from(!is_client)
}

impl H2WebSockets {
    /// Stream `head.stream_id` became a WebSocket session: parsed unless `max` are
    /// already (counted in `websocket_h2_over_cap`). `announced`: the server's
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 was seen. True when tracked.
    pub fn open(
        &mut self,
        head: WebSocketSession,
        announced: bool,
        max: usize,
        max_string_len: usize,
        c: &mut WebSocketCounters,
    ) -> bool {
        if self.list.len() >= max {
            c.websocket_h2_over_cap += 1;
            return false;
        }
        c.websocket_h2_sessions += 1;
        if !announced {
            c.websocket_h2_unannounced += 1;
        }
        self.list.push(H2Ws {
            id: head.stream_id,
            streams: WsStreams::new(max_string_len),
            head,
            ended: [false; 2],
        });
        true
    }

    fn find(&mut self, id: u32) -> Option<&mut H2Ws> {
        self.list.iter_mut().find(|w| w.id == id)
    }

    /// Stream `id` is a session still read from the client (`is_client`) or the server.
    pub fn reads(&self, id: u32, is_client: bool) -> bool {
        self.list
            .iter()
            .any(|w| w.id == id && !w.ended[side(is_client)])
    }

    /// DATA payload bytes of stream `id` at packet time `ts`.
    pub fn data(
        &mut self,
        id: u32,
        is_client: bool,
        chunk: &[u8],
        ts: Timestamp,
        c: &mut WebSocketCounters,
    ) {
        if let Some(w) = self.find(id) {
            w.streams.feed(is_client, chunk, ts, c);
        }
    }

    /// `n` bytes of stream `id`'s DATA were lost.
    pub fn gap(&mut self, id: u32, is_client: bool, n: u64, c: &mut WebSocketCounters) {
        if let Some(w) = self.find(id) {
            w.streams.gap(is_client, n, c);
        }
    }

    /// One direction of the connection lost its frame sync: every session stops reading
    /// it (flagged GAP).
    pub fn gap_all(&mut self, is_client: bool, c: &mut WebSocketCounters) {
        for w in &mut self.list {
            w.streams.gap(is_client, 1, c);
        }
    }

    /// END_STREAM from one side of stream `id` at `ts`: the record comes out when both
    /// sides have ended.
    pub fn end(
        &mut self,
        id: u32,
        is_client: bool,
        ts: Timestamp,
        out: &mut Vec<Event>,
        strings_truncated: &mut u64,
    ) {
        if let Some(i) = self.list.iter().position(|w| w.id == id) {
            let w = &mut self.list[i];
            w.ended[side(is_client)] = true;
            if w.ended == [true, true] {
                self.emit(i, ts, Flags::empty(), out, strings_truncated);
            }
        }
    }

    /// RST_STREAM on stream `id` at `ts`: its record comes out (RESET).
    pub fn reset(
        &mut self,
        id: u32,
        ts: Timestamp,
        out: &mut Vec<Event>,
        strings_truncated: &mut u64,
    ) {
        if let Some(i) = self.list.iter().position(|w| w.id == id) {
            self.emit(i, ts, Flags::RESET, out, strings_truncated);
        }
    }

    /// The connection closed at `ts`: every session still open comes out, in stream id
    /// order.
    pub fn close(&mut self, ts: Timestamp, out: &mut Vec<Event>, strings_truncated: &mut u64) {
        self.list.sort_by_key(|w| std::cmp::Reverse(w.id));
        while let Some(last) = self.list.len().checked_sub(1) {
            self.emit(last, ts, Flags::empty(), out, strings_truncated);
        }
    }

    fn emit(
        &mut self,
        i: usize,
        ts: Timestamp,
        flags: Flags,
        out: &mut Vec<Event>,
        strings_truncated: &mut u64,
    ) {
        let mut w = self.list.swap_remove(i);
        w.head.flags.insert(flags);
        let s = w.streams.finish(ts, w.head);
        if s.close_reason.truncated {
            *strings_truncated += 1;
        }
        out.push(Event::WebSocket(Box::new(s)));
        if self.list.is_empty() {
            self.list = Vec::new();
        }
    }

    /// Heap bytes held: the sessions, their strings and close reasons.
    pub fn heap_bytes(&self) -> usize {
        crate::budget::heap(self.list.capacity() * std::mem::size_of::<H2Ws>())
            + self
                .list
                .iter()
                .map(|w| {
                    [&w.head.host, &w.head.path]
                        .iter()
                        .filter(|s| s.bytes.spilled())
                        .map(|s| crate::budget::heap(s.bytes.capacity()))
                        .sum::<usize>()
                        + w.streams.heap_bytes()
                })
                .sum::<usize>()
    }
}
