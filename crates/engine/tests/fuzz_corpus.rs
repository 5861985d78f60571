//! Replays the fuzz corpora and regressions of the `http_transcript`, `http_headers`,
//! `reassembly`, `preface`, `monitor`, `http2`, `tls` and `plain` targets
//! (`fuzz/corpus/<target>`, `fuzz/regressions/<target>`) through the same functions the
//! fuzzer runs, and checks the seeds the corpora were started from: the
//! transcript fixtures (`src/http/testdata/*.t`), and reassembly, monitor and HTTP/2 scripts
//! written here. With
//! `HTTPTOP_FUZZ_SEEDS=DIR` set, the seeds are also written to `DIR/<target>/` (see
//! `fuzz/README.md`).

#![allow(clippy::unwrap_used)]

use httptop_engine::fuzzing::{
    http2, http_headers, http_transcript, monitor, plain, preface, reassembly, tls,
};
use std::path::Path;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn http_transcript_corpus_replays() {
    replay("http_transcript", http_transcript);
}

#[test]
fn http_headers_corpus_replays() {
    replay("http_headers", http_headers);
}

#[test]
fn reassembly_corpus_replays() {
    replay("reassembly", reassembly);
}

#[test]
fn preface_corpus_replays() {
    replay("preface", preface);
}

#[test]
fn monitor_corpus_replays() {
    replay("monitor", |d| {
        monitor(d);
    });
}

#[test]
fn tls_corpus_replays() {
    replay("tls", tls);
}

#[test]
fn plain_corpus_replays() {
    replay("plain", |d| {
        plain(d);
    });
}

#[test]
fn http2_corpus_replays() {
    replay("http2", http2);
}

/// `fuzz/regressions/http2/h2c-101-without-request` (found by the `http2` target,
/// minimised): the originator sends only `HTTP/1.1 101` with `Upgrade: h2c`, no request.
/// HTTP/1 reports it as a response without request (NO_REQUEST); the analyzer seam
/// (`AppLayer::h2c`) switched to HTTP/2 on it and made that exchange stream 1's request,
/// which no `RequestStarted` had counted. Now such a 101 stays a response without
/// request and stream 1 has no request.
const H2C_101_WITHOUT_REQUEST: &[u8] = b"\x08\x00\x96\x00HTTP/1.1 101\nUpgrade:h2c\n\n";

#[test]
fn h2c_101_without_a_request_counts_no_request() {
    let file = std::fs::read(replay::fuzz_dir().join("regressions/http2/h2c-101-without-request"))
        .unwrap();
    assert_eq!(file, H2C_101_WITHOUT_REQUEST);
    http2(H2C_101_WITHOUT_REQUEST);
}

fn write_seeds(target: &str, seeds: &[(String, Vec<u8>)]) {
    if let Some(dir) = replay::seeds_dir(target) {
        for (name, s) in seeds {
            std::fs::write(dir.join(name), s).unwrap();
        }
    }
}

/// The transcript fixtures, without their expectations (the fuzz target ignores them).
#[test]
fn http_transcript_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/testdata");
    let mut seeds = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "t") {
            let text = std::fs::read_to_string(&p).unwrap();
            let script = text.split("\n== expect").next().unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            seeds.push((name, script.as_bytes().to_vec()));
        }
    }
    assert!(seeds.len() > 30, "fixtures not found");
    for (name, s) in &seeds {
        let (parsed, _) =
            httptop_engine::http::script::parse(std::str::from_utf8(s).unwrap(), 1 << 20)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!parsed.steps.is_empty(), "{name}: no steps");
        http_transcript(s);
    }
    write_seeds("http_transcript", &seeds);
}

/// Encoder of the reassembly script format (see `httptop_engine::fuzzing::reassembly`).
struct Script(Vec<u8>);

