//! TLS statistics: one [`TlsSession`] per connection, counted at its end time in the same
//! windows, buckets and Space-Saving tables as the HTTP tables (see the module
//! documentation of `stats`), and read into a [`TlsReport`] per window.
//!
//! Contract:
//! - A session counts once, at its `end` (the time its event is emitted; a session
//!   longer than the retention window still counts). Times go through the same clamp as
//!   exchanges (`future_clamped`); a session older than the retention window is dropped
//!   (`tls_too_old`).
//! - **Server names** (`names`, at most [`MAX_TLS_NAMES`] and `max_keys`, windows like hosts): keyed by the SNI bytes,
//!   cut at `max_key_len`; a ClientHello without SNI counts under `(none)`, a connection
//!   whose ClientHello was not seen under `(no client hello)` (both in a namespace of
//!   their own: an SNI spelled `(none)` is another key). Per name: connections (count
//!   resolution), failed connections and bytes each way (attached resolution).
//! - **Handshake latency** (ClientHello to ServerHello) per server name, in histograms
//!   like a server's, for at most `max_latency_keys` names (`tls_latency_evicted`).
//! - **Versions** chosen by the server (at most [`MAX_TLS_VERSIONS`]), **cipher suites**
//!   chosen by the server and **JA4** fingerprints (at most [`MAX_TLS_KEYS`] each),
//!   **failures** (at most [`MAX_TLS_FAILURES`]): Space-Saving tables counted in
//!   connections, each with its `tls_*_evicted` counter.
//! - **Outcome**: `completed` ([`TlsFlags::COMPLETE`]); `failed`: a fatal alert (counted
//!   under its description and sender), or, without one, a ClientHello seen and no
//!   ServerHello (`no_server_hello`). Others (picked up mid-connection, a gap) are
//!   neither.
//! - **Certificates expiring** within [`EXPIRY_DAYS`] days of the session's end (expired
//!   ones included): at most [`MAX_EXPIRING_CERTS`], keyed by subject and `not_after`,
//!   earliest `not_after` kept when full (`tls_certs_dropped` counts each one left out or
//!   replaced); not windowed, purged once unseen for the retention period.
//!
//! Nothing here allocates for a session whose keys exist already (the JA4 string and
//! key bytes are looked up borrowed).

use super::hist;
use super::metrics::{ByteKey, Counts, HostData, HostHit, LatData, TAG_ADDR, TAG_HOST, TAG_NONE};
use super::report::{
    candidates, count_of, key_cmp, latency_of, select_top, share, top_n, wire, Row,
};
use super::ring::{Ring, K, RL, WINDOWS};
use super::table::{At, Table, TableCounters};
use super::{cap, hash_key};
use crate::event::WireStr;
use crate::tls::{names, TlsFlags, TlsSession};
use httptop_wire::Timestamp;

/// Server names kept (at most `max_keys`): a TLS name costs as much as a host, and
/// 10,000 of them would add 17 MiB to the worst case.
pub const MAX_TLS_NAMES: usize = 2_000;
/// Versions kept (there are five real ones; GREASE and garbage share the rest).
pub const MAX_TLS_VERSIONS: usize = 16;
/// Cipher suites and JA4 fingerprints kept, each.
pub const MAX_TLS_KEYS: usize = 256;
/// Failure kinds kept (alert description and sender; `no_server_hello`).
pub const MAX_TLS_FAILURES: usize = 64;
/// Certificates kept in the expiry table.
pub const MAX_EXPIRING_CERTS: usize = 32;
/// A certificate is listed when it expires within this many days (or has expired).
pub const EXPIRY_DAYS: i64 = 30;

/// The key of a ClientHello without SNI.
pub const NO_SNI: &str = "(none)";
/// The key of a connection whose ClientHello was not seen.
pub const NO_CLIENT_HELLO: &str = "(no client hello)";

/// Failure keys: first byte the kind, second the alert description.
const FAIL_CLIENT: u8 = 0;
const FAIL_SERVER: u8 = 1;
const FAIL_NO_SERVER_HELLO: u8 = 2;

/// Who sent a fatal alert, or why a handshake failed without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsFailure {
    /// A fatal alert with this description, sent by the client (`true`) or the server.
    Alert { description: u8, from_client: bool },
    /// A ClientHello, no ServerHello, no fatal alert.
    NoServerHello,
}

