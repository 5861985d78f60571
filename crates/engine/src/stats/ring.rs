//! Time geometry (bucket widths of the four windows) and fixed rings of buckets with lazy
//! rotation: a ring does not know its own head; the owner keeps the index of the newest
//! bucket written (one per window, shared by every ring of a key) and rolls the rings
//! forward when it touches them, so idle keys cost nothing.

/// A bucket value. Overflow must not panic. Sums saturate (a total stuck at its maximum
/// is visible, a wrapped one is not); adds into buckets saturate only where they could
/// overflow: `u32` counts in the long buckets of the retention window (2 h by default:
/// 4.3 billion exchanges of one key in one bucket is 600,000 per second). Elsewhere they
/// wrap, which is cheaper on the hot path and cannot happen: a `u32` count in a 5-minute
/// bucket would need 14 million exchanges per second, a `u64` byte count 2^64 bytes.
pub(crate) trait Counter: Copy + Default {
    fn plus(self, o: Self) -> Self;
    fn plus_wrapping(self, o: Self) -> Self;
}

impl Counter for u32 {
    #[inline]
    fn plus(self, o: Self) -> Self {
        self.saturating_add(o)
    }
    #[inline]
    fn plus_wrapping(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
}

impl Counter for u64 {
    #[inline]
    fn plus(self, o: Self) -> Self {
        self.saturating_add(o)
    }
    #[inline]
    fn plus_wrapping(self, o: Self) -> Self {
        // u64 bucket values (bytes, global counts) cannot reach 2^64.
        self.wrapping_add(o)
    }
}

/// Windows, in the order of [`super::Window::index`].
pub(crate) const WINDOWS: usize = 4;
/// Count buckets per window (request and response counts of every table).
pub(crate) const K: usize = 12;
/// Buckets per window of the attached metrics (bytes, 5xx): each is `RA` count buckets.
pub(crate) const KA: usize = 6;
/// Buckets per window of the latency histograms: each is `RL` count buckets.
pub(crate) const KL: usize = 3;
pub(crate) const RA: u32 = (K / KA) as u32;
pub(crate) const RL: u32 = (K / KL) as u32;

pub(crate) const SEC: u64 = 1_000_000_000;
/// Count-bucket widths of the three fixed windows (1 min, 10 min, 1 h).
pub(crate) const FIXED_WIDTHS: [u64; 3] = [5 * SEC, 50 * SEC, 300 * SEC];

/// Bucket widths of the four windows at count resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub width: [u64; WINDOWS],
}

impl Geometry {
    /// `retention_ns` must already be validated (a multiple of `K` seconds, >= 2 h).
    pub fn new(retention_ns: u64) -> Self {
        Geometry {
            width: [
                FIXED_WIDTHS[0],
                FIXED_WIDTHS[1],
                FIXED_WIDTHS[2],
                retention_ns / K as u64,
            ],
        }
    }

    /// Count-bucket index of `ts` in every window. Fits in `u32` for any `u64` time since
    /// the narrowest bucket is 5 s (`u64::MAX / 5e9 < u32::MAX`).
    #[inline]
    pub fn buckets(&self, ts: u64) -> [u32; WINDOWS] {
        // Constant divisors for the fixed windows (a multiplication each).
        let b = |q: u64| u32::try_from(q).unwrap_or(u32::MAX);
        [
            b(ts / FIXED_WIDTHS[0]),
            b(ts / FIXED_WIDTHS[1]),
            b(ts / FIXED_WIDTHS[2]),
            b(ts / self.width[3]),
        ]
    }

    /// Start (ns) of the window of window `w` whose newest bucket is `cur`, at a resolution
    /// of `ratio` count buckets per bucket and `n` buckets per window.
    pub fn start(&self, w: usize, cur: u32, ratio: u32, n: usize) -> u64 {
        let width = self.width[w].saturating_mul(u64::from(ratio));
        let first = u64::from(cur / ratio).saturating_sub(n as u64 - 1);
        first.saturating_mul(width)
    }
}

/// `N` buckets; bucket `b` lives in slot `b % N`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ring<T, const N: usize>(pub [T; N]);

impl<T: Copy + Default, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Ring([T::default(); N])
    }
}

impl<T: Counter, const N: usize> Ring<T, N> {
    /// Clears the buckets after `old` up to `new` (the head moves from `old` to `new`).
    #[inline]
    pub fn roll(&mut self, old: u32, new: u32) {
        if new <= old {
            return;
        }
        if (new - old) as usize >= N {
            self.0 = [T::default(); N];
        } else {
            for b in old + 1..=new {
                self.0[b as usize % N] = T::default();
            }
        }
    }

    #[inline]
    /// `sat`: saturate rather than wrap (see [`Counter`]).
    pub fn add(&mut self, b: u32, v: T, sat: bool) {
        let x = &mut self.0[b as usize % N];
        *x = if sat { x.plus(v) } else { x.plus_wrapping(v) };
    }

