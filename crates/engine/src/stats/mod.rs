//! Traffic statistics: request rate, top-N tables over sliding windows, per-server
//! latency percentiles and error rates, all driven by packet time.
//!
//! # Contract
//!
//! - **Sans-IO and deterministic.** Time is an argument: [`Stats::on_exchange`] places an
//!   exchange at its `ts`, [`Stats::advance`] moves packet time on, [`Stats::report`] and
//!   the rate series read "as of" a given time. Nothing reads a clock. Report rows are
//!   sorted by count, then by key bytes (and namespace): no hash order leaks out, and the
//!   same exchanges in the same order give the same reports whatever the hash seed. While
//!   no table is full, the order of exchanges with equal timestamps does not matter
//!   either (tested); once Space-Saving replaces keys, which keys survive depends on the
//!   order, as with any streaming summary.
//! - **Never panics on input.** Any timestamp (0, `u64::MAX`, backwards), any byte string,
//!   any byte count: counters saturate or, where overflow cannot come from real traffic,
//!   wrap (see "Counters" below).
//! - **Bounded memory.** Every structure input can grow has a cap, a policy when full and
//!   a counter in [`StatsCounters`]; the worst case with the defaults is 61.6 MiB (table
//!   below), computed by [`StatsConfig::worst_case_bytes`] and checked by a test that
//!   fills every table with 1,024-byte keys.
//!
//! # What is counted
//!
//! An exchange with a request (every exchange but `Flags::NO_REQUEST` ones) counts as one
//! request in: the totals and rate series; its **section** (`host + section`, e.g.
//! `example.com/api`; a target that does not start with `/`, such as a CONNECT authority
//! or `*`, is its own key without the host); its **User-Agent** (empty when absent); its
//! **method**; its **host/server**; its **client** address (IP, without port: the wire
//! address, or with `StatsConfig::clients_by` = `Forwarded` the original client when
//! the exchange has one, see `Exchange::original_client`). A final
//! status counts one **response** under its **status code** (classes `1xx`..`5xx` and
//! `other` are summed from the codes). Request and response bytes go to the host/server
//! and (together) to the client; a failed request ([`Exchange::is_error`]: a 5xx answer,
//! or a gRPC call whose `grpc-status` is not 0) counts as an error of its server; a
//! latency goes to the server's histogram.
//!
//! A gRPC call (`Flags::GRPC` and a path `/service/method`, see
//! [`Exchange::grpc_call`]) also counts in the **gRPC** table, keyed `service/method`:
//! calls, failed calls, bytes and calls per `grpc-status` (0..=16 by name, others
//! together as `other`; a call without status, e.g. reset, under none), and its latency
//! in a histogram of its own like a server's. Its rows are [`Report::grpc`].
//!
//! A response without request (`NO_REQUEST`) counts as a response, under its status
//! code, and its bytes under the server (keyed `ip:port`, since it has no Host) and the
//! client — never as a request, so it does not rank a server, client or section.
//!
//! Hosts and servers are one table keyed by the Host header value, or by the server's
//! `ip:port` when there is none (a separate namespace: a Host header that reads like an
//! address is still a host). [`Report::hosts`] lists the Host keys, [`Report::servers`]
//! and [`Report::bytes_by_host`] both kinds (with `is_address`). Keys are the wire bytes
//! (not sanitised, not case-folded), cut at [`StatsConfig::max_key_len`]; a key carries
//! a truncation mark if any value counted under it was cut, by the engine
//! (`WireStr::truncated`) or here (`keys_truncated`).
//!
//! # Time
//!
//! `latest` is the largest time seen (from `advance`, or from an exchange). Windows end
//! at `max(now, latest)`: statistics never go backwards.
//!
//! - **Late exchanges** (an exchange is emitted when its response completes, but stamped
//!   with its request time): one older than the newest bucket goes into its own bucket in
//!   every window that still holds it, and is left out of the windows that do not
//!   (`late_min1`, `late_min10`, `late_hour1`); one older than the retention window is
//!   dropped (`too_old`).
//! - **Future exchanges**: a time more than [`MAX_FUTURE_NS`] (5 s) past the latest
//!   `advance` is clamped to that bound (`future_clamped`), so one bogus timestamp moves
//!   the windows by at most 5 s. Before the first `advance` (`advance(Timestamp::ZERO)`,
//!   the engine's time before any frame, does not count) there is no bound. Call
//!   `advance` with the engine's packet time before handing over the exchanges it
//!   produced (at least once per second of packet time): it is O(1) except when a bucket
//!   boundary is crossed.
//! - **Maintenance** happens when `latest` crosses bucket boundaries: keys idle for longer
//!   than the retention period are purged every 5 minutes of packet time (counters
//!   `purged`); the Space-Saving heaps are rebuilt when the retention window moves on.
//!
//! # Windows and resolution
//!
//! Each window is a ring of buckets per key; a window ending at `t` covers the bucket
//! holding `t` and the older ones up to the ring's length, i.e. from the start of the
//! oldest bucket (given in [`Report::start`], [`Report::bytes_start`],
//! [`Report::latency_start`]) to `t`. Counts are **exact for that bucket-aligned
//! interval**, which is the nominal window shortened by less than one bucket (checked
//! against a naive recount of random exchanges, out of order, for every window):
//!
//! | window | counts (requests, responses, codes; all tables) | attached (bytes, errors, error rate, gRPC status codes) | latency histograms |
//! | --- | --- | --- | --- |
//! | 1 minute | 12 × 5 s (55–60 s) | 6 × 10 s (50–60 s) | 3 × 20 s (40–60 s) |
//! | 10 minutes | 12 × 50 s | 6 × 100 s | 3 × 200 s |
//! | 1 hour | 12 × 5 min | 6 × 10 min | 3 × 20 min |
//! | retention (24 h) | 12 × 2 h | 6 × 4 h | 3 × 8 h |
//!
//! The retention period is 2 h .. 31 days, rounded down to 12 minutes; its buckets are
//! `retention / 12`. The coarser resolutions of the attached metrics and of latency are
//! the price of the memory budget: a key's bytes, error count and error rate are over the
//! attached window (error rates divide errors by the requests of that same window), and a
//! server's (a gRPC method's) percentiles over the latency window.
//!
//! **TLS** connections ([`Stats::on_tls`], one [`TlsSession`] each, at its end time) go
//! to tables of their own with the same windows and Space-Saving policy: server names
//! (connections, failed connections, bytes each way; at most [`MAX_TLS_NAMES`]),
//! handshake latency per name (histograms as a server's, at most `max_latency_keys`
//! names), versions, cipher suites, JA4 fingerprints and failure kinds, plus a table of
//! certificates expiring within 30 days (not windowed). Contract and caps: `tls.rs`;
//! rows: [`Report::tls`] ([`TlsReport`]).
//!
//! **Processes**: an exchange read from TLS plaintext (`Exchange::process`, see
//! [`crate::plain`]) also counts under its process's command name and role (client or
//! server; both ends when both are local processes): requests, responses, failed
//! requests, bytes and latency, at most [`MAX_PROCESS_KEYS`] rows, Space-Saving like
//! the others (`processes_evicted`). Contract: `procs.rs`; rows: [`Report::processes`]
//! ([`ProcessRow`]). An exchange without a process costs one branch.
//!
//! **WebSocket** sessions are summed over the whole run ([`WebSocketSummary`], from
//! [`Stats::on_websocket`]): sessions, messages and payload each way, close codes (the
//! first [`MAX_CLOSE_CODES`] distinct ones, the others summed).
//!
//! The **rate series** are global rings: requests per second for the last hour
//! ([`Stats::rate_per_second`], 3,600 points) and per minute for the retention period
//! ([`Stats::rate_per_minute`]), exact per second / minute.
//!
//! **Latency** histograms have 1,203 bins: 1,201 logarithmic ones of ratio γ = 1.0185
//! from 1 µs to 1 h, one below, one above (`hist.rs`; a DDSketch-style index, O(1), no
//! allocation). p50/p95/p99 are **nearest-rank** percentiles: of `n` samples in
//! ascending order, the one of rank `max(1, ceil(p·n))`. Each is answered with the
//! midpoint in log space of that sample's bin, **within 1 % of the exact percentile**
//! (√γ − 1 = 0.92 % plus 0.5 ns of rounding) for latencies from 1 µs to 1 h: checked at
//! both edges of every bin, for a single exchange, and against a sorted vector of random
//! latencies in every window's report. Below 1 µs the answer is 500 ns (absolute error ≤
//! 500 ns), from 1 h on it is 1 h (a lower bound).
//!
//! # Bounded tables: Space-Saving over sliding windows
//!
//! Sections, hosts/servers, User-Agents and clients hold at most `max_keys` keys each
//! (10,000); methods other than the nine common ones (GET, POST, HEAD, PUT, DELETE,
//! OPTIONS, PATCH, CONNECT, TRACE, counted in a fixed array) at most `max_method_keys`
//! (64); latency histograms exist for at most `max_latency_keys` servers (64), a table
//! of its own with the same policy, keyed like the servers; gRPC methods at most
//! `max_grpc_keys` (32; each has latency histograms). Status codes need no cap:
//! one entry per code, at most 1,000 (plus one for values above 999).
//!
//! When a new key arrives at a full table, the entry with the smallest **score** is
//! replaced (`evicted`). A score is the entry's count over the retention window, plus its
//! inherited error while that can still apply. The evicted score is recorded per
//! retention bucket; the new key inherits, as its **error**, the largest score evicted in
//! the retention window (the *floor*). Its rings start empty: they count exactly what
//! happens from then on. For every row of every window:
//!
//! - `count − error ≤ true count ≤ count`, where `error` is the inherited error if the key
//!   entered the table after the window's start, else 0 (then the count is exact). The
//!   key's exchanges before it entered were all counted under it in an earlier stint in
//!   the table, and each stint ended with an eviction whose score bounded them.
//! - Every error, and the true retention-window count of every key absent from the table,
//!   is at most [`Report::floors`] (the largest score evicted in the last 23 retention
//!   buckets, i.e. about two retention periods). Hence every key whose count exceeds the
//!   floor is in the table, and ranks by its count.
//! - While the retention window has not moved since the table filled (no decay), this is
//!   classic Space-Saving: `floor ≤ N / max_keys` for `N` exchanges counted by the table,
//!   so every key with more than `N / max_keys` exchanges is present, within that error
//!   (property-tested with 1,000,000 distinct keys and 10 heavy ones, `max_keys` 1,000).
//!   Under sustained churn the floor keeps growing as in classic Space-Saving; it falls
//!   back once evictions stop for about two retention periods (errors themselves stop
//!   applying one retention period after their key entered).
//!
//! Rows are ranked by `count` (the upper bound). Bytes, 5xx and latency of an entry cover
//! its exchanges since it entered the table: lower bounds when `error` is not 0.
//! Finding the victim uses a 4-ary min-heap that exists only while the table is full
//! (free otherwise); scores only grow between two retention buckets, so the heap is
//! exact and is rebuilt (O(keys)) when the retention window moves on or a purge frees
//! slots.
//!
//! # Counters
//!
//! Bucket values are `u32` counts and `u64` byte counts. Adds saturate where real traffic
//! could overflow them (counts in the retention window's buckets: 600,000 exchanges per
//! second of one key for 2 h) and wrap elsewhere, where they cannot (the longest other
//! bucket, 20 minutes of latency samples, would need 3.6 million exchanges per second of
//! one server; bytes would need 2^64); histogram bins and sums in reports saturate.
//! Saturating every add cost about 10 ns per exchange.
//!
//! # Memory budget
//!
//! Worst case with the defaults, every table full of 1,024-byte keys (a key costs 1,040
//! bytes with the allocator's header and rounding; each entry also has 12 bytes of heap
//! slot while the table is full and ~13 bytes of index):
//!
//! | structure | keys | entry | per key | total |
//! | --- | ---: | ---: | ---: | ---: |
//! | sections (requests) | 10,000 | 248 B | 1,313 B | 12.5 MiB |
//! | User-Agents (requests) | 10,000 | 248 B | 1,313 B | 12.5 MiB |
//! | hosts/servers (requests, 5xx, bytes each way) | 10,000 | 728 B | 1,793 B | 17.1 MiB |
//! | clients (requests, bytes; key inline) | 10,000 | 440 B | 465 B | 4.4 MiB |
//! | other methods | 64 | 248 B | 1,317 B | 0.08 MiB |
//! | latency histograms (12 × 1,203 bins per server) | 64 | 57,848 B | 58,916 B | 3.60 MiB |
//! | gRPC methods (calls, errors, bytes, 18 status codes, latency histograms) | 32 | 60,248 B | 61,318 B | 1.87 MiB |
//! | status codes | 1,001 | 224 B | | 0.22 MiB |
//! | TLS server names (connections, failures, bytes each way) | 2,000 | 728 B | 1,796 B | 3.43 MiB |
//! | TLS handshake latency histograms | 64 | 57,848 B | 58,916 B | 3.60 MiB |
//! | TLS versions (16), ciphers (256), JA4 (256, 1,024-byte keys), failures (64), certificates (32) | | | | 0.42 MiB |
//! | processes (requests, responses, 5xx, bytes, latency histograms; 16-byte names) | 32 | 58,712 B | 58,774 B | 1.79 MiB |
//! | rate series (3,600 s + 1,440 min), totals, floors | | | | 0.04 MiB |
//! | **total** ([`StatsConfig::worst_case_bytes`]) | | | | **61.6 MiB** |
//!
//! An entry is a 56-byte header (key pointer, last seen, hash, entry time, error, ring
//! heads, namespace, truncation mark) plus its rings, per window: 48 bytes for a count
//! (12 × `u32`), 48 for a byte count (6 × `u64`), 24 for the 5xx count; a latency entry
//! holds 3 × 4 histograms of 1,203 `u32` bins (57,744 B; it was 5,280 B with the
//! 11 %-error histogram of 110 bins). Measured with the 110-bin histogram: a process
//! holding only a full `Stats` grew by 47.7 MiB of resident memory (3.2 MiB more now by
//! the computation above). Entry arrays are reserved at their cap in one allocation, which the allocator
//! maps lazily: typical traffic (tens of hosts, a few thousand clients) takes 1–2 MiB.
//! [`Stats::memory_estimate`] reports the bytes in use.
//!
//! # Speed
//!
//! `on_exchange` does one hash lookup per table (sections, User-Agent, host, latency,
//! client; the common methods and status codes are array lookups), with no allocation
//! when the keys exist. Each window's newest bucket sits next to the entry header, so a
//! count usually touches two cache lines per key. Micro-benchmark
//! (`cargo bench -p httptop-engine --bench stats`, 1.44 M exchanges, 40 hosts, ~400
//! sections, 60 User-Agents): 110–135 ns per exchange with 1 to 2,000 clients; 210–250 ns
//! with 20,000 (the client table full and replacing); 1.2–1.4 µs when every key is new
//! and every table full. A report reads every entry of the window: 0.1 ms on such
//! traffic, 2–4 ms with full tables.
//!
//! # Where the code is
//!
//! This file: [`Stats`], its counters and the counting of an exchange. `config.rs`:
//! [`StatsConfig`], its ranges and worst case. `report.rs`: [`Report`], its rows and
//! [`Stats::report`]. `rate.rs`: the request-rate series. `table.rs`: the bounded
//! Space-Saving tables; `ring.rs`: bucket rings and window geometry; `metrics.rs`: what
//! each table counts per key; `hist.rs`: the latency histogram; `tests.rs`: the tests
//! against naive recomputations.

