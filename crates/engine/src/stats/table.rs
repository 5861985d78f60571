//! A bounded table of keys with windowed metrics: an open-addressing index over dense
//! entries, and Space-Saving replacement once `cap` keys are held.
//!
//! Replacement: the victim is the entry with the smallest score (its primary count over
//! the retention window, plus its inherited error while that error can still apply),
//! found with a min-heap that exists only while the table is full. Scores only grow
//! between two retention buckets, so the heap is exact and is rebuilt when the retention
//! window moves on (and after a purge empties slots). The victim's exact score is kept
//! in a ring of per-retention-bucket maxima (the *floor*); a key entering the table
//! inherits the floor as its error. See the `stats` module documentation for the bounds
//! this gives.

use super::ring::{HeadRing, SEC, WINDOWS};

/// The metrics an entry carries, at the table's base resolution of `N` buckets per
/// window (window 3 is the retention window).
pub(crate) trait Payload {
    const N: u32;
    fn new() -> Self;
    fn reset(&mut self);
    /// The head of window `w` moves from `old` to `new` (`new > old`).
    fn roll(&mut self, w: usize, old: u32, new: u32);
    /// The Space-Saving metric over window `w` ending at base bucket `cur`.
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32;
}

/// A key type of a table, looked up by a borrowed form (`Src`) without allocating.
pub(crate) trait TableKey {
    type Src: ?Sized;
    fn matches(&self, src: &Self::Src) -> bool;
    fn make(src: &Self::Src) -> Self;
    /// Becomes `src`, reusing its allocation when it can (a replaced key).
    fn refill(&mut self, src: &Self::Src);
    /// Heap bytes the key owns (approximately what the allocator hands out for it).
    fn heap_size(&self) -> usize;
}

/// What a request for `n` bytes costs with a glibc-like allocator: 8 bytes of header,
/// 16-byte granules, 32 bytes at least.
pub(crate) const fn alloc_size(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        let c = (n + 8 + 15) & !15;
        if c < 32 {
            32
        } else {
            c
        }
    }
}

impl TableKey for std::net::IpAddr {
    type Src = std::net::IpAddr;
    #[inline]
    fn matches(&self, src: &Self::Src) -> bool {
        self == src
    }
    fn make(src: &Self::Src) -> Self {
        *src
    }
    fn refill(&mut self, src: &Self::Src) {
        *self = *src;
    }
    fn heap_size(&self) -> usize {
        0
    }
}

httptop_wire::counters! {
    /// Monotonic counters of one table (each table's are labelled with its name).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct TableCounters {
        [Statistics]
        /// Keys that entered a statistics table (new, or after an eviction or a purge).
        inserted: Keys => "stats_keys_inserted",
        /// Keys replaced by a new key while a statistics table was full (Space-Saving).
        evicted: Keys => "stats_keys_evicted",
        /// Keys removed from a statistics table after being idle for longer than the retention period.
        purged: Keys => "stats_keys_purged",
    }
}

// `repr(C)`: the fields a lookup and a count in the current buckets touch come first, in
// this order, followed by the payload whose `cur` fields lead (see `ring::Past`).
#[repr(C)]
pub(crate) struct Entry<K, P> {
    /// Latest (clamped) timestamp of an exchange counted for this key.
    pub last_seen: u64,
    /// Low 32 bits of the key's hash (all the index uses).
    pub hash: u32,
    /// The stats' latest time, in whole seconds, when the key entered the table: every
    /// exchange of this key processed before is at or before it.
    pub since_s: u32,
    /// Upper bound of the key's count, within the retention window, before `since_s`.
    pub err: u32,
    /// Newest base bucket written, per window.
    pub heads: [u32; WINDOWS],
    /// Key namespace (see `metrics::TAG_*`), part of the key's identity.
    pub tag: u8,
    /// At least one value counted under this key was longer than the key kept.
    pub truncated: bool,
    pub key: K,
    pub data: P,
}