    /// Sum of the buckets in `(cur - N, cur]` that the ring holds (head `head`), from
    /// bucket `from` on.
    pub fn sum_from(&self, head: u32, cur: u32, from: u32) -> T {
        let mut s = T::default();
        let (lo, hi) = span::<N>(head, cur, from);
        let mut b = lo;
        while b <= hi {
            s = s.plus(self.0[b as usize % N]);
            b += 1;
        }
        s
    }

    pub fn sum(&self, head: u32, cur: u32) -> T {
        self.sum_from(head, cur, 0)
    }
}

/// The buckets `lo..=hi` a ring with head `head` holds of the window ending at `cur`,
/// starting no earlier than `from`; empty when `lo > hi`.
#[inline]
pub(crate) fn span<const N: usize>(head: u32, cur: u32, from: u32) -> (u32, u32) {
    span_n(N as u32, head, cur, from)
}

#[inline]
pub(crate) fn span_n(n: u32, head: u32, cur: u32, from: u32) -> (u32, u32) {
    let lo = (cur + 1)
        .saturating_sub(n)
        .max((head + 1).saturating_sub(n))
        .max(from);
    let hi = head.min(cur);
    if lo > hi {
        (1, 0)
    } else {
        (lo, hi)
    }
}

/// The older buckets of one window of a per-key metric: `M` is the window's bucket
/// count minus one. The newest bucket (the head) is kept by the owner in a `cur` field
/// placed with the entry's other hot fields, so that counting in the current buckets,
/// the common case, touches one or two cache lines per entry instead of one per window
/// and metric. Bucket `b` (older than the head) lives in slot `b % M`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Past<T, const M: usize>(pub [T; M]);

impl<T: Copy + Default, const M: usize> Default for Past<T, M> {
    fn default() -> Self {
        Past([T::default(); M])
    }
}

impl<T: Counter, const M: usize> Past<T, M> {
    const N: u32 = M as u32 + 1;

    /// The head moves from `old` to `new` (`new > old`): `cur` (bucket `old`) joins the
    /// ring, the buckets between are cleared, `cur` restarts at zero.
    #[inline]
    pub fn roll(&mut self, cur: &mut T, old: u32, new: u32) {
        if new <= old {
            return;
        }
        if new - old >= Self::N {
            self.0 = [T::default(); M];
        } else {
            // Buckets new-M ..= new-1 use every slot once: clear old+1 .. new-1, keep the
            // older ones, store `old`.
            for b in old + 1..new {
                self.0[b as usize % M] = T::default();
            }
            self.0[old as usize % M] = *cur;
        }
        *cur = T::default();
    }

    /// Adds to bucket `b` of a window whose head is `head`; false (nothing added) when
    /// `b` is older than the window the ring holds. `b <= head`. `sat`: saturate rather
    /// than wrap (see [`Counter`]).
    #[inline]
    pub fn add(&mut self, cur: &mut T, head: u32, b: u32, v: T, sat: bool) -> bool {
        let add = |x: T| if sat { x.plus(v) } else { x.plus_wrapping(v) };
        if b == head {
            *cur = add(*cur);
            true
        } else if b + Self::N > head {
            let x = &mut self.0[b as usize % M];
            *x = add(*x);
            true
        } else {
            false
        }
    }

    /// Sum of the held buckets of the window ending at `c`, from bucket `from` on.
    pub fn sum(&self, cur: T, head: u32, c: u32, from: u32) -> T {
        let mut s = T::default();
        let (lo, hi) = span_n(Self::N, head, c, from);
        let mut b = lo;
        while b <= hi {
            s = s.plus(if b == head {
                cur
            } else {
                self.0[b as usize % M]
            });
            b += 1;
        }
        s
    }
}

/// A ring with its own head: the global counters (totals, rate series, floors).
#[derive(Clone, Debug)]
pub(crate) struct HeadRing<T> {
    vals: Vec<T>,
    head: u64,
}

