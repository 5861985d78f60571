//! Fuzzing entry points, shared by the cargo-fuzz targets `http_transcript` and
//! `reassembly` (in `fuzz/`) and the corpus replay test (`tests/fuzz_corpus.rs`), so both
//! run exactly the same code. Not part of the engine's API.
//!
//! [`http_transcript`]: the input is a transcript in the fixture format
//! (`src/http/testdata/README.md`; the expectations, if any, are ignored), at most
//! [`MAX_TRANSCRIPT_DATA`] bytes of data. It is run through a fresh `HttpConn` fed whole,
//! cut at a few offsets and one byte per event; [`script::run`] checks the memory
//! bounds after every event, and all feeds must give the same exchanges, counters and
//! verdict (the parser's incremental-feed promise).
//!
//! [`reassembly`]: the input is a binary script for one [`HalfStream`] (format on
//! [`reassembly`]). After every operation it asserts the caps (`max_reasm_bytes`,
//! `max_reasm_segments`), that the events form one contiguous stream whose offset is the
//! stream's own, that every delivered byte is a byte some segment carried at that sequence
//! number, that FIN is delivered at most once, and that a flush leaves nothing buffered.
//!
//! [`http2`]: a binary script of (direction, bytes) steps fed to one application layer
//! (HTTP/2 by its preface), whole and cut into pieces; asserts the same events and
//! counters every way, the memory bound after every event, and the request contract.
//!
//! [`tls`]: the same kind of script for TLS (optionally inside a CONNECT tunnel), with
//! small TLS limits; asserts the same events and counters every way, the memory bound,
//! and the caps of the one TLS record.
//!
//! [`http_headers`]: the input is a header block (at most [`MAX_HEADER_BLOCK`] bytes);
//! the engine's one-pass reader (`http::parse::fields`) must read it, and every prefix
//! of it, exactly as `httparse` reads it: the same fields in the same order and the same
//! end, or both reject it.

use crate::http::script::{self, Outcome, Split, Step};
use crate::http::StreamEvent;
use crate::limits::Limits;
use crate::reasm::{HalfStream, ReasmCounters};
use httptop_wire::Timestamp;

/// Data bytes a fuzzed transcript may carry (all steps together).
pub const MAX_TRANSCRIPT_DATA: usize = 64 << 10;

/// Bytes of a fuzzed header block (the rest of the input is ignored).
pub const MAX_HEADER_BLOCK: usize = 4 << 10;

/// The fields of a header block and the offset past its empty line, as read by the
/// engine (`None`: the block does not end or breaks the grammar).
pub type HeaderFields = Option<(usize, Vec<(Vec<u8>, Vec<u8>)>)>;

/// A header block as the engine reads it.
pub fn header_fields(block: &[u8]) -> HeaderFields {
    let mut out = Vec::new();
    let end = crate::http::parse::each_field(block, |n, v| out.push((n.to_vec(), v.to_vec())))?;
    Some((end, out))
}

/// A header block as `httparse::parse_headers` reads it (the oracle of the engine's
/// reader), in batches of 16 fields as the engine read it before.
pub fn header_fields_by_httparse(block: &[u8]) -> HeaderFields {
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let rest = block.get(off..)?;
        let mut arr = [httparse::EMPTY_HEADER; 16];
        let field = |h: &httparse::Header| (h.name.as_bytes().to_vec(), h.value.to_vec());
        match httparse::parse_headers(rest, &mut arr) {
            Ok(httparse::Status::Complete((n, hs))) => {
                out.extend(hs.iter().map(field));
                return Some((off + n, out));
            }
            Err(httparse::Error::TooManyHeaders) => {
                out.extend(arr.iter().map(field));
                // Resume after the line of the last field of the batch.
                let last = arr[15].value;
                let end = (last.as_ptr() as usize - rest.as_ptr() as usize) + last.len();
                off += end + memchr::memchr(b'\n', rest.get(end..)?)? + 1;
            }
            _ => return None,
        }
    }
}

/// Reads a header block both ways (see the module documentation).
pub fn http_headers(data: &[u8]) {
    let block = &data[..data.len().min(MAX_HEADER_BLOCK)];
    for n in (0..=block.len()).rev() {
        let (ours, theirs) = (
            header_fields(&block[..n]),
            header_fields_by_httparse(&block[..n]),
        );
        assert!(
            ours == theirs,
            "header block {:?} read\nby the engine: {ours:?}\nby httparse: {theirs:?}",
            String::from_utf8_lossy(&block[..n])
        );
    }
}

fn diff(what: &str, a: &Outcome, b: &Outcome) -> String {
    format!("{what} differs from the whole feed:\nwhole: {a:?}\nother: {b:?}")
}

