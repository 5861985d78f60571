//! The metrics model and its Prometheus text exposition (format 0.0.4).
//!
//! Contract:
//! - [`Totals`] holds exact, monotonic counters since start-up, fed one [`Exchange`] at a
//!   time by the capture thread (a few integer additions into fixed arrays and two small
//!   hash lookups; no allocation, no lock, no clock).
//! - Host and section labels exist only for the keys chosen by [`Totals::relabel`] (the
//!   current top-k, at most [`MAX_LABELLED`]); every other exchange counts under the
//!   label value `other`. A key's series starts at 0 when it enters the top-k and
//!   disappears when it leaves (Prometheus sees a new series, or a stale one); `other` only
//!   counts exchanges that had no series of their own at the time, so every series is
//!   monotonic and `sum(rate(...))` over a metric's series is the rate of all exchanges.
//! - [`Health`] is the rest of the monitor (capture health, alerting), copied once per
//!   publication. [`render`] writes both as text; it never fails and escapes every label
//!   value taken from the wire.
//!
//! Names follow Prometheus conventions: `httptop_` prefix, base units (seconds, bytes),
//! `_total` for counters.

use httptop_engine::alert::AlertState;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::{Counters, Exchange, Flags};
use std::collections::HashMap;
use std::fmt::{Display, Write as _};

/// Most labelled series per labelled metric family (hosts, sections): `--top` is capped
/// here.
pub const MAX_LABELLED: usize = 50;

/// Label values longer than this (in characters, after escaping) are cut and marked `…`.
pub const MAX_LABEL_CHARS: usize = 128;

/// The label value of everything outside the top-k.
pub const OTHER: &str = "other";

/// Methods with a label of their own; every other method counts as `other`.
pub const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const BUCKET_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// What one host or section has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    pub requests: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Responses with a 5xx status.
    pub server_errors: u64,
}

impl KeyCounts {
    fn add(&mut self, x: &KeyCounts) {
        self.requests += x.requests;
        self.request_bytes += x.request_bytes;
        self.response_bytes += x.response_bytes;
        self.server_errors += x.server_errors;
    }
}

/// One labelled series.
#[derive(Clone, Debug)]
pub struct Series {
    /// The key as the statistics hold it (raw wire bytes).
    pub key: Box<[u8]>,
    /// The label value: sanitised, cut to [`MAX_LABEL_CHARS`].
    pub label: String,
    pub counts: KeyCounts,
}

/// Keys with a series of their own, and `other`.
#[derive(Clone, Debug, Default)]
pub struct LabelTable {
    index: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    series: Vec<Series>,
    other: KeyCounts,
}

impl LabelTable {
    #[inline]
    fn counts_mut(&mut self, key: &[u8]) -> &mut KeyCounts {
        if self.index.is_empty() {
            return &mut self.other;
        }
        match self.index.get(key).and_then(|&i| self.series.get_mut(i)) {
            Some(s) => &mut s.counts,
            None => &mut self.other,
        }
    }

    /// Gives a series to each of `top` (in order, at most `cap`): kept series keep their
    /// counts, new ones start at 0, the others are dropped. Keys whose label value would
    /// be `other` or repeat an earlier one (distinct keys can escape or cut to the same
    /// text) get no series.
    pub fn relabel<'a>(&mut self, top: impl IntoIterator<Item = &'a [u8]>, cap: usize) {
        let cap = cap.min(MAX_LABELLED);
        let mut old = std::mem::take(&mut self.index);
        let mut old_series: Vec<Option<Series>> = std::mem::take(&mut self.series)
            .into_iter()
            .map(Some)
            .collect();
        for key in top {
            if self.series.len() >= cap {
                break;
            }
            if self.index.contains_key(key) {
                continue;
            }
            let kept = old
                .remove(key)
                .and_then(|i| old_series.get_mut(i).and_then(Option::take));
            let s = match kept {
                Some(s) => s,
                None => {
                    let label = label_value(key);
                    Series {
                        key: key.into(),
                        label,
                        counts: KeyCounts::default(),
                    }
                }
            };
            if s.label == OTHER || self.series.iter().any(|o| o.label == s.label) {
                continue;
            }
            self.index.insert(s.key.clone(), self.series.len());
            self.series.push(s);
        }
    }

    pub fn series(&self) -> &[Series] {
        &self.series
    }

    pub fn other(&self) -> KeyCounts {
        self.other
    }

    /// Every exchange counted, labelled or not.
    pub fn sum(&self) -> KeyCounts {
        let mut t = self.other;
        for s in &self.series {
            t.add(&s.counts);
        }
        t
    }
}

