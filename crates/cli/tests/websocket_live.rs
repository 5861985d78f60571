//! WebSocket end to end (issue 12, point 5): a real WebSocket server and client
//! (`websocket/ws_pair.py`, Python's `websockets`, Debian `python3-websockets`) on
//! 127.0.0.1, captured live on `lo` by httptop and by tcpdump.
//!
//! The client sends text and binary messages whose sizes cross the 7-, 16- and 64-bit
//! length encodings, the server answers with its own, the client closes with code 1000
//! and a reason (compression and keep-alive pings off: one frame per message, payload =
//! message). Checked:
//! - httptop live, and httptop reading the tcpdump capture back with `-r`: the upgrade
//!   request is logged (status 101); the Protocols table counts the connection under
//!   `http/1` (the bytes up to the end of the 101's head) and under `websocket` (every
//!   byte after it); the websocket counters equal what the client and server sent and
//!   what tshark decodes (frames, payload bytes; no malformed frame, no gap).
//! - tshark on the tcpdump capture (`-d tcp.port==PORT,http`, `-Y websocket`): opcodes,
//!   FIN and payload lengths of every frame each way equal the plan, and the websocket
//!   row's bytes equal the frames' header and payload bytes tshark lists.
//!
//! Needs root (capture on `lo`), tcpdump, tshark and /usr/bin/python3 with `websockets`
//! (`.ci/run` installs them); skipped with a message otherwise (failing under CI=true).
//! The server listens on a free port picked at start; every process is killed when the
//! test ends, on failure too.

mod common;

use common::live::{flush_capture, free_port, is_root, require, start_capturing, start_tcpdump};
use common::{bin, TempDir};
use serde_json::Value;

use std::path::Path;
use std::process::{Command, Stdio};

/// Debian's interpreter, where `python3-websockets` installs.
const PYTHON: &str = "/usr/bin/python3";
const PATH: &str = "/chat?room=ht12ws";

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn environment_ok() -> bool {
    let websockets = Command::new(PYTHON)
        .args(["-c", "import websockets"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    require(is_root(), "root (capture on lo)")
        && ["tcpdump", "tshark"].iter().all(|t| require(has(t), t))
        && require(websockets, "python3-websockets (for /usr/bin/python3)")
}

/// One frame as tshark decodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Frame {
    to_server: bool,
    opcode: u8,
    fin: bool,
    len: u64,
    masked: bool,
}

impl Frame {
    /// Header and payload bytes on the wire.
    fn wire_bytes(&self) -> u64 {
        let ext = match self.len {
            0..=125 => 0,
            126..=0xffff => 2,
            _ => 8,
        };
        2 + ext + 4 * u64::from(self.masked) + self.len
    }
}

/// tshark's WebSocket frames in `file`, the server on `port`. Several frames in one
/// packet come as comma-separated occurrences; the extended lengths are listed only for
/// the frames that have one, in frame order.
fn tshark_frames(file: &Path, port: u16) -> Vec<Frame> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-d", &format!("tcp.port=={port},http"), "-Y", "websocket"])
        .args(["-T", "fields", "-E", "occurrence=a", "-e", "tcp.srcport"])
        .args(["-e", "websocket.opcode", "-e", "websocket.fin"])
        .args(["-e", "websocket.payload_length"])
        .args(["-e", "websocket.payload_length_ext_16"])
        .args(["-e", "websocket.payload_length_ext_64"])
        .args(["-e", "websocket.mask"])
        .stderr(Stdio::null())
        .output()
        .expect("tshark");
    assert!(out.status.success(), "tshark: {out:?}");
    let mut frames = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<Vec<&str>> = line
            .split('\t')
            .map(|c| c.split(',').filter(|v| !v.is_empty()).collect())
            .collect();
        let col = |i: usize| f.get(i).cloned().unwrap_or_default();
        let num = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("{line:?}"));
        let flag = |s: &str| s == "1" || s == "True";
        let to_server = col(0).first().map(|p| num(p)) != Some(u64::from(port));
        let (mut ext16, mut ext64) = (col(4).into_iter(), col(5).into_iter());
        let (ops, fins, masks) = (col(1), col(2), col(6));
        for (i, l) in col(3).into_iter().enumerate() {
            let len = match num(l) {
                126 => num(ext16.next().expect("16-bit length")),
                127 => num(ext64.next().expect("64-bit length")),
                n => n,
            };
            frames.push(Frame {
                to_server,
                opcode: num(ops[i]) as u8,
                fin: flag(fins[i]),
                len,
                masked: flag(masks[i]),
            });
        }
    }
    frames
}

