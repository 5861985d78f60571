//! The end-of-run report: totals, every top table for the retention window, the baseline
//! and the alert history, as plain text for people or one JSON document for machines.
//! Errors and latency alerting follow the rate's: in plain text one line per global
//! machine (and per server that alerted) with its episodes; in JSON the `alert_kinds`
//! array (`kind`, `server`, `state`, `value`, `responses`, `baseline`, `alerts`; values
//! in percent for errors, seconds for latency).
//!
//! The same renderers give the periodic blocks and snapshots of live and realtime runs
//! (`--output plain|json`), for any window.
//!
//! Contract: reads a [`Snapshot`] and never fails. Wire strings that reach the
//! plain text are sanitised (control characters escaped); the JSON keeps them losslessly
//! (escaped as in the transaction log).

use crate::jsonl::push_str;
use httptop_engine::alert::{
    format_duration, format_utc, AlertKind, AlertState, SignalState, SignalValue, SignalView,
};
use httptop_engine::snapshot::{AlertView, Snapshot};
use httptop_engine::stats::{
    ProcessRow, Report, Row, TlsNameRow, TlsReport, WebSocketSummary, Window, EXPIRY_DAYS,
};
use httptop_engine::{Counters, WireStr};
use httptop_wire::counter::Sample;
use httptop_wire::Timestamp;
use std::fmt::Write as _;

/// Plain-text report of `window`, headed by `title` (e.g. `httptop report: FILE`).
pub fn plain(snap: &Snapshot, title: &str, window: Window) -> String {
    let mut o = String::new();
    let c = &snap.counters;
    let _ = writeln!(o, "{}", sanitize(title.as_bytes()));
    let r = snap.report(window);
    let _ = writeln!(
        o,
        "  requests {}  responses {}  frames {}  connections {}  (tables: {} window, up to {})",
        r.requests,
        r.responses,
        c.frames,
        c.flows_created,
        r.window.label(),
        format_utc(r.end)
    );
    if let Some(a) = &snap.alert {
        state_plain(&mut o, a);
        baseline_plain(&mut o, a);
        alerts_plain(&mut o, a);
    }
    signals_plain(&mut o, &snap.signals);
    tables_plain(&mut o, r);
    tls_plain(&mut o, &r.tls);
    processes_plain(&mut o, &r.processes);
    protocols_plain(&mut o, c);
    websocket_plain(&mut o, &snap.websocket);
    counters_plain(&mut o, snap);
    o
}

fn state_plain(o: &mut String, a: &AlertView) {
    let state = match a.state {
        AlertState::Learning(_) => "LEARNING",
        AlertState::Normal { .. } => "NORMAL",
        AlertState::Alert { .. } => "ALERT",
        AlertState::Recovered { .. } => "RECOVERED",
    };
    let _ = writeln!(
        o,
        "  state: {state}, {} hits in the last {}",
        a.hits_in_window,
        format_duration(a.config.window_ns)
    );
}

fn key_text(k: &WireStr) -> String {
    let mut t = sanitize(k.as_bytes());
    if t.is_empty() {
        t.push_str("(none)");
    }
    if k.truncated {
        t.push_str("...");
    }
    t
}

fn rows_plain(o: &mut String, title: &str, rows: &[Row]) {
    let _ = writeln!(o, "\n  {title}");
    for r in rows {
        let approx = if r.error > 0 { "~" } else { "" };
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6.2}%  {}",
            r.count,
            r.share * 100.0,
            key_text(&r.key)
        );
    }
}

/// Bytes in binary units (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn ms(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |n| format!("{:.1}", n as f64 / 1e6))
}

fn tables_plain(o: &mut String, r: &Report) {
    rows_plain(o, "top sections", &r.sections);
    rows_plain(o, "top hosts", &r.hosts);
    rows_plain(o, "top user agents", &r.user_agents);
    rows_plain(o, "methods", &r.methods);
    rows_plain(o, "status codes", &r.status_codes);
    rows_plain(o, "status classes", &r.status_classes);
    let _ = writeln!(o, "\n  bytes by host (request / response)");
    for b in &r.bytes_by_host {
        let _ = writeln!(
            o,
            "    {:>10} / {:>10}  {}",
            human_bytes(b.request_bytes),
            human_bytes(b.response_bytes),
            key_text(&b.key)
        );
    }
    let _ = writeln!(o, "\n  top clients (requests, bytes)");
    for c in &r.clients {
        let _ = writeln!(
            o,
            "    {:>9} {:>10}  {}",
            c.count,
            human_bytes(c.bytes),
            c.key
        );
    }
    let _ = writeln!(
        o,
        "\n  servers (requests, error rate: 5xx and failed gRPC calls, latency p50 / p95 / p99 ms)"
    );
    for v in &r.servers {
        let _ = writeln!(
            o,
            "    {:>9} {:>6.2}%  {:>8} {:>8} {:>8}  {}",
            v.count,
            v.error_rate * 100.0,
            ms(v.p50_ns),
            ms(v.p95_ns),
            ms(v.p99_ns),
            key_text(&v.key)
        );
    }
    let _ = writeln!(
        o,
        "\n  gRPC methods (calls, error rate, latency p50 / p95 / p99 ms, status codes)"
    );
    for g in &r.grpc {
        let approx = if g.error > 0 { "~" } else { "" };
        let codes: Vec<String> = g
            .codes
            .iter()
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6.2}%  {:>8} {:>8} {:>8}  {}/{}  [{}]",
            g.count,
            g.error_rate * 100.0,
            ms(g.p50_ns),
            ms(g.p95_ns),
            ms(g.p99_ns),
            key_text(&g.service),
            key_text(&g.method),
            codes.join(", ")
        );
    }
}