impl TlsFailure {
    /// `handshake_failure`, `unknown_ca`, .., `no_server_hello`; an unknown description
    /// is `alert_<n>`.
    pub fn reason(self) -> String {
        match self {
            TlsFailure::Alert { description, .. } => names::alert(description)
                .map_or_else(|| format!("alert_{description}"), str::to_string),
            TlsFailure::NoServerHello => "no_server_hello".to_string(),
        }
    }
    /// `client`, `server`, or `None` without an alert.
    pub fn sender(self) -> Option<&'static str> {
        match self {
            TlsFailure::Alert {
                from_client: true, ..
            } => Some("client"),
            TlsFailure::Alert { .. } => Some("server"),
            TlsFailure::NoServerHello => None,
        }
    }
    fn key(self) -> [u8; 2] {
        match self {
            TlsFailure::Alert {
                description,
                from_client,
            } => [
                if from_client {
                    FAIL_CLIENT
                } else {
                    FAIL_SERVER
                },
                description,
            ],
            TlsFailure::NoServerHello => [FAIL_NO_SERVER_HELLO, 0],
        }
    }
    fn of_key(k: &[u8]) -> TlsFailure {
        match k {
            [FAIL_NO_SERVER_HELLO, ..] => TlsFailure::NoServerHello,
            [kind, d, ..] => TlsFailure::Alert {
                description: *d,
                from_client: *kind == FAIL_CLIENT,
            },
            _ => TlsFailure::NoServerHello,
        }
    }

    /// How the session failed, if it did (see the module documentation).
    pub fn of(t: &TlsSession) -> Option<TlsFailure> {
        match t.alert {
            Some(a) if a.level == 2 => Some(TlsFailure::Alert {
                description: a.description,
                from_client: a.from_client,
            }),
            _ if t.flags.contains(TlsFlags::NO_SERVER_HELLO)
                && !t.flags.contains(TlsFlags::NO_CLIENT_HELLO) =>
            {
                Some(TlsFailure::NoServerHello)
            }
            _ => None,
        }
    }
}

/// One server name (SNI) in a window.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsNameRow {
    /// The SNI as sent, or [`NO_SNI`] / [`NO_CLIENT_HELLO`] when `sni` is false.
    pub key: WireStr,
    /// Whether `key` is a server name (not a placeholder).
    pub sni: bool,
    /// Connections (upper bound, as [`Row::count`]), count window.
    pub count: u64,
    pub error: u64,
    pub share: f64,
    /// Failed connections (fatal alert or no ServerHello), attached window.
    pub failed: u64,
    /// Bytes client to server and server to client, attached window.
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// Handshake latency samples and percentiles (latency window); 0 and `None` when the
    /// name has no histogram.
    pub latency_samples: u64,
    pub p50_ns: Option<u64>,
    pub p95_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub last_seen: Timestamp,
}

/// A protocol version chosen by servers.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsVersionRow {
    pub version: u16,
    /// `TLS 1.3` .. `SSL 3.0`, else `0x....`.
    pub name: String,
    /// TLS 1.1 and older (RFC 8996).
    pub deprecated: bool,
    pub count: u64,
    pub error: u64,
    pub share: f64,
}

/// A cipher suite chosen by servers.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsCipherRow {
    pub id: u16,
    /// The IANA name, else `0x....`.
    pub name: String,
    pub count: u64,
    pub error: u64,
    pub share: f64,
}

/// Failed connections of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFailureRow {
    pub failure: TlsFailure,
    pub count: u64,
    pub error: u64,
    /// Share of all connections.
    pub share: f64,
}

/// A certificate expiring soon (or expired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsCertRow {
    pub subject: WireStr,
    pub issuer: WireStr,
    /// The SNI of the latest connection that presented it (empty without SNI).
    pub sni: WireStr,
    /// Unix seconds.
    pub not_after: i64,
    /// Whole days from the report's time to `not_after` (negative once expired).
    pub days_left: i64,
    pub last_seen: Timestamp,
}

/// The TLS tables of one window ([`Report::tls`](super::Report::tls)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TlsReport {
    /// TLS connections ended in the count window.
    pub connections: u64,
    pub completed: u64,
    pub failed: u64,
    /// Top server names by connections.
    pub names: Vec<TlsNameRow>,
    /// Top server names by bytes both ways (attached window), descending.
    pub names_by_bytes: Vec<TlsNameRow>,
    pub versions: Vec<TlsVersionRow>,
    pub ciphers: Vec<TlsCipherRow>,
    /// JA4 fingerprints (keys are the JA4 strings).
    pub ja4: Vec<Row>,
    pub failures: Vec<TlsFailureRow>,
    /// Certificates expiring within [`EXPIRY_DAYS`] days, earliest first (not windowed:
    /// seen in the retention period; at most [`MAX_EXPIRING_CERTS`]).
    pub expiring_certs: Vec<TlsCertRow>,
}