/// The end-of-run JSON report's Protocols row `name`: (connections, requests, bytes to
/// server, bytes to client).
fn row(report: &Value, name: &str) -> (u64, u64, u64, u64) {
    let rows = report["protocols"].as_array().expect("protocols rows");
    let r = rows
        .iter()
        .find(|r| r["protocol"] == name)
        .unwrap_or_else(|| panic!("no {name} row in {rows:?}"));
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
    (
        n("connections"),
        n("requests"),
        n("bytes_to_server"),
        n("bytes_to_client"),
    )
}

/// A counter of the JSON report, wherever its group nests it.
fn counter(report: &Value, name: &str) -> u64 {
    fn find(v: &Value, name: &str) -> Option<u64> {
        match v {
            Value::Object(m) => m
                .get(name)
                .and_then(Value::as_u64)
                .or_else(|| m.values().find_map(|x| find(x, name))),
            _ => None,
        }
    }
    find(&report["counters"], name).unwrap_or_else(|| panic!("no counter {name}"))
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// What one httptop run (live or `-r`) said: the log and the end-of-run report.
fn check_run(what: &str, log: &[Value], report: &Value, frames: &[Frame], want: &Want) {
    let upgrade: Vec<&Value> = log
        .iter()
        .filter(|v| v["type"] == "exchange" && v["status"] == 101)
        .collect();
    assert_eq!(
        upgrade.len(),
        1,
        "{what}: the upgrade request is logged: {log:?}"
    );
    assert_eq!(upgrade[0]["path"], PATH, "{what}");
    assert_eq!(upgrade[0]["method"], "GET", "{what}");
    let bytes = |to_server: bool| -> u64 {
        frames
            .iter()
            .filter(|f| f.to_server == to_server)
            .map(Frame::wire_bytes)
            .sum()
    };
    let (http1, ws) = (row(report, "http/1"), row(report, "websocket"));
    assert_eq!(
        ws,
        (1, 0, bytes(true), bytes(false)),
        "{what}: websocket row"
    );
    assert_eq!((http1.0, http1.1), (1, 1), "{what}: http/1 row");
    let n = |k| counter(report, k);
    let payload: u64 = frames.iter().map(|f| f.len).sum();
    assert_eq!(n("websocket_frames"), frames.len() as u64, "{what}");
    assert_eq!(n("websocket_payload_bytes"), payload, "{what}");
    assert_eq!(n("websocket_messages"), want.messages(), "{what}");
    assert_eq!(
        (n("websocket_malformed"), n("websocket_gaps")),
        (0, 0),
        "{what}"
    );

    // The WebSocket session record of the log (Event::WebSocket).
    let records: Vec<&Value> = log.iter().filter(|v| v["type"] == "websocket").collect();
    assert_eq!(records.len(), 1, "{what}: {records:?}");
    let r = records[0];
    assert_eq!(r["path"], PATH, "{what}: {r}");
    assert_eq!(r["messages_to_server"], want.to_server.len(), "{what}: {r}");
    assert_eq!(r["messages_to_client"], want.to_client.len(), "{what}: {r}");
    let count = |to_server: bool| frames.iter().filter(|f| f.to_server == to_server).count();
    assert_eq!(r["frames_to_server"], count(true), "{what}: {r}");
    assert_eq!(r["frames_to_client"], count(false), "{what}: {r}");
    let payload = |to_server: bool| -> u64 {
        frames
            .iter()
            .filter(|f| f.to_server == to_server)
            .map(|f| f.len)
            .sum()
    };
    assert_eq!(r["payload_to_server"], payload(true), "{what}: {r}");
    assert_eq!(r["payload_to_client"], payload(false), "{what}: {r}");
    assert_eq!(r["close_code"], 1000, "{what}: {r}");
    assert_eq!(r["close_reason"], want.reason.as_str(), "{what}: {r}");
}

/// What the Python pair sent: (kind, size) of each message each way, the close reason.
struct Want {
    to_server: Vec<(String, u64)>,
    to_client: Vec<(String, u64)>,
    reason: String,
}

impl Want {
    fn parse(line: &str) -> Want {
        let v: Value = serde_json::from_str(line.trim()).expect("ws_pair output");
        let list = |k: &str| -> Vec<(String, u64)> {
            v[k].as_array()
                .expect("plan")
                .iter()
                .map(|m| {
                    (
                        m[0].as_str().expect("kind").to_string(),
                        m[1].as_u64().expect("size"),
                    )
                })
                .collect()
        };
        Want {
            to_server: list("to_server"),
            to_client: list("to_client"),
            reason: v["reason"].as_str().expect("reason").to_string(),
        }
    }

    fn messages(&self) -> u64 {
        (self.to_server.len() + self.to_client.len()) as u64
    }

    /// The frames the plan implies (one per message, then a Close each way, the client's
    /// with code and reason), compared with tshark's.
    fn check_frames(&self, frames: &[Frame]) {
        for (to_server, plan) in [(true, &self.to_server), (false, &self.to_client)] {
            let got: Vec<&Frame> = frames.iter().filter(|f| f.to_server == to_server).collect();
            assert_eq!(got.len(), plan.len() + 1, "{got:?}");
            for (f, (kind, size)) in got.iter().zip(plan.iter()) {
                let opcode = if kind == "text" { 1 } else { 2 };
                assert_eq!(
                    (f.opcode, f.fin, f.len, f.masked),
                    (opcode, true, *size, to_server),
                    "{f:?}"
                );
            }
            let close = got[plan.len()];
            assert_eq!((close.opcode, close.masked), (8, to_server), "{close:?}");
            if to_server {
                assert_eq!(close.len, 2 + self.reason.len() as u64);
            }
        }
    }
}

#[test]
fn websocket_frames_and_messages_each_way_match_the_plan_and_tshark() {
    if !environment_ok() {
        return;
    }
    let dir = TempDir::new("websocket-live");
    let (port, marker) = (free_port(), free_port());
    let pcap = dir.path("ws.pcap");
    let tcpdump = start_tcpdump(&pcap, &[port, marker]);
    let (log, report) = (dir.path("live.jsonl"), dir.path("live.json"));
    // The report goes to standard output with --log FILE: the shell redirects it and
    // execs httptop (same pid, so the capture helper signals httptop itself).
    let live = start_capturing(
        Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" -i lo -f "tcp port $1" --log "$2" --output json > "$3""#)
            .arg(bin())
            .arg(port.to_string())
            .arg(&log)
            .arg(&report),
    );
    let pair = Command::new(PYTHON)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/websocket/ws_pair.py"))
        .arg(port.to_string())
        .arg(PATH)
        .stderr(Stdio::inherit())
        .output()
        .expect("run ws_pair.py");
    assert!(pair.status.success(), "ws_pair.py: {pair:?}");
    let want = Want::parse(&String::from_utf8_lossy(&pair.stdout));
    flush_capture(&pcap, marker);
    drop(tcpdump);
    // httptop has the connection once its FINs are in: tcpdump saw them, and the
    // shutdown reads what the kernel holds.
    let stderr = live.stop();

    let frames = tshark_frames(&pcap, port);
    want.check_frames(&frames);
    // The end-of-run report is the last line (live output may print periodic ones).
    let text = std::fs::read_to_string(&report).expect("live report");
    let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    let live_report: Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {text}; stderr: {stderr}"));
    check_run("live", &lines(&log), &live_report, &frames, &want);

    // The same capture read back.
    let (log2, report2) = (dir.path("read.jsonl"), dir.path("read.json"));
    let out = Command::new(bin())
        .arg("-r")
        .arg(&pcap)
        .arg("--log")
        .arg(&log2)
        .args(["--output", "json", "-q"])
        .output()
        .expect("httptop -r");
    assert!(out.status.success(), "httptop -r: {out:?}");
    std::fs::write(&report2, &out.stdout).expect("report");
    let read_report: Value = serde_json::from_slice(&out.stdout).expect("-r report");
    check_run("-r", &lines(&log2), &read_report, &frames, &want);
}