/// The TLS section, only when TLS was seen: outcome, server names (connections, failed,
/// bytes, handshake p50/p95/p99), versions (deprecated marked), ciphers, JA4, failures,
/// certificates expiring within 30 days.
fn tls_plain(o: &mut String, t: &TlsReport) {
    if t.connections == 0 && t.expiring_certs.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n  TLS: connections {}, completed {}, failed {}",
        t.connections, t.completed, t.failed
    );
    let _ = writeln!(
        o,
        "\n  TLS server names (connections, failed, bytes to server / to client, handshake p50 / p95 / p99 ms)"
    );
    for n in &t.names {
        let approx = if n.error > 0 { "~" } else { "" };
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6} {:>10} / {:>10} {:>8} {:>8} {:>8}  {}",
            n.count,
            n.failed,
            human_bytes(n.bytes_to_server),
            human_bytes(n.bytes_to_client),
            ms(n.p50_ns),
            ms(n.p95_ns),
            ms(n.p99_ns),
            key_text(&n.key)
        );
    }
    let _ = writeln!(o, "\n  TLS server names by bytes (to server / to client)");
    for n in &t.names_by_bytes {
        let _ = writeln!(
            o,
            "    {:>10} / {:>10}  {}",
            human_bytes(n.bytes_to_server),
            human_bytes(n.bytes_to_client),
            key_text(&n.key)
        );
    }
    let _ = writeln!(o, "\n  TLS versions (chosen by the server)");
    for v in &t.versions {
        let approx = if v.error > 0 { "~" } else { "" };
        let dep = if v.deprecated { "  (deprecated)" } else { "" };
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6.2}%  {}{dep}",
            v.count,
            v.share * 100.0,
            v.name
        );
    }
    let _ = writeln!(o, "\n  TLS cipher suites");
    for c in &t.ciphers {
        let approx = if c.error > 0 { "~" } else { "" };
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6.2}%  {}",
            c.count,
            c.share * 100.0,
            c.name
        );
    }
    rows_plain(o, "TLS client fingerprints (JA4)", &t.ja4);
    let _ = writeln!(
        o,
        "\n  TLS failures (fatal alert and sender, or no ServerHello)"
    );
    for f in &t.failures {
        let approx = if f.error > 0 { "~" } else { "" };
        let by = f
            .failure
            .sender()
            .map_or(String::new(), |s| format!(" from {s}"));
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>6.2}%  {}{by}",
            f.count,
            f.share * 100.0,
            f.failure.reason()
        );
    }
    let _ = writeln!(
        o,
        "\n  TLS certificates expiring within {EXPIRY_DAYS} days (days left, not after, subject, server name, issuer)"
    );
    for c in &t.expiring_certs {
        let _ = writeln!(
            o,
            "    {:>6}  {}  {}  {}  {}",
            c.days_left,
            format_utc(Timestamp::from_secs(
                u64::try_from(c.not_after).unwrap_or(0)
            )),
            key_text(&c.subject),
            key_text(&c.sni),
            key_text(&c.issuer)
        );
    }
}

/// The Processes table, only when an exchange had a process (TLS plaintext): requests,
/// responses, error rate, bytes each way, latency, role and command name (escaped).
fn processes_plain(o: &mut String, rows: &[ProcessRow]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "\n  processes (TLS plaintext: requests, responses, error rate, bytes request / response, latency p50 / p95 / p99 ms, role, command)"
    );
    for p in rows {
        let approx = if p.error > 0 { "~" } else { "" };
        let _ = writeln!(
            o,
            "    {approx}{:>9} {:>9} {:>6.2}%  {:>10} / {:>10} {:>8} {:>8} {:>8}  {:<6}  {}",
            p.count,
            p.responses,
            p.error_rate * 100.0,
            human_bytes(p.request_bytes),
            human_bytes(p.response_bytes),
            ms(p.p50_ns),
            ms(p.p95_ns),
            ms(p.p99_ns),
            p.role.name(),
            key_text(&p.comm)
        );
    }
}

/// `,"processes":[...]`, always present (empty without TLS plaintext); field names in
/// README ("The report").
fn processes_json(l: &mut Vec<u8>, rows: &[ProcessRow]) {
    array_json(l, "processes", rows, |l, p| {
        l.extend_from_slice(b"{\"comm\":");
        push_str(l, p.comm.as_bytes());
        let _ = write!(
            Adapter(l),
            ",\"truncated\":{},\"role\":\"{}\",\"count\":{},\"error\":{},\"share\":{:.6},\"responses\":{},\"errors\":{},\"error_rate\":{:.6},\"request_bytes\":{},\"response_bytes\":{},\"latency_samples\":{},\"p50_ms\":{},\"p95_ms\":{},\"p99_ms\":{},\"last_seen\":{}}}",
            p.comm.truncated,
            p.role.name(),
            p.count,
            p.error,
            p.share,
            p.responses,
            p.errors,
            p.error_rate,
            p.request_bytes,
            p.response_bytes,
            p.latency_samples,
            ms_json(p.p50_ns),
            ms_json(p.p95_ns),
            ms_json(p.p99_ns),
            secs(p.last_seen.nanos()),
        );
    });
}

/// The WebSocket sessions ended so far (one line, close codes after).
fn websocket_plain(o: &mut String, w: &WebSocketSummary) {
    let _ = write!(
        o,
        "\n  websocket sessions {}: messages {} to server, {} to client; payload {} / {}",
        w.sessions,
        w.messages_to_server,
        w.messages_to_client,
        human_bytes(w.payload_to_server),
        human_bytes(w.payload_to_client)
    );
    if !w.close_codes.is_empty() || w.other_close_codes > 0 || w.without_close > 0 {
        o.push_str("; close codes");
        for (code, n) in &w.close_codes {
            let _ = write!(o, " {code}:{n}");
        }
        if w.other_close_codes > 0 {
            let _ = write!(o, " other:{}", w.other_close_codes);
        }
        if w.without_close > 0 {
            let _ = write!(o, " none:{}", w.without_close);
        }
    }
    o.push('\n');
}

fn baseline_plain(o: &mut String, a: &AlertView) {
    let window = a.config.window_ns;
    match (a.baseline, a.state) {
        (Some(b), _) => {
            let _ = writeln!(
                o,
                "  baseline: {} requests per {} window, threshold {}%",
                b.per_window_display(window),
                format_duration(window),
                a.config.threshold_pct
            );
        }
        (None, AlertState::Learning(p)) => {
            let _ = writeln!(
                o,
                "  baseline: still learning ({} requests in {} of {})",
                p.requests,
                format_duration(p.elapsed_ns),
                format_duration(a.config.learn_ns)
            );
        }
        (None, _) => {}
    }
}

