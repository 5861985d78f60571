//! Damage and concatenation: what a format reader hands back besides a record, how a new
//! file header in the stream is recognised, and how the reader finds the next plausible
//! record after damage.
//!
//! Contract (see also the module documentation of `file`):
//! - Nothing here runs per record on a clean file: a format reader calls
//!   [`sniff_header`] only when the first word of a record is a magic number
//!   ([`is_header_word`], three compares) or its framing is broken, and
//!   [`FileSource::recover`] only on damage.
//! - A file header is recognised by its whole content, not its magic alone: a pcap header
//!   needs a supported magic, major version 2, and a following record that fits the record
//!   limit (or the end of the input, or another header); a pcapng Section Header Block
//!   needs its byte-order magic, a valid length, version 1 and a matching trailing length.
//! - After damage the scan moves one byte at a time and accepts, at the first position
//!   where one holds: a file header as above; in a pcap section, a record header whose
//!   sub-second field is in range, `1 ≤ caplen ≤ orig_len`, `caplen ≤ snaplen` (when the
//!   header gives one) and the record limit, timestamp within [`TS_WINDOW_S`] of the last
//!   frame of the section, and whose following record header passes the same checks (or a
//!   header, or the end of the input); in a pcapng section, a block of a known type with a
//!   valid length, a matching trailing length, and a plausible block (type and length)
//!   after it, or the end of the input. An empty record is no evidence, hence `caplen ≥ 1`.
//! - The scan holds at most one record and the header after it (the record limit plus 48
//!   bytes) beyond what the buffer already holds; it gives up after
//!   [`super::FileOptions::max_resync_bytes`].

use std::io::Read;

use httptop_wire::Timestamp;

use super::pcap::{pcap_layout, PcapLayout, HEADER_LEN};
use super::pcapng::{NgState, BYTE_ORDER_MAGIC, SHB_TYPE};
use super::read_ahead::Buf;
use super::{u16_at, u32_at, FileSource, Kind, Record, MAX_DAMAGE_QUEUED, NANOS_PER_SEC};
use crate::error::{CaptureError, Damage, FormatError, Resumed};

/// A pcap record after damage must lie within this many seconds of the last frame read
/// in its section (either way): captures are nearly sorted, random bytes rarely are.
pub(super) const TS_WINDOW_S: u64 = 7 * 24 * 3600;

/// What a format reader found at the front of the buffer.
pub(super) enum Step {
    Record(Record),
    /// The end of the input (cut short or not: see the stats).
    End,
    /// A checked file header: a new section starts here.
    Header(Header),
    /// The record or block here cannot be read.
    Damaged(FormatError),
}

/// A file header found in the stream.
pub(super) enum Header {
    /// A pcap file header (24 bytes, still in the buffer).
    Pcap(PcapLayout),
    /// A pcapng Section Header Block (left in the buffer for the block loop).
    Ng,
}

/// True when `raw` (the first four bytes, little-endian) is a pcap magic number in either
/// byte order, or the pcapng Section Header Block type.
#[inline]
pub(super) fn is_header_word(raw: u32) -> bool {
    raw >> 16 == 0xa1b2 || raw & 0xffff == 0xb2a1 || raw == SHB_TYPE
}

/// A whole, valid file header at the front of the buffer (see the module documentation).
#[cold]
pub(super) fn sniff_header<R: Read>(buf: &mut Buf<R>) -> Result<Option<Header>, CaptureError> {
    if !buf.ensure(12)? {
        return Ok(None);
    }
    let max = buf.max_record;
    if u32_at(buf.data(), 0, false) == SHB_TYPE {
        let d = buf.data();
        let be = match u32_at(d, 8, false) {
            BYTE_ORDER_MAGIC => false,
            m if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
            _ => return Ok(None),
        };
        let blen = u32_at(d, 4, be) as usize;
        if blen < 28 || blen % 4 != 0 || blen > max {
            return Ok(None);
        }
        if !buf.ensure(blen)? {
            // Cut short inside it: the block loop reports the truncation.
            return Ok(Some(Header::Ng));
        }
        let d = buf.data();
        let ok = u32_at(d, blen - 4, be) as usize == blen && u16_at(d, 12, be) == 1;
        return Ok(ok.then_some(Header::Ng));
    }
    if !buf.ensure(HEADER_LEN)? {
        return Ok(None);
    }
    let Ok(l) = pcap_layout(buf.data()) else {
        return Ok(None);
    };
    if u16_at(buf.data(), 4, l.be) != 2 {
        return Ok(None);
    }
    if !buf.ensure(HEADER_LEN + l.rec_hdr)? {
        // The end of the input, or cut short in the first record.
        return Ok(Some(Header::Pcap(l)));
    }
    let next = buf.data().get(HEADER_LEN..).unwrap_or(&[]);
    let caplen = u32_at(next, 8, l.be) as usize;
    let fits = caplen.saturating_add(l.rec_hdr) <= max;
    Ok((fits || is_header_word(u32_at(next, 0, false))).then_some(Header::Pcap(l)))
}

