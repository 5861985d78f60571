//! A bounded memory of recently closed connections (TIME-WAIT-like), so that late copies
//! of their segments are recognised as retransmissions instead of opening a new flow.
//!
//! Why: a SPAN port that mirrors the same traffic from several VLANs (or a capture that
//! sees a connection twice) delivers the same segments again, possibly after the
//! connection has closed. Without a memory, a repeated response would open a new
//! mid-stream flow and be reported as an exchange without request.
//!
//! Contract:
//! - An entry is remembered when a connection closes by TCP: FIN in both directions or
//!   RST (not when it times out, is evicted or shed: a later segment of such a flow may
//!   be real data). It holds the address pair, the close time (packet time) and, for each
//!   endpoint, its ISN when its SYN was seen and the sequence number just past the last
//!   byte (and FIN) it sent, when known.
//! - At most `Limits::max_closed_flows` entries (default 4,096; 0 disables the memory),
//!   in a fixed-capacity FIFO: when full, the oldest is forgotten
//!   (`Counters::closed_evicted`). Entries expire [`timeout_ns`] after the close (2 MSL,
//!   MSL = 60 s, capped by the flow idle timeout); the engine's once-per-second sweep
//!   drops them from the front, a lookup ignores an expired one.
//! - Only a segment that matches no live flow and could open one (SYN, or payload)
//!   consults it: never a packet of a live flow. Such a segment of a remembered pair is a
//!   late duplicate (`Counters::late_duplicates`, dropped) when it is a SYN (or SYN-ACK)
//!   with the ISN its sender used, or when its data (and FIN) end at or before its
//!   sender's final sequence number. Anything else (a SYN with another ISN, data past the
//!   end, data from an endpoint that sent nothing known) is a new connection on the same
//!   address pair: the entry is forgotten and the segment opens a flow as usual.
//! - Memory: entries are 64 bytes in a ring plus a 40-byte hash entry each (~0.6 MiB
//!   with the default cap), allocated at full size when the first connection closes.

use crate::flow::FlowKey;
use httptop_wire::Timestamp;
use std::collections::{HashMap, VecDeque};

/// Maximum segment lifetime assumed for the TIME-WAIT-like timeout (2 MSL).
pub const MSL_NS: u64 = 60 * 1_000_000_000;

/// How long a closed connection is remembered: 2 MSL, at most the flow idle timeout.
pub fn timeout_ns(flow_idle_timeout_ns: u64) -> u64 {
    (2 * MSL_NS).min(flow_idle_timeout_ns)
}

/// What one endpoint of a closed connection sent, as far as the capture showed it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointEnd {
    /// Sequence number of its SYN, when seen.
    pub isn: Option<u32>,
    /// Sequence number just past the last byte (and FIN) it sent, when known.
    pub end: Option<u32>,
}

/// 64 bytes: the sides are stored as plain numbers and a bit set of which are known.
#[derive(Debug)]
struct Entry {
    key: FlowKey,
    at: Timestamp,
    /// ISNs of the key's `lo` endpoint, then `hi`.
    isn: [u32; 2],
    /// Final sequence numbers, `lo` then `hi`.
    end: [u32; 2],
    /// Bit 0/1: `isn[0/1]` known; bit 2/3: `end[0/1]` known.
    known: u8,
    /// Still in the map (false once forgotten: replaced, cleared or expired early).
    live: bool,
}

impl Entry {
    fn isn(&self, side: usize) -> Option<u32> {
        (self.known & (1 << side) != 0).then_some(self.isn[side])
    }

    fn end(&self, side: usize) -> Option<u32> {
        (self.known & (4 << side) != 0).then_some(self.end[side])
    }
}

/// The memory of recently closed connections. See the module documentation.
pub struct ClosedTable {
    /// Key to the serial number of its entry in `ring`.
    map: HashMap<FlowKey, u32, foldhash::fast::RandomState>,
    /// Entries oldest first; `ring[i]` has serial `front + i` (wrapping).
    ring: VecDeque<Entry>,
    front: u32,
    cap: usize,
    timeout_ns: u64,
}

/// Signed distance from `base` to `seq` in sequence space.
fn seq_diff(seq: u32, base: u32) -> i64 {
    i64::from(seq.wrapping_sub(base) as i32)
}

impl ClosedTable {
    pub fn new(cap: usize, timeout_ns: u64) -> Self {
        ClosedTable {
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            ring: VecDeque::new(),
            front: 0,
            cap,
            timeout_ns,
        }
    }

