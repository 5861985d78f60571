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
//!   ([`Engine::on_shard_sweep`](crate::Engine::on_shard_sweep)). It hands its events in place to a collector ([`Sink::keyed`](crate::event::Sink::keyed):
//!   `cli/src/shards.rs` takes the engine's event vector as a piece once it holds enough,
//!   and [`Engine::keyed_events`](crate::Engine::keyed_events) at a batch's end), each drain's with a [`Key`]: the frame's number (sub 0) for what a frame produces; the
//!   sweep's frame number and the closed connection's last frame (plus one) for a
//!   connection closed by a sweep, which is the order a single engine closes them in
//!   (least recently active first); `u64::MAX` and the connection's id (the number of the
//!   frame that opened it) for the end ([`Engine::on_shard_finish`](crate::Engine::on_shard_finish),
//!   at the latest time over all frames), creation order.
//! - Merged by key (a k-way merge: each shard's events are already in key order, and no
//!   two shards share a key's events), the shards' events are the same sequence a single [`Engine`](crate::Engine) hands out, so statistics,
//!   alerting and the log see the same thing whatever the number of shards (the
//!   `--threads` determinism test compares them).
//!   Where this does not hold: the caps. Each shard has its share of `max_flows` and
//!   `max_buffered_bytes` ([`Limits::per_shard`]), so which connection an eviction or a
//!   shed picks can depend on the number of shards; and a sweep closes each shard's idle
//!   prefix (least recently active first, up to the first connection not idle), which is
//!   the single engine's only while packet time does not go backwards: in a shuffled
//!   capture a connection can close one sweep apart. The property test below checks the
//!   rest on random traffic (pipelining, split heads, holes, FIN, RST, port reuse, IP
//!   fragments, timeouts).
//! - Counters: the router's (frames, decoding, fragments) and the shards' (connections,
//!   reassembly, protocols) are disjoint and add up ([`Counters::add`]).

