//! The dashboard thread: a stalled terminal costs the sender nothing and the newest
//! snapshot is what gets drawn; quitting sets the stop flag; messages reach the status
//! line.

use crate::dashboard::{Dashboard, Update};
use crate::stall::{text, ChannelInput, Gate, StalledBackend};
use crate::testing::{empty_snapshot, T0};
use crate::{App, Messages};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

fn update(t: u64) -> Update {
    Update {
        snapshot: Arc::new(empty_snapshot(T0 + t)),
        kernel_drops: Some(t),
    }
}

fn start(
    gate: Gate,
    keys: mpsc::Receiver<Event>,
    messages: Messages,
    stop: &Arc<AtomicBool>,
) -> Dashboard<StalledBackend> {
    let term = Terminal::new(StalledBackend::new(80, 24, gate)).expect("terminal");
    Dashboard::spawn(
        App::new("eth0", None),
        term,
        ChannelInput(keys),
        messages,
        Arc::clone(stop),
        None,
    )
    .expect("thread")
}

#[test]
fn a_stalled_terminal_coalesces_snapshots_then_draws_the_newest() {
    let gate = Gate::closed();
    let (_keys, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let d = start(gate.clone(), rx, Messages::new(), &stop);
    d.send(update(1));
    // The thread took snapshot 1 and is stuck drawing it.
    gate.wait_until_blocked();
    for t in 2..=10 {
        d.send(update(t)); // returns at once: nothing waits for the terminal
    }
    assert_eq!(d.skipped(), 8, "2..=9 replaced before they were taken");
    gate.open();
    let end = d.finish().expect("the thread ends when the mailbox closes");
    assert_eq!(end.draws, 2, "snapshot 1, then the newest");
    assert_eq!(end.app.latest().map(|s| s.now.secs()), Some(T0 + 10));
    assert_eq!((end.app.skipped, end.app.drops), (8, Some(10)));
    let screen = text(end.terminal.backend().inner.buffer());
    assert!(screen.contains("12:00:10 UTC"), "{screen}");
    assert!(
        screen.contains("8 refreshes skipped (slow terminal)"),
        "{screen}"
    );
    assert!(!stop.load(Ordering::Relaxed));
}

#[test]
fn q_sets_the_stop_flag_and_ends_the_thread() {
    let (keys, rx) = mpsc::channel();
    keys.send(Event::Key(KeyEvent::new(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
    )))
    .expect("key");
    let stop = Arc::new(AtomicBool::new(false));
    let gate = Gate::closed();
    gate.open();
    let d = start(gate, rx, Messages::new(), &stop);
    let end = d.finish().expect("ended");
    assert!(stop.load(Ordering::Relaxed), "the capture loops stop on it");
    assert_eq!(end.draws, 0, "quit before any snapshot");
}

#[test]
fn messages_reach_the_status_line_escaped() {
    let messages = Messages::new();
    messages.push("cannot save the baseline to /x: denied");
    messages.push("second \x1b[2J message");
    let gate = Gate::closed();
    gate.open();
    // The keyboard is gone (sender dropped): the thread still shows snapshots.
    let (_, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let d = start(gate, rx, messages.clone(), &stop);
    d.send(update(1));
    let end = d.finish().expect("ended");
    let screen = text(end.terminal.backend().inner.buffer());
    let last = screen.lines().nth(23).unwrap_or_default();
    assert!(
        last.starts_with("second ") && last.contains("(2 messages, shown after exit)"),
        "{screen}"
    );
    assert!(!screen.contains('\x1b'));
    assert_eq!(messages.take().0.len(), 2, "kept for after exit");
}
