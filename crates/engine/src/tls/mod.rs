//! TLS (RFC 5246, RFC 8446) seen from the wire, never decrypted: the records of both
//! directions of a connection, the handshake messages sent in clear, and one
//! [`Event::Tls`](crate::event::Event::Tls) record ([`TlsSession`]) per connection.
//!
//! Parser choice: hand-written (`hello.rs`, about 150 lines for the three messages
//! needed), not rusticata's `tls-parser`. Its record and message parsers work on a
//! complete buffer (nom `Incomplete` means "give me everything again"), build
//! vectors of parsed extensions per message, and would bring nom 7 beside nothing
//! else in the engine; here the records are framed as they stream by (a 5-byte
//! header gathered in place), only handshake messages are buffered (capped), and the
//! few fields needed are read in place with bounds-checked slices that cannot panic.
//!
//! Contract:
//! - **Mid-stream**: a connection the capture joined after its handshake is picked up
//!   by its record headers ([`mid`]); [`TlsConn::mid`] frames on from there, counting
//!   records only (`MIDSTREAM`, `tls_midstream`).
//! - **SSLv2-compatible ClientHello** (RFC 5246 E.2; 0x80 bit, type 1, version 3.x):
//!   accepted as the client's first record only; its version is read, the rest skipped
//!   (`SSLV2_HELLO`, `tls_sslv2_hellos`); the server answers in TLS records.
//! - **Records** per direction: the 5-byte header is gathered in place; a header with
//!   a content type outside 20-24, a major version other than 3 or a length over
//!   2^14 + 2048 is malformed: that direction stops (`MALFORMED`, `tls_malformed`) and
//!   the rest is only counted by the protocol table. Records are counted
//!   (`tls_records`) in both directions for the whole connection.
//! - **Handshake** records, while the direction is in clear, are appended to one
//!   buffer per direction (a message may span records and segments); each complete
//!   message (4-byte header, 24-bit length) is parsed and dropped. A message longer
//!   than `Limits::max_tls_handshake_bytes` (64 KiB) is not buffered: the direction
//!   stops parsing handshakes (`TRUNCATED`, `tls_handshake_too_large`) and only counts.
//!   Messages read: ClientHello (SNI, ALPN offered, supported_versions, cipher suites,
//!   extension types in order, signature algorithms; the first one only: the second
//!   after a HelloRetryRequest is only checked), ServerHello (version, from
//!   supported_versions for TLS 1.3; cipher; ALPN chosen), Certificate (TLS <= 1.2: the
//!   chain walked, its first certificate, the leaf, decoded in place by `x509-parser`
//!   when at most `Limits::max_tls_cert_bytes` long: see [`cert`]; else, or if it does
//!   not decode, `BAD_CERT`, `tls_certs_undecoded`, only its lengths reported).
//! - **HelloRetryRequest** (TLS 1.3): a ServerHello whose random is the RFC 8446 4.1.3
//!   magic is not the ServerHello: flag `HRR`, `tls_hello_retries`; the server stays in
//!   clear, the second ClientHello is checked (JA4 stays the first's), the real
//!   ServerHello gives version, cipher and the handshake time (from the first
//!   ClientHello).
//! - **Alerts** in clear give the first alert (level, description, sender).
//! - **Encrypted from**: a ChangeCipherSpec record (after it; not in TLS 1.3 nor after
//!   a HelloRetryRequest, where it is only for middleboxes), the first application
//!   data record, or, from the server, the ServerHello of TLS 1.3. An encrypted
//!   direction's records are counted, nothing is buffered, its buffer is freed. The
//!   handshake is complete once both directions are encrypted without a fatal alert.
//! - **A gap** stops the direction (`GAP`, `tls_gaps`): record framing cannot be found
//!   again without false positives.
//! - Lists kept from a ClientHello are capped at [`MAX_LIST`] entries each (`tls_lists_capped`):
//!   JA4 then hashes the first [`MAX_LIST`], and the record is `TRUNCATED`.
//! - No panic on any input; results are identical however the streams are split.