mod config;
mod grpc;
pub(crate) mod hist;
mod metrics;
mod procs;
mod rate;
mod report;
mod ring;
mod table;
#[cfg(test)]
mod tests;
mod tls;

pub use config::{
    ClientsBy, StatsConfig, MAX_KEYS_LIMIT, MAX_RETENTION_NS, MIN_RETENTION_NS, RETENTION_STEP_NS,
};
pub use grpc::{grpc_code_name, GrpcCode, WebSocketSummary, MAX_CLOSE_CODES};
pub use procs::{ProcessRole, ProcessRow, MAX_COMM_LEN, MAX_PROCESS_KEYS};
pub use report::{BytesRow, ClientRow, Floors, GrpcRow, Report, Row, ServerRow, Window};
pub use table::TableCounters;

/// The latency histogram bin of a latency in nanoseconds (log bins of ratio 1.0185).
pub fn hist_bin(ns: u64) -> usize {
    hist::bin(ns)
}
pub use tls::{
    TlsCertRow, TlsCipherRow, TlsFailure, TlsFailureRow, TlsNameRow, TlsReport, TlsVersionRow,
    EXPIRY_DAYS, MAX_EXPIRING_CERTS, MAX_TLS_FAILURES, MAX_TLS_KEYS, MAX_TLS_NAMES,
    MAX_TLS_VERSIONS, NO_CLIENT_HELLO, NO_SNI,
};