impl<T: Counter + Ord> HeadRing<T> {
    pub fn new(n: usize) -> Self {
        HeadRing {
            vals: vec![T::default(); n.max(1)],
            head: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.vals.len()
    }

    fn slot(&self, b: u64) -> usize {
        (b % self.vals.len() as u64) as usize
    }

    /// Moves the head to `b` if `b` is newer; false if `b` is too old to be held.
    #[inline]
    fn reach(&mut self, b: u64) -> bool {
        let n = self.vals.len() as u64;
        if b > self.head {
            if b - self.head >= n {
                self.vals.iter_mut().for_each(|v| *v = T::default());
            } else {
                for x in self.head + 1..=b {
                    let i = self.slot(x);
                    self.vals[i] = T::default();
                }
            }
            self.head = b;
            true
        } else {
            b + n > self.head
        }
    }

    #[inline]
    pub fn add(&mut self, b: u64, v: T) {
        if self.reach(b) {
            let i = self.slot(b);
            self.vals[i] = self.vals[i].plus(v);
        }
    }

    pub fn max_in(&mut self, b: u64, v: T) {
        if self.reach(b) {
            let i = self.slot(b);
            if v > self.vals[i] {
                self.vals[i] = v;
            }
        }
    }

    /// The value of bucket `b` as seen from `cur` (zero outside `(cur - n, cur]` or when
    /// not held).
    pub fn get(&self, b: u64, cur: u64) -> T {
        let n = self.vals.len() as u64;
        if b > cur || b + n <= cur || b > self.head || b + n <= self.head {
            T::default()
        } else {
            self.vals[self.slot(b)]
        }
    }

    /// Sum over the `n` buckets ending at `cur`.
    #[cfg(test)]
    pub fn sum(&self, cur: u64) -> T {
        let n = self.vals.len() as u64;
        let mut s = T::default();
        for b in (cur + 1).saturating_sub(n)..=cur {
            s = s.plus(self.get(b, cur));
        }
        s
    }

    /// Max over the `n` buckets ending at `cur` (at most the ring's length).
    pub fn max(&self, cur: u64, n: u64) -> T {
        let n = n.min(self.vals.len() as u64);
        let mut m = T::default();
        for b in (cur + 1).saturating_sub(n)..=cur {
            let v = self.get(b, cur);
            if v > m {
                m = v;
            }
        }
        m
    }

    pub fn heap_bytes(&self) -> usize {
        self.vals.capacity() * std::mem::size_of::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_clears_only_the_new_buckets() {
        let mut r: Ring<u32, 4> = Ring::default();
        r.add(10, 1, true);
        r.add(9, 2, true);
        r.roll(10, 12);
        r.add(12, 5, true);
        assert_eq!(r.sum(12, 12), 5 + 1 + 2); // buckets 9..=12
        assert_eq!(r.sum(12, 13), 5 + 1);
        r.roll(12, 100);
        assert_eq!(r.sum(100, 100), 0);
    }

    #[test]
    fn sum_respects_head_and_from() {
        let mut r: Ring<u64, 3> = Ring::default();
        for b in 5..=7 {
            r.add(b, u64::from(b), true);
        }
        assert_eq!(r.sum(7, 7), 5 + 6 + 7);
        assert_eq!(r.sum(7, 8), 6 + 7);
        assert_eq!(r.sum_from(7, 7, 6), 6 + 7);
        assert_eq!(r.sum(7, 10), 0);
        // A report older than the head sees only what the ring still holds.
        assert_eq!(r.sum(7, 6), 5 + 6);
    }

    #[test]
    fn past_matches_a_full_ring() {
        // Same operations on a `Past` (+ cur) and a full `Ring` give the same sums.
        let mut full: Ring<u64, 4> = Ring::default();
        let mut past: Past<u64, 3> = Past::default();
        let mut cur = 0u64;
        let mut head = 0u32;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (head + (x % 3) as u32).saturating_sub((x >> 8) as u32 % 6);
            if b > head {
                full.roll(head, b);
                past.roll(&mut cur, head, b);
                head = b;
            }
            let added = past.add(&mut cur, head, b, x % 100, true);
            assert_eq!(added, b + 4 > head);
            if added {
                full.add(b, x % 100, true);
            }
            let c = head + (x >> 20) as u32 % 3;
            let from = c.saturating_sub((x >> 30) as u32 % 5);
            assert_eq!(full.sum_from(head, c, from), past.sum(cur, head, c, from));
        }
    }

    #[test]
    fn head_ring_drops_too_old_and_clears_on_wrap() {
        let mut r: HeadRing<u64> = HeadRing::new(3);
        r.add(100, 1);
        r.add(98, 1);
        r.add(97, 1); // too old: 97 + 3 <= 100
        assert_eq!(r.sum(100), 2);
        r.add(102, 4);
        assert_eq!(r.sum(102), 5);
        assert_eq!(r.sum(103), 4);
        r.max_in(102, 2);
        assert_eq!(r.max(102, 3), 4);
        assert_eq!(r.max(102, 1), 4);
        assert_eq!(r.max(104, 2), 0);
    }

    #[test]
    fn geometry_start_is_aligned() {
        let g = Geometry::new(24 * 3600 * SEC);
        assert_eq!(g.width, [5 * SEC, 50 * SEC, 300 * SEC, 7200 * SEC]);
        let b = g.buckets(1_000 * SEC);
        assert_eq!(b[0], 200);
        assert_eq!(g.start(0, b[0], 1, K), (200 - 11) * 5 * SEC);
        assert_eq!(g.start(0, b[0], RA, KA), (100 - 5) * 10 * SEC);
    }
}
