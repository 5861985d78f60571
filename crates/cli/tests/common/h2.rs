//! Helpers of the HTTP/2 acceptance tests (`tests/http2_live.rs`, `tests/http2_alerting.rs`):
//! processes bounded in time, tcpdump beside httptop on `lo`, and the request counts the
//! tests compare: what the clients sent, httptop's JSON log, and tshark's reading of the
//! same capture.
//!
//! Counting rules (the same on every side, keys of [`Counts`]):
//! - `requests`, `method:M`, `host:H` once per request: on httptop's side an exchange
//!   without the `no_request` flag (its `host` is `:authority`, else `Host`); on tshark's
//!   side every header block with `:method` (host from its `:authority`, else its `host`
//!   field) and every HTTP/1 request (`http.request.method`, `http.host`);
//! - `status:S` once per final response: the log's `status`, tshark's `:status` of a
//!   response header block or `http.response.code` of an HTTP/1 response;
//! - `interim` once per interim (1xx) response: the log's `interim`, tshark's 1xx codes
//!   (HTTP/1 or HTTP/2). An h2c upgrade's `101` is one: tshark shows the upgrade request as
//!   HTTP/1.1 and its `101`, then the final status on HTTP/2 stream 1; httptop reports
//!   that request once, as stream 1's exchange, the `101` counted in its `interim`;
//! - `grpc:N` once per gRPC call with a status: the log's `grpc_status`, tshark's
//!   `grpc-status` header fields (trailers, or a trailers-only response).

#![allow(dead_code)]

use super::bin;
use super::live::{nginx, Killed};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Request counts by key (see the module docs).
pub type Counts = BTreeMap<String, i64>;

pub fn bump(c: &mut Counts, k: impl Into<String>, n: i64) {
    if n != 0 {
        *c.entry(k.into()).or_insert(0) += n;
    }
}

/// One request counted under `requests`, `method:` and `host:`.
pub fn count_request(c: &mut Counts, method: &str, host: &str) {
    bump(c, "requests", 1);
    bump(c, format!("method:{method}"), 1);
    bump(
        c,
        format!("host:{}", if host.is_empty() { "(none)" } else { host }),
        1,
    );
}

/// One response counted under `status:` (final) or `interim` (1xx).
pub fn count_status(c: &mut Counts, code: &str) {
    if code.starts_with('1') {
        bump(c, "interim", 1);
    } else {
        bump(c, format!("status:{code}"), 1);
    }
}