use crate::event::{Exchange, Flags, WebSocketSession};
use crate::tls::TlsSession;
use grpc::{GrpcData, GrpcHit};
use httptop_wire::Timestamp;
use metrics::{
    known_method, ByteKey, ClientData, Counts, FixedEntry, HostData, HostHit, LatData, StatusTable,
    KNOWN_METHODS, TAG_ADDR, TAG_HOST, TAG_NONE,
};
use ring::{Geometry, HeadRing, Ring, K, RL, SEC, WINDOWS};
use std::hash::BuildHasher;
use std::net::IpAddr;
use table::{At, Table};

/// Exchanges stamped more than this after the latest [`Stats::advance`] are placed at
/// that bound (see the module documentation, "Time").
pub const MAX_FUTURE_NS: u64 = 5 * SEC;

const R: usize = WINDOWS - 1;

httptop_wire::counters! {
    /// Monotonic counters of the statistics engine.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct StatsCounters {
        [Statistics]
        /// Exchanges counted by the statistics.
        exchanges: Exchanges,
        /// Exchanges stamped more than 5 s after the latest time, counted at
        /// that bound.
        future_clamped: Exchanges,
        /// Exchanges older than the retention window when they arrived: not counted at all.
        too_old: Exchanges,
        /// Exchanges older than the 1-minute window when they arrived (counted in the longer
        /// windows only).
        late_min1: Exchanges,
        /// Same, for the 10-minute window.
        late_min10: Exchanges,
        /// Same, for the 1-hour window.
        late_hour1: Exchanges,
        /// Keys cut to the key length limit (a section key is host + section).
        keys_truncated: Keys,
        /// Status-code entries removed after being idle for the retention period.
        status_purged: Keys,
        /// TLS connections counted by the statistics.
        tls_sessions: Connections,
        /// TLS connections that ended before the retention window: not counted.
        tls_too_old: Connections,
        /// TLS server names replaced while their table (2,000, at most max_keys) was full.
        tls_names_evicted: Keys,
        /// TLS server names whose handshake-latency histograms were replaced (max_latency_keys full).
        tls_latency_evicted: Keys,
        /// TLS versions replaced while their table (16) was full.
        tls_versions_evicted: Keys,
        /// TLS cipher suites replaced while their table (256) was full.
        tls_ciphers_evicted: Keys,
        /// JA4 fingerprints replaced while their table (256) was full.
        tls_ja4_evicted: Keys,
        /// TLS failure kinds replaced while their table (64) was full.
        tls_failures_evicted: Keys,
        /// Expiring certificates left out of, or replaced in, the full table of 32.
        tls_certs_dropped: Keys,
        /// Processes table rows (command name and role) replaced while the table (32, at most max_keys) was full.
        processes_evicted: Keys,
        /// Responses of servers that --alert-per-server could not watch (--alert-servers
        /// watched, none idle); still counted by the global alerts.
        alert_servers_unwatched: Exchanges,
        /// Idle servers whose per-server alerting a new server took over.
        alert_servers_replaced: Keys,
    } extra {
        pub sections: TableCounters,
        pub hosts: TableCounters,
        pub user_agents: TableCounters,
        pub methods: TableCounters,
        pub clients: TableCounters,
        pub latency: TableCounters,
        pub grpc: TableCounters,
    }
}

