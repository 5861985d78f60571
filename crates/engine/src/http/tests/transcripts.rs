//! Transcript fixtures: parser of the `.t` format (see `testdata/README.md`), one test
//! per file, each also run through the incremental-feed check.

use super::{esc, orig_addr, resp_addr, run_all_splits, show, Outcome, Step};
use crate::event::{Exchange, Flags};
use crate::http::script::{self, num};
use crate::http::{Dir, HttpCounters};
use crate::limits::Limits;
use std::fmt::Write as _;

/// Expected fields of one exchange. `None`: not compared.
#[derive(Debug, Default)]
struct ExpectEx {
    method: Vec<u8>,
    host: Vec<u8>,
    path: Vec<u8>,
    ua: Vec<u8>,
    status: Option<u16>,
    req: u64,
    resp: u64,
    flags: Flags,
    interim: u8,
    trunc: Vec<String>,
    ver: Option<(u8, u8)>,
    ts_ms: Option<u64>,
    latency_ns: Option<Option<u64>>,
}

#[derive(Debug, Default)]
struct Transcript {
    limits: Limits,
    server_is_orig: bool,
    steps: Vec<Step>,
    exchanges: Vec<ExpectEx>,
    counters: Vec<(String, u64)>,
    dead: bool,
}

fn unescape(s: &str) -> Result<Vec<u8>, String> {
    script::unescape(s, usize::MAX)
}

fn parse_flags(s: &str) -> Result<Flags, String> {
    let mut f = Flags::empty();
    for name in s.split(',').filter(|n| !n.is_empty()) {
        let (bit, _) = Flags::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .ok_or(format!("unknown flag {name}"))?;
        f.insert(*bit);
    }
    Ok(f)
}

fn parse_ex(rest: &str) -> Result<ExpectEx, String> {
    let mut e = ExpectEx::default();
    for (k, tok) in rest.split_whitespace().enumerate() {
        let Some((key, v)) = tok.split_once('=') else {
            if k == 0 {
                if tok != "-" {
                    e.method = unescape(tok)?;
                }
                continue;
            }
            return Err(format!("key=value expected, got {tok}"));
        };
        match key {
            "host" => e.host = unescape(v)?,
            "path" => e.path = unescape(v)?,
            "ua" => e.ua = unescape(v)?,
            "status" => e.status = if v == "none" { None } else { Some(num(v)?) },
            "req" => e.req = num(v)?,
            "resp" => e.resp = num(v)?,
            "flags" => e.flags = parse_flags(v)?,
            "interim" => e.interim = num(v)?,
            "trunc" => e.trunc = v.split(',').map(str::to_string).collect(),
            "ver" => {
                let (a, b) = v.split_once('.').ok_or("ver=M.m expected")?;
                e.ver = Some((num(a)?, num(b)?));
            }
            "ts" => e.ts_ms = Some(num(v)?),
            "latency" => e.latency_ns = Some(if v == "none" { None } else { Some(num(v)?) }),
            _ => return Err(format!("unknown key {key}")),
        }
    }
    Ok(e)
}

/// Largest script data accepted from a fixture.
const MAX_DATA: usize = 16 << 20;

fn parse(text: &str) -> Result<Transcript, String> {
    let (script, consumed) = script::parse(text, MAX_DATA)?;
    let mut t = Transcript {
        limits: script.limits,
        server_is_orig: script.server_is_orig,
        steps: script.steps,
        ..Transcript::default()
    };
    for (n, line) in text.lines().enumerate().skip(consumed) {
        let err = |e: String| format!("line {}: {e}", n + 1);
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        match words[0] {
            "ex" => t
                .exchanges
                .push(parse_ex(trimmed.trim_start_matches("ex")).map_err(err)?),
            "counters" => {
                for kv in &words[1..] {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or(err("counter=value expected".into()))?;
                    t.counters.push((k.to_string(), num(v).map_err(err)?));
                }
            }
            "dead" => t.dead = true,
            other => return Err(err(format!("unknown expectation {other}"))),
        }
    }
    Ok(t)
}

