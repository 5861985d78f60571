//! The request-rate series: requests per second over the last hour and per minute over
//! the retention period, exact, read from two global rings.

use super::ring::{HeadRing, SEC};
use super::Stats;
use httptop_wire::Timestamp;

impl Stats {
    /// Requests per second over the last hour ending at `now` (the latest time seen, if
    /// later): 3,600 points `(start of the second, requests)`, oldest first, the last one
    /// the current, partial second.
    pub fn rate_per_second(&self, now: Timestamp) -> Vec<(Timestamp, u64)> {
        let cur = now.0.max(self.latest) / SEC;
        series(&self.per_sec, cur, SEC)
    }

    /// Requests per minute over the retention period ending at `now`: one point per
    /// minute `(start of the minute, requests)`, oldest first.
    pub fn rate_per_minute(&self, now: Timestamp) -> Vec<(Timestamp, u64)> {
        let cur = now.0.max(self.latest) / (60 * SEC);
        series(&self.per_min, cur, 60 * SEC)
    }
}

fn series(r: &HeadRing<u64>, cur: u64, width: u64) -> Vec<(Timestamp, u64)> {
    let n = r.len() as u64;
    let first = (cur + 1).saturating_sub(n);
    (first..=cur)
        .map(|b| (Timestamp(b.saturating_mul(width)), r.get(b, cur)))
        .collect()
}
