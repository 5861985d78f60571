//! Screens of snapshots from a real `Monitor` fed synthetic frames: learning, an alert
//! raised by a burst, its recovery once traffic stops, and hostile header values.

use crate::app::{App, Panel};
use crate::{final_summary, render};
use httptop_engine::alert::AlertState;
use httptop_engine::snapshot::Snapshot;
use httptop_engine::{Exchange, Monitor, MonitorConfig, Observer};
use httptop_wire::{Frame, LinkType, Timestamp};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const NS: u64 = 1_000_000_000;

fn frame(client: u16, to_server: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (c, s) = (([10, 0, 0, 1], client), ([10, 0, 0, 2], 80u16));
    let (src, dst) = if to_server { (c, s) } else { (s, c) };
    httptop_wire::build::ethernet_ipv4_tcp(src, dst, seq, 0, flags, payload)
}

struct Nothing;
impl Observer for Nothing {
    fn on_exchange(&mut self, _ex: &Exchange) {}
}

struct Feed {
    m: Monitor,
    port: u16,
}

impl Feed {
    fn new() -> Self {
        Feed {
            m: Monitor::new(MonitorConfig::default()).unwrap(),
            port: 20000,
        }
    }

    /// One exchange on a new connection at `t`.
    fn exchange(&mut self, t: Timestamp, req: &[u8]) {
        self.port = self.port.wrapping_add(1).max(1024);
        let p = self.port;
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let frames = [
            frame(p, true, 100, 0x02, b""),
            frame(p, true, 101, 0x18, req),
            frame(p, false, 500, 0x18, resp),
            frame(p, true, 101 + req.len() as u32, 0x11, b""),
        ];
        for (i, f) in frames.iter().enumerate() {
            let fr = Frame {
                ts: t.add_nanos(i as u64 * 1_000_000),
                linktype: LinkType::ETHERNET,
                orig_len: f.len() as u32,
                data: f,
            };
            self.m.on_frame(&fr, &mut Nothing);
        }
    }
}

fn text(app: &App, snap: &Snapshot, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(f, app, snap)).unwrap();
    let b = t.backend().buffer();
    let mut o = String::new();
    for y in 0..h {
        for x in 0..w {
            o.push_str(b[(x, y)].symbol());
        }
        o.push('\n');
    }
    o
}

const REQ: &[u8] = b"GET /api/items HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8\r\n\r\n";

#[test]
fn learning_then_alert_then_recovery_from_a_real_monitor() {
    let mut f = Feed::new();
    let t0 = 1_709_294_400;
    let app = App::new("eth0", None);
    // Learning: one request every 2 s for the 2-minute learning period.
    for i in 0..60 {
        f.exchange(Timestamp::from_secs(t0 + 2 * i), REQ);
    }
    let s = f.m.snapshot(Timestamp::from_secs(t0 + 119));
    assert!(matches!(
        s.alert.as_ref().unwrap().state,
        AlertState::Learning(_)
    ));
    let screen = text(&app, &s, 80, 24);
    assert!(screen.contains("LEARNING"), "{screen}");
    assert!(screen.contains("shop.example/api"), "{screen}");

    // A burst of 10 requests a second for a minute.
    for i in 0..600 {
        f.exchange(
            Timestamp(Timestamp::from_secs(t0 + 130).nanos() + i * NS / 10),
            REQ,
        );
    }
    let s = f.m.snapshot(Timestamp::from_secs(t0 + 190));
    assert!(
        matches!(s.alert.as_ref().unwrap().state, AlertState::Alert { .. }),
        "{:?}",
        s.alert
    );
    let screen = text(&app, &s, 80, 24);
    assert!(
        screen.contains("High traffic generated an alert - hits = "),
        "{screen}"
    );
    assert!(screen.contains(" ALERT "), "{screen}");
    for w in [80, 160] {
        let mut a = app.clone();
        a.selected = Panel::Alerts;
        let screen = text(&a, &s, w, 24);
        assert!(screen.contains("active"), "{screen}");
    }

    // Traffic stops: ticks alone carry the alert to its recovery.
    let mut recovered = None;
    for sec in 191..600 {
        let now = Timestamp::from_secs(t0 + sec);
        f.m.on_tick(now, &mut Nothing);
        let s = f.m.snapshot(now);
        if matches!(
            s.alert.as_ref().unwrap().state,
            AlertState::Recovered { .. }
        ) {
            recovered = Some(s);
            break;
        }
    }
    let s = recovered.expect("recovers once traffic stops");
    let screen = text(&app, &s, 160, 48);
    assert!(
        screen.contains("Recovered from high traffic at "),
        "{screen}"
    );
    assert!(screen.contains("RECOVERED"), "{screen}");
    let sum = final_summary(&s);
    assert!(sum.contains("alerts: 1"), "{sum}");
}

#[test]
fn hostile_headers_through_the_engine_reach_the_buffer_escaped() {
    let mut f = Feed::new();
    let t0 = 1_709_294_400;
    let req: &[u8] = b"GET /a\x1b[2Jdm\x07in HTTP/1.1\r\nHost: ev\x1b]0;x\x07il.example\r\nUser-Agent: ua\x1b[31m\x7f\x9b\r\n\r\n";
    for i in 0..5 {
        f.exchange(Timestamp::from_secs(t0 + i), req);
    }
    let s = f.m.snapshot(Timestamp::from_secs(t0 + 10));
    assert!(s.report(httptop_engine::stats::Window::Min1).requests > 0);
    let mut app = App::new("eth0", None);
    let mut seen_escape = false;
    for p in Panel::ALL {
        app.selected = p;
        for (w, h) in [(80, 24), (160, 48)] {
            let t = text(&app, &s, w, h);
            seen_escape |= t.contains("\\u{1b}");
            assert!(
                !t.chars().any(|c| c.is_control() && c != '\n'),
                "{p:?} {w}x{h}:\n{t}"
            );
        }
    }
    assert!(seen_escape);
}
