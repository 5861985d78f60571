//! The httptop dashboard: a full-screen view of [`Snapshot`]s.
//!
//! Contract: [`Dashboard`] runs the dashboard on a thread of its own (terminal, keys,
//! rendering); the capture thread only hands it snapshots through a one-slot mailbox
//! (newest wins), so a slow terminal never delays packet processing. Underneath, [`App`]
//! takes snapshots ([`App::on_snapshot`]) and keys ([`App::on_key`]), and [`render`] draws.
//! Rendering reads no clock (time is `snap.now`), logs nothing, and escapes every wire
//! string (messages included). [`TerminalGuard`] enters and restores the terminal;
//! [`final_summary`] and the held [`Messages`] are printed after.
//!
//! The thread's loop, in outline (see [`dashboard`] for the real one):
//!
//! ```no_run
//! use httptop_tui::{draw, final_summary, Action, App, Snapshot, TerminalGuard};
//! use ratatui::crossterm::event::{self, Event};
//! use std::time::Duration;
//!
//! fn run(rx: std::sync::mpsc::Receiver<Snapshot>) -> std::io::Result<()> {
//!     let mut app = App::new("eth0", Some("tcp port 80".into()));
//!     let guard = TerminalGuard::enter()?;
//!     let mut term = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(
//!         std::io::stdout(),
//!     ))?;
//!     loop {
//!         while let Ok(s) = rx.try_recv() {
//!             app.on_snapshot(s); // while paused the screen keeps its snapshot
//!         }
//!         term.draw(|f| draw(f, &app))?;
//!         if event::poll(Duration::from_millis(250))? {
//!             if let Event::Key(k) = event::read()? {
//!                 if app.on_key(k) == Action::Quit {
//!                     break;
//!                 }
//!             }
//!         }
//!     }
//!     drop(guard);
//!     if let Some(s) = app.latest() {
//!         print!("{}", final_summary(s));
//!     }
//!     Ok(())
//! }
//! ```

pub mod app;
pub mod dashboard;
pub mod mailbox;
pub mod messages;
#[doc(hidden)]
pub mod stall;
pub mod summary;
pub mod term;
pub mod text;
pub mod view;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dashboard;
#[cfg(test)]
mod tests_monitor;

pub use app::{Action, App, Panel, Sort};
pub use dashboard::{Dashboard, Update};
pub use httptop_engine::snapshot::Snapshot;
pub use messages::Messages;
pub use summary::final_summary;
pub use term::TerminalGuard;
pub use view::render;

/// Draws the snapshot `app` shows (see [`App::on_snapshot`]); nothing before the first.
pub fn draw(frame: &mut ratatui::Frame, app: &App) {
    if let Some(s) = app.snapshot() {
        render(frame, app, s);
    }
}
