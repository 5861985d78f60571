//! HTTP/2 through the application layer: detection, frames split at every byte, streams,
//! gRPC, h2c, and every cap.

use super::huffman;
use super::Http2Counters;
use crate::analyzer::{AppCtx, AppLayer};
use crate::event::{Event, Exchange, Flags, Version};
use crate::http::{Ctx, HttpCounters, QueuePool};
use crate::limits::Limits;
use crate::preface::PrefaceCounters;
use crate::protocol::{Protocol, ProtocolTable};
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;

pub(crate) const PRI: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub(crate) fn frame(ty: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, ty, flags];
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A literal field without indexing, new name (lengths under 127).
pub(crate) fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(value.len() as u8);
    b.extend_from_slice(value.as_bytes());
    b
}

/// A literal field with incremental indexing, new name, Huffman-coded value.
fn lit_huff(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x40, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    let v = huffman::encode(value.as_bytes());
    b.push(0x80 | v.len() as u8);
    b.extend_from_slice(&v);
    b
}

pub(crate) fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    fields.iter().flat_map(|(n, v)| lit(n, v)).collect()
}

pub(crate) const SETTINGS_EMPTY: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

pub(crate) fn get(sid: u32, path: &str) -> Vec<u8> {
    frame(
        1,
        0x5,
        sid,
        &block(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "example.com"),
            (":path", path),
            ("user-agent", "t/1"),
        ]),
    )
}

pub(crate) fn status(sid: u32, code: &str, end: bool) -> Vec<u8> {
    frame(1, 0x4 | u8::from(end), sid, &block(&[(":status", code)]))
}

struct Rig {
    app: AppLayer,
    limits: Limits,
    http: HttpCounters,
    h2: Http2Counters,
    protocols: ProtocolTable,
    preface: PrefaceCounters,
    pool: QueuePool,
    out: Vec<Event>,
    max_heap: usize,
}

impl Rig {
    fn new(limits: Limits) -> Self {
        Rig {
            app: AppLayer::new(
                "10.0.0.1:40000".parse().unwrap(),
                "10.0.0.2:9000".parse().unwrap(),
            ),
            limits,
            http: HttpCounters::default(),
            h2: Http2Counters::default(),
            protocols: ProtocolTable::default(),
            preface: PrefaceCounters::default(),
            pool: QueuePool::default(),
            out: Vec::new(),
            max_heap: 0,
        }
    }

    fn with(&mut self, now: Timestamp, f: impl FnOnce(&mut AppLayer, &mut AppCtx<'_>)) {
        let mut cx = AppCtx {
            http: Ctx {
                limits: &self.limits,
                counters: &mut self.http,
                out: &mut self.out,
                pool: &mut self.pool,
                now,
            },
            protocols: &mut self.protocols,
            preface: &mut self.preface,
            h2: &mut self.h2,
            websocket: &mut crate::websocket::WebSocketCounters::default(),
            tls: &mut crate::tls::TlsCounters::default(),
        };
        f(&mut self.app, &mut cx);
        self.max_heap = self.max_heap.max(self.app.heap_bytes());
    }

    fn feed_at(&mut self, dir: Dir, t: Timestamp, ev: StreamEvent<'_>) -> &mut Self {
        self.with(t, |app, cx| app.feed(dir, t, ev, cx));
        self
    }

    fn data(&mut self, dir: Dir, d: &[u8]) -> &mut Self {
        self.feed_at(dir, Timestamp::from_secs(1), StreamEvent::Data(d))
    }

    fn close(&mut self) -> &mut Self {
        self.with(Timestamp::from_secs(9), |app, cx| {
            app.close(Timestamp::from_secs(9), cx)
        });
        self
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

    fn started(&self) -> Vec<Protocol> {
        self.out
            .iter()
            .filter_map(|e| match e {
                Event::RequestStarted { protocol, .. } => Some(*protocol),
                _ => None,
            })
            .collect()
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
}

/// Everything a run produces that must not depend on how the streams were split (when
/// a connection is decided relative to the requests depends on where events end, as for
/// any connection: the decisions are compared apart).
#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<Event>,
    decided: Vec<Protocol>,
    h2: Http2Counters,
    http: HttpCounters,
    protocols: ProtocolTable,
}

/// Runs `script`, each step at time 1 s + step µs, cut into pieces of `piece` bytes
/// (0: whole).
fn run_with(limits: &Limits, script: &[(Dir, Vec<u8>)], piece: usize) -> (Outcome, usize) {
    let mut r = Rig::new(limits.clone());
    for (k, (dir, bytes)) in script.iter().enumerate() {
        let t = Timestamp::from_secs(1).add_nanos(k as u64 * 1000);
        let step = if piece == 0 {
            bytes.len().max(1)
        } else {
            piece
        };
        for c in bytes.chunks(step) {
            r.feed_at(*dir, t, StreamEvent::Data(c));
        }
    }
    r.close();
    let decided = r.decided();
    r.out
        .retain(|e| !matches!(e, Event::ConnectionDecided { .. }));
    let o = Outcome {
        decided,
        out: r.out,
        h2: r.h2,
        http: r.http,
        protocols: r.protocols,
    };
    (o, r.max_heap)
}

/// The same outcome whole, in pieces of 1 to 13 bytes and of 64 and 1000.
fn run_all_ways(script: &[(Dir, Vec<u8>)]) -> Outcome {
    let limits = Limits::default();
    let (whole, _) = run_with(&limits, script, 0);
    for piece in (1..=13).chain([64, 1000]) {
        assert_eq!(
            run_with(&limits, script, piece).0,
            whole,
            "pieces of {piece}"
        );
    }
    whole
}

fn exchanges(o: &Outcome) -> Vec<&Exchange> {
    o.out
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) => Some(x),
            _ => None,
        })
        .collect()
}

