//! HPACK (RFC 7541): the header decoder of one direction of an HTTP/2 connection.
//!
//! Contract:
//! - [`Decoder::decode`] takes one complete header block and calls back with each
//!   field as `(name, value)` slices of one reused scratch buffer: no allocation per
//!   field (the scratch buffer, the dynamic table's bytes and its entry list grow to
//!   their high-water mark and are reused).
//! - The dynamic table is a run of bytes (entries appended, the oldest evicted from the
//!   front, compacted when the run reaches the end of its buffer) with one
//!   `(offset, name length, value length)` per entry. Its size is what the encoder's
//!   size updates say, capped by our own hard cap (`Limits::max_hpack_table`, 64 KiB by
//!   default: [`MAX_TABLE`]; an update above it is counted and the table kept at the cap: entries the encoder still holds and we
//!   evicted become unknown references). SETTINGS_HEADER_TABLE_SIZE only bounds what
//!   the encoder may announce ([`Decoder::set_allowed`]): an update above it is counted
//!   as an error, and applied (capped).
//! - Integers never overflow (over `u32`: an error); Huffman strings are checked
//!   (EOS, padding); every error ends the block (the rest cannot be parsed) and is
//!   counted by the caller.
//! - A decoded-header-list budget per block (RFC 7540 6.5.2's size: name + value + 32
//!   per field): fields past it are not handed out ([`Block::over_budget`]), but the
//!   block is still decoded to its end so that the table stays in step with the encoder.
//! - Picked up mid-stream the table is unknown: a reference to a dynamic entry we do
//!   not hold is counted ([`Block::unknown`]) and its field skipped; a literal with an
//!   unknown indexed name is still inserted (with an empty name) so that later indices
//!   stay aligned. Static-table references and literals decode.
//!
//! Why not a crate: `loona-hpack` (the maintained fork of the `hpack` crate of
//! RUSTSEC-2023-0084) allocates a `Vec` per decoded field and has no per-block budget;
//! a passive monitor needs both bounded work per block and no allocation per field.

use super::huffman;
use std::collections::VecDeque;

/// The default hard cap on a dynamic table's size (RFC 7541 size: bytes + 32 per entry).
pub(crate) const MAX_TABLE: usize = 64 << 10;
/// The initial table size (RFC 7540 6.5.2).
pub(crate) const DEFAULT_TABLE: usize = 4096;

/// RFC 7541 Appendix A.
#[rustfmt::skip]
static STATIC: [(&str, &str); 61] = [
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
    (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
    (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
    (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
    ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
    ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
    ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
    ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
    ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
];

/// Why a block could not be decoded to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Error {
    /// The block ends inside a representation.
    Truncated,
    /// An integer over `u32`.
    Overflow,
    /// Index 0.
    BadIndex,
    /// A Huffman string that is not valid code.
    Huffman,
    /// A size update after the first field.
    LateSizeUpdate,
}

/// What decoding one block found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    /// Fields handed to the callback.
    pub fields: u32,
    /// The block went past its budget: later fields were decoded but not handed out.
    pub over_budget: bool,
    /// References to dynamic entries we do not hold (state unknown or evicted at our
    /// cap): their fields were skipped.
    pub unknown: u32,
    /// A size update above the SETTINGS value the decoder's side announced.
    pub over_settings: bool,
    /// A size update above our cap (applied as the cap).
    pub capped: bool,
    pub error: Option<Error>,
}

/// The dynamic table (see the module documentation).
#[derive(Debug, Default)]
struct Table {
    bytes: Vec<u8>,
    /// The oldest live byte in `bytes`.
    start: usize,
    /// `(offset in bytes, name length, value length)`, oldest first.
    entries: VecDeque<(u32, u32, u32)>,
    /// RFC 7541 size of the entries.
    size: usize,
    max: usize,
}

impl Table {
    fn new() -> Self {
        Table {
            max: DEFAULT_TABLE,
            ..Table::default()
        }
    }

    /// Entry `i` (0 = newest): (name, value).
    fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let k = self.entries.len().checked_sub(i + 1)?;
        let (off, n, v) = self.entries[k];
        let (off, n, v) = (off as usize, n as usize, v as usize);
        Some((&self.bytes[off..off + n], &self.bytes[off + n..off + n + v]))
    }

    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            let Some((_, n, v)) = self.entries.pop_front() else {
                break;
            };
            let len = (n + v) as usize;
            self.size -= len + 32;
            self.start += len;
        }
        if self.entries.is_empty() {
            self.bytes.clear();
            (self.start, self.size) = (0, 0);
        }
    }

    fn resize(&mut self, max: usize) {
        self.max = max;
        self.evict_to(max);
    }

    /// Inserts `name ++ value` given as one slice `nv` split at `n`.
    fn insert(&mut self, nv: &[u8], n: usize) {
        let size = nv.len() + 32;
        if size > self.max {
            // RFC 7541 4.4: an entry larger than the table empties it.
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max - size);
        if self.start > 0 && self.bytes.len() + nv.len() > self.bytes.capacity() {
            let start = self.start;
            self.bytes.drain(..start);
            for e in &mut self.entries {
                e.0 -= start as u32;
            }
            self.start = 0;
        }
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(nv);
        self.entries
            .push_back((off, n as u32, (nv.len() - n) as u32));
        self.size += size;
    }

    fn heap_bytes(&self) -> usize {
        crate::budget::heap(self.bytes.capacity())
            + crate::budget::heap(self.entries.capacity() * 12)
    }
}