/// A label value from wire bytes: control and invisible characters escaped (as the
/// terminal output does), cut to [`MAX_LABEL_CHARS`].
pub fn label_value(bytes: &[u8]) -> String {
    let s = httptop_output::report::sanitize(bytes);
    match s.char_indices().nth(MAX_LABEL_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// Exact counters since start-up. See the module documentation.
#[derive(Clone, Debug)]
pub struct Totals {
    /// Requests by [`METHODS`] index; the last slot is `other`.
    requests_by_method: [u64; METHODS.len() + 1],
    /// Final responses by status code (100..=599 by value; the rest in slot 0).
    responses_by_code: Box<[u64; 600]>,
    /// Requests that got no response.
    no_response: u64,
    request_bytes: u64,
    response_bytes: u64,
    /// Latency histogram, not cumulative; the last slot is `+Inf`.
    latency: [u64; BUCKET_NS.len() + 1],
    latency_sum_ns: u128,
    hosts: LabelTable,
    sections: LabelTable,
    /// Scratch for section keys (host + section), reused.
    scratch: Vec<u8>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            requests_by_method: [0; METHODS.len() + 1],
            responses_by_code: Box::new([0; 600]),
            no_response: 0,
            request_bytes: 0,
            response_bytes: 0,
            latency: [0; BUCKET_NS.len() + 1],
            latency_sum_ns: 0,
            hosts: LabelTable::default(),
            sections: LabelTable::default(),
            scratch: Vec::new(),
        }
    }
}

/// The section key as the statistics build it: the Host value then the path's first
/// segment, when that starts with `/`; the bare target otherwise (`*`, authority form).
fn section_key<'a>(buf: &'a mut Vec<u8>, ex: &Exchange) -> &'a [u8] {
    let section = ex.section();
    buf.clear();
    if section.first() == Some(&b'/') {
        buf.extend_from_slice(ex.host.as_bytes());
    }
    buf.extend_from_slice(section);
    buf
}

impl Totals {
    /// Counts one exchange.
    pub fn on_exchange(&mut self, ex: &Exchange) {
        let has_request = !ex.flags.contains(Flags::NO_REQUEST);
        let m = ex.method.as_bytes();
        if has_request {
            let i = METHODS
                .iter()
                .position(|k| k.as_bytes() == m)
                .unwrap_or(METHODS.len());
            if let Some(c) = self.requests_by_method.get_mut(i) {
                *c += 1;
            }
        }
        let mut server_error = false;
        match ex.status {
            Some(code) => {
                let i = if (100..600).contains(&code) {
                    usize::from(code)
                } else {
                    0
                };
                if let Some(c) = self.responses_by_code.get_mut(i) {
                    *c += 1;
                }
                server_error = (500..600).contains(&code);
            }
            None => self.no_response += u64::from(has_request),
        }
        self.request_bytes += ex.request_bytes;
        self.response_bytes += ex.response_bytes;
        if let Some(ns) = ex.latency_ns {
            let b = BUCKET_NS.partition_point(|&le| le < ns);
            if let Some(c) = self.latency.get_mut(b) {
                *c += 1;
            }
            self.latency_sum_ns += u128::from(ns);
        }
        let hit = KeyCounts {
            requests: u64::from(has_request),
            request_bytes: ex.request_bytes,
            response_bytes: ex.response_bytes,
            server_errors: u64::from(server_error),
        };
        self.hosts.counts_mut(ex.host.as_bytes()).add(&hit);
        if has_request {
            let key = section_key(&mut self.scratch, ex);
            self.sections.counts_mut(key).add(&hit);
        }
    }

    /// New top-k label sets (see [`LabelTable::relabel`]).
    pub fn relabel<'a>(
        &mut self,
        hosts: impl IntoIterator<Item = &'a [u8]>,
        sections: impl IntoIterator<Item = &'a [u8]>,
        k: usize,
    ) {
        self.hosts.relabel(hosts, k);
        self.sections.relabel(sections, k);
    }

    pub fn hosts(&self) -> &LabelTable {
        &self.hosts
    }

    pub fn sections(&self) -> &LabelTable {
        &self.sections
    }

    /// Requests counted (exchanges with a request).
    pub fn requests(&self) -> u64 {
        self.requests_by_method.iter().sum()
    }
}

