//! Scripted connections for [`HttpConn`]: the script half of the transcript format
//! (`testdata/README.md`), and a runner that checks the parser's memory bounds after every
//! event. Used by the transcript tests and by fuzzing ([`crate::fuzzing`]); not part of
//! the engine's API.
//!
//! Contract: [`parse`] takes any text and returns a script or an error, never panics, and
//! refuses scripts whose data would exceed its `max_data` argument (the `\{N*text}` escape
//! could otherwise ask for gigabytes). [`run`] feeds a script through a fresh
//! [`HttpConn`] and panics if a bound is broken: the head buffer above twice
//! `max_header_bytes`, more pending requests than `max_pending_requests`, anything left
//! after close, or a stored string longer than `max_string_len`.

use super::{Ctx, Dir, HttpConn, HttpCounters, StreamEvent};
use crate::event::Event;
use crate::event::Exchange;
use crate::limits::Limits;
use httptop_wire::Timestamp;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The address of the side that opened the scripted connection (`>>>`).
pub fn orig_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40000)
}

/// The address of the other side (`<<<`).
pub fn resp_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 80)
}

/// One scripted event; times in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Data(Dir, u64, Vec<u8>),
    Gap(Dir, u64, u64),
    Fin(Dir, u64),
    Rst(Dir, u64),
    Close(u64),
}

impl Step {
    pub fn ms(&self) -> u64 {
        match self {
            Step::Data(_, t, _)
            | Step::Gap(_, t, _)
            | Step::Fin(_, t)
            | Step::Rst(_, t)
            | Step::Close(t) => *t,
        }
    }
}

/// How Data steps are cut into events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Whole,
    /// Every Data step longer than `k` is fed as two events, cut at `k`.
    At(usize),
    /// One byte per event.
    Bytes,
}

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exchanges: Vec<Exchange>,
    pub counters: HttpCounters,
    pub dead: bool,
}

/// The script part of a transcript (everything before `== expect`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub limits: Limits,
    pub server_is_orig: bool,
    pub steps: Vec<Step>,
}

/// Decodes the escapes of a data line (`\r \n \t \s \0 \\ \xHH \{N*text}`), refusing to
/// produce more than `max` bytes.
pub fn unescape(s: &str, max: usize) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len().min(max));
    let mut i = 0;
    while i < b.len() {
        if out.len() > max {
            return Err(format!("more than {max} bytes of data"));
        }
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or("dangling backslash")?;
        i += 2;
        match c {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b's' => out.push(b' '),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let h = s.get(i..i + 2).ok_or("short \\x escape")?;
                out.push(u8::from_str_radix(h, 16).map_err(|e| format!("bad \\x{h}: {e}"))?);
                i += 2;
            }
            b'{' => {
                // \{N*text} repeats text (itself unescaped) N times.
                let rest = s.get(i..).ok_or("\\{ inside a character")?;
                let end = rest.find('}').ok_or("unclosed \\{")? + i;
                let (n, text) = s[i..end].split_once('*').ok_or("\\{N*text} expected")?;
                let n: usize = n.parse().map_err(|e| format!("bad repeat count: {e}"))?;
                let text = unescape(text, max)?;
                if n.saturating_mul(text.len()) > max.saturating_sub(out.len()) {
                    return Err(format!("more than {max} bytes of data"));
                }
                for _ in 0..n {
                    out.extend_from_slice(&text);
                }
                i = end + 1;
            }
            other => return Err(format!("unknown escape \\{}", char::from(other))),
        }
    }
    if out.len() > max {
        return Err(format!("more than {max} bytes of data"));
    }
    Ok(out)
}

/// `>` is Orig, `<` is Resp.
pub fn dir_of(s: &str) -> Result<Dir, String> {
    match s {
        ">" => Ok(Dir::Orig),
        "<" => Ok(Dir::Resp),
        _ => Err(format!("direction `>` or `<` expected, got `{s}`")),
    }
}

