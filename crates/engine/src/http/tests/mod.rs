//! Tests of [`HttpConn`] through whole connections: transcript fixtures
//! (`testdata/*.t`, format in `testdata/README.md`), the incremental-feed check (whole /
//! every split / byte by byte), and property tests (`prop.rs`).

#![allow(clippy::unwrap_used)]

mod limits;
mod prop;
mod transcripts;

use super::{Ctx, Dir, HttpConn, HttpCounters, StreamEvent};
use crate::event::{Exchange, Flags, Version, WireStr};
use crate::limits::Limits;
use httptop_wire::Timestamp;
use std::net::SocketAddr;

pub(crate) fn orig_addr() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}

pub(crate) fn resp_addr() -> SocketAddr {
    "10.0.0.2:80".parse().unwrap()
}

/// One scripted event; times in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Data(Dir, u64, Vec<u8>),
    Gap(Dir, u64, u64),
    Fin(Dir, u64),
    Rst(Dir, u64),
    Close(u64),
}

impl Step {
    fn ms(&self) -> u64 {
        match self {
            Step::Data(_, t, _)
            | Step::Gap(_, t, _)
            | Step::Fin(_, t)
            | Step::Rst(_, t)
            | Step::Close(t) => *t,
        }
    }
}

/// How Data steps are cut into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Split {
    Whole,
    /// Every Data step longer than `k` is fed as two events, cut at `k`.
    At(usize),
    /// One byte per event.
    Bytes,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub exchanges: Vec<Exchange>,
    pub counters: HttpCounters,
    pub dead: bool,
}

/// Runs `steps` through a fresh [`HttpConn`], checking the memory bounds after every
/// event, then closes it at the last step's time.
pub(crate) fn run(steps: &[Step], limits: &Limits, split: Split) -> Outcome {
    let mut conn = HttpConn::new(orig_addr(), resp_addr());
    let mut counters = HttpCounters::default();
    let mut out = Vec::new();
    let mut pool = super::QueuePool::default();
    let head_bound = 2 * limits.max_header_bytes.max(super::conn::MIN_HEAD_CAP);
    let pending_bound = limits.max_pending_requests.max(1);
    let mut last = 0;
    for step in steps {
        last = step.ms();
        let ts = Timestamp::from_millis(step.ms());
        let mut ctx = Ctx {
            limits,
            counters: &mut counters,
            out: &mut out,
            pool: &mut pool,
        };
        match step {
            Step::Data(dir, _, bytes) => {
                let mut feed = |part: &[u8], ctx: &mut Ctx<'_>| {
                    conn.feed(*dir, ts, StreamEvent::Data(part), ctx);
                    assert!(
                        conn.buffered_bytes() <= head_bound,
                        "buffered {} > {head_bound}",
                        conn.buffered_bytes()
                    );
                    assert!(conn.pending_requests() <= pending_bound);
                };
                match split {
                    Split::Whole => feed(bytes, &mut ctx),
                    Split::At(k) if k > 0 && k < bytes.len() => {
                        feed(&bytes[..k], &mut ctx);
                        feed(&bytes[k..], &mut ctx);
                    }
                    Split::At(_) => feed(bytes, &mut ctx),
                    Split::Bytes => {
                        for b in bytes.chunks(1) {
                            feed(b, &mut ctx);
                        }
                    }
                }
            }
            Step::Gap(dir, _, n) => conn.feed(*dir, ts, StreamEvent::Gap(*n), &mut ctx),
            Step::Fin(dir, _) => conn.feed(*dir, ts, StreamEvent::Fin, &mut ctx),
            Step::Rst(dir, _) => conn.feed(*dir, ts, StreamEvent::Rst, &mut ctx),
            Step::Close(_) => conn.close(ts, &mut ctx),
        }
        assert!(conn.buffered_bytes() <= head_bound);
        assert!(conn.pending_requests() <= pending_bound);
    }
    let dead = conn.is_dead();
    let mut ctx = Ctx {
        limits,
        counters: &mut counters,
        out: &mut out,
        pool: &mut pool,
    };
    conn.close(Timestamp::from_millis(last), &mut ctx);
    assert_eq!(conn.buffered_bytes(), 0);
    assert_eq!(conn.pending_requests(), 0);
    for ex in &out {
        for s in [&ex.method, &ex.host, &ex.path, &ex.user_agent] {
            assert!(s.bytes.len() <= limits.max_string_len);
        }
    }
    Outcome {
        exchanges: out,
        counters,
        dead,
    }
}

