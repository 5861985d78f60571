//! Tests of the statistics engine against naive recomputations over the raw exchanges.

use super::table::Entry;
use super::*;
use crate::event::{Version, WireStr};
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

const T0: u64 = 1_700_000_000 * SEC;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 3600 * SEC;

/// `cases` cases; failures saved beside this file (`tests.proptest-regressions`).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

fn ws(s: &[u8]) -> WireStr {
    WireStr::capped(s, usize::MAX)
}

/// A request to `host` + `path` from client `c`, answered `status` (0: no response).
fn ex(ts: u64, host: &str, path: &str, ua: &str, c: u8, status: u16) -> Exchange {
    Exchange {
        ts: Timestamp(ts),
        client: Some(SocketAddr::new(Ipv4Addr::new(10, 0, 0, c).into(), 40000)),
        server: Some(SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 80)),
        original_client: None,
        method: ws(b"GET"),
        host: ws(host.as_bytes()),
        path: ws(path.as_bytes()),
        user_agent: ws(ua.as_bytes()),
        version: Version { major: 1, minor: 1 },
        status: (status != 0).then_some(status),
        request_bytes: 100,
        response_bytes: if status != 0 { 1000 } else { 0 },
        latency_ns: (status != 0).then_some(1_000_000),
        interim_responses: 0,
        flags: if status != 0 {
            Flags::empty()
        } else {
            Flags::NO_RESPONSE
        },
        ..Default::default()
    }
}

fn key(r: &Row) -> String {
    String::from_utf8_lossy(r.key.as_bytes()).into_owned()
}

fn feed(s: &mut Stats, exs: &[Exchange]) {
    let mut clock = 0;
    for e in exs {
        clock = clock.max(e.ts.0);
        s.advance(Timestamp(clock));
        s.on_exchange(e);
    }
}

/// Count-window start as documented: 12 buckets of 5 s / 50 s / 5 min / retention/12.
fn doc_start(w: Window, now: u64, retention: u64, ratio: u64, n: u64) -> u64 {
    let width = match w {
        Window::Min1 => 5 * SEC,
        Window::Min10 => 50 * SEC,
        Window::Hour1 => 300 * SEC,
        Window::Retention => retention / 12,
    } * ratio;
    (now / width).saturating_sub(n - 1) * width
}

// ------------------------------------------------------------------ window sums

#[derive(Clone, Debug)]
struct Ev {
    ts: u64,
    host: u8,
    path: u8,
    ua: u8,
    client: u8,
    status: u16,
    no_request: bool,
    req_bytes: u64,
    resp_bytes: u64,
}

fn to_exchange(e: &Ev) -> Exchange {
    let mut x = ex(
        e.ts,
        ["a.example", "b.example", "c.example", ""][usize::from(e.host % 4)],
        ["/", "/api/x", "/img/1.png", "/api?q", "*"][usize::from(e.path % 5)],
        ["curl/8", "Mozilla/5.0", ""][usize::from(e.ua % 3)],
        e.client % 5,
        e.status,
    );
    x.request_bytes = e.req_bytes;
    x.response_bytes = e.resp_bytes;
    if e.no_request {
        x.flags = Flags::NO_REQUEST;
        x.method = WireStr::default();
        x.host = WireStr::default();
        x.path = WireStr::default();
        x.user_agent = WireStr::default();
        x.request_bytes = 0;
        x.latency_ns = None;
        x.status = Some(e.status.max(100));
    }
    x
}

/// Timestamps that mostly move forward, sometimes jump by hours, and arrive up to
/// 15 minutes out of order.
fn events() -> impl Strategy<Value = Vec<Ev>> {
    let step = (
        prop_oneof![
            6 => 0u64..5 * SEC,
            3 => 0u64..10 * MIN,
            1 => 0u64..10 * HOUR,
        ],
        prop_oneof![8 => Just(0u64), 2 => 0u64..15 * MIN],
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
        prop_oneof![
            Just(0u16),
            Just(200u16),
            Just(404u16),
            Just(503u16),
            Just(101u16),
            Just(999u16)
        ],
        prop::bool::weighted(0.1),
        (0u64..5000, 0u64..1_000_000),
    );
    prop::collection::vec(step, 1..300).prop_map(|steps| {
        let mut t = T0;
        steps
            .into_iter()
            .map(
                |(d, back, (host, path, ua, client), status, no_request, (rq, rs))| {
                    t += d;
                    Ev {
                        ts: t.saturating_sub(back),
                        host,
                        path,
                        ua,
                        client,
                        status,
                        no_request,
                        req_bytes: rq,
                        resp_bytes: rs,
                    }
                },
            )
            .collect()
    })
}

fn naive_counts<'a>(
    exs: impl Iterator<Item = &'a Exchange>,
    key: impl Fn(&Exchange) -> Option<String>,
) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for e in exs {
        if let Some(k) = key(e) {
            *m.entry(k).or_insert(0) += 1;
        }
    }
    m
}

fn rows_map(rows: &[Row]) -> HashMap<String, u64> {
    rows.iter().map(|r| (key(r), r.count)).collect()
}

fn is_req(e: &Exchange) -> bool {
    !e.flags.contains(Flags::NO_REQUEST)
}

fn host_key(e: &Exchange) -> String {
    if e.host.is_empty() {
        e.server.map(|a| a.to_string()).unwrap_or_default()
    } else {
        String::from_utf8_lossy(e.host.as_bytes()).into_owned()
    }
}

