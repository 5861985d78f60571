//! Privileges of the running process, read from `/proc`: started as root, httptop opens
//! the capture on `lo`, then runs as `nobody` (or `--user`) with every capability set
//! empty and `no_new_privs`, in every thread; the capture still works (requests to nginx
//! on 127.0.0.1 are logged). `--user` without root, an unknown user and uid 0 are refused
//! with exit 2.
//!
//! Needs root and nginx (`nginx-light`); `.ci/run` provides both. When either is missing
//! the test says so and passes, except under `CI=true`, where it fails.

mod common;

use common::live::{free_port, is_root, nginx, require, start_capturing, start_nginx};
use common::{bin, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

/// (uid, gid) of a user, from /etc/passwd.
fn passwd(user: &str) -> (u32, u32) {
    let text = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let line = text
        .lines()
        .find(|l| l.split(':').next() == Some(user))
        .unwrap_or_else(|| panic!("{user} in /etc/passwd"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().expect("uid"), f[3].parse().expect("gid"))
}

/// The fields of /proc/<pid>/task/<tid>/status this test checks.
fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("{name} in {status}"))
        .trim()
}

/// Every thread of `pid` runs as (uid, gid), no supplementary group, no capability in
/// any set, `no_new_privs`. Returns the number of threads checked.
fn assert_dropped(pid: u32, uid: u32, gid: u32) -> usize {
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .map(|e| e.expect("task").path())
        .collect();
    assert!(!tasks.is_empty());
    for task in &tasks {
        let status = std::fs::read_to_string(task.join("status")).expect("status");
        let ids = |name| -> Vec<u32> {
            field(&status, name)
                .split_whitespace()
                .map(|v| v.parse().expect("id"))
                .collect()
        };
        assert_eq!(ids("Uid"), vec![uid; 4], "{}: {status}", task.display());
        assert_eq!(ids("Gid"), vec![gid; 4], "{}: {status}", task.display());
        assert_eq!(ids("Groups"), Vec::<u32>::new(), "{status}");
        for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert_eq!(
                u64::from_str_radix(field(&status, cap), 16).expect("hex"),
                0,
                "{cap} of {}: {status}",
                task.display()
            );
        }
        assert_eq!(field(&status, "NoNewPrivs"), "1", "{status}");
    }
    tasks.len()
}

/// `n` GET requests on their own connections; returns the statuses.
fn get(port: u16, n: usize) -> Vec<u16> {
    (0..n)
        .map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(
                s,
                "GET /index.html?n={i} HTTP/1.1\r\nHost: privs.test\r\nConnection: close\r\n\r\n"
            )
            .expect("send");
            let mut resp = String::new();
            s.read_to_string(&mut resp).expect("response");
            resp.get(9..12)
                .and_then(|c| c.parse().ok())
                .expect("status line")
        })
        .collect()
}

/// Runs httptop on `lo` with `extra` arguments; once the capture is open, checks the
/// process's privileges as `user`, sends requests, stops it and checks they were logged.
/// Returns the status line httptop printed.
fn capture_as(name: &str, extra: &[&str], user: &str) -> String {
    let dir = TempDir::new(name);
    let port = free_port();
    let _nginx = start_nginx(&dir.0, port);
    let log = dir.path("exchanges.jsonl");
    // The line that says the capture is open comes after the drop.
    let run = start_capturing(
        Command::new(bin())
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "--log"])
            .arg(&log)
            .args(["--output", "plain", "--refresh", "200ms"])
            .args(extra),
    );
    let pid = run.pid;
    let (uid, gid) = passwd(user);
    assert_dropped(pid, uid, gid);
    let statuses = get(port, 5);
    assert_eq!(statuses, vec![200; 5]);
    // Threads started later (none today) would be checked here too.
    assert_dropped(pid, uid, gid);
    let line = run.line.clone();
    let rest = run.stop();
    let text = std::fs::read_to_string(&log).expect("log");
    let logged: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .filter(|v: &serde_json::Value| v["type"] == "exchange")
        .collect();
    assert_eq!(logged.len(), 5, "{text}\n{rest}");
    for (i, ex) in logged.iter().enumerate() {
        assert_eq!(ex["host"], "privs.test");
        assert_eq!(ex["path"], format!("/index.html?n={i}").as_str());
        assert_eq!(ex["status"], 200);
    }
    line
}

#[test]
fn as_root_the_capture_runs_as_nobody_without_capabilities() {
    if !require(is_root(), "root (capture on lo)")
        || !require(nginx().is_some(), "nginx (nginx-light)")
    {
        return;
    }
    let line = capture_as("privs-default", &[], "nobody");
    assert!(line.contains("running as nobody"), "{line}");
    assert!(line.contains("sandbox: "), "{line}");
    assert!(!line.contains("--no-sandbox"), "{line}");
}

#[test]
fn named_user_without_sandbox() {
    if !require(is_root(), "root (capture on lo)")
        || !require(nginx().is_some(), "nginx (nginx-light)")
    {
        return;
    }
    // A user other than the default when the system has one (Debian: `daemon`).
    let user = ["daemon", "nobody"]
        .into_iter()
        .find(|u| {
            std::fs::read_to_string("/etc/passwd")
                .is_ok_and(|t| t.lines().any(|l| l.starts_with(&format!("{u}:"))))
        })
        .expect("a user");
    let line = capture_as("privs-user", &["--user", user, "--no-sandbox"], user);
    assert!(line.contains(&format!("running as {user}")), "{line}");
    assert!(line.contains("sandbox: off (--no-sandbox)"), "{line}");
}

#[test]
fn bad_user_arguments_exit_2() {
    if !require(is_root(), "root (to run httptop as nobody)") {
        return;
    }
    for (user, expect) in [
        ("no-such-user-httptop", "no such user"),
        ("root", "is uid 0"),
    ] {
        let out = Command::new(bin())
            .args(["--demo", "--output", "plain", "--user", user])
            .output()
            .expect("run httptop");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{user}: {stderr}");
        assert!(stderr.contains(expect), "{user}: {stderr}");
        assert!(out.stdout.is_empty(), "{user}: nothing runs");
    }
    // Not root: --user is refused before anything opens.
    let dir = TempDir::new("privs-notroot");
    let copy = dir.path("httptop");
    std::fs::copy(bin(), &copy).expect("copy binary");
    let _ = Command::new("chmod")
        .arg("755")
        .arg(&dir.0)
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
        .args(["--demo", "--output", "plain", "--user", "nobody"])
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "httptop: --user nobody: only root can switch users (run as root, or leave out --user)"
    );
}