/// The statistics engine. See the module documentation.
pub struct Stats {
    cfg: StatsConfig,
    geo: Geometry,
    hasher: foldhash::fast::RandomState,
    /// Latest time given to [`Stats::advance`].
    clock: Option<u64>,
    /// Latest time seen (advance, or a clamped exchange time).
    latest: u64,
    /// Count buckets of `latest`.
    cur: [u32; WINDOWS],
    /// `[cur_start, cur_end)`: the 1-minute window's bucket holding `latest`.
    cur_start: u64,
    cur_end: u64,
    totals_head: [u32; WINDOWS],
    requests: [Ring<u64, K>; WINDOWS],
    responses: [Ring<u64, K>; WINDOWS],
    per_sec: HeadRing<u64>,
    per_min: HeadRing<u64>,
    sections: Table<ByteKey, Counts>,
    hosts: Table<ByteKey, HostData>,
    user_agents: Table<ByteKey, Counts>,
    /// The common methods, by `metrics::KNOWN_METHODS` index (created on first use).
    known_methods: [Option<FixedEntry>; KNOWN_METHODS.len()],
    /// Other methods.
    methods: Table<ByteKey, Counts>,
    status: StatusTable,
    clients: Table<IpAddr, ClientData>,
    latency: Table<ByteKey, LatData>,
    /// gRPC calls by `service/method`.
    grpc: Table<ByteKey, GrpcData>,
    websocket: WebSocketSummary,
    tls: tls::TlsTables,
    /// Exchanges read from TLS plaintext, by process command name and role.
    procs: procs::ProcTable,
    scratch: Vec<u8>,
    counters: StatsCounters,
}