proptest! {
    #![proptest_config(config(96))]

    /// Every table, total and rate point equals a recount of the raw exchanges whose time
    /// is in the documented, bucket-aligned window.
    #[test]
    fn window_sums_match_naive_recount(
        evs in events(),
        extra in prop_oneof![Just(0u64), 0u64..3 * HOUR],
        short in any::<bool>(),
    ) {
        let retention = if short { 2 * HOUR } else { 24 * HOUR };
        let cfg = StatsConfig { top: 1000, retention_ns: retention, ..StatsConfig::default() };
        let mut s = Stats::new(cfg);
        let exs: Vec<Exchange> = evs.iter().map(to_exchange).collect();
        feed(&mut s, &exs);
        let latest = exs.iter().map(|e| e.ts.0).max().unwrap_or(0);
        let now = latest + extra;
        for w in Window::ALL {
            let r = s.report(w, Timestamp(now));
            let start = doc_start(w, now, retention, 1, 12);
            let start_a = doc_start(w, now, retention, 2, 6);
            let start_l = doc_start(w, now, retention, 4, 3);
            prop_assert_eq!(r.start.0, start);
            prop_assert_eq!(r.bytes_start.0, start_a);
            prop_assert_eq!(r.latency_start.0, start_l);
            let inw = |e: &&Exchange| e.ts.0 >= start && e.ts.0 <= now;
            let ina = |e: &&Exchange| e.ts.0 >= start_a && e.ts.0 <= now;
            prop_assert_eq!(r.requests, exs.iter().filter(inw).filter(|e| is_req(e)).count() as u64);
            prop_assert_eq!(r.responses, exs.iter().filter(inw).filter(|e| e.status.is_some()).count() as u64);

            let reqs = || exs.iter().filter(inw).filter(|e| is_req(e));
            let sections = naive_counts(reqs(), |e| {
                let sec = e.section();
                let mut k = Vec::new();
                if sec.first() == Some(&b'/') { k.extend_from_slice(e.host.as_bytes()); }
                k.extend_from_slice(sec);
                Some(String::from_utf8_lossy(&k).into_owned())
            });
            prop_assert_eq!(rows_map(&r.sections), sections);
            let hosts = naive_counts(reqs(), |e| (!e.host.is_empty()).then(|| host_key(e)));
            prop_assert_eq!(rows_map(&r.hosts), hosts);
            let uas = naive_counts(reqs(), |e| Some(String::from_utf8_lossy(e.user_agent.as_bytes()).into_owned()));
            prop_assert_eq!(rows_map(&r.user_agents), uas);
            let methods = naive_counts(reqs(), |e| Some(String::from_utf8_lossy(e.method.as_bytes()).into_owned()));
            prop_assert_eq!(rows_map(&r.methods), methods);
            let codes = naive_counts(exs.iter().filter(inw), |e| e.status.map(|c| format!("{c:03}")));
            prop_assert_eq!(rows_map(&r.status_codes), codes);
            let servers = naive_counts(reqs(), |e| Some(host_key(e)));
            let got: HashMap<String, u64> = r.servers.iter()
                .filter(|s| s.count > 0)
                .map(|s| (String::from_utf8_lossy(s.key.as_bytes()).into_owned(), s.count)).collect();
            prop_assert_eq!(got, servers);
            for row in r.sections.iter().chain(&r.hosts).chain(&r.user_agents).chain(&r.methods) {
                prop_assert_eq!(row.error, 0);
            }

            // Attached metrics, over the attached window.
            let mut bytes: HashMap<String, (u64, u64)> = HashMap::new();
            for e in exs.iter().filter(ina) {
                let b = bytes.entry(host_key(e)).or_default();
                b.0 += e.request_bytes;
                b.1 += e.response_bytes;
            }
            bytes.retain(|_, b| *b != (0, 0));
            let got: HashMap<String, (u64, u64)> = r.bytes_by_host.iter()
                .map(|b| (String::from_utf8_lossy(b.key.as_bytes()).into_owned(), (b.request_bytes, b.response_bytes)))
                .collect();
            prop_assert_eq!(got, bytes);
            let mut e5: HashMap<String, u64> = HashMap::new();
            for e in exs.iter().filter(ina).filter(|e| is_req(e) && matches!(e.status, Some(500..=599))) {
                *e5.entry(host_key(e)).or_default() += 1;
            }
            for sr in &r.servers {
                let k = String::from_utf8_lossy(sr.key.as_bytes()).into_owned();
                prop_assert_eq!(sr.errors, e5.get(&k).copied().unwrap_or(0), "5xx of {}", k);
            }
            let mut cb: HashMap<IpAddr, (u64, u64)> = HashMap::new();
            for e in exs.iter().filter(inw) {
                if let Some(c) = e.client { cb.entry(c.ip()).or_default().0 += u64::from(is_req(e)); }
            }
            for e in exs.iter().filter(ina) {
                if let Some(c) = e.client { cb.entry(c.ip()).or_default().1 += e.request_bytes + e.response_bytes; }
            }
            cb.retain(|_, v| v.0 > 0);
            let got: HashMap<IpAddr, (u64, u64)> = r.clients.iter().map(|c| (c.key, (c.count, c.bytes))).collect();
            prop_assert_eq!(got, cb);
        }

        // Rate series: per second over the last hour, per minute over the retention.
        let per_sec = s.rate_per_second(Timestamp(now));
        prop_assert_eq!(per_sec.len(), 3600);
        let mut naive: HashMap<u64, u64> = HashMap::new();
        for e in exs.iter().filter(|e| is_req(e)) { *naive.entry(e.ts.0 / SEC).or_default() += 1; }
        for &(t, n) in &per_sec {
            prop_assert_eq!(n, naive.get(&(t.0 / SEC)).copied().unwrap_or(0), "second {}", t.0);
        }
        let per_min = s.rate_per_minute(Timestamp(now));
        prop_assert_eq!(per_min.len() as u64, retention / MIN);
        let mut naive: HashMap<u64, u64> = HashMap::new();
        for e in exs.iter().filter(|e| is_req(e)) { *naive.entry(e.ts.0 / MIN).or_default() += 1; }
        for &(t, n) in &per_min {
            // A minute can only lose what arrived after the series had moved past it.
            let want = naive.get(&(t.0 / MIN)).copied().unwrap_or(0);
            prop_assert_eq!(n, want, "minute {}", t.0);
        }
    }
}

// ------------------------------------------------------------------ Space-Saving

fn ua_exchange(ts: u64, ua: &[u8]) -> Exchange {
    let mut e = ex(ts, "h", "/", "", 1, 200);
    e.user_agent = ws(ua);
    e
}

/// `distinct` one-off User-Agents mixed with `heavy` keys of `each` requests, through a
/// table of `max_keys`: every heavy key is reported, within its error, and every error
/// is at most N / max_keys.
fn space_saving(distinct: u64, heavy: u64, each: u64, max_keys: usize) {
    let cfg = StatsConfig {
        max_keys,
        top: heavy as usize,
        ..StatsConfig::default()
    };
    let mut s = Stats::new(cfg);
    s.advance(Timestamp(T0));
    let total = distinct + heavy * each;
    // Heavy keys spread evenly through the stream (deterministic interleaving).
    let stride = total / (heavy * each);
    let (mut d, mut h) = (0u64, 0u64);
    let mut buf = Vec::new();
    for i in 0..total {
        buf.clear();
        if h < heavy * each && (i % stride == 0 || d == distinct) {
            buf.extend_from_slice(format!("heavy-{}", h % heavy).as_bytes());
            h += 1;
        } else {
            buf.extend_from_slice(format!("one-off-{d}").as_bytes());
            d += 1;
        }
        s.on_exchange(&ua_exchange(T0 + i % (10 * SEC), &buf));
    }
    assert_eq!((d, h), (distinct, heavy * each));
    let bound = total / max_keys as u64;
    for w in Window::ALL {
        let r = s.report(w, Timestamp(T0 + 10 * SEC));
        assert_eq!(r.user_agents.len(), heavy as usize);
        for row in &r.user_agents {
            let k = key(row);
            assert!(k.starts_with("heavy-"), "{k} in the top of {w:?}");
            assert!(
                row.count - row.error <= each && each <= row.count,
                "{k}: {row:?}"
            );
            assert!(row.error <= bound, "{k}: error {} > {bound}", row.error);
        }
        assert!(r.floors.user_agents <= bound);
    }
    assert_eq!(s.table_sizes()[2], max_keys);
    assert_eq!(
        s.counters().user_agents.evicted,
        distinct + heavy - max_keys as u64
    );
}

#[test]
fn space_saving_small() {
    space_saving(20_000, 10, 400, 100);
}

/// The full-size case of the brief: 1,000,000 distinct keys and 10 heavy ones.
#[test]
#[cfg_attr(debug_assertions, ignore = "release only: cargo test --release")]
fn space_saving_million_distinct() {
    space_saving(1_000_000, 10, 3_000, 1_000);
}

