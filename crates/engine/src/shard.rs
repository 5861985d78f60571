//! The sharded engine: connections spread over several [`Engine`](crate::Engine)s (one per worker
//! thread), their events merged back into the one order a single engine gives.
//!
//! Contract:
//! - A [`Router`] sees every frame, in capture order. It numbers it (`seq`), counts and
//!   decodes it, reassembles IP fragments (so a fragmented segment goes where its
//!   connection's other segments go), and names the shard of its TCP segment by a
//!   symmetric hash of the connection's two endpoints (innermost, inside tunnels). It also
//!   keeps the one sweep clock: a sweep is sent to every shard after the frames where a
//!   single engine would sweep.
//! - A shard engine is fed only its own segments ([`Engine::on_shard_segment`](crate::Engine::on_shard_segment),
//!   [`Engine::on_shard_datagram`](crate::Engine::on_shard_datagram)), with the latest time before each, and every sweep
//!   ([`Engine::on_shard_sweep`](crate::Engine::on_shard_sweep)). It hands its events to a keyed sink ([`Collect`]),
//!   each with a [`Key`]: the frame's number (sub 0) for what a frame produces; the
//!   sweep's frame number and the closed connection's last frame (plus one) for a
//!   connection closed by a sweep, which is the order a single engine closes them in
//!   (least recently active first); `u64::MAX` and the connection's id (the number of the
//!   frame that opened it) for [`Engine::finish`](crate::Engine::finish), creation order.
//! - [`Merge`] puts the shards' keyed events back together by key. Frame, then the
//!   events in order: the same sequence a single [`Engine`](crate::Engine) hands out, so statistics,
//!   alerting and the log see the same thing whatever the number of shards (the
//!   `--threads` determinism test compares them).
//!   Where this does not hold: the caps. Each shard has its share of `max_flows` and
//!   `max_buffered_bytes` ([`Limits::per_shard`]), so which connection an eviction or a
//!   shed picks can depend on the number of shards; and a sweep closes each shard's idle
//!   prefix, which is the single engine's only while packet time does not go backwards
//!   within a flow timeout (a shuffled capture can close a connection one sweep apart).
//! - Counters: the router's (frames, decoding, fragments) and the shards' (connections,
//!   reassembly, protocols) are disjoint and add up ([`Counters::add`]).

use crate::engine::{front, Counters, Front, SweepClock};
use crate::event::{Event, Exchange, Sink};
use crate::flow::FlowKey;
use crate::ipfrag::{Reassembled, Reassembler};
use crate::limits::Limits;
use httptop_wire::{decode_datagram, Decoded, Frame, TcpSegment, Timestamp};
use std::hash::BuildHasher;
use std::net::IpAddr;

/// Where an event goes in the merged order (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The number of the frame whose call produced it (`u64::MAX`: the end).
    pub seq: u64,
    /// 0 for the frame's own events; the order of connections closed in the same call.
    pub sub: u64,
}

/// Where the router sends a frame.
#[derive(Debug)]
pub enum Route {
    /// Nowhere: not TCP, undecodable, or a fragment of a datagram not yet complete.
    None,
    /// This segment of the frame, to this shard.
    Segment(usize, Detached),
    /// This datagram, completed by the frame from fragments, to this shard.
    Datagram(usize, Box<Reassembled>),
}

/// One frame as the router saw it.
#[derive(Debug)]
pub struct Routed {
    /// The frame's number, from 0.
    pub seq: u64,
    /// The latest packet time before this frame.
    pub now: Timestamp,
    pub route: Route,
    /// A sweep is due after this frame, on every shard.
    pub sweep: bool,
}

/// Numbers, counts, decodes and routes every frame. See the module documentation.
pub struct Router {
    shards: usize,
    limits: Limits,
    counters: Counters,
    frags: Reassembler,
    now: Timestamp,
    sweep: SweepClock,
    seq: u64,
    /// Fixed: the same connection goes to the same shard on every run.
    hash: foldhash::fast::FixedState,
}