/// `host + section`, cut at `max`: the key bytes and whether anything was cut.
fn section_key<'a>(buf: &'a mut Vec<u8>, ex: &Exchange, max: usize) -> (&'a [u8], bool, bool) {
    let path = ex.path.as_bytes();
    let section = ex.section();
    // The section is cut when it runs to the end of a path that was cut.
    let mut truncated = ex.path.truncated && section.len() == path.len();
    buf.clear();
    if section.first() == Some(&b'/') {
        buf.extend_from_slice(ex.host.as_bytes());
        truncated |= ex.host.truncated;
    }
    buf.extend_from_slice(section);
    let cut = buf.len() > max;
    if cut {
        buf.truncate(max);
    }
    (buf.as_slice(), truncated || cut, cut)
}

impl Stats {
    pub fn new(cfg: StatsConfig) -> Self {
        let cfg = cfg.validated();
        let geo = Geometry::new(cfg.retention_ns);
        let wr = geo.width[R];
        Stats {
            geo,
            hasher: foldhash::fast::RandomState::default(),
            clock: None,
            latest: 0,
            cur: [0; WINDOWS],
            cur_start: 0,
            cur_end: 0,
            totals_head: [0; WINDOWS],
            requests: Default::default(),
            responses: Default::default(),
            per_sec: HeadRing::new(3600),
            per_min: HeadRing::new((cfg.retention_ns / (60 * SEC)) as usize),
            sections: Table::new(cfg.max_keys, wr),
            hosts: Table::new(cfg.max_keys, wr),
            user_agents: Table::new(cfg.max_keys, wr),
            known_methods: Default::default(),
            methods: Table::new(cfg.max_method_keys, wr),
            status: StatusTable::new(),
            clients: Table::new(cfg.max_keys, wr),
            latency: Table::new(cfg.max_latency_keys, wr * u64::from(RL)),
            grpc: Table::new(cfg.max_grpc_keys, wr),
            websocket: WebSocketSummary::default(),
            tls: tls::TlsTables::new(cfg.max_keys, cfg.max_latency_keys, wr),
            procs: procs::ProcTable::new(cfg.max_keys, wr),
            scratch: Vec::new(),
            counters: StatsCounters::default(),
            cfg,
        }
    }

    /// The configuration in use (validated).
    pub fn config(&self) -> &StatsConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &StatsCounters {
        &self.counters
    }

    /// Moves packet time forward to `now` (earlier times are ignored): windows slide,
    /// keys idle for longer than the retention period are purged. Cheap unless a bucket
    /// boundary is crossed; call it with the engine's time before handing over the
    /// exchanges it produced (at least once per second of packet time).
    ///
    /// `Timestamp::ZERO` is ignored: it is `Engine::now` before the first frame, and
    /// taking it as the clock would clamp every real exchange to 5 s after the epoch.
    pub fn advance(&mut self, now: Timestamp) {
        let now = now.0;
        if now == 0 {
            return;
        }
        self.clock = Some(self.clock.map_or(now, |c| c.max(now)));
        if now > self.latest {
            self.move_latest(now);
        }
    }

