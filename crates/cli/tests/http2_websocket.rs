//! WebSocket over HTTP/2 (RFC 8441, issue 12): a scripted prior-knowledge connection
//! whose server announces SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, then three extended
//! CONNECT streams (`:protocol websocket`): stream 1 answered 200 carries masked client
//! frames and server frames inside DATA frames (a text frame cut across two DATA frames,
//! a padded DATA frame, a fragmented binary message with a ping between its fragments)
//! and ends with a Close (code and reason) and END_STREAM each way; stream 3 is answered
//! 403 (no WebSocket); stream 5, answered 200, is reset by the client.
//!
//! httptop (`-r`) must log three CONNECT exchanges and two `websocket` records (version
//! 2, their stream ids) with the frames the script sent; the protocols row `websocket`
//! counts the two sessions. tshark, when installed, must read the capture as HTTP/2
//! (three CONNECT requests, two 200 and one 403). Debian's tshark 4.0 does not decode
//! WebSocket inside HTTP/2 (it shows the DATA as "tunneled data"; no dissector can be
//! set on `http2.streamid`), so its DATA payloads (padding removed by tshark) are
//! concatenated per stream and direction and walked as RFC 6455 frames here: frames,
//! messages and payload bytes must equal httptop's per stream and direction. Should a
//! later tshark decode the frames itself, its count must equal the script's.
//!
//! A second test runs real implementations (`websocket/h2ws_pair.py`: hyper-h2 and
//! wsproto, with Huffman-coded HPACK and the dynamic table, DATA frames cut at 16 KiB,
//! 16-bit WebSocket lengths) on `lo` under tcpdump, and checks httptop's record of the
//! capture against the plan the pair printed and against tshark's DATA walked the same
//! way.

mod common;

use common::h2::{count_request, count_status, diff, have, tshark_counts, Counts, DecodeAs};
use common::h2wire::{frame, literal, literal_named, DATA, END_HEADERS, END_STREAM, HEADERS};
use common::h2wire::{PREFACE, SETTINGS, SETTINGS_ACK};
use common::{bin, tcp_frame, Pcap, TempDir, ACK, FIN_ACK, PSH_ACK, SYN, T0};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

const PORT: u16 = 8441;
const HOST: &str = "chat.example";
const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
const RST_STREAM: u8 = 3;
const PADDED: u8 = 0x8;

/// A WebSocket frame (payload under 126 bytes), masked with `key` if given.
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

/// The extended CONNECT's header block.
fn connect_block(path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    literal(&mut b, 2, "CONNECT"); // :method
    literal_named(&mut b, ":protocol", "websocket");
    literal(&mut b, 6, "http"); // :scheme
    literal(&mut b, 4, path); // :path
    literal(&mut b, 1, HOST); // :authority
    literal_named(&mut b, "sec-websocket-version", "13");
    b
}

/// Frames sent by the script, per direction: (client to server, server to client).
const FRAMES: [(u64, u64); 2] = [(5, 3), (1, 1)];

