//! Fleet scale against the real servers: Debian's `prometheus` scrapes httptop's
//! `/metrics` during a realtime replay and its query API must give the number of
//! exchanges httptop logged; `promtool check metrics` must accept the exposition; Debian's
//! `prometheus-alertmanager` must list the burst's alert as active, then (once httptop
//! posted the recovery) drop it from its active alerts and count a resolved post.
//!
//! The servers run on free loopback ports with configs and storage of their own in a
//! temporary directory; `.ci/run` installs them. Every wait is a poll of an API with a
//! deadline.

mod common;

use common::live::free_port;
use common::{bin, burst_capture, exchange, Pcap, TempDir, T0};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped, also when the test fails.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<String> {
    let mut resp = ureq::get(url).call().ok()?;
    resp.body_mut().read_to_string().ok()
}

/// Polls `f` every 200 ms until it gives a value, or panics after `deadline`.
fn poll<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_ready(name: &str, port: u16) {
    poll(name, Duration::from_secs(60), || {
        get(&format!("http://127.0.0.1:{port}/-/ready"))
    });
}

fn start_prometheus(dir: &TempDir, target: u16) -> (Proc, u16) {
    let port = free_port();
    let cfg = dir.path("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: httptop\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"
        ),
    )
    .expect("write config");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path("prom-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus (apt-get install prometheus)");
    let p = Proc(child);
    wait_ready("prometheus", port);
    (p, port)
}

fn start_alertmanager(dir: &TempDir) -> (Proc, u16) {
    let port = free_port();
    let cfg = dir.path("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n",
    )
    .expect("write config");
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.path("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager (apt-get install prometheus-alertmanager)");
    let p = Proc(child);
    wait_ready("alertmanager", port);
    (p, port)
}

/// httptop replaying `capture` in realtime with `extra` options, lingering after the
/// end; the receiver gets its standard error lines.
fn start_httptop(capture: &Path, log: &Path, extra: &[&str]) -> (Proc, mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .arg("-r")
        .arg(capture)
        .args(["--realtime", "--output", "plain", "--log"])
        .arg(log)
        .args(["--learn", "60s", "--window", "10s", "--threshold", "50"])
        .args(["--linger", "120s"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start httptop");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Proc(child), rx)
}

/// Waits for the line httptop prints once the replay is over and everything is flushed.
fn wait_replay_end(stderr: &mpsc::Receiver<String>) -> Vec<String> {
    let mut seen = Vec::new();
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match stderr.recv_timeout(left) {
            Ok(l) => {
                let done = l.starts_with("httptop: lingering for ");
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("httptop did not finish the replay ({e}); stderr: {seen:#?}"),
        }
    }
}

fn logged_exchanges(log: &Path) -> (u64, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(log).expect("read log");
    let mut n = 0;
    let mut events = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("json line");
        if v["type"] == "exchange" {
            n += 1;
        } else {
            events.push(v);
        }
    }
    (n, events)
}

fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The whole answer of an instant query.
fn query_raw(prom: u16, q: &str) -> Option<serde_json::Value> {
    let url = format!(
        "http://127.0.0.1:{prom}/api/v1/query?query={}",
        url_encode(q)
    );
    serde_json::from_str(&get(&url)?).ok()
}

/// The single value of an instant query, when there is one.
fn query(prom: u16, q: &str) -> Option<f64> {
    let v = query_raw(prom, q)?;
    assert_eq!(v["status"], "success", "{v}");
    let r = v["data"]["result"].as_array()?.first()?.clone();
    r["value"][1].as_str()?.parse().ok()
}

/// The fenced blocks of `lang` in docs/fleet.md.
fn doc_blocks(lang: &str) -> Vec<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fleet.md");
    let text = std::fs::read_to_string(doc).expect("docs/fleet.md");
    let fence = format!("```{lang}\n");
    text.split(&fence)
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .map(str::to_string)
        .collect()
}

