//! `httptop --demo`: synthetic traffic, no privileges, no capture. It builds real frames
//! (Ethernet/IPv4/TCP, one HTTP/1.1 exchange per connection) and hands them to the same
//! monitor a capture would, at the pace of their timestamps.
//!
//! The script (with the demo's default `--learn 10s --window 5s`): 15 s of steady traffic
//! (about 20 requests per second, several hosts, paths, User-Agents, 2 % of 503s, 2 ms
//! responses), a 12 s burst at four times the rate (a rate alert), steady traffic, 10 s
//! where one request in three fails with a 503 (an errors alert), steady traffic, 10 s of
//! 40 ms responses (a latency alert), and steady traffic again: each alert recovers. 85 s
//! in all.

use httptop_wire::build::ethernet_ipv4_tcp as tcp;
use httptop_wire::{Frame, LinkType, Timestamp};

/// Each phase: seconds, requests per second, one request in N fails (0: the usual 2 %),
/// response time in ms.
const PHASES: [(u64, u64, u64, u64); 7] = [
    (15, 20, 0, 2),
    (12, 80, 0, 2),
    (13, 20, 0, 2),
    (10, 20, 3, 2),
    (10, 20, 0, 2),
    (10, 20, 0, 40),
    (15, 20, 0, 2),
];

const HOSTS: [&str; 5] = [
    "shop.example.com",
    "api.example.com",
    "static.example.com",
    "www.example.org",
    "auth.example.net",
];
const PATHS: [&str; 8] = [
    "/",
    "/api/users?id=42",
    "/api/orders",
    "/static/app.js",
    "/static/logo.png",
    "/login",
    "/search?q=shoes",
    "/cart",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
];

/// One synthetic frame, owned.
pub struct DemoFrame {
    pub ts: Timestamp,
    pub data: Vec<u8>,
}

impl DemoFrame {
    pub fn frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            linktype: LinkType::ETHERNET,
            orig_len: self.data.len() as u32,
            data: &self.data,
        }
    }
}

/// Every frame of the demo, in time order, starting at `start`.
pub fn frames(start: Timestamp) -> Vec<DemoFrame> {
    let mut out = Vec::new();
    let mut n: u64 = 0;
    let mut second = 0u64;
    for (secs, rate, fail_every, latency_ms) in PHASES {
        for _ in 0..secs {
            for i in 0..rate {
                n += 1;
                let t = start.add_nanos(second * 1_000_000_000 + i * 1_000_000_000 / rate);
                let host = HOSTS[(n * 7 % 5) as usize];
                let path = PATHS[(n * 13 % 8) as usize];
                let ua = AGENTS[(n % 4) as usize];
                let failing = fail_every > 0 && n % fail_every == 0;
                let (status, body): (&str, &[u8]) = match n % 50 {
                    _ if failing => ("503 Service Unavailable", b"busy"),
                    0 => ("503 Service Unavailable", b"busy"),
                    7 | 19 => ("404 Not Found", b"not found"),
                    _ => ("200 OK", b"{\"ok\":true}"),
                };
                let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\r\n");
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let mut resp = resp.into_bytes();
                resp.extend_from_slice(body);
                let client = (
                    [192, 0, 2, 1 + (n % 20) as u8],
                    20_000 + (n % 40_000) as u16,
                );
                let server = ([198, 51, 100, 1 + (n % 3) as u8], 80);
                let (ci, si) = (1_000u32, 9_000u32);
                let (rq, rs) = (req.len() as u32, resp.len() as u32);
                let latency = latency_ms * 1_000_000;
                let mut push = |dt: u64, data: Vec<u8>| {
                    out.push(DemoFrame {
                        ts: t.add_nanos(dt),
                        data,
                    })
                };
                push(0, tcp(client, server, ci, 0, 0x02, b""));
                push(100_000, tcp(server, client, si, ci + 1, 0x12, b""));
                push(200_000, tcp(client, server, ci + 1, si + 1, 0x10, b""));
                push(
                    300_000,
                    tcp(client, server, ci + 1, si + 1, 0x18, req.as_bytes()),
                );
                push(
                    300_000 + latency,
                    tcp(server, client, si + 1, ci + 1 + rq, 0x18, &resp),
                );
                push(
                    400_000 + latency,
                    tcp(client, server, ci + 1 + rq, si + 1 + rs, 0x11, b""),
                );
                push(
                    500_000 + latency,
                    tcp(server, client, si + 1 + rs, ci + 2 + rq, 0x11, b""),
                );
            }
            second += 1;
        }
    }
    out.sort_by_key(|f| f.ts);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::alert::AlertEvent;
    use httptop_engine::{Exchange, Monitor, MonitorConfig, Observer};

    struct Count(u64, Vec<AlertEvent>);
    impl Observer for Count {
        fn on_exchange(&mut self, _: &Exchange) {
            self.0 += 1;
        }
        fn on_alert(&mut self, ev: &AlertEvent) {
            self.1.push(*ev);
        }
    }

    #[test]
    fn demo_traffic_learns_alerts_and_recovers() {
        let mut cfg = MonitorConfig::default();
        cfg.alert.learn_ns = 10_000_000_000;
        cfg.alert.window_ns = 5_000_000_000;
        let mut m = Monitor::new(cfg).unwrap();
        let mut seen = Count(0, Vec::new());
        let start = Timestamp::from_secs(1_700_000_000);
        for f in frames(start) {
            m.on_frame(&f.frame(), &mut seen);
        }
        m.on_tick(start.add_nanos(90_000_000_000), &mut seen);
        m.finish(&mut seen);
        let total: u64 = PHASES.iter().map(|(s, r, ..)| s * r).sum();
        assert_eq!(seen.0, total);
        let kinds: Vec<String> = seen
            .1
            .iter()
            .filter(|e| e.is_alert_start() || e.is_recovery())
            .map(|e| {
                let what = if e.is_alert_start() {
                    "alert"
                } else {
                    "recovered"
                };
                format!(
                    "{} {what} {}",
                    e.kind().name(),
                    e.at().since(start) / 1_000_000_000
                )
            })
            .collect();
        // Burst 15..27 s, errors 40..50 s, slow 60..70 s; 5 s windows: each recovers at
        // the first boundary whose window has left its episode (the burst's at 32: the
        // window [27, 32) is steady again).
        assert_eq!(
            kinds,
            [
                "rate alert 16",
                "rate recovered 32",
                "errors alert 41",
                "errors recovered 55",
                "latency alert 61",
                "latency recovered 75",
            ]
        );
        assert!(seen.1.iter().all(|e| e.server().is_none()));
    }
}