#[derive(Clone, Debug)]
struct CertEntry {
    subject: WireStr,
    issuer: WireStr,
    sni: WireStr,
    not_after: i64,
    last_seen: u64,
}

/// The TLS tables (see the module documentation).
pub(crate) struct TlsTables {
    head: [u32; WINDOWS],
    connections: [Ring<u64, K>; WINDOWS],
    completed: [Ring<u64, K>; WINDOWS],
    failed: [Ring<u64, K>; WINDOWS],
    names: Table<ByteKey, HostData>,
    latency: Table<ByteKey, LatData>,
    versions: Table<ByteKey, Counts>,
    ciphers: Table<ByteKey, Counts>,
    ja4: Table<ByteKey, Counts>,
    failures: Table<ByteKey, Counts>,
    certs: Vec<CertEntry>,
    /// Per table: names, latency, versions, ciphers, JA4, failures.
    pub tc: [TableCounters; 6],
    pub certs_dropped: u64,
}

impl TlsTables {
    pub fn new(max_keys: usize, max_latency_keys: usize, wr: u64) -> Self {
        TlsTables {
            head: [0; WINDOWS],
            connections: Default::default(),
            completed: Default::default(),
            failed: Default::default(),
            names: Table::new(max_keys.min(MAX_TLS_NAMES), wr),
            latency: Table::new(max_latency_keys, wr * u64::from(RL)),
            versions: Table::new(MAX_TLS_VERSIONS, wr),
            ciphers: Table::new(MAX_TLS_KEYS, wr),
            ja4: Table::new(MAX_TLS_KEYS, wr),
            failures: Table::new(MAX_TLS_FAILURES, wr),
            certs: Vec::new(),
            tc: Default::default(),
            certs_dropped: 0,
        }
    }

    pub fn maintain(&mut self, cur_r: u32) {
        self.names.maintain(cur_r);
        self.latency.maintain(cur_r / RL);
        self.versions.maintain(cur_r);
        self.ciphers.maintain(cur_r);
        self.ja4.maintain(cur_r);
        self.failures.maintain(cur_r);
    }

    /// Purges keys idle for the retention period; `start` is the retention window's
    /// first instant (certificates unseen since are dropped too).
    pub fn purge(&mut self, cur_r: u32, start: u64) {
        let [a, b, c, d, e, f] = &mut self.tc;
        self.names.purge(cur_r, a);
        self.latency.purge(cur_r / RL, b);
        self.versions.purge(cur_r, c);
        self.ciphers.purge(cur_r, d);
        self.ja4.purge(cur_r, e);
        self.failures.purge(cur_r, f);
        self.certs.retain(|c| c.last_seen >= start);
    }

    pub fn names_floor(&self, cur_r: u32) -> u32 {
        self.names.floor(cur_r)
    }

    pub fn sizes(&self) -> [usize; 7] {
        [
            self.names.len(),
            self.latency.len(),
            self.versions.len(),
            self.ciphers.len(),
            self.ja4.len(),
            self.failures.len(),
            self.certs.len(),
        ]
    }

    pub fn heap_bytes(&self) -> usize {
        self.names.heap_bytes()
            + self.latency.heap_bytes()
            + self.versions.heap_bytes()
            + self.ciphers.heap_bytes()
            + self.ja4.heap_bytes()
            + self.failures.heap_bytes()
            + self.certs.capacity() * std::mem::size_of::<CertEntry>()
    }

    /// Heap bytes with every table full of `key`-byte keys (`key` the allocator's size).
    pub fn worst_case_bytes(max_keys: usize, max_latency_keys: usize, key: usize) -> usize {
        Table::<ByteKey, HostData>::worst_case_bytes(max_keys.min(MAX_TLS_NAMES), key)
            + Table::<ByteKey, LatData>::worst_case_bytes(max_latency_keys, key)
            + Table::<ByteKey, Counts>::worst_case_bytes(MAX_TLS_VERSIONS, alloc2())
            + Table::<ByteKey, Counts>::worst_case_bytes(MAX_TLS_KEYS, alloc2())
            + Table::<ByteKey, Counts>::worst_case_bytes(MAX_TLS_KEYS, key)
            + Table::<ByteKey, Counts>::worst_case_bytes(MAX_TLS_FAILURES, alloc2())
            + MAX_EXPIRING_CERTS * std::mem::size_of::<CertEntry>()
    }

