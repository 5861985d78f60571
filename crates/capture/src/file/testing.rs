//! Test fixtures shared by the format and buffer tests: pcap and pcapng writers, an
//! owned frame for comparisons, a `Read` that trickles, fails or is interrupted, and the
//! check of every truncation.

use std::io::{self, Read};

use super::pcapng::*;
use super::*;
pub(super) use crate::error::Resumed;

// ---- writers -------------------------------------------------------------------------

pub(super) fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
pub(super) fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
pub(super) fn put64(v: &mut Vec<u8>, x: u64, be: bool) {
    v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
}
pub(super) fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

pub(super) const MAGIC_USEC: u32 = 0xa1b2_c3d4;
pub(super) const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
pub(super) const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;

pub(super) struct Rec<'a> {
    pub(super) sec: u32,
    pub(super) frac: u32,
    pub(super) orig: u32,
    pub(super) data: &'a [u8],
}

/// A capture file built in code, with the offset after each record or block and whether
/// that record should yield a frame.
pub(super) struct Built {
    pub(super) bytes: Vec<u8>,
    pub(super) ends: Vec<(usize, bool)>,
}

impl Built {
    pub(super) fn header_len(&self) -> usize {
        self.ends.first().map_or(0, |e| e.0)
    }
}

pub(super) fn pcap_file(magic: u32, be: bool, linktype: u32, recs: &[Rec<'_>]) -> Built {
    let modified = magic == MAGIC_MODIFIED;
    let mut v = Vec::new();
    put32(&mut v, magic, be);
    put16(&mut v, 2, be);
    put16(&mut v, 4, be);
    put32(&mut v, 0, be); // thiszone
    put32(&mut v, 0, be); // sigfigs
    put32(&mut v, 65535, be); // snaplen
    put32(&mut v, linktype, be);
    let mut ends = vec![(v.len(), false)];
    for r in recs {
        put32(&mut v, r.sec, be);
        put32(&mut v, r.frac, be);
        put32(&mut v, r.data.len() as u32, be);
        put32(&mut v, r.orig, be);
        if modified {
            v.extend_from_slice(&[0; 8]);
        }
        v.extend_from_slice(r.data);
        ends.push((v.len(), true));
    }
    Built { bytes: v, ends }
}

/// pcapng writer; `be` is the byte order of the current section.
pub(super) struct Ng {
    pub(super) be: bool,
    pub(super) out: Vec<u8>,
    pub(super) ends: Vec<(usize, bool)>,
}

impl Ng {
    pub(super) fn new(be: bool) -> Self {
        let mut n = Ng {
            be,
            out: Vec::new(),
            ends: Vec::new(),
        };
        n.shb(be, &[]);
        n
    }
    pub(super) fn block(&mut self, btype: u32, body: &[u8], yields: bool) -> &mut Self {
        let be = self.be;
        let len = 12 + body.len().div_ceil(4) * 4;
        put32(&mut self.out, btype, be);
        put32(&mut self.out, len as u32, be);
        self.out.extend_from_slice(body);
        pad4(&mut self.out);
        put32(&mut self.out, len as u32, be);
        self.ends.push((self.out.len(), yields));
        self
    }
    pub(super) fn options(&self, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut v = Vec::new();
        if opts.is_empty() {
            return v;
        }
        for (code, value) in opts {
            put16(&mut v, *code, self.be);
            put16(&mut v, value.len() as u16, self.be);
            v.extend_from_slice(value);
            pad4(&mut v);
        }
        put32(&mut v, 0, self.be); // opt_endofopt
        v
    }
    pub(super) fn shb(&mut self, be: bool, opts: &[(u16, Vec<u8>)]) -> &mut Self {
        self.be = be;
        let mut b = Vec::new();
        put32(&mut b, BYTE_ORDER_MAGIC, be);
        put16(&mut b, 1, be);
        put16(&mut b, 0, be);
        put64(&mut b, u64::MAX, be); // section length unknown
        b.extend(self.options(opts));
        self.block(SHB_TYPE, &b, false)
    }
    pub(super) fn idb(
        &mut self,
        linktype: u16,
        snaplen: u32,
        opts: &[(u16, Vec<u8>)],
    ) -> &mut Self {
        let mut b = Vec::new();
        put16(&mut b, linktype, self.be);
        put16(&mut b, 0, self.be);
        put32(&mut b, snaplen, self.be);
        b.extend(self.options(opts));
        self.block(IDB_TYPE, &b, false)
    }
    pub(super) fn epb_with(
        &mut self,
        if_id: u32,
        ts: u64,
        orig: u32,
        data: &[u8],
        opts: &[(u16, Vec<u8>)],
        yields: bool,
    ) -> &mut Self {
        let be = self.be;
        let mut b = Vec::new();
        put32(&mut b, if_id, be);
        put32(&mut b, (ts >> 32) as u32, be);
        put32(&mut b, ts as u32, be);
        put32(&mut b, data.len() as u32, be);
        put32(&mut b, orig, be);
        b.extend_from_slice(data);
        pad4(&mut b);
        b.extend(self.options(opts));
        self.block(EPB_TYPE, &b, yields)
    }
    pub(super) fn epb(&mut self, if_id: u32, ts: u64, orig: u32, data: &[u8]) -> &mut Self {
        self.epb_with(if_id, ts, orig, data, &[], true)
    }
    pub(super) fn spb(&mut self, orig: u32, data: &[u8]) -> &mut Self {
        let mut b = Vec::new();
        put32(&mut b, orig, self.be);
        b.extend_from_slice(data);
        self.block(SPB_TYPE, &b, true)
    }
    pub(super) fn pb(&mut self, if_id: u16, ts: u64, orig: u32, data: &[u8]) -> &mut Self {
        let be = self.be;
        let mut b = Vec::new();
        put16(&mut b, if_id, be);
        put16(&mut b, 3, be); // drops count: must not leak into the interface id
        put32(&mut b, (ts >> 32) as u32, be);
        put32(&mut b, ts as u32, be);
        put32(&mut b, data.len() as u32, be);
        put32(&mut b, orig, be);
        b.extend_from_slice(data);
        self.block(PB_TYPE, &b, true)
    }
    pub(super) fn build(&self) -> Built {
        Built {
            bytes: self.out.clone(),
            ends: self.ends.clone(),
        }
    }
}

pub(super) fn tsresol(r: u8) -> (u16, Vec<u8>) {
    (OPT_IF_TSRESOL, vec![r])
}
pub(super) fn tsoffset(s: i64, be: bool) -> (u16, Vec<u8>) {
    let v = if be { s.to_be_bytes() } else { s.to_le_bytes() };
    (OPT_IF_TSOFFSET, v.to_vec())
}

pub(super) fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ---- readers -------------------------------------------------------------------------

/// An owned copy of a frame, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct F {
    pub(super) ts: u64,
    pub(super) lt: u32,
    pub(super) orig: u32,
    pub(super) data: Vec<u8>,
}

