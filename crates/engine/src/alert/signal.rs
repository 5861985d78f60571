//! Error-rate and latency alerting: the same learned-baseline state machine as the request
//! rate ([`super::Alerting`]), over responses instead of requests.
//!
//! Contract: sans-IO and deterministic, with the time rules of the module documentation of
//! [`super`] unchanged (clock only moves forward, a response at time `t` counts in second
//! `floor(t)`, the evaluation at boundary `S` sees seconds `[S − W, S)`, every boundary is
//! evaluated in order including silent ones, learning is `[start, start + learn)` and
//! restarts when it saw no response, states and transitions as in the rate table).
//!
//! What differs is the signal an evaluation computes from the window's `n` responses:
//!
//! - **errors** ([`AlertKind::Errors`]): the share `e / n` of failed responses (a 5xx, or
//!   a gRPC call whose status is not OK). The baseline is the share learned, `be / bn`.
//!   *Over* iff `n ≥ min_responses` and `e × bn × 100 > be × n × (100 + errors_threshold)`
//!   and `e × 10 000 > errors_floor_bp × n` (exact integers): with a learned 0 % the floor
//!   alone decides, so the first 5xx after a clean learning period pages no one.
//! - **latency** ([`AlertKind::Latency`]): the p95 of the window's response times
//!   (nearest rank). The baseline is the p95 of the learning period. *Over* iff
//!   `n ≥ min_responses` and `p95 × 100 > baseline × (100 + latency_threshold)`.
//!
//! Below `min_responses` an evaluation is *not over*: it raises nothing, and an active
//! alert recovers (there is not traffic enough left to call it failing), so an alert also
//! recovers when traffic stops, at the exact second the window drops under the minimum.
//!
//! Memory is fixed at construction: per second of the window two `u64` (responses,
//! errors), plus for latency one histogram of [`LAT_BINS`] `u32` (604 bytes a second, 72
//! KiB for a 2 min window). Latencies are binned by the statistics' DDSketch bins
//! ([`crate::stats::hist`]) grouped by [`LAT_GROUP`]: a bin spans a ratio of 1.159, the
//! value reported is within 8 % of the true p95. Counting a response is O(1) and
//! allocation-free; each second costs O([`LAT_BINS`]) for latency, O(1) for errors.
//!
//! Hostile input: any time and any latency are accepted; counts saturate consistently
//! (a bin that saturates is no longer counted in the window's sum either).

use super::baseline::{parse_u64, trim, Wide};
use super::history::History;
use super::{
    ceil_secs, index, AlertConfig, AlertConfigError, AlertCounters, Baseline, BaselineError,
    Episode, HumanDuration, Phase, Utc, NS_PER_SEC,
};
use crate::stats::hist;
use core::fmt;
use core::num::NonZeroU64;
use httptop_wire::Timestamp;

/// Fine statistics bins grouped into one latency-alert bin.
pub const LAT_GROUP: usize = 8;
/// Latency-alert bins: the statistics' bins grouped by [`LAT_GROUP`].
pub const LAT_BINS: usize = hist::BINS.div_ceil(LAT_GROUP);

/// The value reported for an alert bin: the midpoint (in log space) of the fine bin in
/// the middle of the group.
fn lat_value(b: usize) -> u64 {
    hist::representative((b * LAT_GROUP + LAT_GROUP / 2).min(hist::BINS - 1))
}

/// Nearest-rank p95 of a histogram holding `n` samples.
fn p95(h: &[u64], n: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rank = n.saturating_mul(95).div_ceil(100).max(1);
    let mut seen = 0u64;
    for (i, &c) in h.iter().enumerate() {
        seen = seen.saturating_add(c);
        if seen >= rank {
            return Some(lat_value(i));
        }
    }
    Some(lat_value(LAT_BINS - 1))
}

/// What an alert watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertKind {
    /// Requests per window ([`super::Alerting`]).
    Rate,
    /// Share of failed responses per window.
    Errors,
    /// p95 response time per window.
    Latency,
}

