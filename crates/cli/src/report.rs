//! Where the end-of-run report goes: standard output, or standard error when standard
//! output carries the JSON Lines log.

use crate::args::OutputFormat;
use httptop_engine::Monitor;
use std::io::Write;

pub fn print(monitor: &Monitor, source: &str, format: OutputFormat, to_stdout: bool) {
    let text = match format {
        OutputFormat::Plain => httptop_output::report::plain(monitor, source),
        OutputFormat::Json => httptop_output::report::json(monitor, source),
    };
    // A closed pipe is not an error worth reporting at the very end.
    let _ = if to_stdout {
        std::io::stdout().lock().write_all(text.as_bytes())
    } else {
        std::io::stderr().lock().write_all(text.as_bytes())
    };
}