/// The checks of a pcap record header after damage; the record's total length and its
/// seconds when it passes.
fn plausible_pcap(d: &[u8], l: &PcapLayout, near_s: Option<u64>, max: usize) -> Option<usize> {
    if d.len() < l.rec_hdr {
        return None;
    }
    let sec = u64::from(u32_at(d, 0, l.be));
    let frac = u64::from(u32_at(d, 4, l.be));
    let caplen = u32_at(d, 8, l.be);
    let orig_len = u32_at(d, 12, l.be);
    if frac.saturating_mul(l.frac_mult) >= NANOS_PER_SEC
        || caplen == 0
        || caplen > orig_len
        || (l.snaplen != 0 && caplen > l.snaplen)
    {
        return None;
    }
    if near_s.is_some_and(|t| sec.abs_diff(t) > TS_WINDOW_S) {
        return None;
    }
    let total = (caplen as usize).saturating_add(l.rec_hdr);
    (total <= max).then_some(total)
}

/// A pcap record at the front of the buffer that passes [`plausible_pcap`], followed by
/// one that does too (or by a header, or by the end of the input).
fn pcap_candidate<R: Read>(
    buf: &mut Buf<R>,
    l: &PcapLayout,
    last: Timestamp,
) -> Result<bool, CaptureError> {
    let max = buf.max_record;
    if !buf.ensure(l.rec_hdr)? {
        return Ok(false);
    }
    let near = (last != Timestamp::ZERO).then(|| last.nanos() / NANOS_PER_SEC);
    let Some(total) = plausible_pcap(buf.data(), l, near, max) else {
        return Ok(false);
    };
    if !buf.ensure(total)? {
        // Runs past the end of the input: not evidence enough.
        return Ok(false);
    }
    if !buf.ensure(total + l.rec_hdr)? {
        // Complete, then the end of the input (or a cut-short header).
        return Ok(true);
    }
    let d = buf.data();
    let sec = u64::from(u32_at(d, 0, l.be));
    let next = d.get(total..).unwrap_or(&[]);
    Ok(is_header_word(u32_at(next, 0, false)) || plausible_pcap(next, l, Some(sec), max).is_some())
}

/// Block types of the pcapng registry (and custom blocks).
fn known_block_type(t: u32) -> bool {
    matches!(t, 1..=0x0A | 0x101..=0x108 | 0x201..=0x220 | 0xBAD | 0x4000_0BAD)
}

/// A pcapng block of a known type at the front of the buffer, framed correctly, followed
/// by a plausible block (type and length) or the end of the input.
fn ng_candidate<R: Read>(buf: &mut Buf<R>, be: bool) -> Result<bool, CaptureError> {
    let max = buf.max_record;
    let framed = |d: &[u8]| {
        let len = u32_at(d, 4, be) as usize;
        (d.len() >= 8 && known_block_type(u32_at(d, 0, be)) && len >= 12 && len % 4 == 0)
            .then_some(len)
            .filter(|&len| len <= max)
    };
    if !buf.ensure(12)? {
        return Ok(false);
    }
    let Some(blen) = framed(buf.data()) else {
        return Ok(false);
    };
    if !buf.ensure(blen)? || u32_at(buf.data(), blen - 4, be) as usize != blen {
        return Ok(false);
    }
    if !buf.ensure(blen + 8)? {
        return Ok(true);
    }
    let next = buf.data().get(blen..).unwrap_or(&[]);
    Ok(is_header_word(u32_at(next, 0, false)) || framed(next).is_some())
}