impl AlertKind {
    pub const ALL: [AlertKind; 3] = [AlertKind::Rate, AlertKind::Errors, AlertKind::Latency];

    /// `rate`, `errors`, `latency`: the JSON `kind` and the `--alerts` names.
    pub const fn name(self) -> &'static str {
        match self {
            AlertKind::Rate => "rate",
            AlertKind::Errors => "errors",
            AlertKind::Latency => "latency",
        }
    }

    /// The words of the messages: `high traffic`, `high error rate`, `high latency`.
    pub const fn what(self) -> &'static str {
        match self {
            AlertKind::Rate => "high traffic",
            AlertKind::Errors => "high error rate",
            AlertKind::Latency => "high latency",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        AlertKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A server's name as alerting keys it: the Host header value, or `ip:port` without one
/// (as the statistics' server table), cut to [`ServerName::MAX`] bytes. Raw wire bytes:
/// `Display` escapes anything but printable ASCII.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerName {
    len: u8,
    bytes: [u8; ServerName::MAX],
}

impl ServerName {
    /// Longest name kept, in bytes; longer ones are cut.
    pub const MAX: usize = 62;

    pub fn new(b: &[u8]) -> Self {
        let n = b.len().min(Self::MAX);
        let mut bytes = [0; Self::MAX];
        bytes[..n].copy_from_slice(&b[..n]);
        ServerName {
            len: n as u8,
            bytes,
        }
    }

    /// `Display` of `v` (an address), without allocating.
    pub fn display(v: impl fmt::Display) -> Self {
        struct Cur(ServerName);
        impl fmt::Write for Cur {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let n = usize::from(self.0.len);
                let take = s.len().min(ServerName::MAX - n);
                self.0.bytes[n..n + take].copy_from_slice(&s.as_bytes()[..take]);
                self.0.len += take as u8;
                Ok(())
            }
        }
        let mut c = Cur(ServerName::new(b""));
        let _ = fmt::write(&mut c, format_args!("{v}"));
        c.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Display for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.as_bytes() {
            if (0x20..0x7f).contains(&b) {
                fmt::Write::write_char(f, char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A learned errors or latency baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignalBaseline {
    /// `errors` failed responses among `responses`.
    Errors { errors: u64, responses: NonZeroU64 },
    /// p95 response time `p95_ns`, learned over `responses`.
    Latency { p95_ns: u64, responses: NonZeroU64 },
}

impl SignalBaseline {
    pub fn kind(self) -> AlertKind {
        match self {
            SignalBaseline::Errors { .. } => AlertKind::Errors,
            SignalBaseline::Latency { .. } => AlertKind::Latency,
        }
    }

    pub fn responses(self) -> u64 {
        match self {
            SignalBaseline::Errors { responses, .. }
            | SignalBaseline::Latency { responses, .. } => responses.get(),
        }
    }

    /// The value in the kind's unit: basis points of errors (rounded down), nanoseconds.
    pub fn value(self) -> u64 {
        match self {
            SignalBaseline::Errors { errors, responses } => share_bp(errors, responses.get()),
            SignalBaseline::Latency { p95_ns, .. } => p95_ns,
        }
    }
}

/// `e / n` in basis points (1/100 %), rounded down; `n` > 0.
fn share_bp(e: u64, n: u64) -> u64 {
    u64::try_from(u128::from(e) * 10_000 / u128::from(n.max(1))).unwrap_or(u64::MAX)
}

/// A value of `kind` for people: `12.5%` (basis points, one decimal, truncated) or
/// `95 µs` / `2.5 ms` / `840 ms` / `12.3 s` (nanoseconds, truncated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalValue(pub AlertKind, pub u64);

impl fmt::Display for SignalValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.1;
        match self.0 {
            AlertKind::Rate => write!(f, "{v} hits"),
            AlertKind::Errors => write!(f, "{}.{}%", v / 100, v % 100 / 10),
            AlertKind::Latency if v < 1_000_000 => write!(f, "{} µs", v / 1_000),
            AlertKind::Latency if v < 10_000_000 => {
                write!(f, "{}.{} ms", v / 1_000_000, v % 1_000_000 / 100_000)
            }
            AlertKind::Latency if v < 10 * NS_PER_SEC => write!(f, "{} ms", v / 1_000_000),
            AlertKind::Latency => {
                write!(f, "{}.{} s", v / NS_PER_SEC, v % NS_PER_SEC / 100_000_000)
            }
        }
    }
}

/// What an errors or latency machine shows; `value` is what the latest evaluation saw
/// (`None` under `min_responses`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalState {
    Learning {
        ends: Timestamp,
        /// Responses counted so far in this learning period.
        responses: u64,
    },
    Normal {
        value: Option<u64>,
    },
    Alert {
        since: Timestamp,
        value: Option<u64>,
        peak: u64,
    },
    Recovered {
        at: Timestamp,
        duration_ns: u64,
        peak: u64,
        value: Option<u64>,
    },
}

impl SignalState {
    /// `learning`, `normal`, `alert`, `recovered`.
    pub fn name(&self) -> &'static str {
        match self {
            SignalState::Learning { .. } => "learning",
            SignalState::Normal { .. } => "normal",
            SignalState::Alert { .. } => "alert",
            SignalState::Recovered { .. } => "recovered",
        }
    }
}

