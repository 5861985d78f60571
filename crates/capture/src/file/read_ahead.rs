//! The read-ahead buffer: input read in large chunks with headroom in front, records
//! spanning two chunks made contiguous, one buffer grown for a record longer than the
//! headroom, and the optional reader thread (see the module documentation of `file`).

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use super::resync::Step;
use super::{FileOptions, FileStats};
use crate::error::CaptureError;

/// A buffer frames are lent from, shared with the threads a frame is handed to (see
/// [`super::FileSource::frame_chunk`]). When the last holder drops it, a chunk of the
/// reader thread's pool goes back to the pool (cut back to size if it grew).
pub struct Chunk {
    bytes: Vec<u8>,
    /// The pool's return channel and the chunk size (with the reader thread).
    home: Option<(SyncSender<Vec<u8>>, usize)>,
}

impl Chunk {
    /// The buffer's bytes; a frame is a range of them.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let mut v = std::mem::take(&mut self.bytes);
        if let Some((free, size)) = &self.home {
            if v.is_empty() {
                return;
            }
            if v.len() != *size {
                v.resize(*size, 0);
                v.shrink_to_fit();
            }
            // Full only when the reader holds its whole pool already: then this one
            // (from before the switch) is not needed.
            let _ = free.try_send(v);
        }
    }
}

/// The streaming reader and what we know about its buffer.
pub(super) struct Buf<R> {
    chunks: Chunks<R>,
    /// The current buffer: `buf[start..end]` is unconsumed input. Shared only when a
    /// caller took it with [`Buf::chunk`].
    buf: Arc<Chunk>,
    start: usize,
    end: usize,
    /// Input offset of `buf[start]`.
    consumed: u64,
    eof: bool,
    /// Room in front of each chunk for the tail of the one before.
    head: usize,
    /// Bytes read per chunk.
    chunk: usize,
    /// The largest contiguous data the buffer has had room for (the chunk size, or a
    /// record longer than the headroom).
    pub(super) capacity: usize,
    pub(super) max_record: usize,
}

/// Where chunks come from. A chunk is a buffer of `head + chunk` bytes and the number of
/// bytes read into it after the headroom.
enum Chunks<R> {
    Inline {
        input: Input<R>,
        spare: Option<Vec<u8>>,
    },
    Ahead {
        full: Receiver<io::Result<(Vec<u8>, usize)>>,
        free: SyncSender<Vec<u8>>,
        /// Chunks the reader thread has allocated (at most [`POOL`]); read by tests.
        #[cfg_attr(not(test), allow(dead_code))]
        allocated: Arc<AtomicUsize>,
    },
    /// Between the two above while switching to read-ahead.
    Switching,
}

/// Headroom per chunk: room for a whole record of a 65,535-byte snaplen with any header.
const HEADROOM: usize = 128 << 10;

/// Chunks the reader thread allocates at most: one being read, one waiting in the
/// channel, one being decoded, one on its way back.
pub(super) const POOL: usize = 4;

impl<R: Read> Buf<R> {
    pub(super) fn new(input: Input<R>, consumed: u64, opts: &FileOptions) -> Self {
        Buf {
            chunks: Chunks::Inline { input, spare: None },
            buf: Arc::new(Chunk {
                bytes: Vec::new(),
                home: None,
            }),
            start: 0,
            end: 0,
            consumed,
            eof: false,
            head: HEADROOM.min(opts.buffer_size),
            chunk: opts.buffer_size,
            capacity: opts.buffer_size,
            max_record: opts.max_record_size,
        }
    }

    #[inline]
    pub(super) fn data(&self) -> &[u8] {
        self.buf.bytes.get(self.start..self.end).unwrap_or(&[])
    }

    /// The current buffer, shared: [`Buf::data`] lies in it.
    #[inline]
    pub(super) fn chunk(&self) -> &Arc<Chunk> {
        &self.buf
    }

    #[inline]
    pub(super) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    /// Input offset of the first buffered byte.
    pub(super) fn offset(&self) -> u64 {
        self.consumed
    }

