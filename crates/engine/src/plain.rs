//! TLS plaintext as a second stream source (issue 14): chunks of plaintext read at
//! OpenSSL's boundary (by the `tlsprobe` crate's eBPF uprobes, in the shell) become the
//! two ordered byte streams of a connection, fed to the same application layer
//! (`analyzer`: HTTP/1, HTTP/2, ... by content) as TCP reassembly feeds it.
//!
//! Sans-IO like the rest of the engine: the shell converts the probe's records into
//! [`Input`]s (time already converted to wall time: [`Chunk::ts`]) and calls
//! [`crate::Engine::on_plain`]; nothing here depends on the probe crate.
//!
//! Contract:
//! - **Connections** are keyed by [`ConnId`] (process + `SSL*`): at most
//!   `Limits::max_plain_connections`; when full, the least recently active is closed
//!   (`plain_evicted`); one idle for `Limits::flow_idle_timeout_ns` is closed
//!   (`plain_timed_out`); a [`Input::Closed`] (`SSL_free`) closes it after feeding the
//!   tail gaps its final offsets reveal and a `Fin` both ways (`plain_closed`); an
//!   [`Input::Exited`] (the process is gone: killed, crashed, or exited without
//!   `SSL_free`) closes every connection of that process at once (`plain_exited`), with
//!   no `Fin` (the streams did not end cleanly). Closing emits what the analyzer holds
//!   (requests without response: `no_response`; a response cut short: its flags say so),
//!   so a process that exits mid-response leaves its exchange when its exit is reported,
//!   and at the latest when its connection times out. Finding a process's connections
//!   walks the table (exits are reported only for processes that had connections).
//! - **Order.** The probe hands a connection's records in call order (OpenSSL allows one
//!   thread at a time per `SSL*`), each with the stream offset of its first byte per
//!   direction. Nothing is buffered here: an offset past the expected one is a `Gap` of
//!   exactly the missing bytes (a record lost in the ring buffer), a record carrying fewer
//!   bytes than its call moved ends with a `Gap` of the rest (`plain_gap_bytes`); never a
//!   silent hole. An offset before the expected one, or a record saying the connection was
//!   not seen from its start when it was, means the kernel forgot the connection and
//!   started counting again: the connection is closed and a new one opened
//!   (`plain_restarts`). Read and write of one connection are ordered as their records
//!   arrive (a process writes a request before it reads the response to it).
//! - **Mid-stream pickup.** A connection whose records say `from_start: false` (open before
//!   the probe attached) starts each direction with a 1-byte `Gap`: the HTTP/1 parser
//!   resynchronises at the next start line instead of taking a body for a request; HTTP/2
//!   waits for frames it can trust (`plain_midstream`).
//! - **Who is the client.** The analyzer decides by content, as for TCP: the side whose
//!   stream starts with a request (or the HTTP/2 client preface) is the client. The side
//!   given to the analyzer as the originator is the sender of the connection's first
//!   chunk, unless that chunk starts like a response (`HTTP/`) or an HTTP/2 frame (a
//!   first byte 0x00: a server's SETTINGS sent before the client's preface); then the
//!   other side. (The probe does not tell `SSL_connect` from `SSL_accept`.)
//! - **Addresses.** Exchanges carry the TCP 4-tuple the probe found in the kernel
//!   (`local`/`remote` of the process mapped to client/server by the decision above);
//!   a connection first seen without one reports `client`/`server` as `None`
//!   (`plain_no_tuple`). Every exchange carries `tls: true` and the process (pid, comm).
//! - **Both ends local** (curl -> nginx on one host): two processes see the same
//!   exchanges. The first [`ConnId`] seen for a TCP connection *owns* it: its streams are
//!   analysed; a second one whose 4-tuple mirrors it (its local end is the owner's remote
//!   end) is a *mirror*: its bytes are counted (`plain_mirrored`, `plain_mirrored_bytes`)
//!   and dropped. Each exchange is thus reported once. Which side owns it is the order of
//!   their first records, a race (the server's read of a request often comes before the
//!   client's write returns), so the exchange's processes do not depend on it: `process`
//!   is the client's (the side that sends requests), `peer_process` the server's. To know
//!   both, the events of a connection whose two addresses are equal (both ends on this
//!   host) are held until the other end's first record arrives, at most 1 s of input time,
//!   64 events per connection and 4096 over all (then they go out with what is known,
//!   `plain_unpaired_releases`, and that connection's later ones go out at once: its
//!   other end is evidently not probed; also when the connection times out or is
//!   evicted). A
//!   connection freed (`SSL_free`) before the other end's first record arrived (the
//!   server answers and frees while the client's thread waits to be scheduled) is
//!   remembered with its events, at most 1 s and 1024 connections: the other end is then
//!   still recognised as the mirror. A connection with one end elsewhere is never held:
//!   `process` is then the local one.
//! - **The wire side** of the same connection (with `-i`) carries ciphertext: the TCP
//!   engine's TLS analyzer reports its handshake ([`crate::tls`]) and no HTTP exchange, so
//!   wire and plaintext never count one request twice by construction.
//! - Memory: one table entry per connection (an `AppLayer` and a few words); the
//!   analyzers' own buffers are capped by their limits (heads, pending requests,
//!   HTTP/2 streams). The global `max_buffered_bytes` budget is the TCP engine's and is not
//!   charged for these connections.

use crate::analyzer::AppLayer;
use crate::engine::Counters;
use crate::event::{Event, Process, WireStr};
use crate::flow::{FlowKey, FlowTable};
use crate::http::QueuePool;
use crate::limits::Limits;
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