fn client_start() -> Vec<u8> {
    [PRI, &SETTINGS_EMPTY[..]].concat()
}

#[test]
fn two_interleaved_streams_split_at_every_byte() {
    let post = frame(
        1,
        0x4,
        3,
        &block(&[(":method", "POST"), (":path", "/b"), ("host", "h.example")]),
    );
    let body = frame(0, 0x1, 3, b"hello");
    // Padded HEADERS with priority for stream 1's response, then its DATA padded too.
    let mut padded = vec![3u8, 0, 0, 0, 0, 16];
    padded.extend(block(&[(":status", "200")]));
    padded.extend([0, 0, 0]);
    let resp1 = frame(1, 0x4 | 0x8 | 0x20, 1, &padded);
    let data1 = frame(0, 0x1 | 0x8, 1, &[2, b'o', b'k', 0, 0]);
    let script = vec![
        (
            Dir::Orig,
            [client_start(), get(1, "/a?x=1"), post.clone(), body.clone()].concat(),
        ),
        (
            Dir::Resp,
            [SETTINGS_EMPTY.to_vec(), frame(4, 1, 0, &[])].concat(),
        ),
        (
            Dir::Resp,
            [status(3, "201", false), frame(0, 1, 3, b"created")].concat(),
        ),
        (Dir::Resp, [resp1.clone(), data1.clone()].concat()),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    let (b, a) = (ex[0], ex[1]);
    assert_eq!((b.stream_id, b.status), (3, Some(201)));
    assert_eq!(b.method.as_bytes(), b"POST");
    assert_eq!(
        b.host.as_bytes(),
        b"h.example",
        "host when :authority is absent"
    );
    assert_eq!(b.request_bytes, (post.len() + body.len()) as u64);
    assert_eq!(
        b.response_bytes,
        (status(3, "201", false).len() + 9 + 7) as u64
    );
    assert_eq!((a.stream_id, a.status), (1, Some(200)));
    assert_eq!(a.host.as_bytes(), b"example.com");
    assert_eq!(a.path.as_bytes(), b"/a?x=1");
    assert_eq!(a.user_agent.as_bytes(), b"t/1");
    assert_eq!(a.version, Version::HTTP2);
    assert_eq!(a.response_bytes, (resp1.len() + data1.len()) as u64);
    assert_eq!(a.ts, Timestamp::from_secs(1));
    assert_eq!(a.latency_ns, Some(3000));
    assert!(
        a.flags.is_empty() && b.flags.is_empty(),
        "{:?} {:?}",
        a.flags,
        b.flags
    );
    let started = o
        .out
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::RequestStarted {
                    protocol: Protocol::Http2,
                    ..
                }
            )
        })
        .count();
    assert_eq!(started, 2);
    assert_eq!(o.h2.h2_requests, 2);
    assert_eq!(o.h2.h2_responses, 2, "one final response per stream");
    assert_eq!(o.h2.h2_connections, 1);
    let row = o.protocols.get(Protocol::Http2);
    let sent: usize = script
        .iter()
        .filter(|s| s.0 == Dir::Orig)
        .map(|s| s.1.len())
        .sum();
    assert_eq!((row.connections, row.bytes_to_server), (1, sent as u64));
    assert_eq!(o.protocols.get(Protocol::Http1).connections, 0);
    assert_eq!(o.h2.h2_bad_frames, 0);
}

#[test]
fn huffman_and_the_dynamic_table_across_streams() {
    let first = [
        vec![0x82, 0x86, 0x84],
        lit_huff(":authority", "www.example.com"),
        lit_huff("user-agent", "curl/8.5.0"),
    ]
    .concat();
    // The second request refers to both inserted entries (62: user-agent, 63: :authority).
    let second = vec![0x82, 0x86, 0x84, 0xbf, 0xbe];
    let script = vec![
        (
            Dir::Orig,
            [
                client_start(),
                frame(1, 5, 1, &first),
                frame(1, 5, 3, &second),
            ]
            .concat(),
        ),
        (
            Dir::Resp,
            [status(1, "200", true), status(3, "404", true)].concat(),
        ),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    for x in &ex {
        assert_eq!(x.host.as_bytes(), b"www.example.com");
        assert_eq!(x.user_agent.as_bytes(), b"curl/8.5.0");
        assert_eq!(x.method.as_bytes(), b"GET");
    }
    assert_eq!(ex[1].status, Some(404));
}

#[test]
fn rst_stream_ends_the_exchange_with_its_code() {
    let script = vec![
        (Dir::Orig, [client_start(), get(1, "/")].concat()),
        (Dir::Resp, frame(3, 0, 1, &8u32.to_be_bytes())),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].reset_code, Some(8));
    assert_eq!(ex[0].flags, Flags::RESET | Flags::NO_RESPONSE);
    assert_eq!(o.h2.h2_resets, 1);
}