    /// Makes at least `needed` bytes available. Callers have checked `needed` against
    /// the cap. `Ok(false)` at end of input.
    #[inline]
    pub(super) fn ensure(&mut self, needed: usize) -> Result<bool, CaptureError> {
        if self.end - self.start >= needed {
            return Ok(true);
        }
        self.fill(needed)
    }

    /// [`Buf::ensure`] once the buffered bytes fall short (about once per chunk): reads
    /// chunks until they do.
    #[inline(never)]
    fn fill(&mut self, needed: usize) -> Result<bool, CaptureError> {
        while self.end - self.start < needed {
            if self.eof {
                return Ok(false);
            }
            match self.next_chunk().map_err(CaptureError::Io)? {
                Some((c, n)) => self.append(c, n),
                None => self.eof = true,
            }
        }
        Ok(true)
    }

    /// Puts a new chunk after the unconsumed bytes.
    fn append(&mut self, mut c: Vec<u8>, n: usize) {
        let (head, tail) = (self.head, self.end - self.start);
        if c.get(head..head + n).is_none() {
            // Cannot happen (a read fills at most the chunk); the buffer goes back.
            self.recycle(c);
            return;
        }
        if tail <= head {
            // The common case: the tail (part of one record) goes into the headroom.
            c[head - tail..head].copy_from_slice(&self.buf.bytes[self.start..self.end]);
            let chunk = self.wrap(c);
            let old = std::mem::replace(&mut self.buf, chunk);
            self.start = head - tail;
            self.end = head + n;
            self.release(old);
        } else {
            // A record longer than the headroom: one buffer grows (amortised) until it
            // holds the record; bounded by the record cap the callers check. A buffer
            // shared with another thread is left to it, and a copy grows instead.
            let home = self.buf.home.clone();
            let grown = match Arc::get_mut(&mut self.buf) {
                Some(own) => {
                    let b = &mut own.bytes;
                    b.copy_within(self.start..self.end, 0);
                    b.truncate(tail);
                    b.extend_from_slice(&c[head..head + n]);
                    None
                }
                None => {
                    let mut b = Vec::with_capacity(tail + n);
                    b.extend_from_slice(&self.buf.bytes[self.start..self.end]);
                    b.extend_from_slice(&c[head..head + n]);
                    Some(b)
                }
            };
            if let Some(bytes) = grown {
                self.buf = Arc::new(Chunk { bytes, home });
            }
            self.start = 0;
            self.end = self.buf.bytes.len();
            self.capacity = self.capacity.max(self.end);
            self.recycle(c);
        }
    }

    /// A chunk-sized buffer as a [`Chunk`] that finds its way back to the pool.
    fn wrap(&self, bytes: Vec<u8>) -> Arc<Chunk> {
        let home = match &self.chunks {
            Chunks::Ahead { free, .. } => Some((free.clone(), self.head + self.chunk)),
            _ => None,
        };
        Arc::new(Chunk { bytes, home })
    }

    /// The buffer given up for a new one: reused when nobody else holds it (inline:
    /// as the spare; with the reader thread the chunk goes back to the pool by itself,
    /// when its last holder drops it).
    fn release(&mut self, old: Arc<Chunk>) {
        if let Ok(mut c) = Arc::try_unwrap(old) {
            if c.home.is_none() {
                let v = std::mem::take(&mut c.bytes);
                self.recycle(v);
            }
        }
    }

    fn next_chunk(&mut self) -> io::Result<Option<(Vec<u8>, usize)>> {
        let size = self.head + self.chunk;
        match &mut self.chunks {
            Chunks::Inline { input, spare } => {
                let mut v = spare
                    .take()
                    .filter(|v| v.len() == size)
                    .unwrap_or_else(|| vec![0; size]);
                let n = read_some(input, &mut v[self.head..])?;
                if n == 0 {
                    *spare = Some(v);
                    return Ok(None);
                }
                Ok(Some((v, n)))
            }
            Chunks::Ahead { full, .. } => match full.recv() {
                Ok(Ok(c)) => Ok(Some(c)),
                Ok(Err(e)) => Err(e),
                // The reader thread ended: end of input.
                Err(_) => Ok(None),
            },
            Chunks::Switching => Ok(None),
        }
    }

