//! The counters as the binary shows them: the whole registry (`--list-counters`), the
//! capture source's counters handed to the presenters, and the end-of-run summary.
//!
//! Contract: nothing here names a counter. The registry is the engine's
//! (`httptop_engine::counters::registry`) plus the two capture sources' declarations
//! (`FileStats`, `LiveStats`); the summary prints whatever the snapshot's registry
//! holds that is not zero.

use httptop_capture::{FileStats, LiveStats};
use httptop_engine::snapshot::Snapshot;
use httptop_fleet::metrics::series;
use httptop_wire::counter::Sample;
use std::fmt::Write as _;
use std::time::Duration;

/// Every counter httptop can report, in registry order (values zero).
pub fn registry() -> Vec<Sample> {
    FileStats::default()
        .samples()
        .chain(LiveStats::default().samples())
        .chain(crate::plaintext::ProbeCounters::default().samples())
        .chain(httptop_engine::counters::registry())
        .collect()
}

/// `--list-counters`: one Markdown table row per counter (README's table is this output).
pub fn list() -> String {
    let mut o =
        String::from("| counter | unit | Prometheus | meaning |\n| --- | --- | --- | --- |\n");
    for s in registry() {
        let _ = writeln!(
            o,
            "| `{}` | {} | `{}` | {} |",
            s.full_name(),
            s.desc.unit.name(),
            series(&s),
            s.desc.help
        );
    }
    o
}

