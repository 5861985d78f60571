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
//!   more* otherwise. Beside it, HTTP/2 picked up mid-stream ([`crate::http2`]'s
//!   `MidProbe`, started only by a data event whose first byte is 0x00, which no HTTP/1
//!   head or TLS record has): it keeps a bounded window of the events (charged through
//!   [`AppLayer::heap_bytes`]) and answers HTTP/2 on well-formed frame headers; HTTP/1 is
//!   asked first after every event (it wins a tie), and a connection HTTP/1 excluded
//!   stays undecided only while a side is in frame sync. Its "not HTTP" verdict is taken
//!   back if HTTP/2 is then decided. Running HTTP/1 from the first byte is what keeps
//!   today's results exact: HTTP/1 picked up mid-stream may find its first start line thousands of bytes
//!   in (a body, then the next response), a side that starts with a gap can never be
//!   excluded, and the order and packet times of both directions matter for pairing.
//!   So nothing is buffered for the decision and nothing replayed: the bytes were
//!   already parsed, in order, with their packet times.
//! - **Http1** once decided: the in-order path is one match and a direct call with the
//!   packet's payload slice. A 101 Switching Protocols or a 2xx answer to CONNECT is an
//!   [`crate::http::Upgrade`]: HTTP/1 is closed (it emits what it holds) and the rest of
//!   both streams goes to the next analyzer, still counted under `http/1` (the
//!   connection was decided as HTTP/1): after a 2xx to CONNECT a fresh HTTP/1 parser
//!   (`Tunnel`) takes the tunnel from the byte after the answer's head (bytes the client
//!   sent between CONNECT and the answer are not parsed), unless the client's first
//!   tunnel bytes are a plausible TLS handshake record header (a header cut short is
//!   held inline, `Probe::TlsHead`, until its 5th byte): then the TLS analyzer takes
//!   the tunnel and the connection **switches** to `tls` as an h2c upgrade switches to
//!   `http2` (it counts as an http/1 and a tls connection; the tunnel's bytes go to
//!   tls's row, its [`Event::ConnectionClosed`] says `Tls`); a first byte 0x16 that is
//!   not one makes it opaque; a tunnel that is not HTTP either
//!   becomes opaque without counting as a connection that is not HTTP. After a 101
//!   whose `Upgrade` field names websocket, the WebSocket analyzer ([`crate::websocket`])
//!   takes both streams (the event's bytes after the 101's head first), and the
//!   connection **switches** protocols: it also counts as a `websocket` connection, and
//!   its bytes from the byte after the 101's head on (both ways) go to the `websocket`
//!   row instead of `http/1`'s; [`Event::ConnectionClosed`] then says `WebSocket` (its
//!   bytes are the whole connection's). After any other 101, opaque.
//! - **Prefaces** ([`crate::preface`]: PROXY v1/v2, SOCKS5) come before the probe of
//!   HTTP/1, at the start of the originator's stream: its first byte says whether one
//!   can follow (`P`, CR, 0x05; anything else goes straight to HTTP/1, so the probe
//!   costs one comparison); `PROXY ` and the v2 signature are matched in place
//!   (`Probe::Matching`, no buffer: a mismatch replays the matched bytes of the
//!   constant, at the time of their first byte, into HTTP/1); then `Preface` parses the
//!   header or handshake and hands each side's bytes after it to HTTP/1, which decides
//!   once both sides are past the preface; after a PROXY header the originator's bytes
//!   first go through the probe again, which may still match the HTTP/2 client preface
//!   (`Probe::Late`). The originator must speak first: any other first event (the
//!   responder's data, a gap, FIN, RST) ends the probe. The original
//!   client a PROXY header gave is set on every exchange of the connection.
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

use crate::event::{Event, Flags, OriginalClient};
use crate::http::{Ctx, HttpConn, UpgradeTo};
use crate::http2::{H2Conn, H2Ctx, Http2Counters, MidProbe, MidVerdict};
use crate::preface::{PrefaceConn, PrefaceCounters, Sig};
use crate::protocol::{Protocol, ProtocolTable};
use crate::stream::{Dir, StreamEvent};
use crate::tls::{TlsConn, TlsLimits};
use crate::websocket::{WebSocketCounters, WsConn};
use httptop_wire::Timestamp;
use std::net::SocketAddr;

/// What the analyzers need on every call: the HTTP context (limits, counters, the event
/// output, the request-queue pool, the packet time), the protocol table and the preface
/// counters, the WebSocket counters.
pub(crate) struct AppCtx<'a> {
    pub http: Ctx<'a>,
    pub protocols: &'a mut ProtocolTable,
    pub preface: &'a mut PrefaceCounters,
    pub h2: &'a mut Http2Counters,
    pub websocket: &'a mut WebSocketCounters,
    pub tls: &'a mut crate::tls::TlsCounters,
}

impl<'a> AppCtx<'a> {
    /// What the HTTP/2 analyzer needs, borrowed from this context.
    fn h2(&mut self) -> H2Ctx<'_, 'a> {
        H2Ctx {
            http: &mut self.http,
            counters: &mut *self.h2,
            protocols: &mut *self.protocols,
            websocket: &mut *self.websocket,
        }
    }
}

/// The analyzer of one flow.
#[derive(Debug)]
pub(crate) enum Analyzer {
    /// No protocol decided yet: HTTP/1 runs as the probe (see the module documentation).
    Undecided(HttpConn),
    /// A PROXY header or SOCKS5 handshake being read; HTTP/1 gets each side after it.
    Preface(Box<PrefaceConn>),
    Http1(HttpConn),
    /// The streams inside a CONNECT tunnel, until the client's first byte in it says
    /// TLS (opaque) and HTTP/1 claims (then `Http1`) or excludes (opaque) them.
    Tunnel(HttpConn),
    /// HTTP/2 ([`crate::http2`]): by its client preface, or after an h2c upgrade.
    Http2(Box<H2Conn>),
    /// After a 101 to websocket: frames counted (boxed: allocated only for such
    /// connections).
    WebSocket(Box<WsConn>),
    /// TLS ([`crate::tls`]): a handshake record started the client's stream (boxed:
    /// allocated only for such connections).
    Tls(Box<TlsConn>),
    /// Counted, not parsed.
    Opaque,
}

/// The search for a preface at the start of the originator's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// Nothing seen yet (in a tunnel: nothing from its client yet).
    Start,
    /// The responder spoke first (HTTP/1 has its bytes): only the HTTP/2 client preface
    /// may still start the originator's stream.
    Late,
    /// The originator's stream so far is the first `n` bytes of `sig`, the first of them
    /// at `ts`; `alt`: the other signature sharing those bytes may still be taken.
    Matching {
        sig: Sig,
        n: u8,
        ts: Timestamp,
        alt: bool,
    },
    /// The client's stream so far is the first `n` (1-4) bytes of a plausible TLS
    /// record header (a segment shorter than the header), the first at `ts`: kept
    /// inline until the 5th byte decides (TLS, else they are replayed).
    TlsHead {
        hdr: [u8; 4],
        n: u8,
        ts: Timestamp,
    },
    Off,
}

/// `d` (1-4 bytes) as a [`Probe::TlsHead`] at `ts`.
fn tls_head(d: &[u8], ts: Timestamp) -> Probe {
    let mut hdr = [0; 4];
    let n = d.len().min(4);
    hdr[..n].copy_from_slice(&d[..n]);
    Probe::TlsHead {
        hdr,
        n: n as u8,
        ts,
    }
}

/// The record header held by a [`Probe::TlsHead`] followed by `d`: its verdict (as
/// [`crate::tls::looks_like_tls`]) and the probe holding the longer prefix when still
/// undecided.
fn tls_head_more(hdr: [u8; 4], n: u8, t0: Timestamp, d: &[u8]) -> (Option<bool>, Probe) {
    let n = usize::from(n).min(4);
    let mut h5 = [0u8; 5];
    h5[..n].copy_from_slice(&hdr[..n]);
    let k = (5 - n).min(d.len());
    h5[n..n + k].copy_from_slice(&d[..k]);
    let v = crate::tls::looks_like_tls(&h5[..n + k]);
    (v, tls_head(&h5[..(n + k).min(4)], t0))
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
    probe: Probe,
    /// The original client a PROXY header gave, set on every exchange.
    proxied: Option<Box<OriginalClient>>,
    /// HTTP/2 picked up mid-stream, looked for beside HTTP/1's probe while undecided
    /// (allocated only when a side's data starts with 0x00).
    mid: Option<Box<MidProbe>>,
    /// The mid-stream probe was started and is over: it is not started again.
    mid_over: bool,
    /// TLS picked up mid-stream by its record headers ([`crate::tls::mid`]), looked
    /// for beside HTTP/1's probe while undecided; over once ended or decided.
    tls_mid: Option<Box<crate::tls::mid::MidWalk>>,
    tls_mid_over: bool,
}