/// Capture health and alerting: what is not counted per exchange.
#[derive(Clone, Debug, Default)]
pub struct Health {
    pub counters: Counters,
    pub open_flows: u64,
    /// Live capture: (packets dropped by the kernel, dropped by the interface).
    pub kernel_drops: Option<(u64, u64)>,
    /// `None` before the first packet (or the start of a live capture).
    pub alert: Option<AlertGauges>,
    /// Alerts started since start-up.
    pub alerts_started: u64,
    /// The replay or capture has ended (the values are final).
    pub finished: bool,
}

/// The alerting side, as gauges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlertGauges {
    /// `learning`, `normal`, `alert` or `recovered`.
    pub state: &'static str,
    pub hits: u64,
    /// Baseline requests per window (rounded down); `None` while learning.
    pub baseline: Option<u64>,
    pub threshold_pct: u32,
    pub window_seconds: f64,
    /// Learning done, from 0 to 1 (1 once learned).
    pub learning_progress: f64,
}

/// The state names, in the order [`render`] writes them.
pub const STATES: [&str; 4] = ["learning", "normal", "alert", "recovered"];

impl Health {
    /// Reads the refresh's snapshot (once per publication, not per packet).
    pub fn from_snapshot(snap: &Snapshot) -> Self {
        let alert = snap.alert.as_ref().map(|a| {
            let cfg = &a.config;
            let (state, progress) = match a.state {
                AlertState::Learning(p) => {
                    let total = p.elapsed_ns.saturating_add(p.remaining_ns);
                    let f = if total == 0 {
                        0.0
                    } else {
                        p.elapsed_ns as f64 / total as f64
                    };
                    ("learning", f.clamp(0.0, 1.0))
                }
                AlertState::Normal { .. } => ("normal", 1.0),
                AlertState::Alert { .. } => ("alert", 1.0),
                AlertState::Recovered { .. } => ("recovered", 1.0),
            };
            AlertGauges {
                state,
                hits: a.hits_in_window,
                baseline: a.baseline.map(|b| b.per_window(cfg.window_ns)),
                threshold_pct: cfg.threshold_pct,
                window_seconds: cfg.window_ns as f64 / 1e9,
                learning_progress: progress,
            }
        });
        Health {
            counters: snap.counters.clone(),
            open_flows: u64::try_from(snap.open_flows).unwrap_or(u64::MAX),
            kernel_drops: None,
            alert,
            alerts_started: 0,
            finished: false,
        }
    }
}

/// The Alertmanager client's counters, as shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifierCounts {
    pub posts_ok: u64,
    pub posts_failed: u64,
    /// Alert events dropped because the client's queue was full.
    pub dropped: u64,
}

/// Text exposition being written.
struct Expo {
    out: String,
}