    /// Connections remembered now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Heap bytes held (ring and hash table, without allocator overhead).
    pub fn heap_bytes(&self) -> usize {
        self.ring.capacity() * std::mem::size_of::<Entry>()
            + self.map.capacity() * (std::mem::size_of::<(FlowKey, u32)>() + 1)
    }

    fn pop_front(&mut self) -> Option<Entry> {
        let e = self.ring.pop_front()?;
        self.front = self.front.wrapping_add(1);
        if e.live {
            self.map.remove(&e.key);
        }
        Some(e)
    }

    fn forget(&mut self, key: &FlowKey) {
        if let Some(serial) = self.map.remove(key) {
            let idx = serial.wrapping_sub(self.front) as usize;
            if let Some(e) = self.ring.get_mut(idx) {
                e.live = false;
            }
        }
    }

    /// Remembers a connection closed at `now`. Returns true when a remembered
    /// connection was forgotten to make room (the cap was reached).
    pub fn insert(&mut self, key: FlowKey, now: Timestamp, sides: [EndpointEnd; 2]) -> bool {
        if self.cap == 0 {
            return false;
        }
        if self.ring.capacity() == 0 {
            // Once, at full size: no reallocation (and no transient old+new copy) as
            // connections keep closing; the budget is known up front.
            self.ring.reserve_exact(self.cap);
            self.map.reserve(self.cap);
        }
        self.forget(&key);
        let mut evicted = false;
        while self.ring.len() >= self.cap {
            if let Some(e) = self.pop_front() {
                evicted |= e.live;
            }
        }
        let serial = self.front.wrapping_add(self.ring.len() as u32);
        let mut known = 0;
        for (i, sd) in sides.iter().enumerate() {
            known |= u8::from(sd.isn.is_some()) << i | u8::from(sd.end.is_some()) << (2 + i);
        }
        self.ring.push_back(Entry {
            key,
            at: now,
            isn: sides.map(|sd| sd.isn.unwrap_or(0)),
            end: sides.map(|sd| sd.end.unwrap_or(0)),
            known,
            live: true,
        });
        self.map.insert(key, serial);
        evicted
    }