/// An event of an errors or latency machine (wrapped in [`super::AlertEvent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalEvent {
    Learned {
        baseline: SignalBaseline,
        at: Timestamp,
    },
    Restarted {
        at: Timestamp,
        empty_periods: u64,
    },
    Started {
        /// The window's value (basis points or nanoseconds).
        value: u64,
        /// Responses in the window.
        responses: u64,
        baseline: SignalBaseline,
        threshold_pct: u32,
        at: Timestamp,
    },
    Recovered {
        /// `None`: under `min_responses`.
        value: Option<u64>,
        at: Timestamp,
        duration_ns: u64,
        peak: u64,
    },
}

/// One signal's learning and alerting machine for errors or latency; see the module
/// documentation.
pub struct SignalAlerting {
    kind: AlertKind,
    cfg: AlertConfig,
    learn: NonZeroU64,
    window_secs: u64,
    clock: Timestamp,
    cur_sec: u64,
    cur_idx: usize,
    resp: Box<[u64]>,
    errs: Box<[u64]>,
    /// Latency only: `window_secs × LAT_BINS`, second-major.
    hist: Box<[u32]>,
    sum_resp: u64,
    sum_err: u64,
    sum_hist: Box<[u64]>,
    learn_err: u64,
    learn_hist: Box<[u64]>,
    last_value: Option<u64>,
    last_responses: u64,
    first_eval: u64,
    phase: Phase,
    baseline: Option<SignalBaseline>,
    history: History,
    counters: AlertCounters,
    /// The earliest time at which [`SignalAlerting::advance`] does more than move the
    /// clock: the next second boundary, or the end of learning when earlier (see
    /// [`SignalAlerting::due`]).
    due: Timestamp,
}

impl fmt::Debug for SignalAlerting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalAlerting")
            .field("kind", &self.kind)
            .field("clock", &self.clock)
            .field("state", &self.state())
            .field("baseline", &self.baseline)
            .finish_non_exhaustive()
    }
}

