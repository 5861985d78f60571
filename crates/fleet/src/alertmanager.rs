//! Alertmanager client: posts httptop's alerts to Alertmanager's v2 API
//! (`POST /api/v2/alerts`) when they start, again while they fire, and when they resolve.
//! Each alert kind has its `alertname` ([`alert_name`]: `HttptopHighTraffic`,
//! `HttptopHighErrorRate`, `HttptopHighLatency`); a per-server alert has a `server` label.
//! One alert per (alertname, server) fires at a time.
//!
//! Contract:
//! - [`Notifier`] is the pure logic, with time as an argument: what to post and when.
//!   An alert is posted at once when it starts (`startsAt` = the wall-clock time httptop
//!   saw it start, `endsAt` = now + [`NotifierConfig::valid_for`]), re-posted every
//!   [`NotifierConfig::resend`] while it fires (each post moves `endsAt` on, as
//!   Prometheus does, so Alertmanager never resolves a live alert by itself), and posted
//!   once more when it recovers with `endsAt` = the recovery time. A failed post is
//!   retried after a backoff that doubles from [`NotifierConfig::backoff_min`] to
//!   [`NotifierConfig::backoff_max`]; the retry carries the newest state, so a recovery
//!   during an outage is delivered as soon as Alertmanager answers again. At most
//!   [`MAX_ALERTS`] alerts wait for delivery; the oldest resolved one goes first
//!   (counted).
//! - [`Client`] is the thin shell: one background thread fed by a bounded channel
//!   ([`QUEUE`] events). The capture thread only calls `try_send`: it never blocks on
//!   the network, and an event that finds the queue full is dropped and counted.

use crate::metrics::NotifierCounts;
use httptop_wire::Timestamp;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

/// Alert events waiting for the client thread.
pub const QUEUE: usize = 64;
/// Alerts waiting for delivery (firing, or resolved and not yet posted).
pub const MAX_ALERTS: usize = 16;
/// The `alertname` label of the request-rate alert.
pub const ALERT_NAME: &str = "HttptopHighTraffic";

/// The `alertname` label of an alert kind.
pub fn alert_name(kind: httptop_engine::alert::AlertKind) -> &'static str {
    use httptop_engine::alert::AlertKind;
    match kind {
        AlertKind::Rate => ALERT_NAME,
        AlertKind::Errors => "HttptopHighErrorRate",
        AlertKind::Latency => "HttptopHighLatency",
    }
}

/// Which alert: its `alertname` and, per server, its `server` label.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AlertKey {
    /// `""` stands for [`ALERT_NAME`].
    pub name: &'static str,
    pub server: Option<String>,
}

impl AlertKey {
    fn name(&self) -> &'static str {
        if self.name.is_empty() {
            ALERT_NAME
        } else {
            self.name
        }
    }
}

/// Schedule of the posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifierConfig {
    /// Re-post a firing alert this often.
    pub resend: Duration,
    /// `endsAt` of a firing alert is the post time plus this (a few resend intervals:
    /// if httptop dies, Alertmanager resolves the alert by itself after it).
    pub valid_for: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            resend: Duration::from_secs(60),
            valid_for: Duration::from_secs(4 * 60),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One alert as Alertmanager will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub key: AlertKey,
    pub instance: String,
    /// The busiest Host when the alert started.
    pub host: String,
    /// The alert line (`High traffic generated an alert - hits = ...`).
    pub summary: String,
    /// The recovery line, once resolved.
    pub description: Option<String>,
    pub starts_at: Timestamp,
    /// Set when it recovered.
    pub ends_at: Option<Timestamp>,
}

/// What to post and when. See the module documentation.
#[derive(Clone, Debug)]
pub struct Notifier {
    cfg: NotifierConfig,
    alerts: Vec<Alert>,
    /// When to post next; `None` when nothing is to be sent.
    next: Option<Timestamp>,
    /// The next retry delay after a failure.
    backoff: Duration,
    /// Resolved alerts dropped undelivered because [`MAX_ALERTS`] were waiting.
    pub overflowed: u64,
}

impl Notifier {
    pub fn new(cfg: NotifierConfig) -> Self {
        Notifier {
            cfg,
            alerts: Vec::new(),
            next: None,
            backoff: cfg.backoff_min,
            overflowed: 0,
        }
    }

