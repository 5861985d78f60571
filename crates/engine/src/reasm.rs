//! TCP reassembly of one direction of a connection into an in-order byte stream.
//!
//! Contract:
//! - Input: the segments of one direction in capture order (which may differ from sequence
//!   order: reordering, retransmission, overlap, shuffled files). Output: the stream as
//!   `Data | Gap | Fin | Rst` events in sequence order, each byte delivered at most once.
//! - In-order data (the common case) is handed on straight from the packet buffer: no copy.
//!   Only segments that arrive ahead of a hole are copied, into a buffer capped by
//!   `Limits::max_reasm_bytes` and `max_reasm_segments`.
//! - A hole is declared lost (a `Gap` of its exact length) when (1) the buffer is full,
//!   (2) the peer has acknowledged bytes beyond the hole and a further segment of this
//!   direction arrives without filling it (the receiver got data the capture missed), or
//!   (3) the flow ends ([`HalfStream::flush`]).
//! - Overlaps: the first copy of a byte wins; later copies are trimmed and counted.
//! - A direction picked up mid-stream (no SYN seen) starts at its first data segment; a
//!   FIN or RST seen before any data does not fix the start (shuffled captures).
//! - Segments more than [`MAX_AHEAD`] bytes ahead of the stream are ignored and counted:
//!   they cannot be real data of this connection.
//! - Probes ([`HalfStream::on_probe`], offered by the caller every segment of 0 or 1
//!   payload byte without SYN, FIN or RST and not cut by the snaplen) are not data. The
//!   sender's next new byte is `next`: the delivered stream's next sequence number once
//!   the direction has started, else the peer's latest ACK number (mid-stream pickup: the
//!   peer's ACK tells where the real stream is). A segment at the direction's ISN is its
//!   SYN, never a probe.
//!   - Keep-alive probe: `seq == next - 1` with 0 or 1 byte (garbage, already
//!     acknowledged): counted (`keepalive_probes`, or `zero_window_probes` when the peer's
//!     latest window is zero: Linux probes a zero window that way), nothing delivered,
//!     and the direction's start is not fixed by it.
//!   - Zero-window probe: 1 byte at `seq == next` while the peer's latest window is zero:
//!     counted (`zero_window_probes`) and *parked* (one byte held inline, no allocation).
//!   - Not started and no ACK from the peer yet: a 1-byte segment is parked as a
//!     *tentative* start; the first segment of the direction that is not a probe decides.
//!
//!   A parked byte is resolved by the next segment of the direction that carries data or
//!   a FIN: one starting at the parked byte's sequence number carries it again (the probe
//!   retransmitted as real data): the parked copy is dropped; one starting just after a
//!   tentative byte the peer has acknowledged (`ack == seq + 1`) makes it a keep-alive
//!   probe: dropped and counted; anything else makes it data, reassembled as if it had
//!   just arrived (the receiver accepted the probe, or it was a real 1-byte segment).
//!   [`HalfStream::flush`], [`HalfStream::skip`] and a snaplen cut deliver a parked
//!   byte (a tentative one the peer acknowledged is a keep-alive probe). The rule cannot
//!   tell a real 1-byte first segment, acknowledged, then followed by more data from a
//!   Windows keep-alive probe (1 byte at `snd.nxt - 1`): it takes it as a probe, which
//!   moves a mid-stream pickup's start one byte later (the start of such a stream is
//!   arbitrary anyway); the opposite mistake would make the whole next message
//!   unparseable.
//! - Skipping ([`HalfStream::skip`], for a connection no analyzer parses): nothing is
//!   buffered any more; a segment ahead of the stream moves it forward over the hole,
//!   whose bytes are neither delivered nor reported as a gap (skipped payload is not lost
//!   data: the gap counters stay for bytes the capture really missed on parsed streams).
//!   Each byte delivered is delivered once, so the analyzer can count it; a segment
//!   that arrives after a later one (reordered) is then behind the stream: counted as a
//!   retransmission, its bytes not delivered (the price of buffering nothing).

use crate::budget::{heap, ALLOC_OVERHEAD};
use crate::limits::Limits;
use crate::stream::StreamEvent;
use httptop_wire::Timestamp;

/// A segment further ahead than this (1 GiB) is garbage, not data waiting for a hole.
pub const MAX_AHEAD: u64 = 1 << 30;

httptop_wire::counters! {
    /// Reassembly counters, summed over all flows.
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct ReasmCounters {
        [Reassembly]
        /// Segments entirely made of bytes already delivered.
        retransmissions: Segments,
        /// Segments partly overlapping delivered or buffered bytes (trimmed).
        overlaps: Segments,
        /// Segments that arrived ahead of a hole and were buffered.
        out_of_order: Segments,
        /// Times the out-of-order buffer was full and a hole was given up early.
        overflows: Events => "anomalies" { kind = "reassembly_overflow" },
        /// Holes declared lost.
        gaps: Events => "anomalies" { kind = "reassembly_gap" },
        /// Bytes declared lost.
        gap_bytes: Bytes,
        /// Segments ignored because they lay absurdly far ahead of the stream.
        out_of_window: Segments,
        /// TCP keep-alive probes (0 or 1 byte one below the next sequence number), not delivered as data.
        keepalive_probes: Segments,
        /// Zero-window probes (1 byte sent into a zero window, or an empty probe one below it), not delivered as data.
        zero_window_probes: Segments,
    }
}

