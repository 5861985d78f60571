//! The dashboard screen.
//!
//! Contract: [`render`] draws one [`Snapshot`] and reads no clock: every age, countdown
//! and chart axis is relative to `snap.now`. Every string that came from the wire goes
//! through [`crate::text`] before it reaches the buffer. Any area size is drawn without
//! panicking; at 80x24 the selected panel is shown large under a one-line panel bar, and
//! wider screens add a column of the other panels, small.

use crate::app::{App, Panel, Sort};
use crate::text::{clean, wire};
use httptop_engine::alert::{
    AlertKind, AlertState, Baseline, HumanDuration, SignalState, SignalValue, Utc,
};
use httptop_engine::snapshot::{AlertView, Snapshot};
use httptop_engine::stats::{Report, TlsNameRow, TlsReport, EXPIRY_DAYS};
use httptop_engine::Protocol;
use httptop_output::report::human_bytes;
use httptop_wire::Timestamp;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Cell, Chart, Clear, Dataset, GraphType, Paragraph, Row, Table, Wrap,
};
use ratatui::Frame;

const NS: u64 = 1_000_000_000;
/// Width from which the other panels get a column of their own.
const WIDE: u16 = 120;

/// Draws the whole dashboard for `snap` (or the held snapshot while `app` is paused).
pub fn render(frame: &mut Frame, app: &App, snap: &Snapshot) {
    let snap = app.shown(snap);
    let area = frame.area();
    let banner_h = banner_height(snap, area.width);
    let chart_h = if area.height >= 40 {
        area.height / 4
    } else {
        7
    };
    let status = status_line(app);
    let [head, ban, chart, bar, body, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(banner_h),
        Constraint::Length(chart_h),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(u16::from(status.is_some())),
    ])
    .areas(area);
    if let Some(s) = status {
        frame.render_widget(s, foot);
    }
    frame.render_widget(header(app, snap), head);
    if let Some(b) = banner(snap) {
        frame.render_widget(b, ban);
    }
    render_chart(frame, chart, snap);
    frame.render_widget(panel_bar(app), bar);

    if app.counters {
        render_counters(frame, body, app, snap);
    } else if app.processes {
        render_processes(frame, body, app, snap);
    } else if area.width >= WIDE {
        let [main, side] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(body);
        render_panel(frame, main, app, snap, app.selected, true);
        // The other panels, small, in Tab order after the selected one.
        let n = Panel::ALL.len();
        let each = 6;
        let fit = usize::from(side.height / each);
        let mut y = side.y;
        for k in 1..n.min(fit + 1) {
            let p = Panel::ALL[(app.selected.index() + k) % n];
            let r = Rect::new(side.x, y, side.width, each);
            render_panel(frame, r, app, snap, p, false);
            y += each;
        }
    } else {
        render_panel(frame, body, app, snap, app.selected, true);
    }
    if app.help {
        render_help(frame, app, area);
    }
}

/// The bottom line, only when there is something to say: the newest message (all of them
/// are printed after exit) and the refreshes a slow terminal skipped.
fn status_line<'a>(app: &App) -> Option<Line<'a>> {
    let mut spans = Vec::new();
    let warn = Style::new().fg(Color::Yellow).bold();
    if let Some((m, n)) = &app.message {
        spans.push(Span::styled(clean(m.as_bytes()), warn));
        if *n > 1 {
            spans.push(Span::raw(format!("  ({n} messages, shown after exit)")));
        }
    }
    if app.skipped > 0 {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::raw(format!(
            "{} refreshes skipped (slow terminal)",
            app.skipped
        )));
    }
    (!spans.is_empty()).then(|| Line::from(spans))
}

/// The three header lines: source and view, alerting state, capture health.
pub fn header<'a>(app: &App, snap: &Snapshot) -> Paragraph<'a> {
    let mut top = vec![
        Span::styled("httptop", Style::new().bold()),
        Span::raw(format!("  {}", clean(app.source.as_bytes()))),
    ];
    if let Some(f) = &app.filter {
        top.push(Span::raw(format!("  filter: {}", clean(f.as_bytes()))));
    }
    top.push(Span::raw(format!("  {} UTC", Utc(snap.now))));
    if app.paused() {
        top.push(Span::styled("  PAUSED", Style::new().reversed().bold()));
    }
    Paragraph::new(vec![
        Line::from(top),
        state_line(snap),
        health_line(app, snap),
    ])
}

fn state_line<'a>(snap: &Snapshot) -> Line<'a> {
    let Some(v) = &snap.alert else {
        if !snap.signals.is_empty() {
            let mut spans = Vec::new();
            signal_spans(snap, &mut spans);
            return Line::from(spans);
        }
        return Line::from(Span::styled(
            "WAITING for the first packet",
            Style::new().fg(Color::Yellow).bold(),
        ));
    };
    let w = v.config.window_ns;
    let win = HumanDuration(w);
    let mut spans = Vec::new();
    match v.state {
        AlertState::Learning(p) => {
            spans.push(Span::styled(
                "LEARNING",
                Style::new().fg(Color::Yellow).bold(),
            ));
            spans.push(Span::raw(format!(
                " {} left  estimate ",
                HumanDuration(p.remaining_ns)
            )));
            spans.push(Span::raw(match p.estimate() {
                Some(b) => format!("{}/{win}", b.per_window_display(w)),
                None => "-".to_string(),
            }));
            spans.push(Span::raw(format!("  hits {}", p.hits)));
        }
        AlertState::Normal { hits } => {
            spans.push(Span::styled("NORMAL", Style::new().fg(Color::Green).bold()));
            spans.push(Span::raw(format!("  hits {hits}")));
        }
        AlertState::Alert { hits, peak, since } => {
            spans.push(Span::styled(
                " ALERT ",
                Style::new().fg(Color::White).bg(Color::Red).bold(),
            ));
            spans.push(Span::raw(format!(
                " hits {hits} peak {peak} for {}",
                HumanDuration(snap.now.since(since))
            )));
        }
        AlertState::Recovered { hits, .. } => {
            spans.push(Span::styled(
                " RECOVERED ",
                Style::new().fg(Color::Black).bg(Color::Green).bold(),
            ));
            spans.push(Span::raw(format!(" hits {hits}")));
        }
    }
    if let Some(b) = v.baseline {
        spans.push(Span::raw(format!(
            "  baseline {}/{win} +{}% = {}",
            b.per_window_display(w),
            v.config.threshold_pct,
            threshold_display(b, w, v.config.threshold_pct)
        )));
    }
    if !matches!(v.state, AlertState::Learning(_)) {
        spans.push(Span::raw(format!(
            "  eval in {}",
            HumanDuration(v.next_evaluation.since(snap.now))
        )));
    }
    signal_spans(snap, &mut spans);
    Line::from(spans)
}

