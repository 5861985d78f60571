//! The Processes table: exchanges read from TLS plaintext ([`crate::plain`]) counted per
//! process command name and role, in the same windows, buckets and Space-Saving policy
//! as the other top tables (see the module documentation of `stats`), read into
//! [`ProcessRow`]s ([`Report::processes`](super::Report::processes)).
//!
//! Contract:
//! - **Only exchanges with a process count** (`Exchange::process`): from the wire there is
//!   none, and `Stats::on_exchange` spends one branch on it. No process at all: the table
//!   stays empty and every presenter hides it.
//! - **Key: role and command name.** The command name is the kernel's `comm` as the probe
//!   read it: untrusted bytes (a process names itself), kept as bytes (not sanitised
//!   here; presenters escape them like any wire string), cut at [`MAX_COMM_LEN`] bytes
//!   (the kernel keeps 15) and marked truncated when cut. The role is a namespace of its
//!   own: `nginx` as a server and `nginx` as a client (proxying upstream over TLS) are
//!   two rows.
//! - **Roles.** `Exchange::process` is the side whose SSL calls were read. With
//!   `peer_process` (both ends on this host, e.g. curl -> nginx), `process` is the
//!   client's and `peer_process` the server's (the engine's plaintext source decides this
//!   whichever end it read, see [`crate::plain`]): the exchange counts once under the
//!   client's name as [`ProcessRole::Client`] and once under the server's name as
//!   [`ProcessRole::Server`]. Without a peer, `process` counts as a server when it wrote
//!   the responses (`Exchange::process_is_server`), else as a client. Hence the client
//!   rows and the server rows each add up to at most the window's requests (a share is
//!   of all requests).
//! - **Per row**: requests (count resolution, the Space-Saving metric: an upper bound
//!   with its `error`, as every `Row`), final responses (count resolution), failed
//!   requests (`Exchange::is_error`), request and response bytes (attached resolution),
//!   latency p50/p95/p99 of its requests (latency resolution, histograms like a
//!   server's: within 1 %).
//! - **Cap**: at most [`MAX_PROCESS_KEYS`] (and `max_keys`) rows; a new key at a full
//!   table replaces the one with the smallest score (`processes_evicted`). A row holds
//!   latency histograms (about 58 KiB), hence the small cap: 1.8 MiB at worst, which keeps
//!   the whole process under its 100 MiB ceiling (ARCHITECTURE.md, memory budget). A host
//!   rarely runs more than a few dozen distinct TLS-speaking commands; the top of the
//!   table is what a report shows.
//!
//! Nothing here allocates for an exchange whose key exists already.

use super::hist::BINS;
use super::metrics::{ByteKey, Counts, HostData, HostHit, LatData};
use super::report::{candidates, latency_of, share, top_n};
use super::ring::{KL, RL};
use super::table::{At, Payload, Table, TableCounters};
use super::{cap, hash_key};
use crate::event::{Exchange, Process, WireStr};
use httptop_wire::Timestamp;

/// Rows kept (at most `max_keys`).
pub const MAX_PROCESS_KEYS: usize = 32;
/// Bytes kept of a command name (the kernel's `comm` holds 15 and a NUL).
pub const MAX_COMM_LEN: usize = 16;

/// The side of the exchanges a process was on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProcessRole {
    /// It sent the requests.
    Client,
    /// It sent the responses.
    Server,
}

impl ProcessRole {
    /// `client` or `server`.
    pub const fn name(self) -> &'static str {
        match self {
            ProcessRole::Client => "client",
            ProcessRole::Server => "server",
        }
    }
    const fn tag(self) -> u8 {
        match self {
            ProcessRole::Client => 0,
            ProcessRole::Server => 1,
        }
    }
    const fn of_tag(tag: u8) -> ProcessRole {
        if tag == 1 {
            ProcessRole::Server
        } else {
            ProcessRole::Client
        }
    }
}

/// One command name in one role, in a window.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRow {
    /// The command name as the kernel reported it (not sanitised), with its truncation
    /// mark.
    pub comm: WireStr,
    pub role: ProcessRole,
    /// Requests (upper bound, as [`Row::count`](super::Row::count)), count window.
    pub count: u64,
    pub error: u64,
    /// `count` over all requests of the window.
    pub share: f64,
    /// Final responses, count window.
    pub responses: u64,
    /// Failed requests (`Exchange::is_error`), attached window.
    pub errors: u64,
    /// `errors` over the requests of the same (attached) window.
    pub error_rate: f64,
    /// Request and response bytes, attached window (lower bounds when `error` is not 0).
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Latency samples and percentiles, latency window.
    pub latency_samples: u64,
    pub p50_ns: Option<u64>,
    pub p95_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub last_seen: Timestamp,
}

/// What a row holds.
#[derive(Clone, Debug)]
pub(crate) struct ProcData {
    /// Requests (count resolution); failed requests and bytes (attached resolution).
    calls: HostData,
    /// Final responses (count resolution).
    responses: Counts,
    /// Latency histograms at the latency resolution (bucket `b / RL`).
    lat: LatData,
}

#[derive(Clone, Copy, Debug)]
struct ProcHit {
    calls: HostHit,
    response: u32,
    bin: Option<usize>,
}

