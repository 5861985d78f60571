//! Micro-benchmark of `Stats::on_exchange` (plain `Instant` harness):
//!
//!     cargo bench -p httptop-engine --bench stats [-- EXCHANGES] [typical|hostile]
//!
//! Feeds synthetic exchanges in packet-time order, calling `advance` once per second of
//! packet time, as the engine would, and prints ns per exchange for:
//! - `typical`: 40 hosts, ~400 host + section keys, 60 User-Agents, 2,000 clients
//!   (`CLIENTS=n` in the environment to change), a realistic method
//!   and status mix, ~2,400 exchanges per second of packet time;
//! - `hostile`: every host, path, User-Agent and client new (all tables full and churning
//!   through Space-Saving replacement).
//!
//! Exchanges come from a small pre-built pool (so that, as in the pipeline, the exchange
//! being counted is hot in cache) whose timestamps and client addresses are rewritten in
//! place from pre-computed arrays: the loop measures the statistics only.

use httptop_engine::stats::{Stats, StatsConfig, Window};
use httptop_engine::{Exchange, Flags, Version, WireStr};
use httptop_wire::Timestamp;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000 * SEC;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Skewed pick in 0..n: low indices far more frequent (roughly Zipf-like).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c)
    }
}

fn ws(s: &[u8]) -> WireStr {
    WireStr::capped(s, 1024)
}

fn typical_pool(n: usize, rng: &mut Rng) -> Vec<Exchange> {
    let hosts: Vec<String> = (0..40)
        .map(|i| match i % 4 {
            0 => format!("api{i}.example.com"),
            1 => format!("www.shop{i}.example.org"),
            2 => format!("cdn{i}.static-assets.example.net:8080"),
            _ => format!("10.1.{i}.7"),
        })
        .collect();
    let sections: Vec<String> = (0..300)
        .map(|i| match i % 5 {
            0 => format!("/api{i}"),
            1 => format!("/static{i}"),
            2 => format!("/img{i}"),
            3 => format!("/v{i}"),
            _ => format!("/p{i}.html"),
        })
        .collect();
    let uas: Vec<String> = (0..60)
        .map(|i| match i % 3 {
            0 => format!("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/12{i}.0.0.0 Safari/537.36"),
            1 => format!("curl/8.{i}.0"),
            _ => format!("Go-http-client/1.{i}"),
        })
        .collect();
    let methods = [
        (&b"GET"[..], 80),
        (b"POST", 12),
        (b"HEAD", 3),
        (b"PUT", 2),
        (b"DELETE", 2),
        (b"OPTIONS", 1),
    ];
    let statuses = [
        (200u16, 80),
        (304, 6),
        (301, 3),
        (404, 5),
        (500, 1),
        (502, 1),
        (204, 3),
        (0, 1),
    ];
    let pick = |rng: &mut Rng, table: &[(u16, u64)]| {
        let mut r = rng.below(table.iter().map(|t| t.1).sum());
        for &(v, w) in table {
            if r < w {
                return v;
            }
            r -= w;
        }
        table[0].0
    };
    (0..n)
        .map(|_| {
            let h = rng.skewed(hosts.len() as u64) as usize;
            let host = &hosts[h];
            // Each host has its own dozen sections: ~400 host + section keys in all.
            let section = &sections[(h * 7 + rng.skewed(12) as usize) % sections.len()];
            let path = format!("{section}/item/{}?q={}", rng.below(1000), rng.below(100));
            let ua = &uas[rng.skewed(uas.len() as u64) as usize];
            let mut r = rng.below(100);
            let mut method = methods[0].0;
            for &(m, w) in &methods {
                if r < w {
                    method = m;
                    break;
                }
                r -= w;
            }
            let status = pick(rng, &statuses);
            let no_request = rng.below(500) == 0;
            Exchange {
                ts: Timestamp(T0),
                client: None,
                server: Some(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                    80,
                )),
                original_client: None,
                method: ws(method),
                host: if no_request {
                    WireStr::default()
                } else {
                    ws(host.as_bytes())
                },
                path: ws(path.as_bytes()),
                user_agent: ws(ua.as_bytes()),
                version: Version { major: 1, minor: 1 },
                status: (status != 0).then_some(status),
                request_bytes: 200 + rng.below(600),
                response_bytes: if status == 0 {
                    0
                } else {
                    300 + rng.below(50_000)
                },
                latency_ns: (status != 0).then(|| 50_000 + rng.below(20_000_000)),
                interim_responses: 0,
                flags: if no_request {
                    Flags::NO_REQUEST
                } else if status == 0 {
                    Flags::NO_RESPONSE
                } else {
                    Flags::empty()
                },
                ..Default::default()
            }
        })
        .collect()
}

