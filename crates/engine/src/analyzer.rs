//! The application layer of one connection: ONE analyzer per flow, chosen by content
//! (Zeek's dynamic protocol detection, Suricata's app-layer probing), behind one seam.
//!
//! Reassembly hands [`StreamEvent`]s of either direction to [`AppLayer::feed`]; the
//! analyzer of the flow consumes them and reports through [`Event`]s; the layer counts
//! connections, requests and payload bytes per [`Protocol`].
//!
//! Contract:
//! - **Undecided** until content decides, on any port, from either direction. The
//!   probe of HTTP/1 is the HTTP/1 analyzer itself, run from the first byte of both
//!   streams: its recognition (a start line at the stream start, after a gap, at every
//!   line start; see [`crate::http`]) answers *mine* when a start line sets the client
//!   side, *not mine* when the first line of both directions is no start line, *need
//!   more* otherwise. Running it from the first byte is what keeps today's results
//!   exact: HTTP/1 picked up mid-stream may find its first start line thousands of bytes
//!   in (a body, then the next response), a side that starts with a gap can never be
//!   excluded, and the order and packet times of both directions matter for pairing.
//!   So nothing is buffered for the decision and nothing replayed: the bytes were
//!   already parsed, in order, with their packet times.
//! - **Http1** once decided: the in-order path is one match and a direct call with the
//!   packet's payload slice. A 101 Switching Protocols or a 2xx answer to CONNECT is an
//!   [`crate::http::Upgrade`]: HTTP/1 is closed (it emits what it holds) and the rest of
//!   both streams goes to the next analyzer, `Opaque` today, still counted under
//!   `http/1` (the connection was decided as HTTP/1).
//! - **Opaque**: payload is neither parsed nor buffered (the flow's reassembly is told to
//!   skip: [`crate::reasm::HalfStream::skip`]), but every byte seen still counts. Not
//!   HTTP counts `HttpCounters::not_http_connections` and the connection is `Unknown`.
//! - A connection still undecided when it closes is `Unknown`.
//! - Counting: a connection counts once, under the protocol it was decided as, when
//!   decided (at close if never); its payload bytes each way (each byte once, as
//!   delivered by reassembly: retransmissions and gaps excluded) go to that protocol's
//!   row, those seen before the decision at the decision. The client is the side that
//!   sends requests once known, else the originator. Each connection reports one
//!   [`Event::ConnectionDecided`] and one [`Event::ConnectionClosed`].
//!
//! Adding a protocol (see ARCHITECTURE.md "Adding a protocol"): a folder beside `http/`
//! with its analyzer, one [`Analyzer`] variant, one arm in [`AppLayer::feed`] and
//! [`AppLayer::close`], and its probe in `decide`. A protocol whose probe needs the first
//! bytes rather than running speculatively adds a bounded buffer of them (at most 64
//! bytes a side, charged through [`AppLayer::heap_bytes`]) to the undecided state and
//! replays it into the analyzer it picks.

use crate::event::Event;
use crate::http::{Ctx, HttpConn};
use crate::protocol::{Protocol, ProtocolTable};
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;
use std::net::SocketAddr;

/// What the analyzers need on every call: the HTTP context (limits, counters, the event
/// output, the request-queue pool, the packet time) and the protocol table.
pub(crate) struct AppCtx<'a> {
    pub http: Ctx<'a>,
    pub protocols: &'a mut ProtocolTable,
}

/// The analyzer of one flow.
#[derive(Debug)]
pub(crate) enum Analyzer {
    /// No protocol decided yet: HTTP/1 runs as the probe (see the module documentation).
    Undecided(HttpConn),
    Http1(HttpConn),
    /// Counted, not parsed.
    Opaque,
}

/// The application layer of one flow: its analyzer and what is counted for it.
#[derive(Debug)]
pub(crate) struct AppLayer {
    analyzer: Analyzer,
    /// Set once decided.
    protocol: Option<Protocol>,
    /// The side that sends requests once known, else the originator.
    client: Dir,
    /// Payload bytes delivered, by direction.
    bytes: [u64; 2],
}