/// Writes the capture.
fn capture(path: &Path) {
    let c = ([10, 0, 0, 1], 40_001);
    let s = ([10, 0, 0, 2], PORT);
    let mut p = Pcap::new(1);
    let (mut cs, mut ss) = (1000u32, 5000u32);
    let mut t = T0 * 1_000_000;
    p.record(t, &tcp_frame(c, s, cs, 0, SYN, b""));
    p.record(t + 100, &tcp_frame(s, c, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    p.record(t + 200, &tcp_frame(c, s, cs, ss, ACK, b""));
    let mut send = |p: &mut Pcap, from_client: bool, data: Vec<u8>| {
        t += 1000;
        if from_client {
            p.record(t, &tcp_frame(c, s, cs, ss, PSH_ACK, &data));
            cs += data.len() as u32;
        } else {
            p.record(t, &tcp_frame(s, c, ss, cs, PSH_ACK, &data));
            ss += data.len() as u32;
        }
    };
    let hs = |b: &[u8], id| frame(HEADERS, END_HEADERS, id, b);
    send(
        &mut p,
        true,
        [PREFACE, &frame(SETTINGS, 0, 0, b"")].concat(),
    );
    // SETTINGS_ENABLE_CONNECT_PROTOCOL (8) = 1, and the ACK of the client's.
    send(
        &mut p,
        false,
        [
            frame(SETTINGS, 0, 0, &[0, 8, 0, 0, 0, 1]),
            frame(SETTINGS, SETTINGS_ACK, 0, b""),
        ]
        .concat(),
    );
    send(&mut p, true, frame(SETTINGS, SETTINGS_ACK, 0, b""));

    // Stream 1: a WebSocket session.
    send(&mut p, true, hs(&connect_block("/chat"), 1));
    send(&mut p, false, hs(&[0x88], 1)); // :status 200
    let hello = ws(true, 0x1, b"hello", Some(KEY));
    send(&mut p, true, frame(DATA, 0, 1, &hello[..5]));
    send(&mut p, true, frame(DATA, 0, 1, &hello[5..]));
    send(
        &mut p,
        false,
        frame(DATA, 0, 1, &ws(true, 0x1, b"hello", None)),
    );
    let mut padded = vec![4u8];
    padded.extend(ws(false, 0x2, b"\x01\x02\x03", Some(KEY)));
    padded.extend(ws(true, 0x9, b"p", Some(KEY)));
    padded.extend(ws(true, 0x0, b"\x04\x05", Some(KEY)));
    padded.extend([0; 4]);
    send(&mut p, true, frame(DATA, PADDED, 1, &padded));
    send(&mut p, false, frame(DATA, 0, 1, &ws(true, 0xa, b"p", None)));
    send(
        &mut p,
        true,
        frame(DATA, END_STREAM, 1, &ws_close(1000, b"bye", Some(KEY))),
    );
    send(
        &mut p,
        false,
        frame(DATA, END_STREAM, 1, &ws_close(1000, b"", None)),
    );

    // Stream 3: refused.
    send(&mut p, true, hs(&connect_block("/admin"), 3));
    let mut b = Vec::new();
    literal(&mut b, 8, "403"); // :status
    send(
        &mut p,
        false,
        [hs(&b, 3), frame(DATA, END_STREAM, 3, b"no")].concat(),
    );

    // Stream 5: a session reset by the client.
    send(&mut p, true, hs(&connect_block("/feed"), 5));
    send(&mut p, false, hs(&[0x88], 5));
    send(
        &mut p,
        false,
        frame(DATA, 0, 5, &ws(true, 0x1, b"tick", None)),
    );
    send(
        &mut p,
        true,
        frame(DATA, 0, 5, &ws(true, 0x1, b"ok", Some(KEY))),
    );
    send(&mut p, true, frame(RST_STREAM, 0, 5, &8u32.to_be_bytes()));

    t += 1000;
    p.record(t, &tcp_frame(c, s, cs, ss, FIN_ACK, b""));
    p.record(t + 100, &tcp_frame(s, c, ss, cs + 1, FIN_ACK, b""));
    p.record(t + 200, &tcp_frame(c, s, cs + 1, ss + 1, ACK, b""));
    std::fs::write(path, p.bytes).expect("write capture");
}

/// The log's records and the JSON report of `capture` (the log written to `log`).
fn run(capture: &Path, log: &Path) -> (Vec<Value>, Value) {
    let out = Command::new(bin())
        .arg("-r")
        .arg(capture)
        .arg("--log")
        .arg(log)
        .args(["--output", "json", "-q"])
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = std::fs::read_to_string(log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let report = serde_json::from_slice(&out.stdout).expect("report");
    (records, report)
}

type PerStream<T> = BTreeMap<(u64, bool), T>;

/// tshark's HTTP/2 DATA payloads (padding removed) concatenated per stream and direction:
/// (stream, to server) -> bytes.
fn tshark_data(file: &Path, port: u16) -> PerStream<Vec<u8>> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args([
            "-d",
            &format!("tcp.port=={port},http2"),
            "-Y",
            "http2.type==0",
        ])
        .args(["-T", "fields", "-E", "occurrence=a", "-e", "tcp.srcport"])
        .args([
            "-e",
            "http2.type",
            "-e",
            "http2.streamid",
            "-e",
            "http2.data.data",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("tshark");
    assert!(out.status.success(), "tshark: {out:?}");
    let mut m = PerStream::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<Vec<&str>> = line.split('\t').map(|c| c.split(',').collect()).collect();
        let to_server = f[0][0] != port.to_string();
        // The payloads are listed for the DATA frames only, in frame order.
        let mut data = f[3].iter();
        for (ty, id) in f[1].iter().zip(&f[2]) {
            if *ty == "0" {
                // An empty payload (END_STREAM alone) is listed as `<MISSING>`.
                let hex = match *data.next().expect("a DATA payload") {
                    "<MISSING>" => "",
                    h => h,
                };
                let bytes = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"));
                m.entry((id.parse().expect("stream id"), to_server))
                    .or_insert_with(Vec::new)
                    .extend(bytes);
            }
        }
    }
    m
}

/// Walks RFC 6455 frames: (frames, complete data messages, payload bytes).
fn walk(mut b: &[u8]) -> (u64, u64, u64) {
    let (mut frames, mut messages, mut payload) = (0, 0, 0);
    while b.len() >= 2 {
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        let be = |n: usize| {
            b[2..(2 + n).min(b.len())]
                .iter()
                .fold(0usize, |a, x| a << 8 | usize::from(*x))
        };
        let (len, mut at) = match b[1] & 0x7f {
            126 => (be(2), 4),
            127 => (be(8), 10),
            n => (usize::from(n), 2),
        };
        if b[1] & 0x80 != 0 {
            at += 4;
        }
        frames += 1;
        payload += len as u64;
        if fin && opcode < 8 {
            messages += 1;
        }
        b = &b[(at + len).min(b.len())..];
    }
    (frames, messages, payload)
}

/// tshark's WebSocket frames (its own decoding), if it decodes any inside HTTP/2.
fn tshark_websocket_frames(file: &Path) -> usize {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-d", &format!("tcp.port=={PORT},http2"), "-Y", "websocket"])
        .args([
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-e",
            "websocket.opcode",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("tshark");
    assert!(out.status.success(), "tshark: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split([',', '\n'])
        .filter(|v| !v.trim().is_empty())
        .count()
}

#[test]
fn websocket_over_http2_extended_connect() {
    let dir = TempDir::new("ht12-h2ws");
    let cap = dir.path("h2ws.pcap");
    capture(&cap);

    let mut oracle = None;
    if have("tshark") {
        let mut want = Counts::new();
        for code in ["200", "403", "200"] {
            count_request(&mut want, "CONNECT", HOST);
            count_status(&mut want, code);
        }
        let theirs = tshark_counts(&cap, PORT, DecodeAs::Http2);
        assert_eq!(
            diff(&theirs, &want),
            Default::default(),
            "tshark's reading of the scripted capture (the fixture, not httptop)"
        );
        // Debian's tshark (4.0) marks the DATA of an extended CONNECT "tunneled data"
        // and does not decode WebSocket in it (nor can it be told to: no dissector is
        // registered for `http2.streamid`). Its DATA payloads, padding removed, are
        // walked here instead and must show the frames httptop reports.
        let ws_frames = tshark_websocket_frames(&cap);
        eprintln!("tshark decodes {ws_frames} WebSocket frames inside HTTP/2");
        let data = tshark_data(&cap, PORT);
        oracle = Some(
            data.into_iter()
                .filter(|((id, _), _)| *id != 3)
                .map(|(k, v)| (k, walk(&v)))
                .collect::<PerStream<_>>(),
        );
        if ws_frames > 0 {
            let total: u64 = FRAMES.iter().map(|(a, b)| a + b).sum();
            assert_eq!(ws_frames as u64, total, "tshark's WebSocket frames");
        }
    } else {
        eprintln!("tshark not installed: the fixture is not cross-checked");
    }

    let (records, report) = run(&cap, &dir.path("h2ws.jsonl"));
    let exchanges: Vec<&Value> = records.iter().filter(|r| r["type"] == "exchange").collect();
    let got: Vec<(u64, &str, u64)> = exchanges
        .iter()
        .map(|e| {
            (
                e["stream_id"].as_u64().unwrap(),
                e["method"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "CONNECT", 200),
            (3, "CONNECT", 403),
            (5, "CONNECT", 200)
        ]
    );

    let sessions: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "websocket")
        .collect();
    assert_eq!(sessions.len(), 2, "{records:?}");
    let (a, b) = (sessions[0], sessions[1]);
    for (s, id, path) in [(a, 1, "/chat"), (b, 5, "/feed")] {
        assert_eq!(s["version"], "2", "{s}");
        assert_eq!(s["stream_id"], id, "{s}");
        assert_eq!(s["host"], HOST, "{s}");
        assert_eq!(s["path"], path, "{s}");
        assert_eq!(s["client"], "10.0.0.1:40001", "{s}");
    }
    let n = |s: &Value, k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(
        (n(a, "frames_to_server"), n(a, "frames_to_client")),
        FRAMES[0]
    );
    assert_eq!(
        (n(a, "messages_to_server"), n(a, "messages_to_client")),
        (2, 1)
    );
    assert_eq!(
        (n(a, "payload_to_server"), n(a, "payload_to_client")),
        (5 + 3 + 1 + 2 + 5, 5 + 1 + 2)
    );
    assert_eq!(
        (a["close_code"].clone(), a["close_reason"].clone()),
        (1000.into(), "bye".into())
    );
    assert_eq!(a["flags"], serde_json::json!([]), "{a}");
    assert_eq!(
        (n(b, "frames_to_server"), n(b, "frames_to_client")),
        FRAMES[1]
    );
    assert_eq!(b["flags"], serde_json::json!(["truncated", "reset"]), "{b}");

    let row = report["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["protocol"] == "websocket")
        .unwrap()
        .clone();
    assert_eq!(row["connections"], 2, "{row}");

    // httptop's counts against those walked from tshark's DATA payloads.
    if let Some(theirs) = oracle {
        let mut ours = PerStream::new();
        for s in &sessions {
            let id = n(s, "stream_id");
            for (to_server, dir) in [(true, "server"), (false, "client")] {
                let k = |what: &str| n(s, &format!("{what}_to_{dir}"));
                ours.insert((id, to_server), (k("frames"), k("messages"), k("payload")));
            }
        }
        assert_eq!(ours, theirs, "httptop vs tshark's DATA walked");
        eprintln!("httptop = tshark (DATA walked): {ours:?}");
    }
    assert_eq!(row["bytes_to_server"], 0, "{row}");
}

/// Debian's interpreter, where `python3-h2` and `python3-wsproto` install.
const PYTHON: &str = "/usr/bin/python3";

/// A real pair (`websocket/h2ws_pair.py`: hyper-h2 and wsproto, see its docs) on
/// 127.0.0.1, captured by tcpdump on `lo`; httptop reads the capture back (`-r`). Its
/// session record must equal the plan the pair printed and the frames walked from
/// tshark's DATA payloads of the same capture. Needs root, tcpdump, tshark and
/// python3-h2 and python3-wsproto for /usr/bin/python3 (`.ci/run` installs them);
/// skipped with a message otherwise (failing under CI=true).
#[test]
fn websocket_over_http2_between_hyper_h2_and_wsproto() {
    use common::h2::Tcpdump;
    use common::live::{free_port, is_root, require};
    let modules = Command::new(PYTHON)
        .args(["-c", "import h2, wsproto"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(require(is_root(), "root (capture on lo)")
        && require(have("tcpdump") && have("tshark"), "tcpdump and tshark")
        && require(
            modules,
            "python3-h2 and python3-wsproto (for /usr/bin/python3)",
        ))
    {
        return;
    }
    let dir = TempDir::new("ht12-h2ws-live");
    let port = free_port();
    let tcpdump = Tcpdump::start(port, &dir.path("live.pcap"));
    let pair = Command::new(PYTHON)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/websocket/h2ws_pair.py"))
        .arg(port.to_string())
        .arg("/chat?ht12h2ws")
        .stderr(Stdio::inherit())
        .output()
        .expect("run h2ws_pair.py");
    let cap = tcpdump.stop();
    assert!(pair.status.success(), "h2ws_pair.py: {pair:?}");
    let plan: Value = serde_json::from_slice(&pair.stdout).expect("h2ws_pair output");
    let sizes = |k: &str| -> Vec<u64> {
        plan[k]
            .as_array()
            .expect("plan")
            .iter()
            .map(|m| m[1].as_u64().expect("size"))
            .collect()
    };
    let (up, down) = (sizes("to_server"), sizes("to_client"));
    let reason = plan["reason"].as_str().expect("reason");

    let (records, report) = run(&cap, &dir.path("live.jsonl"));
    let x: Vec<&Value> = records.iter().filter(|r| r["type"] == "exchange").collect();
    assert_eq!(x.len(), 1, "{records:?}");
    assert_eq!(
        (&x[0]["method"], &x[0]["status"]),
        (&"CONNECT".into(), &200.into())
    );
    let s: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "websocket")
        .collect();
    assert_eq!(s.len(), 1, "{records:?}");
    let s = s[0];
    let n = |k: &str| s[k].as_u64().unwrap_or_else(|| panic!("{k} in {s}"));
    assert_eq!(
        (s["version"].as_str(), n("stream_id")),
        (Some("2"), 1),
        "{s}"
    );
    assert_eq!(s["path"], "/chat?ht12h2ws", "{s}");
    assert_eq!(s["host"], format!("127.0.0.1:{port}"), "{s}");
    // One frame per message, then a Close each way (the client's: code and reason).
    let ours = (
        (
            n("frames_to_server"),
            n("messages_to_server"),
            n("payload_to_server"),
        ),
        (
            n("frames_to_client"),
            n("messages_to_client"),
            n("payload_to_client"),
        ),
    );
    let plan_counts = |m: &[u64], close: u64| {
        let k = m.len() as u64;
        (k + 1, k, m.iter().sum::<u64>() + close)
    };
    assert_eq!(
        ours,
        (
            plan_counts(&up, 2 + reason.len() as u64),
            plan_counts(&down, 2)
        ),
        "httptop vs the plan"
    );
    assert_eq!(
        (n("close_code"), s["close_reason"].as_str()),
        (1000, Some(reason))
    );
    assert_eq!(s["flags"], serde_json::json!([]), "{s}");
    let theirs: PerStream<_> = tshark_data(&cap, port)
        .into_iter()
        .map(|(k, v)| (k, walk(&v)))
        .collect();
    let ours: PerStream<_> = [((1, true), ours.0), ((1, false), ours.1)].into();
    assert_eq!(ours, theirs, "httptop vs tshark's DATA walked");
    eprintln!("httptop = plan = tshark (DATA walked): {ours:?}");
    let row = report["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["protocol"] == "websocket")
        .unwrap()
        .clone();
    assert_eq!(row["connections"], 1, "{row}");
}
