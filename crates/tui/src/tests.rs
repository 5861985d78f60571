//! Whole screens (TestBackend + insta snapshots in `src/snapshots/`), widgets rendered
//! into a Buffer, and the hostile-string test.

use crate::app::{App, Panel};
use crate::stall::text;
use crate::testing::{empty_snapshot, snapshot, State};
use crate::{final_summary, render, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use httptop_engine::snapshot::Snapshot;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use ratatui::Terminal;

fn app() -> App {
    let mut a = App::new("eth0", Some("tcp port 80".to_string()));
    a.drops = Some(0);
    a
}

fn screen(app: &App, snap: &Snapshot, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, app, snap)).unwrap();
    t.backend().buffer().clone()
}

macro_rules! screens {
    ($($name:ident: $state:expr, $w:expr, $h:expr;)*) => {$(
        #[test]
        fn $name() {
            let s = snapshot($state, false);
            insta::assert_snapshot!(text(&screen(&app(), &s, $w, $h)));
        }
    )*};
}

screens! {
    learning_80x24: State::Learning, 80, 24;
    normal_80x24: State::Normal, 80, 24;
    alert_80x24: State::Alert, 80, 24;
    recovered_80x24: State::Recovered, 80, 24;
    learning_160x48: State::Learning, 160, 48;
    normal_160x48: State::Normal, 160, 48;
    alert_160x48: State::Alert, 160, 48;
    recovered_160x48: State::Recovered, 160, 48;
}

#[test]
fn every_panel_at_80x24() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    let mut all = String::new();
    for p in Panel::ALL {
        a.selected = p;
        let b = screen(&a, &s, 80, 24);
        // Only the panel part: the header and chart are in the other snapshots.
        let t = text(&b);
        let lines: Vec<&str> = t.lines().skip(10).collect();
        all.push_str(&format!("== {p:?}\n{}\n", lines.join("\n")));
    }
    insta::assert_snapshot!(all);
}

#[test]
fn help_and_pause_at_80x24() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.on_snapshot(s.clone());
    a.on_key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::NONE));
    a.on_key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE));
    insta::assert_snapshot!(text(&screen(&a, &s, 80, 24)));
}

#[test]
fn before_the_first_packet() {
    let s = empty_snapshot(crate::testing::T0);
    insta::assert_snapshot!(text(&screen(&app(), &s, 80, 24)));
}

#[test]
fn tiny_and_odd_sizes_do_not_panic() {
    let s = snapshot(State::Alert, true);
    let mut a = app();
    for p in Panel::ALL {
        a.selected = p;
        a.help = p == Panel::Alerts;
        a.scroll = 1000;
        for (w, h) in [
            (1, 1),
            (10, 5),
            (20, 8),
            (40, 12),
            (79, 23),
            (119, 39),
            (120, 40),
            (300, 100),
        ] {
            screen(&a, &s, w, h);
        }
    }
}

#[test]
fn resize_redraws_cleanly() {
    let s = snapshot(State::Alert, false);
    let a = app();
    let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
    t.draw(|f| render(f, &a, &s)).unwrap();
    t.backend_mut().resize(80, 24);
    t.autoresize().unwrap();
    t.draw(|f| render(f, &a, &s)).unwrap();
    assert_eq!(text(t.backend().buffer()), text(&screen(&a, &s, 80, 24)));
}

/// ESC sequences, C0/C1 controls, DEL, bidi overrides and invalid UTF-8 in Host,
/// User-Agent and path must reach the buffer as printable escapes.
#[test]
fn hostile_wire_strings_reach_the_buffer_only_as_printable_text() {
    let s = snapshot(State::Normal, true);
    let mut a = app();
    a.source = "eth0\x1b[2J".to_string();
    a.filter = Some("port 80\u{9b}31m".to_string());
    for p in Panel::ALL {
        a.selected = p;
        for (w, h) in [(80, 24), (160, 48), (300, 60)] {
            let b = screen(&a, &s, w, h);
            for cell in b.content() {
                for ch in cell.symbol().chars() {
                    assert!(
                        !ch.is_control() && !('\u{202a}'..='\u{202e}').contains(&ch),
                        "{p:?} {w}x{h}: control {:?} in the buffer",
                        ch
                    );
                }
            }
            let t = text(&b);
            assert!(t.contains("\\u{1b}"), "escapes are shown");
        }
    }
    let t = text(&screen(&a, &s, 300, 60));
    assert!(t.contains("evil\\u{1b}]0;pwned\\u{7}.example"), "{t}");
    a.selected = Panel::UserAgents;
    let t = text(&screen(&a, &s, 300, 60));
    assert!(
        t.contains("curl\\u{1b}[31m/8.0\\u{d}\\u{a}\\u{0}\\u{8}\\u{7f}\\x9b\\u{9b}"),
        "{t}"
    );
    let summary = final_summary(&s);
    assert!(
        !summary.chars().any(|c| c.is_control() && c != '\n'),
        "{summary}"
    );
}

