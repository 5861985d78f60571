//! The engine: decoded frames through the flow table, reassembly and one analyzer per
//! flow (see [`crate::analyzer`]), out to a [`Sink`] as [`Event`]s.
//!
//! Contract:
//! - Sans-IO and deterministic: time comes only from frames and [`Engine::on_tick`];
//!   the same frames give the same exchanges in the same order, every run.
//! - Never fails on input: undecodable frames, non-TCP traffic and every limit hit are
//!   counted in [`Counters`]; IP fragments are reassembled within the caps of
//!   [`crate::ipfrag`] and the datagram decoded again.
//! - Events are handed to the sink after each call (`on_frame`, `on_tick`, `finish`),
//!   in the order the analyzers produced them.
//! - Memory is bounded by [`Limits`]: `max_flows` connections, each with capped
//!   reassembly and HTTP buffers, and `max_buffered_bytes` over all of them: after every
//!   packet the flow's heap bytes are recharged, and past the ceiling the least recently
//!   active flows holding buffers are closed (`flows_shed`; see `budget.rs`).

use crate::analyzer::{AppCtx, AppLayer};
use crate::budget::Budget;
use crate::closed::{ClosedTable, EndpointEnd};
use crate::event::{Event, Sink};
use crate::flow::{FlowKey, FlowTable};
use crate::http::{Ctx, HttpCounters, QueuePool};
use crate::http2::Http2Counters;
use crate::ipfrag::{FragCounters, Reassembled, Reassembler};
use crate::limits::Limits;
use crate::plain::{Env, Input, PlainTable};
use crate::preface::PrefaceCounters;
use crate::protocol::ProtocolTable;
use crate::reasm::{HalfStream, ReasmCounters};
use crate::shard::Key;
use crate::stream::{Dir, StreamEvent};
use crate::websocket::WebSocketCounters;
use httptop_wire::{
    decode_datagram, decode_plain, decode_traced, DecodeError, DecodeErrorCounts, Decoded, Encap,
    EncapCounters, Frame, TcpSegment, Timestamp, MAX_ENCAP_DEPTH,
};
use std::net::SocketAddr;

httptop_wire::counters! {
    /// Capture-health and anomaly counters, monotonic over the engine's life.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct Counters {
        [Packets]
        /// Frames read from the capture.
        frames: Frames => "packets",
        /// Bytes of the frames read from the capture.
        bytes: Bytes => "captured_bytes",
        /// Frames carrying a TCP segment.
        tcp_segments: Frames,
        /// Frames carrying IP but not TCP.
        other_ip: Frames,
        /// Frames carrying no IP.
        not_ip: Frames,
        /// IP fragments (reassembled: see the frag_ counters).
        ip_fragments: Frames => "anomalies" { kind = "ip_fragment" },
        /// Frames that could not be decoded (every kind but an unsupported link type).
        decode_errors: Frames => "anomalies" { kind = "undecodable_frame" },
        /// Frames of a link type httptop does not decode.
        unsupported_linktype: Frames => "anomalies" { kind = "unsupported_link_type" },
        /// Segments of unknown connections that cannot start one (pure ACK, RST, FIN).
        stray_segments: Segments,
        [Flows]
        /// TCP connections tracked since start-up.
        flows_created: Connections => "flows",
        /// Connections closed and removed from the table.
        flows_closed: Connections,
        /// Connections closed because the connection table was full (--max-flows).
        flows_evicted: Connections => "flow_evictions",
        /// Connections closed after being idle (--flow-timeout).
        flows_timed_out: Connections => "flow_timeouts",
        /// A SYN reused the address pair of a connection still in the table.
        flows_reused: Connections,
        /// Connections closed because the bytes buffered over all connections went past the ceiling (the least recently active holders go first).
        flows_shed: Connections,
        /// Segments repeating a recently closed connection (its SYN, or data at or before its final sequence numbers), dropped instead of opening a new connection.
        late_duplicates: Segments,
        /// Recently closed connections forgotten early because their memory was full (max_closed_flows); late copies of their segments then open a new connection.
        closed_evicted: Connections,
    } extra {
        /// Undecodable frames by kind (unsupported link types included).
        pub decode: DecodeErrorCounts,
        /// Frames by encapsulation layer entered.
        pub encap: EncapCounters,
        /// IP fragment reassembly.
        pub frag: FragCounters,
        pub reasm: ReasmCounters,
        pub http: HttpCounters,
        /// Connections, requests and bytes per detected protocol.
        pub protocols: ProtocolTable,
        /// PROXY headers, SOCKS5 handshakes and CONNECT tunnels in front of HTTP.
        pub preface: PrefaceCounters,
        /// HTTP/2 frames, streams and caps.
        pub h2: Http2Counters,
        /// WebSocket frames, messages and framing anomalies.
        pub websocket: WebSocketCounters,
        /// TLS records, handshakes and their anomalies.
        pub tls: crate::tls::TlsCounters,
        /// The TLS plaintext source's connections and streams.
        pub plain: crate::plain::PlainCounters,
    }
}

struct Flow {
    /// Orig is the key's `lo` endpoint.
    orig_is_lo: bool,
    halves: [HalfStream; 2],
    app: AppLayer,
    last_seen: Timestamp,
    /// Creation order, to close flows in a deterministic order at the end.
    id: u64,
    /// Sequence number of the frame that last touched the flow (sharded engines only:
    /// the merge order of flows closed by one sweep, see [`crate::shard`]).
    touched: u64,
    /// The tunnels of the segment that created the flow, copied into its exchanges.
    encap: Encap,
}

const SWEEP_INTERVAL_NS: u64 = 1_000_000_000;

/// When idle connections are next swept: at the first input at or after one second of
/// packet time past the last sweep. The router of a sharded engine keeps the same clock
/// over every frame, so that its shards sweep where one engine would.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SweepClock(Timestamp);

impl SweepClock {
    /// Whether a sweep is due at `now`; if so, the next one is set from `now`.
    #[inline]
    pub(crate) fn due(&mut self, now: Timestamp) -> bool {
        if now < self.0 {
            return false;
        }
        self.0 = now.add_nanos(SWEEP_INTERVAL_NS);
        true
    }
}