pub mod cert;
mod hello;
pub mod ja4;
pub mod mid;
pub mod names;
#[cfg(test)]
mod tests;

use crate::event::WireStr;
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;
use std::net::SocketAddr;

pub use hello::{ClientHello, ServerHello};

/// Entries kept per list of a ClientHello (ciphers, extensions, signature algorithms,
/// supported versions, ALPN values).
pub const MAX_LIST: usize = 512;

httptop_wire::counters! {
    /// TLS records and handshakes seen in clear.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct TlsCounters {
        [Http]
        /// TLS connections detected (a handshake record or an SSLv2-compatible hello starting the client's stream, on any port or in a CONNECT tunnel; or record headers mid-stream).
        tls_connections: Connections,
        /// TLS records, both directions (encrypted ones included).
        tls_records: Frames,
        /// TLS handshake messages parsed in clear, both directions.
        tls_handshake_messages: Messages,
        /// TLS directions that stopped at a record header breaking the record layer (the rest is counted as bytes only).
        tls_malformed: Events anomaly => "anomalies" { kind = "tls_malformed" },
        /// TLS directions whose record framing was lost in a capture gap.
        tls_gaps: Events anomaly,
        /// TLS handshake messages longer than max_tls_handshake_bytes (not parsed; the direction's handshake is given up).
        tls_handshake_too_large: Events anomaly => "anomalies" { kind = "tls_handshake_too_large" },
        /// TLS handshake messages whose body did not parse (a length past its end).
        tls_bad_messages: Events anomaly,
        /// ClientHello lists (ciphers, extensions, signature algorithms, versions, ALPN) cut at 512 entries.
        tls_lists_capped: Events anomaly,
        /// Leaf certificates not decoded (bad DER, or longer than max_tls_cert_bytes): only their lengths are reported.
        tls_certs_undecoded: Events anomaly,
        /// SSLv2-compatible ClientHellos (RFC 5246 E.2) starting a TLS connection: read for the version only (no JA4, no SNI).
        tls_sslv2_hellos: Events,
        /// TLS connections picked up mid-stream by their record headers (the handshake was not captured).
        tls_midstream: Events,
        /// TLS 1.3 HelloRetryRequests seen (the ServerHello that follows the second ClientHello is the real one).
        tls_hello_retries: Events,
        /// TLS alerts seen in clear.
        tls_alerts: Events,
    }
}

/// Flags of a [`TlsSession`] (a bit set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsFlags(pub u16);

impl TlsFlags {
    /// Data was lost in the capture.
    pub const GAP: TlsFlags = TlsFlags(1 << 0);
    /// A message or list was cut at a limit.
    pub const TRUNCATED: TlsFlags = TlsFlags(1 << 1);
    /// A record header broke the record layer.
    pub const MALFORMED: TlsFlags = TlsFlags(1 << 2);
    /// No ServerHello was seen.
    pub const NO_SERVER_HELLO: TlsFlags = TlsFlags(1 << 3);
    /// No ClientHello was seen (the capture started later, or a gap).
    pub const NO_CLIENT_HELLO: TlsFlags = TlsFlags(1 << 4);
    /// Both directions went encrypted without a fatal alert.
    pub const COMPLETE: TlsFlags = TlsFlags(1 << 5);
    /// A handshake message did not parse.
    pub const BAD_MESSAGE: TlsFlags = TlsFlags(1 << 6);
    /// The server answered with a HelloRetryRequest (TLS 1.3): JA4, SNI and ALPN
    /// offered are the first ClientHello's; version, cipher and the handshake time
    /// (from the first ClientHello) are the real ServerHello's.
    pub const HRR: TlsFlags = TlsFlags(1 << 7);
    /// The leaf certificate did not decode (see `tls_certs_undecoded`): only its
    /// lengths are in [`TlsCert`].
    pub const BAD_CERT: TlsFlags = TlsFlags(1 << 8);

