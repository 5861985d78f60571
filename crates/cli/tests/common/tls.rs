//! Helpers of the live TLS tests (`tests/tls_live.rs`): certificates made with `openssl`
//! in the test's directory, `openssl s_server`/`s_client` and nginx with `ssl`, every
//! process bounded in time; what each connection was set up to be ([`Want`]); and
//! tshark's reading of a capture (`tests/tls/tshark_tls.py`, PDML, JA4 computed from
//! tshark's fields).

#![allow(dead_code)]

use super::h2::{run_bounded, start_server, wait_bounded};
use super::live::{nginx, Killed};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long any one client or `openssl` command may run.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A certificate and its key, as `openssl` made them.
#[derive(Clone, Debug)]
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Common name (subject and, for a CA, issuer of the leaves it signs).
    pub cn: String,
    /// The subjectAltName entries, DNS names then IP addresses, as written.
    pub sans: Vec<String>,
    /// `-days`.
    pub days: i64,
    /// notAfter in Unix seconds, as `openssl x509 -enddate` reads it back.
    pub not_after: i64,
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = run_bounded(Command::new("openssl").args(args).current_dir(dir), LIMIT);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// notAfter of `cert` in Unix seconds (`openssl x509 -enddate`, converted by `date`).
fn not_after(cert: &Path, dir: &Path) -> i64 {
    let text = openssl(
        &["x509", "-noout", "-enddate", "-in", &cert.to_string_lossy()],
        dir,
    );
    let when = text
        .trim()
        .strip_prefix("notAfter=")
        .unwrap_or_else(|| panic!("openssl -enddate: {text}"));
    let out = run_bounded(Command::new("date").args(["-u", "-d", when, "+%s"]), LIMIT);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

/// A self-signed P-256 CA `name` (files `name.pem`, `name.key` in `dir`).
pub fn make_ca(dir: &Path, name: &str, cn: &str) -> Cert {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
            "-days",
            "3650",
            "-subj",
            &format!("/CN={cn}"),
        ],
        dir,
    );
    let not_after = not_after(&cert, dir);
    Cert {
        cert,
        key,
        cn: cn.to_string(),
        sans: Vec::new(),
        days: 3650,
        not_after,
    }
}

/// A P-256 leaf `name` signed by `ca`, valid `days` from now, with `cn` and the DNS names
/// `dns` and IP addresses `ips` as subjectAltName.
pub fn make_leaf(
    dir: &Path,
    name: &str,
    ca: &Cert,
    cn: &str,
    dns: &[&str],
    ips: &[&str],
    days: i64,
) -> Cert {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    let csr = dir.join(format!("{name}.csr"));
    let san = dns
        .iter()
        .map(|d| format!("DNS:{d}"))
        .chain(ips.iter().map(|i| format!("IP:{i}")))
        .collect::<Vec<_>>()
        .join(",");
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &csr.to_string_lossy(),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            &format!("subjectAltName={san}"),
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr.to_string_lossy(),
            "-CA",
            &ca.cert.to_string_lossy(),
            "-CAkey",
            &ca.key.to_string_lossy(),
            "-CAcreateserial",
            "-days",
            &days.to_string(),
            "-copy_extensions",
            "copyall",
            "-out",
            &cert.to_string_lossy(),
        ],
        dir,
    );
    let not_after = not_after(&cert, dir);
    Cert {
        cert,
        key,
        cn: cn.to_string(),
        sans: dns
            .iter()
            .chain(ips.iter())
            .map(|s| s.to_string())
            .collect(),
        days,
        not_after,
    }
}

/// `openssl s_server -www` on 127.0.0.1:`port` with `cert`, more arguments in `extra`;
/// returned once it accepts connections, killed when dropped.
pub fn s_server(dir: &Path, port: u16, cert: &Cert, extra: &[&str], log: &str) -> Killed {
    start_server(
        Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
            .arg("-cert")
            .arg(&cert.cert)
            .arg("-key")
            .arg(&cert.key)
            .args(extra),
        port,
        &dir.join(log),
    )
}