    /// The request-rate alert started at `now`: post it at once.
    pub fn fire(&mut self, now: Timestamp, instance: String, host: String, summary: String) {
        self.fire_keyed(now, AlertKey::default(), instance, host, summary);
    }

    /// The alert `key` started at `now`: post it at once.
    pub fn fire_keyed(
        &mut self,
        now: Timestamp,
        key: AlertKey,
        instance: String,
        host: String,
        summary: String,
    ) {
        // One alert per key at a time: a firing one (none, normally) is resolved first.
        self.resolve_keyed(now, &key, None);
        if self.alerts.len() >= MAX_ALERTS {
            let i = self
                .alerts
                .iter()
                .position(|a| a.ends_at.is_some())
                .unwrap_or(0);
            self.alerts.remove(i);
            self.overflowed += 1;
        }
        self.alerts.push(Alert {
            key,
            instance,
            host,
            summary,
            description: None,
            starts_at: now,
            ends_at: None,
        });
        self.next = Some(now);
    }

    /// The firing request-rate alert recovered at `now`: post it at once with `endsAt` =
    /// `now`.
    pub fn resolve(&mut self, now: Timestamp, description: Option<String>) {
        self.resolve_keyed(now, &AlertKey::default(), description);
    }

    /// The firing alert `key` recovered at `now`.
    pub fn resolve_keyed(&mut self, now: Timestamp, key: &AlertKey, description: Option<String>) {
        let mut any = false;
        let same = |a: &Alert| a.key.name() == key.name() && a.key.server == key.server;
        for a in self
            .alerts
            .iter_mut()
            .filter(|a| a.ends_at.is_none() && same(a))
        {
            a.ends_at = Some(now);
            a.description.clone_from(&description);
            any = true;
        }
        if any {
            self.next = Some(now);
        }
    }

    /// When [`Notifier::payload`] should be posted next.
    pub fn next_post(&self) -> Option<Timestamp> {
        self.next
    }

    pub fn due(&self, now: Timestamp) -> bool {
        self.next.is_some_and(|t| t <= now)
    }

    /// Alerts not yet delivered, or still firing.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    /// The body of `POST /api/v2/alerts` at `now`.
    pub fn payload(&self, now: Timestamp) -> serde_json::Value {
        let until = now.add_nanos(ns(self.cfg.valid_for));
        let list: Vec<_> = self
            .alerts
            .iter()
            .map(|a| {
                let mut annotations = json!({ "summary": a.summary });
                if let Some(d) = &a.description {
                    annotations["description"] = json!(d);
                }
                let mut labels = json!({
                    "alertname": a.key.name(),
                    "instance": a.instance,
                    "host": a.host,
                });
                if let Some(s) = &a.key.server {
                    labels["server"] = json!(s);
                }
                json!({
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(a.ends_at.unwrap_or(until)),
                })
            })
            .collect();
        serde_json::Value::Array(list)
    }

    /// The outcome of posting the payload at `now`.
    pub fn posted(&mut self, now: Timestamp, ok: bool) {
        if ok {
            self.alerts.retain(|a| a.ends_at.is_none());
            self.backoff = self.cfg.backoff_min;
            self.next = (!self.alerts.is_empty()).then(|| now.add_nanos(ns(self.cfg.resend)));
        } else {
            self.next = Some(now.add_nanos(ns(self.backoff)));
            self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
        }
    }
}

/// `2023-11-14T22:13:20.500Z`.
pub fn rfc3339(t: Timestamp) -> String {
    let st = std::time::UNIX_EPOCH + Duration::from_nanos(t.nanos());
    humantime::format_rfc3339_millis(st).to_string()
}

/// Where `--alertmanager URL` posts: URL's `/api/v2/alerts` (kept as is when URL already
/// ends with it).
pub fn alerts_endpoint(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/api/v2/alerts") {
        base.to_string()
    } else {
        format!("{base}/api/v2/alerts")
    }
}

/// An event for the client thread; times are wall-clock, taken when httptop saw it.
#[derive(Debug)]
enum Msg {
    Fire {
        at: Timestamp,
        key: AlertKey,
        host: String,
        summary: String,
    },
    Resolve {
        at: Timestamp,
        key: AlertKey,
        description: String,
    },
}

