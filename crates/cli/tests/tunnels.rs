//! HTTP inside tunnels built by the Linux kernel, captured on the underlay and compared
//! with tshark (issue 11, point 6).
//!
//! Two network namespaces (`ht11e-a`, `ht11e-b`) joined by a veth pair whose MTU (1280)
//! is below the tunnel's inner MTU (1500): the kernel fragments the outer packets of
//! every full-sized inner segment, so the capture holds fragmented tunnel packets.
//! Python's `http.server` listens on the inner address in `ht11e-b`; curl in `ht11e-a`
//! sends GETs of a 40 KB file, HEADs, a missing path and POSTs of 6 KB bodies. tcpdump
//! captures the underlay veth; httptop reads the file and its log must agree with
//! tshark's reading of the same file: the requests by method and Host, the responses by
//! status; every exchange logged with the tunnel's name; fragments reassembled.
//!
//! The inner frames (captured on the tunnel device at the same time) are then re-wrapped
//! by the test in every encapsulation httptop decodes that the kernel did not build
//! (Geneve, GRE with IP and with Ethernet, ERSPAN I/II/III, GTP-U, IP-in-IP, MPLS,
//! PPPoE, and the NFLOG link type), and each of those captures is compared with tshark
//! the same way.
//!
//! Each tunnel type the kernel lacks (`ip link add` answers "Unknown device type") is
//! skipped with a message; root is required (skipped otherwise, failed under CI).

mod common;

