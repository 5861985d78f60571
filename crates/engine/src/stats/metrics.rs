//! What each table stores per key: keys, and the rings of every metric.

use super::hist::BINS;
use super::ring::{Past, Ring, K, KA, KL, RA, WINDOWS};

/// The retention window's index.
const R: usize = WINDOWS - 1;
use super::table::{alloc_size, Payload, TableKey};

/// Key namespaces sharing one table: a Host header value and a server address written
/// `ip:port` are different keys even when their bytes are equal.
pub(crate) const TAG_NONE: u8 = 0;
pub(crate) const TAG_HOST: u8 = 1;
pub(crate) const TAG_ADDR: u8 = 2;

/// A string key: bytes as taken from the wire (at most `max_key_len`); its namespace
/// and truncation mark live in the entry (`Entry::tag`, `Entry::truncated`).
pub(crate) type ByteKey = Box<[u8]>;

impl TableKey for ByteKey {
    type Src = [u8];
    #[inline]
    fn matches(&self, src: &[u8]) -> bool {
        same(self, src)
    }
    fn make(src: &[u8]) -> Self {
        src.into()
    }
    fn refill(&mut self, src: &[u8]) {
        if self.len() == src.len() {
            self.copy_from_slice(src);
        } else {
            *self = src.into();
        }
    }
    fn heap_size(&self) -> usize {
        alloc_size(self.len())
    }
}

/// `a == b`, without a call into `memcmp` for the short keys most lookups compare.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .and_then(|x| <[u8; 8]>::try_from(x).ok())
            .map_or(0, u64::from_ne_bytes)
    };
    if (8..=16).contains(&n) {
        // Two overlapping words cover the whole key.
        word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8)
    } else {
        a == b
    }
}

const M: usize = K - 1;
const MA: usize = KA - 1;

/// One count (requests, or responses for status codes) per window.
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct Counts {
    /// Count of each window's newest bucket (see [`Past`]).
    pub cur: [u32; WINDOWS],
    pub past: [Past<u32, M>; WINDOWS],
}

impl Counts {
    /// Adds `v` in bucket `b` of window `w` (head `head`), if the window still holds it.
    #[inline]
    pub fn add(&mut self, w: usize, head: u32, b: u32, v: u32) {
        self.past[w].add(&mut self.cur[w], head, b, v, w == R);
    }

    /// [`Counts::add`] in every window, when `b` is the head of each (the common case:
    /// the entry's heads equal the exchange's buckets). Same result, no branch.
    #[inline]
    pub fn add_head(&mut self, v: u32) {
        for (w, c) in self.cur.iter_mut().enumerate() {
            *c = if w == R {
                c.saturating_add(v)
            } else {
                c.wrapping_add(v)
            };
        }
    }

    pub fn sum(&self, w: usize, head: u32, c: u32, from: u32) -> u32 {
        self.past[w].sum(self.cur[w], head, c, from)
    }
}

impl Payload for Counts {
    const N: u32 = K as u32;
    fn new() -> Self {
        Counts::default()
    }
    fn reset(&mut self) {
        *self = Counts::default();
    }
    #[inline]
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.past[w].roll(&mut self.cur[w], old, new);
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.sum(w, head, cur, 0)
    }
}

/// A host or server: requests at count resolution; 5xx responses and bytes each way at
/// the coarser attached resolution (bucket `b / RA`, head `head / RA`).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct HostData {
    pub cur_n: [u32; WINDOWS],
    pub cur_errors: [u32; WINDOWS],
    pub cur_req_bytes: [u64; WINDOWS],
    pub cur_resp_bytes: [u64; WINDOWS],
    pub n: [Past<u32, M>; WINDOWS],
    pub errors: [Past<u32, MA>; WINDOWS],
    pub req_bytes: [Past<u64, MA>; WINDOWS],
    pub resp_bytes: [Past<u64, MA>; WINDOWS],
}

/// What one exchange adds to its host.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HostHit {
    pub requests: u32,
    pub errors: u32,
    pub request_bytes: u64,
    pub response_bytes: u64,
}

impl HostData {
    /// One exchange in bucket `b` of window `w` (head `head`).
    #[inline]
    pub fn add(&mut self, w: usize, head: u32, b: u32, x: HostHit) {
        let sat = w == R;
        self.n[w].add(&mut self.cur_n[w], head, b, x.requests, sat);
        // The attached window is shorter than the count window by up to one count
        // bucket: it decides on its own whether it holds the bucket.
        let (ha, ba) = (head / RA, b / RA);
        if self.errors[w].add(&mut self.cur_errors[w], ha, ba, x.errors, sat) {
            let (rq, rs) = (x.request_bytes, x.response_bytes);
            self.req_bytes[w].add(&mut self.cur_req_bytes[w], ha, ba, rq, sat);
            self.resp_bytes[w].add(&mut self.cur_resp_bytes[w], ha, ba, rs, sat);
        }
    }