    /// Gives a chunk-sized buffer back for reuse. Inline, others (grown ones) are freed;
    /// with the reader thread, a grown buffer (which began as one of its chunks) is cut
    /// back to a chunk and returned, so that its pool never runs dry.
    fn recycle(&mut self, mut v: Vec<u8>) {
        let size = self.head + self.chunk;
        match &mut self.chunks {
            Chunks::Inline { spare, .. } if v.len() == size => *spare = Some(v),
            Chunks::Ahead { free, .. } if !v.is_empty() => {
                if v.len() != size {
                    v.resize(size, 0);
                    v.shrink_to_fit();
                }
                // Full only when the reader holds its whole pool already: then this one
                // (from before the switch) is not needed.
                let _ = free.try_send(v);
            }
            _ => {}
        }
    }

    /// Chunks allocated by the reader thread so far (0 without one).
    #[cfg(test)]
    pub(super) fn chunks_allocated(&self) -> usize {
        match &self.chunks {
            Chunks::Ahead { allocated, .. } => allocated.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// End of input: whatever is left is an incomplete record.
    pub(super) fn end(&self, stats: &mut FileStats) -> Step {
        let left = self.data().len();
        if left > 0 {
            stats.truncated = true;
            stats.truncated_bytes = left as u64;
        }
        Step::End
    }
}

impl<R: Read + Send + 'static> Buf<R> {
    /// Moves the reading to a thread of its own (once), with a pool of `pool` chunks.
    pub(super) fn read_ahead(&mut self, pool: usize) -> Result<(), CaptureError> {
        let pool = pool.max(POOL);
        let Chunks::Inline { input, .. } = std::mem::replace(&mut self.chunks, Chunks::Switching)
        else {
            return Ok(());
        };
        let (head, size) = (self.head, self.head + self.chunk);
        // One chunk being read, one waiting, one being decoded, one recycled: a pool of
        // `POOL` buffers, allocated (zeroed) once each, then passed round. The decoding
        // thread gives back every chunk-sized buffer it is done with (`recycle`, a grown
        // one cut back to size), so once the pool is full the reader waits for one
        // instead of allocating: no calloc per chunk, and the memory stays bounded.
        let (full_tx, full) = sync_channel(1);
        let (free, free_rx) = sync_channel::<Vec<u8>>(pool);
        let mut input = input;
        let allocated = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&allocated);
        std::thread::Builder::new()
            .name("httptop-read".into())
            .spawn(move || loop {
                let mut v = match free_rx.try_recv() {
                    Ok(v) => v,
                    Err(_) if count.load(Ordering::Relaxed) < pool => {
                        count.fetch_add(1, Ordering::Relaxed);
                        vec![0; size]
                    }
                    // Every buffer is out: wait for one; a closed channel means the
                    // source was dropped.
                    Err(_) => match free_rx.recv() {
                        Ok(v) => v,
                        Err(_) => return,
                    },
                };
                // Dropping `full_tx` (returning) ends the input for the reader; a failed send
                // means the source was dropped.
                match read_some(&mut input, &mut v[head..]) {
                    Ok(0) => return,
                    Ok(n) => {
                        if full_tx.send(Ok((v, n))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            })
            .map_err(CaptureError::Io)?;
        self.chunks = Chunks::Ahead {
            full,
            free,
            allocated,
        };
        Ok(())
    }
}

/// Feeds the already-read header back, then the rest of the input.
pub(super) struct Input<R> {
    prefix: Vec<u8>,
    pos: usize,
    inner: R,
}

impl<R> Input<R> {
    pub(super) fn new(prefix: Vec<u8>, inner: R) -> Self {
        Input {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(rest) = self.prefix.get(self.pos..) {
            if !rest.is_empty() {
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                self.pos += n;
                if self.pos >= self.prefix.len() {
                    self.prefix = Vec::new();
                    self.pos = 0;
                }
                return Ok(n);
            }
        }
        self.inner.read(out).map(|n| n.min(out.len()))
    }
}

/// One read, retried when interrupted; 0 at end of input.
pub(super) fn read_some<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(super) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n = n.saturating_add(k).min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::pcapng::EPB_TYPE;
    use super::super::testing::*;
    use super::super::*;

    #[test]
    fn interrupted_reads_are_retried() {
        let (file, want) = sample_pcapng();
        let mut input = Trickle::new(&file.bytes, 3);
        input.interrupt = true;
        let mut src = FileSource::new(input).expect("header");
        let (frames, err) = drain(&mut src, 100);
        assert!(err.is_none());
        assert_eq!(frames, want);
    }

    #[test]
    fn read_errors_keep_the_os_error_after_the_good_frames() {
        let file = small_pcap();
        let mut input = Trickle::new(&file.bytes, 8);
        input.fail_at = Some(file.ends[1].0);
        let mut src = FileSource::new(input).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        match err {
            Some(CaptureError::Io(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("{other:?}"),
        }
    }

    /// The read-ahead thread and the caller's thread read the same frames, whatever the
    /// chunking: records spanning chunks, records longer than the headroom (grown buffer),
    /// reads that return a few bytes or are interrupted.
    #[test]
    fn read_ahead_reads_what_inline_reading_reads() {
        let mut rng = Rng(7);
        let mut recs_data = Vec::new();
        for i in 0..300 {
            let n = match i % 50 {
                0 => 20_000,
                _ => rng.below(1500),
            };
            recs_data.push(payload(n, i as u8));
        }
        let recs: Vec<Rec<'_>> = recs_data
            .iter()
            .enumerate()
            .map(|(i, d)| Rec {
                sec: i as u32,
                frac: 0,
                orig: d.len() as u32,
                data: d,
            })
            .collect();
        let pcap = pcap_file(MAGIC_USEC, false, 1, &recs).bytes;
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[]);
        for (i, d) in recs_data.iter().enumerate() {
            ng.epb(0, i as u64, d.len() as u32, d);
        }
        let ng = ng.build().bytes;
        for bytes in [pcap, ng] {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            for (buffer_size, trickle) in [(4096, 1000), (4096, 4096), (1 << 20, 1 << 20), (64, 7)]
            {
                let opts = FileOptions {
                    buffer_size,
                    ..FileOptions::default()
                };
                let mut inline =
                    FileSource::with_options(Trickle::new(bytes, trickle), opts).expect("header");
                let (want, err) = drain(&mut inline, 1000);
                assert!(err.is_none());
                assert_eq!(want.len(), 300);
                let mut input = Trickle::new(bytes, trickle);
                input.interrupt = true;
                let mut ahead = FileSource::with_options(input, opts).expect("header");
                ahead.start_read_ahead().expect("thread");
                let (got, err) = drain(&mut ahead, 1000);
                assert!(err.is_none(), "{err:?}");
                assert!(got == want, "buffer {buffer_size}, reads of {trickle}");
                assert_eq!(ahead.stats(), inline.stats());
                // Hundreds of chunks (some grown for a long record and cut back) went
                // round a pool of at most four.
                let chunks = ahead.buf.chunks_allocated();
                assert!((1..=4).contains(&chunks), "{chunks} chunks allocated");
            }
        }
    }

    #[test]
    fn read_ahead_reports_read_errors_after_the_good_frames() {
        let file = small_pcap();
        let bytes: &'static [u8] = Box::leak(file.bytes.clone().into_boxed_slice());
        let mut input = Trickle::new(bytes, 8);
        input.fail_at = Some(file.ends[1].0);
        let mut src = FileSource::new(input).expect("header");
        src.start_read_ahead().expect("thread");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        match err {
            Some(CaptureError::Io(e)) => assert_eq!(e.to_string(), "disk on fire"),
            other => panic!("{other:?}"),
        }
    }

    // ---- buffer growth and the record cap ------------------------------------------------

    #[test]
    fn record_larger_than_the_buffer_grows_it() {
        let big = payload(100_000, 9);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[
                Rec {
                    sec: 1,
                    frac: 0,
                    orig: 3,
                    data: &[1, 2, 3],
                },
                Rec {
                    sec: 2,
                    frac: 0,
                    orig: 100_000,
                    data: &big,
                },
                Rec {
                    sec: 3,
                    frac: 0,
                    orig: 1,
                    data: &[4],
                },
            ],
        );
        let opts = FileOptions {
            buffer_size: 4096,
            ..FileOptions::default()
        };
        let mut src =
            FileSource::with_options(Trickle::new(&file.bytes, 1000), opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none());
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].data, big);
        assert!(src.buf.capacity >= 100_016);
    }

    #[test]
    fn record_larger_than_the_default_buffer_is_read() {
        let big = payload(3 << 20, 8);
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[])
            .epb(0, 1, 1, &[1])
            .epb(0, 2, big.len() as u32, &big)
            .epb(0, 3, 1, &[3]);
        let bytes = ng.build().bytes;
        let opts = FileOptions {
            max_record_size: 4 << 20,
            ..FileOptions::default()
        };
        let mut src = FileSource::with_options(&bytes[..], opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[1].data, big);
    }

