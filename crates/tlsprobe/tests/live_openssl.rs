//! Root-only: the probe sees curl's and python3's TLS plaintext against `openssl s_server
//! -WWW` (certificate made here), with the right process, 4-tuple (compared with the
//! client's own local port) and order per connection; nothing stays attached after drop.
//! Skips with a message when not root. Needs `openssl`, `curl`, `python3`, `bpftool`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use httptop_tlsprobe::{
    AttachError, ConnKey, Direction, Probe, ProbeEvent, ProbeOptions, PROGRAM_NAMES,
};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Ids of our loaded programs (by name, full or cut at 15 bytes).
fn our_program_ids() -> Vec<u64> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("bpftool runs");
    let progs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    progs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            let name = p["name"].as_str().unwrap_or("");
            PROGRAM_NAMES
                .iter()
                .any(|n| *n == name || &n[..n.len().min(15)] == name)
        })
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

/// Links (bpftool link show) whose program is one of `ids`.
fn links_of(ids: &[u64]) -> usize {
    let out = Command::new("bpftool")
        .args(["-j", "link", "show"])
        .output()
        .expect("bpftool runs");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["prog_id"].as_u64().is_some_and(|id| ids.contains(&id)))
        .count()
}

/// Program names of ours that `bpftool prog show` lists (names cut at 15 bytes by the kernel).
fn our_programs_loaded() -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show"])
        .output()
        .expect("bpftool runs");
    let text = String::from_utf8_lossy(&out.stdout);
    PROGRAM_NAMES
        .iter()
        .filter(|n| {
            // bpftool prints the full name from BTF when it has it, else the kernel's 15 bytes.
            let cut = &n[..n.len().min(15)];
            text.contains(&format!("\"name\":\"{n}\""))
                || text.contains(&format!("\"name\":\"{cut}\""))
        })
        .map(|n| n.to_string())
        .collect()
}

#[derive(Debug)]
struct Seen {
    comm: String,
    dir: Direction,
    offset: u64,
    data: Vec<u8>,
    local: Option<std::net::SocketAddr>,
    remote: Option<std::net::SocketAddr>,
}

