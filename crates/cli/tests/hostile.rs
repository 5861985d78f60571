//! The memory ceiling under hostile captures (issue 6; the HTTP/2 cases at the end: issue 12).
//!
//! Each test generates a hostile capture with code and streams it to the release binary
//! through `-r -` (a writer thread; nothing large touches the disk), with default limits
//! and `--output json`. While it runs, the harness reads `VmHWM` (the kernel's resident
//! high-water mark) from `/proc/<pid>/status`; after it exits, `getrusage(RUSAGE_CHILDREN)`
//! gives the largest resident set of any child reaped so far (the cases run one at a
//! time, so this also covers the instants between the last reading and the exit). Each
//! case checks that the run finishes with exit 0, that both figures stay under
//! [`CEILING_MIB`], that the valid exchanges mixed into the hostile traffic are counted
//! exactly, and that the anomaly counters matching the attack are set in the report's
//! `counters`.
//!
//! Figures (peak resident memory, run time) are printed on standard error
//! (`cargo test -- --nocapture`); nothing here asserts a duration.

mod common;

use common::h2wire::{h2_frame, h2_head, hp_insert, hp_int, hp_lit, PREFACE};
use common::h2wire::{DATA, END_HEADERS, END_STREAM, HEADERS, SETTINGS};
use common::{bin, PcapStream, TempDir};
use httptop_wire::build::{flags, Endpoint};
use serde_json::Value;
use std::io::{BufWriter, Read, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The issue's ceiling on resident memory with default limits.
const CEILING_MIB: u64 = 100;
/// A case that has not finished by then has failed (it is killed).
const DEADLINE: Duration = Duration::from_secs(300);
/// Valid exchanges mixed into every hostile capture.
const VALID: u64 = 1000;
const VALID_HOST: &str = "valid.example";
const VALID_UA: &str = "valid-agent/1.0";
const T0_US: u64 = 1_700_000_000_000_000;

const ACK: u8 = flags::ACK;
const SYN: u8 = flags::SYN;
const PSH_ACK: u8 = flags::PSH | flags::ACK;
const FIN_ACK: u8 = flags::FIN | flags::ACK;
const SERVER: Endpoint = ([10, 0, 0, 2], 80);

/// One case at a time: `RUSAGE_CHILDREN` then speaks for the case just run, and the
/// memory figures are not disturbed by another run.
static SERIAL: Mutex<()> = Mutex::new(());

type Stream = PcapStream<BufWriter<ChildStdin>>;

struct Outcome {
    report: Value,
    stderr: String,
}

impl Outcome {
    fn counter(&self, path: &str) -> u64 {
        let mut v = &self.report["counters"];
        for part in path.split('.') {
            v = &v[part];
        }
        v.as_u64()
            .unwrap_or_else(|| panic!("no counter {path} in {}", self.report["counters"]))
    }

    fn requests(&self) -> u64 {
        self.report["requests"].as_u64().expect("requests")
    }

    /// `(count, error)` of `key` in report table `table`.
    fn row(&self, table: &str, key: &str) -> (u64, u64) {
        let rows = self.report[table].as_array().expect("table");
        let r = rows
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no {key} in {table}: {rows:?}"));
        (
            r["count"].as_u64().expect("count"),
            r["error"].as_u64().expect("error"),
        )
    }

    /// The valid exchanges were all counted, exactly.
    fn assert_valid_counted(&self) {
        assert_eq!(self.row("hosts", VALID_HOST), (VALID, 0), "{}", self.stderr);
        assert_eq!(self.row("user_agents", VALID_UA), (VALID, 0));
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `httptop -r - --output json ARGS` on the capture `gen` writes, checks exit 0 and
/// the memory ceiling, and returns the parsed report.
fn run_case<F>(name: &str, args: &[&str], gen: F) -> Outcome
where
    F: FnOnce(&mut Stream) -> std::io::Result<()> + Send + 'static,
{
    let (status, stdout, stderr) = run_raw(name, args, gen);
    assert!(status.success(), "{name}: {status}\n{stderr}");
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{name}: report is not JSON ({e}): {stdout:.2000}"));
    Outcome { report, stderr }
}

/// Runs `httptop -r - --output json ARGS` on the capture `gen` writes (a write error is
/// the writer's failure only when httptop succeeded), checks the memory ceiling, and
/// returns the exit status, standard output and standard error.
fn run_raw<F>(name: &str, args: &[&str], gen: F) -> (ExitStatus, String, String)
where
    F: FnOnce(&mut Stream) -> std::io::Result<()> + Send + 'static,
{
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut child = Command::new(bin())
        .args(["-r", "-", "--output", "json"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httptop");
    let pid = child.id();
    let stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || -> std::io::Result<u64> {
        let mut s = PcapStream::new(BufWriter::with_capacity(1 << 20, stdin), T0_US)?;
        gen(&mut s)?;
        s.flush()?;
        Ok(s.t_us - T0_US)
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // VmHWM only grows: the last reading before exit is the peak up to that reading.
    let mut hwm = 0;
    let status = loop {
        if let Some(k) = vm_hwm_kib(pid) {
            hwm = hwm.max(k);
        }
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name}: still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let frames = writer.join().expect("writer thread");
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let maxrss_kib = u64::try_from(usage.max_rss()).unwrap_or(0);
    eprintln!(
        "hostile {name}: {:.1} s, peak RSS {:.1} MiB (VmHWM), children max {:.1} MiB; {} frames",
        started.elapsed().as_secs_f64(),
        hwm as f64 / 1024.0,
        maxrss_kib as f64 / 1024.0,
        frames.as_ref().map_or(0, |n| *n),
    );
    if status.success() {
        frames.unwrap_or_else(|e| panic!("{name}: writing the capture: {e}\n{stderr}"));
    }
    assert!(hwm > 0, "{name}: VmHWM never read");
    assert!(
        hwm < CEILING_MIB * 1024,
        "{name}: peak RSS {hwm} KiB\n{stderr}"
    );
    assert!(
        maxrss_kib < CEILING_MIB * 1024,
        "{name}: max RSS {maxrss_kib} KiB\n{stderr}"
    );
    (status, stdout, stderr)
}

/// A client endpoint numbered `n` (distinct for every `n` below 2^24).
fn client(net: u8, n: u32) -> Endpoint {
    (
        [net, (n >> 16) as u8, (n >> 8) as u8, n as u8],
        40_000 + (n % 20_000) as u16,
    )
}

/// Valid exchange number `k`: its own connection, handshake, one request, one response,
/// FINs.
fn valid(s: &mut Stream, k: u32) -> std::io::Result<()> {
    let c = client(172, k);
    let req =
        format!("GET /valid/{k} HTTP/1.1\r\nHost: {VALID_HOST}\r\nUser-Agent: {VALID_UA}\r\n\r\n");
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let (ci, si) = (1000u32, 5000u32);
    let (rq, rs) = (req.len() as u32, resp.len() as u32);
    s.tcp(c, SERVER, ci, 0, SYN, b"")?;
    s.tcp(SERVER, c, si, ci + 1, SYN | ACK, b"")?;
    s.tcp(c, SERVER, ci + 1, si + 1, ACK, b"")?;
    s.tcp(c, SERVER, ci + 1, si + 1, PSH_ACK, req.as_bytes())?;
    s.tcp(SERVER, c, si + 1, ci + 1 + rq, PSH_ACK, resp)?;
    s.tcp(c, SERVER, ci + 1 + rq, si + 1 + rs, FIN_ACK, b"")?;
    s.tcp(SERVER, c, si + 1 + rs, ci + 2 + rq, FIN_ACK, b"")
}

/// Calls `unit(s, i)` for i in 0..n, with the valid exchanges spread evenly among them.
fn interleaved(
    s: &mut Stream,
    n: u32,
    mut unit: impl FnMut(&mut Stream, u32) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut next_valid = 0u32;
    for i in 0..n {
        while u64::from(next_valid) * u64::from(n) <= u64::from(i) * VALID {
            valid(s, next_valid)?;
            next_valid += 1;
        }
        unit(s, i)?;
    }
    while u64::from(next_valid) < VALID {
        valid(s, next_valid)?;
        next_valid += 1;
    }
    Ok(())
}

/// Opens a connection from `c` (handshake) and returns the next client and server
/// sequence numbers.
fn open(s: &mut Stream, c: Endpoint) -> std::io::Result<(u32, u32)> {
    let (ci, si) = (7_000u32, 90_000u32);
    s.tcp(c, SERVER, ci, 0, SYN, b"")?;
    s.tcp(SERVER, c, si, ci + 1, SYN | ACK, b"")?;
    s.tcp(c, SERVER, ci + 1, si + 1, ACK, b"")?;
    Ok((ci + 1, si + 1))
}

/// A deterministic xorshift64* generator for the random-bytes case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// 1,000,000 requests with distinct Host, path and User-Agent (the first 20,000 with
/// values over 1 KiB, filling every table with the longest keys), pipelined ten per
/// packet on 1,000 keep-alive connections, each answered.
#[test]
fn a_million_distinct_hosts_paths_and_user_agents() {
    const CONNS: u32 = 1000;
    const PER_CONN: u32 = 1000;
    const BATCH: u32 = 10;
    const LONG: u32 = 20_000;
    let o = run_case("distinct_keys", &[], |s| {
        let pad = "x".repeat(1100);
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        let mut req = Vec::new();
        let mut resps = Vec::new();
        interleaved(s, CONNS, |s, c| {
            let cl = client(10, c);
            let (mut cs, mut ss) = open(s, cl)?;
            for b in 0..PER_CONN / BATCH {
                req.clear();
                resps.clear();
                for j in 0..BATCH {
                    let i = c * PER_CONN + b * BATCH + j;
                    let long = if i < LONG { pad.as_str() } else { "" };
                    write!(
                        req,
                        "GET /p{i}{long}/x HTTP/1.1\r\nHost: h{i}{long}.example\r\nUser-Agent: ua-{i}{long}\r\n\r\n"
                    )?;
                    resps.extend_from_slice(resp);
                }
                s.tcp(cl, SERVER, cs, ss, PSH_ACK, &req)?;
                cs = cs.wrapping_add(req.len() as u32);
                s.tcp(SERVER, cl, ss, cs, PSH_ACK, &resps)?;
                ss = ss.wrapping_add(resps.len() as u32);
            }
            s.tcp(cl, SERVER, cs, ss, FIN_ACK, b"")?;
            s.tcp(SERVER, cl, ss, cs + 1, FIN_ACK, b"")
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), u64::from(CONNS * PER_CONN) + VALID);
    assert_eq!(
        o.counter("http.responses"),
        u64::from(CONNS * PER_CONN) + VALID
    );
    for t in ["hosts", "sections", "user_agents"] {
        assert!(o.counter(&format!("stats.{t}_evicted")) > 0, "{t}");
    }
    assert!(o.counter("stats.keys_truncated") > 0);
    assert!(o.counter("http.strings_truncated") > 0);
}

/// 200,000 connections, each sending one request that is never answered, and never
/// closing.
#[test]
fn two_hundred_thousand_connections_that_never_close() {
    const CONNS: u32 = 200_000;
    let o = run_case("open_connections", &[], |s| {
        interleaved(s, CONNS, |s, i| {
            let c = client(11, i);
            s.tcp(c, SERVER, 100, 0, SYN, b"")?;
            s.tcp(SERVER, c, 900, 101, SYN | ACK, b"")?;
            s.tcp(
                c,
                SERVER,
                101,
                901,
                PSH_ACK,
                b"GET /hang HTTP/1.1\r\nHost: hang.example\r\n\r\n",
            )
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), u64::from(CONNS) + VALID);
    assert_eq!(o.row("hosts", "hang.example"), (u64::from(CONNS), 0));
    assert!(o.counter("flows_evicted") + o.counter("flows_shed") > 0);
}

/// 200,000 connections that open, exchange one request and close, each repeated whole
/// 1,000 connections later (the same traffic again from a second mirror, after the
/// close): the memory of closed connections (4,096 entries) cycles 49 times, every repeat
/// is recognised, and nothing is reported twice.
#[test]
fn two_hundred_thousand_closed_connections_then_their_duplicates() {
    const CONNS: u32 = 200_000;
    const LAG: u32 = 1000;
    fn closing(s: &mut Stream, i: u32) -> std::io::Result<()> {
        let c = client(12, i);
        let req = b"GET /closed HTTP/1.1\r\nHost: closed.example\r\n\r\n";
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (ci, si) = (i * 7, i * 13 + 1_000_000);
        let (rq, rs) = (req.len() as u32, resp.len() as u32);
        s.tcp(c, SERVER, ci, 0, SYN, b"")?;
        s.tcp(SERVER, c, si, ci + 1, SYN | ACK, b"")?;
        s.tcp(c, SERVER, ci + 1, si + 1, ACK, b"")?;
        s.tcp(c, SERVER, ci + 1, si + 1, PSH_ACK, req)?;
        s.tcp(SERVER, c, si + 1, ci + 1 + rq, PSH_ACK, resp)?;
        s.tcp(c, SERVER, ci + 1 + rq, si + 1 + rs, FIN_ACK, b"")?;
        s.tcp(SERVER, c, si + 1 + rs, ci + 2 + rq, FIN_ACK, b"")?;
        s.tcp(c, SERVER, ci + 2 + rq, si + 2 + rs, ACK, b"")
    }
    let o = run_case("late_duplicates", &[], |s| {
        interleaved(s, CONNS + LAG, |s, i| {
            if i < CONNS {
                closing(s, i)?;
            }
            match i.checked_sub(LAG) {
                Some(j) => closing(s, j),
                None => Ok(()),
            }
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), u64::from(CONNS) + VALID);
    assert_eq!(o.row("hosts", "closed.example"), (u64::from(CONNS), 0));
    // SYN, SYN-ACK, request and response of every repeat.
    assert_eq!(o.counter("late_duplicates"), 4 * u64::from(CONNS));
    assert_eq!(o.counter("closed_evicted"), u64::from(CONNS) + VALID - 4096);
    assert_eq!(o.counter("flows_created"), u64::from(CONNS) + VALID);
}

/// A request head that never ends (64 MiB of header lines on one connection), and 4,000
/// connections each holding an unfinished 30 KiB head (under the per-head cap).
#[test]
fn a_header_block_that_never_ends() {
    const PARTIAL: u32 = 4000;
    let o = run_case("endless_header", &[], |s| {
        let c = client(12, 0);
        let (mut cs, ss) = open(s, c)?;
        let head = b"GET /endless HTTP/1.1\r\nHost: endless.example\r\n";
        s.tcp(c, SERVER, cs, ss, PSH_ACK, head)?;
        cs = cs.wrapping_add(head.len() as u32);
        let mut line = Vec::new();
        for k in 0..40 {
            write!(line, "X-Filler-{k:04}: {}\r\n", "a".repeat(20))?;
        }
        let seg = &line[..];
        let mut sent = 0usize;
        interleaved(s, PARTIAL, |s, i| {
            // 16 KiB of the endless head per unit: 64 MiB over the case.
            for _ in 0..(16 << 10) / seg.len() + 1 {
                s.tcp(c, SERVER, cs, ss, PSH_ACK, seg)?;
                cs = cs.wrapping_add(seg.len() as u32);
                sent += seg.len();
            }
            let p = client(13, i);
            let (mut ps, pss) = open(s, p)?;
            let first = format!("GET /partial/{i} HTTP/1.1\r\nHost: partial.example\r\n");
            s.tcp(p, SERVER, ps, pss, PSH_ACK, first.as_bytes())?;
            ps = ps.wrapping_add(first.len() as u32);
            while (ps - 7001) as usize + seg.len() < 30 << 10 {
                s.tcp(p, SERVER, ps, pss, PSH_ACK, seg)?;
                ps = ps.wrapping_add(seg.len() as u32);
            }
            Ok(())
        })?;
        assert!(sent >= 64 << 20);
        Ok(())
    });
    o.assert_valid_counted();
    // The endless head is one request (cut at the cap); every unfinished head is one
    // request, emitted when its connection goes.
    assert_eq!(o.requests(), VALID + 1 + u64::from(PARTIAL));
    assert_eq!(o.row("hosts", "endless.example"), (1, 0));
    assert_eq!(o.row("hosts", "partial.example"), (u64::from(PARTIAL), 0));
    assert!(o.counter("http.header_too_large") >= 1);
    assert!(o.counter("flows_shed") > 0);
}

/// One request with a chunked body of more than 4 GiB (sequence numbers wrap), answered
/// 201, counted to the byte.
#[test]
fn a_four_gigabyte_chunked_body() {
    const CHUNK: usize = 65_000;
    const CHUNKS: u32 = 66_100; // 4.296e9 bytes > 2^32
    let dir = TempDir::new("hostile-chunked");
    let log = dir.path("log.jsonl");
    let head =
        b"POST /upload HTTP/1.1\r\nHost: upload.example\r\nTransfer-Encoding: chunked\r\n\r\n";
    let chunk_head = format!("{CHUNK:x}\r\n");
    let body_len = u64::from(CHUNKS) * (chunk_head.len() + CHUNK + 2) as u64 + 5;
    let o = run_case(
        "chunked_4g",
        &["--log", log.to_str().expect("utf-8 path")],
        move |s| {
            let c = client(14, 0);
            let (mut cs, ss) = open(s, c)?;
            s.tcp(c, SERVER, cs, ss, PSH_ACK, head)?;
            cs = cs.wrapping_add(head.len() as u32);
            let mut seg = chunk_head.into_bytes();
            seg.extend(std::iter::repeat_n(b'z', CHUNK));
            seg.extend_from_slice(b"\r\n");
            interleaved(s, CHUNKS, |s, _| {
                s.tcp(c, SERVER, cs, ss, ACK, &seg)?;
                cs = cs.wrapping_add(seg.len() as u32);
                Ok(())
            })?;
            s.tcp(c, SERVER, cs, ss, PSH_ACK, b"0\r\n\r\n")?;
            cs = cs.wrapping_add(5);
            let resp = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
            s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
            let ss = ss.wrapping_add(resp.len() as u32);
            s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
            s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")
        },
    );
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID + 1);
    let log = std::fs::read_to_string(&log).expect("log");
    let upload: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["host"] == "upload.example")
        .collect();
    assert_eq!(upload.len(), 1, "{upload:?}");
    assert_eq!(upload[0]["status"], 201);
    assert_eq!(
        upload[0]["request_bytes"].as_u64(),
        Some(head.len() as u64 + body_len)
    );
    assert_eq!(o.counter("http.bad_chunk"), 0);
    assert_eq!(o.counter("reasm.gaps"), 0);
}

/// 1,000,000 pipelined requests on one connection that never gets a response, and 500
/// connections each holding 64 unanswered requests with 1 KiB strings.
#[test]
fn a_flood_of_requests_never_answered() {
    const FLOOD: u32 = 1_000_000;
    const BATCH: u32 = 50;
    const HEAVY: u32 = 500;
    let o = run_case("request_flood", &[], |s| {
        let c = client(15, 0);
        let (mut cs, ss) = open(s, c)?;
        let mut req = Vec::new();
        for i in 0..BATCH {
            write!(
                req,
                "GET /flood/{i} HTTP/1.1\r\nHost: flood.example\r\n\r\n"
            )?;
        }
        let pad = "y".repeat(1000);
        interleaved(s, FLOOD / BATCH, |s, i| {
            s.tcp(c, SERVER, cs, ss, PSH_ACK, &req)?;
            cs = cs.wrapping_add(req.len() as u32);
            if i % ((FLOOD / BATCH) / HEAVY) == 0 {
                let h = client(16, i);
                let (mut hs, hss) = open(s, h)?;
                for j in 0..64 {
                    let r = format!(
                        "GET /{pad}{j} HTTP/1.1\r\nHost: heavy{pad}.example\r\nUser-Agent: {pad}\r\n\r\n"
                    );
                    s.tcp(h, SERVER, hs, hss, PSH_ACK, r.as_bytes())?;
                    hs = hs.wrapping_add(r.len() as u32);
                }
            }
            Ok(())
        })
    });
    o.assert_valid_counted();
    assert_eq!(
        o.requests(),
        u64::from(FLOOD) + 64 * u64::from(HEAVY) + VALID
    );
    assert_eq!(o.row("hosts", "flood.example"), (u64::from(FLOOD), 0));
    assert!(o.counter("http.pending_overflow") > 0);
    assert!(o.counter("flows_shed") > 0);
}

/// Random bytes: 5,000 connections to port 80 carrying random payloads both ways, and
/// 20,000 frames of random bytes.
#[test]
fn random_bytes_on_port_80() {
    const CONNS: u32 = 5000;
    let o = run_case("random_bytes", &[], |s| {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = vec![0u8; 1500];
        interleaved(s, CONNS, |s, i| {
            let c = client(17, i);
            let (mut cs, mut ss) = open(s, c)?;
            for _ in 0..4 {
                let n = 1 + (rng.next() % 1400) as usize;
                rng.fill(&mut buf[..n]);
                s.tcp(c, SERVER, cs, ss, PSH_ACK, &buf[..n])?;
                cs = cs.wrapping_add(n as u32);
                let n = 1 + (rng.next() % 1400) as usize;
                rng.fill(&mut buf[..n]);
                s.tcp(SERVER, c, ss, cs, PSH_ACK, &buf[..n])?;
                ss = ss.wrapping_add(n as u32);
            }
            for _ in 0..4 {
                let n = (rng.next() % 1500) as usize;
                rng.fill(&mut buf[..n]);
                s.raw(&buf[..n])?;
            }
            Ok(())
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID);
    assert!(o.counter("http.not_http_connections") > 0);
    assert!(o.counter("decode_errors") + o.counter("not_ip") > 0);
}

/// Content-Length 2^64-1 (valid, endless), 2^64 (over u64), -1 and a non-number, in
/// requests and responses, 1,000 connections each.
#[test]
fn content_length_extremes() {
    const EACH: u32 = 1000;
    let o = run_case("content_length", &[], |s| {
        interleaved(s, EACH, |s, i| {
            for (k, cl) in ["18446744073709551615", "18446744073709551616", "-1", "12x"]
                .iter()
                .enumerate()
            {
                let c = client(18, i * 8 + k as u32);
                let (cs, ss) = open(s, c)?;
                let req = format!(
                    "POST /cl HTTP/1.1\r\nHost: cl.example\r\nContent-Length: {cl}\r\n\r\nbody"
                );
                s.tcp(c, SERVER, cs, ss, PSH_ACK, req.as_bytes())?;
                let cs = cs.wrapping_add(req.len() as u32);
                let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nbody");
                s.tcp(SERVER, c, ss, cs, PSH_ACK, resp.as_bytes())?;
                let ss = ss.wrapping_add(resp.len() as u32);
                s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
                s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")?;
            }
            Ok(())
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), 4 * u64::from(EACH) + VALID);
    assert_eq!(o.row("hosts", "cl.example"), (4 * u64::from(EACH), 0));
    assert!(o.counter("http.bad_content_length") >= 3 * u64::from(EACH));
}

/// Every byte value inside a header name and inside a header value, of requests and of
/// responses, 4 times over (4,096 connections): the one-pass header reader must take as
/// malformed exactly the heads `httparse`'s grammar rejects (a name byte that is not a
/// `tchar` or `:`; a value byte under 0x20 other than a tab, or 0x7f), read the others
/// whole, and keep every message counted.
#[test]
fn every_byte_value_in_header_names_and_values() {
    const ROUNDS: u32 = 4;
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let bad_name = |b: u8| !tchar(b) && b != b':';
    let bad_value = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    let o = run_case("header_bytes", &[], |s| {
        interleaved(s, ROUNDS * 256, |s, i| {
            let b = i as u8;
            let c = client(19, i);
            let (cs, ss) = open(s, c)?;
            let mut req = b"GET /bytes HTTP/1.1\r\nHost: bytes.example\r\nX-N".to_vec();
            req.extend([b, b'e', b':', b' ', b'v', b]);
            req.extend(b"v\r\n\r\n");
            s.tcp(c, SERVER, cs, ss, PSH_ACK, &req)?;
            let cs = cs.wrapping_add(req.len() as u32);
            let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-V: a".to_vec();
            resp.extend([b, b'z']);
            resp.extend(b"\r\n\r\nok");
            s.tcp(SERVER, c, ss, cs, PSH_ACK, &resp)?;
            let ss = ss.wrapping_add(resp.len() as u32);
            s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
            s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")
        })
    });
    o.assert_valid_counted();
    let rounds = u64::from(ROUNDS);
    let count = |bad: &dyn Fn(u8) -> bool| (0..=255u8).filter(|&b| bad(b)).count() as u64;
    assert_eq!(o.requests(), 256 * rounds + VALID);
    assert_eq!(o.row("hosts", "bytes.example"), (256 * rounds, 0));
    assert_eq!(
        o.counter("http.malformed_requests"),
        rounds * count(&|b| bad_name(b) || bad_value(b))
    );
    assert_eq!(
        o.counter("http.malformed_responses"),
        rounds * count(&bad_value)
    );
}

/// Chunk sizes that overflow u64 (17 and 40 hex digits), and the largest that does not,
/// 1,000 connections each.
#[test]
fn chunk_sizes_that_overflow() {
    const EACH: u32 = 1000;
    let o = run_case("chunk_overflow", &[], |s| {
        interleaved(s, EACH, |s, i| {
            for (k, size) in [
                "fffffffffffffffff".to_string(),
                "f".repeat(40),
                "ffffffffffffffff".to_string(),
            ]
            .iter()
            .enumerate()
            {
                let c = client(19, i * 4 + k as u32);
                let (cs, ss) = open(s, c)?;
                let req = format!("POST /chunk HTTP/1.1\r\nHost: chunk.example\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nabcdef");
                s.tcp(c, SERVER, cs, ss, PSH_ACK, req.as_bytes())?;
                let cs = cs.wrapping_add(req.len() as u32);
                let resp = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
                s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
                let ss = ss.wrapping_add(resp.len() as u32);
                s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
                s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")?;
            }
            Ok(())
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), 3 * u64::from(EACH) + VALID);
    assert!(o.counter("http.bad_chunk") >= 2 * u64::from(EACH));
}

/// 20,000 connections whose request arrives out of order and is then overlapped and
/// retransmitted with different content: the first copy of each byte wins.
#[test]
fn overlapping_retransmissions_with_different_content() {
    const CONNS: u32 = 20_000;
    let o = run_case("overlaps", &[], |s| {
        interleaved(s, CONNS, |s, i| {
            let c = client(20, i);
            let (cs, ss) = open(s, c)?;
            let real = format!("GET /real/{i:06} HTTP/1.1\r\nHost: overlap.example\r\n\r\n");
            let evil = format!("GET /evil/{i:06} HTTP/1.1\r\nHost: attacks.example\r\n\r\n");
            assert_eq!(real.len(), evil.len());
            let (r, e) = (real.as_bytes(), evil.as_bytes());
            // The tail first (out of order, buffered); then the head, whose bytes past
            // 20 overlap the buffered tail with a different Host; then the whole request
            // again with a different path and Host (all delivered already).
            s.tcp(c, SERVER, cs + 20, ss, PSH_ACK, &r[20..])?;
            let mut head = r[..20].to_vec();
            head.extend_from_slice(&e[20..45]);
            s.tcp(c, SERVER, cs, ss, PSH_ACK, &head)?;
            s.tcp(c, SERVER, cs, ss, PSH_ACK, e)?;
            let cs = cs.wrapping_add(r.len() as u32);
            let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
            let ss = ss.wrapping_add(resp.len() as u32);
            s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
            s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), u64::from(CONNS) + VALID);
    let sections = o.report["sections"].as_array().expect("sections");
    assert!(
        sections
            .iter()
            .all(|r| !r["key"].as_str().unwrap_or("").contains("attack")),
        "{sections:?}"
    );
    assert_eq!(o.row("hosts", "overlap.example"), (u64::from(CONNS), 0));
    assert!(o.counter("reasm.overlaps") > 0);
    assert!(o.counter("reasm.retransmissions") > 0);
}

/// 1,000 connections each sending segments far beyond the window: 1.5 GiB ahead
/// (ignored), and 64 segments of 4,000 bytes 100 MB ahead (buffered up to the
/// per-direction cap: 256 MB in all without a global ceiling).
#[test]
fn segments_far_beyond_the_window() {
    const CONNS: u32 = 1000;
    let o = run_case("beyond_window", &[], |s| {
        let data = vec![b'q'; 4000];
        interleaved(s, CONNS, |s, i| {
            let c = client(21, i);
            let (cs, ss) = open(s, c)?;
            s.tcp(c, SERVER, cs.wrapping_add(3 << 29), ss, PSH_ACK, &data)?;
            for k in 0..64u32 {
                let seq = cs.wrapping_add(100_000_000 + k * 4000);
                s.tcp(c, SERVER, seq, ss, PSH_ACK, &data)?;
            }
            Ok(())
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID);
    assert!(o.counter("reasm.out_of_window") >= u64::from(CONNS));
    assert!(o.counter("flows_shed") > 0);
}

/// Every structure at its cap at once: statistics tables full of keys over 1 KiB (12,000
/// distinct Host, path, User-Agent and client address), then 70,000 connections left
/// open (more than `--max-flows`), a quarter of them with an unanswered request, then
/// 1,000 connections holding a full out-of-order buffer and 1,000 holding an unfinished
/// 30 KiB head.
#[test]
fn every_structure_full_at_once() {
    const KEYS: u32 = 12_000;
    const OPEN: u32 = 70_000;
    const BUFFERED: u32 = 1000;
    let o = run_case("all_at_once", &[], |s| {
        let pad = "k".repeat(1100);
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        let ooo = vec![b'o'; 4000];
        let filler =
            "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(20);
        interleaved(s, KEYS + OPEN + 2 * BUFFERED, |s, i| {
            if i < KEYS {
                let c = client(23, i);
                let (cs, ss) = open(s, c)?;
                let req = format!(
                    "GET /{i}{pad}/x HTTP/1.1\r\nHost: {i}{pad}.example\r\nUser-Agent: {i}{pad}\r\n\r\n"
                );
                s.tcp(c, SERVER, cs, ss, PSH_ACK, req.as_bytes())?;
                let cs = cs.wrapping_add(req.len() as u32);
                s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
                let ss = ss.wrapping_add(resp.len() as u32);
                s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
                s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")
            } else if i < KEYS + OPEN {
                // Answered, never closed: idle connections that fill the flow table; one
                // in four keeps its request unanswered (held until shed or evicted).
                let c = client(24, i);
                let (cs, ss) = open(s, c)?;
                let req = format!("GET /open/{i} HTTP/1.1\r\nHost: open.example\r\n\r\n");
                s.tcp(c, SERVER, cs, ss, PSH_ACK, req.as_bytes())?;
                if i % 4 != 0 {
                    let cs = cs.wrapping_add(req.len() as u32);
                    s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
                }
                Ok(())
            } else if i < KEYS + OPEN + BUFFERED {
                let c = client(25, i);
                let (cs, ss) = open(s, c)?;
                for k in 0..64u32 {
                    s.tcp(
                        c,
                        SERVER,
                        cs.wrapping_add(10_000 + k * 4000),
                        ss,
                        PSH_ACK,
                        &ooo,
                    )?;
                }
                Ok(())
            } else {
                let c = client(26, i);
                let (mut cs, ss) = open(s, c)?;
                let first = format!("GET /partial/{i} HTTP/1.1\r\nHost: partial.example\r\n");
                s.tcp(c, SERVER, cs, ss, PSH_ACK, first.as_bytes())?;
                cs = cs.wrapping_add(first.len() as u32);
                for _ in 0..(30 << 10) / filler.len() {
                    s.tcp(c, SERVER, cs, ss, PSH_ACK, filler.as_bytes())?;
                    cs = cs.wrapping_add(filler.len() as u32);
                }
                Ok(())
            }
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID + u64::from(KEYS + OPEN + BUFFERED));
    assert!(o.counter("flows_evicted") > 0);
    assert!(o.counter("flows_shed") > 0);
    assert!(o.counter("stats.hosts_evicted") > 0);
    assert!(o.counter("stats.clients_evicted") > 0);
}

/// A capture record claiming 60 MiB, with the bytes behind it, after valid traffic: the
/// reader refuses it before buffering it (over `FileOptions::max_record_size`), scans 16
/// MiB for a plausible record (`FileOptions::max_resync_bytes`) without holding them,
/// then gives up with the damage named; the report still comes, the exit code is 1.
#[test]
fn a_sixty_megabyte_capture_record() {
    let (status, stdout, stderr) = run_raw("huge_record", &[], |s| {
        for k in 0..10 {
            valid(s, k)?;
        }
        s.raw(&vec![0x55; 60 << 20])
    });
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("record length 62914560 over the 1 MiB limit"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no plausible record in the 16 MiB"),
        "{stderr}"
    );
    assert!(stderr.contains("damaged capture"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("the report, as JSON");
    assert!(report.is_object(), "{stdout:.2000}");
}

/// An Ethernet/IPv4 frame: `proto`, identification `id`, flags and fragment offset field
/// `frag`, around `payload` (issue 11: fragments and tunnels).
fn ipv4_frame(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    frag: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0; 12];
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&id.to_be_bytes());
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(payload);
    f
}

/// 100,000 datagrams whose fragments never complete (a first fragment, and one near the
/// end of a 64 KiB datagram): at most 1,024 in progress and 2 MiB held, the oldest
/// dropped; the valid exchanges around them are all reported.
#[test]
fn fragments_that_never_complete() {
    const DATAGRAMS: u32 = 100_000;
    let o = run_case("fragments_never_complete", &[], |s| {
        interleaved(s, DATAGRAMS, |s, i| {
            let c = client(30, i);
            let t = httptop_wire::build::tcp_segment(c, SERVER, 1, 0, PSH_ACK, &[b'x'; 1400]);
            s.raw(&ipv4_frame(c.0, SERVER.0, 6, i as u16, 0x2000, &t))?;
            s.raw(&ipv4_frame(
                c.0,
                SERVER.0,
                6,
                i as u16,
                0x2000 | 8000,
                &[b'y'; 1400],
            ))
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID);
    assert_eq!(o.counter("ip_fragments"), 2 * u64::from(DATAGRAMS));
    assert_eq!(o.counter("frag_reassembled"), 0);
    assert!(o.counter("frag_evicted") > u64::from(DATAGRAMS) / 2);
}

/// 20,000 requests each carried in an IPv4 datagram cut into three fragments, the second
/// overlapping the first with a different Host: the first copy of each byte wins, as in
/// TCP reassembly, and every overlap is counted.
#[test]
fn overlapping_fragments_with_different_content() {
    const CONNS: u32 = 20_000;
    let o = run_case("fragment_overlaps", &[], |s| {
        interleaved(s, CONNS, |s, i| {
            let c = client(40, i);
            let (cs, ss) = open(s, c)?;
            let real = format!("GET /frag/{i:06} HTTP/1.1\r\nHost: fragments.example\r\n\r\n");
            let evil = format!("GET /evil/{i:06} HTTP/1.1\r\nHost: attacks.example\r\n\r\n");
            let (r, e) = (
                httptop_wire::build::tcp_segment(c, SERVER, cs, ss, PSH_ACK, real.as_bytes()),
                httptop_wire::build::tcp_segment(c, SERVER, cs, ss, PSH_ACK, evil.as_bytes()),
            );
            let id = (i % 60_000) as u16;
            // Bytes 0..48, then 32..48 again from the evil copy, then the rest.
            s.raw(&ipv4_frame(c.0, SERVER.0, 6, id, 0x2000, &r[..48]))?;
            s.raw(&ipv4_frame(c.0, SERVER.0, 6, id, 0x2000 | 4, &e[32..48]))?;
            s.raw(&ipv4_frame(c.0, SERVER.0, 6, id, 6, &r[48..]))?;
            let cs = cs.wrapping_add(real.len() as u32);
            let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
            let ss = ss.wrapping_add(resp.len() as u32);
            s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")?;
            s.tcp(SERVER, c, ss, cs + 1, FIN_ACK, b"")
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), u64::from(CONNS) + VALID);
    assert_eq!(o.row("hosts", "fragments.example"), (u64::from(CONNS), 0));
    assert_eq!(o.counter("frag_reassembled"), u64::from(CONNS));
    assert_eq!(o.counter("frag_overlaps"), u64::from(CONNS));
}

/// 100,000 frames of a request nested in 100 IPv4-in-IPv4 tunnels: each given up at the
/// eighth layer and counted, none reaching the connection table.
#[test]
fn tunnels_nested_a_hundred_deep() {
    const FRAMES: u32 = 100_000;
    let mut frame = httptop_wire::build::tcp_segment(
        ([10, 50, 0, 1], 40_000),
        SERVER,
        1,
        0,
        PSH_ACK,
        b"GET / HTTP/1.1\r\n\r\n",
    );
    let mut proto = 6;
    for _ in 0..100 {
        frame = ipv4_frame([10, 50, 0, 1], SERVER.0, proto, 0, 0x4000, &frame)[14..].to_vec();
        proto = 4;
    }
    let frame = [&[0u8; 12][..], &[0x08, 0x00], &frame].concat();
    let o = run_case("nested_tunnels", &[], move |s| {
        interleaved(s, FRAMES, |s, _| s.raw(&frame))
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID);
    assert_eq!(
        o.counter("decode.too_many_encapsulations"),
        u64::from(FRAMES)
    );
    assert_eq!(o.counter("encap_4in4"), 8 * u64::from(FRAMES));
}

/// PROXY v2 headers claiming 65,535 bytes of TLVs, 2,000 connections: half stream all of
/// them then send a request (which must be parsed, with the header's client), half stop
/// after 30,000 bytes and close. Nothing of the TLVs is held: they are skipped as they
/// stream by, counted.
#[test]
fn proxy_v2_headers_claiming_65535_bytes_of_tlvs() {
    const CONNS: u32 = 2000;
    const TLV: usize = 65_535 - 12;
    let o = run_case("proxy_v2_tlvs", &[], |s| {
        let mut head = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff".to_vec();
        head.extend_from_slice(&[198, 51, 100, 9, 10, 0, 0, 2, 0x9c, 0x40, 0, 80]);
        let tlv = vec![0x04u8; 1448];
        interleaved(s, CONNS, |s, i| {
            let c = client(18, i);
            let (mut cs, ss) = open(s, c)?;
            s.tcp(c, SERVER, cs, ss, PSH_ACK, &head)?;
            cs = cs.wrapping_add(head.len() as u32);
            let send = if i % 2 == 0 { TLV } else { 30_000 };
            let mut sent = 0;
            while sent < send {
                let n = (send - sent).min(tlv.len());
                s.tcp(c, SERVER, cs, ss, PSH_ACK, &tlv[..n])?;
                cs = cs.wrapping_add(n as u32);
                sent += n;
            }
            if i % 2 == 0 {
                let req = b"GET /behind HTTP/1.1\r\nHost: proxied.example\r\n\r\n";
                s.tcp(c, SERVER, cs, ss, PSH_ACK, req)?;
                cs = cs.wrapping_add(req.len() as u32);
                let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
                s.tcp(SERVER, c, ss, cs, PSH_ACK, resp)?;
            }
            s.tcp(c, SERVER, cs, ss, FIN_ACK, b"")
        })
    });
    o.assert_valid_counted();
    assert_eq!(o.requests(), VALID + u64::from(CONNS / 2));
    assert_eq!(o.row("hosts", "proxied.example"), (u64::from(CONNS / 2), 0));
    assert_eq!(o.counter("http.proxy_v2"), u64::from(CONNS / 2));
    assert_eq!(
        o.counter("http.proxy_v2_skipped_bytes"),
        u64::from(CONNS / 2) * (TLV as u64 + 30_000)
    );
    assert_eq!(o.counter("http.malformed_preface"), 0);
}

// HTTP/2 (issue 12). Every case writes a clean HTTP/2 connection of `H2_VALID`
// exchanges before and after its hostile connection, the HTTP/1 valid exchanges spread
// among the hostile connection's segments, and `H2_AFTER` clean exchanges on the hostile
// connection itself once the attack is over (the analyzer must still be in step with
// both sides): all must be counted exactly.

/// Exchanges on each clean HTTP/2 connection.
const H2_VALID: u32 = 100;
/// Clean exchanges on the hostile connection after the attack.
const H2_AFTER: u32 = 20;
const H2_HOST: &str = "h2valid.example";
const H2_UA: &str = "h2valid-agent/1.0";
const H2_AFTER_HOST: &str = "after.example";
/// TCP payload per segment of the HTTP/2 connections.
const H2_SEGMENT: usize = 32_000;

const RST_STREAM: u8 = 3;
const CONTINUATION: u8 = 9;
const PADDED: u8 = 0x8;
/// RST_STREAM's CANCEL.
const CANCEL: u32 = 8;

/// Appends a request's fields: `:method GET`, `:scheme http` (static table), `:path`,
/// `:authority` and `user-agent` literals without indexing (so that no dynamic table
/// state is needed to read them).
fn h2_request(out: &mut Vec<u8>, path: &str, host: &str, ua: &str) {
    out.extend_from_slice(&[0x82, 0x86]);
    hp_lit(out, 4, path.as_bytes());
    hp_lit(out, 1, host.as_bytes());
    hp_lit(out, 58, ua.as_bytes());
}

/// A `200` response header block (`content-length: 2`).
fn h2_ok(out: &mut Vec<u8>, sid: u32, end_stream: bool) {
    let mut b = vec![0x88];
    hp_lit(&mut b, 28, b"2");
    h2_frame(
        out,
        HEADERS,
        END_HEADERS | if end_stream { END_STREAM } else { 0 },
        sid,
        &b,
    );
}

/// One HTTP/2 connection with prior knowledge being written: its client and the next
/// sequence number each way.
struct H2 {
    c: Endpoint,
    cs: u32,
    ss: u32,
}

impl H2 {
    /// Handshake, the client preface, SETTINGS both ways (the server's carrying
    /// `settings`) and their ACKs.
    fn open(s: &mut Stream, c: Endpoint, settings: &[u8]) -> std::io::Result<H2> {
        let (cs, ss) = open(s, c)?;
        let mut h = H2 { c, cs, ss };
        let mut b = PREFACE.to_vec();
        h2_frame(&mut b, SETTINGS, 0, 0, &[]);
        h.client(s, &b)?;
        b.clear();
        h2_frame(&mut b, SETTINGS, 0, 0, settings);
        h2_frame(&mut b, SETTINGS, 1, 0, &[]);
        h.server(s, &b)?;
        b.clear();
        h2_frame(&mut b, SETTINGS, 1, 0, &[]);
        h.client(s, &b)?;
        Ok(h)
    }

    /// Client bytes, in segments of at most [`H2_SEGMENT`].
    fn client(&mut self, s: &mut Stream, bytes: &[u8]) -> std::io::Result<()> {
        for seg in bytes.chunks(H2_SEGMENT) {
            s.tcp(self.c, SERVER, self.cs, self.ss, PSH_ACK, seg)?;
            self.cs = self.cs.wrapping_add(seg.len() as u32);
        }
        Ok(())
    }

    /// Server bytes, in segments of at most [`H2_SEGMENT`].
    /// Request HEADERS `block` on stream `sid` (END_STREAM, END_HEADERS), answered `200`
    /// (`b`: a reused buffer).
    fn answered(
        &mut self,
        s: &mut Stream,
        sid: u32,
        block: &[u8],
        b: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        b.clear();
        h2_frame(b, HEADERS, END_HEADERS | END_STREAM, sid, block);
        self.client(s, b)?;
        b.clear();
        h2_ok(b, sid, true);
        self.server(s, b)
    }

    fn server(&mut self, s: &mut Stream, bytes: &[u8]) -> std::io::Result<()> {
        for seg in bytes.chunks(H2_SEGMENT) {
            s.tcp(SERVER, self.c, self.ss, self.cs, PSH_ACK, seg)?;
            self.ss = self.ss.wrapping_add(seg.len() as u32);
        }
        Ok(())
    }

    /// `n` clean exchanges on streams `first`, `first + 2`...: a GET (END_STREAM), its
    /// `200` and a two-byte body.
    fn exchanges(
        &mut self,
        s: &mut Stream,
        first: u32,
        n: u32,
        host: &str,
        ua: &str,
    ) -> std::io::Result<()> {
        let (mut req, mut resp, mut block) = (Vec::new(), Vec::new(), Vec::new());
        for k in 0..n {
            let sid = first + 2 * k;
            block.clear();
            h2_request(&mut block, &format!("/valid/{sid}"), host, ua);
            req.clear();
            h2_frame(&mut req, HEADERS, END_HEADERS | END_STREAM, sid, &block);
            self.client(s, &req)?;
            resp.clear();
            h2_ok(&mut resp, sid, false);
            h2_frame(&mut resp, DATA, END_STREAM, sid, b"ok");
            self.server(s, &resp)?;
        }
        Ok(())
    }

    fn close(self, s: &mut Stream) -> std::io::Result<()> {
        s.tcp(self.c, SERVER, self.cs, self.ss, FIN_ACK, b"")?;
        s.tcp(
            SERVER,
            self.c,
            self.ss,
            self.cs.wrapping_add(1),
            FIN_ACK,
            b"",
        )
    }
}

/// A clean HTTP/2 connection (number `k`) of [`H2_VALID`] exchanges, closed.
fn h2_valid(s: &mut Stream, k: u32) -> std::io::Result<()> {
    let mut h = H2::open(s, client(173, k), &[])?;
    h.exchanges(s, 1, H2_VALID, H2_HOST, H2_UA)?;
    h.close(s)
}

/// Runs an HTTP/2 case: a clean HTTP/2 connection before and after what `gen` writes.
fn run_h2_case<F>(name: &str, gen: F) -> Outcome
where
    F: FnOnce(&mut Stream) -> std::io::Result<()> + Send + 'static,
{
    run_case(name, &[], move |s| {
        h2_valid(s, 0)?;
        gen(s)?;
        h2_valid(s, 1)
    })
}

impl Outcome {
    /// The valid HTTP/1 exchanges, the clean HTTP/2 connections' and the `H2_AFTER`
    /// exchanges after the attack were all counted, exactly; `hostile` requests were
    /// counted on the hostile connection besides; nothing panicked.
    fn assert_h2_valid_counted(&self, hostile: u64) {
        self.assert_valid_counted();
        let h2 = 2 * u64::from(H2_VALID);
        assert_eq!(self.row("hosts", H2_HOST), (h2, 0), "{}", self.stderr);
        assert_eq!(
            self.row("hosts", H2_AFTER_HOST),
            (u64::from(H2_AFTER), 0),
            "{}",
            self.stderr
        );
        assert_eq!(
            self.row("user_agents", H2_UA),
            (h2 + u64::from(H2_AFTER), 0)
        );
        let h2_requests = h2 + u64::from(H2_AFTER) + hostile;
        assert_eq!(self.counter("http.h2_requests"), h2_requests);
        assert_eq!(self.requests(), VALID + h2_requests);
        assert_eq!(self.counter("http.h2_connections"), 3);
        assert_eq!(self.counter("http.h2_lost_sync"), 0);
        assert!(!self.stderr.contains("panic"), "{}", self.stderr);
    }
}

/// HPACK bomb: one 4,000-byte field inserted in the dynamic table (the whole 4 KiB
/// default table) by the first block, then 40 streams whose 32 KiB header blocks
/// reference it 31,900 times each (127 MiB of header list per block, 5 GiB in all, from
/// 1.3 MB on the wire). The request fields come first and are read; the rest is over
/// the list budget.
#[test]
fn h2_hpack_bomb() {
    hpack_bomb("h2_hpack_bomb", None, 4000);
}

/// The same at the table's cap: the first block grows the table to 64 KiB (the hard
/// cap, above what the default SETTINGS allow) and inserts a 32,000-byte field, which
/// the next 39 blocks reference 32,650 times each (1 GiB of header list per block). Its run time (on standard error) is the decoder's worst
/// case per header block byte with default limits.
#[test]
fn h2_hpack_bomb_at_the_table_cap() {
    hpack_bomb("h2_hpack_bomb_64k", Some(64 << 10), 32_000);
}

/// The HPACK bomb cases: `update`, a table size update opening the first block;
/// `entry`, the inserted value's length.
fn hpack_bomb(name: &str, update: Option<u64>, entry: usize) {
    const STREAMS: u32 = 40;
    let o = run_h2_case(name, move |s| {
        let mut h = H2::open(s, client(174, 0), &[])?;
        let (mut block, mut b) = (Vec::new(), Vec::new());
        interleaved(s, STREAMS, |s, i| {
            let sid = 1 + 2 * i;
            block.clear();
            if i == 0 {
                if let Some(size) = update {
                    hp_int(&mut block, 0x20, 5, size);
                }
                hp_insert(&mut block, b"x-bomb", &vec![b'b'; entry]);
            }
            h2_request(&mut block, "/bomb", "bomb.example", "bomber/1");
            // Indexed field 62: the newest dynamic entry, x-bomb.
            block.resize(32_700, 0x80 | 62);
            h.answered(s, sid, &block, &mut b)
        })?;
        h.exchanges(s, 1 + 2 * STREAMS, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(u64::from(STREAMS));
    assert_eq!(o.row("hosts", "bomb.example"), (u64::from(STREAMS), 0));
    assert_eq!(
        o.counter("http.h2_header_lists_over_budget"),
        u64::from(STREAMS)
    );
    assert_eq!(o.counter("http.h2_hpack_errors"), 0);
    assert_eq!(
        o.counter("http.h2_table_size_capped"),
        u64::from(update.is_some_and(|u| u > 64 << 10))
    );
}

/// CONTINUATION flood: 1,000 streams whose HEADERS (without END_HEADERS) is followed by
/// 1,000 one-byte CONTINUATION frames and never by the END_HEADERS one, each stream
/// reset by the server (PROTOCOL_ERROR) after its flood, the next HEADERS interrupting
/// the block. Each block is dropped at the 33rd CONTINUATION (`max_continuations`), the
/// interruption counted as a bad frame; the streams still count as requests.
#[test]
fn h2_continuation_flood() {
    const STREAMS: u32 = 1000;
    const CONTINUATIONS: u32 = 1000;
    let o = run_h2_case("h2_continuation_flood", |s| {
        let mut h = H2::open(s, client(175, 0), &[])?;
        let (mut block, mut b) = (Vec::new(), Vec::new());
        interleaved(s, STREAMS, |s, i| {
            let sid = 1 + 2 * i;
            block.clear();
            h2_request(&mut block, "/flood", "flood.example", "flooder/1");
            b.clear();
            h2_frame(&mut b, HEADERS, END_STREAM, sid, &block);
            for _ in 0..CONTINUATIONS {
                h2_frame(&mut b, CONTINUATION, 0, sid, &[0x82]);
            }
            h.client(s, &b)?;
            b.clear();
            h2_frame(&mut b, RST_STREAM, 0, sid, &1u32.to_be_bytes());
            h.server(s, &b)
        })?;
        h.exchanges(s, 1 + 2 * STREAMS, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(u64::from(STREAMS));
    assert_eq!(o.counter("http.h2_continuation_floods"), u64::from(STREAMS));
    assert_eq!(o.counter("http.h2_bad_frames"), u64::from(STREAMS));
    assert_eq!(o.counter("http.h2_resets"), u64::from(STREAMS));
    assert_eq!(o.counter("http.h2_streams_over_cap"), 0);
}

/// Rapid reset (CVE-2023-44487): 100,000 streams opened and reset by the client on one
/// connection, in 100 rounds of 800 streams reset at once and 200 opened together then
/// reset (72 of those past the 128 streams tracked per connection: not tracked, not
/// counted as requests, counted as over the cap).
#[test]
fn h2_rapid_reset() {
    const ROUNDS: u32 = 100;
    const AT_ONCE: u32 = 800;
    const TOGETHER: u32 = 200;
    const CAP: u32 = 128;
    let o = run_h2_case("h2_rapid_reset", |s| {
        let mut h = H2::open(s, client(176, 0), &[])?;
        let mut block = Vec::new();
        h2_request(&mut block, "/reset", "reset.example", "resetter/1");
        let mut b = Vec::new();
        let mut sid = 1;
        interleaved(s, ROUNDS, |s, _| {
            b.clear();
            for _ in 0..AT_ONCE {
                h2_frame(&mut b, HEADERS, END_HEADERS | END_STREAM, sid, &block);
                h2_frame(&mut b, RST_STREAM, 0, sid, &CANCEL.to_be_bytes());
                sid += 2;
            }
            for k in 0..TOGETHER {
                h2_frame(
                    &mut b,
                    HEADERS,
                    END_HEADERS | END_STREAM,
                    sid + 2 * k,
                    &block,
                );
            }
            for k in 0..TOGETHER {
                h2_frame(&mut b, RST_STREAM, 0, sid + 2 * k, &CANCEL.to_be_bytes());
            }
            sid += 2 * TOGETHER;
            h.client(s, &b)
        })?;
        h.exchanges(s, sid, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    let counted = u64::from(ROUNDS * (AT_ONCE + CAP));
    o.assert_h2_valid_counted(counted);
    assert_eq!(o.row("hosts", "reset.example"), (counted, 0));
    assert_eq!(
        o.counter("http.h2_resets"),
        u64::from(ROUNDS * (AT_ONCE + TOGETHER))
    );
    assert_eq!(
        o.counter("http.h2_streams_over_cap"),
        u64::from(ROUNDS * (TOGETHER - CAP))
    );
}

/// SETTINGS_HEADER_TABLE_SIZE of 4 GiB - 1 from the server; 200 client header blocks,
/// each starting with a table size update to 4 GiB - 1 and inserting a 30,000-byte
/// field, then referencing the newest entry and, from the fifth block on, the one
/// inserted four blocks earlier (held by the encoder's 4 GiB table, evicted from ours at
/// its 64 KiB cap: an unknown reference, counted). 6 MB of inserts in all.
#[test]
fn h2_four_gib_header_table() {
    const STREAMS: u32 = 200;
    let o = run_h2_case("h2_table_4gib", |s| {
        let mut h = H2::open(s, client(177, 0), &[0, 1, 0xff, 0xff, 0xff, 0xff])?;
        let (mut block, mut b) = (Vec::new(), Vec::new());
        let mut value = vec![b'v'; 30_000];
        interleaved(s, STREAMS, |s, i| {
            let sid = 1 + 2 * i;
            block.clear();
            hp_int(&mut block, 0x20, 5, u64::from(u32::MAX));
            value[..4].copy_from_slice(&i.to_be_bytes());
            hp_insert(&mut block, b"x-big", &value);
            h2_request(&mut block, "/table", "table.example", "tabler/1");
            block.push(0x80 | 62);
            if i >= 4 {
                block.push(0x80 | 66);
            }
            h.answered(s, sid, &block, &mut b)
        })?;
        h.exchanges(s, 1 + 2 * STREAMS, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(u64::from(STREAMS));
    assert_eq!(o.row("hosts", "table.example"), (u64::from(STREAMS), 0));
    assert_eq!(o.counter("http.h2_table_size_capped"), u64::from(STREAMS));
    assert_eq!(
        o.counter("http.h2_hpack_unknown_refs"),
        u64::from(STREAMS - 4)
    );
    assert_eq!(o.counter("http.h2_hpack_errors"), 0);
}

/// 10,000 request header blocks whose last field, a Huffman-coded `user-agent`, is not
/// valid code (three kinds: the EOS symbol, padding that is not all ones, padding longer
/// than 7 bits). The fields before it are read; the block is counted as an HPACK error.
#[test]
fn h2_invalid_huffman() {
    const STREAMS: u32 = 10_000;
    const BAD: [&[u8]; 3] = [&[0xff, 0xff, 0xff, 0xff], &[0x00], &[0x1f, 0xff, 0xff]];
    let o = run_h2_case("h2_invalid_huffman", |s| {
        let mut h = H2::open(s, client(178, 0), &[])?;
        let (mut block, mut b) = (Vec::new(), Vec::new());
        interleaved(s, STREAMS, |s, i| {
            let sid = 1 + 2 * i;
            block.clear();
            block.extend_from_slice(&[0x82, 0x86]);
            hp_lit(&mut block, 4, b"/huffman");
            hp_lit(&mut block, 1, b"huffman.example");
            let bad = BAD[i as usize % 3];
            hp_int(&mut block, 0, 4, 58);
            hp_int(&mut block, 0x80, 7, bad.len() as u64);
            block.extend_from_slice(bad);
            h.answered(s, sid, &block, &mut b)
        })?;
        h.exchanges(s, 1 + 2 * STREAMS, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(u64::from(STREAMS));
    assert_eq!(o.row("hosts", "huffman.example"), (u64::from(STREAMS), 0));
    assert_eq!(o.counter("http.h2_hpack_errors"), u64::from(STREAMS));
}

/// 10,000 pairs of streams with padding longer than its frame: a HEADERS frame whose
/// pad length (250) is past its end (the frame and its block dropped; the stream, which
/// it opened, still answered and counted as a request), and a clean request whose DATA
/// frame claims 250 bytes of padding in 4 (the frame skipped).
#[test]
fn h2_padding_longer_than_its_frame() {
    const PAIRS: u32 = 10_000;
    let o = run_h2_case("h2_padding", |s| {
        let mut h = H2::open(s, client(179, 0), &[])?;
        let (mut block, mut b) = (Vec::new(), Vec::new());
        interleaved(s, PAIRS, |s, i| {
            let (sid, sid2) = (1 + 4 * i, 3 + 4 * i);
            block.clear();
            block.push(250);
            h2_request(&mut block, "/padded", "lost.example", "padder/1");
            b.clear();
            h2_frame(
                &mut b,
                HEADERS,
                END_HEADERS | END_STREAM | PADDED,
                sid,
                &block,
            );
            block.clear();
            h2_request(&mut block, "/upload", "padding.example", "padder/1");
            h2_frame(&mut b, HEADERS, END_HEADERS, sid2, &block);
            h2_frame(
                &mut b,
                DATA,
                END_STREAM | PADDED,
                sid2,
                &[250, b'a', b'b', b'c'],
            );
            h.client(s, &b)?;
            b.clear();
            h2_ok(&mut b, sid, true);
            h2_ok(&mut b, sid2, true);
            h.server(s, &b)
        })?;
        h.exchanges(s, 1 + 4 * PAIRS, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(2 * u64::from(PAIRS));
    assert_eq!(o.row("hosts", "padding.example"), (u64::from(PAIRS), 0));
    assert_eq!(o.counter("http.h2_bad_frames"), 2 * u64::from(PAIRS));
    assert_eq!(o.counter("http.h2_streams_over_cap"), 0);
}

/// Frames of 16 MiB - 1 bytes (the largest length a frame header can carry): a DATA
/// frame of an upload, a HEADERS frame (its block over `--max-header-bytes`: dropped,
/// the stream MALFORMED), and a frame of an unknown type from the server. Nothing of
/// them is held.
#[test]
fn h2_sixteen_mib_frames() {
    const MAX: u32 = (1 << 24) - 1;
    let o = run_h2_case("h2_16mib_frames", |s| {
        let mut h = H2::open(s, client(180, 0), &[])?;
        let mut c = Vec::with_capacity(2 * MAX as usize + 1000);
        let mut block = Vec::new();
        h2_request(&mut block, "/upload", "big.example", "big/1");
        h2_frame(&mut c, HEADERS, END_HEADERS, 1, &block);
        h2_head(&mut c, MAX, DATA, END_STREAM, 1);
        c.resize(c.len() + MAX as usize, b'u');
        block.clear();
        h2_request(&mut block, "/huge-block", "big.example", "big/1");
        block.resize(MAX as usize, 0x82);
        h2_frame(&mut c, HEADERS, END_HEADERS | END_STREAM, 3, &block);
        let mut sv = Vec::with_capacity(MAX as usize + 1000);
        h2_ok(&mut sv, 1, true);
        h2_head(&mut sv, MAX, 0xfa, 0, 0);
        sv.resize(sv.len() + MAX as usize, b'x');
        h2_ok(&mut sv, 3, true);
        let (cn, sn) = (c.len().div_ceil(H2_SEGMENT), sv.len().div_ceil(H2_SEGMENT));
        let (mut ci, mut si) = (c.chunks(H2_SEGMENT), sv.chunks(H2_SEGMENT));
        interleaved(s, (cn + sn) as u32, |s, i| {
            if (i as usize) < cn {
                h.client(s, ci.next().unwrap_or_default())
            } else {
                h.server(s, si.next().unwrap_or_default())
            }
        })?;
        h.exchanges(s, 5, H2_AFTER, H2_AFTER_HOST, H2_UA)?;
        h.close(s)
    });
    o.assert_h2_valid_counted(2);
    assert_eq!(o.row("hosts", "big.example"), (1, 0));
    assert_eq!(o.counter("http.h2_header_blocks_too_large"), 1);
    assert_eq!(o.counter("http.h2_unknown_frames"), 1);
    assert_eq!(o.counter("http.h2_bad_frames"), 0);
}

// TLS (issue 13). Each case writes its hostile TLS connections among the valid HTTP/1
// exchanges; the TLS counters are read from the report's `counters` (section `http`).

/// A TLS record of content type `ty` (version 3.3) around `body`.
fn tls_record(out: &mut Vec<u8>, ty: u8, body: &[u8]) {
    out.extend_from_slice(&[ty, 3, 3]);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// A handshake message header: type and 24-bit length.
fn tls_hs_head(out: &mut Vec<u8>, ty: u8, len: u32) {
    out.push(ty);
    out.extend_from_slice(&len.to_be_bytes()[1..]);
}

/// A ClientHello body with SNI `sni` and `extra` bytes of extensions appended (raw).
fn tls_client_hello(sni: &str, extra: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[7; 32]);
    b.push(0);
    b.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f, 1, 0]);
    let mut e = Vec::new();
    let n = sni.len() as u16;
    e.extend_from_slice(&[0, 0]);
    e.extend_from_slice(&(n + 5).to_be_bytes());
    e.extend_from_slice(&(n + 3).to_be_bytes());
    e.push(0);
    e.extend_from_slice(&n.to_be_bytes());
    e.extend_from_slice(sni.as_bytes());
    e.extend_from_slice(&[0, 0x2b, 0, 3, 2, 3, 4]);
    e.extend_from_slice(extra);
    b.extend_from_slice(&(e.len() as u16).to_be_bytes());
    b.extend_from_slice(&e);
    let mut m = Vec::new();
    tls_hs_head(&mut m, 1, b.len() as u32);
    m.extend_from_slice(&b);
    m
}

/// A TLS 1.2 ServerHello message.
fn tls_server_hello() -> Vec<u8> {
    let mut m = Vec::new();
    tls_hs_head(&mut m, 2, 38);
    m.extend_from_slice(&[3, 3]);
    m.extend_from_slice(&[9; 32]);
    m.extend_from_slice(&[0, 0xc0, 0x2f, 0]);
    m
}

/// The server's ServerHello and CCS, the client's CCS and one application data record
/// each way, FINs: a complete TLS 1.2 handshake after the client's first flight.
fn tls_finish(s: &mut Stream, h: &mut H2) -> std::io::Result<()> {
    let mut b = Vec::new();
    tls_record(&mut b, 22, &tls_server_hello());
    tls_record(&mut b, 20, &[1]);
    h.server(s, &b)?;
    b.clear();
    tls_record(&mut b, 20, &[1]);
    tls_record(&mut b, 23, &[0xaa; 100]);
    h.client(s, &b)?;
    b.clear();
    tls_record(&mut b, 23, &[0xbb; 100]);
    h.server(s, &b)
}

/// A connection from `c` opened (handshake), to be written like an HTTP/2 one.
fn tls_open(s: &mut Stream, c: Endpoint) -> std::io::Result<H2> {
    let (cs, ss) = open(s, c)?;
    Ok(H2 { c, cs, ss })
}

/// 2,000 connections whose 10 KiB ClientHello comes in 1,000 records of about 10 bytes,
/// one record per segment, the first segment being the record header's first byte
/// alone (detection must wait for the 5th byte); each handshake then completes.
#[test]
fn tls_client_hello_split_across_1000_records() {
    const CONNS: u32 = 2000;
    let o = run_case("tls_split_hello", &[], |s| {
        // Padding (21) to make the message 10,000 bytes.
        let base = tls_client_hello("split.example", &[]).len();
        let pad = 10_000 - base - 4;
        let mut extra = vec![0, 21];
        extra.extend_from_slice(&(pad as u16).to_be_bytes());
        extra.resize(4 + pad, 0);
        let hello = tls_client_hello("split.example", &extra);
        assert_eq!(hello.len(), 10_000);
        let mut seg = Vec::new();
        interleaved(s, CONNS, |s, i| {
            let mut h = tls_open(s, client(181, i))?;
            for (k, piece) in hello.chunks(10).enumerate() {
                seg.clear();
                tls_record(&mut seg, 22, piece);
                if k == 0 {
                    h.client(s, &seg[..1])?;
                    h.client(s, &seg[1..])?;
                } else {
                    h.client(s, &seg)?;
                }
            }
            tls_finish(s, &mut h)?;
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n);
    // 1,000 + CCS + application data from the client, 3 from the server.
    assert_eq!(o.counter("http.tls_records"), n * 1005);
    assert_eq!(o.counter("http.tls_handshake_messages"), 2 * n);
    assert_eq!(o.counter("http.tls_malformed"), 0);
    assert_eq!(o.counter("http.tls_bad_messages"), 0);
    assert_eq!(o.counter("http.tls_handshake_too_large"), 0);
}

/// 1,000 connections whose first handshake message claims 16 MiB - 1 bytes, followed by
/// 64 KiB of it in full records (the last two connections send the whole 16 MiB).
/// Nothing of it is buffered: the client's handshake is given up, records still
/// counted; the server's ServerHello is still read.
#[test]
fn tls_sixteen_mib_handshake_message() {
    const CONNS: u32 = 1000;
    let o = run_case("tls_16mib_handshake", &[], |s| {
        let mut rng = Rng(0x7e57_0001);
        let mut body = vec![0u8; 16_000];
        let mut b = Vec::new();
        interleaved(s, CONNS, |s, i| {
            let mut h = tls_open(s, client(182, i))?;
            let total: usize = if i >= CONNS - 2 {
                (1 << 24) + 3
            } else {
                65_536
            };
            let mut sent = 0;
            while sent < total {
                let n = (total - sent).min(body.len());
                rng.fill(&mut body[..n]);
                if sent == 0 {
                    body[..4].copy_from_slice(&[1, 0xff, 0xff, 0xff]);
                }
                b.clear();
                tls_record(&mut b, 22, &body[..n]);
                h.client(s, &b)?;
                sent += n;
            }
            tls_finish(s, &mut h)?;
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n);
    assert_eq!(o.counter("http.tls_handshake_too_large"), n);
    assert_eq!(
        o.counter("http.tls_handshake_messages"),
        n,
        "the ServerHellos"
    );
    assert_eq!(o.counter("http.tls_malformed"), 0);
}

/// 1,000 connections whose ClientHello carries 10,000 empty extensions (40 KB): the
/// extension list kept is cut at 512 (`tls_lists_capped`), the rest of the hello read.
#[test]
fn tls_ten_thousand_extensions() {
    const CONNS: u32 = 1000;
    let o = run_case("tls_10000_extensions", &[], |s| {
        let mut extra = Vec::with_capacity(40_000);
        for k in 0..10_000u16 {
            extra.extend_from_slice(&(0x4000 + k).to_be_bytes());
            extra.extend_from_slice(&[0, 0]);
        }
        let hello = tls_client_hello("many.example", &extra);
        let mut b = Vec::new();
        for piece in hello.chunks(16_000) {
            tls_record(&mut b, 22, piece);
        }
        interleaved(s, CONNS, |s, i| {
            let mut h = tls_open(s, client(183, i))?;
            h.client(s, &b)?;
            tls_finish(s, &mut h)?;
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n);
    assert_eq!(o.counter("http.tls_lists_capped"), n);
    assert_eq!(o.counter("http.tls_handshake_messages"), 2 * n);
    assert_eq!(o.counter("http.tls_bad_messages"), 0);
}

/// Certificate chains without end: 1,000 connections whose Certificate message (60 KiB,
/// under the 64 KiB handshake cap) lists 15,000 one-byte certificates (walked, none
/// decodes), and 2 whose Certificate message claims 16 MiB - 1 bytes and sends them all
/// as 4-byte entries (not buffered: too large).
#[test]
fn tls_endless_certificate_chain() {
    const CONNS: u32 = 1000;
    let o = run_case("tls_endless_chain", &[], |s| {
        let hello = tls_client_hello("chain.example", &[]);
        let mut ch = Vec::new();
        tls_record(&mut ch, 22, &hello);
        let mut msg = Vec::new();
        tls_hs_head(&mut msg, 11, 3 + 15_000 * 4);
        msg.extend_from_slice(&(15_000u32 * 4).to_be_bytes()[1..]);
        for _ in 0..15_000 {
            msg.extend_from_slice(&[0, 0, 1, 0x30]);
        }
        let mut flight = Vec::new();
        let first = [tls_server_hello(), msg].concat();
        for piece in first.chunks(16_000) {
            tls_record(&mut flight, 22, piece);
        }
        let mut endless_head = tls_server_hello();
        tls_hs_head(&mut endless_head, 11, (1 << 24) - 1);
        endless_head.extend_from_slice(&[0xff, 0xff, 0xfc]);
        let entries: Vec<u8> = [0, 0, 1, 0x30].repeat(4000);
        let mut rec = Vec::new();
        interleaved(s, CONNS + 2, |s, i| {
            let mut h = tls_open(s, client(184, i))?;
            h.client(s, &ch)?;
            if i < CONNS {
                h.server(s, &flight)?;
            } else {
                rec.clear();
                tls_record(&mut rec, 22, &endless_head);
                h.server(s, &rec)?;
                let mut left = (1usize << 24) - 4;
                while left > 0 {
                    let n = left.min(entries.len());
                    rec.clear();
                    tls_record(&mut rec, 22, &entries[..n]);
                    h.server(s, &rec)?;
                    left -= n;
                }
            }
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n + 2);
    assert_eq!(o.counter("http.tls_certs_undecoded"), n);
    assert_eq!(o.counter("http.tls_handshake_too_large"), 2);
    // ClientHello and ServerHello everywhere, the Certificate on the first 1,000.
    assert_eq!(o.counter("http.tls_handshake_messages"), 3 * n + 4);
    assert_eq!(o.counter("http.tls_bad_messages"), 0);
}

/// 1,000 connections opening with an SSLv2-compatible ClientHello (RFC 5246 E.2: a
/// 2-byte header 0x80 len, type 1, version 3.1), answered by a TLS 1.2 ServerHello.
#[test]
fn tls_sslv2_compatible_hello() {
    const CONNS: u32 = 1000;
    let o = run_case("tls_sslv2_hello", &[], |s| {
        // msg_type 1, version 3.1, cipher_spec_length 6, session_id 0, challenge 16.
        let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00, 0x00, 0x35]);
        body.extend_from_slice(&[0x5a; 16]);
        let mut hello = vec![0x80, body.len() as u8];
        hello.extend_from_slice(&body);
        interleaved(s, CONNS, |s, i| {
            let mut h = tls_open(s, client(185, i))?;
            h.client(s, &hello)?;
            tls_finish(s, &mut h)?;
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n);
    assert_eq!(o.counter("http.tls_sslv2_hellos"), n);
    assert_eq!(
        o.counter("http.tls_handshake_messages"),
        n,
        "the ServerHellos"
    );
    assert_eq!(o.counter("http.tls_malformed"), 0);
}

/// 1,000 connections: a plausible handshake record header, then garbage: a
/// "ClientHello" of 28 random bytes (it does not parse), then random bytes where the
/// next record header should be (its first byte 0x99: not a content type).
#[test]
fn tls_garbage_after_a_handshake_record_header() {
    const CONNS: u32 = 1000;
    let o = run_case("tls_garbage", &[], |s| {
        let mut rng = Rng(0x7e57_0006);
        let mut g = vec![0u8; 2000];
        interleaved(s, CONNS, |s, i| {
            let mut h = tls_open(s, client(186, i))?;
            rng.fill(&mut g);
            g[..9].copy_from_slice(&[0x16, 3, 1, 0, 32, 1, 0, 0, 28]);
            g[37] = 0x99;
            h.client(s, &g)?;
            h.close(s)
        })
    });
    o.assert_valid_counted();
    let n = u64::from(CONNS);
    assert_eq!(o.counter("http.tls_connections"), n);
    assert_eq!(o.counter("http.tls_bad_messages"), n);
    assert_eq!(o.counter("http.tls_malformed"), n);
    assert_eq!(o.counter("http.tls_handshake_messages"), n);
}