    #[test]
    fn record_over_the_cap_is_damage_without_allocation() {
        let big = payload(100 << 10, 7);
        let file = pcap_file(
            MAGIC_USEC,
            false,
            1,
            &[
                Rec {
                    sec: 1,
                    frac: 0,
                    orig: 1,
                    data: &[1],
                },
                Rec {
                    sec: 2,
                    frac: 0,
                    orig: 1,
                    data: &big,
                },
            ],
        );
        let opts = FileOptions {
            buffer_size: 4096,
            max_record_size: 64 << 10,
            ..FileOptions::default()
        };
        let mut src = FileSource::with_options(&file.bytes[..], opts).expect("header");
        let (frames, err) = drain(&mut src, 10);
        assert_eq!(frames.len(), 1);
        assert!(err.is_none(), "{err:?}");
        let d = src.take_damage().expect("damage");
        assert_eq!(d.offset, file.ends[1].0 as u64);
        assert_eq!(
            d.problem,
            FormatError::RecordTooLong {
                len: 100 << 10,
                max: 64 << 10
            }
        );
        assert_eq!(d.resumed, Resumed::End);
        assert_eq!(
            d.to_string(),
            format!(
                "byte {}: record length 102400 over the 64 KiB limit; no plausible record \
                 after it: skipped the last 102416 bytes",
                file.ends[1].0
            )
        );
        // Scanning the claimed record never buffered it.
        assert_eq!(src.buf.capacity, 4096);
    }

