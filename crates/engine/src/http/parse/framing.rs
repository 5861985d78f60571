//! Message framing: the Content-Length and Transfer-Encoding values of a head, and
//! [`Chunk`], the chunked transfer coding read one byte class at a time (it never
//! buffers, and gives the same result however its input is split).

use super::*;
use memchr::memchr;

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

pub(super) fn parse_cl_value(v: &[u8]) -> Option<u64> {
    // The common value, up to 19 digits alone (no list, no overflow): read at once.
    if (1..=19).contains(&v.len()) && v.iter().all(u8::is_ascii_digit) {
        return Some(v.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    parse_cl_list(v)
}

/// A Content-Length value as a list of equal numbers (OWS around each), any length.
fn parse_cl_list(v: &[u8]) -> Option<u64> {
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
mod tests {
    use super::*;

    #[test]
    fn cl_values_read_at_once_are_the_list_reading() {
        let mut next = crate::http::parse::xorshift(0x9e37_79b9_7f4a_7c15u64);
        const ALPHABET: &[u8] = b"0123456789999, \tx";
        for _ in 0..200_000 {
            let len = (next() % 23) as usize;
            let v: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            assert_eq!(parse_cl_value(&v), parse_cl_list(&v), "{v:?}");
        }
        for v in [
            &b"18446744073709551615"[..],
            b"18446744073709551616",
            b"9999999999999999999",
            b"0000000000000000000",
            b"00000000000000000000",
            b"",
            b"0",
        ] {
            assert_eq!(parse_cl_value(v), parse_cl_list(v), "{v:?}");
        }
    }
}
