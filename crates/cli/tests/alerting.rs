//! A capture with a known shape (quiet, a burst, quiet again), replayed: the learning
//! end, the baseline, the alert time, the peak and the recovery time are exact, and the
//! same on every replay and with a saved baseline.
//!
//! Shape (T0 a whole second; one request per connection, its head at k + 0.503 s):
//! one request per second for k in 0..100 and 110..200, five per second for k in
//! 100..110. With `--learn 60s --window 10s --threshold 50`: learning sees 60 requests,
//! so the baseline is 10 per window and an evaluation alerts above 15 hits. The
//! evaluation at second S counts seconds [S-10, S): S = 101 sees 9 + 5 = 14, S = 102
//! sees 8 + 10 = 18 (alert), S = 110 sees 50 (the peak), S = 118 sees 8×5... down to
//! 2 burst seconds (18, still over), S = 119 sees one burst second: 9 + 5 = 14, recovered
//! after 17 s.

mod common;

use common::{bin, burst_in};
use std::process::Command;

use common::T0;

fn run(capture: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(bin())
        .arg("-r")
        .arg(capture)
        .args([
            "--learn",
            "60s",
            "--window",
            "10s",
            "--threshold",
            "50",
            "--log",
            "-",
            "-q",
        ])
        .args(extra)
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
        .filter(|v: &serde_json::Value| v["type"] != "exchange")
        // The request-rate alert only (errors and latency have tests of their own).
        .filter(|v| v["kind"] == "rate")
        .collect()
}

#[test]
fn burst_alerts_and_recovers_at_exact_times() {
    let (dir, cap) = burst_in("burst");

    let events = run(&cap, &[]);
    let types: Vec<String> = events
        .iter()
        .map(|e| format!("{}/{}", e["type"], e["state"]))
        .collect();
    assert_eq!(
        types,
        [
            "\"learning_finished\"/null",
            "\"alert\"/\"started\"",
            "\"alert\"/\"recovered\""
        ],
        "{events:?}"
    );
    let (learned, started, recovered) = (&events[0], &events[1], &events[2]);
    assert_eq!(learned["at"], T0 + 60);
    assert_eq!(learned["baseline"], 10);
    assert_eq!(learned["learned_requests"], 60);
    assert_eq!(started["at"], T0 + 102);
    assert_eq!(started["hits"], 18);
    assert_eq!(started["baseline"], 10);
    assert_eq!(started["threshold"], 50);
    assert_eq!(
        started["message"],
        format!(
            "High traffic generated an alert - hits = 18, triggered at {}",
            "2023-11-14 22:15:02"
        )
    );
    assert_eq!(recovered["at"], T0 + 119);
    assert_eq!(recovered["duration_s"], 17);
    assert_eq!(recovered["peak"], 50);
    assert_eq!(recovered["hits"], 14);
    assert_eq!(recovered["baseline"], 10);
    assert_eq!(recovered["threshold"], 50);

    // Replays are identical.
    assert_eq!(run(&cap, &[]), events);

    // A saved baseline skips learning and gives the same alert.
    let base = dir.path("baseline.txt");
    let first = run(
        &cap,
        &["--baseline-file", base.to_str().expect("utf-8 path")],
    );
    assert_eq!(first, events, "learning run saves the baseline");
    let reused = run(
        &cap,
        &["--baseline-file", base.to_str().expect("utf-8 path")],
    );
    assert_eq!(reused.len(), 2, "{reused:?}");
    assert_eq!(reused[0], started.clone());
    assert_eq!(reused[1], recovered.clone());

    // The file is created empty at start-up (before privileges are dropped); one left
    // empty by a run stopped before learning finished counts as absent.
    let empty = dir.path("empty-baseline.txt");
    std::fs::write(&empty, "").expect("empty file");
    let relearned = run(
        &cap,
        &["--baseline-file", empty.to_str().expect("utf-8 path")],
    );
    assert_eq!(relearned, events, "an empty file: learning again");
    assert_eq!(
        std::fs::read(&empty).expect("baseline"),
        std::fs::read(&base).expect("baseline"),
        "the same baseline saved"
    );
}