impl Script {
    fn new(max_segments: u8, max_bytes: u16, base: u32) -> Self {
        let mut v = vec![max_segments];
        v.extend_from_slice(&max_bytes.to_le_bytes());
        v.extend_from_slice(&base.to_le_bytes());
        Script(v)
    }
    fn seg(mut self, rel: u32, len: u16, fin: bool, alt: bool) -> Self {
        self.0.push(0);
        self.0.extend_from_slice(&rel.to_le_bytes());
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.push(u8::from(fin) | (u8::from(alt) << 1));
        self
    }
    fn syn(mut self, rel: u32) -> Self {
        self.0.push(2);
        self.0.extend_from_slice(&rel.to_le_bytes());
        self
    }
    fn ack(mut self, rel: u32) -> Self {
        self.0.push(3);
        self.0.extend_from_slice(&rel.to_le_bytes());
        self
    }
    fn missing(mut self, rel_end: u32, len: u16) -> Self {
        self.0.push(4);
        self.0.extend_from_slice(&rel_end.to_le_bytes());
        self.0.extend_from_slice(&len.to_le_bytes());
        self
    }
}

#[test]
fn reassembly_seeds() {
    let seeds: Vec<(&str, Script)> = vec![
        (
            "in-order",
            Script::new(16, 4096, 1000)
                .syn(0)
                .seg(1, 100, false, false)
                .seg(101, 100, false, false)
                .seg(201, 0, true, false),
        ),
        (
            "reordered-retransmitted",
            Script::new(16, 4096, 7)
                .seg(200, 100, false, false)
                .seg(0, 100, false, false)
                .seg(100, 100, false, false)
                .seg(100, 100, false, true)
                .seg(300, 10, true, false),
        ),
        (
            "overlaps-disagree",
            Script::new(8, 1000, 50)
                .seg(0, 10, false, false)
                .seg(30, 40, false, false)
                .seg(20, 30, false, true)
                .seg(5, 100, false, true),
        ),
        (
            "wraps",
            Script::new(4, 512, u32::MAX - 50)
                .syn(0)
                .seg(1, 30, false, false)
                .seg(61, 30, false, false)
                .seg(31, 30, false, false),
        ),
        (
            "caps-overflow",
            Script::new(2, 64, 0)
                .seg(0, 10, false, false)
                .seg(20, 10, false, false)
                .seg(40, 10, false, false)
                .seg(60, 100, false, false)
                .seg(10, 10, false, false),
        ),
        (
            "acked-hole",
            Script::new(16, 4096, 123_456)
                .seg(0, 10, false, false)
                .seg(20, 10, false, false)
                .ack(30)
                .seg(30, 10, false, false),
        ),
        (
            "snaplen-cut-and-fin-before-data",
            Script::new(16, 4096, 9)
                .seg(500, 0, true, false)
                .seg(0, 100, false, false)
                .missing(100, 1400)
                .seg(1500, 20, false, false),
        ),
        (
            "far-ahead",
            Script::new(16, 4096, 0)
                .seg(0, 10, false, false)
                .seg(1 << 31, 10, false, false)
                .seg((1 << 30) + 10, 10, false, false),
        ),
    ];
    for (_, s) in &seeds {
        reassembly(&s.0);
    }
    let named: Vec<(String, Vec<u8>)> = seeds
        .into_iter()
        .map(|(n, s)| (n.to_string(), s.0))
        .collect();
    write_seeds("reassembly", &named);
}

/// Encoder of the monitor script format (see `httptop_engine::fuzzing::monitor`).
struct Frames(Vec<u8>);

impl Frames {
    fn new(cfg: u8) -> Self {
        Frames(vec![cfg])
    }
    /// A frame of connection `conn` (from the server when `server`), `tenths` of a
    /// second later, in order unless `jump` is set.
    fn frame(mut self, conn: u8, server: bool, tenths: u8, flags: u8, jump: u8, p: &[u8]) -> Self {
        let len = u8::try_from(p.len()).unwrap();
        self.0.extend_from_slice(&[
            conn | (u8::from(server) << 3) | (tenths << 4),
            flags,
            jump,
            len,
        ]);
        self.0.extend_from_slice(p);
        self
    }
    fn exchange(self, conn: u8, tenths: u8, host: &str) -> Self {
        let req = format!("GET /a/b HTTP/1.1\r\nHost: {host}\r\nUser-Agent: t\r\n\r\n");
        let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        self.frame(conn, false, tenths, 0x18, 0, req.as_bytes())
            .frame(conn, true, 1, 0x18, 0, resp.as_bytes())
    }
}

