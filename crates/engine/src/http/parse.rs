//! HTTP/1.x syntax over untrusted bytes: start lines, the resumable start-line detector
//! used to (re)synchronise, the end-of-head finder, header blocks (through `httparse`),
//! Content-Length / Transfer-Encoding values, and the chunked framing state machine.
//!
//! Contract: every function here is total over arbitrary input (no panic, no unbounded
//! allocation: the only copies are capped strings and, for a head with obsolete line
//! folding, one copy of that head, itself capped by the caller). Scanners that keep state
//! across calls ([`LineScan`], [`Chunk`], [`LineState`]) give the same answer whatever
//! way their input is split.

use crate::event::{Version, WireStr};
use memchr::{memchr, memchr_iter, memmem, memrchr};
use std::sync::LazyLock;

/// Headers parsed per `httparse` call (a stack array of this many `EMPTY_HEADER`s, reset
/// per head: kept small because most heads have fewer than 20 fields). A head with more
/// is parsed in further batches, so that the count is exact and framing headers past
/// `Limits::max_headers` are still honoured.
pub(crate) const HEADER_BATCH: usize = 16;

/// Longest method accepted when recognising a request line without prior sync.
pub(crate) const MAX_HUNT_METHOD: u8 = 20;

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Strips one trailing LF and then one trailing CR.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_ows(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_ows(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// `HTTP/d.d`, exactly.
pub(crate) fn parse_version(v: &[u8]) -> Option<Version> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', maj, b'.', min]
            if maj.is_ascii_digit() && min.is_ascii_digit() =>
        {
            Some(Version {
                major: maj - b'0',
                minor: min - b'0',
            })
        }
        _ => None,
    }
}

/// A request line that parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestLine<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    /// 0.9 for a line without version (`GET /path`).
    pub version: Version,
    /// HTTP/0.9 simple request: no version, no header block follows.
    pub simple: bool,
    /// The line is not well formed (no version, or a broken one) but names a method.
    pub malformed: bool,
}

/// Why a request line did not parse. `method`/`target` are what could be read (a token
/// followed by a space, and the rest of the line).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadRequestLine<'a> {
    pub method: Option<&'a [u8]>,
    pub target: &'a [u8],
}

/// Parses a request line on a synchronised stream (lenient: any token method, runs of
/// spaces, spaces inside the target, control bytes kept). `line` may or may not end in
/// (CR)LF. A line without version is HTTP/0.9 only for `GET` with a non-empty target.
pub(crate) fn parse_request_line(line: &[u8]) -> Result<RequestLine<'_>, BadRequestLine<'_>> {
    let line = trim_eol(line);
    let m = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    if m == 0 || (line.get(m) != Some(&b' ') && !(m == line.len() && is_known_method(&line[..m]))) {
        return Err(BadRequestLine {
            method: None,
            target: b"",
        });
    }
    let method = &line[..m];
    if m == line.len() && is_known_method(method) {
        // `OPTIONS` alone on its line.
        return Ok(RequestLine {
            method,
            target: b"",
            version: Version::default(),
            simple: false,
            malformed: true,
        });
    }
    let rest = &line[m..];
    let rest = &rest[rest.iter().position(|&b| b != b' ').unwrap_or(rest.len())..];
    let rest = &rest[..rest.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1)];
    let bad = |target| {
        Err(BadRequestLine {
            method: Some(method),
            target,
        })
    };
    match memrchr(b' ', rest) {
        Some(sp) => {
            let target = &rest[..sp];
            let target = &target[..target.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1)];
            match parse_version(&rest[sp + 1..]) {
                Some(version) if !target.is_empty() => Ok(RequestLine {
                    method,
                    target,
                    version,
                    simple: false,
                    malformed: false,
                }),
                // `GET / HTTP/1.` and the like: a request with a broken version.
                _ if is_known_method(method) => Ok(RequestLine {
                    method,
                    target,
                    version: Version::default(),
                    simple: false,
                    malformed: true,
                }),
                _ => bad(target),
            }
        }
        // No version: an HTTP/0.9-style line. tshark (and servers, which answer 400)
        // treat what follows as header lines, so the head still runs to the blank line.
        None if is_known_method(method) => Ok(RequestLine {
            method,
            target: rest,
            version: Version { major: 0, minor: 9 },
            simple: false,
            malformed: true,
        }),
        None => bad(rest),
    }
}