pub(super) fn f(ts: u64, lt: LinkType, orig: u32, data: &[u8]) -> F {
    F {
        ts,
        lt: lt.0,
        orig,
        data: data.to_vec(),
    }
}

/// Reads to the end; the error, if any, comes back beside the frames read before it.
/// Bounded so a looping reader fails the test instead of hanging it.
pub(super) fn drain<R: Read>(
    src: &mut FileSource<R>,
    bound: usize,
) -> (Vec<F>, Option<CaptureError>) {
    let mut frames = Vec::new();
    for _ in 0..bound {
        match src.next_frame() {
            Ok(Some(fr)) => frames.push(F {
                ts: fr.ts.0,
                lt: fr.linktype.0,
                orig: fr.orig_len,
                data: fr.data.to_vec(),
            }),
            Ok(None) => return (frames, None),
            Err(e) => {
                // Fused: the end follows an error.
                assert!(matches!(src.next_frame(), Ok(None)));
                return (frames, Some(e));
            }
        }
    }
    panic!("reader did not end within {bound} calls");
}

pub(super) fn read_ok(bytes: &[u8]) -> (Vec<F>, FileStats) {
    let mut src = FileSource::new(bytes).expect("header");
    let (frames, err) = drain(&mut src, bytes.len() + 2);
    assert!(err.is_none(), "unexpected error {err:?}");
    (frames, src.stats())
}

