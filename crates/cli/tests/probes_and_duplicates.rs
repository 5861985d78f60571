//! Issue 11, points 1 and 2, end to end: captures generated here (frames from
//! `httptop_wire::build`), read by the binary under test (`-r FILE --log`), and compared
//! with tshark's HTTP reading of the same file (requests per method and Host, responses
//! per status code), when tshark is installed (`.ci/run` installs it):
//! - connections picked up mid-stream whose first segment is a TCP keep-alive probe
//!   (1 garbage byte one below the next sequence number), then a request and its response;
//! - a response sent into a zero window (1-byte probes, then the rest once it opens);
//! - what a SPAN port mirroring several VLANs gives: every segment again on a second
//!   802.1Q VLAN, lagging behind so that copies arrive after their connection closed,
//!   then the whole traffic once more on a third VLAN.
//!
//! Each exchange is reported once and complete, none without request, with the matching
//! counters set.

mod common;

use common::{bin, tcp_frame, Pcap, TempDir, ACK, FIN_ACK, PSH_ACK, SYN};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

type Endpoint = ([u8; 4], u16);
type Counts = BTreeMap<String, i64>;

const SERVER: Endpoint = ([10, 0, 0, 2], 80);
const T0_US: u64 = 1_700_000_000_000_000;

fn request(k: usize) -> Vec<u8> {
    format!(
        "GET /item/{k} HTTP/1.1\r\nHost: shop{}.example\r\n\r\n",
        k % 3
    )
    .into_bytes()
}