    /// [`HostData::add`] in every window, when `b` is the head of each (then it is in the
    /// head of the attached windows too). Same result, no branch.
    #[inline]
    pub fn add_head(&mut self, x: HostHit) {
        for w in 0..WINDOWS {
            if w == R {
                self.cur_n[w] = self.cur_n[w].saturating_add(x.requests);
                self.cur_errors[w] = self.cur_errors[w].saturating_add(x.errors);
                self.cur_req_bytes[w] = self.cur_req_bytes[w].saturating_add(x.request_bytes);
                self.cur_resp_bytes[w] = self.cur_resp_bytes[w].saturating_add(x.response_bytes);
            } else {
                self.cur_n[w] = self.cur_n[w].wrapping_add(x.requests);
                self.cur_errors[w] = self.cur_errors[w].wrapping_add(x.errors);
                self.cur_req_bytes[w] = self.cur_req_bytes[w].wrapping_add(x.request_bytes);
                self.cur_resp_bytes[w] = self.cur_resp_bytes[w].wrapping_add(x.response_bytes);
            }
        }
    }

    pub fn count(&self, w: usize, head: u32, c: u32, from: u32) -> u32 {
        self.n[w].sum(self.cur_n[w], head, c, from)
    }

    /// 5xx, request bytes and response bytes in the attached window ending at count
    /// bucket `c`.
    pub fn attached(&self, w: usize, head: u32, c: u32) -> (u32, u64, u64) {
        let (ha, ca) = (head / RA, c / RA);
        (
            self.errors[w].sum(self.cur_errors[w], ha, ca, 0),
            self.req_bytes[w].sum(self.cur_req_bytes[w], ha, ca, 0),
            self.resp_bytes[w].sum(self.cur_resp_bytes[w], ha, ca, 0),
        )
    }
}

impl Payload for HostData {
    const N: u32 = K as u32;
    fn new() -> Self {
        HostData::default()
    }
    fn reset(&mut self) {
        *self = HostData::default();
    }
    #[inline]
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.n[w].roll(&mut self.cur_n[w], old, new);
        let (oa, na) = (old / RA, new / RA);
        if na > oa {
            self.errors[w].roll(&mut self.cur_errors[w], oa, na);
            self.req_bytes[w].roll(&mut self.cur_req_bytes[w], oa, na);
            self.resp_bytes[w].roll(&mut self.cur_resp_bytes[w], oa, na);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.count(w, head, cur, 0)
    }
}

/// A client address: requests, and bytes both ways together (attached resolution).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub(crate) struct ClientData {
    pub cur_n: [u32; WINDOWS],
    pub cur_bytes: [u64; WINDOWS],
    pub n: [Past<u32, M>; WINDOWS],
    pub bytes: [Past<u64, MA>; WINDOWS],
}

impl ClientData {
    #[inline]
    pub fn add(&mut self, w: usize, head: u32, b: u32, req: u32, bytes: u64) {
        let sat = w == R;
        self.n[w].add(&mut self.cur_n[w], head, b, req, sat);
        self.bytes[w].add(&mut self.cur_bytes[w], head / RA, b / RA, bytes, sat);
    }

    /// [`ClientData::add`] in every window, when `b` is the head of each. Same result, no
    /// branch.
    #[inline]
    pub fn add_head(&mut self, req: u32, bytes: u64) {
        for w in 0..WINDOWS {
            if w == R {
                self.cur_n[w] = self.cur_n[w].saturating_add(req);
                self.cur_bytes[w] = self.cur_bytes[w].saturating_add(bytes);
            } else {
                self.cur_n[w] = self.cur_n[w].wrapping_add(req);
                self.cur_bytes[w] = self.cur_bytes[w].wrapping_add(bytes);
            }
        }
    }

    pub fn count(&self, w: usize, head: u32, c: u32) -> u32 {
        self.n[w].sum(self.cur_n[w], head, c, 0)
    }

    pub fn bytes(&self, w: usize, head: u32, c: u32) -> u64 {
        self.bytes[w].sum(self.cur_bytes[w], head / RA, c / RA, 0)
    }
}

impl Payload for ClientData {
    const N: u32 = K as u32;
    fn new() -> Self {
        ClientData::default()
    }
    fn reset(&mut self) {
        *self = ClientData::default();
    }
    #[inline]
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.n[w].roll(&mut self.cur_n[w], old, new);
        let (oa, na) = (old / RA, new / RA);
        if na > oa {
            self.bytes[w].roll(&mut self.cur_bytes[w], oa, na);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.count(w, head, cur)
    }
}

/// Latency histograms of a server: `KL` time buckets per window (the latency table's
/// base resolution), each a full histogram, plus the sample count of each bucket.
/// Stored bin-major (`h[bin][window][bucket]`) so that one sample, counted in all four
/// windows, touches a single cache line.
#[derive(Clone, Debug)]
pub(crate) struct LatData {
    pub n: [Ring<u32, KL>; WINDOWS],
    pub h: [[[u32; KL]; WINDOWS]; BINS],
}