/// Errors and latency on the state line: `| 5xx 0.8%` and `| p95 12.0 ms` (global),
/// styled as the rate state, then how many servers alert.
fn signal_spans(snap: &Snapshot, spans: &mut Vec<Span<'_>>) {
    for v in snap.signals.iter().filter(|v| v.server.is_none()) {
        let label = if v.kind == AlertKind::Latency {
            "p95"
        } else {
            "5xx"
        };
        let (value, style) = match v.state {
            SignalState::Learning { .. } => (None, Style::new().fg(Color::Yellow)),
            SignalState::Normal { value } => (value, Style::new().fg(Color::Green)),
            SignalState::Alert { value, .. } => {
                (value, Style::new().fg(Color::White).bg(Color::Red).bold())
            }
            SignalState::Recovered { value, .. } => {
                (value, Style::new().fg(Color::Black).bg(Color::Green))
            }
        };
        spans.push(Span::raw("  | "));
        let text = match value {
            _ if matches!(v.state, SignalState::Learning { .. }) => format!("{label} learning"),
            Some(x) => format!("{label} {}", SignalValue(v.kind, x)),
            None => format!("{label} -"),
        };
        spans.push(Span::styled(text, style));
        if let SignalState::Alert { .. } = v.state {
            spans.push(Span::styled(
                format!(" {}", v.kind.name().to_uppercase()),
                Style::new().fg(Color::White).bg(Color::Red).bold(),
            ));
        }
        if let Some(b) = v.baseline {
            spans.push(Span::raw(format!(
                " (base {})",
                SignalValue(v.kind, b.value())
            )));
        }
    }
    let servers = snap
        .signals
        .iter()
        .filter(|v| v.server.is_some() && matches!(v.state, SignalState::Alert { .. }))
        .count();
    if servers > 0 {
        spans.push(Span::styled(
            format!("  {servers} server alerts"),
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        ));
    }
}

/// Baseline per window raised by `pct`, as people read it (two decimals, truncated).
fn threshold_display(b: Baseline, window_ns: u64, pct: u32) -> String {
    let scaled = u128::from(b.requests()) * u128::from(window_ns) * (100 + u128::from(pct));
    let over = u128::from(b.over_ns()) * 100;
    let whole = scaled / over;
    let hundredths = scaled % over * 100 / over;
    if hundredths == 0 {
        format!("{whole}")
    } else if hundredths % 10 == 0 {
        format!("{whole}.{}", hundredths / 10)
    } else {
        format!("{whole}.{hundredths:02}")
    }
}

/// The counters flagged as anomalies in the registry (HTTP: everything the parser had to
/// reject, cut, guess or skip; tolerated oddities such as obsolete folding and resyncs
/// are not), added up.
pub fn anomalies(snap: &Snapshot) -> u64 {
    snap.counters()
        .filter(|s| s.desc.anomaly)
        .fold(0u64, |a, s| a.saturating_add(s.value))
}

fn health_line<'a>(app: &App, snap: &Snapshot) -> Line<'a> {
    let (c, open_flows) = (&snap.counters, snap.open_flows);
    let drops = app.drops.map_or_else(|| "-".to_string(), |d| d.to_string());
    let mut spans = vec![Span::raw(format!("packets {}  drops ", c.frames))];
    let warn = Style::new().fg(Color::Yellow).bold();
    spans.push(if app.drops.unwrap_or(0) > 0 {
        Span::styled(drops, warn)
    } else {
        Span::raw(drops)
    });
    let a = anomalies(snap);
    spans.push(Span::raw("  anomalies "));
    spans.push(if a > 0 {
        Span::styled(a.to_string(), warn)
    } else {
        Span::raw(a.to_string())
    });
    spans.push(Span::raw(format!(
        "  open flows {open_flows}  requests {}",
        c.protocols.requests()
    )));
    Line::from(spans)
}

/// The alert banner's text and style: the original program's wording, while an alert is
/// active or has just recovered (the request rate's first, then errors and latency).
pub fn banner_text(snap: &Snapshot) -> Option<(String, Style)> {
    snap.alert
        .as_ref()
        .and_then(|_| rate_banner_text(snap))
        .or_else(|| signal_banner_text(snap))
}

/// The first global errors or latency alert (active first, then just recovered).
fn signal_banner_text(snap: &Snapshot) -> Option<(String, Style)> {
    let global = || snap.signals.iter().filter(|v| v.server.is_none());
    let active = global().find_map(|v| match v.state {
        SignalState::Alert { since, value, .. } => Some((v, since, value)),
        _ => None,
    });
    if let Some((v, since, value)) = active {
        let (what, label) = match v.kind {
            AlertKind::Latency => ("High latency", "p95"),
            _ => ("High error rate", "5xx"),
        };
        let mut t = format!("{what} generated an alert - {label} = ");
        match value {
            Some(x) => t.push_str(&SignalValue(v.kind, x).to_string()),
            None => t.push('-'),
        }
        if let Some(b) = v.baseline {
            t.push_str(&format!(" (baseline {})", SignalValue(v.kind, b.value())));
        }
        t.push_str(&format!(", triggered at {}", Utc(since)));
        return Some((t, Style::new().fg(Color::White).bg(Color::Red).bold()));
    }
    global().find_map(|v| match v.state {
        SignalState::Recovered {
            at,
            duration_ns,
            peak,
            ..
        } => Some((
            format!(
                "Recovered from {} at {} - alert lasted {}, peak {}",
                v.kind.what(),
                Utc(at),
                HumanDuration(duration_ns),
                SignalValue(v.kind, peak)
            ),
            Style::new().fg(Color::Black).bg(Color::Green).bold(),
        )),
        _ => None,
    })
}

fn rate_banner_text(snap: &Snapshot) -> Option<(String, Style)> {
    let v = snap.alert.as_ref()?;
    match v.state {
        AlertState::Alert { hits, since, .. } => Some((
            format!(
                "High traffic generated an alert - hits = {hits}, triggered at {}",
                Utc(since)
            ),
            Style::new().fg(Color::White).bg(Color::Red).bold(),
        )),
        AlertState::Recovered {
            at,
            duration_ns,
            peak,
            ..
        } => Some((
            format!(
                "Recovered from high traffic at {} - alert lasted {}, peak {peak} hits",
                Utc(at),
                HumanDuration(duration_ns)
            ),
            Style::new().fg(Color::Black).bg(Color::Green).bold(),
        )),
        _ => None,
    }
}

