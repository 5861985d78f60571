//! Errors and latency alerts on a generated capture with a known shape, replayed: exactly
//! one errors alert and one latency alert, at the exact seconds, in the log, both reports
//! and the dashboard (tmux); `tests/fleet.rs` checks the real Alertmanager on the same
//! capture.
//!
//! Shape ([`common::signal_capture`]): from T0 (a whole second, learning starts there),
//! 10 requests a second to each of `a.example` and `b.example`, answered in 2 ms, for 360 s;
//! `b.example` answers 503 to 3 requests in 10 for k in 120..180, and in 20 ms for k in
//! 240..300. With `--learn 60s --window 10s` (and the defaults: errors and latency
//! thresholds 100 %, errors floor 1 %, at least 20 responses), every window holds 200
//! responses:
//!
//! - errors: learned 0 %, so the floor decides: boundary 121 sees second 120, 3 errors of
//!   200 = 1.5 % > 1 % (alert); boundary 189 still sees second 179 (1.5 %), 190 sees none
//!   (recovered, after 69 s); the peak is 30 errors of 200, 15 %;
//! - latency: learned p95 ≈ 2 ms; boundary 241 sees 10 slow responses of 200 (rank 190
//!   is fast), 242 sees 20 (rank 190 is slow: p95 ≈ 20 ms > 2 × 2 ms, alert); 308 still
//!   sees 2 slow seconds, 309 one (recovered, after 67 s);
//! - rate: steady, no alert.

mod common;

use common::tmux::{have_tmux, Session};
use common::{bin, signal_capture, TempDir, SIGNAL_ALERTS, T0};
use std::process::Command;

fn httptop(cap: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let out = Command::new(bin())
        .arg("-r")
        .arg(cap)
        .args(["--learn", "60s", "--window", "10s"])
        .args(extra)
        .output()
        .expect("run httptop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn events(cap: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["--log", "-", "-q"];
    args.extend_from_slice(extra);
    let out = httptop(cap, &args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .filter(|v: &serde_json::Value| v["type"] != "exchange")
        .collect()
}

fn alerts(ev: &[serde_json::Value]) -> Vec<(String, String, u64)> {
    ev.iter()
        .filter(|e| e["type"] == "alert")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["state"].as_str().unwrap_or("").to_string(),
                e["at"].as_u64().unwrap_or(0) - T0,
            )
        })
        .collect()
}

fn expected_alerts() -> Vec<(String, String, u64)> {
    SIGNAL_ALERTS
        .iter()
        .map(|&(k, s, at)| (k.to_string(), s.to_string(), at))
        .collect()
}

#[test]
fn one_errors_and_one_latency_alert_at_the_exact_seconds() {
    let dir = TempDir::new("ht15-signals");
    let cap = dir.path("signals.pcap");
    signal_capture(&cap);

    let ev = events(&cap, &[]);
    assert_eq!(alerts(&ev), expected_alerts(), "{ev:#?}");
    let learned: Vec<_> = ev
        .iter()
        .filter(|e| e["type"] == "learning_finished")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["at"].as_u64().unwrap_or(0) - T0,
            )
        })
        .collect();
    assert_eq!(learned, [("rate", 60), ("errors", 60), ("latency", 60)]);
    let started: Vec<_> = ev.iter().filter(|e| e["state"] == "started").collect();
    let (err, lat) = (started[0], started[1]);
    assert_eq!(err["server"], serde_json::Value::Null);
    assert_eq!(err["value"], 1.5);
    assert_eq!(err["baseline"], 0.0);
    assert_eq!(err["responses"], 200);
    assert_eq!(
        err["message"],
        "High error rate generated an alert - 5xx = 1.5% (baseline 0.0%), triggered at 2023-11-14 22:15:21"
    );
    let p95 = lat["value"].as_f64().expect("p95 in seconds");
    assert!((0.0184..0.0216).contains(&p95), "{lat}");
    let msg = lat["message"].as_str().unwrap_or("");
    // DDSketch bins grouped by 8: values within 8 % (20 ms shows as 19 ms, 2 ms as 1.8 ms).
    assert_eq!(
        msg,
        "High latency generated an alert - p95 = 19 ms (baseline 1.8 ms), triggered at 2023-11-14 22:17:22"
    );
    let recovered: Vec<_> = ev.iter().filter(|e| e["state"] == "recovered").collect();
    assert_eq!(recovered[0]["duration_s"], 69);
    assert_eq!(recovered[0]["peak"], 15.0);
    assert_eq!(
        recovered[0]["message"],
        "Recovered from high error rate at 2023-11-14 22:16:30 - alert lasted 1m 9s, peak 15.0%"
    );
    assert_eq!(recovered[1]["duration_s"], 67);

    // Replays are identical; the saved baselines (version 2) skip learning and give the
    // same alerts.
    assert_eq!(events(&cap, &[]), ev);
    let base = dir.path("baseline.txt");
    let b = base.to_str().expect("utf-8 path");
    assert_eq!(events(&cap, &["--baseline-file", b]), ev);
    let text = std::fs::read_to_string(&base).expect("baseline file");
    assert!(
        text.starts_with("httptop-baseline v2\n")
            && text.contains("\nerrors=0\nerror_responses=1200\n")
            && text.contains("\nlatency_responses=1200\n"),
        "{text}"
    );
    let reused = events(&cap, &["--baseline-file", b]);
    assert_eq!(alerts(&reused), alerts(&ev));
    assert!(reused.iter().all(|e| e["type"] != "learning_finished"));

    // --alerts chooses; per server, b.example alerts too (its learning started at its
    // first response, 60.06 s: first evaluation at 61).
    assert!(alerts(&events(&cap, &["--alerts", "rate"])).is_empty());
    let per = events(&cap, &["--alert-per-server"]);
    let b_alerts: Vec<_> = per
        .iter()
        .filter(|e| e["type"] == "alert" && e["server"] == "b.example")
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or(""),
                e["state"].as_str().unwrap_or(""),
                e["at"].as_u64().unwrap_or(0) - T0,
            )
        })
        .collect();
    assert_eq!(
        b_alerts,
        [
            ("errors", "started", 121),
            ("errors", "recovered", 190),
            ("latency", "started", 241),
            ("latency", "recovered", 310),
        ],
        "{per:#?}"
    );
    assert!(per
        .iter()
        .all(|e| e["type"] != "alert" || e["server"] != "a.example"));
}

