//! Alert episodes, kept for a retention period and capped in number.

use httptop_wire::Timestamp;
use std::collections::VecDeque;

/// One alert episode: from the evaluation that raised it to the one that recovered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    /// When the alert started (an evaluation second).
    pub start: Timestamp,
    /// When it recovered; `None` while the alert is still active.
    pub end: Option<Timestamp>,
    /// Highest hits seen by an evaluation during the episode (so far, if active).
    pub peak: u64,
}

impl Episode {
    /// `end - start`, or `None` while active.
    pub fn duration_ns(&self) -> Option<u64> {
        self.end.map(|end| end.since(self.start))
    }

    pub fn is_active(&self) -> bool {
        self.end.is_none()
    }
}

/// Episodes oldest first. Only the newest can be active: a new episode starts only after
/// the previous one ended.
pub(super) struct History {
    episodes: VecDeque<Episode>,
    max: usize,
    /// Episodes dropped because `max` was reached.
    pub(super) dropped: u64,
    /// Episodes purged because they ended before the retention cut-off.
    pub(super) expired: u64,
}

impl History {
    pub(super) fn new(max: usize) -> Self {
        History {
            // Room for a busy day without growing; grows (amortised) up to `max`.
            episodes: VecDeque::with_capacity(max.min(64)),
            max,
            dropped: 0,
            expired: 0,
        }
    }

    pub(super) fn start(&mut self, at: Timestamp, hits: u64) {
        if self.max == 0 {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        if self.episodes.len() >= self.max {
            self.episodes.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        self.episodes.push_back(Episode {
            start: at,
            end: None,
            peak: hits,
        });
    }

    fn active(&mut self) -> Option<&mut Episode> {
        self.episodes.back_mut().filter(|e| e.is_active())
    }

    pub(super) fn peak(&mut self, peak: u64) {
        if let Some(e) = self.active() {
            e.peak = peak;
        }
    }

    pub(super) fn end(&mut self, at: Timestamp) {
        if let Some(e) = self.active() {
            e.end = Some(at);
        }
    }

    /// When the oldest episode ended, if it has (the next one `purge` can drop).
    pub(super) fn oldest_end(&self) -> Option<Timestamp> {
        self.episodes.front().and_then(|e| e.end)
    }

    /// Drops episodes that ended strictly before `cutoff`.
    pub(super) fn purge(&mut self, cutoff: Timestamp) {
        while let Some(Episode { end: Some(end), .. }) = self.episodes.front() {
            if *end >= cutoff {
                break;
            }
            self.episodes.pop_front();
            self.expired = self.expired.saturating_add(1);
        }
    }

    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = &Episode> + ExactSizeIterator {
        self.episodes.iter()
    }

    pub(super) fn max_duration(&self) -> Option<u64> {
        self.episodes.iter().filter_map(Episode::duration_ns).max()
    }

    pub(super) fn avg_duration(&self) -> Option<u64> {
        let (n, sum) = self
            .episodes
            .iter()
            .filter_map(Episode::duration_ns)
            .fold((0u128, 0u128), |(n, sum), d| (n + 1, sum + u128::from(d)));
        // The average of u64 values fits in a u64.
        (n > 0).then(|| u64::try_from(sum / n).unwrap_or(u64::MAX))
    }
}
