//! Baseline learning and high-traffic alerting: a sans-IO state machine driven by time
//! given as an argument.
//!
//! This page documents the request-rate machine ([`Alerting`], kind `rate`). Errors and
//! latency ([`SignalAlerting`], kinds `errors` and `latency`) follow the same time rules,
//! states and transitions over responses instead of requests (see `signal.rs` for their
//! rules); [`SignalSet`] holds them, global and per server. Their events reach the
//! presenters as [`AlertEvent::Signal`].
//!
//! [`Alerting`] never reads a clock. The caller reports requests with
//! [`Alerting::on_requests`] and the passing of time with [`Alerting::advance`] (packet
//! time for files; packet time plus wall-clock ticks for live capture, so an alert
//! recovers when traffic stops). The same calls always give the same events.
//!
//! # Time, seconds and the window
//!
//! Times are [`Timestamp`]s (nanoseconds since the Unix epoch); "second `S`" is the
//! interval `[S s, S+1 s)`.
//!
//! - **The machine's clock** starts at `start` and only moves forward: a call with a time
//!   earlier than the clock is treated as happening at the clock (clamped), and counted
//!   in [`AlertCounters::late_requests`] when that moves a request to a later second.
//! - **A request at time `t`** (after clamping) is counted in second `floor(t / 1 s)`.
//! - **The evaluation at boundary `S`** happens when the clock reaches `S s`, and sees the
//!   hits of the `W = window` whole seconds before it: seconds `[S − W, S)`, that is
//!   requests with `S − W ≤ floor(t) < S`. A request exactly at `(S − W) s` is counted;
//!   one exactly at `S s` is not (it is seen by the evaluations `S+1 ..= S+W`).
//! - **Every boundary is evaluated, in order**, including seconds with no request: when
//!   time jumps forward, the boundaries in between are evaluated first. `on_requests(t)`
//!   evaluates every boundary `≤ t` before counting its requests.
//! - **Which boundaries**: every `S` with `S > floor(start)` and, when learning,
//!   `S s ≥` the end of learning. So the first evaluation is at the first whole second at
//!   or after the end of learning (with a loaded baseline: the first whole second after
//!   `start`). Requests made during learning are in the window like any other: when
//!   `learn = window` and `start` is a whole second, the first evaluation sees exactly the
//!   learning count, the baseline.
//!
//! Hit counts live in one ring of `W` one-second buckets with a running sum: counting a
//! request is O(1) and allocation-free, each second is O(1). A silence longer than the
//! window is skipped in O(1) once nothing can change (every bucket is zero); the events are
//! the same as if each second had been stepped. The window is a whole number of seconds,
//! at most [`MAX_WINDOW_NS`] (24 h).
//!
//! # Learning
//!
//! Learning counts the requests in `[start, start + learn)`. At `start + learn`, if the
//! count is non-zero it becomes the fixed [`Baseline`] (`count` over `learn`, i.e.
//! `count × window / learn` per window, kept exact) and [`AlertEvent::LearningFinished`]
//! is emitted; if it is zero, learning restarts from that end time
//! ([`AlertEvent::LearningRestarted`]) until a period sees a request. One jump over several
//! empty periods gives one `LearningRestarted` event whose `empty_periods` counts them. No
//! alert is possible while learning. A loaded baseline skips learning entirely. The
//! baseline never changes afterwards.
//!
//! # Alerting
//!
//! With baseline `c` requests over `l` ns, window `w` ns and threshold `p` percent, an
//! evaluation seeing `hits` is *over* iff `hits × 100 × l > c × w × (100 + p)` (strictly
//! greater, exact integers; [`Baseline::is_exceeded`]). The states ([`AlertState`]) and
//! every transition there is:
//!
//! | from | when | to | event |
//! | --- | --- | --- | --- |
//! | `Learning` | period ends, count = 0 | `Learning` (restart) | LearningRestarted |
//! | `Learning` | period ends, count > 0 | `Normal` | LearningFinished |
//! | `Normal` | evaluation over | `Alert` | AlertStarted |
//! | `Alert` | evaluation over | `Alert` (peak kept) |  |
//! | `Alert` | evaluation not over | `Recovered` | AlertRecovered |
//! | `Recovered` | evaluation over | `Alert` (new episode) | AlertStarted |
//! | `Recovered` | evaluation not over, at or after `recovered_at + refresh` | `Normal` |  |
//!
//! `Recovered` is the dashboard's "recovered" line, shown until the next refresh; with
//! `refresh` ≤ 1 s it lasts exactly one evaluation. Nothing else is possible: no alert
//! while learning, no `Recovered` without an `Alert` before it, `Alert` never straight to
//! `Normal`, no return to `Learning`. Learning may end exactly on a boundary whose
//! evaluation alerts: one call then emits `LearningFinished` and `AlertStarted` with the
//! same time.
//!
//! # History
//!
//! Each alert is an [`Episode`] (start, end or `None` while active, peak). Episodes that
//! ended strictly before `clock − retention` are purged whenever the clock moves; at most
//! `max_history` are kept, the oldest dropped first ([`AlertCounters::history_dropped`]).
//! [`Alerting::max_alert_duration_ns`] and [`Alerting::avg_alert_duration_ns`] cover the
//! kept episodes that have ended; the active episode is not counted (it has no duration
//! yet; its start is in [`AlertState::Alert`]).
//!
//! # Hostile input
//!
//! Timestamps and counts come from the wire. Any `u64` time (backwards, far jumps, near
//! `u64::MAX`) and any request count are accepted without panic: counts saturate, the
//! clock clamps, sums are exact (`u128`), and a jump costs at most O(window) work. Memory
//! is the ring (fixed at construction) plus at most `max_history` episodes.

