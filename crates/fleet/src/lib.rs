//! Fleet scale: a Prometheus exporter (`--metrics-addr`) and an Alertmanager client
//! (`--alertmanager`) for httptop.
//!
//! [`Fleet`] is what the capture loop holds. Its contract with that loop:
//! - [`Fleet::on_exchange`] is called for every exchange: a few additions into fixed
//!   arrays and two lookups in maps of at most [`metrics::MAX_LABELLED`] keys
//!   ([`metrics::Totals`]); nothing when no metrics are served.
//! - [`Fleet::on_alert`] queues the event; nothing else.
//! - It builds no report of its own: the capture loop asks [`Fleet::due`] (with the wall
//!   instant it read, as rarely as it reads the clock) and, when a snapshot is due, hands
//!   the refresh's one snapshot to [`Fleet::on_snapshot`]. That publishes at most once per
//!   `publish_every` (a second): the top-k labels from the snapshot's 10-minute tables,
//!   capture health and alerting from the snapshot, and a copy of the totals handed to the
//!   server thread under a mutex held for a copy. Queued alert events make a snapshot due
//!   at once (not once per second); they get the busiest Host of the snapshot's last
//!   minute as their `host` label.
//! - Neither the metrics server nor the Alertmanager client can block it: the server
//!   renders from the published copy; the client is fed by `try_send` on a bounded
//!   channel (see [`alertmanager`]).

pub mod alertmanager;
pub mod metrics;
pub mod server;

use httptop_engine::alert::AlertEvent;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::Window;
use httptop_engine::Exchange;
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
    publish_every: Duration,
    next_publish: Instant,
    totals: metrics::Totals,
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
            publish_every: cfg.publish_every,
            next_publish: Instant::now(),
            totals: metrics::Totals::default(),
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

    /// A TLS connection ended (`Observer::on_tls`): counted for the TLS families.
    #[inline]
    pub fn on_tls(&mut self, t: &httptop_engine::tls::TlsSession) {
        if self.shared.is_some() {
            self.totals.on_tls(t);
        }
    }

    /// An alert event seen at wall-clock `wall`; handled at the next refresh.
    pub fn on_alert(&mut self, ev: &AlertEvent, wall: Timestamp) {
        if ev.is_alert_start() {
            self.alerts_started += 1;
        } else if !ev.is_recovery() {
            return;
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

    /// Alert events are waiting for a snapshot (the capture loop then builds one without
    /// waiting for its next look at the clock).
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the capture loop should build a snapshot for the fleet at wall instant
    /// `t`: alert events are waiting, or the next publication is due.
    #[inline]
    pub fn due(&self, t: Instant) -> bool {
        !self.pending.is_empty() || (self.shared.is_some() && t >= self.next_publish)
    }

    /// The refresh's snapshot, built at wall instant `t` (for the fleet or for another
    /// presenter): queued alert events are sent, and the metrics published if due.
    pub fn on_snapshot(&mut self, snap: &Snapshot, t: Instant) {
        if !self.pending.is_empty() {
            self.send_pending(snap);
        }
        if self.shared.is_some() && t >= self.next_publish {
            self.next_publish = t + self.publish_every;
            self.publish(snap, false);
        }
    }

    /// The run ended (`snap`: the final snapshot): final values, and the alert events
    /// still queued.
    pub fn finish(&mut self, snap: &Snapshot) {
        if !self.pending.is_empty() {
            self.send_pending(snap);
        }
        self.publish(snap, true);
    }

    fn send_pending(&mut self, snap: &Snapshot) {
        let Some(client) = &self.client else {
            self.pending.clear();
            return;
        };
        for (ev, wall) in self.pending.drain(..) {
            let key = alertmanager::AlertKey {
                name: alertmanager::alert_name(ev.kind()),
                server: ev.server().map(|s| metrics::label_value(s.as_bytes())),
            };
            if ev.is_alert_start() {
                let host = match ev.server() {
                    Some(s) => metrics::label_value(s.as_bytes()),
                    None => snap.report(Window::Min1).hosts.first().map_or_else(
                        || "unknown".into(),
                        |r| metrics::label_value(r.key.as_bytes()),
                    ),
                };
                client.fire(wall, key, host, ev.message());
            } else if ev.is_recovery() {
                client.resolve(wall, key, ev.message());
            }
        }
    }

    fn publish(&mut self, snap: &Snapshot, finished: bool) {
        let Some(shared) = &self.shared else {
            return;
        };
        let report = snap.report(Window::Min10);
        self.totals.relabel(
            report.hosts.iter().map(|r| r.key.as_bytes()),
            report.sections.iter().map(|r| r.key.as_bytes()),
            self.top,
        );
        let grpc: Vec<Vec<u8>> = report
            .grpc
            .iter()
            .map(|g| [g.service.as_bytes(), b"/", g.method.as_bytes()].concat())
            .collect();
        self.totals
            .relabel_grpc(grpc.iter().map(Vec::as_slice), self.top);
        self.totals.relabel_processes(
            report.processes.iter().map(|p| (p.role, p.comm.as_bytes())),
            self.top,
        );
        self.totals.relabel_tls(
            report.tls.names.iter().map(|r| r.key.as_bytes()),
            report.tls.ciphers.iter().map(|r| r.name.as_bytes()),
            self.top,
        );
        let mut health = metrics::Health::from_snapshot(snap);
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

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::alert::Baseline;
    use httptop_engine::{Monitor, MonitorConfig};

    /// The fleet builds nothing: it says when a snapshot is due (time as an argument) and
    /// publishes the one it is handed.
    #[test]
    fn publishes_the_snapshot_it_is_handed_once_per_interval_and_alerts_make_it_due() {
        let mut fleet = Fleet::bind(FleetConfig {
            metrics_addr: "127.0.0.1:0".parse().ok(),
            // Planned, never started: events queue and are dropped at the next snapshot.
            alertmanager: Some("http://127.0.0.1:9".into()),
            ..FleetConfig::default()
        })
        .expect("bind");
        let mut monitor = Monitor::new(MonitorConfig::default()).expect("monitor");
        monitor.start(Timestamp::from_secs(1_700_000_000));
        let snap = monitor.snapshot(Timestamp::from_secs(1_700_000_030));
        let t0 = Instant::now();
        assert!(fleet.due(t0), "the first publication is due at once");
        fleet.on_snapshot(&snap, t0);
        let text = fleet.shared.as_ref().expect("served").exposition();
        assert!(
            text.contains("httptop_alert_state{state=\"learning\"} 1"),
            "{text}"
        );
        let half = t0 + Duration::from_millis(500);
        assert!(!fleet.due(half));
        assert!(fleet.due(t0 + Duration::from_secs(1)));
        let ev = AlertEvent::AlertStarted {
            hits: 10,
            baseline: Baseline::from_bytes(
                b"httptop-baseline v1\nrequests=1\nover_ns=1000000000\n",
            )
            .expect("baseline"),
            window_ns: 1_000_000_000,
            threshold_pct: 10,
            at: snap.now,
        };
        fleet.on_alert(&ev, snap.now);
        assert!(
            fleet.has_pending() && fleet.due(half),
            "an alert is due at once"
        );
        fleet.on_snapshot(&snap, half);
        assert!(!fleet.has_pending() && !fleet.due(half));
    }
}
