//! Proxies in front of the host, with real components, each capture compared with
//! tshark (requests, counts per method, Host and status) and the `original_client` of
//! every logged request checked against the address curl really used:
//!
//! - haproxy `send-proxy` (PROXY v1) and `send-proxy-v2` in front of nginx `listen ...
//!   proxy_protocol`, and haproxy `option forwardfor` (X-Forwarded-For) in front of a
//!   plain listener; curl binds 127.0.0.2 so the original client differs from the wire
//!   client (haproxy, 127.0.0.1); captured between haproxy and nginx;
//! - a SOCKS5 proxy and an HTTP CONNECT proxy (`proxies/proxies.py`, Python's standard
//!   library) used by `curl --socks5` and `curl -p -x`; captured between curl and the
//!   proxy (no original client there).
//!
//! tshark needs decode-as rules: HTTP on the nginx ports, SOCKS on the SOCKS port, HTTP
//! on the CONNECT proxy's port and on the tunnel's target port (tshark 4.0 dissects a
//! CONNECT tunnel by the target port). Its PROXY protocol dissector is not applied under
//! decode-as HTTP, but its HTTP dissector skips the header line (v1) or finds the request
//! after it (v2), so the HTTP counts compare.
//!
//! Needs root (capture on `lo`), tcpdump, tshark, nginx, haproxy, curl and python3
//! (`.ci/run` installs them); skipped with a message otherwise (failing under CI=true).
//! Ports are free ones picked at start; every process is killed when the test ends.

mod common;

use common::live::{flush_capture, free_port, is_root, nginx, require, start_tcpdump, Killed};
use common::{bin, TempDir};
use std::collections::BTreeMap;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn has(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn environment_ok() -> bool {
    require(is_root(), "root (capture on lo)")
        && require(nginx().is_some(), "nginx (nginx-light)")
        && ["tcpdump", "tshark", "haproxy", "curl", "python3"]
            .iter()
            .all(|t| require(has(t), t))
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(cmd: &mut Command, what: &str) -> Killed {
    Killed(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}")),
    )
}

/// nginx serving `www` on `plain` and, with `proxy_protocol`, on `proxied`.
fn start_nginx(dir: &Path, plain: u16, proxied: &[u16]) -> Killed {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("docroot");
    std::fs::write(www.join("index.html"), "<html>proxied</html>\n").expect("index");
    let listens: String = proxied
        .iter()
        .map(|p| format!("  listen 127.0.0.1:{p} proxy_protocol;\n"))
        .collect();
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{\n  listen 127.0.0.1:{plain};\n{listens}  root {www};\n  location / {{ }}\n }}\n}}\n",
        d = dir.display(),
        www = www.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let k = spawn(
        Command::new(nginx().expect("nginx"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir),
        "nginx",
    );
    wait_port(plain, "nginx");
    k
}

/// Requests, methods, hosts and statuses, as counted on both sides.
type Counts = BTreeMap<String, u64>;

/// tshark's reading of `file` with `opts` (decode-as rules, preferences).
fn tshark_counts(file: &Path, opts: &[String]) -> Counts {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(opts);
    let out = cmd
        .args(["-Y", "http.request or http.response", "-T", "fields"])
        .args(["-e", "http.request.method", "-e", "http.host"])
        .args(["-e", "http.response.code", "-E", "occurrence=a"])
        .stderr(Stdio::null())
        .output()
        .expect("tshark");
    let mut c = Counts::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if let Some(m) = f.first().filter(|m| !m.is_empty()) {
            *c.entry("requests".into()).or_default() += 1;
            *c.entry(format!("method:{m}")).or_default() += 1;
            let h = f.get(1).copied().unwrap_or("");
            *c.entry(format!("host:{h}")).or_default() += 1;
        }
        if let Some(s) = f.get(2).filter(|s| !s.is_empty()) {
            *c.entry(format!("status:{s}")).or_default() += 1;
        }
    }
    c
}