/// Sets the original client on the exchanges among `out`.
fn stamp(out: &mut [Event], oc: Option<&OriginalClient>) {
    if let Some(oc) = oc {
        for e in out {
            match e {
                Event::Exchange(x) => x.original_client = Some(*oc),
                Event::WebSocket(w) => w.original_client = Some(*oc),
                _ => {}
            }
        }
    }
}

/// The client and server of a 2xx answer to CONNECT among `out`, if any.
fn connect_tunnel(out: &[Event]) -> Option<(SocketAddr, SocketAddr)> {
    out.iter().find_map(|e| match e {
        Event::Exchange(x)
            if x.method.as_bytes() == b"CONNECT"
                && x.status.is_some_and(|s| (200..300).contains(&s)) =>
        {
            Some((x.client?, x.server?))
        }
        _ => None,
    })
}

impl AppLayer {
    /// `orig`/`resp`: the socket addresses of the Orig and Resp sides.
    pub fn new(orig: SocketAddr, resp: SocketAddr) -> Self {
        AppLayer {
            analyzer: Analyzer::Undecided(HttpConn::new(orig, resp)),
            protocol: None,
            client: Dir::Orig,
            bytes: [0; 2],
            probe: Probe::Start,
            proxied: None,
            mid: None,
            mid_over: false,
            tls_mid: None,
            tls_mid_over: false,
        }
    }

    /// Payload is only counted: reassembly need not buffer or report holes (opaque, or
    /// WebSocket with both directions stopped by a malformed frame or a gap).
    pub fn is_opaque(&self) -> bool {
        match &self.analyzer {
            Analyzer::Opaque => true,
            Analyzer::WebSocket(w) => w.is_stopped(),
            Analyzer::Tls(t) => t.is_stopped(),
            _ => false,
        }
    }

