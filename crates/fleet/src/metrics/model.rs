//! The metrics model: exact totals per exchange, top-k relabelling, and the health copy
//! taken once per publication (see the parent module for the contract).

use super::{BUCKET_NS, MAX_LABELLED, MAX_LABEL_CHARS, METHODS, OTHER};

/// The `protocol` label of the per-protocol request metrics, by index: HTTP/1.x, then
/// HTTP/2 (gRPC included).
pub const PROTOCOLS: [&str; 2] = ["http/1", "http/2"];
use httptop_engine::alert::AlertState;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::StatsCounters;
use httptop_engine::{Counters, Exchange, Flags};
use httptop_wire::counter::Sample;
use std::collections::HashMap;

/// What one host or section has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCounts {
    pub requests: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Failed requests ([`Exchange::is_error`]): responses with a 5xx status, and gRPC
    /// calls whose status is not OK.
    pub server_errors: u64,
}

/// What a labelled series adds up: [`KeyCounts`] for hosts and sections, [`GrpcCounts`]
/// for gRPC methods.
pub trait Counts: Clone + Default {
    fn add(&mut self, x: &Self);
}

impl Counts for KeyCounts {
    fn add(&mut self, x: &KeyCounts) {
        KeyCounts::add(self, x)
    }
}

/// gRPC status slots: 0 ..= 16 by code, then `other` (codes above 16), then calls that
/// ended without a status (reset, cut: `none`).
pub const GRPC_STATUS_SLOTS: usize = 19;

/// What one gRPC method has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcCounts {
    /// Calls by status slot (see [`GRPC_STATUS_SLOTS`]).
    pub by_status: [u64; GRPC_STATUS_SLOTS],
    /// Latency histogram with the buckets of the request latency (not cumulative; the
    /// last slot is `+Inf`).
    pub latency: [u64; BUCKET_NS.len() + 1],
    pub latency_sum_ns: u128,
}

impl Default for GrpcCounts {
    fn default() -> Self {
        GrpcCounts {
            by_status: [0; GRPC_STATUS_SLOTS],
            latency: [0; BUCKET_NS.len() + 1],
            latency_sum_ns: 0,
        }
    }
}

impl Counts for GrpcCounts {
    fn add(&mut self, x: &GrpcCounts) {
        for (a, b) in self.by_status.iter_mut().zip(x.by_status) {
            *a += b;
        }
        for (a, b) in self.latency.iter_mut().zip(x.latency) {
            *a += b;
        }
        self.latency_sum_ns += x.latency_sum_ns;
    }
}

impl GrpcCounts {
    /// The `code` label of a status slot: the gRPC name, `other`, or `none`.
    pub fn status_label(slot: usize) -> &'static str {
        match slot {
            s if s + 2 < GRPC_STATUS_SLOTS => {
                httptop_engine::stats::grpc_code_name(s as u32).unwrap_or(OTHER)
            }
            s if s + 2 == GRPC_STATUS_SLOTS => OTHER,
            _ => "none",
        }
    }

    pub fn calls(&self) -> u64 {
        self.by_status.iter().sum()
    }
}

