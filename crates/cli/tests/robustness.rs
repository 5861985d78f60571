//! No panic on any input: the binary (the release build when `HTTPTOP_BIN` points at it,
//! as `scripts/test` does) runs over every capture of ../shared/corpus and over generated
//! captures of random bytes inside valid pcap framing, and must exit 0 every time.
//!
//! Generated inputs (deterministic seeds, written to a temp dir, never committed):
//! - random frames under every supported link type;
//! - well-formed Ethernet/IPv4/TCP headers around random and HTTP-like payloads, with
//!   random sequence numbers, flags and ports from a small set (so segments meet in the
//!   same flows and reach reassembly and the HTTP parser);
//! - valid captures with random bytes flipped.
//!
//! And wire bytes that are not text reach the log exactly (schema 2).

mod common;

use common::{bin, Pcap};
use std::path::{Path, PathBuf};
use std::process::Command;

/// xorshift64*: small, deterministic, good enough for fuzz-style inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn tcp_frame(rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
    let ports = [80u16, 8080, 40000, 40001, 40002];
    let sport = ports[rng.below(5) as usize];
    let dport = ports[rng.below(5) as usize];
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ]);
    let a = [10, 0, 0, 1 + rng.below(2) as u8];
    let b = [10, 0, 0, 1 + rng.below(2) as u8];
    f.extend_from_slice(&a);
    f.extend_from_slice(&b);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    // Sequence numbers from a narrow band, so segments overlap, reorder and leave gaps.
    let seq = 1_000_000u32.wrapping_add(rng.below(20_000) as u32);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(1_000_000u32.wrapping_add(rng.below(20_000) as u32)).to_be_bytes());
    let flags = [0x18u8, 0x10, 0x02, 0x12, 0x11, 0x04, 0x19, 0x18][rng.below(8) as usize];
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

const HTTP_BITS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
    b"CONNECT h:443 HTTP/1.1\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\n\r\n",
    b"\r\n\r\n",
    b"GET /\x1b[2J HTTP/1.1\r\nUser-Agent: \xff\xfe\r\n\r\n",
];

fn generated_captures(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    // Random frames under every link type.
    for (n, lt) in [1u32, 0, 12, 101, 108, 113, 228, 229, 276, 147]
        .iter()
        .enumerate()
    {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
        let mut f = Pcap::new(*lt);
        for i in 0..3000u64 {
            let len = rng.below(200) as usize;
            f.record(i * 1000, &rng.bytes(len));
        }
        let p = dir.join(format!("random-lt{lt}.pcap"));
        std::fs::write(&p, &f.bytes).expect("write");
        files.push(p);
    }
    // Valid headers, hostile payloads.
    for seed in 1..=6u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let mut f = Pcap::new(1);
        for i in 0..20_000u64 {
            let mut payload = Vec::new();
            for _ in 0..rng.below(4) {
                if rng.below(3) == 0 {
                    let n = rng.below(64) as usize;
                    payload.extend_from_slice(&rng.bytes(n));
                } else {
                    let bit = HTTP_BITS[rng.below(HTTP_BITS.len() as u64) as usize];
                    let cut = rng.below(bit.len() as u64 + 1) as usize;
                    payload.extend_from_slice(&bit[..cut.max(bit.len() / 2)]);
                }
            }
            let frame = tcp_frame(&mut rng, &payload);
            // Time moves forward, sometimes a lot (idle timeouts), sometimes backward.
            let ts = 1_700_000_000_000_000 + i * 500 + rng.below(4) * rng.below(200_000_000);
            f.record(ts, &frame);
        }
        let p = dir.join(format!("tcp-http-{seed}.pcap"));
        std::fs::write(&p, &f.bytes).expect("write");
        files.push(p);
    }
    // Bit flips in a well-formed capture.
    let mut rng = Rng(42);
    let mut base = Pcap::new(1);
    for i in 0..2000u64 {
        let bit = HTTP_BITS[(i % HTTP_BITS.len() as u64) as usize];
        let frame = tcp_frame(&mut rng, bit);
        base.record(1_700_000_000_000_000 + i * 100, &frame);
    }
    for k in 0..5 {
        let mut f = base.bytes.clone();
        for _ in 0..(200 * (k + 1)) {
            let at = 24 + rng.below(f.len() as u64 - 24) as usize;
            f[at] ^= 1 << rng.below(8);
        }
        let p = dir.join(format!("flipped-{k}.pcap"));
        std::fs::write(&p, &f).expect("write");
        files.push(p);
    }
    files
}

