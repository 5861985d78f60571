//! Prefaces: what a proxy puts in front of the HTTP of a connection, recognised at the
//! start of the streams, skipped, and what they say kept.
//!
//! - **PROXY protocol** version 1 (`PROXY TCP4 src dst sport dport\r\n`, at most 107
//!   bytes) and version 2 (a 12-byte signature, version/command, family, length,
//!   addresses, TLVs; the LOCAL command) at the start of the originator's stream: the
//!   source address is the connection's original client (`Exchange::original_client`,
//!   before any forwarding header).
//! - **SOCKS5** (RFC 1928/1929): greeting, method selection, optional username/password
//!   authentication, CONNECT request and reply; the streams after it are parsed from
//!   their new start.
//! - The HTTP `CONNECT` tunnel is the third preface; HTTP/1 itself parses it, and the
//!   analyzer seam hands the tunnel to a fresh HTTP/1 parser (see `crate::analyzer`).
//!
//! Contract:
//! - Recognised only at the very start of the originator's stream (no gap before it,
//!   the originator speaking first), by content, on any port: the first byte decides
//!   whether one can follow (`P`, CR, 0x05); the 6 bytes `PROXY ` and the 12-byte
//!   signature are matched in place by the analyzer without copying (a mismatch replays
//!   the constant's matched bytes into HTTP/1, so `POST` and `PUT` lose nothing).
//! - Bounded and split-proof: every parser here is a push parser that keeps at most 107
//!   bytes (`proxy::ProxyV1`) or 52 (`proxy::ProxyV2`) or a few counters (`socks5`);
//!   declared bytes beyond what is read (PROXY v2 TLVs, up to 65,535) are skipped as
//!   they stream by. The same verdicts and counts whatever way the streams are split.
//! - A preface that does not parse is counted (`malformed_preface`, SOCKS5 only once the server
//!   answered as SOCKS5) and the rest of both streams goes to HTTP/1 from there, as if
//!   they started there. A gap, FIN or RST inside a preface ends it the same way
//!   (uncounted: the capture lost it or the peer gave up). A PROXY header's address is
//!   kept only when the whole header was read.
//! - Counted per connection: `proxy_v1`, `proxy_v2` (LOCAL included), `socks5`
//!   (recognised handshakes, refused ones included) and `connect_tunnels` (2xx answers to
//!   CONNECT, whatever the tunnel carries). These are counters, not `Protocol` rows: the
//!   connection's protocol is what its analyzer parses after the preface.

pub(crate) mod forwarded;
pub(crate) mod proxy;
pub(crate) mod socks5;

use crate::event::OriginalClient;
use crate::http::{Ctx, HttpConn};
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;
use proxy::{ProxyV1, ProxyV2};
use socks5::{SideEnd, Socks5};

httptop_wire::counters! {
    /// Prefaces: proxy headers and handshakes in front of HTTP, by kind.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct PrefaceCounters {
        [Http]
        /// Connections starting with a PROXY protocol version 1 header.
        proxy_v1: Connections,
        /// Connections starting with a PROXY protocol version 2 header (LOCAL included).
        proxy_v2: Connections,
        /// Bytes of PROXY v2 headers skipped unread (TLVs, the addresses of LOCAL and of non-IP families).
        proxy_v2_skipped_bytes: Bytes,
        /// Connections starting with a SOCKS5 handshake (the server selected a method).
        socks5: Connections,
        /// CONNECT tunnels opened (2xx answers to CONNECT), whatever they carry.
        connect_tunnels: Connections,
        /// PROXY headers and SOCKS5 handshakes that did not parse (the rest of the connection is parsed as HTTP/1 from there).
        malformed_preface: Connections anomaly => "anomalies" { kind = "malformed_preface" },
    }
}

/// What a PROXY header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A header was read: the original client, or `None` (LOCAL, UNKNOWN, a family
    /// without IP addresses).
    Proxy(Option<OriginalClient>),
    Malformed,
}

/// Which signature the analyzer is matching at the stream start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sig {
    ProxyV1,
    ProxyV2,
    /// The HTTP/2 client connection preface (not a proxy's: it decides HTTP/2).
    Http2,
}

impl Sig {
    /// The candidate a first byte starts, if any.
    pub fn of(first: u8) -> Option<Sig> {
        match first {
            b'P' => Some(Sig::ProxyV1),
            b'\r' => Some(Sig::ProxyV2),
            _ => None,
        }
    }

    pub fn bytes(self) -> &'static [u8] {
        match self {
            Sig::ProxyV1 => proxy::V1_PREFIX,
            Sig::ProxyV2 => proxy::V2_SIG,
            Sig::Http2 => crate::http2::PREFACE,
        }
    }

    /// The other signature starting with the same byte (`PROXY ` and `PRI * HTTP/2.0`
    /// share `PR`).
    pub fn alt(self) -> Option<Sig> {
        match self {
            Sig::ProxyV1 => Some(Sig::Http2),
            Sig::Http2 => Some(Sig::ProxyV1),
            Sig::ProxyV2 => None,
        }
    }
}