impl Router {
    /// A router over `shards` shards (at least one), with the single engine's limits
    /// (the fragment caps apply here).
    pub fn new(limits: Limits, shards: usize) -> Self {
        Router {
            shards: shards.max(1),
            limits,
            counters: Counters::default(),
            frags: Reassembler::default(),
            now: Timestamp::ZERO,
            sweep: SweepClock::default(),
            seq: 0,
            hash: foldhash::fast::FixedState::with_seed(0x6874_7470_746f_7021),
        }
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The router's counters: frames, decoding, encapsulation, fragments.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The latest packet time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Frames routed so far.
    pub fn frames(&self) -> u64 {
        self.seq
    }

    pub fn route(&mut self, frame: &Frame<'_>) -> Routed {
        let seq = self.seq;
        self.seq += 1;
        let before = self.now;
        let route = match front(&mut self.counters, &mut self.frags, &self.limits, frame) {
            Front::Tcp(seg) => Route::Segment(self.shard_of(&seg), Detached::new(&seg, frame.data)),
            Front::Datagram(d) => {
                match decode_datagram(d.src, d.dst, d.proto, &d.payload, d.encap).0 {
                    Ok(Decoded::Tcp(seg)) => {
                        let shard = self.shard_of(&seg);
                        Route::Datagram(shard, Box::new(d))
                    }
                    // `front` hands out only datagrams that decode to TCP.
                    _ => Route::None,
                }
            }
            Front::Nothing => Route::None,
        };
        if frame.ts > self.now {
            self.now = frame.ts;
        }
        let sweep = self.sweep.due(self.now);
        if sweep {
            self.frags
                .expire(self.now, &self.limits, &mut self.counters.frag);
        }
        Routed {
            seq,
            now: before,
            route,
            sweep,
        }
    }

    /// The shard of a segment's connection: the same from both directions (the two
    /// endpoints are sorted before mixing).
    #[inline]
    fn shard_of(&self, seg: &TcpSegment<'_>) -> usize {
        if self.shards == 1 {
            return 0;
        }
        let h = match (seg.src, seg.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let a = (u64::from(u32::from(s)) << 16) | u64::from(seg.src_port);
                let b = (u64::from(u32::from(d)) << 16) | u64::from(seg.dst_port);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                self.hash.hash_one((lo, hi))
            }
            _ => self
                .hash
                .hash_one(FlowKey::new(seg.src, seg.src_port, seg.dst, seg.dst_port).0),
        };
        (h % self.shards as u64) as usize
    }
}

/// A decoded segment to hand to another thread: every field but the payload, which is
/// the range `start..start + len` of its frame's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Detached {
    seg: TcpSegment<'static>,
    start: u32,
    len: u32,
}

impl Detached {
    fn new(seg: &TcpSegment<'_>, frame: &[u8]) -> Self {
        // The payload lies in the frame (the decoder borrows it from there).
        let start = (seg.payload.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
        Detached {
            seg: TcpSegment {
                payload: &[],
                ..*seg
            },
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(seg.payload.len()).unwrap_or(0),
        }
    }

    /// The segment again, its payload in `frame` (the frame it was decoded from; an
    /// empty payload if it is not there).
    #[inline]
    pub fn attach<'a>(&self, frame: &'a [u8]) -> TcpSegment<'a> {
        let (s, n) = (self.start as usize, self.len as usize);
        TcpSegment {
            payload: frame.get(s..s + n).unwrap_or(&[]),
            ..self.seg
        }
    }
}

/// A shard's sink: keeps every event with its merge key.
pub struct Collect<'a>(pub &'a mut Vec<(Key, Event)>);

impl Sink for Collect<'_> {
    fn on_exchange(&mut self, _: &Exchange) {}
    fn keyed(&mut self) -> Option<&mut Vec<(Key, Event)>> {
        Some(self.0)
    }
}

