//! The errors and latency machines of one monitor: global, and per server with
//! `per_server`.
//!
//! Contract: sans-IO, deterministic, driven by the caller's time like
//! [`super::Alerting`]. Global machines start at `start`; a server's machines start
//! (learning) at its first response. At most `max_servers` servers are watched: a new
//! server takes the slot of one whose window holds no response and which is not in alert
//! ([`SignalCounters::servers_replaced`]); when there is none its responses are not
//! watched per server ([`SignalCounters::servers_unwatched`], one per response), though
//! still counted globally. So the watched servers are the ones with current traffic, up to
//! the cap. Events of one call are pushed in time order.
//!
//! Hot path: one response is O(1) (a hash lookup of the server name when per server);
//! the other machines are only advanced when the time reaches the earliest instant one of
//! them can change ([`SignalAlerting::next_evaluation`]), so a frame in the middle of a
//! second costs nothing more than counting.

use super::{
    AlertConfig, AlertEvent, AlertKind, Episode, ServerName, SignalAlerting, SignalBaseline,
    SignalEvent, SignalState,
};
use httptop_wire::Timestamp;
use std::collections::HashMap;

/// Counters of the per-server watch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalCounters {
    /// Responses of a server not watched because `max_servers` were (none idle).
    pub servers_unwatched: u64,
    /// Idle watched servers replaced by a new one.
    pub servers_replaced: u64,
}

/// One machine's state for presenters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalView {
    pub kind: AlertKind,
    /// `None`: global.
    pub server: Option<ServerName>,
    pub state: SignalState,
    pub baseline: Option<SignalBaseline>,
    /// Responses in the window of the latest evaluation.
    pub responses: u64,
    /// Alert episodes kept, oldest first (peaks in the kind's unit).
    pub history: Vec<Episode>,
    pub max_duration_ns: Option<u64>,
    pub avg_duration_ns: Option<u64>,
}

struct Server {
    name: ServerName,
    machines: Vec<SignalAlerting>,
}

/// Errors and latency alerting, global and per server.
pub struct SignalSet {
    cfg: AlertConfig,
    global: Vec<SignalAlerting>,
    servers: Vec<Server>,
    index: HashMap<ServerName, usize>,
    next_due: Timestamp,
    scratch: Vec<SignalEvent>,
    counters: SignalCounters,
}

impl core::fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignalSet")
            .field("global", &self.global)
            .field("servers", &self.servers.len())
            .finish_non_exhaustive()
    }
}

impl SignalSet {
    /// The kinds of `cfg.kinds` among errors and latency, from `start`. The
    /// configuration must be valid (as [`super::Alerting::new`] checks); an invalid one
    /// gives a set that watches nothing.
    pub fn new(
        cfg: AlertConfig,
        start: Timestamp,
        errors: Option<SignalBaseline>,
        latency: Option<SignalBaseline>,
    ) -> Self {
        let global = machines(&cfg, start, errors, latency);
        let mut s = SignalSet {
            cfg,
            global,
            servers: Vec::new(),
            index: HashMap::new(),
            next_due: start,
            scratch: Vec::new(),
            counters: SignalCounters::default(),
        };
        s.next_due = s.compute_due();
        s
    }