impl<R: Read> FileSource<R> {
    /// A new section: its header is at the front of the buffer.
    pub(super) fn start_section(&mut self, h: Header) {
        self.last_ts = Timestamp::ZERO;
        match h {
            Header::Pcap(l) => {
                self.buf.consume(HEADER_LEN);
                self.stats.sections += 1;
                self.kind = Kind::Pcap(l);
            }
            // The block loop reads the SHB (and counts the section).
            Header::Ng => self.kind = Kind::Ng(NgState::new()),
        }
    }

    /// Damage at the front of the buffer: scans for the next plausible record or header
    /// and reports the damage, or gives up with [`CaptureError::Damaged`]. Sets `done`
    /// when the input ends first.
    #[cold]
    pub(super) fn recover(&mut self, problem: FormatError) -> Result<(), CaptureError> {
        let offset = self.buf.offset();
        self.stats.resyncs += 1;
        let mut skipped = 0u64;
        let limit = self.opts.max_resync_bytes as u64;
        let found = self.scan(&mut skipped, limit);
        self.stats.skipped_bytes += skipped;
        let resumed = found?;
        let damage = Damage {
            offset,
            problem,
            skipped,
            resumed,
        };
        match resumed {
            Resumed::GaveUp => return Err(CaptureError::Damaged(damage)),
            Resumed::End => self.done = true,
            Resumed::Record(_) | Resumed::Header(_) => {}
        }
        if self.damage.len() < MAX_DAMAGE_QUEUED {
            self.damage.push_back(damage);
        }
        Ok(())
    }

    /// The input ended inside the record at the front of the buffer: if plausible
    /// records or a header follow inside it, its length was damage; then the truncation
    /// is undone, the damage reported, and `true` returned (read on).
    #[cold]
    pub(super) fn salvage_tail(&mut self) -> Result<bool, CaptureError> {
        let d = self.buf.data();
        let (hdr, len) = match &self.kind {
            Kind::Pcap(l) => (l.rec_hdr, u32_at(d, 8, l.be)),
            Kind::Ng(ng) => (12, u32_at(d, 4, ng.be)),
        };
        let left = d.len() as u64;
        if d.len() <= hdr {
            return Ok(false);
        }
        if is_header_word(u32_at(d, 0, false)) {
            // A file header whose first word made a plausible length (a big-endian pcap
            // header after big-endian pcapng blocks): captures concatenated, no damage.
            // A cut-short SHB in a pcapng section is the truncation itself (switching to
            // the section it starts would read it again).
            let h = sniff_header(&mut self.buf)?
                .filter(|h| !matches!((h, &self.kind), (Header::Ng, Kind::Ng(_))));
            if let Some(h) = h {
                self.stats.truncated = false;
                self.stats.truncated_bytes = 0;
                self.start_section(h);
                return Ok(true);
            }
        }
        let offset = self.buf.offset();
        let mut skipped = 0u64;
        let resumed = match self.scan(&mut skipped, left) {
            Err(e) => {
                self.done = true;
                return Err(e);
            }
            Ok(r @ (Resumed::Record(_) | Resumed::Header(_))) => r,
            Ok(Resumed::End | Resumed::GaveUp) => return Ok(false),
        };
        self.stats.truncated = false;
        self.stats.truncated_bytes = 0;
        self.stats.resyncs += 1;
        self.stats.skipped_bytes += skipped;
        if self.damage.len() < MAX_DAMAGE_QUEUED {
            self.damage.push_back(Damage {
                offset,
                problem: FormatError::LengthPastEnd { len },
                skipped,
                resumed,
            });
        }
        Ok(true)
    }

    fn scan(&mut self, skipped: &mut u64, limit: u64) -> Result<Resumed, CaptureError> {
        loop {
            if !self.buf.ensure(1)? {
                return Ok(Resumed::End);
            }
            if *skipped >= limit {
                return Ok(Resumed::GaveUp);
            }
            self.buf.consume(1);
            *skipped += 1;
            if !self.buf.ensure(1)? {
                return Ok(Resumed::End);
            }
            let at = self.buf.offset();
            if is_header_word(u32_at(self.buf.data(), 0, false)) {
                if let Some(h) = sniff_header(&mut self.buf)? {
                    self.start_section(h);
                    return Ok(Resumed::Header(at));
                }
            }
            let found = match &self.kind {
                Kind::Pcap(l) => pcap_candidate(&mut self.buf, l, self.last_ts)?,
                Kind::Ng(ng) => ng_candidate(&mut self.buf, ng.be)?,
            };
            if found {
                return Ok(Resumed::Record(at));
            }
        }
    }
}