/// The banner as a widget, wrapped (it takes two lines on 80 columns).
pub fn banner<'a>(snap: &Snapshot) -> Option<Paragraph<'a>> {
    let (text, style) = banner_text(snap)?;
    Some(Paragraph::new(text).style(style).wrap(Wrap { trim: true }))
}

/// Lines the banner needs at `width` (at most 2), 0 without a banner.
fn banner_height(snap: &Snapshot, width: u16) -> u16 {
    match banner_text(snap) {
        None => 0,
        Some((t, _)) if t.chars().count() > usize::from(width) => 2,
        Some(_) => 1,
    }
}

/// Requests per second of `b`.
fn per_second(b: Baseline) -> f64 {
    b.requests() as f64 * NS as f64 / b.over_ns() as f64
}

/// The baseline the chart draws: the fixed one, or the running estimate while learning.
fn chart_baseline(v: &AlertView) -> Option<Baseline> {
    match v.state {
        AlertState::Learning(p) => v.baseline.or_else(|| p.estimate()),
        _ => v.baseline,
    }
}

fn render_chart(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    if area.height < 3 {
        return;
    }
    let span_s: u64 = if area.width >= WIDE { 600 } else { 300 };
    let now_s = snap.now.secs();
    let from = now_s.saturating_sub(span_s - 1);
    let points: Vec<(f64, f64)> = snap
        .rate_per_second
        .iter()
        .filter(|(t, _)| t.secs() >= from && t.secs() <= now_s)
        .map(|(t, n)| (t.secs() as f64 - now_s as f64, *n as f64))
        .collect();
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let x0 = -((span_s - 1) as f64);
    let mut title = format!("requests/s, last {}", HumanDuration(span_s * NS));
    let mut lines: Vec<(Vec<(f64, f64)>, Color)> = Vec::new();
    let mut top = peak;
    if let Some(v) = &snap.alert {
        if let Some(b) = chart_baseline(v) {
            let base = per_second(b);
            let thr = base * (100.0 + f64::from(v.config.threshold_pct)) / 100.0;
            let what = if v.baseline.is_some() {
                "baseline"
            } else {
                "estimate"
            };
            title.push_str(&format!("  {what} {base:.2}/s  threshold {thr:.2}/s"));
            lines.push((vec![(x0, base), (0.0, base)], Color::Yellow));
            lines.push((vec![(x0, thr), (0.0, thr)], Color::Red));
            top = top.max(thr);
        }
    }
    title.push_str(&format!("  peak {peak:.0}/s"));
    let top = (top * 1.1).max(1.0);
    // The rate first, so the baseline and threshold lines stay visible over it.
    let mut sets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(Style::new().fg(Color::Cyan))
        .data(&points)];
    for (pts, color) in &lines {
        sets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*color))
                .data(pts),
        );
    }
    let span_label = format!("-{}", HumanDuration(span_s * NS));
    let chart = Chart::new(sets)
        .block(Block::bordered().title(title))
        .x_axis(
            Axis::default()
                .bounds([x0, 0.0])
                .labels([span_label, "now".to_string()]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .labels(["0".to_string(), format!("{top:.0}")]),
        );
    frame.render_widget(chart, area);
}

fn panel_bar<'a>(app: &App) -> Line<'a> {
    let mut spans = Vec::new();
    for p in Panel::ALL {
        let style = if p == app.selected {
            Style::new().reversed().bold()
        } else {
            Style::new()
        };
        spans.push(Span::styled(p.label(), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled("  ?", Style::new().fg(Color::DarkGray)));
    Line::from(spans)
}

/// One table row, with the values the sort orders use.
struct Item {
    key: Vec<u8>,
    count: u64,
    last: Timestamp,
    bytes: u64,
    p99: u64,
    err_rate: f64,
    duration: u64,
    cells: Vec<String>,
}

impl Item {
    fn new(key: &[u8], count: u64, last: Timestamp, cells: Vec<String>) -> Self {
        Item {
            key: key.to_vec(),
            count,
            last,
            bytes: 0,
            p99: 0,
            err_rate: 0.0,
            duration: 0,
            cells,
        }
    }
}

fn sort_items(items: &mut [Item], sort: Sort) {
    match sort {
        Sort::Count => items.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key))),
        Sort::LastSeen => items.sort_by(|a, b| b.last.cmp(&a.last).then(a.key.cmp(&b.key))),
        Sort::Name => items.sort_by(|a, b| a.key.cmp(&b.key)),
        Sort::Bytes => items.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.key.cmp(&b.key))),
        Sort::P99 => items.sort_by(|a, b| b.p99.cmp(&a.p99).then(a.key.cmp(&b.key))),
        Sort::ErrorRate => items.sort_by(|a, b| {
            b.err_rate
                .total_cmp(&a.err_rate)
                .then(b.count.cmp(&a.count))
                .then(a.key.cmp(&b.key))
        }),
        Sort::Duration => {
            items.sort_by(|a, b| b.duration.cmp(&a.duration).then(b.last.cmp(&a.last)))
        }
    }
}

/// Key column left, numbers right.
fn row_of<'a>(cells: Vec<String>) -> Row<'a> {
    row_left(cells, &[0])
}

/// Columns `left` left-aligned (cut at their end when too long), the others right.
fn row_left<'a>(cells: Vec<String>, left: &[usize]) -> Row<'a> {
    Row::new(cells.into_iter().enumerate().map(|(i, c)| {
        if left.contains(&i) {
            Cell::from(c)
        } else {
            Cell::from(Line::from(c).right_aligned())
        }
    }))
}

