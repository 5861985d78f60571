//! The transaction log: one JSON object per exchange, JSON Lines.
//!
//! Schema (version [`SCHEMA_VERSION`]), one object per line:
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `type` | `"exchange"` | record type |
//! | `schema` | integer | this schema's version |
//! | `ts` | number | time of the first request byte, seconds since the Unix epoch (9 decimals) |
//! | `client`, `server` | string or null | `ip:port` (`[v6]:port`) |
//! | `method`, `host`, `path`, `section`, `user_agent` | string | as sent; empty when absent |
//! | `version` | string | HTTP version of the request (`1.1`, `1.0`, `0.9`) |
//! | `status` | integer or null | final status code; null without response |
//! | `request_bytes`, `response_bytes` | integer | head + body bytes on the wire |
//! | `latency_ms` | number or null | first request byte to first response byte |
//! | `interim` | integer | interim 1xx responses before the final one |
//! | `flags` | array of strings | `no_response`, `gap`, `truncated`, `malformed`, `no_request` |
//!
//! Alerting events share the file (same `schema`, times `at` in epoch seconds):
//!
//! - `{"type":"learning_finished","at":..,"baseline":B,"baseline_floor":N,
//!   "learned_requests":C,"learned_over_s":L,"window_s":W,"message":..}`: `baseline` is
//!   the exact requests per window (`C × W / L`, up to two decimals);
//! - `{"type":"learning_restarted","at":..,"empty_periods":N,"message":..}`;
//! - `{"type":"alert","state":"started","at":..,"hits":H,"baseline":B,"threshold":P,
//!   "window_s":W,"message":..}`;
//! - `{"type":"alert","state":"recovered","at":..,"hits":H,"baseline":B,"threshold":P,
//!   "window_s":W,"duration_s":D,"peak":K,"message":..}`.
//!
//! Strings come from the wire: valid UTF-8 is kept (JSON-escaped as needed: quotes,
//! backslash; control characters, C1 controls and the invisible bidi/zero-width format
//! characters as `\uXXXX`, so a raw line printed on a terminal cannot drive it), and every byte that is not part of valid
//! UTF-8 is written as the four characters `\xHH` (so it is never dropped silently). A
//! string cut at the length limit carries the `truncated` flag.

use httptop_engine::alert::{AlertEvent, Baseline};
use httptop_engine::{Exchange, Flags, WireStr};
use httptop_wire::Timestamp;
use std::io::{self, Write};

/// Version of the record layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Writes JSON Lines records to `W`. Write errors are kept (the first one) instead of
/// being returned from [`httptop_engine::Sink`] callbacks: check [`JsonlWriter::error`].
pub struct JsonlWriter<W: Write> {
    w: W,
    line: Vec<u8>,
    error: Option<io::Error>,
    /// Baseline, window and threshold of the last alert start, repeated on its recovery.
    alert_context: Option<(Baseline, u64, u32)>,
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(w: W) -> Self {
        JsonlWriter {
            w,
            line: Vec::with_capacity(1024),
            error: None,
            alert_context: None,
        }
    }