#[derive(Debug)]
struct Pending {
    /// Stream offset of the first byte.
    off: u64,
    ts: Timestamp,
    data: Vec<u8>,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct HalfStream {
    /// Sequence number of the next byte to deliver; meaningful once `started`.
    next_seq: u32,
    /// Stream offset of `next_seq` (bytes delivered plus gap bytes).
    offset: u64,
    started: bool,
    /// Out-of-order segments, sorted by offset, non-overlapping.
    ooo: Vec<Pending>,
    ooo_bytes: usize,
    /// Stream offset at which the sender's FIN sits, once seen.
    fin_at: Option<u64>,
    /// FIN seen before the stream start was known (sequence number of the FIN).
    early_fin_seq: Option<u32>,
    fin_delivered: bool,
    /// A FIN flag was seen, wherever it lies in the stream.
    fin_seen: bool,
    /// Sequence number of this direction's SYN, once seen (`isn_known`).
    isn: u32,
    isn_known: bool,
    /// Time of the latest segment, for events that no segment carries (gaps).
    last_ts: Timestamp,
    /// The peer acknowledged bytes past the first hole: the next segment that does not
    /// fill it makes the hole a gap.
    hole_acked: bool,
    /// Nothing is buffered: holes are skipped, not reported (see [`HalfStream::skip`]).
    skipping: bool,
    /// `PEER_ACK_KNOWN | PEER_WINDOW_ZERO | PARKED | PARKED_ZWP` (one byte: an idle
    /// flow's size is budgeted).
    probe: u8,
    /// The latest ACK number the peer sent: the sequence number of this direction's next
    /// new byte as the receiver sees it.
    peer_ack: u32,
    /// A probe's byte held back (see the module documentation), and its sequence number.
    parked_byte: u8,
    parked_seq: u32,
}

/// `peer_ack` holds the latest ACK number the peer sent.
const PEER_ACK_KNOWN: u8 = 1;
/// The peer's latest segment advertised a zero window.
const PEER_WINDOW_ZERO: u8 = 2;
/// A byte is parked.
const PARKED: u8 = 4;
/// The parked byte was sent into a zero window (counted when parked); otherwise it is a
/// tentative start.
const PARKED_ZWP: u8 = 8;

/// A 1-byte probe held back until the direction's next segment says what it was.
#[derive(Clone, Copy, Debug)]
struct Parked {
    seq: u32,
    byte: u8,
    zwp: bool,
}

/// Signed distance from `base` to `seq` in sequence space.
fn seq_diff(seq: u32, base: u32) -> i64 {
    i64::from(seq.wrapping_sub(base) as i32)
}

impl HalfStream {
    /// Bytes currently held in the out-of-order buffer.
    pub fn buffered_bytes(&self) -> usize {
        self.ooo_bytes
    }

    /// Heap bytes held: the out-of-order list and each buffered segment, allocator
    /// overhead included. O(1). Charged against `Limits::max_buffered_bytes`.
    pub fn heap_bytes(&self) -> usize {
        if self.ooo.capacity() == 0 {
            return 0;
        }
        heap(self.ooo.capacity() * std::mem::size_of::<Pending>())
            + self.ooo_bytes
            + self.ooo.len() * ALLOC_OVERHEAD
    }

    /// Segments currently held in the out-of-order buffer.
    pub fn buffered_segments(&self) -> usize {
        self.ooo.len()
    }

    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    /// A FIN flag was seen in this direction (delivered or not).
    pub fn fin_seen(&self) -> bool {
        self.fin_seen
    }

    /// Sequence number of the SYN seen in this direction.
    pub fn isn(&self) -> Option<u32> {
        self.isn_known.then_some(self.isn)
    }

    /// Stream offset of the next byte to deliver (bytes delivered plus gap bytes).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Sequence number just past the last byte (and FIN) of this direction as far as
    /// the stream went: meant for a flushed stream (what a closed connection's late
    /// duplicates may repeat). `None` when nothing of it was seen.
    pub fn end_seq(&self) -> Option<u32> {
        if self.started {
            Some(self.next_seq.wrapping_add(u32::from(self.fin_delivered)))
        } else {
            self.early_fin_seq.map(|s| s.wrapping_add(1))
        }
    }

    /// A probe's byte is held back, waiting for the next segment to decide.
    pub fn has_parked(&self) -> bool {
        self.probe & PARKED != 0
    }

    /// Sequence number of stream offset 0, once the direction has started.
    pub fn start_seq(&self) -> Option<u32> {
        self.started
            .then(|| self.next_seq.wrapping_sub(self.offset as u32))
    }

    /// True once [`HalfStream::skip`] was called.
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// From now on nothing is buffered and no hole is a gap (the connection's payload is
    /// not parsed, only counted): what the out-of-order buffer holds is delivered now,
    /// the holes before it skipped silently, and the buffer freed. Later segments ahead
    /// of the stream move it forward over their hole. Idempotent.
    pub fn skip(
        &mut self,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        self.skipping = true;
        while let Some(to) = self.ooo.first().map(|p| p.off) {
            self.skip_to(to);
            self.drain(counters, emit);
        }
        self.ooo = Vec::new();
        self.hole_acked = false;
        self.release_parked(counters, emit);
    }

    /// Moves the stream to offset `to` without delivering or reporting the bytes between.
    fn skip_to(&mut self, to: u64) {
        if to > self.offset {
            let n = to - self.offset;
            self.offset = to;
            self.next_seq = self.next_seq.wrapping_add(n as u32);
        }
    }

    /// The capture cut `len` bytes of a segment whose captured part ends at `seq_end`
    /// (snaplen): when that part was just delivered, the cut bytes are a gap.
    pub fn on_missing(
        &mut self,
        seq_end: u32,
        len: u64,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if self.started {
            self.release_parked(counters, emit);
        }
        if self.started && self.next_seq == seq_end {
            let to = self.offset + len;
            if self.skipping {
                self.skip_to(to);
                return;
            }
            self.gap_to(to, counters, emit);
            self.drain(counters, emit);
        }
    }

    /// The stream offset acknowledged by `ack` (an ACK number sent by the peer), when the
    /// stream start is known and `ack` lies ahead of the delivered stream.
    fn acked_past_hole(&self, ack: u32) -> bool {
        if !self.started || self.ooo.is_empty() {
            return false;
        }
        let d = seq_diff(ack, self.next_seq);
        d > 0 && (d as u64) < MAX_AHEAD
    }

    /// The peer sent a segment acknowledging `ack` and advertising `window`.
    pub fn on_peer_ack(&mut self, ack: u32, window: u16) {
        if self.acked_past_hole(ack) {
            self.hole_acked = true;
        }
        self.peer_ack = ack;
        self.probe = self.probe & !PEER_WINDOW_ZERO
            | PEER_ACK_KNOWN
            | if window == 0 { PEER_WINDOW_ZERO } else { 0 };
    }

