//! Acceptance of HTTP/2 and gRPC (issue 12) with real servers and clients on `lo`, each
//! server on a port of its own, captured at once by httptop (live, `--log`) and by
//! tcpdump:
//!
//! 1. `nghttpd --no-tls` with `nghttp -n` (GET of several paths on one connection, HEAD),
//!    `h2load -n 200 -c 4 -m 8` and `curl --http2-prior-knowledge` (GET, POST with a body);
//! 2. `curl --http2` (h2c Upgrade) against Apache 2.4 with mod_http2 and
//!    `Protocols h2c http/1.1`;
//! 3. nginx with `listen 127.0.0.1:PORT http2;` (h2c with prior knowledge), curl and nghttp;
//! 4. gRPC in Python (`tests/fixtures/grpc_ht12.py`): unary and server-streaming calls,
//!    some ending NOT_FOUND and UNAVAILABLE with a message.
//!
//! Each test checks, in this order, and reports every difference at once:
//! - tshark's reading of the tcpdump capture equals what the clients sent and got (the
//!   servers, clients and oracle agree; this part needs no HTTP/2 in httptop);
//! - httptop's live log equals what the clients sent: requests per method, per
//!   `:authority` (the log's `host`), per `:status`, gRPC calls per `grpc_status`; HTTP/2
//!   exchanges carry `version` "2" and an odd `stream_id`;
//! - httptop reading the capture back (`-r`) equals tshark (`-d tcp.port==N,http2`, or
//!   `http` for the h2c upgrade, see `common::h2` for the counting rules and the upgrade
//!   request's 101), and the report's Protocols rows count the HTTP/2 requests.
//!
//! Needs root (capture on `lo`), tcpdump, tshark, nghttp2-server, nghttp2-client, curl,
//! apache2, nginx-light and python3-grpcio; `.ci/run` installs them. When one is missing the
//! test says so and passes, except under `CI=true`, where it fails.

mod common;

use common::h2::{
    bump, count_request, count_status, diff, have, httptop_read, httptop_report, log_counts,
    protocol_row, python_with, read_log, run_bounded, start_nginx_h2c, start_server, tshark_counts,
    wait_bounded, Counts, DecodeAs, Tcpdump,
};
use common::live::{free_port, is_root, nginx, require, start_capturing, Killed};
use common::{bin, TempDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// What one scenario's run left: httptop's live log and tcpdump's capture.
struct Captured {
    live: Vec<serde_json::Value>,
    capture: PathBuf,
    stderr: String,
}

/// httptop (live, `--log`) and tcpdump on `lo` for `tcp port PORT` around `clients`, which
/// returns what it sent; both stopped after it.
fn capture_around(
    dir: &TempDir,
    port: u16,
    clients: impl FnOnce() -> Counts,
) -> (Counts, Captured) {
    let log = dir.path("live.jsonl");
    let run = start_capturing(
        Command::new(bin())
            .args(["-i", "lo", "-f", &format!("tcp port {port}"), "--log"])
            .arg(&log),
    );
    let dump = Tcpdump::start(port, &dir.path("capture.pcap"));
    let sent = clients();
    let capture = dump.stop();
    let stderr = run.stop();
    let text = std::fs::read_to_string(&log).expect("live log");
    (
        sent,
        Captured {
            live: read_log(&text),
            capture,
            stderr,
        },
    )
}

/// The three comparisons of the module docs; every difference is collected.
fn compare(
    name: &str,
    sent: &Counts,
    got: &Captured,
    port: u16,
    decode: DecodeAs,
    failures: &mut Vec<String>,
) {
    let theirs = tshark_counts(&got.capture, port, decode);
    let d = diff(&theirs, sent);
    if !d.is_empty() {
        // Kept for a look with tshark: the test's directory goes when it ends.
        let keep = std::env::temp_dir().join(format!("httptop-{}.pcap", name.replace(' ', "-")));
        let _ = std::fs::copy(&got.capture, &keep);
        panic!(
            "{name}: tshark minus the clients (the harness, not httptop): {d:?}; \
             tshark {theirs:?}; capture kept in {}",
            keep.display()
        );
    }
    let live = log_counts(&got.live);
    let d = diff(&live, sent);
    if !d.is_empty() {
        failures.push(format!(
            "{name}: live log minus sent: {d:?} (httptop stderr: {})",
            got.stderr.trim()
        ));
    }
    let read = log_counts(&httptop_read(&got.capture));
    let d = diff(&read, &theirs);
    if !d.is_empty() {
        failures.push(format!("{name}: -r minus tshark: {d:?}"));
    }
}

/// HTTP/2 exchanges (`stream_id` > 0) have `version` "2" and an odd stream id, except
/// an h2c upgrade's stream 1 when `upgrade` (its request was HTTP/1.1 on the wire; its
/// `version` is left to the analyzer's documentation). Returns how many there are.
fn check_h2_records(
    name: &str,
    records: &[serde_json::Value],
    upgrade: bool,
    failures: &mut Vec<String>,
) -> usize {
    let mut n = 0;
    for r in records.iter().filter(|r| r["type"] == "exchange") {
        let id = r["stream_id"].as_u64().unwrap_or(0);
        if id == 0 {
            continue;
        }
        n += 1;
        if id % 2 == 0 {
            failures.push(format!("{name}: even client stream id: {r}"));
        }
        if r["version"] != "2" && !(upgrade && id == 1) {
            failures.push(format!("{name}: version is not \"2\": {r}"));
        }
    }
    n
}

fn finish(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn docroot(dir: &Path) -> PathBuf {
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("api")).expect("docroot");
    std::fs::write(www.join("index.html"), "<html>hello httptop h2</html>\n").expect("index");
    std::fs::write(
        www.join("api/data.json"),
        "[{\"id\":1},{\"id\":2}]\n".repeat(200),
    )
    .expect("json");
    www
}

/// curl's `-w '%{http_code} %{http_version}\n'` lines: (status, version) per URL (the
/// arguments starting `http://`, each body to `/dev/null`).
fn curl(args: &[&str]) -> Vec<(String, String)> {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-w", "%{http_code} %{http_version}\\n"]);
    for a in args {
        if a.starts_with("http://") {
            cmd.args(["-o", "/dev/null"]);
        }
        cmd.arg(a);
    }
    let out = run_bounded(&mut cmd, CLIENT_LIMIT);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (c, v) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("curl {args:?}: code and version: {l}"));
            (c.to_string(), v.to_string())
        })
        .collect()
}

