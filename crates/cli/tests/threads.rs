//! `--threads N` (the sharded engine, `engine/src/shard.rs`, `cli/src/shards.rs`): the
//! same alerts at the same seconds, the same log byte for byte and the same report,
//! whatever the number of decoding threads. Checked on the two generated alert captures
//! (rate; errors and latency) with their known alert times, and on every corpus capture
//! (HTTP/1, pipelining, IPv6, VLANs, PPP, SLL, reordered and lost segments...).

mod common;

use common::{bin, burst_in, signal_capture, TempDir, SIGNAL_ALERTS, T0};
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
