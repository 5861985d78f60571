//! Capture fixtures generated in code for the integration tests (never copied from
//! anywhere): a little-endian microsecond pcap writer and Ethernet/IPv4/TCP frames.

#![allow(dead_code)]

pub mod h2;
pub mod h2wire;
pub mod live;
pub mod tls;
pub mod tmux;

use std::path::PathBuf;

/// The binary under test: the release build when `HTTPTOP_BIN` says so (scripts/test).
pub fn bin() -> PathBuf {
    std::env::var_os("HTTPTOP_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_httptop")),
        PathBuf::from,
    )
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const FIN_ACK: u8 = 0x11;

/// A pcap file being built in memory.
pub struct Pcap {
    pub bytes: Vec<u8>,
}

impl Pcap {
    /// An Ethernet (linktype 1) capture, or any other link type.
    pub fn new(linktype: u32) -> Self {
        let mut h = Vec::new();
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&65535u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        Pcap { bytes: h }
    }

    /// One record at `ts_us` microseconds since the epoch.
    pub fn record(&mut self, ts_us: u64, data: &[u8]) {
        let b = &mut self.bytes;
        b.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }
}

pub use httptop_wire::build::ethernet_ipv4_tcp as tcp_frame;

/// One complete connection at `t_us`: handshake, one request, one response, FINs. The
/// request head is in the packet at `t_us + 3 ms`.
pub fn exchange(p: &mut Pcap, t_us: u64, client_port: u16, request: &[u8], response: &[u8]) {
    let c = ([10, 0, 0, 1], client_port);
    let s = ([10, 0, 0, 2], 80);
    let (ci, si) = (1000u32, 5000u32);
    let rq = request.len() as u32;
    let rs = response.len() as u32;
    p.record(t_us, &tcp_frame(c, s, ci, 0, SYN, b""));
    p.record(t_us + 1000, &tcp_frame(s, c, si, ci + 1, SYN | ACK, b""));
    p.record(t_us + 2000, &tcp_frame(c, s, ci + 1, si + 1, ACK, b""));
    p.record(
        t_us + 3000,
        &tcp_frame(c, s, ci + 1, si + 1, PSH_ACK, request),
    );
    p.record(
        t_us + 4000,
        &tcp_frame(s, c, si + 1, ci + 1 + rq, PSH_ACK, response),
    );
    p.record(
        t_us + 5000,
        &tcp_frame(c, s, ci + 1 + rq, si + 1 + rs, FIN_ACK, b""),
    );
    p.record(
        t_us + 6000,
        &tcp_frame(s, c, si + 1 + rs, ci + 2 + rq, FIN_ACK, b""),
    );
}

/// First second of the burst capture.
pub const T0: u64 = 1_700_000_000;