#[test]
fn goaway_flags_the_streams_past_its_last_id() {
    let mut goaway = 1u32.to_be_bytes().to_vec();
    goaway.extend(0u32.to_be_bytes());
    let script = vec![
        (
            Dir::Orig,
            [client_start(), get(1, "/1"), get(3, "/3")].concat(),
        ),
        (
            Dir::Resp,
            [frame(7, 0, 0, &goaway), status(1, "200", true)].concat(),
        ),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].stream_id, ex[0].flags), (1, Flags::empty()));
    assert_eq!(
        (ex[1].stream_id, ex[1].flags),
        (3, Flags::GOAWAY | Flags::NO_RESPONSE)
    );
    assert_eq!(o.h2.h2_goaways, 1);
}

fn grpc_request(sid: u32) -> Vec<u8> {
    frame(
        1,
        0x4,
        sid,
        &block(&[
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/helloworld.Greeter/SayHello"),
            (":authority", "localhost:50051"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]),
    )
}

#[test]
fn grpc_with_trailers_and_trailers_only() {
    let msg = frame(0, 1, 1, &[0, 0, 0, 0, 2, 10, 0]);
    let ok = [
        frame(
            1,
            4,
            1,
            &block(&[(":status", "200"), ("content-type", "application/grpc")]),
        ),
        frame(0, 0, 1, &[0, 0, 0, 0, 0]),
        frame(1, 5, 1, &block(&[("grpc-status", "0")])),
    ]
    .concat();
    let failed = frame(
        1,
        5,
        3,
        &block(&[
            (":status", "200"),
            ("content-type", "application/grpc"),
            ("grpc-status", "5"),
            ("grpc-message", "no such user"),
        ]),
    );
    let script = vec![
        (
            Dir::Orig,
            [
                client_start(),
                grpc_request(1),
                msg.clone(),
                grpc_request(3),
                msg,
            ]
            .concat(),
        ),
        (Dir::Resp, [ok.clone(), failed.clone()].concat()),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].flags, Flags::GRPC | Flags::TRAILERS);
    assert_eq!((ex[0].grpc_status, ex[0].is_error()), (Some(0), false));
    assert_eq!(
        ex[0].grpc_call(),
        Some((&b"helloworld.Greeter"[..], &b"SayHello"[..]))
    );
    assert_eq!(ex[1].flags, Flags::GRPC);
    assert_eq!((ex[1].grpc_status, ex[1].is_error()), (Some(5), true));
    assert_eq!(ex[1].grpc_message.as_bytes(), b"no such user");
    let g = o.protocols.get(Protocol::Grpc);
    assert_eq!((g.connections, g.requests), (1, 2));
    assert_eq!(
        g.bytes_to_client,
        (ok.len() + failed.len()) as u64,
        "the calls' stream bytes"
    );
}

#[test]
fn h2c_upgrade_makes_the_upgrade_request_stream_1() {
    let req = b"GET /up HTTP/1.1\r\nHost: h2c.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nUser-Agent: curl/8\r\n\r\n";
    let switching =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
    let script = vec![
        (Dir::Orig, req.to_vec()),
        (Dir::Resp, [&switching[..], &SETTINGS_EMPTY[..]].concat()),
        (
            Dir::Orig,
            [client_start(), frame(4, 1, 0, &[]), get(3, "/next")].concat(),
        ),
        (
            Dir::Resp,
            [status(1, "200", false), frame(0, 1, 1, b"body")].concat(),
        ),
        (Dir::Resp, status(3, "200", true)),
    ];
    let o = run_all_ways(&script);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2, "{ex:#?}");
    let up = ex[0];
    assert_eq!(
        (up.stream_id, up.status, up.interim_responses),
        (1, Some(200), 1)
    );
    assert_eq!(up.method.as_bytes(), b"GET");
    assert_eq!(up.path.as_bytes(), b"/up");
    assert_eq!(up.host.as_bytes(), b"h2c.example");
    assert_eq!(up.version, Version::HTTP2);
    assert_eq!(up.request_bytes, req.len() as u64);
    assert_eq!(up.latency_ns, Some(3000));
    assert!(up.flags.is_empty(), "{:?}", up.flags);
    assert_eq!((ex[1].stream_id, ex[1].path.as_bytes()), (3, &b"/next"[..]));
    // One request under http/1 (the upgrade request), one under http/2.
    let started: Vec<_> = o
        .out
        .iter()
        .filter_map(|e| match e {
            Event::RequestStarted { protocol, .. } => Some(*protocol),
            _ => None,
        })
        .collect();
    assert_eq!(started, [Protocol::Http1, Protocol::Http2]);
    assert_eq!(o.h2.h2_upgrades, 1);
    assert_eq!(o.protocols.get(Protocol::Http1).connections, 1);
    assert_eq!(o.protocols.get(Protocol::Http2).connections, 1);
    let closed = o.out.iter().find_map(|e| match e {
        Event::ConnectionClosed { protocol, .. } => Some(*protocol),
        _ => None,
    });
    assert_eq!(closed, Some(Protocol::Http2));
}