impl SignalAlerting {
    /// A machine for `kind` ([`AlertKind::Errors`] or [`AlertKind::Latency`]; `Rate` is
    /// taken as `Errors`) with the clock at `start`, learning unless `baseline` is given.
    pub fn new(
        kind: AlertKind,
        cfg: AlertConfig,
        start: Timestamp,
        baseline: Option<SignalBaseline>,
    ) -> Result<Self, AlertConfigError> {
        let kind = if kind == AlertKind::Latency {
            AlertKind::Latency
        } else {
            AlertKind::Errors
        };
        // The same checks as the rate machine.
        super::Alerting::check(&cfg)?;
        let learn = NonZeroU64::new(cfg.learn_ns).ok_or(AlertConfigError::LearnTooShort)?;
        let window_secs = cfg.window_ns / NS_PER_SEC;
        let w = usize::try_from(window_secs).map_err(|_| AlertConfigError::WindowTooLong)?;
        let baseline = baseline.filter(|b| b.kind() == kind);
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
        let lat = kind == AlertKind::Latency;
        let mut m = SignalAlerting {
            kind,
            history: History::new(cfg.max_history),
            cfg,
            learn,
            window_secs,
            clock: start,
            cur_sec,
            cur_idx: index(cur_sec, window_secs),
            resp: vec![0; w].into_boxed_slice(),
            errs: vec![0; if lat { 0 } else { w }].into_boxed_slice(),
            hist: vec![0; if lat { w * LAT_BINS } else { 0 }].into_boxed_slice(),
            sum_resp: 0,
            sum_err: 0,
            sum_hist: vec![0; if lat { LAT_BINS } else { 0 }].into_boxed_slice(),
            learn_err: 0,
            learn_hist: vec![0; if lat { LAT_BINS } else { 0 }].into_boxed_slice(),
            last_value: None,
            last_responses: 0,
            first_eval,
            phase,
            baseline,
            counters: AlertCounters::default(),
            due: start,
        };
        m.due = m.due();
        Ok(m)
    }

    pub fn kind(&self) -> AlertKind {
        self.kind
    }

    /// One response at `ts`: `error` (a 5xx or failed gRPC call), `latency_ns` (first
    /// request byte to first response byte; `None`: not counted by latency). Evaluates
    /// every boundary up to `ts` first. O(1), allocation-free unless boundaries are
    /// crossed.
    #[inline]
    pub fn on_response(
        &mut self,
        ts: Timestamp,
        error: bool,
        latency_ns: Option<u64>,
        events: &mut Vec<SignalEvent>,
    ) {
        self.on_response_binned(ts, error, latency_ns.map(hist::bin), events);
    }

    /// [`SignalAlerting::on_response`] with the latency given as its statistics bin
    /// (`stats::hist::bin`), computed once per exchange for the statistics and the alerts.
    pub fn on_response_binned(
        &mut self,
        ts: Timestamp,
        error: bool,
        latency_bin: Option<usize>,
        events: &mut Vec<SignalEvent>,
    ) {
        if ts > self.clock {
            self.advance(ts, events);
        } else if ts.secs() < self.cur_sec {
            self.counters.late_requests = self.counters.late_requests.saturating_add(1);
        }
        let i = self.cur_idx;
        let learning = matches!(self.phase, Phase::Learning { .. });
        if self.kind == AlertKind::Latency {
            let Some(fine) = latency_bin else { return };
            let b = (fine / LAT_GROUP).min(LAT_BINS - 1);
            if let Some(c) = self.hist.get_mut(i * LAT_BINS + b) {
                if *c == u32::MAX {
                    return;
                }
                *c += 1;
                if let Some(s) = self.sum_hist.get_mut(b) {
                    *s += 1;
                }
            }
            if learning {
                if let Some(s) = self.learn_hist.get_mut(b) {
                    *s = s.saturating_add(1);
                }
            }
        } else if error {
            if let Some(c) = self.errs.get_mut(i) {
                *c += 1;
                self.sum_err += 1;
            }
            if learning {
                self.learn_err = self.learn_err.saturating_add(1);
            }
        }
        if let Some(c) = self.resp.get_mut(i) {
            *c += 1;
            self.sum_resp += 1;
        }
        if let Phase::Learning { requests, .. } = &mut self.phase {
            *requests = requests.saturating_add(1);
        }
    }

    /// Time has reached `now`: ends learning if due, then evaluates every boundary up to
    /// `now`, in order. A `now` at or before the clock does nothing.
    #[inline]
    pub fn advance(&mut self, now: Timestamp, events: &mut Vec<SignalEvent>) {
        if now <= self.clock {
            return;
        }
        self.clock = now;
        // Within the current second nothing is due but the end of learning (the hot path:
        // one call per response).
        if now >= self.due {
            self.advance_due(now, events);
        }
    }