/// Methods recognised by name (RFC 9110, WebDAV and its extensions, UPnP/SSDP, and a
/// few vendor methods tshark also knows). A line starting with one of these followed by a
/// space or the line end is taken for a request line even when the rest is malformed:
/// scanners and attackers send such lines, and servers answer them.
pub(crate) const KNOWN_METHODS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"PUT",
    b"DELETE",
    b"CONNECT",
    b"OPTIONS",
    b"TRACE",
    b"PATCH",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"CHECKOUT",
    b"CHECKIN",
    b"UNCHECKOUT",
    b"MERGE",
    b"MKACTIVITY",
    b"MKWORKSPACE",
    b"VERSION-CONTROL",
    b"BASELINE-CONTROL",
    b"UPDATE",
    b"LABEL",
    b"ACL",
    b"BIND",
    b"UNBIND",
    b"REBIND",
    b"ORDERPATCH",
    b"MKCALENDAR",
    b"MKREDIRECTREF",
    b"UPDATEREDIRECTREF",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
    b"M-SEARCH",
    b"POLL",
    b"BMOVE",
    b"BDELETE",
    b"BPROPFIND",
    b"BPROPPATCH",
    b"BCOPY",
    b"X-MS-ENUMATTS",
    b"CCM_POST",
    b"RPC_IN_DATA",
    b"RPC_OUT_DATA",
    b"PURGE",
    b"LINK",
    b"UNLINK",
];

pub(crate) fn is_known_method(m: &[u8]) -> bool {
    KNOWN_METHODS.contains(&m)
}

/// A status line that parsed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) struct StatusLine {
    pub version: Version,
    pub code: u16,
}

/// `HTTP/d.d SP+ ddd [SP reason]`, with or without the (CR)LF.
pub(crate) fn parse_status_line(line: &[u8]) -> Option<StatusLine> {
    let line = trim_eol(line);
    let version = parse_version(line.get(..8)?)?;
    let rest = line.get(8..)?;
    let sp = rest.iter().position(|&b| b != b' ')?;
    if sp == 0 {
        return None;
    }
    let rest = &rest[sp..];
    let code = match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return None,
    };
    match rest.get(3) {
        None | Some(b' ') | Some(b'\t') => Some(StatusLine { version, code }),
        _ => None,
    }
}

/// Which start line a position can begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StartKind {
    Request,
    Status,
}

/// The answer of [`LineScan`] so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    No,
    Maybe,
    Yes(StartKind),
}

/// Which start lines a hunting side accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Want {
    pub request: bool,
    pub status: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rq {
    Method(u8),
    TargetFirst,
    Target,
    Ver(u8),
    Cr,
    Yes,
    No,
}

/// Resumable recogniser of a plausible start line at a line start, used without prior
/// sync (stream start, after a gap or a malformed message). Request line: a known method
/// ([`KNOWN_METHODS`]) followed by SP or the line end, or
/// `[A-Z_-]{1,20} SP target SP HTTP/d.d (CR)LF` with a target free of spaces and control
/// bytes. Status line: `HTTP/d.d SP ddd` then SP, CR or LF. Byte-at-a-time state: the
/// verdict for a prefix is the same however the prefix was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineScan {
    rq: Rq,
    /// The method so far, to recognise known methods (see [`KNOWN_METHODS`]).
    mbuf: [u8; MAX_HUNT_METHOD as usize],
    /// Bytes of `HTTP/d.d SP ddd` matched; 13 = yes, 255 = no.
    st: u8,
}

const ST_YES: u8 = 13;
const ST_NO: u8 = 255;

impl LineScan {
    pub(crate) const fn new() -> Self {
        LineScan {
            rq: Rq::Method(0),
            mbuf: [0; MAX_HUNT_METHOD as usize],
            st: 0,
        }
    }

    /// A candidate that can only be a status line (it starts mid-line).
    pub(crate) const fn status_only() -> Self {
        LineScan {
            rq: Rq::No,
            mbuf: [0; MAX_HUNT_METHOD as usize],
            st: 0,
        }
    }