#[test]
fn a_server_speaking_first_does_not_hide_the_preface() {
    let mut r = Rig::new(Limits::default());
    r.data(Dir::Resp, &SETTINGS_EMPTY)
        .data(Dir::Orig, &client_start());
    // The SETTINGS started the mid-stream probe; the preface ended it and its window.
    let h2 = crate::budget::heap(std::mem::size_of::<super::H2Conn>());
    assert!(
        r.app.heap_bytes() <= h2 + 64,
        "{} > {h2}",
        r.app.heap_bytes()
    );
    r.data(Dir::Orig, &get(1, "/"))
        .data(Dir::Resp, &status(1, "204", true))
        .close();
    assert_eq!(r.h2.h2_midstream, 0);
    assert_eq!(r.decided(), [Protocol::Http2]);
    assert_eq!(r.exchanges().len(), 1);
    assert_eq!(r.exchanges()[0].status, Some(204));
    assert_eq!(r.started(), [Protocol::Http2]);
}

#[test]
fn http1_requests_starting_with_p_are_untouched() {
    for req in [
        &b"PRI /x HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"PROPFIND /x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
    ] {
        let mut r = Rig::new(Limits::default());
        r.data(Dir::Orig, req)
            .data(Dir::Resp, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .close();
        assert_eq!(r.decided(), [Protocol::Http1], "{req:?}");
        assert_eq!(r.exchanges().len(), 1);
    }
}

#[test]
fn a_gap_in_data_keeps_sync_elsewhere_gives_the_direction_up() {
    let mut r = Rig::new(Limits::default());
    let data = frame(0, 1, 1, &[b'x'; 100]);
    r.data(
        Dir::Orig,
        &[client_start(), get(1, "/"), get(3, "/")].concat(),
    )
    .data(Dir::Resp, &status(1, "200", false))
    .data(Dir::Resp, &data[..20])
    .feed_at(Dir::Resp, Timestamp::from_secs(1), StreamEvent::Gap(50))
    .data(Dir::Resp, &data[70..])
    .data(Dir::Resp, &status(3, "200", false))
    .feed_at(Dir::Resp, Timestamp::from_secs(1), StreamEvent::Gap(5))
    .data(Dir::Resp, &status(3, "200", true))
    .close();
    let ex = r.exchanges();
    assert_eq!(ex.len(), 2);
    assert_eq!((ex[0].stream_id, ex[0].flags), (1, Flags::GAP));
    assert_eq!(
        ex[0].response_bytes,
        (status(1, "200", false).len() + 109) as u64
    );
    assert_eq!(ex[1].stream_id, 3);
    assert_eq!(ex[1].flags, Flags::GAP | Flags::TRUNCATED);
    assert_eq!((r.h2.h2_data_gaps, r.h2.h2_lost_sync), (1, 1));
}

// ------------------------------------------------------------------ caps

/// Peak memory and CPU stay bounded: the app layer's heap never passes `max`.
fn bounded(script: &[(Dir, Vec<u8>)], max: usize) -> Outcome {
    let (o, heap) = run_with(&Limits::default(), script, 0);
    assert!(heap <= max, "peak heap {heap} > {max}");
    let (o2, _) = run_with(&Limits::default(), script, 7);
    assert_eq!(o, o2, "pieces of 7");
    o
}

#[test]
fn a_continuation_flood_is_dropped_at_the_cap() {
    let mut c = client_start();
    c.extend(frame(1, 0, 1, &block(&[(":method", "GET")])));
    for _ in 0..100_000 {
        c.extend(frame(9, 0, 1, &[0x82; 16]));
    }
    c.extend(frame(9, 4, 1, &[0x84]));
    c.extend(get(3, "/after"));
    let script = vec![(Dir::Orig, c), (Dir::Resp, status(3, "200", true))];
    let o = bounded(&script, 80 << 10);
    assert_eq!(o.h2.h2_continuation_floods, 1);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    assert_eq!(
        (ex[0].stream_id, ex[0].path.as_bytes()),
        (3, &b"/after"[..])
    );
    assert!(ex[1].flags.contains(Flags::MALFORMED | Flags::TRUNCATED));
    assert_eq!(o.h2.h2_requests, 2);
}

#[test]
fn rapid_reset_of_100000_streams_costs_bounded_memory() {
    let mut c = client_start();
    for i in 0..100_000u32 {
        let sid = 2 * i + 1;
        c.extend(frame(1, 4, sid, &[0x82, 0x86, 0x84, 0x41, 1, b'h']));
        c.extend(frame(3, 0, sid, &8u32.to_be_bytes()));
    }
    let script = vec![(Dir::Orig, c)];
    let o = bounded(&script, 16 << 10);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 100_000);
    assert!(ex.iter().all(|x| x.flags.contains(Flags::RESET)));
    assert_eq!(o.h2.h2_resets, 100_000);
}

#[test]
fn streams_past_the_cap_are_counted_not_tracked() {
    let mut c = client_start();
    for i in 0..200u32 {
        c.extend(get(2 * i + 1, "/"));
    }
    let o = bounded(&[(Dir::Orig, c)], 256 << 10);
    assert_eq!(o.h2.h2_streams_over_cap, 72);
    assert_eq!(exchanges(&o).len(), 128);
    assert_eq!(o.h2.h2_requests, 128);
}

