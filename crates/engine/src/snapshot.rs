//! An owned picture of the whole monitor at one instant, for presenters that refresh
//! (dashboard, periodic plain text, JSON snapshots, exporters).
//!
//! Contract: built by [`crate::Monitor::snapshot`] on the collector side and handed over
//! by value; it holds no reference into the engine, so a UI thread renders it while the
//! engine goes on. Everything a presenter shows comes from here, time included (`now`):
//! renderers never read a clock. Wire strings are raw (presenters sanitise them).

use crate::alert::{AlertConfig, AlertState, Baseline, Episode, SignalView};
use crate::engine::Counters;
use crate::stats::{Report, StatsCounters, WebSocketSummary, Window};
use httptop_wire::counter::Sample;
use httptop_wire::Timestamp;

/// The monitor at `now`.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Packet time (plus wall-clock ticks, live) of the snapshot.
    pub now: Timestamp,
    /// `None` until the first frame (or the start of a live capture).
    pub alert: Option<AlertView>,
    /// Errors and latency alerting: global machines first (errors, latency), then per
    /// server; empty before the first frame or when both kinds are off.
    pub signals: Vec<SignalView>,
    /// Engine counters: capture health and anomalies.
    pub counters: Counters,
    /// Statistics counters: table evictions and purges, keys cut, late exchanges.
    pub stats_counters: StatsCounters,
    /// The capture source's counters (file reader statistics, or the kernel's live
    /// counters), as handed to [`crate::Monitor::set_source_counters`]; empty when the
    /// source has none.
    pub source_counters: Vec<Sample>,
    /// Connections tracked now.
    pub open_flows: usize,
    /// Requests per second over the last hour, oldest first, ending at `now`'s second.
    pub rate_per_second: Vec<(Timestamp, u64)>,
    /// Every top table, for each window in [`Window::ALL`] order.
    pub reports: [Report; 4],
    /// WebSocket sessions ended since the start (not windowed).
    pub websocket: WebSocketSummary,
}

impl Snapshot {
    /// The tables of one window.
    pub fn report(&self, w: Window) -> &Report {
        &self.reports[w.index()]
    }

    /// Every counter, the capture source's first, in registry order: what every presenter
    /// iterates (see [`crate::counters`]).
    pub fn counters(&self) -> impl Iterator<Item = Sample> + '_ {
        self.source_counters
            .iter()
            .copied()
            .chain(crate::counters::samples(
                &self.counters,
                &self.stats_counters,
            ))
    }
}

/// What the alerting side shows.
#[derive(Clone, Debug)]
pub struct AlertView {
    pub state: AlertState,
    pub baseline: Option<Baseline>,
    pub config: AlertConfig,
    pub hits_in_window: u64,
    pub next_evaluation: Timestamp,
    /// Alert episodes of the retention period, oldest first.
    pub history: Vec<Episode>,
    pub max_duration_ns: Option<u64>,
    pub avg_duration_ns: Option<u64>,
}
