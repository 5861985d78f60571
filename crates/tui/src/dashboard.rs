//! The dashboard thread: owns the terminal, reads keys, renders; the capture thread only
//! hands it snapshots.
//!
//! Contract:
//! - [`Dashboard::send`] is all the capture thread does: it puts an [`Update`] in a
//!   one-slot [`mailbox`] (newest wins; a snapshot replaced before it was
//!   rendered is counted in [`App::skipped`]). It never waits for the terminal: a slow or
//!   stalled terminal delays only this thread.
//! - The thread waits at most [`INPUT_POLL`] for a key, takes the newest update, and draws
//!   when something changed (a snapshot, a key, a resize, a new message). Quit (`q`,
//!   Ctrl-C in raw mode) sets the shared stop flag the capture loops watch, and the thread
//!   ends: the terminal is restored at once (by [`TerminalGuard`], which the thread owns).
//! - [`Dashboard::finish`] closes the mailbox and joins the thread; the terminal is
//!   restored when it returns (also after a panic of the thread: see [`TerminalGuard`]).
//!   The caller prints what was held back ([`Messages`]) only after that.
//! - The thread is started by [`Dashboard::spawn`] / [`Dashboard::spawn_terminal`]: after
//!   the privilege drop (privileges are dropped with one thread only).

use crate::app::{Action, App};
use crate::mailbox::{self, Received};
use crate::messages::Messages;
use crate::term::TerminalGuard;
use crossterm::event::Event;
use httptop_engine::snapshot::Snapshot;
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest the thread waits for a key before it looks at the mailbox again.
pub const INPUT_POLL: Duration = Duration::from_millis(50);

/// What the capture thread hands over each refresh.
#[derive(Clone, Debug)]
pub struct Update {
    /// The refresh's snapshot, shared with the other presenters.
    pub snapshot: Arc<Snapshot>,
    /// Packets dropped by the kernel (and the interface), live capture only.
    pub kernel_drops: Option<u64>,
}

/// Where the thread reads keys from.
pub trait Input: Send + 'static {
    /// The next terminal event, waiting at most `wait`.
    fn next(&mut self, wait: Duration) -> io::Result<Option<Event>>;
}

/// Keys from the real terminal (crossterm).
pub struct TerminalInput;

impl Input for TerminalInput {
    fn next(&mut self, wait: Duration) -> io::Result<Option<Event>> {
        if crossterm::event::poll(wait)? {
            crossterm::event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// How the thread ended: the app's last state and the terminal (tests read its buffer).
pub struct Ended<B: Backend> {
    pub app: App,
    pub terminal: Terminal<B>,
    /// Frames drawn.
    pub draws: u64,
}

/// The capture thread's handle on the dashboard thread.
pub struct Dashboard<B: Backend> {
    tx: mailbox::Sender<Update>,
    thread: Option<JoinHandle<Ended<B>>>,
}

impl Dashboard<ratatui::backend::CrosstermBackend<io::Stdout>> {
    /// Takes the terminal (raw mode, alternate screen) and starts the thread on it.
    pub fn spawn_terminal(app: App, messages: Messages, stop: Arc<AtomicBool>) -> io::Result<Self> {
        let guard = TerminalGuard::enter()?;
        let term = Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))?;
        Dashboard::spawn(app, term, TerminalInput, messages, stop, Some(guard))
    }
}

impl<B: Backend + Send + 'static> Dashboard<B> {
    /// Starts the thread drawing on `term` with keys from `input`; `guard`, if any, is
    /// dropped (the terminal restored) when the thread ends.
    pub fn spawn(
        app: App,
        term: Terminal<B>,
        input: impl Input,
        messages: Messages,
        stop: Arc<AtomicBool>,
        guard: Option<TerminalGuard>,
    ) -> io::Result<Self> {
        let (tx, rx) = mailbox::mailbox();
        let thread = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                let ended = run(app, term, input, &rx, &messages, &stop);
                drop(guard);
                ended
            })?;
        Ok(Dashboard {
            tx,
            thread: Some(thread),
        })
    }
}

impl<B: Backend> Dashboard<B> {
    /// Hands the thread the newest update; never waits for it.
    pub fn send(&self, update: Update) {
        self.tx.send(update);
    }

    /// Updates replaced before the thread took them.
    pub fn skipped(&self) -> u64 {
        self.tx.coalesced()
    }

    /// Closes the mailbox and waits for the thread (the terminal is restored when this
    /// returns). `None` if the thread panicked.
    pub fn finish(mut self) -> Option<Ended<B>> {
        self.tx.close();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<B: Backend> Drop for Dashboard<B> {
    fn drop(&mut self) {
        self.tx.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread's loop (see the module docs).
fn run<B: Backend>(
    mut app: App,
    mut term: Terminal<B>,
    mut input: impl Input,
    rx: &mailbox::Receiver<Update>,
    messages: &Messages,
    stop: &AtomicBool,
) -> Ended<B> {
    let mut draws = 0;
    let mut redraw = false;
    let mut keyboard = true;
    loop {
        let key = if keyboard {
            input.next(INPUT_POLL)
        } else {
            Ok(None)
        };
        match key {
            Ok(Some(Event::Key(k))) => match app.on_key(k) {
                Action::Quit => {
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
                Action::Redraw => redraw = true,
                Action::None => {}
            },
            Ok(Some(Event::Resize(..))) => redraw = true,
            Ok(_) => {}
            // No keyboard (input closed): go on showing snapshots until closed, waiting
            // on the mailbox instead.
            Err(_) => keyboard = false,
        }
        let wait = if keyboard { Duration::ZERO } else { INPUT_POLL };
        match rx.recv_timeout(wait) {
            Received::Value(u) => {
                app.on_snapshot(u.snapshot);
                if u.kernel_drops.is_some() {
                    app.drops = u.kernel_drops;
                }
                redraw = true;
            }
            Received::Empty => {}
            Received::Closed => break,
        }
        let skipped = rx.coalesced();
        let message = messages.latest();
        if skipped != app.skipped || message != app.message {
            app.skipped = skipped;
            app.message = message;
            redraw = true;
        }
        if redraw && app.snapshot().is_some() {
            let a = &app;
            let _ = term.draw(|f| crate::draw(f, a));
            draws += 1;
            redraw = false;
        }
    }
    Ended {
        app,
        terminal: term,
        draws,
    }
}