/// Histogram bucket of a latency (the last one is `+Inf`).
#[inline]
fn latency_bucket(ns: u64) -> usize {
    BUCKET_NS.partition_point(|&le| le < ns)
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
pub struct Series<C = KeyCounts> {
    /// The key as the statistics hold it (raw wire bytes).
    pub key: Box<[u8]>,
    /// The label value: sanitised, cut to [`MAX_LABEL_CHARS`].
    pub label: String,
    pub counts: C,
}

/// Keys with a series of their own, and `other`.
#[derive(Clone, Debug)]
pub struct LabelTable<C = KeyCounts> {
    index: HashMap<Box<[u8]>, usize, foldhash::fast::RandomState>,
    series: Vec<Series<C>>,
    other: C,
}

impl<C: Counts> Default for LabelTable<C> {
    fn default() -> Self {
        LabelTable {
            index: HashMap::default(),
            series: Vec::new(),
            other: C::default(),
        }
    }
}

impl<C: Counts> LabelTable<C> {
    #[inline]
    pub(crate) fn counts_mut(&mut self, key: &[u8]) -> &mut C {
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
        let mut old_series: Vec<Option<Series<C>>> = std::mem::take(&mut self.series)
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
                        counts: C::default(),
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

    pub fn series(&self) -> &[Series<C>] {
        &self.series
    }

    pub fn other(&self) -> &C {
        &self.other
    }

    /// Every exchange counted, labelled or not.
    pub fn sum(&self) -> C {
        let mut t = self.other.clone();
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
    pub(super) requests_by_method: [u64; METHODS.len() + 1],
    /// Final responses by status code (100..=599 by value; the rest in slot 0).
    pub(super) responses_by_code: Box<[u64; 600]>,
    /// Requests that got no response.
    pub(super) no_response: u64,
    pub(super) request_bytes: u64,
    pub(super) response_bytes: u64,
    /// Latency histogram, not cumulative; the last slot is `+Inf`.
    pub(super) latency: [u64; BUCKET_NS.len() + 1],
    pub(super) latency_sum_ns: u128,
    pub(super) hosts: LabelTable,
    pub(super) sections: LabelTable,
    /// Failed requests ([`Exchange::is_error`]), by [`PROTOCOLS`] index.
    pub(super) errors_by_protocol: [u64; 2],
    /// Responses' latency histogram by [`PROTOCOLS`] index (as `latency`).
    pub(super) latency_by_protocol: [[u64; BUCKET_NS.len() + 1]; 2],
    pub(super) latency_sum_by_protocol: [u128; 2],
    /// gRPC calls by `service/method` (the top rows of the statistics' gRPC table).
    pub(super) grpc: LabelTable<GrpcCounts>,
    /// TLS connections (see [`super::tls`]).
    pub(super) tls: super::tls::TlsTotals,
    /// Exchanges read from TLS plaintext by process command name, per role (client,
    /// server: see `httptop_engine::stats::ProcessRole`), labelled like hosts.
    pub(super) processes: [LabelTable; 2],
    /// Whether any exchange had a process (the process families are written only then).
    pub(super) processes_seen: bool,
    /// Scratch for section keys (host + section), reused.
    pub(super) scratch: Vec<u8>,
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
            errors_by_protocol: [0; 2],
            latency_by_protocol: [[0; BUCKET_NS.len() + 1]; 2],
            latency_sum_by_protocol: [0; 2],
            grpc: LabelTable::default(),
            tls: super::tls::TlsTotals::default(),
            processes: Default::default(),
            processes_seen: false,
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
                // A failed request: a 5xx, or a gRPC call whose status is not OK.
                server_error = ex.is_error();
            }
            None => self.no_response += u64::from(has_request),
        }
        self.request_bytes += ex.request_bytes;
        self.response_bytes += ex.response_bytes;
        let proto = usize::from(ex.version.major >= 2);
        if let Some(ns) = ex.latency_ns {
            let b = latency_bucket(ns);
            if let Some(c) = self.latency.get_mut(b) {
                *c += 1;
            }
            self.latency_sum_ns += u128::from(ns);
            if let Some(c) = self.latency_by_protocol[proto].get_mut(b) {
                *c += 1;
            }
            self.latency_sum_by_protocol[proto] += u128::from(ns);
        }
        if has_request && ex.is_error() {
            self.errors_by_protocol[proto] += 1;
        }
        if let (true, Some((service, method))) = (has_request, ex.grpc_call()) {
            self.scratch.clear();
            self.scratch.extend_from_slice(service);
            self.scratch.push(b'/');
            self.scratch.extend_from_slice(method);
            let g = self.grpc.counts_mut(&self.scratch);
            let slot = match ex.grpc_status {
                Some(code) => (code as usize).min(GRPC_STATUS_SLOTS - 2),
                None => GRPC_STATUS_SLOTS - 1,
            };
            g.by_status[slot] += 1;
            if let Some(ns) = ex.latency_ns {
                if let Some(c) = g.latency.get_mut(latency_bucket(ns)) {
                    *c += 1;
                }
                g.latency_sum_ns += u128::from(ns);
            }
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
        // TLS plaintext only: the roles as the statistics' Processes table counts them.
        if let Some(p) = &ex.process {
            self.processes_seen = true;
            let [clients, servers] = &mut self.processes;
            match &ex.peer_process {
                Some(peer) => {
                    clients.counts_mut(p.comm.as_bytes()).add(&hit);
                    servers.counts_mut(peer.comm.as_bytes()).add(&hit);
                }
                None if ex.process_is_server => servers.counts_mut(p.comm.as_bytes()).add(&hit),
                None => clients.counts_mut(p.comm.as_bytes()).add(&hit),
            }
        }
    }

    /// New label sets of the processes: `(role, comm)` of the statistics' top rows (see
    /// [`LabelTable::relabel`]), `k` per role.
    pub fn relabel_processes<'a>(
        &mut self,
        rows: impl IntoIterator<Item = (httptop_engine::stats::ProcessRole, &'a [u8])> + Clone,
        k: usize,
    ) {
        use httptop_engine::stats::ProcessRole;
        for (i, role) in [ProcessRole::Client, ProcessRole::Server]
            .into_iter()
            .enumerate()
        {
            let keys = rows
                .clone()
                .into_iter()
                .filter(|r| r.0 == role)
                .map(|r| r.1);
            if let Some(t) = self.processes.get_mut(i) {
                t.relabel(keys, k);
            }
        }
    }

    /// The process tables: clients, servers.
    pub fn processes(&self) -> &[LabelTable; 2] {
        &self.processes
    }

    /// New label set of the gRPC methods: `service/method` keys, the statistics' top
    /// rows (see [`LabelTable::relabel`]).
    pub fn relabel_grpc<'a>(&mut self, keys: impl IntoIterator<Item = &'a [u8]>, k: usize) {
        self.grpc.relabel(keys, k);
    }

    /// Counts one TLS connection (see [`super::tls`]).
    pub fn on_tls(&mut self, t: &httptop_engine::tls::TlsSession) {
        self.tls.on_tls(t);
    }

    pub fn tls(&self) -> &super::tls::TlsTotals {
        &self.tls
    }

    /// New top-k label sets of the TLS server names and cipher suites.
    pub fn relabel_tls<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a [u8]>,
        ciphers: impl IntoIterator<Item = &'a [u8]>,
        k: usize,
    ) {
        self.tls.relabel(names, ciphers, k);
    }

    pub fn grpc(&self) -> &LabelTable<GrpcCounts> {
        &self.grpc
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
    /// Engine counters (the Protocols table included).
    pub counters: Counters,
    pub stats_counters: StatsCounters,
    /// The capture source's counters (file statistics, or the kernel's live counters).
    pub source_counters: Vec<Sample>,
    pub open_flows: u64,
    /// `None` before the first packet (or the start of a live capture).
    pub alert: Option<AlertGauges>,
    /// Alerts started since start-up.
    pub alerts_started: u64,
    /// Errors and latency alerting (global first, then per server).
    pub signals: Vec<SignalGauges>,
    /// The replay or capture has ended (the values are final).
    pub finished: bool,
}