fn httptop_log(file: &Path, log: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(bin())
        .arg("-r")
        .arg(file)
        .arg("--log")
        .arg(log)
        .arg("-q")
        .output()
        .expect("httptop");
    assert!(out.status.success(), "httptop: {out:?}");
    std::fs::read_to_string(log)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .filter(|v: &serde_json::Value| v["type"] == "exchange")
        .collect()
}

fn log_counts(log: &[serde_json::Value]) -> Counts {
    let mut c = Counts::new();
    for x in log {
        let flags = x["flags"].as_array().cloned().unwrap_or_default();
        if !flags.iter().any(|f| f == "no_request") {
            *c.entry("requests".into()).or_default() += 1;
            *c.entry(format!("method:{}", x["method"].as_str().unwrap_or("")))
                .or_default() += 1;
            *c.entry(format!("host:{}", x["host"].as_str().unwrap_or("")))
                .or_default() += 1;
        }
        if let Some(s) = x["status"].as_u64() {
            *c.entry(format!("status:{s}")).or_default() += 1;
        }
    }
    c
}

/// One curl request: extra arguments, then the URL; returns `local_ip:local_port`.
fn curl(args: &[&str], url: &str) -> (String, u16) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{local_ip} %{local_port} %{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<&str> = text.split(' ').collect();
    assert_eq!(f.len(), 3, "curl said {text:?}");
    let code: u16 = f[2].parse().expect("status");
    assert!(code >= 200, "curl {args:?} {url}: {text}");
    (format!("{}:{}", f[0], f[1]), code)
}

/// The requests every scenario sends: (curl arguments, path, expected status).
const PLAN: &[(&[&str], &str, u16)] = &[
    (&[], "/index.html", 200),
    (&["-I"], "/index.html", 200),
    (&[], "/missing", 404),
    (&["-X", "POST", "-d", "x=1"], "/index.html", 405),
    (&["-X", "DELETE"], "/", 405),
];

#[test]
fn haproxy_proxy_protocol_and_forwarded_for_name_the_original_client() {
    if !environment_ok() {
        return;
    }
    let dir = TempDir::new("proxies-haproxy");
    let [plain, v1, v2, f1, f2, f3, marker] = [(); 7].map(|_| free_port());
    let _nginx = start_nginx(&dir.0, plain, &[v1, v2]);
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n\
         frontend f1\n  bind 127.0.0.1:{f1}\n  default_backend b1\n\
         frontend f2\n  bind 127.0.0.1:{f2}\n  default_backend b2\n\
         frontend f3\n  bind 127.0.0.1:{f3}\n  option forwardfor\n  default_backend b3\n\
         backend b1\n  server n1 127.0.0.1:{v1} send-proxy\n\
         backend b2\n  server n2 127.0.0.1:{v2} send-proxy-v2\n\
         backend b3\n  server n3 127.0.0.1:{plain}\n"
    );
    std::fs::write(dir.path("haproxy.cfg"), cfg).expect("haproxy.cfg");
    let _haproxy = spawn(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(dir.path("haproxy.cfg")),
        "haproxy",
    );
    for p in [f1, f2, f3] {
        wait_port(p, "haproxy");
    }
    let cap = dir.path("haproxy.pcap");
    let tcpdump = start_tcpdump(&cap, &[v1, v2, plain, marker]);
    // (frontend, how the original client is written: with the port for PROXY, the IP
    // alone for X-Forwarded-For)
    let mut expected = Vec::new();
    for (front, with_port) in [(f1, true), (f2, true), (f3, false)] {
        for (args, path, status) in PLAN {
            let mut a = vec!["--interface", "127.0.0.2"];
            a.extend_from_slice(args);
            let (local, code) = curl(&a, &format!("http://127.0.0.1:{front}{path}"));
            assert_eq!(code, *status, "{args:?} {path} via {front}");
            let oc = if with_port {
                local
            } else {
                local.split(':').next().unwrap_or("").to_string()
            };
            expected.push((path.to_string(), oc));
        }
    }
    flush_capture(&cap, marker);
    drop(tcpdump);
    let log = httptop_log(&cap, &dir.path("log.jsonl"));
    let decode: Vec<String> = [v1, v2, plain]
        .iter()
        .flat_map(|p| ["-d".to_string(), format!("tcp.port=={p},http")])
        .collect();
    let tshark = tshark_counts(&cap, &decode);
    assert_eq!(log_counts(&log), tshark, "httptop vs tshark");
    assert_eq!(tshark["requests"], PLAN.len() as u64 * 3);
    let got: Vec<(String, String)> = log
        .iter()
        .map(|x| {
            (
                x["path"].as_str().unwrap_or("").to_string(),
                x["original_client"].as_str().unwrap_or("null").to_string(),
            )
        })
        .collect();
    assert_eq!(got, expected, "original clients, in request order");
    for x in &log {
        assert!(
            x["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.0.1:")),
            "the wire client is haproxy: {x}"
        );
    }
    // The counters of the prefaces, and the clients table by original client.
    let out = Command::new(bin())
        .arg("-r")
        .arg(&cap)
        .args(["--clients-by", "forwarded", "--output", "json"])
        .output()
        .expect("httptop");
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("proxy_v1 {}", PLAN.len()))
            && stderr.contains(&format!("proxy_v2 {}", PLAN.len())),
        "{stderr}"
    );
    assert!(
        text.contains("127.0.0.2"),
        "clients by original client: {text}"
    );
}