#[test]
fn report_lists_the_alert_history() {
    let (_dir, cap) = burst_in("burst-report");
    let out = Command::new(bin())
        .arg("-r")
        .arg(&cap)
        .args([
            "--learn",
            "60s",
            "--window",
            "10s",
            "--threshold",
            "50",
            "--output",
            "json",
            "-q",
        ])
        .output()
        .expect("run httptop");
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["requests"], 240);
    assert_eq!(report["responses"], 240);
    assert_eq!(report["baseline"], 10);
    assert_eq!(
        report["alerts"],
        serde_json::json!([{"start": T0 + 102, "end": T0 + 119, "peak": 50, "duration_s": 17}])
    );
    // Every table, for the retention window.
    let first = |t: &str| report[t][0].clone();
    assert_eq!(first("hosts")["key"], "shop.example");
    assert_eq!(first("hosts")["count"], 240);
    assert_eq!(first("hosts")["error"], 0);
    assert_eq!(first("sections")["key"], "shop.example/burst");
    assert_eq!(first("user_agents")["key"], "loadgen/1");
    assert_eq!(first("methods")["key"], "GET");
    assert_eq!(first("status_codes")["key"], "200");
    assert_eq!(first("status_codes")["count"], 240);
    assert_eq!(first("status_classes")["key"], "2xx");
    assert_eq!(first("clients")["key"], "10.0.0.1");
    assert_eq!(first("clients")["count"], 240);
    // Request heads differ in length with k and i; their bytes are summed exactly.
    let request_bytes: u64 = (0..200u64)
        .flat_map(|k| (0..if (100..110).contains(&k) { 5 } else { 1 }).map(move |i| (k, i)))
        .map(|(k, i)| format!("GET /burst/{k}/{i} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: loadgen/1\r\n\r\n").len() as u64)
        .sum();
    let bytes = first("bytes_by_host");
    assert_eq!(bytes["request_bytes"], request_bytes);
    assert_eq!(bytes["response_bytes"], 240 * 40);
    let server = first("servers");
    assert_eq!(server["key"], "shop.example");
    assert_eq!(server["errors_5xx"], 0);
    // Every response comes 1 ms after its request head (histogram error under 1%).
    let p50 = server["p50_ms"].as_f64().unwrap_or_default();
    assert!((0.99..=1.01).contains(&p50), "p50 {p50} ms");
}

#[test]
fn realtime_replay_prints_blocks_and_alert_lines() {
    let (_dir, cap) = burst_in("burst-realtime");
    // 200 s of capture at 100x: about 2 s.
    let out = Command::new(bin())
        .arg("-r")
        .arg(&cap)
        .args(["--realtime", "--speed", "100", "--refresh", "250ms"])
        .args([
            "--learn",
            "60s",
            "--window",
            "10s",
            "--threshold",
            "50",
            "-q",
        ])
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let alert = "High traffic generated an alert - hits = 18, triggered at 2023-11-14 22:15:02";
    let recovered =
        "Recovered from high traffic at 2023-11-14 22:15:19 - alert lasted 17s, peak 50 hits";
    let a = text
        .find(alert)
        .unwrap_or_else(|| panic!("no alert line in:\n{text}"));
    let r = text
        .find(recovered)
        .unwrap_or_else(|| panic!("no recovery line in:\n{text}"));
    assert!(a < r);
    // Periodic blocks came during the replay (at least 2 s of pacing, a block every
    // 250 ms), before the end-of-run report.
    let blocks = text.matches("\nhttptop ").count() + usize::from(text.starts_with("httptop "));
    assert!(blocks >= 3, "periodic blocks: {blocks}\n{text}");
    assert!(text.contains("httptop report: "));
}

#[test]
fn demo_needs_no_privileges_and_alerts_then_recovers() {
    // About a minute of synthetic traffic at 60x.
    let out = Command::new(bin())
        .args(["--demo", "--speed", "60", "-q"])
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let learned = text.find("Learning finished at ").expect("learning line");
    let alert = text
        .find("High traffic generated an alert - hits = ")
        .expect("alert line");
    let recovered = text
        .find("Recovered from high traffic at ")
        .expect("recovery line");
    assert!(learned < alert && alert < recovered, "{text}");
    assert!(
        text.contains("httptop report: demo (synthetic traffic)"),
        "{text}"
    );
}

#[test]
fn control_bytes_from_the_wire_never_reach_plain_or_json_output() {
    let dir = common::TempDir::new("hostile");
    let cap = dir.path("hostile.pcap");
    let mut p = common::Pcap::new(1);
    let req = b"GET /\x1b[2J\x1b]0;pwned\x07/x\x08\x7f HTTP/1.1\r\nHost: evil\x1b[31m.example\r\nUser-Agent: \x1b[1;1H\x9b2J\xc2\x9b\xe2\x80\xaeua\r\n\r\n";
    common::exchange(
        &mut p,
        T0 * 1_000_000,
        30_000,
        req,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    std::fs::write(&cap, &p.bytes).expect("write");
    for output in ["plain", "json"] {
        let out = Command::new(bin())
            .arg("-r")
            .arg(&cap)
            .args(["--output", output, "-q"])
            .output()
            .expect("run");
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).expect("valid UTF-8 output");
        assert!(text.contains("evil"), "{text}");
        for ch in text.chars() {
            let c = ch as u32;
            let control = (c < 0x20 && ch != '\n')
                || (0x7f..0xa0).contains(&c)
                || (0x202a..=0x202e).contains(&c);
            assert!(
                !control,
                "{output}: control character U+{c:04X} in:\n{text}"
            );
        }
    }
}