proptest! {
    #![proptest_config(config(64))]

    /// Sliding windows with eviction and decay: for every key and window, a reported
    /// count bounds the true count from above and `count - error` from below; an absent
    /// key's true count (and every error) is at most the floor.
    #[test]
    fn bounds_hold_under_churn_and_decay(
        steps in prop::collection::vec((0u64..40 * MIN, 0u64..5 * MIN, 0u8..40, 1u8..4), 1..400),
        cap in 2usize..12,
    ) {
        let retention = 2 * HOUR;
        let cfg = StatsConfig { top: 1000, max_keys: cap, retention_ns: retention, ..StatsConfig::default() };
        let mut s = Stats::new(cfg);
        let mut t = T0;
        let mut exs = Vec::new();
        for (d, back, k, rep) in steps {
            t += d;
            // Skewed keys: low numbers are frequent.
            let k = k % (1 + k / 4);
            for _ in 0..rep {
                exs.push(ua_exchange(t.saturating_sub(back), format!("k{k}").as_bytes()));
            }
        }
        feed(&mut s, &exs);
        let now = t;
        for w in Window::ALL {
            let r = s.report(w, Timestamp(now));
            let start = r.start.0;
            let truth = naive_counts(exs.iter().filter(|e| e.ts.0 >= start && e.ts.0 <= now),
                |e| Some(String::from_utf8_lossy(e.user_agent.as_bytes()).into_owned()));
            let floor = r.floors.user_agents;
            let rows = rows_map(&r.user_agents);
            for row in &r.user_agents {
                let t = truth.get(&key(row)).copied().unwrap_or(0);
                prop_assert!(row.count - row.error <= t && t <= row.count, "{:?} {:?} true {}", w, row, t);
                prop_assert!(row.error <= floor);
            }
            for (k, &t) in &truth {
                if !rows.contains_key(k) {
                    prop_assert!(t <= floor, "{:?}: {} absent with {} > floor {}", w, k, t, floor);
                }
            }
        }
    }
}

// ------------------------------------------------------------------ time

#[test]
fn purge_after_retention() {
    let mut s = Stats::new(StatsConfig::default());
    let e = ex(T0, "old.example", "/a", "ua-old", 1, 200);
    feed(&mut s, &[e]);
    assert_eq!(s.table_sizes(), [1, 1, 1, 0, 1, 1]);
    // Still inside the retention window: kept.
    s.advance(Timestamp(T0 + 20 * HOUR));
    s.on_exchange(&ex(T0 + 20 * HOUR, "new.example", "/b", "ua-new", 2, 200));
    // Except from the latency table: its retention window is three 8-hour buckets, the
    // oldest starting after T0 by now.
    assert_eq!(s.table_sizes(), [2, 2, 2, 0, 2, 1]);
    // Past the retention period (plus the bucket that holds T0): the old keys go.
    s.advance(Timestamp(T0 + 26 * HOUR + 5 * MIN));
    assert_eq!(s.table_sizes(), [1, 1, 1, 0, 1, 1]);
    let c = s.counters();
    assert_eq!(
        (
            c.sections.purged,
            c.hosts.purged,
            c.user_agents.purged,
            c.clients.purged
        ),
        (1, 1, 1, 1)
    );
    let r = s.report(Window::Retention, Timestamp(T0 + 26 * HOUR + 5 * MIN));
    assert_eq!(r.hosts.len(), 1);
    assert_eq!(key(&r.hosts[0]), "new.example");
    assert_eq!(r.requests, 1);
}

#[test]
fn late_exchange_lands_in_its_bucket_or_only_in_longer_windows() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp(T0 + 10 * MIN));
    s.on_exchange(&ex(T0 + 10 * MIN - 30 * SEC, "h", "/", "", 1, 200)); // in every window
    s.on_exchange(&ex(T0 + 5 * MIN, "h", "/", "", 1, 200)); // not in the 1-minute window
    s.on_exchange(&ex(T0 + 10 * MIN - 25 * HOUR, "h", "/", "", 1, 200)); // too old
    let c = s.counters();
    assert_eq!((c.late_min1, c.late_min10, c.too_old), (1, 0, 1));
    let now = Timestamp(T0 + 10 * MIN);
    let n = |w| s.report(w, now).requests;
    assert_eq!(
        [
            n(Window::Min1),
            n(Window::Min10),
            n(Window::Hour1),
            n(Window::Retention)
        ],
        [1, 2, 2, 2]
    );
}

#[test]
fn far_future_timestamp_is_clamped() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp(T0));
    s.on_exchange(&ex(T0, "h", "/", "", 1, 200));
    s.on_exchange(&ex(u64::MAX, "evil", "/", "", 1, 200));
    s.on_exchange(&ex(T0 + SEC, "h", "/", "", 1, 200));
    assert_eq!(s.counters().future_clamped, 1);
    let r = s.report(Window::Min1, Timestamp(T0 + SEC));
    // The clamped exchange sits MAX_FUTURE_NS ahead; nothing was lost.
    assert_eq!(r.requests, 3);
    assert_eq!(r.end, Timestamp(T0 + MAX_FUTURE_NS));
    assert_eq!(rows_map(&r.hosts).get("h"), Some(&2));
}

/// `Engine::now()` is zero before the first frame: advancing to it must not become the
/// clock that later exchanges are clamped to.
#[test]
fn advance_to_zero_is_not_a_clock() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp::ZERO);
    s.on_exchange(&ex(T0, "h", "/", "", 1, 200));
    s.on_exchange(&ex(T0 + 2 * SEC, "h", "/", "", 1, 200));
    assert_eq!(s.counters().future_clamped, 0);
    let r = s.report(Window::Min1, Timestamp(T0 + 2 * SEC));
    assert_eq!((r.requests, r.end), (2, Timestamp(T0 + 2 * SEC)));
}

#[test]
fn no_request_counts_as_response_only() {
    let mut s = Stats::new(StatsConfig::default());
    let mut e = ex(T0, "", "", "", 7, 502);
    e.flags = Flags::NO_REQUEST;
    e.method = WireStr::default();
    e.request_bytes = 0;
    e.latency_ns = None;
    feed(&mut s, &[e]);
    let r = s.report(Window::Min1, Timestamp(T0));
    assert_eq!((r.requests, r.responses), (0, 1));
    assert!(r.sections.is_empty() && r.methods.is_empty() && r.user_agents.is_empty());
    assert!(r.hosts.is_empty());
    assert_eq!(rows_map(&r.status_codes).get("502"), Some(&1));
    assert_eq!(rows_map(&r.status_classes).get("5xx"), Some(&1));
    assert!(r.servers.is_empty(), "no request: not ranked among servers");
    assert!(r.clients.is_empty(), "no request: no client row");
    assert_eq!(
        s.table_sizes()[1],
        1,
        "its bytes are kept under the server address"
    );
}

// ------------------------------------------------------------------ strings