#[test]
fn header_widget_in_a_buffer() {
    let s = snapshot(State::Alert, false);
    let area = Rect::new(0, 0, 100, 3);
    let mut b = Buffer::empty(area);
    view::header(&app(), &s).render(area, &mut b);
    let t = text(&b);
    assert!(t.contains("eth0  filter: tcp port 80"), "{t}");
    assert!(t.contains(" ALERT  hits 600 peak 640 for 1m 0s"), "{t}");
    assert!(
        t.contains("baseline 200/2m 0s +10% = 220  eval in 1s"),
        "{t}"
    );
    assert!(
        t.contains("packets 123456  drops 0  anomalies 3  open flows 17"),
        "{t}"
    );
    let x = t.lines().nth(1).unwrap().find("ALERT").unwrap() as u16;
    assert_eq!(b[(x, 1)].bg, ratatui::style::Color::Red);
}

#[test]
fn learning_header_counts_down_with_the_estimate() {
    let s = snapshot(State::Learning, false);
    let area = Rect::new(0, 0, 100, 3);
    let mut b = Buffer::empty(area);
    view::header(&app(), &s).render(area, &mut b);
    // 80 requests in 45 s = 213.33 per 2 min.
    assert!(text(&b).contains("LEARNING 1m 15s left  estimate 213.33/2m 0s  hits 80"));
}

#[test]
fn banners_carry_the_original_messages() {
    let area = Rect::new(0, 0, 110, 1);
    let mut b = Buffer::empty(area);
    view::banner(&snapshot(State::Alert, false))
        .unwrap()
        .render(area, &mut b);
    assert_eq!(
        text(&b).trim_end(),
        "High traffic generated an alert - hits = 600, triggered at 2024-03-01 12:59:00"
    );
    let mut b = Buffer::empty(area);
    view::banner(&snapshot(State::Recovered, false))
        .unwrap()
        .render(area, &mut b);
    assert_eq!(
        text(&b).trim_end(),
        "Recovered from high traffic at 2024-03-01 13:00:00 - alert lasted 5m 0s, peak 700 hits"
    );
    assert!(view::banner(&snapshot(State::Normal, false)).is_none());
    assert!(view::banner(&snapshot(State::Learning, false)).is_none());
}

#[test]
fn render_reads_time_only_from_the_snapshot() {
    let s = snapshot(State::Normal, false);
    let a = screen(&app(), &s, 160, 48);
    let b = screen(&app(), &s, 160, 48);
    assert_eq!(a, b);
    let mut later = s.clone();
    later.now = later.now.add_nanos(10 * crate::testing::NS);
    assert_ne!(text(&screen(&app(), &later, 160, 48)), text(&a));
}

#[test]
fn sort_by_last_seen_reorders_the_sections() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    a.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    let t = text(&screen(&a, &s, 80, 24));
    let (h, st, ap) = (
        t.find("/health").unwrap(),
        t.find("/static").unwrap(),
        t.find("/api").unwrap(),
    );
    assert!(ap < h && h < st, "by name: {t}");
}

#[test]
fn final_summary_text() {
    insta::assert_snapshot!(final_summary(&snapshot(State::Recovered, false)));
    insta::assert_snapshot!(
        "summary_learning",
        final_summary(&snapshot(State::Learning, false))
    );
}

#[test]
fn chart_draws_rate_baseline_and_threshold() {
    let mut s = snapshot(State::Normal, false);
    // Far enough apart to fall in different rows of a 4-row plot (1.67/s and 5/s).
    s.alert.as_mut().unwrap().config.threshold_pct = 200;
    let b = screen(&app(), &s, 80, 24);
    // The chart's plot area: rows 4..7 (inside the block, above the x axis).
    let colors: Vec<ratatui::style::Color> = (4..8)
        .flat_map(|y| (7..79).map(move |x| (x, y)))
        .map(|(x, y)| b[(x, y)].fg)
        .collect();
    use ratatui::style::Color;
    assert!(colors.contains(&Color::Cyan), "rate");
    assert!(colors.contains(&Color::Yellow), "baseline");
    assert!(colors.contains(&Color::Red), "threshold");
}

