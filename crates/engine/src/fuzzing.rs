//! Fuzzing entry points, shared by the cargo-fuzz targets `http_transcript` and
//! `reassembly` (in `fuzz/`) and the corpus replay test (`tests/fuzz_corpus.rs`), so both
//! run exactly the same code. Not part of the engine's API.
//!
//! [`http_transcript`]: the input is a transcript in the fixture format
//! (`src/http/testdata/README.md`; the expectations, if any, are ignored), at most
//! [`MAX_TRANSCRIPT_DATA`] bytes of data. It is run through a fresh `HttpConn` fed whole,
//! cut at a few offsets and one byte per event; [`script::run`] checks the memory
//! bounds after every event, and all feeds must give the same exchanges, counters and
//! verdict (the parser's incremental-feed promise).
//!
//! [`reassembly`]: the input is a binary script for one [`HalfStream`] (format on
//! [`reassembly`]). After every operation it asserts the caps (`max_reasm_bytes`,
//! `max_reasm_segments`), that the events form one contiguous stream whose offset is the
//! stream's own, that every delivered byte is a byte some segment carried at that sequence
//! number, that FIN is delivered at most once, and that a flush leaves nothing buffered.

use crate::http::script::{self, Outcome, Split, Step};
use crate::http::StreamEvent;
use crate::limits::Limits;
use crate::reasm::{HalfStream, ReasmCounters};
use httptop_wire::Timestamp;

/// Data bytes a fuzzed transcript may carry (all steps together).
pub const MAX_TRANSCRIPT_DATA: usize = 64 << 10;

fn diff(what: &str, a: &Outcome, b: &Outcome) -> String {
    format!("{what} differs from the whole feed:\nwhole: {a:?}\nother: {b:?}")
}