/// The decoder of one direction (see the module documentation).
#[derive(Debug)]
pub(crate) struct Decoder {
    table: Table,
    /// The largest size SETTINGS_HEADER_TABLE_SIZE of the receiving side allows.
    allowed: usize,
    /// Where each field's name and value are assembled.
    scratch: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            table: Table::new(),
            allowed: DEFAULT_TABLE,
            scratch: Vec::new(),
        }
    }
}

/// Reads an integer with an `n`-bit prefix at `*pos` (RFC 7541 5.1).
fn int(b: &[u8], pos: &mut usize, n: u8) -> Result<u32, Error> {
    let mask = (1u8 << n) - 1;
    let first = b.get(*pos).ok_or(Error::Truncated)? & mask;
    *pos += 1;
    if first < mask {
        return Ok(u32::from(first));
    }
    let mut v = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let c = *b.get(*pos).ok_or(Error::Truncated)?;
        *pos += 1;
        v += u64::from(c & 0x7f) << shift;
        if v > u64::from(u32::MAX) {
            return Err(Error::Overflow);
        }
        if c & 0x80 == 0 {
            return Ok(v as u32);
        }
        shift += 7;
        if shift > 28 {
            return Err(Error::Overflow);
        }
    }
}

/// Appends the string at `*pos` (RFC 7541 5.2) to `out`.
fn string(b: &[u8], pos: &mut usize, out: &mut Vec<u8>) -> Result<(), Error> {
    let huff = b.get(*pos).ok_or(Error::Truncated)? & 0x80 != 0;
    let len = int(b, pos, 7)? as usize;
    let s = b.get(*pos..*pos + len).ok_or(Error::Truncated)?;
    *pos += len;
    if huff {
        huffman::decode(s, out).map_err(|_| Error::Huffman)
    } else {
        out.extend_from_slice(s);
        Ok(())
    }
}

impl Decoder {
    /// The receiving side announced SETTINGS_HEADER_TABLE_SIZE `v`.
    pub fn set_allowed(&mut self, v: u32) {
        self.allowed = v as usize;
    }

    /// Heap bytes held (table, entry list, scratch).
    pub fn heap_bytes(&self) -> usize {
        self.table.heap_bytes() + crate::budget::heap(self.scratch.capacity())
    }

    /// Gives back memory grown by one large block, keeping what a usual one needs.
    pub fn shrink(&mut self) {
        if self.scratch.capacity() > 4096 {
            self.scratch = Vec::new();
        }
    }