    fn step_rq(s: Rq, b: u8) -> Rq {
        match s {
            Rq::Method(n) => {
                if b.is_ascii_uppercase() || b == b'_' || b == b'-' {
                    if n >= MAX_HUNT_METHOD {
                        Rq::No
                    } else {
                        Rq::Method(n + 1)
                    }
                } else if b == b' ' && n > 0 {
                    Rq::TargetFirst
                } else {
                    Rq::No
                }
            }
            Rq::TargetFirst | Rq::Target => {
                if b == b' ' {
                    if s == Rq::Target {
                        Rq::Ver(0)
                    } else {
                        Rq::No
                    }
                } else if b < 0x20 || b == 0x7f {
                    Rq::No
                } else {
                    Rq::Target
                }
            }
            Rq::Ver(k) => {
                let ok = match k {
                    0..=4 => b == b"HTTP/"[usize::from(k)],
                    5 | 7 => b.is_ascii_digit(),
                    6 => b == b'.',
                    _ => {
                        return match b {
                            b'\r' => Rq::Cr,
                            b'\n' => Rq::Yes,
                            _ => Rq::No,
                        }
                    }
                };
                if ok {
                    Rq::Ver(k + 1)
                } else {
                    Rq::No
                }
            }
            Rq::Cr => {
                if b == b'\n' {
                    Rq::Yes
                } else {
                    Rq::No
                }
            }
            Rq::Yes | Rq::No => s,
        }
    }

    fn step_st(k: u8, b: u8) -> u8 {
        let ok = match k {
            0..=4 => b == b"HTTP/"[usize::from(k)],
            5 | 7 | 9 | 10 | 11 => b.is_ascii_digit(),
            6 => b == b'.',
            8 => b == b' ',
            12 => matches!(b, b' ' | b'\r' | b'\n'),
            _ => return k,
        };
        if ok {
            k + 1
        } else {
            ST_NO
        }
    }

    fn verdict(&self, want: Want) -> Verdict {
        if want.status && self.st == ST_YES {
            return Verdict::Yes(StartKind::Status);
        }
        if want.request && self.rq == Rq::Yes {
            return Verdict::Yes(StartKind::Request);
        }
        let rq_no = !want.request || self.rq == Rq::No;
        let st_no = !want.status || self.st == ST_NO;
        if rq_no && st_no {
            Verdict::No
        } else {
            Verdict::Maybe
        }
    }

    /// Feeds bytes until the verdict is decided. Returns the bytes used (up to and
    /// including the deciding byte) and the verdict.
    pub(crate) fn feed(&mut self, data: &[u8], want: Want) -> (usize, Verdict) {
        let v = self.verdict(want);
        if v != Verdict::Maybe {
            return (0, v);
        }
        for (i, &b) in data.iter().enumerate() {
            if want.request {
                self.rq = match self.rq {
                    // A known method followed by a space or the line end is a request
                    // line, however malformed the rest is.
                    Rq::Method(n)
                        if n > 0
                            && matches!(b, b' ' | b'\r' | b'\n')
                            && is_known_method(&self.mbuf[..usize::from(n)]) =>
                    {
                        Rq::Yes
                    }
                    Rq::Method(n) => {
                        if let Some(slot) = self.mbuf.get_mut(usize::from(n)) {
                            *slot = b;
                        }
                        Self::step_rq(self.rq, b)
                    }
                    rq => Self::step_rq(rq, b),
                };
            }
            if want.status {
                self.st = Self::step_st(self.st, b);
            }
            let v = self.verdict(want);
            if v != Verdict::Maybe {
                return (i + 1, v);
            }
        }
        (data.len(), Verdict::Maybe)
    }
}

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

/// The value of the Content-Length headers of one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ContentLength {
    #[default]
    Absent,
    Valid(u64),
    /// Not a number, negative, over `u64`, or several different values.
    Bad,
}

/// The Transfer-Encoding headers of one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    #[default]
    Absent,
    /// `chunked` is the final coding.
    Chunked,
    /// Present, but `chunked` is not the final coding.
    Other,
}

fn parse_cl_value(v: &[u8]) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = trim_ows(part);
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut n: u64 = 0;
        for &d in part {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        match out {
            Some(prev) if prev != n => return None,
            _ => out = Some(n),
        }
    }
    out
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
}