/// The incremental-feed check: whole, cut at every offset, and byte by byte give the
/// same outcome. Returns the whole-feed outcome.
pub(crate) fn run_all_splits(steps: &[Step], limits: &Limits) -> Outcome {
    let whole = run(steps, limits, Split::Whole);
    let longest = steps
        .iter()
        .map(|s| match s {
            Step::Data(_, _, b) => b.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    for k in 1..longest {
        let split = run(steps, limits, Split::At(k));
        if split != whole {
            panic!("split at {k} differs:\n{}", diff(&whole, &split));
        }
    }
    let bytes = run(steps, limits, Split::Bytes);
    if bytes != whole {
        panic!("byte-by-byte feed differs:\n{}", diff(&whole, &bytes));
    }
    whole
}

fn diff(a: &Outcome, b: &Outcome) -> String {
    format!(
        "whole:\n{}\n{:?}\nother:\n{}\n{:?}",
        a.exchanges.iter().map(show).collect::<Vec<_>>().join("\n"),
        a.counters,
        b.exchanges.iter().map(show).collect::<Vec<_>>().join("\n"),
        b.counters
    )
}

pub(crate) fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b' ' => s.push_str("\\s"),
            0x21..=0x7e => s.push(char::from(c)),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn flag_names(f: Flags) -> String {
    Flags::NAMES
        .iter()
        .filter(|(b, _)| f.contains(*b))
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// An exchange in the transcript `ex` syntax, for failure messages.
pub(crate) fn show(e: &Exchange) -> String {
    let mut s = format!(
        "ex {} host={} path={} status={} req={} resp={} flags={} ver={}.{} ua={} interim={} ts={} latency={}",
        if e.method.is_empty() { "-".to_string() } else { esc(&e.method.bytes) },
        esc(&e.host.bytes),
        esc(&e.path.bytes),
        e.status.map_or("none".to_string(), |c| c.to_string()),
        e.request_bytes,
        e.response_bytes,
        flag_names(e.flags),
        e.version.major,
        e.version.minor,
        esc(&e.user_agent.bytes),
        e.interim_responses,
        e.ts.nanos() / 1_000_000,
        e.latency_ns.map_or("none".to_string(), |l| l.to_string()),
    );
    let t: Vec<&str> = [
        ("method", &e.method),
        ("host", &e.host),
        ("path", &e.path),
        ("ua", &e.user_agent),
    ]
    .iter()
    .filter(|(_, w)| w.truncated)
    .map(|(n, _)| *n)
    .collect();
    if !t.is_empty() {
        s.push_str(&format!(" trunc={}", t.join(",")));
    }
    s
}

/// Builds a complete expected exchange (helper for property tests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn expected(
    ts_ms: u64,
    method: &[u8],
    host: &[u8],
    path: &[u8],
    ua: &[u8],
    status: Option<u16>,
    req: u64,
    resp: u64,
    interim: u8,
    latency_ms: Option<u64>,
) -> Exchange {
    Exchange {
        ts: Timestamp::from_millis(ts_ms),
        client: Some(orig_addr()),
        server: Some(resp_addr()),
        method: WireStr {
            bytes: method.into(),
            truncated: false,
        },
        host: WireStr {
            bytes: host.into(),
            truncated: false,
        },
        path: WireStr {
            bytes: path.into(),
            truncated: false,
        },
        user_agent: WireStr {
            bytes: ua.into(),
            truncated: false,
        },
        version: Version { major: 1, minor: 1 },
        status,
        request_bytes: req,
        response_bytes: resp,
        latency_ns: latency_ms.map(|l| l * 1_000_000),
        interim_responses: interim,
        flags: Flags::empty(),
    }
}
