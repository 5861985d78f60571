//! IPv4 and IPv6 fragment reassembly: fragments in, whole datagram payloads out, to be
//! decoded again (`httptop_wire::decode_datagram`: a reassembled datagram may be TCP, a
//! tunnel, or a fragment of an inner datagram).
//!
//! Contract:
//! - A datagram is identified by source, destination, identification, protocol (IPv6:
//!   the fragment header's next header) and the encapsulations it arrived in.
//! - Bounded memory, every cap in [`Limits`] with a counter: at most
//!   `max_frag_datagrams` datagrams in progress and `max_frag_bytes` heap bytes over all
//!   of them (allocator overhead and a fixed cost per entry included); past either, the
//!   oldest datagram in progress is dropped (`frag_evicted`). At most
//!   `max_frags_per_datagram` fragments per datagram (past it the datagram is dropped,
//!   `frag_too_many`). A datagram not complete `frag_timeout_ns` of packet time after
//!   its first fragment is dropped (`frag_timed_out`), checked on every fragment and on
//!   the engine's once-a-second sweep.
//! - Overlapping fragments: **the first copy wins**, as in TCP reassembly (`reasm.rs`):
//!   bytes already held are kept, only the new bytes of a later fragment are added. A
//!   fragment that repeats one already held exactly (same offset and length, as a mirror
//!   port seeing a packet twice produces) is `frag_duplicates`; any other overlap is
//!   `frag_overlaps`, whatever its content (the datagram is still reassembled, from the
//!   first copies).
//! - Inconsistent datagrams are dropped (`frag_invalid`): a datagram beyond 65,535 bytes,
//!   two last fragments with different ends, data beyond the end a last fragment set, or
//!   a fragment the capture cut (snaplen), which could never complete it truthfully.
//! - One allocation per datagram for its fragments' bytes (stored in arrival order),
//!   one for its piece list, one for the reassembled payload; none for unfragmented
//!   packets, which never reach this module.

use crate::budget::heap;
use crate::limits::Limits;
use httptop_wire::{Encap, IpFragment, Timestamp};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

httptop_wire::counters! {
    /// Fragment reassembly counters.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct FragCounters {
        [Packets]
        /// IP datagrams reassembled from their fragments (and decoded again).
        frag_reassembled: Frames,
        /// Datagrams given up incomplete after the fragment timeout (30 s of packet time).
        frag_timed_out: Frames anomaly,
        /// Datagrams in progress dropped to make room (1,024 datagrams or 2 MiB held).
        frag_evicted: Frames anomaly,
        /// Fragments overlapping bytes already held with a different extent (the first copy is kept).
        frag_overlaps: Frames anomaly,
        /// Fragments repeating one already held exactly (ignored).
        frag_duplicates: Frames,
        /// Datagrams dropped for having more than 64 fragments.
        frag_too_many: Frames anomaly,
        /// Datagrams dropped as inconsistent (past 65,535 bytes, conflicting ends, or cut by the snaplen).
        frag_invalid: Frames anomaly,
    }
}

/// Fixed heap cost charged per datagram in progress: its hash entry (key, value, control
/// byte) and its place in the age queue.
const ENTRY_COST: usize = 192;
/// The largest datagram payload IPv4 or IPv6 (without jumbograms) can announce.
const MAX_DATAGRAM: u32 = 65_535;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    proto: u8,
    encap: Encap,
}

/// Bytes `[off, off + len)` of the datagram, stored at `at` in `Datagram::data`.
#[derive(Clone, Copy, Debug)]
struct Piece {
    off: u32,
    len: u32,
    at: u32,
}

#[derive(Debug)]
struct Datagram {
    first: Timestamp,
    /// Creation number, to tell its entry in the age queue from a stale one.
    seq: u64,
    data: Vec<u8>,
    /// Sorted by offset, never overlapping.
    pieces: Vec<Piece>,
    /// Bytes held (the sum of the pieces' lengths).
    held: u32,
    /// The end the last fragment (MF clear) gave.
    end: Option<u32>,
    fragments: usize,
    charged: usize,
}

impl Datagram {
    fn cost(&self) -> usize {
        ENTRY_COST
            + heap(self.data.capacity())
            + heap(self.pieces.capacity() * std::mem::size_of::<Piece>())
    }
}

/// A datagram put back together: its payload and what the decoder needs to read it.
#[derive(Debug, PartialEq, Eq)]
pub struct Reassembled {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub encap: Encap,
    pub payload: Vec<u8>,
}

