//! Helpers of the tests that run against a real interface: root detection, skipping
//! (failing under `CI=true`) when the environment lacks something, and nginx on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn nginx() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Skips (or fails under CI) when the environment cannot run the test.
pub fn require(cond: bool, what: &str) -> bool {
    if cond {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |v| v != "true"),
        "CI must provide {what}"
    );
    eprintln!("skipped: needs {what}");
    false
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free on 127.0.0.1 now, never one this process was given before: the kernel
/// may hand the same ephemeral port to two binds in a row once the first listener is
/// closed, and two roles on one port (a server and a capture marker, say) break a test.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn start_nginx(dir: &Path, port: u16) -> Killed {
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("api")).expect("docroot");
    std::fs::write(www.join("index.html"), "<html>hello httptop</html>\n").expect("index");
    std::fs::write(
        www.join("api/users.json"),
        "[{\"id\":1},{\"id\":2}]\n".repeat(50),
    )
    .expect("json");
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{\n  listen 127.0.0.1:{port};\n  root {www};\n  location / {{ }}\n }}\n}}\n",
        d = dir.display(),
        www = www.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let child = Command::new(nginx().expect("nginx"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Killed(child)
}

/// httptop capturing live, started by [`start_capturing`]; killed if dropped.
pub struct Capturing {
    pub pid: u32,
    /// The line that said the capture is open.
    pub line: String,
    stderr: std::io::BufReader<std::process::ChildStderr>,
    child: Killed,
}

/// Spawns `cmd` (its standard error piped) and returns once httptop says the capture is
/// open: told, not waited for a fixed time.
pub fn start_capturing(cmd: &mut Command) -> Capturing {
    use std::io::BufRead;
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start httptop");
    let pid = child.id();
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let child = Killed(child);
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).expect("read httptop stderr");
        assert!(n > 0, "httptop exited before capturing");
        if line.contains("capturing on") {
            break;
        }
    }
    Capturing {
        pid,
        line,
        stderr,
        child,
    }
}

impl Capturing {
    /// SIGTERM, then the exit must be 0; returns the rest of its standard error.
    pub fn stop(mut self) -> String {
        use std::io::Read;
        let st = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        let status = self.child.0.wait().expect("wait httptop");
        let mut rest = String::new();
        let _ = self.stderr.read_to_string(&mut rest);
        assert!(status.success(), "httptop exit: {status:?}; stderr: {rest}");
        rest
    }
}

/// tcpdump on `lo` writing `file`, returned once it listens.
pub fn start_tcpdump(file: &Path, ports: &[u16]) -> Killed {
    let filter = ports
        .iter()
        .map(|p| format!("tcp port {p}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let mut child = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-s", "0", "-w"])
        .arg(file)
        .arg(&filter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tcpdump");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).expect("tcpdump stderr") > 0,
            "tcpdump exited"
        );
        if line.contains("listening on") {
            break;
        }
    }
    // Keep draining its standard error (it must not block on a full pipe).
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    Killed(child)
}

/// Sends a SYN to `marker` (nothing listens: RST) and waits until tcpdump has written it:
/// everything sent before is in the file.
pub fn flush_capture(file: &Path, marker: u16) {
    let _ = TcpStream::connect(("127.0.0.1", marker));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = std::fs::read(file).unwrap_or_default();
        // pcap, Ethernet (lo), IPv4 without options: TCP destination port at 36..38.
        let mut at = 24;
        while at + 16 <= data.len() {
            let len =
                u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
            let rec = &data[(at + 16).min(data.len())..(at + 16 + len).min(data.len())];
            if rec.len() >= 38 && u16::from_be_bytes([rec[36], rec[37]]) == marker {
                return;
            }
            at += 16 + len;
        }
        assert!(
            Instant::now() < deadline,
            "the capture never showed the marker"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
