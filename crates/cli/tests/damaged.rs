//! Damaged and concatenated captures through the binary (the release build under
//! `scripts/test`), with `--log -` (issue 11, point 5).
//!
//! Each capture is generated here: connections with one request each (`GET /e<k>`),
//! then damaged (a record length corrupted, a corrupt pcapng block, random bytes between
//! records, the last record cut short) or concatenated (two pcaps of different byte
//! orders and resolutions, a pcapng after a pcap, fed through `-r -` as `cat a b |`
//! would). For every one: each exchange before and after the damage is logged, the report
//! is printed, the damage is named with its byte offset, and the exit code is 1 (0 for a
//! clean concatenation). A request left waiting when the damage ends the file is logged
//! with `no_response`.
//!
//! tshark, the oracle, is run on the same bytes when installed (Debian package `tshark`,
//! in `.ci/run`): it reads up to the damage and stops (or says the file is cut short);
//! httptop must log every request tshark decodes and at least as many.

mod common;

use common::{bin, exchange, Pcap, TempDir};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const T0_US: u64 = 1_700_000_000_000_000;

/// One connection per `k` in `ks`, one second apart, each with a request for `/e<k>`.
fn exchanges(p: &mut Pcap, ks: std::ops::Range<u64>) {
    for k in ks {
        let req = format!("GET /e{k} HTTP/1.1\r\nHost: damaged.example\r\n\r\n");
        exchange(
            p,
            T0_US + k * 1_000_000,
            20_000 + k as u16,
            req.as_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        );
    }
}

fn pcap_with(ks: std::ops::Range<u64>) -> Vec<u8> {
    let mut p = Pcap::new(1);
    exchanges(&mut p, ks);
    p.bytes
}

/// The records of a little-endian microsecond pcap: (offset of the record header,
/// timestamp in µs, frame).
fn records(pcap: &[u8]) -> Vec<(usize, u64, &[u8])> {
    let u32_at = |i: usize| u32::from_le_bytes(pcap[i..i + 4].try_into().expect("4 bytes"));
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let ts = u64::from(u32_at(at)) * 1_000_000 + u64::from(u32_at(at + 4));
        let len = u32_at(at + 8) as usize;
        out.push((at, ts, &pcap[at + 16..at + 16 + len]));
        at += 16 + len;
    }
    out
}

/// The same frames as a big-endian nanosecond pcap.
fn to_be_nsec(pcap: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0xa1b2_3c4du32, 0x0002_0004, 0, 0, 65535, 1] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    // The version is two 16-bit fields: 2, then 4.
    v[4..8].copy_from_slice(&[0, 2, 0, 4]);
    for (_, ts, f) in records(pcap) {
        for x in [
            (ts / 1_000_000) as u32,
            (ts % 1_000_000 * 1000) as u32,
            f.len() as u32,
            f.len() as u32,
        ] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(f);
    }
    v
}