/// `count`, with `~` when it is an upper bound (the key entered a full table).
fn count(n: u64, error: u64) -> String {
    if error > 0 {
        format!("~{n}")
    } else {
        n.to_string()
    }
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// Time since `t` at `now`, short: `3s`, `2m 5s`.
fn ago(now: Timestamp, t: Timestamp) -> String {
    HumanDuration(now.since(t)).to_string()
}

fn ms(ns: Option<u64>) -> String {
    match ns {
        None => "-".to_string(),
        Some(n) if n < 10 * 1_000_000 => format!("{:.1}ms", n as f64 / 1e6),
        Some(n) => format!("{}ms", n / 1_000_000),
    }
}

fn rows_table(rows: &[httptop_engine::stats::Row], now: Timestamp) -> Vec<Item> {
    rows.iter()
        .map(|r| {
            Item::new(
                r.key.as_bytes(),
                r.count,
                r.last_seen,
                vec![
                    wire(&r.key),
                    count(r.count, r.error),
                    pct(r.share),
                    ago(now, r.last_seen),
                ],
            )
        })
        .collect()
}

const ROW_HEADER: [&str; 4] = ["", "count", "share", "seen"];
const ROW_WIDTHS: [Constraint; 4] = [
    Constraint::Fill(1),
    Constraint::Length(8),
    Constraint::Length(6),
    Constraint::Length(8),
];

/// Header, widths and rows of `panel` for `report`, sorted by `sort`.
fn panel_items(
    panel: Panel,
    snap: &Snapshot,
    r: &Report,
    sort: Sort,
) -> (Vec<&'static str>, Vec<Constraint>, Vec<Item>) {
    let now = snap.now;
    let (head, widths, mut items): (Vec<&'static str>, Vec<Constraint>, Vec<Item>) = match panel {
        Panel::Sections => (
            ROW_HEADER.to_vec(),
            ROW_WIDTHS.to_vec(),
            rows_table(&r.sections, now),
        ),
        Panel::Hosts => (
            ROW_HEADER.to_vec(),
            ROW_WIDTHS.to_vec(),
            rows_table(&r.hosts, now),
        ),
        Panel::UserAgents => (
            ROW_HEADER.to_vec(),
            ROW_WIDTHS.to_vec(),
            rows_table(&r.user_agents, now),
        ),
        Panel::Methods => (
            ROW_HEADER.to_vec(),
            ROW_WIDTHS.to_vec(),
            rows_table(&r.methods, now),
        ),
        Panel::Status => (
            ROW_HEADER.to_vec(),
            ROW_WIDTHS.to_vec(),
            rows_table(&r.status_codes, now),
        ),
        Panel::Bytes => (
            vec!["", "total", "req", "resp", "count", "seen"],
            vec![
                Constraint::Fill(1),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Length(7),
                Constraint::Length(8),
            ],
            r.bytes_by_host
                .iter()
                .map(|b| {
                    let total = b.request_bytes.saturating_add(b.response_bytes);
                    let mut it = Item::new(
                        b.key.as_bytes(),
                        b.count,
                        b.last_seen,
                        vec![
                            wire(&b.key),
                            human_bytes(total),
                            human_bytes(b.request_bytes),
                            human_bytes(b.response_bytes),
                            count(b.count, b.error),
                            ago(now, b.last_seen),
                        ],
                    );
                    it.bytes = total;
                    it
                })
                .collect(),
        ),
        Panel::Clients => (
            vec!["", "count", "share", "bytes", "seen"],
            vec![
                Constraint::Fill(1),
                Constraint::Length(8),
                Constraint::Length(6),
                Constraint::Length(10),
                Constraint::Length(8),
            ],
            r.clients
                .iter()
                .map(|c| {
                    let key = c.key.to_string();
                    let mut it = Item::new(
                        key.as_bytes(),
                        c.count,
                        c.last_seen,
                        vec![
                            key.clone(),
                            count(c.count, c.error),
                            pct(c.share),
                            human_bytes(c.bytes),
                            ago(now, c.last_seen),
                        ],
                    );
                    it.bytes = c.bytes;
                    it
                })
                .collect(),
        ),
        Panel::Servers => (
            vec!["", "count", "share", "p50", "p95", "p99", "err", "seen"],
            vec![
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(8),
            ],
            r.servers
                .iter()
                .map(|s| {
                    let mut it = Item::new(
                        s.key.as_bytes(),
                        s.count,
                        s.last_seen,
                        vec![
                            wire(&s.key),
                            count(s.count, s.error),
                            pct(s.share),
                            ms(s.p50_ns),
                            ms(s.p95_ns),
                            ms(s.p99_ns),
                            pct(s.error_rate),
                            ago(now, s.last_seen),
                        ],
                    );
                    it.p99 = s.p99_ns.unwrap_or(0);
                    it.err_rate = s.error_rate;
                    it
                })
                .collect(),
        ),
        Panel::Grpc => (
            vec!["", "calls", "err", "p50", "p95", "p99", "status", "seen"],
            vec![
                Constraint::Fill(2),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Fill(1),
                Constraint::Length(8),
            ],
            r.grpc
                .iter()
                .map(|g| {
                    let mut key = g.service.bytes.to_vec();
                    key.push(b'/');
                    key.extend_from_slice(&g.method.bytes);
                    let name = format!("{}/{}", wire(&g.service), wire(&g.method));
                    let codes = g
                        .codes
                        .iter()
                        .map(|(c, n)| format!("{} {n}", c.name()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let mut it = Item::new(
                        &key,
                        g.count,
                        g.last_seen,
                        vec![
                            name,
                            count(g.count, g.error),
                            pct(g.error_rate),
                            ms(g.p50_ns),
                            ms(g.p95_ns),
                            ms(g.p99_ns),
                            codes,
                            ago(now, g.last_seen),
                        ],
                    );
                    it.p99 = g.p99_ns.unwrap_or(0);
                    it.err_rate = g.error_rate;
                    it
                })
                .collect(),
        ),
        Panel::Tls => (
            vec!["server name", "conns", "failed", "bytes", "hs p95"],
            vec![
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(6),
                Constraint::Length(10),
                Constraint::Length(8),
            ],
            r.tls.names.iter().map(tls_name_item).collect(),
        ),
        Panel::Alerts => (
            vec!["start (UTC)", "end", "lasted", "peak"],
            vec![
                Constraint::Length(19),
                Constraint::Length(19),
                Constraint::Fill(1),
                Constraint::Length(7),
            ],
            alert_items(snap),
        ),
    };
    sort_items(&mut items, sort);
    (head, widths, items)
}

/// One server name of the TLS panel: connections (`~` when an upper bound), failed
/// connections, bytes both ways, handshake p95. The placeholders for a ClientHello
/// without SNI or none seen are the engine's (`(none)`, `(no client hello)`).
fn tls_name_item(n: &TlsNameRow) -> Item {
    let bytes = n.bytes_to_server.saturating_add(n.bytes_to_client);
    let mut it = Item::new(
        n.key.as_bytes(),
        n.count,
        n.last_seen,
        vec![
            wire(&n.key),
            count(n.count, n.error),
            n.failed.to_string(),
            human_bytes(bytes),
            ms(n.p95_ns),
        ],
    );
    it.bytes = bytes;
    it.p99 = n.p99_ns.unwrap_or(0);
    it.err_rate = if n.count == 0 {
        0.0
    } else {
        n.failed as f64 / n.count as f64
    };
    it
}

/// Alert episodes that ended (or are still going) in the last 24 hours: the request
/// rate's, then errors and latency (their peak in their unit, the kind and server after
/// the duration).
fn alert_items(snap: &Snapshot) -> Vec<Item> {
    let day_ago = Timestamp(snap.now.nanos().saturating_sub(24 * 3600 * NS));
    let mut items = rate_alert_items(snap, day_ago);
    for v in &snap.signals {
        for e in v
            .history
            .iter()
            .filter(|e| e.end.unwrap_or(snap.now) >= day_ago)
        {
            let lasted = e.duration_ns().unwrap_or_else(|| snap.now.since(e.start));
            let what = match &v.server {
                Some(s) => format!("{} {} on {s}", HumanDuration(lasted), v.kind.name()),
                None => format!("{} {}", HumanDuration(lasted), v.kind.name()),
            };
            let mut it = Item::new(
                &[],
                e.peak,
                e.start,
                vec![
                    Utc(e.start).to_string(),
                    e.end
                        .map_or_else(|| "active".to_string(), |t| Utc(t).to_string()),
                    what,
                    SignalValue(v.kind, e.peak).to_string(),
                ],
            );
            it.duration = lasted;
            items.push(it);
        }
    }
    items
}

fn rate_alert_items(snap: &Snapshot, day_ago: Timestamp) -> Vec<Item> {
    let Some(v) = &snap.alert else {
        return Vec::new();
    };
    v.history
        .iter()
        .filter(|e| e.end.unwrap_or(snap.now) >= day_ago)
        .map(|e| {
            let lasted = e.duration_ns().unwrap_or_else(|| snap.now.since(e.start));
            let mut it = Item::new(
                &[],
                e.peak,
                e.start,
                vec![
                    Utc(e.start).to_string(),
                    e.end
                        .map_or_else(|| "active".to_string(), |t| Utc(t).to_string()),
                    HumanDuration(lasted).to_string(),
                    e.peak.to_string(),
                ],
            );
            it.duration = lasted;
            it
        })
        .collect()
}

fn panel_title(panel: Panel, snap: &Snapshot, r: &Report, app: &App) -> String {
    let w = app.window.label();
    let sort = app.sort_of(panel).label();
    match panel {
        Panel::Sections => format!("Sections ({w}, {} requests) by {sort}", r.requests),
        Panel::Hosts => format!("Hosts ({w}) by {sort}"),
        Panel::UserAgents => format!("User agents ({w}) by {sort}"),
        Panel::Methods => format!("Methods ({w}) by {sort}"),
        Panel::Status => format!("Status codes ({w}, {} responses) by {sort}", r.responses),
        Panel::Bytes => format!("Bytes by host ({w}) by {sort}"),
        Panel::Clients => format!("Clients ({w}) by {sort}"),
        Panel::Servers => format!("Servers ({w}) by {sort}"),
        Panel::Grpc => format!("gRPC methods ({w}) by {sort}"),
        Panel::Tls => format!(
            "TLS ({w}, {} connections, {} completed, {} failed) by {sort}",
            r.tls.connections, r.tls.completed, r.tls.failed
        ),
        Panel::Alerts => {
            let mut t = format!("Alert history (24h) by {sort}");
            if let Some(v) = &snap.alert {
                if let Some(m) = v.max_duration_ns {
                    t.push_str(&format!("  longest {}", HumanDuration(m)));
                }
                if let Some(a) = v.avg_duration_ns {
                    t.push_str(&format!("  average {}", HumanDuration(a)));
                }
            }
            t
        }
    }
}

/// Draws `panel` into `area`; `large` panels scroll by `app.scroll` and the Status panel
/// shows the status classes beside the codes.
pub fn render_panel(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    snap: &Snapshot,
    panel: Panel,
    large: bool,
) {
    if area.height < 2 || area.width < 4 {
        return;
    }
    let r = snap.report(app.window);
    if panel == Panel::Tls && large {
        return render_tls(frame, area, app, snap, r);
    }
    let (head, widths, items) = panel_items(panel, snap, r, app.sort_of(panel));
    let border = if large && panel == app.selected {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let block = Block::bordered()
        .border_style(border)
        .title(panel_title(panel, snap, r, app));
    let mut table_area = area;
    if panel == Panel::Status && large && area.width >= 50 {
        let [codes, classes] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(30)]).areas(area);
        table_area = codes;
        let mut cls = rows_table(&r.status_classes, snap.now);
        for c in &mut cls {
            c.cells.truncate(3);
        }
        let rows = cls.into_iter().map(|i| row_of(i.cells));
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(6),
                    Constraint::Length(9),
                    Constraint::Length(7),
                ],
            )
            .header(row_of(vec!["class".into(), "count".into(), "share".into()]).bold())
            .block(Block::bordered().title("Classes")),
            classes,
        );
    }
    let visible = usize::from(table_area.height.saturating_sub(3));
    let skip = if large {
        app.scroll.min(items.len().saturating_sub(visible.max(1)))
    } else {
        0
    };
    let total = items.len();
    let mut block = block;
    if total > visible && large {
        block = block.title_bottom(format!(
            " {}-{} of {total} ",
            skip + 1,
            (skip + visible).min(total)
        ));
    }
    if items.is_empty() {
        frame.render_widget(
            Paragraph::new("no data in this window").block(block),
            table_area,
        );
        return;
    }
    // The gRPC status column is text: left-aligned, cut at its end.
    let left: &[usize] = if panel == Panel::Grpc { &[0, 6] } else { &[0] };
    let rows = items
        .into_iter()
        .skip(skip)
        .map(|i| row_left(i.cells, left));
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                row_left(head.into_iter().map(String::from).collect(), left)
                    .style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .column_spacing(1)
            .block(block),
        table_area,
    );
}