#[test]
fn monitor_seeds() {
    let mut keepalive = Frames::new(0xff).frame(0, false, 0, 0x02, 0, b"");
    for i in 0..20 {
        keepalive = keepalive.exchange(0, 2, if i % 3 == 0 { "a.example" } else { "b.example" });
    }
    // One flow at a time, an 8 KiB ceiling, one pending request.
    let mut many = Frames::new(0x1c);
    for c in 0..8 {
        many = many.exchange(c, 1, "c.example");
    }
    let ooo = Frames::new(0x25)
        .frame(1, false, 0, 0x18, 3, b"Host: x\r\n\r\n")
        .frame(1, false, 0, 0x18, 0, b"GET / HTTP/1.1\r\n")
        .frame(1, true, 1, 0x18, 0, b"HTTP/1.1 204 No Content\r\n\r\n")
        .frame(1, false, 1, 0x11, 0, b"")
        .frame(1, true, 1, 0x04, 0, b"");
    let pipelined = Frames::new(0x1f).frame(
        2,
        false,
        0,
        0x18,
        0,
        b"GET /1 HTTP/1.1\r\nHost: p\r\n\r\nGET /2 HTTP/1.1\r\nHost: p\r\n\r\nPOST /3 HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\n\r\nabc",
    );
    // Not HTTP: SSH banners both ways, then binary with a segment ahead of a hole (the
    // flow turns opaque and skips, no gap).
    let opaque = Frames::new(0x1f)
        .frame(3, false, 0, 0x02, 0, b"")
        .frame(3, true, 1, 0x18, 0, b"SSH-2.0-OpenSSH_9.2\r\n")
        .frame(3, false, 1, 0x18, 0, b"SSH-2.0-OpenSSH_9.6\r\n")
        .frame(3, false, 1, 0x18, 1, &[0, 0, 1, 0x14, 0x0a, 0xff, 0x81])
        .frame(3, true, 1, 0x18, 0, &[0x17, 0x03, 0x03, 0, 2, 9, 9])
        .frame(3, false, 1, 0x11, 0, b"")
        .frame(3, true, 1, 0x11, 0, b"");
    // An upgrade: 101, then WebSocket frames both ways (opaque under http/1).
    let upgrade = Frames::new(0x1f)
        .frame(
            4,
            false,
            0,
            0x18,
            0,
            b"GET /ws HTTP/1.1\r\nHost: w\r\nUpgrade: websocket\r\n\r\n",
        )
        .frame(
            4,
            true,
            1,
            0x18,
            0,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
        )
        .frame(4, false, 1, 0x18, 0, &[0x81, 0x82, 1, 2, 3, 4, 5, 6])
        .frame(4, false, 1, 0x18, 3, &[0x88, 0x00]);
    let seeds = vec![
        ("keepalive".to_string(), keepalive.0),
        ("many-connections".to_string(), many.0),
        ("out-of-order".to_string(), ooo.0),
        ("pipelined".to_string(), pipelined.0),
        ("opaque".to_string(), opaque.0),
        ("upgrade".to_string(), upgrade.0),
    ];
    let seen: Vec<u64> = seeds.iter().map(|(_, s)| monitor(s)).collect();
    // Keep-alive: 20 exchanges; eight connections with the flow cap of 1: each new one
    // evicts the previous, whose exchange completed; pipelined: three requests without
    // response, reported at the end.
    assert_eq!(
        (seen[0], seen[1], seen[3], seen[4], seen[5]),
        (20, 8, 3, 0, 1),
        "{seen:?}"
    );
    write_seeds("monitor", &seeds);
}