    /// The first write error, if any (later records are dropped).
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()
    }

    pub fn into_inner(self) -> W {
        self.w
    }

    /// The underlying writer (e.g. to take the bytes written to a `Vec`).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.w
    }

    /// Appends one exchange record.
    pub fn write_exchange(&mut self, ex: &Exchange) {
        if self.error.is_some() {
            return;
        }
        let l = &mut self.line;
        l.clear();
        l.extend_from_slice(b"{\"type\":\"exchange\",\"schema\":");
        push_int(l, u64::from(SCHEMA_VERSION));
        l.extend_from_slice(b",\"ts\":");
        push_int(l, ex.ts.secs());
        l.push(b'.');
        push_padded(l, ex.ts.nanos() % 1_000_000_000, 9);
        l.extend_from_slice(b",\"client\":");
        push_addr(l, ex.client);
        l.extend_from_slice(b",\"server\":");
        push_addr(l, ex.server);
        push_field(l, b"method", &ex.method);
        push_field(l, b"host", &ex.host);
        push_field(l, b"path", &ex.path);
        l.extend_from_slice(b",\"section\":");
        push_str(l, ex.section());
        push_field(l, b"user_agent", &ex.user_agent);
        l.extend_from_slice(b",\"version\":\"");
        push_int(l, u64::from(ex.version.major));
        l.push(b'.');
        push_int(l, u64::from(ex.version.minor));
        l.extend_from_slice(b"\",\"status\":");
        match ex.status {
            Some(s) => push_int(l, u64::from(s)),
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(b",\"request_bytes\":");
        push_int(l, ex.request_bytes);
        l.extend_from_slice(b",\"response_bytes\":");
        push_int(l, ex.response_bytes);
        l.extend_from_slice(b",\"latency_ms\":");
        match ex.latency_ns {
            Some(ns) => {
                push_int(l, ns / 1_000_000);
                l.push(b'.');
                push_padded(l, ns % 1_000_000, 6);
            }
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(b",\"interim\":");
        push_int(l, u64::from(ex.interim_responses));
        l.extend_from_slice(b",\"flags\":[");
        let mut flags = ex.flags;
        for s in [&ex.method, &ex.host, &ex.path, &ex.user_agent] {
            if s.truncated {
                flags.insert(Flags::TRUNCATED);
            }
        }
        let mut first = true;
        for (f, name) in Flags::NAMES {
            if flags.contains(f) {
                if !first {
                    l.push(b',');
                }
                first = false;
                l.push(b'"');
                l.extend_from_slice(name.as_bytes());
                l.push(b'"');
            }
        }
        l.extend_from_slice(b"]}\n");
        if let Err(e) = self.w.write_all(&self.line) {
            self.error = Some(e);
        }
    }
}

impl<W: Write> JsonlWriter<W> {
    /// Appends one alerting event: `learning_finished`, `learning_restarted`, or `alert`
    /// with `state` `started` / `recovered` (see the module docs).
    pub fn write_alert(&mut self, ev: &AlertEvent) {
        if self.error.is_some() {
            return;
        }
        let l = &mut self.line;
        l.clear();
        match *ev {
            AlertEvent::LearningFinished {
                baseline,
                per_window,
                window_ns,
                at,
            } => {
                l.extend_from_slice(b"{\"type\":\"learning_finished\"");
                push_common(l, at);
                push_baseline(l, baseline, window_ns);
                l.extend_from_slice(b",\"baseline_floor\":");
                push_int(l, per_window);
                l.extend_from_slice(b",\"learned_requests\":");
                push_int(l, baseline.requests());
                l.extend_from_slice(b",\"learned_over_s\":");
                push_secs(l, baseline.over_ns());
                l.extend_from_slice(b",\"window_s\":");
                push_secs(l, window_ns);
            }
            AlertEvent::LearningRestarted { at, empty_periods } => {
                l.extend_from_slice(b"{\"type\":\"learning_restarted\"");
                push_common(l, at);
                l.extend_from_slice(b",\"empty_periods\":");
                push_int(l, empty_periods);
            }
            AlertEvent::AlertStarted {
                hits,
                baseline,
                window_ns,
                threshold_pct,
                at,
            } => {
                l.extend_from_slice(b"{\"type\":\"alert\"");
                push_common(l, at);
                self.alert_context = Some((baseline, window_ns, threshold_pct));
                l.extend_from_slice(b",\"state\":\"started\",\"hits\":");
                push_int(l, hits);
                push_baseline(l, baseline, window_ns);
                l.extend_from_slice(b",\"threshold\":");
                push_int(l, u64::from(threshold_pct));
                l.extend_from_slice(b",\"window_s\":");
                push_secs(l, window_ns);
            }
            AlertEvent::AlertRecovered {
                hits,
                at,
                duration_ns,
                peak,
            } => {
                l.extend_from_slice(b"{\"type\":\"alert\"");
                push_common(l, at);
                l.extend_from_slice(b",\"state\":\"recovered\",\"hits\":");
                push_int(l, hits);
                if let Some((baseline, window_ns, threshold_pct)) = self.alert_context {
                    push_baseline(l, baseline, window_ns);
                    l.extend_from_slice(b",\"threshold\":");
                    push_int(l, u64::from(threshold_pct));
                    l.extend_from_slice(b",\"window_s\":");
                    push_secs(l, window_ns);
                }
                l.extend_from_slice(b",\"duration_s\":");
                push_secs(l, duration_ns);
                l.extend_from_slice(b",\"peak\":");
                push_int(l, peak);
            }
        }
        l.extend_from_slice(b",\"message\":");
        push_str(l, ev.message().as_bytes());
        l.extend_from_slice(b"}\n");
        if let Err(e) = self.w.write_all(&self.line) {
            self.error = Some(e);
        }
    }
}

/// `,"baseline":B`: requests per window, exact to two decimals.
fn push_baseline(l: &mut Vec<u8>, b: Baseline, window_ns: u64) {
    l.extend_from_slice(b",\"baseline\":");
    l.extend_from_slice(b.per_window_display(window_ns).to_string().as_bytes());
}

/// `,"schema":N,"at":SECONDS`
fn push_common(l: &mut Vec<u8>, at: Timestamp) {
    l.extend_from_slice(b",\"schema\":");
    push_int(l, u64::from(SCHEMA_VERSION));
    l.extend_from_slice(b",\"at\":");
    push_secs(l, at.nanos());
}

/// Nanoseconds as seconds with 9 decimals (whole seconds without decimals).
fn push_secs(l: &mut Vec<u8>, ns: u64) {
    push_int(l, ns / 1_000_000_000);
    if ns % 1_000_000_000 != 0 {
        l.push(b'.');
        push_padded(l, ns % 1_000_000_000, 9);
    }
}

impl<W: Write> httptop_engine::Sink for JsonlWriter<W> {
    fn on_exchange(&mut self, ex: &Exchange) {
        self.write_exchange(ex);
    }
}

fn push_int(l: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    l.extend_from_slice(b.format(v).as_bytes());
}

fn push_padded(l: &mut Vec<u8>, v: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let s = b.format(v);
    for _ in s.len()..width {
        l.push(b'0');
    }
    l.extend_from_slice(s.as_bytes());
}

fn push_addr(l: &mut Vec<u8>, a: Option<std::net::SocketAddr>) {
    match a {
        Some(std::net::SocketAddr::V4(v4)) => {
            // The common case, without the formatting machinery.
            l.push(b'"');
            for (i, o) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    l.push(b'.');
                }
                push_int(l, u64::from(*o));
            }
            l.push(b':');
            push_int(l, u64::from(v4.port()));
            l.push(b'"');
        }
        Some(a) => {
            use std::io::Write as _;
            l.push(b'"');
            // Writing to a Vec cannot fail.
            let _ = write!(l, "{a}");
            l.push(b'"');
        }
        None => l.extend_from_slice(b"null"),
    }
}