httptop_wire::counters! {
    /// The TLS plaintext source's connections and streams.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct PlainCounters {
        [Flows]
        /// TLS plaintext chunks (one SSL read or write call each, or 16 KiB of a larger one) handed to the engine.
        plain_chunks: Events,
        /// Plaintext bytes in those chunks.
        plain_bytes: Bytes,
        /// TLS plaintext connections (process + SSL object) tracked since start-up.
        plain_connections: Connections,
        /// TLS plaintext connections ended by SSL_free.
        plain_closed: Connections,
        /// TLS plaintext connections ended because their process exited without SSL_free (killed, crashed).
        plain_exited: Connections,
        /// TLS plaintext connections closed because their table was full (max_plain_connections).
        plain_evicted: Connections,
        /// TLS plaintext connections closed after being idle (--flow-timeout).
        plain_timed_out: Connections,
        /// TLS plaintext connections open before the probe attached, picked up mid-stream.
        plain_midstream: Connections,
        /// TLS plaintext connections whose offsets restarted (the kernel-side table forgot them): closed and opened again.
        plain_restarts: Connections anomaly,
        /// TLS plaintext bytes lost (ring buffer full, calls larger than the bytes captured per call): gaps in their streams.
        plain_gap_bytes: Bytes anomaly,
        /// TLS plaintext connections first seen without a TCP 4-tuple (their exchanges have no addresses).
        plain_no_tuple: Connections,
        /// TLS plaintext connections that are the other local end of a tracked one (curl -> nginx on one host): not analysed twice.
        plain_mirrored: Connections,
        /// Plaintext bytes of those mirror connections (counted, not analysed).
        plain_mirrored_bytes: Bytes,
        /// Times exchanges of a connection between two local ends went out before the other end's process was seen (after 1 s, or more than 64 events waiting, or 4096 over all connections).
        plain_unpaired_releases: Events,
    }
}

/// A TLS connection as the probe knows it: a process and its `SSL*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub pid: u32,
    pub ssl: u64,
}

/// Which way the plaintext went, seen from the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `SSL_write`: the process sends.
    Write,
    /// `SSL_read`: the process receives.
    Read,
}

impl Side {
    const fn index(self) -> usize {
        match self {
            Side::Write => 0,
            Side::Read => 1,
        }
    }
}

/// The plaintext one SSL call moved.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Wall time of the call's return.
    pub ts: Timestamp,
    pub conn: ConnId,
    /// The process's command name.
    pub comm: &'a [u8],
    /// `(local, remote)` TCP endpoints, when known.
    pub sockets: Option<(SocketAddr, SocketAddr)>,
    pub side: Side,
    /// Stream offset of `data[0]` in this direction.
    pub offset: u64,
    /// Bytes the call moved (at least `data.len()`; the rest was not captured: a gap).
    pub total: u64,
    pub data: &'a [u8],
    /// The connection was seen from its handshake (offsets count from its first byte).
    pub from_start: bool,
}

/// One thing the TLS plaintext source reports.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    Data(Chunk<'a>),
    /// The connection ended (`SSL_free`); `written`/`read`: its final offsets.
    Closed {
        ts: Timestamp,
        conn: ConnId,
        written: u64,
        read: u64,
    },
    /// Process `pid` exited: its connections ended without `SSL_free`.
    Exited {
        ts: Timestamp,
        pid: u32,
    },
}

impl Input<'_> {
    pub fn ts(&self) -> Timestamp {
        match self {
            Input::Data(c) => c.ts,
            Input::Closed { ts, .. } | Input::Exited { ts, .. } => *ts,
        }
    }
}

struct PConn {
    /// `None`: a mirror (see the module documentation): nothing is analysed.
    app: Option<AppLayer>,
    /// The process's writes are the analyzer's `Orig` stream.
    write_is_orig: bool,
    /// Next expected offset per [`Side`].
    next: [u64; 2],
    started: [bool; 2],
    from_start: bool,
    has_tuple: bool,
    /// The process's end of the TCP connection, and the connection's key.
    local: Option<(SocketAddr, FlowKey)>,
    last_seen: Timestamp,
    id: u64,
    process: Process,
    peer: Option<Process>,
    /// Both ends are on this host (the 4-tuple's addresses are equal): the other end's
    /// process is waited for before the exchanges go out (see [`hold_or_stamp`]).
    local_peer: bool,
    /// Events waiting for the other local end, and since when.
    held: Vec<Event>,
    held_since: Timestamp,
    /// The other local end did not show up in time (1 s, or 64 events): this
    /// connection's events go out at once from then on (its other end is evidently not
    /// probed: another TLS library, a static binary, or another libssl file).
    unpaired: bool,
}

/// The connections of the TLS plaintext source (owned by the engine).
pub(crate) struct PlainTable {
    conns: FlowTable<PConn, ConnId>,
    /// The owner of each TCP connection seen with a 4-tuple.
    by_tuple: HashMap<FlowKey, ConnId, foldhash::fast::RandomState>,
    next_id: u64,
    /// Events held over all connections.
    held_total: usize,
    /// Connections between two local ends that closed before the other end was seen,
    /// with their events held (the other end's records may still be in the ring), by
    /// TCP connection; oldest first in `recent_order` (with the connection's id).
    recent: HashMap<FlowKey, PConn, foldhash::fast::RandomState>,
    recent_order: std::collections::VecDeque<(FlowKey, u64)>,
}

/// Closed connections remembered for their other local end at most.
const MAX_RECENT: usize = 1024;

/// Events one connection holds for its other local end at most.
const MAX_HELD_PER_CONN: usize = 64;
/// Events held over all connections at most.
const MAX_HELD_TOTAL: usize = 4096;
/// How long events wait for the other local end at most (input time).
const MAX_HOLD_NS: u64 = 1_000_000_000;