#[test]
fn long_tables_scroll_and_say_where_they_are() {
    let mut s = snapshot(State::Normal, false);
    let now = s.now.secs();
    s.reports[0].sections = (0..30)
        .map(|i| crate::testing::row(format!("/p{i:02}").as_bytes(), 100 - i, 1000, 1, now))
        .collect();
    let mut a = app();
    let t = text(&screen(&a, &s, 80, 24));
    assert!(t.contains(" 1-10 of 30 "), "{t}");
    a.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    let t = text(&screen(&a, &s, 80, 24));
    assert!(
        t.contains(" 6-15 of 30 ") && t.contains("/p05") && !t.contains("/p04"),
        "{t}"
    );
    for _ in 0..20 {
        a.on_key(KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    }
    let t = text(&screen(&a, &s, 80, 24));
    assert!(
        t.contains(" 21-30 of 30 ") && t.contains("/p29"),
        "clamped: {t}"
    );
}

#[test]
fn window_keys_switch_the_tables_shown() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    assert!(text(&screen(&a, &s, 80, 24)).contains("Sections (1m, 100 requests)"));
    a.on_key(KeyEvent::new(KeyCode::Char('4'), KeyModifiers::NONE));
    let t = text(&screen(&a, &s, 80, 24));
    assert!(t.contains("Sections (retention, 12000 requests)"), "{t}");
    assert!(t.contains("7200"), "{t}");
}

#[test]
fn hostile_strings_as_shown() {
    let s = snapshot(State::Normal, true);
    let mut a = app();
    let mut all = String::new();
    for p in [Panel::Sections, Panel::Hosts, Panel::UserAgents, Panel::Tls] {
        a.selected = p;
        let t = text(&screen(&a, &s, 100, 24));
        let lines: Vec<&str> = t.lines().skip(11).take(5).collect();
        all.push_str(&format!("== {p:?}\n{}\n", lines.join("\n")));
    }
    insta::assert_snapshot!(all);
}

/// Every registered counter (and every Protocols row) as the Counters view shows it.
pub(crate) fn counters_view_text(snap: &Snapshot, w: u16, h: u16) -> String {
    let mut a = app();
    a.counters = true;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::render_counters(f, f.area(), &a, snap))
        .unwrap();
    text(t.backend().buffer())
}

#[test]
fn counters_view_shows_every_registered_counter_and_protocol() {
    let mut s = snapshot(State::Normal, false);
    httptop_engine::counters::fill_distinct(&mut s.counters, &mut s.stats_counters, 1000);
    let shown = counters_view_text(&s, 200, 72);
    for c in s.counters() {
        let line = format!(" {}", c.key());
        assert!(
            shown.lines().any(|l| {
                l.match_indices(&line).any(|(i, _)| {
                    l[i + line.len()..]
                        .trim_start()
                        .starts_with(&c.value.to_string())
                })
            }),
            "{} {} not shown:\n{shown}",
            c.full_name(),
            c.value
        );
    }
    for (p, n) in s.counters.protocols.iter() {
        let row: Vec<String> = [
            n.connections,
            n.requests,
            n.bytes_to_server,
            n.bytes_to_client,
        ]
        .iter()
        .map(u64::to_string)
        .collect();
        // A part of another row (grpc of http/2) is marked as such.
        let marked = p.part_of().is_some();
        assert!(
            shown.lines().any(|l| {
                let mut cells: Vec<&str> = l.trim_matches('│').split_whitespace().collect();
                let has_mark = cells.first() == Some(&"└");
                if has_mark {
                    cells.remove(0);
                }
                has_mark == marked && cells.len() == 5 && cells[0] == p.name() && cells[1..] == row
            }),
            "{}:\n{shown}",
            p.name()
        );
    }
    assert!(
        shown.contains(
            "websocket sessions 3: messages 40 to server, 1200 to client; close 1000×1 1001×1 none×1"
        ),
        "{shown}"
    );
}