#[test]
fn truncation_mark_is_carried() {
    let mut s = Stats::new(StatsConfig::default());
    let mut e = ex(T0, "h.example", "/api/x", "", 1, 200);
    e.user_agent = WireStr::capped(&[b'u'; 2000], 1024);
    assert!(e.user_agent.truncated);
    let mut long = ex(T0, "h.example", "/", "short", 1, 200);
    long.host = ws(&[b'h'; 1000]);
    long.path = ws(&[&b"/"[..], &[b'p'; 99]].concat());
    feed(&mut s, &[e, long]);
    let r = s.report(Window::Min1, Timestamp(T0));
    let ua = r
        .user_agents
        .iter()
        .find(|r| r.key.as_bytes().len() == 1024);
    assert!(ua.is_some_and(|r| r.key.truncated));
    let short = r.user_agents.iter().find(|r| r.key.as_bytes() == b"short");
    assert!(short.is_some_and(|r| !r.key.truncated));
    // host (1000) + section (100) is cut to max_key_len and marked.
    let cut = r.sections.iter().find(|r| r.key.as_bytes().len() == 1024);
    assert!(cut.is_some_and(|r| r.key.truncated));
    assert_eq!(s.counters().keys_truncated, 1);
    let api = r
        .sections
        .iter()
        .find(|r| r.key.as_bytes() == b"h.example/api");
    assert!(api.is_some_and(|r| !r.key.truncated));
}

#[test]
fn truncated_path_marks_its_section_only_when_cut_inside_it() {
    let mut s = Stats::new(StatsConfig::default());
    let mut a = ex(T0, "h", "", "", 1, 200);
    a.path = WireStr::capped(b"/aaaaaaaa", 5); // "/aaaa", cut inside the section
    let mut b = ex(T0, "h", "", "", 1, 200);
    b.path = WireStr::capped(b"/bb/cccccc", 6); // "/bb/cc", cut after it
    feed(&mut s, &[a, b]);
    let r = s.report(Window::Min1, Timestamp(T0));
    let t: HashMap<String, bool> = r
        .sections
        .iter()
        .map(|r| (key(r), r.key.truncated))
        .collect();
    assert_eq!(t.get("h/aaaa"), Some(&true));
    assert_eq!(t.get("h/bb"), Some(&false));
}

// ------------------------------------------------------------------ status, servers

#[test]
fn status_classes() {
    let mut s = Stats::new(StatsConfig::default());
    let codes = [101, 200, 200, 204, 302, 404, 404, 404, 503, 42, 999];
    let exs: Vec<Exchange> = codes.iter().map(|&c| ex(T0, "h", "/", "", 1, c)).collect();
    let mut exs = exs;
    exs.push(ex(T0, "h", "/", "", 1, 0)); // no response: a request, no status
    feed(&mut s, &exs);
    let r = s.report(Window::Min1, Timestamp(T0));
    assert_eq!((r.requests, r.responses), (12, 11));
    let classes: Vec<(String, u64)> = r.status_classes.iter().map(|r| (key(r), r.count)).collect();
    let want = [
        ("1xx", 1),
        ("2xx", 3),
        ("3xx", 1),
        ("4xx", 3),
        ("5xx", 1),
        ("other", 2),
    ];
    assert_eq!(
        classes,
        want.iter()
            .map(|&(k, n)| (k.to_string(), n))
            .collect::<Vec<_>>()
    );
    let top: Vec<(String, u64)> = r.status_codes.iter().map(|r| (key(r), r.count)).collect();
    assert_eq!(top[0], ("404".to_string(), 3));
    assert_eq!(top[1], ("200".to_string(), 2));
    assert_eq!(
        top.iter().find(|t| t.0 == "042"),
        Some(&("042".to_string(), 1))
    );
    assert!((r.status_codes[0].share - 3.0 / 11.0).abs() < 1e-12);
    let srv = &r.servers[0];
    assert_eq!((srv.count, srv.errors), (12, 1));
    assert!((srv.error_rate - 1.0 / 12.0).abs() < 1e-12);
}

#[test]
fn server_without_host_is_keyed_by_address() {
    let mut s = Stats::new(StatsConfig::default());
    let mut e = ex(T0, "", "/", "", 1, 200);
    e.server = Some("[2001:db8::1]:8080".parse().unwrap());
    // A Host header equal to an address text is still a host, not the address.
    let h = ex(T0, "[2001:db8::1]:8080", "/", "", 1, 200);
    feed(&mut s, &[e, h]);
    let r = s.report(Window::Min1, Timestamp(T0));
    assert_eq!(r.servers.len(), 2);
    assert!(r
        .servers
        .iter()
        .all(|s| key_of(&s.key) == "[2001:db8::1]:8080"));
    assert_eq!(r.servers.iter().filter(|s| s.is_address).count(), 1);
    assert_eq!(r.hosts.len(), 1);
}

fn key_of(k: &WireStr) -> String {
    String::from_utf8_lossy(k.as_bytes()).into_owned()
}

proptest! {
    #![proptest_config(config(64))]

    /// p50/p95/p99 against a sorted vector, within 1 % of the exact percentile. The
    /// percentile p of n samples is the nearest-rank one: the sample of rank
    /// `max(1, ceil(p·n))` in ascending order (what `hist::quantile` answers).
    #[test]
    fn latency_percentiles_within_one_percent(
        lats in prop::collection::vec((10u32..42, any::<u32>()), 1..2000),
        fives in prop::collection::vec(any::<bool>(), 1..2000),
    ) {
        let mut s = Stats::new(StatsConfig::default());
        s.advance(Timestamp(T0));
        let mut v: Vec<u64> = Vec::new();
        let mut errors = 0u64;
        for (i, &(exp, frac)) in lats.iter().enumerate() {
            // Log-uniform in [2^10 ns, 1 h) (1.024 µs .. 1 h: the histogram's range).
            let lo = 1u64 << exp;
            let lat = (lo + ((u128::from(frac) * u128::from(lo)) >> 32) as u64)
                .min(3_600_000_000_000 - 1);
            let five = fives.get(i).copied().unwrap_or(false);
            errors += u64::from(five);
            let mut e = ex(T0 + (i as u64 % 4) * SEC, "srv", "/", "", 1, if five { 503 } else { 200 });
            e.latency_ns = Some(lat);
            v.push(lat);
            s.on_exchange(&e);
        }
        v.sort_unstable();
        let r = s.report(Window::Min1, Timestamp(T0 + 4 * SEC));
        let srv = &r.servers[0];
        prop_assert_eq!(srv.latency_samples, v.len() as u64);
        prop_assert_eq!(srv.errors, errors);
        prop_assert!((srv.error_rate - errors as f64 / v.len() as f64).abs() < 1e-12);
        for (p, got) in [(500u64, srv.p50_ns), (950, srv.p95_ns), (990, srv.p99_ns)] {
            let rank = ((v.len() as u64 * p).div_ceil(1000)).max(1);
            let want = v[rank as usize - 1] as f64;
            let got = got.unwrap_or(0) as f64;
            prop_assert!((got - want).abs() < want / 100.0, "p{} got {} want {}", p / 10, got, want);
        }
    }

    /// Every window's percentiles are those of the exchanges inside its latency window
    /// (from `latency_start` on), within 1 %: the rings of histograms roll correctly.
    #[test]
    fn latency_percentiles_per_window_within_one_percent(
        evs in prop::collection::vec((0u64..7200, 10u32..42, any::<u32>()), 1..300),
    ) {
        let mut evs = evs;
        evs.sort_by_key(|e| e.0);
        let mut s = Stats::new(StatsConfig::default());
        let mut all = Vec::new();
        for &(t, exp, frac) in &evs {
            let ts = T0 + t * SEC;
            let lo = 1u64 << exp;
            let lat = (lo + ((u128::from(frac) * u128::from(lo)) >> 32) as u64)
                .min(3_600_000_000_000 - 1);
            s.advance(Timestamp(ts));
            let mut e = ex(ts, "srv", "/", "", 1, 200);
            e.latency_ns = Some(lat);
            s.on_exchange(&e);
            all.push((ts, lat));
        }
        let now = Timestamp(T0 + 7200 * SEC);
        s.advance(now);
        for w in Window::ALL {
            let r = s.report(w, now);
            let mut v: Vec<u64> = all.iter().filter(|e| e.0 >= r.latency_start.0).map(|e| e.1).collect();
            v.sort_unstable();
            // The server row exists when its (finer) count window has requests.
            let Some(srv) = r.servers.first() else { continue };
            prop_assert_eq!(srv.latency_samples, v.len() as u64, "{:?}", w);
            if v.is_empty() {
                prop_assert_eq!(srv.p50_ns, None);
                continue;
            }
            for (p, got) in [(500u64, srv.p50_ns), (950, srv.p95_ns), (990, srv.p99_ns)] {
                let rank = ((v.len() as u64 * p).div_ceil(1000)).max(1);
                let want = v[rank as usize - 1] as f64;
                let got = got.unwrap_or(0) as f64;
                prop_assert!((got - want).abs() < want / 100.0, "{:?} p{} got {} want {}", w, p / 10, got, want);
            }
        }
    }
}