    #[inline]
    fn move_latest(&mut self, t: u64) {
        self.latest = t;
        // Every bucket edge of every window is a multiple of 5 s (the 1-minute window's
        // bucket): inside the current one, no bucket changes.
        if t >= self.cur_end {
            self.move_buckets(t);
        }
    }

    /// [`Stats::move_latest`] across a bucket edge (out of line: once per 5 s at most).
    #[inline(never)]
    fn move_buckets(&mut self, t: u64) {
        let cur = self.geo.buckets(t);
        self.cur_start = u64::from(cur[0]).saturating_mul(ring::FIXED_WIDTHS[0]);
        self.cur_end = self.cur_start.saturating_add(ring::FIXED_WIDTHS[0]);
        let old = self.cur;
        self.cur = cur;
        if cur[R] != old[R] {
            self.sections.maintain(cur[R]);
            self.hosts.maintain(cur[R]);
            self.user_agents.maintain(cur[R]);
            self.methods.maintain(cur[R]);
            self.clients.maintain(cur[R]);
            self.latency.maintain(cur[R] / RL);
            self.grpc.maintain(cur[R]);
            self.tls.maintain(cur[R]);
            self.procs.maintain(cur[R]);
        }
        if cur[2] != old[2] {
            self.purge();
        }
    }

    fn purge(&mut self) {
        let r = self.cur[R];
        let c = &mut self.counters;
        self.sections.purge(r, &mut c.sections);
        self.hosts.purge(r, &mut c.hosts);
        self.user_agents.purge(r, &mut c.user_agents);
        self.methods.purge(r, &mut c.methods);
        self.clients.purge(r, &mut c.clients);
        self.latency.purge(r / RL, &mut c.latency);
        self.grpc.purge(r, &mut c.grpc);
        let start = self.geo.start(R, r, 1, K);
        c.status_purged += self.status.purge(start);
        self.tls.purge(r, start);
        self.procs.purge(r);
    }

    /// Counts one exchange at its time `ex.ts` (see the module documentation for
    /// out-of-order and future times).
    pub fn on_exchange(&mut self, ex: &Exchange) {
        self.on_exchange_binned(ex, ex.latency_ns.map(hist::bin));
    }

