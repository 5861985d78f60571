//! The engine: decoded frames through the flow table, reassembly and one analyzer per
//! flow (see [`crate::analyzer`]), out to a [`Sink`] as [`Event`]s.
//!
//! Contract:
//! - Sans-IO and deterministic: time comes only from frames and [`Engine::on_tick`];
//!   the same frames give the same exchanges in the same order, every run.
//! - Never fails on input: undecodable frames, non-TCP traffic, fragments and every
//!   limit hit are counted in [`Counters`].
//! - Events are handed to the sink after each call (`on_frame`, `on_tick`, `finish`),
//!   in the order the analyzers produced them.
//! - Memory is bounded by [`Limits`]: `max_flows` connections, each with capped
//!   reassembly and HTTP buffers, and `max_buffered_bytes` over all of them: after every
//!   packet the flow's heap bytes are recharged, and past the ceiling the least recently
//!   active flows holding buffers are closed (`flows_shed`; see `budget.rs`).

use crate::analyzer::{AppCtx, AppLayer};
use crate::budget::Budget;
use crate::event::{Event, Sink};
use crate::flow::{FlowKey, FlowTable};
use crate::http::{Ctx, HttpCounters, QueuePool};
use crate::limits::Limits;
use crate::preface::PrefaceCounters;
use crate::protocol::ProtocolTable;
use crate::reasm::{HalfStream, ReasmCounters};
use crate::stream::{Dir, StreamEvent};
use httptop_wire::{decode, DecodeError, DecodeErrorCounts, Decoded, Frame, TcpSegment, Timestamp};
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
        /// IP fragments (not reassembled).
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
    } extra {
        /// Undecodable frames by kind (unsupported link types included).
        pub decode: DecodeErrorCounts,
        pub reasm: ReasmCounters,
        pub http: HttpCounters,
        /// Connections, requests and bytes per detected protocol.
        pub protocols: ProtocolTable,
        /// PROXY headers, SOCKS5 handshakes and CONNECT tunnels in front of HTTP.
        pub preface: PrefaceCounters,
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
}

const SWEEP_INTERVAL_NS: u64 = 1_000_000_000;

/// What the analyzers need on a call, borrowed from the engine's fields.
fn app_ctx<'a>(
    limits: &'a Limits,
    http: &'a mut HttpCounters,
    protocols: &'a mut ProtocolTable,
    preface: &'a mut PrefaceCounters,
    out: &'a mut Vec<Event>,
    pool: &'a mut QueuePool,
    now: Timestamp,
) -> AppCtx<'a> {
    AppCtx {
        http: Ctx {
            limits,
            counters: http,
            out,
            pool,
            now,
        },
        protocols,
        preface,
    }
}

/// Frames in, events out. See the module documentation.
pub struct Engine {
    limits: Limits,
    flows: FlowTable<Flow>,
    /// Heap bytes each flow buffers, and their sum against `limits.max_buffered_bytes`.
    budget: Budget,
    /// Request queues reused across connections.
    pool: QueuePool,
    counters: Counters,
    out: Vec<Event>,
    /// Latest time seen (frames may go backwards in shuffled captures).
    now: Timestamp,
    /// Packet time of the call in progress: the frame's time, the tick's, or the latest
    /// at the end (the time of the requests it completes).
    clock: Timestamp,
    next_sweep: Timestamp,
    next_id: u64,
}