#[test]
fn sees_curl_and_python_plaintext_with_tuples_and_detaches() {
    if !is_root() {
        eprintln!("skipped: the eBPF probe needs root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ht14tlsprobe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(st.success());
    for i in 0..3 {
        std::fs::write(
            dir.join(format!("path{i}.txt")),
            format!("body number {i}\n"),
        )
        .expect("write");
    }

    let mut probe = Probe::attach(&ProbeOptions::default()).expect("attach as root");
    assert!(!probe.libraries().is_empty());
    assert_eq!(
        our_programs_loaded().len(),
        PROGRAM_NAMES.len(),
        "all programs loaded"
    );

    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = Killed(
        Command::new("openssl")
            .args([
                "s_server",
                "-WWW",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
            ])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_server starts"),
    );
    // s_server prints ACCEPT once it listens.
    let stdout = server.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ACCEPT") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("s_server listening");

    // Three curl requests (each its own process) and one python3 request.
    let mut clients: HashMap<u32, (String, u16)> = HashMap::new(); // pid -> (path, local port)
    for i in 0..3 {
        let path = format!("/path{i}.txt");
        let child = Command::new("curl")
            .args([
                "-sk",
                "--http1.1",
                "--max-time",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{local_port}",
            ])
            .arg(format!("https://127.0.0.1:{port}{path}"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl runs");
        let pid = child.id();
        let out = child.wait_with_output().expect("curl ends");
        assert!(out.status.success(), "curl {path}");
        let local: u16 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("curl prints its local port");
        clients.insert(pid, (path, local));
    }
    let py = "import ssl,sys,urllib.request\n\
              c=ssl._create_unverified_context()\n\
              r=urllib.request.urlopen(sys.argv[1],context=c,timeout=5)\n\
              assert r.read()==b'body number 2\\n'\n";
    let child = Command::new("python3")
        .args(["-c", py, &format!("https://127.0.0.1:{port}/path2.txt")])
        .spawn()
        .expect("python3 runs");
    let py_pid = child.id();
    assert!(child
        .wait_with_output()
        .expect("python ends")
        .status
        .success());

    // Collect until every client connection has its request and response (bounded).
    let mut seen: HashMap<ConnKey, Vec<Seen>> = HashMap::new();
    let mut closed: Vec<ConnKey> = Vec::new();
    let wanted = |seen: &HashMap<ConnKey, Vec<Seen>>| {
        let done = |pid: u32| {
            seen.iter()
                .any(|(k, v)| k.pid == pid && v.iter().any(|s| s.dir == Direction::Read))
        };
        clients.keys().all(|&p| done(p)) && done(py_pid)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !(wanted(&seen) && closed.len() >= 4) {
        probe
            .poll(Duration::from_millis(100), 4096, |ev| match ev {
                ProbeEvent::Data(c) => seen.entry(c.conn).or_default().push(Seen {
                    comm: c.comm_lossy().into_owned(),
                    dir: c.dir,
                    offset: c.offset,
                    data: c.data.to_vec(),
                    local: c.sockets.map(|s| s.local),
                    remote: c.sockets.map(|s| s.remote),
                }),
                ProbeEvent::Closed { conn, .. } => {
                    if clients.contains_key(&conn.pid) || conn.pid == py_pid {
                        closed.push(conn)
                    }
                }
            })
            .expect("poll");
    }

    let server_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    for (&pid, (path, local_port)) in &clients {
        let conns: Vec<(&ConnKey, &Vec<Seen>)> =
            seen.iter().filter(|(k, _)| k.pid == pid).collect();
        assert_eq!(
            conns.len(),
            1,
            "curl {pid} made one TLS connection: {conns:?}"
        );
        let (key, evs) = conns[0];
        assert!(closed.contains(key), "SSL_free of curl {pid} seen");
        let w: Vec<&Seen> = evs.iter().filter(|s| s.dir == Direction::Write).collect();
        let r: Vec<&Seen> = evs.iter().filter(|s| s.dir == Direction::Read).collect();
        assert!(evs.iter().all(|s| s.comm == "curl"), "{evs:?}");
        let request = format!("GET {path} HTTP/1.1\r\n");
        assert!(
            w[0].data.starts_with(request.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&w[0].data)
        );
        assert!(
            r[0].data.starts_with(b"HTTP/1.0 200 ok\r\n"),
            "{:?}",
            String::from_utf8_lossy(&r[0].data)
        );
        // Order per SSL*: the request is written before the response is read, and each
        // direction's offsets run without a gap.
        let pos = |needle: &Seen| {
            evs.iter()
                .position(|s| std::ptr::eq(s, needle))
                .expect("in list")
        };
        assert!(pos(w[0]) < pos(r[0]));
        for dir in [&w, &r] {
            let mut next = 0;
            for s in dir.iter() {
                assert_eq!(s.offset, next, "no gap");
                next += s.data.len() as u64;
            }
        }
        let body: Vec<u8> = r.iter().flat_map(|s| s.data.iter().copied()).collect();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.ends_with(&format!("body number {}\n", &path[5..6])),
            "{body:?}"
        );
        // The 4-tuple is the one curl itself reports.
        for s in evs {
            assert_eq!(
                s.local,
                Some(format!("127.0.0.1:{local_port}").parse().expect("addr"))
            );
            assert_eq!(s.remote, Some(server_addr));
        }
    }
    let py_conns: Vec<&Vec<Seen>> = seen
        .iter()
        .filter(|(k, _)| k.pid == py_pid)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(py_conns.len(), 1);
    let evs = py_conns[0];
    assert!(
        evs.iter()
            .all(|s| s.comm == "python3" && s.remote == Some(server_addr)),
        "{evs:?}"
    );
    assert!(evs
        .iter()
        .any(|s| s.dir == Direction::Write && s.data.starts_with(b"GET /path2.txt HTTP/1.1\r\n")));
    assert!(evs
        .iter()
        .any(|s| s.dir == Direction::Read && s.data.starts_with(b"HTTP/1.0 200 ok\r\n")));

    let stats = probe.stats().expect("stats");
    eprintln!("probe stats: {stats:?}");
    assert_eq!(stats.malformed, 0);
    assert_eq!(
        stats.lost, 0,
        "a 8 MiB ring does not overflow for a handful of requests"
    );

    let ids = our_program_ids();
    let links = links_of(&ids);
    eprintln!("{} programs, {links} links attached", ids.len());
    assert_eq!(ids.len(), PROGRAM_NAMES.len());
    assert!(
        links >= ids.len(),
        "one link per program and library at least: {links}"
    );
    drop(probe);
    assert_eq!(
        our_programs_loaded(),
        Vec::<String>::new(),
        "every program unloaded after drop"
    );
    assert_eq!(links_of(&ids), 0, "no link stays after drop");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_and_missing_library_are_one_line_errors() {
    let e = Probe::attach(&ProbeOptions {
        capture_bytes: 0,
        ..ProbeOptions::default()
    })
    .expect_err("0 bytes");
    assert!(matches!(e, AttachError::Option(_)), "{e}");
    let e = Probe::attach(&ProbeOptions {
        ring_bytes: 5000,
        ..ProbeOptions::default()
    })
    .expect_err("not a power of two");
    assert!(matches!(e, AttachError::Option(_)), "{e}");
    let opts = ProbeOptions {
        libssl: vec![PathBuf::from("/nonexistent/libssl.so.3")],
        ..ProbeOptions::default()
    };
    let e = Probe::attach(&opts).expect_err("no such library");
    if is_root() {
        assert!(matches!(e, AttachError::NoLibssl(_)), "{e}");
        assert!(e.to_string().contains("--libssl"), "{e}");
    } else {
        assert!(matches!(e, AttachError::Permission(_)), "{e}");
    }
    assert!(!e.to_string().contains('\n'));
}