    fn parked(&self) -> Option<Parked> {
        (self.probe & PARKED != 0).then_some(Parked {
            seq: self.parked_seq,
            byte: self.parked_byte,
            zwp: self.probe & PARKED_ZWP != 0,
        })
    }

    fn unpark(&mut self) -> Option<Parked> {
        let p = self.parked();
        self.probe &= !(PARKED | PARKED_ZWP);
        p
    }

    /// A segment of 0 or 1 payload byte, without SYN, FIN or RST and not cut by the
    /// snaplen: true when it is a keep-alive or zero-window probe, consumed here (counted,
    /// or parked); false when it is to be handed to [`HalfStream::on_segment`]. See the
    /// module documentation for the rule.
    pub fn on_probe(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        counters: &mut ReasmCounters,
    ) -> bool {
        if payload.len() > 1 || self.isn() == Some(seq) {
            return false;
        }
        self.last_ts = ts;
        let next = if self.started {
            Some(self.next_seq)
        } else {
            (self.probe & PEER_ACK_KNOWN != 0).then_some(self.peer_ack)
        };
        let park = |h: &mut HalfStream, zwp: bool| {
            if let Some(p) = h.parked() {
                // A repeated probe: the first copy stays parked.
                return p.seq == seq;
            }
            h.probe |= PARKED | if zwp { PARKED_ZWP } else { 0 };
            h.parked_seq = seq;
            h.parked_byte = payload[0];
            true
        };
        let window_zero = self.probe & PEER_WINDOW_ZERO != 0;
        let Some(next) = next else {
            // Not started, nothing acknowledged yet: a lone byte is a tentative start.
            return payload.len() == 1 && !self.skipping && park(self, false);
        };
        if seq == next.wrapping_sub(1) {
            if window_zero {
                counters.zero_window_probes += 1;
            } else {
                counters.keepalive_probes += 1;
            }
            return true;
        }
        if payload.len() == 1
            && seq == next
            && window_zero
            && !self.skipping
            && self.ooo.is_empty()
            && park(self, true)
        {
            counters.zero_window_probes += 1;
            return true;
        }
        false
    }

    /// Resolves a parked byte before a segment of this direction carrying data or a FIN
    /// (`seq`, `len`) is reassembled.
    #[allow(clippy::too_many_arguments)]
    fn resolve_parked(
        &mut self,
        ts: Timestamp,
        seq: u32,
        len: usize,
        limits: &Limits,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        let Some(p) = self.unpark() else {
            return;
        };
        if len > 0 && seq == p.seq {
            // Retransmitted as real data: this segment carries the byte again.
            return;
        }
        if self.is_tentative_keepalive(&p) && seq == p.seq.wrapping_add(1) {
            counters.keepalive_probes += 1;
            return;
        }
        // Data after all: it takes the time of the segment that decided.
        self.segment(ts, p.seq, &[p.byte], false, limits, counters, emit);
    }

    /// A tentative start the peer acknowledged without the stream having started: the
    /// shape of a keep-alive probe.
    fn is_tentative_keepalive(&self, p: &Parked) -> bool {
        !p.zwp
            && !self.started
            && self.probe & PEER_ACK_KNOWN != 0
            && self.peer_ack == p.seq.wrapping_add(1)
    }

    /// Hands a parked byte on without a segment to decide (end of flow, skipping, a
    /// snaplen cut): data in its place, unless it is an acknowledged tentative start.
    fn release_parked(
        &mut self,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        let Some(p) = self.unpark() else {
            return;
        };
        if self.is_tentative_keepalive(&p) {
            counters.keepalive_probes += 1;
            return;
        }
        if !self.started {
            self.start_at(p.seq);
        }
        let d = seq_diff(p.seq, self.next_seq);
        if d < 0 || d as u64 >= MAX_AHEAD {
            counters.retransmissions += 1;
            return;
        }
        if d > 0 {
            // Only after a hole the caller has given up (flush): the byte follows it.
            if self.skipping {
                self.skip_to(self.offset + d as u64);
            } else {
                self.gap_to(self.offset + d as u64, counters, emit);
            }
        }
        // Delivered with the time of the direction's latest segment.
        self.deliver(self.last_ts, &[p.byte], emit);
        self.drain(counters, emit);
    }

    /// A SYN from this direction: the stream starts at `isn + 1` unless data already fixed it.
    pub fn on_syn(&mut self, isn: u32) {
        if !self.isn_known {
            self.isn = isn;
            self.isn_known = true;
        }
        if !self.started {
            self.start_at(isn.wrapping_add(1));
        }
    }

    fn start_at(&mut self, seq: u32) {
        self.started = true;
        self.next_seq = seq;
        if let Some(fin_seq) = self.early_fin_seq.take() {
            let d = seq_diff(fin_seq, seq);
            if d >= 0 {
                self.fin_at = Some(d as u64);
            }
        }
    }