    #[test]
    fn lying_lengths_over_the_default_cap_do_not_allocate() {
        // A pcap record header claiming 64 MiB + 1 bytes, and a pcapng block claiming 1 GiB,
        // with no data behind either.
        let mut pcap = pcap_file(MAGIC_USEC, false, 1, &[]).bytes;
        for x in [1u32, 0, (64 << 20) + 1, 10] {
            put32(&mut pcap, x, false);
        }
        let mut ng = Ng::new(false).build().bytes;
        put32(&mut ng, EPB_TYPE, false);
        put32(&mut ng, 1 << 30, false);
        put32(&mut ng, 0, false);
        for (bytes, problem) in [
            (
                pcap,
                FormatError::RecordTooLong {
                    len: (64 << 20) + 1,
                    max: 1 << 20,
                },
            ),
            (
                ng,
                FormatError::BlockTooLong {
                    len: 1 << 30,
                    max: 1 << 20,
                },
            ),
        ] {
            let mut src = FileSource::new(&bytes[..]).expect("header");
            let (_, err) = drain(&mut src, 10);
            assert!(err.is_none(), "{err:?}");
            let d = src.take_damage().expect("damage");
            assert_eq!(d.problem, problem);
            assert_eq!(d.resumed, Resumed::End);
            assert_eq!(src.buf.capacity, DEFAULT_BUFFER_SIZE);
        }
        // A section header claiming 64 MiB in a 12-byte file: over the cap, refused before
        // anything is read for it; one claiming 512 KiB: refused as truncated, and only
        // what was actually read is held.
        let shb = b"\x0a\x0d\x0d\x0a\x00\x00\x00\x04\x4d\x3c\x2b\x1a";
        assert!(matches!(
            FileSource::new(&shb[..]),
            Err(CaptureError::RecordTooLarge { .. })
        ));
        let shb = b"\x0a\x0d\x0d\x0a\x00\x00\x08\x00\x4d\x3c\x2b\x1a";
        assert!(matches!(
            FileSource::new(&shb[..]),
            Err(CaptureError::Format {
                problem: FormatError::TruncatedHeader,
                ..
            })
        ));
    }
}