pub fn num<T: std::str::FromStr>(v: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    v.parse().map_err(|e| format!("bad number {v}: {e}"))
}

fn set_limit(l: &mut Limits, kv: &str) -> Result<(), String> {
    let (k, v) = kv.split_once('=').ok_or("limit=value expected")?;
    let v: usize = num(v)?;
    match k {
        "max_header_bytes" => l.max_header_bytes = v,
        "max_headers" => l.max_headers = v,
        "max_pending_requests" => l.max_pending_requests = v,
        "max_string_len" => l.max_string_len = v,
        _ => return Err(format!("unknown limit {k}")),
    }
    Ok(())
}

/// Parses the script lines of a transcript, up to a `== expect` line. Returns the script
/// and the number of lines read (the expectations start after them). Data of all steps
/// together is at most `max_data` bytes.
pub fn parse(text: &str, max_data: usize) -> Result<(Script, usize), String> {
    let mut t = Script::default();
    let mut now: u64 = 0;
    let mut cur: Option<(Dir, u64, Vec<u8>)> = None;
    let mut last_dir = Dir::Orig;
    let mut total = 0usize;
    let mut consumed = 0;
    let take_time = |words: &mut Vec<&str>, now: &mut u64| -> Result<u64, String> {
        if let Some(p) = words.iter().position(|w| w.starts_with("t=")) {
            *now = num(&words.remove(p)[2..])?;
        } else {
            *now = now.saturating_add(1);
        }
        Ok(*now)
    };
    for (n, line) in text.lines().enumerate() {
        consumed = n + 1;
        let err = |e: String| format!("line {}: {e}", n + 1);
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words: Vec<&str> = trimmed.split_whitespace().collect();
        let first = words.first().copied().unwrap_or("");
        let directive = match first {
            ">>>" | "<<<" => true,
            "gap" => {
                words.len() >= 2
                    && words[1..].iter().all(|w| {
                        w.starts_with("t=") || w.parse::<u64>().is_ok() || *w == "<" || *w == ">"
                    })
            }
            "fin" | "rst" | "close" | "limits" | "server_is_orig" | "==" => true,
            _ => false,
        };
        if !directive {
            let (_, _, buf) = cur
                .as_mut()
                .ok_or(err("data outside a >>> / <<< block".into()))?;
            let data = unescape(line, max_data - total).map_err(err)?;
            total += data.len();
            buf.extend_from_slice(&data);
            continue;
        }
        if let Some((d, ms, buf)) = cur.take() {
            t.steps.push(Step::Data(d, ms, buf));
        }
        match first {
            ">>>" | "<<<" => {
                let d = if first == ">>>" { Dir::Orig } else { Dir::Resp };
                let ms = take_time(&mut words, &mut now).map_err(err)?;
                last_dir = d;
                cur = Some((d, ms, Vec::new()));
            }
            "gap" => {
                let ms = take_time(&mut words, &mut now).map_err(err)?;
                let (d, n) = match words.len() {
                    2 => (last_dir, words[1]),
                    3 => (dir_of(words[1]).map_err(err)?, words[2]),
                    _ => return Err(err("gap [<|>] N".into())),
                };
                t.steps.push(Step::Gap(d, ms, num(n).map_err(err)?));
            }
            "fin" => {
                let ms = take_time(&mut words, &mut now).map_err(err)?;
                let d = dir_of(words.get(1).copied().unwrap_or("")).map_err(err)?;
                t.steps.push(Step::Fin(d, ms));
            }
            "rst" => {
                let ms = take_time(&mut words, &mut now).map_err(err)?;
                t.steps.push(Step::Rst(last_dir, ms));
            }
            "close" => {
                let ms = take_time(&mut words, &mut now).map_err(err)?;
                t.steps.push(Step::Close(ms));
            }
            "limits" => {
                for kv in &words[1..] {
                    set_limit(&mut t.limits, kv).map_err(err)?;
                }
            }
            "server_is_orig" => t.server_is_orig = true,
            "==" if words.get(1) == Some(&"expect") => break,
            _ => return Err(err(format!("unknown directive {trimmed}"))),
        }
    }
    if let Some((d, ms, buf)) = cur.take() {
        t.steps.push(Step::Data(d, ms, buf));
    }
    Ok((t, consumed))
}