    /// The client opened with an SSLv2-compatible ClientHello (only its version is
    /// read: no JA4, SNI or ALPN).
    pub const SSLV2_HELLO: TlsFlags = TlsFlags(1 << 9);

    /// Picked up mid-stream by its record headers ([`mid`]): no handshake seen.
    pub const MIDSTREAM: TlsFlags = TlsFlags(1 << 10);

    /// Names in bit order (for presenters).
    pub const NAMES: [(TlsFlags, &'static str); 11] = [
        (TlsFlags::GAP, "gap"),
        (TlsFlags::TRUNCATED, "truncated"),
        (TlsFlags::MALFORMED, "malformed"),
        (TlsFlags::NO_SERVER_HELLO, "no_server_hello"),
        (TlsFlags::NO_CLIENT_HELLO, "no_client_hello"),
        (TlsFlags::COMPLETE, "complete"),
        (TlsFlags::BAD_MESSAGE, "bad_message"),
        (TlsFlags::HRR, "hrr"),
        (TlsFlags::BAD_CERT, "bad_cert"),
        (TlsFlags::SSLV2_HELLO, "sslv2_hello"),
        (TlsFlags::MIDSTREAM, "midstream"),
    ];

    pub fn contains(self, f: TlsFlags) -> bool {
        self.0 & f.0 == f.0
    }
    pub fn insert(&mut self, f: TlsFlags) {
        self.0 |= f.0;
    }
}

/// An alert record seen in clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsAlert {
    /// 1 warning, 2 fatal.
    pub level: u8,
    /// RFC 8446 section 6 (40 handshake_failure, 42 bad_certificate, 48 unknown_ca...).
    pub description: u8,
    /// Sent by the client.
    pub from_client: bool,
}

/// The server's certificate (TLS <= 1.2: TLS 1.3 sends it encrypted), decoded from the
/// first certificate of the Certificate message (the leaf). Strings are cut to
/// `max_string_len`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsCert {
    /// Certificates in the chain as the message lists them.
    pub chain_len: u32,
    /// The leaf's DER length on the wire.
    pub len: u32,
    /// Subject: its common name, else the whole distinguished name (RFC 4514 form).
    pub subject: Option<WireStr>,
    /// Issuer: its common name, else the whole distinguished name.
    pub issuer: Option<WireStr>,
    /// subjectAltName DNS names and IP addresses, at most [`MAX_SANS`].
    pub sans: Vec<WireStr>,
    /// Validity, Unix seconds.
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
}

/// subjectAltName entries kept per certificate.
pub const MAX_SANS: usize = 16;

impl TlsCert {
    /// Whole days from `at` to `not_after` (negative once expired; floor division).
    pub fn days_left(&self, at: Timestamp) -> Option<i64> {
        let at = i64::try_from(at.secs()).ok()?;
        Some(self.not_after?.checked_sub(at)?.div_euclid(86_400))
    }
}

/// One TLS connection, reported once when it ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSession {
    /// Time of the first byte of the connection's TLS stream.
    pub ts: Timestamp,
    pub end: Timestamp,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    /// server_name (SNI), cut to `max_string_len`.
    pub sni: Option<WireStr>,
    /// ALPN values offered (at most 16 kept), and the one the server chose.
    pub alpn_offered: Vec<WireStr>,
    pub alpn: Option<WireStr>,
    /// The highest version the client offered (supported_versions, else legacy).
    pub client_version: Option<u16>,
    /// The version the server chose (supported_versions for TLS 1.3).
    pub version: Option<u16>,
    pub cipher: Option<u16>,
    pub ja4: Option<String>,
    /// ClientHello to ServerHello (packet times), nanoseconds.
    pub handshake_ns: Option<u64>,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    pub alert: Option<TlsAlert>,
    pub cert: Option<Box<TlsCert>>,
    pub flags: TlsFlags,
    pub encap: httptop_wire::Encap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Handshake messages in clear are parsed.
    Clear,
    /// Records only counted.
    Encrypted,
    /// Handshake too large: records only counted (still in clear).
    Skipping,
    /// Framing lost: nothing more.
    Stopped,
}