/// What the table borrows from the engine on a call.
pub(crate) struct Env<'a> {
    pub limits: &'a Limits,
    pub counters: &'a mut Counters,
    pub out: &'a mut Vec<Event>,
    pub pool: &'a mut QueuePool,
}

/// Orig/Resp of the analyzer for a side.
fn dir_of(write_is_orig: bool, side: Side) -> Dir {
    if (side == Side::Write) == write_is_orig {
        Dir::Orig
    } else {
        Dir::Resp
    }
}

const UNKNOWN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl PlainTable {
    pub fn new(cap: usize) -> Self {
        PlainTable {
            conns: FlowTable::remembering_last(cap),
            by_tuple: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            next_id: 0,
            held_total: 0,
            recent: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            recent_order: std::collections::VecDeque::new(),
        }
    }

    /// Connections tracked.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn on_input(&mut self, input: &Input<'_>, env: &mut Env<'_>) {
        match input {
            Input::Data(ch) => self.on_chunk(ch, env),
            Input::Closed {
                ts,
                conn,
                written,
                read,
            } => {
                let Some(i) = self.conns.lookup(conn) else {
                    return;
                };
                env.counters.plain.plain_closed += 1;
                self.close(i, *ts, Some([*written, *read]), true, env);
            }
            Input::Exited { ts, pid } => {
                let mut gone: Vec<(u64, u32)> = self
                    .conns
                    .indices()
                    .filter_map(|i| {
                        self.conns
                            .get(i)
                            .filter(|c| c.process.pid == *pid)
                            .map(|c| (c.id, i))
                    })
                    .collect();
                // Oldest first, as they were opened.
                gone.sort_unstable();
                for (_, i) in gone {
                    env.counters.plain.plain_exited += 1;
                    self.close(i, *ts, None, true, env);
                }
            }
        }
    }

    fn on_chunk(&mut self, ch: &Chunk<'_>, env: &mut Env<'_>) {
        let pc = &mut env.counters.plain;
        pc.plain_chunks += 1;
        pc.plain_bytes += ch.data.len() as u64;
        let s = ch.side.index();
        let mut slot = self.conns.lookup(&ch.conn);
        if let Some(i) = slot {
            let restarted = self
                .conns
                .get(i)
                .is_some_and(|c| ch.offset < c.next[s] || (c.from_start && !ch.from_start));
            if restarted {
                env.counters.plain.plain_restarts += 1;
                self.close(i, ch.ts, None, false, env);
                slot = None;
            }
        }
        let i = match slot {
            Some(i) => i,
            None => self.open(ch, env),
        };
        let Some(c) = self.conns.get_mut(i) else {
            return;
        };
        if ch.ts > c.last_seen {
            c.last_seen = ch.ts;
        }
        let Some(app) = c.app.as_mut() else {
            env.counters.plain.plain_mirrored_bytes += ch.data.len() as u64;
            c.next[s] = ch.offset.saturating_add(ch.total);
            return;
        };
        let dir = dir_of(c.write_is_orig, ch.side);
        let start = env.out.len();
        let (mut cx, _, plain) = env.counters.app_ctx(env.limits, env.out, env.pool, ch.ts);
        if !c.started[s] {
            c.started[s] = true;
            if !c.from_start {
                app.feed(dir, ch.ts, StreamEvent::Gap(1), &mut cx);
            }
        }
        if ch.offset > c.next[s] {
            let gap = ch.offset - c.next[s];
            plain.plain_gap_bytes += gap;
            app.feed(dir, ch.ts, StreamEvent::Gap(gap), &mut cx);
        }
        if !ch.data.is_empty() {
            app.feed(dir, ch.ts, StreamEvent::Data(ch.data), &mut cx);
        }
        let missing = ch.total.saturating_sub(ch.data.len() as u64);
        if missing > 0 {
            plain.plain_gap_bytes += missing;
            app.feed(dir, ch.ts, StreamEvent::Gap(missing), &mut cx);
        }
        c.next[s] = ch.offset.saturating_add(ch.total);
        hold_or_stamp(c, start, ch.ts, env.out, &mut self.held_total, plain);
    }

    /// A new connection for `ch` (room made first); a mirror when its 4-tuple mirrors a
    /// tracked connection's.
    fn open(&mut self, ch: &Chunk<'_>, env: &mut Env<'_>) -> u32 {
        if self.conns.is_full() {
            if let Some(lru) = self.conns.lru() {
                env.counters.plain.plain_evicted += 1;
                self.close(lru, ch.ts, None, false, env);
            }
        }
        let pc = &mut env.counters.plain;
        pc.plain_connections += 1;
        if !ch.from_start {
            pc.plain_midstream += 1;
        }
        if ch.sockets.is_none() {
            pc.plain_no_tuple += 1;
        }
        let process = Process {
            pid: ch.conn.pid,
            comm: WireStr::capped(ch.comm, 16),
        };
        let mut mirror = false;
        let local = ch.sockets.map(|(l, r)| {
            let (key, _) = FlowKey::new(l.ip(), l.port(), r.ip(), r.port());
            let owner = self
                .by_tuple
                .get(&key)
                .and_then(|o| self.conns.find(o))
                .and_then(|o| self.conns.get_mut(o));
            match owner {
                Some(o) if o.local.is_some_and(|(ol, _)| ol == r) => {
                    mirror = true;
                    o.peer = Some(process.clone());
                    release(o, env.out, &mut self.held_total);
                }
                _ => match self.recent.remove(&key) {
                    // The other end of a connection whose first end closed already.
                    Some(mut o) if o.local.is_some_and(|(ol, _)| ol == r) => {
                        mirror = true;
                        o.peer = Some(process.clone());
                        release(&mut o, env.out, &mut self.held_total);
                    }
                    other => {
                        if let Some(o) = other {
                            self.recent.insert(key, o);
                        }
                        self.by_tuple.insert(key, ch.conn);
                    }
                },
            }
            (l, key)
        });
        // The sender of the first chunk is the originator, unless it looks like the
        // server's side (see the module documentation).
        let looks_server = ch.data.starts_with(b"HTTP/") || ch.data.first() == Some(&0);
        let write_is_orig = (ch.side == Side::Write) != looks_server;
        let app = if mirror {
            env.counters.plain.plain_mirrored += 1;
            None
        } else {
            let (l, r) = ch.sockets.unwrap_or((UNKNOWN, UNKNOWN));
            let (orig, resp) = if write_is_orig { (l, r) } else { (r, l) };
            Some(AppLayer::new(orig, resp))
        };
        self.next_id += 1;
        let c = PConn {
            app,
            write_is_orig,
            next: [0; 2],
            started: [false; 2],
            from_start: ch.from_start,
            has_tuple: ch.sockets.is_some(),
            local,
            last_seen: ch.ts,
            id: self.next_id,
            process,
            peer: None,
            local_peer: ch.sockets.is_some_and(|(l, r)| l.ip() == r.ip()),
            held: Vec::new(),
            held_since: ch.ts,
            unpaired: false,
        };
        self.conns.insert(ch.conn, c)
    }

    /// Removes connection `i`: tail gaps up to `end` (final offsets per side, when the
    /// connection ended cleanly, then a `Fin` both ways), then the analyzer emits what
    /// it holds. `linger`: the connection ended in its process (SSL_free, exit) while the
    /// other local end's records may still be on their way: remember it (`recent`).
    fn close(
        &mut self,
        i: u32,
        ts: Timestamp,
        end: Option<[u64; 2]>,
        linger: bool,
        env: &mut Env<'_>,
    ) {
        let Some(mut c) = self.conns.remove(i) else {
            return;
        };
        if let Some((_, key)) = c.local {
            if let Some(owner) = self.by_tuple.get(&key) {
                if self.conns.find(owner).is_none() {
                    self.by_tuple.remove(&key);
                }
            }
        }
        let ts = ts.max(c.last_seen);
        let Some(app) = c.app.as_mut() else {
            release(&mut c, env.out, &mut self.held_total);
            return;
        };
        let start = env.out.len();
        let (mut cx, _, plain) = env.counters.app_ctx(env.limits, env.out, env.pool, ts);
        if let Some(end) = end {
            for side in [Side::Write, Side::Read] {
                let s = side.index();
                let dir = dir_of(c.write_is_orig, side);
                if end[s] > c.next[s] && c.started[s] {
                    let gap = end[s] - c.next[s];
                    plain.plain_gap_bytes += gap;
                    app.feed(dir, ts, StreamEvent::Gap(gap), &mut cx);
                }
                app.feed(dir, ts, StreamEvent::Fin, &mut cx);
            }
        }
        app.close(ts, &mut cx);
        c.app = None;
        // Only a connection ended by SSL_free or its process's exit: the other end's
        // records may lag by a few scheduler slices; one idle for the timeout or evicted
        // had all the time it needed.
        let remember = linger && c.local_peer && c.peer.is_none();
        match (remember, c.local) {
            (true, Some((_, key))) if !c.held.is_empty() || env.out.len() > start => {
                // Held until the other end shows up (within MAX_HOLD_NS): see `recent`.
                if c.held.is_empty() {
                    c.held_since = ts;
                }
                self.held_total += env.out.len() - start;
                c.held.extend(env.out.drain(start..));
                c.last_seen = ts;
                if self.recent.len() >= MAX_RECENT {
                    self.release_recent_front(env);
                }
                self.recent_order.push_back((key, c.id));
                if let Some(mut old) = self.recent.insert(key, c) {
                    release(&mut old, env.out, &mut self.held_total);
                }
            }
            _ => {
                release(&mut c, env.out, &mut self.held_total);
                stamp(&mut env.out[start..], &c);
            }
        }
    }

    /// Hands out the oldest remembered closed connection's events; `false` when none.
    fn release_recent_front(&mut self, env: &mut Env<'_>) -> bool {
        while let Some((key, id)) = self.recent_order.pop_front() {
            if self.recent.get(&key).is_some_and(|c| c.id == id) {
                if let Some(mut c) = self.recent.remove(&key) {
                    env.counters.plain.plain_unpaired_releases += 1;
                    release(&mut c, env.out, &mut self.held_total);
                }
                return true;
            }
        }
        false
    }

    /// Hands out the events held longer than [`MAX_HOLD_NS`] for another local end
    /// that did not show up (a client or server not using OpenSSL, or filtered by pid).
    pub fn release_stale(&mut self, now: Timestamp, env: &mut Env<'_>) {
        while let Some((key, id)) = self.recent_order.front().copied() {
            let live = self.recent.get(&key).filter(|c| c.id == id);
            match live {
                Some(c) if now.since(c.last_seen) < MAX_HOLD_NS => break,
                Some(_) => {
                    self.release_recent_front(env);
                }
                None => {
                    self.recent_order.pop_front();
                }
            }
        }
        if self.held_total == 0 {
            return;
        }
        let stale: Vec<u32> = self
            .conns
            .indices()
            .filter(|&i| {
                self.conns
                    .get(i)
                    .is_some_and(|c| !c.held.is_empty() && now.since(c.held_since) >= MAX_HOLD_NS)
            })
            .collect();
        for i in stale {
            if let Some(c) = self.conns.get_mut(i) {
                env.counters.plain.plain_unpaired_releases += 1;
                c.unpaired = true;
                release(c, env.out, &mut self.held_total);
            }
        }
    }

    /// Closes the connections idle for `timeout` at `now`, least recently active first,
    /// handing control back after each (`true`: one was closed) so the engine drains.
    pub fn sweep_one(&mut self, now: Timestamp, timeout: u64, env: &mut Env<'_>) -> bool {
        let Some(i) = self.conns.lru() else {
            return false;
        };
        let idle = self
            .conns
            .get(i)
            .is_some_and(|c| now.since(c.last_seen) >= timeout);
        if idle {
            env.counters.plain.plain_timed_out += 1;
            self.close(i, now, None, false, env);
        }
        idle
    }

    /// Closes the oldest connection (in the order they were opened); `false` when none
    /// is left. The end of the input.
    pub fn finish_one(&mut self, now: Timestamp, env: &mut Env<'_>) -> bool {
        let first = self
            .conns
            .indices()
            .filter_map(|i| self.conns.get(i).map(|c| (c.id, i)))
            .min();
        match first {
            Some((_, i)) => {
                self.close(i, now, None, false, env);
                true
            }
            None => self.release_recent_front(env),
        }
    }
}

