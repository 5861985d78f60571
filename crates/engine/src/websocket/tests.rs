//! Frames of RFC 6455 through [`WsStreams`], each script fed whole, split in two at every
//! offset of every event, and byte by byte.

use super::*;

const C: bool = true;
const S: bool = false;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame with the shortest length encoding; masked with `key` if given.
fn frame(fin: bool, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let n = payload.len();
    let mut f = vec![u8::from(fin) << 7 | opcode];
    let m = if key.is_some() { 0x80 } else { 0 };
    if n < 126 {
        f.push(m | n as u8);
    } else if n <= 0xffff {
        f.push(m | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(m | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

fn close(code: u16, reason: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let p = [&code.to_be_bytes()[..], reason].concat();
    frame(true, 0x8, &p, key)
}

type Out = (WebSocketSession, WebSocketCounters);

/// Feeds `script` (client?, bytes), event `cut` split at byte `at` (none: whole), each
/// event at time 1 s + its index in ms.
fn run(script: &[(bool, &[u8])], cut: Option<(usize, usize)>, max: usize) -> Out {
    let mut w = WsStreams::new(max);
    let mut c = WebSocketCounters::default();
    for (i, (client, bytes)) in script.iter().enumerate() {
        let ts = Timestamp::from_secs(1).add_nanos(i as u64 * 1_000_000);
        match cut {
            Some((j, at)) if j == i => {
                w.feed(*client, &bytes[..at], ts, &mut c);
                w.feed(*client, &bytes[at..], ts, &mut c);
            }
            Some((j, 0)) if j == usize::MAX => {
                for b in bytes.iter() {
                    w.feed(*client, std::slice::from_ref(b), ts, &mut c);
                }
            }
            _ => w.feed(*client, bytes, ts, &mut c),
        }
    }
    let head = WebSocketSession {
        ts: Timestamp::from_secs(1),
        ..WebSocketSession::default()
    };
    (w.finish(Timestamp::from_secs(9), head), c)
}

/// The same result whole, split in two at every offset of every event, byte by byte.
fn all_ways_max(script: &[(bool, &[u8])], max: usize) -> Out {
    let whole = run(script, None, max);
    for (i, (_, bytes)) in script.iter().enumerate() {
        for at in 0..=bytes.len() {
            assert_eq!(
                run(script, Some((i, at)), max),
                whole,
                "event {i} split at {at}"
            );
        }
    }
    assert_eq!(
        run(script, Some((usize::MAX, 0)), max),
        whole,
        "byte by byte"
    );
    whole
}

fn all_ways(script: &[(bool, &[u8])]) -> Out {
    all_ways_max(script, 1024)
}

/// (frames, messages, payload) to server, then to client.
fn counts(s: &WebSocketSession) -> [(u64, u64, u64); 2] {
    [
        (
            s.frames_to_server,
            s.messages_to_server,
            s.payload_to_server,
        ),
        (
            s.frames_to_client,
            s.messages_to_client,
            s.payload_to_client,
        ),
    ]
}

#[test]
fn the_examples_of_rfc_6455_section_5_7() {
    let hello_unmasked: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let hello_masked: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let fragmented: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let ping: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let pong_masked: &[u8] = &[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let mut b256 = vec![0x82, 0x7e, 0x01, 0x00];
    b256.extend_from_slice(&[7; 256]);
    let mut b64k = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    b64k.extend_from_slice(&vec![9; 65536]);
    // The builder writes the same bytes as the RFC.
    assert_eq!(frame(true, 1, b"Hello", Some(KEY)), hello_masked);
    assert_eq!(frame(true, 2, &[7; 256], None), b256);
    assert_eq!(frame(true, 2, &vec![9; 65536], None), b64k);

    let script: &[(bool, &[u8])] = &[
        (C, hello_masked),
        (S, hello_unmasked),
        (S, fragmented),
        (S, ping),
        (C, pong_masked),
        (S, &b256),
    ];
    let (s, c) = all_ways(script);
    assert_eq!(counts(&s), [(2, 1, 10), (5, 3, 5 + 5 + 5 + 256)]);
    assert_eq!((s.close_code, s.flags), (None, Flags::TRUNCATED));
    assert_eq!(
        (
            c.websocket_frames,
            c.websocket_messages,
            c.websocket_malformed
        ),
        (7, 4, 0)
    );
    // The 64 KiB frame with its 64-bit length (not split at every offset: 65 K runs).
    let (s, _) = run(&[(S, &b64k)], None, 1024);
    assert_eq!(counts(&s)[1], (1, 1, 65536));
    let (s2, _) = run(&[(S, &b64k)], Some((0, 5)), 1024);
    assert_eq!(s2, s);
    let (s3, _) = run(&[(S, &b64k)], Some((0, 65000)), 1024);
    assert_eq!(s3, s);
}

#[test]
fn a_fragmented_message_with_control_frames_between_is_one_message() {
    let script: &[(bool, &[u8])] = &[
        (C, &frame(false, 1, b"ab", Some(KEY))),
        (C, &frame(true, 9, b"", Some(KEY))),
        (C, &frame(false, 0, b"cd", Some(KEY))),
        (C, &frame(true, 0xa, b"x", Some(KEY))),
        (C, &frame(true, 0, b"", Some(KEY))),
        // An empty binary message counts as a message.
        (S, &frame(true, 2, b"", None)),
    ];
    let (s, _) = all_ways(script);
    assert_eq!(counts(&s), [(5, 1, 5), (1, 1, 0)]);
    assert!(!s.flags.contains(Flags::MALFORMED));
}

#[test]
fn sixteen_and_sixty_four_bit_lengths_at_their_edges() {
    for n in [125usize, 126, 127, 0xffff, 0x1_0000] {
        let f = frame(true, 2, &vec![1; n], Some(KEY));
        let (s, _) = run(&[(C, &f)], None, 1024);
        assert_eq!(counts(&s)[0], (1, 1, n as u64), "{n}");
        // Cut inside the header and inside the payload.
        for at in [1, 2, 3, 5, 9, 11, f.len() - 1] {
            assert_eq!(run(&[(C, &f)], Some((0, at)), 1024).0, s, "{n} at {at}");
        }
    }
    // A non-minimal encoding is allowed by framing (RFC says MUST NOT; it still parses).
    let f = [&[0x82u8, 0x7e, 0, 3][..], b"abc"].concat();
    let (s, _) = all_ways(&[(S, &f)]);
    assert_eq!(counts(&s)[1], (1, 1, 3));
    // The largest legal 64-bit length: counted down as bytes come, no overflow.
    let huge = [
        0x82u8, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
    ];
    let (s, _) = all_ways(&[(S, &huge)]);
    assert_eq!(counts(&s)[1], (1, 0, 3));
    assert!(!s.flags.contains(Flags::MALFORMED));
}

#[test]
fn the_first_close_frame_gives_code_and_reason() {
    let script: &[(bool, &[u8])] = &[
        (S, &frame(true, 1, b"hi", None)),
        (C, &close(1000, b"bye now", Some(KEY))),
        (S, &close(1001, b"going", None)),
    ];
    let (s, _) = all_ways(script);
    assert_eq!(s.close_code, Some(1000));
    assert_eq!(s.close_reason.as_bytes(), b"bye now");
    assert!(!s.close_reason.truncated);
    assert_eq!(s.flags, Flags::empty());
    assert_eq!(counts(&s), [(1, 0, 9), (2, 1, 2 + 7)]);
    // The record ends at the close of the connection (the last frame was earlier).
    assert_eq!(s.end, Timestamp::from_secs(9));

    // A reason longer than the string limit is cut; the longest control payload is kept.
    let reason = [b'r'; 123];
    let (s, _) = all_ways_max(&[(C, &close(4000, &reason, Some(KEY)))], 10);
    assert_eq!(s.close_code, Some(4000));
    assert_eq!(
        (s.close_reason.as_bytes(), s.close_reason.truncated),
        (&reason[..10], true)
    );
    let (s, _) = all_ways(&[(C, &close(4000, &reason, Some(KEY)))]);
    assert_eq!(s.close_reason.as_bytes(), &reason[..]);
    // A Close with no payload, or with 1 byte: seen, but no code.
    for p in [&b""[..], b"\x03"] {
        let (s, _) = all_ways(&[(S, &frame(true, 8, p, None))]);
        assert_eq!((s.close_code, s.flags), (None, Flags::empty()), "{p:?}");
        assert!(s.close_reason.is_empty());
    }
}

#[test]
fn a_session_without_close_is_truncated() {
    let (s, _) = all_ways(&[(C, &frame(true, 1, b"x", Some(KEY)))]);
    assert_eq!(s.flags, Flags::TRUNCATED);
    let (s, _) = run(&[], None, 1024);
    assert_eq!((s.flags, counts(&s)), (Flags::TRUNCATED, [(0, 0, 0); 2]));
}

#[test]
fn malformed_framing_stops_the_direction() {
    let ok = frame(true, 1, b"ok", None);
    let cases: [(&str, Vec<u8>); 8] = [
        ("reserved data opcode", frame(true, 3, b"abc", None)),
        ("reserved control opcode", frame(true, 0xb, b"", None)),
        ("ping longer than 125", frame(true, 9, &[0; 126], None)),
        ("close without FIN", frame(false, 8, b"", None)),
        (
            "64-bit length with the top bit",
            vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
        ("continuation without message", frame(true, 0, b"a", None)),
        (
            "text inside a fragmented message",
            [frame(false, 1, b"a", None), frame(true, 1, b"b", None)].concat(),
        ),
        (
            "binary inside a fragmented message",
            [frame(false, 2, b"a", None), frame(false, 2, b"b", None)].concat(),
        ),
    ];
    for (what, bad) in cases {
        // A good frame, the bad one, then what looks like more good frames (not read);
        // the other direction goes on.
        let server = [&ok[..], &bad, &ok, &close(1000, b"", None)].concat();
        let client = [frame(true, 2, b"c", Some(KEY)), close(1000, b"", Some(KEY))].concat();
        let (s, c) = all_ways(&[(S, &server), (C, &client)]);
        let fragments = u64::from(what.contains("inside"));
        assert_eq!(
            counts(&s),
            [(2, 1, 3), (1 + fragments, 1, 2 + fragments)],
            "{what}"
        );
        assert_eq!(s.flags, Flags::MALFORMED, "{what}");
        assert_eq!(
            (s.close_code, c.websocket_malformed),
            (Some(1000), 1),
            "{what}"
        );
    }
}

#[test]
fn a_gap_stops_the_direction_and_the_other_goes_on() {
    let mut w = WsStreams::new(1024);
    let mut c = WebSocketCounters::default();
    let t = Timestamp::from_secs(1);
    let f = frame(true, 2, b"abcdef", None);
    w.feed(S, &f[..4], t, &mut c);
    w.gap(S, 0, &mut c);
    assert!(!w.is_stopped());
    w.gap(S, 2, &mut c);
    w.feed(S, &f, t, &mut c);
    w.gap(S, 2, &mut c);
    assert_eq!(c.websocket_gaps, 1, "a direction loses sync once");
    w.feed(C, &close(1000, b"", Some(KEY)), t, &mut c);
    assert!(!w.is_stopped());
    w.gap(C, 1, &mut c);
    assert!(w.is_stopped());
    let s = w.finish(t, WebSocketSession::default());
    assert_eq!(counts(&s), [(1, 0, 2), (1, 0, 2)]);
    assert_eq!((s.flags, s.close_code), (Flags::GAP, Some(1000)));
    assert_eq!(c.websocket_gaps, 2);
}

#[test]
fn hostile_bytes_never_panic_and_give_the_same_result_any_way() {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..64 {
        let n = 1 + round * 3;
        let bytes: Vec<u8> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        all_ways(&[(C, &bytes), (S, &bytes)]);
    }
}
