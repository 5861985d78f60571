//! The real binary's dashboard in a real pseudo-terminal (tmux): `--demo` and a realtime
//! replay reach the alert and recovered states, the screen shows the panels, counts and
//! messages, and `q` restores the terminal and prints the final summary; a replay of
//! HTTP/2 with gRPC calls shows them in the gRPC panel and the Protocols view; a replay of
//! TLS handshakes (built here around a certificate made by openssl) shows the server
//! names, versions (the deprecated one marked), cipher, failures in the TLS panel.
//!
//! Needs tmux (`.ci/run` installs it); without it the test says so and passes, except
//! under `CI=true`. The screen is read with `tmux capture-pane` until what is expected
//! appears, with a deadline: the test waits for the screen, never for a fixed time.

mod common;

use common::h2wire::{answer_ok, connection, frame, literal, literal_named, Call};
use common::h2wire::{DATA, END_HEADERS, END_STREAM, HEADERS};
use common::tmux::{have_tmux, Session};
use common::{bin, burst_in, Pcap, TempDir, T0};

/// Drives one dashboard through alert and recovery, then quits with `q`.
fn alert_cycle(s: &Session, expect_on_screen: &[&str]) {
    let alert = s.wait_for("the alert", 60, |t| {
        t.contains("ALERT") && t.contains("High traffic generated an alert - hits =")
    });
    for e in expect_on_screen {
        assert!(alert.contains(e), "{e:?} not on screen:\n{alert}");
    }
    // Recovery: the alert history shows a finished episode once NORMAL is back.
    s.keys("Tab");
    s.wait_for("the recovery", 90, |t| {
        t.contains("NORMAL") && !t.contains("ALERT ")
    });
    s.keys("q");
    let done = s.wait_for("exit", 20, |t| t.contains("EXITED="));
    assert!(done.contains("EXITED=0"), "{done}");
    // The alternate screen is gone: the shell's screen shows the final summary.
    assert!(done.contains("alerts: 1"), "final summary:\n{done}");
    assert!(!done.contains("┌"), "dashboard left on screen:\n{done}");
}

#[test]
fn demo_dashboard_alerts_recovers_and_quits_cleanly() {
    if !have_tmux() {
        return;
    }
    let cmd = format!("{} --demo --speed 10 --refresh 100ms -q", bin().display());
    let s = Session::start("httptop-demo", &cmd);
    s.wait_for("the dashboard", 20, |t| {
        t.contains("demo (synthetic traffic)") && t.contains("Sections")
    });
    alert_cycle(&s, &["hits", "baseline", "shop.example.com", "Sections"]);
}

#[test]
fn realtime_replay_dashboard_alerts_recovers_and_quits_cleanly() {
    if !have_tmux() {
        return;
    }
    let (_dir, cap) = burst_in("tui");
    let cmd = format!(
        "{} -r {} --realtime --speed 20 --refresh 100ms --learn 60s --window 10s --threshold 50 -q",
        bin().display(),
        cap.display()
    );
    let s = Session::start("httptop-replay", &cmd);
    alert_cycle(&s, &["shop.example/burst", "baseline 10"]);
}

/// An HTTP/2 request header block: `:method` (static index), `:scheme http`, `:path`,
/// `:authority shop.example`, and for gRPC `content-type: application/grpc`.
fn h2_request(method_index: u8, path: &str, grpc: bool) -> Vec<u8> {
    let mut b = vec![0x80 | method_index, 0x86];
    literal(&mut b, 4, path);
    literal(&mut b, 1, "shop.example");
    if grpc {
        literal(&mut b, 31, "application/grpc");
        literal_named(&mut b, "te", "trailers");
    }
    b
}