/// Datagrams in progress. See the module documentation.
#[derive(Debug, Default)]
pub struct Reassembler {
    map: HashMap<Key, Datagram>,
    /// Datagrams by age (creation order); entries of datagrams gone are skipped.
    order: VecDeque<(u64, Key)>,
    next_seq: u64,
    bytes: usize,
}

impl Reassembler {
    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Heap bytes charged against `Limits::max_frag_bytes`.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// One fragment at packet time `now`; the datagram's payload when it completes it.
    pub fn add(
        &mut self,
        now: Timestamp,
        f: &IpFragment<'_>,
        limits: &Limits,
        c: &mut FragCounters,
    ) -> Option<Reassembled> {
        self.expire(now, limits, c);
        let key = Key {
            src: f.src,
            dst: f.dst,
            id: f.id,
            proto: f.proto,
            encap: f.encap,
        };
        let off = u32::from(f.offset);
        let end = off + u32::try_from(f.payload.len()).unwrap_or(u32::MAX);
        if f.payload_missing > 0 || end > MAX_DATAGRAM {
            c.frag_invalid += 1;
            self.remove(&key);
            return None;
        }
        if !self.map.contains_key(&key) {
            self.next_seq += 1;
            self.order.push_back((self.next_seq, key));
            self.map.insert(
                key,
                Datagram {
                    first: now,
                    seq: self.next_seq,
                    data: Vec::new(),
                    pieces: Vec::new(),
                    held: 0,
                    end: None,
                    fragments: 0,
                    charged: 0,
                },
            );
        }
        let d = self.map.get_mut(&key)?;
        d.fragments += 1;
        if d.fragments > limits.max_frags_per_datagram {
            c.frag_too_many += 1;
            self.remove(&key);
            return None;
        }
        let max_end = d.pieces.last().map_or(0, |p| p.off + p.len);
        let consistent = if f.more {
            d.end.is_none_or(|e| end <= e)
        } else {
            d.end.is_none_or(|e| e == end) && max_end <= end
        };
        if !consistent {
            c.frag_invalid += 1;
            self.remove(&key);
            return None;
        }
        if !f.more {
            d.end = Some(end);
        }
        insert(d, off, f.payload, c);
        let cost = d.cost();
        self.bytes = self.bytes + cost - d.charged;
        d.charged = cost;
        if d.end == Some(d.held) {
            let d = self.map.remove(&key)?;
            self.bytes -= d.charged;
            c.frag_reassembled += 1;
            return Some(Reassembled {
                src: key.src,
                dst: key.dst,
                proto: key.proto,
                encap: key.encap,
                payload: assemble(&d),
            });
        }
        while self.map.len() > limits.max_frag_datagrams || self.bytes > limits.max_frag_bytes {
            if !self.drop_oldest() {
                break;
            }
            c.frag_evicted += 1;
        }
        self.compact(limits);
        None
    }