mod baseline;
mod format;
mod history;
mod signal;
mod signals;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_signal;

pub use baseline::{Baseline, BaselineError, PerWindow, BASELINE_MAX_TEXT};
pub use format::{format_duration, format_utc, HumanDuration, Utc};
pub use history::Episode;
pub use signal::{
    AlertKind, BaselineSet, ServerName, SignalAlerting, SignalBaseline, SignalEvent, SignalState,
    SignalValue, LAT_BINS, LAT_GROUP,
};
pub use signals::{SignalCounters, SignalSet, SignalView};

use core::fmt;
use core::num::NonZeroU64;
use history::History;
use httptop_wire::Timestamp;

const NS_PER_SEC: u64 = 1_000_000_000;

/// Longest alert window accepted: 24 hours (the ring then holds 86 400 buckets, 675 KiB).
pub const MAX_WINDOW_NS: u64 = 24 * 3600 * NS_PER_SEC;

/// Learning and alerting parameters. All durations in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertConfig {
    /// Length of a learning period; at least 1 s. Default 2 min.
    pub learn_ns: u64,
    /// Alert window: a whole number of seconds, 1 s ..= [`MAX_WINDOW_NS`]. Default 2 min.
    pub window_ns: u64,
    /// Percent above the baseline that traffic must exceed to alert. Default 10.
    pub threshold_pct: u32,
    /// How long `Recovered` is shown before `Normal` (the dashboard refresh). Default 1 s.
    pub refresh_ns: u64,
    /// Ended episodes are kept this long after their end. Default 24 h.
    pub retention_ns: u64,
    /// Episodes kept at most (0 keeps none). Default 10 000.
    pub max_history: usize,
    /// Which kinds run, indexed by `AlertKind as usize` (rate, errors, latency). Default
    /// all three.
    pub kinds: [bool; 3],
    /// Percent above the learned error share that the window's share must exceed.
    /// Default 100 (twice the baseline).
    pub errors_threshold_pct: u32,
    /// The error share must also exceed this, in basis points (1/100 %). Default 100 (1 %).
    pub errors_floor_bp: u32,
    /// Percent above the learned p95 that the window's p95 must exceed. Default 100
    /// (twice the baseline).
    pub latency_threshold_pct: u32,
    /// Errors and latency are not evaluated on fewer responses in the window (an active
    /// alert recovers). Default 20.
    pub min_responses: u64,
    /// Also run errors and latency per server. Default off.
    pub per_server: bool,
    /// Servers watched at most with `per_server`. Default 16.
    pub max_servers: usize,
}

impl AlertConfig {
    /// Whether `kind` runs.
    pub fn runs(&self, kind: AlertKind) -> bool {
        self.kinds[kind as usize]
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            learn_ns: 120 * NS_PER_SEC,
            window_ns: 120 * NS_PER_SEC,
            threshold_pct: 10,
            refresh_ns: NS_PER_SEC,
            retention_ns: 24 * 3600 * NS_PER_SEC,
            max_history: 10_000,
            kinds: [true; 3],
            errors_threshold_pct: 100,
            errors_floor_bp: 100,
            latency_threshold_pct: 100,
            min_responses: 20,
            per_server: false,
            max_servers: 16,
        }
    }
}

