//! Where the end-of-run report goes: standard output, or standard error when standard
//! output carries the JSON Lines log.

use crate::args::OutputFormat;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::Window;
use std::io::Write;

/// The end-of-run report, for the retention window.
pub fn print(snap: &Snapshot, source: &str, format: OutputFormat, to_stdout: bool) {
    let text = match format {
        // Without a terminal session there is no dashboard: the plain report stands in.
        OutputFormat::Plain | OutputFormat::Tui => httptop_output::report::plain(
            snap,
            &format!("httptop report: {source}"),
            Window::Retention,
        ),
        OutputFormat::Json => {
            httptop_output::report::json(snap, "report", source, Window::Retention)
        }
    };
    write_out(&text, to_stdout);
}

/// Writes `text` to standard output or standard error.
pub fn write_out(text: &str, to_stdout: bool) {
    // A closed pipe is not an error worth reporting at the very end.
    let _ = if to_stdout {
        std::io::stdout().lock().write_all(text.as_bytes())
    } else {
        std::io::stderr().lock().write_all(text.as_bytes())
    };
}
