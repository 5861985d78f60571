//! Header blocks: the end of a head found across buffer boundaries ([`LineState`],
//! [`find_head_end`]), and what the parser needs from the fields ([`HeaderSummary`]),
//! read in one pass ([`each_field`]: `httparse`'s grammar), with obsolete line folding
//! unfolded and a line-by-line salvage of blocks that grammar rejects. Every field is
//! counted, also past `Limits::max_headers`, and the framing fields past it are still
//! honoured. Total over arbitrary input; strings are capped.

use super::*;
use crate::event::{OriginalClient, WireStr};
use crate::http::UpgradeTo;
use crate::preface::forwarded;
use memchr::{memchr, memchr_iter, memmem, memrchr};
use std::sync::LazyLock;

/// What has been seen of the current line, to find the empty line ending a head across
/// buffer boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineState {
    /// At the start of a line.
    Start,
    /// The line so far is a lone CR.
    Cr,
    /// The line has content.
    Content,
}

fn tail_state(st: LineState, tail: &[u8]) -> LineState {
    if tail.is_empty() {
        st
    } else if st == LineState::Start && tail == b"\r" {
        LineState::Cr
    } else {
        LineState::Content
    }
}

/// The line state after `data`, which follows bytes that left the line in `carry`.
pub(crate) fn line_state_after(carry: LineState, data: &[u8]) -> LineState {
    match memrchr(b'\n', data) {
        Some(i) => tail_state(LineState::Start, &data[i + 1..]),
        None => tail_state(carry, data),
    }
}

/// Offset just past the empty line (`LF` or `CRLF`) that ends a head, in `data` which
/// follows bytes that left the current line in state `carry`.
pub(crate) fn find_head_end(carry: LineState, data: &[u8]) -> Option<usize> {
    // A blank line at the very start of `data` continues the line state carried over.
    match (carry, data) {
        (LineState::Start | LineState::Cr, [b'\n', ..]) => return Some(1),
        (LineState::Start, [b'\r', b'\n', ..]) => return Some(2),
        _ => {}
    }
    // Otherwise a blank line is an LF followed by CRLF or by LF. CRLF heads are the common
    // case: find the first `\n\r\n`, then look for an earlier `\n\n` only before it (not
    // through the body that may follow the head).
    static CRLF: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\n\r\n"));
    static LF: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\n\n"));
    let crlf = CRLF.find(data).map(|i| i + 3);
    let within = &data[..crlf.map_or(data.len(), |e| e - 1)];
    match LF.find(within) {
        Some(i) => Some(i + 2),
        None => crlf,
    }
}

/// What the parser needs from a header block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderSummary {
    /// First Host header, capped.
    pub host: Option<WireStr>,
    /// First User-Agent header, capped.
    pub user_agent: Option<WireStr>,
    pub content_length: ContentLength,
    pub transfer_encoding: TransferEncoding,
    /// Header fields seen (all of them, also past the limit).
    pub count: usize,
    /// The block did not parse; fields were salvaged line by line.
    pub malformed: bool,
    /// The block used obsolete line folding (unfolded, then parsed).
    pub obs_fold: bool,
    /// First element of the first `X-Forwarded-For` field (inner `None`: not an address).
    pub x_forwarded_for: Option<Option<OriginalClient>>,
    /// First `for=` of the first `Forwarded` field that has one.
    pub forwarded_for: Option<Option<OriginalClient>>,
    /// What the first `Upgrade` field names (of a 101 response: what the connection
    /// switched to).
    pub upgrade: UpgradeTo,
}

impl HeaderSummary {
    /// The client as the forwarding headers name it: `X-Forwarded-For` (what most
    /// proxies add) when present, else `Forwarded`.
    pub(crate) fn original_client(&self) -> Option<OriginalClient> {
        self.x_forwarded_for.or(self.forwarded_for).flatten()
    }

    /// Counts one header field and keeps what it says if it is one of the seven that
    /// matter. Inlined into the batch loop: most fields are none of them and cost a count
    /// and a length test.
    #[inline]
    pub(super) fn take(&mut self, name: &[u8], value: &[u8], max_headers: usize, max_str: usize) {
        let within = self.count < max_headers;
        self.count = self.count.saturating_add(1);
        if let Some(field) = Field::of(name) {
            self.keep(field, value, within, max_str);
        }
    }

