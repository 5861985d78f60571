//! One snapshot per refresh: the capture loops call [`Refresh::tick`] after every frame or
//! tick; it builds at most one owned snapshot (`Arc<Snapshot>`) per refresh instant, when
//! any consumer is due, and every consumer due reads that same one:
//!
//! - the fleet (Prometheus, Alertmanager): once per second, and at once when alert events
//!   wait for their `host` label ([`httptop_fleet::Fleet::due`]);
//! - the periodic plain/JSON output or the dashboard: every `--refresh`.
//!
//! Contract: no presenter builds a report of its own. The clock is read only every
//! `clock_every` calls (4096 for a file read as fast as possible: see
//! [`crate::mode::RunMode::clock_every`]), so a packet that is not at a refresh instant
//! costs a counter increment. The dashboard gets the snapshot through its one-slot
//! mailbox: nothing here calls into the terminal, so a stalled terminal never delays
//! the capture loop.

use crate::args::OutputFormat;
use httptop_engine::alert::AlertEvent;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::Window;
use httptop_engine::Monitor;
use httptop_output::JsonlWriter;
use httptop_tui::{Dashboard, Update};
use httptop_wire::Timestamp;
use ratatui::backend::{Backend, CrosstermBackend};
use std::io::Stdout;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The refresh schedule and the presenters that refresh (see the module docs).
pub struct Refresh<B: Backend = CrosstermBackend<Stdout>> {
    every: Duration,
    clock_every: u32,
    calls: u32,
    /// When the periodic output or the dashboard is due next.
    next_view: Instant,
    /// Snapshots built so far.
    built: u64,
    /// Periodic output (live capture and realtime replay), with alert lines as they happen.
    pub periodic: Option<Periodic>,
    /// The full-screen dashboard's thread, instead of `periodic`.
    pub dashboard: Option<Dashboard<B>>,
    /// Live capture: packets dropped by the kernel and the interface, for the dashboard.
    pub kernel_drops: Option<u64>,
}

impl<B: Backend> Refresh<B> {
    /// Presenters refresh every `every`, the first time at `first`; the clock is read every
    /// `clock_every` calls of [`Refresh::tick`].
    pub fn new(every: Duration, clock_every: u32, first: Instant) -> Self {
        Refresh {
            every,
            clock_every: clock_every.max(1),
            calls: 0,
            next_view: first,
            built: 0,
            periodic: None,
            dashboard: None,
            kernel_drops: None,
        }
    }

    /// Snapshots built so far.
    #[cfg(test)]
    pub fn built(&self) -> u64 {
        self.built
    }

    /// After a frame or a tick at packet time `now` (see the module docs).
    #[inline]
    pub fn tick(
        &mut self,
        monitor: &Monitor,
        now: Timestamp,
        fleet: Option<&mut httptop_fleet::Fleet>,
    ) {
        self.calls = self.calls.wrapping_add(1);
        let look = self.calls % self.clock_every == 0;
        if !look && !fleet.as_ref().is_some_and(|f| f.has_pending()) {
            return;
        }
        self.tick_at(monitor, now, Instant::now(), fleet);
    }

    /// [`Refresh::tick`] at wall instant `wall` (the clock already read).
    pub fn tick_at(
        &mut self,
        monitor: &Monitor,
        now: Timestamp,
        wall: Instant,
        fleet: Option<&mut httptop_fleet::Fleet>,
    ) {
        let fleet_due = fleet.as_ref().is_some_and(|f| f.due(wall));
        let view_due =
            (self.periodic.is_some() || self.dashboard.is_some()) && wall >= self.next_view;
        if !(fleet_due || view_due) {
            return;
        }
        let snap = Arc::new(monitor.snapshot(now));
        self.built += 1;
        if let Some(f) = fleet {
            f.on_snapshot(&snap, wall);
        }
        if view_due {
            self.next_view = wall + self.every;
            if let Some(p) = &mut self.periodic {
                p.write(&snap);
            }
            if let Some(d) = &self.dashboard {
                d.send(Update {
                    snapshot: snap,
                    kernel_drops: self.kernel_drops,
                });
            }
        }
    }
}

/// Text blocks (plain) or snapshot objects (JSON) every refresh, like the original
/// program's console, and each alert event when it happens.
pub struct Periodic {
    pub format: OutputFormat,
    pub to_stdout: bool,
    /// False under systemd without `--output`: alert lines only (one line each, on
    /// standard error, for the journal), no blocks every refresh.
    pub blocks: bool,
    pub source: String,
    /// Alert events as JSON lines, in the same format as the log.
    pub events: JsonlWriter<Vec<u8>>,
}

/// The window of periodic blocks and snapshots.
const PERIODIC_WINDOW: Window = Window::Min10;

impl Periodic {
    pub fn alert(&mut self, ev: &AlertEvent) {
        match self.format {
            OutputFormat::Plain | OutputFormat::Tui => {
                crate::report::write_out(&format!("{}\n", ev.message()), self.to_stdout)
            }
            OutputFormat::Json => {
                self.events.write_alert(ev);
                let line = std::mem::take(self.events.get_mut());
                crate::report::write_out(&String::from_utf8_lossy(&line), self.to_stdout);
            }
        }
    }