/// The events of `c` from `start` of `out` on: held while the other local end of the
/// connection is awaited (within the caps: past them everything held goes out,
/// `plain_unpaired_releases`), else stamped in place.
fn hold_or_stamp(
    c: &mut PConn,
    start: usize,
    now: Timestamp,
    out: &mut Vec<Event>,
    held_total: &mut usize,
    counters: &mut PlainCounters,
) {
    if !(c.local_peer && c.peer.is_none()) || c.unpaired || out.len() == start {
        stamp(&mut out[start..], c);
        return;
    }
    if c.held.is_empty() {
        c.held_since = now;
    }
    let n = out.len() - start;
    *held_total += n;
    c.held.extend(out.drain(start..));
    if c.held.len() > MAX_HELD_PER_CONN || *held_total > MAX_HELD_TOTAL {
        counters.plain_unpaired_releases += 1;
        c.unpaired = true;
        release(c, out, held_total);
    }
}

/// Stamps and hands out what `c` holds.
fn release(c: &mut PConn, out: &mut Vec<Event>, held_total: &mut usize) {
    if c.held.is_empty() {
        return;
    }
    let mut held = std::mem::take(&mut c.held);
    *held_total = held_total.saturating_sub(held.len());
    stamp(&mut held, c);
    out.append(&mut held);
}