impl ProcData {
    #[inline]
    fn add(&mut self, w: usize, head: u32, b: u32, x: ProcHit) {
        self.calls.add(w, head, b, x.calls);
        self.responses.add(w, head, b, x.response);
        if let Some(bin) = x.bin {
            let (hl, bl) = (head / RL, b / RL);
            if bl + KL as u32 > hl {
                self.lat.add(w, bl, bin.min(BINS - 1));
            }
        }
    }
}

impl Payload for ProcData {
    const N: u32 = <HostData as Payload>::N;
    fn new() -> Self {
        ProcData {
            calls: HostData::default(),
            responses: Counts::default(),
            lat: LatData::new(),
        }
    }
    fn reset(&mut self) {
        self.calls = HostData::default();
        self.responses = Counts::default();
        self.lat.reset();
    }
    #[inline]
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.calls.roll(w, old, new);
        self.responses.roll(w, old, new);
        let (ol, nl) = (old / RL, new / RL);
        if nl > ol {
            self.lat.roll(w, ol, nl);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.calls.primary(w, head, cur)
    }
}

/// The Processes table (see the module documentation).
pub(crate) struct ProcTable {
    table: Table<ByteKey, ProcData>,
    pub tc: TableCounters,
}

impl ProcTable {
    pub fn new(max_keys: usize, wr: u64) -> Self {
        ProcTable {
            table: Table::new(max_keys.min(MAX_PROCESS_KEYS), wr),
            tc: TableCounters::default(),
        }
    }

    pub fn maintain(&mut self, cur_r: u32) {
        self.table.maintain(cur_r);
    }

    pub fn purge(&mut self, cur_r: u32) {
        self.table.purge(cur_r, &mut self.tc);
    }

    pub fn floor(&self, cur_r: u32) -> u32 {
        self.table.floor(cur_r)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes()
    }

    /// Heap bytes with every row taken by a [`MAX_COMM_LEN`]-byte name.
    pub fn worst_case_bytes(max_keys: usize) -> usize {
        Table::<ByteKey, ProcData>::worst_case_bytes(
            max_keys.min(MAX_PROCESS_KEYS),
            super::table::alloc_size(MAX_COMM_LEN),
        )
    }

    /// Counts `ex` (which has `process`) under its process(es), at `at` (time already
    /// clamped and placed by the caller; `at.primary` is 1 for a request).
    pub fn add(
        &mut self,
        ex: &Exchange,
        process: &Process,
        at: &At,
        bin: Option<usize>,
        h: &foldhash::fast::RandomState,
        keys_truncated: &mut u64,
    ) {
        let is_req = at.primary == 1;
        let hit = ProcHit {
            calls: HostHit {
                requests: at.primary,
                errors: u32::from(is_req && ex.is_error()),
                request_bytes: ex.request_bytes,
                response_bytes: ex.response_bytes,
            },
            response: u32::from(ex.status.is_some()),
            bin: if is_req { bin } else { None },
        };
        match &ex.peer_process {
            Some(peer) => {
                self.count(process, ProcessRole::Client, at, hit, h, keys_truncated);
                self.count(peer, ProcessRole::Server, at, hit, h, keys_truncated);
            }
            None => {
                let role = if ex.process_is_server {
                    ProcessRole::Server
                } else {
                    ProcessRole::Client
                };
                self.count(process, role, at, hit, h, keys_truncated);
            }
        }
    }

    fn count(
        &mut self,
        p: &Process,
        role: ProcessRole,
        at: &At,
        hit: ProcHit,
        h: &foldhash::fast::RandomState,
        keys_truncated: &mut u64,
    ) {
        let (key, cut) = cap(p.comm.as_bytes(), MAX_COMM_LEN);
        *keys_truncated += u64::from(cut);
        let tag = role.tag();
        let hash = hash_key(h, tag, key);
        let i = self.table.touch(hash, tag, key, at, &mut self.tc);
        if let Some(e) = self.table.entries.get_mut(i) {
            e.truncated |= p.comm.truncated || cut;
            for (w, &b) in at.bs.iter().enumerate() {
                e.data.add(w, e.heads[w], b, hit);
            }
        }
    }

    /// The rows of window `w` ending at count bucket `c` (`start` its first instant,
    /// `from_a` the first count bucket of the attached window, `cl` the latency bucket),
    /// the top `top` by requests.
    #[allow(clippy::too_many_arguments)]
    pub fn report(
        &self,
        w: usize,
        c: u32,
        start: u64,
        from_a: u32,
        cl: u32,
        requests: u64,
        top: usize,
    ) -> Vec<ProcessRow> {
        top_n(candidates(&self.table, w, c, start, |_| true), top)
            .into_iter()
            .map(|(n, err, e)| {
                let head = e.heads[w];
                let (errors, rq, rs) = e.data.calls.attached(w, head, c);
                let req_a = e.data.calls.count(w, head, c, from_a);
                let (samples, p) = latency_of(&e.data.lat, head / RL, w, cl);
                ProcessRow {
                    comm: super::report::wire(e),
                    role: ProcessRole::of_tag(e.tag),
                    count: n,
                    error: err,
                    share: share(n, requests),
                    responses: u64::from(e.data.responses.sum(w, head, c, 0)),
                    errors: u64::from(errors),
                    error_rate: share(u64::from(errors), u64::from(req_a)),
                    request_bytes: rq,
                    response_bytes: rs,
                    latency_samples: samples,
                    p50_ns: p[0],
                    p95_ns: p[1],
                    p99_ns: p[2],
                    last_seen: Timestamp(e.last_seen),
                }
            })
            .collect()
    }
}