// ------------------------------------------------------------------ determinism

proptest! {
    #![proptest_config(config(64))]

    /// The same exchanges, reordered within equal timestamps, give identical reports.
    #[test]
    fn equal_timestamps_in_any_order_give_identical_reports(
        evs in prop::collection::vec((0u64..4, any::<u8>(), any::<u8>(), any::<u8>()), 1..120),
        seed in any::<u64>(),
    ) {
        let mut exs: Vec<Exchange> = evs.iter().map(|&(t, h, p, u)| {
            let mut e = ex(T0 + t * 7 * SEC, ["x", "y", "z"][usize::from(h % 3)],
                ["/a", "/b", "/c/d"][usize::from(p % 3)], ["u1", "u2"][usize::from(u % 2)], u % 3, 200);
            e.latency_ns = Some(1000 + u64::from(u) * 977);
            e
        }).collect();
        exs.sort_by_key(|e| e.ts);
        // Deterministic shuffle inside runs of equal timestamps.
        let mut x = seed | 1;
        let mut keyed: Vec<(Timestamp, u64, Exchange)> = exs.iter().map(|e| {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            (e.ts, x, e.clone())
        }).collect();
        keyed.sort_by_key(|k| (k.0, k.1));
        let shuffled: Vec<Exchange> = keyed.into_iter().map(|k| k.2).collect();
        let (mut a, mut b) = (Stats::new(StatsConfig::default()), Stats::new(StatsConfig::default()));
        feed(&mut a, &exs);
        feed(&mut b, &shuffled);
        let now = Timestamp(T0 + 30 * SEC);
        for w in Window::ALL {
            prop_assert_eq!(a.report(w, now), b.report(w, now));
        }
        prop_assert_eq!(a.rate_per_second(now), b.rate_per_second(now));
    }
}

// ------------------------------------------------------------------ gRPC

/// A gRPC call over HTTP/2 to `/service/method`, ending with `status` (None: reset).
fn grpc(ts: u64, path: &str, status: Option<u32>, latency_ms: u64) -> Exchange {
    Exchange {
        version: Version::HTTP2,
        method: ws(b"POST"),
        stream_id: 1,
        flags: Flags::GRPC,
        grpc_status: status,
        latency_ns: Some(latency_ms * 1_000_000),
        ..ex(ts, "api.example", path, "grpc-go/1.60", 1, 200)
    }
}

#[test]
fn grpc_table_counts_calls_errors_codes_and_latency_per_method() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp(T0));
    let say = "/helloworld.Greeter/SayHello";
    let get = "/users.v1.Users/Get";
    let mut exs = Vec::new();
    for i in 0..10 {
        exs.push(grpc(T0 + i * SEC / 10, say, Some(0), 10 + i));
    }
    exs.push(grpc(T0 + SEC, say, Some(14), 100));
    for i in 0..3 {
        exs.push(grpc(T0 + SEC + i, get, Some(5), 2));
    }
    exs.push(grpc(T0 + 2 * SEC, get, Some(0), 2));
    exs.push(grpc(T0 + 2 * SEC, get, Some(99), 2));
    // A reset call (no status): counted, neither failed nor under a code.
    exs.push(Exchange {
        flags: Flags::GRPC | Flags::RESET | Flags::NO_RESPONSE,
        status: None,
        latency_ns: None,
        ..grpc(T0 + 2 * SEC, get, None, 0)
    });
    // Plain HTTP/2 and HTTP/1 requests: not in the gRPC table.
    exs.push(Exchange {
        version: Version::HTTP2,
        ..ex(T0 + 2 * SEC, "api.example", "/health", "curl", 2, 200)
    });
    exs.push(ex(T0 + 2 * SEC, "api.example", "/x/y", "curl", 2, 503));
    feed(&mut s, &exs);
    let r = s.report(Window::Min1, Timestamp(T0 + 3 * SEC));
    assert_eq!(r.requests, exs.len() as u64);
    assert_eq!(r.grpc.len(), 2);
    let (a, b) = (&r.grpc[0], &r.grpc[1]);
    assert_eq!(
        (a.service.as_bytes(), a.method.as_bytes()),
        (&b"helloworld.Greeter"[..], &b"SayHello"[..])
    );
    assert_eq!((a.count, a.error, a.errors), (11, 0, 1));
    assert!((a.error_rate - 1.0 / 11.0).abs() < 1e-12);
    assert_eq!(
        a.codes,
        vec![(GrpcCode::Known(0), 10), (GrpcCode::Known(14), 1)]
    );
    assert_eq!(GrpcCode::Known(14).name(), "UNAVAILABLE");
    assert_eq!(a.latency_samples, 11);
    let p50 = a.p50_ns.unwrap() as f64;
    assert!((p50 / 15e6 - 1.0).abs() < 0.01, "p50 {p50}");
    let p99 = a.p99_ns.unwrap() as f64;
    assert!((p99 / 100e6 - 1.0).abs() < 0.01, "p99 {p99}");
    assert_eq!(
        (b.service.as_bytes(), b.method.as_bytes()),
        (&b"users.v1.Users"[..], &b"Get"[..])
    );
    assert_eq!((b.count, b.errors), (6, 4));
    assert_eq!(
        b.codes,
        vec![
            (GrpcCode::Known(5), 3),
            (GrpcCode::Known(0), 1),
            (GrpcCode::Other, 1)
        ]
    );
    assert_eq!(b.latency_samples, 5);
    // Failed gRPC calls are errors of their server, like the 5xx.
    let srv = &r.servers[0];
    assert_eq!((srv.count, srv.errors), (exs.len() as u64, 6));
    // Later windows hold the same; a window past the calls holds none.
    let r = s.report(Window::Hour1, Timestamp(T0 + 3 * SEC));
    assert_eq!(r.grpc.iter().map(|g| g.count).sum::<u64>(), 17);
    let r = s.report(Window::Min1, Timestamp(T0 + 10 * MIN));
    assert!(r.grpc.is_empty());
}