    /// [`SignalAlerting::advance`] at or after [`SignalAlerting::due`], the clock already
    /// at `now` (out of line: once a second at most, and at the end of learning).
    #[inline(never)]
    fn advance_due(&mut self, now: Timestamp, events: &mut Vec<SignalEvent>) {
        let target = now.secs();
        if matches!(self.phase, Phase::Learning { .. }) {
            self.end_learning_if_due(events);
        }
        if target > self.cur_sec {
            self.roll_to(target, events);
        }
        // The history is purged at second boundaries (while learning it is empty: alerts
        // need a baseline, and learning never follows one).
        self.history
            .purge(Timestamp(now.0.saturating_sub(self.cfg.retention_ns)));
        self.due = self.due();
    }

    /// The first time at which `advance` can do more than move the clock: the next second
    /// boundary (its evaluation, the history purge), or the end of learning if earlier.
    /// `from_secs` saturates, so it is never later than the true boundary.
    fn due(&self) -> Timestamp {
        let next = Timestamp::from_secs(self.cur_sec.saturating_add(1));
        match self.phase {
            Phase::Learning { end, .. } => next.min(end),
            _ => next,
        }
    }

    pub fn state(&self) -> SignalState {
        let value = self.last_value;
        match self.phase {
            Phase::Learning { end, requests, .. } => SignalState::Learning {
                ends: end,
                responses: requests,
            },
            Phase::Normal => SignalState::Normal { value },
            Phase::Alert { since, peak } => SignalState::Alert { since, value, peak },
            Phase::Recovered {
                at,
                duration_ns,
                peak,
            } => SignalState::Recovered {
                at,
                duration_ns,
                peak,
                value,
            },
        }
    }

    pub fn baseline(&self) -> Option<SignalBaseline> {
        self.baseline
    }

    /// Responses in the window of the latest evaluation.
    pub fn responses_in_window(&self) -> u64 {
        self.last_responses
    }

    /// Responses in the window now being filled (the seconds `(cur − W, cur]`).
    pub fn responses_held(&self) -> u64 {
        self.sum_resp
    }

    /// The earliest time at which [`SignalAlerting::advance`] can change anything.
    pub fn next_evaluation(&self) -> Timestamp {
        match self.phase {
            Phase::Learning { end, .. } => end,
            _ => Timestamp::from_secs(self.first_eval.max(self.cur_sec + 1)),
        }
    }

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

    /// Kept episodes, oldest first (peaks in the kind's unit).
    pub fn history(&self) -> impl DoubleEndedIterator<Item = &Episode> + ExactSizeIterator {
        self.history.iter()
    }

    pub fn max_alert_duration_ns(&self) -> Option<u64> {
        self.history.max_duration()
    }

    pub fn avg_alert_duration_ns(&self) -> Option<u64> {
        self.history.avg_duration()
    }

    fn threshold(&self) -> u32 {
        match self.kind {
            AlertKind::Latency => self.cfg.latency_threshold_pct,
            _ => self.cfg.errors_threshold_pct,
        }
    }

    fn end_learning_if_due(&mut self, events: &mut Vec<SignalEvent>) {
        let Phase::Learning { end, requests, .. } = self.phase else {
            return;
        };
        if self.clock < end {
            return;
        }
        match NonZeroU64::new(requests) {
            Some(responses) => {
                let baseline = if self.kind == AlertKind::Latency {
                    let n = self
                        .learn_hist
                        .iter()
                        .fold(0u64, |a, &c| a.saturating_add(c));
                    match p95(&self.learn_hist, n) {
                        Some(p95_ns) => SignalBaseline::Latency { p95_ns, responses },
                        None => return self.restart_learning(end, events),
                    }
                } else {
                    SignalBaseline::Errors {
                        errors: self.learn_err.min(responses.get()),
                        responses,
                    }
                };
                self.baseline = Some(baseline);
                self.phase = Phase::Normal;
                self.first_eval = ceil_secs(end);
                events.push(SignalEvent::Learned { baseline, at: end });
            }
            None => self.restart_learning(end, events),
        }
    }