impl AppLayer {
    /// `orig`/`resp`: the socket addresses of the Orig and Resp sides.
    pub fn new(orig: SocketAddr, resp: SocketAddr) -> Self {
        AppLayer {
            analyzer: Analyzer::Undecided(HttpConn::new(orig, resp)),
            protocol: None,
            client: Dir::Orig,
            bytes: [0; 2],
        }
    }

    /// Payload is only counted: reassembly need not buffer or report holes.
    pub fn is_opaque(&self) -> bool {
        matches!(self.analyzer, Analyzer::Opaque)
    }

    /// Heap bytes the analyzer holds (charged against `Limits::max_buffered_bytes`).
    pub fn heap_bytes(&self) -> usize {
        match &self.analyzer {
            Analyzer::Undecided(h) | Analyzer::Http1(h) => h.heap_bytes(),
            Analyzer::Opaque => 0,
        }
    }

    /// One in-order event of the `dir` stream at packet time `ts`.
    pub fn feed(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, cx: &mut AppCtx<'_>) {
        if let StreamEvent::Data(d) = ev {
            let n = d.len() as u64;
            self.bytes[dir.index()] += n;
            if let Some(p) = self.protocol {
                cx.protocols.get_mut(p).add_bytes(dir == self.client, n);
            }
        }
        match &mut self.analyzer {
            Analyzer::Http1(h) => {
                h.feed(dir, ts, ev, &mut cx.http);
                if h.upgrade().is_some() {
                    self.hand_over(ts, cx);
                }
            }
            Analyzer::Undecided(h) => {
                h.feed(dir, ts, ev, &mut cx.http);
                self.decide(ts, cx);
            }
            Analyzer::Opaque => {}
        }
    }

    /// The probes: HTTP/1 claimed the connection (a client side is known) or excluded it.
    fn decide(&mut self, ts: Timestamp, cx: &mut AppCtx<'_>) {
        let Analyzer::Undecided(h) = &self.analyzer else {
            return;
        };
        if let Some(client) = h.client() {
            self.client = client;
            let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
            if let Analyzer::Undecided(h) = old {
                self.analyzer = Analyzer::Http1(h);
            }
            self.decided(Protocol::Http1, cx);
            // The event that decided may also have switched protocols (a 101 at once).
            if matches!(&self.analyzer, Analyzer::Http1(h) if h.upgrade().is_some()) {
                self.hand_over(ts, cx);
            }
        } else if h.is_dead() {
            self.analyzer = Analyzer::Opaque;
            self.decided(Protocol::Unknown, cx);
        }
    }

    fn decided(&mut self, p: Protocol, cx: &mut AppCtx<'_>) {
        self.protocol = Some(p);
        let row = cx.protocols.get_mut(p);
        row.connections += 1;
        row.add_bytes(true, self.bytes[self.client.index()]);
        row.add_bytes(false, self.bytes[self.client.other().index()]);
        cx.http.out.push(Event::ConnectionDecided { protocol: p });
    }

    /// HTTP/1 was upgraded: it emits what it holds, the next analyzer takes the rest of
    /// both streams (opaque until WebSocket and HTTP/2 analyzers exist).
    fn hand_over(&mut self, ts: Timestamp, cx: &mut AppCtx<'_>) {
        if let Analyzer::Http1(h) = &mut self.analyzer {
            h.close(ts, &mut cx.http);
        }
        self.analyzer = Analyzer::Opaque;
    }

    /// The flow is gone (its streams flushed into `feed` before): the analyzer emits
    /// everything pending, and the connection is reported closed.
    pub fn close(&mut self, ts: Timestamp, cx: &mut AppCtx<'_>) {
        match &mut self.analyzer {
            Analyzer::Undecided(h) | Analyzer::Http1(h) => h.close(ts, &mut cx.http),
            Analyzer::Opaque => {}
        }
        self.analyzer = Analyzer::Opaque;
        let protocol = match self.protocol {
            Some(p) => p,
            None => {
                self.decided(Protocol::Unknown, cx);
                Protocol::Unknown
            }
        };
        cx.http.out.push(Event::ConnectionClosed {
            protocol,
            bytes_to_server: self.bytes[self.client.index()],
            bytes_to_client: self.bytes[self.client.other().index()],
        });
    }
}
