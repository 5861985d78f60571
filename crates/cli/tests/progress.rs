//! The progress bar of `-r FILE`: on a terminal (a real one, tmux) it is drawn and left
//! completed above the summary; through a pipe, with `-q` or with `-r -` there is none.

mod common;

use common::tmux::{have_tmux, Session};
use common::{bin, exchange, Pcap};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const EXCHANGES: u32 = 20_000;

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// About 11 MB: 20,000 connections of 7 packets.
fn big_capture(name: &str) -> (Dir, PathBuf) {
    let d = std::env::temp_dir().join(format!("ht16-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    let mut p = Pcap::new(1);
    for i in 0..EXCHANGES {
        exchange(
            &mut p,
            1_700_000_000_000_000 + u64::from(i) * 1_000,
            1024 + (i % 60_000) as u16,
            format!("GET /{i} HTTP/1.1\r\nHost: big\r\nUser-Agent: progress-test\r\n\r\n")
                .as_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
    }
    let f = d.join("big.pcap");
    std::fs::write(&f, &p.bytes).expect("write capture");
    (Dir(d), f)
}

fn bar_line(screen: &str) -> Option<&str> {
    screen
        .lines()
        .find(|l| l.contains("packets/s, ") && l.contains(" exchanges, "))
}

#[test]
fn a_terminal_sees_the_bar_completed_and_none_with_q_or_stdin() {
    if !have_tmux() {
        return;
    }
    let (_d, f) = big_capture("bar");
    let total = std::fs::metadata(&f).expect("size").len();
    let s = Session::start(
        "ht16-progress",
        &format!(
            "{} -r {} --output json >/dev/null",
            bin().display(),
            f.display()
        ),
    );
    let screen = s.wait_for("the end of the run", 120, |s| s.contains("EXITED="));
    assert!(screen.contains("EXITED=0"), "{screen}");
    let line = bar_line(&screen).unwrap_or_else(|| panic!("no progress bar:\n{screen}"));
    assert!(
        line.contains(&format!("{EXCHANGES} exchanges")),
        "every exchange counted at the end: {line}"
    );
    assert!(line.contains("[===="), "a bar: {line}");
    // Completed: bytes read equal the file's size (indicatif's binary units).
    let size = indicatif_bytes(total);
    assert!(line.contains(&format!("{size}/{size}")), "{line} ({size})");
    // The summary follows the bar.
    assert!(
        screen.contains(&format!("{EXCHANGES} exchanges (")),
        "{screen}"
    );
    drop(s);
    no_bar_with_q_or_from_standard_input_on_a_terminal(&f);
}

/// How indicatif writes a byte count (`{bytes}`): binary units, two decimals.
fn indicatif_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ => format!("{v:.2} {}", units[u]),
    }
}

/// In the same test, one tmux session at a time: parallel tests starting the tmux server
/// race.
fn no_bar_with_q_or_from_standard_input_on_a_terminal(f: &std::path::Path) {
    for (name, cmd) in [
        (
            "q",
            format!(
                "{} -q -r {} --output json >/dev/null",
                bin().display(),
                f.display()
            ),
        ),
        (
            "stdin",
            format!(
                "{} -r - --output json < {} >/dev/null",
                bin().display(),
                f.display()
            ),
        ),
    ] {
        let s = Session::start(&format!("ht16-nobar-{name}"), &cmd);
        let screen = s.wait_for("the end of the run", 120, |s| s.contains("EXITED="));
        assert!(screen.contains("EXITED=0"), "{name}: {screen}");
        assert!(bar_line(&screen).is_none(), "{name}: a bar:\n{screen}");
    }
}

#[test]
fn a_pipe_sees_no_bar() {
    let (_d, f) = big_capture("pipe");
    let o = Command::new(bin())
        .arg("-r")
        .arg(&f)
        .args(["--output", "json"])
        .stdin(Stdio::null())
        .output()
        .expect("run httptop");
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{EXCHANGES} exchanges (")), "{err}");
    assert!(!err.contains("packets/s"), "{err}");
    assert!(
        !err.contains('\r') && !err.contains('\u{1b}'),
        "no terminal control: {err:?}"
    );
}