#[test]
fn c_toggles_the_counters_view_and_it_scrolls() {
    let mut a = app();
    let s = snapshot(State::Normal, false);
    assert!(!text(&screen(&a, &s, 80, 24)).contains("Counters (c"));
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE));
    let first = text(&screen(&a, &s, 80, 24));
    assert!(first.contains("Counters (c"), "{first}");
    a.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE));
    let scrolled = text(&screen(&a, &s, 80, 24));
    assert_ne!(first, scrolled);
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE));
    assert!(!text(&screen(&a, &s, 80, 24)).contains("Counters (c"));
}

/// The panel part of the screen with `panel` selected (header and chart left out).
fn panel_text(a: &App, s: &Snapshot, w: u16, h: u16, skip: usize) -> String {
    let t = text(&screen(a, s, w, h));
    t.lines().skip(skip).collect::<Vec<_>>().join("\n")
}

#[test]
fn tls_panel_at_80x24() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE));
    assert_eq!(a.selected, Panel::Tls);
    insta::assert_snapshot!(panel_text(&a, &s, 80, 24, 10));
}

/// The tmux tests' size: the panel is 72 columns, the tables one a row below versions
/// and failures, and no name of the fixture is cut.
#[test]
fn tls_panel_at_120x40() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.selected = Panel::Tls;
    let t = panel_text(&a, &s, 120, 40, 13);
    for want in [
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "t13d1516h2_8daaf6152771_e5627efa2ab1",
        "handshake_failure from server",
        "TLS 1.0 (deprecated)",
    ] {
        assert!(t.contains(want), "{want:?} cut:\n{t}");
    }
    insta::assert_snapshot!(t);
}

#[test]
fn tls_panel_at_200x50() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.selected = Panel::Tls;
    insta::assert_snapshot!(panel_text(&a, &s, 200, 50, 15));
}

/// Every line of the TLS panel's content at 80x24 and 200x50: SNI, counts, the
/// deprecated version, the failures and the expiring certificates.
#[test]
fn tls_panel_shows_every_table_in_both_forms() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.selected = Panel::Tls;
    for (w, h) in [(80, 24), (200, 50)] {
        let t = panel_text(&a, &s, w, h, 0);
        for want in [
            "TLS (1m, 60 connections, 57 completed, 3 failed) by count",
            "api.example.com",
            "12ms",
            "TLS 1.0 (deprecated)",
            "TLS_AES_128_GCM_SHA256",
            "t13d1516h2_8daaf6152771_e5627efa2ab1",
            "handshake_failure from server",
            "no_server_hello",
            "old.example.org",
            "-3d",
        ] {
            assert!(t.contains(want), "{w}x{h}: {want:?} missing:\n{t}");
        }
    }
    // The 1-hour window scales the counts (the panel follows the selected window).
    a.on_key(KeyEvent::new(KeyCode::Char('3'), KeyModifiers::NONE));
    let t = panel_text(&a, &s, 80, 24, 0);
    assert!(t.contains("TLS (1h, 3600 connections"), "{t}");
}