#[test]
fn hostile_hpack_is_counted_and_bounded() {
    // SETTINGS asking for a 4 GiB table, then an encoder update to it, an HPACK bomb,
    // and an invalid Huffman string.
    let settings = frame(4, 0, 0, &[0, 1, 0xff, 0xff, 0xff, 0xff]);
    let mut bomb = vec![0x3f, 0xe0, 0xff, 0xff, 0xff, 0x0f, 0x82, 0x86, 0x84];
    bomb.extend([0x40, 1, b'x', 0x7f]);
    bomb.extend([0xe1, 0x1e]); // 127 + 3937 = 4064
    bomb.extend(std::iter::repeat_n(b'a', 4064));
    bomb.extend(std::iter::repeat_n(0xbe, 20_000));
    let huff = [0x82, 0x04, 0x84, 0xff, 0xff, 0xff, 0xff];
    let script = vec![
        (Dir::Resp, settings),
        (
            Dir::Orig,
            [client_start(), frame(1, 5, 1, &bomb), frame(1, 5, 3, &huff)].concat(),
        ),
        (
            Dir::Resp,
            [status(1, "200", true), status(3, "200", true)].concat(),
        ),
    ];
    let o = bounded(&script, 160 << 10);
    assert_eq!(o.h2.h2_table_size_capped, 1);
    assert_eq!(o.h2.h2_header_lists_over_budget, 1);
    assert_eq!(o.h2.h2_hpack_errors, 1);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 2);
    assert!(ex[0].flags.contains(Flags::TRUNCATED));
    assert_eq!(ex[0].method.as_bytes(), b"GET");
    assert!(ex[1].flags.contains(Flags::MALFORMED));
}

#[test]
fn padding_longer_than_its_frame_and_a_16_mib_frame() {
    let bad_pad = frame(0, 0x8, 1, &[200, 1, 2, 3]);
    let mut big = vec![0xff, 0xff, 0xff, 0, 0];
    big.extend(1u32.to_be_bytes());
    let mut c = [
        client_start(),
        get(1, "/"),
        frame(1, 0x8 | 0x4, 3, &[50, 0x82]),
    ]
    .concat();
    c.extend(&bad_pad);
    let mut s = status(1, "200", false);
    s.extend(&big);
    s.extend(std::iter::repeat_n(0u8, (1 << 24) - 1));
    s.extend(frame(0, 1, 1, b""));
    // A 16 MiB HEADERS block: dropped at the head cap.
    let mut hb = vec![0xff, 0xff, 0xff, 1, 4];
    hb.extend(5u32.to_be_bytes());
    hb.extend(std::iter::repeat_n(0x82u8, (1 << 24) - 1));
    c.extend(&hb);
    let script = vec![(Dir::Orig, c), (Dir::Resp, s)];
    let (o, heap) = run_with(&Limits::default(), &script, 0);
    assert!(heap < 80 << 10, "{heap}");
    assert_eq!(
        o.h2.h2_bad_frames, 2,
        "two paddings longer than their frames"
    );
    assert_eq!(o.h2.h2_header_blocks_too_large, 1);
    let ex = exchanges(&o);
    assert_eq!(ex.len(), 3);
    assert_eq!(ex[0].stream_id, 1);
    assert_eq!(
        ex[0].response_bytes,
        (status(1, "200", false).len() + 9 + (1 << 24) - 1 + 9) as u64
    );
}

/// Encodes steps in the format of [`crate::fuzzing::http2`].
fn fuzz_script(head: u8, steps: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut s = vec![head];
    for (op, b) in steps {
        s.push(*op);
        s.extend((b.len() as u16).to_le_bytes());
        s.extend(b);
    }
    s
}

#[test]
fn the_fuzz_function_holds_on_valid_and_mutated_scripts() {
    let settings = frame(4, 0, 0, &[0, 1, 0, 0, 0x10, 0]);
    let steps = vec![
        (
            0u8,
            [SETTINGS_EMPTY.to_vec(), grpc_request(1), get(3, "/x")].concat(),
        ),
        (
            1,
            [settings, status(3, "200", false), frame(0, 1, 3, b"abc")].concat(),
        ),
        (
            1,
            [
                frame(
                    1,
                    4,
                    1,
                    &[lit_huff("x-a", "bbbbbbbb"), lit(":status", "200")].concat(),
                ),
                frame(1, 5, 1, &[vec![0xbe], lit("grpc-status", "7")].concat()),
            ]
            .concat(),
        ),
        (0, frame(3, 0, 5, &[0, 0, 0, 8])),
        (3, vec![0; 4]),
        (0, get(7, "/after-a-gap")),
    ];
    let valid = fuzz_script(1 | (4 << 1), &steps);
    crate::fuzzing::http2(&valid);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..400 {
        let mut m = valid.clone();
        for _ in 0..1 + next() % 6 {
            let i = 1 + (next() as usize) % (m.len() - 1);
            m[i] = next() as u8;
        }
        crate::fuzzing::http2(&m);
    }
}

