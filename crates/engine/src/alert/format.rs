//! Times and durations as alert messages show them.
//!
//! Contract: pure integer arithmetic on [`Timestamp`] nanoseconds, valid for every `u64`
//! (up to 2554-07-21), never panics, no time-zone database: times are always UTC.
//! Both formats truncate to whole seconds (they never round up).

use core::fmt;
use httptop_wire::Timestamp;

const NS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// A timestamp displayed as UTC `YYYY-MM-DD HH:MM:SS` (fraction truncated, no zone
/// suffix), e.g. `2024-02-29 23:59:59`. Use it in `format!`/`write!` to avoid an
/// allocation, or call [`format_utc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc(pub Timestamp);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.secs();
        let (y, m, d) = civil_from_days(secs / SECS_PER_DAY);
        let rem = secs % SECS_PER_DAY;
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// `ts` as UTC `YYYY-MM-DD HH:MM:SS`; see [`Utc`].
pub fn format_utc(ts: Timestamp) -> String {
    Utc(ts).to_string()
}

/// A duration in nanoseconds displayed in whole seconds with the largest unit first and
/// every smaller unit after it: `0s`, `45s`, `2m 5s`, `1h 0m 12s`, `2d 0h 3m 0s`.
/// The fraction of a second is truncated. Use it in `format!`, or call [`format_duration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub u64);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / NS_PER_SEC;
        let (d, h, m, s) = (
            secs / SECS_PER_DAY,
            secs % SECS_PER_DAY / 3600,
            secs % 3600 / 60,
            secs % 60,
        );
        if d > 0 {
            write!(f, "{d}d {h}h {m}m {s}s")
        } else if h > 0 {
            write!(f, "{h}h {m}m {s}s")
        } else if m > 0 {
            write!(f, "{m}m {s}s")
        } else {
            write!(f, "{s}s")
        }
    }
}

/// `ns` nanoseconds as `2m 5s`, `1h 0m 12s`...; see [`HumanDuration`].
pub fn format_duration(ns: u64) -> String {
    HumanDuration(ns).to_string()
}

/// (year, month 1..=12, day 1..=31) of the proleptic Gregorian calendar for `days` since
/// 1970-01-01. Howard Hinnant's `civil_from_days`, restricted to non-negative days so it
/// stays in unsigned arithmetic (`u64` nanoseconds never reach before the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so a leap day is the last day of its "year".
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1, 0..=365
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = era * 400 + yoe + u64::from(m <= 2);
    (y, m, d)
}