    /// Drops the datagrams older than the timeout at packet time `now`.
    pub fn expire(&mut self, now: Timestamp, limits: &Limits, c: &mut FragCounters) {
        while let Some(&(seq, key)) = self.order.front() {
            match self.map.get(&key) {
                Some(d) if d.seq == seq => {
                    if now.since(d.first) < limits.frag_timeout_ns {
                        break;
                    }
                    c.frag_timed_out += 1;
                    self.remove(&key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(d) = self.map.remove(key) {
            self.bytes -= d.charged;
        }
    }

    /// Drops the oldest datagram in progress; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.map.get(&key).is_some_and(|d| d.seq == seq) {
                self.remove(&key);
                return true;
            }
        }
        false
    }

    /// Keeps the age queue within a constant factor of the datagrams in progress
    /// (entries of completed datagrams are otherwise only skipped at the front).
    fn compact(&mut self, limits: &Limits) {
        if self.order.len() > 2 * limits.max_frag_datagrams + 64 {
            let map = &self.map;
            self.order
                .retain(|(seq, key)| map.get(key).is_some_and(|d| d.seq == *seq));
        }
    }
}

/// Adds the bytes of `[off, off + payload.len())` not held yet (first copy wins).
fn insert(d: &mut Datagram, off: u32, payload: &[u8], c: &mut FragCounters) {
    let end = off + payload.len() as u32;
    let mut i = d.pieces.partition_point(|p| p.off + p.len <= off);
    let mut cur = off;
    let mut overlapped = false;
    let mut duplicate = false;
    while cur < end {
        if let Some(p) = d.pieces.get(i).copied() {
            if p.off <= cur {
                overlapped = true;
                duplicate |= p.off == off && p.off + p.len == end;
                cur = cur.max(p.off + p.len);
                i += 1;
                continue;
            }
        }
        let next = d.pieces.get(i).map_or(end, |p| p.off.min(end));
        let (from, to) = ((cur - off) as usize, (next - off) as usize);
        let Some(bytes) = payload.get(from..to) else {
            return;
        };
        let at = d.data.len() as u32;
        d.data.extend_from_slice(bytes);
        d.pieces.insert(
            i,
            Piece {
                off: cur,
                len: next - cur,
                at,
            },
        );
        d.held += next - cur;
        i += 1;
        cur = next;
    }
    if duplicate {
        c.frag_duplicates += 1;
    } else if overlapped {
        c.frag_overlaps += 1;
    }
}

fn assemble(d: &Datagram) -> Vec<u8> {
    let mut out = vec![0; d.held as usize];
    for p in &d.pieces {
        let (off, at, len) = (p.off as usize, p.at as usize, p.len as usize);
        if let (Some(dst), Some(src)) = (out.get_mut(off..off + len), d.data.get(at..at + len)) {
            dst.copy_from_slice(src);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn frag(id: u32, offset: u16, more: bool, payload: &[u8]) -> IpFragment<'_> {
        IpFragment {
            src: A,
            dst: B,
            id,
            proto: 6,
            offset,
            more,
            payload,
            payload_missing: 0,
            encap: Encap::NONE,
        }
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    struct R {
        r: Reassembler,
        l: Limits,
        c: FragCounters,
    }

    impl R {
        fn new(l: Limits) -> Self {
            R {
                r: Reassembler::default(),
                l,
                c: FragCounters::default(),
            }
        }
        fn add(&mut self, now: u64, f: IpFragment<'_>) -> Option<Vec<u8>> {
            let out = self.r.add(t(now), &f, &self.l, &mut self.c);
            let counted: usize = self.r.map.values().map(|d| d.charged).sum();
            assert_eq!(self.r.bytes, counted, "charges add up");
            assert!(self.r.len() <= self.l.max_frag_datagrams);
            assert!(self.r.bytes <= self.l.max_frag_bytes);
            out.map(|d| d.payload)
        }
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn in_order_reversed_and_shuffled() {
        let d = data(4000);
        let chunks: Vec<(u16, bool, &[u8])> = d
            .chunks(1000)
            .enumerate()
            .map(|(i, c)| ((i * 1000) as u16, i < 3, c))
            .collect();
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]] {
            let mut r = R::new(Limits::default());
            let mut got = None;
            for (n, &i) in order.iter().enumerate() {
                let (off, more, c) = chunks[i];
                let out = r.add(1, frag(7, off, more, c));
                assert_eq!(out.is_some(), n == 3, "{order:?}");
                got = got.or(out);
            }
            assert_eq!(got.as_deref(), Some(&d[..]));
            assert_eq!((r.c.frag_reassembled, r.r.len(), r.r.bytes()), (1, 0, 0));
        }
    }

    #[test]
    fn overlap_first_copy_wins_and_duplicates_are_ignored() {
        let mut r = R::new(Limits::default());
        assert_eq!(r.add(1, frag(1, 0, true, &[1; 16])), None);
        assert_eq!(r.add(1, frag(1, 0, true, &[1; 16])), None);
        assert_eq!(r.c.frag_duplicates, 1);
        // Bytes 8..24 again with different content, then the rest.
        assert_eq!(r.add(1, frag(1, 8, true, &[2; 16])), None);
        assert_eq!(r.c.frag_overlaps, 1);
        let got = r.add(1, frag(1, 24, false, &[3; 8])).expect("complete");
        let mut want = vec![1; 16];
        want.extend([2; 8]);
        want.extend([3; 8]);
        assert_eq!(got, want);
        // A later fragment covering holes on both sides of a held one.
        let mut r = R::new(Limits::default());
        r.add(1, frag(2, 8, true, &[9; 8]));
        let got = r.add(1, frag(2, 0, false, &[5; 24])).expect("complete");
        assert_eq!(got, [[5; 8], [9; 8], [5; 8]].concat());
        assert_eq!(r.c.frag_overlaps, 1);
    }

    #[test]
    fn timeout_in_packet_time() {
        let l = Limits::default();
        let secs = l.frag_timeout_ns / 1_000_000_000;
        let mut r = R::new(l);
        r.add(10, frag(1, 0, true, &[0; 8]));
        r.add(10 + secs - 1, frag(2, 0, true, &[0; 8]));
        assert_eq!(r.r.len(), 2);
        r.r.expire(t(10 + secs), &r.l, &mut r.c);
        assert_eq!((r.r.len(), r.c.frag_timed_out), (1, 1));
        // The late last fragment of datagram 1 starts a new datagram, never completed.
        assert_eq!(r.add(10 + secs, frag(1, 8, false, &[0; 8])), None);
        r.r.expire(t(20 + 2 * secs), &r.l, &mut r.c);
        assert_eq!((r.r.len(), r.r.bytes(), r.c.frag_timed_out), (0, 0, 3));
    }

    #[test]
    fn caps_at_cap_minus_one_cap_and_cap_plus_one() {
        let l = Limits {
            max_frag_datagrams: 4,
            max_frags_per_datagram: 3,
            ..Limits::default()
        };
        let mut r = R::new(l.clone());
        for id in 0..5 {
            r.add(1, frag(id, 0, true, &[0; 8]));
            assert_eq!(r.c.frag_evicted, u64::from(id.saturating_sub(3)));
        }
        assert_eq!(r.r.len(), 4);
        // The oldest (id 0) went: its last fragment does not complete anything.
        assert_eq!(r.add(1, frag(0, 8, false, &[0; 8])), None);
        // Fragments per datagram: 3 complete, a 4th drops it.
        let mut r = R::new(l);
        r.add(1, frag(9, 0, true, &[0; 8]));
        r.add(1, frag(9, 8, true, &[0; 8]));
        assert!(r.add(1, frag(9, 16, false, &[0; 8])).is_some());
        for off in [0, 8, 16] {
            r.add(1, frag(10, off, true, &[0; 8]));
        }
        assert_eq!(r.c.frag_too_many, 0);
        r.add(1, frag(10, 24, true, &[0; 8]));
        assert_eq!((r.c.frag_too_many, r.r.len()), (1, 0));
    }

    #[test]
    fn byte_cap_evicts_the_oldest() {
        let mut probe = R::new(Limits::default());
        probe.add(1, frag(0, 0, true, &[0; 1000]));
        let one = probe.r.bytes();
        assert!(one > ENTRY_COST + 1000, "{one}");
        let l = Limits {
            max_frag_bytes: 3 * one,
            ..Limits::default()
        };
        let mut r = R::new(l);
        for id in 0..3 {
            r.add(1, frag(id, 0, true, &[0; 1000]));
        }
        assert_eq!((r.r.len(), r.c.frag_evicted), (3, 0));
        r.add(1, frag(3, 0, true, &[0; 1000]));
        assert_eq!((r.r.len(), r.c.frag_evicted), (3, 1));
        assert!(r.r.map.keys().all(|k| k.id != 0));
    }

    #[test]
    fn inconsistent_datagrams_are_dropped() {
        let mut r = R::new(Limits::default());
        r.add(1, frag(1, 8, false, &[0; 16]));
        r.add(1, frag(1, 16, false, &[0; 16]));
        assert_eq!((r.c.frag_invalid, r.r.len()), (1, 0));
        r.add(1, frag(2, 16, false, &[0; 8]));
        r.add(1, frag(2, 24, true, &[0; 8]));
        assert_eq!(r.c.frag_invalid, 2);
        r.add(1, frag(3, 65528, true, &[0; 16]));
        assert_eq!(r.c.frag_invalid, 3);
        let mut cut = frag(4, 0, true, &[0; 8]);
        cut.payload_missing = 100;
        r.add(1, cut);
        assert_eq!((r.c.frag_invalid, r.r.len()), (4, 0));
    }

    #[test]
    fn different_encapsulations_are_different_datagrams() {
        let mut r = R::new(Limits::default());
        let mut f = frag(1, 0, true, &[1; 8]);
        f.encap = Encap::NONE
            .push(httptop_wire::EncapKind::Vxlan)
            .expect("one layer");
        r.add(1, f);
        assert_eq!(r.add(1, frag(1, 8, false, &[2; 8])), None);
        assert_eq!(r.r.len(), 2);
    }

    #[test]
    fn completed_datagrams_do_not_grow_the_age_queue() {
        let l = Limits {
            max_frag_datagrams: 8,
            ..Limits::default()
        };
        let mut r = R::new(l);
        for id in 0..10_000 {
            r.add(1, frag(id, 0, true, &[0; 8]));
            assert!(r.add(1, frag(id, 8, false, &[0; 8])).is_some());
            r.add(1, frag(100_000 + id, 0, true, &[0; 8]));
            assert!(r.r.order.len() <= 2 * 8 + 64 + 1);
        }
    }

    /// An IPv4 header (no options) for `payload`, with the given flags/offset field.
    fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![0x45, 0];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, proto, 0, 0]);
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(payload);
        v
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0; 12];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// A TCP segment from the `httptop_wire::build` helper, inside VXLAN in IPv4/UDP,
    /// the outer packet cut into fragments of at most `mtu` payload bytes.
    fn vxlan_fragments(inner: &[u8], id: u16, mtu: usize) -> Vec<Vec<u8>> {
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(inner);
        let mut udp = Vec::new();
        udp.extend_from_slice(&40000u16.to_be_bytes());
        udp.extend_from_slice(&4789u16.to_be_bytes());
        udp.extend_from_slice(&((8 + vx.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&vx);
        let chunks: Vec<&[u8]> = udp.chunks(mtu / 8 * 8).collect();
        chunks
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let more = if i + 1 < chunks.len() { 0x2000 } else { 0 };
                let field = more | (i * (mtu / 8)) as u16;
                eth(
                    0x0800,
                    &ipv4([172, 16, 0, 1], [172, 16, 0, 2], 17, id, field, c),
                )
            })
            .collect()
    }

    #[test]
    fn engine_reassembles_a_fragmented_tunnel_and_names_it() {
        use crate::{Engine, Exchange};
        use httptop_wire::build::{ethernet_ipv4_tcp, flags};
        use httptop_wire::{Frame, LinkType};
        let c = ([10, 9, 0, 1], 41000);
        let s = ([10, 9, 0, 2], 80);
        let req = format!(
            "GET /big HTTP/1.1\r\nHost: inner.example\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(3000)
        );
        let resp = b"HTTP/1.1 204 No Content\r\n\r\n";
        let pa = flags::PSH | flags::ACK;
        let mut frames = Vec::new();
        frames.extend(vxlan_fragments(
            &ethernet_ipv4_tcp(c, s, 1, 0, flags::SYN, b""),
            1,
            1200,
        ));
        let mut f = vxlan_fragments(&ethernet_ipv4_tcp(c, s, 2, 1, pa, req.as_bytes()), 2, 1200);
        assert_eq!(f.len(), 3);
        f.reverse();
        frames.extend(f);
        let end = 2 + req.len() as u32;
        frames.extend(vxlan_fragments(
            &ethernet_ipv4_tcp(s, c, 1, end, pa, resp),
            3,
            1200,
        ));
        frames.extend(vxlan_fragments(
            &ethernet_ipv4_tcp(
                c,
                s,
                end,
                1 + resp.len() as u32,
                flags::FIN | flags::ACK,
                b"",
            ),
            4,
            1200,
        ));
        frames.extend(vxlan_fragments(
            &ethernet_ipv4_tcp(
                s,
                c,
                1 + resp.len() as u32,
                end + 1,
                flags::FIN | flags::ACK,
                b"",
            ),
            5,
            1200,
        ));

        let mut e = Engine::new(Limits::default());
        let mut out: Vec<Exchange> = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let frame = Frame {
                ts: Timestamp::from_millis(1_000 + i as u64),
                linktype: LinkType::ETHERNET,
                orig_len: f.len() as u32,
                data: f,
            };
            e.on_frame(&frame, &mut |x: &Exchange| out.push(x.clone()));
        }
        e.finish(&mut |x: &Exchange| out.push(x.clone()));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].host.as_bytes(), b"inner.example");
        assert_eq!(out[0].status, Some(204));
        assert_eq!(out[0].encap.to_string(), "vxlan");
        assert_eq!(out[0].client, Some("10.9.0.1:41000".parse().expect("addr")));
        let k = e.counters();
        assert_eq!(k.frag.frag_reassembled, 1);
        assert_eq!(k.ip_fragments, 3);
        // Every frame but the two fragments that did not complete the datagram.
        assert_eq!(k.encap.encap_vxlan, frames.len() as u64 - 2);
        assert_eq!(k.tcp_segments, frames.len() as u64 - 3);
    }
}
