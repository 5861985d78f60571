//! Service mode: the `--log` file reopened on SIGHUP (logrotate moves it away first) and
//! rotated by size (`--log-max-mib`, `--log-keep`), counted against a known capture: no
//! exchange lost, none written twice, none out of order across the files.

mod common;

use common::live::Killed;
use common::{bin, exchange, Pcap};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("ht16-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    // Started as root, httptop runs as `nobody` once the capture is open: reopening and
    // rotating create files here as that user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    Dir(d)
}

/// `n` exchanges `gap_us` apart, each from its own client port (its identity).
fn capture(path: &Path, n: u32, gap_us: u64, path_len: usize) {
    let mut p = Pcap::new(1);
    let long = "x".repeat(path_len);
    for i in 0..n {
        let req = format!("GET /{long}/{i} HTTP/1.1\r\nHost: a\r\n\r\n");
        exchange(
            &mut p,
            1_700_000_000_000_000 + u64::from(i) * gap_us,
            // Ports wrap past 65535 only for captures larger than any here.
            (1024 + i % 64_000) as u16,
            req.as_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
    }
    std::fs::write(path, &p.bytes).expect("write capture");
}

/// The exchange records of a log file: (timestamp, path).
fn exchanges(p: &Path) -> Vec<(f64, String)> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .filter(|v| v["type"] == "exchange")
        .map(|v| {
            (
                v["ts"].as_f64().expect("ts"),
                v["path"].as_str().expect("path").to_string(),
            )
        })
        .collect()
}

#[test]
fn sighup_after_the_log_was_moved_reopens_it_losing_and_doubling_nothing() {
    let d = dir("hup");
    let pcap = d.0.join("sixty.pcap");
    // 60 exchanges over 3 s at the capture's own pace.
    capture(&pcap, 60, 50_000, 1);
    let log = d.0.join("exchanges.jsonl");
    let mut child = Command::new(bin())
        .arg("-r")
        .arg(&pcap)
        .args(["--realtime", "--output", "plain", "--log"])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start httptop");
    let stderr = child.stderr.take().expect("stderr");
    let pid = child.id();
    let mut child = Killed(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    // The log is flushed every second of a replay: wait until it holds an exchange.
    let deadline = Instant::now() + Duration::from_secs(30);
    while exchanges(&log).is_empty() {
        assert!(Instant::now() < deadline, "nothing logged in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let moved = d.0.join("exchanges.jsonl.1");
    std::fs::rename(&log, &moved).expect("move the log away");
    let kill = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let mut seen = Vec::new();
    let reopened = format!("httptop: SIGHUP: log file {} reopened", log.display());
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l == reopened => break,
            Ok(l) => seen.push(l),
            Err(e) => panic!("no reopen message ({e}): {seen:#?}"),
        }
    }
    let status = loop {
        if let Some(s) = child.0.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "httptop did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    let (old, new) = (exchanges(&moved), exchanges(&log));
    assert!(
        !old.is_empty() && !new.is_empty(),
        "{} / {}",
        old.len(),
        new.len()
    );
    assert_eq!(old.len() + new.len(), 60, "every exchange once");
    let paths: BTreeSet<_> = old.iter().chain(&new).map(|(_, p)| p.clone()).collect();
    assert_eq!(paths.len(), 60, "no exchange written twice");
    let last_old = old.iter().map(|(t, _)| *t).fold(f64::MIN, f64::max);
    let first_new = new.iter().map(|(t, _)| *t).fold(f64::MAX, f64::min);
    assert!(
        last_old <= first_new,
        "the new file has the following exchanges"
    );
}

#[test]
fn size_rotation_keeps_n_files_each_near_the_limit() {
    let d = dir("rotate");
    let pcap = d.0.join("big.pcap");
    // About 1 KB of log per exchange: 4,000 exchanges make about 4 MiB.
    capture(&pcap, 4_000, 1_000, 300);
    let log = d.0.join("x.jsonl");
    let run = |keep: &str| {
        let o = Command::new(bin())
            .arg("-r")
            .arg(&pcap)
            .args([
                "-q",
                "--output",
                "json",
                "--log-max-mib",
                "1",
                "--log-keep",
                keep,
            ])
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::null())
            .output()
            .expect("run httptop");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.is_empty(), "{err}");
    };
    run("5");
    let name = |n: u32| match n {
        0 => log.clone(),
        n => PathBuf::from(format!("{}.{n}", log.display())),
    };
    let files: Vec<PathBuf> = (0..=5).map(name).take_while(|f| f.exists()).collect();
    assert!(files.len() >= 3, "rotated at least twice: {files:?}");
    assert!(files.len() <= 5, "below --log-keep 5: {files:?}");
    let mut total = 0;
    for f in &files {
        let len = std::fs::metadata(f).expect("rotated file").len();
        assert!(
            len <= (1 << 20) + (64 << 10) + 4096,
            "{}: {len}",
            f.display()
        );
        total += exchanges(f).len();
    }
    assert_eq!(total, 4_000, "nothing lost across the rotated files");
    // The oldest go past --log-keep.
    for f in &files {
        std::fs::remove_file(f).expect("rm");
    }
    run("1");
    assert!(PathBuf::from(format!("{}.1", log.display())).exists());
    assert!(!PathBuf::from(format!("{}.2", log.display())).exists());
    assert!(!PathBuf::from(format!("{}.3", log.display())).exists());
}

#[test]
fn under_the_journal_only_one_line_messages_on_standard_error() {
    let d = dir("journal");
    let pcap = d.0.join("ten.pcap");
    capture(&pcap, 10, 100_000, 1);
    let run = |journal: bool| {
        let mut c = Command::new(bin());
        c.arg("-r")
            .arg(&pcap)
            .args(["--realtime", "--speed", "10", "--refresh", "100ms"])
            .env_remove("JOURNAL_STREAM");
        if journal {
            // What systemd sets for a service whose output goes to the journal.
            c.env("JOURNAL_STREAM", "8:12345");
        }
        let o = c.stdin(Stdio::null()).output().expect("run httptop");
        assert!(o.status.success());
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (out, err) = run(false);
    assert!(out.contains("requests"), "blocks and a report: {out}");
    let (out, err_j) = run(true);
    assert_eq!(out, "", "no blocks, no report");
    // The same messages on standard error (the first line has the run's duration).
    let tail = |e: &str| e.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(tail(&err_j), tail(&err));
    assert!(err_j
        .lines()
        .all(|l| l.starts_with("httptop: ") || l.starts_with("High traffic")));
    assert!(err_j.contains("httptop: 70 frames"), "{err_j}");
}
