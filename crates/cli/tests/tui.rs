//! The real binary's dashboard in a real pseudo-terminal (tmux): `--demo` and a realtime
//! replay reach the alert and recovered states, the screen shows the panels, counts and
//! messages, and `q` restores the terminal and prints the final summary.
//!
//! Needs tmux (`.ci/run` installs it); without it the test says so and passes, except
//! under `CI=true`. The screen is read with `tmux capture-pane` until what is expected
//! appears, with a deadline: the test waits for the screen, never for a fixed time.

mod common;

use common::{bin, burst_in};
use std::process::Command;
use std::time::{Duration, Instant};

fn have_tmux() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok || std::env::var("CI").map_or(true, |v| v != "true"),
        "CI must provide tmux"
    );
    if !ok {
        eprintln!("skipped: needs tmux");
    }
    ok
}

/// A detached tmux session running one command; killed on drop.
struct Session(String);

impl Session {
    fn start(name: &str, cmd: &str) -> Self {
        let name = format!("{name}-{}", std::process::id());
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .arg(format!("{cmd}; echo EXITED=$?; sleep 60"))
            .status()
            .expect("tmux");
        assert!(st.success());
        Session(name)
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Polls the screen until `pred` holds; panics with the last screen at the deadline.
    fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&self, k: &str) {
        let _ = Command::new("tmux")
            .args(["send-keys", "-t", &self.0, k])
            .status();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// Drives one dashboard through alert and recovery, then quits with `q`.
fn alert_cycle(s: &Session, expect_on_screen: &[&str]) {
    let alert = s.wait_for("the alert", 60, |t| {
        t.contains("ALERT") && t.contains("High traffic generated an alert - hits =")
    });
    for e in expect_on_screen {
        assert!(alert.contains(e), "{e:?} not on screen:\n{alert}");
    }
    // Recovery: the alert history shows a finished episode once NORMAL is back.
    s.keys("Tab");
    s.wait_for("the recovery", 90, |t| {
        t.contains("NORMAL") && !t.contains("ALERT ")
    });
    s.keys("q");
    let done = s.wait_for("exit", 20, |t| t.contains("EXITED="));
    assert!(done.contains("EXITED=0"), "{done}");
    // The alternate screen is gone: the shell's screen shows the final summary.
    assert!(done.contains("alerts: 1"), "final summary:\n{done}");
    assert!(!done.contains("┌"), "dashboard left on screen:\n{done}");
}

#[test]
fn demo_dashboard_alerts_recovers_and_quits_cleanly() {
    if !have_tmux() {
        return;
    }
    let cmd = format!("{} --demo --speed 10 --refresh 100ms -q", bin().display());
    let s = Session::start("httptop-demo", &cmd);
    s.wait_for("the dashboard", 20, |t| {
        t.contains("demo (synthetic traffic)") && t.contains("Sections")
    });
    alert_cycle(&s, &["hits", "baseline", "shop.example.com", "Sections"]);
}

#[test]
fn realtime_replay_dashboard_alerts_recovers_and_quits_cleanly() {
    if !have_tmux() {
        return;
    }
    let (_dir, cap) = burst_in("tui");
    let cmd = format!(
        "{} -r {} --realtime --speed 20 --refresh 100ms --learn 60s --window 10s --threshold 50 -q",
        bin().display(),
        cap.display()
    );
    let s = Session::start("httptop-replay", &cmd);
    alert_cycle(&s, &["shop.example/burst", "baseline 10"]);
}
