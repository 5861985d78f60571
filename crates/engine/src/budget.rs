//! The global ceiling on bytes buffered across all connections.
//!
//! Contract:
//! - Every flow is charged its *footprint*: the heap bytes its reassembly buffers, head
//!   buffers and queued requests hold ([`crate::reasm::HalfStream::heap_bytes`],
//!   [`crate::http::HttpConn::heap_bytes`]), allocator overhead included. The engine
//!   recharges a flow after each of its packets and releases it when the flow closes; the
//!   total is the sum of the charges, kept exactly.
//! - Flows with a non-zero charge are kept in a list ordered by last activity (an
//!   intrusive doubly linked list indexed by flow slot). When the total exceeds
//!   `Limits::max_buffered_bytes`, the engine closes the least recently active of them
//!   (flushing their buffers: gaps declared, pending requests reported `no_response`)
//!   until the total is back under the ceiling (counter `flows_shed`). Flows that buffer
//!   nothing are never closed for this.
//! - O(1) per recharge and per release; memory: 12 bytes per flow slot, grown with the
//!   flow table's slab (never per packet).

const NIL: u32 = u32::MAX;

/// Bytes an allocator spends on one allocation beyond what was asked (glibc: an 8-byte
/// header, 16-byte rounding, 32-byte minimum chunk), counted once per allocation.
pub const ALLOC_OVERHEAD: usize = 32;

/// What an allocation of `bytes` costs: nothing for no allocation.
pub fn heap(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes + ALLOC_OVERHEAD
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    charged: u32,
    prev: u32,
    next: u32,
}

const EMPTY: Entry = Entry {
    charged: 0,
    prev: NIL,
    next: NIL,
};

/// Charges per flow slot and the list of flows holding buffers. See the module docs.
#[derive(Debug)]
pub struct Budget {
    entries: Vec<Entry>,
    total: usize,
    cap: usize,
    /// Most recently active holder.
    head: u32,
    /// Least recently active holder.
    tail: u32,
}

impl Budget {
    pub fn new(cap: usize) -> Self {
        Budget {
            entries: Vec::new(),
            total: 0,
            cap,
            head: NIL,
            tail: NIL,
        }
    }

    /// Bytes currently charged, over all flows.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The total is over the ceiling.
    #[inline]
    pub fn over(&self) -> bool {
        self.total > self.cap
    }

    /// The least recently active flow holding buffers.
    pub fn lru_holder(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Flow `i` (just active) now holds `bytes`: its charge is replaced and, when it holds
    /// anything, it becomes the most recently active holder.
    ///
    /// Inlined at the engine's per-packet call (only growing the entries is out of line):
    /// a flow that holds nothing and held nothing, or that is already the most recent
    /// holder, costs a few instructions; otherwise one list move.
    #[inline]
    pub fn charge(&mut self, i: u32, bytes: usize) {
        let k = i as usize;
        if k >= self.entries.len() {
            if bytes == 0 {
                return;
            }
            self.grow(k);
        }
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let Some(e) = self.entries.get_mut(k) else {
            return;
        };
        let old = e.charged;
        e.charged = bytes;
        self.total = self.total - old as usize + bytes as usize;
        if bytes > 0 {
            if old == 0 {
                self.link_front(i);
            } else if self.head != i {
                self.unlink(i);
                self.link_front(i);
            }
        } else if old > 0 {
            self.unlink(i);
        }
    }

    /// Entries up to slot `k`, none charged.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, k: usize) {
        self.entries.resize(k + 1, EMPTY);
    }

    /// Flow `i` is gone.
    pub fn release(&mut self, i: u32) {
        self.charge(i, 0);
    }

    #[inline]
    fn unlink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.entries[i as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        self.entries[i as usize].prev = NIL;
        self.entries[i as usize].next = NIL;
    }

    #[inline]
    fn link_front(&mut self, i: u32) {
        let old = self.head;
        self.entries[i as usize].prev = NIL;
        self.entries[i as usize].next = old;
        if old == NIL {
            self.tail = i;
        } else {
            self.entries[old as usize].prev = i;
        }
        self.head = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_sum_and_order_by_activity() {
        let mut b = Budget::new(100);
        b.charge(3, 40);
        b.charge(1, 30);
        b.charge(7, 0);
        assert_eq!((b.total(), b.lru_holder()), (70, Some(3)));
        b.charge(3, 50); // active again: 1 is now the least recent holder
        assert_eq!((b.total(), b.lru_holder()), (80, Some(1)));
        b.charge(5, 25);
        assert!(b.over());
        b.release(1);
        assert_eq!((b.total(), b.lru_holder()), (75, Some(3)));
        assert!(!b.over());
        b.charge(3, 0); // holds nothing any more: off the list
        assert_eq!((b.total(), b.lru_holder()), (25, Some(5)));
        b.release(5);
        b.release(9);
        assert_eq!((b.total(), b.lru_holder()), (0, None));
    }
}
