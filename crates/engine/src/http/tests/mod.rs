//! Tests of [`HttpConn`] through whole connections: transcript fixtures
//! (`testdata/*.t`, format in `testdata/README.md`), the incremental-feed check (whole /
//! every split / byte by byte), and property tests (`prop.rs`).

#![allow(clippy::unwrap_used)]

mod limits;
mod prop;
mod transcripts;

pub(crate) use super::script::{orig_addr, resp_addr, run, Outcome, Split, Step};
use crate::event::{Exchange, Flags, Version, WireStr};
use crate::limits::Limits;
use httptop_wire::Timestamp;

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
        original_client: None,
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
        ..Default::default()
    }
}

/// Every exchange reported with a request is counted in `requests` (alerting counts
/// requests from that counter, statistics from the exchanges), malformed request lines
/// included. Found by the `monitor` fuzz target (`fuzz/regressions/monitor/`).
#[test]
fn every_reported_request_is_counted() {
    let limits = Limits::default();
    let mut malformed = 0;
    for line in [
        &b"GET /a HTTP/1.1\r\n\r\n"[..],
        b"GET /a HTTX/1.1\r\n\r\n",
        b"GET /a HTTP/1.1 junk\r\n\r\n",
        b"GEKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKT /2 HTTP/+1.1\r\n\r\n",
        b"GET /2 HTTP/+1.1\r\n\r\n",
        b"POST\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\n",
    ] {
        // After a request, so that the side is synchronised (a malformed line is
        // reported only then).
        let data = [&b"GET /1 HTTP/1.1\r\n\r\n"[..], line].concat();
        let out = run_all_splits(&[Step::Data(super::Dir::Orig, 1, data)], &limits);
        let with_request = out
            .exchanges
            .iter()
            .filter(|e| !e.flags.contains(Flags::NO_REQUEST))
            .count() as u64;
        assert_eq!(
            out.counters.requests,
            with_request,
            "{:?}",
            String::from_utf8_lossy(line)
        );
        malformed += out
            .exchanges
            .iter()
            .filter(|e| e.flags.contains(Flags::MALFORMED))
            .count();
    }
    assert!(malformed > 0, "no malformed request line reached bad_start");
}
