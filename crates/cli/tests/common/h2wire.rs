//! HTTP/2 written by hand for scripted captures: frames, HPACK literals (no Huffman),
//! and whole prior-knowledge connections over `common::tcp_frame`, so that a test knows
//! every byte (tshark cross-checks such captures where it is installed).

use super::{tcp_frame, Pcap, ACK, FIN_ACK, PSH_ACK, SYN};

pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const SETTINGS: u8 = 4;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const SETTINGS_ACK: u8 = 0x1;
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Appends an HTTP/2 frame header announcing `len` payload bytes.
pub fn h2_head(out: &mut Vec<u8>, len: u32, ty: u8, flags: u8, sid: u32) {
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[ty, flags]);
    out.extend_from_slice(&sid.to_be_bytes());
}

/// Appends an HTTP/2 frame carrying `payload`.
pub fn h2_frame(out: &mut Vec<u8>, ty: u8, flags: u8, sid: u32, payload: &[u8]) {
    h2_head(out, payload.len() as u32, ty, flags, sid);
    out.extend_from_slice(payload);
}

/// HPACK: an integer with an `n`-bit prefix whose other bits are `first`.
pub fn hp_int(out: &mut Vec<u8>, first: u8, n: u8, mut v: u64) {
    let mask = (1u64 << n) - 1;
    if v < mask {
        out.push(first | v as u8);
        return;
    }
    out.push(first | mask as u8);
    v -= mask;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// HPACK: a string literal, not Huffman-coded.
pub fn hp_str(out: &mut Vec<u8>, s: &[u8]) {
    hp_int(out, 0, 7, s.len() as u64);
    out.extend_from_slice(s);
}

/// HPACK: a literal field without indexing whose name is static entry `index`.
pub fn hp_lit(out: &mut Vec<u8>, index: u64, value: &[u8]) {
    hp_int(out, 0, 4, index);
    hp_str(out, value);
}

/// HPACK: a literal field with incremental indexing and a literal name.
pub fn hp_insert(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x40);
    hp_str(out, name);
    hp_str(out, value);
}

/// An HTTP/2 frame: 9-byte header, then `payload`.
pub fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(9 + payload.len());
    h2_frame(&mut f, ty, flags, stream, payload);
    f
}

/// HPACK: a literal field without indexing whose name is static-table entry `index`.
pub fn literal(out: &mut Vec<u8>, index: u8, value: &str) {
    hp_lit(out, u64::from(index), value.as_bytes());
}

/// HPACK: a literal field without indexing with a literal name.
pub fn literal_named(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hp_str(out, name.as_bytes());
    hp_str(out, value.as_bytes());
}

/// One request of a scripted connection and its answer.
pub struct Call {
    /// Time of the request HEADERS, in µs; the answer comes 1 ms later.
    pub t_us: u64,
    pub block: Vec<u8>,
    /// The answer's frames on the request's stream (built by `answer`).
    pub answer: fn(u32) -> Vec<u8>,
}

/// `:status 200`, `content-length: 2`, DATA `ok` (END_STREAM).
pub fn answer_ok(id: u32) -> Vec<u8> {
    let mut b = vec![0x88]; // :status 200
    literal(&mut b, 28, "2"); // content-length
    let mut f = frame(HEADERS, END_HEADERS, id, &b);
    f.extend(frame(DATA, END_STREAM, id, b"ok"));
    f
}

/// A prior-knowledge connection from `client` to `server`:80-style endpoints: handshake,
/// prefaces and SETTINGS with their ACKs (the first call's time minus 3 ms on), each call's
/// HEADERS (END_STREAM, END_HEADERS) on streams 1, 3, 5..., its answer 1 ms later, then
/// FIN both ways.
pub fn connection(p: &mut Pcap, c: ([u8; 4], u16), s: ([u8; 4], u16), calls: &[Call]) {
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let t0 = calls[0].t_us - 3000;
    p.record(t0, &tcp_frame(c, s, cs, 0, SYN, b""));
    p.record(t0 + 500, &tcp_frame(s, c, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    p.record(t0 + 1000, &tcp_frame(c, s, cs, ss, ACK, b""));
    let mut send = |p: &mut Pcap, t: u64, from_client: bool, data: &[u8]| {
        if from_client {
            p.record(t, &tcp_frame(c, s, cs, ss, PSH_ACK, data));
            cs += data.len() as u32;
        } else {
            p.record(t, &tcp_frame(s, c, ss, cs, PSH_ACK, data));
            ss += data.len() as u32;
        }
    };
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, b""));
    send(p, t0 + 1500, true, &hello);
    let mut hello = frame(SETTINGS, 0, 0, b"");
    hello.extend(frame(SETTINGS, SETTINGS_ACK, 0, b""));
    send(p, t0 + 2000, false, &hello);
    send(p, t0 + 2500, true, &frame(SETTINGS, SETTINGS_ACK, 0, b""));
    for (i, call) in calls.iter().enumerate() {
        let id = 2 * i as u32 + 1;
        let head = frame(HEADERS, END_STREAM | END_HEADERS, id, &call.block);
        send(p, call.t_us, true, &head);
        send(p, call.t_us + 1000, false, &(call.answer)(id));
    }
    let t = calls[calls.len() - 1].t_us + 3000;
    p.record(t, &tcp_frame(c, s, cs, ss, FIN_ACK, b""));
    p.record(t + 1000, &tcp_frame(s, c, ss, cs + 1, FIN_ACK, b""));
    p.record(t + 2000, &tcp_frame(c, s, cs + 1, ss + 1, ACK, b""));
}