#[test]
fn grpc_table_is_capped_with_space_saving() {
    let cfg = StatsConfig {
        max_grpc_keys: 4,
        ..StatsConfig::default()
    };
    let mut s = Stats::new(cfg);
    s.advance(Timestamp(T0));
    let mut exs = Vec::new();
    for _ in 0..20 {
        exs.push(grpc(T0, "/heavy.S/M", Some(0), 1));
    }
    for i in 0..50 {
        exs.push(grpc(T0 + SEC, &format!("/s{i}.S/M"), Some(0), 1));
    }
    feed(&mut s, &exs);
    assert_eq!(s.grpc_keys(), 4);
    // The first three fill the table, each later one evicts.
    assert_eq!(s.counters().grpc.evicted, 47);
    let r = s.report(Window::Min1, Timestamp(T0 + 2 * SEC));
    assert_eq!(r.grpc[0].service.as_bytes(), b"heavy.S");
    assert_eq!((r.grpc[0].count, r.grpc[0].error), (20, 0));
    assert!(r.floors.grpc >= 1);
}

// ------------------------------------------------------------------ processes

fn proc_of(pid: u32, comm: &[u8]) -> crate::event::Process {
    crate::event::Process {
        pid,
        comm: WireStr::capped(comm, 16),
    }
}

/// A TLS plaintext exchange read from `process`'s calls (`peer`: the other local end).
fn tls_ex(
    ts: u64,
    process: &[u8],
    peer: Option<&[u8]>,
    is_server: bool,
    status: u16,
    latency_ms: u64,
) -> Exchange {
    Exchange {
        tls: true,
        process: Some(proc_of(100, process)),
        peer_process: peer.map(|p| proc_of(200, p)),
        process_is_server: is_server,
        latency_ns: (status != 0).then_some(latency_ms * 1_000_000),
        ..ex(ts, "app.example", "/", "curl", 1, status)
    }
}

fn proc_rows(r: &Report) -> Vec<(String, &'static str, u64, u64, u64)> {
    r.processes
        .iter()
        .map(|p| {
            (
                String::from_utf8_lossy(p.comm.as_bytes()).into_owned(),
                p.role.name(),
                p.count,
                p.responses,
                p.errors,
            )
        })
        .collect()
}

#[test]
fn processes_count_requests_per_comm_and_role() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp(T0));
    let mut exs = Vec::new();
    // curl -> nginx on this host: one exchange, under both ends.
    for i in 0..3 {
        let status = if i == 2 { 503 } else { 200 };
        exs.push(tls_ex(
            T0 + i * SEC,
            b"curl",
            Some(b"nginx"),
            false,
            status,
            10 + i,
        ));
    }
    // A remote client of nginx (nginx's own streams: it wrote the responses).
    exs.push(tls_ex(T0 + SEC, b"nginx", None, true, 200, 40));
    // nginx's request without an answer yet: a request, no response, no latency.
    exs.push(tls_ex(T0 + SEC, b"nginx", None, true, 0, 0));
    // python3 calling a remote server.
    for i in 0..2 {
        exs.push(tls_ex(T0 + i * SEC, b"python3", None, false, 200, 5));
    }
    // From the wire: no process, not in the table.
    for i in 0..4 {
        exs.push(ex(T0 + i * SEC, "w.example", "/", "ua", 2, 200));
    }
    feed(&mut s, &exs);
    assert_eq!(s.process_keys(), 3);
    let r = s.report(Window::Min1, Timestamp(T0 + 3 * SEC));
    assert_eq!(r.requests, 11);
    assert_eq!(
        proc_rows(&r),
        [
            ("nginx".to_string(), "server", 5, 4, 1),
            ("curl".to_string(), "client", 3, 3, 1),
            ("python3".to_string(), "client", 2, 2, 0),
        ]
    );
    let nginx = &r.processes[0];
    assert_eq!(nginx.share, 5.0 / 11.0);
    assert_eq!(nginx.error_rate, 1.0 / 5.0);
    assert_eq!((nginx.request_bytes, nginx.response_bytes), (500, 4000));
    // Latencies 10, 11, 12 and 40 ms: nearest-rank p50 is 11 ms, p99 40 ms (within 1 %).
    assert_eq!(nginx.latency_samples, 4);
    let near = |got: Option<u64>, ms: u64| {
        let (g, x) = (got.unwrap_or(0) as f64, (ms * 1_000_000) as f64);
        assert!((g - x).abs() <= x * 0.01, "{g} vs {x}");
    };
    near(nginx.p50_ns, 11);
    near(nginx.p95_ns, 40);
    near(nginx.p99_ns, 40);
    assert_eq!(nginx.last_seen, Timestamp(T0 + 2 * SEC));
    assert_eq!((nginx.count, nginx.error), (5, 0));
    // Every window holds them; a minute later the 1-minute window does not.
    for w in [Window::Min10, Window::Hour1, Window::Retention] {
        assert_eq!(
            proc_rows(&s.report(w, Timestamp(T0 + 3 * SEC))),
            proc_rows(&r)
        );
    }
    let later = s.report(Window::Min1, Timestamp(T0 + 5 * MIN));
    assert!(later.processes.is_empty());
    assert_eq!(
        s.report(Window::Hour1, Timestamp(T0 + 5 * MIN))
            .processes
            .len(),
        3
    );
    // `top` cuts the table.
    let mut s1 = Stats::new(StatsConfig {
        top: 1,
        ..StatsConfig::default()
    });
    feed(&mut s1, &exs);
    assert_eq!(
        proc_rows(&s1.report(Window::Min1, Timestamp(T0 + 3 * SEC))).len(),
        1
    );
}

#[test]
fn without_processes_the_table_is_empty() {
    let mut s = Stats::new(StatsConfig::default());
    feed(
        &mut s,
        &[
            ex(T0, "h", "/", "ua", 1, 200),
            ex(T0, "h", "/", "ua", 1, 500),
        ],
    );
    assert_eq!(s.process_keys(), 0);
    for w in Window::ALL {
        assert!(s.report(w, Timestamp(T0)).processes.is_empty());
    }
    assert_eq!(s.counters().processes_evicted, 0);
}

/// A command name is untrusted: any bytes, kept as bytes and cut at 16 (marked); the
/// role is a namespace (`nginx` as client and as server are two rows).
#[test]
fn process_names_are_bytes_cut_at_16_and_roles_are_namespaces() {
    let mut s = Stats::new(StatsConfig::default());
    s.advance(Timestamp(T0));
    let long = b"\x1b[31mabcdefghijklmnopqrstuvwxyz";
    let mut e = tls_ex(T0, b"", None, false, 200, 1);
    e.process = Some(crate::event::Process {
        pid: 1,
        comm: WireStr::capped(long, 64),
    });
    let hostile = tls_ex(T0, b"\xff\x1b]0;x\x07", None, true, 200, 1);
    let exs = [
        e,
        hostile,
        tls_ex(T0, b"nginx", None, true, 200, 1),
        tls_ex(T0, b"nginx", None, false, 200, 1),
    ];
    feed(&mut s, &exs);
    let r = s.report(Window::Min1, Timestamp(T0));
    assert_eq!(r.processes.len(), 4);
    let cut = r
        .processes
        .iter()
        .find(|p| p.comm.as_bytes().starts_with(b"\x1b"))
        .expect("long name");
    assert_eq!(cut.comm.as_bytes(), &long[..16]);
    assert!(cut.comm.truncated);
    assert!(r
        .processes
        .iter()
        .any(|p| p.comm.as_bytes() == b"\xff\x1b]0;x\x07" && p.role == ProcessRole::Server));
    let nginx: Vec<_> = r
        .processes
        .iter()
        .filter(|p| p.comm.as_bytes() == b"nginx")
        .map(|p| (p.role, p.count))
        .collect();
    assert_eq!(nginx, [(ProcessRole::Client, 1), (ProcessRole::Server, 1)]);
    assert_eq!(s.counters().keys_truncated, 1);
}