    /// A field that matters (`within`: under the header limit, which the framing fields
    /// ignore).
    fn keep(&mut self, field: Field, value: &[u8], within: bool, max_str: usize) {
        match field {
            Field::Host => {
                if within && self.host.is_none() {
                    self.host = Some(WireStr::capped(value, max_str));
                }
            }
            Field::UserAgent => {
                if within && self.user_agent.is_none() {
                    self.user_agent = Some(WireStr::capped(value, max_str));
                }
            }
            Field::XForwardedFor => {
                if within && self.x_forwarded_for.is_none() {
                    self.x_forwarded_for = Some(forwarded::x_forwarded_for(value));
                }
            }
            Field::Forwarded => {
                if within && self.forwarded_for.is_none() {
                    self.forwarded_for = forwarded::forwarded_for(value);
                }
            }
            Field::Upgrade => {
                if within && self.upgrade == UpgradeTo::Absent {
                    self.upgrade = UpgradeTo::of(value);
                }
            }
            Field::ContentLength => {
                self.content_length = match (self.content_length, parse_cl_value(value)) {
                    (ContentLength::Bad, _) | (_, None) => ContentLength::Bad,
                    (ContentLength::Valid(a), Some(b)) if a != b => ContentLength::Bad,
                    (_, Some(n)) => ContentLength::Valid(n),
                };
            }
            Field::TransferEncoding => {
                let last = value
                    .rsplit(|&b| b == b',')
                    .map(trim_ows)
                    .find(|t| !t.is_empty());
                self.transfer_encoding = match last {
                    Some(t) if t.eq_ignore_ascii_case(b"chunked") => TransferEncoding::Chunked,
                    Some(_) => TransferEncoding::Other,
                    // An empty value does not change what earlier fields said.
                    None if self.transfer_encoding == TransferEncoding::Absent => {
                        TransferEncoding::Other
                    }
                    None => self.transfer_encoding,
                };
            }
        }
    }

    /// More header fields than `max_headers`.
    pub(crate) fn too_many(&self, max_headers: usize) -> bool {
        self.count > max_headers
    }
}

/// The header fields a [`HeaderSummary`] keeps. Each of the seven names has its own
/// length, so the length alone picks the one name a field can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Host,
    UserAgent,
    XForwardedFor,
    Forwarded,
    Upgrade,
    ContentLength,
    TransferEncoding,
}

impl Field {
    /// The field `name` is (ASCII case-insensitive), if it is one of the seven.
    #[inline]
    pub(super) fn of(name: &[u8]) -> Option<Field> {
        const HOST: Pattern = Pattern::new(b"host");
        const UPGRADE: Pattern = Pattern::new(b"upgrade");
        const FORWARDED: Pattern = Pattern::new(b"forwarded");
        const USER_AGENT: Pattern = Pattern::new(b"user-agent");
        const CONTENT_LENGTH: Pattern = Pattern::new(b"content-length");
        const X_FORWARDED_FOR: Pattern = Pattern::new(b"x-forwarded-for");
        const TRANSFER_ENCODING: Pattern = Pattern::new(b"transfer-encoding");
        let (field, pattern) = match name.len() {
            4 => (Field::Host, HOST),
            7 => (Field::Upgrade, UPGRADE),
            9 => (Field::Forwarded, FORWARDED),
            10 => (Field::UserAgent, USER_AGENT),
            14 => (Field::ContentLength, CONTENT_LENGTH),
            15 => (Field::XForwardedFor, X_FORWARDED_FOR),
            17 => (Field::TransferEncoding, TRANSFER_ENCODING),
            _ => return None,
        };
        pattern.matches(name).then_some(field)
    }
}

/// A lowercase name (letters and `-`, 4 to 24 bytes) prepared at compile time for a
/// word-wise, ASCII case-insensitive comparison: three windows of 4 bytes (names under
/// 8 bytes) or 8 bytes, at the start, at the end and at 8 (overlapping), cover it. In
/// each window the case bit (0x20) is set where the name has a letter, so a byte of
/// either case matches a letter and nothing else does, and `-` must match exactly: the
/// same answer as `eq_ignore_ascii_case`.
#[derive(Clone, Copy)]
struct Pattern {
    len: usize,
    wide: bool,
    /// (offset, the name's bytes there, the case bits there), little-endian.
    windows: [(usize, u64, u64); 3],
}

impl Pattern {
    const fn new(lower: &[u8]) -> Pattern {
        let len = lower.len();
        assert!(len >= 4 && len <= 24);
        let wide = len >= 8;
        let w = if wide { 8 } else { 4 };
        let mid = if len - w < 8 { len - w } else { 8 };
        Pattern {
            len,
            wide,
            windows: [
                Self::window(lower, 0, w),
                Self::window(lower, mid, w),
                Self::window(lower, len - w, w),
            ],
        }
    }

