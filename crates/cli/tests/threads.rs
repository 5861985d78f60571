//! `--threads N` (the sharded engine, `engine/src/shard.rs`, `cli/src/shards.rs`): the
//! same alerts at the same seconds, the same log byte for byte and the same report,
//! whatever the number of decoding threads. Checked on the two generated alert captures
//! (rate; errors and latency) with their known alert times, and on every corpus capture
//! (HTTP/1, pipelining, IPv6, VLANs, PPP, SLL, reordered and lost segments...), and on
//! thousands of connections closed by one sweep and by the end (a worker's events then
//! go to the merge in many pieces within one call).

mod common;

use common::{bin, burst_in, signal_capture, PcapStream, TempDir, SIGNAL_ALERTS, T0};
use httptop_wire::build::flags;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The log (`--log -`) and the JSON report (on standard error with `--log -`).
fn run(cap: &Path, threads: u16, extra: &[&str]) -> (String, String) {
    let out = Command::new(bin())
        .arg("-r")
        .arg(cap)
        .args([
            "--threads",
            &threads.to_string(),
            "--log",
            "-",
            "--output",
            "json",
            "-q",
        ])
        .args(extra)
        .output()
        .expect("run httptop");
    // A damaged corpus capture exits 1 after a complete run; both runs must agree.
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}: {}",
        cap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `(kind, state, seconds after T0)` of every alert line of a log.
fn alerts(log: &str) -> Vec<(String, String, u64)> {
    log.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
        .filter(|e| e["type"] == "alert")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["state"].as_str().unwrap_or("").to_string(),
                e["at"].as_u64().unwrap_or(0).saturating_sub(T0),
            )
        })
        .collect()
}

/// Runs `cap` with 1 thread and with each of `more`: every output equal to the first.
fn same_for_every_thread_count(cap: &Path, extra: &[&str], more: &[u16]) -> (String, String) {
    let one = run(cap, 1, extra);
    for &n in more {
        let other = run(cap, n, extra);
        assert!(
            other.0 == one.0,
            "{}: the log differs with {n} threads",
            cap.display()
        );
        assert!(
            other.1 == one.1,
            "{}: the report differs with {n} threads:\n{}\n---\n{}",
            cap.display(),
            one.1,
            other.1
        );
    }
    one
}

#[test]
fn rate_alert_at_the_same_seconds_whatever_the_threads() {
    let (_dir, cap) = burst_in("threads-burst");
    let extra = ["--learn", "60s", "--window", "10s", "--threshold", "50"];
    let (log, _) = same_for_every_thread_count(&cap, &extra, &[2, 3, 4, 7]);
    let rate: Vec<_> = alerts(&log)
        .into_iter()
        .filter(|(k, _, _)| k == "rate")
        .collect();
    // The times `tests/alerting.rs` derives from the capture's shape.
    assert_eq!(rate.len(), 2, "{rate:?}");
    assert_eq!(
        (rate[0].1.as_str(), rate[1].1.as_str()),
        ("started", "recovered")
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains(r#""type":"exchange""#))
            .count(),
        240
    );
}

#[test]
fn errors_and_latency_alerts_at_the_same_seconds_whatever_the_threads() {
    let dir = TempDir::new("threads-signals");
    let cap = dir.path("signals.pcap");
    signal_capture(&cap);
    let extra = ["--learn", "60s", "--window", "10s"];
    let (log, _) = same_for_every_thread_count(&cap, &extra, &[2, 5]);
    let want: Vec<(String, String, u64)> = SIGNAL_ALERTS
        .iter()
        .map(|&(k, s, at)| (k.to_string(), s.to_string(), at))
        .collect();
    assert_eq!(alerts(&log), want);
}

#[test]
fn every_corpus_capture_reads_the_same_with_threads() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pcaps");
    let mut caps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    caps.sort();
    assert!(
        caps.len() >= 30,
        "{} captures in {}",
        caps.len(),
        dir.display()
    );
    let mut exchanges = 0;
    for cap in &caps {
        let (log, _) = same_for_every_thread_count(cap, &[], &[3]);
        exchanges += log.lines().count();
    }
    assert!(exchanges > 3_000, "{exchanges} log lines over the corpus");
}

/// 3,000 connections, each left with its request unanswered. The first 1,500 go idle
/// and one sweep closes them all (`--flow-timeout 60`, a frame 100 s later); the other
/// 1,500 ask again at 50 s and are closed by the end. Each closing call hands a worker
/// hundreds of events: the pieces it sends within the call merge to the same bytes.
#[test]
fn thousands_closed_at_once_merge_the_same() {
    const CONNS: u32 = 3000;
    const T0_US: u64 = 1_700_000_000_000_000;
    let dir = TempDir::new("threads-mass-close");
    let cap = dir.path("mass-close.pcap");
    let file = std::io::BufWriter::new(std::fs::File::create(&cap).expect("create capture"));
    let mut s = PcapStream::new(file, T0_US).expect("pcap header");
    let server = ([10, 0, 0, 2], 80);
    let client = |i: u32| ([10, 1, (i >> 8) as u8, i as u8], 40_000 + (i % 1000) as u16);
    let (syn, ack, psh) = (flags::SYN, flags::ACK, flags::PSH | flags::ACK);
    let request = |i: u32, n: u32| format!("GET /c/{i}/{n} HTTP/1.1\r\nHost: mass.example\r\n\r\n");
    let mut next_seq = Vec::new();
    for i in 0..CONNS {
        let (c, cs, ss) = (client(i), 1000 + i, 9000 + i);
        s.tcp(c, server, cs, 0, syn, b"").expect("write");
        s.tcp(server, c, ss, cs + 1, syn | ack, b"").expect("write");
        let req = request(i, 0);
        s.tcp(c, server, cs + 1, ss + 1, psh, req.as_bytes())
            .expect("write");
        next_seq.push(cs + 1 + req.len() as u32);
    }
    s.t_us = T0_US + 50_000_000;
    for i in CONNS / 2..CONNS {
        let req = request(i, 1);
        let (c, ss) = (client(i), 9000 + i);
        s.tcp(c, server, next_seq[i as usize], ss + 1, psh, req.as_bytes())
            .expect("write");
    }
    s.t_us = T0_US + 100_000_000;
    s.tcp(([10, 2, 0, 1], 50_000), server, 1, 0, syn, b"")
        .expect("write");
    s.flush().expect("flush");
    drop(s);

    let (log, report) = same_for_every_thread_count(&cap, &["--flow-timeout", "60"], &[2, 3]);
    let exchanges = log
        .lines()
        .filter(|l| l.contains(r#""type":"exchange""#))
        .count();
    assert_eq!(exchanges, 4500);
    let report: serde_json::Value = serde_json::from_str(&report).expect("json report");
    assert_eq!(report["counters"]["flows_timed_out"], 1500, "{report}");
    assert_eq!(report["counters"]["flows_closed"], 3001, "{report}");
}