    /// [`Stats::on_exchange`] with `latency_bin`, the bin of `ex.latency_ns` ([`hist_bin`]),
    /// computed once by a caller that also needs it (the latency alert).
    pub fn on_exchange_binned(&mut self, ex: &Exchange, latency_bin: Option<usize>) {
        self.counters.exchanges += 1;
        let mut ts = ex.ts.0;
        if let Some(c) = self.clock {
            let bound = c.saturating_add(MAX_FUTURE_NS);
            if ts > bound {
                ts = bound;
                self.counters.future_clamped += 1;
            }
        }
        if ts > self.latest {
            self.move_latest(ts);
        }
        let bs = if ts >= self.cur_start && ts < self.cur_end {
            self.cur
        } else {
            self.geo.buckets(ts)
        };
        let cur = self.cur;
        let k = K as u32;
        if bs[R] + k <= cur[R] {
            self.counters.too_old += 1;
            return;
        }
        if bs[0] + k <= cur[0] {
            self.counters.late_min1 += 1;
            if bs[1] + k <= cur[1] {
                self.counters.late_min10 += 1;
                if bs[2] + k <= cur[2] {
                    self.counters.late_hour1 += 1;
                }
            }
        }
        let is_req = !ex.flags.contains(Flags::NO_REQUEST);
        let req = u32::from(is_req);
        // A failed request: a 5xx, or a gRPC call whose status is not OK.
        let is_error = is_req && ex.is_error();
        let at = At {
            ts,
            bs,
            latest: self.latest,
            cur_r: cur[R],
            primary: req,
        };

        // Totals and the rate series.
        for (w, &b) in bs.iter().enumerate() {
            let h = self.totals_head[w];
            if b > h {
                self.requests[w].roll(h, b);
                self.responses[w].roll(h, b);
                self.totals_head[w] = b;
            }
            if b + k > self.totals_head[w] {
                self.requests[w].add(b, u64::from(req), false);
                self.responses[w].add(b, u64::from(ex.status.is_some()), false);
            }
        }
        if is_req {
            self.per_sec.add(ts / SEC, 1);
            self.per_min.add(ts / (60 * SEC), 1);
        }

        let max_key = self.cfg.max_key_len;
        let c = &mut self.counters;
        if is_req {
            let (key, truncated, cut) = section_key(&mut self.scratch, ex, max_key);
            c.keys_truncated += u64::from(cut);
            count_key(
                &mut self.sections,
                &mut c.sections,
                &self.hasher,
                key,
                truncated,
                &at,
            );

            let (ua, cut) = cap(ex.user_agent.as_bytes(), max_key);
            c.keys_truncated += u64::from(cut);
            let truncated = ex.user_agent.truncated || cut;
            count_key(
                &mut self.user_agents,
                &mut c.user_agents,
                &self.hasher,
                ua,
                truncated,
                &at,
            );

            let m = ex.method.as_bytes();
            let known = known_method(m).and_then(|i| self.known_methods.get_mut(i).map(|e| (i, e)));
            match known {
                Some((_, Some(e))) => e.touch(ts, bs),
                Some((i, slot)) => {
                    let mut e = FixedEntry::new(i as u16, ts, bs);
                    e.touch(ts, bs);
                    *slot = Some(e);
                }
                None => {
                    let (m, cut) = cap(m, max_key);
                    c.keys_truncated += u64::from(cut);
                    let truncated = ex.method.truncated || cut;
                    count_key(
                        &mut self.methods,
                        &mut c.methods,
                        &self.hasher,
                        m,
                        truncated,
                        &at,
                    );
                }
            }
        }

        // Hosts and servers: one table keyed by the Host value, or `ip:port` without one.
        let (tag, key, truncated) = if ex.host.is_empty() {
            self.scratch.clear();
            if let Some(a) = ex.server {
                use std::io::Write;
                let _ = write!(self.scratch, "{a}");
            }
            (TAG_ADDR, self.scratch.as_slice(), false)
        } else {
            let (h, cut) = cap(ex.host.as_bytes(), max_key);
            c.keys_truncated += u64::from(cut);
            (TAG_HOST, h, ex.host.truncated || cut)
        };
        let hash = hash_key(&self.hasher, tag, key);
        let i = self.hosts.touch(hash, tag, key, &at, &mut c.hosts);
        if let Some(e) = self.hosts.entries.get_mut(i) {
            e.truncated |= truncated;
            let hit = HostHit {
                requests: req,
                errors: u32::from(is_error),
                request_bytes: ex.request_bytes,
                response_bytes: ex.response_bytes,
            };
            if e.heads == bs {
                e.data.add_head(hit);
            } else {
                for (w, &b) in bs.iter().enumerate() {
                    e.data.add(w, e.heads[w], b, hit);
                }
            }
        }
        if let (true, Some(bin)) = (is_req, latency_bin) {
            let bl = bs.map(|b| b / RL);
            let at_l = At {
                bs: bl,
                cur_r: at.cur_r / RL,
                ..at
            };
            let i = self.latency.touch(hash, tag, key, &at_l, &mut c.latency);
            if let Some(e) = self.latency.entries.get_mut(i) {
                e.truncated |= truncated;
                for (w, &b) in bl.iter().enumerate() {
                    if e.holds(w, b) {
                        e.data.add(w, b, bin);
                    }
                }
            }
        }

        if let Some(code) = ex.status {
            self.status.touch(code, ts, bs);
        }

        if let (true, Some((service, method))) = (is_req, ex.grpc_call()) {
            self.scratch.clear();
            self.scratch.extend_from_slice(service);
            self.scratch.push(b'/');
            self.scratch.extend_from_slice(method);
            let (key, cut) = cap(&self.scratch, max_key);
            c.keys_truncated += u64::from(cut);
            let truncated = ex.path.truncated || cut;
            let hash = hash_key(&self.hasher, TAG_NONE, key);
            let i = self.grpc.touch(hash, TAG_NONE, key, &at, &mut c.grpc);
            if let Some(e) = self.grpc.entries.get_mut(i) {
                e.truncated |= truncated;
                let hit = GrpcHit {
                    calls: HostHit {
                        requests: 1,
                        errors: u32::from(is_error),
                        request_bytes: ex.request_bytes,
                        response_bytes: ex.response_bytes,
                    },
                    code: ex.grpc_status.map(GrpcCode::slot),
                    bin: latency_bin,
                };
                for (w, &b) in bs.iter().enumerate() {
                    e.data.add(w, e.heads[w], b, hit);
                }
            }
        }

        let client = match (self.cfg.clients_by, ex.original_client) {
            (ClientsBy::Forwarded, Some(oc)) => Some(oc.ip),
            _ => ex.client.map(|c| c.ip()),
        };
        if let Some(ip) = client {
            let hash = self.hasher.hash_one(ip) as u32;
            let i = self.clients.touch(hash, TAG_NONE, &ip, &at, &mut c.clients);
            if let Some(e) = self.clients.entries.get_mut(i) {
                let bytes = ex.request_bytes.saturating_add(ex.response_bytes);
                if e.heads == bs {
                    e.data.add_head(req, bytes);
                } else {
                    for (w, &b) in bs.iter().enumerate() {
                        e.data.add(w, e.heads[w], b, req, bytes);
                    }
                }
            }
        }

        // TLS plaintext only: the one branch every other exchange pays.
        if let Some(p) = &ex.process {
            self.procs
                .add(ex, p, &at, latency_bin, &self.hasher, &mut c.keys_truncated);
            c.processes_evicted = self.procs.tc.evicted;
        }
    }

    /// Counts one WebSocket session (see [`WebSocketSummary`]).
    pub fn on_websocket(&mut self, ws: &WebSocketSession) {
        self.websocket.add(ws);
    }