fn response(k: usize) -> Vec<u8> {
    let (code, body) = if k % 4 == 3 {
        ("404 Not Found", "missing")
    } else {
        ("200 OK", "found it")
    };
    format!(
        "HTTP/1.1 {code}\r\nContent-Length: {}\r\nServer: t\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Inserts an 802.1Q tag with VLAN `vid` into an Ethernet frame.
fn vlan(f: &[u8], vid: u16) -> Vec<u8> {
    let mut v = f[..12].to_vec();
    v.extend_from_slice(&[0x81, 0x00]);
    v.extend_from_slice(&vid.to_be_bytes());
    v.extend_from_slice(&f[12..]);
    v
}

/// The same frame advertising a zero window (untagged Ethernet/IPv4/TCP frames only).
fn zero_window(mut f: Vec<u8>) -> Vec<u8> {
    f[48..50].copy_from_slice(&[0, 0]);
    f
}

/// Frames of connection `k` from `c`: handshake, request, response, FINs, last ACK.
fn connection(c: Endpoint, k: usize) -> Vec<Vec<u8>> {
    let (req, resp) = (request(k), response(k));
    let (ci, si) = (1000 + 77 * k as u32, 500_000 + 91 * k as u32);
    let (rq, rs) = (req.len() as u32, resp.len() as u32);
    vec![
        tcp_frame(c, SERVER, ci, 0, SYN, b""),
        tcp_frame(SERVER, c, si, ci + 1, SYN | ACK, b""),
        tcp_frame(c, SERVER, ci + 1, si + 1, ACK, b""),
        tcp_frame(c, SERVER, ci + 1, si + 1, PSH_ACK, &req),
        tcp_frame(SERVER, c, si + 1, ci + 1 + rq, PSH_ACK, &resp),
        tcp_frame(c, SERVER, ci + 1 + rq, si + 1 + rs, FIN_ACK, b""),
        tcp_frame(SERVER, c, si + 1 + rs, ci + 2 + rq, FIN_ACK, b""),
        tcp_frame(c, SERVER, ci + 2 + rq, si + 2 + rs, ACK, b""),
    ]
}

fn write(path: &Path, frames: &[Vec<u8>]) {
    let mut p = Pcap::new(1);
    for (i, f) in frames.iter().enumerate() {
        p.record(T0_US + 1000 * i as u64, f);
    }
    std::fs::write(path, p.bytes).expect("write capture");
}

fn bump(c: &mut Counts, k: String) {
    *c.entry(k).or_insert(0) += 1;
}

/// What httptop reports: counts per method, Host and status from the log, the number of
/// exchanges without request or not complete, and the JSON report.
fn httptop(dir: &TempDir, cap: &Path) -> (Counts, usize, Value) {
    let log = dir.path("log.jsonl");
    let out = Command::new(bin())
        .arg("-r")
        .arg(cap)
        .args(["--output", "json", "--log"])
        .arg(&log)
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    let mut c = Counts::new();
    let mut odd = 0;
    for line in std::fs::read_to_string(&log).expect("log").lines() {
        let ex: Value = serde_json::from_str(line).expect("log line");
        if ex["type"] != "exchange" {
            continue;
        }
        if ex["flags"].as_array().is_none_or(|f| !f.is_empty()) {
            odd += 1;
        }
        if let Some(m) = ex["method"].as_str().filter(|m| !m.is_empty()) {
            bump(&mut c, "requests".into());
            bump(&mut c, format!("method:{m}"));
            bump(
                &mut c,
                format!("host:{}", ex["host"].as_str().unwrap_or("")),
            );
        }
        if let Some(s) = ex["status"].as_u64() {
            bump(&mut c, format!("status:{s}"));
        }
    }
    (c, odd, report)
}

/// tshark's reading, counted the same way; `None` when tshark is not installed.
fn tshark(cap: &Path) -> Option<Counts> {
    let run = |filter: &str, fields: &[&str]| -> Option<String> {
        let mut cmd = Command::new("tshark");
        cmd.arg("-r").arg(cap).args(["-Y", filter, "-T", "fields"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
        let out = cmd.output().ok()?;
        assert!(out.status.success(), "tshark failed");
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut c = Counts::new();
    for line in run("http.request", &["http.request.method", "http.host"])?.lines() {
        let mut f = line.split('\t');
        bump(&mut c, "requests".into());
        bump(&mut c, format!("method:{}", f.next().unwrap_or("")));
        bump(&mut c, format!("host:{}", f.next().unwrap_or("")));
    }
    for line in run("http.response", &["http.response.code"])?.lines() {
        bump(&mut c, format!("status:{line}"));
    }
    Some(c)
}

/// Runs both readers on `frames`: httptop must report `n` exchanges, all complete, and
/// agree with tshark. Returns httptop's report.
fn check(name: &str, frames: &[Vec<u8>], n: i64) -> Value {
    let dir = TempDir::new(&format!("ht11r-{name}"));
    let cap = dir.path(&format!("{name}.pcap"));
    write(&cap, frames);
    let (ours, odd, report) = httptop(&dir, &cap);
    assert_eq!(ours.get("requests"), Some(&n), "{name}: {ours:?}");
    assert_eq!(odd, 0, "{name}: exchanges flagged (no_request, gap...)");
    match tshark(&cap) {
        Some(theirs) => assert_eq!(ours, theirs, "{name}: httptop vs tshark"),
        None => eprintln!("{name}: tshark not installed, comparison skipped"),
    }
    report
}

fn counter(report: &Value, path: &str) -> u64 {
    let mut v = &report["counters"];
    for p in path.split('.') {
        v = &v[p];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("no counter {path}: {}", report["counters"]))
}

#[test]
fn mid_stream_pickup_starting_with_a_keepalive_probe() {
    let mut frames = Vec::new();
    for k in 0..6 {
        let c = ([10, 0, 1, k as u8], 50_000);
        let (req, resp) = (request(k), response(k));
        let (x, y) = (7_000 + 1000 * k as u32, 900_000u32);
        let (rq, rs) = (req.len() as u32, resp.len() as u32);
        for _ in 0..2 {
            frames.push(tcp_frame(c, SERVER, x - 1, y, ACK, b"\0"));
            frames.push(tcp_frame(SERVER, c, y, x, ACK, b""));
        }
        frames.push(tcp_frame(c, SERVER, x, y, PSH_ACK, &req));
        frames.push(tcp_frame(SERVER, c, y, x + rq, PSH_ACK, &resp));
        frames.push(tcp_frame(c, SERVER, x + rq, y + rs, FIN_ACK, b""));
        frames.push(tcp_frame(SERVER, c, y + rs, x + rq + 1, FIN_ACK, b""));
    }
    let r = check("keepalive", &frames, 6);
    assert_eq!(counter(&r, "reasm.keepalive_probes"), 12);
    assert_eq!(counter(&r, "reasm.gaps"), 0);
}

#[test]
fn response_sent_into_a_zero_window() {
    let c = ([10, 0, 1, 99], 50_100);
    let conn = connection(c, 0);
    let mut frames = conn[..4].to_vec();
    let (req, resp) = (request(0), response(0));
    let (cn, sn) = (1001 + req.len() as u32, 500_001u32);
    let (head, rest) = resp.split_at(20);
    frames.push(tcp_frame(SERVER, c, sn, cn, PSH_ACK, head));
    let s2 = sn + head.len() as u32;
    frames.push(zero_window(tcp_frame(c, SERVER, cn, s2, ACK, b"")));
    for _ in 0..3 {
        frames.push(tcp_frame(SERVER, c, s2, cn, ACK, &rest[..1]));
        frames.push(zero_window(tcp_frame(c, SERVER, cn, s2, ACK, b"")));
    }
    frames.push(tcp_frame(c, SERVER, cn, s2, ACK, b""));
    frames.push(tcp_frame(SERVER, c, s2, cn, PSH_ACK, rest));
    let rs = resp.len() as u32;
    frames.push(tcp_frame(c, SERVER, cn, sn + rs, FIN_ACK, b""));
    frames.push(tcp_frame(SERVER, c, sn + rs, cn + 1, FIN_ACK, b""));
    let r = check("zero_window", &frames, 1);
    assert_eq!(counter(&r, "reasm.zero_window_probes"), 3);
    assert_eq!(counter(&r, "reasm.overlaps"), 0);
}

#[test]
fn the_same_traffic_seen_on_three_vlans() {
    const N: usize = 24;
    let conns: Vec<Vec<u8>> = (0..N)
        .flat_map(|k| connection(([10, 0, 2, k as u8], 40_000 + k as u16), k))
        .collect();
    let mut frames = Vec::new();
    // The second copy lags 11 frames behind: more than a connection's 8 frames.
    let lag = 11;
    for i in 0..conns.len() + lag {
        if let Some(f) = conns.get(i) {
            frames.push(vlan(f, 10));
        }
        if let Some(f) = i.checked_sub(lag).and_then(|j| conns.get(j)) {
            frames.push(vlan(f, 20));
        }
    }
    frames.extend(conns.iter().map(|f| vlan(f, 30)));
    let r = check("three_vlans", &frames, N as i64);
    assert_eq!(counter(&r, "flows_created"), N as u64);
    // Every copy that could open a flow (SYN, SYN-ACK, request, response) after the
    // close, at least the third VLAN's.
    assert!(counter(&r, "late_duplicates") >= 4 * N as u64);
    assert_eq!(counter(&r, "closed_evicted"), 0);
}

/// Probes in real captures of the shared corpus, counted by httptop and by tshark's TCP
/// analysis (`tcp.analysis.keep_alive`, `tcp.analysis.zero_window_probe`): (capture,
/// httptop's keep-alive and zero-window probes, tshark's minus httptop's, why).
const CORPUS_PROBES: &[(&str, u64, u64, u64, &str)] = &[
    ("ndpi-1kxun.pcap", 20, 0, 0, ""),
    ("ndpi-ocsp.pcapng", 97, 0, 0, ""),
    ("ppp-example.pcap", 2, 0, 0, ""),
    ("sv-mime-truncated.pcap", 0, 5, 0, ""),
    ("zeek-docker-http-upgrade-2375.pcap", 6, 0, 0, ""),
    // A pure ACK at the sequence number of the FIN it follows (frame 102): tshark calls
    // it a keep-alive; httptop has closed the connection at the second FIN (stray).
    (
        "arkime-retrans-4000.pcap",
        0,
        0,
        1,
        "pure ACK after the FINs",
    ),
    // Shuffled frames: tshark's analysis follows capture order.
    ("tcpflow-lines-randomized.pcap", 0, 0, 1, "shuffled capture"),
];

#[test]
fn probes_in_the_corpus_match_tshark() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pcaps");
    if !corpus.is_dir() {
        eprintln!("skipped: ../shared/corpus not found");
        return;
    }
    for &(name, ka, zwp, tshark_more, why) in CORPUS_PROBES {
        let path = corpus.join(name);
        let file = std::fs::File::open(&path).expect("open capture");
        let mut src = httptop_capture::FileSource::new(std::io::BufReader::new(file))
            .expect("capture header");
        let mut engine = httptop_engine::Engine::new(httptop_engine::Limits::default());
        let mut sink = |_: &httptop_engine::Exchange| {};
        while let Ok(Some(frame)) = src.next_frame() {
            engine.on_frame(&frame, &mut sink);
        }
        engine.finish(&mut sink);
        let r = &engine.counters().reasm;
        assert_eq!(
            (r.keepalive_probes, r.zero_window_probes),
            (ka, zwp),
            "{name}"
        );
        let out = match Command::new("tshark")
            .arg("-r")
            .arg(&path)
            .args([
                "-Y",
                "tcp.analysis.keep_alive || tcp.analysis.zero_window_probe",
            ])
            .args(["-T", "fields", "-e", "frame.number"])
            .output()
        {
            Ok(o) if o.status.success() => o,
            _ => {
                eprintln!("{name}: tshark not installed, comparison skipped");
                continue;
            }
        };
        let theirs = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
        assert_eq!(theirs, ka + zwp + tshark_more, "{name}: tshark ({why})");
    }
}