    /// Decodes one complete header block; `budget`: header list bytes handed out at most;
    /// `cap`: the largest table size honoured.
    pub fn decode(
        &mut self,
        block: &[u8],
        budget: usize,
        cap: usize,
        f: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Block {
        let mut r = Block::default();
        let mut used = 0usize;
        let mut pos = 0usize;
        let mut first = true;
        while pos < block.len() {
            let b = block[pos];
            let res = if b & 0x80 != 0 && r.over_budget {
                // Past the budget nothing is handed out: an indexed field only adds its
                // size, without copying the entry (a block referencing one large entry
                // thousands of times would otherwise cost its size each time).
                first = false;
                match int(block, &mut pos, 7).and_then(|i| self.entry_len(i as usize)) {
                    Ok(Some(len)) => {
                        used = used.saturating_add(len + 32);
                        continue;
                    }
                    Ok(None) => {
                        r.unknown += 1;
                        continue;
                    }
                    Err(e) => Err(e),
                }
            } else if b & 0x80 != 0 {
                self.indexed(block, &mut pos, &mut r)
            } else if b & 0xe0 == 0x20 {
                if !first {
                    r.error = Some(Error::LateSizeUpdate);
                    break;
                }
                match int(block, &mut pos, 5) {
                    Ok(v) => {
                        let v = v as usize;
                        r.over_settings |= v > self.allowed;
                        r.capped |= v > cap;
                        self.table.resize(v.min(cap));
                        continue;
                    }
                    Err(e) => Err(e),
                }
            } else {
                let (prefix, insert) = if b & 0x40 != 0 { (6, true) } else { (4, false) };
                self.literal(block, &mut pos, prefix, insert, &mut r)
            };
            first = false;
            match res {
                Ok(Some(n)) => {
                    let (name, value) = self.scratch.split_at(n);
                    used = used.saturating_add(name.len() + value.len() + 32);
                    if used > budget {
                        r.over_budget = true;
                    } else {
                        r.fields += 1;
                        f(name, value);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    r.error = Some(e);
                    break;
                }
            }
        }
        r
    }

    /// The size (name + value) of entry `idx` (1-based over both tables), or `None` for
    /// an unknown dynamic entry: [`Self::entry`] without the copy.
    fn entry_len(&self, idx: usize) -> Result<Option<usize>, Error> {
        if idx == 0 {
            return Err(Error::BadIndex);
        }
        if let Some((n, v)) = STATIC.get(idx - 1) {
            return Ok(Some(n.len() + v.len()));
        }
        Ok(self.table.get(idx - 62).map(|(n, v)| n.len() + v.len()))
    }

    /// Puts entry `idx` (1-based over both tables) into the scratch buffer: the name's
    /// length, or `None` for an unknown dynamic entry.
    fn entry(&mut self, idx: usize, name_only: bool) -> Result<Option<usize>, Error> {
        self.scratch.clear();
        if idx == 0 {
            return Err(Error::BadIndex);
        }
        if let Some((n, v)) = STATIC.get(idx - 1) {
            self.scratch.extend_from_slice(n.as_bytes());
            if !name_only {
                self.scratch.extend_from_slice(v.as_bytes());
            }
            return Ok(Some(n.len()));
        }
        match self.table.get(idx - 62) {
            Some((n, v)) => {
                self.scratch.extend_from_slice(n);
                if !name_only {
                    self.scratch.extend_from_slice(v);
                }
                Ok(Some(n.len()))
            }
            None => Ok(None),
        }
    }

    fn indexed(
        &mut self,
        b: &[u8],
        pos: &mut usize,
        r: &mut Block,
    ) -> Result<Option<usize>, Error> {
        let idx = int(b, pos, 7)? as usize;
        let n = self.entry(idx, false)?;
        if n.is_none() {
            r.unknown += 1;
        }
        Ok(n)
    }

    fn literal(
        &mut self,
        b: &[u8],
        pos: &mut usize,
        prefix: u8,
        insert: bool,
        r: &mut Block,
    ) -> Result<Option<usize>, Error> {
        let idx = int(b, pos, prefix)? as usize;
        let name = if idx == 0 {
            self.scratch.clear();
            string(b, pos, &mut self.scratch)?;
            Some(self.scratch.len())
        } else {
            self.entry(idx, true)?
        };
        let n = name.unwrap_or_else(|| {
            self.scratch.clear();
            0
        });
        string(b, pos, &mut self.scratch)?;
        if insert {
            self.table.insert(&self.scratch, n);
        }
        if name.is_none() {
            r.unknown += 1;
        }
        Ok(name)
    }

    /// The table's current size and entry count (tests).
    #[cfg(test)]
    fn table(&self) -> (usize, usize) {
        (self.table.size, self.table.entries.len())
    }
}

#[cfg(test)]
mod tests;