/// Runs a transcript (see the module documentation).
pub fn http_transcript(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok((s, _)) = script::parse(&text, MAX_TRANSCRIPT_DATA) else {
        return;
    };
    let whole = script::run(&s.steps, &s.limits, Split::Whole);
    let longest = s
        .steps
        .iter()
        .map(|st| match st {
            Step::Data(_, _, b) => b.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0);
    let mut cuts = [1, 2, longest / 3, longest / 2, longest.saturating_sub(1)];
    cuts.sort_unstable();
    let mut prev = 0;
    for k in cuts {
        if k == prev || k == 0 || k >= longest {
            continue;
        }
        prev = k;
        let split = script::run(&s.steps, &s.limits, Split::At(k));
        assert!(
            split == whole,
            "{}",
            diff(&format!("cut at {k}"), &whole, &split)
        );
    }
    let bytes = script::run(&s.steps, &s.limits, Split::Bytes);
    assert!(bytes == whole, "{}", diff("byte by byte", &whole, &bytes));
}

/// The byte carried at sequence number `seq` by the "true" copy of the stream.
fn byte_at(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

/// The byte carried at `seq` by a conflicting copy (overlaps that disagree).
fn alt_byte_at(seq: u32) -> u8 {
    byte_at(seq) ^ 0x5A
}

/// Little reader over the fuzz input; missing bytes read as zero.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
}

/// What the events seen so far say about the stream.
struct Model {
    /// Sequence number of stream offset 0, once known.
    start: Option<u32>,
    /// Offset reached by the events (data and gap bytes).
    offset: u64,
    fins: u32,
}

impl Model {
    fn on_event(&mut self, ev: StreamEvent<'_>) {
        match ev {
            StreamEvent::Data(d) => {
                assert!(!d.is_empty(), "empty data event");
                let start = self.start.expect("data before the stream start");
                for (i, &b) in d.iter().enumerate() {
                    let seq = start.wrapping_add((self.offset + i as u64) as u32);
                    assert!(
                        b == byte_at(seq) || b == alt_byte_at(seq),
                        "byte at offset {} (seq {seq}) was never sent there",
                        self.offset + i as u64
                    );
                }
                self.offset += d.len() as u64;
            }
            StreamEvent::Gap(n) => {
                assert!(n > 0, "empty gap");
                self.offset += n;
            }
            StreamEvent::Fin => self.fins += 1,
            StreamEvent::Rst => {}
        }
        assert!(self.fins <= 1, "FIN delivered twice");
    }
}

/// Longest segment payload a script can ask for.
pub const MAX_SEGMENT: usize = 4096;

/// Runs a reassembly script against one [`HalfStream`].
///
/// Format: byte 0: `max_reasm_segments` (0-16); bytes 1-2: `max_reasm_bytes` (LE, modulo
/// 16 KiB + 1); bytes 3-6: base sequence number (LE). Then operations, each a tag byte
/// (modulo 5) and its arguments, sequence numbers relative to the base:
/// - 0: segment: `rel: u32`, `len: u16` (modulo [`MAX_SEGMENT`] + 1), `flags: u8`
///   (bit 0 FIN, bit 1 carries the conflicting copy of the bytes);
/// - 1: segment near the base: `rel: u16`, `len: u8`, `flags: u8`;
/// - 2: SYN: `rel: u32` (the ISN);
/// - 3: ACK from the peer: `rel: u32`;
/// - 4: bytes cut by the snaplen: `rel_end: u32`, `len: u16`.
///
/// At most 256 operations; the stream is flushed at the end.
pub fn reassembly(data: &[u8]) {
    let mut input = Bytes(data);
    let limits = Limits {
        max_reasm_segments: usize::from(input.u8() % 17),
        max_reasm_bytes: usize::from(input.u16() % (16 * 1024 + 1)),
        ..Limits::default()
    };
    let base = input.u32();
    let mut h = HalfStream::default();
    let mut counters = ReasmCounters::default();
    let mut model = Model {
        start: None,
        offset: 0,
        fins: 0,
    };
    let mut payload = Vec::with_capacity(MAX_SEGMENT);
    let mut ops = 0;
    while !input.0.is_empty() && ops < 256 {
        ops += 1;
        let ts = Timestamp::from_millis(ops);
        match input.u8() % 5 {
            tag @ (0 | 1) => {
                let (rel, len) = if tag == 0 {
                    (input.u32(), usize::from(input.u16()) % (MAX_SEGMENT + 1))
                } else {
                    (u32::from(input.u16()), usize::from(input.u8()))
                };
                let flags = input.u8();
                let seq = base.wrapping_add(rel);
                let pick = if flags & 2 != 0 { alt_byte_at } else { byte_at };
                payload.clear();
                payload.extend((0..len).map(|i| pick(seq.wrapping_add(i as u32))));
                if model.start.is_none() && !payload.is_empty() {
                    model.start = Some(seq);
                }
                let fin = flags & 1 != 0;
                let mut emit = |_: Timestamp, ev: StreamEvent<'_>| model.on_event(ev);
                h.on_segment(ts, seq, &payload, fin, &limits, &mut counters, &mut emit);
            }
            2 => {
                let isn = base.wrapping_add(input.u32());
                if model.start.is_none() {
                    model.start = Some(isn.wrapping_add(1));
                }
                h.on_syn(isn);
            }
            3 => h.on_peer_ack(base.wrapping_add(input.u32())),
            _ => {
                let seq_end = base.wrapping_add(input.u32());
                let len = u64::from(input.u16());
                let mut emit = |_: Timestamp, ev: StreamEvent<'_>| model.on_event(ev);
                h.on_missing(seq_end, len, &mut counters, &mut emit);
            }
        }
        check_caps(&h, &limits, &model);
    }
    h.flush(
        Timestamp::from_millis(ops + 1),
        &mut counters,
        &mut |_, ev| model.on_event(ev),
    );
    check_caps(&h, &limits, &model);
    assert_eq!(h.buffered_bytes(), 0, "bytes left after flush");
    assert_eq!(h.buffered_segments(), 0, "segments left after flush");
}

fn check_caps(h: &HalfStream, limits: &Limits, model: &Model) {
    assert!(
        h.buffered_bytes() <= limits.max_reasm_bytes,
        "{} bytes buffered, cap {}",
        h.buffered_bytes(),
        limits.max_reasm_bytes
    );
    assert!(
        h.buffered_segments() <= limits.max_reasm_segments.max(1),
        "{} segments buffered, cap {}",
        h.buffered_segments(),
        limits.max_reasm_segments
    );
    assert_eq!(
        h.offset(),
        model.offset,
        "stream offset disagrees with the events"
    );
}