/// The table holds at most MAX_PROCESS_KEYS rows: at the cap nothing is evicted, past it
/// each new name evicts one (Space-Saving: the heavy name stays, exact).
#[test]
fn processes_table_is_capped_with_space_saving() {
    for (extra, evicted) in [(0u64, 0u64), (1, 1), (50, 50)] {
        let mut s = Stats::new(StatsConfig::default());
        s.advance(Timestamp(T0));
        let mut exs = Vec::new();
        for _ in 0..20 {
            exs.push(tls_ex(T0, b"heavy", None, true, 200, 1));
        }
        let n = MAX_PROCESS_KEYS as u64 - 1 + extra;
        for i in 0..n {
            exs.push(tls_ex(
                T0 + SEC,
                format!("p{i}").as_bytes(),
                None,
                false,
                200,
                1,
            ));
        }
        feed(&mut s, &exs);
        assert_eq!(s.process_keys(), MAX_PROCESS_KEYS);
        assert_eq!(s.counters().processes_evicted, evicted, "extra {extra}");
        let r = s.report(Window::Min1, Timestamp(T0 + 2 * SEC));
        assert_eq!(r.processes[0].comm.as_bytes(), b"heavy");
        assert_eq!((r.processes[0].count, r.processes[0].error), (20, 0));
        assert_eq!(r.floors.processes > 0, evicted > 0);
    }
    // max_keys below the cap bounds it too.
    let mut s = Stats::new(StatsConfig {
        max_keys: 4,
        ..StatsConfig::default()
    });
    let exs: Vec<_> = (0..10)
        .map(|i| tls_ex(T0, format!("p{i}").as_bytes(), None, false, 200, 1))
        .collect();
    feed(&mut s, &exs);
    assert_eq!(s.process_keys(), 4);
    assert_eq!(s.counters().processes_evicted, 6);
}

// ------------------------------------------------------------------ memory

/// Every table full of maximum-length keys, past its cap: entry counts stay at the caps
/// and the heap stays within the documented worst case (< 64 MiB with the defaults).
#[test]
fn memory_stays_at_cap_with_max_length_keys() {
    let cfg = StatsConfig::default();
    let worst = cfg.worst_case_bytes();
    assert!(worst < 64 << 20, "worst case {worst} B");
    let mut s = Stats::new(cfg.clone());
    s.advance(Timestamp(T0));
    let n = cfg.max_keys + 50;
    let mut host = vec![b'h'; 1024];
    let mut path = vec![b'/'; 1];
    path.extend_from_slice(&[b'p'; 1023]);
    let mut ua = vec![b'u'; 1024];
    let mut method = vec![b'M'; 1024];
    for i in 0..n {
        let tag = format!("{i:08}");
        for v in [&mut host, &mut path, &mut ua, &mut method] {
            let l = v.len();
            v[l - 8..].copy_from_slice(tag.as_bytes());
        }
        let mut e = ex(T0 + (i as u64 % 50) * SEC / 10, "", "", "", 0, 503);
        e.host = ws(&host);
        // A gRPC call too: `/ppp..<tag>/m` (1,024 bytes; a key of 1,023).
        let mut grpc_path = path[..path.len() - 2].to_vec();
        grpc_path[path.len() - 10..].copy_from_slice(tag.as_bytes());
        grpc_path.extend_from_slice(b"/m");
        e.path = ws(&grpc_path);
        e.flags = Flags::GRPC;
        e.user_agent = ws(&ua);
        e.method = ws(&method);
        e.client = Some(SocketAddr::new(IpAddr::from((i as u32).to_be_bytes()), 1));
        s.on_exchange(&e);
        // The same exchange from a new process name (16 bytes, the longest kept).
        let mut e = e.clone();
        e.process = Some(crate::event::Process {
            pid: 1,
            comm: ws(format!("{i:016}").as_bytes()),
        });
        s.on_exchange(&e);
        // A TLS connection with a new name, JA4, version, cipher, failure, certificate.
        let t = crate::tls::TlsSession {
            end: e.ts,
            sni: Some(ws(&host)),
            ja4: Some(String::from_utf8_lossy(&ua).into_owned()),
            version: Some(i as u16),
            cipher: Some(i as u16),
            handshake_ns: Some(1_000),
            alert: Some(crate::tls::TlsAlert {
                level: 2,
                description: i as u8,
                from_client: i % 2 == 0,
            }),
            cert: Some(Box::new(crate::tls::TlsCert {
                subject: Some(ws(tag.as_bytes())),
                not_after: Some(T0 as i64 / 1_000_000_000 + i as i64),
                ..Default::default()
            })),
            ..Default::default()
        };
        s.on_tls(&t);
    }
    assert_eq!(
        s.tls_table_sizes(),
        [
            crate::stats::MAX_TLS_NAMES,
            cfg.max_latency_keys,
            crate::stats::MAX_TLS_VERSIONS,
            crate::stats::MAX_TLS_KEYS,
            crate::stats::MAX_TLS_KEYS,
            crate::stats::MAX_TLS_FAILURES,
            crate::stats::MAX_EXPIRING_CERTS,
        ]
    );
    assert_eq!(
        s.table_sizes(),
        [
            cfg.max_keys,
            cfg.max_keys,
            cfg.max_keys,
            cfg.max_method_keys,
            cfg.max_keys,
            cfg.max_latency_keys
        ]
    );
    assert_eq!(s.grpc_keys(), cfg.max_grpc_keys);
    assert_eq!(s.process_keys(), MAX_PROCESS_KEYS);
    let c = s.counters();
    assert_eq!(c.user_agents.evicted, 50);
    assert_eq!(c.methods.evicted, (n - cfg.max_method_keys) as u64);
    let used = s.memory_estimate();
    assert!(used <= worst, "estimate {used} > worst case {worst}");
    assert!(
        used > worst * 9 / 10,
        "estimate {used} far below worst case {worst}"
    );
    let r = s.report(Window::Min1, Timestamp(T0 + 5 * SEC));
    assert_eq!(r.sections.len(), 10);
}

