//! Terminal ownership: raw mode and the alternate screen, given back on drop and on
//! panic. Kept apart from rendering so the render code never touches the terminal.

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use std::io::{self, stdout};
use std::sync::Once;

/// While alive, the terminal is in raw mode on the alternate screen.
pub struct TerminalGuard {
    _private: (),
}

static HOOK: Once = Once::new();

impl TerminalGuard {
    /// Enters raw mode and the alternate screen, and installs (once per process) a panic
    /// hook that restores the terminal before the previous hook prints the panic.
    pub fn enter() -> io::Result<Self> {
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        if let Err(e) = execute!(stdout(), EnterAlternateScreen, Hide) {
            restore();
            return Err(e);
        }
        Ok(TerminalGuard { _private: () })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode; harmless when not in them.
pub fn restore() {
    let _ = execute!(stdout(), Show, LeaveAlternateScreen);
    let _ = disable_raw_mode();
}