/// `nghttp -n -s` (statistics) over `urls`: the `:status` of each response, in order of
/// the statistics table.
fn nghttp(extra: &[&str], urls: &[String]) -> Vec<String> {
    let out = run_bounded(
        Command::new("nghttp")
            .args(["-n", "-v"])
            .args(extra)
            .args(urls),
        CLIENT_LIMIT,
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once("recv (stream_id=").map(|(_, r)| r))
        .filter_map(|r| r.split_once(":status: ").map(|(_, s)| s.trim().to_string()))
        .collect()
}

#[test]
fn nghttpd_with_nghttp_h2load_and_curl() {
    if !require(is_root(), "root (capture on lo)")
        || !require(have("nghttpd"), "nghttpd (nghttp2-server)")
        || !require(
            have("nghttp") && have("h2load"),
            "nghttp, h2load (nghttp2-client)",
        )
        || !require(have("tcpdump") && have("tshark"), "tcpdump and tshark")
        || !require(have("curl"), "curl")
    {
        return;
    }
    let dir = TempDir::new("ht12-nghttpd");
    let port = free_port();
    let www = docroot(&dir.0);
    let _server = start_server(
        Command::new("nghttpd")
            .args(["--no-tls", "-d"])
            .arg(&www)
            .arg(port.to_string()),
        port,
        &dir.path("nghttpd.log"),
    );
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let h2load_n = 200;
    let (sent, got) = capture_around(&dir, port, || {
        let mut c = Counts::new();
        // One connection, three GETs with an :authority of its own.
        let st = nghttp(
            &["-H", ":authority: nghttp.ht12.test"],
            &[url("/index.html"), url("/api/data.json"), url("/missing")],
        );
        let mut st_sorted = st.clone();
        st_sorted.sort();
        assert_eq!(st_sorted, ["200", "200", "404"], "nghttp statuses");
        for s in &st {
            count_request(&mut c, "GET", "nghttp.ht12.test");
            count_status(&mut c, s);
        }
        // HEAD, its :authority from the URL.
        let st = nghttp(&["-H", ":method: HEAD"], &[url("/index.html")]);
        assert_eq!(st, ["200"], "nghttp HEAD");
        count_request(&mut c, "HEAD", &format!("127.0.0.1:{port}"));
        count_status(&mut c, "200");
        // Many streams at once on four connections.
        let out = run_bounded(
            Command::new("h2load")
                .args(["-n", &h2load_n.to_string(), "-c", "4", "-m", "8"])
                .args(["-H", ":authority: h2load.ht12.test"])
                .arg(url("/index.html")),
            CLIENT_LIMIT,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("{h2load_n} succeeded, 0 failed"))
                && text.contains(&format!("status codes: {h2load_n} 2xx,")),
            "h2load: {text}"
        );
        for _ in 0..h2load_n {
            count_request(&mut c, "GET", "h2load.ht12.test");
            count_status(&mut c, "200");
        }
        // curl with prior knowledge: a GET and a POST with a body.
        let host = ["-H", "Host: curl.ht12.test", "--http2-prior-knowledge"];
        let got = curl(&[&host[..], &[&url("/api/data.json")]].concat());
        assert_eq!(got, [("200".into(), "2".into())], "curl GET");
        count_request(&mut c, "GET", "curl.ht12.test");
        count_status(&mut c, "200");
        let got = curl(
            &[
                &host[..],
                &["--data-binary", "name=ht12&n=1", &url("/index.html")],
            ]
            .concat(),
        );
        assert_eq!(got, [("200".into(), "2".into())], "curl POST");
        count_request(&mut c, "POST", "curl.ht12.test");
        count_status(&mut c, "200");
        c
    });
    let mut failures = Vec::new();
    compare("nghttpd", &sent, &got, port, DecodeAs::Http2, &mut failures);
    let h2 = check_h2_records("nghttpd", &got.live, false, &mut failures);
    if h2 != 206 {
        failures.push(format!("nghttpd: {h2} HTTP/2 exchanges live, 206 sent"));
    }
    let report = httptop_report(&got.capture);
    // Connections: nghttp twice, h2load 4, curl twice.
    let row = protocol_row(&report, "http/2");
    if row != (8, 206) {
        failures.push(format!(
            "nghttpd: http/2 row (connections, requests) {row:?}, want (8, 206)"
        ));
    }
    finish(failures);
}

