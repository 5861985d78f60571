//! Packaging: the systemd unit passes `systemd-analyze verify`, the default configuration
//! is valid, and the Debian package (scripts/build-deb) installs with dpkg, gives a
//! working `httptop`, its man page, completions and system user, and is purged cleanly.
//! The package test changes the machine (dpkg -i, then dpkg --purge): root only, and it
//! refuses to run where an httptop package is already installed.

mod common;

use common::bin;
use common::live::{is_root, require};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run(c: &mut Command) -> Output {
    let o = c.output().expect("run");
    assert!(
        o.status.success(),
        "{c:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

#[test]
fn unit_file_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(repo().join("packaging/httptop.service")).expect("unit");
    for want in [
        "User=httptop",
        "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "LogsDirectory=httptop",
        "StateDirectory=httptop",
        "Restart=on-failure",
        "--log /var/log/httptop/exchanges.jsonl",
        "--baseline-file /var/lib/httptop/baseline",
    ] {
        assert!(unit.contains(want), "the unit lacks {want}");
    }
    if !require(have("systemd-analyze"), "systemd-analyze (package systemd)") {
        return;
    }
    // The binary it starts must exist for `verify`: the one under test, in a copy. The
    // installed unit is verified as it is (with its man page) by the package test.
    let dir = std::env::temp_dir().join(format!("ht16-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let copy = dir.join("httptop.service");
    let b = bin();
    std::fs::write(
        &copy,
        unit.replace("/usr/bin/httptop", &b.display().to_string()),
    )
    .expect("write unit");
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze");
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.trim().is_empty(), "{err}");
}

#[test]
fn the_default_configuration_is_valid() {
    let o = run(Command::new(bin())
        .arg("--config")
        .arg(repo().join("packaging/httptop.toml"))
        .arg("--print-config"));
    let p = String::from_utf8_lossy(&o.stdout);
    assert!(p.contains("\ninterface = \"any\"  # "), "{p}");
    assert!(p.contains("\nmetrics-addr = \"127.0.0.1:9184\"  # "), "{p}");
}

/// Purges the package when the test ends, failed or not.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "httptop"]).output();
    }
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "httptop"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("installed"))
}

#[test]
fn debian_package_installs_works_and_purges() {
    if !require(is_root() && have("dpkg"), "root and dpkg") {
        return;
    }
    if !require(!installed(), "no httptop package installed already") {
        return;
    }
    let o = run(Command::new(repo().join("scripts/build-deb")).arg(bin()));
    let deb = repo().join(String::from_utf8_lossy(&o.stdout).trim());
    let guard = Installed;
    run(Command::new("dpkg").arg("-i").arg(&deb));
    let v = run(Command::new("/usr/bin/httptop").arg("--version"));
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("httptop "));
    if require(have("man"), "man (package man-db)") {
        let m = run(Command::new("man").args(["-w", "httptop"]));
        assert_eq!(
            String::from_utf8_lossy(&m.stdout).trim(),
            "/usr/share/man/man1/httptop.1.gz"
        );
    }
    for f in [
        "/usr/share/bash-completion/completions/httptop",
        "/usr/share/zsh/vendor-completions/_httptop",
        "/usr/share/fish/vendor_completions.d/httptop.fish",
        "/etc/httptop/httptop.toml",
        "/etc/logrotate.d/httptop",
        "/lib/systemd/system/httptop.service",
    ] {
        let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} installed");
    }
    run(Command::new("getent").args(["passwd", "httptop"]));
    if have("systemd-analyze") {
        // The installed unit as it is, its man page included.
        let o = Command::new("systemd-analyze")
            .args(["verify", "/lib/systemd/system/httptop.service"])
            .output()
            .expect("systemd-analyze");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.trim().is_empty(), "{err}");
    }
    // The installed configuration is what a run on the host reads.
    let p = run(Command::new("/usr/bin/httptop").arg("--print-config"));
    assert!(String::from_utf8_lossy(&p.stdout)
        .contains("interface = \"any\"  # /etc/httptop/httptop.toml:"));
    run(Command::new("dpkg").args(["--purge", "httptop"]));
    drop(guard);
    assert!(!installed());
    for gone in [
        "/usr/bin/httptop",
        "/etc/httptop",
        "/lib/systemd/system/httptop.service",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} removed");
    }
}