/// What `openssl s_client` did.
pub struct ClientRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// `openssl s_client -connect 127.0.0.1:PORT` with `args`. With `request`, it is written
/// to the client's standard input and the client waits for the server to close
/// (`-ign_eof`; `s_server -www` answers and closes); without, standard input is empty
/// and the client ends after the handshake (or its failure). Bounded by [`LIMIT`].
pub fn s_client(port: u16, args: &[&str], request: Option<&str>) -> ClientRun {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args);
    if request.is_some() {
        cmd.arg("-ign_eof");
    }
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    if let Some(r) = request {
        let _ = stdin.write_all(r.as_bytes());
    }
    drop(stdin);
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = out.read_to_string(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = err.read_to_string(&mut v);
        v
    });
    let status = wait_bounded(&mut child, LIMIT, &what);
    ClientRun {
        ok: status.success(),
        stdout: t_out.join().expect("stdout reader"),
        stderr: t_err.join().expect("stderr reader"),
    }
}

/// One name-based virtual server of [`start_nginx_tls`].
pub struct Vhost<'a> {
    pub name: &'a str,
    /// The leaf, and whether the CA follows it in the file nginx serves (chain of 2).
    pub cert: &'a Cert,
    pub with_ca: Option<&'a Cert>,
}

/// nginx on 127.0.0.1:`port` with `listen .. ssl http2` (Debian 12's nginx 1.22: `http2`
/// is a parameter of `listen`), TLS 1.2 and 1.3, one `server` per vhost (the first is
/// the default), files in `dir`; killed when dropped.
pub fn start_nginx_tls(dir: &Path, port: u16, vhosts: &[Vhost]) -> Killed {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("docroot");
    std::fs::write(www.join("index.html"), "<html>hello httptop tls</html>\n").expect("index");
    let mut servers = String::new();
    for (i, v) in vhosts.iter().enumerate() {
        let chain = dir.join(format!("nginx-{}.pem", v.name));
        let mut pem = std::fs::read(&v.cert.cert).expect("leaf");
        if let Some(ca) = v.with_ca {
            pem.extend(std::fs::read(&ca.cert).expect("ca"));
        }
        std::fs::write(&chain, pem).expect("chain");
        servers.push_str(&format!(
            " server {{\n  listen 127.0.0.1:{port} ssl http2{def};\n  server_name {name};\n  \
             ssl_certificate {chain};\n  ssl_certificate_key {key};\n  \
             ssl_protocols TLSv1.2 TLSv1.3;\n  root {www};\n  location / {{ }}\n }}\n",
            def = if i == 0 { " default_server" } else { "" },
            name = v.name,
            chain = chain.display(),
            key = v.cert.key.display(),
            www = www.display()
        ));
    }
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n{servers}}}\n",
        d = dir.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    start_server(
        Command::new(nginx().expect("nginx"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir),
        port,
        &dir.join("nginx.out"),
    )
}

/// What one connection was set up to be, compared with httptop's `"type":"tls"` record
/// and with tshark's reading.
#[derive(Clone, Debug, Default)]
pub struct Want {
    /// What the connection is, for messages.
    pub what: String,
    pub sni: Option<String>,
    /// The version the server chose (`TLS 1.3`); `None` without ServerHello.
    pub version: Option<&'static str>,
    pub client_version: &'static str,
    /// The ALPN chosen; only visible in clear up to TLS 1.2.
    pub alpn: Option<&'static str>,
    pub alpn_offered: Vec<&'static str>,
    /// The cipher suite, when the test fixed it.
    pub cipher: Option<&'static str>,
    /// level, code, description, from.
    pub alert: Option<(&'static str, u64, &'static str, &'static str)>,
    /// Exactly the record's `flags`.
    pub flags: Vec<&'static str>,
    /// The leaf the server sent and the chain length (TLS <= 1.2: the certificate is in
    /// clear), with its issuer.
    pub cert: Option<(Cert, u64, String)>,
}

/// tshark's reading of `capture`, each port of `ports` decoded as TLS: one object per TCP
/// stream, in stream order (see `tests/tls/tshark_tls.py`).
pub fn tshark_tls(capture: &Path, ports: &[u16]) -> Vec<serde_json::Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/tshark_tls.py");
    let out = run_bounded(
        Command::new("python3")
            .arg(script)
            .arg(capture)
            .args(ports.iter().map(|p| p.to_string())),
        Duration::from_secs(120),
    );
    super::h2::read_log(&String::from_utf8_lossy(&out.stdout))
}