#[derive(Debug)]
struct Side {
    hdr: [u8; 5],
    hn: u8,
    /// Content type and bytes left of the record being read (`hn == 5`).
    ty: u8,
    left: u16,
    alert: [u8; 2],
    an: u8,
    hs: Vec<u8>,
    mode: Mode,
    /// A record header was read (an SSLv2-compatible hello can only be the first).
    started: bool,
}

impl Side {
    fn new() -> Self {
        Side {
            hdr: [0; 5],
            hn: 0,
            ty: 0,
            left: 0,
            alert: [0; 2],
            an: 0,
            hs: Vec::new(),
            mode: Mode::Clear,
            started: false,
        }
    }
    fn encrypt(&mut self) {
        if matches!(self.mode, Mode::Clear | Mode::Skipping) {
            self.mode = Mode::Encrypted;
        }
        self.hs = Vec::new();
    }
}

/// Limits the TLS analyzer applies.
#[derive(Clone, Copy, Debug)]
pub struct TlsLimits {
    pub max_handshake: usize,
    /// The longest leaf certificate decoded (DER bytes).
    pub max_cert: usize,
    pub max_string: usize,
}

/// Whether `d`, the start of a stream, begins like a TLS handshake record: 0x16, version
/// 0x0300-0x0304, length 1..=2^14 + 2048; or like an SSLv2-compatible ClientHello
/// (RFC 5246 E.2): a 2-byte record header with the high bit set and a length of at
/// least 9, message type 1, version 0x0300-0x0304. `None`: fewer than 5 bytes, all
/// plausible so far, undecided.
pub fn looks_like_tls(d: &[u8]) -> Option<bool> {
    let ok = |i: usize, f: &dyn Fn(u8) -> bool| d.get(i).is_none_or(|&b| f(b));
    let v2 = ok(0, &|b| b & 0x80 != 0);
    let plausible = if v2 {
        ok(2, &|b| b == 1) && ok(3, &|b| b == 3) && ok(4, &|b| b <= 4)
    } else {
        ok(0, &|b| b == 0x16) && ok(1, &|b| b == 3) && ok(2, &|b| b <= 4)
    };
    if !plausible {
        return Some(false);
    }
    if d.len() < 5 {
        return None;
    }
    if v2 {
        return Some(u16::from_be_bytes([d[0] & 0x7f, d[1]]) >= 9);
    }
    let len = u16::from_be_bytes([d[3], d[4]]);
    Some((1..=16384 + 2048).contains(&len))
}

/// The TLS analyzer of one connection: both directions' record layers and what the
/// handshake told.
#[derive(Debug)]
pub struct TlsConn {
    sides: [Side; 2],
    client: Dir,
    s: TlsSession,
    t_client_hello: Option<Timestamp>,
    limits: TlsLimits,
    seen_client_hello: bool,
}

fn side_flag(f: &mut TlsFlags, counter: &mut u64, flag: TlsFlags) {
    f.insert(flag);
    *counter += 1;
}

impl TlsConn {
    /// `client`: the side whose stream starts with the handshake record; `addrs`: the
    /// Orig and Resp socket addresses.
    pub fn new(client: Dir, addrs: [SocketAddr; 2], ts: Timestamp, limits: TlsLimits) -> Self {
        TlsConn {
            sides: [Side::new(), Side::new()],
            client,
            s: TlsSession {
                ts,
                end: ts,
                client: Some(addrs[client.index()]),
                server: Some(addrs[client.other().index()]),
                ..TlsSession::default()
            },
            t_client_hello: None,
            limits,
            seen_client_hello: false,
        }
    }