/// An [`AlertConfig`] that [`Alerting::new`] refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertConfigError {
    /// `learn_ns` is under one second.
    LearnTooShort,
    /// `window_ns` is under one second.
    WindowTooShort,
    /// `window_ns` is not a whole number of seconds.
    WindowNotWholeSeconds,
    /// `window_ns` is over [`MAX_WINDOW_NS`].
    WindowTooLong,
}

impl fmt::Display for AlertConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertConfigError::LearnTooShort => f.write_str("learning period is under 1 second"),
            AlertConfigError::WindowTooShort => f.write_str("alert window is under 1 second"),
            AlertConfigError::WindowNotWholeSeconds => {
                f.write_str("alert window is not a whole number of seconds")
            }
            AlertConfigError::WindowTooLong => write!(
                f,
                "alert window is longer than {}",
                HumanDuration(MAX_WINDOW_NS)
            ),
        }
    }
}

impl std::error::Error for AlertConfigError {}

/// Where learning stands; see [`AlertState::Learning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearningProgress {
    /// Start of the current learning period (later than `start` after a restart).
    pub started: Timestamp,
    /// When it ends.
    pub ends: Timestamp,
    pub elapsed_ns: u64,
    pub remaining_ns: u64,
    /// Requests counted so far in this period.
    pub requests: u64,
    /// Hits in the last window (as [`Alerting::hits_in_window`]).
    pub hits: u64,
    /// The alert window, to scale the estimate.
    pub window_ns: u64,
}

impl LearningProgress {
    /// The baseline if learning ended now: `requests` over `elapsed_ns`. `None` while
    /// either is zero.
    pub fn estimate(&self) -> Option<Baseline> {
        Baseline::new(self.requests, self.elapsed_ns).ok()
    }

    /// [`LearningProgress::estimate`] per window, rounded down; 0 without an estimate.
    pub fn estimate_per_window(&self) -> u64 {
        self.estimate().map_or(0, |b| b.per_window(self.window_ns))
    }
}

/// What the dashboard shows: an owned snapshot of the machine's state. `hits` is always
/// [`Alerting::hits_in_window`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    Learning(LearningProgress),
    Normal {
        hits: u64,
    },
    Alert {
        since: Timestamp,
        hits: u64,
        /// Highest hits since the alert started.
        peak: u64,
    },
    /// An alert recovered at `at` and the dashboard has not refreshed since.
    Recovered {
        at: Timestamp,
        duration_ns: u64,
        peak: u64,
        hits: u64,
    },
}

/// What the presenters log. Each has a [`AlertEvent::message`] (also its `Display`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertEvent {
    /// Learning ended with requests: `baseline` is now fixed.
    LearningFinished {
        baseline: Baseline,
        /// The baseline per window, rounded down.
        per_window: u64,
        window_ns: u64,
        at: Timestamp,
    },
    /// `empty_periods` learning periods in a row ended without a request; a new one
    /// started at `at`.
    LearningRestarted { at: Timestamp, empty_periods: u64 },
    /// An evaluation saw more hits than the baseline plus the threshold.
    AlertStarted {
        hits: u64,
        baseline: Baseline,
        window_ns: u64,
        threshold_pct: u32,
        at: Timestamp,
    },
    /// The first evaluation at or under the threshold after an alert.
    AlertRecovered {
        hits: u64,
        at: Timestamp,
        duration_ns: u64,
        peak: u64,
    },
    /// An event of an errors or latency machine, global (`server` `None`) or of one
    /// server.
    Signal {
        kind: AlertKind,
        server: Option<ServerName>,
        event: SignalEvent,
    },
}

impl AlertEvent {
    pub fn at(&self) -> Timestamp {
        match *self {
            AlertEvent::LearningFinished { at, .. }
            | AlertEvent::LearningRestarted { at, .. }
            | AlertEvent::AlertStarted { at, .. }
            | AlertEvent::AlertRecovered { at, .. } => at,
            AlertEvent::Signal { event, .. } => match event {
                SignalEvent::Learned { at, .. }
                | SignalEvent::Restarted { at, .. }
                | SignalEvent::Started { at, .. }
                | SignalEvent::Recovered { at, .. } => at,
            },
        }
    }