fn counter_value(c: &HttpCounters, name: &str) -> Option<u64> {
    Some(match name {
        "requests" => c.requests,
        "responses" => c.responses,
        "malformed_requests" => c.malformed_requests,
        "malformed_responses" => c.malformed_responses,
        "header_too_large" => c.header_too_large,
        "too_many_headers" => c.too_many_headers,
        "pending_overflow" => c.pending_overflow,
        "strings_truncated" => c.strings_truncated,
        "bad_content_length" => c.bad_content_length,
        "bad_chunk" => c.bad_chunk,
        "responses_without_request" => c.responses_without_request,
        "resyncs" => c.resyncs,
        "gaps" => c.gaps,
        "not_http_connections" => c.not_http_connections,
        "obs_folds" => c.obs_folds,
        "te_cl_conflicts" => c.te_cl_conflicts,
        "bad_transfer_encoding" => c.bad_transfer_encoding,
        "body_gaps" => c.body_gaps,
        _ => return None,
    })
}

const COUNTERS: [&str; 18] = [
    "requests",
    "responses",
    "malformed_requests",
    "malformed_responses",
    "header_too_large",
    "too_many_headers",
    "pending_overflow",
    "strings_truncated",
    "bad_content_length",
    "bad_chunk",
    "responses_without_request",
    "resyncs",
    "gaps",
    "not_http_connections",
    "obs_folds",
    "te_cl_conflicts",
    "bad_transfer_encoding",
    "body_gaps",
];

fn check_ex(t: &Transcript, want: &ExpectEx, got: &Exchange) -> Vec<String> {
    let mut bad = Vec::new();
    let mut cmp = |what: &str, w: String, g: String| {
        if w != g {
            bad.push(format!("{what}: want {w}, got {g}"));
        }
    };
    cmp("method", esc(&want.method), esc(&got.method.bytes));
    cmp("host", esc(&want.host), esc(&got.host.bytes));
    cmp("path", esc(&want.path), esc(&got.path.bytes));
    cmp("ua", esc(&want.ua), esc(&got.user_agent.bytes));
    cmp(
        "status",
        format!("{:?}", want.status),
        format!("{:?}", got.status),
    );
    cmp("req", want.req.to_string(), got.request_bytes.to_string());
    cmp(
        "resp",
        want.resp.to_string(),
        got.response_bytes.to_string(),
    );
    cmp(
        "flags",
        format!("{:?}", want.flags),
        format!("{:?}", got.flags),
    );
    cmp(
        "interim",
        want.interim.to_string(),
        got.interim_responses.to_string(),
    );
    let trunc: Vec<String> = [
        ("method", &got.method),
        ("host", &got.host),
        ("path", &got.path),
        ("ua", &got.user_agent),
    ]
    .iter()
    .filter(|(_, w)| w.truncated)
    .map(|(n, _)| n.to_string())
    .collect();
    cmp("trunc", want.trunc.join(","), trunc.join(","));
    if let Some((a, b)) = want.ver {
        cmp(
            "ver",
            format!("{a}.{b}"),
            format!("{}.{}", got.version.major, got.version.minor),
        );
    }
    if let Some(ms) = want.ts_ms {
        cmp(
            "ts",
            (ms * 1_000_000).to_string(),
            got.ts.nanos().to_string(),
        );
    }
    if let Some(l) = want.latency_ns {
        cmp("latency", format!("{l:?}"), format!("{:?}", got.latency_ns));
    }
    let (c, s) = if t.server_is_orig {
        (resp_addr(), orig_addr())
    } else {
        (orig_addr(), resp_addr())
    };
    cmp(
        "client",
        format!("{:?}", Some(c)),
        format!("{:?}", got.client),
    );
    cmp(
        "server",
        format!("{:?}", Some(s)),
        format!("{:?}", got.server),
    );
    bad
}