/// A gRPC answer: HEADERS `:status 200`, a 5-byte empty message, trailers `grpc-status`.
fn grpc_ok(id: u32) -> Vec<u8> {
    let mut h = vec![0x88];
    literal(&mut h, 31, "application/grpc");
    let mut f = frame(HEADERS, END_HEADERS, id, &h);
    f.extend(frame(DATA, 0, id, &[0, 0, 0, 0, 0]));
    let mut t = Vec::new();
    literal_named(&mut t, "grpc-status", "0");
    f.extend(frame(HEADERS, END_HEADERS | END_STREAM, id, &t));
    f
}

/// A trailers-only gRPC failure: NOT_FOUND with a message.
fn grpc_not_found(id: u32) -> Vec<u8> {
    let mut h = vec![0x88];
    literal(&mut h, 31, "application/grpc");
    literal_named(&mut h, "grpc-status", "5");
    literal_named(&mut h, "grpc-message", "no such cart");
    frame(HEADERS, END_HEADERS | END_STREAM, id, &h)
}

#[test]
fn http2_and_grpc_on_the_dashboard() {
    if !have_tmux() {
        return;
    }
    // 120 s of traffic, one HTTP/2 connection a second: a GET, an OK gRPC call to
    // shop.Cart/Add, a NOT_FOUND call to shop.Cart/Get.
    let dir = TempDir::new("ht12-tui-grpc");
    let cap = dir.path("grpc.pcap");
    let mut p = Pcap::new(1);
    for k in 0..120u64 {
        let t = (T0 + k) * 1_000_000 + 500_000;
        let calls = [
            Call {
                t_us: t,
                block: h2_request(2, "/index.html", false),
                answer: answer_ok,
            },
            Call {
                t_us: t + 10_000,
                block: h2_request(3, "/shop.Cart/Add", true),
                answer: grpc_ok,
            },
            Call {
                t_us: t + 20_000,
                block: h2_request(3, "/shop.Cart/Get", true),
                answer: grpc_not_found,
            },
        ];
        connection(
            &mut p,
            ([10, 0, 0, 1], 30_000 + k as u16),
            ([10, 0, 0, 2], 8080),
            &calls,
        );
    }
    std::fs::write(&cap, p.bytes).expect("write capture");
    let cmd = format!(
        "{} -r {} --realtime --speed 4 --refresh 100ms -q",
        bin().display(),
        cap.display()
    );
    let s = Session::start("httptop-grpc", &cmd);
    s.wait_for("the dashboard", 20, |t| t.contains("Sections"));
    s.keys("g");
    let grpc = s.wait_for("the gRPC panel with both methods", 30, |t| {
        // The status column is narrow at 120 columns: NOT_FOUND is cut.
        t.contains("gRPC methods") && t.contains("shop.Cart/Get") && t.contains("NOT_FOU")
    });
    assert!(grpc.contains("shop.Cart/Add"), "{grpc}");
    // The header counts every protocol's requests, not only HTTP/1's.
    assert!(
        !grpc.lines().any(|l| l.trim_end().ends_with("requests 0")),
        "{grpc}"
    );
    s.keys("c");
    let protocols = s.wait_for("the Protocols rows", 20, |t| {
        t.contains("http/2") && t.contains("grpc")
    });
    assert!(protocols.contains("http/2"), "{protocols}");
    s.keys("q");
    let done = s.wait_for("exit", 20, |t| t.contains("EXITED="));
    assert!(done.contains("EXITED=0"), "{done}");
}

/// A TLS record of `kind` holding `body`, version 1.2 on the record layer.
fn tls_record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, 3, 3];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake message of `kind` (24-bit length).
fn tls_handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut m = vec![kind];
    m.extend_from_slice(&n.to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

/// A TLS 1.2 ClientHello offering three suites, with `sni` in server_name.
fn client_hello(sni: &str) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0x5a; 32]);
    b.push(0); // session id
    b.extend_from_slice(&[0, 6, 0xc0, 0x2f, 0x00, 0x2f, 0x00, 0x35]);
    b.extend_from_slice(&[1, 0]); // compression: null
    let name = sni.as_bytes();
    let mut ext = vec![0, 0]; // server_name
    ext.extend_from_slice(&(name.len() as u16 + 5).to_be_bytes());
    ext.extend_from_slice(&(name.len() as u16 + 3).to_be_bytes());
    ext.push(0); // host_name
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    b.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    b.extend(ext);
    tls_handshake(1, &b)
}