#[test]
fn http2_after_a_proxy_header_is_http2() {
    // haproxy `send-proxy` / `send-proxy-v2` in front of an h2c backend: the client
    // preface follows the PROXY header, in the header's event or a later one.
    let v1 = b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\n".to_vec();
    let v2 =
        crate::preface::proxy::tests::v2(1, 0x11, &crate::preface::proxy::tests::v4_block(), 7);
    for (header, client) in [(v1, "203.0.113.7:51234"), (v2, "198.51.100.9:40000")] {
        for together in [true, false] {
            let first = if together {
                vec![(
                    Dir::Orig,
                    [header.clone(), client_start(), get(1, "/p")].concat(),
                )]
            } else {
                vec![
                    (Dir::Orig, header.clone()),
                    (Dir::Orig, [client_start(), get(1, "/p")].concat()),
                ]
            };
            let mut script = first;
            script.push((
                Dir::Resp,
                [SETTINGS_EMPTY.to_vec(), status(1, "200", true)].concat(),
            ));
            let o = run_all_ways(&script);
            assert_eq!(o.decided, [Protocol::Http2], "{header:?}");
            let ex = exchanges(&o);
            assert_eq!(ex.len(), 1);
            assert_eq!(ex[0].status, Some(200));
            assert_eq!(ex[0].path.as_bytes(), b"/p");
            let oc: std::net::SocketAddr = client.parse().unwrap();
            assert_eq!(
                ex[0].original_client.map(|c| (c.ip, c.port)),
                Some((oc.ip(), Some(oc.port())))
            );
            assert_eq!(o.http.requests, 0, "nothing went to HTTP/1");
            // Every byte after the PROXY header counts under http/2.
            let row = o.protocols.get(Protocol::Http2);
            let sent: u64 = script
                .iter()
                .filter(|(d, _)| *d == Dir::Orig)
                .map(|(_, b)| b.len() as u64)
                .sum();
            assert_eq!(row.bytes_to_server, sent);
        }
    }
    // HTTP/1 after a PROXY header is still HTTP/1, `PUT` (starting like the preface)
    // included.
    let script = vec![
        (
            Dir::Orig,
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\nPUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        (Dir::Resp, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
    ];
    let o = run_all_ways(&script);
    assert_eq!(o.decided, [Protocol::Http1]);
    assert_eq!(exchanges(&o).len(), 1);
    assert_eq!(exchanges(&o)[0].method.as_bytes(), b"PUT");
}

// ------------------------------------------------------------------ mid-stream pickup

/// A request HEADERS as a client that has sent requests before encodes it: static
/// `:method GET` and `:scheme http` first, then `:authority`: `auth` 0x01 a literal
/// without indexing, 0x41 a literal inserted into the table, 0xbe a reference to the
/// newest dynamic entry (inserted before the capture: unknown, unless seen inserted).
fn mget(sid: u32, path: &str, auth: u8) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, auth];
    if auth != 0xbe {
        b.push(11);
        b.extend_from_slice(b"example.com");
    }
    b.extend(lit(":path", path));
    frame(1, 0x5, sid, &b)
}

/// A response HEADERS `:status 200` (static index 8).
fn mstatus(sid: u32, end: bool) -> Vec<u8> {
    frame(
        1,
        0x4 | u8::from(end),
        sid,
        &[0x88, 0x0f, 0x10, 3, b't', b'/', b'1'],
    )
}

/// A capture starting inside an HTTP/2 connection: stream 1 was requested before it.
fn mid_script() -> Vec<(Dir, Vec<u8>)> {
    vec![
        // The rest of stream 1's response body, and a WINDOW_UPDATE.
        (Dir::Resp, frame(0, 0, 1, &[b'x'; 100])),
        (
            Dir::Orig,
            [frame(8, 0, 0, &[0, 0, 0x10, 0]), mget(3, "/a", 0x01)].concat(),
        ),
        (
            Dir::Resp,
            [mstatus(3, false), frame(0, 1, 3, b"hello")].concat(),
        ),
        (Dir::Resp, mstatus(1, true)),
        (Dir::Orig, mget(5, "/b", 0xbe)),
        (
            Dir::Resp,
            [frame(6, 0, 0, &[0; 8]), mstatus(5, true)].concat(),
        ),
    ]
}

#[test]
fn mid_stream_pickup_finds_the_requests_after_the_cut() {
    let o = run_all_ways(&mid_script());
    assert_eq!(o.decided, [Protocol::Http2]);
    let got: Vec<_> = exchanges(&o)
        .iter()
        .map(|x| {
            (
                x.stream_id,
                x.method.as_bytes().to_vec(),
                x.host.as_bytes().to_vec(),
                x.path.as_bytes().to_vec(),
                x.status,
                x.flags,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                3,
                b"GET".to_vec(),
                b"example.com".to_vec(),
                b"/a".to_vec(),
                Some(200),
                Flags::empty()
            ),
            (1, vec![], vec![], vec![], Some(200), Flags::NO_REQUEST),
            // `:authority` was a reference to an entry inserted before the capture.
            (
                5,
                b"GET".to_vec(),
                vec![],
                b"/b".to_vec(),
                Some(200),
                Flags::TRUNCATED
            ),
        ]
    );
    assert_eq!(
        (
            o.h2.h2_connections,
            o.h2.h2_midstream,
            o.h2.h2_requests,
            o.h2.h2_responses
        ),
        (1, 1, 2, 3)
    );
    assert_eq!(o.h2.h2_hpack_unknown_refs, 1);
    assert_eq!((o.h2.h2_lost_sync, o.h2.h2_bad_frames), (0, 0));
    assert_eq!((o.http.not_http_connections, o.http.requests), (0, 0));
    let row = o.protocols.get(Protocol::Http2);
    let sent = |d: Dir| -> u64 {
        mid_script()
            .iter()
            .filter(|(x, _)| *x == d)
            .map(|(_, b)| b.len() as u64)
            .sum()
    };
    assert_eq!(
        (row.bytes_to_server, row.bytes_to_client),
        (sent(Dir::Orig), sent(Dir::Resp))
    );
    let ex = exchanges(&o);
    assert_eq!(ex[0].request_bytes, mget(3, "/a", 0x01).len() as u64);
    assert!(ex[0].latency_ns.is_some());
}