/// Every key new: 64-byte host, path and User-Agent unique per exchange, and a new
/// client address each time.
fn hostile(e: &mut Exchange, i: u64) {
    let tag = format!("{i:016x}");
    let s = |prefix: &str| ws(format!("{prefix}-{tag}-{}", "x".repeat(40)).as_bytes());
    e.host = s("host");
    e.path = ws(format!("/{tag}/x").as_bytes());
    e.user_agent = s("ua");
    e.client = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(i as u32)), 1));
}

/// Feeds `warm + n` exchanges, timing the last `n`.
fn run(
    name: &str,
    pool: &mut [Exchange],
    clients: &[SocketAddr],
    warm: usize,
    n: usize,
    per_sec: u64,
) {
    let mut stats = Stats::new(StatsConfig::default());
    let step = SEC / per_sec;
    let mut next_tick = T0;
    let mut start = Instant::now();
    for i in 0..warm + n {
        if i == warm {
            start = Instant::now();
        }
        let ts = T0 + i as u64 * step;
        if ts >= next_tick {
            stats.advance(Timestamp(ts));
            next_tick = ts + SEC;
        }
        let e = &mut pool[i % pool.len()];
        e.ts = Timestamp(ts);
        if let Some(&c) = clients.get(i) {
            e.client = Some(c);
        }
        stats.on_exchange(black_box(e));
    }
    let el = start.elapsed();
    let now = Timestamp(T0 + (warm + n) as u64 * step);
    let t = Instant::now();
    for w in Window::ALL {
        black_box(stats.report(w, now));
    }
    let rep = t.elapsed();
    println!(
        "{name:<8} {n:>9} exchanges (after {warm}) over {:>5} s of packet time: \
         {:>6.1} ns/exchange ({:.3} s); 4 reports {:.2} ms; keys {:?}; memory {:.1} MiB",
        (warm + n) as u64 / per_sec,
        el.as_nanos() as f64 / n as f64,
        el.as_secs_f64(),
        rep.as_secs_f64() * 1e3,
        stats.table_sizes(),
        stats.memory_estimate() as f64 / (1 << 20) as f64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_440_000);
    let only = |what: &str| {
        !args.iter().any(|a| a == "typical" || a == "hostile") || args.iter().any(|a| a == what)
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pool = typical_pool(1 << 10, &mut rng);
    let nclients: u64 = std::env::var("CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    // Client addresses, skewed (CLIENTS, default 2,000).
    let clients: Vec<SocketAddr> = (0..n)
        .map(|_| {
            let c = rng.skewed(nclients.max(1)) as u32;
            SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | c)), 40000)
        })
        .collect();
    // Warm-up, then measure.
    if only("typical") {
        for _ in 0..3 {
            run("typical", &mut pool, &clients, 0, n, 2400);
        }
    }
    if !only("hostile") {
        return;
    }
    // The tables fill during the first 10,000 exchanges; time the steady state after.
    let (hw, hn) = (20_000, n / 4);
    let mut hpool: Vec<Exchange> = (0..(hw + hn) as u64)
        .map(|i| {
            let mut e = pool[i as usize % pool.len()].clone();
            hostile(&mut e, i);
            e
        })
        .collect();
    run("hostile", &mut hpool, &[], hw, hn, 2400);
}
