//! Start lines: `HTTP/d.d` versions, request lines (lenient on a synchronised stream),
//! the methods known by name, status lines, absolute-form targets, and [`LineScan`], the
//! resumable recogniser of a plausible start line used without prior sync (stream start,
//! after a gap or a malformed message). Total over arbitrary input; [`LineScan`] gives
//! the same verdict however its input is split.

use super::*;
use crate::event::Version;
use memchr::{memchr, memrchr};

/// Longest method accepted when recognising a request line without prior sync.
pub(crate) const MAX_HUNT_METHOD: u8 = 20;

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
        .position(|&b| !super::fields::TCHAR[usize::from(b)])
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
    if let Some(rl) = common_request_line(line, m) {
        return Ok(rl);
    }
    general_request_line(line, m)
}

/// The common line, `METHOD SP+ target SP HTTP/d.d` (`line` without its line end, its
/// method `line[..m]` followed by a space), read from both ends: without searching for
/// the last space, the answer [`general_request_line`] gives for it; `None` for any other
/// line.
fn common_request_line(line: &[u8], m: usize) -> Option<RequestLine<'_>> {
    let (v, version) = line
        .len()
        .checked_sub(9)
        .filter(|&v| v > m && line[v] == b' ')
        .and_then(|v| Some((v, parse_version(&line[v + 1..])?)))?;
    let span = &line[m + 1..v];
    let start = span.iter().position(|&b| b != b' ')?;
    let span = &span[start..];
    let end = span.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    Some(RequestLine {
        method: &line[..m],
        target: &span[..end],
        version,
        simple: false,
        malformed: false,
    })
}

/// [`parse_request_line`] past its method `line[..m]` (followed by a space).
fn general_request_line(line: &[u8], m: usize) -> Result<RequestLine<'_>, BadRequestLine<'_>> {
    let method = &line[..m];
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
            // In any case: a lower-case `http/1.1 200` is a response (malformed once
            // parsed, see `parse_status_line`), not bytes to skip.
            0..=4 => b.to_ascii_uppercase() == b"HTTP/"[usize::from(k)],
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

/// Splits an absolute-form target (`scheme://authority/path`) into authority (without
/// userinfo) and path (`/` when empty; a query without path gets a leading `/`).
pub(crate) fn split_absolute(target: &[u8]) -> Option<(&[u8], std::borrow::Cow<'_, [u8]>)> {
    // A scheme starts with a letter: an origin-form target (`/...`, the common case) is
    // answered without looking for its colon.
    if !target.first().is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of spaces, tabs, version bytes and target bytes after a method: the common
    /// reading agrees with the general one wherever it answers, and answers often.
    #[test]
    fn common_request_line_is_the_general_reading() {
        const ALPHABET: &[u8] = b"    \tHTTP/1.0.9/a?x \x00\x7f\xff";
        let mut next = crate::http::parse::xorshift(0x2545_f491_4f6c_dd1du64);
        let mut answered = 0;
        for round in 0..200_000 {
            let len = (next() % 24) as usize;
            let mut line = b"GET ".to_vec();
            line.extend((0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]));
            if round % 2 == 0 {
                line.extend_from_slice(b" HTTP/1.1");
            }
            let m = 3;
            if let Some(rl) = common_request_line(&line, m) {
                answered += 1;
                assert_eq!(Ok(rl), general_request_line(&line, m), "{line:?}");
            }
        }
        assert!(answered > 50_000, "{answered}");
        for line in [
            &b"GET / HTTP/1.1"[..],
            b"GET  /a b  HTTP/1.0",
            b"GET   HTTP/1.1",
            b"GET HTTP/1.1",
            b"GET  HTTP/1.1",
            b"GET / HTTP/1.x",
            b"GET /HTTP/1.1",
        ] {
            let general = general_request_line(line, 3);
            match common_request_line(line, 3) {
                Some(rl) => assert_eq!(Ok(rl), general),
                None => assert!(general.as_ref().map_or(true, |rl| rl.malformed), "{line:?}"),
            }
            assert_eq!(parse_request_line(line), general);
        }
    }
}