    /// Counts one session at `at` (time already clamped and placed by the caller).
    pub fn add(
        &mut self,
        t: &TlsSession,
        at: &At,
        h: &foldhash::fast::RandomState,
        max_key: usize,
        keys_truncated: &mut u64,
    ) {
        let bs = at.bs;
        let k = K as u32;
        let failure = TlsFailure::of(t);
        let complete = t.flags.contains(TlsFlags::COMPLETE) && failure.is_none();
        for (w, &b) in bs.iter().enumerate() {
            let hd = self.head[w];
            if b > hd {
                self.connections[w].roll(hd, b);
                self.completed[w].roll(hd, b);
                self.failed[w].roll(hd, b);
                self.head[w] = b;
            }
            if b + k > self.head[w] {
                self.connections[w].add(b, 1, false);
                self.completed[w].add(b, u64::from(complete), false);
                self.failed[w].add(b, u64::from(failure.is_some()), false);
            }
        }
        let [tc_names, tc_lat, tc_ver, tc_ciph, tc_ja4, tc_fail] = &mut self.tc;

        // Server name, with bytes and failures.
        let (tag, key, truncated) = match &t.sni {
            Some(s) => {
                let (k, cut) = cap(s.as_bytes(), max_key);
                *keys_truncated += u64::from(cut);
                (TAG_HOST, k, s.truncated || cut)
            }
            None if t.flags.contains(TlsFlags::NO_CLIENT_HELLO) => {
                (TAG_ADDR, NO_CLIENT_HELLO.as_bytes(), false)
            }
            None => (TAG_ADDR, NO_SNI.as_bytes(), false),
        };
        let hash = hash_key(h, tag, key);
        let i = self.names.touch(hash, tag, key, at, tc_names);
        if let Some(e) = self.names.entries.get_mut(i) {
            e.truncated |= truncated;
            let hit = HostHit {
                requests: 1,
                errors: u32::from(failure.is_some()),
                request_bytes: t.bytes_to_server,
                response_bytes: t.bytes_to_client,
            };
            for (w, &b) in bs.iter().enumerate() {
                e.data.add(w, e.heads[w], b, hit);
            }
        }
        if let Some(ns) = t.handshake_ns {
            let bl = bs.map(|b| b / RL);
            let at_l = At {
                bs: bl,
                cur_r: at.cur_r / RL,
                ..*at
            };
            let i = self.latency.touch(hash, tag, key, &at_l, tc_lat);
            if let Some(e) = self.latency.entries.get_mut(i) {
                e.truncated |= truncated;
                let bin = hist::bin(ns);
                for (w, &b) in bl.iter().enumerate() {
                    if e.holds(w, b) {
                        e.data.add(w, b, bin);
                    }
                }
            }
        }

        let count = |t: &mut Table<ByteKey, Counts>, c: &mut TableCounters, key: &[u8]| {
            let hash = hash_key(h, TAG_NONE, key);
            let i = t.touch(hash, TAG_NONE, key, at, c);
            if let Some(e) = t.entries.get_mut(i) {
                for (w, &b) in bs.iter().enumerate() {
                    e.data.add(w, e.heads[w], b, 1);
                }
            }
        };
        if let Some(v) = t.version {
            count(&mut self.versions, tc_ver, &v.to_be_bytes());
        }
        if let Some(c) = t.cipher {
            count(&mut self.ciphers, tc_ciph, &c.to_be_bytes());
        }
        if let Some(j) = &t.ja4 {
            let (j, cut) = cap(j.as_bytes(), max_key);
            *keys_truncated += u64::from(cut);
            count(&mut self.ja4, tc_ja4, j);
        }
        if let Some(f) = failure {
            count(&mut self.failures, tc_fail, &f.key());
        }

        if let Some(cert) = &t.cert {
            let end = Timestamp(at.ts);
            if let (Some(na), Some(days)) = (cert.not_after, cert.days_left(end)) {
                if days <= EXPIRY_DAYS {
                    let subject = cert.subject.clone().unwrap_or_default();
                    let sni = t.sni.clone().unwrap_or_default();
                    self.add_cert(subject, cert.issuer.clone(), sni, na, at.ts);
                }
            }
        }
    }

