//! HTTP/1.x syntax over untrusted bytes, one file per part of a message:
//! [`start_line`] (request and status lines, the methods known by name, and the
//! resumable start-line detector used to (re)synchronise), [`headers`] (the end-of-head
//! finder and header blocks, whose grammar [`fields`] reads in one pass), [`framing`] (Content-Length /
//! Transfer-Encoding values and the chunked framing state machine). Shared byte helpers
//! are here.
//!
//! Contract: every function here is total over arbitrary input (no panic, no unbounded
//! allocation: the only copies are capped strings and, for a head with obsolete line
//! folding, one copy of that head, itself capped by the caller). Scanners that keep state
//! across calls ([`LineScan`], [`Chunk`], [`LineState`]) give the same answer whatever
//! way their input is split.

mod fields;
mod framing;
mod headers;
mod start_line;
#[cfg(test)]
mod tests;

pub(crate) use fields::each_field;
pub(crate) use framing::*;
pub(crate) use headers::*;
pub(crate) use start_line::*;

/// A deterministic xorshift64 stream, for the randomised tests of these parsers.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// RFC 9110 `tchar`.
pub(crate) const fn is_tchar(b: u8) -> bool {
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

pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Strips one trailing LF and then one trailing CR.
pub(crate) fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
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