fn alerts_plain(o: &mut String, a: &AlertView) {
    let n = a.history.len();
    let _ = write!(o, "  alerts: {n}");
    if let Some(max) = a.max_duration_ns {
        let _ = write!(o, " (longest {}", format_duration(max));
        if let Some(avg) = a.avg_duration_ns {
            let _ = write!(o, ", average {}", format_duration(avg));
        }
        o.push(')');
    }
    o.push('\n');
    for ep in &a.history {
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

/// Errors and latency: every global machine, and the servers that alerted (or alert).
fn signals_plain(o: &mut String, views: &[SignalView]) {
    for v in views {
        let active = matches!(v.state, SignalState::Alert { .. });
        if v.server.is_some() && v.history.is_empty() && !active {
            continue;
        }
        let val = |x: u64| SignalValue(v.kind, x).to_string();
        let _ = write!(o, "  {}", v.kind.name());
        if let Some(s) = &v.server {
            // `Display` escapes anything but printable ASCII.
            let _ = write!(o, " on {s}");
        }
        let value = match v.state {
            SignalState::Learning { .. } => None,
            SignalState::Normal { value }
            | SignalState::Alert { value, .. }
            | SignalState::Recovered { value, .. } => value,
        };
        let label = if v.kind == AlertKind::Latency {
            "p95"
        } else {
            "5xx"
        };
        let _ = write!(o, ": {}", v.state.name().to_uppercase());
        match value {
            Some(x) => {
                let _ = write!(o, ", {label} {} over {} responses", val(x), v.responses);
            }
            None if matches!(v.state, SignalState::Learning { .. }) => {}
            None => {
                let _ = write!(o, ", {} responses (under the minimum)", v.responses);
            }
        }
        match v.baseline {
            Some(b) => {
                let _ = write!(o, ", baseline {}", val(b.value()));
            }
            None => o.push_str(", still learning"),
        }
        let _ = write!(o, "; alerts: {}", v.history.len());
        if let Some(max) = v.max_duration_ns {
            let _ = write!(o, " (longest {}", format_duration(max));
            if let Some(avg) = v.avg_duration_ns {
                let _ = write!(o, ", average {}", format_duration(avg));
            }
            o.push(')');
        }
        o.push('\n');
        for ep in &v.history {
            match ep.end {
                Some(end) => {
                    let _ = writeln!(
                        o,
                        "    {} .. {}  lasted {}, peak {}",
                        format_utc(ep.start),
                        format_utc(end),
                        format_duration(end.since(ep.start)),
                        val(ep.peak)
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "    {} ..  still active, peak {}",
                        format_utc(ep.start),
                        val(ep.peak)
                    );
                }
            }
        }
    }
}

/// A value of `kind` in JSON: percent with two decimals, or seconds.
fn signal_json_value(kind: AlertKind, v: u64) -> String {
    match kind {
        AlertKind::Latency => secs(v),
        _ => format!("{}.{:02}", v / 100, v % 100),
    }
}

/// `,"alert_kinds":[..]`: every errors and latency machine (see the module docs).
fn signals_json(l: &mut Vec<u8>, views: &[SignalView]) {
    array_json(l, "alert_kinds", views, |l, v| {
        l.extend_from_slice(b"{\"kind\":");
        push_str(l, v.kind.name().as_bytes());
        l.extend_from_slice(b",\"server\":");
        match &v.server {
            Some(s) => crate::jsonl::push_wire(l, s.as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        let value = match v.state {
            SignalState::Learning { .. } => None,
            SignalState::Normal { value }
            | SignalState::Alert { value, .. }
            | SignalState::Recovered { value, .. } => value,
        };
        let opt = |x: Option<u64>| x.map_or("null".into(), |x| signal_json_value(v.kind, x));
        let _ = write!(
            Adapter(l),
            ",\"state\":\"{}\",\"value\":{},\"responses\":{},\"baseline\":{}",
            v.state.name(),
            opt(value),
            v.responses,
            opt(v.baseline.map(|b| b.value()))
        );
        array_json(l, "alerts", &v.history, |l, ep| {
            let _ = write!(
                Adapter(l),
                "{{\"start\":{},\"end\":{},\"peak\":{},\"duration_s\":{}}}",
                secs(ep.start.nanos()),
                ep.end.map_or("null".into(), |e| secs(e.nanos())),
                signal_json_value(v.kind, ep.peak),
                ep.duration_ns().map_or("null".into(), secs)
            );
        });
        l.push(b'}');
    });
}

/// `window` as one JSON document on one line: `"type"` is `kind` (`report` at the end,
/// `snapshot` for periodic output).
pub fn json(snap: &Snapshot, kind: &str, source: &str, window: Window) -> String {
    let c = &snap.counters;
    let r = snap.report(window);
    let mut l = Vec::with_capacity(4096);
    l.extend_from_slice(b"{\"type\":");
    push_str(&mut l, kind.as_bytes());
    let _ = write!(
        Adapter(&mut l),
        ",\"at\":{},\"source\":",
        secs(snap.now.nanos())
    );
    push_str(&mut l, source.as_bytes());
    let _ = write_fields(
        &mut l,
        &[
            ("requests", r.requests),
            ("responses", r.responses),
            ("frames", c.frames),
            ("connections", c.flows_created),
            ("open_connections", snap.open_flows as u64),
        ],
    );
    counters_json(&mut l, snap);
    protocols_json(&mut l, c);
    websocket_json(&mut l, &snap.websocket);
    l.extend_from_slice(b",\"window\":");
    push_str(&mut l, r.window.label().as_bytes());
    let _ = write!(
        Adapter(&mut l),
        ",\"window_start\":{},\"window_end\":{}",
        secs(r.start.nanos()),
        secs(r.end.nanos())
    );
    tables_json(&mut l, r);
    tls_json(&mut l, &r.tls);
    processes_json(&mut l, &r.processes);
    if let Some(a) = &snap.alert {
        let window = a.config.window_ns;
        let state = match a.state {
            AlertState::Learning(_) => "learning",
            AlertState::Normal { .. } => "normal",
            AlertState::Alert { .. } => "alert",
            AlertState::Recovered { .. } => "recovered",
        };
        let _ = write!(
            Adapter(&mut l),
            ",\"state\":\"{state}\",\"hits\":{},\"baseline\":",
            a.hits_in_window
        );
        match a.baseline {
            Some(b) => l.extend_from_slice(b.per_window_display(window).to_string().as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        let _ = write!(
            Adapter(&mut l),
            ",\"window_s\":{},\"threshold\":{}",
            secs(window),
            a.config.threshold_pct
        );
        array_json(&mut l, "alerts", &a.history, |l, ep| {
            let _ = write!(
                Adapter(l),
                "{{\"start\":{},\"end\":{},\"peak\":{},\"duration_s\":{}}}",
                secs(ep.start.nanos()),
                ep.end.map_or("null".into(), |e| secs(e.nanos())),
                ep.peak,
                ep.duration_ns().map_or("null".into(), secs)
            );
        });
    } else {
        l.extend_from_slice(b",\"state\":null,\"baseline\":null,\"alerts\":[]");
    }
    signals_json(&mut l, &snap.signals);
    l.extend_from_slice(b"}\n");
    String::from_utf8(l).unwrap_or_default()
}

/// `,"counters":{...}`: every registered counter (see `httptop_wire::counter`), by its key,
/// in the object of its group (`capture`, `decode`, `reasm`, `http`, `stats`); the packet
/// and connection counters directly in `counters`.
fn counters_json(l: &mut Vec<u8>, snap: &Snapshot) {
    l.extend_from_slice(b",\"counters\":{");
    let mut open: Option<&'static str> = None;
    let mut first = true;
    for s in snap.counters() {
        let obj = s.desc.group.json_key();
        if obj != open {
            if open.is_some() {
                l.push(b'}');
                first = false;
            }
            if let Some(o) = obj {
                let _ = write!(Adapter(l), "{}\"{o}\":{{", if first { "" } else { "," });
                first = true;
            }
            open = obj;
        }
        let sep = if first { "" } else { "," };
        let _ = write!(Adapter(l), "{sep}\"{}\":{}", s.key(), s.value);
        first = false;
    }
    if open.is_some() {
        l.push(b'}');
    }
    l.push(b'}');
}

/// `,"websocket":{...}`: the WebSocket sessions ended so far.
fn websocket_json(l: &mut Vec<u8>, w: &WebSocketSummary) {
    let _ = write!(
        Adapter(l),
        ",\"websocket\":{{\"sessions\":{},\"messages_to_server\":{},\"messages_to_client\":{},\"payload_to_server\":{},\"payload_to_client\":{},\"without_close\":{},\"close_codes\":{{",
        w.sessions,
        w.messages_to_server,
        w.messages_to_client,
        w.payload_to_server,
        w.payload_to_client,
        w.without_close
    );
    for (i, (code, n)) in w.close_codes.iter().enumerate() {
        let sep = if i > 0 { "," } else { "" };
        let _ = write!(Adapter(l), "{sep}\"{code}\":{n}");
    }
    let _ = write!(
        Adapter(l),
        "}},\"other_close_codes\":{}}}",
        w.other_close_codes
    );
}

/// `,"protocols":[...]`: one object per protocol, in `Protocol::ALL` order; `part_of`
/// names the row a row is a part of (grpc: http/2; not to be summed with it).
fn protocols_json(l: &mut Vec<u8>, c: &Counters) {
    let rows: Vec<_> = c.protocols.iter().collect();
    array_json(l, "protocols", &rows, |l, (p, n)| {
        let part_of = p
            .part_of()
            .map_or("null".to_string(), |q| format!("\"{}\"", q.name()));
        let _ = write!(
            Adapter(l),
            "{{\"protocol\":\"{}\",\"part_of\":{part_of},\"connections\":{},\"requests\":{},\"bytes_to_server\":{},\"bytes_to_client\":{}}}",
            p.name(),
            n.connections,
            n.requests,
            n.bytes_to_server,
            n.bytes_to_client
        );
    });
}

/// The Protocols table: one row per protocol (all of them, zero rows included).
fn protocols_plain(o: &mut String, c: &Counters) {
    let _ = writeln!(
        o,
        "\n  protocols (connections, requests, bytes to server / to client; grpc is a part of http/2)"
    );
    for (p, n) in c.protocols.iter() {
        // A part of another row (grpc of http/2) is indented under it.
        let (indent, width) = if p.part_of().is_some() {
            ("  ", 6)
        } else {
            ("", 8)
        };
        let _ = writeln!(
            o,
            "    {indent}{:<width$} {:>9} {:>9}  {:>12} / {:>12}",
            p.name(),
            n.connections,
            n.requests,
            n.bytes_to_server,
            n.bytes_to_client
        );
    }
}

/// Every registered counter that is not zero, group by group (`key value`, wrapped);
/// the JSON report lists the zeros too.
fn counters_plain(o: &mut String, snap: &Snapshot) {
    let _ = writeln!(o, "\n  counters (not zero)");
    for line in counter_lines(snap.counters(), 92) {
        let _ = writeln!(o, "    {line}");
    }
}

/// `samples` that are not zero as lines of at most about `width` characters: the group
/// (`http:`) in a 14-character column, then `key value` items separated by commas; a
/// group's further lines leave the column blank.
pub fn counter_lines(samples: impl Iterator<Item = Sample>, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut group = None;
    let mut line = String::new();
    for s in samples.filter(|s| s.value > 0) {
        let item = format!("{} {}", s.key(), s.value);
        let new_group = group != Some(s.desc.group);
        if new_group || line.len() + item.len() + 2 > width {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            line = if new_group {
                format!("{:<14}", format!("{}:", s.desc.group.key()))
            } else {
                " ".repeat(14)
            };
            group = Some(s.desc.group);
        } else {
            line.push_str(", ");
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

fn rows_json(l: &mut Vec<u8>, name: &str, rows: &[Row]) {
    array_json(l, name, rows, |l, r| {
        key_json(l, &r.key);
        let _ = write!(
            Adapter(l),
            ",\"count\":{},\"error\":{},\"share\":{:.6},\"last_seen\":{}}}",
            r.count,
            r.error,
            r.share,
            secs(r.last_seen.nanos())
        );
    });
}

/// `{"key":"...","truncated":B` (the object is left open).
fn key_json(l: &mut Vec<u8>, k: &WireStr) {
    l.extend_from_slice(b"{\"key\":");
    push_str(l, k.as_bytes());
    l.extend_from_slice(if k.truncated {
        b",\"truncated\":true"
    } else {
        b",\"truncated\":false"
    });
}

/// `,"name":[item,item...]`, each item written by `item`.
fn array_json<T>(l: &mut Vec<u8>, name: &str, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    let _ = write!(Adapter(l), ",\"{name}\":[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            l.push(b',');
        }
        item(l, it);
    }
    l.push(b']');
}

/// `,"tls":{...}`, always present (zeros and empty arrays without TLS); field names in
/// README ("The report").
fn tls_json(l: &mut Vec<u8>, t: &TlsReport) {
    let _ = write!(
        Adapter(l),
        ",\"tls\":{{\"connections\":{},\"completed\":{},\"failed\":{}",
        t.connections,
        t.completed,
        t.failed
    );
    let name = |l: &mut Vec<u8>, n: &TlsNameRow| {
        key_json(l, &n.key);
        let _ = write!(
            Adapter(l),
            ",\"sni\":{},\"count\":{},\"error\":{},\"share\":{:.6},\"failed\":{},\"bytes_to_server\":{},\"bytes_to_client\":{},\"latency_samples\":{},\"p50_ms\":{},\"p95_ms\":{},\"p99_ms\":{},\"last_seen\":{}}}",
            n.sni,
            n.count,
            n.error,
            n.share,
            n.failed,
            n.bytes_to_server,
            n.bytes_to_client,
            n.latency_samples,
            ms_json(n.p50_ns),
            ms_json(n.p95_ns),
            ms_json(n.p99_ns),
            secs(n.last_seen.nanos()),
        );
    };
    array_json(l, "names", &t.names, name);
    array_json(l, "names_by_bytes", &t.names_by_bytes, name);
    array_json(l, "versions", &t.versions, |l, v| {
        l.extend_from_slice(b"{\"name\":");
        push_str(l, v.name.as_bytes());
        let _ = write!(
            Adapter(l),
            ",\"id\":{},\"deprecated\":{},\"count\":{},\"error\":{},\"share\":{:.6}}}",
            v.version,
            v.deprecated,
            v.count,
            v.error,
            v.share
        );
    });
    array_json(l, "ciphers", &t.ciphers, |l, c| {
        l.extend_from_slice(b"{\"name\":");
        push_str(l, c.name.as_bytes());
        let _ = write!(
            Adapter(l),
            ",\"id\":{},\"count\":{},\"error\":{},\"share\":{:.6}}}",
            c.id,
            c.count,
            c.error,
            c.share
        );
    });
    rows_json(l, "ja4", &t.ja4);
    array_json(l, "failures", &t.failures, |l, f| {
        l.extend_from_slice(b"{\"reason\":");
        push_str(l, f.failure.reason().as_bytes());
        l.extend_from_slice(b",\"sender\":");
        match f.failure.sender() {
            Some(s) => push_str(l, s.as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        let _ = write!(
            Adapter(l),
            ",\"count\":{},\"error\":{},\"share\":{:.6}}}",
            f.count,
            f.error,
            f.share
        );
    });
    array_json(l, "expiring_certs", &t.expiring_certs, |l, c| {
        l.extend_from_slice(b"{\"subject\":");
        push_str(l, c.subject.as_bytes());
        l.extend_from_slice(b",\"issuer\":");
        push_str(l, c.issuer.as_bytes());
        l.extend_from_slice(b",\"sni\":");
        push_str(l, c.sni.as_bytes());
        let _ = write!(
            Adapter(l),
            ",\"not_after\":{},\"days_left\":{},\"last_seen\":{}}}",
            c.not_after,
            c.days_left,
            secs(c.last_seen.nanos())
        );
    });
    l.push(b'}');
}

/// Milliseconds with 3 decimals, or `null`.
fn ms_json(ns: Option<u64>) -> String {
    ns.map_or("null".into(), |n| format!("{:.3}", n as f64 / 1e6))
}

fn tables_json(l: &mut Vec<u8>, r: &Report) {
    rows_json(l, "sections", &r.sections);
    rows_json(l, "hosts", &r.hosts);
    rows_json(l, "user_agents", &r.user_agents);
    rows_json(l, "methods", &r.methods);
    rows_json(l, "status_codes", &r.status_codes);
    rows_json(l, "status_classes", &r.status_classes);
    array_json(l, "bytes_by_host", &r.bytes_by_host, |l, b| {
        key_json(l, &b.key);
        let _ = write!(
            Adapter(l),
            ",\"count\":{},\"error\":{},\"request_bytes\":{},\"response_bytes\":{}}}",
            b.count,
            b.error,
            b.request_bytes,
            b.response_bytes
        );
    });
    array_json(l, "clients", &r.clients, |l, c| {
        let _ = write!(
            Adapter(l),
            "{{\"key\":\"{}\",\"count\":{},\"error\":{},\"share\":{:.6},\"bytes\":{}}}",
            c.key,
            c.count,
            c.error,
            c.share,
            c.bytes
        );
    });
    array_json(l, "servers", &r.servers, |l, v| {
        key_json(l, &v.key);
        let _ = write!(
            Adapter(l),
            ",\"count\":{},\"error\":{},\"errors\":{},\"errors_5xx\":{},\"error_rate\":{:.6},\"latency_samples\":{},\"p50_ms\":{},\"p95_ms\":{},\"p99_ms\":{}}}",
            v.count,
            v.error,
            v.errors,
            v.errors,
            v.error_rate,
            v.latency_samples,
            ms_json(v.p50_ns),
            ms_json(v.p95_ns),
            ms_json(v.p99_ns),
        );
    });
    array_json(l, "grpc", &r.grpc, |l, g| {
        l.extend_from_slice(b"{\"service\":");
        push_str(l, g.service.as_bytes());
        l.extend_from_slice(b",\"method\":");
        push_str(l, g.method.as_bytes());
        let _ = write!(
            Adapter(l),
            ",\"truncated\":{},\"count\":{},\"error\":{},\"share\":{:.6},\"errors\":{},\"error_rate\":{:.6},\"latency_samples\":{},\"p50_ms\":{},\"p95_ms\":{},\"p99_ms\":{},\"last_seen\":{},\"codes\":{{",
            g.service.truncated || g.method.truncated,
            g.count,
            g.error,
            g.share,
            g.errors,
            g.error_rate,
            g.latency_samples,
            ms_json(g.p50_ns),
            ms_json(g.p95_ns),
            ms_json(g.p99_ns),
            secs(g.last_seen.nanos()),
        );
        for (i, (c, n)) in g.codes.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let _ = write!(Adapter(l), "{sep}\"{}\":{n}", c.name());
        }
        l.extend_from_slice(b"}}");
    });
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

/// Wire bytes made safe for a terminal: printable text kept; C0/C1 controls and DEL
/// escaped as `\u{..}`, bytes that are not valid UTF-8 as `\xHH`, a backslash doubled;
/// and the invisible format characters that reorder or hide text (bidi overrides and
/// isolates, zero-width characters, soft hyphen, BOM...) escaped too, so a Host,
/// User-Agent or path can neither drive the terminal nor disguise what it shows.
pub fn sanitize(bytes: &[u8]) -> String {
    let mut o = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch.is_control() || is_invisible(ch) {
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

/// Format characters that change or hide how text displays.
pub(crate) fn is_invisible(ch: char) -> bool {
    matches!(ch,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e0fff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::Protocol;

    fn filled() -> Snapshot {
        httptop_engine::counters::filled_snapshot(1000)
    }

    /// A snapshot whose 1-minute report holds the TLS tables of real sessions counted by
    /// the statistics.
    fn with_tls() -> Snapshot {
        use httptop_engine::stats::{Stats, StatsConfig};
        use httptop_engine::tls::{TlsAlert, TlsCert, TlsFlags, TlsSession};
        let t0 = Timestamp::from_secs(1_700_000_000);
        let mut st = Stats::new(StatsConfig::default());
        st.advance(t0);
        let ok = TlsSession {
            end: t0,
            sni: Some(WireStr::capped(b"a.example\x1b[2J", 64)),
            version: Some(0x0304),
            cipher: Some(0x1301),
            ja4: Some("t13d1516h2_8daaf6152771_e5627efa2ab1".into()),
            handshake_ns: Some(1_500_000),
            bytes_to_server: 2048,
            bytes_to_client: 4096,
            flags: TlsFlags::COMPLETE,
            ..TlsSession::default()
        };
        st.on_tls(&ok);
        st.on_tls(&ok);
        st.on_tls(&TlsSession {
            sni: None,
            version: Some(0x0301),
            cipher: Some(0x002f),
            alert: Some(TlsAlert {
                level: 2,
                description: 40,
                from_client: false,
            }),
            flags: TlsFlags::default(),
            cert: Some(Box::new(TlsCert {
                subject: Some(WireStr::capped(b"old.example", 64)),
                issuer: Some(WireStr::capped(b"Test CA", 64)),
                not_after: Some(1_700_000_000 - 2 * 86_400),
                ..TlsCert::default()
            })),
            ..ok.clone()
        });
        let mut snap = filled();
        snap.reports[Window::Min1.index()].tls = st.report(Window::Min1, t0).tls;
        snap
    }

    #[test]
    fn tls_section_in_the_plain_report() {
        let text = plain(&with_tls(), "t", Window::Min1);
        assert!(
            text.contains("TLS: connections 3, completed 2, failed 1"),
            "{text}"
        );
        // The SNI is sanitised: no ESC reaches the terminal.
        assert!(!text.contains('\x1b'));
        let name = text
            .lines()
            .find(|l| l.contains("a.example"))
            .expect("name row");
        let cells: Vec<&str> = name.split_whitespace().collect();
        assert_eq!(&cells[..3], ["2", "0", "4.0"], "{name}");
        assert!(text.contains("TLS 1.0  (deprecated)"), "{text}");
        assert!(text.contains("TLS_AES_128_GCM_SHA256"));
        assert!(text.contains("handshake_failure from server"), "{text}");
        let cert = text
            .lines()
            .find(|l| l.contains("old.example"))
            .expect("certificate row");
        assert!(cert.trim_start().starts_with("-2 "), "{cert}");
        assert!(
            cert.contains("Test CA") && cert.contains("(none)"),
            "{cert}"
        );
        // Without TLS, no section.
        assert!(!plain(&filled(), "t", Window::Min1).contains("TLS:"));
    }

    #[test]
    fn tls_object_in_the_json_report() {
        let v: serde_json::Value =
            serde_json::from_str(&json(&with_tls(), "report", "x", Window::Min1)).expect("json");
        let t = &v["tls"];
        assert_eq!(t["connections"], 3);
        assert_eq!(t["completed"], 2);
        assert_eq!(t["failed"], 1);
        let a = &t["names"][0];
        assert_eq!(a["key"], "a.example\x1b[2J");
        assert_eq!(a["sni"], true);
        assert_eq!(a["count"], 2);
        assert_eq!(a["bytes_to_server"], 4096);
        assert_eq!(a["latency_samples"], 2);
        let p50 = a["p50_ms"].as_f64().expect("p50");
        assert!((p50 / 1.5 - 1.0).abs() < 0.01, "{p50}");
        assert_eq!(t["names"][1]["key"], "(none)");
        assert_eq!(t["names"][1]["sni"], false);
        assert_eq!(t["names"][1]["failed"], 1);
        assert_eq!(t["names_by_bytes"].as_array().map(Vec::len), Some(2));
        assert_eq!(t["versions"][0]["name"], "TLS 1.3");
        assert_eq!(t["versions"][0]["id"], 0x0304);
        assert_eq!(t["versions"][1]["deprecated"], true);
        assert_eq!(t["ciphers"][0]["name"], "TLS_AES_128_GCM_SHA256");
        assert_eq!(t["ja4"][0]["count"], 3);
        assert_eq!(t["failures"][0]["reason"], "handshake_failure");
        assert_eq!(t["failures"][0]["sender"], "server");
        let c = &t["expiring_certs"][0];
        assert_eq!(c["subject"], "old.example");
        assert_eq!(c["issuer"], "Test CA");
        assert_eq!(c["sni"], "");
        assert_eq!(c["days_left"], -2);
        assert_eq!(c["not_after"], 1_700_000_000 - 2 * 86_400);
        // Without TLS: the same fields, zero and empty.
        let v: serde_json::Value =
            serde_json::from_str(&json(&filled(), "report", "x", Window::Min1)).expect("json");
        assert_eq!(v["tls"]["connections"], 0);
        assert_eq!(v["tls"]["names"].as_array().map(Vec::len), Some(0));
        assert_eq!(v["tls"]["expiring_certs"].as_array().map(Vec::len), Some(0));
    }

    /// A snapshot whose 1-minute report holds the Processes table of TLS plaintext
    /// exchanges counted by the statistics: curl -> nginx on this host (twice, one 502),
    /// and a process whose name drives a terminal answering a remote client.
    fn with_processes() -> Snapshot {
        use httptop_engine::stats::{Stats, StatsConfig};
        use httptop_engine::{Exchange, Process};
        let t0 = Timestamp::from_secs(1_700_000_000);
        let mut st = Stats::new(StatsConfig::default());
        st.advance(t0);
        let proc_ = |comm: &[u8]| Process {
            pid: 7,
            comm: WireStr::capped(comm, 16),
        };
        let ex = |status: u16, process: Process, peer: Option<Process>, server: bool| Exchange {
            ts: t0,
            method: WireStr::capped(b"GET", 8),
            status: Some(status),
            request_bytes: 100,
            response_bytes: 2048,
            latency_ns: Some(2_000_000),
            tls: true,
            process: Some(process),
            peer_process: peer,
            process_is_server: server,
            ..Exchange::default()
        };
        st.on_exchange(&ex(200, proc_(b"curl"), Some(proc_(b"nginx")), false));
        st.on_exchange(&ex(502, proc_(b"curl"), Some(proc_(b"nginx")), false));
        st.on_exchange(&ex(200, proc_(b"evil\x1b[2J"), None, true));
        let mut snap = filled();
        snap.reports[Window::Min1.index()].processes = st.report(Window::Min1, t0).processes;
        snap
    }

    #[test]
    fn processes_in_the_plain_report() {
        let text = plain(&with_processes(), "t", Window::Min1);
        assert!(text.contains("\n  processes (TLS plaintext"), "{text}");
        let row = |name: &str| {
            let l = text
                .lines()
                .find(|l| l.ends_with(name))
                .unwrap_or_else(|| panic!("no {name} row:\n{text}"));
            l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
        };
        let curl = row(" curl");
        assert_eq!(&curl[..4], ["2", "2", "50.00%", "200"], "{curl:?}");
        assert_eq!(curl[curl.len() - 2], "client");
        let nginx = row(" nginx");
        assert_eq!(nginx[nginx.len() - 2], "server");
        assert_eq!(&nginx[..3], ["2", "2", "50.00%"]);
        // The command name is escaped: no ESC reaches the terminal.
        assert!(!text.contains('\x1b'));
        assert!(text.contains("evil\\u{1b}[2J"), "{text}");
        // Without processes, no section.
        assert!(!plain(&filled(), "t", Window::Min1).contains("processes ("));
    }

    #[test]
    fn processes_in_the_json_report() {
        let v: serde_json::Value =
            serde_json::from_str(&json(&with_processes(), "report", "x", Window::Min1))
                .expect("json");
        let rows = v["processes"].as_array().expect("processes");
        assert_eq!(rows.len(), 3);
        let find = |comm: &str| {
            rows.iter()
                .find(|r| r["comm"] == comm)
                .unwrap_or_else(|| panic!("no {comm}: {rows:?}"))
        };
        let nginx = find("nginx");
        assert_eq!(nginx["role"], "server");
        assert_eq!(nginx["count"], 2);
        assert_eq!(nginx["responses"], 2);
        assert_eq!(nginx["errors"], 1);
        assert_eq!(nginx["error_rate"], 0.5);
        assert_eq!(nginx["request_bytes"], 200);
        assert_eq!(nginx["response_bytes"], 4096);
        assert_eq!(nginx["latency_samples"], 2);
        assert_eq!(nginx["truncated"], false);
        let p50 = nginx["p50_ms"].as_f64().expect("p50");
        assert!((p50 / 2.0 - 1.0).abs() < 0.01, "{p50}");
        assert_eq!(nginx["last_seen"], 1_700_000_000);
        assert_eq!(find("curl")["role"], "client");
        // JSON keeps the name's bytes (escaped by the JSON encoding, not sanitised).
        assert_eq!(find("evil\x1b[2J")["role"], "server");
        // Without processes: present and empty.
        let v: serde_json::Value =
            serde_json::from_str(&json(&filled(), "report", "x", Window::Min1)).expect("json");
        assert_eq!(v["processes"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn every_counter_and_protocol_reaches_the_json_report() {
        let snap = filled();
        let v: serde_json::Value =
            serde_json::from_str(&json(&snap, "report", "x", Window::Min1)).expect("json");
        let c = &v["counters"];
        for s in snap.counters() {
            let obj = match s.desc.group.json_key() {
                Some(k) => &c[k],
                None => c,
            };
            assert_eq!(
                obj[s.key().as_ref()].as_u64(),
                Some(s.value),
                "{}",
                s.full_name()
            );
        }
        // Keys of the first schema kept.
        assert_eq!(c["frames"].as_u64(), Some(snap.counters.frames));
        assert_eq!(c["reasm"]["gaps"].as_u64(), Some(snap.counters.reasm.gaps));
        assert_eq!(
            c["stats"]["hosts_evicted"].as_u64(),
            Some(snap.stats_counters.hosts.evicted)
        );
        let rows = v["protocols"].as_array().expect("protocols");
        assert_eq!(rows.len(), Protocol::COUNT);
        for (row, p) in rows.iter().zip(Protocol::ALL) {
            let n = snap.counters.protocols.get(p);
            assert_eq!(row["protocol"], p.name());
            assert_eq!(row["connections"].as_u64(), Some(n.connections));
            assert_eq!(row["requests"].as_u64(), Some(n.requests));
            assert_eq!(row["bytes_to_server"].as_u64(), Some(n.bytes_to_server));
            assert_eq!(row["bytes_to_client"].as_u64(), Some(n.bytes_to_client));
        }
    }

    #[test]
    fn every_counter_and_protocol_reaches_the_plain_report() {
        let snap = filled();
        let text = plain(&snap, "t", Window::Min1);
        for s in snap.counters() {
            assert!(
                text.contains(&format!("{} {}", s.key(), s.value)),
                "{} missing:\n{text}",
                s.full_name()
            );
        }
        let block = text
            .lines()
            .skip_while(|l| !l.contains("counters (not zero)"));
        assert!(block.clone().all(|l| l.len() <= 100), "{text}");
        for (p, n) in snap.counters.protocols.iter() {
            let row = text
                .lines()
                .find(|l| l.trim_start().starts_with(p.name()))
                .expect("protocol row");
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(
                cells,
                [
                    p.name(),
                    &n.connections.to_string(),
                    &n.requests.to_string(),
                    &n.bytes_to_server.to_string(),
                    "/",
                    &n.bytes_to_client.to_string()
                ]
            );
        }
    }

    /// A snapshot from the real statistics: gRPC calls OK / NOT_FOUND / UNAVAILABLE on two
    /// methods over HTTP/2, an HTTP/2 and an HTTP/1 request, one WebSocket session.
    fn grpc_snapshot() -> Snapshot {
        use httptop_engine::stats::{Stats, StatsConfig};
        use httptop_engine::{Exchange, Flags, Version, WebSocketSession};
        use httptop_wire::Timestamp;
        let t0 = 1_700_000_000 * 1_000_000_000u64;
        let ex = |path: &str, grpc: Option<u32>, lat_ms: u64, version: Version| Exchange {
            ts: Timestamp(t0),
            method: WireStr::capped(b"POST", 64),
            host: WireStr::capped(b"api.example", 64),
            path: WireStr::capped(path.as_bytes(), 64),
            version,
            status: Some(200),
            latency_ns: Some(lat_ms * 1_000_000),
            flags: if grpc.is_some() {
                Flags::GRPC
            } else {
                Flags::empty()
            },
            grpc_status: grpc,
            ..Exchange::default()
        };
        let mut st = Stats::new(StatsConfig::default());
        st.advance(Timestamp(t0));
        for _ in 0..8 {
            st.on_exchange(&ex(
                "/helloworld.Greeter/SayHello",
                Some(0),
                4,
                Version::HTTP2,
            ));
        }
        st.on_exchange(&ex(
            "/helloworld.Greeter/SayHello",
            Some(14),
            40,
            Version::HTTP2,
        ));
        for _ in 0..2 {
            st.on_exchange(&ex("/users.v1.Users/Get", Some(5), 1, Version::HTTP2));
        }
        st.on_exchange(&ex("/health", None, 1, Version::HTTP2));
        st.on_exchange(&ex("/x", None, 1, Version { major: 1, minor: 1 }));
        st.on_websocket(&WebSocketSession {
            messages_to_server: 3,
            messages_to_client: 7,
            payload_to_server: 30,
            payload_to_client: 7000,
            close_code: Some(1001),
            ..WebSocketSession::default()
        });
        let mut snap = filled();
        let now = Timestamp(t0 + 1_000_000_000);
        snap.reports = Window::ALL.map(|w| st.report(w, now));
        snap.websocket = st.websocket().clone();
        snap
    }

    #[test]
    fn grpc_table_and_websocket_summary_in_the_json_report() {
        let snap = grpc_snapshot();
        let v: serde_json::Value =
            serde_json::from_str(&json(&snap, "report", "x", Window::Min1)).expect("json");
        let g = v["grpc"].as_array().expect("grpc");
        assert_eq!(g.len(), 2);
        assert_eq!(g[0]["service"], "helloworld.Greeter");
        assert_eq!(g[0]["method"], "SayHello");
        assert_eq!(g[0]["count"], 9);
        assert_eq!(g[0]["errors"], 1);
        assert_eq!(
            g[0]["codes"],
            serde_json::json!({"OK": 8, "UNAVAILABLE": 1})
        );
        assert_eq!(g[0]["latency_samples"], 9);
        assert!((g[0]["p50_ms"].as_f64().unwrap() - 4.0).abs() < 0.04);
        assert!((g[0]["p99_ms"].as_f64().unwrap() - 40.0).abs() < 0.4);
        assert_eq!(g[1]["method"], "Get");
        assert_eq!(g[1]["codes"], serde_json::json!({"NOT_FOUND": 2}));
        assert_eq!(g[1]["error_rate"].as_f64(), Some(1.0));
        // The failed calls are errors of their server; errors_5xx is the same value.
        let srv = &v["servers"][0];
        assert_eq!(
            (srv["errors"].as_u64(), srv["errors_5xx"].as_u64()),
            (Some(3), Some(3))
        );
        assert_eq!(v["requests"], 13);
        let ws = &v["websocket"];
        assert_eq!(ws["sessions"], 1);
        assert_eq!(ws["messages_to_client"], 7);
        assert_eq!(ws["close_codes"], serde_json::json!({"1001": 1}));
        let p = v["protocols"].as_array().unwrap();
        let part: Vec<_> = p.iter().map(|r| r["part_of"].clone()).collect();
        assert_eq!(part[Protocol::Grpc.index()], "http/2");
        assert!(part[Protocol::Http2.index()].is_null());
    }

    #[test]
    fn grpc_table_and_websocket_summary_in_the_plain_report() {
        let snap = grpc_snapshot();
        let text = plain(&snap, "t", Window::Min1);
        let rows: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.contains("gRPC methods"))
            .skip(1)
            .take(2)
            .collect();
        let cells: Vec<Vec<&str>> = rows
            .iter()
            .map(|r| r.split_whitespace().collect())
            .collect();
        assert_eq!(cells[0][0], "9", "{text}");
        assert_eq!(cells[0][1], "11.11%");
        assert_eq!(cells[0][5], "helloworld.Greeter/SayHello");
        assert!(rows[0].ends_with("[OK 8, UNAVAILABLE 1]"), "{text}");
        assert!(
            rows[1].contains("users.v1.Users/Get  [NOT_FOUND 2]"),
            "{text}"
        );
        assert!(
            text.contains("\n      grpc "),
            "grpc indented under http/2:\n{text}"
        );
        assert!(
            text.contains("websocket sessions 1: messages 3 to server, 7 to client; payload 30 B / 6.8 KiB; close codes 1001:1"),
            "{text}"
        );
    }

    #[test]
    fn zero_counters_are_left_out_of_the_plain_report() {
        let mut snap = filled();
        snap.counters = Default::default();
        snap.stats_counters = Default::default();
        snap.counters.http.bad_chunk = 3;
        let text = plain(&snap, "t", Window::Min1);
        let block: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.contains("counters (not zero)"))
            .collect();
        assert_eq!(
            block,
            ["  counters (not zero)", "    http:         bad_chunk 3"]
        );
    }

    #[test]
    fn sanitize_escapes_controls_and_invalid_bytes() {
        assert_eq!(sanitize(b"ok /a"), "ok /a");
        assert_eq!(sanitize(b"\x1b[2Jx"), "\\u{1b}[2Jx");
        assert_eq!(sanitize(b"a\xffb"), "a\\xffb");
        assert_eq!(sanitize("é\u{85}".as_bytes()), "é\\u{85}");
        assert_eq!(sanitize(b"\\x41"), "\\\\x41");
        assert_eq!(
            sanitize("a\u{202e}b\u{200b}".as_bytes()),
            "a\\u{202e}b\\u{200b}"
        );
    }
}
