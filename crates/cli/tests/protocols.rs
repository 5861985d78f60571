//! Acceptance test of the analyzer seam (issue 10): a capture file with one HTTP/1
//! connection, one SSH-like connection and one connection of random bytes, read through
//! the file reader into a whole `Monitor`. The Protocols counters report 1 `http/1` and 2
//! `unknown` connections with their exact TCP payload bytes each way (a retransmitted
//! segment counted once), and reassembly reports no gap: payload that is skipped because
//! no analyzer parses it is not lost data.

mod common;

use common::{tcp_frame, Pcap, TempDir, ACK, FIN_ACK, PSH_ACK, SYN};
use httptop_capture::FileSource;
use httptop_engine::{Exchange, Monitor, MonitorConfig, Observer, Protocol};

type Endpoint = ([u8; 4], u16);

/// One TCP connection written into `p`: handshake, `segments` (from the client or the
/// server, each sent once, or twice when `retransmit`), FINs. Returns the payload bytes
/// each way, each counted once.
fn connection(
    p: &mut Pcap,
    t_us: &mut u64,
    client: Endpoint,
    server: Endpoint,
    segments: &[(bool, &[u8], bool)],
) -> (u64, u64) {
    let (mut cs, mut ss) = (1000u32, 90_000u32);
    let mut rec = |p: &mut Pcap, f: Vec<u8>| {
        *t_us += 1000;
        p.record(*t_us, &f);
    };
    rec(p, tcp_frame(client, server, cs, 0, SYN, b""));
    rec(p, tcp_frame(server, client, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    rec(p, tcp_frame(client, server, cs, ss, ACK, b""));
    let (mut up, mut down) = (0u64, 0u64);
    for &(from_client, data, retransmit) in segments {
        for _ in 0..=usize::from(retransmit) {
            let f = if from_client {
                tcp_frame(client, server, cs, ss, PSH_ACK, data)
            } else {
                tcp_frame(server, client, ss, cs, PSH_ACK, data)
            };
            rec(p, f);
        }
        if from_client {
            cs += data.len() as u32;
            up += data.len() as u64;
        } else {
            ss += data.len() as u32;
            down += data.len() as u64;
        }
    }
    rec(p, tcp_frame(client, server, cs, ss, FIN_ACK, b""));
    rec(p, tcp_frame(server, client, ss, cs + 1, FIN_ACK, b""));
    rec(p, tcp_frame(client, server, cs + 1, ss + 1, ACK, b""));
    (up, down)
}

/// Deterministic bytes (xorshift), 0-255.
fn random(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

struct Exchanges(Vec<Exchange>);
impl Observer for Exchanges {
    fn on_exchange(&mut self, ex: &Exchange) {
        self.0.push(ex.clone());
    }
}

#[test]
fn protocols_count_http1_and_opaque_connections_without_gaps() {
    let mut p = Pcap::new(1);
    let mut t = 1_700_000_000_000_000u64;
    let client = |port| ([10, 0, 0, 1], port);
    let req = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    // HTTP/1 on a port that says nothing (content decides), the response retransmitted.
    let http = connection(
        &mut p,
        &mut t,
        client(40_001),
        ([10, 0, 0, 2], 5555),
        &[(true, req, false), (false, resp, true)],
    );
    // SSH on port 80: the server's banner first, then binary packets both ways.
    let mut seed = 0x2545_f491_4f6c_dd1d;
    let bin_up = random(&mut seed, 700);
    let bin_down = random(&mut seed, 1200);
    let ssh = connection(
        &mut p,
        &mut t,
        client(40_002),
        ([10, 0, 0, 3], 80),
        &[
            (false, b"SSH-2.0-OpenSSH_9.2\r\n", false),
            (true, b"SSH-2.0-OpenSSH_9.6\r\n", false),
            (true, &bin_up, false),
            (false, &bin_down, true),
            (true, &bin_up[..100], false),
            (false, &bin_down[..300], false),
        ],
    );
    // Random bytes both ways, beginning with bytes that start no HTTP line.
    let mut up = vec![0x17, 0x03, 0x03];
    up.extend(random(&mut seed, 1400));
    let mut down = vec![0x00, 0x01];
    down.extend(random(&mut seed, 900));
    let noise = connection(
        &mut p,
        &mut t,
        client(40_003),
        ([10, 0, 0, 4], 8080),
        &[
            (true, &up, false),
            (false, &down, false),
            (true, &up[..500], true),
        ],
    );

    let dir = TempDir::new("protocols");
    let path = dir.path("three.pcap");
    std::fs::write(&path, &p.bytes).expect("write capture");
    let file = std::fs::File::open(&path).expect("open capture");
    let mut src = FileSource::new(std::io::BufReader::new(file)).expect("capture header");
    let mut m = Monitor::new(MonitorConfig::default()).expect("monitor");
    let mut seen = Exchanges(Vec::new());
    while let Ok(Some(frame)) = src.next_frame() {
        m.on_frame(&frame, &mut seen);
    }
    m.finish(&mut seen);

    let c = m.engine().counters();
    let h = c.protocols.get(Protocol::Http1);
    assert_eq!(
        (
            h.connections,
            h.requests,
            h.bytes_to_server,
            h.bytes_to_client
        ),
        (1, 1, http.0, http.1)
    );
    assert_eq!(http, (req.len() as u64, resp.len() as u64));
    let u = c.protocols.get(Protocol::Unknown);
    assert_eq!(
        (
            u.connections,
            u.requests,
            u.bytes_to_server,
            u.bytes_to_client
        ),
        (2, 0, ssh.0 + noise.0, ssh.1 + noise.1)
    );
    assert_eq!((c.reasm.gaps, c.reasm.gap_bytes), (0, 0));
    assert_eq!(c.reasm.retransmissions, 3);
    assert_eq!(c.http.not_http_connections, 2);
    assert_eq!(c.http.requests, 1);
    assert_eq!(seen.0.len(), 1);
    assert_eq!(seen.0[0].status, Some(200));
    assert_eq!(m.engine().open_flows(), 0);
}