fn push_field(l: &mut Vec<u8>, name: &[u8], v: &WireStr) {
    l.extend_from_slice(b",\"");
    l.extend_from_slice(name);
    l.extend_from_slice(b"\":");
    push_str(l, v.as_bytes());
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string literal; see the module docs for non-UTF-8 bytes.
pub fn push_str(l: &mut Vec<u8>, s: &[u8]) {
    l.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                push_utf8(l, valid);
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is valid UTF-8 by construction.
                push_utf8(l, std::str::from_utf8(good).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for &b in &bad[..n] {
                    l.extend_from_slice(b"\\\\x");
                    l.push(HEX[usize::from(b >> 4)]);
                    l.push(HEX[usize::from(b & 15)]);
                }
                rest = &bad[n..];
            }
        }
    }
    l.push(b'"');
}

/// Bytes that need escaping inside a JSON string (controls, quote, backslash, DEL).
/// Bytes that may start something to escape inside a JSON string: ASCII controls, quote,
/// backslash, DEL, and the lead bytes of the UTF-8 sequences of C1 controls and of the
/// invisible format characters (see `report::is_invisible`).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    let leads = [0xc2, 0xcd, 0xd8, 0xe1, 0xe2, 0xe3, 0xef, 0xf3];
    let mut k = 0;
    while k < leads.len() {
        t[leads[k]] = true;
        k += 1;
    }
    t
};

fn push_u16_escape(l: &mut Vec<u8>, u: u16) {
    l.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        l.push(HEX[usize::from((u >> shift) & 15)]);
    }
}

