//! A real pseudo-terminal for dashboard tests: a detached tmux session running one
//! command, its screen read with `tmux capture-pane` until what is expected is there (a
//! bounded wait, polled every 50 ms), keys sent with `tmux send-keys`. Each session has
//! a tmux server of its own (`-L`, its own socket): tests starting sessions at the same
//! time would otherwise race to start the one shared server.

use std::process::Command;
use std::time::{Duration, Instant};

/// Whether tmux runs here (under `CI=true` it must); says so when it does not.
pub fn have_tmux() -> bool {
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
pub struct Session(String);

impl Session {
    pub fn start(name: &str, cmd: &str) -> Self {
        let name = format!("{name}-{}", std::process::id());
        let st = Command::new("tmux")
            .args(["-L", &name, "-f", "/dev/null"])
            .args(["new-session", "-d", "-s", &name, "-x", "120", "-y", "40"])
            .arg(format!("{cmd}; echo EXITED=$?; sleep 60"))
            .status()
            .expect("tmux");
        assert!(st.success());
        Session(name)
    }

    pub fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p", "-t", &self.0])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Polls the screen until `pred` holds; panics with the last screen at the deadline.
    pub fn wait_for(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
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

    pub fn keys(&self, k: &str) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "send-keys", "-t", &self.0, k])
            .status();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}
