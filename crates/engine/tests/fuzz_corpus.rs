//! Replays the fuzz corpora and regressions of the `http_transcript`, `reassembly`,
//! `preface` and `monitor` targets (`fuzz/corpus/<target>`, `fuzz/regressions/<target>`) through the same
//! functions the fuzzer runs, and checks the seeds the corpora were started from: the
//! transcript fixtures (`src/http/testdata/*.t`) and reassembly scripts written here. With
//! `HTTPTOP_FUZZ_SEEDS=DIR` set, the seeds are also written to `DIR/<target>/` (see
//! `fuzz/README.md`).

#![allow(clippy::unwrap_used)]

use httptop_engine::fuzzing::{http_transcript, monitor, preface, reassembly};
use std::path::Path;

#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn http_transcript_corpus_replays() {
    replay("http_transcript", http_transcript);
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
