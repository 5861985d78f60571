//! The real binary's dashboard in a real pseudo-terminal (tmux): `--demo` and a realtime
//! replay reach the alert and recovered states, the screen shows the panels, counts and
//! messages, and `q` restores the terminal and prints the final summary; a replay of
//! HTTP/2 with gRPC calls shows them in the gRPC panel and the Protocols view.
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