#[test]
fn mid_stream_pickup_with_the_client_silent_or_first() {
    // The server's frames alone decide (its :status names it); the client, silent until
    // then, is read from its next event.
    let script = vec![
        (
            Dir::Orig,
            [mstatus(7, false), frame(0, 1, 7, b"abc"), mstatus(9, true)].concat(),
        ),
        (Dir::Resp, mget(11, "/c", 0x41)),
        (Dir::Orig, mstatus(11, true)),
    ];
    let o = run_all_ways(&script);
    assert_eq!(o.decided, [Protocol::Http2]);
    let got: Vec<_> = exchanges(&o)
        .iter()
        .map(|x| (x.stream_id, x.flags))
        .collect();
    assert_eq!(
        got,
        [
            (7, Flags::NO_REQUEST),
            (9, Flags::NO_REQUEST),
            (11, Flags::empty())
        ]
    );
    let o = &exchanges(&o)[2].clone();
    assert_eq!(
        (o.path.as_bytes(), o.client),
        (&b"/c"[..], Some("10.0.0.2:9000".parse().unwrap()))
    );
}

#[test]
fn mid_stream_pickup_knows_the_entries_inserted_after_it() {
    let script = vec![
        (
            Dir::Orig,
            [mget(21, "/x", 0x41), mget(23, "/y", 0xbe)].concat(),
        ),
        (Dir::Resp, [mstatus(21, true), mstatus(23, true)].concat()),
    ];
    let o = run_all_ways(&script);
    assert_eq!(o.decided, [Protocol::Http2]);
    let hosts: Vec<_> = exchanges(&o)
        .iter()
        .map(|x| (x.host.as_bytes().to_vec(), x.flags))
        .collect();
    let want = (b"example.com".to_vec(), Flags::empty());
    assert_eq!(hosts, [want.clone(), want]);
    assert_eq!(o.h2.h2_hpack_unknown_refs, 0);
}

/// The decisions and the HTTP/2 counters of `script` fed through a fresh layer, each
/// event cut into pieces of `piece` bytes.
fn verdict_of(script: &[(Dir, Vec<u8>)], piece: usize) -> (Vec<Protocol>, Http2Counters) {
    let (o, _) = run_with(&Limits::default(), script, piece);
    (o.decided, o.h2)
}