/// Marks the connection's exchanges as read from TLS plaintext, with its processes:
/// when both ends are known local processes, `process` is the client's (the side
/// that sends requests) and `peer_process` the server's; otherwise `process` is the
/// one whose streams were read, and `process_is_server` says whether it wrote the
/// responses (its writes are not the analyzer's originator stream).
fn stamp(events: &mut [Event], c: &PConn) {
    let (process, peer) = match &c.peer {
        Some(p) if !c.write_is_orig => (p, Some(&c.process)),
        _ => (&c.process, c.peer.as_ref()),
    };
    for ev in events {
        if let Event::Exchange(ex) = ev {
            ex.tls = true;
            ex.process = Some(process.clone());
            ex.peer_process = peer.cloned();
            ex.process_is_server = c.peer.is_none() && !c.write_is_orig;
            if !c.has_tuple {
                ex.client = None;
                ex.server = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::event::{Exchange, Flags, Version};
    use crate::http2::tests::{get, status, PRI, SETTINGS_EMPTY};

    const T0: u64 = 1_700_000_000_000_000_000;
    const CURL: ConnId = ConnId {
        pid: 100,
        ssl: 0x5000,
    };
    const NGINX: ConnId = ConnId {
        pid: 200,
        ssl: 0x7000,
    };

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A script of inputs: per connection the offsets each way are kept, so a test only
    /// says what moved.
    struct Rig {
        e: Engine,
        out: Vec<Exchange>,
        t: u64,
        next: HashMap<(ConnId, usize), u64>,
        from_start: bool,
    }

    impl Rig {
        fn new(limits: Limits) -> Self {
            Rig {
                e: Engine::new(limits),
                out: Vec::new(),
                t: T0,
                next: HashMap::new(),
                from_start: true,
            }
        }

        fn sockets(conn: ConnId) -> Option<(SocketAddr, SocketAddr)> {
            let (c, s) = (addr("127.0.0.1:40000"), addr("127.0.0.1:443"));
            Some(if conn == NGINX { (s, c) } else { (c, s) })
        }

        fn comm(conn: ConnId) -> &'static [u8] {
            if conn == NGINX {
                b"nginx"
            } else {
                b"curl"
            }
        }

        /// `total` bytes moved, the first `data.len()` captured; `skip` bytes lost before.
        fn call(&mut self, conn: ConnId, side: Side, data: &[u8], total: u64, skip: u64) {
            self.t += 1_000_000;
            let next = self.next.entry((conn, side.index())).or_insert(0);
            let offset = *next + skip;
            *next = offset + total;
            let ch = Chunk {
                ts: Timestamp(self.t),
                conn,
                comm: Self::comm(conn),
                sockets: Self::sockets(conn),
                side,
                offset,
                total,
                data,
                from_start: self.from_start,
            };
            let out = &mut self.out;
            self.e
                .on_plain(&Input::Data(ch), &mut |x: &Exchange| out.push(x.clone()));
        }

        fn write(&mut self, conn: ConnId, data: &[u8]) {
            self.call(conn, Side::Write, data, data.len() as u64, 0);
        }

        fn read(&mut self, conn: ConnId, data: &[u8]) {
            self.call(conn, Side::Read, data, data.len() as u64, 0);
        }

        fn close(&mut self, conn: ConnId) {
            self.t += 1_000_000;
            let written = self.next.get(&(conn, 0)).copied().unwrap_or(0);
            let read = self.next.get(&(conn, 1)).copied().unwrap_or(0);
            let out = &mut self.out;
            self.e.on_plain(
                &Input::Closed {
                    ts: Timestamp(self.t),
                    conn,
                    written,
                    read,
                },
                &mut |x: &Exchange| out.push(x.clone()),
            );
        }

        fn finish(&mut self) -> &[Exchange] {
            let out = &mut self.out;
            self.e.finish(&mut |x: &Exchange| out.push(x.clone()));
            &self.out
        }

        fn plain(&self) -> &PlainCounters {
            &self.e.counters().plain
        }
    }

    const REQ: &[u8] = b"POST /api/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n\r\nabc";
    const RESP: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello";

    fn comm(p: &Option<Process>) -> &[u8] {
        p.as_ref().map_or(b"", |p| p.comm.as_bytes())
    }

    #[test]
    fn a_client_process_exchange_has_its_tuple_and_process() {
        let mut r = Rig::new(Limits::default());
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        r.close(CURL);
        let ex = r.finish();
        assert_eq!(ex.len(), 1);
        let x = &ex[0];
        assert_eq!(
            (x.method.as_bytes(), x.host.as_bytes(), x.path.as_bytes()),
            (&b"POST"[..], &b"a.example"[..], &b"/api/x"[..])
        );
        assert_eq!(
            (x.status, x.request_bytes, x.response_bytes),
            (Some(201), REQ.len() as u64, RESP.len() as u64)
        );
        assert_eq!(x.client, Some(addr("127.0.0.1:40000")));
        assert_eq!(x.server, Some(addr("127.0.0.1:443")));
        assert!(x.tls);
        assert_eq!(x.process.as_ref().map(|p| p.pid), Some(100));
        assert_eq!(comm(&x.process), b"curl");
        assert_eq!(x.peer_process, None);
        assert!(!x.process_is_server, "curl wrote the request");
        assert!(x.flags.is_empty(), "{:?}", x.flags);
        let p = r.plain();
        assert_eq!(
            (p.plain_connections, p.plain_closed, p.plain_chunks),
            (1, 1, 2)
        );
        assert_eq!(r.e.open_plain_connections(), 0);
    }

    #[test]
    fn a_server_process_reads_the_request_first() {
        let mut r = Rig::new(Limits::default());
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        let ex = r.finish();
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].client, Some(addr("127.0.0.1:40000")));
        assert_eq!(ex[0].server, Some(addr("127.0.0.1:443")));
        assert_eq!(
            (ex[0].status, comm(&ex[0].process)),
            (Some(201), &b"nginx"[..])
        );
        assert!(ex[0].process_is_server, "nginx wrote the response");
    }

    #[test]
    fn both_local_ends_give_one_exchange_with_both_processes() {
        let mut r = Rig::new(Limits::default());
        for _ in 0..3 {
            r.write(CURL, REQ);
            r.read(NGINX, REQ);
            r.write(NGINX, RESP);
            r.read(CURL, RESP);
        }
        r.close(CURL);
        r.close(NGINX);
        let ex = r.finish().to_vec();
        assert_eq!(ex.len(), 3);
        for x in &ex {
            assert_eq!(
                (comm(&x.process), comm(&x.peer_process)),
                (&b"curl"[..], &b"nginx"[..])
            );
            assert_eq!(x.client, Some(addr("127.0.0.1:40000")));
            assert_eq!(x.status, Some(201));
        }
        let p = r.plain();
        assert_eq!((p.plain_connections, p.plain_mirrored), (2, 1));
        assert_eq!(p.plain_mirrored_bytes, 3 * (REQ.len() + RESP.len()) as u64);
        assert_eq!(r.e.counters().http.requests, 3);
    }

    #[test]
    fn the_client_is_the_process_whichever_local_end_is_seen_first() {
        let mut r = Rig::new(Limits::default());
        // The server's records come first: it owns the streams.
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        assert!(r.out.is_empty(), "held until the client is seen");
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        let ex = r.finish().to_vec();
        assert_eq!(ex.len(), 2);
        for x in &ex {
            assert_eq!(
                (comm(&x.process), comm(&x.peer_process)),
                (&b"curl"[..], &b"nginx"[..])
            );
            assert_eq!(x.client, Some(addr("127.0.0.1:40000")));
            assert_eq!(x.status, Some(201));
            assert!(!x.process_is_server, "process is the client's with a peer");
        }
        assert_eq!(r.plain().plain_unpaired_releases, 0);
    }

    #[test]
    fn the_other_end_seen_after_the_first_closed_is_still_a_mirror() {
        let mut r = Rig::new(Limits::default());
        // nginx reads, answers and frees the connection before curl's records arrive.
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        r.close(NGINX);
        assert!(r.out.is_empty(), "held for the other end");
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        r.close(CURL);
        let ex = r.finish().to_vec();
        assert_eq!(ex.len(), 1, "{ex:?}");
        assert_eq!(
            (comm(&ex[0].process), comm(&ex[0].peer_process)),
            (&b"curl"[..], &b"nginx"[..])
        );
        assert_eq!(
            (r.plain().plain_mirrored, r.plain().plain_unpaired_releases),
            (1, 0)
        );
        assert_eq!(r.e.counters().http.requests, 1);
    }

    #[test]
    fn a_local_peer_that_never_shows_releases_the_exchanges_after_a_second() {
        let mut r = Rig::new(Limits::default());
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        assert!(r.out.is_empty());
        let out = &mut r.out;
        r.e.on_tick(Timestamp(r.t + MAX_HOLD_NS), &mut |x: &Exchange| {
            out.push(x.clone())
        });
        assert_eq!(r.out.len(), 1);
        assert_eq!(
            (comm(&r.out[0].process), r.out[0].peer_process.as_ref()),
            (&b"nginx"[..], None)
        );
        assert_eq!(r.plain().plain_unpaired_releases, 1);
        // From then on this connection's exchanges go out at once, not held again.
        r.read(NGINX, REQ);
        r.write(NGINX, RESP);
        assert_eq!(
            r.out.len(),
            2,
            "not held after the other end failed to show"
        );
        assert_eq!(r.plain().plain_unpaired_releases, 1);
        // A remote client: nothing is held.
        let mut e = Engine::new(Limits::default());
        let mut out = Vec::new();
        for (side, data) in [(Side::Read, REQ), (Side::Write, RESP)] {
            let ch = Chunk {
                ts: Timestamp(T0),
                conn: NGINX,
                comm: b"nginx",
                sockets: Some((addr("10.0.0.1:443"), addr("10.0.0.2:50000"))),
                side,
                offset: 0,
                total: data.len() as u64,
                data,
                from_start: true,
            };
            e.on_plain(&Input::Data(ch), &mut |x: &Exchange| out.push(x.clone()));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].client, Some(addr("10.0.0.2:50000")));
    }

    #[test]
    fn lost_and_truncated_records_are_gaps_never_silent_holes() {
        let mut r = Rig::new(Limits::default());
        // A response body of 5 bytes captured as 2: the rest is a gap.
        r.write(CURL, REQ);
        r.call(
            CURL,
            Side::Read,
            &RESP[..RESP.len() - 3],
            RESP.len() as u64,
            0,
        );
        // A lost record: the next request arrives 10 bytes later than expected.
        r.call(CURL, Side::Write, REQ, REQ.len() as u64, 10);
        r.read(CURL, RESP);
        let ex = r.finish().to_vec();
        assert_eq!(r.plain().plain_gap_bytes, 13);
        assert!(ex[0].flags.contains(Flags::GAP), "{:?}", ex[0].flags);
        assert_eq!(ex[0].status, Some(201));
        // The HTTP/1 parser resynchronises at the request after the lost record.
        assert!(ex
            .iter()
            .any(|x| x.status == Some(201) && !x.flags.contains(Flags::GAP)));
        assert_eq!(r.e.counters().http.requests, 2);
    }

    #[test]
    fn a_connection_picked_up_mid_stream_makes_no_false_request() {
        let mut r = Rig::new(Limits::default());
        r.from_start = false;
        // The tail of a request body (with a line that starts like a request), then the
        // response's tail, then a real exchange.
        r.write(CURL, b"\"k\":1,\r\nGET-like\": \"/not-a-request\"}\r\n");
        r.read(CURL, b"lo world");
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        let ex = r.finish().to_vec();
        let real: Vec<_> = ex
            .iter()
            .filter(|x| !x.flags.contains(Flags::NO_REQUEST))
            .collect();
        assert_eq!(r.plain().plain_midstream, 1);
        assert!(
            real.iter().all(|x| x.path.as_bytes() != b"/not-a-request"),
            "{real:?}"
        );
        assert_eq!(real.len(), 1, "{ex:?}");
        assert_eq!(real[0].status, Some(201));
    }

    #[test]
    fn http2_from_the_server_side_settings_first() {
        let mut r = Rig::new(Limits::default());
        // nginx writes its SETTINGS before it reads the client's preface.
        r.write(NGINX, &SETTINGS_EMPTY);
        let mut c = PRI.to_vec();
        c.extend_from_slice(&SETTINGS_EMPTY);
        c.extend_from_slice(&get(1, "/h2/a"));
        c.extend_from_slice(&get(3, "/h2/b"));
        r.read(NGINX, &c);
        r.write(
            NGINX,
            &[status(1, "200", true), status(3, "404", true)].concat(),
        );
        r.close(NGINX);
        let ex = r.finish().to_vec();
        assert_eq!(ex.len(), 2, "{ex:?}");
        assert_eq!(ex[0].version, Version::HTTP2);
        assert_eq!(
            (ex[0].path.as_bytes(), ex[0].status),
            (&b"/h2/a"[..], Some(200))
        );
        assert_eq!(
            (ex[1].path.as_bytes(), ex[1].status),
            (&b"/h2/b"[..], Some(404))
        );
        assert_eq!(ex[1].client, Some(addr("127.0.0.1:40000")));
        assert!(ex.iter().all(|x| x.tls && comm(&x.process) == b"nginx"));
    }

    #[test]
    fn http2_from_the_client_side() {
        let mut r = Rig::new(Limits::default());
        let mut c = PRI.to_vec();
        c.extend_from_slice(&SETTINGS_EMPTY);
        c.extend_from_slice(&get(1, "/x"));
        r.write(CURL, &c);
        r.read(
            CURL,
            &[&SETTINGS_EMPTY[..], &status(1, "200", true)].concat(),
        );
        let ex = r.finish().to_vec();
        assert_eq!(ex.len(), 1);
        assert_eq!(
            (ex[0].status, ex[0].client),
            (Some(200), Some(addr("127.0.0.1:40000")))
        );
    }

    #[test]
    fn a_process_gone_mid_response_leaves_no_response_at_the_timeout() {
        let limits = Limits::default();
        let timeout = limits.flow_idle_timeout_ns;
        let mut r = Rig::new(limits);
        r.write(CURL, REQ);
        r.read(CURL, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
        assert!(r.out.is_empty());
        let out = &mut r.out;
        r.e.on_tick(Timestamp(r.t + timeout + 1), &mut |x: &Exchange| {
            out.push(x.clone())
        });
        assert_eq!(r.out.len(), 1);
        assert_eq!(r.plain().plain_timed_out, 1);
        assert!(
            r.out[0].flags.contains(Flags::TRUNCATED)
                || r.out[0].flags.contains(Flags::NO_RESPONSE),
            "{:?}",
            r.out[0].flags
        );
        assert_eq!(r.e.open_plain_connections(), 0);
    }

    #[test]
    fn a_process_exiting_mid_response_ends_its_connections_not_others() {
        let mut r = Rig::new(Limits::default());
        // nginx (the only end seen) reads a request and sends half a response; an
        // unrelated process (pid 300) has a connection too.
        let other = ConnId { pid: 300, ssl: 1 };
        r.read(NGINX, REQ);
        r.write(NGINX, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
        r.write(other, REQ);
        let exited = |r: &mut Rig, pid: u32| {
            r.t += 1_000_000;
            let out = &mut r.out;
            r.e.on_plain(
                &Input::Exited {
                    ts: Timestamp(r.t),
                    pid,
                },
                &mut |x: &Exchange| out.push(x.clone()),
            );
        };
        exited(&mut r, 4242); // a process without connections: nothing
        assert_eq!(r.e.open_plain_connections(), 2);
        exited(&mut r, NGINX.pid);
        assert_eq!(r.plain().plain_exited, 1);
        assert_eq!(r.e.open_plain_connections(), 1, "pid 300's stays");
        // Both ends are local: the exchange waits (at most 1 s) for curl's records.
        let out = &mut r.out;
        r.e.on_tick(Timestamp(r.t + MAX_HOLD_NS), &mut |x: &Exchange| {
            out.push(x.clone())
        });
        assert_eq!(r.out.len(), 1, "{:?}", r.out);
        let x = &r.out[0];
        assert_eq!((x.status, x.path.as_bytes()), (Some(200), &b"/api/x"[..]));
        assert!(x.flags.contains(Flags::TRUNCATED), "{:?}", x.flags);
        assert_eq!(comm(&x.peer_process), b"nginx");
    }

    #[test]
    fn the_table_is_capped_least_recently_active_out() {
        let mut r = Rig::new(Limits {
            max_plain_connections: 2,
            ..Limits::default()
        });
        for ssl in 1..=3 {
            r.write(ConnId { pid: 1, ssl }, REQ);
        }
        assert_eq!(r.e.open_plain_connections(), 2);
        assert_eq!(r.plain().plain_evicted, 1);
        assert_eq!(r.out.len(), 1);
        assert!(r.out[0].flags.contains(Flags::NO_RESPONSE));
        assert_eq!(r.finish().len(), 3);
    }

    #[test]
    fn offsets_that_restart_open_a_new_connection() {
        let mut r = Rig::new(Limits::default());
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        // The kernel forgot the connection: offsets count from 0 again.
        r.next.clear();
        r.from_start = false;
        r.write(CURL, REQ);
        r.read(CURL, RESP);
        let ex = r.finish().to_vec();
        assert_eq!(r.plain().plain_restarts, 1);
        assert_eq!(r.plain().plain_connections, 2);
        assert_eq!(
            ex.iter().filter(|x| x.status == Some(201)).count(),
            2,
            "{ex:?}"
        );
    }

    #[test]
    fn without_a_tuple_exchanges_have_no_addresses() {
        let mut e = Engine::new(Limits::default());
        let mut out = Vec::new();
        for (side, data) in [(Side::Write, REQ), (Side::Read, RESP)] {
            let ch = Chunk {
                ts: Timestamp(T0),
                conn: CURL,
                comm: b"curl",
                sockets: None,
                side,
                offset: 0,
                total: data.len() as u64,
                data,
                from_start: true,
            };
            e.on_plain(&Input::Data(ch), &mut |x: &Exchange| out.push(x.clone()));
        }
        e.finish(&mut |x: &Exchange| out.push(x.clone()));
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].client, out[0].server, out[0].status),
            (None, None, Some(201))
        );
        assert_eq!(e.counters().plain.plain_no_tuple, 1);
    }

    /// Hostile chunks (any bytes, any offsets, any order) never panic and leave nothing
    /// tracked at the end.
    #[test]
    fn arbitrary_chunks_never_panic() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let chunk = (
            0u64..3,
            any::<bool>(),
            any::<bool>(),
            0u64..5000,
            proptest::collection::vec(any::<u8>(), 0..64),
            0u64..100,
        );
        runner
            .run(&proptest::collection::vec(chunk, 0..40), |chunks| {
                let mut e = Engine::new(Limits {
                    max_plain_connections: 2,
                    ..Limits::default()
                });
                let mut n = 0;
                for (ssl, write, from_start, offset, data, extra) in &chunks {
                    let ch = Chunk {
                        ts: Timestamp(T0 + offset * 1_000_000),
                        conn: ConnId { pid: 1, ssl: *ssl },
                        comm: b"x",
                        sockets: Rig::sockets(if *ssl == 0 { NGINX } else { CURL }),
                        side: if *write { Side::Write } else { Side::Read },
                        offset: *offset,
                        total: data.len() as u64 + extra,
                        data,
                        from_start: *from_start,
                    };
                    e.on_plain(&Input::Data(ch), &mut |_: &Exchange| n += 1);
                }
                e.finish(&mut |_: &Exchange| n += 1);
                prop_assert_eq!(e.open_plain_connections(), 0);
                Ok(())
            })
            .unwrap();
    }
}
