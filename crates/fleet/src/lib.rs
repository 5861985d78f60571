//! Fleet scale: a Prometheus exporter (`--metrics-addr`) and an Alertmanager client
//! (`--alertmanager`) for httptop.
//!
//! [`Fleet`] is what the capture loop holds. Its contract with that loop:
//! - [`Fleet::on_exchange`] is called for every exchange: a few additions into fixed
//!   arrays and two lookups in maps of at most [`metrics::MAX_LABELLED`] keys
//!   ([`metrics::Totals`]); nothing when no metrics are served.
//! - [`Fleet::on_alert`] queues the event; nothing else.
//! - [`Fleet::refresh`] is called after every frame or tick; it reads a clock only every
//!   `check_every` calls and publishes at most once per second: the top-k labels from
//!   the statistics' 10-minute tables, capture health and alerting read from the monitor,
//!   and a copy of the totals handed to the server thread under a mutex held for a
//!   copy. Queued alert events are handled there (at once, not once per second), with
//!   the busiest Host of the last minute as their `host` label.
//! - Neither the metrics server nor the Alertmanager client can block it: the server
//!   renders from the published copy; the client is fed by `try_send` on a bounded
//!   channel (see [`alertmanager`]).

pub mod alertmanager;
pub mod metrics;
pub mod server;

use httptop_engine::alert::AlertEvent;
use httptop_engine::stats::Window;
use httptop_engine::{Exchange, Monitor};
use httptop_wire::Timestamp;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use alertmanager::NotifierConfig;
pub use server::BindError;

/// What to run.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// Serve `/metrics` here.
    pub metrics_addr: Option<SocketAddr>,
    /// Post alerts to this Alertmanager (base URL).
    pub alertmanager: Option<String>,
    /// The `instance` label of alerts.
    pub instance: String,
    /// Hosts and sections with labels of their own (`--top`, capped at
    /// [`metrics::MAX_LABELLED`]).
    pub top: usize,
    /// Look at the clock every this many [`Fleet::refresh`] calls (1 for live capture and
    /// paced replays; more for a file read as fast as possible, where refresh is called
    /// per packet).
    pub check_every: u32,
    /// Publish at most this often.
    pub publish_every: Duration,
    pub notifier: NotifierConfig,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            metrics_addr: None,
            alertmanager: None,
            instance: default_instance(),
            top: 10,
            check_every: 1,
            publish_every: Duration::from_secs(1),
            notifier: NotifierConfig::default(),
        }
    }
}

/// Cannot start the exporter or the client.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("cannot start the Alertmanager client: {0}")]
    Client(#[from] std::io::Error),
    #[error("--alertmanager {0}: not an http:// or https:// URL")]
    BadUrl(String),
}

/// Alert events waiting for the next refresh (more are dropped: counted as the client's
/// dropped events).
const MAX_PENDING_EVENTS: usize = 16;

/// The exporter and the client, as the capture loop sees them.
pub struct Fleet {
    top: usize,
    check_every: u32,
    publish_every: Duration,
    calls: u32,
    next_publish: Instant,
    totals: metrics::Totals,
    /// The capture source's counters, as last set.
    source_counters: Vec<httptop_wire::counter::Sample>,
    alerts_started: u64,
    /// Alert events with the wall-clock time they were seen.
    pending: Vec<(AlertEvent, Timestamp)>,
    shared: Option<Arc<server::Shared>>,
    // Declared before `client`: dropped first, so scrapes stop before the last post.
    server: Option<server::MetricsServer>,
    /// The Alertmanager client to start in [`Fleet::spawn`]: URL, instance, settings and
    /// its counters.
    planned: Option<(String, String, NotifierConfig, alertmanager::ClientStats)>,
    client: Option<alertmanager::Client>,
}

