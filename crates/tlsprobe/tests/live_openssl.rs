//! Root-only: the probe sees curl's and python3's TLS plaintext against `openssl s_server
//! -WWW` (certificate made here), and the server's own side (read and written through a
//! `BIO_f_ssl`), with the right process, 4-tuple (compared with the client's own local
//! port) and order per connection; nothing stays attached after drop.
//! Skips with a message when not root. Needs `openssl`, `curl`, `python3`, `bpftool`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use httptop_tlsprobe::{
    AttachError, ConnKey, Direction, Probe, ProbeEvent, ProbeOptions, SocketHook, PROGRAM_NAMES,
};

/// The live tests attach the same programs: one at a time, so "nothing stays after drop"
/// sees only its own.
static LIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A scratch directory removed when the test ends, also on failure.
struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// bpftool lives in /usr/sbin on Debian, which a non-login root PATH may lack.
fn bpftool() -> &'static str {
    if std::path::Path::new("/usr/sbin/bpftool").exists() {
        "/usr/sbin/bpftool"
    } else {
        "bpftool"
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Ids of the BPF programs this process holds (the `prog_id` of its descriptors in
/// `/proc/self/fdinfo`): the same programs loaded by another process, a concurrent test run
/// say, are not counted.
fn our_program_ids() -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir("/proc/self/fdinfo")
        .expect("fdinfo")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("prog_id:")?.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Which of `ids` the kernel still has loaded (`bpftool prog show`).
fn still_loaded(ids: &[u64]) -> Vec<u64> {
    let out = Command::new(bpftool())
        .args(["-j", "prog", "show"])
        .output()
        .expect("bpftool runs");
    let progs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    progs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["id"].as_u64())
        .filter(|id| ids.contains(id))
        .collect()
}

/// Links (bpftool link show) whose program is one of `ids`.
fn links_of(ids: &[u64]) -> usize {
    let out = Command::new(bpftool())
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

#[derive(Debug)]
struct Seen {
    comm: String,
    dir: Direction,
    offset: u64,
    from_start: bool,
    data: Vec<u8>,
    local: Option<std::net::SocketAddr>,
    remote: Option<std::net::SocketAddr>,
}

#[test]
fn sees_curl_and_python_plaintext_with_tuples_and_detaches() {
    sees_curl_and_python(SocketHook::Auto);
}

/// The same through the fallback of kernels before 6.3 (4-tuples from `sys_enter`).
#[test]
fn sees_curl_and_python_with_tuples_from_sys_enter() {
    sees_curl_and_python(SocketHook::Syscalls);
}

/// Programs of the socket hooks the probe does not use are not loaded.
fn expected_programs(probe: &Probe) -> usize {
    let unused = match probe.socket_hook() {
        Some("sock_send_length/sock_recv_length") => 1, // sys_enter
        Some("sys_enter") => 2, // sock_send, sock_recv (a kernel that has them loads them)
        _ => 3,
    };
    PROGRAM_NAMES.len() - unused
}

fn sees_curl_and_python(hook: SocketHook) {
    if !is_root() {
        eprintln!("skipped: the eBPF probe needs root");
        return;
    }
    let _one_at_a_time = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("ht14tlsprobe-{}", std::process::id()));
    let _scratch = Scratch(dir.clone());
    let (key, cert) = self_signed(&dir);
    for i in 0..3 {
        std::fs::write(
            dir.join(format!("path{i}.txt")),
            format!("body number {i}\n"),
        )
        .expect("write");
    }

    let mut probe = Probe::attach(&ProbeOptions {
        socket_hook: hook,
        ..ProbeOptions::default()
    })
    .expect("attach as root");
    assert!(!probe.libraries().is_empty());
    if hook == SocketHook::Syscalls {
        assert_eq!(probe.socket_hook(), Some("sys_enter"));
    }
    assert_eq!(
        our_program_ids().len(),
        expected_programs(&probe),
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

    // Collect until every client connection has its request and response, and the
    // server its four connections (bounded).
    let server_pid = server.0.id();
    // Per connection in order of appearance; an SSL* freed and reused is a new entry.
    let mut seen: Vec<(ConnKey, Vec<Seen>)> = Vec::new();
    let mut open: HashMap<ConnKey, usize> = HashMap::new();
    let mut closed: Vec<(ConnKey, u64, u64, bool)> = Vec::new(); // key, written, read, from_start
    let wanted = |seen: &Vec<(ConnKey, Vec<Seen>)>| {
        let done = |pid: u32| {
            seen.iter()
                .any(|(k, v)| k.pid == pid && v.iter().any(|s| s.dir == Direction::Read))
        };
        let server_conns = seen
            .iter()
            .filter(|(k, v)| k.pid == server_pid && v.iter().any(|s| s.dir == Direction::Write))
            .count();
        clients.keys().all(|&p| done(p)) && done(py_pid) && server_conns >= 4
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !(wanted(&seen) && closed.len() >= 8) {
        probe
            .poll(Duration::from_millis(100), 4096, |ev| match ev {
                ProbeEvent::Data(c) => {
                    let i = *open.entry(c.conn).or_insert_with(|| {
                        seen.push((c.conn, Vec::new()));
                        seen.len() - 1
                    });
                    seen[i].1.push(Seen {
                        comm: c.comm_lossy().into_owned(),
                        dir: c.dir,
                        offset: c.offset,
                        from_start: c.from_start,
                        data: c.data.to_vec(),
                        local: c.sockets.map(|s| s.local),
                        remote: c.sockets.map(|s| s.remote),
                    });
                }
                ProbeEvent::Closed {
                    conn,
                    written,
                    read,
                    from_start,
                    ..
                } => {
                    open.remove(&conn);
                    if clients.contains_key(&conn.pid)
                        || conn.pid == py_pid
                        || conn.pid == server_pid
                    {
                        closed.push((conn, written, read, from_start))
                    }
                }
                ProbeEvent::Exited { .. } => {}
            })
            .expect("poll");
    }

    let server_addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    eprintln!(
        "clients {clients:?}, python {py_pid}, server {server_pid}; connections seen: {:?}; {:?}",
        seen.iter()
            .map(|(k, v)| (k.pid, v.len()))
            .collect::<Vec<_>>(),
        probe.stats()
    );
    for (&pid, (path, local_port)) in &clients {
        let conns: Vec<(&ConnKey, &Vec<Seen>)> = seen
            .iter()
            .map(|(k, v)| (k, v))
            .filter(|(k, _)| k.pid == pid)
            .collect();
        assert_eq!(
            conns.len(),
            1,
            "curl {pid} made one TLS connection: {conns:?}"
        );
        let (key, evs) = conns[0];
        let bytes = |d: Direction| -> u64 {
            evs.iter()
                .filter(|s| s.dir == d)
                .map(|s| s.data.len() as u64)
                .sum()
        };
        assert!(
            closed.contains(&(*key, bytes(Direction::Write), bytes(Direction::Read), true)),
            "SSL_free of curl {pid} seen with its totals: {closed:?}"
        );
        assert!(evs.iter().all(|s| s.from_start), "handshake seen: {evs:?}");
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

    // Seen through libssl's internal functions (this host's libssl shows them).
    assert_eq!(probe.internal(), &[true], "internal functions found");
    // The server's side, read and written through its BIO_f_ssl: one connection per
    // client, the mirror of the client's (same bytes the other way, tuple reversed).
    let server_conns: Vec<(&ConnKey, &Vec<Seen>)> = seen
        .iter()
        .map(|(k, v)| (k, v))
        .filter(|(k, _)| k.pid == server_pid)
        .collect();
    assert_eq!(server_conns.len(), 4, "one per client: {server_conns:?}");
    for (&pid, (path, local_port)) in &clients {
        let client_addr: std::net::SocketAddr =
            format!("127.0.0.1:{local_port}").parse().expect("addr");
        let (_, cevs) = seen
            .iter()
            .find(|(k, _)| k.pid == pid)
            .expect("client seen");
        let mine: Vec<&(&ConnKey, &Vec<Seen>)> = server_conns
            .iter()
            .filter(|(_, v)| v.iter().all(|s| s.remote == Some(client_addr)))
            .collect();
        let [(skey, sevs)] = mine[..] else {
            panic!("one server connection for {path} from {client_addr}: {mine:?}");
        };
        assert_ne!(skey.ssl, 0);
        assert!(
            sevs.iter()
                .all(|s| s.comm == "openssl" && s.from_start && s.local == Some(server_addr)),
            "{sevs:?}"
        );
        let stream = |evs: &Vec<Seen>, d: Direction| -> Vec<u8> {
            evs.iter()
                .filter(|s| s.dir == d)
                .flat_map(|s| s.data.iter().copied())
                .collect()
        };
        let (s_read, s_written) = (
            stream(sevs, Direction::Read),
            stream(sevs, Direction::Write),
        );
        assert!(s_read.starts_with(format!("GET {path} HTTP/1.1\r\n").as_bytes()));
        assert_eq!(
            s_read,
            stream(cevs, Direction::Write),
            "server read = client wrote"
        );
        assert_eq!(
            s_written,
            stream(cevs, Direction::Read),
            "server wrote = client read"
        );
        for d in [Direction::Read, Direction::Write] {
            let mut next = 0;
            for s in sevs.iter().filter(|s| s.dir == d) {
                assert_eq!(s.offset, next, "no gap");
                next += s.data.len() as u64;
            }
        }
        assert!(
            closed.contains(&(**skey, s_written.len() as u64, s_read.len() as u64, true)),
            "SSL_free of the server's connection for {path}: {closed:?}"
        );
    }

    let stats = probe.stats().expect("stats");
    eprintln!("probe stats: {stats:?}");
    assert_eq!(stats.malformed, 0);
    assert_eq!(stats.not_internal, 0);
    assert_eq!(
        stats.lost, 0,
        "a 8 MiB ring does not overflow for a handful of requests"
    );

    let ids = our_program_ids();
    let links = links_of(&ids);
    eprintln!("{} programs, {links} links attached", ids.len());
    assert_eq!(ids.len(), expected_programs(&probe));
    // On the internal functions, the four programs of SSL_read/SSL_write are not attached.
    assert!(
        links >= ids.len() - 4,
        "one link per attached program and library at least: {links}"
    );
    drop(probe);
    // The kernel frees programs after their last reference goes (deferred, RCU): bounded wait.
    let dropped = Instant::now();
    while !still_loaded(&ids).is_empty() && dropped.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("programs gone {:?} after drop", dropped.elapsed());
    assert_eq!(
        still_loaded(&ids),
        Vec::<u64>::new(),
        "every program unloaded after drop"
    );
    assert_eq!(links_of(&ids), 0, "no link stays after drop");
    drop(server);
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

/// A fresh self-signed certificate for `localhost` in `dir` (created): (key, cert) paths.
fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    std::fs::create_dir_all(dir).expect("temp dir");
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(st.success());
    (key, cert)
}

/// The setup of a live test against the echo server: `None` (the test is skipped, and
/// says so) without root; else the echo server in a scratch directory named after `tag`,
/// holding the live lock. Fields drop in order: server, directory, lock.
struct EchoRig {
    server: Killed,
    port: u16,
    _scratch: Scratch,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

fn echo_rig(tag: &str) -> Option<EchoRig> {
    if !is_root() {
        eprintln!("skipped: the eBPF probe needs root");
        return None;
    }
    let lock = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("ht14tlsprobe-{tag}-{}", std::process::id()));
    let scratch = Scratch(dir.clone());
    let (server, port) = echo_server(&dir);
    Some(EchoRig {
        server,
        port,
        _scratch: scratch,
        _one_at_a_time: lock,
    })
}

/// Starts `openssl s_server` (plain mode: it reads with SSL_read and discards) on a free
/// port with a fresh certificate; returns the server and its port.
fn echo_server(dir: &std::path::Path) -> (Killed, u16) {
    let (key, cert) = self_signed(dir);
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut server = Killed(
        Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_server starts"),
    );
    let stdout = server.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining what the server prints (the plaintext it read) so it never blocks.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ACCEPT") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("s_server listening");
    (server, port)
}

/// python3 writes `count` messages of `size` bytes over one TLS connection (SSL_write_ex
/// each), then, after a line on its stdin, `last\n` (5 bytes), and closes.
fn python_writer(port: u16, count: usize, size: usize) -> Child {
    let py = "import socket,ssl,sys\n\
              port,count,size=map(int,sys.argv[1:4])\n\
              c=ssl._create_unverified_context()\n\
              s=c.wrap_socket(socket.create_connection(('127.0.0.1',port),timeout=10))\n\
              msg=(b'%07d'%0)+b'x'*(size-8)+b'\\n'\n\
              for i in range(count): s.sendall((b'%07d'%i)+msg[7:])\n\
              print('written',flush=True)\n\
              sys.stdin.readline()\n\
              s.sendall(b'last\\n')\n\
              s.close()\n";
    Command::new("python3")
        .args([
            "-c",
            py,
            &port.to_string(),
            &count.to_string(),
            &size.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

/// The writes of `pid` as (offset, carried bytes, total) in arrival order.
type Writes = Vec<(u64, u64, u64)>;

fn collect_writes(probe: &mut Probe, pid: u32, writes: &mut Writes, wait: Duration) {
    probe
        .poll(wait, 1 << 20, |ev| {
            if let ProbeEvent::Data(c) = ev {
                if c.conn.pid == pid && c.dir == Direction::Write {
                    writes.push((c.offset, c.data.len() as u64, u64::from(c.total)));
                }
            }
        })
        .expect("poll");
}

/// Offsets never go back; carried bytes + gaps = every byte written.
fn account(writes: &Writes) -> (u64, u64) {
    let (mut next, mut carried, mut gaps) = (0u64, 0u64, 0u64);
    for &(offset, len, total) in writes {
        assert!(
            offset >= next,
            "offset {offset} went back (expected ≥ {next})"
        );
        gaps += offset - next + (total - len);
        carried += len;
        next = offset + total;
    }
    (carried, gaps)
}

/// A ring kept small and not read while a client writes: records are lost, and every lost
/// byte shows up as a gap of exactly its size in that connection's offsets (never a silent
/// hole); with a large ring read concurrently, nothing is lost (events/s printed).
#[test]
fn lost_records_are_counted_gaps_and_a_read_ring_loses_nothing() {
    let Some(rig) = echo_rig("gap") else {
        return;
    };
    let (server, port) = (rig.server, rig.port);
    const COUNT: usize = 4000;
    const SIZE: usize = 1000;
    let expected = (COUNT * SIZE) as u64;

    // 1. Tiny ring, not read until the client is done.
    let mut probe = Probe::attach(&ProbeOptions {
        ring_bytes: 16 << 10,
        ..ProbeOptions::default()
    })
    .expect("attach");
    let mut child = python_writer(port, COUNT, SIZE);
    let pid = child.id();
    let mut writes = Writes::new();
    // python says when its first writes are done, then blocks on stdin.
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("python speaks");
    assert_eq!(line, "written\n");
    // Drain, then let it write the last message.
    collect_writes(&mut probe, pid, &mut writes, Duration::from_millis(50));
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"go\n").expect("tell python");
    drop(stdin);
    assert!(child.wait().expect("python ends").success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while writes.last().is_none_or(|w| w.2 != 5) && Instant::now() < deadline {
        collect_writes(&mut probe, pid, &mut writes, Duration::from_millis(50));
    }
    let stats = probe.stats().expect("stats");
    drop(probe);
    let (carried, gaps) = account(&writes);
    eprintln!(
        "small ring: {} records of {}, {carried} bytes carried, {gaps} in gaps, {stats:?}",
        writes.len(),
        COUNT + 1
    );
    assert!(stats.lost > 0, "a 16 KiB ring cannot hold {expected} bytes");
    assert_eq!(
        writes.last().map(|w| w.2),
        Some(5),
        "the last message arrives after the drain"
    );
    assert!(gaps > 0);
    assert_eq!(
        carried + gaps,
        expected + 5,
        "every byte is carried or in a counted gap: no silent hole"
    );

    // 2. Default 8 MiB ring, read while the client writes.
    let mut probe = Probe::attach(&ProbeOptions::default()).expect("attach");
    let start = Instant::now();
    let mut child = python_writer(port, COUNT, SIZE);
    let pid = child.id();
    let mut writes = Writes::new();
    drop(child.stdin.take()); // EOF: python writes the last message right after the others
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        collect_writes(&mut probe, pid, &mut writes, Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    collect_writes(&mut probe, pid, &mut writes, Duration::from_millis(50));
    let stats = probe.stats().expect("stats");
    drop(probe);
    let (carried, gaps) = account(&writes);
    eprintln!(
        "8 MiB ring read concurrently: {} write records in {elapsed:?} ({:.0} records/s of this client; all processes: {stats:?})",
        writes.len(),
        writes.len() as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(writes.len(), COUNT + 1);
    assert_eq!((carried, gaps), (expected + 5, 0));
    drop(server);
}

/// A call larger than one record (16 KiB) comes as consecutive records that carry all of
/// its bytes, up to the capture per call; past that, the rest of the call is a counted gap
/// (not a silent hole): python's `sendall` of 100,000 bytes is one `SSL_write`.
#[test]
fn a_large_write_comes_whole_in_several_records() {
    let Some(rig) = echo_rig("big") else {
        return;
    };
    let (server, port) = (rig.server, rig.port);
    const COUNT: usize = 3;
    const SIZE: usize = 100_000;
    let mut expected = Vec::new();
    for i in 0..COUNT {
        expected.extend_from_slice(format!("{i:07}").as_bytes());
        expected.extend(std::iter::repeat_n(b'x', SIZE - 8));
        expected.push(b'\n');
    }
    expected.extend_from_slice(b"last\n");
    for cap in [ProbeOptions::default().capture_bytes, 40_000] {
        let mut probe = Probe::attach(&ProbeOptions {
            capture_bytes: cap,
            ..ProbeOptions::default()
        })
        .expect("attach");
        let mut child = python_writer(port, COUNT, SIZE);
        let pid = child.id();
        drop(child.stdin.take()); // python writes the last message right after the others
        let mut records: Vec<(u64, Vec<u8>, u64)> = Vec::new();
        let mut collect = |probe: &mut Probe, wait| {
            probe
                .poll(wait, 1 << 20, |ev| {
                    if let ProbeEvent::Data(c) = ev {
                        if c.conn.pid == pid && c.dir == Direction::Write {
                            records.push((c.offset, c.data.to_vec(), u64::from(c.total)));
                        }
                    }
                })
                .expect("poll");
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
            collect(&mut probe, Duration::from_millis(20));
        }
        collect(&mut probe, Duration::from_millis(50));
        drop(probe);
        let writes: Writes = records
            .iter()
            .map(|(o, d, t)| (*o, d.len() as u64, *t))
            .collect();
        let (carried, gaps) = account(&writes);
        assert_eq!(carried + gaps, expected.len() as u64, "cap {cap}");
        if cap as usize >= SIZE {
            // 100,000 bytes = 6 records of 16 KiB and one of 1,696, per call; then "last".
            assert_eq!(records.len(), COUNT * 7 + 1, "cap {cap}");
            assert_eq!(gaps, 0, "cap {cap}");
            let stream: Vec<u8> = records.iter().flat_map(|(_, d, _)| d.clone()).collect();
            assert!(
                stream == expected,
                "the records carry the bytes written, in order"
            );
        } else {
            // Two whole records, then 40,000 - 32,768 bytes and the rest of the call a gap.
            assert_eq!(records.len(), COUNT * 3 + 1, "cap {cap}");
            assert_eq!(gaps, (COUNT * (SIZE - cap as usize)) as u64, "cap {cap}");
        }
    }
    drop(server);
}

/// A connection open before the probe attached is picked up mid-stream: its records say
/// `from_start: false` (no handshake seen) and count from the first call seen.
#[test]
fn connection_open_before_attach_is_marked_mid_stream() {
    let Some(rig) = echo_rig("mid") else {
        return;
    };
    let (server, port) = (rig.server, rig.port);
    let py = "import socket,ssl,sys\n\
              c=ssl._create_unverified_context()\n\
              s=c.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[1])),timeout=10))\n\
              s.sendall(b'before attach\\n')\n\
              print('ready',flush=True)\n\
              sys.stdin.readline()\n\
              s.sendall(b'after attach\\n')\n\
              s.close()\n";
    let mut child = Killed(
        Command::new("python3")
            .args(["-c", py, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    let pid = child.0.id();
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("python speaks");
    assert_eq!(line, "ready\n");
    let mut probe = Probe::attach(&ProbeOptions::default()).expect("attach");
    let mut stdin = child.0.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"go\n").expect("tell python");
    drop(stdin);
    let mut writes: Vec<(u64, bool, Vec<u8>)> = Vec::new();
    let mut closed = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while closed.is_none() && Instant::now() < deadline {
        probe
            .poll(Duration::from_millis(100), 4096, |ev| match ev {
                ProbeEvent::Data(c) if c.conn.pid == pid && c.dir == Direction::Write => {
                    writes.push((c.offset, c.from_start, c.data.to_vec()))
                }
                ProbeEvent::Closed {
                    conn,
                    written,
                    from_start,
                    ..
                } if conn.pid == pid => closed = Some((written, from_start)),
                _ => {}
            })
            .expect("poll");
    }
    assert_eq!(writes, vec![(0, false, b"after attach\n".to_vec())]);
    assert_eq!(closed, Some((13, false)));
    drop(probe);
    drop(child);
    drop(server);
}