/// An Apache 2.4 configuration (mpm_event, mod_http2, `Protocols h2c http/1.1`) in `dir`.
fn apache_conf(dir: &Path, www: &Path, port: u16) -> PathBuf {
    let d = dir.display();
    let conf = format!(
        "ServerRoot /usr/lib/apache2\nServerName ht12.localhost\nListen 127.0.0.1:{port}\n\
         PidFile {d}/httpd.pid\nErrorLog {d}/error.log\nLogLevel warn\n\
         LoadModule mpm_event_module modules/mod_mpm_event.so\n\
         LoadModule authz_core_module modules/mod_authz_core.so\n\
         LoadModule mime_module modules/mod_mime.so\n\
         LoadModule dir_module modules/mod_dir.so\n\
         LoadModule http2_module modules/mod_http2.so\n\
         TypesConfig /etc/mime.types\nProtocols h2c http/1.1\nH2Upgrade on\n\
         User nobody\nGroup nogroup\nDocumentRoot {w}\n\
         <Directory {w}>\n  Require all granted\n</Directory>\n",
        w = www.display()
    );
    let path = dir.join("httpd.conf");
    std::fs::write(&path, conf).expect("apache conf");
    path
}

#[test]
fn curl_h2c_upgrade_against_apache_mod_http2() {
    if !require(is_root(), "root (capture on lo)")
        || !require(
            Path::new("/usr/lib/apache2/modules/mod_http2.so").exists() && have("apache2"),
            "apache2 with mod_http2",
        )
        || !require(have("tcpdump") && have("tshark"), "tcpdump and tshark")
        || !require(have("curl"), "curl")
    {
        return;
    }
    let dir = TempDir::new("ht12-apache");
    let port = free_port();
    let www = docroot(&dir.0);
    // Apache serves as `nobody`: the docroot must be readable by others.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&dir.0)
        .status();
    let conf = apache_conf(&dir.0, &www, port);
    let _server = start_server(
        Command::new("apache2").arg("-X").arg("-f").arg(&conf),
        port,
        &dir.path("apache.out"),
    );
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let host = "h2c.ht12.test";
    let (sent, got) = capture_around(&dir, port, || {
        let mut c = Counts::new();
        // Each request upgrades its own connection (101, then its response on stream
        // 1): Apache sends GOAWAY (last stream 1) after an upgraded request, so a second
        // URL on the connection would race it.
        let h = format!("Host: {host}");
        for (path, want) in [("/index.html", "200"), ("/missing", "404")] {
            let got = curl(&["--http2", "-H", &h, &url(path)]);
            assert_eq!(got, [(want.into(), "2".into())], "curl --http2 GET {path}");
            count_request(&mut c, "GET", host);
            count_status(&mut c, want);
            bump(&mut c, "interim", 1);
        }
        // HEAD upgraded.
        let got = curl(&["--http2", "-I", "-H", &h, &url("/api/data.json")]);
        assert_eq!(got, [("200".into(), "2".into())], "curl --http2 HEAD");
        count_request(&mut c, "HEAD", host);
        count_status(&mut c, "200");
        bump(&mut c, "interim", 1);
        // A POST with a body: mod_http2 does not upgrade it (it stays HTTP/1.1), which
        // curl reports; counted either way.
        let got = curl(&[
            "--http2",
            "-H",
            &h,
            "--data-binary",
            "k=v",
            &url("/index.html"),
        ]);
        assert_eq!(got.len(), 1, "curl --http2 POST");
        count_request(&mut c, "POST", host);
        count_status(&mut c, &got[0].0);
        if got[0].1 == "2" {
            bump(&mut c, "interim", 1);
        }
        c
    });
    let mut failures = Vec::new();
    compare(
        "apache h2c",
        &sent,
        &got,
        port,
        DecodeAs::Http,
        &mut failures,
    );
    let h2 = check_h2_records("apache h2c", &got.live, true, &mut failures);
    // GET, GET and HEAD on stream 1 of upgraded connections (the POST stays HTTP/1.1).
    if h2 < 3 {
        failures.push(format!(
            "apache h2c: {h2} HTTP/2 exchanges live, at least 3 sent"
        ));
    }
    finish(failures);
}