    /// A connection picked up mid-stream ([`mid`]): each walked side goes on framing
    /// records from the walker's state, encrypted (counted only); a side never walked
    /// is stopped. `ts`: the time of the connection's first byte seen.
    pub fn mid(
        client: Dir,
        addrs: [SocketAddr; 2],
        ts: Timestamp,
        limits: TlsLimits,
        walk: &mid::MidWalk,
    ) -> Self {
        let mut t = TlsConn::new(client, addrs, ts, limits);
        t.s.flags.insert(TlsFlags::MIDSTREAM);
        t.seen_client_hello = true;
        for (side, w) in t.sides.iter_mut().zip(&walk.sides) {
            side.started = true;
            if w.started {
                side.hdr = w.hdr;
                // Inside a record body the analyzer's header is complete (`hn == 5`).
                side.hn = if w.left > 0 { 5 } else { w.hn };
                side.ty = w.ty;
                side.left = w.left;
                side.mode = Mode::Encrypted;
            } else {
                side.mode = Mode::Stopped;
            }
        }
        t
    }

    /// Heap bytes held (the handshake buffers, the certificate kept).
    pub fn heap_bytes(&self) -> usize {
        let spilled = |w: &WireStr| {
            if w.bytes.spilled() {
                crate::budget::heap(w.bytes.capacity())
            } else {
                0
            }
        };
        let c = self.s.cert.as_ref().map_or(0, |c| {
            crate::budget::heap(std::mem::size_of::<TlsCert>())
                + crate::budget::heap(c.sans.capacity() * std::mem::size_of::<WireStr>())
                + c.sans
                    .iter()
                    .chain(&c.subject)
                    .chain(&c.issuer)
                    .map(spilled)
                    .sum::<usize>()
        });
        crate::budget::heap(std::mem::size_of::<TlsConn>())
            + self
                .sides
                .iter()
                .map(|s| crate::budget::heap(s.hs.capacity()))
                .sum::<usize>()
            + c
    }

    /// Both directions are stopped (framing lost or never found): nothing more to read,
    /// reassembly may skip.
    pub fn is_stopped(&self) -> bool {
        self.sides.iter().all(|s| s.mode == Mode::Stopped)
    }

    /// The session so far (for tests and the finish).
    pub fn session(&self) -> &TlsSession {
        &self.s
    }

    /// One in-order event of `dir` at `ts`.
    pub fn feed(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, c: &mut TlsCounters) {
        self.s.end = ts;
        match ev {
            StreamEvent::Data(d) => self.data(dir, ts, d, c),
            StreamEvent::Gap(_) => {
                let side = &mut self.sides[dir.index()];
                if side.mode != Mode::Stopped {
                    side.mode = Mode::Stopped;
                    side.hs = Vec::new();
                    side_flag(&mut self.s.flags, &mut c.tls_gaps, TlsFlags::GAP);
                }
            }
            _ => {}
        }
    }

