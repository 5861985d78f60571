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
//!   a counter in [`StatsCounters`]; the worst case with the defaults is 47.3 MiB (table
//!   below), computed by [`StatsConfig::worst_case_bytes`] and checked by a test that
//!   fills every table with 1,024-byte keys.
//!
//! # What is counted
//!
//! An exchange with a request (every exchange but `Flags::NO_REQUEST` ones) counts as one
//! request in: the totals and rate series; its **section** (`host + section`, e.g.
//! `example.com/api`; a target that does not start with `/`, such as a CONNECT authority
//! or `*`, is its own key without the host); its **User-Agent** (empty when absent); its
//! **method**; its **host/server**; its **client** address (IP, without port). A final
//! status counts one **response** under its **status code** (classes `1xx`..`5xx` and
//! `other` are summed from the codes). Request and response bytes go to the host/server
//! and (together) to the client; a 5xx answer to a request counts as a server error; a
//! latency goes to the server's histogram.
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
//! | window | counts (requests, responses, codes; all tables) | attached (bytes, 5xx, error rate) | latency histograms |
//! | --- | --- | --- | --- |
//! | 1 minute | 12 × 5 s (55–60 s) | 6 × 10 s (50–60 s) | 3 × 20 s (40–60 s) |
//! | 10 minutes | 12 × 50 s | 6 × 100 s | 3 × 200 s |
//! | 1 hour | 12 × 5 min | 6 × 10 min | 3 × 20 min |
//! | retention (24 h) | 12 × 2 h | 6 × 4 h | 3 × 8 h |
//!
//! The retention period is 2 h .. 31 days, rounded down to 12 minutes; its buckets are
//! `retention / 12`. The coarser resolutions of the attached metrics and of latency are
//! the price of the memory budget: a key's bytes, 5xx count and error rate are over the
//! attached window (error rates divide 5xx by the requests of that same window), and a
//! server's percentiles over the latency window.
//!
//! The **rate series** are global rings: requests per second for the last hour
//! ([`Stats::rate_per_second`], 3,600 points) and per minute for the retention period
//! ([`Stats::rate_per_minute`]), exact per second / minute.
//!
//! **Latency** histograms have 110 log-linear bins (4 per power of two from 1.024 µs to
//! 137 s, one below, one above). p50/p95/p99 are nearest-rank quantiles answered within
//! 1/9 (11.1 %) relative error for latencies in that range (tested against a sorted
//! vector); below 1.024 µs the answer is 512 ns, above 137 s it is 137 s.
//!
//! # Bounded tables: Space-Saving over sliding windows
//!
//! Sections, hosts/servers, User-Agents and clients hold at most `max_keys` keys each
//! (10,000); methods other than the nine common ones (GET, POST, HEAD, PUT, DELETE,
//! OPTIONS, PATCH, CONNECT, TRACE, counted in a fixed array) at most `max_method_keys`
//! (64); latency histograms exist for at most `max_latency_keys` servers (64), a table
//! of its own with the same policy, keyed like the servers. Status codes need no cap:
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
//! | latency histograms (12 × 110 bins per server) | 64 | 5,384 B | 6,452 B | 0.39 MiB |
//! | status codes | 1,001 | 224 B | | 0.22 MiB |
//! | rate series (3,600 s + 1,440 min), totals, floors | | | | 0.04 MiB |
//! | **total** ([`StatsConfig::worst_case_bytes`]) | | | | **47.3 MiB** |
//!
//! An entry is a 56-byte header (key pointer, last seen, hash, entry time, error, ring
//! heads, namespace, truncation mark) plus its rings, per window: 48 bytes for a count
//! (12 × `u32`), 48 for a byte count (6 × `u64`), 24 for the 5xx count. Measured: a process holding only a full `Stats` grows by 47.7 MiB of resident
//! memory. Entry arrays are reserved at their cap in one allocation, which the allocator
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

mod hist;
mod metrics;
mod ring;
mod table;
#[cfg(test)]
mod tests;

pub use table::TableCounters;

use crate::event::{Exchange, Flags, WireStr};
use httptop_wire::Timestamp;
use metrics::{
    known_method, ByteKey, ClientData, Counts, FixedEntry, HostData, HostHit, LatData, StatusTable,
    KNOWN_METHODS, OTHER_CODE, TAG_ADDR, TAG_HOST, TAG_NONE,
};
use ring::{Geometry, HeadRing, Ring, K, KA, KL, RA, RL, SEC, WINDOWS};
use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::net::IpAddr;
use table::{alloc_size, At, Entry, Payload, Table};

/// Exchanges stamped more than this after the latest [`Stats::advance`] are placed at
/// that bound (see the module documentation, "Time").
pub const MAX_FUTURE_NS: u64 = 5 * SEC;
/// Smallest retention period accepted (shorter values are raised to it).
pub const MIN_RETENTION_NS: u64 = 2 * 3600 * SEC;
/// Largest retention period accepted (longer values are lowered to it).
pub const MAX_RETENTION_NS: u64 = 31 * 24 * 3600 * SEC;
/// Retention periods are rounded down to a multiple of this (so that a retention bucket
/// is a whole number of minutes).
pub const RETENTION_STEP_NS: u64 = K as u64 * 60 * SEC;
/// Largest `max_keys` accepted.
pub const MAX_KEYS_LIMIT: usize = 1 << 24;