    /// What the event is about: `Rate` for the request-rate machine.
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertEvent::Signal { kind, .. } => *kind,
            _ => AlertKind::Rate,
        }
    }

    /// The server of a per-server alert; `None` when global.
    pub fn server(&self) -> Option<&ServerName> {
        match self {
            AlertEvent::Signal { server, .. } => server.as_ref(),
            _ => None,
        }
    }

    /// Whether the event starts an alert (of any kind).
    pub fn is_alert_start(&self) -> bool {
        matches!(
            self,
            AlertEvent::AlertStarted { .. }
                | AlertEvent::Signal {
                    event: SignalEvent::Started { .. },
                    ..
                }
        )
    }

    /// Whether the event ends an alert (of any kind).
    pub fn is_recovery(&self) -> bool {
        matches!(
            self,
            AlertEvent::AlertRecovered { .. }
                | AlertEvent::Signal {
                    event: SignalEvent::Recovered { .. },
                    ..
                }
        )
    }

    /// One log line. The alert and recovery lines are the original program's wording:
    /// `High traffic generated an alert - hits = {hits}, triggered at {time}` and
    /// `Recovered from high traffic at {time} - alert lasted {duration}, peak {peak} hits`,
    /// with times as [`Utc`] and durations as [`HumanDuration`].
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for AlertEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AlertEvent::LearningFinished {
                baseline,
                window_ns,
                at,
                ..
            } => write!(
                f,
                "Learning finished at {} - baseline {} hits per {} ({} requests in {})",
                Utc(at),
                baseline.per_window_display(window_ns),
                HumanDuration(window_ns),
                baseline.requests(),
                HumanDuration(baseline.over_ns())
            ),
            AlertEvent::LearningRestarted {
                at,
                empty_periods: 1,
            } => write!(
                f,
                "No requests during learning - learning restarted at {}",
                Utc(at)
            ),
            AlertEvent::LearningRestarted { at, empty_periods } => write!(
                f,
                "No requests during {empty_periods} learning periods - learning restarted at {}",
                Utc(at)
            ),
            AlertEvent::AlertStarted { hits, at, .. } => write!(
                f,
                "High traffic generated an alert - hits = {hits}, triggered at {}",
                Utc(at)
            ),
            AlertEvent::AlertRecovered {
                at,
                duration_ns,
                peak,
                ..
            } => write!(
                f,
                "Recovered from high traffic at {} - alert lasted {}, peak {peak} hits",
                Utc(at),
                HumanDuration(duration_ns)
            ),
            AlertEvent::Signal {
                kind,
                server,
                ref event,
            } => signal::write_message(f, kind, server.as_ref(), event),
        }
    }
}

/// Counters over the machine's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AlertCounters {
    /// Episodes dropped from the history because it held `max_history` (oldest first).
    pub history_dropped: u64,
    /// Episodes purged from the history because they ended over `retention` ago.
    pub history_expired: u64,
    /// `on_requests` calls whose time was in a second before the clock's: their
    /// requests were counted in the clock's second instead.
    pub late_requests: u64,
    /// Learning periods that ended without a request.
    pub learning_restarts: u64,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    Learning {
        start: Timestamp,
        end: Timestamp,
        requests: u64,
    },
    Normal,
    Alert {
        since: Timestamp,
        peak: u64,
    },
    Recovered {
        at: Timestamp,
        duration_ns: u64,
        peak: u64,
    },
}

/// The learning and alerting state machine. See the module documentation.
///
/// Memory: a ring of one `u64` per second of the window, plus the history.
pub struct Alerting {
    cfg: AlertConfig,
    learn: NonZeroU64,
    window_secs: u64,
    /// The machine's time; never decreases.
    clock: Timestamp,
    /// `floor(clock)` in seconds: the bucket requests go to.
    cur_sec: u64,
    /// `cur_sec % window_secs`.
    cur_idx: usize,
    /// Bucket `s % window_secs` holds the requests of second `s`, for the `window_secs`
    /// seconds `(cur_sec − W, cur_sec]`.
    ring: Box<[u64]>,
    /// Sum of `ring`.
    sum: u128,
    /// Hits in `[cur_sec − W, cur_sec)`: what the evaluation at `cur_sec` saw.
    last_hits: u128,
    /// Lowest boundary that is evaluated.
    first_eval: u64,
    phase: Phase,
    baseline: Option<Baseline>,
    history: History,
    counters: AlertCounters,
    /// The earliest time at which [`Alerting::advance`] does more than move the clock
    /// (see [`Alerting::due`]).
    due: Timestamp,
}