    fn restart_learning(&mut self, end: Timestamp, events: &mut Vec<SignalEvent>) {
        let learn = self.learn.get();
        let later = self.clock.since(end) / learn;
        let start = end.add_nanos(later * learn);
        let end = start.add_nanos(learn);
        self.phase = Phase::Learning {
            start,
            end,
            requests: 0,
        };
        self.learn_err = 0;
        self.learn_hist.fill(0);
        self.first_eval = ceil_secs(end);
        let empty_periods = later.saturating_add(1);
        self.counters.learning_restarts = self
            .counters
            .learning_restarts
            .saturating_add(empty_periods);
        events.push(SignalEvent::Restarted {
            at: start,
            empty_periods,
        });
    }

    fn roll_to(&mut self, target: u64, events: &mut Vec<SignalEvent>) {
        while self.cur_sec < target {
            if self.sum_resp == 0 {
                let quiet = self.quiet_until(target);
                if quiet > self.cur_sec {
                    self.cur_sec = quiet;
                    self.cur_idx = index(quiet, self.window_secs);
                    self.last_value = None;
                    self.last_responses = 0;
                    continue;
                }
            }
            let s = self.cur_sec + 1;
            let (n, e) = (self.sum_resp, self.sum_err);
            let value = self.compute(n, e);
            self.cur_idx += 1;
            if self.cur_idx == self.resp.len() {
                self.cur_idx = 0;
            }
            let i = self.cur_idx;
            if let Some(c) = self.resp.get_mut(i) {
                self.sum_resp -= *c;
                *c = 0;
            }
            if let Some(c) = self.errs.get_mut(i) {
                self.sum_err -= *c;
                *c = 0;
            }
            if let Some(row) = self.hist.get_mut(i * LAT_BINS..(i + 1) * LAT_BINS) {
                for (c, s) in row.iter_mut().zip(self.sum_hist.iter_mut()) {
                    *s -= u64::from(*c);
                    *c = 0;
                }
            }
            self.cur_sec = s;
            self.last_value = value;
            self.last_responses = n;
            if s >= self.first_eval {
                self.evaluate(s, n, e, value, events);
            }
        }
    }

    /// The window's value, `None` under `min_responses` (or without responses).
    fn compute(&self, n: u64, e: u64) -> Option<u64> {
        if n == 0 || n < self.cfg.min_responses {
            return None;
        }
        match self.kind {
            AlertKind::Latency => {
                let m = self.sum_hist.iter().sum::<u64>();
                p95(&self.sum_hist, m)
            }
            _ => Some(share_bp(e, n)),
        }
    }

    fn quiet_until(&self, target: u64) -> u64 {
        match self.phase {
            Phase::Learning { .. } | Phase::Normal => target,
            Phase::Alert { .. } => self.cur_sec,
            Phase::Recovered { at, .. } => {
                let due = ceil_secs(at.add_nanos(self.cfg.refresh_ns));
                due.saturating_sub(1).min(target)
            }
        }
    }

    /// The rule of the module documentation.
    fn is_over(&self, n: u64, e: u64, value: Option<u64>, b: SignalBaseline) -> bool {
        let Some(v) = value else { return false };
        let thr = 100 + u64::from(self.threshold());
        match b {
            SignalBaseline::Errors { errors, responses } => {
                let lhs = Wide::from(u128::from(e)).mul(responses.get()).mul(100);
                let rhs = Wide::from(u128::from(errors)).mul(n).mul(thr);
                let floor =
                    u128::from(e) * 10_000 > u128::from(self.cfg.errors_floor_bp) * u128::from(n);
                lhs.gt(&rhs) && floor
            }
            SignalBaseline::Latency { p95_ns, .. } => {
                u128::from(v) * 100 > u128::from(p95_ns) * u128::from(thr)
            }
        }
    }