use common::bin;
use common::live::{is_root, require};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NS_A: &str = "ht11e-a";
const NS_B: &str = "ht11e-b";
const UNDERLAY_MTU: &str = "1280";

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn ok(args: &[&str]) {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn ns(ns: &str, args: &[&str]) -> Vec<String> {
    ["ip", "netns", "exec", ns]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect()
}

fn ok_in(n: &str, args: &[&str]) {
    let v = ns(n, args);
    ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The namespaces and everything in them; removed on drop (also when a test fails).
struct Net;

impl Net {
    fn new() -> Net {
        for n in [NS_A, NS_B] {
            let _ = run(&["ip", "netns", "del", n]);
            ok(&["ip", "netns", "add", n]);
        }
        let net = Net;
        ok_in(
            NS_A,
            &[
                "ip",
                "link",
                "add",
                "ht11e-va",
                "mtu",
                UNDERLAY_MTU,
                "type",
                "veth",
                "peer",
                "name",
                "ht11e-vb",
                "mtu",
                UNDERLAY_MTU,
            ],
        );
        ok_in(NS_A, &["ip", "link", "set", "ht11e-vb", "netns", NS_B]);
        for (n, dev, v4, v6) in [
            (NS_A, "ht11e-va", "172.31.111.1/24", "fd11:e::1/64"),
            (NS_B, "ht11e-vb", "172.31.111.2/24", "fd11:e::2/64"),
        ] {
            ok_in(n, &["ip", "addr", "add", v4, "dev", dev]);
            ok_in(n, &["ip", "-6", "addr", "add", v6, "dev", dev, "nodad"]);
            // One packet per segment on the wire (no GSO super-packets in the capture),
            // and TCP without DF so the tunnel fragments its outer packets instead of
            // lowering the inner path MTU.
            ok_in(n, &["ip", "link", "set", dev, "gso_max_segs", "1"]);
            ok_in(n, &["sysctl", "-qw", "net.ipv4.ip_no_pmtu_disc=1"]);
            ok_in(n, &["ip", "link", "set", dev, "up"]);
            ok_in(n, &["ip", "link", "set", "lo", "up"]);
        }
        net
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in [NS_A, NS_B] {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

/// One kind of tunnel: how to create its device in each namespace (`{local}`,
/// `{remote}` replaced by the underlay addresses), the inner address family, the name
/// httptop logs and the tshark options it needs.
struct Tunnel {
    kind: &'static str,
    args: &'static [&'static str],
    underlay_v6: bool,
    /// The device carries Ethernet (VXLAN, Geneve, gretap, ERSPAN) rather than IP.
    ethernet: bool,
    inner_v6: bool,
    encap: &'static str,
    tshark: &'static [&'static str],
}

const TUNNELS: &[Tunnel] = &[
    Tunnel {
        kind: "vxlan",
        args: &[
            "type", "vxlan", "id", "111", "dstport", "4789", "local", "{local}", "remote",
            "{remote}",
        ],
        underlay_v6: false,
        ethernet: true,
        inner_v6: false,
        encap: "vxlan",
        tshark: &[],
    },
    Tunnel {
        kind: "geneve",
        args: &["type", "geneve", "id", "111", "remote", "{remote}"],
        underlay_v6: false,
        ethernet: true,
        inner_v6: false,
        encap: "geneve",
        tshark: &[],
    },
    Tunnel {
        kind: "gretap",
        args: &[
            "type", "gretap", "local", "{local}", "remote", "{remote}", "key", "111",
        ],
        underlay_v6: false,
        ethernet: true,
        inner_v6: false,
        encap: "gre",
        tshark: &[],
    },
    Tunnel {
        kind: "erspan",
        args: &[
            "type",
            "erspan",
            "local",
            "{local}",
            "remote",
            "{remote}",
            "seq",
            "key",
            "111",
            "erspan_ver",
            "1",
            "erspan",
            "7",
        ],
        underlay_v6: false,
        ethernet: true,
        inner_v6: false,
        encap: "gre/erspan2",
        tshark: &[],
    },
    Tunnel {
        kind: "ipip",
        args: &["type", "ipip", "local", "{local}", "remote", "{remote}"],
        underlay_v6: false,
        ethernet: false,
        inner_v6: false,
        encap: "4in4",
        tshark: &[],
    },
    Tunnel {
        kind: "sit",
        args: &["type", "sit", "local", "{local}", "remote", "{remote}"],
        underlay_v6: false,
        ethernet: false,
        inner_v6: true,
        encap: "6in4",
        tshark: &[],
    },
    Tunnel {
        kind: "ip6tnl",
        args: &[
            "type", "ip6tnl", "mode", "ip6ip6", "local", "{local}", "remote", "{remote}",
        ],
        underlay_v6: true,
        ethernet: false,
        inner_v6: true,
        encap: "6in6",
        tshark: &[],
    },
];

/// Creates the tunnel device `ht11e-t` in both namespaces; false if the kernel lacks it.
fn add_tunnel(t: &Tunnel) -> bool {
    let (a, b) = if t.underlay_v6 {
        ("fd11:e::1", "fd11:e::2")
    } else {
        ("172.31.111.1", "172.31.111.2")
    };
    for (n, local, remote, inner4, inner6) in [
        (NS_A, a, b, "10.111.0.1/24", "fd11:f::1/64"),
        (NS_B, b, a, "10.111.0.2/24", "fd11:f::2/64"),
    ] {
        let mut args: Vec<&str> = vec!["ip", "link", "add", "ht11e-t"];
        args.extend(t.args.iter().map(|s| match *s {
            "{local}" => local,
            "{remote}" => remote,
            s => s,
        }));
        let v = ns(n, &args);
        let o = run(&v.iter().map(String::as_str).collect::<Vec<_>>());
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("Unknown device type") || err.contains("not supported"),
                "{}: {err}",
                t.kind
            );
            return false;
        }
        ok_in(
            n,
            &[
                "ip",
                "link",
                "set",
                "ht11e-t",
                "mtu",
                "1500",
                "gso_max_segs",
                "1",
            ],
        );
        if t.inner_v6 {
            ok_in(
                n,
                &["ip", "-6", "addr", "add", inner6, "dev", "ht11e-t", "nodad"],
            );
        } else {
            ok_in(n, &["ip", "addr", "add", inner4, "dev", "ht11e-t"]);
        }
        ok_in(n, &["ip", "link", "set", "ht11e-t", "up"]);
    }
    let _ = t.ethernet;
    true
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests sent with curl from `ht11e-a` to `base` (an `http://host:port` URL).
fn traffic(base: &str) {
    let get = format!("{base}/big.txt");
    let missing = format!("{base}/missing");
    let body = "b".repeat(6000);
    for _ in 0..3 {
        ok_in(NS_A, &["curl", "-sS", "-o", "/dev/null", &get]);
    }
    ok_in(NS_A, &["curl", "-sS", "-o", "/dev/null", "-I", &get]);
    ok_in(NS_A, &["curl", "-sS", "-o", "/dev/null", &missing]);
    for _ in 0..2 {
        ok_in(
            NS_A,
            &[
                "curl",
                "-sS",
                "-o",
                "/dev/null",
                "--data-binary",
                &body,
                &get,
            ],
        );
    }
}

type Counts = BTreeMap<String, u64>;

fn count<I: IntoIterator<Item = String>>(items: I) -> Counts {
    let mut m = Counts::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

/// tshark's requests ("METHOD host") and responses (status) in `cap`.
fn tshark(cap: &Path, extra: &[&str]) -> (Counts, Counts) {
    let fields = |filter: &str, fields: &[&str]| -> Vec<String> {
        // Segments reordered on the way through the tunnel (seen on VXLAN over veth:
        // the last two segments of a response swapped, then one retransmitted) are
        // reassembled by httptop; tshark leaves them out unless told to take them.
        let mut args: Vec<String> = vec![
            "-r".into(),
            cap.display().to_string(),
            "-o".into(),
            "tcp.reassemble_out_of_order:TRUE".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["-Y".into(), filter.into(), "-T".into(), "fields".into()]);
        for f in fields {
            args.extend(["-e".into(), f.to_string()]);
        }
        let o = Command::new("tshark")
            .args(&args)
            .stderr(Stdio::null())
            .output()
            .expect("tshark");
        assert!(o.status.success(), "tshark {args:?}");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.replace('\t', " "))
            .collect()
    };
    (
        count(fields(
            "http.request",
            &["http.request.method", "http.host"],
        )),
        count(fields("http.response", &["http.response.code"])),
    )
}

fn capture_tunnel(t: &Tunnel, dir: &Path) -> Option<PathBuf> {
    let _net = Net::new();
    if !add_tunnel(t) {
        eprintln!("skipped {}: the kernel lacks this tunnel type", t.kind);
        return None;
    }
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("big.txt"), "0123456789abcdef\n".repeat(2400)).expect("file");
    let (bind, host) = if t.inner_v6 {
        ("fd11:f::2", "[fd11:f::2]")
    } else {
        ("10.111.0.2", "10.111.0.2")
    };
    let server = ns(
        NS_B,
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            bind,
            "--directory",
        ],
    );
    let _server = Killed(
        Command::new(&server[0])
            .args(&server[1..])
            .arg(&www)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("http.server"),
    );
    let cap = dir.join(format!("{}.pcap", t.kind));
    let tcpdump = ns(
        NS_A,
        &[
            "tcpdump",
            "--immediate-mode",
            "-B",
            "32768",
            "-i",
            "ht11e-va",
            "-U",
            "-s",
            "0",
            "-w",
        ],
    );
    let stderr = dir.join("tcpdump.err");
    let mut dump = Killed(
        Command::new(&tcpdump[0])
            .args(&tcpdump[1..])
            .arg(&cap)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("tcpdump"),
    );
    // The inner frames as the tunnel device sees them, re-wrapped below in the
    // encapsulations the kernel cannot build here.
    let inner = dir.join(format!("{}-inner.pcap", t.kind));
    let inner_dump = ns(
        NS_A,
        &[
            "tcpdump",
            "--immediate-mode",
            "-B",
            "32768",
            "-i",
            "ht11e-t",
            "-U",
            "-s",
            "0",
            "-w",
        ],
    );
    let inner_err = dir.join("tcpdump-inner.err");
    let mut inner_dump = Killed(
        Command::new(&inner_dump[0])
            .args(&inner_dump[1..])
            .arg(&inner)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&inner_err).expect("stderr file"))
            .spawn()
            .expect("tcpdump"),
    );
    wait_for("tcpdump listening", || {
        [&stderr, &inner_err]
            .iter()
            .all(|f| std::fs::read_to_string(f).is_ok_and(|s| s.contains("listening on")))
    });
    let base = format!("http://{host}:8080");
    wait_for("http.server up", || {
        run(&ns(
            NS_A,
            &["curl", "-s", "-o", "/dev/null", &format!("{base}/")],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>())
        .status
        .success()
    });
    traffic(&base);
    // Every packet written: the file stops growing (tcpdump writes each one, -U).
    let size = || std::fs::metadata(&cap).map_or(0, |m| m.len());
    let mut last = size();
    wait_for("capture complete", || {
        std::thread::sleep(Duration::from_millis(700));
        let now = size();
        std::mem::replace(&mut last, now) == now
    });
    for d in [&mut dump, &mut inner_dump] {
        ok(&["kill", "-INT", &d.0.id().to_string()]);
        let _ = d.0.wait();
    }
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(
        err.lines()
            .any(|l| l.trim() == "0 packets dropped by kernel"),
        "{}: the capture is incomplete (machine too busy?): {err}",
        t.kind
    );
    Some(cap)
}