/// The same frames as pcapng (one section, one Ethernet interface in microseconds), and
/// the offset of each Enhanced Packet Block.
fn to_pcapng(pcap: &[u8]) -> (Vec<u8>, Vec<usize>) {
    fn block(v: &mut Vec<u8>, t: u32, body: &[u8]) {
        let len = 12 + body.len().div_ceil(4) * 4;
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&(len as u32).to_le_bytes());
        v.extend_from_slice(body);
        v.resize(v.len() + (4 - body.len() % 4) % 4, 0);
        v.extend_from_slice(&(len as u32).to_le_bytes());
    }
    let mut v = Vec::new();
    let mut shb = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut v, 0x0A0D_0D0A, &shb);
    block(&mut v, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
    let mut at = Vec::new();
    for (_, ts, f) in records(pcap) {
        at.push(v.len());
        let mut b = Vec::new();
        for x in [
            0,
            (ts >> 32) as u32,
            ts as u32,
            f.len() as u32,
            f.len() as u32,
        ] {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(f);
        block(&mut v, 6, &b);
    }
    (v, at)
}

struct Run {
    code: Option<i32>,
    /// Request paths logged, and those flagged `no_response`.
    paths: Vec<String>,
    no_response: BTreeSet<String>,
    stderr: String,
}

/// `httptop -r - --log -` on `bytes` (as `cat a b | httptop -r -` does).
fn run(bytes: &[u8]) -> Run {
    let mut child = Command::new(bin())
        .args(["-r", "-", "--log", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn httptop");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let mut paths = Vec::new();
    let mut no_response = BTreeSet::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("log line is JSON");
        if v["type"] != "exchange" {
            continue;
        }
        let path = v["path"].as_str().unwrap_or_default().to_string();
        let flags = v["flags"].as_array().cloned().unwrap_or_default();
        if flags.iter().any(|f| f == "no_response") {
            no_response.insert(path.clone());
        }
        paths.push(path);
    }
    // The report is printed (on standard error, the log having standard output).
    assert!(stderr.contains("httptop report: -"), "no report:\n{stderr}");
    Run {
        code: out.status.code(),
        paths,
        no_response,
        stderr,
    }
}

fn want(ks: impl IntoIterator<Item = u64>) -> Vec<String> {
    ks.into_iter().map(|k| format!("/e{k}")).collect()
}

/// The request URIs tshark decodes in `bytes`, or `None` when tshark is not installed.
fn tshark_requests(dir: &TempDir, name: &str, bytes: &[u8]) -> Option<Vec<String>> {
    let path = dir.path(name);
    std::fs::write(&path, bytes).expect("write capture");
    let out = match Command::new("tshark")
        .args([
            "-n",
            "-Y",
            "http.request",
            "-T",
            "fields",
            "-e",
            "http.request.uri",
            "-r",
        ])
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            eprintln!("tshark not installed: oracle comparison skipped (Debian package tshark)");
            return None;
        }
    };
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

/// httptop logs every request tshark decodes, and at least as many.
fn at_least_tshark(dir: &TempDir, name: &str, bytes: &[u8], ours: &[String]) {
    let Some(theirs) = tshark_requests(dir, name, bytes) else {
        return;
    };
    for uri in &theirs {
        assert!(
            ours.contains(uri),
            "{name}: tshark decodes {uri}, httptop does not"
        );
    }
    assert!(
        ours.len() >= theirs.len(),
        "{name}: {ours:?} vs tshark {theirs:?}"
    );
    eprintln!(
        "{name}: httptop {} requests, tshark {}",
        ours.len(),
        theirs.len()
    );
}

/// A stray ACK of an unrelated connection: a record to damage without touching the
/// exchanges around it.
fn stray(p: &mut Pcap, t_us: u64) {
    let f = common::tcp_frame(
        ([10, 0, 0, 9], 9),
        ([10, 0, 0, 2], 80),
        1,
        1,
        common::ACK,
        b"",
    );
    p.record(t_us, &f);
}

#[test]
fn pcap_record_length_corrupted_in_the_middle() {
    let dir = TempDir::new("damaged-length");
    let mut p = Pcap::new(1);
    exchanges(&mut p, 0..5);
    let at = p.bytes.len();
    stray(&mut p, T0_US + 5_500_000);
    exchanges(&mut p, 6..10);
    p.bytes[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = run(&p.bytes);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.paths, want((0..5).chain(6..10)));
    assert!(
        r.stderr.contains(&format!(
            "damaged capture at byte {at}: record length 4294967295 over the 1 MiB limit"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(70 bytes skipped at 1 damaged places)"),
        "{}",
        r.stderr
    );
    at_least_tshark(&dir, "length.pcap", &p.bytes, &r.paths);
}

#[test]
fn pcapng_with_a_corrupt_block() {
    let dir = TempDir::new("damaged-block");
    let mut p = Pcap::new(1);
    exchanges(&mut p, 0..5);
    stray(&mut p, T0_US + 5_500_000);
    exchanges(&mut p, 6..10);
    let (mut ng, epbs) = to_pcapng(&p.bytes);
    // The stray ACK's block: 5 exchanges of 7 packets before it.
    let at = epbs[35];
    ng[at + 4] ^= 0x02; // its length is no multiple of 4 any more
    let r = run(&ng);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.paths, want((0..5).chain(6..10)));
    assert!(
        r.stderr.contains(&format!(
            "damaged capture at byte {at}: bad pcapng block length"
        )),
        "{}",
        r.stderr
    );
    at_least_tshark(&dir, "block.pcapng", &ng, &r.paths);
}

#[test]
fn two_pcaps_concatenated_read_clean() {
    let dir = TempDir::new("damaged-concat");
    let mut bytes = pcap_with(0..5);
    bytes.extend(to_be_nsec(&pcap_with(5..10)));
    let r = run(&bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.paths, want(0..10));
    assert!(!r.stderr.contains("damaged capture"), "{}", r.stderr);
    at_least_tshark(&dir, "concat.pcap", &bytes, &r.paths);
}

#[test]
fn pcapng_concatenated_after_a_pcap_reads_clean() {
    let dir = TempDir::new("damaged-mixed");
    let mut bytes = pcap_with(0..5);
    bytes.extend(to_pcapng(&pcap_with(5..10)).0);
    // And a pcap again after the pcapng.
    bytes.extend(pcap_with(10..12));
    let r = run(&bytes);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.paths, want(0..12));
    assert!(!r.stderr.contains("damaged capture"), "{}", r.stderr);
    at_least_tshark(&dir, "mixed.pcap", &bytes, &r.paths);
}

#[test]
fn random_bytes_between_records() {
    let dir = TempDir::new("damaged-noise");
    let a = pcap_with(0..5);
    let b = pcap_with(5..10);
    let mut bytes = a.clone();
    let at = bytes.len();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    bytes.extend_from_slice(&noise);
    bytes.extend_from_slice(&b[24..]);
    let r = run(&bytes);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.paths, want(0..10));
    assert!(
        r.stderr
            .contains(&format!("damaged capture at byte {at}: ")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("(byte {})", at + noise.len())),
        "resumed exactly after the noise: {}",
        r.stderr
    );
    at_least_tshark(&dir, "noise.pcap", &bytes, &r.paths);
}

