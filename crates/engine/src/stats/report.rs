//! [`Report`] and its row types: the top tables of one window, read from the live tables
//! by [`Stats::report`] (sorted by count, then key bytes; see the module documentation
//! for the error bounds of each row).

use super::grpc::GrpcCode;
use super::metrics::{
    ByteKey, ClientData, Counts, HostData, LatData, KNOWN_METHODS, OTHER_CODE, TAG_ADDR, TAG_HOST,
};
use super::procs::ProcessRow;
use super::ring::{K, KA, KL, RA, RL};
use super::table::{Entry, Payload, Table};
use super::tls::TlsReport;
use super::{hist, ring, Stats, R};
use crate::event::WireStr;
use httptop_wire::Timestamp;
use std::cmp::Ordering;
use std::net::IpAddr;

/// A window every table can be read for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last minute.
    Min1,
    /// The last 10 minutes.
    Min10,
    /// The last hour.
    Hour1,
    /// The whole retention period.
    Retention,
}

impl Window {
    pub const ALL: [Window; 4] = [
        Window::Min1,
        Window::Min10,
        Window::Hour1,
        Window::Retention,
    ];

    /// Position in [`Window::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Window::Min1 => 0,
            Window::Min10 => 1,
            Window::Hour1 => 2,
            Window::Retention => 3,
        }
    }

    /// A short name: `1m`, `10m`, `1h`, `retention`.
    pub const fn label(self) -> &'static str {
        match self {
            Window::Min1 => "1m",
            Window::Min10 => "10m",
            Window::Hour1 => "1h",
            Window::Retention => "retention",
        }
    }
}

/// A row of a top table counted in requests (or responses, for status codes).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The key as taken from the wire (not sanitised), with its truncation mark.
    pub key: WireStr,
    /// Upper bound of the key's count in the window: `count - error <= true <= count`.
    pub count: u64,
    /// See `count`; 0 when the count is exact.
    pub error: u64,
    /// `count` over the window's total (requests, or responses for status codes).
    pub share: f64,
    /// The latest exchange counted for this key.
    pub last_seen: Timestamp,
}

/// Bytes of one host: the Host header value, or `ip:port` of the server for exchanges
/// without one (responses without request included), at the attached resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BytesRow {
    pub key: WireStr,
    /// Whether `key` is `ip:port` (no Host header) rather than a Host value.
    pub is_address: bool,
    /// Requests to this host in the count window (upper bound, as [`Row::count`]).
    pub count: u64,
    pub error: u64,
    /// Request bytes (head + body) in the attached window. A lower bound when `error` is
    /// not 0 (bytes before the key entered the table are not known).
    pub request_bytes: u64,
    /// Response bytes in the attached window (same caveat).
    pub response_bytes: u64,
    pub last_seen: Timestamp,
}

/// One client address.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientRow {
    pub key: IpAddr,
    /// Requests from this address (upper bound, as [`Row::count`]).
    pub count: u64,
    pub error: u64,
    pub share: f64,
    /// Request and response bytes of its exchanges in the attached window (lower bound
    /// when `error` is not 0).
    pub bytes: u64,
    pub last_seen: Timestamp,
}

/// One server: the Host header value, or `ip:port` of the server when there is none.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerRow {
    pub key: WireStr,
    /// Whether `key` is `ip:port` (no Host header) rather than a Host value.
    pub is_address: bool,
    /// Requests (upper bound, as [`Row::count`]).
    pub count: u64,
    pub error: u64,
    pub share: f64,
    /// Failed requests ([`Exchange::is_error`](crate::Exchange::is_error): a 5xx, or a
    /// gRPC call whose status is not OK), in the attached window.
    pub errors: u64,
    /// `errors` over the requests of the same (attached) window.
    pub error_rate: f64,
    /// Latency samples behind the percentiles (latency window), 0 when the server has no
    /// histogram (see `max_latency_keys`).
    pub latency_samples: u64,
    pub p50_ns: Option<u64>,
    pub p95_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub last_seen: Timestamp,
}

