//! TLS against an independent oracle: for every capture in ../shared/corpus/pcaps that
//! holds TLS, the handshakes httptop's engine reports (one `TlsSession` per connection)
//! must equal tshark's reading of the same file, run here: per connection with a
//! ClientHello, its server name; per connection with a ServerHello, the version chosen
//! (`supported_versions` when present, else the hello's version) and the cipher suite.
//!
//! Counting rules, the same on both sides:
//! - a connection is a TCP stream (tshark's `tcp.stream`) carrying a ClientHello; its
//!   server name is that of its first ClientHello (`(none)` without one);
//! - version and cipher come from the stream's last ServerHello (after a
//!   HelloRetryRequest the real one);
//! - tshark is asked for every frame holding a hello, on any port (`-d` is not needed:
//!   the corpus TLS runs on 443, which tshark decodes as TLS).

use httptop_capture::FileSource;
use httptop_engine::{Engine, Event, Exchange, Limits, Sink, TlsSession};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

type Counts = BTreeMap<String, i64>;

fn bump(c: &mut Counts, k: String) {
    *c.entry(k).or_insert(0) += 1;
}

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/pcaps");
    p.is_dir().then_some(p)
}

struct Sessions(Vec<TlsSession>);

impl Sink for Sessions {
    fn on_exchange(&mut self, _: &Exchange) {}
    fn on_event(&mut self, ev: &Event) {
        if let Event::Tls(t) = ev {
            self.0.push((**t).clone());
        }
    }
}

fn httptop_counts(path: &Path) -> Counts {
    let file = std::fs::File::open(path).expect("open capture");
    let mut src = FileSource::new(std::io::BufReader::new(file)).expect("capture header");
    let mut engine = Engine::new(Limits::default());
    let mut sink = Sessions(Vec::new());
    while let Ok(Some(frame)) = src.next_frame() {
        engine.on_frame(&frame, &mut sink);
    }
    engine.finish(&mut sink);
    let mut c = Counts::new();
    for t in &sink.0 {
        if t.ja4.is_some() {
            bump(&mut c, "connections".into());
            let sni = t.sni.as_ref().map_or("(none)".into(), |s| {
                String::from_utf8_lossy(s.as_bytes()).into_owned()
            });
            bump(&mut c, format!("sni:{sni}"));
        }
        if let (Some(v), Some(cs)) = (t.version, t.cipher) {
            bump(&mut c, format!("version:0x{v:04x}"));
            bump(&mut c, format!("cipher:0x{cs:04x}"));
        }
    }
    c
}

/// The first of a comma-separated field, or the whole.
fn first(v: &str) -> &str {
    v.split(',').next().unwrap_or("")
}

fn tshark_counts(path: &Path) -> Counts {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-Y",
            "tls.handshake.type == 1 || tls.handshake.type == 2",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-e",
            "tcp.stream",
            "-e",
            "tls.handshake.type",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "tls.handshake.version",
            "-e",
            "tls.handshake.extensions.supported_version",
            "-e",
            "tls.handshake.ciphersuite",
        ])
        .output()
        .expect("run tshark");
    // A capture cut short makes tshark exit 1 after reading what it could (as httptop
    // reads it too); anything else is a failure.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || err.contains("cut short"),
        "tshark failed on {path:?}: {err}"
    );
    // Per stream: the first ClientHello's name; the last ServerHello's version and cipher.
    let mut sni: BTreeMap<u64, String> = BTreeMap::new();
    let mut hello: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [stream, types, name, version, supported, ciphers] = f[..] else {
            panic!("unexpected tshark line {line:?}");
        };
        let stream: u64 = stream.parse().expect("tcp.stream");
        for ty in types.split(',') {
            match ty {
                "1" => {
                    sni.entry(stream).or_insert_with(|| {
                        if name.is_empty() {
                            "(none)".into()
                        } else {
                            name.into()
                        }
                    });
                }
                "2" => {
                    // A ServerHello's single cipher suite; the frame may also hold a
                    // ClientHello's list only if both directions shared a frame, which
                    // TCP cannot do.
                    let v = if supported.is_empty() {
                        version
                    } else {
                        supported
                    };
                    hello.insert(stream, (first(v).into(), ciphers.into()));
                }
                _ => {}
            }
        }
    }
    let mut c = Counts::new();
    for name in sni.values() {
        bump(&mut c, "connections".into());
        bump(&mut c, format!("sni:{name}"));
    }
    for (v, cs) in hello.values() {
        bump(&mut c, format!("version:{v}"));
        bump(&mut c, format!("cipher:{cs}"));
    }
    c
}

#[test]
fn corpus_handshakes_match_tshark() {
    let Some(dir) = corpus() else {
        eprintln!("skipped: ../shared/corpus not found");
        return;
    };
    if Command::new("tshark").arg("-v").output().is_err() {
        panic!("tshark is required (.ci/run installs it)");
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list corpus")
        .map(|e| e.expect("dir entry").path())
        .collect();
    names.sort();
    let (mut files, mut connections) = (0, 0);
    for path in &names {
        let ours = httptop_counts(path);
        let theirs = tshark_counts(path);
        assert_eq!(ours, theirs, "{path:?}: httptop (left) vs tshark (right)");
        if let Some(n) = ours.get("connections") {
            files += 1;
            connections += n;
        }
    }
    eprintln!("{files} captures with TLS, {connections} handshakes, equal to tshark");
    // The corpus holds TLS (ndpi-alexa-app alone has 88 handshakes): a reading that found
    // none would pass the comparison above for a broken reason.
    assert!(
        files >= 4 && connections >= 96,
        "{files} files, {connections}"
    );
}