/// Inner rows from which the TLS panel shows its tables side by side instead of one line
/// each.
const TLS_GRID: u16 = 20;

/// The TLS panel, large: the server names (sorted and scrolled like any panel) above the
/// other tables of the window's TLS report. Under [`TLS_GRID`] inner rows (80x24) those
/// are one line each (versions, ciphers, JA4, failures) and a line per expiring
/// certificate; taller, they are tables: versions beside ciphers, JA4 beside failures,
/// then the certificates with their issuer. Deprecated versions are marked and yellow,
/// expired certificates red; every wire string (SNI, JA4, subject, issuer) is cleaned.
fn render_tls(frame: &mut Frame, area: Rect, app: &App, snap: &Snapshot, r: &Report) {
    let t = &r.tls;
    let border = if app.selected == Panel::Tls {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new()
    };
    let mut block =
        Block::bordered()
            .border_style(border)
            .title(panel_title(Panel::Tls, snap, r, app));
    let inner = block.inner(area);
    if t.names.is_empty() && t.expiring_certs.is_empty() && t.versions.is_empty() {
        frame.render_widget(Paragraph::new("no TLS in this window").block(block), area);
        return;
    }
    let grid = inner.height >= TLS_GRID;
    let lines = if grid { Vec::new() } else { tls_lines(t) };
    let (head, widths, mut items) = panel_items(Panel::Tls, snap, r, app.sort_of(Panel::Tls));
    let total = items.len();
    let [names_area, rest] = if grid {
        // The names take what they need, up to 40%; the other tables the rest.
        let most = (inner.height * 2 / 5).max(3);
        let h = u16::try_from(total + 1).unwrap_or(u16::MAX).clamp(3, most);
        Layout::vertical([Constraint::Length(h), Constraint::Min(0)]).areas(inner)
    } else {
        // The names keep their header and two rows.
        let h = u16::try_from(lines.len())
            .unwrap_or(u16::MAX)
            .min(inner.height.saturating_sub(3));
        Layout::vertical([Constraint::Min(0), Constraint::Length(h)]).areas(inner)
    };
    let visible = usize::from(names_area.height.saturating_sub(1));
    let skip = app.scroll.min(total.saturating_sub(visible.max(1)));
    if total > visible {
        block = block.title_bottom(format!(
            " {}-{} of {total} names ",
            skip + 1,
            (skip + visible).min(total)
        ));
    }
    frame.render_widget(block, area);
    let rows = items.drain(..).skip(skip).map(|i| row_of(i.cells));
    frame.render_widget(
        Table::new(rows, widths)
            .header(row_of(head.into_iter().map(String::from).collect()).bold())
            .column_spacing(1),
        names_area,
    );
    if grid {
        render_tls_tables(frame, rest, t);
    } else {
        frame.render_widget(Paragraph::new(lines), rest);
    }
}