    /// One block or snapshot object.
    fn write(&mut self, snap: &Snapshot) {
        if !self.blocks {
            return;
        }
        let text = match self.format {
            OutputFormat::Plain | OutputFormat::Tui => {
                let title = format!(
                    "httptop {}  {}",
                    self.source,
                    httptop_engine::alert::format_utc(snap.now)
                );
                httptop_output::report::plain(snap, &title, PERIODIC_WINDOW) + "\n"
            }
            OutputFormat::Json => {
                httptop_output::report::json(snap, "snapshot", &self.source, PERIODIC_WINDOW)
            }
        };
        crate::report::write_out(&text, self.to_stdout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::{Exchange, MonitorConfig, Observer};
    use httptop_tui::stall::{text, ChannelInput, Gate, StalledBackend};
    use httptop_tui::{App, Messages};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    #[derive(Default)]
    struct Exchanges(u64);

    impl Observer for Exchanges {
        fn on_exchange(&mut self, _: &Exchange) {
            self.0 += 1;
        }
    }

    /// The acceptance test: the dashboard's terminal stalls on its first frame;
    /// the capture loop still processes every frame and builds a snapshot at each refresh
    /// instant (one per frame here), the dashboard's mailbox keeps only the newest, and
    /// once the terminal is released the newest is what gets drawn.
    #[test]
    fn a_stalled_dashboard_does_not_stop_frames_from_being_processed() {
        let gate = Gate::closed();
        let stop = Arc::new(AtomicBool::new(false));
        let (_keys, rx) = mpsc::channel();
        let term =
            ratatui::Terminal::new(StalledBackend::new(120, 40, gate.clone())).expect("terminal");
        let dashboard = Dashboard::spawn(
            App::new("demo", None),
            term,
            ChannelInput(rx),
            Messages::new(),
            Arc::clone(&stop),
            None,
        )
        .expect("thread");
        let every = Duration::from_secs(1);
        let mut wall = Instant::now();
        let mut refresh = Refresh::new(every, 1, wall);
        refresh.dashboard = Some(dashboard);
        let mut monitor = httptop_engine::Monitor::new(MonitorConfig::default()).expect("monitor");
        let mut seen = Exchanges::default();
        let frames = crate::demo::frames(Timestamp::from_secs(1_700_000_000));
        let frames = &frames[..frames.len().min(3000)];
        for (i, f) in frames.iter().enumerate() {
            monitor.on_frame(&f.frame(), &mut seen);
            refresh.tick_at(&monitor, f.ts, wall, None);
            wall += every; // a refresh instant at every frame
            if i == 0 {
                gate.wait_until_blocked(); // the terminal is stuck on snapshot 1
            }
        }
        let n = frames.len() as u64;
        assert_eq!(monitor.frames(), n, "every frame processed");
        assert!(seen.0 > 100, "exchanges seen: {}", seen.0);
        assert_eq!(refresh.built(), n, "one snapshot per refresh instant");
        let dashboard = refresh.dashboard.take().expect("dashboard");
        assert_eq!(
            dashboard.skipped(),
            n - 2,
            "all but the first and the newest"
        );
        gate.open();
        let end = dashboard.finish().expect("thread ended");
        assert_eq!(end.draws, 2);
        let newest = end.app.latest().expect("a snapshot");
        assert_eq!(newest.counters.frames, n);
        let screen = text(end.terminal.backend().inner.buffer());
        assert!(screen.contains(&format!("packets {n} ")), "{screen}");
        assert!(
            screen.contains(&format!("{} refreshes skipped", n - 2)),
            "{screen}"
        );
        assert!(!stop.load(Ordering::Relaxed));
    }

    #[test]
    fn the_clock_is_read_only_every_clock_every_calls() {
        let gate = Gate::closed();
        gate.open();
        let (_keys, rx) = mpsc::channel();
        let term = ratatui::Terminal::new(StalledBackend::new(80, 24, gate)).expect("terminal");
        let stop = Arc::new(AtomicBool::new(false));
        let dashboard = Dashboard::spawn(
            App::new("test", None),
            term,
            ChannelInput(rx),
            Messages::new(),
            stop,
            None,
        )
        .expect("thread");
        let mut refresh = Refresh::new(Duration::ZERO, 4, Instant::now());
        refresh.dashboard = Some(dashboard);
        let monitor = httptop_engine::Monitor::new(MonitorConfig::default()).expect("monitor");
        for _ in 0..3 {
            refresh.tick(&monitor, Timestamp::from_secs(1), None);
        }
        assert_eq!(refresh.built(), 0, "three calls: the clock not read yet");
        refresh.tick(&monitor, Timestamp::from_secs(1), None);
        assert_eq!(refresh.built(), 1);
        for _ in 0..8 {
            refresh.tick(&monitor, Timestamp::from_secs(1), None);
        }
        assert_eq!(refresh.built(), 3);
    }
}