/// The colours that carry meaning: a deprecated version in the warning colour, an
/// expired certificate in red, one still valid not.
#[test]
fn tls_deprecated_versions_warn_and_expired_certificates_are_red() {
    use ratatui::style::Color;
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.selected = Panel::Tls;
    for (w, h) in [(80, 24), (200, 50)] {
        let b = screen(&a, &s, w, h);
        let fg_of = |needle: &str| {
            let t = text(&b);
            let (y, line) = t
                .lines()
                .enumerate()
                .find(|(_, l)| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{t}"));
            let col = line[..line.find(needle).unwrap()].chars().count();
            b[(col as u16, y as u16)].fg
        };
        assert_eq!(fg_of("TLS 1.0 (deprecated)"), Color::Yellow, "{w}x{h}");
        assert_eq!(fg_of("TLS 1.3"), Color::Reset, "{w}x{h}");
        assert_eq!(fg_of("-3d"), Color::Red, "{w}x{h}");
        assert_eq!(fg_of("27d"), Color::Reset, "{w}x{h}");
    }
}

#[test]
fn tls_panel_without_tls_says_so() {
    let s = empty_snapshot(crate::testing::T0);
    let mut a = app();
    a.selected = Panel::Tls;
    for (w, h) in [(80, 24), (200, 50)] {
        let t = text(&screen(&a, &s, w, h));
        assert!(t.contains("no TLS in this window"), "{t}");
    }
}

/// Sessions counted by the real statistics (not a hand-built report) reach the panel:
/// the SNI with an ESC sequence, a bidi override and an overlong tail is cut by the
/// engine and shown escaped with `…`; the expired certificate's days are negative.
#[test]
fn tls_sessions_from_the_statistics_reach_the_panel_sanitised() {
    use httptop_engine::stats::{Stats, StatsConfig, Window};
    use httptop_engine::tls::{TlsAlert, TlsCert, TlsFlags, TlsSession};
    use httptop_wire::Timestamp;
    let t0 = Timestamp::from_secs(crate::testing::T0 + 3600);
    let mut st = Stats::new(StatsConfig::default());
    st.advance(t0);
    let sni = httptop_engine::WireStr::capped(crate::testing::HOSTILE_SNI, 64);
    assert!(sni.truncated);
    let ok = TlsSession {
        end: t0,
        sni: Some(sni),
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
            subject: Some(httptop_engine::WireStr::capped(b"old\x1b[5m.example", 64)),
            issuer: Some(httptop_engine::WireStr::capped(b"Test CA", 64)),
            not_after: Some(t0.secs() as i64 - 2 * 86_400),
            ..TlsCert::default()
        })),
        ..ok.clone()
    });
    let mut s = empty_snapshot(t0.secs());
    s.reports[Window::Min1.index()].tls = st.report(Window::Min1, t0).tls;
    let mut a = app();
    a.selected = Panel::Tls;
    for (w, h) in [(80, 24), (200, 50), (300, 60)] {
        let b = screen(&a, &s, w, h);
        for cell in b.content() {
            for ch in cell.symbol().chars() {
                assert!(
                    !ch.is_control() && !('\u{202a}'..='\u{202e}').contains(&ch),
                    "{w}x{h}: control {ch:?} in the buffer"
                );
            }
        }
        let t = text(&b);
        for want in [
            "TLS (1m, 3 connections, 2 completed, 1 failed)",
            "evil\\u{1b}]0;pwned\\u{7}.example",
            "TLS 1.0 (deprecated)",
            "handshake_failure from server",
            "old\\u{1b}[5m.example",
            "-2d",
        ] {
            assert!(t.contains(want), "{w}x{h}: {want:?} missing:\n{t}");
        }
    }
    // Wide enough, the cut SNI ends with the engine's mark.
    let t = text(&screen(&a, &s, 300, 60));
    assert!(
        t.contains("evil\\u{1b}]0;pwned\\u{7}.example\\u{202e}oc.dab\\u{1b}[2J\\u{9b}-and-a-very-long-tail-that-…"),
        "{t}"
    );
}

/// The Processes view (`o`) at 80x24 and 200x50: command, role, requests, responses,
/// error rate, p50/p95/p99, bytes, last seen; the panels' place, the header and chart
/// unchanged.
#[test]
fn processes_view_at_80x24_and_200x50() {
    let s = snapshot(State::Normal, false);
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::NONE));
    assert!(a.processes);
    let mut all = String::new();
    for (w, h) in [(80, 24), (200, 50)] {
        let t = text(&screen(&a, &s, w, h));
        let row = t
            .lines()
            .find(|l| l.contains("nginx"))
            .unwrap_or_else(|| panic!("no nginx row:\n{t}"));
        let cells: Vec<&str> = row.trim_matches('│').split_whitespace().collect();
        assert_eq!(
            &cells[..5],
            ["nginx", "server", "30", "30", "6.7%"],
            "{row}"
        );
        assert!(t.contains("Processes (1m, TLS plaintext)"), "{t}");
        all.push_str(&format!("== {w}x{h}\n{t}\n"));
    }
    insta::assert_snapshot!(all);
    // Without processes: one line says why the view is empty.
    let e = crate::testing::empty_snapshot(crate::testing::T0);
    let t = text(&screen(&a, &e, 80, 24));
    assert!(t.contains("no exchange read from TLS plaintext"), "{t}");
}

/// A command name is chosen by the process: escaped like any wire string.
#[test]
fn hostile_process_names_reach_the_buffer_only_as_printable_text() {
    let s = snapshot(State::Normal, true);
    let mut a = app();
    a.processes = true;
    for (w, h) in [(80, 24), (200, 50)] {
        let b = screen(&a, &s, w, h);
        assert!(b
            .content()
            .iter()
            .all(|c| !c.symbol().chars().any(char::is_control)));
        if w == 200 {
            assert!(text(&b).contains("py\\u{1b}[2J"), "{}", text(&b));
        }
    }
}