/// The warning style of a deprecated version, the alarm style of an expired certificate.
fn tls_version_style(deprecated: bool) -> Style {
    if deprecated {
        Style::new().fg(Color::Yellow).bold()
    } else {
        Style::new()
    }
}

fn tls_cert_style(days_left: i64) -> Style {
    if days_left < 0 {
        Style::new().fg(Color::Red).bold()
    } else {
        Style::new()
    }
}

/// `TLS 1.0 (deprecated)` or `TLS 1.3`.
fn tls_version_name(v: &httptop_engine::stats::TlsVersionRow) -> String {
    let mut n = clean(v.name.as_bytes());
    if v.deprecated {
        n.push_str(" (deprecated)");
    }
    n
}

/// `handshake_failure from server`, `no_server_hello`.
fn tls_failure_name(f: &httptop_engine::stats::TlsFailureRow) -> String {
    let mut n = clean(f.failure.reason().as_bytes());
    if let Some(s) = f.failure.sender() {
        n.push_str(" from ");
        n.push_str(s);
    }
    n
}

/// The compact form: one line per table, one per expiring certificate.
fn tls_lines(t: &TlsReport) -> Vec<Line<'static>> {
    let label = |s: &str| Span::styled(format!("{s:<9}"), Style::new().bold());
    let none = || Span::styled("-", Style::new().fg(Color::DarkGray));
    let mut out = Vec::new();
    let mut line = vec![label("versions")];
    for v in &t.versions {
        line.push(Span::styled(
            tls_version_name(v),
            tls_version_style(v.deprecated),
        ));
        line.push(Span::raw(format!(" {}  ", count(v.count, v.error))));
    }
    if t.versions.is_empty() {
        line.push(none());
    }
    out.push(Line::from(line));
    let mut line = vec![label("ciphers")];
    for c in &t.ciphers {
        line.push(Span::raw(format!(
            "{} {}  ",
            clean(c.name.as_bytes()),
            count(c.count, c.error)
        )));
    }
    if t.ciphers.is_empty() {
        line.push(none());
    }
    out.push(Line::from(line));
    let mut line = vec![label("JA4")];
    for j in &t.ja4 {
        line.push(Span::raw(format!(
            "{} {}  ",
            wire(&j.key),
            count(j.count, j.error)
        )));
    }
    if t.ja4.is_empty() {
        line.push(none());
    }
    out.push(Line::from(line));
    let mut line = vec![label("failures")];
    for f in &t.failures {
        line.push(Span::raw(format!(
            "{} {}  ",
            tls_failure_name(f),
            count(f.count, f.error)
        )));
    }
    if t.failures.is_empty() {
        line.push(none());
    }
    out.push(Line::from(line));
    if t.expiring_certs.is_empty() {
        out.push(Line::from(vec![
            label("certs"),
            Span::styled(
                format!("none expiring within {EXPIRY_DAYS} days"),
                Style::new().fg(Color::DarkGray),
            ),
        ]));
    }
    for (i, c) in t.expiring_certs.iter().enumerate() {
        out.push(Line::from(vec![
            label(if i == 0 { "expiring" } else { "" }),
            Span::styled(
                format!("{:>5}d  {}", c.days_left, wire(&c.subject)),
                tls_cert_style(c.days_left),
            ),
            Span::raw(format!("  SNI {}", sni_text(&c.sni))),
        ]));
    }
    out
}

/// A certificate's SNI, `(none)` when the connection sent none.
fn sni_text(s: &httptop_engine::WireStr) -> String {
    if s.as_bytes().is_empty() {
        "(none)".to_string()
    } else {
        wire(s)
    }
}

/// One row of a small TLS table: name, count and its error bound, share, style.
type TlsRow = (String, u64, u64, f64, Style);

/// A small table under a titled line (no header row: the title names the columns, so a
/// table costs one line more than its rows): name left (cut at its end), connections,
/// and the share when `share`.
fn tls_table(title: &str, rows: Vec<TlsRow>, share: bool) -> Table<'static> {
    let (title, widths) = if share {
        (
            format!("{title}: connections, share"),
            vec![
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(6),
            ],
        )
    } else {
        (
            format!("{title}: connections"),
            vec![Constraint::Fill(1), Constraint::Length(7)],
        )
    };
    let rows = rows.into_iter().map(|(name, n, err, sh, style)| {
        let mut cells = vec![name, count(n, err)];
        if share {
            cells.push(pct(sh));
        }
        row_of(cells).style(style)
    });
    Table::new(rows, widths)
        .column_spacing(1)
        .block(tls_block(title))
}

