//! Configuration layers, end to end through the binary: a file sets the threshold, the
//! window and `--metrics-addr`; `HTTPTOP_THRESHOLD` overrides the file; `--threshold`
//! overrides both. Checked with `--print-config` and with the behaviour (the report's
//! threshold and window, the exporter answering on the configured address). A file's
//! errors name FILE:LINE:COLUMN and exit 2.

mod common;

use common::live::{free_port, Killed};
use common::{bin, exchange, Pcap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("ht16-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    Dir(d)
}

fn capture(d: &Path) -> PathBuf {
    let mut p = Pcap::new(1);
    for i in 0..5u64 {
        exchange(
            &mut p,
            1_700_000_000_000_000 + i * 1_000_000,
            40_000 + i as u16,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        );
    }
    let f = d.join("five.pcap");
    std::fs::write(&f, &p.bytes).expect("write capture");
    f
}

/// httptop with no HTTPTOP_* variable from the test's environment.
fn httptop() -> Command {
    let mut c = Command::new(bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HTTPTOP_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run httptop")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The line of `--print-config` for `key`.
fn line<'a>(printed: &'a str, key: &str) -> &'a str {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in:\n{printed}"))
}

/// The report's threshold and window (seconds) after reading `pcap`.
fn report(c: &mut Command, pcap: &Path) -> (u64, u64) {
    let o = run(c.arg("-r").arg(pcap).args(["--output", "json", "-q"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    (
        v["threshold"].as_u64().expect("threshold"),
        v["window_s"].as_u64().expect("window_s"),
    )
}

#[test]
fn file_then_environment_then_flag() {
    let d = dir("layers");
    let pcap = capture(&d.0);
    let port = free_port();
    let cfg = d.0.join("httptop.toml");
    std::fs::write(
        &cfg,
        format!(
            "# a sensor\n[alerting]\nthreshold = 25\nwindow = \"30s\"\n\n[fleet]\nmetrics_addr = \"127.0.0.1:{port}\"\n"
        ),
    )
    .expect("write config");

    // The file alone.
    let o = run(httptop().arg("--config").arg(&cfg).arg("--print-config"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let p = text(&o.stdout);
    let c = cfg.display();
    assert_eq!(line(&p, "threshold"), format!("threshold = 25  # {c}:3"));
    assert_eq!(line(&p, "window"), format!("window = \"30s\"  # {c}:4"));
    assert_eq!(
        line(&p, "metrics-addr"),
        format!("metrics-addr = \"127.0.0.1:{port}\"  # {c}:7")
    );
    assert_eq!(line(&p, "filter"), "filter = \"tcp\"  # default");
    assert!(p.contains("# interface = (not set)"), "{p}");
    assert_eq!(report(httptop().arg("--config").arg(&cfg), &pcap), (25, 30));

    // What was printed reads back as a configuration file giving the same values.
    let again = d.0.join("printed.toml");
    std::fs::write(&again, &p).expect("write printed");
    let o = run(httptop().arg("--config").arg(&again).arg("--print-config"));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        line(&text(&o.stdout), "threshold"),
        format!("threshold = 25  # {}:{}", again.display(), {
            p.lines()
                .position(|l| l.starts_with("threshold = "))
                .expect("threshold line")
                + 1
        })
    );

    // The environment overrides the file.
    let env = |c: &mut Command| {
        c.env("HTTPTOP_THRESHOLD", "40").arg("--config").arg(&cfg);
    };
    let mut c = httptop();
    env(&mut c);
    let p = text(&run(c.arg("--print-config")).stdout);
    assert_eq!(
        line(&p, "threshold"),
        "threshold = 40  # environment HTTPTOP_THRESHOLD"
    );
    let mut c = httptop();
    env(&mut c);
    assert_eq!(report(&mut c, &pcap), (40, 30));

    // A flag overrides both.
    let mut c = httptop();
    env(&mut c);
    let p = text(&run(c.args(["--threshold", "55", "--print-config"])).stdout);
    assert_eq!(line(&p, "threshold"), "threshold = 55  # command line");
    assert_eq!(
        line(&p, "window"),
        format!("window = \"30s\"  # {c}:4", c = cfg.display())
    );
    let mut c = httptop();
    env(&mut c);
    assert_eq!(report(c.args(["--threshold", "55"]), &pcap), (55, 30));

    // The exporter listens where the file says.
    let mut child = httptop()
        .arg("--config")
        .arg(&cfg)
        .arg("-r")
        .arg(&pcap)
        .args(["--output", "plain", "--linger", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start httptop");
    let stderr = child.stderr.take().expect("stderr");
    let guard = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    for l in BufReader::new(stderr).lines().map_while(Result::ok) {
        let done = l.starts_with("httptop: lingering for ");
        seen.push(l);
        if done || Instant::now() > deadline {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l == &format!("httptop: metrics at http://127.0.0.1:{port}/metrics")),
        "{seen:#?}"
    );
    let body = ureq::get(&format!("http://127.0.0.1:{port}/metrics"))
        .call()
        .expect("GET /metrics")
        .body_mut()
        .read_to_string()
        .expect("body");
    assert!(
        body.contains("httptop_requests_total{method=\"GET\"} 5"),
        "{body}"
    );
    drop(guard);
}

#[test]
fn file_errors_name_line_and_column_and_exit_2() {
    let d = dir("errors");
    for (name, body, want) in [
        (
            "unknown.toml",
            "threshold = 25\n[alerting]\n  thresold = 30\n",
            ":3:3: unknown key `thresold`",
        ),
        (
            "bad.toml",
            "threshold = 25\nwindow = \"soon\"\n",
            ":2:10: `window`: invalid value 'soon' for '--window <DURATION>'",
        ),
        (
            "type.toml",
            "promisc = 1\n",
            ":1:11: `promisc`: expected true or false, found integer",
        ),
        ("syntax.toml", "threshold = = 3\n", ":1:13: "),
    ] {
        let f = d.0.join(name);
        std::fs::write(&f, body).expect("write");
        let o = run(httptop().arg("--config").arg(&f).args(["-r", "x.pcap"]));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        let prefix = format!("httptop: {}{want}", f.display());
        assert!(
            err.starts_with(&prefix),
            "{name}: {err:?} should start with {prefix:?}"
        );
        assert_eq!(err.lines().count(), 1, "{name}: one line: {err:?}");
    }
    let o = run(httptop().arg("--config").arg(d.0.join("missing.toml")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("missing.toml: cannot read"));
    // A bad environment value is clap's usage error.
    let o = run(httptop()
        .env("HTTPTOP_THRESHOLD", "many")
        .arg("--print-config"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