/// HTTP/2 frame types and flags of the seeds.
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// An HTTP/2 frame: the 9-byte header (the length is `payload`'s), then `payload`.
fn h2_frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[ty, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK: an integer with an `n`-bit prefix whose other bits are `first`.
fn hp_int(out: &mut Vec<u8>, first: u8, n: u8, mut v: usize) {
    let mask = (1usize << n) - 1;
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
fn hp_str(out: &mut Vec<u8>, s: &[u8]) {
    hp_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// HPACK: a literal field without indexing whose name is static entry `index`.
fn hp_lit(out: &mut Vec<u8>, index: usize, value: &[u8]) {
    hp_int(out, 0, 4, index);
    hp_str(out, value);
}

/// HPACK: a literal field with incremental indexing and a literal name.
fn hp_insert(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x40);
    hp_str(out, name);
    hp_str(out, value);
}

/// A request block: GET, http, `path`, `:authority` `host`.
fn h2_request(path: &str, host: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    hp_lit(&mut b, 4, path.as_bytes());
    hp_lit(&mut b, 1, host.as_bytes());
    hp_lit(&mut b, 58, b"seed/1");
    b
}

/// Encoder of the http2 script format (see `httptop_engine::fuzzing::http2`).
struct H2Script(Vec<u8>);

impl H2Script {
    /// With the client preface added when `preface`, and split runs in pieces of `piece`.
    fn new(preface: bool, piece: u8) -> Self {
        H2Script(vec![u8::from(preface) | ((piece - 1) << 1)])
    }
    fn step(mut self, resp: bool, gap: bool, bytes: &[u8]) -> Self {
        self.0.push(u8::from(resp) | (u8::from(gap) << 1));
        self.0
            .extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    fn client(self, bytes: &[u8]) -> Self {
        self.step(false, false, bytes)
    }
    fn server(self, bytes: &[u8]) -> Self {
        self.step(true, false, bytes)
    }
    /// SETTINGS both ways (the server's with `settings`) and their ACKs.
    fn settings(self, settings: &[u8]) -> Self {
        self.client(&h2_frame(SETTINGS, 0, 0, &[]))
            .server(
                &[
                    h2_frame(SETTINGS, 0, 0, settings),
                    h2_frame(SETTINGS, 1, 0, &[]),
                ]
                .concat(),
            )
            .client(&h2_frame(SETTINGS, 1, 0, &[]))
    }
    /// Stream `sid`: a GET and its `200` with a two-byte body.
    fn exchange(self, sid: u32, host: &str) -> Self {
        let req = h2_request(&format!("/s/{sid}"), host);
        let mut resp = vec![0x88];
        hp_lit(&mut resp, 28, b"2");
        self.client(&h2_frame(HEADERS, END_STREAM | END_HEADERS, sid, &req))
            .server(
                &[
                    h2_frame(HEADERS, END_HEADERS, sid, &resp),
                    h2_frame(DATA, END_STREAM, sid, b"ok"),
                ]
                .concat(),
            )
    }
}

/// HTTP/2 scripts: clean, gRPC, h2c, gaps, and the hostile shapes of
/// `crates/cli/tests/hostile.rs` in small form (against the fuzz function's small
/// limits: 1 KiB blocks, 8 continuations, 8 streams, a 4 KiB table and list budget).
#[test]
fn http2_seeds() {
    let clean = H2Script::new(true, 7)
        .settings(&[])
        .exchange(1, "a.example")
        .exchange(3, "b.example")
        .exchange(5, "a.example");

    let mut grpc_req = vec![0x83, 0x86];
    hp_lit(&mut grpc_req, 4, b"/pkg.Greeter/SayHello");
    hp_lit(&mut grpc_req, 1, b"grpc.example");
    hp_lit(&mut grpc_req, 31, b"application/grpc");
    hp_insert(&mut grpc_req, b"te", b"trailers");
    let mut grpc_resp = vec![0x88];
    hp_lit(&mut grpc_resp, 31, b"application/grpc+proto");
    let mut trailers = Vec::new();
    hp_insert(&mut trailers, b"grpc-status", b"5");
    hp_insert(&mut trailers, b"grpc-message", b"not found");
    let msg = [0u8, 0, 0, 0, 3, 0x0a, 1, b'x'];
    let grpc = H2Script::new(true, 3)
        .settings(&[0, 4, 0, 0, 0xff, 0xff])
        .client(
            &[
                h2_frame(HEADERS, END_HEADERS, 1, &grpc_req),
                h2_frame(DATA, END_STREAM, 1, &msg),
            ]
            .concat(),
        )
        .server(
            &[
                h2_frame(HEADERS, END_HEADERS, 1, &grpc_resp),
                h2_frame(DATA, 0, 1, &msg),
                h2_frame(HEADERS, END_STREAM | END_HEADERS, 1, &trailers),
            ]
            .concat(),
        );

    let mut up_resp = vec![0x88];
    hp_lit(&mut up_resp, 31, b"text/plain");
    let h2c = H2Script::new(false, 5)
        .client(b"GET /up HTTP/1.1\r\nHost: h2c.example\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        .server(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        .server(
            &[
                h2_frame(SETTINGS, 0, 0, &[]),
                h2_frame(HEADERS, END_HEADERS, 1, &up_resp),
                h2_frame(DATA, END_STREAM, 1, b"hi"),
            ]
            .concat(),
        )
        .client(
            &[
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
                h2_frame(SETTINGS, 0, 0, &[]),
                h2_frame(SETTINGS, 1, 0, &[]),
            ]
            .concat(),
        )
        .exchange(3, "h2c.example");

    // A gap inside a DATA payload (kept in sync), then one in a frame header (lost).
    let gaps = H2Script::new(true, 1)
        .settings(&[])
        .client(&h2_frame(
            HEADERS,
            END_HEADERS,
            1,
            &h2_request("/post", "g.example"),
        ))
        .client(&h2_frame(DATA, END_STREAM, 1, &[b'd'; 40])[..20])
        .step(false, true, &[0; 29])
        .exchange(3, "g.example")
        .step(true, true, &[0; 4])
        .server(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, &[0x88]));

    // HPACK bomb: one 1,000-byte entry referenced 40 times (40 KiB decoded, 4 KiB budget).
    let mut bomb = Vec::new();
    hp_insert(&mut bomb, b"x-bomb", &[b'b'; 1000]);
    bomb.extend_from_slice(&h2_request("/bomb", "bomb.example"));
    bomb.extend(std::iter::repeat_n(0x80 | 62, 40));
    let bomb = H2Script::new(true, 16)
        .settings(&[])
        .client(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, &bomb))
        .exchange(3, "after.example");

    // CONTINUATION flood: a HEADERS without END_HEADERS, 20 CONTINUATIONs, then a HEADERS.
    let mut flood = h2_frame(HEADERS, END_STREAM, 1, &h2_request("/flood", "f.example"));
    for _ in 0..20 {
        flood.extend_from_slice(&h2_frame(CONTINUATION, 0, 1, &[0x82]));
    }
    let flood = H2Script::new(true, 9)
        .settings(&[])
        .client(&flood)
        .exchange(3, "after.example");

    // Rapid reset: 6 streams opened and reset one by one, then 12 opened before their
    // resets (4 over the cap of 8), then a GOAWAY.
    let mut reset = Vec::new();
    for k in 0..6 {
        let sid = 1 + 2 * k;
        reset.extend_from_slice(&h2_frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            sid,
            &h2_request("/r", "r.example"),
        ));
        reset.extend_from_slice(&h2_frame(RST_STREAM, 0, sid, &8u32.to_be_bytes()));
    }
    for k in 6..18 {
        reset.extend_from_slice(&h2_frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            1 + 2 * k,
            &h2_request("/r", "r.example"),
        ));
    }
    for k in 6..18 {
        reset.extend_from_slice(&h2_frame(RST_STREAM, 0, 1 + 2 * k, &8u32.to_be_bytes()));
    }
    let rapid_reset = H2Script::new(true, 33)
        .settings(&[])
        .client(&reset)
        .server(&h2_frame(GOAWAY, 0, 0, &[0, 0, 0, 35, 0, 0, 0, 0]))
        .exchange(37, "late.example");

    // SETTINGS_HEADER_TABLE_SIZE of 4 GiB - 1, a size update to it, big inserts, and
    // references to what our capped table evicted.
    let mut huge = Vec::new();
    hp_int(&mut huge, 0x20, 5, u32::MAX as usize);
    for k in 0..3u8 {
        hp_insert(&mut huge, &[b'n', k], &[k; 900]);
    }
    huge.extend_from_slice(&h2_request("/table", "t.example"));
    let mut refs = h2_request("/again", "t.example");
    refs.extend_from_slice(&[0x80 | 62, 0x80 | 64, 0x80 | 70]);
    let table = H2Script::new(true, 64)
        .settings(&[0, 1, 0xff, 0xff, 0xff, 0xff])
        .client(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, &huge))
        .client(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 3, &refs));

    // Invalid Huffman: a value whose code is all ones past 7 bits of padding (EOS).
    let mut bad_huff = vec![0x82, 0x86, 0x04, 0x84, 0xff, 0xff, 0xff, 0xff];
    hp_lit(&mut bad_huff, 1, b"huff.example");
    let huffman = H2Script::new(true, 2)
        .settings(&[])
        .client(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 1, &bad_huff))
        .exchange(3, "after.example");

    // Padding longer than its frame (HEADERS and DATA), then a clean stream.
    let mut padded = vec![200u8];
    padded.extend_from_slice(&h2_request("/pad", "pad.example"));
    let mut data_pad = vec![50u8];
    data_pad.extend_from_slice(b"abc");
    let padding = H2Script::new(true, 4)
        .settings(&[])
        .client(&h2_frame(HEADERS, END_HEADERS | PADDED, 1, &padded))
        .client(&h2_frame(DATA, END_STREAM | PADDED, 1, &data_pad))
        .exchange(3, "after.example");

    // A DATA frame claiming 16 MiB - 1 (its bytes a gap and a few bytes) and a HEADERS
    // frame over the 1 KiB block cap.
    let mut big = h2_frame(DATA, 0, 1, &[]);
    big[..3].copy_from_slice(&[0xff, 0xff, 0xff]);
    let big_block = [h2_request("/big", "big.example"), vec![0x80 | 2; 1100]].concat();
    let big_frames = H2Script::new(true, 128)
        .settings(&[])
        .client(&h2_frame(
            HEADERS,
            END_HEADERS,
            1,
            &h2_request("/upload", "big.example"),
        ))
        .client(&[big, vec![b'u'; 300]].concat())
        .step(false, true, &[0; 16])
        .step(false, false, &[b'v'; 2000])
        .client(&h2_frame(HEADERS, END_HEADERS | END_STREAM, 3, &big_block));

    let seeds: Vec<(String, Vec<u8>)> = [
        ("clean", clean),
        ("grpc-trailers", grpc),
        ("h2c-upgrade", h2c),
        ("gaps", gaps),
        ("hpack-bomb", bomb),
        ("continuation-flood", flood),
        ("rapid-reset", rapid_reset),
        ("table-size-4gib", table),
        ("invalid-huffman", huffman),
        ("padding-too-long", padding),
        ("big-frames", big_frames),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s.0))
    .collect();
    for (_, s) in &seeds {
        http2(s);
    }
    write_seeds("http2", &seeds);
}

