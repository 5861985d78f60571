//! Property tests: random byte streams (no panic, bounded memory, split-independent
//! results) and random valid HTTP/1.1 conversations (parsed to exactly the generated
//! exchanges, however the streams are cut into events).

use super::{expected, run, show, Outcome, Split, Step};
use crate::event::Exchange;
use crate::http::{Dir, HttpCounters};
use crate::limits::Limits;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ------------------------------------------------------------------ random bytes

fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let fixed: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\n",
        b"POST /p HTTP/1.1\r\n",
        b"HEAD /h HTTP/1.0\r\n",
        b"CONNECT a:1 HTTP/1.1\r\n",
        b"GET /x\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 204 No\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"HTTP/1.0 304 NM\n",
        b"Host: x\r\n",
        b"User-Agent: \x1b\xff\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 0\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip\r\n",
        b"\r\n",
        b"\n",
        b" folded\r\n",
        b"5\r\nhello\r\n",
        b"3;x=y\r\nabc\r\n",
        b"0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"\x16\x03\x01",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 0..24),
    ]
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(fragment(), 0..8).prop_map(|f| f.concat())
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Orig), Just(Dir::Resp)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (dir(), data()).prop_map(|(d, b)| Step::Data(d, 0, b)),
        2 => (dir(), 1u64..300).prop_map(|(d, n)| Step::Gap(d, 0, n)),
        1 => dir().prop_map(|d| Step::Fin(d, 0)),
        1 => dir().prop_map(|d| Step::Rst(d, 0)),
    ]
}

/// Steps with non-decreasing times (equal times happen: one packet, several events).
fn steps() -> impl Strategy<Value = Vec<Step>> {
    vec((step(), 0u64..3), 0..30).prop_map(|v| {
        let mut t = 0;
        v.into_iter()
            .map(|(s, dt)| {
                t += dt;
                match s {
                    Step::Data(d, _, b) => Step::Data(d, t, b),
                    Step::Gap(d, _, n) => Step::Gap(d, t, n),
                    Step::Fin(d, _) => Step::Fin(d, t),
                    Step::Rst(d, _) => Step::Rst(d, t),
                    Step::Close(_) => Step::Close(t),
                }
            })
            .collect()
    })
}