/// What the frame-level decoding leaves for the connection layer.
pub(crate) enum Front<'a> {
    Tcp(TcpSegment<'a>),
    /// A datagram reassembled from fragments whose decoding is a TCP segment.
    Datagram(Reassembled),
    Nothing,
}

/// The frame-level part of [`Engine::on_frame`], shared with the router of a sharded
/// engine ([`crate::shard::Router`]): counts the frame, decodes it, reassembles IP
/// fragments (a complete datagram is decoded again, and a datagram holding a fragment of
/// a tunnelled one goes one tunnel deeper: the encapsulation cap bounds the loop; its
/// fragments were counted as frames, the datagram in `frag_reassembled`, its layers
/// inside the fragments' in `encap`). The common case ([`decode_plain`]) is inlined into
/// the callers; every other frame takes [`front_layers`].
#[inline]
pub(crate) fn front<'a>(
    counters: &mut Counters,
    frags: &mut Reassembler,
    limits: &Limits,
    frame: &Frame<'a>,
) -> Front<'a> {
    counters.frames += 1;
    counters.bytes += frame.data.len() as u64;
    match decode_plain(frame.linktype, frame.data) {
        Some(seg) => {
            counters.tcp_segments += 1;
            Front::Tcp(seg)
        }
        None => front_layers(counters, frags, limits, frame),
    }
}

/// [`front`] past its common case: every layer, tunnel, fragment and error.
#[inline(never)]
fn front_layers<'a>(
    counters: &mut Counters,
    frags: &mut Reassembler,
    limits: &Limits,
    frame: &Frame<'a>,
) -> Front<'a> {
    let (decoded, encap) = decode_traced(frame.linktype, frame.data);
    counters.encap.count(encap);
    match decoded {
        Ok(Decoded::Tcp(seg)) => {
            counters.tcp_segments += 1;
            return Front::Tcp(seg);
        }
        Ok(Decoded::OtherIp) => counters.other_ip += 1,
        Ok(Decoded::NotIp) => counters.not_ip += 1,
        Ok(Decoded::Fragment(f)) => {
            counters.ip_fragments += 1;
            let mut next = frags.add(frame.ts, &f, limits, &mut counters.frag);
            for _ in 0..MAX_ENCAP_DEPTH {
                let Some(d) = next.take() else { break };
                let (decoded, encap) = decode_datagram(d.src, d.dst, d.proto, &d.payload, d.encap);
                counters.encap.count(encap.inner_of(d.encap));
                match decoded {
                    Ok(Decoded::Tcp(_)) => return Front::Datagram(d),
                    Ok(Decoded::Fragment(g)) => {
                        next = frags.add(frame.ts, &g, limits, &mut counters.frag);
                    }
                    Ok(Decoded::OtherIp | Decoded::NotIp) => {}
                    Err(e) => counters.decode.count(&e),
                }
            }
        }
        Err(e) => {
            counters.decode.count(&e);
            match e {
                DecodeError::UnsupportedLinkType(_) => counters.unsupported_linktype += 1,
                _ => counters.decode_errors += 1,
            }
        }
    }
    Front::Nothing
}

/// Capacity of the event vector kept between packets (events of about 300 bytes).
const MAX_KEPT_EVENTS: usize = 256;

/// What the analyzers need on a call, borrowed from the engine's fields.
// One borrow per counters struct the analyzers touch: the reassembly counters are
// borrowed beside them, so `Counters` cannot be passed whole.
#[allow(clippy::too_many_arguments)]
impl Counters {
    /// The analyzers' context over these counters, and the two groups used beside it:
    /// the reassembly counters (TCP source) and the plaintext source's own.
    pub(crate) fn app_ctx<'a, 'c: 'a>(
        &'c mut self,
        limits: &'a Limits,
        out: &'a mut Vec<Event>,
        pool: &'a mut QueuePool,
        now: Timestamp,
    ) -> (
        AppCtx<'a>,
        &'c mut ReasmCounters,
        &'c mut crate::plain::PlainCounters,
    ) {
        let Counters {
            http,
            protocols,
            preface,
            h2,
            websocket,
            tls,
            reasm,
            plain,
            ..
        } = self;
        let cx = AppCtx {
            http: Ctx {
                limits,
                counters: http,
                out,
                pool,
                now,
            },
            protocols,
            preface,
            h2,
            websocket,
            tls,
        };
        (cx, reasm, plain)
    }
}

/// Frames in, events out. See the module documentation.
pub struct Engine {
    limits: Limits,
    flows: FlowTable<Flow>,
    /// Connections recently closed by FIN or RST, consulted only on a flow table miss.
    closed: ClosedTable,
    /// Heap bytes each flow buffers, and their sum against `limits.max_buffered_bytes`.
    budget: Budget,
    /// Request queues reused across connections.
    pool: QueuePool,
    counters: Counters,
    out: Vec<Event>,
    /// Events at the front of `out` already handed to a keyed sink (which left them
    /// there, see [`Sink::keyed`]).
    handed: usize,
    /// Latest time seen (frames may go backwards in shuffled captures).
    now: Timestamp,
    /// Packet time of the call in progress: the frame's time, the tick's, or the latest
    /// at the end (the time of the requests it completes).
    clock: Timestamp,
    next_sweep: SweepClock,
    next_id: u64,
    /// Merge key of the events of the call in progress (sharded engines, see
    /// [`crate::shard`]); unused otherwise.
    key: Key,
    /// Sequence number of the frame in progress (sharded engines; see `Flow::touched`).
    touch_seq: u64,
    /// IP datagrams being reassembled from fragments.
    frags: Reassembler,
    /// Connections of the TLS plaintext source (see [`crate::plain`]).
    plain: PlainTable,
}