fn tls_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 3, 3];
    v.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn tls_hs(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

fn tls_ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn tls_v16(d: &[u8]) -> Vec<u8> {
    tls_ext(u16::try_from(d.len()).unwrap(), d)[2..].to_vec()
}

fn tls_client_hello(sni: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7; 32]);
    b.push(0);
    b.extend(tls_v16(&[0x2a, 0x2a, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]));
    b.extend([1, 0]);
    let mut name = vec![0];
    name.extend(tls_v16(sni));
    let mut e = tls_ext(0x0a0a, &[]);
    e.extend(tls_ext(0x0000, &tls_v16(&name)));
    e.extend(tls_ext(0x0010, &tls_v16(b"\x02h2\x08http/1.1")));
    e.extend(tls_ext(0x002b, &[4, 0x03, 0x04, 0x03, 0x03]));
    e.extend(tls_ext(0x000d, &tls_v16(&[0x04, 0x03, 0x08, 0x04])));
    b.extend(tls_v16(&e));
    tls_hs(1, &b)
}

fn tls_server_hello(random: [u8; 32], v13: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(random);
    b.extend([0, 0x13, 0x01, 0]);
    let mut e = tls_ext(0x0010, &tls_v16(b"\x02h2"));
    if v13 {
        e.extend(tls_ext(0x002b, &[0x03, 0x04]));
    }
    b.extend(tls_v16(&e));
    tls_hs(2, &b)
}