#[test]
fn no_http1_transcript_is_taken_for_http2() {
    // Every HTTP/1 fixture (hostile ones, gaps and garbage included) through the layer:
    // the mid-stream probe never claims one, and the exchanges are HTTP/1's alone.
    use crate::http::script::{parse, Step};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/testdata");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "t") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let (script, _) = parse(&text, 1 << 24).unwrap();
        let mut r = Rig::new(script.limits.clone());
        for step in &script.steps {
            let t = Timestamp::from_millis(step.ms());
            match step {
                Step::Data(d, _, b) => {
                    r.feed_at(*d, t, StreamEvent::Data(b));
                }
                Step::Gap(d, _, g) => {
                    r.feed_at(*d, t, StreamEvent::Gap(*g));
                }
                Step::Fin(d, _) => {
                    r.feed_at(*d, t, StreamEvent::Fin);
                }
                Step::Rst(d, _) => {
                    r.feed_at(*d, t, StreamEvent::Rst);
                }
                Step::Close(_) => {}
            }
        }
        r.close();
        assert!(!r.decided().contains(&Protocol::Http2), "{path:?}");
        assert_eq!(r.h2, Http2Counters::default(), "{path:?}");
        n += 1;
    }
    assert!(n > 40, "{n} fixtures");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Random bytes (either side starting with 0x00 or not, cut anywhere) are never
    /// HTTP/2.
    #[test]
    fn random_bytes_are_never_http2(
        a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        c in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        zero in 0u8..4,
        piece in 0usize..40,
    ) {
        let (mut a, mut c) = (a, c);
        if zero & 1 != 0 && !a.is_empty() { a[0] = 0; }
        if zero & 2 != 0 && !c.is_empty() { c[0] = 0; }
        let script = vec![(Dir::Orig, a), (Dir::Resp, b), (Dir::Orig, c)];
        let (decided, h2) = verdict_of(&script, piece);
        proptest::prop_assert!(!decided.contains(&Protocol::Http2));
        proptest::prop_assert_eq!(h2.h2_midstream, 0);
    }

    /// Random frame-shaped bytes: headers with a zero first byte and random other fields,
    /// each followed by its declared payload. Some are well-formed by chance (then HTTP/2
    /// is a right answer); the layer never panics, holds a bounded window, and decides
    /// one protocol.
    #[test]
    fn frame_shaped_noise_is_bounded(
        heads in proptest::collection::vec((0u8..0x41, proptest::prelude::any::<[u8; 7]>()), 1..8),
        fill in proptest::prelude::any::<u8>(),
        piece in 0usize..20,
    ) {
        let mut bytes = Vec::new();
        for (l1, rest) in &heads {
            let len = usize::from(*l1) << 8 | usize::from(rest[0]);
            bytes.extend([0, *l1]);
            bytes.extend_from_slice(rest);
            bytes.extend(std::iter::repeat_n(fill, len.min(600)));
        }
        let script = vec![(Dir::Orig, bytes.clone()), (Dir::Resp, bytes)];
        let (o, heap) = run_with(&Limits::default(), &script, piece);
        proptest::prop_assert!(heap < 64 << 10, "{heap}");
        proptest::prop_assert_eq!(o.decided.len(), 1);
        proptest::prop_assert_eq!(o.h2.h2_midstream, u64::from(o.decided == [Protocol::Http2]));
    }

    /// TLS records (handshake, alert, application data, any version) are never HTTP/2.
    #[test]
    fn tls_records_are_never_http2(
        recs in proptest::collection::vec(
            (proptest::sample::select(vec![0x14u8, 0x15, 0x16, 0x17]), 0u8..5,
             proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
            1..6),
        piece in 0usize..30,
    ) {
        let mut a = Vec::new();
        for (ty, minor, body) in &recs {
            a.extend([*ty, 3, *minor, (body.len() >> 8) as u8, body.len() as u8]);
            a.extend_from_slice(body);
        }
        let script = vec![(Dir::Orig, a.clone()), (Dir::Resp, a)];
        let (decided, h2) = verdict_of(&script, piece);
        // TLS when the first handshake record header arrived whole and is plausible
        // (see crate::tls), else unknown: never HTTP/2.
        proptest::prop_assert!(decided == [Protocol::Unknown] || decided == [Protocol::Tls], "{decided:?}");
        proptest::prop_assert_eq!(h2, Http2Counters::default());
    }
}

#[test]
fn mid_stream_window_is_bounded_charged_and_given_up_without_a_client() {
    // Well-formed frames that never say which side is the client (DATA only, as in a
    // long download picked up in its body): the probe keeps its window, charged, up to
    // 8 KiB, then gives up; the connection is not HTTP and holds nothing.
    let mut r = Rig::new(Limits::default());
    r.data(Dir::Resp, &frame(0, 0, 1, &[7; 1000]));
    assert!(r.decided().is_empty(), "three headers needed, and a client");
    let held = r.app.heap_bytes();
    assert!(held > 1000, "the window is charged: {held}");
    for k in 0..8u64 {
        r.feed_at(
            Dir::Resp,
            Timestamp::from_secs(2 + k),
            StreamEvent::Data(&frame(0, 0, 1, &[7; 1000])),
        );
        assert!(r.app.heap_bytes() < 16 << 10, "{}", r.app.heap_bytes());
    }
    // Given up: the window is freed, the connection is HTTP/1's to decide (the client
    // has not spoken yet).
    assert!(r.app.heap_bytes() < 1000, "{}", r.app.heap_bytes());
    assert!(r.decided().is_empty());
    // A header naming the client decides nothing now: the probe is over.
    r.data(Dir::Orig, &mget(3, "/", 0x01));
    assert_eq!(r.decided(), [Protocol::Unknown]);
    assert_eq!(r.app.heap_bytes(), 0);
    r.close();
    assert!(r.exchanges().is_empty());
    assert_eq!(r.h2, Http2Counters::default());
}

#[test]
fn a_side_out_of_frame_sync_at_the_pickup_is_given_up() {
    // The client's first segment starts inside a frame: the server's frames decide, the
    // client side is not read (counted), the server's responses still come out.
    let script = vec![
        (Dir::Orig, b"tail of a header block".to_vec()),
        (
            Dir::Resp,
            [mstatus(1, false), frame(0, 1, 1, b"ok"), mstatus(3, true)].concat(),
        ),
        (Dir::Orig, mget(5, "/", 0x01)),
        (Dir::Resp, mstatus(5, true)),
    ];
    let o = run_all_ways(&script);
    assert_eq!(o.decided, [Protocol::Http2]);
    assert_eq!((o.h2.h2_lost_sync, o.h2.h2_midstream), (1, 1));
    assert_eq!(
        o.http.not_http_connections, 0,
        "HTTP/1's verdict taken back"
    );
    let got: Vec<_> = exchanges(&o)
        .iter()
        .map(|x| (x.stream_id, x.flags))
        .collect();
    assert_eq!(
        got,
        [
            (1, Flags::NO_REQUEST),
            (3, Flags::NO_REQUEST),
            (5, Flags::NO_REQUEST)
        ]
    );
}
