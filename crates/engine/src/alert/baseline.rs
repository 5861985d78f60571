//! The learned request rate and its file format.
//!
//! Contract: a [`Baseline`] is exact (a count of requests over a duration, never a float)
//! and always valid (both numbers non-zero). Parsing a baseline file treats its content as
//! hostile: anything but the documented format is a [`BaselineError`], never a panic,
//! and errors carry line numbers, never bytes of the file (they are safe to print).

use super::format::HumanDuration;
use core::fmt;
use core::num::NonZeroU64;
use core::str::FromStr;

/// Largest baseline file accepted, in bytes. A valid file is under 200 bytes.
pub const BASELINE_MAX_TEXT: usize = 4096;

/// First line of a baseline file; the version changes if the format ever does.
const HEADER: &[u8] = b"httptop-baseline v1";

/// The normal request rate: `requests` counted over `over_ns` nanoseconds.
///
/// Scaled to an alert window of `w` nanoseconds it is `requests × w / over_ns` requests
/// per window, kept as that rational: every decision on it is made in integers
/// (see [`Baseline::is_exceeded`]).
///
/// # Text format
///
/// [`Baseline::to_text`] writes, and [`Baseline::from_text`] reads, UTF-8/ASCII lines:
///
/// ```text
/// httptop-baseline v1
/// # 7 requests in 2m 0s, 3.5 per minute
/// requests=7
/// over_ns=120000000000
/// ```
///
/// Rules for reading: at most [`BASELINE_MAX_TEXT`] bytes; lines end in `\n` or `\r\n`;
/// spaces and tabs around a line, a key or a value are ignored; empty lines and lines
/// starting with `#` are ignored anywhere. The first other line is exactly
/// `httptop-baseline v1`. Then `requests` and `over_ns` appear exactly once each, in any
/// order, as `key=value` where value is 1 to 20 ASCII digits (no sign) fitting in a
/// `u64`, and neither may be zero. Any other line is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Baseline {
    requests: NonZeroU64,
    over_ns: NonZeroU64,
}

impl Baseline {
    /// `requests` over `over_ns` nanoseconds; both must be non-zero.
    pub const fn new(requests: u64, over_ns: u64) -> Result<Self, BaselineError> {
        match (NonZeroU64::new(requests), NonZeroU64::new(over_ns)) {
            (Some(requests), Some(over_ns)) => Ok(Baseline { requests, over_ns }),
            (None, _) => Err(BaselineError::ZeroRequests),
            (_, None) => Err(BaselineError::ZeroDuration),
        }
    }

    pub(super) const fn from_nonzero(requests: NonZeroU64, over_ns: NonZeroU64) -> Self {
        Baseline { requests, over_ns }
    }

    /// Requests counted (during learning, or as loaded).
    pub const fn requests(self) -> u64 {
        self.requests.get()
    }

    /// Nanoseconds they were counted over (the learning period).
    pub const fn over_ns(self) -> u64 {
        self.over_ns.get()
    }

    /// Requests per window of `window_ns`, rounded down (saturating at `u64::MAX`).
    pub fn per_window(self, window_ns: u64) -> u64 {
        let scaled =
            u128::from(self.requests()) * u128::from(window_ns) / u128::from(self.over_ns());
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// Requests per window of `window_ns` for people: up to two decimals, truncated,
    /// trailing zeros dropped (`3.5`, `33.33`, `100`).
    pub fn per_window_display(self, window_ns: u64) -> PerWindow {
        let scaled = u128::from(self.requests()) * u128::from(window_ns);
        let over = u128::from(self.over_ns());
        PerWindow {
            whole: scaled / over,
            // The remainder is below `over` (< 2^64), so ×100 cannot overflow.
            hundredths: (scaled % over * 100 / over) as u8,
        }
    }

    /// The alert rule, exactly: `hits` in one window of `window_ns` exceed this baseline
    /// plus `threshold_pct` percent, i.e.
    /// `hits × 100 × over_ns > requests × window_ns × (100 + threshold_pct)`.
    ///
    /// Both sides are computed in 256-bit integers (below 2^200 for any input), so
    /// nothing overflows or rounds.
    pub fn is_exceeded(self, hits: u128, window_ns: u64, threshold_pct: u32) -> bool {
        let lhs = Wide::from(hits).mul(self.over_ns()).mul(100);
        let rhs = Wide::from(u128::from(self.requests()))
            .mul(window_ns)
            .mul(100 + u64::from(threshold_pct));
        lhs.gt(&rhs)
    }

    /// The baseline file (see the type documentation), ending in a newline.
    pub fn to_text(self) -> String {
        format!(
            "httptop-baseline v1\n# {} requests in {}, {} per minute\nrequests={}\nover_ns={}\n",
            self.requests(),
            HumanDuration(self.over_ns()),
            self.per_window_display(60_000_000_000),
            self.requests(),
            self.over_ns()
        )
    }

    /// Reads a baseline file (see the type documentation).
    pub fn from_text(text: &str) -> Result<Self, BaselineError> {
        Self::from_bytes(text.as_bytes())
    }

    /// As [`Baseline::from_text`], for a file read as bytes (it need not be UTF-8 to be
    /// rejected cleanly).
    pub fn from_bytes(text: &[u8]) -> Result<Self, BaselineError> {
        if text.len() > BASELINE_MAX_TEXT {
            return Err(BaselineError::TooLong);
        }
        let mut header_seen = false;
        let mut requests = None;
        let mut over_ns = None;
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let content = trim(raw.strip_suffix(b"\r").unwrap_or(raw));
            if content.is_empty() || content.starts_with(b"#") {
                continue;
            }
            if !header_seen {
                if content != HEADER {
                    return Err(BaselineError::BadHeader { line });
                }
                header_seen = true;
                continue;
            }
            let Some(eq) = content.iter().position(|&b| b == b'=') else {
                return Err(BaselineError::Malformed { line });
            };
            let (key, value) = (trim(&content[..eq]), trim(&content[eq + 1..]));
            let slot = match key {
                b"requests" => &mut requests,
                b"over_ns" => &mut over_ns,
                _ => return Err(BaselineError::UnknownKey { line }),
            };
            if slot.is_some() {
                return Err(BaselineError::DuplicateKey { line });
            }
            *slot = Some(parse_u64(value).ok_or(BaselineError::BadNumber { line })?);
        }
        if !header_seen {
            return Err(BaselineError::BadHeader { line: 0 });
        }
        let requests = requests.ok_or(BaselineError::MissingKey("requests"))?;
        let over_ns = over_ns.ok_or(BaselineError::MissingKey("over_ns"))?;
        Baseline::new(requests, over_ns)
    }
}

