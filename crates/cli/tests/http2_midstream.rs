//! HTTP/2 without its start, and HTTP/2 behind a PROXY header (issue 12, point 1), with
//! real servers and clients on `lo`:
//!
//! 1. `nghttpd --no-tls` and `h2load` (one connection, 4 streams at a time), captured by
//!    tcpdump; the capture's first packets are cut off with `editcap` (SYN, client
//!    preface, SETTINGS and the first requests gone). httptop reading the whole capture
//!    finds every request; reading the cut one it still recognises HTTP/2 (by frame
//!    headers) and finds exactly the requests and responses whose HEADERS are after the
//!    cut, as tshark does on the same cut capture.
//! 2. haproxy (`mode tcp`, `send-proxy` and `send-proxy-v2`) in front of nginx
//!    `listen ... proxy_protocol http2` (h2c), curl `--http2-prior-knowledge` through it:
//!    the capture between haproxy and nginx is HTTP/2 after a PROXY header, every
//!    request found with the original client (curl's address) the header named.
//!
//! Needs root (capture on `lo`), tcpdump, tshark and editcap, nghttp2-server,
//! nghttp2-client, haproxy, nginx-light and curl; `.ci/run` installs them. When one is
//! missing the test says so and passes, except under `CI=true`, where it fails.

mod common;