fn small_limits() -> impl Strategy<Value = Limits> {
    (0usize..160, 0usize..8, 0usize..5, 0usize..16).prop_map(|(h, n, p, s)| Limits {
        max_header_bytes: h,
        max_headers: n,
        max_pending_requests: p,
        max_string_len: s,
        ..Limits::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random streams never panic, never hold more than the limits (checked after every
    /// event by `run`), and give the same result whole, cut at `k`, and byte by byte.
    #[test]
    fn random_streams_are_bounded_and_split_independent(
        steps in steps(),
        limits in small_limits(),
        k in 1usize..40,
    ) {
        let whole = run(&steps, &limits, Split::Whole);
        prop_assert_eq!(&run(&steps, &limits, Split::At(k)), &whole);
        prop_assert_eq!(&run(&steps, &limits, Split::Bytes), &whole);
    }
}

// ------------------------------------------------------------------ valid conversations

#[derive(Clone, Debug)]
enum BodyGen {
    None,
    Cl(Vec<u8>),
    /// Chunks (non-empty), with extensions, with a trailer.
    Chunked(Vec<Vec<u8>>, bool, bool),
}

impl BodyGen {
    fn header(&self) -> Option<String> {
        match self {
            BodyGen::None => None,
            BodyGen::Cl(b) => Some(format!("Content-Length: {}", b.len())),
            BodyGen::Chunked(..) => Some("Transfer-Encoding: chunked".to_string()),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            BodyGen::None => Vec::new(),
            BodyGen::Cl(b) => b.clone(),
            BodyGen::Chunked(chunks, ext, trailer) => {
                let mut out = Vec::new();
                for c in chunks {
                    out.extend_from_slice(format!("{:x}", c.len()).as_bytes());
                    if *ext {
                        out.extend_from_slice(b";name=\"v\"");
                    }
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n");
                if *trailer {
                    out.extend_from_slice(b"X-Trailer: t\r\n");
                }
                out.extend_from_slice(b"\r\n");
                out
            }
        }
    }
}

fn body() -> impl Strategy<Value = BodyGen> {
    prop_oneof![
        Just(BodyGen::None),
        vec(any::<u8>(), 0..40).prop_map(BodyGen::Cl),
        (
            vec(vec(any::<u8>(), 1..20), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(c, e, t)| BodyGen::Chunked(c, e, t)),
    ]
}

#[derive(Clone, Debug)]
struct GenEx {
    method: String,
    path: String,
    host: Option<String>,
    ua: Option<String>,
    req_extra: Vec<(String, String)>,
    req_order: Vec<u8>,
    req_body: BodyGen,
    interim: bool,
    status: u16,
    resp_extra: Vec<(String, String)>,
    resp_body: BodyGen,
}

fn header_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}".prop_filter("not a header the parser reads", |n| {
        !["host", "user-agent", "content-length", "transfer-encoding"]
            .contains(&n.to_ascii_lowercase().as_str())
    })
}

fn words() -> impl Strategy<Value = String> {
    "[A-Za-z0-9/.;()_=-]{1,10}( [A-Za-z0-9/.;()_=-]{1,10}){0,3}"
}

fn gen_ex() -> impl Strategy<Value = GenEx> {
    let method = prop_oneof![
        proptest::sample::select(vec![
            "GET",
            "POST",
            "PUT",
            "DELETE",
            "PATCH",
            "OPTIONS",
            "HEAD",
            "PROPFIND",
            "PROPPATCH",
            "MKCOL",
            "COPY",
            "MOVE",
            "LOCK",
            "UNLOCK",
            "CCM_POST",
            "M-SEARCH",
        ])
        .prop_map(str::to_string),
        "[A-Z][A-Z_-]{0,12}",
    ];
    (
        (
            method,
            "/[A-Za-z0-9._~%/?=&-]{0,30}",
            proptest::option::of("[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?"),
            proptest::option::of(words()),
            vec((header_name(), proptest::option::of(words())), 0..5),
            vec(any::<u8>(), 8),
            body(),
        ),
        (
            any::<bool>(),
            proptest::sample::select(vec![
                200u16, 201, 204, 206, 301, 302, 304, 400, 404, 418, 500, 503,
            ]),
            vec((header_name(), proptest::option::of(words())), 0..4),
            body(),
        ),
    )
        .prop_map(
            |(
                (method, path, host, ua, req_extra, req_order, req_body),
                (interim, status, resp_extra, resp_body),
            )| {
                let fix = |v: Vec<(String, Option<String>)>| {
                    v.into_iter()
                        .map(|(n, v)| (n, v.unwrap_or_default()))
                        .collect::<Vec<_>>()
                };
                GenEx {
                    method,
                    path,
                    host,
                    ua,
                    req_extra: fix(req_extra),
                    req_order,
                    req_body,
                    interim,
                    status,
                    resp_extra: fix(resp_extra),
                    resp_body,
                }
            },
        )
}

impl GenEx {
    fn request(&self) -> Vec<u8> {
        let mut hs: Vec<String> = Vec::new();
        if let Some(h) = &self.host {
            hs.push(format!("Host: {h}"));
        }
        if let Some(u) = &self.ua {
            hs.push(format!("User-Agent: {u}"));
        }
        hs.extend(self.req_extra.iter().map(|(n, v)| format!("{n}: {v}")));
        hs.extend(self.req_body.header());
        // A random header order.
        let mut keyed: Vec<(u8, String)> = hs
            .into_iter()
            .enumerate()
            .map(|(i, h)| (self.req_order[i % self.req_order.len()], h))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path).into_bytes();
        for (_, h) in keyed {
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.req_body.bytes());
        out
    }

    fn no_resp_body(&self) -> bool {
        self.method == "HEAD" || self.status == 204 || self.status == 304
    }

    /// (interim part, final response)
    fn response(&self) -> (Vec<u8>, Vec<u8>) {
        let interim = if self.interim {
            b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()
        } else {
            Vec::new()
        };
        let mut out = format!("HTTP/1.1 {} Some Reason\r\n", self.status).into_bytes();
        for (n, v) in &self.resp_extra {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        let body = if self.no_resp_body() {
            // A HEAD response announces the length it would have; 204/304 say nothing.
            if self.method == "HEAD" && self.status != 204 && self.status != 304 {
                out.extend_from_slice(b"Content-Length: 1234\r\n");
            }
            Vec::new()
        } else {
            let framing = match &self.resp_body {
                BodyGen::None => BodyGen::Cl(Vec::new()),
                b => b.clone(),
            };
            out.extend_from_slice(framing.header().unwrap_or_default().as_bytes());
            out.extend_from_slice(b"\r\n");
            framing.bytes()
        };
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        (interim, out)
    }
}

/// Cuts `bytes` at the given points (positions taken modulo the length).
fn cut(bytes: &[u8], cuts: &[Index]) -> Vec<(usize, Vec<u8>)> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|i| i.index(bytes.len().max(1)))
        .filter(|&c| c > 0)
        .collect();
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for c in at {
        if c > start {
            out.push((start, bytes[start..c].to_vec()));
            start = c;
        }
    }
    out
}