    const fn window(lower: &[u8], at: usize, w: usize) -> (usize, u64, u64) {
        let (mut word, mut case) = (0u64, 0u64);
        let mut k = 0;
        while k < w {
            let b = lower[at + k];
            assert!(b.is_ascii_lowercase() || b == b'-');
            word |= (b as u64) << (8 * k);
            if b.is_ascii_lowercase() {
                case |= 0x20 << (8 * k);
            }
            k += 1;
        }
        (at, word, case)
    }

    #[inline(always)]
    fn matches(&self, name: &[u8]) -> bool {
        name.len() == self.len
            && self.windows.iter().all(|&(at, word, case)| {
                load(name, at, self.wide).is_some_and(|got| got | case == word)
            })
    }
}

/// The 8 (`wide`) or 4 bytes of `b` from `at`, little-endian; `None` past the end.
#[inline(always)]
fn load(b: &[u8], at: usize, wide: bool) -> Option<u64> {
    if wide {
        let w: [u8; 8] = b.get(at..)?.get(..8)?.try_into().ok()?;
        Some(u64::from_le_bytes(w))
    } else {
        let w: [u8; 4] = b.get(at..)?.get(..4)?.try_into().ok()?;
        Some(u64::from(u32::from_le_bytes(w)))
    }
}

/// Parses a complete header block (the bytes after the start line, through the empty
/// line) by [`each_field`]. Obsolete line folding is replaced by spaces (RFC 9112 §5.2)
/// and the block parsed again; a block that still fails is salvaged line by line
/// (`name: value` lines) and marked malformed.
pub(crate) fn scan_headers(block: &[u8], max_headers: usize, max_str: usize) -> HeaderSummary {
    let mut s = HeaderSummary::default();
    if scan_clean_block(block, max_headers, max_str, &mut s).is_some() {
        return s;
    }
    if has_obs_fold(block) {
        let unfolded = unfold(block);
        let mut s = HeaderSummary {
            obs_fold: true,
            ..HeaderSummary::default()
        };
        if scan_clean_block(&unfolded, max_headers, max_str, &mut s).is_some() {
            return s;
        }
    }
    let mut s = salvage_headers(block, max_headers, max_str);
    s.malformed = true;
    s
}

/// A header block that [`each_field`] reads as it stands (the common case), in one pass:
/// returns the offset just past the blank line that ends it and the summary, exactly
/// what [`find_head_end`] (from a line start) and [`scan_headers`] give for it (the
/// summary written into `s`, which must be fresh: filled in place, it is not moved
/// around per head). `None` when the block is not complete yet or does not parse as it
/// stands (obs-fold, bad bytes...): those take the general path (and `s` is to be
/// ignored).
pub(crate) fn scan_clean_block(
    block: &[u8],
    max_headers: usize,
    max_str: usize,
    s: &mut HeaderSummary,
) -> Option<usize> {
    each_field(block, |name, value| {
        s.take(name, value, max_headers, max_str)
    })
}

fn has_obs_fold(block: &[u8]) -> bool {
    memchr_iter(b'\n', block).any(|i| block.get(i + 1).is_some_and(|&b| is_ows(b)))
}

/// Replaces each obs-fold (`(CR)LF` followed by SP/HTAB) by spaces, keeping the length.
fn unfold(block: &[u8]) -> Vec<u8> {
    let mut out = block.to_vec();
    for i in memchr_iter(b'\n', block) {
        if block.get(i + 1).is_some_and(|&b| is_ows(b)) {
            out[i] = b' ';
            if i > 0 && block[i - 1] == b'\r' {
                out[i - 1] = b' ';
            }
        }
    }
    out
}

/// Lenient reading of a header block that [`each_field`] rejected or that was cut short:
/// every `name: value` line whose name is a token counts; other lines are skipped. A
/// last line without LF is read too.
pub(crate) fn salvage_headers(block: &[u8], max_headers: usize, max_str: usize) -> HeaderSummary {
    let mut s = HeaderSummary::default();
    for line in block.split(|&b| b == b'\n') {
        let line = trim_eol(line);
        if line.first().is_some_and(|&b| is_ows(b)) {
            continue;
        }
        let Some(colon) = memchr(b':', line) else {
            continue;
        };
        let name = trim_ows(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            continue;
        }
        s.take(name, trim_ows(&line[colon + 1..]), max_headers, max_str);
    }
    s
}