/// Waits for `child` at most `limit`; kills it and panics past that.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd` to completion within `limit` (killed and a panic past it), its output
/// captured; panics unless it exits 0.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_bounded(&mut child, limit, &what);
    let output = Output {
        status,
        stdout: t_out.join().expect("stdout reader"),
        stderr: t_err.join().expect("stderr reader"),
    };
    assert!(
        output.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits until something accepts connections on 127.0.0.1:`port` (at most 15 s).
pub fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a server process (output to `log` in its directory) and waits until it
/// listens on `port`; killed when dropped.
pub fn start_server(cmd: &mut Command, port: u16, log: &Path) -> Killed {
    let f = std::fs::File::create(log).expect("server log");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(f.try_clone().expect("log fd"))
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let k = Killed(child);
    wait_listening(port, &format!("{cmd:?}"));
    k
}

/// tcpdump writing every packet of `tcp port PORT` on `lo` to a file, started by
/// [`Tcpdump::start`] and told to stop by [`Tcpdump::stop`].
pub struct Tcpdump {
    child: Killed,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    pub path: PathBuf,
}

impl Tcpdump {
    /// Returns once tcpdump says it is listening. `--immediate-mode`: without it packets
    /// still in the ring buffer when tcpdump is stopped are lost.
    pub fn start(port: u16, path: &Path) -> Tcpdump {
        use std::io::BufRead;
        let mut child = Command::new("tcpdump")
            .args([
                "-i",
                "lo",
                "-n",
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                "-B",
                "16384",
            ])
            .arg("-w")
            .arg(path)
            .args(["tcp", "port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump");
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        let child = Killed(child);
        let mut line = String::new();
        loop {
            line.clear();
            let n = stderr.read_line(&mut line).expect("read tcpdump stderr");
            assert!(n > 0, "tcpdump exited before listening");
            if line.contains("listening on") {
                break;
            }
        }
        Tcpdump {
            child,
            stderr,
            path: path.to_path_buf(),
        }
    }

    /// SIGINT, then the exit within 10 s; panics if the kernel dropped packets (the
    /// capture would not hold all that the clients sent). Returns the capture's path.
    pub fn stop(mut self) -> PathBuf {
        let st = Command::new("kill")
            .args(["-INT", &self.child.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        wait_bounded(&mut self.child.0, Duration::from_secs(10), "tcpdump");
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest);
        assert!(
            rest.lines()
                .any(|l| l.trim() == "0 packets dropped by kernel"),
            "tcpdump dropped packets: {rest}"
        );
        self.path.clone()
    }
}

/// The records of a JSON Lines log.
pub fn read_log(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("json line {l}: {e}")))
        .collect()
}

/// Counts of the `exchange` records of httptop's JSON log (schema in
/// `crates/output/src/jsonl.rs`).
pub fn log_counts(records: &[serde_json::Value]) -> Counts {
    let mut c = Counts::new();
    for r in records.iter().filter(|r| r["type"] == "exchange") {
        let flags = r["flags"].as_array().cloned().unwrap_or_default();
        if !flags.iter().any(|f| f == "no_request") {
            count_request(
                &mut c,
                r["method"].as_str().unwrap_or("(bytes)"),
                r["host"].as_str().unwrap_or("(bytes)"),
            );
        }
        if let Some(s) = r["status"].as_u64() {
            count_status(&mut c, &s.to_string());
        }
        bump(&mut c, "interim", r["interim"].as_i64().unwrap_or(0));
        if let Some(g) = r["grpc_status"].as_u64() {
            bump(&mut c, format!("grpc:{g}"), 1);
        }
    }
    c
}

/// httptop reading `capture` (`-r`) with `--log -`: its records.
pub fn httptop_read(capture: &Path) -> Vec<serde_json::Value> {
    let out = run_bounded(
        Command::new(bin())
            .arg("-r")
            .arg(capture)
            .args(["--log", "-", "-q"]),
        Duration::from_secs(120),
    );
    read_log(&String::from_utf8_lossy(&out.stdout))
}

/// httptop's JSON report of `capture` (`-r --output json`).
pub fn httptop_report(capture: &Path) -> serde_json::Value {
    let out = run_bounded(
        Command::new(bin())
            .arg("-r")
            .arg(capture)
            .args(["--output", "json", "-q"]),
        Duration::from_secs(120),
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

/// The report's Protocols row `name`: (connections, requests).
pub fn protocol_row(report: &serde_json::Value, name: &str) -> (u64, u64) {
    let rows = report["protocols"].as_array().expect("protocols");
    let row = rows
        .iter()
        .find(|r| r["protocol"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:?}"));
    (
        row["connections"].as_u64().expect("connections"),
        row["requests"].as_u64().expect("requests"),
    )
}

/// How tshark is told what runs on the test's port.
#[derive(Clone, Copy)]
pub enum DecodeAs {
    /// `-d tcp.port==N,http2`: HTTP/2 with prior knowledge.
    Http2,
    /// `-d tcp.port==N,http`: HTTP/1.1, which hands the connection to HTTP/2 after an
    /// `Upgrade: h2c` answered by 101.
    Http,
}

/// tshark's reading of `capture` (see the module docs for the rules). Aggregated fields
/// are split at 0x1f, which no header field of these tests holds.
pub fn tshark_counts(capture: &Path, port: u16, decode: DecodeAs) -> Counts {
    let proto = match decode {
        DecodeAs::Http2 => "http2",
        DecodeAs::Http => "http",
    };
    let out = run_bounded(
        Command::new("tshark")
            .arg("-r")
            .arg(capture)
            .args(["-d", &format!("tcp.port=={port},{proto}")])
            .args([
                "-T",
                "fields",
                "-E",
                "occurrence=a",
                "-E",
                "aggregator=\x1f",
            ])
            .args(["-E", "separator=\t"])
            .args(["-e", "http.request.method", "-e", "http.host"])
            .args(["-e", "http.response.code"])
            .args(["-e", "http2.header.name", "-e", "http2.header.value"]),
        Duration::from_secs(120),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut c = Counts::new();
    for line in text.lines() {
        let cols: Vec<Vec<&str>> = line
            .split('\t')
            .map(|f| {
                if f.is_empty() {
                    Vec::new()
                } else {
                    f.split('\x1f').collect()
                }
            })
            .collect();
        let col = |i: usize| cols.get(i).cloned().unwrap_or_default();
        let (methods, hosts) = (col(0), col(1));
        for (i, m) in methods.iter().enumerate() {
            // One Host per request in these captures (none has a request without one).
            count_request(&mut c, m, hosts.get(i).copied().unwrap_or(""));
        }
        for code in col(2) {
            count_status(&mut c, code);
        }
        let (names, values) = (col(3), col(4));
        assert_eq!(names.len(), values.len(), "tshark line: {line}");
        // Header blocks, in order: a block starts at a pseudo-header that follows a
        // regular field or repeats one of the block's (tshark lists the fields of all
        // the frame's blocks in one sequence). Trailers (no pseudo-header) stay with the
        // block before them, where they count only for `grpc-status`.
        let mut block: Vec<(&str, &str)> = Vec::new();
        let mut blocks: Vec<Vec<(&str, &str)>> = Vec::new();
        for (&n, &v) in names.iter().zip(&values) {
            let starts = n.starts_with(':')
                && block.last().is_some_and(|(p, _)| {
                    !p.starts_with(':') || block.iter().any(|(q, _)| *q == n)
                });
            if starts {
                blocks.push(std::mem::take(&mut block));
            }
            block.push((n, v));
        }
        blocks.push(block);
        for b in &blocks {
            let get = |k: &str| b.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            if let Some(m) = get(":method") {
                count_request(&mut c, m, get(":authority").or(get("host")).unwrap_or(""));
            }
            if let Some(s) = get(":status") {
                count_status(&mut c, s);
            }
            for (_, g) in b.iter().filter(|(n, _)| *n == "grpc-status") {
                bump(&mut c, format!("grpc:{g}"), 1);
            }
        }
    }
    c
}

/// `ours` minus `theirs`, non-zero keys only.
pub fn diff(ours: &Counts, theirs: &Counts) -> BTreeMap<String, i64> {
    let mut d = BTreeMap::new();
    for k in ours.keys().chain(theirs.keys()) {
        let v = ours.get(k).copied().unwrap_or(0) - theirs.get(k).copied().unwrap_or(0);
        if v != 0 {
            d.insert(k.clone(), v);
        }
    }
    d
}

/// The Python with Debian's `python3-grpcio` (`/usr/bin/python3`: a python3 earlier in
/// PATH, from pyenv say, may lack it).
pub fn python_with(module: &str) -> Option<PathBuf> {
    ["/usr/bin/python3", "python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
}

/// Whether `prog` runs (`prog --version` or any argument that exits).
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx serving `www` with h2c (prior knowledge) on 127.0.0.1:`port`, its files in `dir`;
/// `listen_extra`: more `listen` parameters (`proxy_protocol`), or empty.
pub fn start_nginx_h2c(dir: &Path, www: &Path, port: u16, listen_extra: &str) -> Killed {
    // Debian 12's nginx 1.22: `http2` is a parameter of `listen` (the `http2 on;`
    // directive came with 1.25.1); without `ssl` it is h2c with prior knowledge.
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{\n  listen 127.0.0.1:{port} {listen_extra} http2;\n  root {w};\n  location / {{ }}\n }}\n}}\n",
        d = dir.display(),
        w = www.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    start_server(
        Command::new(nginx().expect("nginx"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir),
        port,
        &dir.join("nginx.out"),
    )
}