/// Runs a transcript (see the module documentation).
pub fn http_transcript(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok((s, _)) = script::parse(&text, MAX_TRANSCRIPT_DATA) else {
        return;
    };
    let whole = script::run(&s.steps, &s.limits, Split::Whole);
    let longest = s
        .steps
        .iter()
        .map(|st| match st {
            Step::Data(_, _, b) => b.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let mut cuts = [1, 2, longest / 3, longest / 2, longest.saturating_sub(1)];
    cuts.sort_unstable();
    let mut prev = 0;
    for k in cuts {
        if k == prev || k == 0 || k >= longest {
            continue;
        }
        prev = k;
        let split = script::run(&s.steps, &s.limits, Split::At(k));
        assert!(
            split == whole,
            "{}",
            diff(&format!("cut at {k}"), &whole, &split)
        );
    }
    let bytes = script::run(&s.steps, &s.limits, Split::Bytes);
    assert!(bytes == whole, "{}", diff("byte by byte", &whole, &bytes));
}

/// The byte carried at sequence number `seq` by the "true" copy of the stream.
fn byte_at(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

/// The byte carried at `seq` by a conflicting copy (overlaps that disagree).
fn alt_byte_at(seq: u32) -> u8 {
    byte_at(seq) ^ 0x5A
}

/// Little reader over the fuzz input; missing bytes read as zero.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
}

/// What the events seen so far say about the stream.
struct Model {
    /// Sequence number of stream offset 0, once known (taken from the stream, which may
    /// start after a probe; it must never move).
    start: Option<u32>,
    /// Offset reached by the events (data and gap bytes).
    offset: u64,
    fins: u32,
    /// Data delivered by the current operation, checked once it returns.
    unchecked: Vec<(u64, Vec<u8>)>,
}

impl Model {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        match ev {
            StreamEvent::Data(d) => {
                assert!(!d.is_empty(), "empty data event");
                self.unchecked.push((self.offset, d.to_vec()));
                self.offset += d.len() as u64;
            }
            StreamEvent::Gap(n) => {
                assert!(n > 0, "empty gap");
                self.offset += n;
            }
            StreamEvent::Fin => self.fins += 1,
            StreamEvent::Rst => {}
        }
        assert!(self.fins <= 1, "FIN delivered twice");
    }

    /// Every byte delivered by the last operation was sent at its sequence number.
    fn check(&mut self, h: &HalfStream) {
        if let Some(s) = h.start_seq() {
            if let Some(old) = self.start {
                assert_eq!(old, s, "the stream start moved");
            }
            self.start = Some(s);
        }
        for (off, d) in self.unchecked.drain(..) {
            let start = self.start.expect("data before the stream start");
            for (i, &b) in d.iter().enumerate() {
                let seq = start.wrapping_add((off + i as u64) as u32);
                assert!(
                    b == byte_at(seq) || b == alt_byte_at(seq),
                    "byte at offset {} (seq {seq}) was never sent there",
                    off + i as u64
                );
            }
        }
    }
}

/// Longest segment payload a script can ask for.
pub const MAX_SEGMENT: usize = 4096;

/// Runs a reassembly script against one [`HalfStream`].
///
/// Format: byte 0: `max_reasm_segments` (0-16); bytes 1-2: `max_reasm_bytes` (LE, modulo
/// 16 KiB + 1); bytes 3-6: base sequence number (LE). Then operations, each a tag byte
/// (modulo 5) and its arguments, sequence numbers relative to the base:
/// - 0: segment: `rel: u32`, `len: u16` (modulo [`MAX_SEGMENT`] + 1), `flags: u8`
///   (bit 0 FIN, bit 1 carries the conflicting copy of the bytes);
/// - 1: segment near the base: `rel: u16`, `len: u8`, `flags: u8`;
/// - 2: SYN: `rel: u32` (the ISN);
/// - 3: ACK from the peer: `rel: u32` (a zero window when the tag byte is 128 or more);
/// - 4: bytes cut by the snaplen: `rel_end: u32`, `len: u16`.
///
/// A segment of 0 or 1 byte without FIN is first offered as a probe
/// ([`HalfStream::on_probe`]), as the engine does. At most 256 operations; the stream is
/// flushed at the end.
pub fn reassembly(data: &[u8]) {
    let mut input = Bytes(data);
    let limits = Limits {
        max_reasm_segments: usize::from(input.u8() % 17),
        max_reasm_bytes: usize::from(input.u16() % (16 * 1024 + 1)),
        ..Limits::default()
    };
    let base = input.u32();
    let mut h = HalfStream::default();
    let mut counters = ReasmCounters::default();
    let mut model = Model {
        start: None,
        offset: 0,
        fins: 0,
        unchecked: Vec::new(),
    };
    let mut payload = Vec::with_capacity(MAX_SEGMENT);
    let mut ops = 0;
    while !input.0.is_empty() && ops < 256 {
        ops += 1;
        let ts = Timestamp::from_millis(ops);
        let tag_byte = input.u8();
        match tag_byte % 5 {
            tag @ (0 | 1) => {
                let (rel, len) = if tag == 0 {
                    (input.u32(), usize::from(input.u16()) % (MAX_SEGMENT + 1))
                } else {
                    (u32::from(input.u16()), usize::from(input.u8()))
                };
                let flags = input.u8();
                let seq = base.wrapping_add(rel);
                let pick = if flags & 2 != 0 { alt_byte_at } else { byte_at };
                payload.clear();
                payload.extend((0..len).map(|i| pick(seq.wrapping_add(i as u32))));
                let fin = flags & 1 != 0;
                let probe = !fin && len <= 1 && h.on_probe(ts, seq, &payload, &mut counters);
                if !probe {
                    let mut emit = |_: Timestamp, ev: StreamEvent<'_>| model.on_event(ev);
                    h.on_segment(ts, seq, &payload, fin, &limits, &mut counters, &mut emit);
                }
            }
            2 => {
                let isn = base.wrapping_add(input.u32());
                h.on_syn(isn);
            }
            3 => {
                let window = if tag_byte >= 128 { 0 } else { 0xffff };
                h.on_peer_ack(base.wrapping_add(input.u32()), window);
            }
            _ => {
                let seq_end = base.wrapping_add(input.u32());
                let len = u64::from(input.u16());
                let mut emit = |_: Timestamp, ev: StreamEvent<'_>| model.on_event(ev);
                h.on_missing(seq_end, len, &mut counters, &mut emit);
            }
        }
        model.check(&h);
        check_caps(&h, &limits, &model);
    }
    h.flush(
        Timestamp::from_millis(ops + 1),
        &mut counters,
        &mut |_, ev| model.on_event(ev),
    );
    model.check(&h);
    check_caps(&h, &limits, &model);
    assert_eq!(h.buffered_bytes(), 0, "bytes left after flush");
    assert_eq!(h.buffered_segments(), 0, "segments left after flush");
}

fn check_caps(h: &HalfStream, limits: &Limits, model: &Model) {
    assert!(
        h.buffered_bytes() <= limits.max_reasm_bytes,
        "{} bytes buffered, cap {}",
        h.buffered_bytes(),
        limits.max_reasm_bytes
    );
    assert!(
        h.buffered_segments() <= limits.max_reasm_segments.max(1),
        "{} segments buffered, cap {}",
        h.buffered_segments(),
        limits.max_reasm_segments
    );
    assert_eq!(
        h.offset(),
        model.offset,
        "stream offset disagrees with the events"
    );
}

/// Frames of a [`monitor`] script, at most.
pub const MAX_MONITOR_FRAMES: usize = 4096;

/// Runs a script of TCP/IPv4 frames through a whole [`Monitor`](crate::Monitor) (flows, reassembly,
/// HTTP, the global buffer ceiling, statistics, alerting) with small limits, so that
/// eviction, shedding and every cap are reached by short inputs.
///
/// Format: byte 0 sets the limits (bit 0-1: `max_flows` 1-4; bit 2-4: the global ceiling
/// in KiB, 1-8; bit 5-7: `max_pending_requests` 1-8). Then frames, each: a byte `c`
/// (bits 0-2: one of eight connections, client port `40000 + c`; bit 3: from the server;
/// bit 4-7: seconds to advance the clock by, in tenths), a TCP flags byte, a byte `j`
/// (0: the next in-order sequence number of that direction; else a jump of
/// `(j as i8) * 97` bytes), a payload length (0-255) and the payload.
///
/// After every frame: open flows ≤ `max_flows`, buffered bytes ≤ the ceiling, every
/// request counted once at most. At the end `finish` leaves no flow and no buffered
/// byte, every request started was reported as one exchange (and counted under its
/// protocol), every connection was counted under one protocol, and a snapshot of every
/// window is consistent. Returns the exchanges seen.
pub fn monitor(data: &[u8]) -> u64 {
    use crate::monitor::{Monitor, MonitorConfig, Observer};
    use crate::stats::{StatsConfig, Window};
    use crate::{Exchange, Flags};
    use httptop_wire::{Frame, LinkType};

    struct Count {
        exchanges: u64,
        requests: u64,
    }
    impl Observer for Count {
        fn on_exchange(&mut self, ex: &Exchange) {
            self.exchanges += 1;
            self.requests += u64::from(!ex.flags.contains(Flags::NO_REQUEST));
        }
    }

    let mut b = Bytes(data);
    let cfg_byte = b.u8();
    let limits = Limits {
        max_flows: usize::from(cfg_byte & 3) + 1,
        max_buffered_bytes: (usize::from((cfg_byte >> 2) & 7) + 1) << 10,
        max_pending_requests: usize::from(cfg_byte >> 5) + 1,
        max_reasm_bytes: 2048,
        max_reasm_segments: 8,
        max_header_bytes: 512,
        max_string_len: 32,
        ..Limits::default()
    };
    let cfg = MonitorConfig {
        limits: limits.clone(),
        alert: crate::alert::AlertConfig {
            learn_ns: 1_000_000_000,
            window_ns: 1_000_000_000,
            // Hostile server names and times through the per-server machines too.
            per_server: true,
            max_servers: 4,
            min_responses: 1,
            ..Default::default()
        },
        baseline: None,
        errors_baseline: None,
        latency_baseline: None,
        stats: StatsConfig {
            top: 3,
            max_keys: 8,
            max_method_keys: 4,
            max_latency_keys: 4,
            max_key_len: 16,
            ..StatsConfig::default()
        },
    };
    let Ok(mut m) = Monitor::new(cfg) else {
        return 0;
    };
    let mut seen = Count {
        exchanges: 0,
        requests: 0,
    };
    // Next sequence number per connection and direction.
    let mut next = [[0x1000_0000u32, 0x8000_0000u32]; 8];
    let mut now = Timestamp::from_secs(1_700_000_000);
    for _ in 0..MAX_MONITOR_FRAMES {
        if b.0.is_empty() {
            break;
        }
        let c = b.u8();
        let flags = b.u8();
        let jump = b.u8();
        let len = usize::from(b.u8()).min(b.0.len());
        let (payload, rest) = b.0.split_at(len);
        b.0 = rest;
        let conn = usize::from(c & 7);
        let from_server = c & 8 != 0;
        now = now.add_nanos(u64::from(c >> 4) * 100_000_000);
        let client = ([10, 0, 0, 1], 40_000 + conn as u16);
        let server = ([10, 0, 0, 2], 80);
        let d = usize::from(from_server);
        let seq = match jump {
            0 => next[conn][d],
            j => next[conn][d].wrapping_add_signed(i32::from(j as i8) * 97),
        };
        let syn_fin = u32::from(flags & 0x03 != 0);
        next[conn][d] = seq.wrapping_add(len as u32).wrapping_add(syn_fin);
        let (src, dst) = if from_server {
            (server, client)
        } else {
            (client, server)
        };
        let bytes = httptop_wire::build::ethernet_ipv4_tcp(src, dst, seq, 0, flags, payload);
        let frame = Frame {
            ts: now,
            linktype: LinkType::ETHERNET,
            orig_len: bytes.len() as u32,
            data: &bytes,
        };
        m.on_frame(&frame, &mut seen);
        let e = m.engine();
        assert!(
            e.open_flows() <= limits.max_flows,
            "{} flows",
            e.open_flows()
        );
        assert!(
            e.buffered_bytes() <= limits.max_buffered_bytes,
            "{} bytes buffered",
            e.buffered_bytes()
        );
        assert!(seen.requests <= e.counters().http.requests);
    }
    m.finish(&mut seen);
    let e = m.engine();
    assert_eq!(e.open_flows(), 0);
    assert_eq!(e.buffered_bytes(), 0);
    // Requests are one thing: every request started yielded one exchange with a
    // request, and the protocol table counts the same events.
    let c = e.counters();
    assert_eq!(seen.requests, c.http.requests);
    let (http1, unknown) = (
        c.protocols.get(crate::Protocol::Http1),
        c.protocols.get(crate::Protocol::Unknown),
    );
    assert_eq!(http1.requests, c.http.requests);
    assert_eq!(unknown.requests, 0);
    // Every connection was decided once (at the latest when it closed); a part of
    // another row does not count apart, and a connection that switched to WebSocket
    // also counts in its row (after being decided as HTTP/1).
    let decided: u64 = c
        .protocols
        .iter()
        .filter(|(p, _)| p.part_of().is_none() && *p != crate::Protocol::WebSocket)
        .map(|(_, r)| r.connections)
        .sum();
    assert_eq!(decided, c.flows_created);
    let websocket = c.protocols.get(crate::Protocol::WebSocket);
    assert!(websocket.connections <= http1.connections);
    assert_eq!(websocket.requests, 0);
    let snap = m.snapshot(now);
    for w in Window::ALL {
        let r = snap.report(w);
        assert!(r.requests <= e.counters().http.requests, "{w:?}");
        assert!(r.sections.len() <= 3 && r.hosts.len() <= 3, "{w:?}");
    }
    seen.exchanges
}

/// Runs the preface parsers and the application layer over two streams.
///
/// Format: bytes 0-1: the length of the originator's stream (LE, modulo the rest + 1);
/// that many bytes, then the responder's stream. Checks: each parser (PROXY v1, v2,
/// SOCKS5 both sides) gives the same verdict and byte count fed whole and byte by byte,
/// and never consumes more than it was given; the WebSocket frame parsers
/// (`WsStreams`) give the same session record and counters whole and byte by byte; an
/// `AppLayer`
/// fed the originator's stream then the responder's, whole and then byte by byte, gives
/// the same events and counters, its heap bytes stay under 64 KiB with small limits, and
/// every request started is reported as one exchange with a request.
pub fn preface(data: &[u8]) {
    use crate::analyzer::{AppCtx, AppLayer};
    use crate::event::Event;
    use crate::http::{Ctx, Dir, HttpCounters, QueuePool};
    use crate::preface::proxy::{ProxyV1, ProxyV2};
    use crate::preface::socks5::Socks5;
    use crate::preface::PrefaceCounters;
    use crate::protocol::ProtocolTable;

    let split = usize::from(u16::from_le_bytes([
        data.first().copied().unwrap_or(0),
        data.get(1).copied().unwrap_or(0),
    ]));
    let rest = data.get(2..).unwrap_or(&[]);
    let (orig, resp) = rest.split_at(split % (rest.len() + 1));

    // The parsers alone.
    let whole = ProxyV1::new().feed(orig);
    assert!(whole.0 <= orig.len());
    let mut p = ProxyV1::new();
    let mut n = 0;
    let mut bytewise = (0, None);
    for b in orig {
        let (k, v) = p.feed(std::slice::from_ref(b));
        n += k;
        if v.is_some() {
            bytewise = (n, v);
            break;
        }
    }
    if whole.1.is_some() {
        assert_eq!(bytewise, whole);
    }
    let mut c1 = PrefaceCounters::default();
    let whole = ProxyV2::new().feed(orig, &mut c1);
    assert!(whole.0 <= orig.len());
    let mut c2 = PrefaceCounters::default();
    let mut p = ProxyV2::new();
    let mut n = 0;
    for b in orig {
        let (k, v) = p.feed(std::slice::from_ref(b), &mut c2);
        n += k;
        if v.is_some() {
            assert_eq!((n, v), whole);
            break;
        }
    }
    assert_eq!(c1, c2);
    let socks = |piece: usize| {
        let mut s = Socks5::new();
        let mut c = PrefaceCounters::default();
        let mut ends = Vec::new();
        for (side, bytes) in [(0, orig), (1, resp)] {
            let mut at = 0;
            for chunk in bytes.chunks(piece.max(1)) {
                let (k, end) = if side == 0 {
                    s.feed_client(chunk, &mut c)
                } else {
                    s.feed_server(chunk, &mut c)
                };
                assert!(k <= chunk.len());
                at += k;
                if end.is_some() {
                    ends.push((side, at, end));
                    break;
                }
            }
        }
        (ends, c)
    };
    assert_eq!(socks(usize::MAX), socks(1));
    // The WebSocket frame parsers, the originator as the client.
    let ws = |piece: usize| {
        let mut w = crate::websocket::WsStreams::new(16);
        let mut c = crate::websocket::WebSocketCounters::default();
        for (client, bytes) in [(true, orig), (false, resp)] {
            for chunk in bytes.chunks(piece.max(1)) {
                w.feed(client, chunk, Timestamp::from_secs(1), &mut c);
            }
        }
        let s = w.finish(Timestamp::from_secs(2), Default::default());
        assert!(s.payload_to_server <= orig.len() as u64);
        assert!(s.payload_to_client <= resp.len() as u64);
        assert!(s.close_reason.as_bytes().len() <= 16);
        (s, c)
    };
    assert_eq!(ws(usize::MAX), ws(1));

    // The application layer.
    let limits = Limits {
        max_header_bytes: 256,
        max_pending_requests: 4,
        max_string_len: 64,
        max_h2_streams: 8,
        max_hpack_table: 4096,
        ..Limits::default()
    };
    let run = |piece: usize| {
        let mut app = AppLayer::new(
            "10.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!()),
            "10.0.0.2:80".parse().unwrap_or_else(|_| unreachable!()),
        );
        let (mut http, mut protocols, mut pre) = (
            HttpCounters::default(),
            ProtocolTable::default(),
            PrefaceCounters::default(),
        );
        let (mut out, mut pool) = (Vec::new(), QueuePool::default());
        let mut ws = crate::websocket::WebSocketCounters::default();
        let ts = Timestamp::from_secs(1);
        let mut cx = AppCtx {
            http: Ctx {
                limits: &limits,
                counters: &mut http,
                out: &mut out,
                pool: &mut pool,
                now: ts,
            },
            protocols: &mut protocols,
            preface: &mut pre,
            h2: &mut crate::http2::Http2Counters::default(),
            websocket: &mut ws,
            tls: &mut crate::tls::TlsCounters::default(),
        };
        for (dir, bytes) in [(Dir::Orig, orig), (Dir::Resp, resp)] {
            for chunk in bytes.chunks(piece.max(1)) {
                app.feed(dir, ts, StreamEvent::Data(chunk), &mut cx);
                assert!(app.heap_bytes() < 64 << 10, "{}", app.heap_bytes());
            }
        }
        app.close(ts, &mut cx);
        assert_each_request_reported(&out);
        // When the connection is decided relative to the requests depends on where the
        // events end (as for any connection): compared apart.
        let (decided, events): (Vec<Event>, Vec<Event>) = out
            .into_iter()
            .partition(|e| matches!(e, Event::ConnectionDecided { .. }));
        (events, decided, http, protocols, pre, ws)
    };
    assert_eq!(run(usize::MAX), run(1));
}

/// Runs an HTTP/2 script through one application layer (see the module documentation).
///
/// Format: byte 0: bit 0 set: the originator's stream starts with the client preface
/// (added, so that the fuzzer need not find it); bits 1-7: the piece size of the split
/// run (1 to 128). Then steps: one byte (bit 0: the direction, Orig or Resp; bit 1: a
/// gap of the step's length instead of data), two bytes of length (LE), that many
/// bytes (fewer at the end of the input). Checks: the whole and the split feeds give
/// the same events and counters; the layer's heap stays under 1 MiB with small limits
/// (HPACK table 4 KiB, 8 streams, 1 KiB header blocks); each RequestStarted has one
/// exchange with a request.
pub fn http2(data: &[u8]) {
    use crate::analyzer::{AppCtx, AppLayer};
    use crate::event::Event;
    use crate::http::{Ctx, Dir, HttpCounters, QueuePool};
    use crate::http2::{Http2Counters, PREFACE};
    use crate::preface::PrefaceCounters;
    use crate::protocol::ProtocolTable;

    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let mut steps: Vec<(Dir, bool, &[u8])> = Vec::new();
    if head & 1 != 0 {
        steps.push((Dir::Orig, false, PREFACE));
    }
    while let [op, a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let dir = if op & 1 == 0 { Dir::Orig } else { Dir::Resp };
        steps.push((dir, op & 2 != 0, &tail[..n]));
        rest = &tail[n..];
    }
    let limits = Limits {
        max_header_bytes: 1024,
        max_string_len: 64,
        max_h2_streams: 8,
        max_hpack_table: 4096,
        max_header_list_bytes: 4096,
        max_continuations: 8,
        ..Limits::default()
    };
    let run = |piece: usize| {
        let mut app = AppLayer::new(
            "10.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!()),
            "10.0.0.2:80".parse().unwrap_or_else(|_| unreachable!()),
        );
        let (mut http, mut protocols, mut pre, mut h2) = (
            HttpCounters::default(),
            ProtocolTable::default(),
            PrefaceCounters::default(),
            Http2Counters::default(),
        );
        let (mut out, mut pool) = (Vec::new(), QueuePool::default());
        let ts = Timestamp::from_secs(1);
        let mut cx = AppCtx {
            http: Ctx {
                limits: &limits,
                counters: &mut http,
                out: &mut out,
                pool: &mut pool,
                now: ts,
            },
            protocols: &mut protocols,
            preface: &mut pre,
            h2: &mut h2,
            websocket: &mut crate::websocket::WebSocketCounters::default(),
            tls: &mut crate::tls::TlsCounters::default(),
        };
        for (dir, gap, bytes) in &steps {
            if *gap {
                app.feed(*dir, ts, StreamEvent::Gap(bytes.len() as u64), &mut cx);
                continue;
            }
            for chunk in bytes.chunks(piece.max(1)) {
                app.feed(*dir, ts, StreamEvent::Data(chunk), &mut cx);
                assert!(app.heap_bytes() < 1 << 20, "{}", app.heap_bytes());
            }
        }
        app.close(ts, &mut cx);
        assert_each_request_reported(&out);
        let (decided, events): (Vec<Event>, Vec<Event>) = out
            .into_iter()
            .partition(|e| matches!(e, Event::ConnectionDecided { .. }));
        (events, decided, http, protocols, h2)
    };
    let whole = run(usize::MAX);
    let piece = usize::from(head >> 1) + 1;
    assert_eq!(whole, run(piece), "in pieces of {piece}");
}

/// Every request started is reported as one exchange with a request, and only those.
fn assert_each_request_reported(out: &[crate::Event]) {
    let started = out
        .iter()
        .filter(|e| matches!(e, crate::Event::RequestStarted { .. }))
        .count();
    let requests = out
        .iter()
        .filter(|e| {
            matches!(e, crate::Event::Exchange(x) if !x.flags.contains(crate::Flags::NO_REQUEST))
        })
        .count();
    assert_eq!(started, requests);
}

/// Runs a TLS script through one application layer (detection by the preface probe,
/// CONNECT tunnels, the TLS analyzer), whole and in pieces.
///
/// Format: byte 0: bits 1-7: the piece size of the split run (1 to 128); bit 0: the
/// originator's stream starts with `CONNECT t.example:443 HTTP/1.1` and the responder's
/// with a `200` (added, so that TLS in a tunnel is reached). Then steps as for [`http2`]:
/// one byte (bit 0: Orig or Resp; bit 1: a gap of the step's length), two bytes of
/// length (LE), that many bytes. Limits are small (4 KiB handshake messages, 2 KiB
/// certificates, 64-byte strings). Checks: the layer's heap stays under 256 KiB after
/// every event; when the connection is TLS from its start (in either feed), the whole and
/// the split feeds give the same events and counters (HTTP, TLS, protocol table), else
/// the same handshake counters (the mid-stream pickups of HTTP/1, HTTP/2 and TLS look at
/// windows of events: which finds something first in bytes that are no clean start may
/// depend on the split); at most one TLS record, whose strings and lists keep their caps.
pub fn tls(data: &[u8]) {
    use crate::analyzer::{AppCtx, AppLayer};
    use crate::event::Event;
    use crate::http::{Ctx, Dir, HttpCounters, QueuePool};
    use crate::preface::PrefaceCounters;
    use crate::protocol::ProtocolTable;
    use crate::tls::{TlsCounters, MAX_SANS};

    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let mut steps: Vec<(Dir, bool, &[u8])> = Vec::new();
    if head & 1 != 0 {
        steps.push((
            Dir::Orig,
            false,
            b"CONNECT t.example:443 HTTP/1.1\r\nHost: t.example:443\r\n\r\n",
        ));
        steps.push((
            Dir::Resp,
            false,
            b"HTTP/1.1 200 Connection established\r\n\r\n",
        ));
    }
    while let [op, a, b, tail @ ..] = rest {
        let n = usize::from(u16::from_le_bytes([*a, *b])).min(tail.len());
        let dir = if op & 1 == 0 { Dir::Orig } else { Dir::Resp };
        steps.push((dir, op & 2 != 0, &tail[..n]));
        rest = &tail[n..];
    }
    let limits = Limits {
        max_string_len: 64,
        max_tls_handshake_bytes: 4096,
        max_tls_cert_bytes: 2048,
        ..Limits::default()
    };
    let run = |piece: usize| {
        let mut app = AppLayer::new(
            "10.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!()),
            "10.0.0.2:443".parse().unwrap_or_else(|_| unreachable!()),
        );
        let (mut http, mut protocols, mut pre, mut tls) = (
            HttpCounters::default(),
            ProtocolTable::default(),
            PrefaceCounters::default(),
            TlsCounters::default(),
        );
        let (mut out, mut pool) = (Vec::new(), QueuePool::default());
        let ts = Timestamp::from_secs(1);
        let mut cx = AppCtx {
            http: Ctx {
                limits: &limits,
                counters: &mut http,
                out: &mut out,
                pool: &mut pool,
                now: ts,
            },
            protocols: &mut protocols,
            preface: &mut pre,
            h2: &mut crate::http2::Http2Counters::default(),
            websocket: &mut crate::websocket::WebSocketCounters::default(),
            tls: &mut tls,
        };
        for (i, (dir, gap, bytes)) in steps.iter().enumerate() {
            let ts = Timestamp::from_secs(1 + i as u64);
            cx.http.now = ts;
            if *gap {
                app.feed(*dir, ts, StreamEvent::Gap(bytes.len() as u64), &mut cx);
                continue;
            }
            for chunk in bytes.chunks(piece.max(1)) {
                app.feed(*dir, ts, StreamEvent::Data(chunk), &mut cx);
                assert!(app.heap_bytes() < 256 << 10, "{}", app.heap_bytes());
            }
        }
        app.close(Timestamp::from_secs(1 << 20), &mut cx);
        let sessions: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                Event::Tls(s) => Some(s),
                _ => None,
            })
            .collect();
        assert!(sessions.len() <= 1, "{} TLS records", sessions.len());
        for s in sessions {
            let strs = s.sni.iter().chain(&s.alpn).chain(&s.alpn_offered);
            let cert = s
                .cert
                .iter()
                .flat_map(|c| c.subject.iter().chain(&c.issuer).chain(&c.sans));
            assert!(strs.chain(cert).all(|w| w.as_bytes().len() <= 64));
            assert!(s.alpn_offered.len() <= 16);
            assert!(s.cert.as_ref().is_none_or(|c| c.sans.len() <= MAX_SANS));
        }
        let (decided, events): (Vec<Event>, Vec<Event>) = out
            .into_iter()
            .partition(|e| matches!(e, Event::ConnectionDecided { .. }));
        (events, decided, http, protocols, tls)
    };
    let whole = run(usize::MAX);
    let piece = usize::from(head >> 1) + 1;
    let split = run(piece);
    // The mid-stream pickups (HTTP/1's, HTTP/2's and TLS's) look at windows of events, so
    // which of them finds something first in bytes that are no clean start may depend on
    // the split. The whole comparison holds whenever the connection is TLS from its start
    // (in either feed: the TLS analyzer's promise); otherwise only the TLS counters of
    // the in-clear handshake must agree.
    let is_tls = |r: &(
        Vec<Event>,
        Vec<Event>,
        HttpCounters,
        ProtocolTable,
        TlsCounters,
    )| {
        r.0.iter().any(
            |e| matches!(e, Event::Tls(s) if !s.flags.contains(crate::tls::TlsFlags::MIDSTREAM)),
        )
    };
    if is_tls(&whole) || is_tls(&split) {
        assert_eq!(whole, split, "in pieces of {piece}");
    } else {
        let hs = |c: &TlsCounters| {
            (
                c.tls_handshake_messages,
                c.tls_handshake_too_large,
                c.tls_bad_messages,
            )
        };
        assert_eq!(
            hs(&whole.4),
            hs(&split.4),
            "TLS counters in pieces of {piece}"
        );
    }
}