#[test]
fn truncated_last_record() {
    let dir = TempDir::new("damaged-cut");
    let mut bytes = pcap_with(0..5);
    bytes.truncate(bytes.len() - 7);
    let r = run(&bytes);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.paths, want(0..5));
    assert!(r.stderr.contains("cut short"), "{}", r.stderr);
    at_least_tshark(&dir, "cut.pcap", &bytes, &r.paths);
}

/// Damage that runs to the end of the file after a request: the request is still
/// written, flagged `no_response`, and the exchanges before it too.
#[test]
fn request_waiting_at_damage_to_the_end_is_logged_no_response() {
    let dir = TempDir::new("damaged-pending");
    let mut p = Pcap::new(1);
    exchanges(&mut p, 0..3);
    let recs_before = p.bytes.len();
    exchanges(&mut p, 3..4);
    // Keep the handshake and the request of exchange 3; garbage instead of the rest.
    let keep = records(&p.bytes)[21 + 4].0;
    assert!(keep > recs_before);
    p.bytes.truncate(keep);
    p.bytes.extend_from_slice(&[0xff; 300]);
    let r = run(&p.bytes);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.paths, want(0..4));
    assert_eq!(r.no_response, want([3]).into_iter().collect());
    assert!(
        r.stderr.contains(&format!(
            "damaged capture at byte {keep}: record length 4294967295 over the 1 MiB \
             limit; no plausible record after it: skipped the last 300 bytes"
        )),
        "{}",
        r.stderr
    );
    at_least_tshark(&dir, "pending.pcap", &p.bytes, &r.paths);
}

/// A file that is no capture at all stays a usage error (exit 2), as before.
#[test]
fn not_a_capture_is_still_a_usage_error() {
    let dir = TempDir::new("damaged-usage");
    let path = dir.path("text.pcap");
    std::fs::write(&path, b"GET / HTTP/1.1\r\n\r\n").expect("write");
    let out = Command::new(bin())
        .arg("-r")
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown magic number"), "{stderr}");
    assert!(Path::new(&path).exists());
}