    /// Counts one TLS connection at its end time (see the `tls` module of `stats`:
    /// server names, versions, ciphers, JA4, failures, handshake latency, expiring
    /// certificates; [`Report::tls`]).
    pub fn on_tls(&mut self, t: &TlsSession) {
        self.counters.tls_sessions += 1;
        let mut ts = t.end.0;
        if let Some(c) = self.clock {
            let bound = c.saturating_add(MAX_FUTURE_NS);
            if ts > bound {
                ts = bound;
                self.counters.future_clamped += 1;
            }
        }
        if ts > self.latest {
            self.move_latest(ts);
        }
        let bs = self.geo.buckets(ts);
        let cur = self.cur;
        if bs[R] + K as u32 <= cur[R] {
            self.counters.tls_too_old += 1;
            return;
        }
        let at = At {
            ts,
            bs,
            latest: self.latest,
            cur_r: cur[R],
            primary: 1,
        };
        let c = &mut self.counters;
        self.tls.add(
            t,
            &at,
            &self.hasher,
            self.cfg.max_key_len,
            &mut c.keys_truncated,
        );
        let tc = &self.tls.tc;
        c.tls_names_evicted = tc[0].evicted;
        c.tls_latency_evicted = tc[1].evicted;
        c.tls_versions_evicted = tc[2].evicted;
        c.tls_ciphers_evicted = tc[3].evicted;
        c.tls_ja4_evicted = tc[4].evicted;
        c.tls_failures_evicted = tc[5].evicted;
        c.tls_certs_dropped = self.tls.certs_dropped;
    }

    /// Keys held per TLS table: server names, latency histograms, versions, ciphers,
    /// JA4, failure kinds, expiring certificates.
    pub fn tls_table_sizes(&self) -> [usize; 7] {
        self.tls.sizes()
    }

    /// Rows held by the Processes table.
    pub fn process_keys(&self) -> usize {
        self.procs.len()
    }

    /// The WebSocket sessions ended so far.
    pub fn websocket(&self) -> &WebSocketSummary {
        &self.websocket
    }

    /// `(service, method)` rows held by the gRPC table.
    pub fn grpc_keys(&self) -> usize {
        self.grpc.len()
    }

    /// Approximate heap bytes in use now (entries, indexes, heaps, key strings, rings;
    /// reserved entry slots not yet used are not counted: nothing backs them). The worst
    /// case is [`StatsConfig::worst_case_bytes`].
    pub fn memory_estimate(&self) -> usize {
        self.sections.heap_bytes()
            + self.hosts.heap_bytes()
            + self.user_agents.heap_bytes()
            + self.methods.heap_bytes()
            + self.clients.heap_bytes()
            + self.latency.heap_bytes()
            + self.grpc.heap_bytes()
            + self.tls.heap_bytes()
            + self.procs.heap_bytes()
            + self.status.heap_bytes()
            + std::mem::size_of_val(&self.known_methods)
            + self.per_sec.heap_bytes()
            + self.per_min.heap_bytes()
            + self.scratch.capacity()
    }

    /// Keys held per bounded table: sections, hosts/servers, User-Agents, methods (other
    /// than the nine counted in a fixed array), clients, latency histograms.
    pub fn table_sizes(&self) -> [usize; 6] {
        [
            self.sections.len(),
            self.hosts.len(),
            self.user_agents.len(),
            self.methods.len(),
            self.clients.len(),
            self.latency.len(),
        ]
    }
}

#[inline]
fn cap(b: &[u8], max: usize) -> (&[u8], bool) {
    if b.len() > max {
        (&b[..max], true)
    } else {
        (b, false)
    }
}

/// The hash of a string key in its namespace (low 32 bits: all the index uses). The
/// bytes go to the hasher as one `write` (its length mixes in there), without the length
/// prefix and the namespace byte `Hash` would add (each a further multiply in `finish`);
/// the namespace is xored into the result instead. Tables compare the namespace and the
/// key bytes of every candidate anyway: the hash only has to spread the keys.
#[inline]
fn hash_key(h: &foldhash::fast::RandomState, tag: u8, key: &[u8]) -> u32 {
    use std::hash::Hasher;
    let mut s = h.build_hasher();
    s.write(key);
    (s.finish() as u32) ^ u32::from(tag)
}

/// One request for a key of a counts-only table.
#[inline]
fn count_key(
    t: &mut Table<ByteKey, Counts>,
    c: &mut TableCounters,
    h: &foldhash::fast::RandomState,
    key: &[u8],
    truncated: bool,
    at: &At,
) {
    let hash = hash_key(h, TAG_NONE, key);
    let i = t.touch(hash, TAG_NONE, key, at, c);
    if let Some(e) = t.entries.get_mut(i) {
        e.truncated |= truncated;
        if e.heads == at.bs {
            e.data.add_head(1);
        } else {
            for (w, &b) in at.bs.iter().enumerate() {
                e.data.add(w, e.heads[w], b, 1);
            }
        }
    }
}