/// `curl` through a proxy started from `proxies/proxies.py` (`kind`: socks5 or connect).
fn through_proxy(
    kind: &str,
    curl_proxy: &dyn Fn(u16) -> Vec<String>,
    decode: &dyn Fn(u16, u16) -> Vec<String>,
) {
    if !environment_ok() {
        return;
    }
    let dir = TempDir::new(&format!("proxies-{kind}"));
    let [plain, proxy, marker] = [(); 3].map(|_| free_port());
    let _nginx = start_nginx(&dir.0, plain, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proxies/proxies.py");
    let _proxy = spawn(
        Command::new("python3")
            .arg(script)
            .arg(kind)
            .arg(proxy.to_string()),
        kind,
    );
    wait_port(proxy, kind);
    let cap = dir.path("proxy.pcap");
    let tcpdump = start_tcpdump(&cap, &[proxy, marker]);
    let via = curl_proxy(proxy);
    for (args, path, status) in PLAN {
        let mut a: Vec<&str> = via.iter().map(String::as_str).collect();
        a.extend_from_slice(args);
        let (_, code) = curl(&a, &format!("http://127.0.0.1:{plain}{path}"));
        assert_eq!(code, *status, "{args:?} {path}");
    }
    flush_capture(&cap, marker);
    drop(tcpdump);
    let log = httptop_log(&cap, &dir.path("log.jsonl"));
    let tshark = tshark_counts(&cap, &decode(proxy, plain));
    assert_eq!(log_counts(&log), tshark, "httptop vs tshark");
    let inner = log
        .iter()
        .filter(|x| x["method"] != "CONNECT")
        .collect::<Vec<_>>();
    assert_eq!(inner.len(), PLAN.len(), "{log:?}");
    for x in &log {
        assert!(x["original_client"].is_null(), "{x}");
        assert_eq!(x["host"], format!("127.0.0.1:{plain}"));
    }
}

#[test]
fn http_after_a_socks5_handshake_is_parsed() {
    through_proxy(
        "socks5",
        &|p| vec!["--socks5".into(), format!("127.0.0.1:{p}")],
        // Through SOCKS, tshark's HTTP does not pair a HEAD response with its request and
        // waits for a body that never comes: heads are compared, not bodies.
        &|proxy, _| {
            vec![
                "-d".into(),
                format!("tcp.port=={proxy},socks"),
                "-o".into(),
                "http.desegment_body:FALSE".into(),
            ]
        },
    );
}

#[test]
fn http_inside_a_connect_tunnel_is_parsed() {
    through_proxy(
        "connect",
        &|p| vec!["-p".into(), "-x".into(), format!("http://127.0.0.1:{p}")],
        &|proxy, plain| {
            vec![
                "-d".into(),
                format!("tcp.port=={proxy},http"),
                "-d".into(),
                format!("tcp.port=={plain},http"),
            ]
        },
    );
}