    /// One segment of this direction. `emit` receives the in-order events it unlocks.
    ///
    /// Inlined at the engine's call, with a fast path for the common case: data starting
    /// exactly at the next byte of a started stream, no FIN, nothing parked, nothing
    /// buffered and no out-of-order allocation (what `HalfStream::segment` would do
    /// then: deliver, clear `hole_acked`, then a FIN already placed at the new offset).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn on_segment(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        fin: bool,
        limits: &Limits,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if self.started
            && seq == self.next_seq
            && !fin
            && !payload.is_empty()
            && self.probe & PARKED == 0
            && self.ooo.capacity() == 0
        {
            self.last_ts = ts;
            self.hole_acked = false;
            self.deliver(ts, payload, emit);
            self.maybe_fin(ts, emit);
            return;
        }
        if self.probe & PARKED != 0 && (fin || !payload.is_empty()) {
            self.resolve_parked(ts, seq, payload.len(), limits, counters, emit);
        }
        self.segment(ts, seq, payload, fin, limits, counters, emit);
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn segment(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        fin: bool,
        limits: &Limits,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if !self.started {
            if payload.is_empty() {
                self.fin_seen |= fin;
                if fin {
                    self.early_fin_seq = Some(seq);
                }
                return;
            }
            self.start_at(seq);
        }
        self.fin_seen |= fin;
        self.last_ts = ts;
        let seq_end_fin = seq.wrapping_add(payload.len() as u32);
        if fin && self.fin_at.is_none() {
            let d = seq_diff(seq_end_fin, self.next_seq);
            if d >= 0 && (d as u64) < MAX_AHEAD {
                self.fin_at = Some(self.offset + d as u64);
            }
        }
        if !payload.is_empty() {
            let d = seq_diff(seq, self.next_seq);
            let len = payload.len() as i64;
            if d + len <= 0 {
                counters.retransmissions += 1;
            } else if d <= 0 {
                if d < 0 {
                    counters.overlaps += 1;
                }
                let fresh = &payload[(-d) as usize..];
                if self.ooo.is_empty() {
                    self.deliver(ts, fresh, emit);
                } else {
                    self.deliver_around_buffered(ts, fresh, counters, emit);
                }
                self.hole_acked = false;
                self.drain(counters, emit);
            } else if d as u64 >= MAX_AHEAD {
                counters.out_of_window += 1;
            } else if self.skipping {
                self.skip_to(self.offset + d as u64);
                self.deliver(ts, payload, emit);
            } else {
                self.insert(self.offset + d as u64, ts, payload, limits, counters, emit);
                if self.hole_acked {
                    // The receiver had the hole's bytes before this segment was sent.
                    self.give_up_hole(counters, emit);
                }
            }
        }
        self.maybe_fin(ts, emit);
    }

    /// Sends the bytes at `self.offset` on and advances.
    #[inline]
    fn deliver(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if data.is_empty() {
            return;
        }
        self.next_seq = self.next_seq.wrapping_add(data.len() as u32);
        self.offset += data.len() as u64;
        emit(ts, StreamEvent::Data(data));
    }

    /// Delivers in-order `data` (starting at `self.offset`) that may run into buffered
    /// segments: those bytes were seen first, so they win; `data` fills only the holes
    /// between them.
    fn deliver_around_buffered(
        &mut self,
        ts: Timestamp,
        mut data: &[u8],
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        let mut at = self.offset;
        while !data.is_empty() {
            let Some(first) = self.ooo.first() else {
                self.deliver(ts, data, emit);
                return;
            };
            let room = first.off.saturating_sub(self.offset);
            if room >= data.len() as u64 {
                self.deliver(ts, data, emit);
                return;
            }
            counters.overlaps += 1;
            self.deliver(ts, &data[..room as usize], emit);
            self.drain(counters, emit);
            let skip = self.offset - at;
            if skip >= data.len() as u64 {
                return;
            }
            data = &data[skip as usize..];
            at = self.offset;
        }
    }

    /// Buffers an out-of-order segment at stream offset `off` (> self.offset), making
    /// room under the caps by giving up the first hole when full.
    fn insert(
        &mut self,
        off: u64,
        ts: Timestamp,
        payload: &[u8],
        limits: &Limits,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        // Trim against buffered neighbours so the buffer holds each byte once.
        let mut start = off;
        let mut data = payload;
        let end = off + payload.len() as u64;
        let idx = self.ooo.partition_point(|p| p.off < start);
        if idx > 0 {
            let prev = &self.ooo[idx - 1];
            let prev_end = prev.off + prev.data.len() as u64;
            if prev_end >= end {
                counters.retransmissions += 1;
                return;
            }
            if prev_end > start {
                counters.overlaps += 1;
                data = &data[(prev_end - start) as usize..];
                start = prev_end;
            }
        }
        let mut j = idx;
        let mut pieces: Vec<(u64, &[u8])> = Vec::new();
        while !data.is_empty() {
            match self.ooo.get(j) {
                Some(next) if next.off < start + data.len() as u64 => {
                    counters.overlaps += 1;
                    if next.off > start {
                        let n = (next.off - start) as usize;
                        pieces.push((start, &data[..n]));
                    }
                    let next_end = next.off + next.data.len() as u64;
                    if next_end >= start + data.len() as u64 {
                        data = &[];
                    } else {
                        data = &data[(next_end - start) as usize..];
                        start = next_end;
                    }
                    j += 1;
                }
                _ => {
                    pieces.push((start, data));
                    data = &[];
                }
            }
        }
        if pieces.is_empty() {
            return;
        }
        counters.out_of_order += 1;
        for (p_off, p) in pieces {
            while self.ooo.len() >= limits.max_reasm_segments.max(1)
                || self.ooo_bytes + p.len() > limits.max_reasm_bytes
            {
                if self.ooo.is_empty() {
                    break;
                }
                counters.overflows += 1;
                self.give_up_hole(counters, emit);
            }
            if p_off < self.offset {
                // The overflow above advanced the stream past part of this piece.
                let skip = (self.offset - p_off) as usize;
                if skip >= p.len() {
                    continue;
                }
                let rest = &p[skip..];
                self.deliver(ts, rest, emit);
                self.drain(counters, emit);
                continue;
            }
            if p_off == self.offset {
                self.deliver(ts, p, emit);
                self.drain(counters, emit);
                continue;
            }
            if p.len() > limits.max_reasm_bytes {
                // Larger than the whole buffer: the hole before it is lost.
                counters.overflows += 1;
                self.gap_to(p_off, counters, emit);
                self.deliver(ts, p, emit);
                self.drain(counters, emit);
                continue;
            }
            let at = self.ooo.partition_point(|q| q.off < p_off);
            self.ooo_bytes += p.len();
            self.ooo.insert(
                at,
                Pending {
                    off: p_off,
                    ts,
                    data: p.to_vec(),
                },
            );
        }
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain(
        &mut self,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        while let Some(first) = self.ooo.first() {
            if first.off > self.offset {
                break;
            }
            let p = self.ooo.remove(0);
            self.ooo_bytes -= p.data.len();
            let end = p.off + p.data.len() as u64;
            if end <= self.offset {
                counters.retransmissions += 1;
                continue;
            }
            let skip = (self.offset - p.off) as usize;
            self.deliver(p.ts, &p.data[skip..], emit);
        }
        if self.ooo.is_empty() {
            self.hole_acked = false;
            if self.ooo.capacity() > 0 {
                // A stream back in order keeps no out-of-order allocation.
                self.ooo = Vec::new();
            }
        }
    }

    /// Emits a gap up to stream offset `to`.
    fn gap_to(
        &mut self,
        to: u64,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if to <= self.offset {
            return;
        }
        let n = to - self.offset;
        counters.gaps += 1;
        counters.gap_bytes += n;
        self.offset = to;
        self.next_seq = self.next_seq.wrapping_add(n as u32);
        let ts = self.ooo.first().map_or(self.last_ts, |p| p.ts);
        emit(ts, StreamEvent::Gap(n));
    }

    /// Declares the first hole lost and delivers what follows it.
    fn give_up_hole(
        &mut self,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        if let Some(first) = self.ooo.first() {
            let to = first.off;
            self.gap_to(to, counters, emit);
            self.drain(counters, emit);
        }
        self.hole_acked = false;
    }

    #[inline]
    fn maybe_fin(&mut self, ts: Timestamp, emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>)) {
        if !self.fin_delivered && self.fin_at == Some(self.offset) {
            self.fin_delivered = true;
            emit(ts, StreamEvent::Fin);
        }
    }