/// Runs `steps` through a fresh [`HttpConn`], checking the memory bounds after every
/// event, then closes it at the last step's time.
pub fn run(steps: &[Step], limits: &Limits, split: Split) -> Outcome {
    let mut conn = HttpConn::new(orig_addr(), resp_addr());
    let mut counters = HttpCounters::default();
    let mut out = Vec::new();
    let mut pool = super::QueuePool::default();
    let head_bound = 2 * limits.max_header_bytes.max(super::conn::MIN_HEAD_CAP);
    let pending_bound = limits.max_pending_requests.max(1);
    let mut last = 0;
    for step in steps {
        last = step.ms();
        let ts = Timestamp::from_millis(step.ms());
        let mut ctx = Ctx {
            limits,
            counters: &mut counters,
            out: &mut out,
            pool: &mut pool,
            now: ts,
        };
        match step {
            Step::Data(dir, _, bytes) => {
                let mut feed = |part: &[u8], ctx: &mut Ctx<'_>| {
                    conn.feed(*dir, ts, StreamEvent::Data(part), ctx);
                    assert!(
                        conn.buffered_bytes() <= head_bound,
                        "buffered {} > {head_bound}",
                        conn.buffered_bytes()
                    );
                    assert!(conn.pending_requests() <= pending_bound);
                };
                match split {
                    Split::Whole => feed(bytes, &mut ctx),
                    Split::At(k) if k > 0 && k < bytes.len() => {
                        feed(&bytes[..k], &mut ctx);
                        feed(&bytes[k..], &mut ctx);
                    }
                    Split::At(_) => feed(bytes, &mut ctx),
                    Split::Bytes => {
                        for b in bytes.chunks(1) {
                            feed(b, &mut ctx);
                        }
                    }
                }
            }
            Step::Gap(dir, _, n) => conn.feed(*dir, ts, StreamEvent::Gap(*n), &mut ctx),
            Step::Fin(dir, _) => conn.feed(*dir, ts, StreamEvent::Fin, &mut ctx),
            Step::Rst(dir, _) => conn.feed(*dir, ts, StreamEvent::Rst, &mut ctx),
            Step::Close(_) => conn.close(ts, &mut ctx),
        }
        assert!(conn.buffered_bytes() <= head_bound);
        assert!(conn.pending_requests() <= pending_bound);
    }
    let dead = conn.is_dead();
    let mut ctx = Ctx {
        limits,
        counters: &mut counters,
        out: &mut out,
        pool: &mut pool,
        now: Timestamp::from_millis(last),
    };
    conn.close(Timestamp::from_millis(last), &mut ctx);
    assert_eq!(conn.buffered_bytes(), 0);
    assert_eq!(conn.pending_requests(), 0);
    let mut exchanges = Vec::new();
    let mut started = 0;
    for ev in out {
        match ev {
            Event::Exchange(ex) => exchanges.push(ex),
            Event::RequestStarted { .. } => started += 1,
            _ => {}
        }
    }
    for ex in &exchanges {
        for s in [&ex.method, &ex.host, &ex.path, &ex.user_agent] {
            assert!(s.bytes.len() <= limits.max_string_len);
        }
    }
    // One request, one exchange with a request (see `crate::event`).
    let with_request = exchanges
        .iter()
        .filter(|ex| !ex.flags.contains(crate::Flags::NO_REQUEST))
        .count();
    assert_eq!(started, with_request, "requests started vs reported");
    assert_eq!(counters.requests, started as u64);
    Outcome {
        exchanges,
        counters,
        dead,
    }
}