/// The quiet/burst/quiet capture of `tests/alerting.rs` (see its module docs): one
/// request per second for k in 0..100 and 110..200, five per second for k in 100..110.
pub fn burst_capture(path: &std::path::Path) {
    let mut p = Pcap::new(1);
    // A first packet exactly at T0 starts learning there (a stray ACK of nothing).
    p.record(
        T0 * 1_000_000,
        &tcp_frame(([10, 0, 0, 9], 9), ([10, 0, 0, 2], 80), 1, 1, ACK, b""),
    );
    let mut port = 20_000u16;
    for k in 0..200u64 {
        let n = if (100..110).contains(&k) { 5 } else { 1 };
        for i in 0..n {
            port += 1;
            let t = (T0 + k) * 1_000_000 + 500_000 + i * 10_000 - 10_000 * (n - 1);
            let req = format!("GET /burst/{k}/{i} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: loadgen/1\r\n\r\n");
            exchange(
                &mut p,
                t,
                port,
                req.as_bytes(),
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    }
    std::fs::write(path, p.bytes).expect("write capture");
}

/// A directory for one test's files, removed when dropped (also when the test fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("httptop-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A temp dir holding the burst capture, and the capture's path.
pub fn burst_in(name: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new(name);
    let cap = dir.path("burst.pcap");
    burst_capture(&cap);
    (dir, cap)
}

/// A pcap (Ethernet, microseconds, snaplen 262144) written record by record to any
/// writer (a pipe to `httptop -r -`, a file), without building it in memory: for
/// captures too large to hold. Each record is stamped `t_us`, which then advances by
/// one microsecond. Frames are built into one reused buffer (no allocation per frame).
pub struct PcapStream<W: std::io::Write> {
    w: W,
    hdr: [u8; 70],
    pub t_us: u64,
}

impl<W: std::io::Write> PcapStream<W> {
    pub fn new(mut w: W, t_us: u64) -> std::io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        w.write_all(&h)?;
        Ok(PcapStream {
            w,
            hdr: [0; 70],
            t_us,
        })
    }

    fn stamp(&mut self, len: usize) -> [u8; 16] {
        let mut r = [0u8; 16];
        r[0..4].copy_from_slice(&((self.t_us / 1_000_000) as u32).to_le_bytes());
        r[4..8].copy_from_slice(&((self.t_us % 1_000_000) as u32).to_le_bytes());
        r[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        r[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        self.t_us += 1;
        r
    }

    /// One record holding `data` as is (any bytes).
    pub fn raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        let r = self.stamp(data.len());
        self.w.write_all(&r)?;
        self.w.write_all(data)
    }

    /// One Ethernet/IPv4/TCP frame, as `httptop_wire::build::ethernet_ipv4_tcp` builds
    /// it. `payload` is at most 65,495 bytes.
    pub fn tcp(
        &mut self,
        src: httptop_wire::build::Endpoint,
        dst: httptop_wire::build::Endpoint,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let r = self.stamp(54 + payload.len());
        let h = &mut self.hdr;
        h[0..16].copy_from_slice(&r);
        let f = &mut h[16..];
        f[..12].fill(0);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let total = (40 + payload.len()) as u16;
        f[14..16].copy_from_slice(&[0x45, 0]);
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[18..26].copy_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f[26..30].copy_from_slice(&src.0);
        f[30..34].copy_from_slice(&dst.0);
        f[34..36].copy_from_slice(&src.1.to_be_bytes());
        f[36..38].copy_from_slice(&dst.1.to_be_bytes());
        f[38..42].copy_from_slice(&seq.to_be_bytes());
        f[42..46].copy_from_slice(&ack.to_be_bytes());
        f[46..54].copy_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        self.w.write_all(&self.hdr)?;
        self.w.write_all(payload)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// The errors-then-latency capture of `tests/signal_alerting.rs` (see its module docs):
/// 360 s from T0, 10 requests a second to each of `a.example` and `b.example` (responses
/// in 2 ms); `b.example` answers 503 to 3 requests in 10 for k in 120..180, and in 20 ms
/// (10x) for k in 240..300.
/// The alerts of [`signal_capture`] with `--learn 60s --window 10s`: kind, state and
/// second after T0 (derived in `tests/signal_alerting.rs`).
#[allow(dead_code)]
pub const SIGNAL_ALERTS: [(&str, &str, u64); 4] = [
    ("errors", "started", 121),
    ("errors", "recovered", 190),
    ("latency", "started", 242),
    ("latency", "recovered", 309),
];

pub fn signal_capture(path: &std::path::Path) {
    let mut p = Pcap::new(1);
    p.record(
        T0 * 1_000_000,
        &tcp_frame(([10, 0, 0, 9], 9), ([10, 0, 0, 2], 80), 1, 1, ACK, b""),
    );
    let mut port = 1_000u16;
    for k in 0..360u64 {
        for i in 0..10u64 {
            for (h, host) in ["a.example", "b.example"].iter().enumerate() {
                port = port.wrapping_add(1).max(1_000);
                let b = h == 1;
                let failing = b && (120..180).contains(&k) && i < 3;
                let slow = b && (240..300).contains(&k);
                let latency_us = if slow { 20_000 } else { 2_000 };
                let t = (T0 + k) * 1_000_000 + 50_000 + i * 90_000 + h as u64 * 10_000;
                let req = format!("GET /s/{k}/{i} HTTP/1.1\r\nHost: {host}\r\n\r\n");
                let resp: &[u8] = if failing {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                };
                exchange_with_latency(&mut p, t, port, req.as_bytes(), resp, latency_us);
            }
        }
    }
    std::fs::write(path, p.bytes).expect("write capture");
}

/// As [`exchange`], the response `latency_us` after the request head.
pub fn exchange_with_latency(
    p: &mut Pcap,
    t_us: u64,
    client_port: u16,
    request: &[u8],
    response: &[u8],
    latency_us: u64,
) {
    let c = ([10, 0, 0, 1], client_port);
    let s = ([10, 0, 0, 2], 80);
    let (ci, si) = (1000u32, 5000u32);
    let rq = request.len() as u32;
    let rs = response.len() as u32;
    let r = t_us + 3000 + latency_us;
    p.record(t_us, &tcp_frame(c, s, ci, 0, SYN, b""));
    p.record(t_us + 1000, &tcp_frame(s, c, si, ci + 1, SYN | ACK, b""));
    p.record(t_us + 2000, &tcp_frame(c, s, ci + 1, si + 1, ACK, b""));
    p.record(
        t_us + 3000,
        &tcp_frame(c, s, ci + 1, si + 1, PSH_ACK, request),
    );
    p.record(r, &tcp_frame(s, c, si + 1, ci + 1 + rq, PSH_ACK, response));
    p.record(
        r + 1000,
        &tcp_frame(c, s, ci + 1 + rq, si + 1 + rs, FIN_ACK, b""),
    );
    p.record(
        r + 2000,
        &tcp_frame(s, c, si + 1 + rs, ci + 2 + rq, FIN_ACK, b""),
    );
}