/// JSON-escapes `s`. Besides what JSON requires, control characters (C0, DEL, C1) and
/// the invisible format characters that reorder or hide text are written as `\uXXXX`
/// escapes: the value decodes to the same string, and the raw line cannot drive or
/// disguise a terminal it is printed on.
fn push_utf8(l: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(off) = bytes[start..]
        .iter()
        .position(|&b| NEEDS_ESCAPE[usize::from(b)])
    {
        let i = start + off;
        l.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        let mut next = i + 1;
        match b {
            b'"' => l.extend_from_slice(b"\\\""),
            b'\\' => l.extend_from_slice(b"\\\\"),
            b'\n' => l.extend_from_slice(b"\\n"),
            b'\r' => l.extend_from_slice(b"\\r"),
            b'\t' => l.extend_from_slice(b"\\t"),
            0..=0x7f => push_u16_escape(l, u16::from(b)),
            _ => {
                // `s` is valid UTF-8 and `i` starts a character.
                let ch = s
                    .get(i..)
                    .and_then(|t| t.chars().next())
                    .unwrap_or('\u{fffd}');
                next = i + ch.len_utf8();
                if ch.is_control() || crate::report::is_invisible(ch) {
                    let mut units = [0u16; 2];
                    for u in ch.encode_utf16(&mut units) {
                        push_u16_escape(l, *u);
                    }
                } else {
                    l.extend_from_slice(&bytes[i..next]);
                }
            }
        }
        start = next;
    }
    l.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use httptop_engine::Version;
    use httptop_wire::Timestamp;

    fn s(b: &[u8]) -> String {
        let mut v = Vec::new();
        push_str(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_escape_json_and_keep_invalid_bytes() {
        assert_eq!(s(b"plain"), "\"plain\"");
        assert_eq!(
            s(b"a\"b\\c\n\x1b[31m\x7f"),
            r#""a\"b\\c\n\u001b[31m\u007f""#
        );
        assert_eq!(s("é€".as_bytes()), "\"é€\"");
        // C1 controls and bidi/zero-width characters are escaped, losslessly.
        assert_eq!(
            s("a\u{9b}b\u{202e}c\u{200b}\u{e0041}¡".as_bytes()),
            r#""a\u009bb\u202ec\u200b\udb40\udc41¡""#
        );
        assert_eq!(s(b"a\xffb\xc3"), r#""a\\xffb\\xc3""#);
        // Every escaped string is valid JSON that decodes to valid text.
        for input in [
            &b"\xff\xfe"[..],
            b"\xe2\x82",
            b"\x00",
            b"ok\xf0\x9f\x98\x80",
        ] {
            let v: serde_json::Value = serde_json::from_str(&s(input)).unwrap();
            assert!(v.is_string());
        }
    }

    #[test]
    fn exchange_record_has_every_field() {
        let ex = Exchange {
            ts: Timestamp(1_700_000_000_123_456_789),
            client: Some("10.0.0.1:5555".parse().unwrap()),
            server: Some("[::1]:80".parse().unwrap()),
            method: WireStr::capped(b"GET", 1024),
            host: WireStr::capped(b"example.com", 1024),
            path: WireStr::capped(b"/api/user?id=1", 1024),
            user_agent: WireStr::capped(b"curl/8.0", 4),
            version: Version { major: 1, minor: 1 },
            status: Some(200),
            request_bytes: 78,
            response_bytes: 1234,
            latency_ns: Some(1_500_000),
            interim_responses: 0,
            flags: Flags::GAP,
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        let out = w.into_inner();
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "exchange");
        assert_eq!(v["schema"], 1);
        assert!((v["ts"].as_f64().unwrap() - 1_700_000_000.123_456_8).abs() < 1e-6);
        assert_eq!(v["client"], "10.0.0.1:5555");
        assert_eq!(v["server"], "[::1]:80");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["host"], "example.com");
        assert_eq!(v["path"], "/api/user?id=1");
        assert_eq!(v["section"], "/api");
        assert_eq!(v["user_agent"], "curl");
        assert_eq!(v["version"], "1.1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["request_bytes"], 78);
        assert_eq!(v["response_bytes"], 1234);
        assert_eq!(v["latency_ms"].as_f64().unwrap(), 1.5);
        assert_eq!(v["flags"], serde_json::json!(["gap", "truncated"]));
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains("\"ts\":1700000000.123456789,"));
    }

    #[test]
    fn missing_response_writes_nulls() {
        let ex = Exchange {
            flags: Flags::NO_RESPONSE,
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert!(v["status"].is_null() && v["latency_ms"].is_null() && v["client"].is_null());
        assert_eq!(v["flags"], serde_json::json!(["no_response"]));
    }
}