impl FromStr for Baseline {
    type Err = BaselineError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Baseline::from_text(s)
    }
}

/// A per-window baseline for display; see [`Baseline::per_window_display`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerWindow {
    pub whole: u128,
    /// 0..=99.
    pub hundredths: u8,
}

impl fmt::Display for PerWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hundredths {
            0 => write!(f, "{}", self.whole),
            h if h % 10 == 0 => write!(f, "{}.{}", self.whole, h / 10),
            h => write!(f, "{}.{:02}", self.whole, h),
        }
    }
}

/// Why a baseline is invalid or a baseline file could not be read. Line numbers start
/// at 1; no variant carries content from the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BaselineError {
    /// The request count is zero (learning would have restarted).
    ZeroRequests,
    /// The duration is zero.
    ZeroDuration,
    /// The file is larger than [`BASELINE_MAX_TEXT`].
    TooLong,
    /// The first significant line is not `httptop-baseline v1` (`line` 0: the file has
    /// no significant line at all).
    BadHeader { line: usize },
    /// A line is not `key=value`.
    Malformed { line: usize },
    /// A key other than `requests` or `over_ns`.
    UnknownKey { line: usize },
    /// A key given a second time.
    DuplicateKey { line: usize },
    /// A value that is not 1 to 20 ASCII digits fitting in a `u64`.
    BadNumber { line: usize },
    /// A required key is absent.
    MissingKey(&'static str),
}

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaselineError::ZeroRequests => f.write_str("baseline has zero requests"),
            BaselineError::ZeroDuration => f.write_str("baseline has a zero duration"),
            BaselineError::TooLong => {
                write!(f, "baseline file is larger than {BASELINE_MAX_TEXT} bytes")
            }
            BaselineError::BadHeader { line: 0 } => {
                f.write_str("baseline file is empty (expected `httptop-baseline v1`)")
            }
            BaselineError::BadHeader { line } => {
                write!(f, "line {line}: expected `httptop-baseline v1`")
            }
            BaselineError::Malformed { line } => write!(f, "line {line}: expected key=value"),
            BaselineError::UnknownKey { line } => write!(f, "line {line}: unknown key"),
            BaselineError::DuplicateKey { line } => write!(f, "line {line}: key given twice"),
            BaselineError::BadNumber { line } => {
                write!(f, "line {line}: value is not an unsigned 64-bit integer")
            }
            BaselineError::MissingKey(key) => write!(f, "baseline file has no `{key}` line"),
        }
    }
}

impl std::error::Error for BaselineError {}

pub(super) fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

pub(super) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// An unsigned 256-bit integer, little-endian 64-bit limbs: just enough for the alert
/// rule's products (at most 128 + 64 + 64 bits).
pub(super) struct Wide([u64; 4]);

impl Wide {
    pub(super) fn from(v: u128) -> Self {
        Wide([v as u64, (v >> 64) as u64, 0, 0])
    }

    /// `self × m`; the caller keeps the product below 2^256 (the top carry is dropped).
    pub(super) fn mul(self, m: u64) -> Self {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (o, &limb) in out.iter_mut().zip(&self.0) {
            // (2^64-1)^2 + (2^64-1) < 2^128: no overflow.
            let p = u128::from(limb) * u128::from(m) + carry;
            *o = p as u64;
            carry = p >> 64;
        }
        Wide(out)
    }

    pub(super) fn gt(&self, other: &Wide) -> bool {
        self.0.iter().rev().cmp(other.0.iter().rev()) == core::cmp::Ordering::Greater
    }
}