const R: usize = WINDOWS - 1;

/// Settings of the statistics engine. Every field that bounds memory is a cap with the
/// policy and counter given in the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsConfig {
    /// Rows per top table in a [`Report`] (default 10).
    pub top: usize,
    /// Distinct keys kept per table: sections, hosts/servers, User-Agents, clients
    /// (default 10,000; 1 ..= 2^24).
    pub max_keys: usize,
    /// Distinct methods kept besides the nine common ones, which have fixed slots
    /// (default 64; at most `max_keys`).
    pub max_method_keys: usize,
    /// Servers with latency histograms (default 64; at most `max_keys`).
    pub max_latency_keys: usize,
    /// Bytes kept of a key; longer keys are cut and marked truncated (default 1024, the
    /// engine's default `max_string_len`; at least 16).
    pub max_key_len: usize,
    /// The longest window (default 24 h; 2 h ..= 31 days, rounded down to 12 minutes).
    pub retention_ns: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            top: 10,
            max_keys: 10_000,
            max_method_keys: 64,
            max_latency_keys: 64,
            max_key_len: 1024,
            retention_ns: 24 * 3600 * SEC,
        }
    }
}

impl StatsConfig {
    /// The configuration actually used: every field brought into its documented range.
    pub fn validated(&self) -> StatsConfig {
        let max_keys = self.max_keys.clamp(1, MAX_KEYS_LIMIT);
        let retention = self.retention_ns.clamp(MIN_RETENTION_NS, MAX_RETENTION_NS);
        StatsConfig {
            top: self.top,
            max_keys,
            max_method_keys: self.max_method_keys.clamp(1, max_keys),
            max_latency_keys: self.max_latency_keys.clamp(1, max_keys),
            max_key_len: self.max_key_len.max(16),
            retention_ns: retention - retention % RETENTION_STEP_NS,
        }
    }