fn check(name: &str, text: &str) {
    let t = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let got: Outcome = run_all_splits(&t.steps, &t.limits);
    let mut report = String::new();
    if got.exchanges.len() != t.exchanges.len() {
        let _ = writeln!(
            report,
            "want {} exchanges, got {}",
            t.exchanges.len(),
            got.exchanges.len()
        );
    }
    for (i, (w, g)) in t.exchanges.iter().zip(&got.exchanges).enumerate() {
        for b in check_ex(&t, w, g) {
            let _ = writeln!(report, "exchange {i}: {b}");
        }
    }
    for c in COUNTERS {
        let want = t
            .counters
            .iter()
            .find(|(n, _)| n == c)
            .map_or(0, |(_, v)| *v);
        let have = counter_value(&got.counters, c).unwrap_or(0);
        if want != have {
            let _ = writeln!(report, "counter {c}: want {want}, got {have}");
        }
    }
    for (n, _) in &t.counters {
        if counter_value(&got.counters, n).is_none() {
            let _ = writeln!(report, "unknown counter {n}");
        }
    }
    if got.dead != t.dead {
        let _ = writeln!(report, "dead: want {}, got {}", t.dead, got.dead);
    }
    if !report.is_empty() {
        let all: Vec<String> = got.exchanges.iter().map(show).collect();
        panic!(
            "{name}:\n{report}got exchanges:\n{}\ngot counters: {:?}",
            all.join("\n"),
            got.counters
        );
    }
}

macro_rules! transcripts {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(
                    stringify!($name),
                    include_str!(concat!("../testdata/", stringify!($name), ".t")),
                );
            }
        )*

        /// Every fixture in testdata/ has a test above.
        #[test]
        fn every_fixture_is_listed() {
            let listed = [$(concat!(stringify!($name), ".t")),*];
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/testdata");
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.ends_with(".t") {
                    assert!(listed.contains(&name.as_str()), "{name} is not listed in transcripts!");
                }
            }
        }
    };
}

transcripts!(
    simple_get,
    keep_alive,
    pipelining,
    head_content_length,
    no_body_204_304,
    chunked_ext_trailers,
    chunked_awkward_splits,
    continue_100,
    upgrade_101,
    connect_tunnel,
    connect_refused,
    response_until_close,
    cl_negative,
    cl_huge,
    cl_conflict,
    chunk_size_overflow,
    te_cl_conflict,
    obs_fold,
    http09,
    http09_at_start,
    lf_only,
    missing_crlf_at_close,
    header_never_ends,
    too_many_headers,
    absolute_uri,
    response_first_server_is_orig,
    tls_dead,
    not_dead_after_http,
    gap_in_body,
    gap_in_head_resync,
    gap_swallows_response,
    pipelined_gap_fifo,
    pending_cap_flood,
    raw_bytes_in_strings,
    malformed_request_line,
    malformed_response,
    lowercase_status,
    garbage_response,
    rst_mid_body,
    interim_without_request,
    malformed_first_line,
    smtp_dead,
    status_mid_line_after_lost_body,
);

#[test]
fn transcript_syntax() {
    let t = parse(
        "limits max_headers=3\n>>> t=5\nGET\\s/\\r\\n\\{3*ab}\n\\x00\\\\\ngap 4\ngap < 2 t=9\nfin >\nrst\n== expect\nex GET host=a\\sb req=1 resp=2 flags=gap,no_response\ncounters requests=1\ndead\n",
    )
    .unwrap();
    assert_eq!(t.limits.max_headers, 3);
    assert_eq!(
        t.steps,
        vec![
            Step::Data(Dir::Orig, 5, b"GET /\r\nababab\0\\".to_vec()),
            Step::Gap(Dir::Orig, 6, 4),
            Step::Gap(Dir::Resp, 9, 2),
            Step::Fin(Dir::Orig, 10),
            Step::Rst(Dir::Orig, 11),
        ]
    );
    assert_eq!(t.exchanges[0].host, b"a b");
    assert_eq!(t.exchanges[0].flags, Flags::GAP | Flags::NO_RESPONSE);
    assert!(t.dead);
    assert!(parse(">>>\n\\q\n").is_err());
    assert!(parse("GET / HTTP/1.1\n").is_err());
}