/// Per bounded table, the largest score evicted in the last 23 retention buckets (about
/// two retention periods): every key whose true count in the retention window is above
/// it is in the table, and every `error` is at most it. 0 while the table has not had to
/// evict. `methods` is the table of the methods other than the nine common ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floors {
    pub sections: u64,
    pub hosts: u64,
    pub user_agents: u64,
    pub methods: u64,
    pub clients: u64,
    pub latency: u64,
    pub grpc: u64,
    /// TLS server names.
    pub tls_names: u64,
    /// The Processes table.
    pub processes: u64,
}

/// One gRPC method: `service` and `method` of the calls' path `/service/method`.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcRow {
    /// `package.Service` (cut, with `truncated`, when the key was).
    pub service: WireStr,
    pub method: WireStr,
    /// Calls (upper bound, as [`Row::count`]), in the count window.
    pub count: u64,
    pub error: u64,
    /// Share of all requests.
    pub share: f64,
    /// Failed calls (`grpc-status` other than 0), in the attached window.
    pub errors: u64,
    /// `errors` over the calls of the same (attached) window.
    pub error_rate: f64,
    /// Calls by `grpc-status` in the attached window, most frequent first (calls without
    /// a status, e.g. reset, are in none).
    pub codes: Vec<(GrpcCode, u64)>,
    pub latency_samples: u64,
    pub p50_ns: Option<u64>,
    pub p95_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub last_seen: Timestamp,
}

/// The top tables of one window, owned and sorted (count descending, then key bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub window: Window,
    /// First instant of the count window (bucket-aligned).
    pub start: Timestamp,
    /// First instant of the attached window (bytes, 5xx, error rates).
    pub bytes_start: Timestamp,
    /// First instant of the latency window.
    pub latency_start: Timestamp,
    /// The report's time (`now`, or the latest time seen if later).
    pub end: Timestamp,
    /// Requests in the count window (responses without request excluded).
    pub requests: u64,
    /// Final responses in the count window (with or without request).
    pub responses: u64,
    pub sections: Vec<Row>,
    pub hosts: Vec<Row>,
    pub user_agents: Vec<Row>,
    pub methods: Vec<Row>,
    pub status_codes: Vec<Row>,
    /// `1xx` .. `5xx`, then `other` (codes outside 100..=599); only classes seen, in that
    /// order, not cut to `top`.
    pub status_classes: Vec<Row>,
    /// Sorted by request + response bytes, descending.
    pub bytes_by_host: Vec<BytesRow>,
    pub clients: Vec<ClientRow>,
    pub servers: Vec<ServerRow>,
    /// gRPC methods, by calls (at most `max_grpc_keys` exist, `top` shown).
    pub grpc: Vec<GrpcRow>,
    /// TLS connections of the window (`connections` 0 when none was seen).
    pub tls: TlsReport,
    /// Exchanges read from TLS plaintext by process command name and role, by requests
    /// (empty when no exchange had a process; see `stats/procs.rs`).
    pub processes: Vec<ProcessRow>,
    pub floors: Floors,
}