/// The shards' keyed events of one stretch of frames, merged by key: each shard's are in
/// key order (a shard handles its frames in order), so the merge takes, at each step,
/// the smallest head among the shards (ties cannot happen between shards: a frame's own
/// events come from one shard, a closed connection from one).
pub struct Merge<'a> {
    parts: Vec<std::iter::Peekable<std::slice::Iter<'a, (Key, Event)>>>,
}

impl<'a> Merge<'a> {
    pub fn new(parts: impl IntoIterator<Item = &'a [(Key, Event)]>) -> Self {
        Merge {
            parts: parts.into_iter().map(|p| p.iter().peekable()).collect(),
        }
    }

    /// The next event whose frame number is at most `seq`, in merged order.
    #[inline]
    pub fn next_upto(&mut self, seq: u64) -> Option<&'a Event> {
        let mut best: Option<(usize, Key)> = None;
        for (i, p) in self.parts.iter_mut().enumerate() {
            if let Some((k, _)) = p.peek() {
                if k.seq <= seq && best.is_none_or(|(_, b)| *k < b) {
                    best = Some((i, *k));
                }
            }
        }
        let (i, _) = best?;
        self.parts[i].next().map(|(_, ev)| ev)
    }
}

impl Counters {
    /// Adds `other`'s counts to these (a router's and its shards' counters are
    /// disjoint parts of one engine's).
    pub fn add(&mut self, other: &Counters) {
        let mut theirs = Vec::new();
        crate::counters::each_value(other, &mut |v| theirs.push(v));
        let mut it = theirs.into_iter();
        crate::counters::each_mut(self, &mut |v| *v += it.next().unwrap_or(0));
    }
}