impl Fleet {
    /// Binds the metrics listener and checks the Alertmanager URL; starts no thread
    /// (see [`Fleet::spawn`]), so that privileges can be dropped in between.
    pub fn bind(cfg: FleetConfig) -> Result<Self, FleetError> {
        let planned = match &cfg.alertmanager {
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(FleetError::BadUrl(url.clone()));
                }
                let stats = alertmanager::ClientStats::default();
                Some((url.clone(), cfg.instance.clone(), cfg.notifier, stats))
            }
            None => None,
        };
        let (shared, server) = match cfg.metrics_addr {
            Some(addr) => {
                let shared = Arc::new(server::Shared {
                    alertmanager: planned.as_ref().map(|p| p.3.clone()),
                    ..server::Shared::default()
                });
                let srv = server::MetricsServer::bind(addr, Arc::clone(&shared))?;
                (Some(shared), Some(srv))
            }
            None => (None, None),
        };
        Ok(Fleet {
            top: cfg.top.clamp(1, metrics::MAX_LABELLED),
            check_every: cfg.check_every.max(1),
            publish_every: cfg.publish_every,
            calls: 0,
            next_publish: Instant::now(),
            totals: metrics::Totals::default(),
            source_counters: Vec::new(),
            alerts_started: 0,
            pending: Vec::new(),
            shared,
            server,
            planned,
            client: None,
        })
    }

    /// Starts the metrics server and the Alertmanager client threads (once).
    pub fn spawn(&mut self) -> Result<(), FleetError> {
        if let Some(s) = &mut self.server {
            s.start()?;
        }
        if let Some((url, instance, cfg, stats)) = self.planned.take() {
            self.client = Some(alertmanager::Client::start(&url, instance, cfg, stats)?);
        }
        Ok(())
    }

    /// Where metrics are served.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(server::MetricsServer::local_addr)
    }

    /// The exact totals so far (for tests and the summary).
    pub fn totals(&self) -> &metrics::Totals {
        &self.totals
    }

    #[inline]
    pub fn on_exchange(&mut self, ex: &Exchange) {
        if self.shared.is_some() {
            self.totals.on_exchange(ex);
        }
    }

    /// An alert event seen at wall-clock `wall`; handled at the next refresh.
    pub fn on_alert(&mut self, ev: &AlertEvent, wall: Timestamp) {
        match ev {
            AlertEvent::AlertStarted { .. } => self.alerts_started += 1,
            AlertEvent::AlertRecovered { .. } => {}
            _ => return,
        }
        if self.client.is_none() && self.planned.is_none() {
            return;
        }
        if self.pending.len() < MAX_PENDING_EVENTS {
            self.pending.push((*ev, wall));
        } else if let Some(c) = &self.client {
            c.count_dropped();
        }
    }

    /// The capture source's counters (file statistics, the kernel's live counters), as
    /// exported from the next publication on.
    pub fn set_source_counters(
        &mut self,
        samples: impl IntoIterator<Item = httptop_wire::counter::Sample>,
    ) {
        self.source_counters.clear();
        self.source_counters.extend(samples);
    }

    /// Called after every frame or tick, at packet time `now`. See the crate docs.
    #[inline]
    pub fn refresh(&mut self, monitor: &Monitor, now: Timestamp) {
        if !self.pending.is_empty() {
            self.send_pending(monitor, now);
        }
        if self.shared.is_none() {
            return;
        }
        self.calls = self.calls.wrapping_add(1);
        if self.calls % self.check_every != 0 {
            return;
        }
        let t = Instant::now();
        if t >= self.next_publish {
            self.next_publish = t + self.publish_every;
            self.publish(monitor, now, false);
        }
    }

    /// The run ended: final values, and the alert events still queued.
    pub fn finish(&mut self, monitor: &Monitor, now: Timestamp) {
        if !self.pending.is_empty() {
            self.send_pending(monitor, now);
        }
        self.publish(monitor, now, true);
    }

    fn send_pending(&mut self, monitor: &Monitor, now: Timestamp) {
        let Some(client) = &self.client else {
            self.pending.clear();
            return;
        };
        for (ev, wall) in self.pending.drain(..) {
            match ev {
                AlertEvent::AlertStarted { .. } => {
                    let report = monitor.stats().report(Window::Min1, now);
                    let host = report.hosts.first().map_or_else(
                        || "unknown".into(),
                        |r| metrics::label_value(r.key.as_bytes()),
                    );
                    client.fire(wall, host, ev.message());
                }
                AlertEvent::AlertRecovered { .. } => client.resolve(wall, ev.message()),
                _ => {}
            }
        }
    }

    fn publish(&mut self, monitor: &Monitor, now: Timestamp, finished: bool) {
        let Some(shared) = &self.shared else {
            return;
        };
        let report = monitor.stats().report(Window::Min10, now);
        self.totals.relabel(
            report.hosts.iter().map(|r| r.key.as_bytes()),
            report.sections.iter().map(|r| r.key.as_bytes()),
            self.top,
        );
        let mut health = metrics::Health::from_monitor(monitor);
        health.source_counters.clone_from(&self.source_counters);
        health.alerts_started = self.alerts_started;
        health.finished = finished;
        let totals = self.totals.clone();
        let mut p = match shared.state.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        p.totals = totals;
        p.health = health;
    }
}

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`), else `localhost`.
pub fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