use crate::engine::{front, Counters, Front, SweepClock};
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
            _ => self.hash.hash_one(
                FlowKey::new(seg.src, seg.src_port, seg.dst, seg.dst_port)
                    .0
                    .endpoints(),
            ),
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
    use crate::event::{Event, Exchange, Sink};
    use httptop_wire::build::{ethernet_ipv4_tcp, flags};
    use httptop_wire::LinkType;
    use proptest::prelude::*;

    /// A shard's sink for these tests: keeps every event with its merge key.
    struct Collect<'a>(&'a mut Vec<(Key, Event)>);

    impl Sink for Collect<'_> {
        fn on_exchange(&mut self, _: &Exchange) {}
        fn keyed(&mut self, key: Key, out: &mut Vec<Event>) -> bool {
            self.0.extend(out.drain(..).map(|ev| (key, ev)));
            true
        }
    }

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

    /// The shards' keyed events of one stretch of frames, merged by key: each shard's are in
    /// key order (a shard handles its frames in order), so the merge takes, at each step,
    /// the smallest head among the shards (ties cannot happen between shards: a frame's own
    /// events come from one shard, a closed connection from one).
    struct Merge<'a> {
        parts: Vec<std::iter::Peekable<std::slice::Iter<'a, (Key, Event)>>>,
    }

    impl<'a> Merge<'a> {
        fn new(parts: impl IntoIterator<Item = &'a [(Key, Event)]>) -> Self {
            Merge {
                parts: parts.into_iter().map(|p| p.iter().peekable()).collect(),
            }
        }

        /// The next event whose frame number is at most `seq`, in merged order.
        #[inline]
        fn next_upto(&mut self, seq: u64) -> Option<&'a Event> {
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

    fn frame(t: Timestamp, data: &[u8]) -> Frame<'_> {
        Frame {
            ts: t,
            linktype: LinkType::ETHERNET,
            orig_len: data.len() as u32,
            data,
        }
    }

    fn single(fs: &[(Timestamp, Vec<u8>)], limits: &Limits) -> (Vec<Event>, Counters) {
        let mut e = Engine::new(limits.clone());
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
        (got, e.counters().clone())
    }

    fn sharded(fs: &[(Timestamp, Vec<u8>)], n: usize, limits: &Limits) -> (Vec<Event>, Counters) {
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
            e.on_shard_finish(router.now(), &mut Collect(o));
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
        let limits = Limits::default();
        let (one, counters) = single(&fs, &limits);
        let exchanges = one
            .iter()
            .filter(|e| matches!(e, Event::Exchange(_)))
            .count();
        assert_eq!(exchanges, 60, "every request yields one exchange");
        for n in 1..=4 {
            assert_eq!(
                sharded(&fs, n, &limits),
                (one.clone(), counters.clone()),
                "{n} shards"
            );
        }
    }

    /// What a generated connection does next (see `traffic`).
    #[derive(Clone, Debug)]
    enum Act {
        Syn,
        /// `n` pipelined requests in one segment; `split`: the last head cut in two
        /// segments; `frag`: each segment sent as two IPv4 fragments.
        Requests {
            n: u8,
            split: bool,
            frag: bool,
        },
        Responses {
            n: u8,
        },
        /// A hole of `n` bytes in the client's stream.
        Hole {
            n: u8,
        },
        Fin {
            client: bool,
        },
        Rst,
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            1 => Just(Act::Syn),
            4 => (1u8..4, any::<bool>(), any::<bool>())
                .prop_map(|(n, split, frag)| Act::Requests { n, split, frag }),
            4 => (1u8..4).prop_map(|n| Act::Responses { n }),
            1 => (1u8..40).prop_map(|n| Act::Hole { n }),
            1 => any::<bool>().prop_map(|client| Act::Fin { client }),
            1 => Just(Act::Rst),
        ]
    }

    /// Frames of up to 12 connections acting in a random order, packet time never going
    /// back but sometimes jumping past the flow timeout.
    fn traffic(steps: &[(u8, Act, u8)]) -> Vec<(Timestamp, Vec<u8>)> {
        let server = ([10, 0, 0, 2], 80);
        let mut seqs = [(1000u32, 9000u32); 12];
        let mut t = Timestamp::from_secs(1_700_000_000);
        let mut out = Vec::new();
        for (i, (c, a, gap)) in steps.iter().enumerate() {
            t = t.add_nanos(match gap % 8 {
                0..=4 => u64::from(*gap) * 1_000,
                5 | 6 => 1_000_000_000,
                _ => 11_000_000_000,
            });
            let c = usize::from(*c % 12);
            let client = ([10, 0, 1, c as u8], 40_000 + c as u16);
            let (cs, ss) = &mut seqs[c];
            let mut push = |d: Vec<u8>| out.push((t, d));
            match a {
                Act::Syn => {
                    *cs = 1000 + i as u32 * 7919;
                    push(ethernet_ipv4_tcp(client, server, *cs, 0, flags::SYN, b""));
                    *cs += 1;
                }
                Act::Requests { n, split, frag } => {
                    let mut req = Vec::new();
                    for k in 0..*n {
                        req.extend(format!("GET /{i}/{k} HTTP/1.1\r\nHost: h{c}\r\n\r\n").bytes());
                    }
                    let cut = if *split { req.len() - 9 } else { req.len() };
                    for part in [&req[..cut], &req[cut..]] {
                        if !part.is_empty() {
                            let f = ethernet_ipv4_tcp(
                                client,
                                server,
                                *cs,
                                *ss,
                                flags::PSH | flags::ACK,
                                part,
                            );
                            if *frag {
                                fragments(&f, i as u16).into_iter().for_each(&mut push);
                            } else {
                                push(f);
                            }
                            *cs = cs.wrapping_add(part.len() as u32);
                        }
                    }
                }
                Act::Responses { n } => {
                    let mut resp = Vec::new();
                    for _ in 0..*n {
                        resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                    }
                    push(ethernet_ipv4_tcp(
                        server,
                        client,
                        *ss,
                        *cs,
                        flags::PSH | flags::ACK,
                        &resp,
                    ));
                    *ss = ss.wrapping_add(resp.len() as u32);
                }
                Act::Hole { n } => *cs = cs.wrapping_add(u32::from(*n)),
                Act::Fin {
                    client: from_client,
                } => {
                    let (src, dst, seq, ack) = if *from_client {
                        (client, server, *cs, *ss)
                    } else {
                        (server, client, *ss, *cs)
                    };
                    push(ethernet_ipv4_tcp(
                        src,
                        dst,
                        seq,
                        ack,
                        flags::FIN | flags::ACK,
                        b"",
                    ));
                    let own = if *from_client { cs } else { ss };
                    *own = own.wrapping_add(1);
                }
                Act::Rst => push(ethernet_ipv4_tcp(client, server, *cs, *ss, flags::RST, b"")),
            }
        }
        out
    }

    /// An Ethernet/IPv4 frame (20-byte header) as two fragments, cut at an 8-byte
    /// boundary of its IP payload (one frame if too short to cut).
    fn fragments(frame: &[u8], id: u16) -> Vec<Vec<u8>> {
        let (head, payload) = frame.split_at(34);
        let cut = payload.len() / 2 / 8 * 8;
        if cut == 0 {
            return vec![frame.to_vec()];
        }
        [(0, &payload[..cut], true), (cut, &payload[cut..], false)]
            .into_iter()
            .map(|(off, part, more)| {
                let mut f = head.to_vec();
                f[16..18].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
                f[18..20].copy_from_slice(&id.to_be_bytes());
                let word = (off / 8) as u16 | if more { 0x2000 } else { 0 };
                f[20..22].copy_from_slice(&word.to_be_bytes());
                f.extend_from_slice(part);
                f
            })
            .collect()
    }

    #[test]
    fn fragmented_segments_reach_their_connections_shard() {
        let mut steps = Vec::new();
        for c in 0..8u8 {
            steps.push((c, Act::Syn, 1));
            let frag = true;
            steps.push((
                c,
                Act::Requests {
                    n: 2,
                    split: c % 2 == 0,
                    frag,
                },
                1,
            ));
            steps.push((c, Act::Responses { n: 2 }, 1));
        }
        let fs = traffic(&steps);
        let limits = Limits::default();
        let one = single(&fs, &limits);
        assert_eq!(one.1.frag.frag_reassembled, 12, "4 split heads, 4 whole");
        let exchanges = one
            .0
            .iter()
            .filter(|e| matches!(e, Event::Exchange(_)))
            .count();
        assert_eq!(exchanges, 16);
        for n in 2..=4 {
            assert_eq!(sharded(&fs, n, &limits), one, "{n} shards");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Whatever the connections do, while no cap is reached and packet time does not
        /// go back, 2, 3 and 5 shards hand out the single engine's events in its order,
        /// and their counters add up to its counters.
        #[test]
        fn any_traffic_merges_to_the_single_engine(
            steps in proptest::collection::vec((any::<u8>(), act(), any::<u8>()), 1..200),
        ) {
            let fs = traffic(&steps);
            let limits = Limits {
                flow_idle_timeout_ns: 10_000_000_000,
                ..Limits::default()
            };
            let one = single(&fs, &limits);
            for n in [2, 3, 5] {
                let got = sharded(&fs, n, &limits);
                prop_assert_eq!(&got.0, &one.0, "{} shards: events", n);
                prop_assert_eq!(&got.1, &one.1, "{} shards: counters", n);
            }
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