#[derive(Debug)]
enum Parser {
    V1(ProxyV1),
    V2(ProxyV2),
    Socks5(Socks5),
}

/// A connection inside its preface: the parser, and the HTTP/1 parser that gets each
/// side's bytes once that side's preface is over.
#[derive(Debug)]
pub(crate) struct PrefaceConn {
    pub http: HttpConn,
    parser: Parser,
    /// The preface is over on this side (by `Dir::index`).
    done: [bool; 2],
}

impl PrefaceConn {
    /// A PROXY header whose signature was matched: the parser starts with it.
    pub fn proxy(http: HttpConn, sig: Sig, c: &mut PrefaceCounters) -> Self {
        let parser = match sig {
            Sig::ProxyV1 => Parser::V1(ProxyV1::new()),
            Sig::ProxyV2 => Parser::V2(ProxyV2::new()),
            // Never asked: the analyzer decides HTTP/2 on this signature.
            Sig::Http2 => Parser::V1(ProxyV1::new()),
        };
        let mut p = PrefaceConn {
            http,
            parser,
            done: [false, true],
        };
        // The signature is shorter than any header: never a verdict yet.
        let _ = p.parse(Dir::Orig, sig.bytes(), c);
        p
    }

    /// The originator's first byte was 0x05.
    pub fn socks5(http: HttpConn) -> Self {
        PrefaceConn {
            http,
            parser: Parser::Socks5(Socks5::new()),
            done: [false, false],
        }
    }

    /// Both sides are past the preface: the HTTP/1 parser takes the connection.
    pub fn is_over(&self) -> bool {
        self.done == [true, true]
    }

    /// Heap bytes held: this state and the HTTP/1 parser's buffers.
    pub fn heap_bytes(&self) -> usize {
        crate::budget::heap(std::mem::size_of::<Self>()) + self.http.heap_bytes()
    }

    /// One event of `dir`: the original client when a PROXY header was just read, and
    /// where in `ev` a PROXY header (well-formed or not) ended, if it did: the bytes
    /// after it are *not* fed to HTTP/1 but left to the caller, which looks for the
    /// HTTP/2 client preface there (a SOCKS5 tunnel's first bytes go to HTTP/1 here).
    pub fn feed(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        ctx: &mut Ctx<'_>,
        c: &mut PrefaceCounters,
    ) -> (Option<OriginalClient>, Option<usize>) {
        if self.done[dir.index()] {
            self.http.feed(dir, ts, ev, ctx);
            return (None, None);
        }
        let StreamEvent::Data(d) = ev else {
            // Lost or closed inside the preface: over, and HTTP/1 is told.
            self.done = [true, true];
            self.http.feed(dir, ts, ev, ctx);
            return (None, None);
        };
        let (n, found) = self.parse(dir, d, c);
        if self.is_over() && matches!(self.parser, Parser::V1(_) | Parser::V2(_)) {
            return (found, Some(n));
        }
        if n < d.len() {
            self.http.feed(dir, ts, StreamEvent::Data(&d[n..]), ctx);
        }
        (found, None)
    }

    /// Runs the parser of `dir` over `d`: bytes consumed, and the original client if
    /// a PROXY header ended with one. Marks the sides whose preface is over.
    fn parse(
        &mut self,
        dir: Dir,
        d: &[u8],
        c: &mut PrefaceCounters,
    ) -> (usize, Option<OriginalClient>) {
        let (n, end) = match &mut self.parser {
            Parser::V1(p) => {
                let (n, v) = p.feed(d);
                (n, v.map(|v| (v, true)))
            }
            Parser::V2(p) => {
                let (n, v) = p.feed(d, c);
                (n, v.map(|v| (v, false)))
            }
            Parser::Socks5(s) => {
                let (n, end) = match dir {
                    Dir::Orig => s.feed_client(d, c),
                    Dir::Resp => s.feed_server(d, c),
                };
                match end {
                    Some(SideEnd::Tunnel) => self.done[dir.index()] = true,
                    Some(SideEnd::Failed) => self.done = [true, true],
                    None => {}
                }
                return (n, None);
            }
        };
        let Some((verdict, v1)) = end else {
            return (n, None);
        };
        self.done = [true, true];
        match verdict {
            Verdict::Proxy(oc) => {
                if v1 {
                    c.proxy_v1 += 1;
                } else {
                    c.proxy_v2 += 1;
                }
                (n, oc)
            }
            Verdict::Malformed => {
                c.malformed_preface += 1;
                (n, None)
            }
        }
    }
}