    /// Heap bytes the analyzer holds (charged against `Limits::max_buffered_bytes`).
    pub fn heap_bytes(&self) -> usize {
        let proxied = if self.proxied.is_some() {
            crate::budget::heap(std::mem::size_of::<OriginalClient>())
        } else {
            0
        };
        let mid = self.mid.as_ref().map_or(0, |m| m.heap_bytes());
        let tls_mid = self.tls_mid.as_ref().map_or(0, |_| {
            crate::budget::heap(std::mem::size_of::<crate::tls::mid::MidWalk>())
        });
        proxied
            + mid
            + tls_mid
            + match &self.analyzer {
                Analyzer::Undecided(h) | Analyzer::Http1(h) | Analyzer::Tunnel(h) => h.heap_bytes(),
                Analyzer::Preface(p) => p.heap_bytes(),
                Analyzer::Http2(h) => {
                    crate::budget::heap(std::mem::size_of::<H2Conn>()) + h.heap_bytes()
                }
                Analyzer::WebSocket(w) => w.heap_bytes(),
                Analyzer::Tls(t) => t.heap_bytes(),
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
        if let Analyzer::Http1(h) = &mut self.analyzer {
            let from = cx.http.out.len();
            h.feed(dir, ts, ev, &mut cx.http);
            if self.proxied.is_some() {
                stamp(&mut cx.http.out[from..], self.proxied.as_deref());
            }
            if h.upgrade().is_some() {
                self.hand_over(dir, ts, ev, from, cx);
            }
            return;
        }
        self.feed_other(dir, ts, ev, cx);
    }

    /// [`Self::feed`] for every analyzer but a decided HTTP/1.
    fn feed_other(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, cx: &mut AppCtx<'_>) {
        let from = cx.http.out.len();
        match &mut self.analyzer {
            Analyzer::Undecided(_) if self.probe != Probe::Off => {
                return self.probe(dir, ts, ev, cx);
            }
            Analyzer::Undecided(h) | Analyzer::Http1(h) => h.feed(dir, ts, ev, &mut cx.http),
            Analyzer::Http2(h) => {
                let mut hx = cx.h2();
                h.feed(dir, ts, ev, &mut hx);
            }
            Analyzer::Preface(p) => {
                let (oc, header_end) = p.feed(dir, ts, ev, &mut cx.http, cx.preface);
                if let Some(oc) = oc {
                    self.proxied = Some(Box::new(oc));
                }
                if p.is_over() {
                    let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
                    if let Analyzer::Preface(p) = old {
                        self.analyzer = Analyzer::Undecided(p.http);
                    }
                }
                if let (Some(n), StreamEvent::Data(d)) = (header_end, ev) {
                    // After a PROXY header the originator's stream may still start
                    // with the HTTP/2 client preface (haproxy `send-proxy` in front of
                    // an h2c backend): the probe looks for it as when the server spoke
                    // first.
                    self.probe = Probe::Late;
                    if n < d.len() {
                        return self.probe(dir, ts, StreamEvent::Data(&d[n..]), cx);
                    }
                    return;
                }
            }
            Analyzer::Tunnel(h) => {
                if let Probe::TlsHead { hdr, n, ts: t0 } = self.probe {
                    // The tunnel's first bytes were a record header cut short.
                    let (v, more) = match ev {
                        StreamEvent::Data(d) if dir == self.client => tls_head_more(hdr, n, t0, d),
                        _ => (Some(false), self.probe),
                    };
                    if v.is_none() {
                        self.probe = more;
                        return;
                    }
                    self.probe = Probe::Off;
                    let head = &hdr[..usize::from(n).min(4)];
                    if hdr[0] != 0x16 && v != Some(true) {
                        // Not TLS, and not a TLS-like 0x16: the tunnel's HTTP/1 parser
                        // gets the held bytes at their time, then the event, as it
                        // would have had them in one event.
                        h.feed(self.client, t0, StreamEvent::Data(head), &mut cx.http);
                        h.feed(dir, ts, ev, &mut cx.http);
                        stamp(&mut cx.http.out[from..], self.proxied.as_deref());
                        return self.settle(dir, ts, ev, from, cx);
                    }
                    let from = cx.http.out.len();
                    h.close(ts, &mut cx.http);
                    stamp(&mut cx.http.out[from..], self.proxied.as_deref());
                    if v == Some(true) {
                        let n = match ev {
                            StreamEvent::Data(d) => d.len(),
                            _ => 0,
                        };
                        self.switch(Protocol::Tls, dir, (head.len() + n) as u64, cx);
                        self.start_tls(dir, t0, StreamEvent::Data(head), cx);
                        if let Analyzer::Tls(t) = &mut self.analyzer {
                            t.feed(dir, ts, ev, cx.tls);
                        }
                    } else {
                        self.analyzer = Analyzer::Opaque;
                    }
                    return;
                }
                if let (Probe::Start, StreamEvent::Data([first, ..])) = (self.probe, ev) {
                    if dir == self.client {
                        self.probe = Probe::Off;
                        if let StreamEvent::Data(d) = ev {
                            if crate::tls::looks_like_tls(d).is_none() {
                                // A record header cut short: wait for its 5th byte.
                                self.probe = tls_head(d, ts);
                                return;
                            }
                            if crate::tls::looks_like_tls(d) == Some(true) {
                                // A TLS handshake record: the TLS analyzer takes the
                                // tunnel, and the connection switches to tls (counted
                                // under http/1 and tls, as an h2c upgrade is).
                                let from = cx.http.out.len();
                                h.close(ts, &mut cx.http);
                                stamp(&mut cx.http.out[from..], self.proxied.as_deref());
                                self.switch(Protocol::Tls, dir, d.len() as u64, cx);
                                self.start_tls(dir, ts, ev, cx);
                                return;
                            }
                        }
                        if *first == 0x16 {
                            // Not a plausible handshake record: opaque, as before.
                            let from = cx.http.out.len();
                            h.close(ts, &mut cx.http);
                            stamp(&mut cx.http.out[from..], self.proxied.as_deref());
                            self.analyzer = Analyzer::Opaque;
                            return;
                        }
                    }
                }
                h.feed(dir, ts, ev, &mut cx.http);
            }
            Analyzer::WebSocket(w) => return w.feed(dir, ts, ev, cx.websocket),
            Analyzer::Tls(t) => return t.feed(dir, ts, ev, cx.tls),
            Analyzer::Opaque => return,
        }
        stamp(&mut cx.http.out[from..], self.proxied.as_deref());
        self.settle(dir, ts, ev, from, cx);
    }

    /// After an event: the probes decide, a tunnel is claimed or excluded, an upgrade
    /// hands over.
    fn settle(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        from: usize,
        cx: &mut AppCtx<'_>,
    ) {
        match &self.analyzer {
            Analyzer::Undecided(_) => self.decide(dir, ts, ev, from, cx),
            Analyzer::Http1(h) | Analyzer::Tunnel(h) if h.upgrade().is_some() => {
                self.hand_over(dir, ts, ev, from, cx)
            }
            Analyzer::Tunnel(h) if h.client().is_some() => {
                let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
                if let Analyzer::Tunnel(h) = old {
                    self.analyzer = Analyzer::Http1(h);
                }
            }
            Analyzer::Tunnel(h) if h.is_dead() => {
                // The tunnel is not a connection of its own: HTTP/1's verdict on it is
                // not counted as one (the connection counts under http/1).
                let c = &mut cx.http.counters.not_http_connections;
                *c = c.saturating_sub(1);
                self.analyzer = Analyzer::Opaque;
            }
            _ => {}
        }
    }

    /// The preface probe at the start of the originator's stream (see the module
    /// documentation).
    fn probe(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, cx: &mut AppCtx<'_>) {
        let from = cx.http.out.len();
        let Analyzer::Undecided(h) = &mut self.analyzer else {
            return;
        };
        match (self.probe, dir, ev) {
            (Probe::Start, Dir::Orig, StreamEvent::Data(d @ [_, ..]))
                if crate::tls::looks_like_tls(d) == Some(true) =>
            {
                // A TLS handshake record starts the originator's stream (a record
                // header split before its 5th byte goes to HTTP/1: not handled yet).
                self.probe = Probe::Off;
                self.mid_over = true;
                self.client = Dir::Orig;
                self.decided(Protocol::Tls, cx);
                return self.start_tls(dir, ts, ev, cx);
            }
            (Probe::Start, Dir::Orig, StreamEvent::Data(d @ [_, ..]))
                if crate::tls::looks_like_tls(d).is_none() =>
            {
                // The start of a plausible record header, cut short (1-4 bytes): held
                // inline until its 5th byte.
                self.probe = tls_head(d, ts);
                return;
            }
            (Probe::TlsHead { hdr, n, ts: t0 }, Dir::Orig, StreamEvent::Data(d)) => {
                let head = &hdr[..usize::from(n).min(4)];
                match tls_head_more(hdr, n, t0, d) {
                    (None, more) => {
                        self.probe = more;
                        return;
                    }
                    (Some(true), _) => {
                        self.probe = Probe::Off;
                        self.mid_over = true;
                        self.client = Dir::Orig;
                        self.decided(Protocol::Tls, cx);
                        self.start_tls(dir, t0, StreamEvent::Data(head), cx);
                        if let Analyzer::Tls(t) = &mut self.analyzer {
                            t.feed(dir, ts, ev, cx.tls);
                        }
                        return;
                    }
                    (Some(false), _) => {
                        self.probe = Probe::Off;
                        h.feed(Dir::Orig, t0, StreamEvent::Data(head), &mut cx.http);
                        h.feed(dir, ts, ev, &mut cx.http);
                    }
                }
            }
            (Probe::TlsHead { hdr, n, ts: t0 }, _, _) => {
                self.probe = Probe::Off;
                let head = &hdr[..usize::from(n).min(4)];
                h.feed(Dir::Orig, t0, StreamEvent::Data(head), &mut cx.http);
                h.feed(dir, ts, ev, &mut cx.http);
            }
            (Probe::Start, Dir::Orig, StreamEvent::Data([first, ..])) => {
                if *first == 0x05 {
                    self.probe = Probe::Off;
                    self.start_preface(|h, _| PrefaceConn::socks5(h), cx);
                    return self.feed_other(dir, ts, ev, cx);
                }
                if let Some(sig) = Sig::of(*first) {
                    self.probe = Probe::Matching {
                        sig,
                        n: 0,
                        ts,
                        alt: true,
                    };
                    return self.probe(dir, ts, ev, cx);
                }
                self.probe = Probe::Off;
                h.feed(dir, ts, ev, &mut cx.http);
            }
            (Probe::Start | Probe::Late, _, StreamEvent::Data([])) => {}
            (Probe::Start | Probe::Late, Dir::Resp, StreamEvent::Data(_)) => {
                // An HTTP/2 server may send its SETTINGS before the client's preface
                // arrives: HTTP/1 reads these bytes speculatively, and the preface is
                // still looked for (a PROXY header or SOCKS5 is not: the originator
                // speaks first in those).
                self.probe = Probe::Late;
                h.feed(dir, ts, ev, &mut cx.http);
            }
            (Probe::Late, Dir::Orig, StreamEvent::Data([b'P', ..])) => {
                self.probe = Probe::Matching {
                    sig: Sig::Http2,
                    n: 0,
                    ts,
                    alt: false,
                };
                return self.probe(dir, ts, ev, cx);
            }
            (
                Probe::Matching {
                    sig,
                    n,
                    ts: t0,
                    alt,
                },
                Dir::Orig,
                StreamEvent::Data(d),
            ) => {
                let seen = usize::from(n);
                let fits = |s: Sig| {
                    let b = s.bytes();
                    b.len() >= seen && b[..seen] == sig.bytes()[..seen] && {
                        let k = (b.len() - seen).min(d.len());
                        d[..k] == b[seen..seen + k]
                    }
                };
                let sig = match sig.alt() {
                    Some(a) if alt && !fits(sig) && fits(a) => a,
                    _ => sig,
                };
                let want = &sig.bytes()[usize::from(n)..];
                let k = want.len().min(d.len());
                if d[..k] != want[..k] {
                    self.probe = Probe::Off;
                    if n > 0 {
                        let seen = &sig.bytes()[..usize::from(n)];
                        h.feed(Dir::Orig, t0, StreamEvent::Data(seen), &mut cx.http);
                    }
                    h.feed(dir, ts, ev, &mut cx.http);
                } else if k < want.len() {
                    // `k` is at most the signature's 24 bytes.
                    self.probe = Probe::Matching {
                        sig,
                        n: n + k as u8,
                        ts: t0,
                        alt,
                    };
                    return;
                } else if sig == Sig::Http2 {
                    self.probe = Probe::Off;
                    self.start_h2(cx);
                    if k < d.len() {
                        return self.feed_other(dir, ts, StreamEvent::Data(&d[k..]), cx);
                    }
                    return;
                } else {
                    self.probe = Probe::Off;
                    self.start_preface(|h, c| PrefaceConn::proxy(h, sig, c), cx);
                    if k < d.len() {
                        return self.feed_other(dir, ts, StreamEvent::Data(&d[k..]), cx);
                    }
                    return;
                }
            }
            (Probe::Matching { sig, n, ts: t0, .. }, _, _) => {
                self.probe = Probe::Off;
                let seen = &sig.bytes()[..usize::from(n)];
                h.feed(Dir::Orig, t0, StreamEvent::Data(seen), &mut cx.http);
                h.feed(dir, ts, ev, &mut cx.http);
            }
            (Probe::Start | Probe::Late | Probe::Off, _, _) => {
                self.probe = Probe::Off;
                h.feed(dir, ts, ev, &mut cx.http);
            }
        }
        self.settle(dir, ts, ev, from, cx);
    }

    /// The TLS analyzer takes both streams from `ev` of `dir` (the client's first
    /// handshake record) on.
    fn start_tls(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, cx: &mut AppCtx<'_>) {
        let addrs = match &self.analyzer {
            Analyzer::Undecided(h) | Analyzer::Tunnel(h) => h.addrs(),
            _ => return,
        };
        let l = cx.http.limits;
        let limits = TlsLimits {
            max_handshake: l.max_tls_handshake_bytes,
            max_cert: l.max_tls_cert_bytes,
            max_string: l.max_string_len,
        };
        cx.tls.tls_connections += 1;
        let mut t = Box::new(TlsConn::new(dir, addrs, ts, limits));
        t.feed(dir, ts, ev, cx.tls);
        self.analyzer = Analyzer::Tls(t);
    }

    /// The undecided HTTP/1 parser goes into a preface built by `make`.
    fn start_preface(
        &mut self,
        make: impl FnOnce(HttpConn, &mut PrefaceCounters) -> PrefaceConn,
        cx: &mut AppCtx<'_>,
    ) {
        let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
        if let Analyzer::Undecided(h) = old {
            self.analyzer = Analyzer::Preface(Box::new(make(h, cx.preface)));
        }
    }

    /// The originator's stream started with the HTTP/2 client preface (consumed by the
    /// probe): the connection is HTTP/2, the originator its client.
    fn start_h2(&mut self, cx: &mut AppCtx<'_>) {
        let Analyzer::Undecided(h) = &self.analyzer else {
            return;
        };
        let [orig, resp] = h.addrs();
        // The server's SETTINGS, sent first, may have started the mid-stream probe.
        self.mid = None;
        self.mid_over = true;
        self.analyzer = Analyzer::Http2(Box::new(H2Conn::new(orig, resp, Dir::Orig, true)));
        self.client = Dir::Orig;
        cx.h2.h2_connections += 1;
        self.decided(Protocol::Http2, cx);
    }

    /// The probes: HTTP/1 claimed the connection (a client side is known) or excluded it.
    fn decide(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        from: usize,
        cx: &mut AppCtx<'_>,
    ) {
        let Analyzer::Undecided(h) = &self.analyzer else {
            return;
        };
        if h.client().is_none() && !self.mid_over {
            // HTTP/1 has not claimed the connection: HTTP/2 mid-stream may (HTTP/1 is
            // asked first: it wins an event both would decide on).
            if self.mid.is_none() {
                self.mid = MidProbe::start(dir, &ev, self.had_data(dir, ev));
            }
            if let Some(m) = &mut self.mid {
                match m.feed(dir, ts, ev, h.is_dead()) {
                    MidVerdict::More => {}
                    MidVerdict::Http2(client) => return self.start_mid_h2(dir, ts, ev, client, cx),
                    MidVerdict::Off => {
                        self.mid = None;
                        self.mid_over = true;
                    }
                }
            }
        }
        let Analyzer::Undecided(h) = &self.analyzer else {
            return;
        };
        if h.client().is_none() && !self.tls_mid_over {
            // Nor TLS mid-stream, by its record headers.
            use crate::tls::mid::{MidVerdict, MidWalk};
            let first = !self.had_data(dir, ev)[dir.index()];
            if self.tls_mid.is_none() {
                if let StreamEvent::Data(d @ [_, ..]) = ev {
                    self.tls_mid = MidWalk::start(d, first, ts);
                    self.tls_mid_over = self.tls_mid.is_none();
                }
            }
            if let Some(w) = &mut self.tls_mid {
                match w.feed(dir, ev, first) {
                    MidVerdict::More => {}
                    MidVerdict::Tls(n) => return self.start_mid_tls(dir, ts, ev, n, cx),
                    MidVerdict::Off => {
                        self.tls_mid = None;
                        self.tls_mid_over = true;
                    }
                }
            }
        }
        let Analyzer::Undecided(h) = &self.analyzer else {
            return;
        };
        if let Some(client) = h.client() {
            self.mid = None;
            self.mid_over = true;
            self.tls_mid = None;
            self.tls_mid_over = true;
            self.client = client;
            let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
            if let Analyzer::Undecided(h) = old {
                self.analyzer = Analyzer::Http1(h);
            }
            self.decided(Protocol::Http1, cx);
            // The event that decided may also have switched protocols (a 101 at once).
            if matches!(&self.analyzer, Analyzer::Http1(h) if h.upgrade().is_some()) {
                self.hand_over(dir, ts, ev, from, cx);
            }
        } else if h.is_dead() && self.mid.is_none() && self.tls_mid.is_none() {
            self.analyzer = Analyzer::Opaque;
            self.decided(Protocol::Unknown, cx);
        }
    }

    /// The mid-stream TLS walk decided (see [`crate::tls::mid`]): the TLS analyzer goes
    /// on from the walkers' framing; HTTP/1's speculative parse is dropped (its "not
    /// HTTP" verdict, if given, is taken back). The server is the side on a well-known
    /// port (below 1024, or 8443) when the other is not, else the responder.
    /// `ev` of `dir` decided after its first `read` bytes: the analyzer takes the rest.
    fn start_mid_tls(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        read: usize,
        cx: &mut AppCtx<'_>,
    ) {
        let (Some(w), Analyzer::Undecided(h)) = (self.tls_mid.take(), &self.analyzer) else {
            return;
        };
        self.tls_mid_over = true;
        self.mid = None;
        self.mid_over = true;
        if h.is_dead() {
            let c = &mut cx.http.counters.not_http_connections;
            *c = c.saturating_sub(1);
        }
        let addrs = h.addrs();
        let known = |p: u16| p < 1024 || p == 8443;
        let client = if known(addrs[0].port()) && !known(addrs[1].port()) {
            Dir::Resp
        } else {
            Dir::Orig
        };
        let l = cx.http.limits;
        let limits = TlsLimits {
            max_handshake: l.max_tls_handshake_bytes,
            max_cert: l.max_tls_cert_bytes,
            max_string: l.max_string_len,
        };
        cx.tls.tls_connections += 1;
        cx.tls.tls_midstream += 1;
        cx.tls.tls_records += w.records();
        let mut t = Box::new(TlsConn::mid(client, addrs, w.t0, limits, &w));
        if let StreamEvent::Data(d) = ev {
            if let Some(rest @ [_, ..]) = d.get(read..) {
                t.feed(dir, ts, StreamEvent::Data(rest), cx.tls);
            }
        }
        self.analyzer = Analyzer::Tls(t);
        self.client = client;
        self.decided(Protocol::Tls, cx);
    }

    /// Which sides delivered data before `ev` of `dir`.
    fn had_data(&self, dir: Dir, ev: StreamEvent<'_>) -> [bool; 2] {
        let mut b = self.bytes;
        if let StreamEvent::Data(d) = ev {
            b[dir.index()] -= d.len() as u64;
        }
        b.map(|n| n > 0)
    }

    /// The mid-stream probe decided HTTP/2 on `ev` of `dir` (see [`crate::http2`]):
    /// the analyzer is given the kept events again, then `ev`; HTTP/1's speculative
    /// parse is dropped (it had claimed nothing; its "not HTTP" verdict is taken back).
    fn start_mid_h2(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        client: Dir,
        cx: &mut AppCtx<'_>,
    ) {
        let (Some(m), Analyzer::Undecided(h)) = (self.mid.take(), &self.analyzer) else {
            return;
        };
        self.mid_over = true;
        if h.is_dead() {
            let c = &mut cx.http.counters.not_http_connections;
            *c = c.saturating_sub(1);
        }
        let [orig, resp] = h.addrs();
        let synced = [m.synced(Dir::Orig), m.synced(Dir::Resp)];
        let mut conn = Box::new(H2Conn::mid(orig, resp, client, synced, cx.h2));
        self.client = client;
        cx.h2.h2_connections += 1;
        cx.h2.h2_midstream += 1;
        self.decided(Protocol::Http2, cx);
        let from = cx.http.out.len();
        let mut hx = cx.h2();
        for (d, t, bytes) in m.replay() {
            conn.feed(d, t, StreamEvent::Data(bytes), &mut hx);
        }
        if m.feeds_current(dir) {
            conn.feed(dir, ts, ev, &mut hx);
        }
        self.analyzer = Analyzer::Http2(conn);
        stamp(&mut cx.http.out[from..], self.proxied.as_deref());
    }

    fn decided(&mut self, p: Protocol, cx: &mut AppCtx<'_>) {
        self.protocol = Some(p);
        let row = cx.protocols.get_mut(p);
        row.connections += 1;
        row.add_bytes(true, self.bytes[self.client.index()]);
        row.add_bytes(false, self.bytes[self.client.other().index()]);
        cx.http.out.push(Event::ConnectionDecided { protocol: p });
    }

    /// HTTP/1 was upgraded by the event `ev` of `dir` (whose exchanges start at `from` in
    /// the output): it emits what it holds; a CONNECT tunnel goes to a fresh HTTP/1
    /// parser, a 101 to websocket to the WebSocket analyzer (either gets the event's
    /// bytes after the answer's head first), anything else is opaque.
    fn hand_over(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        from: usize,
        cx: &mut AppCtx<'_>,
    ) {
        let (Analyzer::Http1(h) | Analyzer::Tunnel(h)) = &mut self.analyzer else {
            return;
        };
        let up = h.upgrade();
        let h2c = up.is_some_and(|u| u.to == UpgradeTo::H2c);
        let tail = match (up, ev) {
            (Some(up), StreamEvent::Data(d)) if up.dir == dir => {
                let n = h.offset(dir).saturating_sub(up.offset);
                let n = usize::try_from(n).unwrap_or(usize::MAX).min(d.len());
                &d[d.len() - n..]
            }
            _ => &[],
        };
        let closed = cx.http.out.len();
        h.close(ts, &mut cx.http);
        stamp(&mut cx.http.out[closed..], self.proxied.as_deref());
        self.analyzer = Analyzer::Opaque;
        if h2c {
            return self.h2c(dir, ts, tail, from.min(closed), cx);
        }
        if up.is_some_and(|u| u.to == crate::http::UpgradeTo::WebSocket) {
            let out = &cx.http.out[from.min(closed)..];
            let ws = WsConn::new(out, self.client, ts, cx.http.limits.max_string_len);
            self.switch(Protocol::WebSocket, dir, tail.len() as u64, cx);
            self.analyzer = Analyzer::WebSocket(Box::new(ws));
            if !tail.is_empty() {
                self.feed_other(dir, ts, StreamEvent::Data(tail), cx);
            }
            return;
        }
        let Some((client, server)) = connect_tunnel(&cx.http.out[from.min(closed)..]) else {
            return;
        };
        cx.preface.connect_tunnels += 1;
        let (orig, resp) = match self.client {
            Dir::Orig => (client, server),
            Dir::Resp => (server, client),
        };
        self.analyzer = Analyzer::Tunnel(HttpConn::new(orig, resp));
        self.probe = Probe::Start;
        if !tail.is_empty() {
            self.feed_other(dir, ts, StreamEvent::Data(tail), cx);
        }
    }

    /// A 101 answered `Upgrade: h2c`: HTTP/2 takes both streams (the client's starting
    /// with its preface), the upgrade request becomes stream 1's and leaves the output
    /// (it comes out when stream 1's response ends). The connection, decided and counted
    /// as http/1, is counted under http/2 too, and its bytes from here on go there.
    fn h2c(&mut self, dir: Dir, ts: Timestamp, tail: &[u8], from: usize, cx: &mut AppCtx<'_>) {
        let at = cx.http.out[from..].iter().position(
            |e| matches!(e, Event::Exchange(x) if x.status == Some(101) && x.client.is_some()),
        );
        let Some(at) = at.map(|i| from + i) else {
            return;
        };
        let Event::Exchange(x) = &cx.http.out[at] else {
            return;
        };
        // A 101 that answered no request seen (NO_REQUEST: the capture missed it) stays
        // in the output as what it is; stream 1 then has no request either.
        let with_request = !x.flags.contains(Flags::NO_REQUEST);
        let (Some(client), Some(server)) = (x.client, x.server) else {
            return;
        };
        let (orig, resp) = match self.client {
            Dir::Orig => (client, server),
            Dir::Resp => (server, client),
        };
        let mut h = H2Conn::new(orig, resp, self.client, false);
        if with_request {
            if let Event::Exchange(ex) = cx.http.out.remove(at) {
                h.upgraded(ex);
            }
        }
        self.analyzer = Analyzer::Http2(Box::new(h));
        cx.h2.h2_connections += 1;
        cx.h2.h2_upgrades += 1;
        self.switch(Protocol::Http2, dir, tail.len() as u64, cx);
        if !tail.is_empty() {
            self.feed_other(dir, ts, StreamEvent::Data(tail), cx);
        }
    }

    /// The connection switches to protocol `to` (see the module documentation): it
    /// counts as a `to` connection too, and the `tail` bytes of `dir`'s current event
    /// (after the switching response's head), already counted under the old protocol,
    /// move to `to`'s row like every later byte.
    fn switch(&mut self, to: Protocol, dir: Dir, tail: u64, cx: &mut AppCtx<'_>) {
        let to_server = dir == self.client;
        if let Some(p) = self.protocol {
            let row = cx.protocols.get_mut(p);
            let b = if to_server {
                &mut row.bytes_to_server
            } else {
                &mut row.bytes_to_client
            };
            *b = b.saturating_sub(tail);
        }
        let row = cx.protocols.get_mut(to);
        row.connections += 1;
        row.add_bytes(to_server, tail);
        self.protocol = Some(to);
    }

    /// The flow is gone (its streams flushed into `feed` before): the analyzer emits
    /// everything pending, and the connection is reported closed.
    pub fn close(&mut self, ts: Timestamp, cx: &mut AppCtx<'_>) {
        if matches!(self.analyzer, Analyzer::Preface(_)) {
            let old = std::mem::replace(&mut self.analyzer, Analyzer::Opaque);
            if let Analyzer::Preface(p) = old {
                self.analyzer = Analyzer::Undecided(p.http);
            }
        }
        let from = cx.http.out.len();
        if let (Analyzer::Undecided(h), Probe::Matching { sig, n, ts: t0, .. }) =
            (&mut self.analyzer, self.probe)
        {
            let seen = &sig.bytes()[..usize::from(n)];
            h.feed(Dir::Orig, t0, StreamEvent::Data(seen), &mut cx.http);
        }
        if let (Analyzer::Undecided(h), Probe::TlsHead { hdr, n, ts: t0 }) =
            (&mut self.analyzer, self.probe)
        {
            let head = &hdr[..usize::from(n).min(4)];
            h.feed(Dir::Orig, t0, StreamEvent::Data(head), &mut cx.http);
        }
        self.probe = Probe::Off;
        self.mid = None;
        if let Analyzer::Undecided(h) = &self.analyzer {
            // A connection closed inside a preface (SOCKS5 without a reply) may hold
            // requests of a side already past it.
            if let Some(client) = h.client() {
                self.client = client;
                self.decided(Protocol::Http1, cx);
            }
        }
        match &mut self.analyzer {
            Analyzer::Undecided(h) | Analyzer::Http1(h) | Analyzer::Tunnel(h) => {
                h.close(ts, &mut cx.http)
            }
            Analyzer::Preface(p) => p.http.close(ts, &mut cx.http),
            Analyzer::Http2(h) => {
                let mut hx = cx.h2();
                h.close(ts, &mut hx);
            }
            Analyzer::WebSocket(w) => {
                let s = w.finish(ts, &mut cx.http.counters.strings_truncated);
                cx.http.out.push(Event::WebSocket(Box::new(s)));
            }
            Analyzer::Tls(t) => {
                let (c, o) = (self.client.index(), self.client.other().index());
                let s = t.finish(ts, self.bytes[c], self.bytes[o]);
                cx.http.out.push(Event::Tls(Box::new(s)));
            }
            Analyzer::Opaque => {}
        }
        stamp(&mut cx.http.out[from..], self.proxied.as_deref());
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
    use crate::http::UpgradeTo;
    use crate::http::{HttpCounters, QueuePool};
    use crate::limits::Limits;
    use crate::{Exchange, WebSocketSession};

    /// One application layer fed scripted stream events, with everything it touches.
    struct Rig {
        app: AppLayer,
        limits: Limits,
        http: HttpCounters,
        protocols: ProtocolTable,
        preface: PrefaceCounters,
        h2: Http2Counters,
        websocket: WebSocketCounters,
        tls: crate::tls::TlsCounters,
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
                preface: PrefaceCounters::default(),
                h2: Http2Counters::default(),
                websocket: WebSocketCounters::default(),
                tls: crate::tls::TlsCounters::default(),
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
                preface: &mut self.preface,
                h2: &mut self.h2,
                websocket: &mut self.websocket,
                tls: &mut self.tls,
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
    fn an_upgrade_to_another_protocol_hands_the_streams_over_and_stays_http1() {
        let mut r = Rig::new(Limits::default());
        let req = b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: foo\r\n\r\n";
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\n\r\n";
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
        assert_eq!(r.row(Protocol::WebSocket), (0, 0, 0));
    }

    #[test]
    fn a_101_to_websocket_hands_both_streams_to_the_websocket_analyzer() {
        let req = b"GET /chat?x=1 HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\n\r\n";
        // Server: "hi" in the 101's packet, then a Close 1000. Client: a masked binary
        // frame of 3 bytes, a ping, then a masked Close 1000 "bye".
        let hi = [0x81u8, 0x02, b'h', b'i'];
        let k = [0x11u8, 0x22, 0x33, 0x44];
        let mask =
            |p: &[u8]| -> Vec<u8> { p.iter().enumerate().map(|(i, b)| b ^ k[i % 4]).collect() };
        let client = [
            &[0x82u8, 0x83][..],
            &k,
            &mask(b"abc"),
            &[0x89, 0x80],
            &k,
            &[0x88, 0x85],
            &k,
            &mask(b"\x03\xe8bye"),
        ]
        .concat();
        let from_server = [&resp[..], &hi].concat();
        let close_s = [0x88u8, 0x02, 0x03, 0xe8];
        let script: &[(Dir, &[u8])] = &[
            (Dir::Orig, req),
            (Dir::Resp, &from_server),
            (Dir::Orig, &client),
            (Dir::Resp, &close_s),
        ];
        let run = |piece: usize| {
            let mut r = Rig::new(Limits::default());
            for (dir, bytes) in script {
                for c in bytes.chunks(if piece == 0 { bytes.len() } else { piece }) {
                    r.data(*dir, c);
                    if r.exchanges().iter().any(|x| x.status == Some(101)) {
                        assert!(!r.app.is_opaque());
                    }
                }
            }
            r.close();
            let sessions: Vec<WebSocketSession> = r
                .out
                .iter()
                .filter_map(|e| match e {
                    Event::WebSocket(w) => Some(w.as_ref().clone()),
                    _ => None,
                })
                .collect();
            let ex: Vec<Exchange> = r.exchanges().into_iter().cloned().collect();
            (
                ex,
                sessions,
                r.row(Protocol::Http1),
                r.row(Protocol::WebSocket),
                r.closed(),
                r.decided(),
                r.websocket.clone(),
            )
        };
        let whole = run(0);
        for piece in 1..=13 {
            assert_eq!(run(piece), whole, "in pieces of {piece}");
        }
        let (ex, sessions, http1, ws, closed, decided, counters) = whole;
        // The upgrade request is a real request: it stays in the output.
        assert_eq!(ex.len(), 1);
        assert_eq!(
            (ex[0].status, ex[0].path.as_bytes()),
            (Some(101), &b"/chat?x=1"[..])
        );
        // The connection counts once as http/1 (with the bytes up to the 101's head
        // end) and once as websocket (with every byte after it), and closes as websocket.
        let (ws_c, ws_s) = (client.len() as u64, (hi.len() + close_s.len()) as u64);
        assert_eq!(http1, (1, req.len() as u64, resp.len() as u64));
        assert_eq!(ws, (1, ws_c, ws_s));
        let total = (req.len() as u64 + ws_c, resp.len() as u64 + ws_s);
        assert_eq!(closed, Some((Protocol::WebSocket, total.0, total.1)));
        assert_eq!(decided, [Protocol::Http1]);
        assert_eq!(sessions.len(), 1);
        let w = &sessions[0];
        assert_eq!(
            (w.host.as_bytes(), w.path.as_bytes()),
            (&b"ws.example"[..], &b"/chat?x=1"[..])
        );
        assert_eq!(
            (w.client, w.server),
            (
                Some("10.0.0.1:40000".parse().unwrap()),
                Some("10.0.0.2:5555".parse().unwrap())
            )
        );
        assert_eq!(
            (w.ts, w.end, w.version, w.stream_id),
            (
                Timestamp::from_secs(1),
                Timestamp::from_secs(2),
                crate::Version { major: 1, minor: 1 },
                0
            )
        );
        assert_eq!(
            (
                w.frames_to_server,
                w.messages_to_server,
                w.payload_to_server
            ),
            (3, 1, 3 + 5)
        );
        assert_eq!(
            (
                w.frames_to_client,
                w.messages_to_client,
                w.payload_to_client
            ),
            (2, 1, 2 + 2)
        );
        assert_eq!(
            (w.close_code, w.close_reason.as_bytes(), w.flags),
            (Some(1000), &b"bye"[..], crate::Flags::empty())
        );
        assert_eq!(
            (counters.websocket_frames, counters.websocket_messages),
            (5, 2)
        );
        assert_eq!(counters.websocket_payload_bytes, 12);
    }

    /// The WebSocket sessions among the events.
    fn sessions(r: &Rig) -> Vec<WebSocketSession> {
        r.out
            .iter()
            .filter_map(|e| match e {
                Event::WebSocket(w) => Some(w.as_ref().clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_websocket_connection_that_lost_framing_both_ways_becomes_opaque() {
        let mut r = Rig::new(Limits::default());
        r.data(
            Dir::Orig,
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\nGET /ws HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        r.data(
            Dir::Resp,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\r\n\x81\x01a",
        );
        assert!(!r.app.is_opaque());
        // A reserved opcode from the server, a gap from the client.
        r.data(Dir::Resp, &[0x83, 0x00, 0x81, 0x01, b'b']);
        assert!(!r.app.is_opaque(), "the client's side is still parsed");
        r.data(Dir::Orig, &[0x81, 0x80, 0, 0, 0, 0]);
        r.feed(Dir::Orig, StreamEvent::Gap(10));
        assert!(r.app.is_opaque(), "nothing is parsed any more");
        r.data(Dir::Orig, &[1, 2, 3]).close();
        let s = sessions(&r);
        assert_eq!(s.len(), 1);
        let flags = crate::Flags::GAP | crate::Flags::MALFORMED | crate::Flags::TRUNCATED;
        assert_eq!(s[0].flags, flags);
        assert_eq!((s[0].frames_to_server, s[0].frames_to_client), (1, 1));
        assert_eq!((s[0].messages_to_server, s[0].messages_to_client), (1, 1));
        assert_eq!(s[0].original_client, oc("203.0.113.7:51234"));
        assert_eq!(r.websocket.websocket_malformed, 1);
        assert_eq!(r.websocket.websocket_gaps, 1);
        // Bytes after the 101 head, the gap excluded.
        assert_eq!(r.row(Protocol::WebSocket), (1, 6 + 3, 3 + 5));
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
                offset: at,
                to: crate::http::UpgradeTo::Absent,
            })
        );
    }

    #[test]
    fn an_h2c_101_that_answered_no_request_gives_stream_1_no_request() {
        // Found by the http2 fuzz target: the 101 had no request (the capture missed
        // it), yet became stream 1's request, counted by no RequestStarted.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"HTTP/1.1 101\nUpgrade:h2c\n\n").close();
        let with_request = r
            .exchanges()
            .iter()
            .filter(|x| !x.flags.contains(crate::Flags::NO_REQUEST))
            .count();
        let started = r
            .out
            .iter()
            .filter(|e| matches!(e, Event::RequestStarted { .. }))
            .count();
        assert_eq!(with_request, started);
        assert_eq!(
            r.exchanges().len(),
            1,
            "the 101 is a response without request"
        );
    }

    #[test]
    fn a_101_says_what_the_connection_switched_to() {
        for (field, to) in [
            ("Upgrade: websocket\r\n", UpgradeTo::WebSocket),
            ("upgrade: H2C\r\n", UpgradeTo::H2c),
            ("Upgrade: foo/2, websocket\r\n", UpgradeTo::Other),
            ("", UpgradeTo::Absent),
        ] {
            let mut r = Rig::new(Limits::default());
            r.data(
                Dir::Orig,
                b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
            );
            let resp = format!("HTTP/1.1 101 Switching Protocols\r\n{field}\r\n");
            let Analyzer::Http1(h) = &mut r.app.analyzer else {
                panic!("not decided as HTTP/1");
            };
            let mut cx = Ctx {
                limits: &r.limits,
                counters: &mut r.http,
                out: &mut r.out,
                pool: &mut r.pool,
                now: Timestamp::ZERO,
            };
            h.feed(
                Dir::Resp,
                Timestamp::ZERO,
                StreamEvent::Data(resp.as_bytes()),
                &mut cx,
            );
            assert_eq!(h.upgrade().map(|u| u.to), Some(to), "{field:?}");
        }
    }

    // ------------------------------------------------------------------ prefaces

    /// Runs `script` (direction, bytes) through a fresh layer, each event cut into
    /// pieces of `piece` bytes (0: whole), the pieces of one event at times 1 s + i µs;
    /// returns the exchanges, the decisions and the preface counters.
    fn run(
        script: &[(Dir, &[u8])],
        piece: usize,
    ) -> (
        Vec<Exchange>,
        Vec<Protocol>,
        PrefaceCounters,
        (u64, u64, u64),
    ) {
        let mut r = Rig::new(Limits::default());
        for (k, (dir, bytes)) in script.iter().enumerate() {
            let step = if piece == 0 {
                bytes.len().max(1)
            } else {
                piece
            };
            for c in bytes.chunks(step) {
                let t = Timestamp::from_secs(1).add_nanos(k as u64 * 1000);
                r.with(|app, cx| app.feed(*dir, t, StreamEvent::Data(c), cx));
            }
        }
        r.close();
        let ex = r.exchanges().into_iter().cloned().collect();
        (ex, r.decided(), r.preface.clone(), r.row(Protocol::Http1))
    }

    /// The same results whole, in pieces of every size up to 13 bytes, byte by byte.
    fn run_all_ways(
        script: &[(Dir, &[u8])],
    ) -> (
        Vec<Exchange>,
        Vec<Protocol>,
        PrefaceCounters,
        (u64, u64, u64),
    ) {
        let whole = run(script, 0);
        for piece in 1..=13 {
            assert_eq!(run(script, piece), whole, "in pieces of {piece}");
        }
        whole
    }

    fn oc(s: &str) -> Option<OriginalClient> {
        if let Ok(sa) = s.parse::<SocketAddr>() {
            return Some(OriginalClient {
                ip: sa.ip(),
                port: Some(sa.port()),
            });
        }
        Some(OriginalClient {
            ip: s.parse().unwrap(),
            port: None,
        })
    }

    fn total(script: &[(Dir, &[u8])], dir: Dir) -> u64 {
        script
            .iter()
            .filter(|(d, _)| *d == dir)
            .map(|(_, b)| b.len() as u64)
            .sum()
    }

    #[test]
    fn a_proxy_v1_header_is_skipped_and_names_the_original_client() {
        let req = [
            &b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\n"[..],
            REQ,
            b"POST /f HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Length: 0\r\n\r\n",
        ]
        .concat();
        let script: &[(Dir, &[u8])] = &[(Dir::Orig, &req), (Dir::Resp, RESP), (Dir::Resp, RESP)];
        let (ex, decided, c, row) = run_all_ways(script);
        assert_eq!(decided, [Protocol::Http1]);
        assert_eq!((c.proxy_v1, c.malformed_preface), (1, 0));
        assert_eq!(ex.len(), 2);
        for x in &ex {
            assert_eq!(x.status, Some(200));
            // The PROXY header wins over a forwarding header.
            assert_eq!(x.original_client, oc("203.0.113.7:51234"));
            assert!(x.flags.is_empty(), "{:?}", x.flags);
        }
        assert_eq!(ex[1].method.as_bytes(), b"POST");
        assert_eq!(row, (1, total(script, Dir::Orig), total(script, Dir::Resp)));
    }

    #[test]
    fn a_proxy_v2_header_with_tlvs_is_skipped() {
        let mut req = crate::preface::proxy::tests::v2(
            1,
            0x11,
            &crate::preface::proxy::tests::v4_block(),
            300,
        );
        req.extend_from_slice(REQ);
        let script: &[(Dir, &[u8])] = &[(Dir::Orig, &req), (Dir::Resp, RESP)];
        let (ex, decided, c, _) = run_all_ways(script);
        assert_eq!(decided, [Protocol::Http1]);
        assert_eq!((c.proxy_v2, c.proxy_v2_skipped_bytes), (1, 300));
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].original_client, oc("198.51.100.9:40000"));
        assert_eq!(ex[0].path.as_bytes(), b"/");
    }

    #[test]
    fn requests_that_start_like_a_signature_lose_nothing() {
        for req in [
            &b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"[..],
            b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            b"PROPFIND /x HTTP/1.1\r\nHost: h\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let script: &[(Dir, &[u8])] = &[(Dir::Orig, req), (Dir::Resp, RESP)];
            let (ex, decided, c, row) = run_all_ways(script);
            assert_eq!(decided, [Protocol::Http1], "{req:?}");
            assert_eq!(c, PrefaceCounters::default());
            assert_eq!(ex.len(), 1);
            assert_eq!(ex[0].status, Some(200));
            assert_eq!(ex[0].original_client, None);
            assert_eq!(
                ex[0].request_bytes,
                req.len() as u64 - u64::from(req[0] == b'\r') * 2
            );
            // The request's time is that of its first byte, replayed or not.
            assert_eq!(ex[0].ts, Timestamp::from_secs(1));
            assert_eq!(row.1, req.len() as u64);
        }
        // A signature cut by the close is replayed too: the request is there.
        let (ex, _, _, _) = run(&[(Dir::Orig, b"PRO")], 0);
        assert!(ex.is_empty());
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"P").data(Dir::Resp, RESP).close();
        assert_eq!(r.exchanges().len(), 1, "P then a response from the server");
    }

    #[test]
    fn a_malformed_proxy_header_is_counted_and_http_follows() {
        let req = [&b"PROXY TCP4 203.0.113.7 10.0.0.2 x 80\r\n"[..], REQ].concat();
        let (ex, decided, c, _) = run_all_ways(&[(Dir::Orig, &req), (Dir::Resp, RESP)]);
        assert_eq!((c.proxy_v1, c.malformed_preface), (0, 1));
        assert_eq!(decided, [Protocol::Http1]);
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].original_client, None);
    }