#[test]
fn nginx_h2c_with_curl_and_nghttp() {
    if !require(is_root(), "root (capture on lo)")
        || !require(nginx().is_some(), "nginx (nginx-light)")
        || !require(have("nghttp"), "nghttp (nghttp2-client)")
        || !require(have("tcpdump") && have("tshark"), "tcpdump and tshark")
        || !require(have("curl"), "curl")
    {
        return;
    }
    let dir = TempDir::new("ht12-nginx");
    let port = free_port();
    let www = docroot(&dir.0);
    let _server = start_nginx_h2c(&dir.0, &www, port, "");
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let (sent, got) = capture_around(&dir, port, || {
        let mut c = Counts::new();
        let h = ["--http2-prior-knowledge", "-H", "Host: nginx.ht12.test"];
        for (extra, path, method, want) in [
            (&[][..], "/index.html", "GET", "200"),
            (&[][..], "/missing", "GET", "404"),
            (&["-I"][..], "/api/data.json", "HEAD", "200"),
            // Not a POST with a body: nginx answers 405 and resets the stream before
            // reading it, which curl 7.88 sometimes reports as an error (exit 92).
            (&["-X", "DELETE"][..], "/index.html", "DELETE", "405"),
        ] {
            let got = curl(&[&h[..], extra, &[&url(path)]].concat());
            assert_eq!(got, [(want.into(), "2".into())], "curl {method} {path}");
            count_request(&mut c, method, "nginx.ht12.test");
            count_status(&mut c, want);
        }
        let st = nghttp(
            &["-H", ":authority: nghttp.ht12.test"],
            &[url("/index.html"), url("/api/data.json")],
        );
        assert_eq!(st, ["200", "200"], "nghttp statuses");
        for s in &st {
            count_request(&mut c, "GET", "nghttp.ht12.test");
            count_status(&mut c, s);
        }
        c
    });
    let mut failures = Vec::new();
    compare(
        "nginx h2c",
        &sent,
        &got,
        port,
        DecodeAs::Http2,
        &mut failures,
    );
    let h2 = check_h2_records("nginx h2c", &got.live, false, &mut failures);
    if h2 != 6 {
        failures.push(format!("nginx h2c: {h2} HTTP/2 exchanges live, 6 sent"));
    }
    let row = protocol_row(&httptop_report(&got.capture), "http/2");
    if row != (5, 6) {
        failures.push(format!("nginx h2c: http/2 row {row:?}, want (5, 6)"));
    }
    finish(failures);
}

