//! The text printed once the terminal is restored.

use crate::text::wire;
use crate::view::anomalies;
use httptop_engine::alert::{AlertState, HumanDuration, Utc};
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::Window;
use std::fmt::Write as _;

/// A few lines: totals, alerting state, alert history, top hosts and sections of the
/// retention window. Wire strings are sanitised (it goes to a terminal too).
pub fn final_summary(snap: &Snapshot) -> String {
    let mut o = String::new();
    let r = snap.report(Window::Retention);
    let c = &snap.counters;
    let _ = writeln!(
        o,
        "httptop at {} UTC: {} requests, {} responses (retention window); {} packets, {} anomalies",
        Utc(snap.now),
        r.requests,
        r.responses,
        c.frames,
        anomalies(snap)
    );
    if let Some(v) = &snap.alert {
        let w = v.config.window_ns;
        let state = match v.state {
            AlertState::Learning(p) => {
                format!("still learning ({} left)", HumanDuration(p.remaining_ns))
            }
            AlertState::Normal { .. } => "normal".to_string(),
            AlertState::Alert { since, peak, .. } => {
                format!("ALERT since {} UTC, peak {peak} hits", Utc(since))
            }
            AlertState::Recovered { at, .. } => format!("recovered at {} UTC", Utc(at)),
        };
        let _ = write!(o, "state: {state}");
        if let Some(b) = v.baseline {
            let _ = write!(
                o,
                "; baseline {} hits per {}, threshold +{}%",
                b.per_window_display(w),
                HumanDuration(w),
                v.config.threshold_pct
            );
        }
        o.push('\n');
        let _ = write!(o, "alerts: {}", v.history.len());
        if let (Some(m), Some(a)) = (v.max_duration_ns, v.avg_duration_ns) {
            let _ = write!(
                o,
                ", longest {}, average {}",
                HumanDuration(m),
                HumanDuration(a)
            );
        }
        o.push('\n');
        let skip = v.history.len().saturating_sub(5);
        for e in v.history.iter().skip(skip) {
            match e.end {
                Some(end) => {
                    let _ = writeln!(
                        o,
                        "  {} -> {} ({}, peak {} hits)",
                        Utc(e.start),
                        Utc(end),
                        HumanDuration(end.since(e.start)),
                        e.peak
                    );
                }
                None => {
                    let _ = writeln!(o, "  {} -> active (peak {} hits)", Utc(e.start), e.peak);
                }
            }
        }
    }
    for (name, rows) in [("hosts", &r.hosts), ("sections", &r.sections)] {
        if rows.is_empty() {
            continue;
        }
        let top: Vec<String> = rows
            .iter()
            .take(3)
            .map(|row| format!("{} {:.1}%", wire(&row.key), row.share * 100.0))
            .collect();
        let _ = writeln!(o, "top {name}: {}", top.join(", "));
    }
    o
}