    fn evaluate(
        &mut self,
        s: u64,
        n: u64,
        e: u64,
        value: Option<u64>,
        events: &mut Vec<SignalEvent>,
    ) {
        let Some(baseline) = self.baseline else {
            return;
        };
        let at = Timestamp::from_secs(s);
        let over = self.is_over(n, e, value, baseline);
        let v = value.unwrap_or(0);
        match self.phase {
            Phase::Learning { .. } => {}
            Phase::Normal => {
                if over {
                    self.start_alert(at, v, n, baseline, events);
                }
            }
            Phase::Alert { since, peak } => {
                if over {
                    if v > peak {
                        self.phase = Phase::Alert { since, peak: v };
                        self.history.peak(v);
                    }
                } else {
                    let duration_ns = at.since(since);
                    self.phase = Phase::Recovered {
                        at,
                        duration_ns,
                        peak,
                    };
                    self.history.end(at);
                    events.push(SignalEvent::Recovered {
                        value,
                        at,
                        duration_ns,
                        peak,
                    });
                }
            }
            Phase::Recovered { at: recovered, .. } => {
                if over {
                    self.start_alert(at, v, n, baseline, events);
                } else if at >= recovered.add_nanos(self.cfg.refresh_ns) {
                    self.phase = Phase::Normal;
                }
            }
        }
    }

    fn start_alert(
        &mut self,
        at: Timestamp,
        value: u64,
        responses: u64,
        baseline: SignalBaseline,
        events: &mut Vec<SignalEvent>,
    ) {
        self.phase = Phase::Alert {
            since: at,
            peak: value,
        };
        self.history.start(at, value);
        events.push(SignalEvent::Started {
            value,
            responses,
            baseline,
            threshold_pct: self.threshold(),
            at,
        });
    }
}

/// Every baseline a `--baseline-file` holds. Version 1 files (rate only) are still read;
/// [`BaselineSet::to_text`] writes version 2:
///
/// ```text
/// httptop-baseline v2
/// # 7 requests in 2m 0s, 3.5 per minute
/// requests=7
/// over_ns=120000000000
/// errors=3
/// error_responses=500
/// latency_p95_ns=120000000
/// latency_responses=500
/// ```
///
/// In version 2 every pair is optional (a kind without its pair is learned) but comes
/// whole; the reading rules are those of [`Baseline`]'s format otherwise, and a
/// zero `error_responses` or `latency_responses` is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BaselineSet {
    pub rate: Option<Baseline>,
    pub errors: Option<SignalBaseline>,
    pub latency: Option<SignalBaseline>,
}

impl BaselineSet {
    pub fn to_text(&self) -> String {
        let mut s = String::from("httptop-baseline v2\n");
        if let Some(b) = self.rate {
            let v1 = b.to_text();
            // The v1 body without its header line.
            s.push_str(v1.split_once('\n').map_or("", |(_, rest)| rest));
        }
        if let Some(SignalBaseline::Errors { errors, responses }) = self.errors {
            s.push_str(&format!(
                "# error rate {}\nerrors={errors}\nerror_responses={responses}\n",
                SignalValue(AlertKind::Errors, share_bp(errors, responses.get()))
            ));
        }
        if let Some(SignalBaseline::Latency { p95_ns, responses }) = self.latency {
            s.push_str(&format!(
                "# p95 {}\nlatency_p95_ns={p95_ns}\nlatency_responses={responses}\n",
                SignalValue(AlertKind::Latency, p95_ns)
            ));
        }
        s
    }