#[test]
fn grpc_unary_and_streaming_calls_with_errors() {
    let python = python_with("grpc");
    if !require(is_root(), "root (capture on lo)")
        || !require(python.is_some(), "python3 with grpc (python3-grpcio)")
        || !require(have("tcpdump") && have("tshark"), "tcpdump and tshark")
    {
        return;
    }
    let python = python.expect("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grpc_ht12.py");
    let dir = TempDir::new("ht12-grpc");
    let port = free_port();
    // The server runs until its standard input closes: piped, and dropped with it.
    let mut server = Command::new(&python)
        .arg(&script)
        .args(["server", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path("server.err")).expect("log"))
        .spawn()
        .expect("start the gRPC server");
    let stdin = server.stdin.take();
    let server = Killed(server);
    common::h2::wait_listening(port, "gRPC server");

    // (path, grpc-status, calls, grpc-message): grpc_ht12.py's PLAN.
    let plan: &[(&str, u32, i64, &str)] = &[
        ("/ht12.Catalog/Get", 0, 5, ""),
        ("/ht12.Catalog/Get", 5, 3, "no such item"),
        ("/ht12.Catalog/Get", 14, 2, "backend down"),
        ("/ht12.Catalog/List", 0, 3, ""),
        ("/ht12.Catalog/List", 5, 2, "no such list"),
    ];
    let names = |s: u32| match s {
        0 => "OK",
        5 => "NOT_FOUND",
        14 => "UNAVAILABLE",
        _ => "?",
    };
    let (sent, got) = capture_around(&dir, port, || {
        let out = run_bounded(
            Command::new(&python)
                .arg(&script)
                .args(["client", &port.to_string()]),
            CLIENT_LIMIT,
        );
        let reported: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("client summary");
        let mut c = Counts::new();
        for &(path, status, n, _) in plan {
            assert_eq!(
                reported[format!("{path} {}", names(status))],
                n,
                "client outcomes: {reported}"
            );
            for _ in 0..n {
                count_request(&mut c, "POST", "catalog.ht12.test");
                // Every call is answered 200; its outcome is grpc-status.
                count_status(&mut c, "200");
                bump(&mut c, format!("grpc:{status}"), 1);
            }
        }
        c
    });
    drop(stdin);
    let mut server = server;
    wait_bounded(&mut server.0, Duration::from_secs(10), "gRPC server");

    let mut failures = Vec::new();
    compare("grpc", &sent, &got, port, DecodeAs::Http2, &mut failures);
    check_h2_records("grpc", &got.live, false, &mut failures);
    // Per call: path, gRPC status and message, the `grpc` flag.
    let mut calls = Counts::new();
    for r in got.live.iter().filter(|r| r["type"] == "exchange") {
        let grpc = r["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "grpc"));
        bump(
            &mut calls,
            format!(
                "{} {} {} grpc={grpc}",
                r["path"].as_str().unwrap_or("?"),
                r["grpc_status"],
                // null when the call has none.
                match &r["grpc_message"] {
                    serde_json::Value::Null => "",
                    m => m.as_str().unwrap_or("?"),
                },
            ),
            1,
        );
    }
    let mut want = Counts::new();
    for &(path, status, n, message) in plan {
        bump(&mut want, format!("{path} {status} {message} grpc=true"), n);
    }
    let d = diff(&calls, &want);
    if !d.is_empty() {
        failures.push(format!("grpc: calls logged minus made: {d:?}"));
    }
    let report = httptop_report(&got.capture);
    for (name, want) in [("http/2", (1, 15)), ("grpc", (1, 15))] {
        let row = protocol_row(&report, name);
        if row != want {
            failures.push(format!("grpc: {name} row {row:?}, want {want:?}"));
        }
    }
    finish(failures);
}