/// The chunk (by its time) holding stream offset `off`.
fn time_of(chunks: &[(usize, u64, Vec<u8>)], off: usize) -> u64 {
    chunks
        .iter()
        .rev()
        .find(|(start, _, _)| *start <= off)
        .map_or(0, |(_, t, _)| *t)
}

fn check_conversation(exs: &[GenEx], pipelined: bool, cuts: &[Index]) -> Result<(), TestCaseError> {
    let mut steps = Vec::new();
    let mut want: Vec<Exchange> = Vec::new();
    let mut interims = 0;
    if pipelined {
        let mut client = Vec::new();
        let mut server = Vec::new();
        let mut offs = Vec::new();
        for e in exs {
            let req = e.request();
            let (interim, fin) = e.response();
            let req_start = client.len();
            client.extend_from_slice(&req);
            server.extend_from_slice(&interim);
            let fin_start = server.len();
            server.extend_from_slice(&fin);
            offs.push((req_start, fin_start));
        }
        let cchunks: Vec<(usize, u64, Vec<u8>)> = cut(&client, cuts)
            .into_iter()
            .enumerate()
            .map(|(i, (s, b))| (s, 1 + i as u64, b))
            .collect();
        let schunks: Vec<(usize, u64, Vec<u8>)> = cut(&server, cuts)
            .into_iter()
            .enumerate()
            .map(|(i, (s, b))| (s, 1000 + i as u64, b))
            .collect();
        steps.extend(
            cchunks
                .iter()
                .map(|(_, t, b)| Step::Data(Dir::Orig, *t, b.clone())),
        );
        steps.extend(
            schunks
                .iter()
                .map(|(_, t, b)| Step::Data(Dir::Resp, *t, b.clone())),
        );
        for (e, (rs, fs)) in exs.iter().zip(offs) {
            let (interim, fin) = e.response();
            let t_req = time_of(&cchunks, rs);
            let t_resp = time_of(&schunks, fs);
            want.push(expect_of(e, t_req, t_resp, interim.len() + fin.len()));
            interims += usize::from(e.interim);
        }
    } else {
        for (i, e) in exs.iter().enumerate() {
            let t = 10 * i as u64 + 1;
            let req = e.request();
            let (interim, fin) = e.response();
            steps.extend(
                cut(&req, cuts)
                    .into_iter()
                    .map(|(_, b)| Step::Data(Dir::Orig, t, b)),
            );
            let mut resp = interim.clone();
            resp.extend_from_slice(&fin);
            steps.extend(
                cut(&resp, cuts)
                    .into_iter()
                    .map(|(_, b)| Step::Data(Dir::Resp, t + 1, b)),
            );
            want.push(expect_of(e, t, t + 1, resp.len()));
            interims += usize::from(e.interim);
        }
    }
    let got: Outcome = run(&steps, &Limits::default(), Split::Whole);
    let want_counters = HttpCounters {
        requests: exs.len() as u64,
        responses: (exs.len() + interims) as u64,
        ..HttpCounters::default()
    };
    if got.exchanges != want || got.counters != want_counters || got.dead {
        let w: Vec<String> = want.iter().map(show).collect();
        let g: Vec<String> = got.exchanges.iter().map(show).collect();
        return Err(TestCaseError::fail(format!(
            "want:\n{}\n{:?}\ngot:\n{}\n{:?}",
            w.join("\n"),
            want_counters,
            g.join("\n"),
            got.counters
        )));
    }
    Ok(())
}

fn expect_of(e: &GenEx, t_req: u64, t_resp: u64, resp_len: usize) -> Exchange {
    expected(
        t_req,
        e.method.as_bytes(),
        e.host.as_deref().unwrap_or("").as_bytes(),
        e.path.as_bytes(),
        e.ua.as_deref().unwrap_or("").as_bytes(),
        Some(e.status),
        e.request().len() as u64,
        resp_len as u64,
        u8::from(e.interim),
        Some(t_resp - t_req),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random valid conversations, one request at a time, cut at random points.
    #[test]
    fn serial_conversations_parse_exactly(exs in vec(gen_ex(), 1..6), cuts in vec(any::<Index>(), 0..6)) {
        check_conversation(&exs, false, &cuts)?;
    }

    /// Random valid conversations, all requests before all responses (pipelining), the
    /// two streams cut at random points regardless of message boundaries.
    #[test]
    fn pipelined_conversations_parse_exactly(exs in vec(gen_ex(), 1..6), cuts in vec(any::<Index>(), 0..8)) {
        check_conversation(&exs, true, &cuts)?;
    }
}