impl<K, P: Payload> Entry<K, P> {
    /// Whether the inherited error may still apply to a window starting at `start`: the
    /// key's uncounted exchanges are all at or before its entry time `since_s`.
    #[inline]
    pub fn err_applies(&self, start: u64) -> bool {
        // Window starts are whole seconds, so comparing in seconds is exact.
        self.err > 0 && u64::from(self.since_s) * SEC >= start
    }

    /// Whether base bucket `b` of window `w` is still held (not older than the ring).
    #[inline]
    pub fn holds(&self, w: usize, b: u32) -> bool {
        b + P::N > self.heads[w]
    }

    /// Moves the head of every window older than `bs` on to it (rolling the payload).
    #[inline(never)]
    fn move_heads(&mut self, bs: [u32; WINDOWS]) {
        let data = &mut self.data;
        move_heads(&mut self.heads, bs, |w, from, to| data.roll(w, from, to));
    }
}

/// Moves each window's head older than `bs` on to it, `roll(window, from, to)` first:
/// the rare part of a key's touch (out of line at its callers).
#[inline]
pub(crate) fn move_heads(
    heads: &mut [u32; WINDOWS],
    bs: [u32; WINDOWS],
    mut roll: impl FnMut(usize, u32, u32),
) {
    for (w, (h, &b)) in heads.iter_mut().zip(bs.iter()).enumerate() {
        if b > *h {
            roll(w, *h, b);
            *h = b;
        }
    }
}

/// Open addressing with linear probing. A cell is `hash_lo32 << 32 | (slot + 1)`, 0 when
/// empty; the low bits of the hash give the home cell. Load stays at most 3/4.
struct Index {
    cells: Vec<u64>,
    len: usize,
}

impl Index {
    fn new() -> Self {
        Index {
            cells: Vec::new(),
            len: 0,
        }
    }

    fn mask(&self) -> usize {
        self.cells.len().wrapping_sub(1)
    }