/// ServerHello choosing `version` and `cipher`, the certificate `der`, ServerHelloDone.
fn server_flight(version: u16, cipher: u16, der: &[u8]) -> Vec<u8> {
    let mut sh = version.to_be_bytes().to_vec();
    sh.extend_from_slice(&[0xa5; 32]);
    sh.push(0);
    sh.extend_from_slice(&cipher.to_be_bytes());
    sh.push(0);
    let mut m = tls_handshake(2, &sh);
    let n = der.len() as u32;
    let mut certs = (n + 3).to_be_bytes()[1..].to_vec();
    certs.extend_from_slice(&n.to_be_bytes()[1..]);
    certs.extend_from_slice(der);
    m.extend(tls_handshake(11, &certs));
    m.extend(tls_handshake(14, b""));
    tls_record(22, &m)
}

/// One TLS connection from `port` to 10.0.0.2:443 at `t_us`: the flights `script`
/// (client first, then alternating), FINs both ways.
fn tls_connection(p: &mut Pcap, t_us: u64, port: u16, script: &[Vec<u8>]) {
    use common::{tcp_frame, ACK, FIN_ACK, PSH_ACK, SYN};
    let c = ([10, 0, 0, 1], port);
    let s = ([10, 0, 0, 2], 443);
    let (mut cs, mut ss) = (1000u32, 5000u32);
    p.record(t_us, &tcp_frame(c, s, cs, 0, SYN, b""));
    p.record(t_us + 500, &tcp_frame(s, c, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    p.record(t_us + 1000, &tcp_frame(c, s, cs, ss, ACK, b""));
    let mut t = t_us + 2000;
    for (i, data) in script.iter().enumerate() {
        if i % 2 == 0 {
            p.record(t, &tcp_frame(c, s, cs, ss, PSH_ACK, data));
            cs += data.len() as u32;
        } else {
            p.record(t, &tcp_frame(s, c, ss, cs, PSH_ACK, data));
            ss += data.len() as u32;
        }
        t += 2000;
    }
    p.record(t, &tcp_frame(c, s, cs, ss, FIN_ACK, b""));
    p.record(t + 500, &tcp_frame(s, c, ss, cs + 1, FIN_ACK, b""));
    p.record(t + 1000, &tcp_frame(c, s, cs + 1, ss + 1, ACK, b""));
}

/// Whether openssl runs here (under `CI=true` it must); says so when it does not.
fn have_openssl() -> bool {
    let ok = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").map_or(true, |v| v != "true"),
        "CI must provide openssl"
    );
    if !ok {
        eprintln!("skipped: needs openssl");
    }
    ok
}

/// The replayed TLS capture: 40 s of traffic from now on, a connection a second: TLS 1.2
/// to soon.ht13t.test presenting a real certificate from openssl (valid 10 days from
/// now, so 9 whole days are left at packet time), every fifth one TLS 1.0 to
/// old.ht13t.test, every seventh refused by the server with a fatal handshake_failure
/// alert. `None` (and a message) without openssl.
fn tls_capture(dir: &TempDir) -> Option<std::path::PathBuf> {
    if !have_openssl() {
        return None;
    }
    let der_path = dir.path("soon.der");
    let st = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-keyout"])
        .arg(dir.path("soon.key"))
        .args(["-outform", "DER", "-out"])
        .arg(&der_path)
        .args(["-days", "10", "-subj", "/CN=soon.ht13t.test"])
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let der = std::fs::read(&der_path).expect("certificate");
    // Packet time is the dashboard's time: stamped after the certificate was made.
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    let cap = dir.path("tls.pcap");
    let mut p = Pcap::new(1);
    for k in 0..40u64 {
        let t = now_us + k * 1_000_000;
        let finished = || [tls_record(20, &[1]), tls_record(22, &[0x33; 40])].concat();
        let script = if k % 7 == 6 {
            vec![
                tls_record(22, &client_hello("soon.ht13t.test")),
                tls_record(21, &[2, 40]),
            ]
        } else {
            let (sni, version) = if k % 5 == 4 {
                ("old.ht13t.test", 0x0301)
            } else {
                ("soon.ht13t.test", 0x0303)
            };
            vec![
                tls_record(22, &client_hello(sni)),
                server_flight(version, 0xc02f, &der),
                // ClientKeyExchange, ChangeCipherSpec, Finished (encrypted).
                [tls_record(22, &tls_handshake(16, &[0x41; 66])), finished()].concat(),
                finished(),
                tls_record(23, &[0x44; 300]),
                tls_record(23, &[0x55; 1200]),
            ]
        };
        tls_connection(&mut p, t, 40_000 + k as u16, &script);
    }
    std::fs::write(&cap, p.bytes).expect("write capture");
    Some(cap)
}

/// Replays `cap` in the dashboard, opens the TLS panel on the retention window (so the
/// rows stay however slow the machine), waits for `ready`, and returns that screen after
/// quitting with `q`.
fn tls_dashboard(cap: &std::path::Path, name: &str, ready: impl Fn(&str) -> bool) -> String {
    let cmd = format!(
        "{} -r {} --realtime --speed 4 --refresh 100ms -q",
        bin().display(),
        cap.display()
    );
    let s = Session::start(name, &cmd);
    s.wait_for("the dashboard", 20, |t| t.contains("Sections"));
    s.keys("t");
    s.keys("4");
    let screen = s.wait_for("the TLS panel", 30, |t| {
        t.contains("TLS (retention,") && ready(t)
    });
    s.keys("q");
    let done = s.wait_for("exit", 20, |t| t.contains("EXITED="));
    assert!(done.contains("EXITED=0"), "{done}");
    screen
}

#[test]
fn tls_panel_on_the_dashboard() {
    if !have_tmux() {
        return;
    }
    let dir = TempDir::new("ht13t-tui-tls");
    let Some(cap) = tls_capture(&dir) else {
        return;
    };
    let want = [
        "soon.ht13t.test",
        "old.ht13t.test",
        "TLS 1.2",
        "TLS 1.0 (deprecated)",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "handshake_failure from server",
        "Certificates expiring within 30 days",
    ];
    // Once every connection is counted: 40, 35 completed, 5 refused (all to soon).
    let all = "TLS (retention, 40 connections, 35 completed, 5 failed)";
    let tls = tls_dashboard(&cap, "httptop-tls", |t| {
        t.contains(all) && want.iter().all(|w| t.contains(w))
    });
    let cells = |name: &str| {
        let line = tls.lines().find(|l| l.contains(name)).unwrap_or_default();
        line.split_whitespace()
            .skip(1)
            .take(2)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(cells("│soon.ht13t.test"), ["33", "5"], "{tls}");
    assert_eq!(cells("│old.ht13t.test"), ["7", "0"], "{tls}");
}

/// The certificate's subject, SNI and days left reach the panel from the wire (the
/// engine decodes the leaf with x509-parser).
#[test]
fn tls_panel_shows_the_expiring_certificate_from_the_wire() {
    if !have_tmux() {
        return;
    }
    let dir = TempDir::new("ht13t-tui-cert");
    let Some(cap) = tls_capture(&dir) else {
        return;
    };
    let tls = tls_dashboard(&cap, "httptop-tls-cert", |t| {
        t.lines()
            .any(|l| l.contains("9d soon.ht13t.test") && l.matches("soon.ht13t.test").count() >= 2)
    });
    assert!(
        tls.contains("Certificates expiring within 30 days"),
        "{tls}"
    );
}
