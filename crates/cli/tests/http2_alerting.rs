//! Exact alerting on HTTP/2 (issue 12): the quiet/burst/quiet shape of
//! `tests/alerting.rs` (see its module docs for the arithmetic), carried by HTTP/2 with
//! prior knowledge instead of HTTP/1.1, must alert and recover at the same exact seconds
//! with the same figures, and the same as the HTTP/1 capture does.
//!
//! The capture is written here, frame by frame: one connection per second (the client
//! preface, SETTINGS both ways and their ACKs, then the second's requests as streams 1,
//! 3, 5... of that connection), each request a HEADERS frame (END_STREAM, END_HEADERS)
//! whose head is in the packet at the same instant as the HTTP/1 request head of
//! `common::burst_capture`, answered 1 ms later by HEADERS (`:status` 200,
//! `content-length: 2`) and DATA `ok` (END_STREAM). Header blocks are encoded by hand:
//! `:method GET` and `:scheme http` indexed from the static table, `:path` and
//! `user-agent` literals without indexing, `:authority` a literal with incremental
//! indexing on a connection's first stream and the dynamic table's entry 62 on the
//! others (so the decoder's dynamic table is used).
//!
//! tshark (`-d tcp.port==80,http2`), when installed, must read 240 requests and 240
//! `200` responses from it: the capture is what it says.

mod common;

use common::h2::{count_request, count_status, diff, have, tshark_counts, Counts, DecodeAs};
use common::h2wire::{answer_ok, connection, hp_str, literal, Call};
use common::{bin, burst_in, tcp_frame, Pcap, TempDir, ACK, T0};
use std::path::Path;
use std::process::Command;

const HOST: &str = "shop.example";
const UA: &str = "loadgen/1";

/// The request header block of stream `first` or a later one of its connection.
fn request_block(path: &str, first: bool) -> Vec<u8> {
    let mut b = vec![0x82, 0x86]; // :method GET, :scheme http
    literal(&mut b, 4, path); // :path
    if first {
        b.push(0x41); // literal with incremental indexing, name :authority (1)
        hp_str(&mut b, HOST.as_bytes());
    } else {
        b.push(0x80 | 62); // the dynamic table's first entry: :authority shop.example
    }
    literal(&mut b, 58, UA); // user-agent
    b
}

/// The burst shape of `common::burst_capture` over HTTP/2; returns the requests' count.
fn h2_burst_capture(path: &Path) -> usize {
    let mut p = Pcap::new(1);
    p.record(
        T0 * 1_000_000,
        &tcp_frame(([10, 0, 0, 9], 9), ([10, 0, 0, 2], 80), 1, 1, ACK, b""),
    );
    let mut n_requests = 0;
    for k in 0..200u64 {
        let n = if (100..110).contains(&k) { 5 } else { 1 };
        // Same instants as the HTTP/1 capture's request heads (its `exchange` puts
        // them 3 ms after the connection's first packet).
        let calls: Vec<Call> = (0..n)
            .map(|i| {
                let t = (T0 + k) * 1_000_000 + 500_000 + i * 10_000 - 10_000 * (n - 1);
                Call {
                    t_us: t + 3000,
                    block: request_block(&format!("/burst/{k}/{i}"), i == 0),
                    answer: answer_ok,
                }
            })
            .collect();
        n_requests += calls.len();
        let c = ([10, 0, 0, 1], 20_000 + k as u16);
        connection(&mut p, c, ([10, 0, 0, 2], 80), &calls);
    }
    std::fs::write(path, p.bytes).expect("write capture");
    n_requests
}

/// The log's records of `capture` read with the alerting options of `tests/alerting.rs`.
fn run(capture: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(bin())
        .arg("-r")
        .arg(capture)
        .args(["--learn", "60s", "--window", "10s", "--threshold", "50"])
        .args(["--log", "-", "-q"])
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn http2_burst_alerts_and_recovers_at_exact_times() {
    let dir = TempDir::new("ht12-h2-burst");
    let cap = dir.path("h2-burst.pcap");
    let n = h2_burst_capture(&cap);
    assert_eq!(n, 240);

    if have("tshark") {
        let mut want = Counts::new();
        for _ in 0..n {
            count_request(&mut want, "GET", HOST);
            count_status(&mut want, "200");
        }
        let theirs = tshark_counts(&cap, 80, DecodeAs::Http2);
        assert_eq!(
            diff(&theirs, &want),
            Default::default(),
            "tshark's reading of the scripted capture (the fixture, not httptop)"
        );
    } else {
        eprintln!("tshark not installed: the fixture is not cross-checked");
    }

    let records = run(&cap);
    let exchanges: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["type"] == "exchange").collect();
    let events: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r["type"] != "exchange")
        // The request-rate alert only (errors and latency have tests of their own).
        .filter(|r| r["kind"] == "rate")
        .cloned()
        .collect();

    // Every request is an HTTP/2 exchange: stream ids 1, 3, 5... GET, 200.
    assert_eq!(exchanges.len(), n, "exchanges");
    for e in &exchanges {
        assert_eq!(e["version"], "2", "{e}");
        assert_eq!(e["method"], "GET", "{e}");
        assert_eq!(e["host"], HOST, "{e}");
        assert_eq!(e["user_agent"], UA, "{e}");
        assert_eq!(e["status"], 200, "{e}");
        assert!(e["stream_id"].as_u64().is_some_and(|s| s % 2 == 1), "{e}");
    }

    // The exact seconds; every other figure is checked against the HTTP/1.1 burst's
    // events below (whose own figures `tests/alerting.rs` asserts).
    let at: Vec<(&serde_json::Value, &serde_json::Value)> =
        events.iter().map(|e| (&e["type"], &e["at"])).collect();
    assert_eq!(
        at,
        [
            (&"learning_finished".into(), &(T0 + 60).into()),
            (&"alert".into(), &(T0 + 102).into()),
            (&"alert".into(), &(T0 + 119).into()),
        ],
        "{events:?}"
    );

    // The same events, to the message, as the same shape over HTTP/1.1.
    let (_h1_dir, h1) = burst_in("ht12-h1-burst");
    let h1_events: Vec<serde_json::Value> = run(&h1)
        .into_iter()
        .filter(|r| r["type"] != "exchange" && r["kind"] == "rate")
        .collect();
    assert_eq!(events, h1_events);
}
