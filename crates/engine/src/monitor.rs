//! The whole pipeline for one capture source: frames through the [`Engine`] to events,
//! exchanges into [`Stats`], request starts into [`Alerting`], all driven by packet time.
//!
//! Contract: sans-IO and deterministic like its parts. Alerting and statistics count the
//! same requests: alerting counts each [`Event::RequestStarted`], at the packet time of
//! the packet that completed the request head (not when its exchange completes), so a
//! request counts in the second it was sent; statistics count the one exchange each
//! request yields (see [`crate::event`]). Time only moves
//! forward for alerting: a frame or tick older than the latest time is treated as
//! happening at the latest time (shuffled captures). Learning starts at the first frame
//! (files) or at [`Monitor::start`] (live capture, called at start-up).

use crate::alert::{
    AlertConfig, AlertConfigError, AlertEvent, AlertKind, Alerting, Baseline, ServerName,
    SignalBaseline, SignalSet,
};
use crate::engine::Engine;
use crate::event::{Event, Exchange, Sink, WebSocketSession};
use crate::limits::Limits;
use crate::snapshot::{AlertView, Snapshot};
use crate::stats::{Stats, StatsConfig, Window};
use crate::tls::TlsSession;
use httptop_wire::counter::Sample;
use httptop_wire::{Frame, Timestamp};

/// Receives everything the pipeline produces. Presenters implement it.
pub trait Observer {
    fn on_exchange(&mut self, ex: &Exchange);
    fn on_alert(&mut self, _ev: &AlertEvent) {}
    /// A WebSocket connection ended (after the statistics counted it).
    fn on_websocket(&mut self, _ws: &WebSocketSession) {}
    /// A TLS connection ended (after the statistics counted it).
    fn on_tls(&mut self, _t: &TlsSession) {}
}

/// The engine's exchanges and WebSocket sessions go to the statistics, then to the
/// observer; request starts are counted for alerting.
struct EventsTo<'a> {
    stats: &'a mut Stats,
    obs: &'a mut dyn Observer,
    requests: &'a mut u64,
    /// Errors and latency alerting, with the call's packet time and its events.
    signals: Option<(&'a mut SignalSet, Timestamp, &'a mut Vec<AlertEvent>)>,
}

impl Sink for EventsTo<'_> {
    fn on_exchange(&mut self, ex: &Exchange) {
        // The latency's bin once, for the statistics and the latency alert.
        let bin = ex.latency_ns.map(crate::stats::hist_bin);
        self.stats.on_exchange_binned(ex, bin);
        if let Some((set, ts, events)) = &mut self.signals {
            if ex.status.is_some() && !ex.flags.contains(crate::event::Flags::NO_REQUEST) {
                let server = set.per_server().then(|| server_name(ex));
                set.on_response_binned(*ts, server.as_ref(), ex.is_error(), bin, events);
            }
        }
        self.obs.on_exchange(ex);
    }

    fn on_event(&mut self, ev: &Event) {
        match ev {
            Event::Exchange(ex) => self.on_exchange(ex),
            Event::RequestStarted { .. } => *self.requests += 1,
            Event::WebSocket(ws) => {
                self.stats.on_websocket(ws);
                self.obs.on_websocket(ws);
            }
            Event::Tls(t) => {
                self.stats.on_tls(t);
                self.obs.on_tls(t);
            }
            _ => {}
        }
    }
}

/// The server an exchange counts under, as the statistics key it: the Host value, or
/// `ip:port` without one. No allocation.
fn server_name(ex: &Exchange) -> ServerName {
    if ex.host.is_empty() {
        match ex.server {
            Some(a) => ServerName::display(a),
            None => ServerName::new(b""),
        }
    } else {
        ServerName::new(ex.host.as_bytes())
    }
}

/// How to build a [`Monitor`].
#[derive(Clone, Debug, Default)]
pub struct MonitorConfig {
    pub limits: Limits,
    pub alert: AlertConfig,
    /// A saved baseline: learning is skipped.
    pub baseline: Option<Baseline>,
    /// Saved errors and latency baselines: their learning is skipped.
    pub errors_baseline: Option<SignalBaseline>,
    pub latency_baseline: Option<SignalBaseline>,
    pub stats: StatsConfig,
}