    #[inline]
    fn find(&self, hash: u32, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.cells.is_empty() {
            return None;
        }
        let tag = u64::from(hash);
        let mask = self.mask();
        let mut i = tag as usize & mask;
        loop {
            let c = self.cells[i];
            if c == 0 {
                return None;
            }
            if c >> 32 == tag {
                let slot = (c as u32).wrapping_sub(1);
                if eq(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, hash: u32, slot: u32) {
        if (self.len + 1) * 4 > self.cells.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.cells[i] != 0 {
            i = (i + 1) & mask;
        }
        self.cells[i] = (u64::from(hash) << 32) | (u64::from(slot) + 1);
        self.len += 1;
    }

    /// Doubles the cells. The index grows with the table rather than being sized for the
    /// cap up front: a small, dense index stays in the first-level cache.
    fn grow(&mut self) {
        let n = (self.cells.len() * 2).max(16);
        let old = std::mem::replace(&mut self.cells, vec![0; n]);
        let mask = n - 1;
        for c in old.into_iter().filter(|&c| c != 0) {
            let mut i = (c >> 32) as usize & mask;
            while self.cells[i] != 0 {
                i = (i + 1) & mask;
            }
            self.cells[i] = c;
        }
    }

    /// The cell holding `slot` (which must be present under `hash`).
    fn cell_of(&self, hash: u32, slot: u32) -> Option<usize> {
        if self.cells.is_empty() {
            return None;
        }
        let mask = self.mask();
        let want = u64::from(slot) + 1;
        let mut i = hash as usize & mask;
        loop {
            let c = self.cells[i];
            if c == 0 {
                return None;
            }
            if c & 0xFFFF_FFFF == want {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn remove(&mut self, hash: u32, slot: u32) {
        let Some(mut i) = self.cell_of(hash, slot) else {
            return;
        };
        self.len -= 1;
        let mask = self.mask();
        // Backward-shift deletion: pull later cells of the run into the hole unless their
        // home lies cyclically in (hole, cell].
        'outer: loop {
            self.cells[i] = 0;
            let mut j = i;
            loop {
                j = (j + 1) & mask;
                let c = self.cells[j];
                if c == 0 {
                    break 'outer;
                }
                let home = (c >> 32) as usize & mask;
                let stays = if i <= j {
                    i < home && home <= j
                } else {
                    i < home || home <= j
                };
                if !stays {
                    self.cells[i] = c;
                    i = j;
                    continue 'outer;
                }
            }
        }
    }

    fn relocate(&mut self, hash: u32, old: u32, new: u32) {
        if let Some(i) = self.cell_of(hash, old) {
            self.cells[i] = (self.cells[i] & !0xFFFF_FFFF) | (u64::from(new) + 1);
        }
    }

    /// Cells needed to hold `n` keys at load <= 3/4.
    fn cells_for(n: usize) -> usize {
        let mut c = 16usize;
        while n * 4 > c * 3 {
            c *= 2;
        }
        c
    }
}

/// Where and how an exchange is counted in a table.
pub(crate) struct At {
    /// The exchange's (clamped) time.
    pub ts: u64,
    /// Its base buckets, per window.
    pub bs: [u32; WINDOWS],
    /// The stats' latest time.
    pub latest: u64,
    /// Retention base bucket of `latest`.
    pub cur_r: u32,
    /// What the exchange adds to the primary metric.
    pub primary: u32,
}

/// See the module documentation.
pub(crate) struct Table<K, P> {
    index: Index,
    pub entries: Vec<Entry<K, P>>,
    cap: usize,
    /// `(score, entry)`, a min-heap; empty while the table is not full.
    heap: Vec<(u32, u32)>,
    /// Entry -> heap position, valid while the heap is active.
    pos: Vec<u32>,
    /// Retention base bucket the heap scores are computed for.
    heap_cur: u32,
    /// Largest evicted score per retention base bucket, over two retention windows.
    floor: HeadRing<u32>,
    /// Width of a base bucket of the retention window, ns.
    width_r: u64,
    key_heap: usize,
}

impl<K: TableKey, P: Payload> Table<K, P> {
    pub fn new(cap: usize, width_r: u64) -> Self {
        Table {
            index: Index::new(),
            entries: Vec::new(),
            cap: cap.max(1),
            heap: Vec::new(),
            pos: Vec::new(),
            heap_cur: 0,
            floor: HeadRing::new(2 * P::N as usize),
            width_r,
            key_heap: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry of a key, if held.
    #[inline]
    pub fn get(&self, hash: u32, tag: u8, src: &K::Src) -> Option<&Entry<K, P>> {
        let entries = &self.entries;
        let i = self.index.find(hash, |s| {
            entries
                .get(s as usize)
                .is_some_and(|e| e.tag == tag && e.key.matches(src))
        })?;
        self.entries.get(i as usize)
    }

    /// Start (ns) of the retention window ending at base bucket `cur`.
    pub fn start_r(&self, cur: u32) -> u64 {
        u64::from((cur + 1).saturating_sub(P::N)).saturating_mul(self.width_r)
    }

    /// The largest score evicted within the retention window ending at `cur`: what a key
    /// entering now inherits, since its earlier exchanges in any window are at most that.
    fn inherit(&self, cur: u32) -> u32 {
        self.floor.max(u64::from(cur), u64::from(P::N))
    }

    /// The largest score evicted within the last `2N - 1` retention base buckets: every
    /// error that still applies was inherited within them, so it is at most this, and a
    /// key absent from the table has a true retention count of at most this.
    pub fn floor(&self, cur: u32) -> u32 {
        self.floor.max(u64::from(cur), u64::from(2 * P::N - 1))
    }

    fn score(&self, i: usize, cur_r: u32) -> u32 {
        let e = &self.entries[i];
        let own = e.data.primary(WINDOWS - 1, e.heads[WINDOWS - 1], cur_r);
        if e.err_applies(self.start_r(cur_r)) {
            own.saturating_add(e.err)
        } else {
            own
        }
    }

    /// Finds the entry of a key (`tag`, `src`), or makes one
    /// (replacing the smallest when full). The caller adds the metrics to the returned
    /// entry, for the windows whose bucket it [`Entry::holds`]. Inlined at every caller
    /// (a found key costs a probe and a compare, no call); [`Table::insert`] stays out of
    /// line.
    #[inline(always)]
    pub fn touch(
        &mut self,
        hash: u32,
        tag: u8,
        src: &K::Src,
        at: &At,
        c: &mut TableCounters,
    ) -> usize {
        let (ts, bs, primary) = (at.ts, at.bs, at.primary);
        let entries = &self.entries;
        if let Some(i) = self.index.find(hash, |s| {
            entries
                .get(s as usize)
                .is_some_and(|e| e.tag == tag && e.key.matches(src))
        }) {
            let i = i as usize;
            let e = &mut self.entries[i];
            // Most counts land in the current buckets: the rolling stays out of line.
            if e.heads != bs {
                e.move_heads(bs);
            }
            if ts > e.last_seen {
                e.last_seen = ts;
            }
            if primary > 0 && !self.heap.is_empty() {
                let p = self.pos[i] as usize;
                self.heap[p].0 = self.heap[p].0.saturating_add(primary);
                self.sift_down(p);
            }
            return i;
        }
        self.insert(hash, tag, src, at, c)
    }

    /// [`Table::touch`] for a key not held (out of line: keys are found far more often
    /// than they enter).
    #[cold]
    #[inline(never)]
    fn insert(
        &mut self,
        hash: u32,
        tag: u8,
        src: &K::Src,
        at: &At,
        c: &mut TableCounters,
    ) -> usize {
        let (ts, bs, cur_r, primary) = (at.ts, at.bs, at.cur_r, at.primary);
        let since_s = u32::try_from(at.latest / SEC).unwrap_or(u32::MAX);
        c.inserted += 1;
        let floor = self.inherit(cur_r);
        if self.entries.len() < self.cap {
            if self.entries.len() == self.entries.capacity() {
                // All `cap` entries in one allocation: large ones are mapped lazily by the
                // allocator, so only the entries in use take memory, and no reallocation
                // copies or fragments the heap. If the address space is refused (an
                // enormous cap), grow by doubling instead, never past the cap.
                let want = self.cap - self.entries.len();
                if self.entries.try_reserve_exact(want).is_err() {
                    let add = self.entries.len().max(16).min(want);
                    self.entries.reserve_exact(add);
                }
            }
            let key = K::make(src);
            self.key_heap += key.heap_size();
            let i = self.entries.len();
            self.entries.push(Entry {
                key,
                last_seen: ts,
                hash,
                since_s,
                err: floor,
                heads: bs,
                tag,
                truncated: false,
                data: P::new(),
            });
            self.index.insert(hash, i as u32);
            return i;
        }
        if self.heap.is_empty() {
            self.build_heap(cur_r);
        }
        let v = self.heap[0].1 as usize;
        let vs = self.score(v, cur_r);
        self.floor.max_in(u64::from(cur_r), vs);
        let err = floor.max(vs);
        self.index.remove(self.entries[v].hash, v as u32);
        let e = &mut self.entries[v];
        self.key_heap -= e.key.heap_size();
        e.key.refill(src);
        self.key_heap += e.key.heap_size();
        e.hash = hash;
        e.tag = tag;
        e.truncated = false;
        e.last_seen = ts;
        e.since_s = since_s;
        e.err = err;
        e.heads = bs;
        e.data.reset();
        self.index.insert(hash, v as u32);
        self.heap[0].0 = err.saturating_add(primary);
        self.sift_down(0);
        c.evicted += 1;
        v
    }

    fn build_heap(&mut self, cur_r: u32) {
        let n = self.entries.len();
        let mut heap = std::mem::take(&mut self.heap);
        heap.clear();
        heap.reserve_exact(n);
        heap.extend((0..n).map(|i| (self.score(i, cur_r), i as u32)));
        self.heap = heap;
        self.pos.clear();
        self.pos.resize(n, 0);
        for (p, &(_, i)) in self.heap.iter().enumerate() {
            self.pos[i as usize] = p as u32;
        }
        for p in (0..n.div_ceil(4)).rev() {
            self.sift_down(p);
        }
        self.heap_cur = cur_r;
    }

    /// Restores the heap below `p` after its score grew. The heap is 4-ary: the children
    /// of a node share a cache line, and a new key (which under churn sinks to the
    /// bottom) crosses half as many levels as in a binary heap.
    fn sift_down(&mut self, mut p: usize) {
        let n = self.heap.len();
        loop {
            let first = 4 * p + 1;
            if first >= n {
                return;
            }
            let mut m = first;
            for c in first + 1..(first + 4).min(n) {
                if self.heap[c].0 < self.heap[m].0 {
                    m = c;
                }
            }
            if self.heap[m].0 >= self.heap[p].0 {
                return;
            }
            self.heap.swap(p, m);
            self.pos[self.heap[p].1 as usize] = p as u32;
            self.pos[self.heap[m].1 as usize] = m as u32;
            p = m;
        }
    }

    /// The retention window moved to `cur_r`: scores may have dropped, rebuild the heap.
    pub fn maintain(&mut self, cur_r: u32) {
        if !self.heap.is_empty() && cur_r != self.heap_cur {
            self.build_heap(cur_r);
        }
    }

    /// Removes every entry that has nothing left in the retention window ending at
    /// `cur_r`: idle for longer than the retention period and no error that applies.
    pub fn purge(&mut self, cur_r: u32, c: &mut TableCounters) {
        let start = self.start_r(cur_r);
        let mut i = self.entries.len();
        let mut purged = false;
        while i > 0 {
            i -= 1;
            let e = &self.entries[i];
            if e.last_seen >= start || u64::from(e.since_s) * SEC >= start {
                continue;
            }
            self.index.remove(e.hash, i as u32);
            self.key_heap -= e.key.heap_size();
            let last = self.entries.len() - 1;
            self.entries.swap_remove(i);
            if i < last {
                let h = self.entries[i].hash;
                self.index.relocate(h, last as u32, i as u32);
            }
            c.purged += 1;
            purged = true;
        }
        if purged {
            self.heap.clear();
            self.pos.clear();
        }
    }

    /// Heap bytes in use now (entries, index, heap, key strings). Reserved but untouched
    /// entry slots are not counted: they are not backed by memory until used.
    pub fn heap_bytes(&self) -> usize {
        self.entries.len() * std::mem::size_of::<Entry<K, P>>()
            + self.index.cells.capacity() * 8
            + self.heap.capacity() * 8
            + self.pos.capacity() * 4
            + self.floor.heap_bytes()
            + self.key_heap
    }

    /// Heap bytes when full of keys that each own `key_bytes` of heap.
    pub fn worst_case_bytes(cap: usize, key_bytes: usize) -> usize {
        let cap = cap.max(1);
        // Entry, key string, heap slot (score, entry) and position.
        cap * (std::mem::size_of::<Entry<K, P>>() + key_bytes + 8 + 4)
            + Index::cells_for(cap) * 8
            + P::N as usize * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ring::Ring;

    /// One count per window, 4 buckets.
    #[derive(Default)]
    struct C([Ring<u32, 4>; WINDOWS]);

    impl Payload for C {
        const N: u32 = 4;
        fn new() -> Self {
            C::default()
        }
        fn reset(&mut self) {
            *self = C::default();
        }
        fn roll(&mut self, w: usize, old: u32, new: u32) {
            self.0[w].roll(old, new);
        }
        fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
            self.0[w].sum(head, cur)
        }
    }

    impl TableKey for u64 {
        type Src = u64;
        fn matches(&self, src: &u64) -> bool {
            self == src
        }
        fn make(src: &u64) -> Self {
            *src
        }
        fn refill(&mut self, src: &u64) {
            *self = *src;
        }
        fn heap_size(&self) -> usize {
            0
        }
    }

    fn hit(t: &mut Table<u64, C>, c: &mut TableCounters, k: u64, b: u32) -> usize {
        // A poor hash on purpose: collisions and long runs exercise the probing.
        let hash = (k % 7) as u32;
        let at = At {
            ts: u64::from(b) * SEC,
            bs: [b; 4],
            latest: u64::from(b) * SEC,
            cur_r: b,
            primary: 1,
        };
        let i = t.touch(hash, 0, &k, &at, c);
        for w in 0..WINDOWS {
            if t.entries[i].holds(w, b) {
                t.entries[i].data.0[w].add(b, 1, true);
            }
        }
        i
    }

    fn find(t: &Table<u64, C>, k: u64) -> Option<&Entry<u64, C>> {
        t.entries.iter().find(|e| e.key == k)
    }

    #[test]
    fn index_survives_inserts_removes_and_relocations() {
        let (mut t, mut c) = (Table::<u64, C>::new(1000, SEC), TableCounters::default());
        for k in 0..200 {
            hit(&mut t, &mut c, k, 10);
        }
        assert_eq!(t.len(), 200);
        // Half of them go idle past the retention window (4 buckets) and are purged.
        for k in (0..200).step_by(2) {
            hit(&mut t, &mut c, k, 20);
        }
        t.purge(20, &mut c);
        assert_eq!(t.len(), 100);
        assert_eq!(c.purged, 100);
        for k in 0..200 {
            let i = hit(&mut t, &mut c, k, 21);
            assert_eq!(t.entries[i].key, k);
        }
        assert_eq!(t.len(), 200);
        assert_eq!(t.index.len, 200);
    }

    #[test]
    fn full_table_replaces_the_minimum_and_inherits_its_score() {
        let (mut t, mut c) = (Table::<u64, C>::new(3, SEC), TableCounters::default());
        for _ in 0..5 {
            hit(&mut t, &mut c, 1, 0);
        }
        for _ in 0..3 {
            hit(&mut t, &mut c, 2, 0);
        }
        hit(&mut t, &mut c, 3, 0);
        hit(&mut t, &mut c, 4, 0); // evicts 3 (score 1)
        assert!(find(&t, 3).is_none());
        let e = find(&t, 4).map(|e| (e.err, e.data.0[3].sum(0, 0)));
        assert_eq!(e, Some((1, 1)));
        assert_eq!(t.floor(0), 1);
        hit(&mut t, &mut c, 5, 0); // evicts 4 (score 2 = 1 own + 1 inherited)
        assert_eq!(find(&t, 5).map(|e| e.err), Some(2));
        assert_eq!(c.evicted, 2);
    }

    #[test]
    fn cap_minus_one_cap_and_cap_plus_one() {
        for (n, evicted) in [(9, 0), (10, 0), (11, 1)] {
            let (mut t, mut c) = (Table::<u64, C>::new(10, SEC), TableCounters::default());
            for k in 0..n {
                hit(&mut t, &mut c, k, 0);
            }
            assert_eq!(t.len(), n.min(10) as usize);
            assert_eq!(c.evicted, evicted);
            assert!(t.entries.capacity() <= 10);
        }
    }

    #[test]
    fn scores_decay_when_the_retention_window_moves() {
        let (mut t, mut c) = (Table::<u64, C>::new(2, SEC), TableCounters::default());
        for _ in 0..10 {
            hit(&mut t, &mut c, 1, 0); // heavy long ago
        }
        hit(&mut t, &mut c, 2, 3);
        hit(&mut t, &mut c, 2, 3);
        t.maintain(5); // bucket 0 has left the 4-bucket retention window: key 1 scores 0
        hit(&mut t, &mut c, 3, 5);
        assert!(find(&t, 1).is_none(), "the stale key is the victim");
        assert!(find(&t, 2).is_some());
        // Key 1's score at eviction was 0: nothing to inherit.
        assert_eq!(find(&t, 3).map(|e| e.err), Some(0));
    }
}