impl HeaderSummary {
    fn take(&mut self, name: &[u8], value: &[u8], max_headers: usize, max_str: usize) {
        let within = self.count < max_headers;
        self.count = self.count.saturating_add(1);
        // Only four names matter; length and first letter tell them apart before any
        // comparison (Date, Connection and the like are common and skipped here).
        let first = match (name.len(), name.first()) {
            (4 | 10 | 14 | 17, Some(&b)) => b | 0x20,
            _ => return,
        };
        if !matches!(
            (name.len(), first),
            (4, b'h') | (10, b'u') | (14, b'c') | (17, b't')
        ) {
            return;
        }
        if name.eq_ignore_ascii_case(b"host") {
            if within && self.host.is_none() {
                self.host = Some(WireStr::capped(value, max_str));
            }
        } else if name.eq_ignore_ascii_case(b"user-agent") {
            if within && self.user_agent.is_none() {
                self.user_agent = Some(WireStr::capped(value, max_str));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            self.content_length = match (self.content_length, parse_cl_value(value)) {
                (ContentLength::Bad, _) | (_, None) => ContentLength::Bad,
                (ContentLength::Valid(a), Some(b)) if a != b => ContentLength::Bad,
                (_, Some(n)) => ContentLength::Valid(n),
            };
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
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

    /// More header fields than `max_headers`.
    pub(crate) fn too_many(&self, max_headers: usize) -> bool {
        self.count > max_headers
    }
}

/// Parses a complete header block (the bytes after the start line, through the empty
/// line) with `httparse`. Obsolete line folding is replaced by spaces (RFC 9112 §5.2)
/// and the block parsed again; a block that still fails is salvaged line by line
/// (`name: value` lines) and marked malformed.
pub(crate) fn scan_headers(block: &[u8], max_headers: usize, max_str: usize) -> HeaderSummary {
    let mut s = HeaderSummary::default();
    if parse_batches(block, max_headers, max_str, &mut s).is_ok() {
        return s;
    }
    if has_obs_fold(block) {
        let unfolded = unfold(block);
        let mut s = HeaderSummary {
            obs_fold: true,
            ..HeaderSummary::default()
        };
        if parse_batches(&unfolded, max_headers, max_str, &mut s).is_ok() {
            return s;
        }
    }
    let mut s = salvage_headers(block, max_headers, max_str);
    s.malformed = true;
    s
}

/// Feeds every field of `block` to `s`; returns the offset just past the blank line.
fn parse_batches(
    block: &[u8],
    max_headers: usize,
    max_str: usize,
    s: &mut HeaderSummary,
) -> Result<usize, ()> {
    let mut off = 0;
    loop {
        let rest = block.get(off..).ok_or(())?;
        let mut arr = [httparse::EMPTY_HEADER; HEADER_BATCH];
        match httparse::parse_headers(rest, &mut arr) {
            Ok(httparse::Status::Complete((n, hs))) => {
                for h in hs {
                    s.take(h.name.as_bytes(), h.value, max_headers, max_str);
                }
                return Ok(off + n);
            }
            Err(httparse::Error::TooManyHeaders) => {
                for h in &arr {
                    s.take(h.name.as_bytes(), h.value, max_headers, max_str);
                }
                // Resume after the line of the last header of this batch.
                let last = arr[HEADER_BATCH - 1].value;
                let start = (last.as_ptr() as usize)
                    .checked_sub(rest.as_ptr() as usize)
                    .ok_or(())?;
                let end = start.checked_add(last.len()).ok_or(())?;
                let nl = memchr(b'\n', rest.get(end..).ok_or(())?).ok_or(())?;
                off += end + nl + 1;
            }
            Ok(httparse::Status::Partial) | Err(_) => return Err(()),
        }
    }
}

/// A header block that `httparse` reads as it stands (the common case), in one pass:
/// returns the offset just past the blank line that ends it and the summary, exactly
/// what [`find_head_end`] (from a line start) and [`scan_headers`] give for it. `None`
/// when the block is not complete yet or does not parse as it stands (obs-fold, bad
/// bytes...): those take the general path.
pub(crate) fn scan_clean_block(
    block: &[u8],
    max_headers: usize,
    max_str: usize,
) -> Option<(usize, HeaderSummary)> {
    let mut s = HeaderSummary::default();
    let end = parse_batches(block, max_headers, max_str, &mut s).ok()?;
    Some((end, s))
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

/// Lenient reading of a header block that `httparse` rejected or that was cut short:
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

/// Splits an absolute-form target (`scheme://authority/path`) into authority (without
/// userinfo) and path (`/` when empty; a query without path gets a leading `/`).
pub(crate) fn split_absolute(target: &[u8]) -> Option<(&[u8], std::borrow::Cow<'_, [u8]>)> {
    let colon = memchr(b':', target)?;
    let scheme = &target[..colon];
    if scheme.is_empty()
        || !scheme[0].is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    {
        return None;
    }
    let after = target[colon..].strip_prefix(b"://")?;
    let end = after
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(after.len());
    let authority = &after[..end];
    let authority = match memrchr(b'@', authority) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let path = &after[end..];
    let path = if path.is_empty() {
        std::borrow::Cow::Borrowed(&b"/"[..])
    } else if path[0] == b'/' {
        std::borrow::Cow::Borrowed(path)
    } else {
        let mut p = Vec::with_capacity(path.len() + 1);
        p.push(b'/');
        p.extend_from_slice(path);
        std::borrow::Cow::Owned(p)
    };
    Some((authority, path))
}

/// Chunked transfer coding, one byte class at a time; never buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading the hex chunk size: digits seen, value so far.
    Size { digits: u32, val: u64 },
    /// Whitespace after the size.
    SizeWs { val: u64 },
    /// Skipping a chunk extension up to LF.
    Ext { val: u64 },
    /// CR after the size line, LF expected.
    SizeLf { val: u64 },
    /// Chunk data left.
    Data { left: u64 },
    /// After chunk data: CR or LF expected.
    DataCr,
    /// After chunk data and CR: LF expected.
    DataLf,
    /// After the last chunk: trailer lines up to the empty line.
    Trailer { line: LineState },
}

/// Result of feeding [`Chunk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkStep {
    /// All input consumed, message not finished.
    More,
    /// Message finished after this many bytes.
    Done(usize),
    /// Framing error at this many bytes (bytes up to and including the bad one).
    Bad(usize),
}

impl Chunk {
    pub(crate) const START: Chunk = Chunk::Size { digits: 0, val: 0 };

    fn size_line_end(val: u64) -> Chunk {
        if val == 0 {
            Chunk::Trailer {
                line: LineState::Start,
            }
        } else {
            Chunk::Data { left: val }
        }
    }

    /// The last chunk was seen (only trailers or the final CRLF are missing).
    pub(crate) fn in_trailer(&self) -> bool {
        matches!(self, Chunk::Trailer { .. })
    }

    pub(crate) fn feed(&mut self, data: &[u8]) -> ChunkStep {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match *self {
                Chunk::Data { left } => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(data.len() - i);
                    i += n;
                    let left = left - n as u64;
                    *self = if left == 0 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data { left }
                    };
                    continue;
                }
                Chunk::Ext { val } => match memchr(b'\n', &data[i..]) {
                    Some(k) => {
                        i += k + 1;
                        *self = Self::size_line_end(val);
                        continue;
                    }
                    None => return ChunkStep::More,
                },
                Chunk::Trailer { line } => match find_head_end(line, &data[i..]) {
                    Some(e) => return ChunkStep::Done(i + e),
                    None => {
                        *self = Chunk::Trailer {
                            line: line_state_after(line, &data[i..]),
                        };
                        return ChunkStep::More;
                    }
                },
                Chunk::Size { digits, val } => {
                    let d = match b {
                        b'0'..=b'9' => Some(b - b'0'),
                        b'a'..=b'f' => Some(b - b'a' + 10),
                        b'A'..=b'F' => Some(b - b'A' + 10),
                        _ => None,
                    };
                    *self = match (d, digits) {
                        (Some(d), _) => match val
                            .checked_mul(16)
                            .and_then(|v| v.checked_add(u64::from(d)))
                        {
                            Some(val) => Chunk::Size {
                                digits: digits.saturating_add(1),
                                val,
                            },
                            None => return ChunkStep::Bad(i + 1),
                        },
                        (None, 0) => return ChunkStep::Bad(i + 1),
                        (None, _) => match b {
                            b' ' | b'\t' => Chunk::SizeWs { val },
                            b';' => Chunk::Ext { val },
                            b'\r' => Chunk::SizeLf { val },
                            b'\n' => Self::size_line_end(val),
                            _ => return ChunkStep::Bad(i + 1),
                        },
                    };
                }
                Chunk::SizeWs { val } => {
                    *self = match b {
                        b' ' | b'\t' => Chunk::SizeWs { val },
                        b';' => Chunk::Ext { val },
                        b'\r' => Chunk::SizeLf { val },
                        b'\n' => Self::size_line_end(val),
                        _ => return ChunkStep::Bad(i + 1),
                    };
                }
                Chunk::SizeLf { val } => {
                    if b != b'\n' {
                        return ChunkStep::Bad(i + 1);
                    }
                    *self = Self::size_line_end(val);
                }
                Chunk::DataCr => {
                    *self = match b {
                        b'\r' => Chunk::DataLf,
                        b'\n' => Chunk::START,
                        _ => return ChunkStep::Bad(i + 1),
                    };
                }
                Chunk::DataLf => {
                    if b != b'\n' {
                        return ChunkStep::Bad(i + 1);
                    }
                    *self = Chunk::START;
                }
            }
            i += 1;
        }
        ChunkStep::More
    }

    /// A gap of `n` bytes. `Ok(())` when it falls inside chunk data of known size (framing
    /// kept); otherwise `Err(bytes of the gap that belonged to this message, if known)`.
    pub(crate) fn gap(&mut self, n: u64) -> Result<(), u64> {
        match *self {
            Chunk::Data { left } if n <= left => {
                *self = if n == left {
                    Chunk::DataCr
                } else {
                    Chunk::Data { left: left - n }
                };
                Ok(())
            }
            Chunk::Data { left } => Err(left),
            _ => Err(0),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn v(major: u8, minor: u8) -> Version {
        Version { major, minor }
    }

    #[test]
    fn request_lines() {
        let ok = |l: &'static [u8]| parse_request_line(l).ok();
        assert_eq!(
            ok(b"GET / HTTP/1.1\r\n"),
            Some(RequestLine {
                method: b"GET",
                target: b"/",
                version: v(1, 1),
                simple: false,
                malformed: false
            })
        );
        assert_eq!(
            ok(b"CCM_POST /x HTTP/1.0\n"),
            Some(RequestLine {
                method: b"CCM_POST",
                target: b"/x",
                version: v(1, 0),
                simple: false,
                malformed: false
            })
        );
        assert_eq!(
            ok(b"GET /old\r\n"),
            Some(RequestLine {
                method: b"GET",
                target: b"/old",
                version: v(0, 9),
                simple: false,
                malformed: true
            })
        );
        assert_eq!(
            ok(b"get  /a b  HTTP/1.1").map(|r| r.target),
            Some(&b"/a b"[..])
        );
        // Known methods make a (malformed) request of a broken line, as tshark does.
        let malformed = |l: &'static [u8]| ok(l).map(|r| (r.method, r.target, r.malformed));
        assert_eq!(
            malformed(b"POST /old\r\n"),
            Some((&b"POST"[..], &b"/old"[..], true))
        );
        assert_eq!(
            malformed(b"GET / HTTP/1.1x\r\n"),
            Some((&b"GET"[..], &b"/"[..], true))
        );
        assert_eq!(
            malformed(b"OPTIONS\r\n"),
            Some((&b"OPTIONS"[..], &b""[..], true))
        );
        assert!(ok(b"FOO /old\r\n").is_none());
        assert!(ok(b"FOO\r\n").is_none());
        assert!(ok(b" GET / HTTP/1.1\r\n").is_none());
        assert!(ok(b"").is_none());
        assert_eq!(
            parse_request_line(b"FOO / HTTP/x\r\n"),
            Err(BadRequestLine {
                method: Some(b"FOO"),
                target: b"/"
            })
        );
        assert_eq!(
            parse_request_line(b"\x16\x03"),
            Err(BadRequestLine {
                method: None,
                target: b""
            })
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\n"),
            Some(StatusLine {
                version: v(1, 1),
                code: 200
            })
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.0 404\n"),
            Some(StatusLine {
                version: v(1, 0),
                code: 404
            })
        );
        assert_eq!(
            parse_status_line(b"HTTP/1.1  204 x"),
            Some(StatusLine {
                version: v(1, 1),
                code: 204
            })
        );
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1200 OK"), None);
        assert_eq!(parse_status_line(b"HTTP/1."), None);
    }

    fn scan_all(bytes: &[u8], want: Want) -> Verdict {
        LineScan::new().feed(bytes, want).1
    }

    #[test]
    fn line_scan_verdicts_are_split_independent() {
        let both = Want {
            request: true,
            status: true,
        };
        let cases: &[(&[u8], Verdict)] = &[
            (b"GET / HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
            (b"M-SEARCH * HTTP/1.1\n", Verdict::Yes(StartKind::Request)),
            (b"HTTP/1.1 200 OK\r\n", Verdict::Yes(StartKind::Status)),
            (b"HTTP/1.0 304\r\n", Verdict::Yes(StartKind::Status)),
            (b"get / HTTP/1.1\r\n", Verdict::No),
            (b"\x16\x03\x01", Verdict::No),
            (b"SSH-2.0-OpenSSH\r\n", Verdict::No),
            (b"GET /a b HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
            (b"FOO /a b HTTP/1.1\r\n", Verdict::No),
            (b"GET /\x01 HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
            (b"FOO /\x01 HTTP/1.1\r\n", Verdict::No),
            (b"GET / HTTP/1.1x", Verdict::Yes(StartKind::Request)),
            (b"FOO / HTTP/1.1x", Verdict::No),
            (b"OPTIONS\n", Verdict::Yes(StartKind::Request)),
            (b"GET/ HTTP/1.1\r\n", Verdict::No),
            (b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n", Verdict::No),
            (
                b"ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\n",
                Verdict::Yes(StartKind::Request),
            ),
            (b"FOO / HTTP/1.", Verdict::Maybe),
            (b"", Verdict::Maybe),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                scan_all(bytes, both),
                *want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
            let mut s = LineScan::new();
            let mut last = Verdict::Maybe;
            for b in bytes.iter() {
                let (_, v) = s.feed(std::slice::from_ref(b), both);
                if v != Verdict::Maybe {
                    last = v;
                    break;
                }
            }
            assert_eq!(last, *want);
        }
        let req_only = Want {
            request: true,
            status: false,
        };
        assert_eq!(scan_all(b"HTTP/1.1 200 OK\r\n", req_only), Verdict::No);
    }

    #[test]
    fn head_end_across_boundaries() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        assert_eq!(find_head_end(LineState::Content, head), Some(27));
        for split in 0..head.len() {
            let (a, b) = head.split_at(split);
            let found = match find_head_end(LineState::Content, a) {
                Some(e) => Some(e),
                None => {
                    find_head_end(line_state_after(LineState::Content, a), b).map(|e| e + split)
                }
            };
            assert_eq!(found, Some(27), "split {split}");
        }
        assert_eq!(
            find_head_end(LineState::Content, b"GET / HTTP/1.1\n\n"),
            Some(16)
        );
        assert_eq!(
            find_head_end(LineState::Content, b"GET / HTTP/1.1\r\n\r\r\n"),
            None
        );
    }

    #[test]
    fn content_length_values() {
        let cl = |v: &[u8]| {
            let mut s = HeaderSummary::default();
            s.take(b"Content-Length", v, 10, 10);
            s.content_length
        };
        assert_eq!(cl(b"0"), ContentLength::Valid(0));
        assert_eq!(cl(b"18446744073709551615"), ContentLength::Valid(u64::MAX));
        assert_eq!(cl(b"18446744073709551616"), ContentLength::Bad);
        assert_eq!(cl(b"-1"), ContentLength::Bad);
        assert_eq!(cl(b"+1"), ContentLength::Bad);
        assert_eq!(cl(b""), ContentLength::Bad);
        assert_eq!(cl(b"5, 5"), ContentLength::Valid(5));
        assert_eq!(cl(b"5, 6"), ContentLength::Bad);
        assert_eq!(cl(b"0x10"), ContentLength::Bad);
        let mut s = HeaderSummary::default();
        s.take(b"content-length", b"5", 10, 10);
        s.take(b"CONTENT-LENGTH", b"5", 10, 10);
        assert_eq!(s.content_length, ContentLength::Valid(5));
        s.take(b"content-length", b"6", 10, 10);
        assert_eq!(s.content_length, ContentLength::Bad);
    }

    #[test]
    fn transfer_encoding_values() {
        let te = |vals: &[&[u8]]| {
            let mut s = HeaderSummary::default();
            for v in vals {
                s.take(b"Transfer-Encoding", v, 10, 10);
            }
            s.transfer_encoding
        };
        assert_eq!(te(&[b"chunked"]), TransferEncoding::Chunked);
        assert_eq!(te(&[b"gzip, Chunked"]), TransferEncoding::Chunked);
        assert_eq!(te(&[b"chunked, gzip"]), TransferEncoding::Other);
        assert_eq!(te(&[b"gzip", b"chunked"]), TransferEncoding::Chunked);
        assert_eq!(te(&[b"identity"]), TransferEncoding::Other);
    }

    #[test]
    fn headers_obs_fold_and_salvage() {
        let s = scan_headers(b"Host: a\r\nUser-Agent: x\r\n  y\r\n\r\n", 10, 100);
        assert!(s.obs_fold && !s.malformed);
        assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"a".to_vec()));
        assert_eq!(
            s.user_agent.map(|h| h.bytes.to_vec()),
            Some(b"x    y".to_vec())
        );
        let s = scan_headers(b"Host: a\x1bb\r\nContent-Length: 3\r\n\r\n", 10, 100);
        assert!(s.malformed);
        assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"a\x1bb".to_vec()));
        assert_eq!(s.content_length, ContentLength::Valid(3));
    }

    #[test]
    fn headers_past_one_batch_keep_framing() {
        let mut block = Vec::new();
        for i in 0..300 {
            block.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        block.extend_from_slice(b"Content-Length: 7\r\nHost: late\r\n\r\n");
        let s = scan_headers(&block, 128, 100);
        assert_eq!(s.count, 302);
        assert!(s.too_many(128) && !s.malformed);
        assert_eq!(s.content_length, ContentLength::Valid(7));
        assert_eq!(s.host, None);
        let s = scan_headers(&block, 1000, 100);
        assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"late".to_vec()));
    }

    #[test]
    fn absolute_targets() {
        let (a, p) = split_absolute(b"http://h:8080/x?y").unwrap();
        assert_eq!((a, &*p), (&b"h:8080"[..], &b"/x?y"[..]));
        let (a, p) = split_absolute(b"http://u:p@h").unwrap();
        assert_eq!((a, &*p), (&b"h"[..], &b"/"[..]));
        let (_, p) = split_absolute(b"http://h?q").unwrap();
        assert_eq!(&*p, b"/?q");
        assert!(split_absolute(b"/a://b").is_none());
        assert!(split_absolute(b"h:80").is_none());
    }

    fn chunk_all(parts: &[&[u8]]) -> (Chunk, Option<ChunkStep>, usize) {
        let mut c = Chunk::START;
        let mut used = 0;
        for p in parts {
            match c.feed(p) {
                ChunkStep::More => used += p.len(),
                s => return (c, Some(s), used),
            }
        }
        (c, None, used)
    }

    #[test]
    fn chunked_framing() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            let (_, step, used) = chunk_all(&[a, b]);
            let end = match step {
                Some(ChunkStep::Done(n)) => used + n,
                other => panic!("split {split}: {other:?}"),
            };
            assert_eq!(end, body.len() - 4, "split {split}");
        }
        assert_eq!(chunk_all(&[b"0\n\n"]).1, Some(ChunkStep::Done(3)));
        assert_eq!(
            chunk_all(&[b"10000000000000000\r\n"]).1,
            Some(ChunkStep::Bad(17))
        );
        assert_eq!(
            chunk_all(&[b"0000000000000000000000001\r\nx\r\n0\r\n\r\n"]).1,
            Some(ChunkStep::Done(35))
        );
        assert_eq!(
            chunk_all(&[b"ffffffffffffffff\r\n"]).0,
            Chunk::Data { left: u64::MAX }
        );
        assert_eq!(chunk_all(&[b"zz\r\n"]).1, Some(ChunkStep::Bad(1)));
        assert_eq!(chunk_all(&[b"\r\n"]).1, Some(ChunkStep::Bad(1)));
        assert_eq!(chunk_all(&[b"2\r\nabX"]).1, Some(ChunkStep::Bad(6)));
    }

    #[test]
    fn chunk_gap() {
        let mut c = Chunk::Data { left: 10 };
        assert_eq!(c.gap(4), Ok(()));
        assert_eq!(c.gap(6), Ok(()));
        assert_eq!(c, Chunk::DataCr);
        assert_eq!(c.gap(1), Err(0));
        let mut c = Chunk::Data { left: 3 };
        assert_eq!(c.gap(5), Err(3));
    }
}