use common::h2::{
    count_request, count_status, diff, have, httptop_read, httptop_report, log_counts,
    protocol_row, run_bounded, start_nginx_h2c, start_server, tshark_counts, Counts, DecodeAs,
    Tcpdump,
};
use common::live::{free_port, is_root, nginx, require};
use common::TempDir;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The counter `group.name` of httptop's JSON report.
fn counter(report: &serde_json::Value, name: &str) -> u64 {
    let (group, name) = name.split_once('.').expect("group.name");
    report["counters"][group][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {group}.{name}"))
}

#[test]
fn an_h2load_capture_cut_after_its_start_is_still_http2() {
    if !require(is_root(), "root (capture on lo)")
        || !require(have("nghttpd"), "nghttpd (nghttp2-server)")
        || !require(have("h2load"), "h2load (nghttp2-client)")
        || !require(
            have("tcpdump") && have("tshark") && have("editcap"),
            "tcpdump, tshark and editcap",
        )
    {
        return;
    }
    let dir = TempDir::new("ht12m-midstream");
    let port = free_port();
    let www = dir.path("www");
    std::fs::create_dir_all(&www).expect("docroot");
    std::fs::write(www.join("index.html"), "x".repeat(400)).expect("index");
    let server = start_server(
        Command::new("nghttpd")
            .args(["--no-tls", "-d"])
            .arg(&www)
            .arg(port.to_string()),
        port,
        &dir.path("nghttpd.log"),
    );
    let full = dir.path("full.pcap");
    let tcpdump = Tcpdump::start(port, &full);
    let n = 300;
    let out = run_bounded(
        Command::new("h2load")
            .args(["-n", &n.to_string(), "-c", "1", "-m", "4"])
            .args(["-H", ":authority: mid.ht12.test"])
            .arg(format!("http://127.0.0.1:{port}/index.html")),
        LIMIT,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{n} succeeded, 0 failed")),
        "h2load: {text}"
    );
    tcpdump.stop();
    drop(server);

    // The whole capture: every request.
    let mut sent = Counts::new();
    for _ in 0..n {
        count_request(&mut sent, "GET", "mid.ht12.test");
        count_status(&mut sent, "200");
    }
    let whole = log_counts(&httptop_read(&full));
    assert_eq!(diff(&whole, &sent), Default::default(), "whole capture");

    // Cut the first packets off: a quarter of them, at least the handshake, the
    // preface, both SETTINGS and the first requests.
    let packets = run_bounded(
        Command::new("capinfos").args(["-c", "-M"]).arg(&full),
        LIMIT,
    );
    let total: usize = String::from_utf8_lossy(&packets.stdout)
        .lines()
        .find_map(|l| l.split(':').nth(1).and_then(|v| v.trim().parse().ok()))
        .expect("capinfos packet count");
    let cut_at = (total / 4).max(12);
    let cut = dir.path("cut.pcap");
    run_bounded(
        Command::new("editcap")
            .arg(&full)
            .arg(&cut)
            .arg(format!("1-{cut_at}")),
        LIMIT,
    );
    let ours = log_counts(&httptop_read(&cut));
    let theirs = tshark_counts(&cut, port, DecodeAs::Http2);
    // The `:authority` of every request after the cut is a reference to the dynamic
    // table entry inserted by the first request: neither tshark nor httptop knows it.
    let requests = ours.get("requests").copied().unwrap_or(0);
    assert!(
        requests > i64::from(n) / 2 && requests < i64::from(n),
        "{requests} requests after cutting {cut_at} of {total} packets: {ours:?}"
    );
    assert_eq!(ours.get("host:(none)"), Some(&requests), "{ours:?}");
    assert_eq!(
        diff(&ours, &theirs),
        Default::default(),
        "cut capture: httptop - tshark"
    );
    let report = httptop_report(&cut);
    assert_eq!(
        protocol_row(&report, "http/2"),
        (1, requests as u64),
        "one HTTP/2 connection"
    );
    assert_eq!(counter(&report, "http.h2_midstream"), 1);
    assert_eq!(counter(&report, "http.not_http_connections"), 0);
    assert!(counter(&report, "http.h2_hpack_unknown_refs") > 0);
    eprintln!(
        "mid-stream: {total} packets, first {cut_at} cut: {requests} of {n} requests found, \
         {} responses",
        ours.get("status:200").copied().unwrap_or(0)
    );
}

#[test]
fn http2_behind_haproxy_send_proxy_names_the_original_client() {
    if !require(is_root(), "root (capture on lo)")
        || !require(nginx().is_some(), "nginx (nginx-light)")
        || !require(have("haproxy"), "haproxy")
        || !require(have("tcpdump"), "tcpdump")
        || !require(have("curl"), "curl")
    {
        return;
    }
    for send in ["send-proxy", "send-proxy-v2"] {
        let dir = TempDir::new(&format!("ht12m-{send}"));
        let (front, back) = (free_port(), free_port());
        let www = dir.0.join("www");
        std::fs::create_dir_all(&www).expect("docroot");
        std::fs::write(www.join("index.html"), "hello httptop\n").expect("index");
        let _nginx = start_nginx_h2c(&dir.0, &www, back, "proxy_protocol");
        let cfg = format!(
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n\
             frontend f\n  bind 127.0.0.1:{front}\n  default_backend b\n\
             backend b\n  server n 127.0.0.1:{back} {send}\n"
        );
        std::fs::write(dir.path("haproxy.cfg"), &cfg).expect("haproxy.cfg");
        let _haproxy = start_server(
            Command::new("haproxy")
                .arg("-db")
                .arg("-f")
                .arg(dir.path("haproxy.cfg")),
            front,
            &dir.path("haproxy.log"),
        );
        let cap = dir.path("back.pcap");
        let tcpdump = Tcpdump::start(back, &cap);
        let mut locals = Vec::new();
        for path in ["/index.html", "/missing"] {
            let out = run_bounded(
                Command::new("curl")
                    .args(["-s", "-o", "/dev/null", "--http2-prior-knowledge"])
                    .args(["--interface", "127.0.0.2", "-H", "Host: proxied.ht12.test"])
                    .args([
                        "-w",
                        "%{http_code} %{http_version} %{local_ip}:%{local_port}",
                    ])
                    .arg(format!("http://127.0.0.1:{front}{path}")),
                LIMIT,
            );
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let want = if path == "/missing" {
                "404 2 "
            } else {
                "200 2 "
            };
            assert!(text.starts_with(want), "curl {path} via {send}: {text}");
            locals.push(text[want.len()..].to_string());
        }
        tcpdump.stop();
        let records = httptop_read(&cap);
        let got: Vec<(String, String, String, String)> = records
            .iter()
            .filter(|r| r["type"] == "exchange")
            .map(|r| {
                (
                    r["path"].as_str().unwrap_or("").to_string(),
                    r["status"].to_string(),
                    r["version"].as_str().unwrap_or("").to_string(),
                    r["original_client"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/index.html".into(),
                    "200".into(),
                    "2".into(),
                    locals[0].clone()
                ),
                (
                    "/missing".into(),
                    "404".into(),
                    "2".into(),
                    locals[1].clone()
                ),
            ],
            "{send}: {records:?}"
        );
        let report = httptop_report(&cap);
        assert_eq!(protocol_row(&report, "http/2"), (2, 2), "{send}");
        assert_eq!(protocol_row(&report, "http/1"), (0, 0), "{send}");
    }
}