/// The title line of a TLS table.
fn tls_block<'a>(title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, Style::new().bold()))
}

/// Width from which the TLS tables go two a row with their shares (a 200-column
/// screen's panel); narrower, versions sit beside the failures and ciphers and JA4 take
/// a row each, so that the longest names (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, a JA4,
/// `handshake_failure from server`) are not cut at 120 columns.
const TLS_WIDE: u16 = 100;

/// Heights of tables that `need` so many lines each sharing `total` lines: the smallest
/// needs are met first and no table gets less than an even share unless it needs less;
/// the last (the certificates) takes what is left over.
fn fair_heights<const N: usize>(need: [usize; N], total: u16) -> [u16; N] {
    let need = need.map(|r| u16::try_from(r).unwrap_or(u16::MAX).max(2));
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| need[i]);
    let mut out = [0u16; N];
    let mut left = total;
    for (k, &i) in order.iter().enumerate() {
        let share = left / u16::try_from(N - k).unwrap_or(1).max(1);
        out[i] = need[i].min(share);
        left -= out[i];
    }
    out[N - 1] = out[N - 1].saturating_add(left);
    out
}

/// The tall form: versions, ciphers, JA4 and failures, then the certificates.
fn render_tls_tables(frame: &mut Frame, area: Rect, t: &TlsReport) {
    let versions: Vec<TlsRow> = t
        .versions
        .iter()
        .map(|v| {
            (
                tls_version_name(v),
                v.count,
                v.error,
                v.share,
                tls_version_style(v.deprecated),
            )
        })
        .collect();
    let ciphers: Vec<TlsRow> = t
        .ciphers
        .iter()
        .map(|c| {
            (
                clean(c.name.as_bytes()),
                c.count,
                c.error,
                c.share,
                Style::new(),
            )
        })
        .collect();
    let ja4: Vec<TlsRow> = t
        .ja4
        .iter()
        .map(|j| (wire(&j.key), j.count, j.error, j.share, Style::new()))
        .collect();
    let failures: Vec<TlsRow> = t
        .failures
        .iter()
        .map(|f| (tls_failure_name(f), f.count, f.error, f.share, Style::new()))
        .collect();
    let certs_area = if area.width >= TLS_WIDE {
        let h = fair_heights(
            [
                versions.len().max(ciphers.len()) + 1,
                ja4.len().max(failures.len()) + 1,
                t.expiring_certs.len() + 2,
            ],
            area.height,
        );
        let [top, mid, bottom] = Layout::vertical(h.map(Constraint::Length)).areas(area);
        let [v, c] = Layout::horizontal([Constraint::Length(40), Constraint::Fill(1)])
            .spacing(2)
            .areas(top);
        let [j, f] = Layout::horizontal([Constraint::Fill(1); 2])
            .spacing(2)
            .areas(mid);
        frame.render_widget(tls_table("Versions", versions, true), v);
        frame.render_widget(tls_table("Cipher suites", ciphers, true), c);
        frame.render_widget(tls_table("JA4", ja4, true), j);
        frame.render_widget(
            tls_table("Failures (fatal alert, sender)", failures, true),
            f,
        );
        bottom
    } else {
        let h = fair_heights(
            [
                versions.len().max(failures.len()) + 1,
                ciphers.len() + 1,
                ja4.len() + 1,
                t.expiring_certs.len() + 2,
            ],
            area.height,
        );
        let [top, c, j, bottom] = Layout::vertical(h.map(Constraint::Length)).areas(area);
        let [v, f] = Layout::horizontal([Constraint::Length(30), Constraint::Fill(1)])
            .spacing(2)
            .areas(top);
        frame.render_widget(tls_table("Versions", versions, false), v);
        frame.render_widget(tls_table("Failures", failures, false), f);
        frame.render_widget(tls_table("Cipher suites", ciphers, true), c);
        frame.render_widget(tls_table("JA4", ja4, true), j);
        bottom
    };
    let rows: Vec<Row> = t
        .expiring_certs
        .iter()
        .map(|c| {
            row_left(
                vec![
                    format!("{}d", c.days_left),
                    wire(&c.subject),
                    sni_text(&c.sni),
                    wire(&c.issuer),
                ],
                &[1, 2, 3],
            )
            .style(tls_cert_style(c.days_left))
        })
        .collect();
    let num = |n: u16| Constraint::Length(n);
    frame.render_widget(
        Table::new(
            rows,
            [
                num(6),
                Constraint::Fill(2),
                Constraint::Fill(2),
                Constraint::Fill(1),
            ],
        )
        .header(
            row_left(
                ["days", "subject", "SNI", "issuer"]
                    .map(String::from)
                    .to_vec(),
                &[1, 2, 3],
            )
            .bold(),
        )
        .column_spacing(1)
        .block(tls_block(format!(
            "Certificates expiring within {EXPIRY_DAYS} days (or expired)"
        ))),
        certs_area,
    );
}

/// Width of one column of the Counters view: the longest key and a 12-digit value.
const COUNTER_COL: u16 = 44;

