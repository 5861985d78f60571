//! The whole pipeline for one capture source: frames through the [`Engine`] to exchanges,
//! exchanges into [`Stats`], and the request count through [`Alerting`], all driven by
//! packet time.
//!
//! Contract: sans-IO and deterministic like its parts. Requests are counted for alerting
//! at the packet time of the packet that completed their request head (not when their
//! exchange completes), so a request counts in the second it was sent. Time only moves
//! forward for alerting: a frame or tick older than the latest time is treated as
//! happening at the latest time (shuffled captures). Learning starts at the first frame
//! (files) or at [`Monitor::start`] (live capture, called at start-up).

use crate::alert::{AlertConfig, AlertConfigError, AlertEvent, Alerting, Baseline};
use crate::engine::Engine;
use crate::event::{Exchange, Sink};
use crate::limits::Limits;
use crate::stats::{Stats, StatsConfig};
use httptop_wire::{Frame, Timestamp};

/// Receives everything the pipeline produces. Presenters implement it.
pub trait Observer {
    fn on_exchange(&mut self, ex: &Exchange);
    fn on_alert(&mut self, _ev: &AlertEvent) {}
}

/// The engine's exchanges go to the statistics, then to the observer.
struct ExchangeTo<'a> {
    stats: &'a mut Stats,
    obs: &'a mut dyn Observer,
}

impl Sink for ExchangeTo<'_> {
    fn on_exchange(&mut self, ex: &Exchange) {
        self.stats.on_exchange(ex);
        self.obs.on_exchange(ex);
    }
}

/// How to build a [`Monitor`].
#[derive(Clone, Debug, Default)]
pub struct MonitorConfig {
    pub limits: Limits,
    pub alert: AlertConfig,
    /// A saved baseline: learning is skipped.
    pub baseline: Option<Baseline>,
    pub stats: StatsConfig,
}

/// Engine and alerting behind one frame/tick interface.
pub struct Monitor {
    engine: Engine,
    stats: Stats,
    alert_cfg: AlertConfig,
    baseline: Option<Baseline>,
    /// Created at the first frame or at `start`.
    alerting: Option<Alerting>,
    /// Requests already reported to alerting.
    counted: u64,
    events: Vec<AlertEvent>,
}

impl Monitor {
    /// Checks the alerting configuration up front (it is applied at the first frame).
    pub fn new(cfg: MonitorConfig) -> Result<Self, AlertConfigError> {
        Alerting::new(cfg.alert.clone(), Timestamp::ZERO, cfg.baseline)?;
        Ok(Monitor {
            engine: Engine::new(cfg.limits),
            stats: Stats::new(cfg.stats),
            alert_cfg: cfg.alert,
            baseline: cfg.baseline,
            alerting: None,
            counted: 0,
            events: Vec::new(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// `None` until the first frame or [`Monitor::start`].
    pub fn alerting(&self) -> Option<&Alerting> {
        self.alerting.as_ref()
    }

    /// Starts learning at `at` (live capture: start-up time). Files need not call it:
    /// the first frame starts it.
    pub fn start(&mut self, at: Timestamp) {
        if self.alerting.is_none() {
            // The configuration was validated in `new`; it cannot fail here.
            self.alerting = Alerting::new(self.alert_cfg.clone(), at, self.baseline).ok();
        }
    }

    pub fn on_frame(&mut self, frame: &Frame<'_>, obs: &mut dyn Observer) {
        self.start(frame.ts);
        self.stats.advance(frame.ts);
        let mut to = ExchangeTo {
            stats: &mut self.stats,
            obs,
        };
        self.engine.on_frame(frame, &mut to);
        self.count_requests(frame.ts, obs);
    }

    /// Time passes without packets (live capture).
    pub fn on_tick(&mut self, now: Timestamp, obs: &mut dyn Observer) {
        self.start(now);
        self.stats.advance(now);
        let mut to = ExchangeTo {
            stats: &mut self.stats,
            obs,
        };
        self.engine.on_tick(now, &mut to);
        self.count_requests(now, obs);
    }

    /// The source is exhausted: every connection is closed and what it held emitted.
    /// Alerting has been evaluated up to the last whole second seen.
    pub fn finish(&mut self, obs: &mut dyn Observer) {
        let mut to = ExchangeTo {
            stats: &mut self.stats,
            obs,
        };
        self.engine.finish(&mut to);
        let now = self.engine.now();
        self.count_requests(now, obs);
    }

    fn count_requests(&mut self, ts: Timestamp, obs: &mut dyn Observer) {
        let Some(alerting) = self.alerting.as_mut() else {
            return;
        };
        let total = self.engine.counters().http.requests;
        let new = total.saturating_sub(self.counted);
        self.counted = total;
        if new > 0 {
            alerting.on_requests(ts, new, &mut self.events);
        } else {
            alerting.advance(ts, &mut self.events);
        }
        for ev in self.events.drain(..) {
            obs.on_alert(&ev);
        }
    }
}
