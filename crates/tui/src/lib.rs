//! The httptop dashboard: a full-screen view of [`Snapshot`]s.
//!
//! Contract: the caller owns the loop, the terminal and the threads. It hands snapshots
//! to [`App::on_snapshot`], keys to [`App::on_key`], and draws with [`render`]. Rendering
//! reads no clock (time is `snap.now`), logs nothing, and escapes every wire string.
//! [`TerminalGuard`] enters and restores the terminal; [`final_summary`] is printed after.

pub mod app;
pub mod summary;
pub mod term;
pub mod text;
pub mod view;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_monitor;

pub use app::{Action, App, Panel, Sort};
pub use httptop_engine::snapshot::Snapshot;
pub use summary::final_summary;
pub use term::TerminalGuard;
pub use view::render;

/// Draws the snapshot `app` holds (see [`App::on_snapshot`]); nothing before the first.
pub fn draw(frame: &mut ratatui::Frame, app: &App) {
    if let Some(s) = app.snapshot() {
        render(frame, app, s);
    }
}