/// A `Read` handing out at most `chunk` bytes per call, optionally interrupting every
/// other call and failing after `fail_at` bytes.
pub(super) struct Trickle<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) chunk: usize,
    pub(super) interrupt: bool,
    pub(super) calls: usize,
    pub(super) fail_at: Option<usize>,
}

impl<'a> Trickle<'a> {
    pub(super) fn new(data: &'a [u8], chunk: usize) -> Self {
        Trickle {
            data,
            pos: 0,
            chunk,
            interrupt: false,
            calls: 0,
            fail_at: None,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.interrupt && self.calls % 2 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.fail_at.is_some_and(|at| self.pos >= at) {
            return Err(io::Error::other("disk on fire"));
        }
        let n = self.chunk.min(out.len()).min(self.data.len() - self.pos);
        out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Deterministic xorshift, so fuzz-style tests replay exactly.
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---- pcapng --------------------------------------------------------------------------

/// Two sections of opposite byte orders, interfaces of different link types and
/// resolutions, every packet block kind, and blocks to skip.
pub(super) fn sample_pcapng() -> (Built, Vec<F>) {
    let d = |n, s| payload(n, s);
    let (a, b, c, e, g, h) = (d(60, 1), d(41, 2), d(33, 3), d(50, 4), d(9, 5), d(24, 6));
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[])
        .idb(101, 65535, &[tsresol(9)])
        .idb(113, 0, &[tsresol(0x80 | 10), tsoffset(100, false)])
        .epb(0, 1_700_000_000_123_456, 80, &a)
        .block(4, &[0, 0, 0, 0], false) // name resolution
        .epb(1, 1_700_000_001_000_000_001, 41, &b)
        .block(0x0bad, &[1, 2, 3], false) // unknown type
        .epb(2, 5 * 1024 + 512, 33, &c)
        .epb_with(7, 1, 1, &[1], &[], false) // no interface 7
        .spb(50, &e)
        .pb(1, 42, 9, &g)
        .block(5, &[0; 12], false) // interface statistics
        .epb_with(
            0,
            2,
            9,
            &g,
            &[(1, b"comment".to_vec()), (2, vec![0; 4])],
            true,
        );
    // Second section, big-endian: interfaces start over.
    ng.shb(true, &[(4, b"httptop test".to_vec())])
        .idb(276, 20, &[tsresol(3), tsoffset(2, true)])
        .epb(0, 1_500, 24, &h)
        .epb_with(1, 1, 1, &[1], &[], false) // interface 1 was the previous section's
        .spb(100, &h[..20])
        .epb(0, 0, 24, &h);
    let want = vec![
        f(1_700_000_000_123_456_000, LinkType::ETHERNET, 80, &a),
        f(1_700_000_001_000_000_001, LinkType::RAW, 41, &b),
        f(105_500_000_000, LinkType::LINUX_SLL, 33, &c),
        f(105_500_000_000, LinkType::ETHERNET, 50, &e),
        f(42, LinkType::RAW, 9, &g),
        f(2_000, LinkType::ETHERNET, 9, &g),
        // Milliseconds, plus a big-endian if_tsoffset of 2 s.
        f(3_500_000_000, LinkType::LINUX_SLL2, 24, &h),
        // SPB: snaplen-long, timestamp of the last packet.
        f(3_500_000_000, LinkType::LINUX_SLL2, 100, &h[..20]),
        f(2_000_000_000, LinkType::LINUX_SLL2, 24, &h),
    ];
    (ng.build(), want)
}

pub(super) fn small_pcap() -> Built {
    let (a, b) = (payload(30, 1), payload(5, 2));
    pcap_file(
        MAGIC_NSEC,
        true,
        1,
        &[
            Rec {
                sec: 1,
                frac: 2,
                orig: 30,
                data: &a,
            },
            Rec {
                sec: 3,
                frac: 4,
                orig: 5,
                data: &b,
            },
            Rec {
                sec: 5,
                frac: 6,
                orig: 0,
                data: &[],
            },
        ],
    )
}

/// Cut at every byte offset and read through readers of several chunk sizes: only the
/// complete records come out, the cut is flagged exactly when it falls inside a record,
/// and nothing panics.
pub(super) fn check_every_truncation(file: &Built) {
    let (all, _) = read_ok(&file.bytes);
    for cut in 0..=file.bytes.len() {
        let bytes = &file.bytes[..cut];
        let complete = file.ends.iter().filter(|e| e.0 <= cut && e.1).count();
        let at_boundary = file.ends.iter().any(|e| e.0 == cut);
        for chunk in [usize::MAX, 1, 7] {
            let opened = FileSource::with_options(
                Trickle::new(bytes, chunk),
                FileOptions {
                    buffer_size: 64,
                    ..FileOptions::default()
                },
            );
            let mut src = match opened {
                Ok(src) => src,
                Err(CaptureError::Format { .. }) if cut < file.header_len() => continue,
                Err(e) => panic!("cut {cut}: {e}"),
            };
            assert!(cut >= file.header_len(), "cut {cut} opened");
            let (frames, err) = drain(&mut src, cut + 2);
            assert!(err.is_none(), "cut {cut} chunk {chunk}: {err:?}");
            assert_eq!(frames, all[..complete], "cut {cut} chunk {chunk}");
            let stats = src.stats();
            assert_eq!(stats.truncated, !at_boundary, "cut {cut}");
            let last_end = file
                .ends
                .iter()
                .rev()
                .find(|e| e.0 <= cut)
                .map_or(0, |e| e.0);
            assert_eq!(stats.truncated_bytes, (cut - last_end) as u64, "cut {cut}");
        }
    }
}

// ---- damage --------------------------------------------------------------------------

/// Everything one complete read gave: frames, damage reports in order, stats, the error.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Reading {
    pub(super) frames: Vec<F>,
    pub(super) damage: Vec<Damage>,
    pub(super) stats: FileStats,
    pub(super) error: Option<String>,
}

/// Reads `bytes` whole, through a 64-byte buffer at several read sizes, and through the
/// read-ahead thread: every way gives the same reading, which is returned.
pub(super) fn read_every_way(bytes: &[u8], opts: FileOptions) -> Reading {
    let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
    let once = |buffer_size: usize, chunk: usize, ahead: bool| {
        let opts = FileOptions {
            buffer_size,
            ..opts
        };
        let mut src = FileSource::with_options(Trickle::new(bytes, chunk), opts).expect("header");
        if ahead {
            src.start_read_ahead().expect("thread");
        }
        let mut frames = Vec::new();
        let mut damage = Vec::new();
        let mut error = None;
        for _ in 0..bytes.len() + 2 {
            let step = src.next_frame();
            let done = match step {
                Ok(Some(fr)) => {
                    frames.push(F {
                        ts: fr.ts.0,
                        lt: fr.linktype.0,
                        orig: fr.orig_len,
                        data: fr.data.to_vec(),
                    });
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    error = Some(e.to_string());
                    true
                }
            };
            while let Some(d) = src.take_damage() {
                damage.push(d);
            }
            if done {
                assert!(matches!(src.next_frame(), Ok(None)), "not fused");
                // The scan never holds more than a record and a header beyond a chunk.
                assert!(
                    src.buf.capacity <= buffer_size.max(opts.max_record_size + 64 + buffer_size),
                    "buffer grew to {}",
                    src.buf.capacity
                );
                return Reading {
                    frames,
                    damage,
                    stats: src.stats(),
                    error,
                };
            }
        }
        panic!("reader did not end");
    };
    let want = once(opts.buffer_size, usize::MAX, false);
    for (buffer_size, chunk, ahead) in [(64, 1, false), (64, 7, false), (4096, 1000, true)] {
        let got = once(buffer_size, chunk, ahead);
        assert_eq!(
            got, want,
            "buffer {buffer_size}, reads of {chunk}, ahead {ahead}"
        );
    }
    want
}