/// The end-of-run summary (standard error): a headline, then every counter that is not
/// zero, group by group, then `notes` (e.g. counters that could not be read).
pub fn summary(snap: &Snapshot, exchanges: u64, elapsed: Duration, notes: &[String]) -> String {
    let c = &snap.counters;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "httptop: {} frames in {:.3} s; {} exchanges ({} requests, {} responses); {} connections open at end",
        c.frames,
        elapsed.as_secs_f64(),
        exchanges,
        c.http.requests + c.h2.h2_requests,
        c.http.responses + c.h2.h2_responses,
        snap.open_flows
    );
    for line in httptop_output::report::counter_lines(snap.counters(), 100) {
        let _ = writeln!(o, "httptop: {line}");
    }
    let protocols: Vec<String> = c
        .protocols
        .iter()
        .filter(|(_, n)| n.connections > 0)
        .map(|(p, n)| {
            format!(
                "{} {} connections, {} requests, {} / {} bytes",
                p.name(),
                n.connections,
                n.requests,
                n.bytes_to_server,
                n.bytes_to_client
            )
        })
        .collect();
    if !protocols.is_empty() {
        let _ = writeln!(o, "httptop: protocols: {}", protocols.join("; "));
    }
    for n in notes {
        let _ = writeln!(o, "httptop: {n}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::Protocol;
    use std::collections::HashSet;

    /// A real monitor's snapshot with every registered counter, the capture sources'
    /// included, set to a distinct value.
    fn filled() -> Snapshot {
        let mut snap = httptop_engine::counters::filled_snapshot(1000);
        let mut file = FileStats::default();
        let mut live = LiveStats::default();
        let mut probe = crate::plaintext::ProbeCounters::default();
        for (n, v) in (5000..).zip(
            file.values_mut()
                .into_iter()
                .chain(live.values_mut())
                .chain(probe.values_mut()),
        ) {
            *v = n;
        }
        snap.source_counters = file
            .samples()
            .chain(live.samples())
            .chain(probe.samples())
            .collect();
        httptop_engine::counters::fill_distinct(&mut snap.counters, &mut snap.stats_counters, 1000);
        snap
    }

    #[test]
    fn the_snapshot_carries_the_whole_registry() {
        let snap = filled();
        let names: Vec<String> = snap.counters().map(|s| s.full_name()).collect();
        let registered: Vec<String> = registry().iter().map(Sample::full_name).collect();
        assert_eq!(names, registered);
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), names.len());
        let values: HashSet<u64> = snap.counters().map(|s| s.value).collect();
        assert_eq!(values.len(), names.len(), "distinct values");
    }

    /// The acceptance test of the registry: every registered counter reaches the plain
    /// report, the JSON report, the dashboard's Counters view, the Prometheus exposition
    /// and the end-of-run summary, with its value; and so does every Protocols row.
    #[test]
    fn every_registered_counter_reaches_every_output() {
        use httptop_engine::stats::Window;
        let snap = filled();
        let plain = httptop_output::report::plain(&snap, "t", Window::Retention);
        let json: serde_json::Value = serde_json::from_str(&httptop_output::report::json(
            &snap,
            "report",
            "t",
            Window::Retention,
        ))
        .expect("json");
        let dashboard = dashboard_text(&snap);
        let mut health = httptop_fleet::metrics::Health {
            counters: snap.counters.clone(),
            stats_counters: snap.stats_counters.clone(),
            ..Default::default()
        };
        health.source_counters.clone_from(&snap.source_counters);
        let prom = httptop_fleet::metrics::render(
            &httptop_fleet::metrics::Totals::default(),
            &health,
            None,
        );
        let prom_lines: HashSet<&str> = prom.lines().collect();
        let summary = summary(&snap, 0, Duration::ZERO, &[]);
        for s in registry() {
            let got = snap
                .counters()
                .find(|x| x.full_name() == s.full_name())
                .expect("in the snapshot");
            let (name, key, v) = (s.full_name(), got.key(), got.value);
            let item = format!("{key} {v}");
            assert!(plain.contains(&item), "plain report lacks {name}");
            let obj = match s.desc.group.json_key() {
                Some(g) => &json["counters"][g],
                None => &json["counters"],
            };
            assert_eq!(
                obj[key.as_ref()].as_u64(),
                Some(v),
                "JSON report lacks {name}"
            );
            assert!(
                dashboard.lines().any(|l| {
                    let cells: Vec<&str> = l.split_whitespace().collect();
                    cells
                        .windows(2)
                        .any(|w| w[0] == key && w[1] == v.to_string())
                }),
                "dashboard lacks {name}"
            );
            let line = format!("{} {v}", series(&s));
            assert!(
                prom_lines.contains(line.as_str()),
                "Prometheus lacks {line}"
            );
            assert!(summary.contains(&item), "summary lacks {name}");
        }
        for p in Protocol::ALL {
            let n = snap.counters.protocols.get(p);
            let nums = [
                n.connections,
                n.requests,
                n.bytes_to_server,
                n.bytes_to_client,
            ]
            .map(|x| x.to_string());
            assert!(plain
                .lines()
                .any(|l| l.contains(p.name()) && nums.iter().all(|x| l.contains(x.as_str()))));
            assert!(json["protocols"]
                .as_array()
                .expect("protocols")
                .iter()
                .any(|r| r["protocol"] == p.name()
                    && r["bytes_to_client"].as_u64() == Some(n.bytes_to_client)));
            assert!(dashboard
                .lines()
                .any(|l| l.contains(p.name()) && nums.iter().all(|x| l.contains(x.as_str()))));
            assert!(prom.contains(&format!(
                "httptop_protocol_connections_total{{protocol=\"{}\"}} {}",
                p.name(),
                n.connections
            )));
            assert!(summary.contains(&format!("{} {} connections", p.name(), n.connections)));
        }
    }

    fn dashboard_text(snap: &Snapshot) -> String {
        use ratatui::backend::TestBackend;
        let mut app = httptop_tui::App::new("t", None);
        app.counters = true;
        let mut t = ratatui::Terminal::new(TestBackend::new(220, 72)).expect("terminal");
        t.draw(|f| httptop_tui::view::render_counters(f, f.area(), &app, snap))
            .expect("draw");
        let b = t.backend().buffer();
        let mut o = String::new();
        for y in 0..b.area.height {
            for x in 0..b.area.width {
                o.push_str(b[(x, y)].symbol());
            }
            o.push('\n');
        }
        o
    }

    #[test]
    fn summary_lists_only_what_is_not_zero() {
        let mut snap = filled();
        snap.source_counters.clear();
        snap.counters = Default::default();
        snap.stats_counters = Default::default();
        snap.counters.frames = 3;
        snap.counters.reasm.gaps = 2;
        let text = summary(&snap, 1, Duration::from_millis(1500), &["a note".into()]);
        assert_eq!(
            text,
            "httptop: 3 frames in 1.500 s; 1 exchanges (0 requests, 0 responses); 0 connections open at end\n\
             httptop: packets:      frames 3\n\
             httptop: reasm:        gaps 2\n\
             httptop: a note\n"
        );
    }

    #[test]
    fn summary_headline_counts_every_protocols_requests() {
        // Regression: the headline counted HTTP/1's requests and responses only, so an
        // HTTP/2 capture read "N exchanges (0 requests, 0 responses)".
        let mut snap = filled();
        snap.counters = Default::default();
        snap.counters.http.requests = 1;
        snap.counters.http.responses = 2;
        snap.counters.h2.h2_requests = 10;
        snap.counters.h2.h2_responses = 9;
        let text = summary(&snap, 11, Duration::ZERO, &[]);
        let head = text.lines().next().unwrap_or_default();
        assert!(
            head.contains("11 exchanges (11 requests, 11 responses)"),
            "{head}"
        );
    }

    #[test]
    fn readme_lists_every_counter() {
        let readme = include_str!("../../../README.md");
        let missing: Vec<String> = list()
            .lines()
            .skip(2)
            .filter(|row| !readme.contains(row))
            .map(str::to_string)
            .collect();
        assert!(
            missing.is_empty(),
            "README.md lacks these rows of `httptop --list-counters`:\n{}",
            missing.join("\n")
        );
    }
}