/// The test leaf certificate of `src/tls/testdata/leaf.der.b64` (base64 decoded here).
fn tls_leaf() -> Vec<u8> {
    let text = include_str!("../src/tls/testdata/leaf.der.b64");
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let v: Vec<u8> = text.bytes().filter_map(val).collect();
    let mut out = Vec::new();
    for c in v.chunks(4) {
        let n = c.iter().fold(0u32, |a, &x| a << 6 | u32::from(x)) << (6 * (4 - c.len()));
        out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
    }
    out
}

/// TLS scripts: a 1.2 handshake with a real certificate (in a CONNECT tunnel too), a
/// 1.3 one with a HelloRetryRequest, a fatal alert, a ClientHello over many records.
#[test]
fn tls_seeds() {
    let leaf = tls_leaf();
    let mut certs = Vec::new();
    for c in [&leaf[..], b"intermediate"] {
        certs.extend_from_slice(&u32::try_from(c.len()).unwrap().to_be_bytes()[1..]);
        certs.extend_from_slice(c);
    }
    let mut cert_msg = u32::try_from(certs.len()).unwrap().to_be_bytes()[1..].to_vec();
    cert_msg.extend(certs);
    let flight = [
        tls_server_hello([9; 32], false),
        tls_hs(11, &cert_msg),
        tls_hs(14, &[]),
    ]
    .concat();
    let tls12 = |connect: bool| {
        H2Script::new(connect, 11)
            .client(&tls_record(22, &tls_client_hello(b"example.com")))
            .server(&tls_record(22, &flight))
            .client(&[tls_record(20, &[1]), tls_record(23, &[0; 40])].concat())
            .server(&[tls_record(20, &[1]), tls_record(23, &[0; 30])].concat())
    };
    let mut hrr_random = [0u8; 32];
    hrr_random.copy_from_slice(
        b"\xcf\x21\xad\x74\xe5\x9a\x61\x11\xbe\x1d\x8c\x02\x1e\x65\xb8\x91\xc2\xa2\x11\x16\x7a\xbb\x8c\x5e\x07\x9e\x09\xe2\xc8\xa8\x33\x9c",
    );
    let hrr = H2Script::new(false, 3)
        .client(&tls_record(22, &tls_client_hello(b"hrr.example")))
        .server(
            &[
                tls_record(22, &tls_server_hello(hrr_random, true)),
                tls_record(20, &[1]),
            ]
            .concat(),
        )
        .client(
            &[
                tls_record(20, &[1]),
                tls_record(22, &tls_client_hello(b"hrr.example")),
            ]
            .concat(),
        )
        .server(
            &[
                tls_record(22, &tls_server_hello([5; 32], true)),
                tls_record(23, &[0; 60]),
            ]
            .concat(),
        )
        .client(&tls_record(23, &[0; 40]));
    let alert = H2Script::new(false, 64)
        .client(&tls_record(22, &tls_client_hello(b"alert.example")))
        .server(&tls_record(21, &[2, 40]));
    let ch = tls_client_hello(b"split.example");
    let mut many = Vec::new();
    for b in ch.chunks(3) {
        many.extend(tls_record(22, b));
    }
    let many = H2Script::new(false, 1)
        .client(&many)
        .step(true, true, &[0; 9]);
    let mid = H2Script::new(false, 4)
        .client(&[tls_record(23, &[1; 300]), tls_record(23, &[2; 30])].concat())
        .server(&tls_record(23, &[3; 2000]))
        .client(&tls_record(21, &[1, 0]));
    let seeds = [
        ("midstream", mid),
        ("tls12", tls12(false)),
        ("tls12-connect", tls12(true)),
        ("tls13-hrr", hrr),
        ("alert", alert),
        ("many-records-gap", many),
    ];
    let seeds: Vec<(String, Vec<u8>)> = seeds
        .into_iter()
        .map(|(n, s)| (n.to_string(), s.0))
        .collect();
    for (_, s) in &seeds {
        tls(s);
    }
    write_seeds("tls", &seeds);
}