#[test]
fn both_reports_list_the_errors_and_latency_alerts() {
    let dir = TempDir::new("ht15-signal-reports");
    let cap = dir.path("signals.pcap");
    signal_capture(&cap);

    let out = httptop(&cap, &["--output", "plain", "-q"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("  errors: NORMAL, 5xx 0.0% over 200 responses, baseline 0.0%; alerts: 1 (longest 1m 9s, average 1m 9s)\n    2023-11-14 22:15:21 .. 2023-11-14 22:16:30  lasted 1m 9s, peak 15.0%\n"),
        "{text}"
    );
    assert!(
        text.contains("  latency: NORMAL, p95 ")
            && text.contains(", baseline 1.8 ms; alerts: 1 (longest 1m 7s, average 1m 7s)\n    2023-11-14 22:17:22 .. 2023-11-14 22:18:29  lasted 1m 7s, peak 19 ms\n"),
        "{text}"
    );

    let out = httptop(&cap, &["--output", "json", "-q"]);
    let report: serde_json::Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "report")
        .expect("a report");
    let kinds = report["alert_kinds"].as_array().expect("alert_kinds");
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert_eq!(kinds[0]["kind"], "errors");
    assert_eq!(kinds[0]["server"], serde_json::Value::Null);
    assert_eq!(kinds[0]["state"], "normal");
    assert_eq!(kinds[0]["baseline"], 0.0);
    let ep = &kinds[0]["alerts"][0];
    assert_eq!(
        (ep["start"].as_u64(), ep["end"].as_u64()),
        (Some(T0 + 121), Some(T0 + 190))
    );
    assert_eq!(
        (ep["duration_s"].as_u64(), ep["peak"].as_f64()),
        (Some(69), Some(15.0))
    );
    assert_eq!(kinds[1]["kind"], "latency");
    let ep = &kinds[1]["alerts"][0];
    assert_eq!(
        (ep["start"].as_u64(), ep["end"].as_u64()),
        (Some(T0 + 242), Some(T0 + 309))
    );
    assert_eq!(report["alerts"], serde_json::json!([]), "no rate alert");
}

#[test]
fn the_dashboard_shows_the_errors_then_the_latency_alert() {
    if !have_tmux() {
        return;
    }
    let dir = TempDir::new("ht15-signal-tui");
    let cap = dir.path("signals.pcap");
    signal_capture(&cap);
    let cmd = format!(
        "{} -r {} --realtime --speed 20 --refresh 100ms --learn 60s --window 10s -q",
        bin().display(),
        cap.display()
    );
    let s = Session::start("ht15-signals", &cmd);
    let err = s.wait_for("the errors alert", 60, |t| {
        t.contains("High error rate generated an alert - 5xx =") && t.contains("ERRORS")
    });
    assert!(err.contains("| 5xx "), "state line:\n{err}");
    let lat = s.wait_for("the latency alert", 60, |t| {
        t.contains("High latency generated an alert - p95 =") && t.contains("LATENCY")
    });
    assert!(lat.contains("| p95 "), "state line:\n{lat}");
    // The alert history (the last panel: Shift-Tab from the first) lists both episodes
    // once over.
    s.keys("BTab");
    let hist = s.wait_for("both episodes in the history", 60, |t| {
        t.contains("1m 9s errors") && t.contains("1m 7s latency")
    });
    assert!(hist.contains("15.0%"), "{hist}");
    s.keys("q");
    let done = s.wait_for("exit", 20, |t| t.contains("EXITED="));
    assert!(done.contains("EXITED=0"), "{done}");
}