fn run(path: &Path) {
    let out = Command::new(bin())
        .arg("-r")
        .arg(path)
        .args(["--log", "/dev/null"])
        .output()
        .expect("run httptop");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{}: {stderr}", path.display());
    // A capture whose framing breaks is read past the damage and reported (exit 1),
    // never a crash.
    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(1)),
        "{}: exit {:?}: {stderr}",
        path.display(),
        out.status
    );
    if code == Some(1) {
        assert!(stderr.contains("httptop:"), "{}: {stderr}", path.display());
    }
}

#[test]
fn every_corpus_capture_runs_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pcaps");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} not found", dir.display());
        return;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let out = Command::new(bin())
            .arg("-r")
            .arg(e.path())
            .args(["--log", "/dev/null"])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The one capture cut short in the middle of its last record reads whole, then
        // exits 1 (something was dropped), as tshark (exit 2) does.
        if e.file_name() == "sv-mime-truncated.pcap" {
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains("cut short"), "{stderr}");
        } else {
            assert!(out.status.success(), "{}: {stderr}", e.path().display());
        }
        n += 1;
    }
    assert!(n >= 39);
}

#[test]
fn generated_hostile_captures_never_crash() {
    let dir = std::env::temp_dir().join(format!("httptop-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for p in generated_captures(&dir) {
        run(&p);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_files_are_errors_not_crashes() {
    let dir = std::env::temp_dir().join(format!("httptop-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = Rng(7);
    for (i, data) in [
        Vec::new(),
        b"\xd4\xc3\xb2".to_vec(),
        rng.bytes(10_000),
        b"\x0a\x0d\x0d\x0a\xff\xff\xff\xff".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.join(format!("garbage-{i}"));
        std::fs::write(&p, data).expect("write");
        let out = Command::new(bin()).arg("-r").arg(&p).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            matches!(out.status.code(), Some(1) | Some(2)),
            "{:?} {stderr}",
            out.status
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Schema 2 of the log (issue 10): a Host header holding the byte 0xFF and one holding
/// the four characters `\xff` log differently (schema 1 wrote both as `"\\xff"`), each
/// giving back its exact wire bytes: the text as a string, the byte as base64.
#[test]
fn log_keeps_a_non_utf8_host_apart_from_the_text_of_its_escape() {
    let dir = common::TempDir::new("robustness-lossless-log");
    let path = dir.path("hosts.pcap");
    let mut p = Pcap::new(1);
    let response = b"HTTP/1.1 204 No Content\r\n\r\n";
    common::exchange(
        &mut p,
        1_700_000_000_000_000,
        40_001,
        b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n",
        response,
    );
    common::exchange(
        &mut p,
        1_700_000_001_000_000,
        40_002,
        b"GET / HTTP/1.1\r\nHost: \\xff\r\n\r\n",
        response,
    );
    std::fs::write(&path, &p.bytes).expect("write capture");
    let out = Command::new(bin())
        .arg("-r")
        .arg(&path)
        .args(["--log", "-", "--output", "json"])
        .output()
        .expect("run httptop");
    assert!(out.status.success(), "{out:?}");
    let hosts: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("the log is UTF-8")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "exchange")
        .inspect(|v| assert_eq!(v["schema"], 2, "{v}"))
        .map(|v| v["host"].clone())
        .collect();
    // 0xFF is "/w==" in base64.
    assert_eq!(
        hosts,
        [
            serde_json::json!({"bytes": "/w=="}),
            serde_json::json!("\\xff")
        ]
    );
}