    /// Whether any machine runs.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty()
    }

    /// Whether `server` names are wanted by [`SignalSet::on_response`].
    pub fn per_server(&self) -> bool {
        self.cfg.per_server && !self.global.is_empty()
    }

    /// A response at `ts` (see [`SignalAlerting::on_response`]) of `server` (used with
    /// `per_server`). Events go to `out`.
    #[inline]
    pub fn on_response(
        &mut self,
        ts: Timestamp,
        server: Option<&ServerName>,
        error: bool,
        latency_ns: Option<u64>,
        out: &mut Vec<AlertEvent>,
    ) {
        let bin = latency_ns.map(crate::stats::hist_bin);
        self.on_response_binned(ts, server, error, bin, out);
    }

    /// [`SignalSet::on_response`] with the latency as its statistics bin (computed once
    /// per exchange by the monitor for the statistics and the alerts).
    pub fn on_response_binned(
        &mut self,
        ts: Timestamp,
        server: Option<&ServerName>,
        error: bool,
        latency_bin: Option<usize>,
        out: &mut Vec<AlertEvent>,
    ) {
        self.advance(ts, out);
        // `advance` ran first, so no machine can change here and `scratch` stays empty;
        // whatever it held would still be delivered.
        for m in &mut self.global {
            m.on_response_binned(ts, error, latency_bin, &mut self.scratch);
            let kind = m.kind();
            out.extend(self.scratch.drain(..).map(|event| AlertEvent::Signal {
                kind,
                server: None,
                event,
            }));
        }
        if let (true, Some(name)) = (self.cfg.per_server, server) {
            if let Some(i) = self.slot(ts, name) {
                if let Some(s) = self.servers.get_mut(i) {
                    for m in &mut s.machines {
                        m.on_response_binned(ts, error, latency_bin, &mut self.scratch);
                        let kind = m.kind();
                        out.extend(self.scratch.drain(..).map(|event| AlertEvent::Signal {
                            kind,
                            server: Some(s.name),
                            event,
                        }));
                    }
                }
            }
        }
    }

    /// Time has reached `now`: every machine is evaluated up to it.
    #[inline]
    pub fn advance(&mut self, now: Timestamp, out: &mut Vec<AlertEvent>) {
        if now >= self.next_due {
            self.advance_due(now, out);
        }
    }

    /// [`SignalSet::advance`] once a check is due (kept out of line: the per-frame call is
    /// the comparison above).
    fn advance_due(&mut self, now: Timestamp, out: &mut Vec<AlertEvent>) {
        let start = out.len();
        for m in &mut self.global {
            m.advance(now, &mut self.scratch);
            let kind = m.kind();
            out.extend(self.scratch.drain(..).map(|event| AlertEvent::Signal {
                kind,
                server: None,
                event,
            }));
        }
        for s in &mut self.servers {
            for m in &mut s.machines {
                m.advance(now, &mut self.scratch);
                let kind = m.kind();
                out.extend(self.scratch.drain(..).map(|event| AlertEvent::Signal {
                    kind,
                    server: Some(s.name),
                    event,
                }));
            }
        }
        if let Some(new) = out.get_mut(start..) {
            new.sort_by_key(AlertEvent::at);
        }
        self.next_due = self.compute_due();
    }

    pub fn counters(&self) -> SignalCounters {
        self.counters
    }

    /// Servers watched now.
    pub fn servers(&self) -> usize {
        self.servers.len()
    }

    /// Every machine's state: global first (errors, latency), then per server in the
    /// order they were first seen.
    pub fn views(&self) -> Vec<SignalView> {
        let global = self.global.iter().map(|m| (None, m));
        let per = self
            .servers
            .iter()
            .flat_map(|s| s.machines.iter().map(move |m| (Some(s.name), m)));
        global
            .chain(per)
            .map(|(server, m)| SignalView {
                kind: m.kind(),
                server,
                state: m.state(),
                baseline: m.baseline(),
                responses: m.responses_in_window(),
                history: m.history().copied().collect(),
                max_duration_ns: m.max_alert_duration_ns(),
                avg_duration_ns: m.avg_alert_duration_ns(),
            })
            .collect()
    }

    /// The global baselines learned or loaded: (errors, latency).
    pub fn baselines(&self) -> (Option<SignalBaseline>, Option<SignalBaseline>) {
        let get = |k| {
            self.global
                .iter()
                .find(|m| m.kind() == k)
                .and_then(SignalAlerting::baseline)
        };
        (get(AlertKind::Errors), get(AlertKind::Latency))
    }

    fn compute_due(&self) -> Timestamp {
        self.global
            .iter()
            .chain(self.servers.iter().flat_map(|s| s.machines.iter()))
            .map(SignalAlerting::next_evaluation)
            .min()
            .unwrap_or(Timestamp(u64::MAX))
    }

    /// The slot of `name`, taking one if needed.
    fn slot(&mut self, ts: Timestamp, name: &ServerName) -> Option<usize> {
        if let Some(&i) = self.index.get(name) {
            return Some(i);
        }
        let start = ts.max(self.global.first().map_or(ts, SignalAlerting::clock));
        let fresh = Server {
            name: *name,
            machines: machines(&self.cfg, start, None, None),
        };
        let i = if self.servers.len() < self.cfg.max_servers {
            self.servers.push(fresh);
            self.servers.len() - 1
        } else {
            let idle = self.servers.iter().position(|s| {
                s.machines.iter().all(|m| {
                    m.responses_held() == 0 && !matches!(m.state(), SignalState::Alert { .. })
                })
            });
            let Some(i) = idle else {
                self.counters.servers_unwatched = self.counters.servers_unwatched.saturating_add(1);
                return None;
            };
            self.counters.servers_replaced = self.counters.servers_replaced.saturating_add(1);
            if let Some(old) = self.servers.get_mut(i) {
                self.index.remove(&old.name);
                *old = fresh;
            }
            i
        };
        self.index.insert(*name, i);
        self.next_due = self.next_due.min(self.compute_due());
        Some(i)
    }
}

fn machines(
    cfg: &AlertConfig,
    start: Timestamp,
    errors: Option<SignalBaseline>,
    latency: Option<SignalBaseline>,
) -> Vec<SignalAlerting> {
    [(AlertKind::Errors, errors), (AlertKind::Latency, latency)]
        .into_iter()
        .filter(|(k, _)| cfg.runs(*k))
        .filter_map(|(k, b)| SignalAlerting::new(k, cfg.clone(), start, b).ok())
        .collect()
}
