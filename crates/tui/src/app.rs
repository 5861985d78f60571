//! Dashboard state and key handling.
//!
//! Contract: pure state; no terminal, no clock, no rendering. [`App::on_key`] maps one key
//! event to a state change and tells the caller whether to redraw or quit. Pausing only
//! freezes what is shown: the caller goes on feeding the engine and handing snapshots to
//! [`App::on_snapshot`], which the app ignores while paused.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use httptop_engine::snapshot::Snapshot;
use httptop_engine::stats::Window;
use std::sync::Arc;

/// What the caller does after a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// Restore the terminal and leave.
    Quit,
    /// The state changed: draw again.
    Redraw,
}

/// The panels, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Panel {
    Sections,
    Hosts,
    UserAgents,
    Methods,
    Status,
    Bytes,
    Clients,
    Servers,
    /// gRPC calls per service and method.
    Grpc,
    /// TLS handshakes: server names, versions, ciphers, JA4, failures, expiring
    /// certificates.
    Tls,
    Alerts,
}

impl Panel {
    pub const ALL: [Panel; 11] = [
        Panel::Sections,
        Panel::Hosts,
        Panel::UserAgents,
        Panel::Methods,
        Panel::Status,
        Panel::Bytes,
        Panel::Clients,
        Panel::Servers,
        Panel::Grpc,
        Panel::Tls,
        Panel::Alerts,
    ];

    pub fn index(self) -> usize {
        Panel::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn label(self) -> &'static str {
        match self {
            Panel::Sections => "Sections",
            Panel::Hosts => "Hosts",
            Panel::UserAgents => "Agents",
            Panel::Methods => "Methods",
            Panel::Status => "Status",
            Panel::Bytes => "Bytes",
            Panel::Clients => "Clients",
            Panel::Servers => "Servers",
            Panel::Grpc => "gRPC",
            Panel::Tls => "TLS",
            Panel::Alerts => "Alerts",
        }
    }

    /// The sort orders that mean something for this panel, the default first.
    pub fn sorts(self) -> &'static [Sort] {
        match self {
            Panel::Bytes => &[Sort::Bytes, Sort::Count, Sort::LastSeen, Sort::Name],
            Panel::Clients => &[Sort::Count, Sort::Bytes, Sort::LastSeen, Sort::Name],
            Panel::Servers | Panel::Grpc => &[
                Sort::Count,
                Sort::P99,
                Sort::ErrorRate,
                Sort::LastSeen,
                Sort::Name,
            ],
            // Server names: connections, bytes both ways, handshake p99, failed share.
            Panel::Tls => &[
                Sort::Count,
                Sort::Bytes,
                Sort::P99,
                Sort::ErrorRate,
                Sort::LastSeen,
                Sort::Name,
            ],
            // The history is a time line: newest first, or longest first.
            Panel::Alerts => &[Sort::LastSeen, Sort::Duration],
            _ => &[Sort::Count, Sort::LastSeen, Sort::Name],
        }
    }

    fn step(self, forward: bool) -> Panel {
        let n = Panel::ALL.len();
        let i = self.index();
        Panel::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// Row order of a panel. Share is the count over the window's total, so "by share" is
/// "by count" and has no mode of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sort {
    /// Count (and share) descending.
    Count,
    /// Most recently seen first.
    LastSeen,
    /// Key ascending (bytes order).
    Name,
    /// Bytes descending.
    Bytes,
    /// p99 latency descending.
    P99,
    /// Error rate descending (5xx, failed gRPC calls).
    ErrorRate,
    /// Alert duration descending.
    Duration,
}

impl Sort {
    pub fn label(self) -> &'static str {
        match self {
            Sort::Count => "count",
            Sort::LastSeen => "last seen",
            Sort::Name => "name",
            Sort::Bytes => "bytes",
            Sort::P99 => "p99",
            Sort::ErrorRate => "error rate",
            Sort::Duration => "duration",
        }
    }
}

/// Rows moved by PageUp / PageDown.
const PAGE: usize = 5;