#[derive(Debug, Default)]
struct Shared {
    ok: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Counters of a [`Client`], readable from any thread.
#[derive(Clone, Debug, Default)]
pub struct ClientStats(Arc<Shared>);

impl ClientStats {
    pub fn get(&self) -> NotifierCounts {
        NotifierCounts {
            posts_ok: self.0.ok.load(Ordering::Relaxed),
            posts_failed: self.0.failed.load(Ordering::Relaxed),
            dropped: self.0.dropped.load(Ordering::Relaxed),
        }
    }
}

/// How long the client may still try to deliver when httptop exits.
pub const EXIT_GRACE: Duration = Duration::from_secs(3);

/// The background client. Dropping it lets the thread make a last attempt for alerts
/// not yet delivered, waiting at most [`EXIT_GRACE`].
pub struct Client {
    tx: Option<SyncSender<Msg>>,
    instance: String,
    stats: ClientStats,
    done: mpsc::Receiver<()>,
}

impl Client {
    /// Starts the thread that posts to `url` (see [`alerts_endpoint`]).
    /// `stats` receives its counters (made beforehand, so that the exporter can show
    /// them before the thread starts).
    pub fn start(
        url: &str,
        instance: String,
        cfg: NotifierConfig,
        stats: ClientStats,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let (done_tx, done) = mpsc::sync_channel(1);
        let endpoint = alerts_endpoint(url);
        let shared = Arc::clone(&stats.0);
        let name = instance.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(2)))
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        std::thread::Builder::new()
            .name("alertmanager".into())
            .spawn(move || {
                run(rx, &endpoint, &agent, cfg, &name, &shared);
                let _ = done_tx.send(());
            })?;
        Ok(Client {
            tx: Some(tx),
            instance,
            stats,
            done,
        })
    }

    pub fn stats(&self) -> ClientStats {
        self.stats.clone()
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// An alert started at wall-clock `at`. Never blocks.
    pub fn fire(&self, at: Timestamp, key: AlertKey, host: String, summary: String) {
        self.send(Msg::Fire {
            at,
            key,
            host,
            summary,
        });
    }

    /// The alert recovered at wall-clock `at`. Never blocks.
    pub fn resolve(&self, at: Timestamp, key: AlertKey, description: String) {
        self.send(Msg::Resolve {
            at,
            key,
            description,
        });
    }

    /// Counts an event dropped before it reached the queue.
    pub fn count_dropped(&self) {
        self.stats.0.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn send(&self, m: Msg) {
        if let Some(tx) = &self.tx {
            match tx.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.count_dropped(),
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Closing the channel asks the thread for a last attempt, then to stop.
        self.tx = None;
        let _ = self.done.recv_timeout(EXIT_GRACE);
    }
}

fn wall_now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn run(
    rx: mpsc::Receiver<Msg>,
    endpoint: &str,
    agent: &ureq::Agent,
    cfg: NotifierConfig,
    instance: &str,
    stats: &Shared,
) {
    let mut n = Notifier::new(cfg);
    loop {
        let now = wall_now();
        let wait = n.next_post().map_or(Duration::from_secs(3600), |t| {
            Duration::from_nanos(t.since(now))
        });
        let closing = match rx.recv_timeout(wait) {
            Ok(m) => {
                apply(&mut n, m, instance);
                // Take whatever else is queued before posting once.
                while let Ok(m) = rx.try_recv() {
                    apply(&mut n, m, instance);
                }
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        let now = wall_now();
        if n.due(now) || (closing && !n.alerts().is_empty()) {
            let ok = post(agent, endpoint, &n.payload(now));
            let c = if ok { &stats.ok } else { &stats.failed };
            c.fetch_add(1, Ordering::Relaxed);
            n.posted(wall_now(), ok);
        }
        if closing {
            return;
        }
    }
}

fn apply(n: &mut Notifier, m: Msg, instance: &str) {
    match m {
        Msg::Fire {
            at,
            key,
            host,
            summary,
        } => {
            n.fire_keyed(at, key, instance.to_string(), host, summary);
        }
        Msg::Resolve {
            at,
            key,
            description,
        } => n.resolve_keyed(at, &key, Some(description)),
    }
}

fn post(agent: &ureq::Agent, endpoint: &str, body: &serde_json::Value) -> bool {
    let text = body.to_string();
    agent
        .post(endpoint)
        .header("Content-Type", "application/json")
        .send(text.as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn t(s: u64) -> Timestamp {
        Timestamp(1_700_000_000 * S + s * S)
    }

    fn fired() -> Notifier {
        let mut n = Notifier::new(NotifierConfig::default());
        n.fire(t(0), "web1".into(), "shop.example".into(), "High".into());
        n
    }

    #[test]
    fn posts_at_start_then_every_resend_while_firing() {
        let mut n = fired();
        assert!(n.due(t(0)));
        let p = n.payload(t(0));
        assert_eq!(p[0]["labels"]["alertname"], ALERT_NAME);
        assert_eq!(p[0]["labels"]["instance"], "web1");
        assert_eq!(p[0]["labels"]["host"], "shop.example");
        assert_eq!(p[0]["annotations"]["summary"], "High");
        assert_eq!(p[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(
            p[0]["endsAt"], "2023-11-14T22:17:20.000Z",
            "valid for 4 min"
        );
        n.posted(t(0), true);
        assert!(!n.due(t(59)));
        assert!(n.due(t(60)));
        assert_eq!(n.payload(t(60))[0]["endsAt"], "2023-11-14T22:18:20.000Z");
        assert_eq!(n.payload(t(60))[0]["startsAt"], p[0]["startsAt"]);
    }

    #[test]
    fn resolve_posts_the_recovery_time_once() {
        let mut n = fired();
        n.posted(t(0), true);
        n.resolve(t(30), Some("recovered".into()));
        assert!(n.due(t(30)));
        let p = n.payload(t(31));
        assert_eq!(p[0]["endsAt"], "2023-11-14T22:13:50.000Z");
        assert_eq!(p[0]["annotations"]["description"], "recovered");
        n.posted(t(31), true);
        assert_eq!(n.next_post(), None);
        assert!(n.alerts().is_empty());
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_cap_and_keep_the_newest_state() {
        let mut n = fired();
        let mut now = t(0);
        let mut delays = Vec::new();
        for _ in 0..9 {
            assert!(n.due(now));
            n.posted(now, false);
            let next = n.next_post().expect("retry scheduled");
            delays.push(next.since(now) / S);
            now = next;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Recovery during the outage: the next retry carries it.
        n.resolve(now, None);
        assert!(n.due(now), "a change is posted at once");
        assert!(n.payload(now)[0]["endsAt"] == rfc3339(now));
        n.posted(now, true);
        assert_eq!(n.next_post(), None);
        // The backoff starts again from the minimum.
        n.fire(now, "i".into(), "h".into(), "s".into());
        n.posted(now, false);
        assert_eq!(n.next_post(), Some(now.add_nanos(S)));
    }

    #[test]
    fn a_new_alert_before_the_old_resolution_is_delivered_sends_both() {
        let mut n = fired();
        n.resolve(t(10), None);
        n.posted(t(10), false);
        n.fire(t(11), "web1".into(), "shop.example".into(), "again".into());
        let p = n.payload(t(11));
        assert_eq!(p.as_array().map(Vec::len), Some(2));
        assert_eq!(p[0]["endsAt"], rfc3339(t(10)));
        assert_eq!(p[1]["startsAt"], rfc3339(t(11)));
        n.posted(t(11), true);
        assert_eq!(n.alerts().len(), 1, "the firing one stays");
    }

    #[test]
    fn waiting_alerts_are_capped() {
        let mut n = Notifier::new(NotifierConfig::default());
        for i in 0..(MAX_ALERTS as u64 + 5) {
            n.fire(t(i), "i".into(), "h".into(), "s".into());
            n.resolve(t(i), None);
            n.posted(t(i), false);
        }
        assert_eq!(n.alerts().len(), MAX_ALERTS);
        assert_eq!(n.overflowed, 5);
    }

    #[test]
    fn endpoint_from_url() {
        assert_eq!(
            alerts_endpoint("http://127.0.0.1:9093"),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        assert_eq!(
            alerts_endpoint("http://am:9093/prefix/"),
            "http://am:9093/prefix/api/v2/alerts"
        );
        assert_eq!(
            alerts_endpoint("http://am/api/v2/alerts"),
            "http://am/api/v2/alerts"
        );
    }
}
