//! The flow table: one entry per TCP connection, found from either direction.
//!
//! Contract: at most `Limits::max_flows` entries. When full, the least recently active
//! flow is handed back to the caller to be closed (an LRU list of slot links kept beside
//! the slab makes both the eviction and the idle sweep O(1) per flow). Lookup uses a randomly
//! seeded hash, so crafted addresses cannot degrade it; nothing depends on hash order,
//! so replays are deterministic.

use std::collections::HashMap;
use std::net::IpAddr;

const NIL: u32 = u32::MAX;

/// A connection's identity, the same for both directions: the two endpoints in a fixed
/// (sorted) order.
///
/// Hashing feeds the two addresses as two 128-bit words and the two ports as one 32-bit
/// word (three hasher writes, not the six of a derived `Hash`); equal keys hash equally.
/// [`FlowKey::endpoints`] keeps the derived form for the shard choice, which must not move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowKey {
    lo: ([u8; 16], u16),
    hi: ([u8; 16], u16),
}

impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.lo.0));
        state.write_u128(u128::from_ne_bytes(self.hi.0));
        state.write_u32(u32::from(self.lo.1) << 16 | u32::from(self.hi.1));
    }
}

/// An address's [`addr_bytes`] read as a big-endian number.
#[inline(always)]
fn addr_number(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => 0xffff_u128 << 32 | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl FlowKey {
    /// The key of the connection carrying a segment from `src` to `dst`, and whether
    /// `src` is the key's `lo` endpoint.
    #[inline(always)]
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (FlowKey, bool) {
        // The address bytes as one big-endian number: comparing the numbers compares the
        // bytes, and the swap below is a pair of register selects.
        let (a, b) = (addr_number(src), addr_number(dst));
        let src_is_lo = (a, sport) <= (b, dport);
        let ((lo, lo_port), (hi, hi_port)) = if src_is_lo {
            ((a, sport), (b, dport))
        } else {
            ((b, dport), (a, sport))
        };
        let key = FlowKey {
            lo: (lo.to_be_bytes(), lo_port),
            hi: (hi.to_be_bytes(), hi_port),
        };
        (key, src_is_lo)
    }

    /// The two endpoints, sorted: hashed, this is what a derived `Hash` of the key fed
    /// the hasher (the shard of an IPv6 connection is chosen from it, and must not
    /// change with the table's hashing).
    #[allow(clippy::type_complexity)]
    pub fn endpoints(&self) -> (([u8; 16], u16), ([u8; 16], u16)) {
        (self.lo, self.hi)
    }
}

struct Slot<T, K> {
    key: K,
    value: T,
}

/// A slot's neighbours in the LRU list (`NIL` at the ends and for free slots). Kept apart
/// from the slots: a touch moves links only, without looking at the entries.
#[derive(Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// A bounded map from [`FlowKey`] (or another key `K`: the TLS plaintext source keys its
/// connections by process and `SSL*`) to `T` with least-recently-used order.
pub struct FlowTable<T, K = FlowKey> {
    map: HashMap<K, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Slot<T, K>>>,
    /// `links[i]` is slot `i`'s place in the LRU list; as long as `slots`.
    links: Vec<Link>,
    free: Vec<u32>,
    /// Most recently touched.
    head: u32,
    /// Least recently touched.
    tail: u32,
    cap: usize,
    /// The last key looked up and its slot, when the table remembers it (see
    /// [`FlowTable::remembering_last`]).
    last: Option<(K, u32)>,
    remember_last: bool,
}

impl<T, K: Copy + Eq + std::hash::Hash> FlowTable<T, K> {
    pub fn new(cap: usize) -> Self {
        FlowTable {
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            cap: cap.max(1),
            last: None,
            remember_last: false,
        }
    }

    /// A table whose lookups first compare the key with the last one looked up, skipping
    /// the hash when they are equal: for callers whose consecutive lookups mostly share a
    /// key (the TLS plaintext source: a connection's records come in runs). Packets of a
    /// capture interleave many connections: there the comparison costs more than it saves.
    pub fn remembering_last(cap: usize) -> Self {
        FlowTable {
            remember_last: true,
            ..FlowTable::new(cap)
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.map.len() >= self.cap
    }

    /// The slot index of `key`, marking it most recently used.
    #[inline]
    pub fn lookup(&mut self, key: &K) -> Option<u32> {
        let idx = match self.last {
            Some((k, i)) if k == *key => i,
            _ => {
                let i = *self.map.get(key)?;
                if self.remember_last {
                    self.last = Some((*key, i));
                }
                i
            }
        };
        self.touch(idx);
        Some(idx)
    }

    /// The slot index of `key`, without marking it used.
    pub fn find(&self, key: &K) -> Option<u32> {
        self.map.get(key).copied()
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> Option<&mut T> {
        self.slots
            .get_mut(idx as usize)?
            .as_mut()
            .map(|s| &mut s.value)
    }

    pub fn get(&self, idx: u32) -> Option<&T> {
        self.slots.get(idx as usize)?.as_ref().map(|s| &s.value)
    }

    /// Inserts a new entry (the caller has made room: see [`FlowTable::is_full`] and
    /// [`FlowTable::lru`]). Returns its slot index.
    pub fn insert(&mut self, key: K, value: T) -> u32 {
        let slot = Slot { key, value };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(slot);
                i
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Doubling, but never past the cap (a table split over shards has
                    // a cap that is no power of two; the last doubling would leave up to
                    // half of the slots unused).
                    let room = self.cap.saturating_sub(self.slots.len());
                    let more = self.slots.len().max(4).min(room).max(1);
                    self.slots.reserve_exact(more);
                    self.links.reserve_exact(more);
                }
                self.slots.push(Some(slot));
                self.links.push(UNLINKED);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        self.link_front(idx);
        idx
    }

    /// Removes the entry in slot `idx`.
    pub fn remove(&mut self, idx: u32) -> Option<T> {
        self.slots.get(idx as usize)?.as_ref()?;
        self.unlink(idx);
        let slot = self.slots[idx as usize].take()?;
        self.map.remove(&slot.key);
        if self.last.is_some_and(|(_, i)| i == idx) {
            self.last = None;
        }
        self.free.push(idx);
        Some(slot.value)
    }

    /// The least recently used entry.
    pub fn lru(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Slot indices of every entry, in no particular order.
    pub fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.map.values().copied()
    }

    /// Makes live slot `idx` the most recently used.
    #[inline]
    fn touch(&mut self, idx: u32) {
        if self.head != idx {
            self.unlink(idx);
            self.link_front(idx);
        }
    }

    /// Puts live, unlinked slot `idx` at the front of the list.
    #[inline]
    fn link_front(&mut self, idx: u32) {
        let old_head = self.head;
        if let Some(l) = self.links.get_mut(idx as usize) {
            *l = Link {
                prev: NIL,
                next: old_head,
            };
        }
        if let Some(h) = self.links.get_mut(old_head as usize) {
            h.prev = idx;
        }
        self.head = idx;
        if self.tail == NIL {
            self.tail = idx;
        }
    }

    /// Takes live slot `idx` out of the list.
    #[inline]
    fn unlink(&mut self, idx: u32) {
        let Some(&Link { prev, next }) = self.links.get(idx as usize) else {
            return;
        };
        match self.links.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.links.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.links[idx as usize] = UNLINKED;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(n: u16) -> FlowKey {
        FlowKey::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            n,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            80,
        )
        .0
    }

    #[test]
    fn key_is_symmetric() {
        let a = IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4));
        let b: IpAddr = "::1".parse().unwrap();
        let (k1, s1) = FlowKey::new(a, 1000, b, 80);
        let (k2, s2) = FlowKey::new(b, 80, a, 1000);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
    }

    /// The endpoints are ordered as their (address bytes, port) pairs compare.
    #[test]
    fn key_orders_endpoints_bytewise() {
        let addrs: Vec<IpAddr> = [
            "0.0.0.0",
            "1.2.3.4",
            "1.2.3.5",
            "255.0.0.1",
            "::",
            "::1",
            "::ffff:1.2.3.4",
            "fe80::1",
            "fe80::100",
            "ff00::",
            "8000::1",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        for &a in &addrs {
            for &b in &addrs {
                for (pa, pb) in [(80, 80), (80, 8080), (65535, 1)] {
                    let (k, a_is_lo) = FlowKey::new(a, pa, b, pb);
                    let want = (addr_bytes(a), pa) <= (addr_bytes(b), pb);
                    assert_eq!(a_is_lo, want, "{a} {pa} {b} {pb}");
                    let lo = if want {
                        (addr_bytes(a), pa)
                    } else {
                        (addr_bytes(b), pb)
                    };
                    assert_eq!(k.lo, lo);
                }
            }
        }
    }

    #[test]
    fn v4_keys_use_the_mapped_bytes() {
        let a: IpAddr = "1.2.3.4".parse().unwrap();
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        let (k, _) = FlowKey::new(a, 1, b, 2);
        assert_eq!(k.lo.0, addr_bytes(a));
        assert_eq!(k.hi.0, addr_bytes(b));
        for a in [
            "1.2.3.4",
            "255.255.255.255",
            "::1",
            "fe80::1:2",
            "::ffff:9.9.9.9",
        ] {
            let a: IpAddr = a.parse().unwrap();
            assert_eq!(addr_number(a).to_be_bytes(), addr_bytes(a), "{a}");
        }
    }

    #[test]
    fn remembering_table_finds_the_same_slots() {
        let mut t = FlowTable::remembering_last(4);
        let a = t.insert(key(1), 'a');
        let b = t.insert(key(2), 'b');
        assert_eq!(t.lookup(&key(1)), Some(a));
        assert_eq!(t.lookup(&key(1)), Some(a));
        assert_eq!(t.lru(), Some(b));
        t.remove(a);
        assert_eq!(t.lookup(&key(1)), None);
        assert_eq!(t.lookup(&key(2)), Some(b));
    }

    /// `endpoints` hashes exactly as the key's former derived `Hash` did (the shard
    /// choice of IPv6 connections depends on it).
    #[test]
    fn endpoints_hash_as_the_derived_key_did() {
        use std::hash::BuildHasher;
        #[derive(Hash)]
        struct Derived {
            lo: ([u8; 16], u16),
            hi: ([u8; 16], u16),
        }
        let h = foldhash::fast::FixedState::with_seed(0x6874_7470_746f_7021);
        let a: IpAddr = "fe80::1".parse().unwrap();
        let b: IpAddr = "2001:db8::7".parse().unwrap();
        let (k, _) = FlowKey::new(a, 443, b, 50000);
        let d = Derived { lo: k.lo, hi: k.hi };
        assert_eq!(h.hash_one(k.endpoints()), h.hash_one(&d));
        // Equal keys (either direction) hash equally with the table's hashing.
        assert_eq!(h.hash_one(k), h.hash_one(FlowKey::new(b, 50000, a, 443).0));
    }

    #[test]
    fn lru_order_follows_touches() {
        let mut t = FlowTable::new(3);
        let a = t.insert(key(1), 'a');
        let b = t.insert(key(2), 'b');
        let _c = t.insert(key(3), 'c');
        assert!(t.is_full());
        assert_eq!(t.lru(), Some(a));
        t.lookup(&key(1));
        assert_eq!(t.lru(), Some(b));
        assert_eq!(t.remove(b), Some('b'));
        assert_eq!(t.len(), 2);
        let d = t.insert(key(4), 'd');
        assert_eq!(d, b, "slot reused");
        assert_eq!(t.lookup(&key(2)), None);
        // Order now (oldest first): c, a, d.
        let mut order = Vec::new();
        while let Some(i) = t.lru() {
            order.push(t.remove(i).unwrap());
        }
        assert_eq!(order, vec!['c', 'a', 'd']);
        assert!(t.is_empty());
    }
}