impl Health {
    /// Every registered counter, the source's first, in registry order.
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        httptop_engine::counters::with_source(
            &self.source_counters,
            &self.counters,
            &self.stats_counters,
        )
    }
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

/// An errors or latency machine, as gauges.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalGauges {
    /// `errors` or `latency`.
    pub kind: &'static str,
    /// The server's name as a label value; `None` when global.
    pub server: Option<String>,
    /// `learning`, `normal`, `alert` or `recovered`.
    pub state: &'static str,
    /// The latest evaluation's value: a ratio (errors) or seconds (latency); `None` under
    /// the minimum of responses.
    pub value: Option<f64>,
    /// The learned baseline, in the same unit.
    pub baseline: Option<f64>,
}

impl SignalGauges {
    fn from_view(v: &httptop_engine::alert::SignalView) -> Self {
        use httptop_engine::alert::{AlertKind, SignalState};
        let unit = |x: u64| match v.kind {
            AlertKind::Latency => x as f64 / 1e9,
            _ => x as f64 / 10_000.0,
        };
        let value = match v.state {
            SignalState::Learning { .. } => None,
            SignalState::Normal { value }
            | SignalState::Alert { value, .. }
            | SignalState::Recovered { value, .. } => value,
        };
        SignalGauges {
            kind: v.kind.name(),
            server: v.server.map(|s| super::label_value(s.as_bytes())),
            state: v.state.name(),
            value: value.map(unit),
            baseline: v.baseline.map(|b| unit(b.value())),
        }
    }
}

/// The state names, in the order [`super::render`] writes them.
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
            stats_counters: snap.stats_counters.clone(),
            source_counters: snap.source_counters.clone(),
            open_flows: u64::try_from(snap.open_flows).unwrap_or(u64::MAX),
            alert,
            alerts_started: 0,
            signals: snap.signals.iter().map(SignalGauges::from_view).collect(),
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use httptop_engine::WireStr;

    /// An exchange of 100 request bytes; answered (`status`): 1000 response bytes, 3 ms.
    pub(crate) fn ex(method: &str, host: &str, path: &str, status: Option<u16>) -> Exchange {
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

    #[test]
    fn every_exchange_is_counted_once_labelled_or_not() {
        let mut t = Totals::default();
        t.relabel([&b"a"[..]], [&b"a/x"[..]], 5);
        for (h, code) in [("a", 200), ("a", 502), ("b", 200), ("", 404)] {
            t.on_exchange(&ex("GET", h, "/x/y", Some(code)));
        }
        t.on_exchange(&ex("PURGE", "b", "/", None));
        assert_eq!(t.requests(), 5);
        let hosts = t.hosts().sum();
        assert_eq!((hosts.requests, hosts.server_errors), (5, 1));
        assert_eq!((hosts.request_bytes, hosts.response_bytes), (500, 4000));
        assert_eq!(t.hosts().series()[0].counts.requests, 2);
        assert_eq!(t.sections().series()[0].counts.requests, 2);
        assert_eq!(t.sections().other().requests, 3);
        assert_eq!(t.no_response, 1);
        assert_eq!(t.requests_by_method[METHODS.len()], 1);
    }

    #[test]
    fn health_samples_start_with_the_source() {
        let c = httptop_wire::DecodeErrorCounts::default();
        let mut h = Health {
            source_counters: c.samples().take(1).collect(),
            ..Health::default()
        };
        h.counters.http.requests = 4;
        let all: Vec<Sample> = h.samples().collect();
        assert_eq!(all[0].desc.name, "truncated_ethernet");
        assert_eq!(all.len(), 1 + httptop_engine::counters::registry().len());
        assert!(all
            .iter()
            .any(|s| s.full_name() == "http.requests" && s.value == 4));
    }
}