fn check(t: &Tunnel, cap: &Path, dir: &Path) {
    compare(t.kind, cap, dir, t.encap, t.tshark, true);
}

/// httptop's log of `cap` against tshark's reading: requests by method and Host,
/// responses by status, every exchange in `encap` (empty: none), no flag; with
/// `fragmented`, some datagrams were reassembled.
fn compare(
    kind: &str,
    cap: &Path,
    dir: &Path,
    encap: &str,
    tshark_args: &[&str],
    fragmented: bool,
) {
    let log = dir.join(format!("{kind}.jsonl"));
    let o = Command::new(bin())
        .args(["-r"])
        .arg(cap)
        .args(["--log"])
        .arg(&log)
        .args(["--output", "json"])
        .output()
        .expect("httptop");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&o.stdout));
    });
    let text = std::fs::read_to_string(&log).expect("log");
    let got: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let requests = count(got.iter().filter(|g| g["method"] != "").map(|g| {
        format!(
            "{} {}",
            g["method"].as_str().unwrap_or(""),
            g["host"].as_str().unwrap_or("")
        )
    }));
    let responses = count(
        got.iter()
            .filter_map(|g| g["status"].as_u64())
            .map(|s| s.to_string()),
    );
    let (want_req, want_resp) = tshark(cap, tshark_args);
    assert_eq!(requests, want_req, "{kind}: requests vs tshark\n{text}");
    assert_eq!(responses, want_resp, "{kind}: responses vs tshark");
    assert!(requests.values().sum::<u64>() >= 8, "{kind}: {requests:?}");
    let want_encap = if encap.is_empty() {
        serde_json::Value::Null
    } else {
        encap.into()
    };
    for g in &got {
        assert_eq!(g["encap"], want_encap, "{kind}: {g}");
        assert_eq!(g["flags"], serde_json::json!([]), "{kind}: {g}");
    }
    let counters = &report["counters"];
    let reassembled = counters["frag_reassembled"].as_u64().unwrap_or(0);
    assert!(reassembled > 0 || !fragmented, "{kind}: {counters}");
}