impl Stats {
    /// The top tables of `window` as of `now` (the latest time seen, if later).
    pub fn report(&self, window: Window, now: Timestamp) -> Report {
        let now = now.0.max(self.latest);
        let w = window.index();
        let cur = self.geo.buckets(now);
        let c = cur[w];
        let start = self.geo.start(w, c, 1, K);
        let start_a = self.geo.start(w, c, RA, KA);
        let from_a = (c / RA).saturating_sub(KA as u32 - 1) * RA;
        let cl = c / RL;
        let start_l = self.geo.start(w, c, RL, KL);
        let requests = self.requests[w].sum(self.totals_head[w], c);
        let responses = self.responses[w].sum(self.totals_head[w], c);
        let top = self.cfg.top;
        let rows = |t: &Table<ByteKey, Counts>| {
            let cands = candidates(t, w, c, start, |_| true);
            let cands = top_n(cands, top);
            cands
                .into_iter()
                .map(|(n, err, e)| Row {
                    key: wire(e),
                    count: n,
                    error: err,
                    share: share(n, requests),
                    last_seen: Timestamp(e.last_seen),
                })
                .collect::<Vec<_>>()
        };
        let sections = rows(&self.sections);
        let user_agents = rows(&self.user_agents);
        let mut methods = rows(&self.methods);
        for (e, name) in self.known_methods.iter().zip(KNOWN_METHODS) {
            let Some(e) = e else { continue };
            let n = u64::from(e.count(w, c));
            if n > 0 {
                methods.push(Row {
                    key: WireStr::capped(name.as_bytes(), 16),
                    count: n,
                    error: 0,
                    share: share(n, requests),
                    last_seen: Timestamp(e.last_seen),
                });
            }
        }
        select_top(&mut methods, top, |a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.key.bytes.cmp(&b.key.bytes))
        });

        let host_cands = candidates(&self.hosts, w, c, start, |t| t == TAG_HOST);
        let hosts = top_n(host_cands, top)
            .into_iter()
            .map(|(n, err, e)| Row {
                key: wire(e),
                count: n,
                error: err,
                share: share(n, requests),
                last_seen: Timestamp(e.last_seen),
            })
            .collect();

        // Bytes by host: rank every host by bytes in the attached window.
        let mut by_bytes: Vec<(u64, u64, u64, &Entry<ByteKey, HostData>)> = self
            .hosts
            .entries
            .iter()
            .filter_map(|e| {
                let (_, rq, rs) = e.data.attached(w, e.heads[w], c);
                (rq > 0 || rs > 0).then_some((rq.saturating_add(rs), rq, rs, e))
            })
            .collect();
        let cmp_bytes = |a: &(u64, u64, u64, &Entry<ByteKey, HostData>),
                         b: &(u64, u64, u64, &Entry<ByteKey, HostData>)| {
            b.0.cmp(&a.0).then_with(|| key_cmp(a.3, b.3))
        };
        select_top(&mut by_bytes, top, cmp_bytes);
        let bytes_by_host = by_bytes
            .into_iter()
            .map(|(_, rq, rs, e)| {
                let (n, err) = count_of(e, w, c, start);
                BytesRow {
                    key: wire(e),
                    is_address: e.tag == TAG_ADDR,
                    count: n,
                    error: err,
                    request_bytes: rq,
                    response_bytes: rs,
                    last_seen: Timestamp(e.last_seen),
                }
            })
            .collect();

        let server_cands = candidates(&self.hosts, w, c, start, |_| true);
        let servers = top_n(server_cands, top)
            .into_iter()
            .map(|(n, err, e)| {
                let errors = u64::from(e.data.attached(w, e.heads[w], c).0);
                let req_a = u64::from(e.data.count(w, e.heads[w], c, from_a));
                let lat = self
                    .latency
                    .get(e.hash, e.tag, &e.key)
                    .map(|l| latency_of(&l.data, l.heads[w], w, cl));
                let (samples, p) = lat.unwrap_or((0, [None; 3]));
                ServerRow {
                    key: wire(e),
                    is_address: e.tag == TAG_ADDR,
                    count: n,
                    error: err,
                    share: share(n, requests),
                    errors,
                    error_rate: share(errors, req_a),
                    latency_samples: samples,
                    p50_ns: p[0],
                    p95_ns: p[1],
                    p99_ns: p[2],
                    last_seen: Timestamp(e.last_seen),
                }
            })
            .collect();

        let mut client_cands: Vec<(u64, u64, &Entry<IpAddr, ClientData>)> = self
            .clients
            .entries
            .iter()
            .filter_map(|e| {
                let (n, err) = count_of(e, w, c, start);
                (n > 0).then_some((n, err, e))
            })
            .collect();
        select_top(&mut client_cands, top, |a, b| {
            b.0.cmp(&a.0).then_with(|| a.2.key.cmp(&b.2.key))
        });
        let clients = client_cands
            .into_iter()
            .map(|(n, err, e)| ClientRow {
                key: e.key,
                count: n,
                error: err,
                share: share(n, requests),
                bytes: e.data.bytes(w, e.heads[w], c),
                last_seen: Timestamp(e.last_seen),
            })
            .collect();

        // Status codes (exact: one entry per code) and their classes.
        let mut codes: Vec<(u64, u16, u64)> = self
            .status
            .entries
            .iter()
            .filter_map(|e| {
                let n = u64::from(e.count(w, c));
                (n > 0).then_some((n, e.code, e.last_seen))
            })
            .collect();
        let mut classes = [(0u64, 0u64); 6];
        for &(n, code, seen) in &codes {
            let i = match code {
                100..=599 => usize::from(code / 100 - 1),
                _ => 5,
            };
            classes[i].0 += n;
            classes[i].1 = classes[i].1.max(seen);
        }
        const CLASS_NAMES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
        let status_classes = classes
            .iter()
            .zip(CLASS_NAMES)
            .filter(|((n, _), _)| *n > 0)
            .map(|(&(n, seen), name)| Row {
                key: WireStr::capped(name.as_bytes(), 8),
                count: n,
                error: 0,
                share: share(n, responses),
                last_seen: Timestamp(seen),
            })
            .collect();
        select_top(&mut codes, top, |a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let status_codes = codes
            .into_iter()
            .map(|(n, code, seen)| Row {
                key: code_key(code),
                count: n,
                error: 0,
                share: share(n, responses),
                last_seen: Timestamp(seen),
            })
            .collect();

        let grpc = top_n(candidates(&self.grpc, w, c, start, |_| true), top)
            .into_iter()
            .map(|(n, err, e)| {
                let (errors, _, _) = e.data.calls.attached(w, e.heads[w], c);
                let calls_a = e.data.calls.count(w, e.heads[w], c, from_a);
                let mut codes: Vec<(GrpcCode, u64)> = e
                    .data
                    .codes(w, e.heads[w], c)
                    .iter()
                    .enumerate()
                    .filter(|(_, &k)| k > 0)
                    .map(|(i, &k)| (GrpcCode::of_slot(i), u64::from(k)))
                    .collect();
                codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let (samples, p) = latency_of(&e.data.lat, e.heads[w] / RL, w, cl);
                let (service, method) = match e.key.iter().position(|&b| b == b'/') {
                    Some(i) => (&e.key[..i], &e.key[i + 1..]),
                    None => (&e.key[..], &[][..]),
                };
                let ws = |b: &[u8], cut: bool| WireStr {
                    bytes: smallvec::SmallVec::from_slice(b),
                    truncated: cut,
                };
                GrpcRow {
                    service: ws(service, e.truncated && method.is_empty()),
                    method: ws(method, e.truncated),
                    count: n,
                    error: err,
                    share: share(n, requests),
                    errors: u64::from(errors),
                    error_rate: share(u64::from(errors), u64::from(calls_a)),
                    codes,
                    latency_samples: samples,
                    p50_ns: p[0],
                    p95_ns: p[1],
                    p99_ns: p[2],
                    last_seen: Timestamp(e.last_seen),
                }
            })
            .collect();

        let fr = cur[R];
        let floors = Floors {
            sections: u64::from(self.sections.floor(fr)),
            hosts: u64::from(self.hosts.floor(fr)),
            user_agents: u64::from(self.user_agents.floor(fr)),
            methods: u64::from(self.methods.floor(fr)),
            clients: u64::from(self.clients.floor(fr)),
            latency: u64::from(self.latency.floor(fr / RL)),
            grpc: u64::from(self.grpc.floor(fr)),
            tls_names: u64::from(self.tls.names_floor(fr)),
            processes: u64::from(self.procs.floor(fr)),
        };
        let tls = self.tls.report(w, c, start, cl, now, top);
        let processes = self.procs.report(w, c, start, from_a, cl, requests, top);

        Report {
            window,
            start: Timestamp(start),
            bytes_start: Timestamp(start_a),
            latency_start: Timestamp(start_l),
            end: Timestamp(now),
            requests,
            responses,
            sections,
            hosts,
            user_agents,
            methods,
            status_codes,
            status_classes,
            bytes_by_host,
            clients,
            servers,
            grpc,
            tls,
            processes,
            floors,
        }
    }
}