/// Prints the budget table of the module documentation
/// (`cargo test -p httptop-engine budget -- --ignored --nocapture`).
#[test]
#[ignore = "prints the memory budget"]
fn budget() {
    use std::mem::size_of;
    let cfg = StatsConfig::default();
    let key = table::alloc_size(cfg.max_key_len);
    let mib = |b: usize| b as f64 / f64::from(1u32 << 20);
    let row = |name: &str, n: usize, entry: usize, total: usize| {
        println!(
            "{name:<24} keys {n:>6}  entry {entry:>5} B  per key {:>6.0} B  total {:>6.2} MiB",
            total as f64 / n as f64,
            mib(total)
        );
    };
    let k = cfg.max_keys;
    let (m, l) = (cfg.max_method_keys, cfg.max_latency_keys);
    row(
        "sections",
        k,
        size_of::<Entry<ByteKey, Counts>>(),
        Table::<ByteKey, Counts>::worst_case_bytes(k, key),
    );
    row(
        "user agents",
        k,
        size_of::<Entry<ByteKey, Counts>>(),
        Table::<ByteKey, Counts>::worst_case_bytes(k, key),
    );
    row(
        "hosts/servers",
        k,
        size_of::<Entry<ByteKey, HostData>>(),
        Table::<ByteKey, HostData>::worst_case_bytes(k, key),
    );
    row(
        "clients",
        k,
        size_of::<Entry<IpAddr, ClientData>>(),
        Table::<IpAddr, ClientData>::worst_case_bytes(k, 0),
    );
    row(
        "other methods",
        m,
        size_of::<Entry<ByteKey, Counts>>(),
        Table::<ByteKey, Counts>::worst_case_bytes(m, key),
    );
    row(
        "latency",
        l,
        size_of::<Entry<ByteKey, LatData>>(),
        Table::<ByteKey, LatData>::worst_case_bytes(l, key),
    );
    let g = cfg.max_grpc_keys;
    row(
        "grpc",
        g,
        size_of::<Entry<ByteKey, grpc::GrpcData>>(),
        Table::<ByteKey, grpc::GrpcData>::worst_case_bytes(g, key),
    );
    row(
        "status codes",
        1001,
        size_of::<metrics::FixedEntry>(),
        StatusTable::worst_case_bytes(),
    );
    let tn = k.min(crate::stats::MAX_TLS_NAMES);
    row(
        "tls names",
        tn,
        size_of::<Entry<ByteKey, HostData>>(),
        Table::<ByteKey, HostData>::worst_case_bytes(tn, key),
    );
    row(
        "tls handshake latency",
        l,
        size_of::<Entry<ByteKey, LatData>>(),
        Table::<ByteKey, LatData>::worst_case_bytes(l, key),
    );
    let pk = k.min(MAX_PROCESS_KEYS);
    row(
        "processes",
        pk,
        size_of::<Entry<ByteKey, procs::ProcData>>(),
        procs::ProcTable::worst_case_bytes(k),
    );
    let all = super::tls::TlsTables::worst_case_bytes(k, l, key);
    println!("tls, all tables {:.2} MiB", mib(all));
    println!("total {:.2} MiB", mib(cfg.worst_case_bytes()));
}

/// Times at the ends of the range, in any order, without advance: no panic, no overflow,
/// memory bounded.
#[test]
fn extreme_timestamps_do_not_break_anything() {
    let mut s = Stats::new(StatsConfig {
        max_keys: 4,
        ..StatsConfig::default()
    });
    let times = [u64::MAX, 0, 1, u64::MAX - 1, T0, u64::MAX / 2, 0, u64::MAX];
    for (i, &t) in times.iter().enumerate() {
        let mut e = ex(t, &format!("h{i}"), "/x", "ua", i as u8, 500);
        e.latency_ns = Some(u64::MAX);
        e.request_bytes = u64::MAX;
        e.response_bytes = u64::MAX;
        s.on_exchange(&e);
        s.advance(Timestamp(t));
    }
    for now in [0, T0, u64::MAX] {
        for w in Window::ALL {
            let r = s.report(w, Timestamp(now));
            assert!(r.sections.len() <= 4);
            assert_eq!(r.end, Timestamp(u64::MAX));
        }
        assert_eq!(s.rate_per_second(Timestamp(now)).len(), 3600);
    }
    assert!(s.table_sizes().iter().all(|&n| n <= 4));
}

/// Byte counts no wire can produce: no overflow panic; the retention window (the only
/// one where a real count could come near the limit) saturates.
#[test]
fn huge_byte_counts_do_not_overflow() {
    let mut s = Stats::new(StatsConfig::default());
    let mut e = ex(T0, "h", "/", "", 1, 200);
    e.request_bytes = u64::MAX - 1;
    e.response_bytes = u64::MAX;
    feed(&mut s, &[e.clone(), e]);
    for w in Window::ALL {
        let r = s.report(w, Timestamp(T0));
        assert_eq!(r.bytes_by_host[0].count, 2);
        if w == Window::Retention {
            assert_eq!(r.bytes_by_host[0].request_bytes, u64::MAX);
            assert_eq!(r.bytes_by_host[0].response_bytes, u64::MAX);
            assert_eq!(r.clients[0].bytes, u64::MAX);
        }
    }
}

#[test]
fn stats_and_reports_can_move_between_threads() {
    fn send<T: Send + 'static>() {}
    send::<Stats>();
    send::<Report>();
}

#[test]
fn config_is_brought_into_range() {
    let c = StatsConfig {
        top: 0,
        max_keys: 0,
        max_method_keys: usize::MAX,
        max_latency_keys: 0,
        max_grpc_keys: 0,
        max_key_len: 0,
        retention_ns: 1,
        clients_by: ClientsBy::Forwarded,
    }
    .validated();
    assert_eq!(
        (
            c.max_keys,
            c.max_method_keys,
            c.max_latency_keys,
            c.max_key_len
        ),
        (1, 1, 1, 16)
    );
    assert_eq!(c.retention_ns, MIN_RETENTION_NS);
    let c = StatsConfig {
        retention_ns: 25 * HOUR + 7 * MIN,
        ..StatsConfig::default()
    };
    assert_eq!(c.validated().retention_ns, 25 * HOUR);
    // top = 0 gives empty tables, and nothing breaks.
    let mut s = Stats::new(StatsConfig {
        top: 0,
        ..StatsConfig::default()
    });
    feed(&mut s, &[ex(T0, "h", "/", "", 1, 200)]);
    let r = s.report(Window::Min1, Timestamp(T0));
    assert!(r.hosts.is_empty() && r.servers.is_empty() && r.status_codes.is_empty());
    assert_eq!(r.requests, 1);
}

#[test]
fn clients_by_forwarded_counts_the_original_client_else_the_wire_address() {
    use crate::event::OriginalClient;
    let behind = |c: u8, oc: Option<[u8; 4]>| {
        let mut e = ex(T0, "h", "/", "ua", c, 200);
        e.original_client = oc.map(|ip| OriginalClient {
            ip: Ipv4Addr::from(ip).into(),
            port: Some(1234),
        });
        e
    };
    // Two requests through balancer 10.0.0.1 from two clients, one direct request.
    let exs = [
        behind(1, Some([203, 0, 113, 7])),
        behind(1, Some([203, 0, 113, 8])),
        behind(9, None),
    ];
    let clients = |by: ClientsBy| {
        let mut s = Stats::new(StatsConfig {
            clients_by: by,
            ..StatsConfig::default()
        });
        feed(&mut s, &exs);
        let r = s.report(Window::Min1, Timestamp(T0));
        let mut got: Vec<(String, u64)> = r
            .clients
            .iter()
            .map(|c| (c.key.to_string(), c.count))
            .collect();
        got.sort();
        got
    };
    assert_eq!(
        clients(ClientsBy::Wire),
        [("10.0.0.1".to_string(), 2), ("10.0.0.9".to_string(), 1)]
    );
    assert_eq!(
        clients(ClientsBy::Forwarded),
        [
            ("10.0.0.9".to_string(), 1),
            ("203.0.113.7".to_string(), 1),
            ("203.0.113.8".to_string(), 1)
        ]
    );
}