impl Expo {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label value escaping of the text format: backslash, double quote, line feed.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn class_of(code: usize) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn keyed(e: &mut Expo, t: &LabelTable, label: &str, name: &str, f: fn(&KeyCounts) -> u64) {
    for s in t.series() {
        e.sample(name, &[(label, &s.label)], f(&s.counts));
    }
    e.sample(name, &[(label, OTHER)], f(&t.other()));
}

/// The exposition of everything, in the text format (version 0.0.4).
pub fn render(t: &Totals, h: &Health, am: Option<NotifierCounts>) -> String {
    let mut e = Expo {
        out: String::with_capacity(8192),
    };
    e.family(
        "httptop_build_info",
        "gauge",
        "Version of httptop (always 1).",
    );
    e.sample(
        "httptop_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    // Requests and responses.
    e.family(
        "httptop_requests_total",
        "counter",
        "HTTP requests seen, by method (methods outside the standard nine are other).",
    );
    for (i, n) in t.requests_by_method.iter().enumerate() {
        let m = METHODS.get(i).copied().unwrap_or(OTHER);
        e.sample("httptop_requests_total", &[("method", m)], n);
    }
    e.family(
        "httptop_responses_total",
        "counter",
        "Final HTTP responses seen, by status class and code (codes outside 100-599 are other).",
    );
    for (code, &n) in t.responses_by_code.iter().enumerate() {
        if n > 0 && code >= 100 {
            let c = code.to_string();
            e.sample(
                "httptop_responses_total",
                &[("class", class_of(code)), ("code", &c)],
                n,
            );
        }
    }
    if let Some(&n) = t.responses_by_code.first().filter(|&&n| n > 0) {
        e.sample(
            "httptop_responses_total",
            &[("class", OTHER), ("code", OTHER)],
            n,
        );
    }
    e.single(
        "httptop_requests_without_response_total",
        "counter",
        "Requests for which no response was seen (connection closed, timed out, evicted, lost in a gap).",
        t.no_response,
    );
    e.single(
        "httptop_request_bytes_total",
        "counter",
        "Bytes of HTTP requests on the wire (heads and bodies).",
        t.request_bytes,
    );
    e.single(
        "httptop_response_bytes_total",
        "counter",
        "Bytes of HTTP responses on the wire (heads and bodies).",
        t.response_bytes,
    );
    e.family(
        "httptop_response_latency_seconds",
        "histogram",
        "Time from the first request byte to the first response byte.",
    );
    let mut cum = 0u64;
    for (i, n) in t.latency.iter().enumerate() {
        cum += n;
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        e.sample(
            "httptop_response_latency_seconds_bucket",
            &[("le", &le)],
            cum,
        );
    }
    e.sample(
        "httptop_response_latency_seconds_sum",
        &[],
        t.latency_sum_ns as f64 / 1e9,
    );
    e.sample("httptop_response_latency_seconds_count", &[], cum);

    // Top-k hosts and sections.
    e.family(
        "httptop_host_requests_total",
        "counter",
        "Requests by Host header, for the current top hosts; the rest (and requests without Host) under other.",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_requests_total",
        |c| c.requests,
    );
    e.family(
        "httptop_host_request_bytes_total",
        "counter",
        "Request bytes by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_request_bytes_total",
        |c| c.request_bytes,
    );
    e.family(
        "httptop_host_response_bytes_total",
        "counter",
        "Response bytes by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_response_bytes_total",
        |c| c.response_bytes,
    );
    e.family(
        "httptop_host_server_errors_total",
        "counter",
        "5xx responses by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_server_errors_total",
        |c| c.server_errors,
    );
    e.family(
        "httptop_section_requests_total",
        "counter",
        "Requests by section (Host and first path segment), for the current top sections; the rest under other.",
    );
    keyed(
        &mut e,
        &t.sections,
        "section",
        "httptop_section_requests_total",
        |c| c.requests,
    );
    e.family(
        "httptop_section_server_errors_total",
        "counter",
        "5xx responses by section (top sections, the rest under other).",
    );
    keyed(
        &mut e,
        &t.sections,
        "section",
        "httptop_section_server_errors_total",
        |c| c.server_errors,
    );

    render_alerting(&mut e, h);
    render_health(&mut e, h);
    if let Some(am) = am {
        e.family(
            "httptop_alertmanager_posts_total",
            "counter",
            "Posts to Alertmanager, by result.",
        );
        e.sample(
            "httptop_alertmanager_posts_total",
            &[("result", "success")],
            am.posts_ok,
        );
        e.sample(
            "httptop_alertmanager_posts_total",
            &[("result", "failure")],
            am.posts_failed,
        );
        e.single(
            "httptop_alertmanager_dropped_events_total",
            "counter",
            "Alert events dropped because the Alertmanager client's queue was full.",
            am.dropped,
        );
    }
    e.out
}

fn render_alerting(e: &mut Expo, h: &Health) {
    e.single(
        "httptop_alerts_total",
        "counter",
        "High-traffic alerts started.",
        h.alerts_started,
    );
    let Some(a) = &h.alert else {
        return;
    };
    e.family(
        "httptop_alert_state",
        "gauge",
        "Alerting state: 1 for the current one.",
    );
    for s in STATES {
        e.sample(
            "httptop_alert_state",
            &[("state", s)],
            u8::from(s == a.state),
        );
    }
    e.single(
        "httptop_alert_firing",
        "gauge",
        "1 while the high-traffic alert is active.",
        u8::from(a.state == "alert"),
    );
    e.single(
        "httptop_alert_window_hits",
        "gauge",
        "Requests in the alert window at the latest evaluation.",
        a.hits,
    );
    if let Some(b) = a.baseline {
        e.single(
            "httptop_alert_baseline_hits",
            "gauge",
            "Learned baseline: requests per alert window.",
            b,
        );
    }
    e.single(
        "httptop_alert_threshold_ratio",
        "gauge",
        "An alert starts when window hits exceed the baseline by more than this fraction.",
        f64::from(a.threshold_pct) / 100.0,
    );
    e.single(
        "httptop_alert_window_seconds",
        "gauge",
        "Length of the alert window.",
        a.window_seconds,
    );
    e.single(
        "httptop_learning_progress_ratio",
        "gauge",
        "Fraction of the learning period done (1 once the baseline is known).",
        a.learning_progress,
    );
}

fn render_health(e: &mut Expo, h: &Health) {
    let c = &h.counters;
    e.single(
        "httptop_packets_total",
        "counter",
        "Packets (frames) read from the capture.",
        c.frames,
    );
    e.single(
        "httptop_captured_bytes_total",
        "counter",
        "Bytes of the frames read from the capture.",
        c.bytes,
    );
    if let Some((kernel, iface)) = h.kernel_drops {
        e.family(
            "httptop_kernel_drops_total",
            "counter",
            "Packets dropped before httptop read them (live capture), by where.",
        );
        e.sample("httptop_kernel_drops_total", &[("by", "kernel")], kernel);
        e.sample("httptop_kernel_drops_total", &[("by", "interface")], iface);
    }
    e.single(
        "httptop_open_flows",
        "gauge",
        "TCP connections tracked now.",
        h.open_flows,
    );
    e.single(
        "httptop_flows_total",
        "counter",
        "TCP connections tracked since start-up.",
        c.flows_created,
    );
    e.single(
        "httptop_flow_evictions_total",
        "counter",
        "Connections closed because the connection table was full (--max-flows).",
        c.flows_evicted,
    );
    e.single(
        "httptop_flow_timeouts_total",
        "counter",
        "Connections closed after being idle (--flow-timeout).",
        c.flows_timed_out,
    );
    let hc = &c.http;
    e.family(
        "httptop_truncations_total",
        "counter",
        "Data cut at a limit, by kind: strings (--max-string-len), heads (--max-header-bytes), header fields (over 128).",
    );
    for (k, v) in [
        ("strings", hc.strings_truncated),
        ("heads", hc.header_too_large),
        ("header_fields", hc.too_many_headers),
    ] {
        e.sample("httptop_truncations_total", &[("kind", k)], v);
    }
    e.family(
        "httptop_anomalies_total",
        "counter",
        "Anomalies in the traffic or the capture, by kind.",
    );
    for (k, v) in [
        ("malformed_request", hc.malformed_requests),
        ("malformed_response", hc.malformed_responses),
        ("response_without_request", hc.responses_without_request),
        ("pending_overflow", hc.pending_overflow),
        ("bad_content_length", hc.bad_content_length),
        ("bad_chunk", hc.bad_chunk),
        ("bad_transfer_encoding", hc.bad_transfer_encoding),
        ("not_http_connection", hc.not_http_connections),
        ("http_resync", hc.resyncs),
        ("reassembly_gap", c.reasm.gaps),
        ("reassembly_overflow", c.reasm.overflows),
        ("ip_fragment", c.ip_fragments),
        ("undecodable_frame", c.decode_errors),
        ("unsupported_link_type", c.unsupported_linktype),
    ] {
        e.sample("httptop_anomalies_total", &[("kind", k)], v);
    }
    e.single(
        "httptop_capture_finished",
        "gauge",
        "1 once the capture or replay has ended (the values are final).",
        u8::from(h.finished),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::WireStr;

    fn ex(method: &str, host: &str, path: &str, status: Option<u16>) -> Exchange {
        Exchange {
            method: WireStr::capped(method.as_bytes(), 1024),
            host: WireStr::capped(host.as_bytes(), 1024),
            path: WireStr::capped(path.as_bytes(), 1024),
            status,
            request_bytes: 100,
            response_bytes: status.map_or(0, |_| 1000),
            latency_ns: status.map(|_| 3_000_000),
            ..Exchange::default()
        }
    }

    /// The sample lines of one metric, as (labels, value).
    fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                (n == name).then_some((labels, value))
            })
            .collect()
    }