/// A TLS plaintext script for [`plain`]: limits byte, then inputs.
struct PlainScript(Vec<u8>);

impl PlainScript {
    fn new(limits: u8) -> Self {
        PlainScript(vec![limits])
    }
    /// Connection `conn`, control bits (`8` read, `16` from the start, `32` SSL_free),
    /// offset byte, tuple byte, data.
    fn input(mut self, conn: u8, bits: u8, jump: u8, tuple: u8, data: &[u8]) -> Self {
        self.0.push(conn | bits);
        self.0.push(jump);
        self.0.push(tuple);
        self.0.push(u8::try_from(data.len()).unwrap());
        self.0.extend_from_slice(data);
        self
    }
}

/// TLS plaintext scripts: curl -> nginx on one host (both ends, a mirror), a remote
/// client with a lost record, a connection picked up mid-stream, HTTP/2 both ways.
#[test]
fn plain_seeds() {
    let req = b"GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let both = PlainScript::new(0x07)
        .input(0, 16, 0, 1, req)
        .input(1, 16 | 8, 0, 2, req)
        .input(1, 16, 0, 2, resp)
        .input(0, 16 | 8, 0, 1, resp)
        .input(1, 32, 0, 2, b"")
        .input(0, 32, 0, 1, b"");
    let lost = PlainScript::new(0x1f)
        .input(3, 16 | 8, 0, 3, req)
        .input(3, 16, 0, 3 | 4, resp)
        .input(3, 16 | 8, 2, 3, req)
        .input(3, 16 | 64, 0, 3, resp);
    let mid = PlainScript::new(0x00)
        .input(5, 8, 0, 3, b"y\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n")
        .input(5, 128, 0, 3, resp);
    let mut h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    h2.extend_from_slice(&[0, 0, 5, 1, 5, 0, 0, 0, 1, 0x82, 0x87, 0x84, 0x41, 0x80]);
    let h2resp = [0, 0, 1, 1, 5, 0, 0, 0, 1, 0x88];
    let http2 = PlainScript::new(0x03)
        .input(6, 16 | 8, 0, 3, &h2)
        .input(6, 16, 0, 3, &h2resp)
        .input(6, 32, 0, 3, b"");
    let seeds = [
        ("both-ends".to_string(), both.0),
        ("lost-record".to_string(), lost.0),
        ("midstream".to_string(), mid.0),
        ("http2".to_string(), http2.0),
    ];
    let mut exchanges = Vec::new();
    for (_, s) in &seeds {
        exchanges.push(plain(s));
    }
    // Once each: the mirror is not a second exchange; the lost record's exchange and
    // the one after it; the mid-stream request; the HTTP/2 stream.
    assert_eq!(exchanges, [1, 2, 1, 1]);
    write_seeds("plain", &seeds);
}
