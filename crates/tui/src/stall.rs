//! Test doubles for the dashboard thread, shared by this crate's tests and the cli's: a
//! backend that stalls like a blocked terminal until released, and keys from a channel.
//!
//! Contract: [`StalledBackend`] draws into a ratatui `TestBackend` (the real renderer,
//! a real buffer), but every draw first waits until its [`Gate`] is open; the test learns
//! that the thread is stuck there with [`Gate::wait_until_blocked`] (told, not guessed by
//! sleeping).

use crate::dashboard::Input;
use crossterm::event::Event;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
struct GateState {
    open: bool,
    /// Draws that reached the gate (blocked or passed).
    arrived: u64,
}

/// Closed, it holds every draw of the [`StalledBackend`]s that share it.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<(Mutex<GateState>, Condvar)>,
}

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Gate::default()
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.inner.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a draw has reached the gate (it blocks there while the gate is closed).
    pub fn wait_until_blocked(&self) {
        let mut s = self.lock();
        while s.arrived == 0 {
            s = self.inner.1.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Opens the gate for good: the held draw and every later one go through.
    pub fn open(&self) {
        self.lock().open = true;
        self.inner.1.notify_all();
    }

    fn pass(&self) {
        let mut s = self.lock();
        s.arrived += 1;
        self.inner.1.notify_all();
        while !s.open {
            s = self.inner.1.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A terminal that stalls: a `TestBackend` whose draws wait for the [`Gate`].
pub struct StalledBackend {
    pub inner: TestBackend,
    gate: Gate,
}

impl StalledBackend {
    pub fn new(width: u16, height: u16, gate: Gate) -> Self {
        StalledBackend {
            inner: TestBackend::new(width, height),
            gate,
        }
    }
}

impl Backend for StalledBackend {
    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.gate.pass();
        self.inner.draw(content)
    }
    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }
    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }
    fn get_cursor_position(&mut self) -> io::Result<Position> {
        self.inner.get_cursor_position()
    }
    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        self.inner.set_cursor_position(position)
    }
    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }
    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }
    fn size(&self) -> io::Result<Size> {
        self.inner.size()
    }
    fn window_size(&mut self) -> io::Result<WindowSize> {
        self.inner.window_size()
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Keys sent by the test; the keyboard is gone when the sender is dropped.
pub struct ChannelInput(pub mpsc::Receiver<Event>);

impl Input for ChannelInput {
    fn next(&mut self, wait: Duration) -> io::Result<Option<Event>> {
        match self.0.recv_timeout(wait) {
            Ok(e) => Ok(Some(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
        }
    }
}

/// The buffer as text, one line per row, trailing spaces dropped.
pub fn text(b: &ratatui::buffer::Buffer) -> String {
    let mut o = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        for x in 0..b.area.width {
            line.push_str(b[(x, y)].symbol());
        }
        o.push_str(line.trim_end());
        o.push('\n');
    }
    o
}