/// Inputs [`plain`] reads at most.
pub const MAX_PLAIN_INPUTS: usize = 4096;

/// Runs a [`crate::monitor::Monitor`] over a script of TLS plaintext inputs ([`crate::plain`]):
/// the records the eBPF probe would hand over, from eight connections of two processes
/// each, with offsets that jump, records cut short, connections seen mid-stream, freed,
/// restarted, without a 4-tuple, or mirroring each other (both ends local).
///
/// Format: byte 0: limits (bits 0-1: `max_plain_connections` 1-4; bits 2-4:
/// `max_pending_requests` 1-8). Then inputs, each: a control byte (bits 0-2: connection;
/// bit 3: read, else write; bit 4: seen from the start; bit 5: `SSL_free` instead of
/// data; bits 6-7: time step of 0.3 s), an offset byte (0: the expected offset, else that
/// many times 97 bytes ahead or back, as a signed byte), a tuple byte (bits 0-1: none, the
/// connection's client end, its server end (a mirror of the first), or a remote peer; bit
/// 2: the call moved 50 bytes more than the record carries), a length byte and that many
/// data bytes. Asserts after every input: connections tracked <= the cap, every exchange
/// says `tls` and names its process, no exchange with a request beyond the requests
/// counted (HTTP/1 and HTTP/2); after `finish`: nothing tracked, every request counted
/// reported once.
pub fn plain(data: &[u8]) -> u64 {
    use crate::monitor::{Monitor, MonitorConfig, Observer};
    use crate::plain::{Chunk, ConnId, Input, Side};
    use crate::{Exchange, Flags};
    use std::net::SocketAddr;

    struct Count {
        exchanges: u64,
        requests: u64,
    }
    impl Observer for Count {
        fn on_exchange(&mut self, ex: &Exchange) {
            assert!(ex.tls, "a plaintext exchange says tls");
            assert!(
                ex.process.is_some(),
                "a plaintext exchange names its process"
            );
            self.exchanges += 1;
            self.requests += u64::from(!ex.flags.contains(Flags::NO_REQUEST));
        }
    }

    let mut b = Bytes(data);
    let cfg_byte = b.u8();
    let limits = Limits {
        max_plain_connections: usize::from(cfg_byte & 3) + 1,
        max_pending_requests: usize::from((cfg_byte >> 2) & 7) + 1,
        max_header_bytes: 512,
        max_string_len: 32,
        ..Limits::default()
    };
    let cfg = MonitorConfig {
        limits: limits.clone(),
        ..MonitorConfig::default()
    };
    let Ok(mut m) = Monitor::new(cfg) else {
        return 0;
    };
    let mut seen = Count {
        exchanges: 0,
        requests: 0,
    };
    // Bytes moved so far per connection and side, as the probe counts them.
    let mut next = [[0u64; 2]; 8];
    let mut now = Timestamp::from_secs(1_700_000_000);
    let comms: [&[u8]; 8] = [
        b"curl", b"nginx", b"curl", b"nginx", b"python3", b"nginx", b"openssl", b"\x1b[2J",
    ];
    for _ in 0..MAX_PLAIN_INPUTS {
        if b.0.is_empty() {
            break;
        }
        let c = b.u8();
        let jump = b.u8();
        let tuple = b.u8();
        let len = usize::from(b.u8()).min(b.0.len());
        let (payload, rest) = b.0.split_at(len);
        b.0 = rest;
        let conn = usize::from(c & 7);
        let side = if c & 8 != 0 { Side::Read } else { Side::Write };
        now = now.add_nanos(u64::from(c >> 6) * 300_000_000);
        // Connections 2k and 2k+1 are two processes on the same TCP connection.
        let pair = conn / 2;
        let id = ConnId {
            pid: 100 + conn as u32,
            ssl: 0x5000 + pair as u64 * 0x100,
        };
        let client: SocketAddr = ([127, 0, 0, 1], 40_000 + pair as u16).into();
        let server: SocketAddr = ([127, 0, 0, 1], 443).into();
        let sockets = match tuple & 3 {
            0 => None,
            1 => Some((client, server)),
            2 => Some((server, client)),
            _ => Some((
                ([10, 0, 0, 1], 40_000 + pair as u16).into(),
                ([10, 0, 0, 2], 443).into(),
            )),
        };
        let d = usize::from(side == Side::Read);
        let expected = next[conn][d];
        let offset = match jump as i8 {
            0 => expected,
            j => expected.saturating_add_signed(i64::from(j) * 97),
        };
        let input = if c & 32 != 0 {
            Input::Closed {
                ts: now,
                conn: id,
                written: next[conn][0],
                read: next[conn][1],
            }
        } else {
            let total = len as u64 + if tuple & 4 != 0 { 50 } else { 0 };
            next[conn][d] = offset.saturating_add(total);
            Input::Data(Chunk {
                ts: now,
                conn: id,
                comm: comms[conn],
                sockets,
                side,
                offset,
                total,
                data: payload,
                from_start: c & 16 != 0,
            })
        };
        if c & 32 != 0 {
            next[conn] = [0, 0];
        }
        m.on_plain(&input, &mut seen);
        let e = m.engine();
        assert!(
            e.open_plain_connections() <= limits.max_plain_connections,
            "{} plaintext connections",
            e.open_plain_connections()
        );
        let c = e.counters();
        assert!(seen.requests <= c.http.requests + c.h2.h2_requests);
    }
    m.finish(&mut seen);
    let e = m.engine();
    assert_eq!(e.open_plain_connections(), 0);
    let c = e.counters();
    assert_eq!(seen.requests, c.http.requests + c.h2.h2_requests);
    seen.exchanges
}