/// The PromQL examples of docs/fleet.md: one per line, indented lines continuing.
fn doc_queries() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for block in doc_blocks("promql") {
        for line in block.lines().filter(|l| !l.trim().is_empty()) {
            match out.last_mut() {
                Some(q) if line.starts_with(' ') => {
                    q.push(' ');
                    q.push_str(line.trim());
                }
                _ => out.push(line.to_string()),
            }
        }
    }
    out
}

#[test]
fn documented_alerting_rules_pass_promtool() {
    let rules = doc_blocks("yaml")
        .into_iter()
        .find(|b| b.starts_with("groups:"))
        .expect("a rules block in docs/fleet.md");
    let dir = TempDir::new("fleet-rules");
    let path = dir.path("rules.yml");
    std::fs::write(&path, rules).expect("write rules");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("promtool (apt-get install prometheus)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
}

#[test]
fn prometheus_scrapes_the_exchanges_httptop_logged() {
    let dir = TempDir::new("fleet-prom");
    let cap = dir.path("burst.pcap");
    burst_capture(&cap);
    let log = dir.path("log.jsonl");
    let metrics_port = free_port();
    let (_prom, prom) = start_prometheus(&dir, metrics_port);
    let addr = format!("127.0.0.1:{metrics_port}");
    let (mut httptop, stderr) =
        start_httptop(&cap, &log, &["--speed", "50", "--metrics-addr", &addr]);
    let lines = wait_replay_end(&stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("metrics at http://{addr}/metrics"))),
        "{lines:#?}"
    );
    let (logged, _) = logged_exchanges(&log);
    assert_eq!(logged, 200 + 40, "the capture's exchanges");

    // Prometheus sees the final values once it has scraped after the end.
    let finished = poll(
        "a scrape of the final values",
        Duration::from_secs(30),
        || query(prom, "httptop_capture_finished").filter(|&v| v == 1.0),
    );
    assert_eq!(finished, 1.0);
    let total = query(prom, "sum(httptop_requests_total)").expect("requests in Prometheus");
    assert_eq!(total, logged as f64);
    let get_total = query(prom, "httptop_requests_total{method=\"GET\"}").expect("GET series");
    assert_eq!(get_total, logged as f64);
    let ok = query(prom, "httptop_responses_total{code=\"200\"}").expect("200 series");
    assert_eq!(ok, logged as f64);
    // Every request went to one Host, labelled by the end of the replay; its series
    // started when it entered the top-k, so it holds at most all of them.
    let host =
        query(prom, "httptop_host_requests_total{host=\"shop.example\"}").expect("host series");
    assert!(host > 0.0 && host <= logged as f64, "{host}");
    let host_sum = query(prom, "sum(httptop_host_requests_total)").expect("host sum");
    assert_eq!(host_sum, logged as f64, "labelled + other = all requests");
    assert_eq!(query(prom, "httptop_alerts_total"), Some(1.0));
    // The per-protocol families beside them: every request is HTTP/1.1 and answered 200
    // (no error), each with a latency.
    assert_eq!(
        query(prom, "httptop_request_errors_total{protocol=\"http/1\"}"),
        Some(0.0)
    );
    assert_eq!(
        query(
            prom,
            "httptop_protocol_response_latency_seconds_count{protocol=\"http/1\"}"
        ),
        Some(logged as f64)
    );
    assert_eq!(
        query(
            prom,
            "httptop_protocol_response_latency_seconds_count{protocol=\"http/2\"}"
        ),
        Some(0.0)
    );

    // Every PromQL example of docs/fleet.md is valid against the real metrics (rates
    // need two scrapes; Prometheus may have started scraping only near the end).
    poll("a second scrape", Duration::from_secs(30), || {
        query(
            prom,
            "count_over_time(httptop_host_requests_total{host=\"shop.example\"}[5m])",
        )
        .filter(|&n| n >= 2.0)
    });
    let queries = doc_queries();
    assert!(queries.len() >= 10, "{queries:#?}");
    for q in &queries {
        let v = query_raw(prom, q).unwrap_or_else(|| panic!("no answer to {q}"));
        assert_eq!(v["status"], "success", "{q}: {v}");
    }
    let top = query_raw(prom, &queries[2]).expect("top hosts");
    assert_eq!(
        top["data"]["result"][0]["metric"]["host"], "shop.example",
        "{}: {top}",
        queries[2]
    );

    // promtool accepts the exposition.
    let text = get(&format!("http://{addr}/metrics")).expect("scrape");
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    {
        use std::io::Write;
        let mut stdin = check.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write exposition");
    }
    let out = check.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Other paths are not served.
    let status = match ureq::get(&format!("http://{addr}/other")).call() {
        Err(ureq::Error::StatusCode(s)) => s,
        r => panic!("expected 404, got {r:?}"),
    };
    assert_eq!(status, 404);

    // SIGTERM ends the linger; exit 0.
    let pid = httptop.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|s| s.success()));
    let status = httptop.0.wait().expect("wait httptop");
    assert!(status.success(), "{status:?}");
}

