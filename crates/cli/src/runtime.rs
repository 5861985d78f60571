//! Wiring: a capture source feeds the engine; the engine feeds the presenters.
//!
//! The only place that reads clocks, handles signals and decides exit codes. SIGINT and
//! SIGTERM stop the capture; what the engine holds is then finished (requests still
//! waiting are written with `no_response`) and every output flushed before exit 0.
//! A damaged capture file (bytes skipped, a record cut short, a read error or damage the
//! reader gave up on) ends the same way, every damage named as it is met, then exits 1.
//! SIGHUP (only with `--log FILE` and standard error not a terminal) reopens the log between two records (logrotate's
//! convention); `--log-max-mib` rotates it by size (see `crate::logfile`). Under systemd
//! (standard error is the journal) without `--output`, nothing but one-line messages is
//! written: alerts and the closing summary on standard error, no blocks, no report.

use crate::args::{Args, OutputFormat};
use crate::logfile::{LogFile, LogSink, Rotation};
use crate::logthread::LogPipe;
use crate::mode::{RunMode, MIN_REFRESH};
use crate::plaintext::PlainSource;
use crate::privs::{Privs, PrivsError};
use crate::refresh::{Periodic, Refresh};
use anyhow::Context as _;
use httptop_capture::{CaptureError, FileSource, LiveConfig, LiveNext, LiveSource};
use httptop_engine::alert::{AlertEvent, AlertKind, BaselineSet, SignalEvent};
use httptop_engine::{Exchange, Monitor, MonitorConfig, Observer, TlsSession, WebSocketSession};
use httptop_output::JsonlWriter;
use httptop_wire::Timestamp;
use std::io::{self, BufWriter, IsTerminal, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Why httptop stopped with a non-zero exit code.
pub enum Failure {
    /// A setup problem the user can fix (permission, bad argument): exit 2.
    Usage(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<PrivsError> for Failure {
    fn from(e: PrivsError) -> Self {
        match e.is_usage() {
            true => Failure::Usage(e.to_string()),
            false => Failure::Other(e.into()),
        }
    }
}

const PERMISSION_HINT: &str =
    "run as root, or grant the capability: sudo setcap cap_net_raw,cap_net_admin=eip \"$(command -v httptop)\"";

/// Every presenter of this run, behind one [`Observer`].
struct Outputs {
    /// The JSON Lines log, written on its own thread once started (`crate::logthread`).
    log: Option<LogPipe>,
    /// Set by SIGHUP when the log is a file: reopen it between two records.
    hup: Option<Arc<AtomicBool>>,
    exchanges: u64,
    /// Where to save the baseline when learning finishes: opened (created empty) before
    /// privileges are dropped.
    baseline_file: Option<(std::path::PathBuf, std::fs::File)>,
    /// The baselines loaded or learned so far: what the file holds.
    baselines: BaselineSet,
    /// The periodic output or the dashboard, and when they are due.
    refresh: Refresh,
    /// The dashboard to start after the privilege drop (`--output tui`).
    dashboard_app: Option<httptop_tui::App>,
    /// Set when the user quits the dashboard: the capture loops stop on it.
    stop: Arc<AtomicBool>,
    /// Messages held while the dashboard owns the screen, printed after.
    messages: httptop_tui::Messages,
    /// Prometheus exporter and Alertmanager client (`--metrics-addr`, `--alertmanager`).
    fleet: Option<httptop_fleet::Fleet>,
    /// The progress bar of `-r FILE` on a terminal.
    progress: Option<crate::progress::Progress>,
}

impl crate::shards::Merged for Outputs {
    fn merged(&mut self, monitor: &Monitor, ts: Timestamp) {
        self.refresh(monitor, ts);
    }
}

impl Observer for Outputs {
    fn on_exchange(&mut self, ex: &Exchange) {
        self.exchanges += 1;
        if let Some(l) = &mut self.log {
            l.exchange(ex);
        }
        if let Some(f) = &mut self.fleet {
            f.on_exchange(ex);
        }
    }

    fn on_websocket(&mut self, ws: &WebSocketSession) {
        if let Some(l) = &mut self.log {
            l.websocket(ws);
        }
    }

    fn on_tls(&mut self, t: &TlsSession) {
        if let Some(l) = &mut self.log {
            l.tls(t);
        }
        if let Some(f) = &mut self.fleet {
            f.on_tls(t);
        }
    }

    fn on_alert(&mut self, ev: &AlertEvent) {
        if let Some(l) = &mut self.log {
            l.alert(ev);
        }
        if let Some(p) = &mut self.refresh.periodic {
            p.alert(ev);
        }
        if let Some(f) = &mut self.fleet {
            f.on_alert(ev, wall_now());
        }
        // Each global baseline learned is added to the file, rewritten whole.
        let set = &mut self.baselines;
        match *ev {
            AlertEvent::LearningFinished { baseline, .. } => set.rate = Some(baseline),
            AlertEvent::Signal {
                server: None,
                event: SignalEvent::Learned { baseline, .. },
                kind,
            } => match kind {
                AlertKind::Latency => set.latency = Some(baseline),
                _ => set.errors = Some(baseline),
            },
            _ => return,
        }
        let text = self.baselines.to_text();
        let Some((path, file)) = &mut self.baseline_file else {
            return;
        };
        let saved = file
            .set_len(0)
            .and_then(|()| file.seek(io::SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()));
        if let Err(e) = saved {
            let msg = format!(
                "httptop: cannot save the baseline to {}: {e}",
                path.display()
            );
            self.baseline_file = None;
            self.note(msg);
        }
    }
}

impl Outputs {
    /// Opens every output; `learning`: the baseline file (if any) is to be written.
    fn open(
        args: &Args,
        mode: &RunMode,
        format: OutputFormat,
        learning: bool,
        stop: &Arc<AtomicBool>,
    ) -> anyhow::Result<Self> {
        let rotation = args.log_max_mib.map(|mib| Rotation {
            max_bytes: mib.saturating_mul(1 << 20),
            keep: args.log_keep,
        });
        let sink = match &args.log {
            None => None,
            Some(p) if p.as_os_str() == "-" => Some(LogSink::Stdout(io::stdout())),
            Some(p) => Some(LogSink::File(
                LogFile::create(p, rotation)
                    .with_context(|| format!("cannot create log file {}", p.display()))?,
            )),
        };
        // On a terminal, SIGHUP keeps its meaning (the terminal went away: stop).
        let hup = match &sink {
            Some(LogSink::File(_)) if !io::stderr().is_terminal() => {
                let flag = Arc::new(AtomicBool::new(false));
                signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&flag))
                    .context("cannot install the SIGHUP handler")?;
                Some(flag)
            }
            _ => None,
        };
        let log = sink.map(|w| {
            LogPipe::new(
                JsonlWriter::new(BufWriter::with_capacity(1 << 16, w)),
                args.quiet,
            )
        });
        let to_stdout = args.log.as_ref().is_none_or(|p| p.as_os_str() != "-");
        let every = args.refresh.max(MIN_REFRESH);
        let dashboard = format == OutputFormat::Tui && mode.watching();
        // The dashboard draws at once; periodic output after one interval.
        let first = Instant::now()
            + if dashboard {
                Duration::ZERO
            } else {
                args.refresh
            };
        let mut refresh = Refresh::new(every, mode.clock_every(), first);
        let service = args.output.is_none() && under_journal();
        refresh.periodic = (mode.watching() && !dashboard).then(|| Periodic {
            format,
            to_stdout: to_stdout && !service,
            blocks: !service,
            source: source_name(mode, args),
            events: JsonlWriter::new(Vec::new()),
        });
        let dashboard_app = dashboard.then(|| {
            httptop_tui::App::new(source_name(mode, args), mode.filter().map(String::from))
        });
        Ok(Outputs {
            log,
            hup,
            exchanges: 0,
            baseline_file: match &args.baseline_file {
                Some(p) if learning => Some((
                    p.clone(),
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                )),
                _ => None,
            },
            refresh,
            dashboard_app,
            stop: Arc::clone(stop),
            messages: httptop_tui::Messages::new(),
            fleet: None,
            baselines: BaselineSet::default(),
            progress: None,
        })
    }

    /// Starts the threads of the outputs (after the privilege drop): the fleet's, then the
    /// dashboard's, which takes the terminal.
    fn start_threads(&mut self) -> Result<(), Failure> {
        if let Some(l) = &mut self.log {
            l.start().context("cannot start the log writer thread")?;
        }
        if let Some(f) = &mut self.fleet {
            f.spawn().map_err(|e| Failure::Other(e.into()))?;
        }
        if let Some(app) = self.dashboard_app.take() {
            let d = httptop_tui::Dashboard::spawn_terminal(
                app,
                self.messages.clone(),
                Arc::clone(&self.stop),
            )
            .context("cannot set up the terminal")?;
            self.refresh.dashboard = Some(d);
        }
        Ok(())
    }

    /// A message for the user: on stderr, or held for the dashboard's status line (and
    /// printed after it ends) while the dashboard owns the screen.
    fn note(&self, text: String) {
        if self.refresh.dashboard.is_some() {
            self.messages.push(text);
        } else if let Some(p) = &self.progress {
            p.suspend_for(&text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Ends the dashboard (the terminal is restored), then prints the messages it held.
    /// Returns whether there was a dashboard.
    fn end_dashboard(&mut self) -> bool {
        let Some(d) = self.refresh.dashboard.take() else {
            return false;
        };
        drop(d.finish());
        let (held, dropped) = self.messages.take();
        let mut e = io::stderr().lock();
        for m in held {
            let _ = writeln!(e, "{m}");
        }
        if dropped > 0 {
            let _ = writeln!(e, "httptop: {dropped} more messages were dropped");
        }
        true
    }

    /// After a frame or tick at packet time `now`: the refresh's snapshot, if one is due.
    #[inline]
    fn refresh(&mut self, monitor: &Monitor, now: Timestamp) {
        if self
            .hup
            .as_ref()
            .is_some_and(|h| h.load(Ordering::Relaxed) && h.swap(false, Ordering::Relaxed))
        {
            if let Some(l) = &mut self.log {
                l.reopen();
            }
        }
        self.log_notes();
        self.refresh.tick(monitor, now, self.fleet.as_mut());
    }

    /// True when output can no longer be written because its reader went away.
    fn broken_pipe(&self) -> bool {
        self.log.as_ref().is_some_and(LogPipe::broken_pipe)
    }

    /// What the log writer had to say (rotation, reopen), said now.
    fn log_notes(&self) {
        if let Some(l) = &self.log {
            for n in l.notes() {
                self.note(n);
            }
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if let Some(l) = &mut self.log {
            l.flush().context("cannot write the log")?;
        }
        self.log_notes();
        Ok(())
    }
}

impl Drop for Outputs {
    /// On an error path too: the terminal is restored and held messages printed before
    /// `main` prints the error.
    fn drop(&mut self) {
        self.end_dashboard();
    }
}

pub fn run(args: &Args) -> Result<(), Failure> {
    if args.list_interfaces {
        return list_interfaces();
    }
    if args.list_counters {
        crate::report::write_out(&crate::counters::list(), true);
        return Ok(());
    }
    let mode = RunMode::from_args(args);
    let format = args.output_format(&mode);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    // The user is looked up now; privileges are dropped once the source is open.
    let privs = Privs::plan(args.user.as_deref(), !args.no_sandbox)?.log_dir(log_dir(args));
    let loaded = load_baseline(args)?;
    let alert = args.alert_config();
    let learning = (alert.runs(AlertKind::Rate) && loaded.rate.is_none())
        || (alert.runs(AlertKind::Errors) && loaded.errors.is_none())
        || (alert.runs(AlertKind::Latency) && loaded.latency.is_none());
    let mut monitor = Monitor::new(MonitorConfig {
        limits: args.limits(),
        alert,
        baseline: loaded.rate,
        errors_baseline: loaded.errors,
        latency_baseline: loaded.latency,
        stats: args.stats_config(),
    })
    .map_err(|e| Failure::Usage(format!("invalid alerting options: {e}")))?;
    let mut out = Outputs::open(args, &mode, format, learning, &stop)?;
    out.baselines = loaded;
    // Bound now, before the capture opens and privileges are dropped; its threads (and
    // the dashboard's) start after the drop (see `drop_privileges`).
    out.fleet = start_fleet(args)?;
    let started = Instant::now();
    // Set when a capture file was damaged: said last, exit 1.
    let mut damaged = None;
    let notes = match &mode {
        RunMode::Demo { speed } => {
            drop_privileges(privs, &mut out)?;
            run_demo(*speed, &mut monitor, &mut out, &stop);
            Vec::new()
        }
        RunMode::File { path } => {
            let bar = crate::progress::wanted(true, path.as_os_str() == "-", args.quiet);
            // One decoding thread unless asked: with two, peak memory under the
            // hostile suite's worst case rose from 96 to 112-122 MiB (the pipeline's
            // buffers; see ARCHITECTURE, "Sharded offline engine").
            let threads = args.threads.map_or(1, usize::from);
            let shards = (threads > 1).then(|| (args.limits(), threads));
            damaged = run_file(
                path,
                None,
                shards,
                bar,
                privs,
                &mut monitor,
                &mut out,
                &stop,
            )?;
            Vec::new()
        }
        RunMode::Replay { path, speed } => {
            damaged = run_file(
                path,
                Some(*speed),
                None,
                false,
                privs,
                &mut monitor,
                &mut out,
                &stop,
            )?;
            Vec::new()
        }
        RunMode::Live { interface, filter } => run_live(
            args,
            interface.as_deref(),
            filter,
            privs,
            &mut monitor,
            &mut out,
            &stop,
        )?,
    };
    // The dashboard stays up after a replay or the demo ends, until the user quits;
    // packet time goes on at the replay's pace so that alerts can still recover.
    if let (Some(speed), true) = (mode.pace(), out.refresh.dashboard.is_some()) {
        let (t0, w0) = (monitor.now(), Instant::now());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
            let now = t0.add_nanos((w0.elapsed().as_secs_f64() * speed * 1e9) as u64);
            monitor.on_tick(now, &mut out);
            out.refresh(&monitor, now);
        }
    }
    monitor.finish(&mut out);
    out.flush()?;
    let snap = monitor.snapshot(monitor.now());
    if let Some(f) = &mut out.fleet {
        f.finish(&snap);
    }
    let to_stdout = args.log.as_ref().is_none_or(|p| p.as_os_str() != "-");
    // Restores the terminal and prints the held messages, then a short text summary.
    if out.end_dashboard() {
        crate::report::write_out(&httptop_tui::final_summary(&snap), true);
    } else if args.output.is_some() || !under_journal() {
        crate::report::print(&snap, &source_name(&mode, args), format, to_stdout);
    }
    if !args.quiet {
        eprint!(
            "{}",
            crate::counters::summary(&snap, out.exchanges, started.elapsed(), &notes)
        );
    }
    if let (Some(linger), Some(f)) = (args.fleet.linger, &out.fleet) {
        if !args.quiet {
            let metrics = f
                .metrics_addr()
                .map(|a| format!(": final metrics at http://{a}/metrics"))
                .unwrap_or_default();
            eprintln!(
                "httptop: lingering for {} (or until interrupted){metrics}",
                humantime::format_duration(linger)
            );
        }
        let end = Instant::now() + linger;
        while !stop.load(Ordering::Relaxed) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    match damaged {
        Some(msg) => Err(Failure::Other(anyhow::anyhow!(msg))),
        None => Ok(()),
    }
}

/// Standard error goes to the systemd journal (systemd sets `JOURNAL_STREAM` for a
/// service whose output it keeps): without `--output`, no text blocks every refresh and
/// no report at the end, only one-line messages (alerts, the summary) on standard error.
fn under_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() && !io::stderr().is_terminal()
}

/// The directory of the `--log` file, where reopening and rotation create files.
fn log_dir(args: &Args) -> Option<std::path::PathBuf> {
    let p = args.log.as_ref().filter(|p| p.as_os_str() != "-")?;
    let abs = std::path::absolute(p).ok()?;
    abs.parent().map(|d| d.to_path_buf())
}

/// Drops privileges (on the only thread: see `crate::privs`), then starts the threads
/// of the outputs (fleet, dashboard), whose sockets were bound before.
fn drop_privileges(privs: Privs, out: &mut Outputs) -> Result<crate::privs::Dropped, Failure> {
    let dropped = privs.apply()?;
    out.start_threads()?;
    Ok(dropped)
}

/// The Prometheus exporter and the Alertmanager client, when asked for: sockets bound,
/// threads not started (see [`drop_privileges`]).
fn start_fleet(args: &Args) -> Result<Option<httptop_fleet::Fleet>, Failure> {
    let a = &args.fleet;
    if !a.enabled() {
        return Ok(None);
    }
    let cfg = httptop_fleet::FleetConfig {
        metrics_addr: a.metrics_addr,
        alertmanager: a.alertmanager.clone(),
        instance: a
            .instance
            .clone()
            .unwrap_or_else(httptop_fleet::default_instance),
        top: args.top,
        ..httptop_fleet::FleetConfig::default()
    };
    let fleet = httptop_fleet::Fleet::bind(cfg).map_err(|e| Failure::Usage(e.to_string()))?;
    if !args.quiet {
        if let Some(addr) = fleet.metrics_addr() {
            eprintln!("httptop: metrics at http://{addr}/metrics");
        }
    }
    Ok(Some(fleet))
}

/// The saved baselines, when `--baseline-file` names an existing file (version 1 or 2).
fn load_baseline(args: &Args) -> Result<BaselineSet, Failure> {
    let Some(path) = &args.baseline_file else {
        return Ok(BaselineSet::default());
    };
    match std::fs::read(path) {
        // Created empty by a run stopped before learning finished.
        Ok(bytes) if bytes.is_empty() => Ok(BaselineSet::default()),
        Ok(bytes) => BaselineSet::from_bytes(&bytes)
            .map_err(|e| Failure::Usage(format!("{}: not a baseline file: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BaselineSet::default()),
        Err(e) => Err(Failure::Usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Reads a capture file; with `pace` (`--realtime --speed N`), frames are handed over at
/// N times the pace of their timestamps, and packet time keeps moving (ticks) between them
/// so that alerts can recover during silences.
///
/// Damage the reader steps over is named as it is met (`out.note`); a read error, or
/// damage the reader gives up on, ends the reading but not the run: the caller finishes
/// the engine, prints the report and flushes the log as after a clean file. Returns the
/// closing message when anything was skipped (the run then exits 1).
#[allow(clippy::too_many_arguments)]
fn run_file(
    path: &std::path::Path,
    pace: Option<f64>,
    shards: Option<(httptop_engine::Limits, usize)>,
    bar: bool,
    privs: Privs,
    monitor: &mut Monitor,
    out: &mut Outputs,
    stop: &AtomicBool,
) -> Result<Option<String>, Failure> {
    let reader: Box<dyn io::Read + Send> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        match f.metadata().map(|m| m.len()) {
            Ok(total) if bar && total > 0 => {
                let bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
                out.progress = Some(crate::progress::Progress::new(total, Arc::clone(&bytes)));
                Box::new(crate::progress::Counting { inner: f, bytes })
            }
            _ => Box::new(f),
        }
    };
    let mut src =
        FileSource::new(reader).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    drop_privileges(privs, out)?;
    // Reading overlaps decoding on a second thread, started after the drop, as do the
    // shards' threads (`--threads`).
    match shards {
        Some(_) => src.start_read_ahead_with(crate::shards::POOL_CHUNKS),
        None => src.start_read_ahead(),
    }
    .map_err(|e| Failure::Other(anyhow::Error::new(e).context("cannot start the reader")))?;
    let mut shards = match shards {
        Some((limits, n)) => Some(crate::shards::Shards::start(&limits, n).map_err(|e| {
            Failure::Other(anyhow::Error::new(e).context("cannot start the decoding threads"))
        })?),
        None => None,
    };
    let name = path.display();
    let mut n: u32 = 0;
    let mut clock = pace.map(Pacer::new);
    let mut stopped = None;
    loop {
        let ts = if let Some(sh) = &mut shards {
            match src.next_shared() {
                Ok(Some(f)) => {
                    sh.push(f, src.frame_chunk(), monitor, out)?;
                    f.ts
                }
                Ok(None) => break,
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            }
        } else {
            let frame = match src.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    stopped = Some(e);
                    break;
                }
            };
            if let Some(c) = &mut clock {
                c.wait_for(frame.ts, monitor, out, stop);
                // Watched like a live capture: the log reaches its file every second.
                if c.last_flush.elapsed() >= Duration::from_secs(1) {
                    out.flush()?;
                    c.last_flush = Instant::now();
                }
            }
            monitor.on_frame(&frame, out);
            frame.ts
        };
        n = n.wrapping_add(1);
        // The reader's counters go to the snapshots every 4,096 frames, and at every
        // frame of a paced replay (which may never reach 4,096 while it is watched).
        let every = n % 4096 == 0;
        if every || clock.is_some() {
            monitor.set_source_counters(src.stats().samples());
        }
        if every {
            if let Some(p) = &out.progress {
                p.update(src.stats().frames, out.exchanges);
            }
        }
        if src.has_damage() {
            note_damage(&mut src, &name, out);
        }
        if shards.is_none() {
            // Sharded, the merge refreshes at each frame it completes.
            out.refresh(monitor, ts);
        }
        if every && (stop.load(Ordering::Relaxed) || out.broken_pipe()) {
            break;
        }
    }
    if let Some(sh) = shards.take() {
        sh.finish(monitor, out)?;
    }
    if let Some(p) = out.progress.take() {
        p.finish(src.stats().frames, out.exchanges);
    }
    note_damage(&mut src, &name, out);
    match &stopped {
        Some(CaptureError::Damaged(d)) => {
            out.note(format!("httptop: {name}: damaged capture at {d}"))
        }
        Some(e) => out.note(format!("httptop: {name}: reading stopped: {e}")),
        None => {}
    }
    let stats = src.stats();
    monitor.set_source_counters(stats.samples());
    if stats.truncated {
        out.note(format!(
            "httptop: {name}: the file ends in the middle of a packet record (cut short): \
             {} bytes dropped",
            stats.truncated_bytes
        ));
    }
    if out.broken_pipe() {
        return Ok(None);
    }
    let mut what = Vec::new();
    if stats.resyncs > 0 {
        what.push(format!(
            "{} bytes skipped at {} damaged places",
            stats.skipped_bytes, stats.resyncs
        ));
    }
    if stats.truncated {
        what.push("the last record cut short".to_string());
    }
    if stopped.is_some() {
        what.push("reading stopped early".to_string());
    }
    Ok((!what.is_empty()).then(|| {
        format!(
            "{name}: damaged capture ({}); the report and the log cover the {} frames read",
            what.join(", "),
            stats.frames
        )
    }))
}

/// Names every damage the reader stepped over since the last call.
#[cold]
fn note_damage<R: io::Read>(src: &mut FileSource<R>, name: &dyn std::fmt::Display, out: &Outputs) {
    while let Some(d) = src.take_damage() {
        out.note(format!("httptop: {name}: damaged capture at {d}"));
    }
}

/// Hands frames over at `speed` times the pace of their timestamps. While it waits,
/// packet time keeps moving (ticks), periodic output refreshes, and a signal is seen
/// within 50 ms.
struct Pacer {
    speed: f64,
    /// First packet time and the wall instant it was handed over.
    origin: Option<(Timestamp, Instant)>,
    last_flush: Instant,
}

impl Pacer {
    /// `speed`: positive and finite (see [`RunMode::from_args`]).
    fn new(speed: f64) -> Self {
        Pacer {
            speed,
            origin: None,
            last_flush: Instant::now(),
        }
    }

    fn wait_for(
        &mut self,
        ts: Timestamp,
        monitor: &mut Monitor,
        out: &mut Outputs,
        stop: &AtomicBool,
    ) {
        let (t0, w0) = *self.origin.get_or_insert((ts, Instant::now()));
        let due = w0 + Duration::from_secs_f64(ts.since(t0) as f64 / 1e9 / self.speed);
        loop {
            let now = Instant::now();
            if now >= due || stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep((due - now).min(Duration::from_millis(50)));
            let tick = t0
                .add_nanos((w0.elapsed().as_secs_f64() * self.speed * 1e9) as u64)
                .min(ts);
            monitor.on_tick(tick, out);
            out.refresh(monitor, tick);
        }
    }
}

fn run_demo(speed: f64, monitor: &mut Monitor, out: &mut Outputs, stop: &AtomicBool) {
    let mut pacer = Pacer::new(speed);
    for f in crate::demo::frames(wall_now()) {
        if stop.load(Ordering::Relaxed) || out.broken_pipe() {
            break;
        }
        pacer.wait_for(f.ts, monitor, out, stop);
        monitor.on_frame(&f.frame(), out);
        out.refresh(monitor, f.ts);
    }
}

fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// How far behind the wall clock captured packets may still arrive (the kernel hands
/// packets over in blocks, within the read timeout): ticks stay this far behind so that
/// they do not overtake packets still in the ring.
const CAPTURE_DELAY_NS: u64 = 250_000_000;

/// The time of a tick without packets: the wall clock minus the capture delay, never
/// before the latest packet.
fn tick_time(monitor: &Monitor) -> Timestamp {
    let wall = Timestamp(wall_now().nanos().saturating_sub(CAPTURE_DELAY_NS));
    wall.max(monitor.now())
}

/// Returns what the summary should add (the kernel's counters could not be read).
/// With `--tls-plaintext` the probe is attached first, before the capture opens and
/// privileges are dropped (see [`crate::plaintext`]); without `-i` it is the only source.
fn run_live(
    args: &Args,
    interface: Option<&str>,
    filter: &str,
    privs: Privs,
    monitor: &mut Monitor,
    out: &mut Outputs,
    stop: &AtomicBool,
) -> Result<Vec<String>, Failure> {
    let mut plain = match args.tls_plaintext {
        true => Some(PlainSource::attach(&args.libssl, args.pid)?),
        false => None,
    };
    if let (Some(p), None) = (plain.as_mut(), interface) {
        return run_plaintext_only(args, p, privs, monitor, out, stop);
    }
    let mut config = LiveConfig::new(interface);
    config.filter = Some(filter);
    config.snaplen = args.snaplen;
    config.promiscuous = args.promisc;
    config.buffer_size = Some(args.buffer_mib.saturating_mul(1 << 20));
    let mut src = LiveSource::open(&config).map_err(|e| match e {
        CaptureError::Permission { .. } => Failure::Usage(format!("{e}: {PERMISSION_HINT}")),
        e => Failure::Other(anyhow::Error::new(e).context("cannot start the capture")),
    })?;
    let dropped = drop_privileges(privs, out)?;
    if !args.quiet {
        let also = plain
            .as_ref()
            .map(|p| format!(", and {}", p.describe()))
            .unwrap_or_default();
        out.note(format!(
            "httptop: capturing on {} (filter: {filter}){also}; {dropped}",
            src.device()
        ));
    }
    // Learning starts now, not at the first packet.
    monitor.start(wall_now());
    let mut last_flush = Instant::now();
    let mut last_poll = Instant::now();
    let mut notes = Vec::new();
    while !stop.load(Ordering::Relaxed) && !out.broken_pipe() {
        match src.next() {
            Ok(LiveNext::Frame(frame)) => monitor.on_frame(&frame, out),
            Ok(LiveNext::Timeout) => {
                if let Some(p) = plain.as_mut() {
                    poll_plain(p, Duration::ZERO, monitor, out)?;
                    last_poll = Instant::now();
                }
                monitor.on_tick(tick_time(monitor), out)
            }
            Err(e) => {
                return Err(Failure::Other(
                    anyhow::Error::new(e).context("capture failed"),
                ))
            }
        }
        if let Some(p) = plain.as_mut() {
            if last_poll.elapsed() >= crate::plaintext::POLL_EVERY {
                poll_plain(p, Duration::ZERO, monitor, out)?;
                last_poll = Instant::now();
            }
        }
        out.refresh(monitor, tick_time(monitor));
        if last_flush.elapsed() >= Duration::from_secs(1) {
            out.flush()?;
            last_flush = Instant::now();
            if let Ok(st) = src.stats() {
                out.refresh.kernel_drops = Some(st.dropped + st.if_dropped);
                set_counters(monitor, Some(st.samples()), plain.as_ref(), &mut notes);
            }
        }
    }
    // Stopping: what the kernel already captured is still read, until the buffer is
    // empty, so nothing captured is lost. The kernel hands over a partly filled block
    // only when its timeout (one read timeout) expires, which can come just after a read
    // timed out: empty means two read timeouts in a row with no packet.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut idle = 0;
    while idle < 2 && !out.broken_pipe() && Instant::now() < deadline {
        match src.next() {
            Ok(LiveNext::Frame(frame)) => {
                idle = 0;
                monitor.on_frame(&frame, out);
            }
            Ok(LiveNext::Timeout) => idle += 1,
            Err(_) => break,
        }
    }
    if let Some(p) = plain.as_mut() {
        drain_plain(p, monitor, out)?;
    }
    notes.clear();
    match src.stats() {
        Ok(s) => {
            set_counters(monitor, Some(s.samples()), plain.as_ref(), &mut notes);
            // Always, as tcpdump gives them: "0 dropped" is an answer too.
            notes.push(format!(
                "kernel: {} captured, {} dropped ({} received by filter)",
                monitor.frames(),
                s.dropped.saturating_add(s.if_dropped),
                s.received
            ));
        }
        Err(e) => {
            set_counters(
                monitor,
                None::<std::iter::Empty<_>>,
                plain.as_ref(),
                &mut notes,
            );
            notes.push(format!("kernel drop counters unavailable: {e}"));
        }
    }
    Ok(notes)
}

/// `--tls-plaintext` without `-i`: the probe is the only source.
fn run_plaintext_only(
    args: &Args,
    plain: &mut PlainSource,
    privs: Privs,
    monitor: &mut Monitor,
    out: &mut Outputs,
    stop: &AtomicBool,
) -> Result<Vec<String>, Failure> {
    let dropped = drop_privileges(privs, out)?;
    if !args.quiet {
        out.note(format!("httptop: reading {}; {dropped}", plain.describe()));
    }
    monitor.start(wall_now());
    let mut last_flush = Instant::now();
    let mut notes = Vec::new();
    while !stop.load(Ordering::Relaxed) && !out.broken_pipe() {
        if poll_plain(plain, Duration::from_millis(50), monitor, out)? == 0 {
            monitor.on_tick(tick_time(monitor), out);
        }
        out.refresh(monitor, tick_time(monitor));
        if last_flush.elapsed() >= Duration::from_secs(1) {
            out.flush()?;
            last_flush = Instant::now();
            plain_counters(monitor, plain, &mut notes);
        }
    }
    drain_plain(plain, monitor, out)?;
    plain_counters(monitor, plain, &mut notes);
    Ok(notes)
}

/// The probe's kernel counters into the monitor (`notes`: what could not be read).
fn plain_counters(monitor: &mut Monitor, plain: &PlainSource, notes: &mut Vec<String>) {
    notes.clear();
    set_counters(monitor, None::<std::iter::Empty<_>>, Some(plain), notes);
}

fn poll_plain(
    p: &mut PlainSource,
    timeout: Duration,
    monitor: &mut Monitor,
    out: &mut Outputs,
) -> Result<usize, Failure> {
    p.poll(timeout, monitor, out).map_err(|e| {
        Failure::Other(anyhow::Error::new(e).context("reading the TLS plaintext probe failed"))
    })
}

/// Stopping: the records already in the ring are still read (bounded: the ring is
/// finite, and at most 64 polls).
fn drain_plain(
    p: &mut PlainSource,
    monitor: &mut Monitor,
    out: &mut Outputs,
) -> Result<(), Failure> {
    for _ in 0..64 {
        if out.broken_pipe() || poll_plain(p, Duration::ZERO, monitor, out)? == 0 {
            break;
        }
    }
    Ok(())
}

/// The capture's and the probe's kernel counters into the monitor's source counters.
fn set_counters(
    monitor: &mut Monitor,
    live: Option<impl Iterator<Item = httptop_wire::counter::Sample>>,
    plain: Option<&PlainSource>,
    notes: &mut Vec<String>,
) {
    let mut all: Vec<_> = live.into_iter().flatten().collect();
    if let Some(p) = plain {
        match p.samples() {
            Ok(s) => all.extend(s),
            Err(e) => notes.push(format!("TLS plaintext probe counters unavailable: {e}")),
        }
    }
    monitor.set_source_counters(all);
}

fn list_interfaces() -> Result<(), Failure> {
    let list = httptop_capture::list_interfaces().map_err(|e| match e {
        CaptureError::Permission { .. } => Failure::Usage(format!("{e}: {PERMISSION_HINT}")),
        e => Failure::Other(anyhow::Error::new(e)),
    })?;
    let mut o = io::stdout().lock();
    for (n, d) in list.iter().enumerate() {
        let desc = d
            .description
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        let _ = writeln!(o, "{}.{}{}", n + 1, d.name, desc);
    }
    Ok(())
}

/// The source as the reports and the dashboard name it: the capture's, the TLS plaintext
/// probe's, or both.
fn source_name(mode: &RunMode, args: &Args) -> String {
    match (args.tls_plaintext, &args.interface) {
        (true, None) => "TLS plaintext (eBPF)".to_string(),
        (true, Some(_)) => format!("{} + TLS plaintext (eBPF)", mode.source_name()),
        (false, _) => mode.source_name(),
    }
}