    #[test]
    fn counts_methods_codes_bytes_latency() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        t.on_exchange(&ex("GET", "a", "/x", Some(503)));
        t.on_exchange(&ex("BREW", "a", "/x", None));
        t.on_exchange(&ex("POST", "b", "/y", Some(999)));
        let text = render(&t, &Health::default(), None);
        let req = samples(&text, "httptop_requests_total");
        assert!(req.contains(&("method=\"GET\"", "2")));
        assert!(req.contains(&("method=\"POST\"", "1")));
        assert!(req.contains(&("method=\"other\"", "1")));
        assert_eq!(t.requests(), 4);
        let resp = samples(&text, "httptop_responses_total");
        assert_eq!(
            resp,
            vec![
                ("class=\"2xx\",code=\"200\"", "1"),
                ("class=\"5xx\",code=\"503\"", "1"),
                ("class=\"other\",code=\"other\"", "1"),
            ]
        );
        assert_eq!(
            samples(&text, "httptop_requests_without_response_total"),
            vec![("", "1")]
        );
        assert_eq!(
            samples(&text, "httptop_request_bytes_total"),
            vec![("", "400")]
        );
        assert_eq!(
            samples(&text, "httptop_response_bytes_total"),
            vec![("", "3000")]
        );
        let buckets = samples(&text, "httptop_response_latency_seconds_bucket");
        assert!(buckets.contains(&("le=\"0.0025\"", "0")));
        assert!(buckets.contains(&("le=\"0.005\"", "3")));
        assert!(buckets.contains(&("le=\"+Inf\"", "3")));
        assert_eq!(
            samples(&text, "httptop_response_latency_seconds_sum"),
            vec![("", "0.009")]
        );
    }

    #[test]
    fn hosts_outside_the_top_fold_into_other_and_series_stay_monotonic() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        t.relabel([&b"a"[..], b"b"], [&b"a/x"[..]], 2);
        t.on_exchange(&ex("GET", "a", "/x", Some(500)));
        t.on_exchange(&ex("GET", "b", "/y", Some(200)));
        t.on_exchange(&ex("GET", "c", "/z", Some(200)));
        let text = render(&t, &Health::default(), None);
        assert_eq!(
            samples(&text, "httptop_host_requests_total"),
            vec![
                ("host=\"a\"", "1"),
                ("host=\"b\"", "1"),
                ("host=\"other\"", "2")
            ]
        );
        assert_eq!(
            samples(&text, "httptop_host_server_errors_total")[0],
            ("host=\"a\"", "1")
        );
        assert_eq!(
            samples(&text, "httptop_section_requests_total"),
            vec![("section=\"a/x\"", "1"), ("section=\"other\"", "3")]
        );
        // `a` leaves the top: its series goes; `b` keeps its count; `other` never drops.
        t.relabel([&b"c"[..], b"b"], [], 2);
        assert_eq!(t.hosts().series().len(), 2);
        assert_eq!(t.hosts().series()[0].counts.requests, 0);
        assert_eq!(t.hosts().series()[1].counts.requests, 1);
        assert_eq!(t.hosts().other().requests, 2);
        assert_eq!(t.sections().series().len(), 0);
    }

    #[test]
    fn labels_are_capped_deduplicated_and_escaped() {
        let mut t = Totals::default();
        let many: Vec<Vec<u8>> = (0..200).map(|i| format!("h{i}").into_bytes()).collect();
        t.relabel(many.iter().map(Vec::as_slice), [], 1000);
        assert_eq!(t.hosts().series().len(), MAX_LABELLED);

        let long_a = [b"x".repeat(300), b"a".to_vec()].concat();
        let long_b = [b"x".repeat(300), b"b".to_vec()].concat();
        t.relabel(
            [
                &b"other"[..],
                b"q\"uo\\te\n",
                b"\x1b[31mred",
                &long_a,
                &long_b,
            ],
            [],
            10,
        );
        let labels: Vec<&str> = t
            .hosts()
            .series()
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(
            labels.len(),
            3,
            "`other` and the second cut key get no series"
        );
        assert_eq!(labels[1], "\\u{1b}[31mred");
        assert_eq!(labels[2].chars().count(), MAX_LABEL_CHARS + 1);
        let text = render(&t, &Health::default(), None);
        // Sanitised (backslash doubled, line feed as \u{a}), then escaped for the format.
        assert!(text.contains(r#"host="q\"uo\\\\te\\u{a}""#), "{text}");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        let h = Health {
            kernel_drops: Some((1, 2)),
            alert: Some(AlertGauges {
                state: "normal",
                hits: 3,
                baseline: Some(2),
                threshold_pct: 10,
                window_seconds: 120.0,
                learning_progress: 1.0,
            }),
            ..Health::default()
        };
        let text = render(&t, &h, Some(NotifierCounts::default()));
        let mut types = std::collections::HashSet::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert!(types.insert(l.to_string()), "repeated {l}");
        }
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                types.iter().any(|t| t.split(' ').nth(2) == Some(family))
                    || types.iter().any(|t| t.split(' ').nth(2) == Some(name)),
                "{l} has no TYPE"
            );
        }
        assert_eq!(
            samples(&text, "httptop_alert_state"),
            vec![
                ("state=\"learning\"", "0"),
                ("state=\"normal\"", "1"),
                ("state=\"alert\"", "0"),
                ("state=\"recovered\"", "0"),
            ]
        );
    }
}