/// UI state of the dashboard.
#[derive(Clone, Debug)]
pub struct App {
    /// Capture source as the user named it (interface or file); sanitised when shown.
    pub source: String,
    /// BPF filter, if any; sanitised when shown.
    pub filter: Option<String>,
    /// Packets dropped by the kernel, when the capture backend tells (set by the caller).
    pub drops: Option<u64>,
    /// Snapshots replaced before the dashboard took them (a slow terminal), shown on the
    /// status line and in the help.
    pub skipped: u64,
    /// The newest message for the user, and how many there were (shown on the status
    /// line; printed in full after exit).
    pub message: Option<(String, u64)>,
    pub selected: Panel,
    pub window: Window,
    /// Index into `selected.sorts()`, per panel.
    sort: [usize; Panel::ALL.len()],
    /// First row shown in the selected panel.
    pub scroll: usize,
    pub help: bool,
    /// The Counters view (every registered counter and the Protocols table) replaces the
    /// panels.
    pub counters: bool,
    /// The Processes view (requests per command name and role, from TLS plaintext)
    /// replaces the panels.
    pub processes: bool,
    paused: bool,
    /// The latest snapshot handed over (shared with the other presenters of the refresh).
    latest: Option<Arc<Snapshot>>,
    /// While paused: the snapshot that was shown when the pause began.
    frozen: Option<Arc<Snapshot>>,
}

impl App {
    pub fn new(source: impl Into<String>, filter: Option<String>) -> Self {
        App {
            source: source.into(),
            filter,
            drops: None,
            skipped: 0,
            message: None,
            selected: Panel::Sections,
            window: Window::Min1,
            sort: [0; Panel::ALL.len()],
            scroll: 0,
            help: false,
            counters: false,
            processes: false,
            paused: false,
            latest: None,
            frozen: None,
        }
    }

    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The sort order of `panel`.
    pub fn sort_of(&self, panel: Panel) -> Sort {
        let sorts = panel.sorts();
        sorts[self.sort[panel.index()] % sorts.len()]
    }

    pub fn sort(&self) -> Sort {
        self.sort_of(self.selected)
    }

    /// Hands the app the latest snapshot. While paused the screen keeps the one it had.
    pub fn on_snapshot(&mut self, snap: impl Into<Arc<Snapshot>>) {
        let snap = snap.into();
        if self.paused && self.frozen.is_none() {
            // Paused before anything was shown: the first snapshot is what stays.
            self.frozen = Some(Arc::clone(&snap));
        }
        self.latest = Some(snap);
    }