    #[test]
    fn a_proxy_header_with_a_tls_connection_behind_is_not_http() {
        let req = [
            &b"PROXY TCP4 203.0.113.7 10.0.0.2 1 443\r\n"[..],
            &[0x16, 3, 1, 0, 5],
        ]
        .concat();
        let (ex, decided, c, _) =
            run_all_ways(&[(Dir::Orig, &req), (Dir::Resp, &[0x16, 3, 3, 0, 9])]);
        assert_eq!(
            (c.proxy_v1, decided.as_slice()),
            (1, &[Protocol::Unknown][..])
        );
        assert!(ex.is_empty());
    }

    #[test]
    fn http_after_a_socks5_handshake_is_parsed() {
        use crate::preface::socks5::tests::{GREETING, REPLY, REQUEST, SELECT};
        let script: &[(Dir, &[u8])] = &[
            (Dir::Orig, GREETING),
            (Dir::Resp, SELECT),
            (Dir::Orig, &[REQUEST, REQ].concat()),
            (Dir::Resp, REPLY),
            (Dir::Resp, RESP),
        ];
        let (ex, decided, c, row) = run_all_ways(script);
        assert_eq!((c.socks5, c.malformed_preface), (1, 0));
        assert_eq!(decided, [Protocol::Http1]);
        assert_eq!(ex.len(), 1);
        assert_eq!((ex[0].status, ex[0].original_client), (Some(200), None));
        assert_eq!(ex[0].request_bytes, REQ.len() as u64);
        assert_eq!(row, (1, total(script, Dir::Orig), total(script, Dir::Resp)));
        // Refused: no tunnel, nothing parsed, not HTTP.
        let (ex, decided, c, _) = run_all_ways(&[(Dir::Orig, GREETING), (Dir::Resp, &[5, 0xff])]);
        assert_eq!((ex.len(), c.socks5), (0, 1));
        assert_eq!(decided, [Protocol::Unknown]);
    }