/// The alerts Alertmanager lists for `instance`: (state, startsAt, endsAt).
fn am_alerts(am: u16, instance: &str) -> Option<Vec<(String, String, String)>> {
    let text = get(&format!("http://127.0.0.1:{am}/api/v2/alerts"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter(|a| {
                a["labels"]["instance"] == instance
                    && a["labels"]["alertname"] == "HttptopHighTraffic"
            })
            .map(|a| {
                (
                    a["status"]["state"].as_str().unwrap_or("").to_string(),
                    a["startsAt"].as_str().unwrap_or("").to_string(),
                    a["endsAt"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

/// `alertmanager_alerts_received_total{status=...}` from Alertmanager's own metrics.
fn am_received(am: u16, status: &str) -> Option<f64> {
    let text = get(&format!("http://127.0.0.1:{am}/metrics"))?;
    let prefix = "alertmanager_alerts_received_total{";
    let needle = format!("status=\"{status}\"");
    Some(
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(&needle))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum(),
    )
}

/// One request per second for k in 0..70 and 100..130, five per second for k in
/// 70..100: with `--learn 60s --window 10s --threshold 50` the alert starts at about
/// k = 72 and recovers at about k = 109 (37 s of traffic, long enough to be seen).
fn long_burst_capture(path: &Path) {
    let mut p = Pcap::new(1);
    let mut port = 20_000u16;
    for k in 0..130u64 {
        let n = if (70..100).contains(&k) { 5 } else { 1 };
        for i in 0..n {
            port += 1;
            let t = (T0 + k) * 1_000_000 + 100_000 + i * 100_000;
            let req = format!("GET /long/{k}/{i} HTTP/1.1\r\nHost: shop.example\r\n\r\n");
            exchange(
                &mut p,
                t,
                port,
                req.as_bytes(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    }
    std::fs::write(path, p.bytes).expect("write capture");
}

#[test]
fn alertmanager_lists_the_burst_alert_active_then_resolved() {
    let dir = TempDir::new("fleet-am");
    let cap = dir.path("long-burst.pcap");
    long_burst_capture(&cap);
    let log = dir.path("log.jsonl");
    let (_am, am) = start_alertmanager(&dir);
    let instance = format!("httptop-test-{}", std::process::id());
    let url = format!("http://127.0.0.1:{am}");
    // 130 s of traffic at 10x: the alert starts about 7 s in and lasts about 4 s.
    let (_httptop, stderr) = start_httptop(
        &cap,
        &log,
        &[
            "--speed",
            "10",
            "--alertmanager",
            &url,
            "--instance",
            &instance,
        ],
    );

    let active = poll("the alert in Alertmanager", Duration::from_secs(60), || {
        am_alerts(am, &instance).filter(|a| !a.is_empty())
    });
    assert_eq!(active.len(), 1, "{active:?}");
    let (state, starts, ends) = &active[0];
    assert_eq!(state, "active");
    assert!(
        ends > starts,
        "a firing alert ends in the future: {starts} {ends}"
    );

    // Resolved: Alertmanager drops it from the active alerts once httptop posted the
    // recovery; the firing post was valid for 4 minutes, so only the resolution can
    // end it this early, and Alertmanager counts a resolved alert received.
    poll("the resolution", Duration::from_secs(60), || {
        am_alerts(am, &instance).filter(Vec::is_empty)
    });
    let resolved = poll("a resolved post", Duration::from_secs(30), || {
        am_received(am, "resolved").filter(|&n| n >= 1.0)
    });
    assert!(resolved >= 1.0);
    assert!(am_received(am, "firing").is_some_and(|n| n >= 1.0));

    // httptop logged exactly one alert and its recovery.
    wait_replay_end(&stderr);
    let (_, events) = logged_exchanges(&log);
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "alert")
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states, ["started", "recovered"]);
}

/// Alerts Alertmanager lists for `instance` under `name`: (state, server label).
fn am_named(am: u16, instance: &str, name: &str) -> Option<Vec<(String, String)>> {
    let text = get(&format!("http://127.0.0.1:{am}/api/v2/alerts"))?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter(|a| a["labels"]["instance"] == instance && a["labels"]["alertname"] == name)
            .map(|a| {
                (
                    a["status"]["state"].as_str().unwrap_or("").to_string(),
                    a["labels"]["server"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
    )
}

/// The errors-then-latency capture of `tests/signal_alerting.rs`, per server: Alertmanager
/// lists the errors alert (global, and `server="b.example"`), then resolves it, then the
/// same for latency; the rate alert never fires.
#[test]
fn alertmanager_lists_errors_and_latency_alerts_then_resolves_them() {
    let dir = TempDir::new("ht15-fleet-am");
    let cap = dir.path("signals.pcap");
    common::signal_capture(&cap);
    let log = dir.path("log.jsonl");
    let (_am, am) = start_alertmanager(&dir);
    let instance = format!("ht15-test-{}", std::process::id());
    let url = format!("http://127.0.0.1:{am}");
    // 360 s of traffic at 10x: errors fire 12.1 s in for 6.9 s, latency 24.2 s in for 6.7 s.
    let (_httptop, stderr) = start_httptop(
        &cap,
        &log,
        &[
            "--speed",
            "10",
            "--alert-per-server",
            "--alertmanager",
            &url,
            "--instance",
            &instance,
        ],
    );
    for name in ["HttptopHighErrorRate", "HttptopHighLatency"] {
        let mut active = poll(name, Duration::from_secs(60), || {
            am_named(am, &instance, name).filter(|a| a.len() == 2)
        });
        active.sort();
        assert_eq!(
            active,
            [
                ("active".to_string(), String::new()),
                ("active".to_string(), "b.example".to_string())
            ],
            "{name}"
        );
        poll("its resolution", Duration::from_secs(60), || {
            am_named(am, &instance, name).filter(Vec::is_empty)
        });
    }
    assert_eq!(
        am_named(am, &instance, "HttptopHighTraffic"),
        Some(vec![]),
        "no rate alert"
    );
    assert!(am_received(am, "resolved").is_some_and(|n| n >= 4.0));
    wait_replay_end(&stderr);
    let (_, events) = logged_exchanges(&log);
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == "alert")
        .filter_map(|e| Some((e["kind"].as_str()?, e["state"].as_str()?)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("errors", "started"),
            ("errors", "started"),
            ("errors", "recovered"),
            ("errors", "recovered"),
            ("latency", "started"),
            ("latency", "started"),
            ("latency", "recovered"),
            ("latency", "recovered"),
        ]
    );
}