    /// Heap bytes of a [`Stats`] with this configuration when every table is full of keys
    /// of `max_key_len` bytes: the bound the module documentation's budget table lists.
    pub fn worst_case_bytes(&self) -> usize {
        let c = self.validated();
        let key = alloc_size(c.max_key_len);
        let per_min = (c.retention_ns / (60 * SEC)) as usize;
        Table::<ByteKey, Counts>::worst_case_bytes(c.max_keys, key) * 2
            + Table::<ByteKey, HostData>::worst_case_bytes(c.max_keys, key)
            + Table::<IpAddr, ClientData>::worst_case_bytes(c.max_keys, 0)
            + Table::<ByteKey, Counts>::worst_case_bytes(c.max_method_keys, key)
            + Table::<ByteKey, LatData>::worst_case_bytes(c.max_latency_keys, key)
            + StatusTable::worst_case_bytes()
            + KNOWN_METHODS.len() * std::mem::size_of::<Option<FixedEntry>>()
            + (3600 + per_min) * 8
            + 2 * c.max_key_len
            + 64
    }
}

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
    /// Requests answered 5xx, in the attached window.
    pub errors_5xx: u64,
    /// `errors_5xx` over the requests of the same (attached) window.
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
    pub floors: Floors,
}

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
    } extra {
        pub sections: TableCounters,
        pub hosts: TableCounters,
        pub user_agents: TableCounters,
        pub methods: TableCounters,
        pub clients: TableCounters,
        pub latency: TableCounters,
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

    fn move_latest(&mut self, t: u64) {
        self.latest = t;
        // Every bucket edge of every window is a multiple of 5 s (the 1-minute window's
        // bucket): inside the current one, no bucket changes.
        if t < self.cur_end {
            return;
        }
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
        let start = self.geo.start(R, r, 1, K);
        c.status_purged += self.status.purge(start);
    }

    /// Counts one exchange at its time `ex.ts` (see the module documentation for
    /// out-of-order and future times).
    pub fn on_exchange(&mut self, ex: &Exchange) {
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
        let is_5xx = is_req && matches!(ex.status, Some(500..=599));
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
                errors: u32::from(is_5xx),
                request_bytes: ex.request_bytes,
                response_bytes: ex.response_bytes,
            };
            for (w, &b) in bs.iter().enumerate() {
                e.data.add(w, e.heads[w], b, hit);
            }
        }
        if let (true, Some(lat)) = (is_req, ex.latency_ns) {
            let bl = bs.map(|b| b / RL);
            let at_l = At {
                bs: bl,
                cur_r: at.cur_r / RL,
                ..at
            };
            let i = self.latency.touch(hash, tag, key, &at_l, &mut c.latency);
            if let Some(e) = self.latency.entries.get_mut(i) {
                e.truncated |= truncated;
                let bin = hist::bin(lat);
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

        if let Some(client) = ex.client {
            let ip = client.ip();
            let hash = self.hasher.hash_one(ip) as u32;
            let i = self.clients.touch(hash, TAG_NONE, &ip, &at, &mut c.clients);
            if let Some(e) = self.clients.entries.get_mut(i) {
                let bytes = ex.request_bytes.saturating_add(ex.response_bytes);
                for (w, &b) in bs.iter().enumerate() {
                    e.data.add(w, e.heads[w], b, req, bytes);
                }
            }
        }
    }

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
                let errors_5xx = u64::from(e.data.attached(w, e.heads[w], c).0);
                let req_a = u64::from(e.data.count(w, e.heads[w], c, from_a));
                let lat = self
                    .latency
                    .get(e.hash, e.tag, &e.key)
                    .map(|l| latency_of(l, w, cl));
                let (samples, p) = lat.unwrap_or((0, [None; 3]));
                ServerRow {
                    key: wire(e),
                    is_address: e.tag == TAG_ADDR,
                    count: n,
                    error: err,
                    share: share(n, requests),
                    errors_5xx,
                    error_rate: share(errors_5xx, req_a),
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

        let fr = cur[R];
        let floors = Floors {
            sections: u64::from(self.sections.floor(fr)),
            hosts: u64::from(self.hosts.floor(fr)),
            user_agents: u64::from(self.user_agents.floor(fr)),
            methods: u64::from(self.methods.floor(fr)),
            clients: u64::from(self.clients.floor(fr)),
            latency: u64::from(self.latency.floor(fr / RL)),
        };

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
            floors,
        }
    }

    /// Requests per second over the last hour ending at `now` (the latest time seen, if
    /// later): 3,600 points `(start of the second, requests)`, oldest first, the last one
    /// the current, partial second.
    pub fn rate_per_second(&self, now: Timestamp) -> Vec<(Timestamp, u64)> {
        let cur = now.0.max(self.latest) / SEC;
        series(&self.per_sec, cur, SEC)
    }

    /// Requests per minute over the retention period ending at `now`: one point per
    /// minute `(start of the minute, requests)`, oldest first.
    pub fn rate_per_minute(&self, now: Timestamp) -> Vec<(Timestamp, u64)> {
        let cur = now.0.max(self.latest) / (60 * SEC);
        series(&self.per_min, cur, 60 * SEC)
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

/// The hash of a string key in its namespace (low 32 bits: all the index uses).
#[inline]
fn hash_key(h: &foldhash::fast::RandomState, tag: u8, key: &[u8]) -> u32 {
    h.hash_one((tag, key)) as u32
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
        for (w, &b) in at.bs.iter().enumerate() {
            e.data.add(w, e.heads[w], b, 1);
        }
    }
}

/// Count of an entry in window `w` ending at `c`, with its error.
fn count_of<K, P: Payload>(e: &Entry<K, P>, w: usize, c: u32, start: u64) -> (u64, u64) {
    let own = u64::from(e.data.primary(w, e.heads[w], c));
    let err = if e.err_applies(start) {
        u64::from(e.err)
    } else {
        0
    };
    (own + err, err)
}

type Cand<'a, K, P> = (u64, u64, &'a Entry<K, P>);

fn candidates<'a, P: Payload>(
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

fn key_cmp<P>(a: &Entry<ByteKey, P>, b: &Entry<ByteKey, P>) -> Ordering {
    a.key.cmp(&b.key).then(a.tag.cmp(&b.tag))
}

fn top_n<P>(mut v: Vec<Cand<'_, ByteKey, P>>, n: usize) -> Vec<Cand<'_, ByteKey, P>> {
    select_top(&mut v, n, |a, b| {
        b.0.cmp(&a.0).then_with(|| key_cmp(a.2, b.2))
    });
    v
}

/// Keeps the first `n` of `v` in the order `cmp` (a total order), sorted.
fn select_top<T>(v: &mut Vec<T>, n: usize, cmp: impl Fn(&T, &T) -> Ordering) {
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

fn share(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64 / total as f64).min(1.0)
    }
}

fn wire<P>(e: &Entry<ByteKey, P>) -> WireStr {
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

/// Samples and p50/p95/p99 of a server's latency window `w` ending at latency bucket `cl`.
fn latency_of(e: &Entry<ByteKey, LatData>, w: usize, cl: u32) -> (u64, [Option<u64>; 3]) {
    let mut h = [0u64; hist::BINS];
    let (lo, hi) = ring::span::<KL>(e.heads[w], cl, 0);
    for (d, bin) in h.iter_mut().zip(e.data.h.iter()) {
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

fn series(r: &HeadRing<u64>, cur: u64, width: u64) -> Vec<(Timestamp, u64)> {
    let n = r.len() as u64;
    let first = (cur + 1).saturating_sub(n);
    (first..=cur)
        .map(|b| (Timestamp(b.saturating_mul(width)), r.get(b, cur)))
        .collect()
}