impl fmt::Debug for Alerting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alerting")
            .field("clock", &self.clock)
            .field("state", &self.state())
            .field("baseline", &self.baseline)
            .field("next_evaluation", &self.next_evaluation())
            .field("episodes", &self.history.iter().len())
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Alerting {
    /// A machine whose clock starts at `start`: learning from `start`, or, given a saved
    /// `baseline`, alerting from the first whole second after `start`.
    pub fn new(
        cfg: AlertConfig,
        start: Timestamp,
        baseline: Option<Baseline>,
    ) -> Result<Self, AlertConfigError> {
        let learn = Self::check(&cfg)?;
        let window_secs = cfg.window_ns / NS_PER_SEC;
        let ring_len = usize::try_from(window_secs).map_err(|_| AlertConfigError::WindowTooLong)?;
        let cur_sec = start.secs();
        let (phase, first_eval) = match baseline {
            Some(_) => (Phase::Normal, cur_sec + 1),
            None => {
                let end = start.add_nanos(learn.get());
                let phase = Phase::Learning {
                    start,
                    end,
                    requests: 0,
                };
                (phase, ceil_secs(end))
            }
        };
        let mut a = Alerting {
            history: History::new(cfg.max_history),
            cfg,
            learn,
            window_secs,
            clock: start,
            cur_sec,
            cur_idx: index(cur_sec, window_secs),
            ring: vec![0; ring_len].into_boxed_slice(),
            sum: 0,
            last_hits: 0,
            first_eval,
            phase,
            baseline,
            counters: AlertCounters::default(),
            due: start,
        };
        a.due = a.due();
        Ok(a)
    }

    /// The checks of [`Alerting::new`]; the learning period on success.
    pub(crate) fn check(cfg: &AlertConfig) -> Result<NonZeroU64, AlertConfigError> {
        let learn = match NonZeroU64::new(cfg.learn_ns) {
            Some(l) if l.get() >= NS_PER_SEC => l,
            _ => return Err(AlertConfigError::LearnTooShort),
        };
        if cfg.window_ns < NS_PER_SEC {
            return Err(AlertConfigError::WindowTooShort);
        }
        if cfg.window_ns % NS_PER_SEC != 0 {
            return Err(AlertConfigError::WindowNotWholeSeconds);
        }
        if cfg.window_ns > MAX_WINDOW_NS {
            return Err(AlertConfigError::WindowTooLong);
        }
        Ok(learn)
    }

    /// `n` requests seen at `ts`. Evaluates every boundary up to `ts` first (see
    /// [`Alerting::advance`]), then counts the requests in `ts`'s second, or in the
    /// clock's second if `ts` is earlier than the clock. O(1) and allocation-free unless
    /// boundaries are crossed.
    #[inline]
    pub fn on_requests(&mut self, ts: Timestamp, n: u64, events: &mut Vec<AlertEvent>) {
        if ts > self.clock {
            self.advance(ts, events);
        } else if ts.secs() < self.cur_sec {
            self.counters.late_requests = self.counters.late_requests.saturating_add(1);
        }
        if n == 0 {
            return;
        }
        if let Some(bucket) = self.ring.get_mut(self.cur_idx) {
            let old = *bucket;
            *bucket = old.saturating_add(n);
            self.sum += u128::from(*bucket - old);
        }
        if let Phase::Learning { requests, .. } = &mut self.phase {
            *requests = requests.saturating_add(n);
        }
    }

    /// Time has reached `now` (packet time or a wall-clock tick): ends learning if due,
    /// then evaluates every boundary up to `now`, in order, pushing events as they happen.
    /// A `now` at or before the clock does nothing.
    #[inline]
    pub fn advance(&mut self, now: Timestamp, events: &mut Vec<AlertEvent>) {
        if now <= self.clock {
            return;
        }
        self.clock = now;
        // Within the current second, before the end of learning and the next expiry in
        // the history, nothing else changes (the hot path: one call per frame).
        if now >= self.due {
            self.advance_due(now, events);
        }
    }

    /// [`Alerting::advance`] at or after [`Alerting::due`], the clock already at `now`
    /// (out of line: once a second at most, and at the end of learning).
    #[inline(never)]
    fn advance_due(&mut self, now: Timestamp, events: &mut Vec<AlertEvent>) {
        if let Phase::Learning { .. } = self.phase {
            self.end_learning_if_due(events);
        }
        let target = now.secs();
        if target > self.cur_sec {
            self.roll_to(target, events);
        }
        self.history
            .purge(Timestamp(now.0.saturating_sub(self.cfg.retention_ns)));
        self.due = self.due();
    }

    /// The first time at which `advance` can do more than move the clock: the next second
    /// boundary (its evaluation), the end of learning, or the time at which the oldest
    /// episode, if it has ended, falls out of the retention period (`purge` drops an
    /// episode ending strictly before `now − retention`). Never later than the true
    /// instant (`from_secs` and the additions saturate).
    fn due(&self) -> Timestamp {
        let mut due = Timestamp::from_secs(self.cur_sec.saturating_add(1));
        if let Phase::Learning { end, .. } = self.phase {
            due = due.min(end);
        }
        if let Some(end) = self.history.oldest_end() {
            due = due.min(end.add_nanos(self.cfg.retention_ns).add_nanos(1));
        }
        due
    }

    /// The current state, owned.
    pub fn state(&self) -> AlertState {
        let hits = saturate(self.last_hits);
        match self.phase {
            Phase::Learning {
                start,
                end,
                requests,
            } => AlertState::Learning(LearningProgress {
                started: start,
                ends: end,
                elapsed_ns: self.clock.since(start),
                remaining_ns: end.since(self.clock),
                requests,
                hits,
                window_ns: self.cfg.window_ns,
            }),
            Phase::Normal => AlertState::Normal { hits },
            Phase::Alert { since, peak } => AlertState::Alert { since, hits, peak },
            Phase::Recovered {
                at,
                duration_ns,
                peak,
            } => AlertState::Recovered {
                at,
                duration_ns,
                peak,
                hits,
            },
        }
    }

    /// The baseline in force: `None` while learning.
    pub fn baseline(&self) -> Option<Baseline> {
        self.baseline
    }

    /// Hits in the `window` whole seconds before the clock's second, `[S − W, S)` with
    /// `S = floor(clock)`: what the latest evaluation saw (also maintained while
    /// learning). Saturates at `u64::MAX`.
    pub fn hits_in_window(&self) -> u64 {
        saturate(self.last_hits)
    }

    /// The earliest time at which [`Alerting::advance`] can change the state or emit an
    /// event: the end of learning while learning, else the next evaluation boundary. Live
    /// callers tick at (or after) it.
    pub fn next_evaluation(&self) -> Timestamp {
        match self.phase {
            Phase::Learning { end, .. } => end,
            _ => Timestamp::from_secs(self.first_eval.max(self.cur_sec + 1)),
        }
    }

    /// The machine's clock: the latest time it was given.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    pub fn config(&self) -> &AlertConfig {
        &self.cfg
    }

    pub fn counters(&self) -> AlertCounters {
        AlertCounters {
            history_dropped: self.history.dropped,
            history_expired: self.history.expired,
            ..self.counters
        }
    }

    /// Kept episodes, oldest first; the last may be active.
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Episode> + ExactSizeIterator {
        self.history.iter()
    }

    /// Longest kept episode that has ended (the active one is not counted).
    pub fn max_alert_duration_ns(&self) -> Option<u64> {
        self.history.max_duration()
    }

    /// Mean duration of the kept episodes that have ended (the active one is not
    /// counted), rounded down. O(kept episodes).
    pub fn avg_alert_duration_ns(&self) -> Option<u64> {
        self.history.avg_duration()
    }

    fn end_learning_if_due(&mut self, events: &mut Vec<AlertEvent>) {
        let Phase::Learning { end, requests, .. } = self.phase else {
            return;
        };
        if self.clock < end {
            return;
        }
        match NonZeroU64::new(requests) {
            Some(requests) => {
                let baseline = Baseline::from_nonzero(requests, self.learn);
                self.baseline = Some(baseline);
                self.phase = Phase::Normal;
                self.first_eval = ceil_secs(end);
                events.push(AlertEvent::LearningFinished {
                    baseline,
                    per_window: baseline.per_window(self.cfg.window_ns),
                    window_ns: self.cfg.window_ns,
                    at: end,
                });
            }
            None => {
                // No request since `end` either (on_requests advances before counting),
                // so every period that ended by now was empty too: skip them at once.
                let learn = self.learn.get();
                let later = self.clock.since(end) / learn;
                let start = end.add_nanos(later * learn);
                let end = start.add_nanos(learn);
                self.phase = Phase::Learning {
                    start,
                    end,
                    requests: 0,
                };
                self.first_eval = ceil_secs(end);
                let empty_periods = later.saturating_add(1);
                self.counters.learning_restarts = self
                    .counters
                    .learning_restarts
                    .saturating_add(empty_periods);
                events.push(AlertEvent::LearningRestarted {
                    at: start,
                    empty_periods,
                });
            }
        }
    }

    /// Moves the ring to second `target`, evaluating each boundary on the way.
    fn roll_to(&mut self, target: u64, events: &mut Vec<AlertEvent>) {
        while self.cur_sec < target {
            if self.sum == 0 {
                let quiet = self.quiet_until(target);
                if quiet > self.cur_sec {
                    // Every bucket is zero: the evaluations up to `quiet` all see 0 hits
                    // and change nothing.
                    self.cur_sec = quiet;
                    self.cur_idx = index(quiet, self.window_secs);
                    self.last_hits = 0;
                    continue;
                }
            }
            let s = self.cur_sec + 1;
            let hits = self.sum;
            self.cur_idx += 1;
            if self.cur_idx == self.ring.len() {
                self.cur_idx = 0;
            }
            // The slot of second `s` held second `s − W`, which leaves the ring.
            if let Some(bucket) = self.ring.get_mut(self.cur_idx) {
                self.sum -= u128::from(*bucket);
                *bucket = 0;
            }
            self.cur_sec = s;
            self.last_hits = hits;
            if s >= self.first_eval {
                self.evaluate(s, hits, events);
            }
        }
    }

    /// The last boundary up to `target` such that evaluations seeing 0 hits up to it
    /// cannot change anything.
    fn quiet_until(&self, target: u64) -> u64 {
        match self.phase {
            // While learning, `roll_to` only runs before the end of learning.
            Phase::Learning { .. } | Phase::Normal => target,
            Phase::Alert { .. } => self.cur_sec,
            Phase::Recovered { at, .. } => {
                let due = ceil_secs(at.add_nanos(self.cfg.refresh_ns));
                due.saturating_sub(1).min(target)
            }
        }
    }

    fn evaluate(&mut self, s: u64, hits: u128, events: &mut Vec<AlertEvent>) {
        let Some(baseline) = self.baseline else {
            return;
        };
        let at = Timestamp::from_secs(s);
        let over = baseline.is_exceeded(hits, self.cfg.window_ns, self.cfg.threshold_pct);
        let hits = saturate(hits);
        match self.phase {
            Phase::Learning { .. } => {}
            Phase::Normal => {
                if over {
                    self.start_alert(at, hits, baseline, events);
                }
            }
            Phase::Alert { since, peak } => {
                if over {
                    if hits > peak {
                        self.phase = Phase::Alert { since, peak: hits };
                        self.history.peak(hits);
                    }
                } else {
                    let duration_ns = at.since(since);
                    self.phase = Phase::Recovered {
                        at,
                        duration_ns,
                        peak,
                    };
                    self.history.end(at);
                    events.push(AlertEvent::AlertRecovered {
                        hits,
                        at,
                        duration_ns,
                        peak,
                    });
                }
            }
            Phase::Recovered { at: recovered, .. } => {
                if over {
                    self.start_alert(at, hits, baseline, events);
                } else if at >= recovered.add_nanos(self.cfg.refresh_ns) {
                    self.phase = Phase::Normal;
                }
            }
        }
    }

    fn start_alert(
        &mut self,
        at: Timestamp,
        hits: u64,
        baseline: Baseline,
        events: &mut Vec<AlertEvent>,
    ) {
        self.phase = Phase::Alert {
            since: at,
            peak: hits,
        };
        self.history.start(at, hits);
        events.push(AlertEvent::AlertStarted {
            hits,
            baseline,
            window_ns: self.cfg.window_ns,
            threshold_pct: self.cfg.threshold_pct,
            at,
        });
    }
}

fn ceil_secs(t: Timestamp) -> u64 {
    t.secs() + u64::from(t.0 % NS_PER_SEC != 0)
}

/// `s % w` as an index (`w` ≤ 86 400, so it fits any `usize`).
fn index(s: u64, w: u64) -> usize {
    usize::try_from(s % w).unwrap_or(0)
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