/// The records of a little-endian pcap file (as tcpdump writes them).
fn read_pcap(path: &Path) -> Vec<(u32, u32, Vec<u8>)> {
    let b = std::fs::read(path).expect("pcap");
    assert_eq!(
        b.get(..4),
        Some(&0xa1b2_c3d4u32.to_le_bytes()[..]),
        "pcap magic"
    );
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(h) = b.get(at..at + 16) {
        let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let len = word(8) as usize;
        let Some(data) = b.get(at + 16..at + 16 + len) else {
            break;
        };
        out.push((word(0), word(4), data.to_vec()));
        at += 16 + len;
    }
    out
}

fn write_pcap(path: &Path, linktype: u32, records: &[(u32, u32, Vec<u8>)]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&262_144u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    for (s, us, d) in records {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&us.to_le_bytes());
        b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        b.extend_from_slice(&(d.len() as u32).to_le_bytes());
        b.extend_from_slice(d);
    }
    std::fs::write(path, b).expect("write pcap");
}

/// Ethernet + IPv4 (172.16.11.1 -> .2, DF) of protocol `proto` around `payload`.
fn outer4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0];
    f.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[
        0, 0, 0x40, 0, 64, proto, 0, 0, 172, 16, 11, 1, 172, 16, 11, 2,
    ]);
    let sum = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn checksum(h: &[u8]) -> u16 {
    let mut s: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// UDP (checksum 0: none) from port 50000 (or `sport`) to `dport`.
fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = sport.to_be_bytes().to_vec();
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// The inner Ethernet frames of a real kernel-tunnel capture re-wrapped in every
/// encapsulation httptop decodes (those the kernel here cannot build included), each
/// capture compared with tshark.
fn rewrap(inner: &Path, dir: &Path) {
    let frames = read_pcap(inner);
    assert!(frames.len() > 20, "{} inner frames", frames.len());
    let ip = |eth: &[u8]| -> Option<Vec<u8>> {
        (eth.get(12..14) == Some(&[0x08, 0x00][..])).then(|| eth[14..].to_vec())
    };
    type Wrap = Box<dyn Fn(&[u8]) -> Option<Vec<u8>>>;
    let cat = |parts: &[&[u8]]| parts.concat();
    let cases: Vec<(&str, u32, &str, Wrap)> = vec![
        (
            "geneve",
            1,
            "geneve",
            Box::new(move |e| {
                Some(outer4(
                    17,
                    &udp(
                        50000,
                        6081,
                        &cat(&[&[1, 0, 0x65, 0x58, 0, 0, 11, 0, 0, 1, 1, 0], e]),
                    ),
                ))
            }),
        ),
        (
            "gre-ip",
            1,
            "gre",
            Box::new(move |e| {
                ip(e).map(|p| outer4(47, &cat(&[&[0x20, 0, 0x08, 0, 0, 0, 0, 11], &p])))
            }),
        ),
        (
            "gretap",
            1,
            "gre",
            Box::new(move |e| {
                Some(outer4(
                    47,
                    &cat(&[
                        &[0xb0, 0, 0x65, 0x58, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 1],
                        e,
                    ]),
                ))
            }),
        ),
        (
            "erspan1",
            1,
            "gre/erspan1",
            Box::new(move |e| Some(outer4(47, &cat(&[&[0, 0, 0x88, 0xbe], e])))),
        ),
        (
            "erspan2",
            1,
            "gre/erspan2",
            Box::new(move |e| {
                Some(outer4(
                    47,
                    &cat(&[
                        &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 7, 0, 0, 0, 0],
                        e,
                    ]),
                ))
            }),
        ),
        (
            "erspan3",
            1,
            "gre/erspan3",
            Box::new(move |e| {
                Some(outer4(
                    47,
                    &cat(&[
                        &[
                            0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0,
                        ],
                        e,
                    ]),
                ))
            }),
        ),
        (
            "gtpu",
            1,
            "gtpu",
            Box::new(move |e| {
                ip(e).map(|p| {
                    let len = (p.len() as u16).to_be_bytes();
                    outer4(
                        17,
                        &udp(
                            2152,
                            2152,
                            &cat(&[&[0x30, 0xff, len[0], len[1], 0, 0, 0, 11], &p]),
                        ),
                    )
                })
            }),
        ),
        (
            "ipip",
            1,
            "4in4",
            Box::new(move |e| ip(e).map(|p| outer4(4, &p))),
        ),
        (
            "mpls",
            1,
            "mpls",
            Box::new(move |e| {
                ip(e).map(|p| {
                    let mut f = outer4(0, &cat(&[&[0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64], &p]));
                    f.drain(14..34);
                    f[12..14].copy_from_slice(&[0x88, 0x47]);
                    f
                })
            }),
        ),
        (
            "pppoe",
            1,
            "pppoe",
            Box::new(move |e| {
                ip(e).map(|p| {
                    let len = ((p.len() + 2) as u16).to_be_bytes();
                    let mut f = outer4(0, &cat(&[&[0x11, 0, 0, 11, len[0], len[1], 0, 0x21], &p]));
                    f.drain(14..34);
                    f[12..14].copy_from_slice(&[0x88, 0x64]);
                    f
                })
            }),
        ),
        (
            "nflog",
            239,
            "",
            Box::new(move |e| {
                ip(e).map(|p| {
                    let mut f = vec![2, 0, 0, 11, 8, 0, 1, 0, 8, 0, 0, 0];
                    f.extend_from_slice(&((4 + p.len()) as u16).to_le_bytes());
                    f.extend_from_slice(&9u16.to_le_bytes());
                    f.extend_from_slice(&p);
                    f.resize(f.len().next_multiple_of(4), 0);
                    f
                })
            }),
        ),
    ];
    for (kind, linktype, encap, wrap) in cases {
        let records: Vec<_> = frames
            .iter()
            .filter_map(|(s, us, f)| wrap(f).map(|w| (*s, *us, w)))
            .collect();
        let cap = dir.join(format!("rewrap-{kind}.pcap"));
        write_pcap(&cap, linktype, &records);
        compare(kind, &cap, dir, encap, &[], false);
        eprintln!(
            "re-wrapped in {kind}: {} frames, equal to tshark",
            records.len()
        );
    }
}

#[test]
fn http_in_kernel_tunnels_matches_tshark() {
    if !require(is_root(), "root (network namespaces)")
        || !require(
            ["tcpdump", "tshark", "curl", "python3"].iter().all(|c| {
                Command::new("which")
                    .arg(c)
                    .output()
                    .is_ok_and(|o| o.status.success())
            }),
            "tcpdump, tshark, curl and python3",
        )
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("httptop-tunnels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut ran = Vec::new();
    let mut rewrapped = false;
    for t in TUNNELS {
        if let Some(cap) = capture_tunnel(t, &dir) {
            check(t, &cap, &dir);
            ran.push(t.kind);
            if t.ethernet && !rewrapped {
                rewrap(&dir.join(format!("{}-inner.pcap", t.kind)), &dir);
                rewrapped = true;
            }
        }
    }
    eprintln!("tunnels checked against tshark: {ran:?}");
    assert!(!ran.is_empty(), "no tunnel type could be created");
    let _ = std::fs::remove_dir_all(&dir);
}
