//! End to end on a real interface: nginx on 127.0.0.1, httptop capturing on `lo`, a client
//! sending K varied requests (keep-alive and not); after SIGTERM the log must hold exactly
//! K exchanges with the right fields, status codes and byte counts.
//!
//! Needs root (capture on `lo`) and nginx (`nginx-light`); `.ci/run` provides both. When
//! either is missing the test says so and passes, except under `CI=true`, where it fails.

mod common;

use common::bin;
use common::live::{free_port, is_root, nginx, require, start_capturing, start_nginx};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

/// What the client sent and got back, to compare with the log.
#[derive(Debug)]
struct Sent {
    method: &'static str,
    host: String,
    path: String,
    ua: String,
    status: u16,
    request_bytes: usize,
    response_bytes: usize,
}

/// Reads one response; returns (status, bytes on the wire).
fn read_response(s: &mut TcpStream, head_only: bool, close: bool) -> (u16, usize) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).expect("read response");
        assert!(n > 0, "connection closed inside a head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head[9..12].parse().expect("status");
    let cl = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse::<usize>().expect("cl"))
    });
    let body = if head_only {
        0
    } else {
        cl.expect("nginx sends Content-Length")
    };
    while buf.len() < head_end + body {
        let n = s.read(&mut chunk).expect("read body");
        assert!(n > 0, "connection closed inside a body");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(buf.len(), head_end + body, "one response at a time");
    if close {
        assert_eq!(s.read(&mut chunk).expect("read eof"), 0);
    }
    (status, buf.len())
}

fn send_requests(port: u16) -> Vec<Sent> {
    // (method, path, host, ua, body, expected status)
    let plan: &[(&'static str, &str, &str, &str, &str, u16)] = &[
        ("GET", "/", "www.example.com", "curl/8.5.0", "", 200),
        (
            "GET",
            "/api/users.json?page=2",
            "api.example.com",
            "python-requests/2.31",
            "",
            200,
        ),
        (
            "HEAD",
            "/index.html",
            "www.example.com",
            "Mozilla/5.0 (X11; Linux x86_64)",
            "",
            200,
        ),
        (
            "GET",
            "/missing/page",
            "shop.example.org",
            "Go-http-client/1.1",
            "",
            404,
        ),
        (
            "POST",
            "/api/users.json",
            "api.example.com",
            "okhttp/4.12",
            "{\"name\":\"x\"}",
            405,
        ),
        (
            "DELETE",
            "/api/users.json",
            "api.example.com",
            "okhttp/4.12",
            "",
            405,
        ),
        (
            "PUT",
            "/upload/file.bin",
            "files.example.net",
            "aws-cli/2.15",
            "0123456789abcdef",
            405,
        ),
        ("OPTIONS", "/", "www.example.com", "Wget/1.21", "", 405),
        (
            "GET",
            "/index.html",
            "127.0.0.1",
            "httptop-live-test",
            "",
            200,
        ),
    ];
    let mut sent = Vec::new();
    // Three keep-alive connections of three requests, then every request again with
    // `Connection: close` on its own connection.
    for close in [false, true] {
        let mut conn: Option<TcpStream> = None;
        for (i, &(method, path, host, ua, body, status)) in plan.iter().enumerate() {
            if close || i % 3 == 0 {
                conn = Some(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
            }
            let s = conn.as_mut().expect("connection");
            let mut req = format!(
                "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n"
            );
            if !body.is_empty() {
                req.push_str(&format!(
                    "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                    body.len()
                ));
            }
            if close {
                req.push_str("Connection: close\r\n");
            }
            req.push_str("\r\n");
            req.push_str(body);
            s.write_all(req.as_bytes()).expect("send");
            let (got, response_bytes) = read_response(s, method == "HEAD", close);
            assert_eq!(got, status, "{method} {path}");
            sent.push(Sent {
                method,
                host: host.into(),
                path: path.into(),
                ua: ua.into(),
                status,
                request_bytes: req.len(),
                response_bytes,
            });
        }
    }
    sent
}

#[test]
fn live_capture_on_loopback_logs_exactly_the_requests_sent() {
    if !require(is_root(), "root (capture on lo)")
        || !require(nginx().is_some(), "nginx (nginx-light)")
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("httptop-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let _nginx = start_nginx(&dir, port);
    let log = dir.join("exchanges.jsonl");
    let run = start_capturing(
        Command::new(bin())
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "--log"])
            .arg(&log),
    );
    let sent = send_requests(port);
    let rest = run.stop();

    // The kernel's counters, as tcpdump gives them (and as
    // ../shared/tools/replay-capture-probe.sh reads them): always, 0 dropped included.
    let kernel: Vec<&str> = rest
        .lines()
        .find_map(|l| l.strip_prefix("httptop: kernel: "))
        .unwrap_or_else(|| panic!("no kernel counters line: {rest}"))
        .split_whitespace()
        .collect();
    assert_eq!(kernel.len(), 8, "{rest}");
    assert_eq!(
        (kernel[1], kernel[3], &kernel[5..].join(" ")[..]),
        ("captured,", "dropped", "received by filter)"),
        "{rest}"
    );
    let captured: u64 = kernel[0].parse().expect("captured");
    let received: u64 = kernel[4].trim_start_matches('(').parse().expect("received");
    assert!(captured > 0 && received >= captured, "{rest}");
    assert_eq!(kernel[2], "0", "{rest}");

    let text = std::fs::read_to_string(&log).expect("log");
    let got: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        got.len(),
        sent.len(),
        "exchanges logged:\n{text}\nstderr: {rest}"
    );
    for (g, s) in got.iter().zip(&sent) {
        let ctx = format!("{s:?} vs {g}");
        assert_eq!(g["type"], "exchange", "{ctx}");
        assert_eq!(g["method"], s.method, "{ctx}");
        assert_eq!(g["host"], s.host.as_str(), "{ctx}");
        assert_eq!(g["path"], s.path.as_str(), "{ctx}");
        assert_eq!(g["user_agent"], s.ua.as_str(), "{ctx}");
        assert_eq!(g["version"], "1.1", "{ctx}");
        assert_eq!(g["status"], s.status, "{ctx}");
        assert_eq!(g["request_bytes"], s.request_bytes, "{ctx}");
        assert_eq!(g["response_bytes"], s.response_bytes, "{ctx}");
        assert_eq!(g["server"], format!("127.0.0.1:{port}").as_str(), "{ctx}");
        assert!(g["latency_ms"].as_f64().is_some_and(|l| l >= 0.0), "{ctx}");
        assert_eq!(g["flags"], serde_json::json!([]), "{ctx}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_capture_permission_exits_2_with_the_fix() {
    if !require(is_root(), "root (to run httptop as nobody)") {
        return;
    }
    // A copy the unprivileged user can execute, wherever the build tree lives.
    let dir = std::env::temp_dir().join(format!("httptop-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copy = dir.join("httptop");
    std::fs::copy(bin(), &copy).expect("copy binary");
    let _ = Command::new("chmod")
        .arg("755")
        .arg(&dir)
        .arg(&copy)
        .status();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&copy)
        .args(["-i", "lo"])
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("setcap cap_net_raw,cap_net_admin=eip"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