    /// The snapshot to show: the frozen one while paused, else the latest handed over.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.frozen.as_deref().or(self.latest.as_deref())
    }

    /// The latest snapshot handed over, paused or not (for the final summary).
    pub fn latest(&self) -> Option<&Snapshot> {
        self.latest.as_deref()
    }

    /// What to show given the caller's `live` snapshot: the frozen one while paused.
    pub fn shown<'a>(&'a self, live: &'a Snapshot) -> &'a Snapshot {
        self.frozen.as_deref().unwrap_or(live)
    }

    /// Pauses (freezing the latest snapshot handed to [`App::on_snapshot`]) or resumes.
    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        self.frozen = if self.paused {
            self.latest.clone()
        } else {
            None
        };
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('c') if ctrl => Action::Quit,
            KeyCode::Char('q') | KeyCode::Char('Q') => Action::Quit,
            // Esc closes the help first, and never quits (an easy key to hit by mistake).
            KeyCode::Esc if self.help => {
                self.help = false;
                Action::Redraw
            }
            KeyCode::Char('?') => {
                self.help = !self.help;
                Action::Redraw
            }
            KeyCode::Char('c') => {
                self.counters = !self.counters;
                self.processes = false;
                self.scroll = 0;
                Action::Redraw
            }
            KeyCode::Char('o') => {
                self.processes = !self.processes;
                self.counters = false;
                self.scroll = 0;
                Action::Redraw
            }
            KeyCode::Char('p') | KeyCode::Char(' ') => {
                self.toggle_pause();
                Action::Redraw
            }
            KeyCode::Char('g') => self.jump(Panel::Grpc),
            KeyCode::Char('t') => self.jump(Panel::Tls),
            KeyCode::Tab | KeyCode::Right | KeyCode::Down => self.select(true),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Up => self.select(false),
            KeyCode::Char(c @ '1'..='4') => {
                let w = Window::ALL[(c as usize) - ('1' as usize)];
                if w == self.window {
                    return Action::None;
                }
                self.window = w;
                self.scroll = 0;
                Action::Redraw
            }
            KeyCode::Char('s') => {
                let i = self.selected.index();
                self.sort[i] = (self.sort[i] + 1) % self.selected.sorts().len();
                self.scroll = 0;
                Action::Redraw
            }
            KeyCode::PageDown | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(PAGE);
                Action::Redraw
            }
            KeyCode::PageUp | KeyCode::Char('k') => {
                if self.scroll == 0 {
                    return Action::None;
                }
                self.scroll = self.scroll.saturating_sub(PAGE);
                Action::Redraw
            }
            KeyCode::Home => {
                self.scroll = 0;
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    /// Selects `panel` (leaving the Counters or Processes view); nothing to do when it is shown.
    fn jump(&mut self, panel: Panel) -> Action {
        if self.selected == panel && !self.counters && !self.processes {
            return Action::None;
        }
        self.counters = false;
        self.processes = false;
        self.selected = panel;
        self.scroll = 0;
        Action::Redraw
    }

    fn select(&mut self, forward: bool) -> Action {
        self.processes = false;
        self.selected = self.selected.step(forward);
        self.scroll = 0;
        Action::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn app() -> App {
        App::new("eth0", None)
    }

    #[test]
    fn g_selects_the_grpc_panel_and_leaves_the_counters_view() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('c')));
        assert_eq!(a.on_key(key(KeyCode::Char('g'))), Action::Redraw);
        assert_eq!((a.selected, a.counters), (Panel::Grpc, false));
        assert_eq!(a.on_key(key(KeyCode::Char('g'))), Action::None);
        assert_eq!(a.sort_of(Panel::Grpc), Sort::Count);
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort(), Sort::P99);
    }

    #[test]
    fn t_selects_the_tls_panel_and_leaves_the_counters_view() {
        let mut a = app();
        a.on_key(key(KeyCode::PageDown));
        a.on_key(key(KeyCode::Char('c')));
        assert_eq!(a.on_key(key(KeyCode::Char('t'))), Action::Redraw);
        assert_eq!((a.selected, a.counters, a.scroll), (Panel::Tls, false, 0));
        assert_eq!(a.on_key(key(KeyCode::Char('t'))), Action::None);
        // From the Counters view, `t` comes back to the TLS panel it had left.
        a.on_key(key(KeyCode::Char('c')));
        assert_eq!(a.on_key(key(KeyCode::Char('t'))), Action::Redraw);
        assert!(!a.counters);
        assert_eq!(a.sort(), Sort::Count);
        for want in [Sort::Bytes, Sort::P99, Sort::ErrorRate, Sort::LastSeen] {
            a.on_key(key(KeyCode::Char('s')));
            assert_eq!(a.sort(), want);
        }
        // In Tab order between gRPC and Alerts.
        a.on_key(key(KeyCode::Tab));
        assert_eq!(a.selected, Panel::Alerts);
        a.on_key(key(KeyCode::BackTab));
        a.on_key(key(KeyCode::BackTab));
        assert_eq!(a.selected, Panel::Grpc);
    }

    #[test]
    fn o_toggles_the_processes_view_and_other_views_leave_it() {
        let mut a = app();
        assert_eq!(a.on_key(key(KeyCode::Char('o'))), Action::Redraw);
        assert!(a.processes && !a.counters);
        // `c` swaps it for the Counters view, `o` back.
        a.on_key(key(KeyCode::Char('c')));
        assert!(a.counters && !a.processes);
        a.on_key(key(KeyCode::Char('o')));
        assert!(a.processes && !a.counters);
        a.scroll = 7;
        assert_eq!(a.on_key(key(KeyCode::Char('o'))), Action::Redraw);
        assert!(!a.processes && a.scroll == 0);
        // A panel key, Tab or the selected panel's key leave it for the panels.
        for k in [KeyCode::Char('t'), KeyCode::Tab, KeyCode::Char('g')] {
            a.on_key(key(KeyCode::Char('o')));
            assert_eq!(a.on_key(key(k)), Action::Redraw, "{k:?}");
            assert!(!a.processes, "{k:?}");
        }
        a.on_key(key(KeyCode::Char('o')));
        assert_eq!(a.on_key(key(KeyCode::Char('g'))), Action::Redraw);
        assert_eq!((a.selected, a.processes), (Panel::Grpc, false));
        // `p` still pauses.
        a.on_key(key(KeyCode::Char('p')));
        assert!(a.paused() && !a.processes);
    }

    #[test]
    fn q_and_ctrl_c_quit_plain_c_does_not() {
        let mut a = app();
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(
            a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        // Plain `c` toggles the Counters view.
        assert_eq!(a.on_key(key(KeyCode::Char('c'))), Action::Redraw);
        assert!(a.counters);
        assert_eq!(a.on_key(key(KeyCode::Esc)), Action::None);
    }

    #[test]
    fn key_release_is_ignored() {
        let mut a = app();
        let mut k = key(KeyCode::Char('q'));
        k.kind = KeyEventKind::Release;
        assert_eq!(a.on_key(k), Action::None);
    }

    #[test]
    fn tab_and_arrows_cycle_panels_both_ways() {
        let mut a = app();
        assert_eq!(a.selected, Panel::Sections);
        assert_eq!(a.on_key(key(KeyCode::Tab)), Action::Redraw);
        assert_eq!(a.selected, Panel::Hosts);
        a.on_key(key(KeyCode::Right));
        a.on_key(key(KeyCode::Down));
        assert_eq!(a.selected, Panel::Methods);
        a.on_key(key(KeyCode::BackTab));
        a.on_key(key(KeyCode::Left));
        a.on_key(key(KeyCode::Up));
        assert_eq!(a.selected, Panel::Sections);
        a.on_key(key(KeyCode::BackTab));
        assert_eq!(a.selected, Panel::Alerts, "wraps backwards");
        a.on_key(key(KeyCode::Tab));
        assert_eq!(a.selected, Panel::Sections, "wraps forwards");
    }

    #[test]
    fn digits_choose_the_window() {
        let mut a = app();
        assert_eq!(a.on_key(key(KeyCode::Char('1'))), Action::None);
        for (c, w) in [
            ('2', Window::Min10),
            ('3', Window::Hour1),
            ('4', Window::Retention),
            ('1', Window::Min1),
        ] {
            assert_eq!(a.on_key(key(KeyCode::Char(c))), Action::Redraw);
            assert_eq!(a.window, w);
        }
        assert_eq!(a.on_key(key(KeyCode::Char('5'))), Action::None);
        assert_eq!(a.window, Window::Min1);
    }

    #[test]
    fn s_cycles_the_sorts_of_the_selected_panel_only() {
        let mut a = app();
        assert_eq!(a.sort(), Sort::Count);
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort(), Sort::LastSeen);
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort(), Sort::Name);
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort(), Sort::Count, "wraps");
        a.on_key(key(KeyCode::Char('s')));
        a.selected = Panel::Servers;
        assert_eq!(a.sort(), Sort::Count, "each panel keeps its own order");
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort(), Sort::P99);
        assert_eq!(a.sort_of(Panel::Sections), Sort::LastSeen);
        assert_eq!(a.sort_of(Panel::Bytes), Sort::Bytes);
    }

    #[test]
    fn help_toggles_and_esc_closes_it() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('?')));
        assert!(a.help);
        a.on_key(key(KeyCode::Char('?')));
        assert!(!a.help);
        a.on_key(key(KeyCode::Char('?')));
        assert_eq!(a.on_key(key(KeyCode::Esc)), Action::Redraw);
        assert!(!a.help);
    }

    #[test]
    fn scrolling_pages_and_resets_on_panel_change() {
        let mut a = app();
        assert_eq!(a.on_key(key(KeyCode::PageUp)), Action::None);
        a.on_key(key(KeyCode::PageDown));
        a.on_key(key(KeyCode::PageDown));
        assert_eq!(a.scroll, 10);
        a.on_key(key(KeyCode::PageUp));
        assert_eq!(a.scroll, 5);
        a.on_key(key(KeyCode::Tab));
        assert_eq!(a.scroll, 0);
    }

    #[test]
    fn pause_keeps_the_snapshot_it_had() {
        let mut a = app();
        let snap = |t: u64| crate::testing::empty_snapshot(t);
        a.on_snapshot(snap(1));
        assert_eq!(a.on_key(key(KeyCode::Char('p'))), Action::Redraw);
        assert!(a.paused());
        a.on_snapshot(snap(2));
        let live = snap(3);
        assert_eq!(a.shown(&live).now.secs(), 1);
        assert_eq!(a.snapshot().map(|s| s.now.secs()), Some(1));
        assert_eq!(a.latest().map(|s| s.now.secs()), Some(2));
        a.on_key(key(KeyCode::Char('p')));
        assert!(!a.paused());
        assert_eq!(a.shown(&live).now.secs(), 3);
        a.on_snapshot(snap(4));
        assert_eq!(a.snapshot().map(|s| s.now.secs()), Some(4));
    }
}