    fn data(&mut self, dir: Dir, ts: Timestamp, mut d: &[u8], c: &mut TlsCounters) {
        let i = dir.index();
        while !d.is_empty() {
            let side = &mut self.sides[i];
            if side.mode == Mode::Stopped {
                return;
            }
            if side.hn < 5 {
                let k = (5 - usize::from(side.hn)).min(d.len());
                side.hdr[usize::from(side.hn)..usize::from(side.hn) + k].copy_from_slice(&d[..k]);
                side.hn += k as u8;
                d = &d[k..];
                if side.hn < 5 {
                    return;
                }
                let [ty, major, _, l0, l1] = side.hdr;
                let first = !std::mem::replace(&mut side.started, true);
                if first && ty & 0x80 != 0 && i == self.client.index() {
                    // An SSLv2-compatible ClientHello (RFC 5246 E.2): its 2-byte header
                    // and its type and version were read; the rest is skipped (no JA4:
                    // its cipher specs are 3 bytes each, no extensions).
                    let len = u16::from_be_bytes([ty & 0x7f, major]);
                    if looks_like_tls(&side.hdr) != Some(true) {
                        side.mode = Mode::Stopped;
                        side_flag(&mut self.s.flags, &mut c.tls_malformed, TlsFlags::MALFORMED);
                        return;
                    }
                    c.tls_records += 1;
                    c.tls_sslv2_hellos += 1;
                    self.s.flags.insert(TlsFlags::SSLV2_HELLO);
                    self.s.client_version = Some(u16::from_be_bytes([l0, l1]));
                    self.t_client_hello = Some(ts);
                    self.seen_client_hello = true;
                    side.ty = 0;
                    side.left = len - 3;
                    if side.left == 0 {
                        side.hn = 0;
                    }
                    continue;
                }
                let len = u16::from_be_bytes([l0, l1]);
                if !(20..=24).contains(&ty) || major != 3 || len > 16384 + 2048 {
                    side.mode = Mode::Stopped;
                    side.hs = Vec::new();
                    side_flag(&mut self.s.flags, &mut c.tls_malformed, TlsFlags::MALFORMED);
                    return;
                }
                c.tls_records += 1;
                side.ty = ty;
                side.left = len;
                side.an = 0;
                if ty == 23 {
                    side.encrypt();
                }
                if len == 0 {
                    self.record_end(i, c);
                }
                continue;
            }
            let k = usize::from(side.left).min(d.len());
            let (body, rest) = d.split_at(k);
            d = rest;
            side.left -= k as u16;
            match (side.ty, side.mode) {
                (22, Mode::Clear) => {
                    side.hs.extend_from_slice(body);
                    self.messages(i, ts, c);
                }
                (21, Mode::Clear) => {
                    for &b in body {
                        if usize::from(side.an) < 2 {
                            side.alert[usize::from(side.an)] = b;
                            side.an += 1;
                        }
                    }
                }
                _ => {}
            }
            if self.sides[i].left == 0 {
                self.record_end(i, c);
            }
        }
    }

    fn record_end(&mut self, i: usize, c: &mut TlsCounters) {
        let side = &mut self.sides[i];
        side.hn = 0;
        match side.ty {
            // TLS 1.3 sends ChangeCipherSpec for middlebox compatibility only (RFC 8446
            // D.4), also after a HelloRetryRequest: its encrypted records are type 23.
            20 if self.s.version != Some(0x0304) && !self.s.flags.contains(TlsFlags::HRR) => {
                side.encrypt()
            }
            21 if side.mode == Mode::Clear && side.an == 2 => {
                c.tls_alerts += 1;
                if self.s.alert.is_none_or(|a| a.level != 2) {
                    self.s.alert = Some(TlsAlert {
                        level: side.alert[0],
                        description: side.alert[1],
                        from_client: i == self.client.index(),
                    });
                }
            }
            _ => {}
        }
    }

    /// Parses the complete handshake messages buffered on side `i`.
    fn messages(&mut self, i: usize, ts: Timestamp, c: &mut TlsCounters) {
        loop {
            let side = &mut self.sides[i];
            if side.mode != Mode::Clear {
                return;
            }
            let Some(&[ty, a, b, cc]) = side.hs.get(..4) else {
                return;
            };
            let len = u32::from_be_bytes([0, a, b, cc]) as usize;
            if len + 4 > self.limits.max_handshake {
                side.mode = Mode::Skipping;
                side.hs = Vec::new();
                side_flag(
                    &mut self.s.flags,
                    &mut c.tls_handshake_too_large,
                    TlsFlags::TRUNCATED,
                );
                return;
            }
            if side.hs.len() < len + 4 {
                return;
            }
            let msg = std::mem::take(&mut side.hs);
            c.tls_handshake_messages += 1;
            self.message(i, ts, ty, &msg[4..len + 4], c);
            let side = &mut self.sides[i];
            let mut msg = msg;
            msg.drain(..len + 4);
            if side.mode == Mode::Clear {
                side.hs = msg;
            }
        }
    }

