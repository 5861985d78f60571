//! The text exposition (format 0.0.4) of [`Totals`] and [`Health`].

use super::model::{
    GrpcCounts, Health, KeyCounts, LabelTable, NotifierCounts, Totals, PROTOCOLS, STATES,
};
use super::tls::{TlsCounts, TlsTotals, VERSIONS};
use super::{LATENCY_BUCKETS, METHODS, OTHER};
use httptop_wire::counter::{Sample, FAMILIES};
use std::fmt::{Display, Write as _};

/// Text exposition being written.
struct Expo {
    out: String,
}

impl Expo {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Label value escaping of the text format: backslash, double quote, line feed.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn class_of(code: usize) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// The `_bucket`, `_sum` and `_count` samples of one histogram with `labels`; `counts`
/// are per bucket (not cumulative), the last one `+Inf`.
fn histogram(e: &mut Expo, name: &str, labels: &[(&str, &str)], counts: &[u64], sum_ns: u128) {
    let mut cum = 0u64;
    let bucket = format!("{name}_bucket");
    for (i, n) in counts.iter().enumerate() {
        cum += n;
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        let mut l = labels.to_vec();
        l.push(("le", &le));
        e.sample(&bucket, &l, cum);
    }
    e.sample(&format!("{name}_sum"), labels, sum_ns as f64 / 1e9);
    e.sample(&format!("{name}_count"), labels, cum);
}

fn keyed(e: &mut Expo, t: &LabelTable, label: &str, name: &str, f: fn(&KeyCounts) -> u64) {
    for s in t.series() {
        e.sample(name, &[(label, &s.label)], f(&s.counts));
    }
    e.sample(name, &[(label, OTHER)], f(t.other()));
}

/// Exchanges read from TLS plaintext per process command name and role (`client`,
/// `server`), the statistics' top rows per role labelled, the rest under
/// `comm="other"`; nothing at all until an exchange had a process.
fn render_processes(e: &mut Expo, t: &Totals) {
    if !t.processes_seen {
        return;
    }
    type Field = fn(&KeyCounts) -> u64;
    let families: [(&str, &str, Field); 4] = [
        (
            "httptop_process_requests_total",
            "Requests read from TLS plaintext by process command name and role (client: sent them; server: answered them), top names per role; the rest under other.",
            |c| c.requests,
        ),
        (
            "httptop_process_server_errors_total",
            "Failed requests (5xx responses, gRPC calls whose status is not OK) read from TLS plaintext by process command name and role (top names, the rest under other).",
            |c| c.server_errors,
        ),
        (
            "httptop_process_request_bytes_total",
            "Request bytes read from TLS plaintext by process command name and role (top names, the rest under other).",
            |c| c.request_bytes,
        ),
        (
            "httptop_process_response_bytes_total",
            "Response bytes read from TLS plaintext by process command name and role (top names, the rest under other).",
            |c| c.response_bytes,
        ),
    ];
    for (name, help, f) in families {
        e.family(name, "counter", help);
        for (table, role) in t.processes.iter().zip(["client", "server"]) {
            for s in table.series() {
                e.sample(name, &[("comm", &s.label), ("role", role)], f(&s.counts));
            }
            e.sample(name, &[("comm", OTHER), ("role", role)], f(table.other()));
        }
    }
}

/// The exposition of everything, in the text format (version 0.0.4).
pub fn render(t: &Totals, h: &Health, am: Option<NotifierCounts>) -> String {
    let mut e = Expo {
        out: String::with_capacity(8192),
    };
    e.family(
        "httptop_build_info",
        "gauge",
        "Version of httptop (always 1).",
    );
    e.sample(
        "httptop_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    // Requests and responses.
    e.family(
        "httptop_requests_total",
        "counter",
        "HTTP requests seen, by method (methods outside the standard nine are other).",
    );
    for (i, n) in t.requests_by_method.iter().enumerate() {
        let m = METHODS.get(i).copied().unwrap_or(OTHER);
        e.sample("httptop_requests_total", &[("method", m)], n);
    }
    e.family(
        "httptop_responses_total",
        "counter",
        "Final HTTP responses seen, by status class and code (codes outside 100-599 are other).",
    );
    for (code, &n) in t.responses_by_code.iter().enumerate() {
        if n > 0 && code >= 100 {
            let c = code.to_string();
            e.sample(
                "httptop_responses_total",
                &[("class", class_of(code)), ("code", &c)],
                n,
            );
        }
    }
    if let Some(&n) = t.responses_by_code.first().filter(|&&n| n > 0) {
        e.sample(
            "httptop_responses_total",
            &[("class", OTHER), ("code", OTHER)],
            n,
        );
    }
    e.single(
        "httptop_requests_without_response_total",
        "counter",
        "Requests for which no response was seen (connection closed, timed out, evicted, lost in a gap).",
        t.no_response,
    );
    e.single(
        "httptop_request_bytes_total",
        "counter",
        "Bytes of HTTP requests on the wire (heads and bodies).",
        t.request_bytes,
    );
    e.single(
        "httptop_response_bytes_total",
        "counter",
        "Bytes of HTTP responses on the wire (heads and bodies).",
        t.response_bytes,
    );
    e.family(
        "httptop_response_latency_seconds",
        "histogram",
        "Time from the first request byte to the first response byte.",
    );
    let mut cum = 0u64;
    for (i, n) in t.latency.iter().enumerate() {
        cum += n;
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        e.sample(
            "httptop_response_latency_seconds_bucket",
            &[("le", &le)],
            cum,
        );
    }
    e.sample(
        "httptop_response_latency_seconds_sum",
        &[],
        t.latency_sum_ns as f64 / 1e9,
    );
    e.sample("httptop_response_latency_seconds_count", &[], cum);

    // Per protocol (HTTP/1.x, HTTP/2): the families above keep their series over all
    // protocols; these split what tells the protocols apart.
    e.family(
        "httptop_request_errors_total",
        "counter",
        "Failed requests (a 5xx response, or a gRPC call whose grpc-status is not 0), by protocol.",
    );
    for (p, n) in PROTOCOLS.iter().zip(t.errors_by_protocol) {
        e.sample("httptop_request_errors_total", &[("protocol", p)], n);
    }
    e.family(
        "httptop_protocol_response_latency_seconds",
        "histogram",
        "Time from the first request byte to the first response byte, by protocol.",
    );
    for (i, p) in PROTOCOLS.iter().enumerate() {
        histogram(
            &mut e,
            "httptop_protocol_response_latency_seconds",
            &[("protocol", p)],
            &t.latency_by_protocol[i],
            t.latency_sum_by_protocol[i],
        );
    }

    // gRPC methods: the current top rows of the statistics' gRPC table, the rest under
    // service and method other.
    e.family(
        "httptop_grpc_calls_total",
        "counter",
        "gRPC calls by service, method and status (code: OK, NOT_FOUND, ..; other above 16; none without status), for the top methods; the rest under other.",
    );
    let grpc_rows = t
        .grpc
        .series()
        .iter()
        .map(|s| {
            let (service, method) = s.label.split_once('/').unwrap_or((&s.label, ""));
            (service, method, &s.counts)
        })
        .chain([(OTHER, OTHER, t.grpc.other())]);
    for (service, method, c) in grpc_rows.clone() {
        for (slot, &n) in c.by_status.iter().enumerate() {
            if n > 0 {
                e.sample(
                    "httptop_grpc_calls_total",
                    &[
                        ("service", service),
                        ("method", method),
                        ("code", GrpcCounts::status_label(slot)),
                    ],
                    n,
                );
            }
        }
    }
    e.family(
        "httptop_grpc_call_latency_seconds",
        "histogram",
        "Time from the first request byte to the first response byte of gRPC calls, by service and method (top methods; the rest under other).",
    );
    for (service, method, c) in grpc_rows {
        if c.calls() > 0 {
            histogram(
                &mut e,
                "httptop_grpc_call_latency_seconds",
                &[("service", service), ("method", method)],
                &c.latency,
                c.latency_sum_ns,
            );
        }
    }

    render_tls(&mut e, &t.tls);
    render_processes(&mut e, t);

    // Top-k hosts and sections.
    e.family(
        "httptop_host_requests_total",
        "counter",
        "Requests by Host header, for the current top hosts; the rest (and requests without Host) under other.",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_requests_total",
        |c| c.requests,
    );
    e.family(
        "httptop_host_request_bytes_total",
        "counter",
        "Request bytes by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_request_bytes_total",
        |c| c.request_bytes,
    );
    e.family(
        "httptop_host_response_bytes_total",
        "counter",
        "Response bytes by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_response_bytes_total",
        |c| c.response_bytes,
    );
    e.family(
        "httptop_host_server_errors_total",
        "counter",
        "Failed requests (5xx responses, gRPC calls whose status is not OK) by Host header (top hosts, the rest under other).",
    );
    keyed(
        &mut e,
        &t.hosts,
        "host",
        "httptop_host_server_errors_total",
        |c| c.server_errors,
    );
    e.family(
        "httptop_section_requests_total",
        "counter",
        "Requests by section (Host and first path segment), for the current top sections; the rest under other.",
    );
    keyed(
        &mut e,
        &t.sections,
        "section",
        "httptop_section_requests_total",
        |c| c.requests,
    );
    e.family(
        "httptop_section_server_errors_total",
        "counter",
        "Failed requests (5xx responses, gRPC calls whose status is not OK) by section (top sections, the rest under other).",
    );
    keyed(
        &mut e,
        &t.sections,
        "section",
        "httptop_section_server_errors_total",
        |c| c.server_errors,
    );

    render_alerting(&mut e, h);
    render_health(&mut e, h);
    if let Some(am) = am {
        e.family(
            "httptop_alertmanager_posts_total",
            "counter",
            "Posts to Alertmanager, by result.",
        );
        e.sample(
            "httptop_alertmanager_posts_total",
            &[("result", "success")],
            am.posts_ok,
        );
        e.sample(
            "httptop_alertmanager_posts_total",
            &[("result", "failure")],
            am.posts_failed,
        );
        e.single(
            "httptop_alertmanager_dropped_events_total",
            "counter",
            "Alert events dropped because the Alertmanager client's queue was full.",
            am.dropped,
        );
    }
    e.out
}

/// The TLS families (see [`super::tls`]).
fn render_tls(e: &mut Expo, t: &TlsTotals) {
    let sni = |e: &mut Expo, name: &str, f: fn(&TlsCounts) -> u64| {
        for s in t.by_sni().series() {
            e.sample(name, &[("sni", &s.label)], f(&s.counts));
        }
        e.sample(name, &[("sni", OTHER)], f(t.by_sni().other()));
    };
    e.family(
        "httptop_tls_connections_total",
        "counter",
        "TLS connections by server name (SNI; (none) without SNI, (no client hello) when the handshake was not seen), for the top names; the rest under other.",
    );
    sni(e, "httptop_tls_connections_total", |c| c.connections);
    e.family(
        "httptop_tls_failed_connections_total",
        "counter",
        "TLS connections that failed (a fatal alert, or a ClientHello without ServerHello), by server name (top names, the rest under other).",
    );
    sni(e, "httptop_tls_failed_connections_total", |c| c.failed);
    e.family(
        "httptop_tls_bytes_total",
        "counter",
        "Bytes of TLS connections by server name (top names, the rest under other) and direction.",
    );
    let rows = t
        .by_sni()
        .series()
        .iter()
        .map(|s| (s.label.as_str(), &s.counts))
        .chain([(OTHER, t.by_sni().other())]);
    for (label, c) in rows.clone() {
        for (dir, n) in [
            ("to_server", c.bytes_to_server),
            ("to_client", c.bytes_to_client),
        ] {
            e.sample(
                "httptop_tls_bytes_total",
                &[("sni", label), ("direction", dir)],
                n,
            );
        }
    }
    e.family(
        "httptop_tls_handshake_latency_seconds",
        "histogram",
        "Time from the ClientHello to the ServerHello, by server name (top names, the rest under other).",
    );
    for (label, c) in rows {
        if c.latency.iter().any(|&n| n > 0) {
            histogram(
                e,
                "httptop_tls_handshake_latency_seconds",
                &[("sni", label)],
                &c.latency,
                c.latency_sum_ns,
            );
        }
    }
    e.family(
        "httptop_tls_version_connections_total",
        "counter",
        "TLS connections by the version the server chose (deprecated=\"true\" for TLS 1.1 and older).",
    );
    for (i, (v, &n)) in VERSIONS.iter().zip(&t.by_version).enumerate() {
        let dep = if i < 3 { "true" } else { "false" };
        e.sample(
            "httptop_tls_version_connections_total",
            &[("version", v), ("deprecated", dep)],
            n,
        );
    }
    e.family(
        "httptop_tls_cipher_connections_total",
        "counter",
        "TLS connections by the cipher suite the server chose (IANA name), for the top suites; the rest under other.",
    );
    for s in t.by_cipher().series() {
        e.sample(
            "httptop_tls_cipher_connections_total",
            &[("cipher", &s.label)],
            s.counts.connections,
        );
    }
    e.sample(
        "httptop_tls_cipher_connections_total",
        &[("cipher", OTHER)],
        t.by_cipher().other().connections,
    );
    e.family(
        "httptop_tls_failures_total",
        "counter",
        "Failed TLS connections by reason (the fatal alert's description, other for an unknown one, or no_server_hello) and sender (client, server, none).",
    );
    for (reason, sender, n) in t.failures() {
        e.sample(
            "httptop_tls_failures_total",
            &[("reason", reason), ("sender", sender)],
            n,
        );
    }
    e.family(
        "httptop_tls_cert_not_after_seconds",
        "gauge",
        "The notAfter of the server certificate (Unix seconds; TLS 1.2 and older send it in clear), by server name and subject; at most 50 pairs, the earliest kept.",
    );
    for c in &t.certs {
        e.sample(
            "httptop_tls_cert_not_after_seconds",
            &[("sni", &c.sni), ("subject", &c.subject)],
            c.not_after,
        );
    }
    e.single(
        "httptop_tls_cert_series_dropped_total",
        "counter",
        "Certificates (server name and subject pairs) left out of, or replaced in, the 50 expiry gauges.",
        t.cert_series_dropped,
    );
}

/// Every alert kind's state (`rate` from the request-rate machine), firing per kind and
/// server, and the errors and latency values against their baselines (global).
fn render_signals(e: &mut Expo, h: &Health) {
    let mut kinds: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &h.alert {
        kinds.push(("rate", a.state));
    }
    kinds.extend(
        h.signals
            .iter()
            .filter(|g| g.server.is_none())
            .map(|g| (g.kind, g.state)),
    );
    if kinds.is_empty() {
        return;
    }
    e.family(
        "httptop_alert_kind_state",
        "gauge",
        "State of each alert kind (rate, errors, latency): 1 for the current one.",
    );
    for (kind, state) in &kinds {
        for s in STATES {
            e.sample(
                "httptop_alert_kind_state",
                &[("kind", kind), ("state", s)],
                u8::from(s == *state),
            );
        }
    }
    e.family(
        "httptop_alert_kind_firing",
        "gauge",
        "1 while an alert of this kind is active (globally, or for one server).",
    );
    for (kind, state) in &kinds {
        e.sample(
            "httptop_alert_kind_firing",
            &[("kind", kind)],
            u8::from(*state == "alert"),
        );
    }
    for g in &h.signals {
        if let Some(server) = &g.server {
            e.sample(
                "httptop_alert_kind_firing",
                &[("kind", g.kind), ("server", server)],
                u8::from(g.state == "alert"),
            );
        }
    }
    let global = |k: &str| h.signals.iter().find(|g| g.kind == k && g.server.is_none());
    for (kind, name, base, help, bhelp) in [
        (
            "errors",
            "httptop_alert_error_ratio",
            "httptop_alert_error_baseline_ratio",
            "Share of failed responses in the alert window at the latest evaluation.",
            "Learned share of failed responses.",
        ),
        (
            "latency",
            "httptop_alert_latency_p95_seconds",
            "httptop_alert_latency_baseline_seconds",
            "p95 response time in the alert window at the latest evaluation.",
            "Learned p95 response time.",
        ),
    ] {
        let Some(g) = global(kind) else { continue };
        if let Some(v) = g.value {
            e.single(name, "gauge", help, v);
        }
        if let Some(b) = g.baseline {
            e.single(base, "gauge", bhelp, b);
        }
    }
}

fn render_alerting(e: &mut Expo, h: &Health) {
    e.single(
        "httptop_alerts_total",
        "counter",
        "Alerts started, every kind (rate, errors, latency).",
        h.alerts_started,
    );
    render_signals(e, h);
    let Some(a) = &h.alert else {
        return;
    };
    e.family(
        "httptop_alert_state",
        "gauge",
        "Alerting state: 1 for the current one.",
    );
    for s in STATES {
        e.sample(
            "httptop_alert_state",
            &[("state", s)],
            u8::from(s == a.state),
        );
    }
    e.single(
        "httptop_alert_firing",
        "gauge",
        "1 while the high-traffic alert is active.",
        u8::from(a.state == "alert"),
    );
    e.single(
        "httptop_alert_window_hits",
        "gauge",
        "Requests in the alert window at the latest evaluation.",
        a.hits,
    );
    if let Some(b) = a.baseline {
        e.single(
            "httptop_alert_baseline_hits",
            "gauge",
            "Learned baseline: requests per alert window.",
            b,
        );
    }
    e.single(
        "httptop_alert_threshold_ratio",
        "gauge",
        "An alert starts when window hits exceed the baseline by more than this fraction.",
        f64::from(a.threshold_pct) / 100.0,
    );
    e.single(
        "httptop_alert_window_seconds",
        "gauge",
        "Length of the alert window.",
        a.window_seconds,
    );
    e.single(
        "httptop_learning_progress_ratio",
        "gauge",
        "Fraction of the learning period done (1 once the baseline is known).",
        a.learning_progress,
    );
}

/// Every registered counter: one family per counter, or per shared family (its series
/// told apart by the counter's label, and a per-table counter's by `table`), with the
/// registry's help text; then the Protocols table and the gauges.
fn render_health(e: &mut Expo, h: &Health) {
    let mut families: Vec<(String, Vec<Sample>)> = Vec::new();
    for s in h.samples() {
        let f = s.desc.family();
        match families.iter_mut().find(|(n, _)| *n == f) {
            Some((_, v)) => v.push(s),
            None => families.push((f.into_owned(), vec![s])),
        }
    }
    for (family, samples) in &families {
        let name = format!("httptop_{family}_total");
        let help = FAMILIES
            .iter()
            .find(|(f, _)| f == family)
            .map_or_else(|| samples.first().map_or("", |s| s.desc.help), |f| f.1);
        e.family(&name, "counter", help);
        for s in samples {
            let labels: Vec<(&str, &str)> = s.desc.label.into_iter().chain(s.scope).collect();
            e.sample(&name, &labels, s.value);
        }
    }
    render_protocols(e, h);
    e.single(
        "httptop_open_flows",
        "gauge",
        "TCP connections tracked now.",
        h.open_flows,
    );
    e.single(
        "httptop_capture_finished",
        "gauge",
        "1 once the capture or replay has ended (the values are final).",
        u8::from(h.finished),
    );
}

/// The series a counter is exported as: `httptop_<family>_total{label="value",...}`
/// (registry labels are static names: nothing to escape).
pub fn series(s: &Sample) -> String {
    let labels: Vec<String> = s
        .desc
        .label
        .into_iter()
        .chain(s.scope)
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    let name = format!("httptop_{}_total", s.desc.family());
    if labels.is_empty() {
        name
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// The Protocols table, one series per protocol in `Protocol::ALL` order.
fn render_protocols(e: &mut Expo, h: &Health) {
    let t = &h.counters.protocols;
    e.family(
        "httptop_protocol_connections_total",
        "counter",
        "TCP connections by the protocol detected on them (unknown: no analyzer claimed the payload).",
    );
    for (p, n) in t.iter() {
        e.sample(
            "httptop_protocol_connections_total",
            &[("protocol", p.name())],
            n.connections,
        );
    }
    e.family(
        "httptop_protocol_requests_total",
        "counter",
        "Requests reported by each protocol's analyzer.",
    );
    for (p, n) in t.iter() {
        e.sample(
            "httptop_protocol_requests_total",
            &[("protocol", p.name())],
            n.requests,
        );
    }
    e.family(
        "httptop_protocol_bytes_total",
        "counter",
        "TCP payload bytes by protocol and direction (each byte once: no retransmissions, no gaps).",
    );
    for (p, n) in t.iter() {
        for (dir, v) in [
            ("to_server", n.bytes_to_server),
            ("to_client", n.bytes_to_client),
        ] {
            e.sample(
                "httptop_protocol_bytes_total",
                &[("protocol", p.name()), ("direction", dir)],
                v,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::model::tests::ex;
    use crate::metrics::{AlertGauges, MAX_LABELLED, MAX_LABEL_CHARS};

    /// The sample lines of one metric, as (labels, value).
    fn samples<'a>(text: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let (n, labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                (n == name).then_some((labels, value))
            })
            .collect()
    }

    #[test]
    fn counts_methods_codes_bytes_latency() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        t.on_exchange(&ex("GET", "a", "/x", Some(503)));
        t.on_exchange(&ex("BREW", "a", "/x", None));
        t.on_exchange(&ex("POST", "b", "/y", Some(999)));
        let text = render(&t, &Health::default(), None);
        let req = samples(&text, "httptop_requests_total");
        assert!(req.contains(&("method=\"GET\"", "2")));
        assert!(req.contains(&("method=\"POST\"", "1")));
        assert!(req.contains(&("method=\"other\"", "1")));
        assert_eq!(t.requests(), 4);
        let resp = samples(&text, "httptop_responses_total");
        assert_eq!(
            resp,
            vec![
                ("class=\"2xx\",code=\"200\"", "1"),
                ("class=\"5xx\",code=\"503\"", "1"),
                ("class=\"other\",code=\"other\"", "1"),
            ]
        );
        assert_eq!(
            samples(&text, "httptop_requests_without_response_total"),
            vec![("", "1")]
        );
        assert_eq!(
            samples(&text, "httptop_request_bytes_total"),
            vec![("", "400")]
        );
        assert_eq!(
            samples(&text, "httptop_response_bytes_total"),
            vec![("", "3000")]
        );
        let buckets = samples(&text, "httptop_response_latency_seconds_bucket");
        assert!(buckets.contains(&("le=\"0.0025\"", "0")));
        assert!(buckets.contains(&("le=\"0.005\"", "3")));
        assert!(buckets.contains(&("le=\"+Inf\"", "3")));
        assert_eq!(
            samples(&text, "httptop_response_latency_seconds_sum"),
            vec![("", "0.009")]
        );
    }

    /// A gRPC call over HTTP/2 (`status`: its grpc-status), 3 ms.
    fn grpc(path: &str, status: Option<u32>) -> httptop_engine::Exchange {
        httptop_engine::Exchange {
            version: httptop_engine::Version::HTTP2,
            stream_id: 1,
            flags: httptop_engine::Flags::GRPC,
            grpc_status: status,
            ..ex("POST", "api", path, Some(200))
        }
    }

    /// A TLS plaintext exchange read from `process` (`peer`: the other local end).
    fn tls_ex(
        process: &[u8],
        peer: Option<&[u8]>,
        is_server: bool,
        status: u16,
    ) -> httptop_engine::Exchange {
        let p = |c: &[u8]| httptop_engine::Process {
            pid: 1,
            comm: httptop_engine::WireStr::capped(c, 16),
        };
        httptop_engine::Exchange {
            tls: true,
            process: Some(p(process)),
            peer_process: peer.map(p),
            process_is_server: is_server,
            request_bytes: 10,
            response_bytes: 100,
            ..ex("GET", "a", "/", Some(status))
        }
    }

    #[test]
    fn process_families_by_comm_and_role_top_k_the_rest_other() {
        use httptop_engine::stats::ProcessRole;
        let mut t = Totals::default();
        // Nothing before an exchange with a process.
        t.on_exchange(&ex("GET", "a", "/", Some(200)));
        let text = render(&t, &Health::default(), None);
        assert!(!text.contains("httptop_process_"), "{text}");
        t.relabel_processes(
            [
                (ProcessRole::Client, &b"curl"[..]),
                (ProcessRole::Server, &b"nginx"[..]),
                (ProcessRole::Server, &b"evil\"\n"[..]),
            ],
            10,
        );
        t.on_exchange(&tls_ex(b"curl", Some(b"nginx"), false, 200));
        t.on_exchange(&tls_ex(b"curl", Some(b"nginx"), false, 503));
        t.on_exchange(&tls_ex(b"nginx", None, true, 200));
        t.on_exchange(&tls_ex(b"python3", None, false, 200));
        t.on_exchange(&tls_ex(b"evil\"\n", None, true, 200));
        let text = render(&t, &Health::default(), None);
        assert_eq!(
            samples(&text, "httptop_process_requests_total"),
            vec![
                ("comm=\"curl\",role=\"client\"", "2"),
                ("comm=\"other\",role=\"client\"", "1"),
                ("comm=\"nginx\",role=\"server\"", "3"),
                ("comm=\"evil\\\"\\\\u{a}\",role=\"server\"", "1"),
                ("comm=\"other\",role=\"server\"", "0"),
            ]
        );
        let errors = samples(&text, "httptop_process_server_errors_total");
        assert!(
            errors.contains(&("comm=\"nginx\",role=\"server\"", "1")),
            "{errors:?}"
        );
        assert!(
            errors.contains(&("comm=\"curl\",role=\"client\"", "1")),
            "{errors:?}"
        );
        let rb = samples(&text, "httptop_process_response_bytes_total");
        assert!(
            rb.contains(&("comm=\"nginx\",role=\"server\"", "300")),
            "{rb:?}"
        );
        let qb = samples(&text, "httptop_process_request_bytes_total");
        assert!(
            qb.contains(&("comm=\"other\",role=\"client\"", "10")),
            "{qb:?}"
        );
        assert!(text.contains("# TYPE httptop_process_requests_total counter"));
    }

    #[test]
    fn grpc_calls_by_method_and_code_errors_and_latency_by_protocol() {
        let mut t = Totals::default();
        let say = "/helloworld.Greeter/SayHello";
        t.relabel_grpc([&b"helloworld.Greeter/SayHello"[..]], 10);
        for _ in 0..3 {
            t.on_exchange(&grpc(say, Some(0)));
        }
        t.on_exchange(&grpc(say, Some(14)));
        t.on_exchange(&grpc("/users.v1.Users/Get", Some(5)));
        t.on_exchange(&grpc("/users.v1.Users/Get", None));
        // HTTP/2 without gRPC, and HTTP/1.1 (a 5xx).
        t.on_exchange(&httptop_engine::Exchange {
            version: httptop_engine::Version::HTTP2,
            ..ex("GET", "api", "/health", Some(200))
        });
        t.on_exchange(&httptop_engine::Exchange {
            version: httptop_engine::Version { major: 1, minor: 1 },
            ..ex("GET", "a", "/x", Some(502))
        });
        let text = render(&t, &Health::default(), None);
        let calls = samples(&text, "httptop_grpc_calls_total");
        assert_eq!(
            calls,
            vec![
                (
                    "service=\"helloworld.Greeter\",method=\"SayHello\",code=\"OK\"",
                    "3"
                ),
                (
                    "service=\"helloworld.Greeter\",method=\"SayHello\",code=\"UNAVAILABLE\"",
                    "1"
                ),
                ("service=\"other\",method=\"other\",code=\"NOT_FOUND\"", "1"),
                ("service=\"other\",method=\"other\",code=\"none\"", "1"),
            ]
        );
        let count = samples(&text, "httptop_grpc_call_latency_seconds_count");
        assert_eq!(
            count,
            vec![
                ("service=\"helloworld.Greeter\",method=\"SayHello\"", "4"),
                ("service=\"other\",method=\"other\"", "2"),
            ]
        );
        let b = samples(&text, "httptop_grpc_call_latency_seconds_bucket");
        assert!(b.contains(&(
            "service=\"helloworld.Greeter\",method=\"SayHello\",le=\"0.005\"",
            "4"
        )));
        assert_eq!(
            samples(&text, "httptop_request_errors_total"),
            vec![("protocol=\"http/1\"", "1"), ("protocol=\"http/2\"", "2")]
        );
        assert_eq!(
            samples(&text, "httptop_protocol_response_latency_seconds_count"),
            vec![("protocol=\"http/1\"", "1"), ("protocol=\"http/2\"", "7")]
        );
        // The families over all protocols keep their series: one per method, the
        // failed gRPC calls counted as errors of their host.
        let req = samples(&text, "httptop_requests_total");
        assert!(req.contains(&("method=\"POST\"", "6")));
        assert!(req.contains(&("method=\"GET\"", "2")));
        assert_eq!(t.hosts().sum().server_errors, 3);
        // Wire strings in labels are escaped like the hosts'.
        let mut t = Totals::default();
        t.relabel_grpc([&b"evil\"svc/m\nx"[..]], 10);
        t.on_exchange(&grpc("/evil\"svc/m\nx", Some(0)));
        let text = render(&t, &Health::default(), None);
        assert!(
            text.contains("httptop_grpc_calls_total{service=\"evil\\\"svc\",method=\"m\\\\u{a}x\",code=\"OK\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn hosts_outside_the_top_fold_into_other_and_series_stay_monotonic() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        t.relabel([&b"a"[..], b"b"], [&b"a/x"[..]], 2);
        t.on_exchange(&ex("GET", "a", "/x", Some(500)));
        t.on_exchange(&ex("GET", "b", "/y", Some(200)));
        t.on_exchange(&ex("GET", "c", "/z", Some(200)));
        let text = render(&t, &Health::default(), None);
        assert_eq!(
            samples(&text, "httptop_host_requests_total"),
            vec![
                ("host=\"a\"", "1"),
                ("host=\"b\"", "1"),
                ("host=\"other\"", "2")
            ]
        );
        assert_eq!(
            samples(&text, "httptop_host_server_errors_total")[0],
            ("host=\"a\"", "1")
        );
        assert_eq!(
            samples(&text, "httptop_section_requests_total"),
            vec![("section=\"a/x\"", "1"), ("section=\"other\"", "3")]
        );
        // `a` leaves the top: its series goes; `b` keeps its count; `other` never drops.
        t.relabel([&b"c"[..], b"b"], [], 2);
        assert_eq!(t.hosts().series().len(), 2);
        assert_eq!(t.hosts().series()[0].counts.requests, 0);
        assert_eq!(t.hosts().series()[1].counts.requests, 1);
        assert_eq!(t.hosts().other().requests, 2);
        assert_eq!(t.sections().series().len(), 0);
    }

    #[test]
    fn labels_are_capped_deduplicated_and_escaped() {
        let mut t = Totals::default();
        let many: Vec<Vec<u8>> = (0..200).map(|i| format!("h{i}").into_bytes()).collect();
        t.relabel(many.iter().map(Vec::as_slice), [], 1000);
        assert_eq!(t.hosts().series().len(), MAX_LABELLED);

        let long_a = [b"x".repeat(300), b"a".to_vec()].concat();
        let long_b = [b"x".repeat(300), b"b".to_vec()].concat();
        t.relabel(
            [
                &b"other"[..],
                b"q\"uo\\te\n",
                b"\x1b[31mred",
                &long_a,
                &long_b,
            ],
            [],
            10,
        );
        let labels: Vec<&str> = t
            .hosts()
            .series()
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(
            labels.len(),
            3,
            "`other` and the second cut key get no series"
        );
        assert_eq!(labels[1], "\\u{1b}[31mred");
        assert_eq!(labels[2].chars().count(), MAX_LABEL_CHARS + 1);
        let text = render(&t, &Health::default(), None);
        // Sanitised (backslash doubled, line feed as \u{a}), then escaped for the format.
        assert!(text.contains(r#"host="q\"uo\\\\te\\u{a}""#), "{text}");
        assert!(!text.contains('\x1b'));
    }

    fn tls(sni: Option<&str>, cipher: u16) -> httptop_engine::tls::TlsSession {
        use httptop_engine::tls::{TlsFlags, TlsSession};
        TlsSession {
            sni: sni.map(|s| httptop_engine::WireStr::capped(s.as_bytes(), 256)),
            version: Some(0x0303),
            cipher: Some(cipher),
            handshake_ns: Some(3_000_000),
            bytes_to_server: 10,
            bytes_to_client: 100,
            flags: TlsFlags::COMPLETE,
            ..TlsSession::default()
        }
    }

    #[test]
    fn tls_families_by_sni_version_cipher_failure_and_cert_expiry() {
        use httptop_engine::tls::{TlsAlert, TlsCert, TlsFlags, TlsSession};
        let mut t = Totals::default();
        t.relabel_tls(
            [&b"a.example"[..], b"(none)"],
            [&b"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"[..]],
            10,
        );
        t.on_tls(&tls(Some("a.example"), 0xc02f));
        t.on_tls(&tls(Some("a.example"), 0xc02f));
        t.on_tls(&tls(None, 0x1301));
        t.on_tls(&TlsSession {
            version: Some(0x0301),
            cipher: Some(0x0a0a),
            alert: Some(TlsAlert {
                level: 2,
                description: 48,
                from_client: true,
            }),
            flags: TlsFlags::default(),
            cert: Some(Box::new(TlsCert {
                subject: Some(httptop_engine::WireStr::capped(b"b\x1b.example", 64)),
                not_after: Some(1_700_000_000),
                ..TlsCert::default()
            })),
            ..tls(Some("b.example"), 0)
        });
        t.on_tls(&TlsSession {
            version: None,
            cipher: None,
            handshake_ns: None,
            flags: TlsFlags::NO_SERVER_HELLO,
            ..tls(Some("b.example"), 0)
        });
        let text = render(&t, &Health::default(), None);
        assert_eq!(
            samples(&text, "httptop_tls_connections_total"),
            vec![
                ("sni=\"a.example\"", "2"),
                ("sni=\"(none)\"", "1"),
                ("sni=\"other\"", "2"),
            ]
        );
        assert_eq!(
            samples(&text, "httptop_tls_failed_connections_total"),
            vec![
                ("sni=\"a.example\"", "0"),
                ("sni=\"(none)\"", "0"),
                ("sni=\"other\"", "2"),
            ]
        );
        let bytes = samples(&text, "httptop_tls_bytes_total");
        assert!(bytes.contains(&("sni=\"a.example\",direction=\"to_client\"", "200")));
        let v = samples(&text, "httptop_tls_version_connections_total");
        assert!(v.contains(&("version=\"TLS 1.2\",deprecated=\"false\"", "3")));
        assert!(v.contains(&("version=\"TLS 1.0\",deprecated=\"true\"", "1")));
        assert_eq!(
            samples(&text, "httptop_tls_cipher_connections_total"),
            vec![
                ("cipher=\"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"", "2"),
                ("cipher=\"other\"", "2"),
            ]
        );
        assert_eq!(
            samples(&text, "httptop_tls_failures_total"),
            vec![
                ("reason=\"unknown_ca\",sender=\"client\"", "1"),
                ("reason=\"no_server_hello\",sender=\"none\"", "1"),
            ]
        );
        let lat = samples(&text, "httptop_tls_handshake_latency_seconds_bucket");
        assert!(lat.contains(&("sni=\"a.example\",le=\"0.0025\"", "0")));
        assert!(lat.contains(&("sni=\"a.example\",le=\"0.005\"", "2")));
        assert_eq!(
            samples(&text, "httptop_tls_handshake_latency_seconds_count"),
            vec![
                ("sni=\"a.example\"", "2"),
                ("sni=\"(none)\"", "1"),
                ("sni=\"other\"", "1"),
            ]
        );
        // The subject is escaped as the terminal output is: no ESC in a label.
        assert_eq!(
            samples(&text, "httptop_tls_cert_not_after_seconds"),
            vec![(
                "sni=\"b.example\",subject=\"b\\\\u{1b}.example\"",
                "1700000000"
            )]
        );
        assert!(!text.contains('\x1b'));
        assert_eq!(t.tls().connections(), 5);
    }

    #[test]
    fn tls_cert_gauges_are_capped_keeping_the_earliest() {
        use httptop_engine::tls::{TlsCert, TlsSession};
        for n in [MAX_LABELLED - 1, MAX_LABELLED, MAX_LABELLED + 1] {
            let mut t = Totals::default();
            for i in (0..n).rev() {
                t.on_tls(&TlsSession {
                    cert: Some(Box::new(TlsCert {
                        subject: Some(httptop_engine::WireStr::capped(
                            format!("c{i}").as_bytes(),
                            16,
                        )),
                        not_after: Some(1_000 + i as i64),
                        ..TlsCert::default()
                    })),
                    ..tls(Some("x"), 0x1301)
                });
            }
            let text = render(&t, &Health::default(), None);
            let g = samples(&text, "httptop_tls_cert_not_after_seconds");
            assert_eq!(g.len(), n.min(MAX_LABELLED));
            assert!(g.iter().all(|(_, v)| v
                .parse::<i64>()
                .is_ok_and(|v| v < 1_000 + MAX_LABELLED as i64)));
            let dropped = n.saturating_sub(MAX_LABELLED).to_string();
            assert_eq!(
                samples(&text, "httptop_tls_cert_series_dropped_total"),
                vec![("", dropped.as_str())]
            );
        }
    }

    #[test]
    fn every_family_has_help_and_type_once() {
        let mut t = Totals::default();
        t.on_exchange(&ex("GET", "a", "/x", Some(200)));
        let h = Health {
            alert: Some(AlertGauges {
                state: "normal",
                hits: 3,
                baseline: Some(2),
                threshold_pct: 10,
                window_seconds: 120.0,
                learning_progress: 1.0,
            }),
            ..Health::default()
        };
        let text = render(&t, &h, Some(NotifierCounts::default()));
        let mut types = std::collections::HashSet::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert!(types.insert(l.to_string()), "repeated {l}");
        }
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap_or("");
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                types.iter().any(|t| t.split(' ').nth(2) == Some(family))
                    || types.iter().any(|t| t.split(' ').nth(2) == Some(name)),
                "{l} has no TYPE"
            );
        }
        assert_eq!(
            samples(&text, "httptop_alert_state"),
            vec![
                ("state=\"learning\"", "0"),
                ("state=\"normal\"", "1"),
                ("state=\"alert\"", "0"),
                ("state=\"recovered\"", "0"),
            ]
        );
    }

    #[test]
    fn every_registered_counter_and_protocol_is_exported_with_help() {
        let mut h = Health::default();
        httptop_engine::counters::fill_distinct(&mut h.counters, &mut h.stats_counters, 1);
        let text = render(&Totals::default(), &h, None);
        let lines: std::collections::HashSet<&str> = text.lines().collect();
        for s in h.samples() {
            let line = format!("{} {}", series(&s), s.value);
            assert!(lines.contains(line.as_str()), "{line}");
            let help = format!("# HELP httptop_{}_total ", s.desc.family());
            assert!(text.contains(&help), "{help}");
        }
        // Documented names kept.
        for l in [
            format!("httptop_packets_total {}", h.counters.frames),
            format!("httptop_flows_total {}", h.counters.flows_created),
            format!(
                "httptop_anomalies_total{{kind=\"bad_chunk\"}} {}",
                h.counters.http.bad_chunk
            ),
            format!(
                "httptop_truncations_total{{kind=\"strings\"}} {}",
                h.counters.http.strings_truncated
            ),
        ] {
            assert!(lines.contains(l.as_str()), "{l}");
        }
        for (p, n) in h.counters.protocols.iter() {
            let p = p.name();
            for l in [
                format!(
                    "httptop_protocol_connections_total{{protocol=\"{p}\"}} {}",
                    n.connections
                ),
                format!(
                    "httptop_protocol_requests_total{{protocol=\"{p}\"}} {}",
                    n.requests
                ),
                format!(
                    "httptop_protocol_bytes_total{{protocol=\"{p}\",direction=\"to_server\"}} {}",
                    n.bytes_to_server
                ),
                format!(
                    "httptop_protocol_bytes_total{{protocol=\"{p}\",direction=\"to_client\"}} {}",
                    n.bytes_to_client
                ),
            ] {
                assert!(lines.contains(l.as_str()), "{l}");
            }
        }
    }
}