    #[test]
    fn http_inside_a_connect_tunnel_is_parsed() {
        let connect = b"CONNECT inner.example:80 HTTP/1.1\r\nHost: inner.example:80\r\n\r\n";
        let ok = b"HTTP/1.1 200 Connection established\r\n\r\n";
        let inner_req = b"GET /in HTTP/1.1\r\nHost: inner.example\r\n\r\n";
        let script: &[(Dir, &[u8])] = &[
            (Dir::Orig, connect),
            (Dir::Resp, ok),
            (Dir::Orig, inner_req),
            (Dir::Resp, RESP),
            (Dir::Orig, REQ),
            (Dir::Resp, RESP),
        ];
        let (ex, decided, c, row) = run_all_ways(script);
        assert_eq!(c.connect_tunnels, 1);
        assert_eq!(decided, [Protocol::Http1]);
        let got: Vec<_> = ex
            .iter()
            .map(|x| {
                (
                    x.method.as_bytes().to_vec(),
                    x.path.as_bytes().to_vec(),
                    x.status,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (b"CONNECT".to_vec(), b"inner.example:80".to_vec(), Some(200)),
                (b"GET".to_vec(), b"/in".to_vec(), Some(200)),
                (b"GET".to_vec(), b"/".to_vec(), Some(200)),
            ]
        );
        assert_eq!(row, (1, total(script, Dir::Orig), total(script, Dir::Resp)));
        // The answer and the server's first tunnel bytes in one event.
        let (ex, _, _, _) = run(
            &[
                (Dir::Orig, connect),
                (
                    Dir::Resp,
                    &[&ok[..], b"HTTP/1.1 204 No Content\r\n\r\n"].concat(),
                ),
            ],
            0,
        );
        assert_eq!(ex.len(), 2);
        assert_eq!(
            (ex[1].status, ex[1].flags),
            (Some(204), crate::Flags::NO_REQUEST)
        );
    }

    #[test]
    fn tls_inside_a_connect_tunnel_goes_to_the_tls_analyzer() {
        let connect = b"CONNECT inner.example:443 HTTP/1.1\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\n\r\n";
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, connect).data(Dir::Resp, ok);
        r.data(Dir::Orig, &[0x16u8, 3, 1, 0, 200, 1])
            .data(Dir::Resp, &[0x16u8, 3, 3]);
        assert!(matches!(r.app.analyzer, Analyzer::Tls(_)));
        r.close();
        assert_eq!(r.exchanges().len(), 1);
        assert_eq!(r.tls.tls_connections, 1);
        assert_eq!(r.decided(), [Protocol::Http1]);
        let tls: Vec<_> = r
            .out
            .iter()
            .filter(|e| matches!(e, Event::Tls(_)))
            .collect();
        assert_eq!(tls.len(), 1);
        // Counted as h2c is: an http/1 connection (CONNECT and its answer) and a tls one
        // (the tunnel's bytes), closed as tls.
        let (c, s) = (connect.len() as u64, ok.len() as u64);
        assert_eq!(r.row(Protocol::Http1), (1, c, s));
        assert_eq!(r.row(Protocol::Tls), (1, 6, 3));
        assert_eq!(r.closed(), Some((Protocol::Tls, c + 6, s + 3)));
    }