    /// Forgets the entries closed `timeout_ns` or longer before `now`, oldest first.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(e) = self.ring.front() {
            if e.live && now.since(e.at) < self.timeout_ns {
                break;
            }
            self.pop_front();
        }
    }

    /// A segment that matches no live flow and could open one: from the key's `lo`
    /// endpoint when `src_is_lo`, at `seq`, carrying `len` sequence numbers of data (FIN
    /// included), a SYN or not. True when it repeats a remembered connection (a late
    /// duplicate, to be dropped); false otherwise, and then a remembered connection on
    /// the same pair is forgotten (the segment belongs to a new one).
    pub fn is_late_duplicate(
        &mut self,
        key: &FlowKey,
        src_is_lo: bool,
        seq: u32,
        len: u64,
        syn: bool,
        now: Timestamp,
    ) -> bool {
        let Some(&serial) = self.map.get(key) else {
            return false;
        };
        let idx = serial.wrapping_sub(self.front) as usize;
        let dup = self.ring.get(idx).is_some_and(|e| {
            let side = usize::from(!src_is_lo);
            now.since(e.at) < self.timeout_ns
                && if syn {
                    e.isn(side) == Some(seq)
                } else {
                    e.end(side).is_some_and(|end| {
                        len < 1 << 31 && seq_diff(seq.wrapping_add(len as u32), end) <= 0
                    })
                }
        });
        if !dup {
            self.forget(key);
        }
        dup
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn key(n: u16) -> (FlowKey, bool) {
        FlowKey::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            n,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            80,
        )
    }

    const S: u64 = 1_000_000_000;

    /// Client (the key's `lo` here) ISN 1000, sent 100 bytes and a FIN; server ISN 5000,
    /// sent 300 bytes and a FIN.
    fn sides() -> [EndpointEnd; 2] {
        [
            EndpointEnd {
                isn: Some(1000),
                end: Some(1102),
            },
            EndpointEnd {
                isn: Some(5000),
                end: Some(5302),
            },
        ]
    }

    #[test]
    fn repeats_are_duplicates_new_data_and_new_syns_are_not() {
        let mut t = ClosedTable::new(8, 120 * S);
        let (k, lo) = key(40_000);
        assert!(lo);
        t.insert(k, Timestamp(10 * S), sides());
        let now = Timestamp(11 * S);
        // The SYN and SYN-ACK again, the request, a response segment, the FINs.
        assert!(t.is_late_duplicate(&k, true, 1000, 0, true, now));
        assert!(t.is_late_duplicate(&k, false, 5000, 0, true, now));
        assert!(t.is_late_duplicate(&k, true, 1001, 100, false, now));
        assert!(t.is_late_duplicate(&k, false, 5101, 200, false, now));
        assert!(t.is_late_duplicate(&k, false, 5301, 1, false, now));
        assert_eq!(t.len(), 1);
        // Data past the end: a new connection picked up mid-stream; forgotten.
        assert!(!t.is_late_duplicate(&k, false, 5302, 10, false, now));
        assert!(t.is_empty());
        assert!(!t.is_late_duplicate(&k, true, 1001, 100, false, now));
        // A SYN with another ISN is a new connection.
        t.insert(k, Timestamp(10 * S), sides());
        assert!(!t.is_late_duplicate(&k, true, 9999, 0, true, now));
        assert!(t.is_empty());
        // An endpoint that sent nothing known: its data is not provably a repeat.
        t.insert(k, Timestamp(10 * S), [sides()[0], EndpointEnd::default()]);
        assert!(!t.is_late_duplicate(&k, false, 5001, 10, false, now));
    }

    #[test]
    fn entries_expire_after_the_timeout() {
        let mut t = ClosedTable::new(8, 120 * S);
        let (a, _) = key(1);
        let (b, _) = key(2);
        t.insert(a, Timestamp(10 * S), sides());
        t.insert(b, Timestamp(50 * S), sides());
        // A lookup past the timeout ignores (and forgets) the entry.
        assert!(!t.is_late_duplicate(&a, true, 1001, 100, false, Timestamp(130 * S)));
        assert_eq!(t.len(), 1);
        t.expire(Timestamp(169 * S));
        assert_eq!(t.len(), 1);
        t.expire(Timestamp(170 * S));
        assert!(t.is_empty());
        assert_eq!(t.ring.len(), 0, "expired entries leave the ring");
        assert_eq!(timeout_ns(120 * S), 120 * S);
        assert_eq!(timeout_ns(3600 * S), 2 * MSL_NS);
        assert_eq!(timeout_ns(30 * S), 30 * S);
    }

    /// The cap at cap - 1, cap and cap + 1 entries: the oldest is forgotten, counted by
    /// the caller through the return value.
    #[test]
    fn cap_holds_at_cap_minus_one_cap_and_cap_plus_one() {
        const CAP: u16 = 16;
        for n in [CAP - 1, CAP, CAP + 1] {
            let mut t = ClosedTable::new(usize::from(CAP), 120 * S);
            let mut evicted = 0;
            for p in 0..n {
                evicted += u32::from(t.insert(key(p).0, Timestamp(S), sides()));
            }
            assert_eq!(t.len(), usize::from(n.min(CAP)), "n = {n}");
            assert!(t.ring.len() <= usize::from(CAP));
            assert_eq!(evicted, u32::from(n > CAP), "n = {n}");
            // The oldest went first; the newest is remembered.
            let first_kept = n.saturating_sub(CAP);
            for p in 0..n {
                let dup = t.is_late_duplicate(&key(p).0, true, 1001, 100, false, Timestamp(S));
                assert_eq!(dup, p >= first_kept, "n = {n}, p = {p}");
            }
        }
        // Replacing an entry of the same pair does not count as an eviction, and the
        // stale ring slot is skipped.
        let mut t = ClosedTable::new(2, 120 * S);
        assert!(!t.insert(key(1).0, Timestamp(S), sides()));
        assert!(!t.insert(key(1).0, Timestamp(S), sides()));
        assert!(!t.insert(key(2).0, Timestamp(S), sides()));
        assert_eq!(t.len(), 2);
        // A cap of 0 remembers nothing.
        let mut t = ClosedTable::new(0, 120 * S);
        t.insert(key(1).0, Timestamp(S), sides());
        assert!(t.is_empty());
    }

    #[test]
    fn memory_stays_within_the_stated_budget() {
        let mut t = ClosedTable::new(4096, 120 * S);
        for p in 0..10_000u32 {
            let k = FlowKey::new(
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + p)),
                40_000,
                IpAddr::V4(Ipv4Addr::new(10, 255, 0, 2)),
                80,
            )
            .0;
            t.insert(k, Timestamp(S), sides());
        }
        assert_eq!(t.len(), 4096);
        assert_eq!(std::mem::size_of::<Entry>(), 64);
        let b = t.heap_bytes();
        eprintln!("closed table: {b} bytes");
        assert!(b <= 640 << 10, "{b} bytes");
    }
}
