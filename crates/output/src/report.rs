//! The end-of-run report: totals, capture health, the baseline and the alert history, as
//! plain text for people or one JSON document for machines.
//!
//! Contract: reads a finished [`Monitor`] and never fails. Wire strings that reach the
//! plain text are sanitised (control characters escaped); the JSON keeps them losslessly
//! (escaped as in the transaction log).

use crate::jsonl::push_str;
use httptop_engine::alert::{format_duration, format_utc, AlertState, Alerting};
use httptop_engine::Monitor;
use std::fmt::Write as _;

/// Plain-text report.
pub fn plain(monitor: &Monitor, source: &str) -> String {
    let mut o = String::new();
    let c = monitor.engine().counters();
    let _ = writeln!(o, "httptop report: {}", sanitize(source.as_bytes()));
    let _ = writeln!(
        o,
        "  requests {}  responses {}  frames {}  connections {}",
        c.http.requests, c.http.responses, c.frames, c.flows_created
    );
    if let Some(a) = monitor.alerting() {
        baseline_plain(&mut o, a);
        alerts_plain(&mut o, a);
    }
    o
}

fn baseline_plain(o: &mut String, a: &Alerting) {
    let window = a.config().window_ns;
    match (a.baseline(), a.state()) {
        (Some(b), _) => {
            let _ = writeln!(
                o,
                "  baseline: {} requests per {} window, threshold {}%",
                b.per_window_display(window),
                format_duration(window),
                a.config().threshold_pct
            );
        }
        (None, AlertState::Learning(p)) => {
            let _ = writeln!(
                o,
                "  baseline: still learning ({} requests in {} of {})",
                p.requests,
                format_duration(p.elapsed_ns),
                format_duration(a.config().learn_ns)
            );
        }
        (None, _) => {}
    }
}

fn alerts_plain(o: &mut String, a: &Alerting) {
    let n = a.history().len();
    let _ = write!(o, "  alerts: {n}");
    if let Some(max) = a.max_alert_duration_ns() {
        let _ = write!(o, " (longest {}", format_duration(max));
        if let Some(avg) = a.avg_alert_duration_ns() {
            let _ = write!(o, ", average {}", format_duration(avg));
        }
        o.push(')');
    }
    o.push('\n');
    for ep in a.history() {
        match ep.end {
            Some(end) => {
                let _ = writeln!(
                    o,
                    "    {} .. {}  lasted {}, peak {} hits",
                    format_utc(ep.start),
                    format_utc(end),
                    format_duration(end.since(ep.start)),
                    ep.peak
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "    {} ..  still active, peak {} hits",
                    format_utc(ep.start),
                    ep.peak
                );
            }
        }
    }
}

/// The report as one JSON document (one line).
pub fn json(monitor: &Monitor, source: &str) -> String {
    let c = monitor.engine().counters();
    let mut l = Vec::with_capacity(4096);
    l.extend_from_slice(b"{\"type\":\"report\",\"source\":");
    push_str(&mut l, source.as_bytes());
    let _ = write_fields(
        &mut l,
        &[
            ("requests", c.http.requests),
            ("responses", c.http.responses),
            ("frames", c.frames),
            ("connections", c.flows_created),
        ],
    );
    if let Some(a) = monitor.alerting() {
        let window = a.config().window_ns;
        l.extend_from_slice(b",\"baseline\":");
        match a.baseline() {
            Some(b) => l.extend_from_slice(b.per_window_display(window).to_string().as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(
            format!(
                ",\"window_s\":{},\"threshold\":{}",
                window / 1_000_000_000,
                a.config().threshold_pct
            )
            .as_bytes(),
        );
        l.extend_from_slice(b",\"alerts\":[");
        for (i, ep) in a.history().enumerate() {
            if i > 0 {
                l.push(b',');
            }
            let _ = write!(
                Adapter(&mut l),
                "{{\"start\":{},\"end\":{},\"peak\":{},\"duration_s\":{}}}",
                secs(ep.start.nanos()),
                ep.end.map_or("null".into(), |e| secs(e.nanos())),
                ep.peak,
                ep.duration_ns().map_or("null".into(), secs)
            );
        }
        l.push(b']');
    } else {
        l.extend_from_slice(b",\"baseline\":null,\"alerts\":[]");
    }
    l.extend_from_slice(b"}\n");
    String::from_utf8(l).unwrap_or_default()
}

fn secs(ns: u64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}", ns / 1_000_000_000)
    } else {
        format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
    }
}

fn write_fields(l: &mut Vec<u8>, fields: &[(&str, u64)]) -> std::fmt::Result {
    for (k, v) in fields {
        write!(Adapter(l), ",\"{k}\":{v}")?;
    }
    Ok(())
}

/// `fmt::Write` into a byte vector.
struct Adapter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Adapter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Wire bytes made safe for a terminal: printable ASCII and valid non-control UTF-8 kept,
/// everything else escaped (`\xHH`, `\u{..}` for control characters).
pub fn sanitize(bytes: &[u8]) -> String {
    let mut o = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() {
                let _ = write!(o, "\\u{{{:x}}}", ch as u32);
            } else if ch == '\\' {
                o.push_str("\\\\");
            } else {
                o.push(ch);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(o, "\\x{b:02x}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_controls_and_invalid_bytes() {
        assert_eq!(sanitize(b"ok /a"), "ok /a");
        assert_eq!(sanitize(b"\x1b[2Jx"), "\\u{1b}[2Jx");
        assert_eq!(sanitize(b"a\xffb"), "a\\xffb");
        assert_eq!(sanitize("é\u{85}".as_bytes()), "é\\u{85}");
        assert_eq!(sanitize(b"\\x41"), "\\\\x41");
    }
}