impl Engine {
    pub fn new(limits: Limits) -> Self {
        Engine {
            plain: PlainTable::new(limits.max_plain_connections),
            flows: FlowTable::new(limits.max_flows),
            closed: ClosedTable::new(
                limits.max_closed_flows,
                crate::closed::timeout_ns(limits.flow_idle_timeout_ns),
            ),
            budget: Budget::new(limits.max_buffered_bytes),
            pool: QueuePool::default(),
            limits,
            counters: Counters::default(),
            out: Vec::new(),
            handed: 0,
            now: Timestamp::ZERO,
            clock: Timestamp::ZERO,
            next_sweep: SweepClock::default(),
            next_id: 0,
            key: Key::default(),
            touch_seq: 0,
            frags: Reassembler::default(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Connections currently tracked.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// TLS plaintext connections currently tracked (see [`crate::plain`]).
    pub fn open_plain_connections(&self) -> usize {
        self.plain.len()
    }

    /// One input of the TLS plaintext source (see [`crate::plain`]): its time is wall
    /// time like a frame's; inputs and frames may interleave.
    pub fn on_plain(&mut self, input: &Input<'_>, sink: &mut dyn Sink) {
        let ts = input.ts();
        self.clock = ts;
        self.with_plain(|plain, env| plain.on_input(input, env));
        self.input_done(ts, sink);
    }

    /// After a frame or a plaintext input at time `ts`: the engine's time moves on (never
    /// back), what the input completed goes out, and idle connections are swept when due.
    fn input_done(&mut self, ts: Timestamp, sink: &mut dyn Sink) {
        self.moved_on(ts, sink);
        if self.next_sweep.due(self.now) {
            self.sweep(sink);
        }
    }

    /// Runs `f` on the TLS plaintext table with the engine's borrows.
    fn with_plain<R>(&mut self, f: impl FnOnce(&mut PlainTable, &mut Env<'_>) -> R) -> R {
        let Engine {
            limits,
            counters,
            out,
            pool,
            plain,
            ..
        } = self;
        let mut env = Env {
            limits,
            counters,
            out,
            pool,
        };
        f(plain, &mut env)
    }

    /// Heap bytes buffered over all flows (reassembly, heads, queued requests), the
    /// quantity `Limits::max_buffered_bytes` caps after every packet.
    pub fn buffered_bytes(&self) -> usize {
        self.budget.total()
    }

    /// The latest time the engine has seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// One captured frame.
    pub fn on_frame(&mut self, frame: &Frame<'_>, sink: &mut dyn Sink) {
        self.clock = frame.ts;
        match front(&mut self.counters, &mut self.frags, &self.limits, frame) {
            Front::Tcp(seg) => self.on_tcp(frame.ts, &seg),
            Front::Datagram(d) => self.on_datagram(frame.ts, &d),
            Front::Nothing => {}
        }
        self.input_done(frame.ts, sink);
    }

    /// A datagram reassembled from fragments, known to carry TCP (see [`front`]).
    fn on_datagram(&mut self, ts: Timestamp, d: &Reassembled) {
        let (decoded, _) = decode_datagram(d.src, d.dst, d.proto, &d.payload, d.encap);
        if let Ok(Decoded::Tcp(seg)) = decoded {
            self.on_tcp(ts, &seg);
        }
    }

    /// A sharded engine's segment (see [`crate::shard`]): one the router decoded from
    /// frame number `seq` (time `ts`) and sent here, the latest time before it being
    /// `now`. The router counted the frame.
    pub fn on_shard_segment(
        &mut self,
        seq: u64,
        now: Timestamp,
        ts: Timestamp,
        seg: &TcpSegment<'_>,
        sink: &mut dyn Sink,
    ) {
        self.shard_call(seq, now, ts);
        self.on_tcp(ts, seg);
        self.moved_on(ts, sink);
    }

    /// A sharded engine's datagram reassembled by the router from fragments, completed
    /// by frame number `seq` (see [`Engine::on_shard_segment`]).
    pub fn on_shard_datagram(
        &mut self,
        seq: u64,
        now: Timestamp,
        ts: Timestamp,
        d: &Reassembled,
        sink: &mut dyn Sink,
    ) {
        self.shard_call(seq, now, ts);
        self.on_datagram(ts, d);
        self.moved_on(ts, sink);
    }

    /// A sharded engine's sweep, due after frame number `seq` (time `ts`), the latest
    /// time then being `now`: idle connections close, each with the merge key of its
    /// last frame.
    pub fn on_shard_sweep(&mut self, seq: u64, now: Timestamp, ts: Timestamp, sink: &mut dyn Sink) {
        self.shard_call(seq, now, ts);
        self.sweep(sink);
    }

    /// A sharded engine's end, the latest time over all frames being `now` (a shard
    /// may not have seen the last frames): [`Engine::finish`] at that time.
    pub fn on_shard_finish(&mut self, now: Timestamp, sink: &mut dyn Sink) {
        if now > self.now {
            self.now = now;
        }
        self.finish(sink);
    }

    fn shard_call(&mut self, seq: u64, now: Timestamp, ts: Timestamp) {
        self.key = Key { seq, sub: 0 };
        // A flow opened by this frame takes its number as id: creation order over all
        // shards.
        self.next_id = seq;
        self.touch_seq = seq;
        if now > self.now {
            self.now = now;
        }
        self.clock = ts;
    }

    /// After an input at `ts`: the engine's time moves on (never back) and what the
    /// input completed goes out. (A shard's sweeps come from the router.)
    fn moved_on(&mut self, ts: Timestamp, sink: &mut dyn Sink) {
        if ts > self.now {
            self.now = ts;
        }
        self.drain(sink);
    }

    /// Time passes without packets (live capture): idle flows time out.
    pub fn on_tick(&mut self, now: Timestamp, sink: &mut dyn Sink) {
        if now > self.now {
            self.now = now;
        }
        self.clock = now;
        self.sweep(sink);
    }

    /// The capture is over: every connection is closed, in the order it was opened, and
    /// everything still pending is emitted.
    pub fn finish(&mut self, sink: &mut dyn Sink) {
        self.clock = self.now;
        let mut all: Vec<(u64, u32)> = self
            .flows
            .indices()
            .filter_map(|i| self.flows.get(i).map(|f| (f.id, i)))
            .collect();
        all.sort_unstable();
        for (id, i) in all {
            self.key = Key {
                seq: u64::MAX,
                sub: id,
            };
            self.close(i);
            self.drain(sink);
        }
        let now = self.now;
        while self.with_plain(|p, env| p.finish_one(now, env)) {
            self.drain(sink);
        }
    }

    /// Hands the events out by reference, or in place to a shard's collector (an event
    /// holding an exchange is a few hundred bytes: moving each out of the vector again
    /// would copy it once more per exchange). Events are drained after every packet and
    /// after every connection closed in a batch (sweep, finish), so the vector holds one
    /// packet's or one connection's worth (beyond what a collector left in it, at most
    /// its piece); a vector grown past [`MAX_KEPT_EVENTS`] by a burst is shrunk back.
    ///
    /// Nothing to hand on (the vector empty and not oversized: most packets end no
    /// message) costs a check: no sink does anything with an empty vector (see
    /// [`Sink::keyed`]), so all that is left is to reset `handed`.
    #[inline]
    fn drain(&mut self, sink: &mut dyn Sink) {
        if self.out.is_empty() && self.out.capacity() <= MAX_KEPT_EVENTS {
            self.handed = 0;
            return;
        }
        self.drain_events(sink);
    }

    /// [`Engine::drain`] with events to hand on.
    #[inline(never)]
    fn drain_events(&mut self, sink: &mut dyn Sink) {
        let from = self.handed.min(self.out.len());
        for ev in &self.out[from..] {
            if let Event::RequestStarted { protocol, .. } = ev {
                self.counters.protocols.get_mut(*protocol).requests += 1;
            }
        }
        if sink.keyed(self.key, &mut self.out) {
            // A shard's collector keeps them or took the vector.
            self.handed = self.out.len();
            return;
        }
        for ev in &self.out[from..] {
            sink.on_event(ev);
        }
        self.out.clear();
        self.handed = 0;
        if self.out.capacity() > MAX_KEPT_EVENTS {
            self.out.shrink_to(MAX_KEPT_EVENTS);
        }
    }

    /// A sharded engine's events handed to its keyed sink and still in its vector, to
    /// `f` (which may take the vector, leaving an empty one): the collector's batch end.
    pub fn keyed_events(&mut self, f: impl FnOnce(&mut Vec<Event>)) {
        f(&mut self.out);
        self.handed = self.out.len();
    }

    /// Connections remembered as recently closed (see [`crate::closed`]).
    pub fn closed_flows(&self) -> usize {
        self.closed.len()
    }

    /// Closes the flows idle for longer than the timeout, least recently active first.
    fn sweep(&mut self, sink: &mut dyn Sink) {
        self.closed.expire(self.now);
        self.frags
            .expire(self.now, &self.limits, &mut self.counters.frag);
        let timeout = self.limits.flow_idle_timeout_ns;
        while let Some(i) = self.flows.lru() {
            let idle = self
                .flows
                .get(i)
                .is_some_and(|f| self.now.since(f.last_seen) >= timeout);
            if !idle {
                break;
            }
            self.counters.flows_timed_out += 1;
            self.key.sub = self.flows.get(i).map_or(0, |f| f.touched + 1);
            self.close(i);
            self.drain(sink);
        }
        let now = self.now;
        while self.with_plain(|p, env| p.sweep_one(now, timeout, env)) {
            self.drain(sink);
        }
        self.with_plain(|p, env| p.release_stale(now, env));
        self.drain(sink);
    }

    /// Closes a flow that ended by TCP (FIN both ways, RST) and remembers it, so that
    /// late copies of its segments are not taken for a new connection.
    fn close_finished(&mut self, i: u32, key: FlowKey, now: Timestamp) {
        let Some(f) = self.close_flow(i) else {
            return;
        };
        let side = |h: &HalfStream| EndpointEnd {
            isn: h.isn(),
            end: h.end_seq(),
        };
        let (lo, hi) = if f.orig_is_lo { (0, 1) } else { (1, 0) };
        let sides = [side(&f.halves[lo]), side(&f.halves[hi])];
        if self.closed.insert(key, now, sides) {
            self.counters.closed_evicted += 1;
        }
    }

    /// Flushes both directions, closes the analyzer and removes the flow.
    fn close(&mut self, i: u32) {
        self.close_flow(i);
    }

    /// [`Engine::close`], handing the flushed flow back.
    fn close_flow(&mut self, i: u32) -> Option<Flow> {
        let mut f = self.flows.remove(i)?;
        self.budget.release(i);
        self.counters.flows_closed += 1;
        let ts = f.last_seen;
        let Engine {
            limits,
            counters,
            out,
            pool,
            clock,
            ..
        } = self;
        let (mut cx, reasm, _) = counters.app_ctx(limits, out, pool, *clock);
        let start = cx.http.out.len();
        let Flow {
            halves, app, encap, ..
        } = &mut f;
        for d in [Dir::Orig, Dir::Resp] {
            halves[d.index()].flush(ts, reasm, &mut |t, ev| app.feed(d, t, ev, &mut cx));
        }
        app.close(ts, &mut cx);
        stamp(&mut out[start..], *encap);
        Some(f)
    }

    fn on_tcp(&mut self, ts: Timestamp, seg: &TcpSegment<'_>) {
        let (key, src_is_lo) = FlowKey::new(seg.src, seg.src_port, seg.dst, seg.dst_port);
        let flags = seg.flags;
        let syn_only = flags.syn() && !flags.ack();
        let mut slot = self.flows.lookup(&key);
        if let Some(i) = slot {
            // A SYN with a new initial sequence number on the address pair of a
            // connection that already carried data: the port was reused, this is a new
            // connection. (The same ISN is a retransmitted SYN.)
            let reused = syn_only
                && self.flows.get(i).is_some_and(|f| {
                    let orig = &f.halves[0];
                    let from_orig = src_is_lo == f.orig_is_lo;
                    orig.isn() != Some(seg.seq)
                        && (!from_orig || orig.offset() > 0 || orig.fin_seen() || orig.has_parked())
                });
            if reused {
                self.counters.flows_reused += 1;
                self.close(i);
                slot = None;
            }
        }
        let i = match slot {
            Some(i) => i,
            None => {
                if flags.rst() || (!flags.syn() && seg.payload.is_empty()) {
                    self.counters.stray_segments += 1;
                    return;
                }
                // Only here, on a miss by a segment that would open a flow: a late copy
                // of a connection that closed is dropped (see `closed`).
                if !self.closed.is_empty() {
                    let len = seg.wire_payload_len() + u64::from(flags.fin());
                    let now = self.now.max(ts);
                    if self.closed.is_late_duplicate(
                        &key,
                        src_is_lo,
                        seg.seq,
                        len,
                        flags.syn(),
                        now,
                    ) {
                        self.counters.late_duplicates += 1;
                        return;
                    }
                }
                if self.flows.is_full() {
                    if let Some(lru) = self.flows.lru() {
                        self.counters.flows_evicted += 1;
                        self.close(lru);
                    }
                }
                // The SYN sender is the originator; a SYN-ACK's receiver is; otherwise
                // the first sender seen.
                let src = SocketAddr::new(seg.src, seg.src_port);
                let dst = SocketAddr::new(seg.dst, seg.dst_port);
                let src_is_orig = !(flags.syn() && flags.ack());
                let (orig, resp) = if src_is_orig { (src, dst) } else { (dst, src) };
                self.counters.flows_created += 1;
                self.next_id += 1;
                let flow = Flow {
                    orig_is_lo: src_is_lo == src_is_orig,
                    halves: [HalfStream::default(), HalfStream::default()],
                    app: AppLayer::new(orig, resp),
                    last_seen: ts,
                    id: self.next_id,
                    touched: 0,
                    encap: seg.encap,
                };
                self.flows.insert(key, flow)
            }
        };
        let Engine {
            limits,
            counters,
            out,
            flows,
            pool,
            clock,
            touch_seq,
            ..
        } = self;
        let Some(f) = flows.get_mut(i) else { return };
        if ts > f.last_seen {
            f.last_seen = ts;
        }
        f.touched = *touch_seq;
        let dir = if src_is_lo == f.orig_is_lo {
            Dir::Orig
        } else {
            Dir::Resp
        };
        let start = out.len();
        let Flow {
            halves, app, encap, ..
        } = f;
        let encap = *encap;
        let (mut cx, reasm, _) = counters.app_ctx(limits, out, pool, *clock);
        let (this, peer) = match dir {
            Dir::Orig => {
                let (a, b) = halves.split_at_mut(1);
                (&mut a[0], &mut b[0])
            }
            Dir::Resp => {
                let (a, b) = halves.split_at_mut(1);
                (&mut b[0], &mut a[0])
            }
        };
        if flags.ack() {
            peer.on_peer_ack(seg.ack, seg.window);
        }
        if flags.syn() {
            this.on_syn(seg.seq);
        }
        if flags.rst() {
            let other = dir.other();
            this.flush(ts, reasm, &mut |t, ev| app.feed(dir, t, ev, &mut cx));
            peer.flush(ts, reasm, &mut |t, ev| app.feed(other, t, ev, &mut cx));
            app.feed(dir, ts, StreamEvent::Rst, &mut cx);
            stamp(&mut out[start..], encap);
            self.close_finished(i, key, self.now.max(ts));
            return;
        }
        // Keep-alive and zero-window probes carry 0 or 1 byte (see `reasm`).
        let probe = seg.payload.len() <= 1
            && !flags.syn()
            && !flags.fin()
            && seg.payload_missing == 0
            && this.on_probe(ts, seg.seq, seg.payload, reasm);
        if !probe {
            this.on_segment(
                ts,
                seg.seq,
                seg.payload,
                flags.fin(),
                limits,
                reasm,
                &mut |t, ev| app.feed(dir, t, ev, &mut cx),
            );
        }
        if seg.payload_missing > 0 {
            let end = seg.seq.wrapping_add(seg.payload.len() as u32);
            let missing = u64::from(seg.payload_missing);
            this.on_missing(end, missing, reasm, &mut |t, ev| {
                app.feed(dir, t, ev, &mut cx)
            });
        }
        let opaque = app.is_opaque();
        if opaque && !this.is_skipping() {
            // Decided as opaque just now: the flow's payload is only counted from here
            // on, what reassembly holds is handed over, no hole becomes a gap.
            let other = dir.other();
            this.skip(reasm, &mut |t, ev| app.feed(dir, t, ev, &mut cx));
            peer.skip(reasm, &mut |t, ev| app.feed(other, t, ev, &mut cx));
        }
        stamp(&mut out[start..], encap);
        let closed = if opaque {
            // A FIN beyond a skipped hole is never delivered: seeing both is enough.
            this.fin_seen() && peer.fin_seen()
        } else {
            this.fin_delivered() && peer.fin_delivered()
        };
        if closed {
            self.close_finished(i, key, self.now.max(ts));
            return;
        }
        let held = halves[0].heap_bytes() + halves[1].heap_bytes() + app.heap_bytes();
        self.budget.charge(i, held);
        self.shed();
    }

    /// Over the global ceiling: closes the least recently active flows that hold buffers
    /// until the total is back under it (the policy of [`crate::budget`]).
    fn shed(&mut self) {
        while self.budget.over() {
            let Some(j) = self.budget.lru_holder() else {
                break;
            };
            self.counters.flows_shed += 1;
            self.close(j);
        }
    }
}

/// Marks the exchanges and WebSocket sessions of one flow with the tunnels that carried
/// it (events from index `start` of the output are that flow's).
#[inline]
fn stamp(events: &mut [Event], encap: Encap) {
    if encap.is_empty() {
        return;
    }
    for ev in events {
        match ev {
            Event::Exchange(ex) => ex.encap = encap,
            Event::WebSocket(ws) => ws.encap = encap,
            Event::Tls(t) => t.encap = encap,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-connection budget ARCHITECTURE.md states: an idle tracked connection costs
    /// one `Flow` in the slab plus its hash entry.
    #[test]
    fn idle_flow_fits_its_budget() {
        let flow = std::mem::size_of::<Flow>();
        eprintln!(
            "Flow: {flow} bytes, HalfStream: {}, AppLayer: {}, HttpConn: {}, Exchange: {}",
            std::mem::size_of::<HalfStream>(),
            std::mem::size_of::<AppLayer>(),
            std::mem::size_of::<crate::http::HttpConn>(),
            std::mem::size_of::<crate::event::Exchange>()
        );
        assert!(flow <= 648, "Flow is {flow} bytes");
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::event::Exchange;
    use httptop_wire::build::{ethernet_ipv4_tcp, flags, Endpoint};
    use httptop_wire::LinkType;

    const SERVER: Endpoint = ([10, 0, 0, 2], 80);

    fn feed(e: &mut Engine, out: &mut Vec<Exchange>, t: u64, f: Vec<u8>) {
        let frame = Frame {
            ts: Timestamp(1_000_000_000 + t),
            linktype: LinkType::ETHERNET,
            orig_len: f.len() as u32,
            data: &f,
        };
        e.on_frame(&frame, &mut |ex: &Exchange| out.push(ex.clone()));
    }

    /// Client `n` sends an unanswered request (a pending exchange whose path is held).
    fn hold(e: &mut Engine, out: &mut Vec<Exchange>, n: u8) {
        let c = ([10, 0, 1, n], 40_000);
        let req = format!("GET /{}{n} HTTP/1.1\r\nHost: h\r\n\r\n", "p".repeat(100));
        feed(
            e,
            out,
            u64::from(n),
            ethernet_ipv4_tcp(c, SERVER, 1, 0, flags::SYN, b""),
        );
        let f = ethernet_ipv4_tcp(c, SERVER, 2, 1, flags::PSH | flags::ACK, req.as_bytes());
        feed(e, out, u64::from(n), f);
    }

    #[test]
    fn over_the_ceiling_the_least_recently_active_holders_are_shed() {
        let mut probe = Engine::new(Limits::default());
        let mut out = Vec::new();
        hold(&mut probe, &mut out, 0);
        let one = probe.buffered_bytes();
        assert!(one > 100, "a held request is charged: {one}");

        // Room for three such flows; an idle flow (no buffers) is never shed.
        let limits = Limits {
            max_buffered_bytes: 3 * one + one / 2,
            ..Limits::default()
        };
        let mut e = Engine::new(limits);
        let idle = ([10, 0, 2, 1], 40_000);
        feed(
            &mut e,
            &mut out,
            0,
            ethernet_ipv4_tcp(idle, SERVER, 1, 0, flags::SYN, b""),
        );
        for n in 1..=3 {
            hold(&mut e, &mut out, n);
        }
        assert_eq!((e.counters().flows_shed, e.buffered_bytes()), (0, 3 * one));
        // Flow 1 is active again: flow 2 is now the least recently active holder.
        let c1 = ([10, 0, 1, 1], 40_000);
        feed(
            &mut e,
            &mut out,
            9,
            ethernet_ipv4_tcp(c1, SERVER, 2, 1, flags::ACK, b""),
        );
        out.clear();
        hold(&mut e, &mut out, 4);
        assert_eq!(e.counters().flows_shed, 1);
        assert_eq!(e.buffered_bytes(), 3 * one);
        assert_eq!(e.open_flows(), 4, "the idle flow stays");
        assert_eq!(out.len(), 1);
        assert!(out[0].path.as_bytes().ends_with(b"p2"));
        assert!(out[0].flags.contains(crate::Flags::NO_RESPONSE));
        // Closing a flow releases its charge.
        e.finish(&mut |_: &Exchange| {});
        assert_eq!(e.buffered_bytes(), 0);
    }

    #[test]
    fn buffers_are_released_when_no_longer_needed() {
        let mut e = Engine::new(Limits::default());
        let mut out = Vec::new();
        let c = ([10, 0, 3, 1], 40_000);
        let req = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        feed(
            &mut e,
            &mut out,
            0,
            ethernet_ipv4_tcp(c, SERVER, 1, 0, flags::SYN, b""),
        );
        let pa = flags::PSH | flags::ACK;
        feed(
            &mut e,
            &mut out,
            1,
            ethernet_ipv4_tcp(c, SERVER, 12, 1, pa, &req[10..]),
        );
        assert!(e.buffered_bytes() > 0, "out-of-order bytes are charged");
        feed(
            &mut e,
            &mut out,
            2,
            ethernet_ipv4_tcp(c, SERVER, 2, 1, pa, &req[..10]),
        );
        assert!(e.buffered_bytes() > 0, "the pending request is charged");
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        let f = ethernet_ipv4_tcp(SERVER, c, 1, 2 + req.len() as u32, pa, resp);
        feed(&mut e, &mut out, 3, f);
        assert_eq!(out.len(), 1);
        // The queue and the out-of-order list are freed; the head, which spanned two
        // events, leaves a small buffer kept for reuse (at most 512 bytes a side), still
        // charged.
        let kept = e.buffered_bytes();
        assert!(kept > 0 && kept <= 2 * crate::budget::heap(512), "{kept}");
        assert_eq!(e.open_flows(), 1);
    }
}

/// Issue 11: probes and late duplicates through the whole engine, on frames built with
/// `httptop_wire::build`.
#[cfg(test)]
mod issue11_tests {
    use super::*;
    use crate::event::Exchange;
    use crate::Flags;
    use httptop_wire::build::{ethernet_ipv4_tcp as tcp, flags, Endpoint};
    use httptop_wire::LinkType;

    const SERVER: Endpoint = ([10, 0, 0, 2], 80);
    const PA: u8 = flags::PSH | flags::ACK;
    const FA: u8 = flags::FIN | flags::ACK;
    const REQ: &[u8] = b"GET /k HTTP/1.1\r\nHost: h\r\n\r\n";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    /// Inserts an 802.1Q tag with VLAN `vid` into an Ethernet frame.
    fn vlan(f: &[u8], vid: u16) -> Vec<u8> {
        let mut v = f[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00]);
        v.extend_from_slice(&vid.to_be_bytes());
        v.extend_from_slice(&f[12..]);
        v
    }

    /// Frames of one whole connection from `c`: handshake, request, response, FINs and
    /// the last ACK. The client's ISN is `isn`, the server's `isn + 50_000`.
    fn connection(c: Endpoint, isn: u32) -> Vec<Vec<u8>> {
        let (ci, si) = (isn, isn.wrapping_add(50_000));
        let (rq, rs) = (REQ.len() as u32, RESP.len() as u32);
        vec![
            tcp(c, SERVER, ci, 0, flags::SYN, b""),
            tcp(SERVER, c, si, ci + 1, flags::SYN | flags::ACK, b""),
            tcp(c, SERVER, ci + 1, si + 1, flags::ACK, b""),
            tcp(c, SERVER, ci + 1, si + 1, PA, REQ),
            tcp(SERVER, c, si + 1, ci + 1 + rq, PA, RESP),
            tcp(c, SERVER, ci + 1 + rq, si + 1 + rs, FA, b""),
            tcp(SERVER, c, si + 1 + rs, ci + 2 + rq, FA, b""),
            tcp(c, SERVER, ci + 2 + rq, si + 2 + rs, flags::ACK, b""),
        ]
    }

    struct Run {
        e: Engine,
        out: Vec<Exchange>,
        t: u64,
    }

    impl Run {
        fn new(limits: Limits) -> Self {
            Run {
                e: Engine::new(limits),
                out: Vec::new(),
                t: 1_700_000_000_000_000_000,
            }
        }

        /// One frame, 1 ms after the previous one.
        fn feed(&mut self, f: &[u8]) {
            self.t += 1_000_000;
            let frame = Frame {
                ts: Timestamp(self.t),
                linktype: LinkType::ETHERNET,
                orig_len: f.len() as u32,
                data: f,
            };
            let out = &mut self.out;
            self.e
                .on_frame(&frame, &mut |ex: &Exchange| out.push(ex.clone()));
        }

        fn finish(&mut self) {
            let out = &mut self.out;
            self.e.finish(&mut |ex: &Exchange| out.push(ex.clone()));
        }

        /// (complete exchanges, exchanges without request, all exchanges).
        fn tally(&self) -> (usize, usize, usize) {
            let complete = self
                .out
                .iter()
                .filter(|x| x.status == Some(200) && x.flags == Flags::default())
                .count();
            let no_req = self
                .out
                .iter()
                .filter(|x| x.flags.contains(Flags::NO_REQUEST))
                .count();
            (complete, no_req, self.out.len())
        }
    }

    /// A connection picked up mid-stream whose first segment is a Windows keep-alive
    /// probe (1 byte of garbage one below the next sequence number), answered by the
    /// server's ACK, then a request and its response: one complete exchange.
    #[test]
    fn mid_stream_keepalive_probe_then_request_gives_one_complete_exchange() {
        for probe in [&b"\0"[..], &b"G"[..]] {
            let mut r = Run::new(Limits::default());
            let c = ([10, 0, 1, 1], 50_000);
            let (x, y) = (7_000u32, 900_000u32);
            r.feed(&tcp(c, SERVER, x - 1, y, flags::ACK, probe));
            r.feed(&tcp(SERVER, c, y, x, flags::ACK, b""));
            r.feed(&tcp(c, SERVER, x - 1, y, flags::ACK, probe));
            r.feed(&tcp(SERVER, c, y, x, flags::ACK, b""));
            r.feed(&tcp(c, SERVER, x, y, PA, REQ));
            r.feed(&tcp(SERVER, c, y, x + REQ.len() as u32, PA, RESP));
            r.finish();
            assert_eq!(r.tally(), (1, 0, 1), "{:?}", r.out);
            let c = &r.e.counters().reasm;
            assert_eq!((c.keepalive_probes, c.retransmissions, c.gaps), (2, 0, 0));
        }
    }

    /// A response sent into a zero window: the server's 1-byte probes, the client's
    /// zero-window ACKs, then the rest once the window opens (the probe byte sent again).
    #[test]
    fn zero_window_probe_is_skipped_and_counted() {
        let mut r = Run::new(Limits::default());
        let c = ([10, 0, 1, 2], 50_001);
        let f = connection(c, 1000);
        for fr in &f[..4] {
            r.feed(fr);
        }
        let (cn, sn) = (1001 + REQ.len() as u32, 51_001u32);
        let (head, rest) = RESP.split_at(20);
        r.feed(&tcp(SERVER, c, sn, cn, PA, head));
        let s2 = sn + head.len() as u32;
        for _ in 0..3 {
            // The client's window is full: zero-window ACK, then a probe of 1 byte.
            r.feed(&tcp(c, SERVER, cn, s2, flags::ACK, b""));
            let mut ack = tcp(c, SERVER, cn, s2, flags::ACK, b"");
            ack[48..50].copy_from_slice(&[0, 0]);
            r.feed(&ack);
            r.feed(&tcp(SERVER, c, s2, cn, flags::ACK, &rest[..1]));
        }
        r.feed(&tcp(c, SERVER, cn, s2, flags::ACK, b""));
        r.feed(&tcp(SERVER, c, s2, cn, PA, rest));
        r.finish();
        assert_eq!(r.tally(), (1, 0, 1), "{:?}", r.out);
        let rc = &r.e.counters().reasm;
        assert_eq!(
            (
                rc.zero_window_probes,
                rc.overlaps,
                rc.retransmissions,
                rc.gaps
            ),
            (3, 0, 0, 0)
        );
    }

    /// What a SPAN port mirroring two VLANs gives: every segment twice, the second copy
    /// (VLAN 20) lagging `lag` frames behind, so that copies of a connection's last
    /// segments arrive after it closed; then the whole capture once more. Each exchange
    /// is reported once, none without request.
    #[test]
    fn duplicates_from_a_second_vlan_after_the_close_are_late_duplicates() {
        let mut conns = Vec::new();
        for k in 0..20u8 {
            conns.extend(connection(([10, 0, 2, k], 40_000 + u16::from(k)), 1000));
        }
        for lag in [1usize, 3, 8, 30] {
            let mut r = Run::new(Limits::default());
            for i in 0..conns.len() + lag {
                if let Some(f) = conns.get(i) {
                    r.feed(&vlan(f, 10));
                }
                if let Some(f) = i.checked_sub(lag).and_then(|j| conns.get(j)) {
                    r.feed(&vlan(f, 20));
                }
            }
            for f in &conns {
                r.feed(&vlan(f, 30));
            }
            r.finish();
            assert_eq!(r.tally(), (20, 0, 20), "lag {lag}: {:?}", r.out);
            assert!(r.e.counters().late_duplicates > 0);
            assert_eq!(r.e.counters().flows_created, 20, "lag {lag}");
            assert_eq!(r.e.counters().reasm.gaps, 0);
        }
    }

    /// A connection that ended by RST: its data repeated later is a late duplicate.
    #[test]
    fn duplicates_of_a_reset_connection_are_late_duplicates() {
        let mut r = Run::new(Limits::default());
        let c = ([10, 0, 3, 1], 40_000);
        let f = connection(c, 1000);
        for fr in &f[..5] {
            r.feed(fr);
        }
        let rst = tcp(c, SERVER, 1001 + REQ.len() as u32, 0, flags::RST, b"");
        r.feed(&rst);
        for fr in &f[..5] {
            r.feed(fr);
        }
        r.finish();
        assert_eq!(r.tally(), (1, 0, 1), "{:?}", r.out);
        // SYN, SYN-ACK, request, response.
        assert_eq!(r.e.counters().late_duplicates, 4);
    }

    /// The same address pair reused by a new connection (a new SYN with another ISN, or
    /// new data past the old end) is seen as a connection of its own.
    #[test]
    fn a_new_connection_on_a_remembered_address_pair_is_seen() {
        let mut r = Run::new(Limits::default());
        let c = ([10, 0, 4, 1], 40_000);
        for f in connection(c, 1000) {
            r.feed(&f);
        }
        for f in connection(c, 3_000_000) {
            r.feed(&f);
        }
        // Picked up mid-stream past the old ends (no SYN).
        let later = connection(c, 6_000_000);
        for f in &later[3..] {
            r.feed(f);
        }
        r.finish();
        assert_eq!(r.tally(), (3, 0, 3), "{:?}", r.out);
        assert_eq!(r.e.counters().late_duplicates, 0);
        assert_eq!(r.e.counters().flows_created, 3);
        assert_eq!(r.e.closed_flows(), 1);
    }

    /// A connection seen only as a keep-alive probe, then a new connection on the same
    /// address pair (a SYN with another ISN): the port was reused, the new one is whole.
    #[test]
    fn new_syn_after_a_lone_probe_is_port_reuse() {
        let mut r = Run::new(Limits::default());
        let c = ([10, 0, 7, 1], 40_000);
        r.feed(&tcp(c, SERVER, 123_456_789, 77, flags::ACK, b"\0"));
        for f in connection(c, 1000) {
            r.feed(&f);
        }
        r.finish();
        assert_eq!(r.tally(), (1, 0, 1), "{:?}", r.out);
        assert_eq!(r.e.counters().flows_reused, 1);
        assert_eq!(r.e.counters().reasm.gaps, 0);
    }

    /// The memory at cap - 1, cap and cap + 1 closed connections, then every one of them
    /// repeated: the forgotten one opens a new flow (its response without request).
    #[test]
    fn closed_memory_cap_at_cap_minus_one_cap_and_cap_plus_one() {
        const CAP: usize = 4;
        for n in [CAP - 1, CAP, CAP + 1] {
            let mut r = Run::new(Limits {
                max_closed_flows: CAP,
                ..Limits::default()
            });
            let conns: Vec<_> = (0..n)
                .map(|k| connection(([10, 0, 5, k as u8], 40_000), 1000))
                .collect();
            for f in conns.iter().flatten() {
                r.feed(f);
            }
            assert_eq!(r.e.closed_flows(), n.min(CAP));
            let evicted = n.saturating_sub(CAP);
            assert_eq!(r.e.counters().closed_evicted, evicted as u64, "n = {n}");
            // The repeats start with the request (no SYN), newest connection first (the
            // forgotten one, repeated last, closes again and is remembered in its turn):
            // only those remembered are recognised.
            for f in conns.iter().rev() {
                for fr in &f[3..] {
                    r.feed(fr);
                }
            }
            r.finish();
            let remembered = n.min(CAP) as u64;
            // Request and response of each remembered connection.
            assert_eq!(r.e.counters().late_duplicates, 2 * remembered, "n = {n}");
            assert_eq!(r.tally().0, n + evicted, "n = {n}: {:?}", r.out);
        }
    }

    /// Entries expire: a repeat after the timeout is a new connection again.
    #[test]
    fn closed_memory_expires() {
        let mut r = Run::new(Limits {
            flow_idle_timeout_ns: 5_000_000_000,
            ..Limits::default()
        });
        let f = connection(([10, 0, 6, 1], 40_000), 1000);
        for fr in &f {
            r.feed(fr);
        }
        assert_eq!(r.e.closed_flows(), 1);
        r.t += 6_000_000_000;
        let out = &mut r.out;
        r.e.on_tick(Timestamp(r.t), &mut |ex: &Exchange| out.push(ex.clone()));
        assert_eq!(r.e.closed_flows(), 0);
        for fr in &f {
            r.feed(fr);
        }
        r.finish();
        assert_eq!(r.tally(), (2, 0, 2));
        assert_eq!(r.e.counters().late_duplicates, 0);
    }
}