impl Limits {
    /// A shard's limits when the connections are spread over `shards`: the connection
    /// table and the buffered-bytes ceiling are split evenly (the memory bound stays the
    /// single engine's); every per-connection cap is unchanged.
    pub fn per_shard(&self, shards: usize) -> Limits {
        let n = shards.max(1);
        Limits {
            max_flows: (self.max_flows / n).max(1),
            max_buffered_bytes: (self.max_buffered_bytes / n).max(1),
            max_closed_flows: (self.max_closed_flows / n).max(1),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use httptop_wire::build::{ethernet_ipv4_tcp, flags};
    use httptop_wire::LinkType;

    /// Frames of `n` connections, each a request and a response, interleaved, with some
    /// left open for the sweep and the end.
    fn frames(n: u8) -> Vec<(Timestamp, Vec<u8>)> {
        let mut out = Vec::new();
        let server = ([10, 0, 0, 2], 80);
        for round in 0..3u64 {
            for c in 0..n {
                let client = ([10, 0, 1, c], 40_000 + u16::from(c));
                let t = Timestamp::from_secs(1_700_000_000 + round * 40)
                    .add_nanos(u64::from(c) * 1_000_000);
                let isn = 1000 * u32::from(c) + 7 * round as u32;
                let req = format!("GET /r{round}/c{c} HTTP/1.1\r\nHost: h{c}\r\n\r\n");
                out.push((
                    t,
                    ethernet_ipv4_tcp(client, server, isn, 0, flags::SYN, b""),
                ));
                out.push((
                    t.add_nanos(10),
                    ethernet_ipv4_tcp(
                        client,
                        server,
                        isn + 1,
                        1,
                        flags::PSH | flags::ACK,
                        req.as_bytes(),
                    ),
                ));
                if c % 3 != 0 {
                    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    out.push((
                        t.add_nanos(20),
                        ethernet_ipv4_tcp(
                            server,
                            client,
                            1,
                            isn + 1 + req.len() as u32,
                            flags::PSH | flags::ACK,
                            resp,
                        ),
                    ));
                }
            }
        }
        out
    }

    fn frame(t: Timestamp, data: &[u8]) -> Frame<'_> {
        Frame {
            ts: t,
            linktype: LinkType::ETHERNET,
            orig_len: data.len() as u32,
            data,
        }
    }

    fn single(fs: &[(Timestamp, Vec<u8>)]) -> Vec<Event> {
        let mut e = Engine::new(Limits::default());
        let mut got = Vec::new();
        let mut sink = |ev: &Event| got.push(ev.clone());
        struct S<'a>(&'a mut dyn FnMut(&Event));
        impl Sink for S<'_> {
            fn on_exchange(&mut self, _: &Exchange) {}
            fn on_event(&mut self, ev: &Event) {
                (self.0)(ev)
            }
        }
        for (t, d) in fs {
            e.on_frame(&frame(*t, d), &mut S(&mut sink));
        }
        e.finish(&mut S(&mut sink));
        got
    }

    fn sharded(fs: &[(Timestamp, Vec<u8>)], n: usize) -> (Vec<Event>, Counters) {
        let limits = Limits::default();
        let mut router = Router::new(limits.clone(), n);
        let mut engines: Vec<Engine> = (0..n).map(|_| Engine::new(limits.per_shard(n))).collect();
        let mut outs: Vec<Vec<(Key, Event)>> = vec![Vec::new(); n];
        for (t, d) in fs {
            let f = frame(*t, d);
            let r = router.route(&f);
            match r.route {
                Route::Segment(s, seg) => engines[s].on_shard_segment(
                    r.seq,
                    r.now,
                    f.ts,
                    &seg.attach(f.data),
                    &mut Collect(&mut outs[s]),
                ),
                Route::Datagram(s, dg) => engines[s].on_shard_datagram(
                    r.seq,
                    r.now,
                    f.ts,
                    &dg,
                    &mut Collect(&mut outs[s]),
                ),
                Route::None => {}
            }
            if r.sweep {
                for (e, o) in engines.iter_mut().zip(&mut outs) {
                    e.on_shard_sweep(r.seq, router.now(), f.ts, &mut Collect(o));
                }
            }
        }
        let mut counters = router.counters().clone();
        for (e, o) in engines.iter_mut().zip(&mut outs) {
            e.finish(&mut Collect(o));
            counters.add(e.counters());
        }
        let mut m = Merge::new(outs.iter().map(Vec::as_slice));
        let mut got = Vec::new();
        while let Some(ev) = m.next_upto(u64::MAX) {
            got.push(ev.clone());
        }
        (got, counters)
    }

    #[test]
    fn shards_merge_to_the_single_engine_order() {
        let fs = frames(20);
        let one = single(&fs);
        let exchanges = one
            .iter()
            .filter(|e| matches!(e, Event::Exchange(_)))
            .count();
        assert_eq!(exchanges, 60, "every request yields one exchange");
        let mut e1 = Engine::new(Limits::default());
        for (t, d) in &fs {
            e1.on_frame(&frame(*t, d), &mut |_: &Exchange| {});
        }
        e1.finish(&mut |_: &Exchange| {});
        for n in 1..=4 {
            let (got, counters) = sharded(&fs, n);
            assert_eq!(got, one, "{n} shards");
            assert_eq!(&counters, e1.counters(), "{n} shards");
        }
    }

    #[test]
    fn both_directions_go_to_one_shard() {
        let r = Router::new(Limits::default(), 7);
        let a = ethernet_ipv4_tcp(
            ([10, 0, 0, 1], 1234),
            ([10, 0, 0, 2], 80),
            1,
            0,
            flags::SYN,
            b"",
        );
        let b = ethernet_ipv4_tcp(
            ([10, 0, 0, 2], 80),
            ([10, 0, 0, 1], 1234),
            1,
            0,
            flags::SYN,
            b"",
        );
        let shard = |d: &[u8]| match httptop_wire::decode(LinkType::ETHERNET, d) {
            Ok(Decoded::Tcp(seg)) => r.shard_of(&seg),
            _ => usize::MAX,
        };
        assert_eq!(shard(&a), shard(&b));
    }
}