    /// The flow is ending: every hole is a gap, everything buffered is delivered, and a
    /// FIN seen beyond a hole is delivered after it.
    pub fn flush(
        &mut self,
        ts: Timestamp,
        counters: &mut ReasmCounters,
        emit: &mut dyn FnMut(Timestamp, StreamEvent<'_>),
    ) {
        while !self.ooo.is_empty() {
            self.give_up_hole(counters, emit);
        }
        self.release_parked(counters, emit);
        if let Some(at) = self.fin_at {
            if !self.fin_delivered && at > self.offset {
                if self.skipping {
                    self.skip_to(at);
                } else {
                    self.gap_to(at, counters, emit);
                }
            }
        }
        self.maybe_fin(ts, emit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Data(Vec<u8>),
        Gap(u64),
        Fin,
        Rst,
    }

    impl From<StreamEvent<'_>> for Ev {
        fn from(e: StreamEvent<'_>) -> Ev {
            match e {
                StreamEvent::Data(d) => Ev::Data(d.to_vec()),
                StreamEvent::Gap(n) => Ev::Gap(n),
                StreamEvent::Fin => Ev::Fin,
                StreamEvent::Rst => Ev::Rst,
            }
        }
    }

    fn run(
        segs: &[(u32, &[u8], bool)],
        acks_before: &[(usize, u32)],
        limits: &Limits,
    ) -> (Vec<Ev>, ReasmCounters) {
        let mut h = HalfStream::default();
        let mut c = ReasmCounters::default();
        let mut evs = Vec::new();
        for (i, (seq, data, fin)) in segs.iter().enumerate() {
            for (at, ack) in acks_before {
                if *at == i {
                    h.on_peer_ack(*ack, 0xffff);
                }
            }
            h.on_segment(
                Timestamp(i as u64),
                *seq,
                data,
                *fin,
                limits,
                &mut c,
                &mut |_, e| evs.push(Ev::from(e)),
            );
        }
        h.flush(Timestamp(99), &mut c, &mut |_, e| evs.push(Ev::from(e)));
        (evs, c)
    }

    /// Concatenates data, writing gaps as '?' bytes, for easy comparison.
    fn flat(evs: &[Ev]) -> Vec<u8> {
        let mut v = Vec::new();
        for e in evs {
            match e {
                Ev::Data(d) => v.extend_from_slice(d),
                Ev::Gap(n) => v.extend(std::iter::repeat_n(b'?', *n as usize)),
                Ev::Fin => v.push(b'$'),
                Ev::Rst => v.push(b'!'),
            }
        }
        v
    }

    #[test]
    fn skipping_buffers_nothing_and_reports_no_gap() {
        let l = Limits::default();
        let mut h = HalfStream::default();
        let mut c = ReasmCounters::default();
        let mut evs = Vec::new();
        let mut emit = |_: Timestamp, e: StreamEvent<'_>| evs.push(Ev::from(e));
        h.on_segment(Timestamp(0), 100, b"ab", false, &l, &mut c, &mut emit);
        // Out of order before the switch: buffered, then handed over by `skip`.
        h.on_segment(Timestamp(1), 105, b"fg", false, &l, &mut c, &mut emit);
        assert_eq!(h.buffered_bytes(), 2);
        h.skip(&mut c, &mut emit);
        assert!(h.is_skipping());
        assert_eq!((h.buffered_bytes(), h.heap_bytes(), h.offset()), (0, 0, 7));
        // Ahead of the stream: moves it over the hole; behind it: a retransmission.
        h.on_segment(Timestamp(2), 110, b"kl", false, &l, &mut c, &mut emit);
        h.on_segment(Timestamp(3), 107, b"hij", false, &l, &mut c, &mut emit);
        assert_eq!(h.heap_bytes(), 0);
        // A FIN beyond a hole, then the end of the flow: the hole is skipped too.
        h.on_segment(Timestamp(4), 120, b"", true, &l, &mut c, &mut emit);
        h.on_missing(112, 3, &mut c, &mut emit);
        h.flush(Timestamp(5), &mut c, &mut emit);
        assert_eq!(flat(&evs), b"abfgkl$");
        assert_eq!((c.gaps, c.gap_bytes, c.retransmissions), (0, 0, 1));
    }

    #[test]
    fn in_order_is_passed_through() {
        let (e, c) = run(
            &[(100, b"abc", false), (103, b"def", true)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abcdef$");
        assert_eq!(c, ReasmCounters::default());
    }

    #[test]
    fn reordered_and_retransmitted() {
        let (e, c) = run(
            &[
                (100, b"abc", false),
                (106, b"ghi", false),
                (103, b"def", false),
                (103, b"def", false),
                (104, b"efghij", true),
            ],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abcdefghij$");
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.retransmissions, 1);
        assert_eq!(c.overlaps, 1);
    }

    #[test]
    fn overlap_first_copy_wins() {
        let (e, _) = run(
            &[(0, b"aaaa", false), (2, b"XXYY", false)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"aaaaYY");
    }

    /// In-order data running over buffered out-of-order segments fills only the holes:
    /// the buffered bytes were seen first.
    #[test]
    fn in_order_data_does_not_overwrite_buffered_bytes() {
        let (e, c) = run(
            &[
                (0, b"ab", false),
                (4, b"ef", false),
                (8, b"ij", false),
                (2, b"CDEFGHIJKL", false),
            ],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abCDefGHijKL");
        assert_eq!(c.overlaps, 2);
        assert_eq!(c.gaps, 0);
        // Ending inside a buffered segment, and exactly at one.
        let (e, _) = run(
            &[(0, b"ab", false), (4, b"efgh", false), (2, b"CDEF", false)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abCDefgh");
        let (e, _) = run(
            &[
                (0, b"ab", false),
                (4, b"ef", false),
                (2, b"CD", false),
                (0, b"ABCDEF", false),
            ],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abCDef");
    }

    #[test]
    fn sequence_wraps() {
        let (e, _) = run(
            &[(u32::MAX - 1, b"ab", false), (0, b"cd", false)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abcd");
    }

    #[test]
    fn hole_becomes_gap_at_flush() {
        let (e, c) = run(
            &[(0, b"ab", false), (5, b"fg", true)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"ab???fg$");
        assert_eq!((c.gaps, c.gap_bytes), (1, 3));
    }

    #[test]
    fn acked_hole_becomes_gap_on_next_segment() {
        // Peer acks 7 (past the hole 2..5) before segment index 2 arrives.
        let (e, _) = run(
            &[(0, b"ab", false), (5, b"fg", false), (7, b"hi", false)],
            &[(2, 7)],
            &Limits::default(),
        );
        assert_eq!(e[1], Ev::Gap(3));
        assert_eq!(flat(&e), b"ab???fghi");
    }

    #[test]
    fn acked_hole_filled_by_late_segment_is_not_a_gap() {
        // Shuffled capture: the ack is seen before the data it acknowledges.
        let (e, c) = run(
            &[(0, b"ab", false), (5, b"fg", false), (2, b"cde", false)],
            &[(2, 7)],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"abcdefg");
        assert_eq!(c.gaps, 0);
    }

    #[test]
    fn fin_and_syn_before_data_do_not_fix_the_start() {
        let mut h = HalfStream::default();
        let mut c = ReasmCounters::default();
        let l = Limits::default();
        let mut out = Vec::new();
        let mut emit = |_: Timestamp, e: StreamEvent<'_>| out.push(Ev::from(e));
        h.on_segment(Timestamp(0), 1011, b"", true, &l, &mut c, &mut emit);
        h.on_syn(1000);
        h.on_segment(Timestamp(1), 1006, b"fghij", false, &l, &mut c, &mut emit);
        h.on_segment(Timestamp(2), 1001, b"abcde", false, &l, &mut c, &mut emit);
        assert_eq!(flat(&out), b"abcdefghij$");
    }

    #[test]
    fn buffer_caps_hold_at_cap_minus_one_cap_and_cap_plus_one() {
        let l = Limits {
            max_reasm_segments: 3,
            max_reasm_bytes: 1 << 20,
            ..Limits::default()
        };
        for n in 2..=4u32 {
            // n segments after a hole of 1 byte.
            let mut segs: Vec<(u32, &[u8], bool)> = vec![(0, b"a", false)];
            for i in 0..n {
                segs.push((2 + i, b"x", false));
            }
            let mut h = HalfStream::default();
            let mut c = ReasmCounters::default();
            for (seq, d, f) in &segs {
                h.on_segment(Timestamp(0), *seq, d, *f, &l, &mut c, &mut |_, _| {});
                assert!(h.ooo.len() <= 3);
            }
            assert_eq!(c.overflows, u64::from(n > 3), "n = {n}");
        }
    }

    #[test]
    fn byte_cap_holds() {
        let l = Limits {
            max_reasm_bytes: 10,
            ..Limits::default()
        };
        let mut h = HalfStream::default();
        let mut c = ReasmCounters::default();
        h.on_segment(Timestamp(0), 0, b"a", false, &l, &mut c, &mut |_, _| {});
        for i in 0..20u32 {
            h.on_segment(
                Timestamp(0),
                10 + i * 4,
                b"wxyz",
                false,
                &l,
                &mut c,
                &mut |_, _| {},
            );
            assert!(h.buffered_bytes() <= 10);
        }
        // A segment larger than the whole buffer.
        h.on_segment(
            Timestamp(0),
            1000,
            &[b'q'; 64],
            false,
            &l,
            &mut c,
            &mut |_, _| {},
        );
        assert!(h.buffered_bytes() <= 10);
        assert!(c.overflows > 0);
    }

    #[test]
    fn far_ahead_segment_is_ignored() {
        let (e, c) = run(
            &[(0, b"ab", false), (2 + (1 << 30), b"zz", false)],
            &[],
            &Limits::default(),
        );
        assert_eq!(flat(&e), b"ab");
        assert_eq!(c.out_of_window, 1);
    }

    /// One direction driven like the engine drives it: short segments are offered as
    /// probes first. `Ack(ack, window)` is a segment of the peer.
    enum Op<'a> {
        Seg(u32, &'a [u8]),
        Fin(u32),
        Ack(u32, u16),
        Syn(u32),
    }

    fn drive(ops: &[Op<'_>]) -> (Vec<u8>, ReasmCounters) {
        let l = Limits::default();
        let mut h = HalfStream::default();
        let mut c = ReasmCounters::default();
        let mut evs = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let ts = Timestamp(i as u64);
            let mut emit = |_: Timestamp, e: StreamEvent<'_>| evs.push(Ev::from(e));
            match *op {
                Op::Seg(seq, d) => {
                    if d.len() > 1 || !h.on_probe(ts, seq, d, &mut c) {
                        h.on_segment(ts, seq, d, false, &l, &mut c, &mut emit);
                    }
                }
                Op::Fin(seq) => h.on_segment(ts, seq, b"", true, &l, &mut c, &mut emit),
                Op::Ack(ack, win) => h.on_peer_ack(ack, win),
                Op::Syn(isn) => h.on_syn(isn),
            }
        }
        h.flush(Timestamp(99), &mut c, &mut |_, e| evs.push(Ev::from(e)));
        (flat(&evs), c)
    }

    /// Issue 11: a connection picked up mid-stream whose first segment is a Windows
    /// keep-alive probe (1 garbage byte at snd.nxt - 1), acknowledged by the peer, then
    /// the request: the stream starts at the request, not at the probe's byte.
    #[test]
    fn mid_stream_keepalive_probe_does_not_start_the_stream() {
        let (out, c) = drive(&[
            Op::Seg(999, b"\0"),
            Op::Ack(1000, 0xffff),
            Op::Seg(999, b"\0"),
            Op::Ack(1000, 0xffff),
            Op::Seg(1000, b"GET / HTTP/1.1\r\n\r\n"),
        ]);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!((c.keepalive_probes, c.retransmissions, c.gaps), (2, 0, 0));
        // The peer's ACK seen first: the probe is known at once, 0 or 1 byte.
        let (out, c) = drive(&[
            Op::Ack(1000, 0xffff),
            Op::Seg(999, b""),
            Op::Seg(999, b"x"),
            Op::Seg(1000, b"GET /"),
        ]);
        assert_eq!(out, b"GET /");
        assert_eq!(c.keepalive_probes, 2);
    }

    #[test]
    fn keepalive_probes_on_a_started_stream_are_counted_not_delivered() {
        let (out, c) = drive(&[
            Op::Syn(99),
            // The SYN's own sequence number is never a probe.
            Op::Seg(99, b""),
            Op::Seg(100, b"abc"),
            Op::Seg(102, b""),
            Op::Seg(102, b"c"),
            Op::Seg(103, b"d"),
            Op::Fin(104),
        ]);
        assert_eq!(out, b"abcd$");
        assert_eq!((c.keepalive_probes, c.retransmissions), (2, 0));
    }

    /// A lone first byte that is not acknowledged as a probe is data: a mid-stream pickup
    /// whose first segment carries one byte, followed by more, or a hole.
    #[test]
    fn tentative_first_byte_not_acknowledged_is_data() {
        // No ACK from the peer at all.
        let (out, c) = drive(&[Op::Seg(10, b"a"), Op::Seg(11, b"bc")]);
        assert_eq!((out.as_slice(), c.keepalive_probes), (&b"abc"[..], 0));
        // Followed by a segment further on: a hole between.
        let (out, _) = drive(&[Op::Seg(10, b"a"), Op::Seg(13, b"de")]);
        assert_eq!(out, b"a??de");
        // Followed by a later one first, then its gap filled (shuffled).
        let (out, _) = drive(&[Op::Seg(10, b"a"), Op::Seg(12, b"c"), Op::Seg(11, b"b")]);
        assert_eq!(out, b"abc");
        // The peer acknowledged only up to it: not a keep-alive.
        let (out, _) = drive(&[Op::Seg(10, b"a"), Op::Ack(10, 100), Op::Seg(11, b"b")]);
        assert_eq!(out, b"ab");
        // Alone until the end: delivered at the flush, unless acknowledged.
        let (out, _) = drive(&[Op::Seg(10, b"a")]);
        assert_eq!(out, b"a");
        let (out, c) = drive(&[Op::Seg(10, b"a"), Op::Ack(11, 100)]);
        assert_eq!((out.as_slice(), c.keepalive_probes), (&b""[..], 1));
        // A FIN right after an acknowledged lone byte: the byte was a probe.
        let (out, c) = drive(&[Op::Seg(10, b"a"), Op::Ack(11, 100), Op::Fin(11)]);
        assert_eq!((out.as_slice(), c.keepalive_probes), (&b""[..], 1));
    }

    /// Issue 11: 1 byte sent into a zero window, repeated, then sent again as real data
    /// when the window opens: the stream carries it once, no overlap, no retransmission.
    #[test]
    fn zero_window_probe_retransmitted_as_data() {
        let (out, c) = drive(&[
            Op::Syn(99),
            Op::Seg(100, b"HTTP/1.1 200 OK\r\n"),
            Op::Ack(117, 0),
            Op::Seg(117, b"C"),
            Op::Ack(117, 0),
            Op::Seg(117, b"C"),
            // Linux probes a zero window with an empty segment one below.
            Op::Seg(116, b""),
            Op::Ack(117, 512),
            Op::Seg(117, b"Content-Length: 0\r\n\r\n"),
        ]);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            (
                c.zero_window_probes,
                c.overlaps,
                c.retransmissions,
                c.keepalive_probes
            ),
            (3, 0, 0, 0)
        );
    }

    /// A zero-window probe the receiver accepted (its window had opened): the sender goes
    /// on after it, and the parked byte is delivered, not lost.
    #[test]
    fn zero_window_probe_accepted_is_delivered() {
        let (out, c) = drive(&[
            Op::Syn(99),
            Op::Seg(100, b"ab"),
            Op::Ack(102, 0),
            Op::Seg(102, b"c"),
            Op::Ack(103, 100),
            Op::Seg(103, b"de"),
        ]);
        assert_eq!(out, b"abcde");
        assert_eq!((c.zero_window_probes, c.gaps), (1, 0));
        // Accepted and followed by nothing but the end of the flow.
        let (out, _) = drive(&[Op::Syn(99), Op::Ack(100, 0), Op::Seg(100, b"a")]);
        assert_eq!(out, b"a");
        // A zero-window probe seen first on a mid-stream pickup (the peer's ACK says where
        // the stream is), then the real data.
        let (out, c) = drive(&[
            Op::Ack(500, 0),
            Op::Seg(500, b"x"),
            Op::Ack(500, 0),
            Op::Ack(500, 4096),
            Op::Seg(500, b"xyz"),
        ]);
        assert_eq!((out.as_slice(), c.zero_window_probes), (&b"xyz"[..], 1));
    }

    /// A parked byte is handed over when the flow is decided opaque (skipping) or when
    /// the snaplen cut a segment behind it.
    #[test]
    fn parked_byte_is_released_by_skip_and_snaplen_cuts() {
        let l = Limits::default();
        let mut c = ReasmCounters::default();
        let mut evs = Vec::new();
        let mut h = HalfStream::default();
        h.on_syn(99);
        h.on_peer_ack(100, 0);
        assert!(h.on_probe(Timestamp(1), 100, b"a", &mut c));
        h.skip(&mut c, &mut |_, e| evs.push(Ev::from(e)));
        assert_eq!(flat(&evs), b"a");
        evs.clear();
        let mut h = HalfStream::default();
        h.on_syn(99);
        h.on_peer_ack(100, 0);
        assert!(h.on_probe(Timestamp(1), 100, b"a", &mut c));
        h.on_missing(101, 3, &mut c, &mut |_, e| evs.push(Ev::from(e)));
        h.on_segment(Timestamp(2), 104, b"e", false, &l, &mut c, &mut |_, e| {
            evs.push(Ev::from(e))
        });
        assert_eq!(flat(&evs), b"a???e");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any permutation, duplication and re-cutting of a stream's segments
            /// reassembles to the stream itself.
            #[test]
            fn reorder_dup_overlap_reassembles(
                data in proptest::collection::vec(any::<u8>(), 1..400),
                cuts in proptest::collection::vec((0usize..400, 1usize..60), 1..40),
                isn in any::<u32>(),
            ) {
                let mut segs: Vec<(u32, Vec<u8>)> = cuts
                    .iter()
                    .map(|&(s, l)| {
                        let s = s % data.len();
                        let e = (s + l).min(data.len());
                        (isn.wrapping_add(s as u32), data[s..e].to_vec())
                    })
                    .collect();
                // Make sure every byte is covered at least once.
                segs.push((isn, data.clone()));
                let l = Limits::default();
                let mut h = HalfStream::default();
                h.on_syn(isn.wrapping_sub(1));
                let mut c = ReasmCounters::default();
                let mut out = Vec::new();
                for (seq, d) in &segs {
                    h.on_segment(Timestamp(0), *seq, d, false, &l, &mut c, &mut |_, e| {
                        if let StreamEvent::Data(d) = e { out.extend_from_slice(d) } else { out.push(b'#') }
                    });
                }
                h.flush(Timestamp(0), &mut c, &mut |_, e| {
                    if let StreamEvent::Data(d) = e { out.extend_from_slice(d) } else { out.push(b'#') }
                });
                prop_assert_eq!(out, data);
            }

            /// The in-order fast path of `on_segment` does what the general path does:
            /// same events, counters and state, on segments near the stream (in order,
            /// overlapping, ahead, with FINs, probes and a small buffer).
            #[test]
            fn fast_path_matches_the_general_path(
                segs in proptest::collection::vec((0u32..64, 0usize..24, any::<u8>(), any::<u16>()), 1..120),
                isn in any::<u32>(),
                syn in any::<bool>(),
            ) {
                let l = Limits { max_reasm_bytes: 48, max_reasm_segments: 3, ..Limits::default() };
                let buf: Vec<u8> = (0..24u8).collect();
                let (mut fast, mut slow) = (HalfStream::default(), HalfStream::default());
                let (mut cf, mut cs) = (ReasmCounters::default(), ReasmCounters::default());
                let (mut ef, mut es) = (Vec::new(), Vec::new());
                if syn {
                    fast.on_syn(isn);
                    slow.on_syn(isn);
                }
                for (i, (at, len, bits, ack)) in segs.into_iter().enumerate() {
                    let ts = Timestamp(i as u64);
                    let fin = bits & 0x1f == 0;
                    let len = if bits & 0x20 != 0 { len % 2 } else { len };
                    // Mostly at or near the next byte, so the fast path is taken often.
                    let base = if fast.started { fast.next_seq } else { isn };
                    let seq = base.wrapping_add(at).wrapping_sub(8);
                    if bits & 0x40 != 0 {
                        let ack = base.wrapping_add(u32::from(ack % 64));
                        let window = u16::from(bits & 0x80 == 0);
                        fast.on_peer_ack(ack, window);
                        slow.on_peer_ack(ack, window);
                    }
                    let p = &buf[..len];
                    let probe_f = len <= 1 && !fin && fast.on_probe(ts, seq, p, &mut cf);
                    let probe_s = len <= 1 && !fin && slow.on_probe(ts, seq, p, &mut cs);
                    prop_assert_eq!(probe_f, probe_s);
                    if !probe_f {
                        fast.on_segment(ts, seq, p, fin, &l, &mut cf, &mut |t, e| ef.push((t, Ev::from(e))));
                        // The general path, as `on_segment` was before the fast path.
                        if slow.probe & PARKED != 0 && (fin || !p.is_empty()) {
                            slow.resolve_parked(ts, seq, p.len(), &l, &mut cs, &mut |t, e| es.push((t, Ev::from(e))));
                        }
                        slow.segment(ts, seq, p, fin, &l, &mut cs, &mut |t, e| es.push((t, Ev::from(e))));
                    }
                    prop_assert_eq!(&ef, &es);
                    prop_assert_eq!(&cf, &cs);
                    prop_assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
                }
            }

            /// Random segments never exceed the caps and never panic.
            #[test]
            fn caps_hold_on_random_segments(
                segs in proptest::collection::vec((any::<u32>(), 0usize..3000, any::<bool>(), any::<u32>()), 1..200),
            ) {
                let l = Limits { max_reasm_bytes: 4096, max_reasm_segments: 8, ..Limits::default() };
                let mut h = HalfStream::default();
                let mut c = ReasmCounters::default();
                let buf = vec![0u8; 3000];
                for (seq, len, fin, ack) in segs {
                    // Short segments are offered as probes, as the engine does; the low
                    // bit of the ACK picks a zero window.
                    h.on_peer_ack(ack, (ack & 1) as u16);
                    let len = if seq & 3 == 0 { len % 2 } else { len };
                    if fin || len > 1 || !h.on_probe(Timestamp(0), seq, &buf[..len], &mut c) {
                        h.on_segment(Timestamp(0), seq, &buf[..len], fin, &l, &mut c, &mut |_, _| {});
                    }
                    prop_assert!(h.buffered_bytes() <= 4096);
                    prop_assert!(h.ooo.len() <= 8);
                }
            }
        }
    }
}