/// The `"type":"tls"` records of a log, in order of `ts`.
pub fn tls_records(records: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let mut v: Vec<serde_json::Value> = records
        .iter()
        .filter(|r| r["type"] == "tls")
        .cloned()
        .collect();
    v.sort_by(|a, b| {
        a["ts"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&b["ts"].as_f64().unwrap_or(0.0))
    });
    v
}

fn opt_str(v: &serde_json::Value) -> Option<&str> {
    v.as_str()
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Differences between httptop's record `r` and what the connection was set up to be.
pub fn check_want(r: &serde_json::Value, w: &Want, failures: &mut Vec<String>) {
    let mut bad = |field: &str, got: String, want: String| {
        if got != want {
            failures.push(format!(
                "{}: {field} is {got}, want {want}; record {r}",
                w.what
            ));
        }
    };
    bad(
        "sni",
        format!("{:?}", opt_str(&r["sni"])),
        format!("{:?}", w.sni.as_deref()),
    );
    bad(
        "version",
        format!("{:?}", opt_str(&r["version"])),
        format!("{:?}", w.version),
    );
    bad(
        "client_version",
        format!("{:?}", opt_str(&r["client_version"])),
        format!("{:?}", Some(w.client_version)),
    );
    bad(
        "alpn",
        format!("{:?}", opt_str(&r["alpn"])),
        format!("{:?}", w.alpn),
    );
    bad(
        "alpn_offered",
        format!("{:?}", strs(&r["alpn_offered"])),
        format!("{:?}", w.alpn_offered),
    );
    if let Some(c) = w.cipher {
        bad(
            "cipher",
            format!("{:?}", opt_str(&r["cipher"])),
            format!("{:?}", Some(c)),
        );
    }
    let alert = match &r["alert"] {
        serde_json::Value::Null => "null".to_string(),
        a => format!(
            "{} {} {} {}",
            a["level"].as_str().unwrap_or("?"),
            a["code"],
            a["description"].as_str().unwrap_or("?"),
            a["from"].as_str().unwrap_or("?")
        ),
    };
    let want_alert = w.alert.map_or("null".to_string(), |(l, c, d, f)| {
        format!("{l} {c} {d} {f}")
    });
    bad("alert", alert, want_alert);
    bad(
        "flags",
        format!("{:?}", strs(&r["flags"])),
        format!("{:?}", w.flags),
    );
    for dir in ["bytes_to_server", "bytes_to_client"] {
        if r[dir].as_u64().unwrap_or(0) == 0 {
            failures.push(format!("{}: {dir} is 0: {r}", w.what));
        }
    }
    if r["ja4"].as_str().is_none_or(|j| j.len() != 36) {
        failures.push(format!("{}: no JA4: {r}", w.what));
    }
    check_cert(r, w, failures);
}

/// The record's `cert` against the leaf the server was given: subject, issuer, SANs,
/// not_after exactly, `days_left` = whole days from `ts` (its whole seconds) to
/// not_after (the leaf's `-days` N, or N-1 once a second has passed since it was made),
/// chain length.
fn check_cert(r: &serde_json::Value, w: &Want, failures: &mut Vec<String>) {
    let c = &r["cert"];
    let Some((leaf, chain_len, issuer)) = &w.cert else {
        if !c.is_null() {
            failures.push(format!("{}: a cert where none is in clear: {r}", w.what));
        }
        return;
    };
    let mut bad = |field: &str, got: String, want: String| {
        if got != want {
            failures.push(format!(
                "{}: cert.{field} is {got}, want {want}; record {r}",
                w.what
            ));
        }
    };
    bad(
        "subject",
        format!("{:?}", opt_str(&c["subject"])),
        format!("{:?}", Some(&leaf.cn)),
    );
    bad(
        "issuer",
        format!("{:?}", opt_str(&c["issuer"])),
        format!("{:?}", Some(issuer)),
    );
    bad(
        "sans",
        format!("{:?}", strs(&c["sans"])),
        format!("{:?}", leaf.sans),
    );
    bad(
        "not_after",
        format!("{}", c["not_after"]),
        format!("{}", leaf.not_after),
    );
    bad(
        "chain_len",
        format!("{}", c["chain_len"]),
        format!("{chain_len}"),
    );
    // Whole seconds of `ts` (as `TlsCert::days_left` counts: X.509 times have no
    // fraction): a leaf of N days used within the second it was made has N left.
    let ts = r["ts"].as_f64().unwrap_or(0.0);
    let exact = (leaf.not_after - ts.floor() as i64).div_euclid(86_400);
    bad(
        "days_left",
        format!("{}", c["days_left"]),
        format!("{exact}"),
    );
    if !(leaf.days - 1..=leaf.days).contains(&exact) {
        failures.push(format!(
            "{}: the leaf of {} days has {exact} days left at {ts}",
            w.what, leaf.days
        ));
    }
}

/// Differences between httptop's record `r` and tshark's reading `t` of the same
/// connection: SNI, versions, cipher, ALPN chosen and offered, JA4, the alert (tshark's
/// first fatal one, else its first), and the ServerHello's presence.
pub fn check_tshark(what: &str, r: &serde_json::Value, t: &serde_json::Value) -> Vec<String> {
    let mut f = Vec::new();
    for (ours, theirs) in [
        ("sni", "sni"),
        ("version", "version"),
        ("client_version", "client_version"),
        ("cipher", "cipher"),
        ("alpn", "alpn"),
        ("alpn_offered", "alpn_offered"),
        ("ja4", "ja4"),
    ] {
        if r[ours] != t[theirs] {
            f.push(format!(
                "{what}: {ours}: httptop {} tshark {}",
                r[ours], t[theirs]
            ));
        }
    }
    let alerts = t["alerts"].as_array().cloned().unwrap_or_default();
    let first = alerts
        .iter()
        .find(|a| a[0] == 2)
        .or(alerts.first())
        .map(|a| {
            format!(
                "{} {} {}",
                if a[0] == 2 { "fatal" } else { "warning" },
                a[1],
                a[2].as_str().unwrap_or("?")
            )
        });
    let ours = match &r["alert"] {
        serde_json::Value::Null => None,
        a => Some(format!(
            "{} {} {}",
            a["level"].as_str().unwrap_or("?"),
            a["code"],
            a["from"].as_str().unwrap_or("?")
        )),
    };
    if ours != first {
        f.push(format!("{what}: alert: httptop {ours:?} tshark {first:?}"));
    }
    let server_hello = t["server_types"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == 2));
    let flagged = strs(&r["flags"]).iter().any(|x| x == "no_server_hello");
    if server_hello == flagged {
        f.push(format!(
            "{what}: tshark ServerHello {server_hello}, httptop no_server_hello {flagged}"
        ));
    }
    f
}

/// The fields of a record that two captures of one connection share (not its times).
pub fn same_fields(r: &serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    for k in [
        "client",
        "server",
        "sni",
        "alpn",
        "alpn_offered",
        "version",
        "client_version",
        "cipher",
        "ja4",
        "bytes_to_server",
        "bytes_to_client",
        "alert",
        "flags",
    ] {
        v.insert(k.to_string(), r[k].clone());
    }
    let mut cert = r["cert"].clone();
    if let Some(c) = cert.as_object_mut() {
        // Whole days from each capture's own `ts`: may differ across a day boundary.
        c.remove("days_left");
    }
    v.insert("cert".to_string(), cert);
    serde_json::Value::Object(v)
}