    #[test]
    fn tls_joined_mid_stream_is_picked_up_by_its_record_headers() {
        let rec = |ty: u8, n: usize| {
            let mut v = vec![ty, 3, 3, (n >> 8) as u8, n as u8];
            v.resize(5 + n, 0xab);
            v
        };
        let c1 = [rec(23, 300), rec(23, 40)].concat();
        let c2 = rec(23, 1000);
        // Split anywhere: the header of the 3rd record decides.
        let s1 = rec(23, 5000);
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &c1[..3]).data(Dir::Orig, &c1[3..]);
        assert!(matches!(r.app.analyzer, Analyzer::Undecided(_)));
        r.data(Dir::Resp, &s1[..2000]).data(Dir::Resp, &s1[2000..]);
        assert!(matches!(r.app.analyzer, Analyzer::Tls(_)));
        r.data(Dir::Orig, &c2).data(Dir::Resp, &rec(21, 2));
        r.close();
        assert_eq!(r.decided(), [Protocol::Tls]);
        let (cb, sb) = ((c1.len() + c2.len()) as u64, (s1.len() + 7) as u64);
        assert_eq!(r.closed(), Some((Protocol::Tls, cb, sb)));
        assert_eq!(r.row(Protocol::Tls), (1, cb, sb));
        assert_eq!((r.tls.tls_midstream, r.tls.tls_connections), (1, 1));
        assert_eq!(r.tls.tls_records, 5);
        assert_eq!(r.tls.tls_malformed, 0);
        assert_eq!(r.http.not_http_connections, 0);
        let Some(Event::Tls(t)) = r.out.iter().find(|e| matches!(e, Event::Tls(_))) else {
            panic!("no TLS record");
        };
        use crate::tls::TlsFlags;
        for f in [
            TlsFlags::MIDSTREAM,
            TlsFlags::NO_CLIENT_HELLO,
            TlsFlags::NO_SERVER_HELLO,
        ] {
            assert!(t.flags.contains(f), "{:?}", t.flags);
        }
        assert!(!t.flags.contains(TlsFlags::COMPLETE) && t.alert.is_none());
        // The server on a well-known port is the server whoever was seen first.
        let mut r = Rig::new(Limits::default());
        r.app = AppLayer::new(
            "10.0.0.2:443".parse().unwrap(),
            "10.0.0.1:40000".parse().unwrap(),
        );
        r.data(Dir::Orig, &[rec(23, 9), rec(23, 9), rec(23, 9)].concat());
        r.close();
        assert_eq!(r.row(Protocol::Tls), (1, 0, 42));
        // Two good headers, then not a record: HTTP/1's verdict (unknown).
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &[rec(23, 9), rec(23, 9)].concat())
            .data(Dir::Orig, b"\x00\x01garbage")
            .data(Dir::Resp, b"\x17\x03\x03\x00\x01z");
        r.close();
        assert_eq!(r.decided(), [Protocol::Unknown]);
        assert_eq!(r.tls.tls_midstream, 0);
    }

    /// `fuzz/regressions/tls/midstream-decided-mid-event` (found by the `tls` target):
    /// records followed by garbage in one event were not TLS when fed whole (the walk
    /// read the garbage before asking for a decision) but TLS byte by byte. Now the
    /// third header decides wherever the event ends; the analyzer gets the rest.
    #[test]
    fn a_midstream_decision_does_not_depend_on_the_split() {
        const S: &[u8] = b"\x16\x03\x03\x00\x03\x01\x00\x00\x16\x03\x03\x00\x03p\x03\x03\x16\x03\x03\x00\x03\x07\x07\x07\x00\x00\x00\x00\x00\x00\x01G";
        let mut seen = Vec::new();
        for piece in [S.len(), 1, 7] {
            let mut r = Rig::new(Limits::default());
            for c in S.chunks(piece) {
                r.data(Dir::Resp, c);
            }
            r.close();
            seen.push((r.decided(), r.tls.clone(), r.closed()));
        }
        assert_eq!(seen[0].0, [Protocol::Tls]);
        assert_eq!((seen[0].1.tls_records, seen[0].1.tls_malformed), (3, 1));
        assert!(seen.iter().all(|x| *x == seen[0]), "{seen:?}");
    }

    #[test]
    fn a_record_header_cut_short_waits_for_its_fifth_byte() {
        // 1 byte, then 2, then the rest: TLS, the header's bytes replayed in order.
        let hello = [0x16u8, 3, 1, 0, 4, 1, 0, 0, 0];
        for cuts in [&[1usize, 3][..], &[1, 2, 3, 4], &[4], &[2]] {
            let mut r = Rig::new(Limits::default());
            let mut at = 0;
            for &c in cuts {
                r.data(Dir::Orig, &hello[at..c]);
                at = c;
            }
            r.data(Dir::Orig, &hello[at..]);
            assert!(matches!(r.app.analyzer, Analyzer::Tls(_)), "{cuts:?}");
            r.data(Dir::Resp, &[0x15u8, 3, 3, 0, 2, 2, 40]);
            r.close();
            assert_eq!(r.decided(), [Protocol::Tls]);
            assert_eq!(r.closed(), Some((Protocol::Tls, 9, 7)));
            assert_eq!(r.tls.tls_handshake_messages, 1, "{cuts:?}");
            assert_eq!(r.tls.tls_malformed, 0);
        }
        // The 5th byte says no (a zero length): the bytes go to HTTP/1, nothing lost.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &[0x16u8, 3]).data(Dir::Orig, &[1, 0, 0]);
        r.close();
        assert_eq!(r.decided(), [Protocol::Unknown]);
        assert_eq!(r.closed(), Some((Protocol::Unknown, 5, 0)));
        assert_eq!(r.tls.tls_connections, 0);
        // The server speaks, or the connection closes, while a header is held: HTTP/1
        // gets the held bytes at their time, then the event.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"\x16\x03")
            .data(Dir::Resp, b"HTTP/1.1 200 OK\r\n\r\n");
        r.close();
        assert_eq!(r.closed().map(|c| (c.1, c.2)), Some((2, 19)));
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"\x16");
        r.close();
        assert_eq!(r.closed(), Some((Protocol::Unknown, 1, 0)));
        // In a CONNECT tunnel too.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, b"CONNECT t.example:443 HTTP/1.1\r\n\r\n")
            .data(Dir::Resp, b"HTTP/1.1 200 OK\r\n\r\n")
            .data(Dir::Orig, &hello[..1])
            .data(Dir::Orig, &hello[1..3])
            .data(Dir::Orig, &hello[3..]);
        assert!(matches!(r.app.analyzer, Analyzer::Tls(_)));
        r.close();
        assert_eq!(r.row(Protocol::Tls), (1, 9, 0));
        assert_eq!(r.tls.tls_handshake_messages, 1);
    }

    #[test]
    fn a_handshake_record_on_any_port_decides_tls() {
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &[0x16u8, 3, 1, 0, 4, 1, 0, 0, 0]);
        r.data(Dir::Resp, &[0x15u8, 3, 3, 0, 2, 2, 40]);
        r.close();
        assert_eq!(r.decided(), [Protocol::Tls]);
        assert_eq!(r.closed(), Some((Protocol::Tls, 9, 7)));
        let Some(Event::Tls(s)) = r.out.iter().find(|e| matches!(e, Event::Tls(_))) else {
            panic!("no TLS record");
        };
        assert_eq!(s.alert.map(|a| a.description), Some(40));
        // Not a plausible record header: HTTP/1's probe, as before.
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, &[0x16u8, 3, 1, 0, 0])
            .data(Dir::Resp, b"x\r\n");
        r.close();
        assert_eq!(r.decided(), [Protocol::Unknown]);
    }

    #[test]
    fn another_protocol_inside_a_connect_tunnel_stays_opaque() {
        let connect = b"CONNECT inner.example:443 HTTP/1.1\r\n\r\n";
        let ok = b"HTTP/1.1 200 OK\r\n\r\n";
        for (client, server) in [
            (&[0x16u8, 3, 1, 0, 0, 1][..], &[0x16u8, 3, 3][..]),
            (b"SSH-2.0-x\r\n", b"SSH-2.0-y\r\n"),
        ] {
            let mut r = Rig::new(Limits::default());
            r.data(Dir::Orig, connect).data(Dir::Resp, ok);
            r.data(Dir::Orig, client).data(Dir::Resp, server);
            assert!(r.app.is_opaque(), "{client:?}");
            r.close();
            assert_eq!(r.exchanges().len(), 1);
            assert_eq!(
                (r.preface.connect_tunnels, r.http.not_http_connections),
                (1, 0)
            );
            assert_eq!(r.decided(), [Protocol::Http1]);
        }
    }

    #[test]
    fn forwarding_headers_name_the_original_client() {
        let req = b"GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=\"[2001:db8::7]:4711\"\r\n\r\n\
GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-for: 203.0.113.9, 10.0.0.1\r\nForwarded: for=192.0.2.1\r\n\r\n\
GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: unknown\r\n\r\n";
        let resp = [RESP, RESP, RESP].concat();
        let (ex, _, c, _) = run_all_ways(&[(Dir::Orig, req), (Dir::Resp, &resp)]);
        assert_eq!(c, PrefaceCounters::default());
        let got: Vec<_> = ex.iter().map(|x| x.original_client).collect();
        assert_eq!(got, [oc("[2001:db8::7]:4711"), oc("203.0.113.9"), None]);
    }
}
