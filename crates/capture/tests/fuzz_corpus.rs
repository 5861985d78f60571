//! Replays the fuzz corpus and regressions of the `capture_file` target
//! (`fuzz/corpus/capture_file`, `fuzz/regressions/capture_file`) through the same function
//! the fuzzer runs, and checks the seeds the corpus was started from: pcap and pcapng files
//! written here. With `HTTPTOP_FUZZ_SEEDS=DIR` set, the seeds are also written to
//! `DIR/capture_file/`, plus the first 4 KiB of each capture of `../shared/corpus/pcaps`
//! when that directory exists, and their first frames to `DIR/decode_frame/` (extra seeds
//! for a fuzzing run, never committed).

#![allow(clippy::unwrap_used)]

use httptop_capture::fuzzing::read_file;
use httptop_capture::FileSource;
use httptop_wire::build::{ethernet_ipv4_tcp, flags};
use std::path::Path;

const TARGET: &str = "capture_file";

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn corpus_and_regressions_replay() {
    replay::replay(TARGET, read_file);
}

fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}

fn frames() -> Vec<Vec<u8>> {
    let c = ([10, 0, 0, 1], 40000);
    let s = ([10, 0, 0, 2], 80);
    vec![
        ethernet_ipv4_tcp(c, s, 100, 0, flags::SYN, b""),
        ethernet_ipv4_tcp(
            c,
            s,
            101,
            501,
            flags::PSH | flags::ACK,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        ethernet_ipv4_tcp(
            s,
            c,
            501,
            128,
            flags::PSH | flags::ACK,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ]
}

fn pcap(magic: u32, be: bool, modified: bool) -> Vec<u8> {
    let mut v = Vec::new();
    put32(&mut v, magic, be);
    put16(&mut v, 2, be);
    put16(&mut v, 4, be);
    put32(&mut v, 0, be);
    put32(&mut v, 0, be);
    put32(&mut v, 65535, be);
    put32(&mut v, 1, be);
    for (i, f) in frames().iter().enumerate() {
        put32(&mut v, 1_700_000_000 + i as u32, be);
        put32(&mut v, 1000 * i as u32, be);
        put32(&mut v, f.len() as u32, be);
        put32(&mut v, f.len() as u32 + u32::from(i == 2), be);
        if modified {
            v.extend_from_slice(&[0; 8]);
        }
        v.extend_from_slice(f);
    }
    v
}

fn block(v: &mut Vec<u8>, btype: u32, body: &[u8], be: bool) {
    let len = 12 + body.len().div_ceil(4) * 4;
    put32(v, btype, be);
    put32(v, len as u32, be);
    v.extend_from_slice(body);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    put32(v, len as u32, be);
}

fn option(v: &mut Vec<u8>, code: u16, value: &[u8], be: bool) {
    put16(v, code, be);
    put16(v, value.len() as u16, be);
    v.extend_from_slice(value);
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

fn section(v: &mut Vec<u8>, be: bool) {
    let mut shb = Vec::new();
    put32(&mut shb, 0x1A2B_3C4D, be);
    put16(&mut shb, 1, be);
    put16(&mut shb, 0, be);
    shb.extend_from_slice(&[0xff; 8]);
    block(v, 0x0A0D_0D0A, &shb, be);
    // Interface 0: Ethernet, nanoseconds, an offset of 2 s; interface 1: raw IP, 2^-10 s.
    for (lt, resol, offset) in [(1u16, 9u8, Some(2u64)), (101, 0x80 | 10, None)] {
        let mut idb = Vec::new();
        put16(&mut idb, lt, be);
        put16(&mut idb, 0, be);
        put32(&mut idb, 0, be);
        option(&mut idb, 9, &[resol], be);
        if let Some(o) = offset {
            let b = if be { o.to_be_bytes() } else { o.to_le_bytes() };
            option(&mut idb, 14, &b, be);
        }
        option(&mut idb, 0, &[], be);
        block(v, 1, &idb, be);
    }
    for (i, f) in frames().iter().enumerate() {
        let mut epb = Vec::new();
        let iface = u32::from(i == 1);
        let data: &[u8] = if iface == 1 { &f[14..] } else { f };
        put32(&mut epb, iface, be);
        put32(&mut epb, 0x0017_9a3c, be);
        put32(&mut epb, 0x1234_5678 + i as u32, be);
        put32(&mut epb, data.len() as u32, be);
        put32(&mut epb, data.len() as u32, be);
        epb.extend_from_slice(data);
        while epb.len() % 4 != 0 {
            epb.push(0);
        }
        option(&mut epb, 1, b"comment", be);
        option(&mut epb, 0, &[], be);
        block(v, 6, &epb, be);
    }
    // Simple Packet Block, obsolete Packet Block, interface statistics (skipped).
    let f = &frames()[1];
    let mut spb = Vec::new();
    put32(&mut spb, f.len() as u32, be);
    spb.extend_from_slice(f);
    block(v, 3, &spb, be);
    let mut pb = Vec::new();
    put16(&mut pb, 0, be);
    put16(&mut pb, 0, be);
    put32(&mut pb, 0, be);
    put32(&mut pb, 7, be);
    put32(&mut pb, f.len() as u32, be);
    put32(&mut pb, f.len() as u32, be);
    pb.extend_from_slice(f);
    block(v, 2, &pb, be);
    block(v, 5, &[0; 12], be);
}

fn pcapng() -> Vec<u8> {
    let mut v = Vec::new();
    section(&mut v, false);
    section(&mut v, true);
    v
}

/// Seeds: a delivery byte (0: whole, else that many bytes per read) and a capture file.
fn seeds() -> Vec<Vec<u8>> {
    let files = [
        pcap(0xa1b2_c3d4, false, false),
        pcap(0xa1b2_c3d4, true, false),
        pcap(0xa1b2_3c4d, false, false),
        pcap(0xa1b2_3c4d, true, false),
        pcap(0xa1b2_cd34, false, true),
        pcapng(),
    ];
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for chunk in [0u8, 7] {
            let mut s = vec![chunk];
            s.extend_from_slice(f);
            out.push(s);
        }
        // Cut short inside the last record.
        let mut s = vec![(i % 3) as u8];
        s.extend_from_slice(&f[..f.len() - 5]);
        out.push(s);
    }
    // Damage and concatenation (issue 11): two captures of every pair of formats one
    // after the other; a record length corrupted; noise between records.
    for (i, a) in files.iter().enumerate() {
        let b = &files[(i + 1) % files.len()];
        let mut s = vec![(i % 2 * 5) as u8];
        s.extend_from_slice(a);
        s.extend_from_slice(b);
        out.push(s);
    }
    let mut s = vec![0u8];
    let mut f = pcap(0xa1b2_c3d4, false, false);
    let second = 24 + 16 + frames()[0].len();
    f[second + 8..second + 12].copy_from_slice(&[0xff; 4]);
    s.extend_from_slice(&f);
    out.push(s);
    let mut s = vec![3u8];
    let f = pcapng();
    s.extend_from_slice(&f[..200]);
    s.extend((0..97u8).map(|i| i.wrapping_mul(73)));
    s.extend_from_slice(&f[200..]);
    out.push(s);
    out
}

#[test]
fn seeds_read_and_maybe_are_written() {
    let seeds = seeds();
    for s in &seeds {
        read_file(s);
        // The seeds are real captures: every one yields frames.
        let mut src = FileSource::new(&s[1..]).unwrap();
        assert!(src.next_frame().unwrap().is_some(), "seed without frames");
    }
    if let Some(dir) = replay::seeds_dir(TARGET) {
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pcaps");
        if let Ok(entries) = std::fs::read_dir(shared) {
            for e in entries {
                let p = e.unwrap().path();
                let bytes = std::fs::read(&p).unwrap();
                let mut s = vec![0u8];
                s.extend_from_slice(&bytes[..bytes.len().min(4096)]);
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                std::fs::write(dir.join(format!("shared-{name}")), s).unwrap();
                // Its first frames seed `decode_frame` (link-type byte + frame).
                let frames_dir = dir.join("../decode_frame");
                std::fs::create_dir_all(&frames_dir).unwrap();
                if let Ok(mut src) = FileSource::open(&p) {
                    for i in 0..20 {
                        let Ok(Some(f)) = src.next_frame() else { break };
                        let mut seed = vec![httptop_wire::fuzzing::linktype_byte(f.linktype)];
                        seed.extend_from_slice(f.data);
                        std::fs::write(frames_dir.join(format!("shared-{name}-{i}")), seed)
                            .unwrap();
                    }
                }
            }
        }
    }
}
