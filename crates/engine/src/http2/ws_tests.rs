//! WebSocket over HTTP/2 (RFC 8441) through the application layer: an extended CONNECT
//! answered 200 with WebSocket frames inside DATA frames (each event split in two at
//! every offset, and byte by byte), a reset stream, a CONNECT answered 403, the cap.

use super::tests::{block, frame, status, PRI, SETTINGS_EMPTY};
use super::Http2Counters;
use crate::analyzer::{AppCtx, AppLayer};
use crate::event::{Event, Exchange, Flags, Version, WebSocketSession};
use crate::http::{Ctx, HttpCounters, QueuePool};
use crate::limits::Limits;
use crate::preface::PrefaceCounters;
use crate::protocol::{Protocol, ProtocolTable};
use crate::stream::{Dir, StreamEvent};
use crate::websocket::WebSocketCounters;
use httptop_wire::Timestamp;

const C: Dir = Dir::Orig;
const S: Dir = Dir::Resp;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const DATA: u8 = 0;
const RST_STREAM: u8 = 3;
const END_STREAM: u8 = 0x1;
const PADDED: u8 = 0x8;

/// A WebSocket frame (lengths under 126), masked with `key` if given.
fn ws(fin: bool, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let m = if key.is_some() { 0x80 } else { 0 };
    let mut f = vec![u8::from(fin) << 7 | opcode, m | payload.len() as u8];
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

fn ws_close(code: u16, reason: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    ws(true, 0x8, &[&code.to_be_bytes()[..], reason].concat(), key)
}

/// An RFC 8441 extended CONNECT on `sid`.
fn connect(sid: u32, protocol: &str) -> Vec<u8> {
    frame(
        1,
        0x4,
        sid,
        &block(&[
            (":method", "CONNECT"),
            (":protocol", protocol),
            (":scheme", "http"),
            (":path", "/chat?room=1"),
            (":authority", "ws.example"),
            ("sec-websocket-version", "13"),
        ]),
    )
}

/// Server SETTINGS with ENABLE_CONNECT_PROTOCOL = 1, and its ACK of the client's.
fn server_settings() -> Vec<u8> {
    [
        frame(4, 0, 0, &[0, 3, 0, 0, 0, 100, 0, 8, 0, 0, 0, 1]),
        frame(4, 1, 0, &[]),
    ]
    .concat()
}

/// DATA on `sid` padded with `pad` bytes.
fn padded(sid: u32, flags: u8, payload: &[u8], pad: u8) -> Vec<u8> {
    let mut p = vec![pad];
    p.extend_from_slice(payload);
    p.extend(std::iter::repeat_n(0, usize::from(pad)));
    frame(DATA, flags | PADDED, sid, &p)
}

#[derive(Debug, PartialEq)]
struct Outcome {
    out: Vec<Event>,
    http: HttpCounters,
    h2: Http2Counters,
    websocket: WebSocketCounters,
    protocols: ProtocolTable,
    max_heap: usize,
    end_heap: usize,
}

/// How the events of a script are cut.
#[derive(Clone, Copy)]
enum Cut {
    Whole,
    /// Event `.0` in two at byte `.1`.
    At(usize, usize),
    Bytes,
    /// Bytes `.1..(.1 + .2)` of event `.0` lost (a gap in their place).
    Gap(usize, usize, usize),
}

/// Runs `script`, step k at time 1 s + k ms, then closes the connection at 9 s.
fn run(limits: &Limits, script: &[(Dir, Vec<u8>)], cut: Cut) -> Outcome {
    let mut app = AppLayer::new(
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:8080".parse().unwrap(),
    );
    let mut http = HttpCounters::default();
    let mut h2 = Http2Counters::default();
    let mut websocket = WebSocketCounters::default();
    let mut protocols = ProtocolTable::default();
    let mut preface = PrefaceCounters::default();
    let mut pool = QueuePool::default();
    let mut out = Vec::new();
    let mut max_heap = 0;
    let mut step =
        |app: &mut AppLayer, now: Timestamp, f: &mut dyn FnMut(&mut AppLayer, &mut AppCtx<'_>)| {
            let mut cx = AppCtx {
                http: Ctx {
                    limits,
                    counters: &mut http,
                    out: &mut out,
                    pool: &mut pool,
                    now,
                },
                protocols: &mut protocols,
                preface: &mut preface,
                h2: &mut h2,
                websocket: &mut websocket,
                tls: &mut crate::tls::TlsCounters::default(),
            };
            f(app, &mut cx);
            max_heap = max_heap.max(app.heap_bytes());
        };
    for (k, (dir, bytes)) in script.iter().enumerate() {
        let t = Timestamp::from_secs(1).add_nanos(k as u64 * 1_000_000);
        if let Cut::Gap(j, at, n) = cut {
            if j == k {
                let evs = [
                    StreamEvent::Data(&bytes[..at]),
                    StreamEvent::Gap(n as u64),
                    StreamEvent::Data(&bytes[at + n..]),
                ];
                for ev in evs {
                    step(&mut app, t, &mut |app, cx| app.feed(*dir, t, ev, cx));
                }
                continue;
            }
        }
        let pieces: Vec<&[u8]> = match cut {
            Cut::At(j, at) if j == k => vec![&bytes[..at], &bytes[at..]],
            Cut::Bytes => bytes.chunks(1).collect(),
            _ => vec![bytes],
        };
        for p in pieces.into_iter().filter(|p| !p.is_empty()) {
            step(&mut app, t, &mut |app, cx| {
                app.feed(*dir, t, StreamEvent::Data(p), cx)
            });
        }
    }
    let end_heap = app.heap_bytes();
    let t = Timestamp::from_secs(9);
    step(&mut app, t, &mut |app, cx| app.close(t, cx));
    out.retain(|e| !matches!(e, Event::ConnectionDecided { .. }));
    Outcome {
        out,
        http,
        h2,
        websocket,
        protocols,
        max_heap,
        end_heap,
    }
}

/// The same outcome whole, with each event split in two at every offset, byte by byte.
fn all_ways(limits: &Limits, script: &[(Dir, Vec<u8>)]) -> Outcome {
    let whole = run(limits, script, Cut::Whole);
    // Block buffers grow differently with the cuts: memory is compared apart.
    let same = |o: Outcome| Outcome {
        max_heap: whole.max_heap,
        end_heap: whole.end_heap,
        ..o
    };
    for (k, (_, bytes)) in script.iter().enumerate() {
        for at in 1..bytes.len() {
            assert_eq!(
                same(run(limits, script, Cut::At(k, at))),
                whole,
                "event {k} split at {at}"
            );
        }
    }
    assert_eq!(same(run(limits, script, Cut::Bytes)), whole, "byte by byte");
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

fn sessions(o: &Outcome) -> Vec<&WebSocketSession> {
    o.out
        .iter()
        .filter_map(|e| match e {
            Event::WebSocket(w) => Some(w.as_ref()),
            _ => None,
        })
        .collect()
}

fn ms(k: u64) -> Timestamp {
    Timestamp::from_secs(1).add_nanos(k * 1_000_000)
}

#[test]
fn an_extended_connect_answered_200_is_a_websocket_session_split_at_every_byte() {
    let hello = ws(true, 0x1, b"hello", Some(KEY));
    let script = vec![
        // 0: preface, SETTINGS, the extended CONNECT on stream 1 and a GET on stream 3.
        (
            C,
            [
                PRI.to_vec(),
                SETTINGS_EMPTY.to_vec(),
                connect(1, "websocket"),
                super::tests::get(3, "/plain"),
            ]
            .concat(),
        ),
        // 1: SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, the 200, stream 3's answer.
        (
            S,
            [
                server_settings(),
                status(1, "200", false),
                status(3, "204", true),
            ]
            .concat(),
        ),
        // 2: a masked text frame cut across two DATA frames (the first padded).
        (
            C,
            [padded(1, 0, &hello[..4], 3), frame(DATA, 0, 1, &hello[4..])].concat(),
        ),
        // 3: text, then a fragmented binary message with a ping between its fragments.
        (
            S,
            [
                frame(DATA, 0, 1, &ws(true, 0x1, b"hi", None)),
                padded(
                    1,
                    0,
                    &[
                        ws(false, 0x2, b"ab", None),
                        ws(true, 0x9, b"", None),
                        ws(true, 0x0, b"cd", None),
                    ]
                    .concat(),
                    1,
                ),
            ]
            .concat(),
        ),
        // 4: the client's Close with code and reason, END_STREAM.
        (
            C,
            frame(DATA, END_STREAM, 1, &ws_close(1000, b"bye", Some(KEY))),
        ),
        // 5: the server's Close, END_STREAM: the session ends here.
        (S, frame(DATA, END_STREAM, 1, &ws_close(1000, b"", None))),
    ];
    let o = all_ways(&Limits::default(), &script);
    // The CONNECT's exchange, then the session's record (both at the last END_STREAM).
    let kinds: Vec<&str> = o
        .out
        .iter()
        .filter_map(|e| match e {
            Event::Exchange(x) if x.stream_id == 1 => Some("exchange"),
            Event::WebSocket(_) => Some("websocket"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["exchange", "websocket"]);
    let xs = exchanges(&o);
    assert_eq!(xs.len(), 2);
    let x = xs.iter().find(|x| x.stream_id == 1).unwrap();
    assert_eq!(
        (x.method.as_bytes(), x.status, x.flags),
        (&b"CONNECT"[..], Some(200), Flags::empty())
    );
    let s = sessions(&o);
    assert_eq!(s.len(), 1);
    let s = s[0];
    assert_eq!(
        (
            s.ts,
            s.end,
            s.version,
            s.stream_id,
            s.host.as_bytes(),
            s.path.as_bytes()
        ),
        (
            ms(0),
            ms(5),
            Version::HTTP2,
            1,
            &b"ws.example"[..],
            &b"/chat?room=1"[..]
        )
    );
    assert_eq!(
        (s.client, s.server),
        (
            Some("10.0.0.1:40000".parse().unwrap()),
            Some("10.0.0.2:8080".parse().unwrap())
        )
    );
    assert_eq!((s.frames_to_server, s.frames_to_client), (2, 5));
    assert_eq!((s.messages_to_server, s.messages_to_client), (1, 2));
    assert_eq!(
        (s.payload_to_server, s.payload_to_client),
        (5 + 5, 2 + 4 + 2)
    );
    assert_eq!(
        (s.close_code, s.close_reason.as_bytes(), s.flags),
        (Some(1000), &b"bye"[..], Flags::empty())
    );
    let w = &o.websocket;
    assert_eq!(
        (
            w.websocket_frames,
            w.websocket_messages,
            w.websocket_payload_bytes
        ),
        (7, 3, 18)
    );
    assert_eq!(
        (
            w.websocket_h2_sessions,
            w.websocket_h2_unannounced,
            w.websocket_h2_over_cap
        ),
        (1, 0, 0)
    );
    // One websocket session in the websocket row; its bytes stay under http/2.
    let row = o.protocols.get(Protocol::WebSocket);
    assert_eq!(
        (row.connections, row.bytes_to_server, row.bytes_to_client),
        (1, 0, 0)
    );
    let total: usize = script.iter().map(|(_, b)| b.len()).sum();
    let h2 = o.protocols.get(Protocol::Http2);
    assert_eq!(
        (h2.bytes_to_server + h2.bytes_to_client) as usize,
        total,
        "every byte under http/2"
    );
}

#[test]
fn the_session_outlives_the_exchange_until_both_sides_end() {
    let script = vec![
        (C, [PRI.to_vec(), connect(1, "websocket")].concat()),
        (S, status(1, "200", false)),
        // The server closes first: the exchange ends, the session goes on.
        (
            S,
            frame(DATA, END_STREAM, 1, &ws_close(1001, b"going away", None)),
        ),
        (C, frame(DATA, 0, 1, &ws(true, 0x2, b"late", Some(KEY)))),
        (
            C,
            frame(DATA, END_STREAM, 1, &ws_close(1001, b"", Some(KEY))),
        ),
    ];
    let o = all_ways(&Limits::default(), &script);
    // The exchange (at the server's END_STREAM) comes before the session record.
    assert!(matches!(
        o.out
            .iter()
            .find(|e| matches!(e, Event::Exchange(_) | Event::WebSocket(_))),
        Some(Event::Exchange(_))
    ));
    let s = sessions(&o)[0];
    assert_eq!((s.frames_to_server, s.frames_to_client), (2, 1));
    assert_eq!(
        (s.close_code, s.close_reason.as_bytes(), s.end),
        (Some(1001), &b"going away"[..], ms(4))
    );
    // No SETTINGS_ENABLE_CONNECT_PROTOCOL seen: accepted, counted.
    assert_eq!(o.websocket.websocket_h2_unannounced, 1);
}

#[test]
fn a_reset_stream_ends_its_session_and_a_close_ends_the_rest() {
    let rst = frame(RST_STREAM, 0, 1, &8u32.to_be_bytes());
    let script = vec![
        (
            C,
            [
                PRI.to_vec(),
                SETTINGS_EMPTY.to_vec(),
                connect(1, "websocket"),
                connect(3, "websocket"),
            ]
            .concat(),
        ),
        (
            S,
            [
                server_settings(),
                status(1, "200", false),
                status(3, "200", false),
            ]
            .concat(),
        ),
        (C, frame(DATA, 0, 1, &ws(true, 0x1, b"x", Some(KEY)))),
        (C, rst),
        (C, frame(DATA, 0, 3, &ws(true, 0x1, b"y", Some(KEY)))),
    ];
    let o = all_ways(&Limits::default(), &script);
    let s = sessions(&o);
    assert_eq!(s.len(), 2);
    // Stream 1 at its reset, stream 3 at the connection's close.
    assert_eq!(
        (s[0].stream_id, s[0].end, s[0].flags),
        (1, ms(3), Flags::RESET | Flags::TRUNCATED)
    );
    assert_eq!(s[0].frames_to_server, 1);
    assert_eq!(
        (s[1].stream_id, s[1].end, s[1].flags),
        (3, Timestamp::from_secs(9), Flags::TRUNCATED)
    );
    let x1 = exchanges(&o)
        .into_iter()
        .find(|x| x.stream_id == 1)
        .unwrap();
    assert_eq!((x1.status, x1.reset_code), (Some(200), Some(8)));
    assert!(x1.flags.contains(Flags::RESET));
    assert_eq!(o.protocols.get(Protocol::WebSocket).connections, 2);
}

#[test]
fn a_connect_answered_403_or_another_protocol_is_no_websocket() {
    for (protocol, code) in [("websocket", "403"), ("webtransport", "200")] {
        let script = vec![
            (C, [PRI.to_vec(), connect(1, protocol)].concat()),
            (S, [server_settings(), status(1, code, false)].concat()),
            (S, frame(DATA, END_STREAM, 1, &ws(true, 0x1, b"no", None))),
            (
                C,
                frame(DATA, END_STREAM, 1, &ws(true, 0x1, b"x", Some(KEY))),
            ),
        ];
        let o = all_ways(&Limits::default(), &script);
        assert!(sessions(&o).is_empty(), "{protocol} {code}");
        assert_eq!(o.websocket, WebSocketCounters::default());
        assert_eq!(o.protocols.get(Protocol::WebSocket).connections, 0);
        let xs = exchanges(&o);
        assert_eq!(xs.len(), 1);
        assert_eq!(xs[0].method.as_bytes(), b"CONNECT");
        assert_eq!(xs[0].status, Some(code.parse().unwrap()));
    }
}

#[test]
fn sessions_past_the_cap_are_counted_not_parsed_and_memory_is_charged() {
    let limits = Limits {
        max_h2_websockets: 1,
        ..Limits::default()
    };
    let mut script = vec![(
        C,
        [
            PRI.to_vec(),
            connect(1, "websocket"),
            connect(3, "websocket"),
        ]
        .concat(),
    )];
    script.push((
        S,
        [status(1, "200", false), status(3, "200", false)].concat(),
    ));
    for sid in [1, 3] {
        script.push((C, frame(DATA, 0, sid, &ws(true, 0x1, b"z", Some(KEY)))));
    }
    let o = all_ways(&limits, &script);
    let s = sessions(&o);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].stream_id, 1);
    assert_eq!(
        (
            o.websocket.websocket_h2_sessions,
            o.websocket.websocket_h2_over_cap,
            o.websocket.websocket_frames
        ),
        (1, 1, 1)
    );
    assert_eq!(o.protocols.get(Protocol::WebSocket).connections, 1);

    // The session's state is charged while it is open.
    let before = run(&limits, &script[..1], Cut::Whole).end_heap;
    let open = run(&limits, &script[..2], Cut::Whole).end_heap;
    assert!(
        open >= before + std::mem::size_of::<crate::websocket::WsStreams>(),
        "{open} vs {before}"
    );
}

#[test]
fn client_data_before_the_answer_leaves_that_direction_unparsed() {
    let script = vec![
        (C, [PRI.to_vec(), connect(1, "websocket")].concat()),
        (C, frame(DATA, 0, 1, &ws(true, 0x1, b"early", Some(KEY)))),
        (S, status(1, "200", false)),
        (C, frame(DATA, 0, 1, &ws(true, 0x1, b"x", Some(KEY)))),
        (S, frame(DATA, 0, 1, &ws(true, 0x1, b"y", None))),
    ];
    let o = all_ways(&Limits::default(), &script);
    let s = sessions(&o)[0];
    assert_eq!((s.frames_to_server, s.frames_to_client), (0, 1));
    assert_eq!(s.flags, Flags::GAP | Flags::TRUNCATED);
}

#[test]
fn a_gap_in_a_data_payload_stops_that_direction_of_the_session_only() {
    let script = vec![
        (C, [PRI.to_vec(), connect(1, "websocket")].concat()),
        (S, status(1, "200", false)),
        // Bytes 9.. of this DATA frame are its payload: 3 of them are lost.
        (C, frame(DATA, 0, 1, &ws(true, 0x1, b"lost", Some(KEY)))),
        (C, frame(DATA, 0, 1, &ws(true, 0x1, b"after", Some(KEY)))),
        (S, frame(DATA, 0, 1, &ws(true, 0x1, b"still", None))),
        (S, frame(DATA, END_STREAM, 1, &ws_close(1000, b"", None))),
    ];
    let o = run(&Limits::default(), &script, Cut::Gap(2, 11, 3));
    let s = sessions(&o)[0];
    // The client's frame header was cut: nothing more is read that way; the server's
    // frames and Close are.
    assert_eq!((s.frames_to_server, s.frames_to_client), (0, 2));
    assert_eq!((s.close_code, s.flags), (Some(1000), Flags::GAP));
    assert_eq!((o.h2.h2_data_gaps, o.websocket.websocket_gaps), (1, 1));
    assert!(exchanges(&o)[0].flags.contains(Flags::GAP));
}
