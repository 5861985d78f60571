//! What each table stores per key: keys, and the rings of every metric.

use super::hist::BINS;
use super::ring::{Ring, K, KA, KL, RA, WINDOWS};
use super::table::{alloc_size, KeyHeap, Payload};

/// Key namespaces sharing one table: a Host header value and a server address written
/// `ip:port` are different keys even when their bytes are equal.
pub(crate) const TAG_NONE: u8 = 0;
pub(crate) const TAG_HOST: u8 = 1;
pub(crate) const TAG_ADDR: u8 = 2;

/// A string key: bytes as taken from the wire (at most `max_key_len`); its namespace
/// and truncation mark live in the entry (`Entry::tag`, `Entry::truncated`).
pub(crate) type ByteKey = Box<[u8]>;

impl KeyHeap for ByteKey {
    fn heap_size(&self) -> usize {
        alloc_size(self.len())
    }
}

/// One count (requests, or responses for status codes) per window.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    pub n: [Ring<u32, K>; WINDOWS],
}

impl Counts {
    #[inline]
    pub fn add(&mut self, w: usize, b: u32, v: u32) {
        self.n[w].add(b, v);
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
        self.n[w].roll(old, new);
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.n[w].sum(head, cur)
    }
}

/// A host or server: requests at count resolution; 5xx responses and bytes each way at
/// the coarser attached resolution.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostData {
    pub n: [Ring<u32, K>; WINDOWS],
    pub errors: [Ring<u32, KA>; WINDOWS],
    pub req_bytes: [Ring<u64, KA>; WINDOWS],
    pub resp_bytes: [Ring<u64, KA>; WINDOWS],
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
        self.n[w].roll(old, new);
        let (oa, na) = (old / RA, new / RA);
        if na > oa {
            self.errors[w].roll(oa, na);
            self.req_bytes[w].roll(oa, na);
            self.resp_bytes[w].roll(oa, na);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.n[w].sum(head, cur)
    }
}

/// A client address: requests, and bytes both ways together (attached resolution).
#[derive(Clone, Debug, Default)]
pub(crate) struct ClientData {
    pub n: [Ring<u32, K>; WINDOWS],
    pub bytes: [Ring<u64, KA>; WINDOWS],
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
        self.n[w].roll(old, new);
        let (oa, na) = (old / RA, new / RA);
        if na > oa {
            self.bytes[w].roll(oa, na);
        }
    }
    fn primary(&self, w: usize, head: u32, cur: u32) -> u32 {
        self.n[w].sum(head, cur)
    }
}

/// Latency histograms of a server: `KL` time buckets per window (base resolution of the
/// latency table), each a full histogram, plus the sample count of each bucket.
#[derive(Clone, Debug)]
pub(crate) struct LatData {
    pub n: [Ring<u32, KL>; WINDOWS],
    pub h: [[[u32; BINS]; KL]; WINDOWS],
}

impl Payload for LatData {
    const N: u32 = KL as u32;
    fn new() -> Self {
        LatData {
            n: Default::default(),
            h: [[[0; BINS]; KL]; WINDOWS],
        }
    }
    fn reset(&mut self) {
        *self = LatData::new();
    }
    fn roll(&mut self, w: usize, old: u32, new: u32) {
        self.n[w].roll(old, new);
        if new - old >= KL as u32 {
            self.h[w] = [[0; BINS]; KL];
        } else {
            for b in old + 1..=new {
                self.h[w][b as usize % KL] = [0; BINS];
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
        self.n[w].add(b, 1);
        if let Some(c) = self.h[w][b as usize % KL].get_mut(bin) {
            *c = c.saturating_add(1);
        }
    }
}

/// Status codes: one entry per code 0..=999 (at most 1,000, bounded by construction),
/// found through a direct index; codes outside that range share one more entry.
pub(crate) struct StatusTable {
    index: Vec<u16>,
    pub entries: Vec<StatusEntry>,
}

pub(crate) struct StatusEntry {
    /// The code, or `OTHER_CODE`.
    pub code: u16,
    pub last_seen: u64,
    pub heads: [u32; WINDOWS],
    pub counts: Counts,
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
            self.entries.push(StatusEntry {
                code,
                last_seen: ts,
                heads: bs,
                counts: Counts::default(),
            });
            self.entries.last_mut()
        } else {
            self.entries.get_mut(usize::from(slot))
        };
        let Some(e) = e else { return };
        if ts > e.last_seen {
            e.last_seen = ts;
        }
        for (w, &b) in bs.iter().enumerate() {
            let h = e.heads[w];
            if b > h {
                e.counts.roll(w, h, b);
                e.heads[w] = b;
            }
            if b + K as u32 > e.heads[w] {
                e.counts.add(w, b, 1);
            }
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
        self.index.capacity() * 2 + self.entries.capacity() * std::mem::size_of::<StatusEntry>()
    }

    pub fn worst_case_bytes() -> usize {
        // Vec doubling: 1,001 entries end in a capacity of 1,024.
        (usize::from(OTHER_CODE) + 1) * 2 + 1024 * std::mem::size_of::<StatusEntry>()
    }
}