    /// Reads a version 1 or 2 file.
    pub fn from_bytes(text: &[u8]) -> Result<Self, BaselineError> {
        if text.len() > super::BASELINE_MAX_TEXT {
            return Err(BaselineError::TooLong);
        }
        let mut header = None;
        let mut vals: [Option<u64>; 6] = [None; 6];
        const KEYS: [&[u8]; 6] = [
            b"requests",
            b"over_ns",
            b"errors",
            b"error_responses",
            b"latency_p95_ns",
            b"latency_responses",
        ];
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line = i + 1;
            let content = trim(raw.strip_suffix(b"\r").unwrap_or(raw));
            if content.is_empty() || content.starts_with(b"#") {
                continue;
            }
            if header.is_none() {
                match content {
                    b"httptop-baseline v1" => {
                        return Baseline::from_bytes(text).map(|b| BaselineSet {
                            rate: Some(b),
                            ..BaselineSet::default()
                        })
                    }
                    b"httptop-baseline v2" => header = Some(line),
                    _ => return Err(BaselineError::BadHeader { line }),
                }
                continue;
            }
            let Some(eq) = content.iter().position(|&b| b == b'=') else {
                return Err(BaselineError::Malformed { line });
            };
            let (key, value) = (trim(&content[..eq]), trim(&content[eq + 1..]));
            let k = KEYS
                .iter()
                .position(|&k| k == key)
                .ok_or(BaselineError::UnknownKey { line })?;
            if vals[k].is_some() {
                return Err(BaselineError::DuplicateKey { line });
            }
            vals[k] = Some(parse_u64(value).ok_or(BaselineError::BadNumber { line })?);
        }
        if header.is_none() {
            return Err(BaselineError::BadHeader { line: 0 });
        }
        let pair = |a: usize, b: usize| match (vals[a], vals[b]) {
            (None, None) => Ok(None),
            (Some(x), Some(y)) => Ok(Some((x, y))),
            (None, _) => Err(BaselineError::MissingKey(key_name(a))),
            (_, None) => Err(BaselineError::MissingKey(key_name(b))),
        };
        let rate = pair(0, 1)?.map(|(r, o)| Baseline::new(r, o)).transpose()?;
        let errors = pair(2, 3)?
            .map(|(errors, n)| {
                let responses = NonZeroU64::new(n).ok_or(BaselineError::ZeroRequests)?;
                Ok(SignalBaseline::Errors {
                    errors: errors.min(n),
                    responses,
                })
            })
            .transpose()?;
        let latency = pair(4, 5)?
            .map(|(p95_ns, n)| {
                let responses = NonZeroU64::new(n).ok_or(BaselineError::ZeroRequests)?;
                Ok(SignalBaseline::Latency { p95_ns, responses })
            })
            .transpose()?;
        Ok(BaselineSet {
            rate,
            errors,
            latency,
        })
    }
}

fn key_name(i: usize) -> &'static str {
    [
        "requests",
        "over_ns",
        "errors",
        "error_responses",
        "latency_p95_ns",
        "latency_responses",
    ][i.min(5)]
}

/// A message of a signal event, in the original program's wording.
pub(super) fn write_message(
    f: &mut fmt::Formatter<'_>,
    kind: AlertKind,
    server: Option<&ServerName>,
    ev: &SignalEvent,
) -> fmt::Result {
    let on = OnServer(server);
    match *ev {
        SignalEvent::Learned { baseline, at } => match baseline {
            SignalBaseline::Errors { errors, responses } => write!(
                f,
                "Learning finished at {}{on} - error baseline {} ({errors} of {responses} responses)",
                Utc(at),
                SignalValue(kind, baseline.value()),
            ),
            SignalBaseline::Latency { responses, .. } => write!(
                f,
                "Learning finished at {}{on} - latency baseline p95 {} ({responses} responses)",
                Utc(at),
                SignalValue(kind, baseline.value()),
            ),
        },
        SignalEvent::Restarted { at, empty_periods } => write!(
            f,
            "No responses during {empty_periods} learning period(s){on} - {} learning restarted at {}",
            kind.name(),
            Utc(at)
        ),
        SignalEvent::Started {
            value, baseline, at, ..
        } => {
            let (what, label) = match kind {
                AlertKind::Latency => ("High latency", "p95"),
                _ => ("High error rate", "5xx"),
            };
            write!(
                f,
                "{what}{on} generated an alert - {label} = {} (baseline {}), triggered at {}",
                SignalValue(kind, value),
                SignalValue(kind, baseline.value()),
                Utc(at)
            )
        }
        SignalEvent::Recovered {
            at,
            duration_ns,
            peak,
            ..
        } => write!(
            f,
            "Recovered from {}{on} at {} - alert lasted {}, peak {}",
            kind.what(),
            Utc(at),
            HumanDuration(duration_ns),
            SignalValue(kind, peak)
        ),
    }
}

struct OnServer<'a>(Option<&'a ServerName>);

impl fmt::Display for OnServer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " on {s}"),
            None => Ok(()),
        }
    }
}
