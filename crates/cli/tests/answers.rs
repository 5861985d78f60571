//! Responses that are not HTTP/1.x status lines, and latency percentiles, through the
//! release binary on captures generated here (issue 11, points 3 and 4): a lower-case
//! status line, a garbage answer and an HTTP/0.9 answer are reported as what they are
//! (MALFORMED with their bytes, or a body until close), never as a lost response (GAP);
//! the p50 of one 931 ms exchange is within 1 % of 931 ms.

mod common;

use common::{bin, tcp_frame, Pcap, TempDir, FIN_ACK, PSH_ACK, SYN};
use serde_json::json as j;
use std::process::Command;

const ACK: u8 = common::ACK;

/// One connection: handshake, the request at `t_us + 3 ms`, the response `latency_us`
/// later, FINs.
fn connection(p: &mut Pcap, t_us: u64, port: u16, req: &[u8], resp: &[u8], latency_us: u64) {
    let c = ([10, 0, 0, 1], port);
    let s = ([10, 0, 0, 2], 80);
    let (ci, si) = (1000u32, 5000u32);
    let (rq, rs) = (req.len() as u32, resp.len() as u32);
    p.record(t_us, &tcp_frame(c, s, ci, 0, SYN, b""));
    p.record(t_us + 1000, &tcp_frame(s, c, si, ci + 1, SYN | ACK, b""));
    p.record(t_us + 2000, &tcp_frame(c, s, ci + 1, si + 1, ACK, b""));
    p.record(t_us + 3000, &tcp_frame(c, s, ci + 1, si + 1, PSH_ACK, req));
    let tr = t_us + 3000 + latency_us;
    p.record(tr, &tcp_frame(s, c, si + 1, ci + 1 + rq, PSH_ACK, resp));
    p.record(
        tr + 1000,
        &tcp_frame(s, c, si + 1 + rs, ci + 1 + rq, FIN_ACK, b""),
    );
    p.record(
        tr + 2000,
        &tcp_frame(c, s, ci + 1 + rq, si + 2 + rs, FIN_ACK, b""),
    );
    p.record(
        tr + 3000,
        &tcp_frame(s, c, si + 2 + rs, ci + 2 + rq, ACK, b""),
    );
}

fn run(pcap: &Pcap, name: &str, args: &[&str]) -> Vec<u8> {
    let dir = TempDir::new(name);
    let path = dir.path("answers.pcap");
    std::fs::write(&path, &pcap.bytes).expect("write capture");
    let out = Command::new(bin())
        .arg("-r")
        .arg(&path)
        .args(args)
        .output()
        .expect("run httptop");
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

#[test]
fn answers_without_status_line_are_malformed_or_http09_never_gap() {
    let t = 1_700_000_000_000_000;
    let mut p = Pcap::new(1);
    let lower: &[u8] = b"http/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    connection(
        &mut p,
        t,
        40_001,
        b"GET /lower HTTP/1.1\r\nHost: x\r\n\r\n",
        lower,
        931_000,
    );
    let h09: &[u8] = b"<html>old</html>\n";
    connection(
        &mut p,
        t + 2_000_000,
        40_002,
        b"GET /old.html\r\n",
        h09,
        1000,
    );
    let garbage: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n\x00\x01not http\r\n";
    let two = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    connection(&mut p, t + 4_000_000, 40_003, two, garbage, 1000);
    let log = run(&p, "answers", &["--log", "-", "--output", "json"]);
    let ex: Vec<serde_json::Value> = String::from_utf8(log)
        .expect("the log is UTF-8")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "exchange")
        .collect();
    let got: Vec<(String, serde_json::Value, u64, serde_json::Value)> = ex
        .iter()
        .map(|v| {
            (
                v["path"].as_str().unwrap_or_default().to_string(),
                v["status"].clone(),
                v["response_bytes"].as_u64().unwrap_or(u64::MAX),
                v["flags"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "/lower".into(),
                j!(null),
                lower.len() as u64,
                j!(["malformed"])
            ),
            ("/old.html".into(), j!(null), h09.len() as u64, j!([])),
            ("/a".into(), j!(204), 27, j!([])),
            ("/b".into(), j!(null), 12, j!(["malformed"])),
        ],
        "{ex:#?}"
    );
    assert_eq!(ex[1]["version"], "0.9");
}

/// The issue's case: one exchange answered after 931 ms was reported with a p50 of
/// 867 ms (an 11 % histogram); now within 1 %.
#[test]
fn single_exchange_p50_within_one_percent() {
    let t = 1_700_000_000_000_000;
    let mut p = Pcap::new(1);
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    connection(
        &mut p,
        t,
        40_001,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        ok,
        931_000,
    );
    let out = run(&p, "p50", &["--output", "json", "-q"]);
    let report: serde_json::Value = serde_json::from_slice(&out).expect("one JSON document");
    let srv = &report["servers"][0];
    for k in ["p50_ms", "p95_ms", "p99_ms"] {
        let v = srv[k].as_f64().unwrap_or_default();
        assert!((v - 931.0).abs() < 9.31, "{k} {v} ms in {srv}");
    }
}