/// The Counters view: the Protocols table, then every registered counter (zeros
/// included) group by group, in as many columns as fit; `j`/`k` scroll.
pub fn render_counters(frame: &mut Frame, area: Rect, app: &App, snap: &Snapshot) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title("Counters (c: back to the panels)");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let proto_h = (Protocol::COUNT as u16 + 1).min(inner.height);
    let [proto, ws_line, rest] = Layout::vertical([
        Constraint::Length(proto_h),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(websocket_line(snap)), ws_line);
    let rows: Vec<Row> = snap
        .counters
        .protocols
        .iter()
        .map(|(p, n)| {
            Row::new([
                // A part of another row (grpc of http/2): indented, not to be summed.
                match p.part_of() {
                    Some(_) => format!(" └ {}", p.name()),
                    None => p.name().to_string(),
                },
                n.connections.to_string(),
                n.requests.to_string(),
                n.bytes_to_server.to_string(),
                n.bytes_to_client.to_string(),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(12),
                Constraint::Length(12),
                Constraint::Length(16),
                Constraint::Length(16),
            ],
        )
        .header(
            Row::new([
                "protocol",
                "connections",
                "requests",
                "to server B",
                "to client B",
            ])
            .style(Style::new().add_modifier(Modifier::BOLD)),
        ),
        proto,
    );
    // One line per group heading and per counter.
    let mut lines: Vec<Line> = Vec::new();
    let mut group = None;
    for s in snap.counters() {
        if group != Some(s.desc.group) {
            group = Some(s.desc.group);
            lines.push(Line::styled(
                s.desc.group.title().to_string(),
                Style::new().add_modifier(Modifier::BOLD),
            ));
        }
        let key = s.key();
        let w = usize::from(COUNTER_COL) - 2;
        let text = format!(" {key:<pad$}{:>12}", s.value, pad = w.saturating_sub(13));
        lines.push(if s.value > 0 {
            Line::raw(text)
        } else {
            Line::styled(text, Style::new().fg(Color::DarkGray))
        });
    }
    let per_col = usize::from(rest.height.max(1));
    let cols = usize::from((rest.width / COUNTER_COL).max(1));
    let start = app.scroll.min(lines.len().saturating_sub(1));
    for (i, chunk) in lines[start..].chunks(per_col).take(cols).enumerate() {
        let x = rest.x + COUNTER_COL * i as u16;
        let r = Rect::new(
            x,
            rest.y,
            COUNTER_COL.min(rest.right().saturating_sub(x)),
            rest.height,
        );
        frame.render_widget(Paragraph::new(chunk.to_vec()), r);
    }
}

/// The Processes view (`o`): the window's exchanges read from TLS plaintext per command
/// name and role (client: sent the requests; server: answered them), by requests, with
/// responses, error rate, latency p50/p95/p99, bytes both ways and last seen; scrolled
/// like a panel. The command name is a string from the kernel a process chose: escaped.
pub fn render_processes(frame: &mut Frame, area: Rect, app: &App, snap: &Snapshot) {
    if area.height < 2 || area.width < 4 {
        return;
    }
    let r = snap.report(app.window);
    let mut block = Block::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(format!(
            "Processes ({}, TLS plaintext) by count  (o: back to the panels)",
            app.window.label()
        ));
    let rows = &r.processes;
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("no exchange read from TLS plaintext in this window (--tls-plaintext)")
                .wrap(Wrap { trim: false })
                .block(block),
            area,
        );
        return;
    }
    let visible = usize::from(area.height.saturating_sub(3));
    let skip = app.scroll.min(rows.len().saturating_sub(visible.max(1)));
    if rows.len() > visible {
        block = block.title_bottom(format!(
            " {}-{} of {} ",
            skip + 1,
            (skip + visible).min(rows.len()),
            rows.len()
        ));
    }
    let now = snap.now;
    let left = &[0, 1];
    // Under 100 columns (80x24) the last-seen column goes, so the command keeps 15.
    let wide = area.width >= 100;
    let body = rows.iter().skip(skip).map(|p| {
        let mut cells = vec![
            wire(&p.comm),
            p.role.name().to_string(),
            count(p.count, p.error),
            p.responses.to_string(),
            pct(p.error_rate),
            ms(p.p50_ns),
            ms(p.p95_ns),
            ms(p.p99_ns),
            human_bytes(p.request_bytes.saturating_add(p.response_bytes)),
        ];
        if wide {
            cells.push(ago(now, p.last_seen));
        }
        row_left(cells, left)
    });
    let mut head = vec![
        "command", "role", "reqs", "resps", "err", "p50", "p95", "p99", "bytes",
    ];
    let mut widths = vec![
        Constraint::Fill(1),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(9),
    ];
    if wide {
        head.push("seen");
        widths.push(Constraint::Length(7));
    }
    frame.render_widget(
        Table::new(body, widths)
            .header(
                row_left(head.iter().map(|h| h.to_string()).collect(), left)
                    .style(Style::new().add_modifier(Modifier::BOLD)),
            )
            .column_spacing(1)
            .block(block),
        area,
    );
}

/// The WebSocket sessions ended so far, on one line under the Protocols table.
fn websocket_line(snap: &Snapshot) -> String {
    let w = &snap.websocket;
    let mut t = format!(
        "websocket sessions {}: messages {} to server, {} to client",
        w.sessions, w.messages_to_server, w.messages_to_client
    );
    if !w.close_codes.is_empty() || w.other_close_codes > 0 || w.without_close > 0 {
        t.push_str("; close");
        for (code, n) in &w.close_codes {
            t.push_str(&format!(" {code}×{n}"));
        }
        if w.other_close_codes > 0 {
            t.push_str(&format!(" other×{}", w.other_close_codes));
        }
        if w.without_close > 0 {
            t.push_str(&format!(" none×{}", w.without_close));
        }
    }
    t
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit"),
    ("p, Space", "pause / resume the display"),
    ("Tab, arrows", "next / previous panel"),
    ("1 2 3 4", "window: 1m, 10m, 1h, retention"),
    ("s", "next sort order of the panel"),
    ("c", "counters and protocols / panels"),
    ("g", "gRPC methods panel"),
    ("t", "TLS panel"),
    ("o", "processes view / panels"),
    ("PgDn/PgUp j/k", "scroll the panel"),
    ("?", "this help (Esc closes)"),
];

fn render_help(frame: &mut Frame, app: &App, area: Rect) {
    let w = 50.min(area.width);
    let h = (HELP.len() as u16 + 3).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(format!("{k:>14}  "), Style::new().bold()),
                Span::raw(*d),
            ])
        })
        .collect();
    lines.push(Line::raw(format!(
        "{:>14}  {} (slow terminal)",
        "skipped", app.skipped
    )));
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title("Keys")),
        r,
    );
}

#[cfg(test)]
mod fair_heights_tests {
    use super::fair_heights;

    #[test]
    fn small_needs_first_the_rest_shared_and_left_over_to_the_last() {
        // Everything fits: each gets its need, the last the rest.
        assert_eq!(fair_heights([6, 5, 4], 30), [6, 5, 19]);
        // Too little room: the small need is met, the others share evenly.
        assert_eq!(fair_heights([4, 33, 33, 33], 22), [4, 6, 6, 6]);
        // No room at all, or tables of nothing: never more than the total.
        assert_eq!(fair_heights([5, 5], 0), [0, 0]);
        assert_eq!(fair_heights([0, 0, 0], 5).iter().sum::<u16>(), 5);
        assert_eq!(fair_heights([usize::MAX, 1], 10), [8, 2]);
    }
}