/// Count of an entry in window `w` ending at `c`, with its error.
pub(super) fn count_of<K, P: Payload>(e: &Entry<K, P>, w: usize, c: u32, start: u64) -> (u64, u64) {
    let own = u64::from(e.data.primary(w, e.heads[w], c));
    let err = if e.err_applies(start) {
        u64::from(e.err)
    } else {
        0
    };
    (own + err, err)
}

pub(super) type Cand<'a, K, P> = (u64, u64, &'a Entry<K, P>);

pub(super) fn candidates<'a, P: Payload>(
    t: &'a Table<ByteKey, P>,
    w: usize,
    c: u32,
    start: u64,
    keep: impl Fn(u8) -> bool,
) -> Vec<Cand<'a, ByteKey, P>> {
    t.entries
        .iter()
        .filter(|e| keep(e.tag))
        .filter_map(|e| {
            let (n, err) = count_of(e, w, c, start);
            (n > 0).then_some((n, err, e))
        })
        .collect()
}

pub(super) fn key_cmp<P>(a: &Entry<ByteKey, P>, b: &Entry<ByteKey, P>) -> Ordering {
    a.key.cmp(&b.key).then(a.tag.cmp(&b.tag))
}

pub(super) fn top_n<P>(mut v: Vec<Cand<'_, ByteKey, P>>, n: usize) -> Vec<Cand<'_, ByteKey, P>> {
    select_top(&mut v, n, |a, b| {
        b.0.cmp(&a.0).then_with(|| key_cmp(a.2, b.2))
    });
    v
}

/// Keeps the first `n` of `v` in the order `cmp` (a total order), sorted.
pub(super) fn select_top<T>(v: &mut Vec<T>, n: usize, cmp: impl Fn(&T, &T) -> Ordering) {
    if n == 0 {
        v.clear();
        return;
    }
    if v.len() > n {
        v.select_nth_unstable_by(n - 1, &cmp);
        v.truncate(n);
    }
    v.sort_by(cmp);
}

pub(super) fn share(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64 / total as f64).min(1.0)
    }
}

pub(super) fn wire<P>(e: &Entry<ByteKey, P>) -> WireStr {
    WireStr {
        bytes: smallvec::SmallVec::from_slice(&e.key),
        truncated: e.truncated,
    }
}

fn code_key(code: u16) -> WireStr {
    if code >= OTHER_CODE {
        return WireStr::capped(b"other", 8);
    }
    let d = [
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ];
    WireStr::capped(&d, 3)
}

/// Samples and p50/p95/p99 of latency histograms `lat` (head `head` in latency buckets)
/// in window `w` ending at latency bucket `cl`.
pub(super) fn latency_of(lat: &LatData, head: u32, w: usize, cl: u32) -> (u64, [Option<u64>; 3]) {
    let mut h = [0u64; hist::BINS];
    let (lo, hi) = ring::span::<KL>(head, cl, 0);
    for (d, bin) in h.iter_mut().zip(lat.h.iter()) {
        let mut b = lo;
        while b <= hi {
            *d += u64::from(bin[w][b as usize % KL]);
            b += 1;
        }
    }
    let n: u64 = h.iter().sum();
    (
        n,
        [
            hist::quantile(&h, n, 500),
            hist::quantile(&h, n, 950),
            hist::quantile(&h, n, 990),
        ],
    )
}