/// Engine and alerting behind one frame/tick interface.
pub struct Monitor {
    engine: Engine,
    stats: Stats,
    alert_cfg: AlertConfig,
    baseline: Option<Baseline>,
    /// Created at the first frame or at `start` (unless the rate kind is off).
    alerting: Option<Alerting>,
    /// Errors and latency: created with `alerting`.
    signals: Option<SignalSet>,
    signal_baselines: (Option<SignalBaseline>, Option<SignalBaseline>),
    started_at: Option<Timestamp>,
    /// Requests started in the call in progress, not yet reported to alerting.
    started: u64,
    events: Vec<AlertEvent>,
    /// Errors and latency events of the call in progress.
    signal_events: Vec<AlertEvent>,
    /// The capture source's counters as last handed in (see [`Monitor::set_source_counters`]).
    source_counters: Vec<Sample>,
    /// A sharded engine's view (see [`Monitor::set_engine_view`]).
    view: Option<EngineView>,
}

/// What snapshots take from the engine, when the engine is sharded.
struct EngineView {
    counters: crate::Counters,
    open_flows: usize,
    now: Timestamp,
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
            signals: None,
            signal_baselines: (cfg.errors_baseline, cfg.latency_baseline),
            started_at: None,
            started: 0,
            events: Vec::new(),
            signal_events: Vec::new(),
            source_counters: Vec::new(),
            view: None,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The latest packet time seen (a sharded engine's: see [`Monitor::set_engine_view`]).
    pub fn now(&self) -> Timestamp {
        self.view.as_ref().map_or(self.engine.now(), |v| v.now)
    }

    /// Frames seen so far (a sharded engine's as last published).
    pub fn frames(&self) -> u64 {
        self.view
            .as_ref()
            .map_or(self.engine.counters().frames, |v| v.counters.frames)
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The capture source's counters (file reader statistics, the kernel's live
    /// counters): the shell that owns the source hands them in (at refresh instants, not
    /// per packet); every snapshot from now on carries them.
    pub fn set_source_counters(&mut self, samples: impl IntoIterator<Item = Sample>) {
        self.source_counters.clear();
        self.source_counters.extend(samples);
    }

    /// Everything presenters show, at `now` (at least the latest time seen).
    pub fn snapshot(&self, now: Timestamp) -> Snapshot {
        let (counters, open_flows, engine_now) = match &self.view {
            Some(v) => (&v.counters, v.open_flows, v.now),
            None => (
                self.engine.counters(),
                self.engine.open_flows(),
                self.engine.now(),
            ),
        };
        let now = now.max(engine_now);
        Snapshot {
            now,
            alert: self.alerting.as_ref().map(|a| AlertView {
                state: a.state(),
                baseline: a.baseline(),
                config: a.config().clone(),
                hits_in_window: a.hits_in_window(),
                next_evaluation: a.next_evaluation(),
                history: a.history().cloned().collect(),
                max_duration_ns: a.max_alert_duration_ns(),
                avg_duration_ns: a.avg_alert_duration_ns(),
            }),
            counters: counters.clone(),
            stats_counters: {
                let mut c = self.stats.counters().clone();
                if let Some(s) = &self.signals {
                    let sc = s.counters();
                    c.alert_servers_unwatched = sc.servers_unwatched;
                    c.alert_servers_replaced = sc.servers_replaced;
                }
                c
            },
            source_counters: self.source_counters.clone(),
            signals: self
                .signals
                .as_ref()
                .map(SignalSet::views)
                .unwrap_or_default(),
            open_flows,
            rate_per_second: self.stats.rate_per_second(now),
            reports: Window::ALL.map(|w| self.stats.report(w, now)),
            websocket: self.stats.websocket().clone(),
        }
    }

    /// `None` until the first frame or [`Monitor::start`], or when the rate kind is off.
    pub fn alerting(&self) -> Option<&Alerting> {
        self.alerting.as_ref()
    }

    /// Errors and latency alerting: `None` until the first frame or [`Monitor::start`].
    pub fn signals(&self) -> Option<&SignalSet> {
        self.signals.as_ref()
    }

    /// Starts learning at `at` (live capture: start-up time). Files need not call it:
    /// the first frame starts it.
    #[inline]
    pub fn start(&mut self, at: Timestamp) {
        if self.started_at.is_none() {
            self.start_at(at);
        }
    }

    /// [`Monitor::start`] the first time (out of line: every frame calls `start`).
    #[inline(never)]
    fn start_at(&mut self, at: Timestamp) {
        self.started_at = Some(at);
        if self.alert_cfg.runs(AlertKind::Rate) {
            // The configuration was validated in `new`; it cannot fail here.
            self.alerting = Alerting::new(self.alert_cfg.clone(), at, self.baseline).ok();
        }
        let (e, l) = self.signal_baselines;
        let set = SignalSet::new(self.alert_cfg.clone(), at, e, l);
        self.signals = (!set.is_empty()).then_some(set);
    }

    pub fn on_frame(&mut self, frame: &Frame<'_>, obs: &mut dyn Observer) {
        self.start(frame.ts);
        self.call(frame.ts, obs, |engine, to| engine.on_frame(frame, to));
    }

    /// One input of the TLS plaintext source ([`crate::plain`]), fed like a frame: its
    /// exchanges go to the statistics, alerting and the observer as the wire's do.
    pub fn on_plain(&mut self, input: &crate::plain::Input<'_>, obs: &mut dyn Observer) {
        let ts = input.ts();
        self.start(ts);
        self.call(ts, obs, |engine, to| engine.on_plain(input, to));
    }

    /// Time passes without packets (live capture).
    pub fn on_tick(&mut self, now: Timestamp, obs: &mut dyn Observer) {
        self.start(now);
        self.call(now, obs, |engine, to| engine.on_tick(now, to));
    }

    /// The source is exhausted: every connection is closed and what it held emitted.
    /// Alerting has been evaluated up to the last whole second seen.
    pub fn finish(&mut self, obs: &mut dyn Observer) {
        if self.view.is_some() {
            // Sharded: the end came through `finish_merged`.
            return;
        }
        let now = self.engine.now();
        self.call_with(now, obs, |engine, to| engine.finish(to));
    }

    /// A sharded engine's frame at `ts` (see [`crate::shard`]): what [`Monitor::on_frame`]
    /// does after the engine, with `events`, the frame's events in merged order.
    pub fn on_merged(
        &mut self,
        ts: Timestamp,
        events: impl FnOnce(&mut dyn FnMut(&Event)),
        obs: &mut dyn Observer,
    ) {
        self.start(ts);
        self.call(ts, obs, |_, to| events(&mut |ev| to.on_event(ev)));
    }

    /// A sharded engine's end at `now`, the latest time seen: what [`Monitor::finish`]
    /// does after the engine, with the shards' end events in merged order.
    pub fn finish_merged(
        &mut self,
        now: Timestamp,
        events: impl FnOnce(&mut dyn FnMut(&Event)),
        obs: &mut dyn Observer,
    ) {
        self.call_with(now, obs, |_, to| events(&mut |ev| to.on_event(ev)));
    }

    /// A sharded engine's counters, connections and time, for the snapshots (the
    /// monitor's own engine is not fed then).
    pub fn set_engine_view(
        &mut self,
        counters: crate::Counters,
        open_flows: usize,
        now: Timestamp,
    ) {
        self.view = Some(EngineView {
            counters,
            open_flows,
            now,
        });
    }

    /// A call at packet time `ts`: statistics and errors/latency machines move to `ts`,
    /// `f` runs the engine (or hands over merged events), request starts go to alerting.
    fn call(
        &mut self,
        ts: Timestamp,
        obs: &mut dyn Observer,
        f: impl FnOnce(&mut Engine, &mut EventsTo<'_>),
    ) {
        self.stats.advance(ts);
        self.advance_signals(ts);
        self.call_with(ts, obs, f);
    }

    /// [`Monitor::call`] without moving the statistics and machines first (the end).
    fn call_with(
        &mut self,
        ts: Timestamp,
        obs: &mut dyn Observer,
        f: impl FnOnce(&mut Engine, &mut EventsTo<'_>),
    ) {
        let mut to = EventsTo {
            stats: &mut self.stats,
            obs,
            requests: &mut self.started,
            signals: self
                .signals
                .as_mut()
                .map(|s| (s, ts, &mut self.signal_events)),
        };
        f(&mut self.engine, &mut to);
        self.count_requests(ts, obs);
    }

    /// Errors and latency machines up to `ts`, before the call's responses are counted.
    fn advance_signals(&mut self, ts: Timestamp) {
        if let Some(s) = self.signals.as_mut() {
            s.advance(ts, &mut self.signal_events);
        }
    }

    fn count_requests(&mut self, ts: Timestamp, obs: &mut dyn Observer) {
        // Every `RequestStarted` of one call carries the call's packet time, `ts`.
        let new = std::mem::take(&mut self.started);
        if let Some(alerting) = self.alerting.as_mut() {
            if new > 0 {
                alerting.on_requests(ts, new, &mut self.events);
            } else {
                alerting.advance(ts, &mut self.events);
            }
        }
        if self.events.is_empty() && self.signal_events.is_empty() {
            return;
        }
        self.deliver(obs);
    }

    /// Hands the call's alert events to the observer (out of line: most calls have none).
    #[inline(never)]
    fn deliver(&mut self, obs: &mut dyn Observer) {
        if self.signal_events.is_empty() {
            for ev in self.events.drain(..) {
                obs.on_alert(&ev);
            }
            return;
        }
        // Both in time order: merge them (rate first on a tie).
        self.events.append(&mut self.signal_events);
        self.events.sort_by_key(AlertEvent::at);
        for ev in self.events.drain(..) {
            obs.on_alert(&ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertState;
    use httptop_wire::LinkType;

    fn frame(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (a, b) = if sport == 80 {
            ([10, 0, 0, 2], [10, 0, 0, 1])
        } else {
            ([10, 0, 0, 1], [10, 0, 0, 2])
        };
        httptop_wire::build::ethernet_ipv4_tcp((a, sport), (b, dport), seq, 0, flags, payload)
    }

    struct Seen(Vec<Exchange>, Vec<AlertEvent>);
    impl Observer for Seen {
        fn on_exchange(&mut self, ex: &Exchange) {
            self.0.push(ex.clone());
        }
        fn on_alert(&mut self, ev: &AlertEvent) {
            self.1.push(*ev);
        }
    }

    #[test]
    fn websocket_sessions_reach_the_statistics_and_the_observer() {
        struct Ws(Vec<WebSocketSession>);
        impl Observer for Ws {
            fn on_exchange(&mut self, _: &Exchange) {}
            fn on_websocket(&mut self, ws: &WebSocketSession) {
                self.0.push(ws.clone());
            }
        }
        let mut stats = Stats::new(StatsConfig::default());
        let mut obs = Ws(Vec::new());
        let mut requests = 0;
        let ws = WebSocketSession {
            messages_to_client: 4,
            close_code: Some(1000),
            ..WebSocketSession::default()
        };
        let mut to = EventsTo {
            stats: &mut stats,
            obs: &mut obs,
            requests: &mut requests,
            signals: None,
        };
        to.on_event(&Event::WebSocket(Box::new(ws.clone())));
        assert_eq!(obs.0, vec![ws]);
        assert_eq!(stats.websocket().sessions, 1);
        assert_eq!(stats.websocket().close_codes, vec![(1000, 1)]);
    }

    #[test]
    fn tls_sessions_reach_the_statistics_and_the_observer() {
        struct Tls(Vec<TlsSession>);
        impl Observer for Tls {
            fn on_exchange(&mut self, _: &Exchange) {}
            fn on_tls(&mut self, t: &TlsSession) {
                self.0.push(t.clone());
            }
        }
        let mut stats = Stats::new(StatsConfig::default());
        let mut obs = Tls(Vec::new());
        let mut requests = 0;
        let t = TlsSession {
            end: Timestamp::from_secs(1_700_000_000),
            version: Some(0x0303),
            ..TlsSession::default()
        };
        let mut to = EventsTo {
            stats: &mut stats,
            obs: &mut obs,
            requests: &mut requests,
            signals: None,
        };
        to.on_event(&Event::Tls(Box::new(t.clone())));
        assert_eq!(obs.0, vec![t]);
        let r = stats.report(Window::Min1, Timestamp::from_secs(1_700_000_000));
        assert_eq!(r.tls.connections, 1);
        assert_eq!(r.tls.versions[0].name, "TLS 1.2");
    }

    #[test]
    fn snapshot_shows_tables_learning_and_health() {
        let mut m = Monitor::new(MonitorConfig::default()).unwrap();
        let mut seen = Seen(Vec::new(), Vec::new());
        let req = b"GET /api/x HTTP/1.1\r\nHost: a.example\r\n\r\n";
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let t0 = Timestamp::from_secs(1_700_000_000);
        let frames = [
            frame(40000, 80, 100, 0x02, b""),
            frame(40000, 80, 101, 0x18, req),
            frame(80, 40000, 500, 0x18, resp),
        ];
        for (i, f) in frames.iter().enumerate() {
            let fr = Frame {
                ts: t0.add_nanos(i as u64 * 1_000_000),
                linktype: LinkType::ETHERNET,
                orig_len: f.len() as u32,
                data: f,
            };
            m.on_frame(&fr, &mut seen);
        }
        assert_eq!(seen.0.len(), 1);
        let snap = m.snapshot(t0.add_nanos(5_000_000_000));
        assert_eq!(snap.now, t0.add_nanos(5_000_000_000));
        assert_eq!(snap.counters.frames, 3);
        assert_eq!(snap.open_flows, 1);
        for w in Window::ALL {
            assert_eq!(snap.report(w).requests, 1, "{w:?}");
        }
        assert_eq!(
            snap.report(Window::Min1).sections[0].key.as_bytes(),
            b"a.example/api"
        );
        let alert = snap.alert.expect("started at the first frame");
        assert!(matches!(alert.state, AlertState::Learning(p) if p.requests == 1));
        assert_eq!(snap.rate_per_second.iter().map(|(_, n)| n).sum::<u64>(), 1);
    }
}