impl Payload for LatData {
    const N: u32 = KL as u32;
    fn new() -> Self {
        LatData {
            n: Default::default(),
            h: [[[0; KL]; WINDOWS]; BINS],
        }
    }
    fn reset(&mut self) {
        *self = LatData::new();
    }
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.n[w].roll(old, new);
        if new - old >= KL as u32 {
            for bin in self.h.iter_mut() {
                bin[w] = [0; KL];
            }
        } else {
            for b in old + 1..=new {
                for bin in self.h.iter_mut() {
                    bin[w][b as usize % KL] = 0;
                }
            }
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.n[w].sum(head, cur)
    }
}

impl LatData {
    #[inline]
    pub fn add(&mut self, w: usize, b: u32, bin: usize) {
        self.n[w].add(b, 1, w == R);
        if let Some(c) = self.h.get_mut(bin) {
            let c = &mut c[w][b as usize % KL];
            *c = c.saturating_add(1);
        }
    }
}

/// Counts under a small fixed key (a status code, a common method): no hashing, no
/// eviction, bounded by construction.
pub(crate) struct FixedEntry {
    /// The key: a status code (or `OTHER_CODE`), or an index in `KNOWN_METHODS`.
    pub code: u16,
    pub last_seen: u64,
    pub heads: [u32; WINDOWS],
    pub counts: Counts,
}

impl FixedEntry {
    pub fn new(code: u16, ts: u64, bs: [u32; WINDOWS]) -> Self {
        FixedEntry {
            code,
            last_seen: ts,
            heads: bs,
            counts: Counts::default(),
        }
    }

    #[inline]
    pub fn touch(&mut self, ts: u64, bs: [u32; WINDOWS]) {
        if ts > self.last_seen {
            self.last_seen = ts;
        }
        // Most counts land in the current buckets: the rolling stays out of line.
        if self.heads != bs {
            self.move_heads(bs);
        }
        for (w, &b) in bs.iter().enumerate() {
            self.counts.add(w, self.heads[w], b, 1);
        }
    }

    /// Moves the head of every window older than `bs` on to it.
    #[inline(never)]
    fn move_heads(&mut self, bs: [u32; WINDOWS]) {
        let counts = &mut self.counts;
        super::table::move_heads(&mut self.heads, bs, |w, from, to| counts.roll(w, from, to));
    }

    pub fn count(&self, w: usize, c: u32) -> u32 {
        self.counts.sum(w, self.heads[w], c, 0)
    }
}

/// The methods counted without a hash table (the other ones go to a bounded table).
pub(crate) const KNOWN_METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

#[inline]
pub(crate) fn known_method(m: &[u8]) -> Option<usize> {
    Some(match m {
        b"GET" => 0,
        b"POST" => 1,
        b"HEAD" => 2,
        b"PUT" => 3,
        b"DELETE" => 4,
        b"OPTIONS" => 5,
        b"PATCH" => 6,
        b"CONNECT" => 7,
        b"TRACE" => 8,
        _ => return None,
    })
}

/// Status codes: one entry per code 0..=999 (at most 1,000, bounded by construction),
/// found through a direct index; codes outside that range share one more entry.
pub(crate) struct StatusTable {
    index: Vec<u16>,
    pub entries: Vec<FixedEntry>,
}

pub(crate) const OTHER_CODE: u16 = 1000;
const NO_SLOT: u16 = u16::MAX;

impl StatusTable {
    pub fn new() -> Self {
        StatusTable {
            index: vec![NO_SLOT; usize::from(OTHER_CODE) + 1],
            entries: Vec::new(),
        }
    }

    #[inline]
    pub fn touch(&mut self, code: u16, ts: u64, bs: [u32; WINDOWS]) {
        let code = code.min(OTHER_CODE);
        let slot = self.index[usize::from(code)];
        let e = if slot == NO_SLOT {
            self.index[usize::from(code)] = self.entries.len() as u16;
            self.entries.push(FixedEntry::new(code, ts, bs));
            self.entries.last_mut()
        } else {
            self.entries.get_mut(usize::from(slot))
        };
        if let Some(e) = e {
            e.touch(ts, bs);
        }
    }

    /// Removes codes not seen since `start`.
    pub fn purge(&mut self, start: u64) -> u64 {
        let mut n = 0;
        let mut i = self.entries.len();
        while i > 0 {
            i -= 1;
            if self.entries[i].last_seen >= start {
                continue;
            }
            let gone = self.entries.swap_remove(i);
            self.index[usize::from(gone.code)] = NO_SLOT;
            if let Some(moved) = self.entries.get(i) {
                self.index[usize::from(moved.code)] = i as u16;
            }
            n += 1;
        }
        n
    }

    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * 2 + self.entries.capacity() * std::mem::size_of::<FixedEntry>()
    }

    pub fn worst_case_bytes() -> usize {
        // Vec doubling: 1,001 entries end in a capacity of 1,024.
        (usize::from(OTHER_CODE) + 1) * 2 + 1024 * std::mem::size_of::<FixedEntry>()
    }
}