    fn add_cert(
        &mut self,
        subject: WireStr,
        issuer: Option<WireStr>,
        sni: WireStr,
        not_after: i64,
        ts: u64,
    ) {
        if let Some(c) = self
            .certs
            .iter_mut()
            .find(|c| c.not_after == not_after && c.subject == subject)
        {
            c.last_seen = c.last_seen.max(ts);
            c.sni = sni;
            return;
        }
        let entry = CertEntry {
            subject,
            issuer: issuer.unwrap_or_default(),
            sni,
            not_after,
            last_seen: ts,
        };
        if self.certs.len() < MAX_EXPIRING_CERTS {
            self.certs.reserve_exact(MAX_EXPIRING_CERTS);
            self.certs.push(entry);
            return;
        }
        // Full: the latest expiry leaves (the new one, if it is the latest).
        self.certs_dropped += 1;
        let latest = self
            .certs
            .iter_mut()
            .max_by(|a, b| a.not_after.cmp(&b.not_after))
            .filter(|c| c.not_after > not_after);
        if let Some(c) = latest {
            *c = entry;
        }
    }

    /// The TLS tables of window `w` ending at count bucket `c` (`start` its first
    /// instant, `cl` the latency bucket, `now` the report's time).
    pub fn report(&self, w: usize, c: u32, start: u64, cl: u32, now: u64, top: usize) -> TlsReport {
        let connections = self.connections[w].sum(self.head[w], c);
        let completed = self.completed[w].sum(self.head[w], c);
        let failed = self.failed[w].sum(self.head[w], c);

        let name_row = |n: u64, err: u64, e: &super::table::Entry<ByteKey, HostData>| {
            let (failed, to_server, to_client) = e.data.attached(w, e.heads[w], c);
            let lat = self
                .latency
                .get(e.hash, e.tag, &e.key)
                .map(|l| latency_of(&l.data, l.heads[w], w, cl));
            let (samples, p) = lat.unwrap_or((0, [None; 3]));
            TlsNameRow {
                key: wire(e),
                sni: e.tag == TAG_HOST,
                count: n,
                error: err,
                share: share(n, connections),
                failed: u64::from(failed),
                bytes_to_server: to_server,
                bytes_to_client: to_client,
                latency_samples: samples,
                p50_ns: p[0],
                p95_ns: p[1],
                p99_ns: p[2],
                last_seen: Timestamp(e.last_seen),
            }
        };
        let names = top_n(candidates(&self.names, w, c, start, |_| true), top)
            .into_iter()
            .map(|(n, err, e)| name_row(n, err, e))
            .collect();
        let mut by_bytes: Vec<_> = self
            .names
            .entries
            .iter()
            .filter_map(|e| {
                let (_, a, b) = e.data.attached(w, e.heads[w], c);
                (a > 0 || b > 0).then_some((a.saturating_add(b), e))
            })
            .collect();
        select_top(&mut by_bytes, top, |a, b| {
            b.0.cmp(&a.0).then_with(|| key_cmp(a.1, b.1))
        });
        let names_by_bytes = by_bytes
            .into_iter()
            .map(|(_, e)| {
                let (n, err) = count_of(e, w, c, start);
                name_row(n, err, e)
            })
            .collect();

        let rows = |t| top_n(candidates(t, w, c, start, |_| true), top);
        let u16_of = |k: &[u8]| match k {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        let versions = rows(&self.versions)
            .into_iter()
            .map(|(n, err, e)| {
                let v = u16_of(&e.key);
                TlsVersionRow {
                    version: v,
                    name: names::version(v).map_or_else(|| format!("0x{v:04x}"), str::to_string),
                    deprecated: names::deprecated(v),
                    count: n,
                    error: err,
                    share: share(n, connections),
                }
            })
            .collect();
        let ciphers = rows(&self.ciphers)
            .into_iter()
            .map(|(n, err, e)| {
                let id = u16_of(&e.key);
                TlsCipherRow {
                    id,
                    name: names::cipher(id).map_or_else(|| format!("0x{id:04x}"), str::to_string),
                    count: n,
                    error: err,
                    share: share(n, connections),
                }
            })
            .collect();
        let ja4 = rows(&self.ja4)
            .into_iter()
            .map(|(n, err, e)| Row {
                key: wire(e),
                count: n,
                error: err,
                share: share(n, connections),
                last_seen: Timestamp(e.last_seen),
            })
            .collect();
        // Failures: every kind (at most MAX_TLS_FAILURES), by count.
        let mut fails = candidates(&self.failures, w, c, start, |_| true);
        select_top(&mut fails, MAX_TLS_FAILURES, |a, b| {
            b.0.cmp(&a.0).then_with(|| key_cmp(a.2, b.2))
        });
        let failures = fails
            .into_iter()
            .map(|(n, err, e)| TlsFailureRow {
                failure: TlsFailure::of_key(&e.key),
                count: n,
                error: err,
                share: share(n, connections),
            })
            .collect();

        let now_s = i64::try_from(now / super::ring::SEC).unwrap_or(i64::MAX);
        let mut expiring_certs: Vec<TlsCertRow> = self
            .certs
            .iter()
            .map(|c| TlsCertRow {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
                sni: c.sni.clone(),
                not_after: c.not_after,
                days_left: c.not_after.saturating_sub(now_s).div_euclid(86_400),
                last_seen: Timestamp(c.last_seen),
            })
            .collect();
        expiring_certs.sort_by(|a, b| {
            a.not_after
                .cmp(&b.not_after)
                .then_with(|| a.subject.bytes.cmp(&b.subject.bytes))
        });

        TlsReport {
            connections,
            completed,
            failed,
            names,
            names_by_bytes,
            versions,
            ciphers,
            ja4,
            failures,
            expiring_certs,
        }
    }
}

/// The allocator's size of a 2-byte key.
const fn alloc2() -> usize {
    super::table::alloc_size(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Stats, StatsConfig, Window};
    use crate::tls::{TlsAlert, TlsCert};

    const T0: u64 = 1_700_000_000;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn session(sni: Option<&str>, end: u64) -> TlsSession {
        TlsSession {
            ts: at(end),
            end: at(end),
            sni: sni.map(|s| WireStr::capped(s.as_bytes(), 1024)),
            version: Some(0x0304),
            cipher: Some(0x1301),
            ja4: Some("t13d1516h2_8daaf6152771_e5627efa2ab1".to_string()),
            handshake_ns: Some(2_000_000),
            bytes_to_server: 100,
            bytes_to_client: 1_000,
            flags: TlsFlags::COMPLETE,
            ..TlsSession::default()
        }
    }

    fn stats() -> Stats {
        let mut s = Stats::new(StatsConfig::default());
        s.advance(at(T0));
        s
    }

    fn cert(subject: &str, not_after: i64) -> Option<Box<TlsCert>> {
        Some(Box::new(TlsCert {
            subject: Some(WireStr::capped(subject.as_bytes(), 64)),
            issuer: Some(WireStr::capped(b"Test CA", 64)),
            not_after: Some(not_after),
            ..TlsCert::default()
        }))
    }

    #[test]
    fn tables_count_names_versions_ciphers_ja4_and_failures() {
        let mut s = stats();
        for _ in 0..3 {
            s.on_tls(&session(Some("a.example"), T0));
        }
        // TLS 1.0 without SNI.
        s.on_tls(&TlsSession {
            version: Some(0x0301),
            cipher: Some(0xc02f),
            ..session(None, T0)
        });
        // A fatal unknown_ca from the client.
        s.on_tls(&TlsSession {
            alert: Some(TlsAlert {
                level: 2,
                description: 48,
                from_client: true,
            }),
            flags: TlsFlags::default(),
            ..session(Some("b.example"), T0)
        });
        // No ServerHello, no alert.
        s.on_tls(&TlsSession {
            version: None,
            cipher: None,
            handshake_ns: None,
            bytes_to_client: 0,
            flags: TlsFlags::NO_SERVER_HELLO,
            ..session(Some("b.example"), T0)
        });
        // Picked up mid-connection: neither completed nor failed.
        s.on_tls(&TlsSession {
            sni: None,
            version: None,
            cipher: None,
            ja4: None,
            handshake_ns: None,
            flags: TlsFlags(TlsFlags::NO_CLIENT_HELLO.0 | TlsFlags::NO_SERVER_HELLO.0),
            bytes_to_server: 50_000,
            ..session(None, T0)
        });
        let r = s.report(Window::Min1, at(T0)).tls;
        assert_eq!((r.connections, r.completed, r.failed), (7, 4, 2));

        let names: Vec<(&[u8], bool, u64, u64)> = r
            .names
            .iter()
            .map(|n| (n.key.as_bytes(), n.sni, n.count, n.failed))
            .collect();
        assert_eq!(
            names,
            [
                (&b"a.example"[..], true, 3, 0),
                (b"b.example", true, 2, 2),
                (b"(no client hello)", false, 1, 0),
                (b"(none)", false, 1, 0),
            ]
        );
        let a = &r.names[0];
        assert_eq!((a.bytes_to_server, a.bytes_to_client), (300, 3_000));
        assert_eq!(a.latency_samples, 3);
        let p50 = a.p50_ns.unwrap_or(0) as f64;
        assert!((p50 / 2e6 - 1.0).abs() < 0.01, "{p50}");
        assert_eq!(r.names[1].latency_samples, 1);
        // By bytes: the mid-connection one first (50,000 + 1,000).
        assert_eq!(r.names_by_bytes[0].key.as_bytes(), b"(no client hello)");
        assert_eq!(r.names_by_bytes[1].key.as_bytes(), b"a.example");

        let versions: Vec<(&str, bool, u64)> = r
            .versions
            .iter()
            .map(|v| (v.name.as_str(), v.deprecated, v.count))
            .collect();
        assert_eq!(versions, [("TLS 1.3", false, 4), ("TLS 1.0", true, 1)]);
        assert_eq!(r.ciphers[0].name, "TLS_AES_128_GCM_SHA256");
        assert_eq!(r.ciphers[0].count, 4);
        assert_eq!(r.ciphers[1].name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(r.ja4.len(), 1);
        assert_eq!(r.ja4[0].count, 6);
        assert_eq!(
            r.ja4[0].key.as_bytes(),
            b"t13d1516h2_8daaf6152771_e5627efa2ab1"
        );

        let fails: Vec<(String, Option<&str>, u64)> = r
            .failures
            .iter()
            .map(|f| (f.failure.reason(), f.failure.sender(), f.count))
            .collect();
        assert_eq!(
            fails,
            [
                ("unknown_ca".to_string(), Some("client"), 1),
                ("no_server_hello".to_string(), None, 1),
            ]
        );
        assert_eq!(s.counters().tls_sessions, 7);
    }

    #[test]
    fn windows_and_too_old() {
        let mut s = stats();
        s.on_tls(&session(Some("old.example"), T0));
        s.advance(at(T0 + 120));
        s.on_tls(&session(Some("new.example"), T0 + 120));
        let m1 = s.report(Window::Min1, at(T0 + 120)).tls;
        let m10 = s.report(Window::Min10, at(T0 + 120)).tls;
        assert_eq!(m1.connections, 1);
        assert_eq!(m1.names.len(), 1);
        assert_eq!(m10.connections, 2);
        assert_eq!(m10.names.len(), 2);
        s.advance(at(T0 + 3 * 86_400));
        s.on_tls(&session(Some("x"), T0));
        assert_eq!(s.counters().tls_too_old, 1);
        // A bogus future time moves the windows by at most 5 s.
        s.on_tls(&session(Some("y"), u64::MAX / 1_000_000_000));
        assert_eq!(s.counters().future_clamped, 1);
    }

    #[test]
    fn expiring_certificates_earliest_first_with_negative_days() {
        let mut s = stats();
        let now = T0 as i64;
        let day = 86_400;
        for (subject, na) in [
            ("later", now + 100 * day),
            ("soon", now + 10 * day + 5),
            ("expired", now - 3 * day + 5),
            ("edge", now + 30 * day + 5),
            ("past-edge", now + 31 * day + 5),
        ] {
            s.on_tls(&TlsSession {
                cert: cert(subject, na),
                ..session(Some("c.example"), T0)
            });
        }
        // Seen again: still one row.
        s.on_tls(&TlsSession {
            cert: cert("soon", now + 10 * day + 5),
            ..session(Some("d.example"), T0)
        });
        let r = s.report(Window::Min1, at(T0)).tls;
        let rows: Vec<(&[u8], i64, &[u8])> = r
            .expiring_certs
            .iter()
            .map(|c| (c.subject.as_bytes(), c.days_left, c.sni.as_bytes()))
            .collect();
        assert_eq!(
            rows,
            [
                (&b"expired"[..], -3, &b"c.example"[..]),
                (b"soon", 10, b"d.example"),
                (b"edge", 30, b"c.example"),
            ]
        );
        assert_eq!(r.expiring_certs[0].issuer.as_bytes(), b"Test CA");
        // Days count down with the report's time.
        let r = s.report(Window::Min1, at(T0 + 86_400)).tls;
        assert_eq!(r.expiring_certs[1].days_left, 9);
    }

    #[test]
    fn expiring_certificates_are_capped_keeping_the_earliest() {
        for n in [
            MAX_EXPIRING_CERTS - 1,
            MAX_EXPIRING_CERTS,
            MAX_EXPIRING_CERTS + 1,
        ] {
            let mut s = stats();
            // Latest first, so that every certificate past the cap replaces one.
            for i in (0..n).rev() {
                s.on_tls(&TlsSession {
                    cert: cert(&format!("c{i}"), T0 as i64 + i as i64 * 60),
                    ..session(Some("c.example"), T0)
                });
            }
            let r = s.report(Window::Min1, at(T0)).tls;
            assert_eq!(r.expiring_certs.len(), n.min(MAX_EXPIRING_CERTS));
            assert_eq!(r.expiring_certs[0].subject.as_bytes(), b"c0");
            let dropped = n.saturating_sub(MAX_EXPIRING_CERTS) as u64;
            assert_eq!(s.counters().tls_certs_dropped, dropped);
            if n > MAX_EXPIRING_CERTS {
                // The latest one left.
                let last = format!("c{}", MAX_EXPIRING_CERTS - 1);
                assert_eq!(
                    r.expiring_certs.last().map(|c| c.subject.as_bytes()),
                    Some(last.as_bytes())
                );
            }
        }
    }

    #[test]
    fn version_table_full_counts_evictions() {
        for n in [MAX_TLS_VERSIONS - 1, MAX_TLS_VERSIONS, MAX_TLS_VERSIONS + 1] {
            let mut s = stats();
            for v in 0..n as u16 {
                s.on_tls(&TlsSession {
                    version: Some(0x7f00 + v),
                    ..session(Some("v.example"), T0)
                });
            }
            let evicted = n.saturating_sub(MAX_TLS_VERSIONS) as u64;
            assert_eq!(s.counters().tls_versions_evicted, evicted);
            let r = s.report(Window::Min1, at(T0)).tls;
            assert_eq!(r.versions.len(), n.min(10));
            assert!(r.versions.iter().all(|v| v.name.starts_with("0x7f")));
        }
    }

    #[test]
    fn handshake_latency_names_are_capped() {
        let mut s = Stats::new(StatsConfig {
            max_latency_keys: 2,
            ..StatsConfig::default()
        });
        s.advance(at(T0));
        for name in ["a", "b", "c"] {
            s.on_tls(&session(Some(name), T0));
        }
        assert_eq!(s.counters().tls_latency_evicted, 1);
        assert_eq!(s.counters().tls_names_evicted, 0);
        let r = s.report(Window::Min1, at(T0)).tls;
        assert_eq!(r.names.len(), 3);
        let with_latency = r.names.iter().filter(|n| n.latency_samples > 0).count();
        assert_eq!(with_latency, 2);
    }

    #[test]
    fn hostile_values_do_not_panic() {
        let mut s = stats();
        let long = vec![b'x'; 5000];
        s.on_tls(&TlsSession {
            sni: Some(WireStr::capped(&long, 4096)),
            ja4: Some(String::from_utf8_lossy(&long).into_owned()),
            handshake_ns: Some(u64::MAX),
            bytes_to_server: u64::MAX,
            bytes_to_client: u64::MAX,
            alert: Some(TlsAlert {
                level: 2,
                description: 255,
                from_client: false,
            }),
            version: Some(0xffff),
            cipher: Some(0xffff),
            cert: cert("", -1),
            ..session(None, T0)
        });
        s.on_tls(&TlsSession {
            cert: cert("min", i64::MIN),
            ..session(None, T0)
        });
        s.on_tls(&TlsSession {
            cert: cert("max", i64::MAX),
            ..TlsSession::default()
        });
        let r = s.report(Window::Retention, at(T0)).tls;
        let long = r.names.iter().find(|n| n.sni).map(|n| &n.key);
        assert_eq!(
            long.map(|k| (k.as_bytes().len(), k.truncated)),
            Some((1024, true))
        );
        assert!(r.versions.iter().any(|v| v.name == "0xffff"));
        assert!(r.ciphers.iter().any(|c| c.name == "0xffff"));
        assert_eq!(r.failures[0].failure.reason(), "alert_255");
        assert_eq!(r.failures[0].failure.sender(), Some("server"));
        // i64::MIN has no days left (overflow) and i64::MAX is far: only the first.
        assert_eq!(r.expiring_certs.len(), 1);
        assert!(r.expiring_certs[0].days_left < 0);
        assert!(s.counters().keys_truncated >= 2);
    }
}