    fn message(&mut self, i: usize, ts: Timestamp, ty: u8, body: &[u8], c: &mut TlsCounters) {
        let from_client = i == self.client.index();
        let bad = |s: &mut TlsSession, c: &mut TlsCounters| {
            side_flag(&mut s.flags, &mut c.tls_bad_messages, TlsFlags::BAD_MESSAGE)
        };
        match (ty, from_client) {
            // The second ClientHello (after a HelloRetryRequest): checked, but the
            // record keeps the first one's fields (JA4 fingerprints the first).
            (1, true) if self.seen_client_hello && ClientHello::parse(body).is_none() => {
                bad(&mut self.s, c)
            }
            (1, true) if self.seen_client_hello => {}
            (1, true) => {
                self.seen_client_hello = true;
                let Some(h) = ClientHello::parse(body) else {
                    return bad(&mut self.s, c);
                };
                if h.capped {
                    side_flag(
                        &mut self.s.flags,
                        &mut c.tls_lists_capped,
                        TlsFlags::TRUNCATED,
                    );
                }
                self.t_client_hello = Some(ts);
                let max = self.limits.max_string;
                self.s.sni = h.sni.map(|n| WireStr::capped(n, max));
                self.s.alpn_offered = h
                    .alpn
                    .iter()
                    .take(16)
                    .map(|a| WireStr::capped(a, max))
                    .collect();
                self.s.client_version = Some(h.max_version());
                self.s.ja4 = Some(h.ja4());
            }
            (2, false) if self.s.version.is_none() => {
                let Some(h) = ServerHello::parse(body) else {
                    return bad(&mut self.s, c);
                };
                if h.hrr {
                    // Not the ServerHello: the server stays in clear, a second
                    // ClientHello follows (one retry only, RFC 8446 4.1.4).
                    if !self.s.flags.contains(TlsFlags::HRR) {
                        self.s.flags.insert(TlsFlags::HRR);
                        c.tls_hello_retries += 1;
                    }
                    return;
                }
                self.s.version = Some(h.version);
                self.s.cipher = Some(h.cipher);
                self.s.alpn = h.alpn.map(|a| WireStr::capped(a, self.limits.max_string));
                if let Some(t0) = self.t_client_hello {
                    self.s.handshake_ns = Some(ts.since(t0));
                }
                if h.version == 0x0304 {
                    self.sides[i].encrypt();
                }
            }
            (11, false) if self.s.cert.is_none() => {
                let l = &self.limits;
                let Some(p) = cert::parse(body, l.max_cert, l.max_string) else {
                    return bad(&mut self.s, c);
                };
                if !p.decoded {
                    side_flag(
                        &mut self.s.flags,
                        &mut c.tls_certs_undecoded,
                        TlsFlags::BAD_CERT,
                    );
                }
                self.s.cert = Some(Box::new(p.cert));
            }
            _ => {}
        }
    }

    /// The record of the connection, at its close at `ts`, with its payload bytes each
    /// way (the analyzer layer counts them).
    pub fn finish(&mut self, ts: Timestamp, to_server: u64, to_client: u64) -> TlsSession {
        let mut s = std::mem::take(&mut self.s);
        s.end = ts.max(s.end);
        s.bytes_to_server = to_server;
        s.bytes_to_client = to_client;
        if s.ja4.is_none() && !s.flags.contains(TlsFlags::SSLV2_HELLO) {
            s.flags.insert(TlsFlags::NO_CLIENT_HELLO);
        }
        if s.version.is_none() {
            s.flags.insert(TlsFlags::NO_SERVER_HELLO);
        }
        let enc = self.sides.iter().all(|x| x.mode == Mode::Encrypted);
        if enc && s.alert.is_none_or(|a| a.level != 2) && s.version.is_some() {
            s.flags.insert(TlsFlags::COMPLETE);
        }
        for side in &mut self.sides {
            side.hs = Vec::new();
        }
        s
    }
}
