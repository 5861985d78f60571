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
    #[inline]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{HttpCounters, QueuePool};
    use crate::limits::Limits;
    use crate::Exchange;

    /// One application layer fed scripted stream events, with everything it touches.
    struct Rig {
        app: AppLayer,
        limits: Limits,
        http: HttpCounters,
        protocols: ProtocolTable,
        pool: QueuePool,
        out: Vec<Event>,
    }

    impl Rig {
        fn new(limits: Limits) -> Self {
            let orig = "10.0.0.1:40000".parse().unwrap();
            let resp = "10.0.0.2:5555".parse().unwrap();
            Rig {
                app: AppLayer::new(orig, resp),
                limits,
                http: HttpCounters::default(),
                protocols: ProtocolTable::default(),
                pool: QueuePool::default(),
                out: Vec::new(),
            }
        }

        fn with(&mut self, f: impl FnOnce(&mut AppLayer, &mut AppCtx<'_>)) {
            let mut cx = AppCtx {
                http: Ctx {
                    limits: &self.limits,
                    counters: &mut self.http,
                    out: &mut self.out,
                    pool: &mut self.pool,
                    now: Timestamp::from_secs(1),
                },
                protocols: &mut self.protocols,
            };
            f(&mut self.app, &mut cx);
        }

        fn feed(&mut self, dir: Dir, ev: StreamEvent<'_>) -> &mut Self {
            self.with(|app, cx| app.feed(dir, Timestamp::from_secs(1), ev, cx));
            self
        }

        fn data(&mut self, dir: Dir, d: &[u8]) -> &mut Self {
            self.feed(dir, StreamEvent::Data(d))
        }

        fn close(&mut self) -> &mut Self {
            self.with(|app, cx| app.close(Timestamp::from_secs(2), cx));
            self
        }

        fn decided(&self) -> Vec<Protocol> {
            self.out
                .iter()
                .filter_map(|e| match e {
                    Event::ConnectionDecided { protocol } => Some(*protocol),
                    _ => None,
                })
                .collect()
        }

        fn exchanges(&self) -> Vec<&Exchange> {
            self.out
                .iter()
                .filter_map(|e| match e {
                    Event::Exchange(x) => Some(x),
                    _ => None,
                })
                .collect()
        }

        fn closed(&self) -> Option<(Protocol, u64, u64)> {
            self.out.iter().find_map(|e| match e {
                Event::ConnectionClosed {
                    protocol,
                    bytes_to_server,
                    bytes_to_client,
                } => Some((*protocol, *bytes_to_server, *bytes_to_client)),
                _ => None,
            })
        }

        fn row(&self, p: Protocol) -> (u64, u64, u64) {
            let r = self.protocols.get(p);
            (r.connections, r.bytes_to_server, r.bytes_to_client)
        }
    }

    const REQ: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    #[test]
    fn http1_is_decided_by_a_request_line_on_any_port() {
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, REQ);
        assert_eq!(r.decided(), [Protocol::Http1]);
        r.data(Dir::Resp, RESP).close();
        assert_eq!(r.exchanges().len(), 1);
        let (c, s) = (REQ.len() as u64, RESP.len() as u64);
        assert_eq!(r.row(Protocol::Http1), (1, c, s));
        assert_eq!(r.closed(), Some((Protocol::Http1, c, s)));
        assert_eq!(r.row(Protocol::Unknown), (0, 0, 0));
    }

    #[test]
    fn http1_is_decided_by_a_status_line_from_either_direction() {
        // The capture starts with a response from the originator (a server that
        // opened the connection, or a capture picked up mid-stream): the other side is
        // the client, and bytes are counted by role, not by who sent the SYN.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, RESP);
        assert_eq!(r.decided(), [Protocol::Http1]);
        r.data(Dir::Resp, REQ).close();
        let (c, s) = (REQ.len() as u64, RESP.len() as u64);
        assert_eq!(r.row(Protocol::Http1), (1, c, s));
    }

    #[test]
    fn bytes_before_the_decision_count_under_the_decided_protocol() {
        // A request whose first line needs two events: undecided after the first.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"PROPF");
        assert!(r.decided().is_empty());
        r.data(Dir::Orig, &REQ[3..]).close();
        assert_eq!(r.decided(), [Protocol::Http1]);
        assert_eq!(r.row(Protocol::Http1), (1, 5 + REQ.len() as u64 - 3, 0));
    }

    #[test]
    fn an_ssh_banner_makes_the_connection_opaque() {
        let mut r = Rig::new(Limits::default());
        let server = b"SSH-2.0-OpenSSH_9.2\r\n";
        let client = b"SSH-2.0-OpenSSH_9.0\r\n";
        r.data(Dir::Resp, server);
        assert!(
            r.decided().is_empty(),
            "one side alone cannot exclude HTTP/1"
        );
        r.data(Dir::Orig, client);
        assert_eq!(r.decided(), [Protocol::Unknown]);
        assert!(r.app.is_opaque());
        assert_eq!(r.http.not_http_connections, 1);
        let binary = [0u8, 0, 1, 0x14, 0x0a, 0xff, 0x00];
        r.data(Dir::Orig, &binary).data(Dir::Resp, &binary).close();
        let (c, s) = ((client.len() + 7) as u64, (server.len() + 7) as u64);
        assert_eq!(r.row(Protocol::Unknown), (1, c, s));
        assert_eq!(r.closed(), Some((Protocol::Unknown, c, s)));
        assert!(r.exchanges().is_empty());
    }

    #[test]
    fn random_bytes_make_the_connection_opaque() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Never an upper-case letter: no start line can begin.
                    (x as u8) & 0x3f
                })
                .collect()
        };
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &random(300))
            .data(Dir::Resp, &random(200));
        assert_eq!(r.decided(), [Protocol::Unknown]);
        r.data(Dir::Orig, &random(50)).close();
        assert_eq!(r.row(Protocol::Unknown), (1, 350, 200));
        assert_eq!(r.app.heap_bytes(), 0);
    }

    #[test]
    fn a_connection_closed_undecided_is_unknown() {
        // One direction only, not a start line: HTTP/1 keeps hunting (a capture picked
        // up mid-body finds the next response later), so nothing is decided before close.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Resp, b"tail of a body\r\n");
        assert!(r.decided().is_empty());
        r.close();
        assert_eq!(r.decided(), [Protocol::Unknown]);
        assert_eq!(r.row(Protocol::Unknown), (1, 0, 16));
        assert_eq!(r.http.not_http_connections, 0);
    }

    #[test]
    fn a_side_starting_with_a_gap_never_excludes_http1() {
        let mut r = Rig::new(Limits::default());
        r.feed(Dir::Orig, StreamEvent::Gap(100))
            .data(Dir::Orig, b"xx\r\n")
            .data(Dir::Resp, b"SSH-2.0-x\r\n");
        assert!(r.decided().is_empty());
        r.data(Dir::Orig, REQ);
        assert_eq!(r.decided(), [Protocol::Http1]);
    }

    #[test]
    fn the_probe_gives_up_on_a_candidate_longer_than_the_head_limit() {
        // A line that could still become a request line (`TOKEN SP target ...`) is
        // buffered, and charged, up to the head limit; at the limit it is no start
        // line. With the other side excluded too, the connection is opaque and the
        // buffer freed.
        let limits = Limits {
            max_header_bytes: 64,
            ..Limits::default()
        };
        let mut r = Rig::new(limits);
        r.data(Dir::Resp, b"220 smtp.example ESMTP\r\n");
        r.data(Dir::Orig, b"FOO /");
        assert!(r.app.heap_bytes() > 0, "the candidate is charged");
        r.data(Dir::Orig, &[b'a'; 58]);
        assert!(r.decided().is_empty(), "63 bytes: not yet at the cap");
        r.data(Dir::Orig, b"a");
        assert_eq!(r.decided(), [Protocol::Unknown]);
        assert_eq!(r.app.heap_bytes(), 0);
    }

    #[test]
    fn an_upgrade_hands_the_streams_over_and_stays_http1() {
        let mut r = Rig::new(Limits::default());
        let req = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n";
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        let frame = [0x81u8, 0x02, b'h', b'i'];
        r.data(Dir::Orig, req);
        let mut both = resp.to_vec();
        both.extend_from_slice(&frame);
        r.data(Dir::Resp, &both);
        assert!(r.app.is_opaque(), "handed over at the end of the 101 head");
        assert_eq!(r.exchanges().len(), 1, "emitted at the hand-over");
        assert_eq!(r.exchanges()[0].status, Some(101));
        r.data(Dir::Orig, &frame).close();
        let (c, s) = ((req.len() + 4) as u64, (both.len()) as u64);
        assert_eq!(r.row(Protocol::Http1), (1, c, s));
        assert_eq!(r.closed(), Some((Protocol::Http1, c, s)));
        assert_eq!(r.decided(), [Protocol::Http1]);
    }

    #[test]
    fn http1_reports_where_the_upgrade_happened() {
        let mut h = HttpConn::new("10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap());
        let (limits, mut counters, mut out, mut pool) = (
            Limits::default(),
            HttpCounters::default(),
            Vec::new(),
            QueuePool::default(),
        );
        let mut ctx = Ctx {
            limits: &limits,
            counters: &mut counters,
            out: &mut out,
            pool: &mut pool,
            now: Timestamp::ZERO,
        };
        let t = Timestamp::ZERO;
        h.feed(
            Dir::Orig,
            t,
            StreamEvent::Data(b"CONNECT a:443 HTTP/1.1\r\n\r\n"),
            &mut ctx,
        );
        h.feed(Dir::Resp, t, StreamEvent::Data(b"xy"), &mut ctx);
        assert_eq!(h.upgrade(), None);
        let ok = b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01";
        h.feed(Dir::Resp, t, StreamEvent::Data(&ok[..]), &mut ctx);
        // The garbage `xy` was skipped while hunting; the head ends 3 bytes before the event.
        let at = 2 + ok.len() as u64 - 3;
        assert_eq!(
            h.upgrade(),
            Some(crate::http::Upgrade {
                dir: Dir::Resp,
                offset: at
            })
        );
    }
}