impl Engine {
    pub fn new(limits: Limits) -> Self {
        Engine {
            flows: FlowTable::new(limits.max_flows),
            budget: Budget::new(limits.max_buffered_bytes),
            pool: QueuePool::default(),
            limits,
            counters: Counters::default(),
            out: Vec::new(),
            now: Timestamp::ZERO,
            clock: Timestamp::ZERO,
            next_sweep: Timestamp::ZERO,
            next_id: 0,
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
        self.counters.frames += 1;
        self.counters.bytes += frame.data.len() as u64;
        self.clock = frame.ts;
        match decode(frame.linktype, frame.data) {
            Ok(Decoded::Tcp(seg)) => {
                self.counters.tcp_segments += 1;
                self.on_tcp(frame.ts, &seg);
            }
            Ok(Decoded::OtherIp) => self.counters.other_ip += 1,
            Ok(Decoded::NotIp) => self.counters.not_ip += 1,
            Ok(Decoded::Fragment) => self.counters.ip_fragments += 1,
            Err(e) => {
                self.counters.decode.count(&e);
                match e {
                    DecodeError::UnsupportedLinkType(_) => self.counters.unsupported_linktype += 1,
                    _ => self.counters.decode_errors += 1,
                }
            }
        }
        if frame.ts > self.now {
            self.now = frame.ts;
        }
        if self.now >= self.next_sweep {
            self.sweep();
            self.next_sweep = self.now.add_nanos(SWEEP_INTERVAL_NS);
        }
        self.drain(sink);
    }

    /// Time passes without packets (live capture): idle flows time out.
    pub fn on_tick(&mut self, now: Timestamp, sink: &mut dyn Sink) {
        if now > self.now {
            self.now = now;
        }
        self.clock = now;
        self.sweep();
        self.drain(sink);
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
        for (_, i) in all {
            self.close(i);
            // Handed out flow by flow: the exchanges still pending in every flow would
            // otherwise all sit in `out` at once (tens of MiB when every flow is full).
            self.drain(sink);
        }
        self.drain(sink);
    }

    /// Hands the events out by reference (an event holding an exchange is a few hundred
    /// bytes: moving each out of the vector again would copy it once more per exchange).
    fn drain(&mut self, sink: &mut dyn Sink) {
        for ev in &self.out {
            if let Event::RequestStarted { protocol, .. } = ev {
                self.counters.protocols.get_mut(*protocol).requests += 1;
            }
            sink.on_event(ev);
        }
        self.out.clear();
    }

    fn sweep(&mut self) {
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
            self.close(i);
        }
    }

    /// Flushes both directions, closes the analyzer and removes the flow.
    fn close(&mut self, i: u32) {
        let Some(mut f) = self.flows.remove(i) else {
            return;
        };
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
        let mut cx = app_ctx(
            limits,
            &mut counters.http,
            &mut counters.protocols,
            &mut counters.preface,
            out,
            pool,
            *clock,
        );
        let Flow { halves, app, .. } = &mut f;
        for d in [Dir::Orig, Dir::Resp] {
            halves[d.index()].flush(ts, &mut counters.reasm, &mut |t, ev| {
                app.feed(d, t, ev, &mut cx)
            });
        }
        app.close(ts, &mut cx);
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
                        && (!from_orig || orig.offset() > 0 || orig.fin_seen())
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
            ..
        } = self;
        let Some(f) = flows.get_mut(i) else { return };
        if ts > f.last_seen {
            f.last_seen = ts;
        }
        let dir = if src_is_lo == f.orig_is_lo {
            Dir::Orig
        } else {
            Dir::Resp
        };
        let Flow { halves, app, .. } = f;
        let mut cx = app_ctx(
            limits,
            &mut counters.http,
            &mut counters.protocols,
            &mut counters.preface,
            out,
            pool,
            *clock,
        );
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
            peer.on_peer_ack(seg.ack);
        }
        if flags.syn() {
            this.on_syn(seg.seq);
        }
        if flags.rst() {
            let other = dir.other();
            let reasm = &mut counters.reasm;
            this.flush(ts, reasm, &mut |t, ev| app.feed(dir, t, ev, &mut cx));
            peer.flush(ts, reasm, &mut |t, ev| app.feed(other, t, ev, &mut cx));
            app.feed(dir, ts, StreamEvent::Rst, &mut cx);
            self.close(i);
            return;
        }
        let reasm = &mut counters.reasm;
        this.on_segment(
            ts,
            seg.seq,
            seg.payload,
            flags.fin(),
            limits,
            reasm,
            &mut |t, ev| app.feed(dir, t, ev, &mut cx),
        );
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
        let closed = if opaque {
            // A FIN beyond a skipped hole is never delivered: seeing both is enough.
            this.fin_seen() && peer.fin_seen()
        } else {
            this.fin_delivered() && peer.fin_delivered()
        };
        if closed {
            self.close(i);
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
        assert!(flow <= 640, "Flow is {flow} bytes");
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
