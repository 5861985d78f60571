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
//! | `original_client` | string or null | the client behind a proxy: the source of the connection's PROXY protocol header, else the first address of `X-Forwarded-For`, else the first `for=` of `Forwarded`; `ip:port` (`[v6]:port`) when the header gave a port (PROXY always does), else `ip`; null without any |
//! | `method`, `host`, `path`, `section`, `user_agent` | wire string: string or `{"bytes":..}` | as sent; empty when absent |
//! | `version` | string | HTTP version of the request (`1.1`, `1.0`, `0.9`; `2` for HTTP/2) |
//! | `stream_id` | integer or null | HTTP/2 stream id; null for HTTP/1 |
//! | `status` | integer or null | final status code; null without response |
//! | `request_bytes`, `response_bytes` | integer | head + body bytes on the wire |
//! | `latency_ms` | number or null | first request byte to first response byte |
//! | `interim` | integer | interim 1xx responses before the final one |
//! | `grpc_status` | integer or null | gRPC calls: `grpc-status` of the trailers (0 OK, 5 NOT_FOUND, ..); null for other requests and for calls that ended without one (reset, cut) |
//! | `grpc_message` | wire string or null | gRPC: `grpc-message` as sent (still percent-encoded); null when absent or empty |
//! | `reset_code` | integer or null | HTTP/2: the error code of the RST_STREAM that ended the stream (flag `reset`); null otherwise |
//! | `tls` | boolean | true: read as TLS plaintext at OpenSSL's boundary (`--tls-plaintext`), not from packets; `request_bytes`/`response_bytes` are then plaintext bytes (head + body) |
//! | `process` | object or null | TLS plaintext: the process whose SSL calls carried the exchange, `{"pid":N,"comm":wire string}` (comm: the kernel's command name, at most 15 bytes); null from the wire |
//! | `peer_process` | object or null | TLS plaintext: the process at the other end when it is on this host too and was seen (curl -> nginx on one host: the exchange is logged once, from `process`'s side); same shape; null otherwise |
//! | `encap` | string or null | the tunnels that carried the connection, outermost first, joined by `/` (`vxlan`, `gre/erspan2`, `4in6/gre`; names: `vxlan`, `geneve`, `gre`, `erspan1`, `erspan2`, `erspan3`, `gtpu`, `teredo`, `4in4`, `6in4`, `4in6`, `6in6`, `mpls`, `pppoe`); null when none |
//! | `flags` | array of strings | `no_response`, `gap`, `truncated`, `malformed`, `no_request`, `grpc` (a gRPC call), `reset` (HTTP/2 stream reset), `goaway` (stream cut by a GOAWAY), `trailers` (the response ended with trailers) |
//!
//! A WebSocket connection is one record when it ends (`"type":"websocket"`, same
//! `schema`): `ts` (the upgrade request's first byte), `end` (the last frame or the
//! close), `client`, `server`, `original_client` as above, `host` and `path` of the
//! upgrade request (wire strings), `version` (`1.1`, or `2` for an RFC 8441 extended
//! CONNECT), `stream_id` (null over HTTP/1.1), `frames_to_server`, `frames_to_client`
//! (control frames included), `messages_to_server`, `messages_to_client` (complete data
//! messages), `payload_to_server`, `payload_to_client` (payload bytes of all frames),
//! `close_code` (of the first Close frame; null without one or without a code),
//! `close_reason` (wire string; null when empty), `encap`, and `flags` (`gap`,
//! `malformed`: framing broken, the rest counted as bytes only; `truncated`: ended
//! without a Close frame, or a string was cut; `reset`: its HTTP/2 stream was reset). The exchange of the upgrade request
//! (status 101) is logged as any other.
//!
//! A TLS connection is one record when it ends, or at the end of the run
//! (`"type":"tls"`, same `schema`; nothing is decrypted, everything comes from the
//! handshake in clear):
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `ts`, `end` | number | the connection's first TLS byte; its last packet or close |
//! | `client`, `server` | string | `ip:port` |
//! | `sni` | wire string or null | server_name of the ClientHello; null without one (ECH: the outer, public name) |
//! | `alpn` | wire string or null | the protocol the ServerHello chose |
//! | `alpn_offered` | array of wire strings | the ClientHello's ALPN list (at most 16) |
//! | `version` | string or null | the version the server chose (`TLS 1.3` from supported_versions, `TLS 1.2`, .., `SSL 3.0`; `0x....` for an unnamed one); null without ServerHello |
//! | `client_version` | string or null | the highest version the client offered |
//! | `cipher` | string or null | the chosen cipher suite's IANA name (`TLS_AES_128_GCM_SHA256`; `0x....` unnamed) |
//! | `ja4` | string or null | the JA4 fingerprint of the ClientHello |
//! | `handshake_ms` | number or null | ClientHello to ServerHello (packet times) |
//! | `duration_ms` | number | `ts` to `end` |
//! | `bytes_to_server`, `bytes_to_client` | integer | TCP payload bytes each way (records, encrypted ones included) |
//! | `alert` | object or null | the first fatal alert seen in clear, else the first alert: `level` (`warning`/`fatal`), `code`, `description` (`handshake_failure`, `unknown_ca`, ..; null if unnamed), `from` (`client`/`server`) |
//! | `cert` | object or null | the server's leaf certificate (TLS <= 1.2 only: TLS 1.3 encrypts it): `chain_len`, `subject` and `issuer` (common name, else the distinguished name), `sans`, `not_before`, `not_after` (Unix seconds), `days_left` (whole days from `ts` to `not_after`, negative once expired) |
//! | `encap` | string or null | as for exchanges |
//! | `flags` | array of strings | `complete` (both sides went encrypted without a fatal alert), `no_client_hello`, `no_server_hello`, `gap`, `truncated` (a message or list cut at a limit), `malformed` (the record layer broke), `bad_message` (a handshake message did not parse), `hrr` (a TLS 1.3 HelloRetryRequest came first), `bad_cert` (the leaf did not decode, or was over `max_tls_cert_bytes`), `sslv2_hello` (an SSLv2-compatible ClientHello: version only, no JA4), `midstream` (joined after the handshake: found by three well-formed record headers) |
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
//! Every alerting event also has `"kind"` (`rate` for the above; `errors`, `latency`) and
//! `"server"` (null when global, else the server's name as a wire string). Errors and
//! latency events carry values in their kind's unit: `errors` a share in percent (two
//! decimals, `12.5` is 12.5 %), `latency` a p95 in seconds (nine decimals):
//!
//! - `{"type":"learning_finished","kind":..,"server":..,"at":..,"baseline":B,
//!   "learned_responses":N,"message":..}`;
//! - `{"type":"learning_restarted","kind":..,"server":..,"at":..,"empty_periods":N,..}`;
//! - `{"type":"alert","kind":..,"server":..,"state":"started","at":..,"value":V,
//!   "baseline":B,"threshold":P,"responses":N,"message":..}` (`responses` in the window);
//! - `{"type":"alert","kind":..,"server":..,"state":"recovered","at":..,"value":V,
//!   "duration_s":D,"peak":K,"message":..}` (`value` null when the window held fewer
//!   than `--min-responses`).
//!
//! Wire strings (the fields marked so above) keep their exact bytes, the way
//! ripgrep's JSON printer does:
//!
//! - bytes that are valid UTF-8 are a JSON string, escaped as needed: quote and backslash;
//!   control characters, C1 controls and the invisible bidi/zero-width format characters
//!   as `\uXXXX`, so a raw line printed on a terminal cannot drive or disguise it (the
//!   value decodes to the same text);
//! - any other bytes are an object `{"bytes":"<base64>"}` (standard alphabet, padded)
//!   holding all of them, so they can never be confused with a string that was sent as
//!   text (schema 1 wrote a bad byte as the four characters `\xHH`, which the wire can
//!   carry too).
//!
//! A string cut at the length limit carries the `truncated` flag; a cut inside a
//! multi-byte character leaves bytes that are not UTF-8, written as `{"bytes":..}`.
//! Alerting events hold no wire string.

use httptop_engine::alert::{AlertEvent, AlertKind, Baseline, ServerName, SignalEvent};
use httptop_engine::tls::{self, TlsFlags};
use httptop_engine::{
    event::section_of, Exchange, Flags, OriginalClient, TlsSession, Version, WebSocketSession,
    WireStr,
};
use httptop_wire::Encap;
use httptop_wire::Timestamp;
use std::io::{self, Write};
use std::net::SocketAddr;

/// Version of the record layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

/// Writes JSON Lines records to `W`. Write errors are kept (the first one) instead of
/// being returned from [`httptop_engine::Sink`] callbacks: check [`JsonlWriter::error`].
pub struct JsonlWriter<W: Write> {
    w: W,
    line: Vec<u8>,
    error: Option<io::Error>,
    /// Baseline, window and threshold of the last alert start, repeated on its recovery.
    alert_context: Option<(Baseline, u64, u32)>,
    /// The `"client"`/`"server"` text of recent connections.
    ends: EndsCache,
    /// Long wire strings recently written as they are.
    seen: SeenCache,
}

/// Long wire strings (32 to 192 bytes: user agents, hosts, paths, which repeat) last
/// found to be plain printable ASCII, one per slot (by length and first and last eight
/// bytes): a string equal to its slot's is written without checking it again. Fixed size
/// (64 slots of 192 bytes, allocated with the first record); the comparison makes a
/// collision harmless.
struct SeenCache {
    slots: Vec<(usize, [u8; 192])>,
}

impl SeenCache {
    const SLOTS: usize = 64;

    /// `prefix` then what [`push_wire`] writes for `s`.
    fn push_field(&mut self, l: &mut Vec<u8>, prefix: &[u8], s: &[u8]) {
        l.extend_from_slice(prefix);
        let (Some(head), Some(tail)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) else {
            return push_wire(l, s);
        };
        if !(32..=192).contains(&s.len()) {
            return push_wire(l, s);
        }
        if self.slots.is_empty() {
            self.slots = vec![(0, [0; 192]); Self::SLOTS];
        }
        let h = (u64::from_le_bytes(*head) ^ u64::from_le_bytes(*tail).rotate_left(29))
            .wrapping_add(s.len() as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let Some(slot) = self.slots.get_mut((h >> 58) as usize % Self::SLOTS) else {
            return push_wire(l, s);
        };
        let hit = slot.0 == s.len() && slot.1.get(..s.len()) == Some(s);
        if hit || is_plain_ascii(s) {
            l.reserve(s.len() + 2);
            l.push(b'"');
            l.extend_from_slice(s);
            l.push(b'"');
            if !hit {
                if let Some(room) = slot.1.get_mut(..s.len()) {
                    room.copy_from_slice(s);
                    slot.0 = s.len();
                }
            }
        } else {
            push_wire(l, s);
        }
    }
}

/// The `,"client":..,"server":..` text last written per slot (a slot per pair of
/// addresses, by their ports): the exchanges of one connection repeat it, so it is
/// formatted once per connection, then copied. Fixed size (256 slots of 128 bytes of
/// text, allocated with the first record); a collision, or a longer text, only formats
/// again.
struct EndsCache {
    slots: Vec<EndsSlot>,
}

type Ends = (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>);

#[derive(Clone)]
struct EndsSlot {
    key: Option<Ends>,
    len: usize,
    text: [u8; 128],
}

impl EndsCache {
    const SLOTS: usize = 256;

    /// Appends what [`push_ends`] appends.
    fn push(
        &mut self,
        l: &mut Vec<u8>,
        client: Option<std::net::SocketAddr>,
        server: Option<std::net::SocketAddr>,
    ) {
        if self.slots.is_empty() {
            let empty = EndsSlot {
                key: None,
                len: 0,
                text: [0; 128],
            };
            self.slots = vec![empty; Self::SLOTS];
        }
        // Multiplicative hashing of both ports: ephemeral ports differ in their high bits
        // as much as in their low ones (Linux picks even ones for connect()).
        let port = |a: Option<std::net::SocketAddr>| a.map_or(0, |a| u32::from(a.port()));
        let h = port(client).wrapping_mul(0x9e37_79b9) ^ port(server).wrapping_mul(0x85eb_ca6b);
        let i = (h >> 24) as usize % Self::SLOTS;
        let Some(slot) = self.slots.get_mut(i) else {
            return push_ends(l, client, server);
        };
        if slot.key == Some((client, server)) {
            if let Some(text) = slot.text.get(..slot.len) {
                l.extend_from_slice(text);
                return;
            }
        }
        let start = l.len();
        push_ends(l, client, server);
        if let (Some(written), Some(room)) = (
            l.get(start..),
            slot.text.get_mut(..l.len().saturating_sub(start)),
        ) {
            room.copy_from_slice(written);
            slot.len = written.len();
            slot.key = Some((client, server));
        } else {
            slot.key = None;
        }
    }
}

/// What the log writes of an exchange, its strings as `S`: borrowed (`&[u8]`, from
/// [`ExchangeRecord::of`]) to be written by [`JsonlWriter::write_record`], or anything
/// that leads to them (places in a buffer of bytes, through [`ExchangeRecord::map`]), so
/// that an exchange can be handed to another thread as one flat copy instead of a clone
/// of each of its strings.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeRecord<S> {
    pub ts: Timestamp,
    pub client: Option<SocketAddr>,
    pub server: Option<SocketAddr>,
    pub original_client: Option<OriginalClient>,
    pub method: S,
    pub host: S,
    /// The section is written from it ([`section_of`]).
    pub path: S,
    pub user_agent: S,
    pub version: Version,
    pub status: Option<u16>,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub latency_ns: Option<u64>,
    pub interim_responses: u8,
    /// The exchange's flags, and [`Flags::TRUNCATED`] when one of its strings was cut.
    pub flags: Flags,
    pub encap: Encap,
    pub stream_id: u32,
    pub reset_code: Option<u32>,
    pub grpc_status: Option<u32>,
    pub grpc_message: S,
    pub tls: bool,
    /// `pid` and `comm` of [`Exchange::process`].
    pub process: Option<(u32, S)>,
    /// `pid` and `comm` of [`Exchange::peer_process`].
    pub peer_process: Option<(u32, S)>,
}

impl<'a> ExchangeRecord<&'a [u8]> {
    /// What the log writes of `ex`.
    #[inline]
    pub fn of(ex: &'a Exchange) -> Self {
        let mut flags = ex.flags;
        if ex.method.truncated
            || ex.host.truncated
            || ex.path.truncated
            || ex.user_agent.truncated
            || ex.grpc_message.truncated
        {
            flags.insert(Flags::TRUNCATED);
        }
        let process =
            |p: &'a Option<httptop_engine::Process>| p.as_ref().map(|p| (p.pid, p.comm.as_bytes()));
        ExchangeRecord {
            ts: ex.ts,
            client: ex.client,
            server: ex.server,
            original_client: ex.original_client,
            method: ex.method.as_bytes(),
            host: ex.host.as_bytes(),
            path: ex.path.as_bytes(),
            user_agent: ex.user_agent.as_bytes(),
            version: ex.version,
            status: ex.status,
            request_bytes: ex.request_bytes,
            response_bytes: ex.response_bytes,
            latency_ns: ex.latency_ns,
            interim_responses: ex.interim_responses,
            flags,
            encap: ex.encap,
            stream_id: ex.stream_id,
            reset_code: ex.reset_code,
            grpc_status: ex.grpc_status,
            grpc_message: ex.grpc_message.as_bytes(),
            tls: ex.tls,
            process: process(&ex.process),
            peer_process: process(&ex.peer_process),
        }
    }
}

impl<S> ExchangeRecord<S> {
    /// The same record with each string `s` replaced by `f(s)`, in the order of the
    /// fields.
    #[inline]
    pub fn map<T>(self, mut f: impl FnMut(S) -> T) -> ExchangeRecord<T> {
        let method = f(self.method);
        let host = f(self.host);
        let path = f(self.path);
        let user_agent = f(self.user_agent);
        let grpc_message = f(self.grpc_message);
        let process = self.process.map(|(pid, comm)| (pid, f(comm)));
        let peer_process = self.peer_process.map(|(pid, comm)| (pid, f(comm)));
        ExchangeRecord {
            ts: self.ts,
            client: self.client,
            server: self.server,
            original_client: self.original_client,
            method,
            host,
            path,
            user_agent,
            version: self.version,
            status: self.status,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            latency_ns: self.latency_ns,
            interim_responses: self.interim_responses,
            flags: self.flags,
            encap: self.encap,
            stream_id: self.stream_id,
            reset_code: self.reset_code,
            grpc_status: self.grpc_status,
            grpc_message,
            tls: self.tls,
            process,
            peer_process,
        }
    }
}

impl<W: Write> JsonlWriter<W> {
    pub fn new(w: W) -> Self {
        JsonlWriter {
            w,
            line: Vec::with_capacity(1024),
            error: None,
            alert_context: None,
            ends: EndsCache { slots: Vec::new() },
            seen: SeenCache { slots: Vec::new() },
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
        self.write_record(&ExchangeRecord::of(ex));
    }

    /// Appends one exchange record from what it holds of the exchange (the same line as
    /// [`JsonlWriter::write_exchange`] of that exchange).
    pub fn write_record(&mut self, ex: &ExchangeRecord<&[u8]>) {
        if self.error.is_some() {
            return;
        }
        let l = &mut self.line;
        l.clear();
        // `push_head(l, b"exchange", ex.ts)` in one piece.
        const _: () = assert!(SCHEMA_VERSION == 2, "update the exchange head");
        l.extend_from_slice(b"{\"type\":\"exchange\",\"schema\":2,\"ts\":");
        push_ts(l, ex.ts);
        self.ends.push(l, ex.client, ex.server);
        l.extend_from_slice(b",\"original_client\":");
        push_original(l, ex.original_client);
        let seen = &mut self.seen;
        seen.push_field(l, b",\"method\":", ex.method);
        seen.push_field(l, b",\"host\":", ex.host);
        seen.push_field(l, b",\"path\":", ex.path);
        seen.push_field(l, b",\"section\":", section_of(ex.path));
        seen.push_field(l, b",\"user_agent\":", ex.user_agent);
        if ex.version == (Version { major: 1, minor: 1 }) && ex.stream_id == 0 {
            // Nearly every HTTP/1 exchange: the three fields as one constant.
            l.extend_from_slice(b",\"version\":\"1.1\",\"stream_id\":null,\"status\":");
        } else {
            push_version(l, ex.version);
            l.extend_from_slice(b",\"stream_id\":");
            push_stream_id(l, ex.stream_id);
            l.extend_from_slice(b",\"status\":");
        }
        match ex.status {
            Some(s) => push_int(l, u64::from(s)),
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(b",\"request_bytes\":");
        push_int(l, ex.request_bytes);
        l.extend_from_slice(b",\"response_bytes\":");
        push_int(l, ex.response_bytes);
        l.extend_from_slice(b",\"latency_ms\":");
        push_opt_ms(l, ex.latency_ns);
        if ex.interim_responses == 0
            && ex.grpc_status.is_none()
            && ex.grpc_message.is_empty()
            && ex.reset_code.is_none()
            && !ex.tls
            && ex.process.is_none()
            && ex.peer_process.is_none()
            && ex.encap.is_empty()
            && ex.flags.is_empty()
        {
            // Nearly every exchange from the wire: what the fields below write for it, as
            // one constant.
            l.extend_from_slice(
                b",\"interim\":0,\"grpc_status\":null,\"grpc_message\":null,\"reset_code\":null,\
                  \"tls\":false,\"process\":null,\"peer_process\":null,\"encap\":null,\"flags\":[]}\n",
            );
            self.emit();
            return;
        }
        l.extend_from_slice(b",\"interim\":");
        push_int(l, u64::from(ex.interim_responses));
        l.extend_from_slice(b",\"grpc_status\":");
        push_opt(l, ex.grpc_status.map(u64::from));
        l.extend_from_slice(b",\"grpc_message\":");
        if ex.grpc_message.is_empty() {
            l.extend_from_slice(b"null");
        } else {
            push_wire(l, ex.grpc_message);
        }
        l.extend_from_slice(b",\"reset_code\":");
        push_opt(l, ex.reset_code.map(u64::from));
        l.extend_from_slice(if ex.tls {
            b",\"tls\":true"
        } else {
            b",\"tls\":false"
        });
        l.extend_from_slice(b",\"process\":");
        push_process(l, ex.process);
        l.extend_from_slice(b",\"peer_process\":");
        push_process(l, ex.peer_process);
        push_encap(l, &ex.encap);
        l.extend_from_slice(b",\"flags\":[");
        push_flags(l, ex.flags);
        l.extend_from_slice(b"}\n");
        self.emit();
    }

    /// Appends one WebSocket record (see the module docs).
    pub fn write_websocket(&mut self, ws: &WebSocketSession) {
        if self.error.is_some() {
            return;
        }
        let l = &mut self.line;
        l.clear();
        push_head(l, b"websocket", ws.ts);
        l.extend_from_slice(b",\"end\":");
        push_ts(l, ws.end);
        self.ends.push(l, ws.client, ws.server);
        l.extend_from_slice(b",\"original_client\":");
        push_original(l, ws.original_client);
        push_field(l, b"host", &ws.host);
        push_field(l, b"path", &ws.path);
        push_version(l, ws.version);
        l.extend_from_slice(b",\"stream_id\":");
        push_stream_id(l, ws.stream_id);
        for (name, v) in [
            (&b"frames_to_server"[..], ws.frames_to_server),
            (b"frames_to_client", ws.frames_to_client),
            (b"messages_to_server", ws.messages_to_server),
            (b"messages_to_client", ws.messages_to_client),
            (b"payload_to_server", ws.payload_to_server),
            (b"payload_to_client", ws.payload_to_client),
        ] {
            l.extend_from_slice(b",\"");
            l.extend_from_slice(name);
            l.extend_from_slice(b"\":");
            push_int(l, v);
        }
        l.extend_from_slice(b",\"close_code\":");
        push_opt(l, ws.close_code.map(u64::from));
        l.extend_from_slice(b",\"close_reason\":");
        if ws.close_reason.is_empty() {
            l.extend_from_slice(b"null");
        } else {
            push_wire(l, ws.close_reason.as_bytes());
        }
        push_encap(l, &ws.encap);
        let mut flags = ws.flags;
        for s in [&ws.host, &ws.path, &ws.close_reason] {
            if s.truncated {
                flags.insert(Flags::TRUNCATED);
            }
        }
        l.extend_from_slice(b",\"flags\":[");
        push_flags(l, flags);
        l.extend_from_slice(b"}\n");
        self.emit();
    }
}

impl<W: Write> JsonlWriter<W> {
    /// Writes one `"type":"tls"` record (see the module docs).
    pub fn write_tls(&mut self, t: &TlsSession) {
        if self.error.is_some() {
            return;
        }
        let l = &mut self.line;
        l.clear();
        push_head(l, b"tls", t.ts);
        l.extend_from_slice(b",\"end\":");
        push_ts(l, t.end);
        self.ends.push(l, t.client, t.server);
        push_opt_wire(l, b"sni", t.sni.as_ref());
        push_opt_wire(l, b"alpn", t.alpn.as_ref());
        push_wire_list(l, b"alpn_offered", &t.alpn_offered);
        push_named(l, b"version", t.version, tls::names::version);
        push_named(l, b"client_version", t.client_version, tls::names::version);
        push_named(l, b"cipher", t.cipher, tls::names::cipher);
        l.extend_from_slice(b",\"ja4\":");
        match &t.ja4 {
            Some(j) => push_wire(l, j.as_bytes()),
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(b",\"handshake_ms\":");
        push_opt_ms(l, t.handshake_ns);
        l.extend_from_slice(b",\"duration_ms\":");
        push_opt_ms(l, Some(t.end.since(t.ts)));
        l.extend_from_slice(b",\"bytes_to_server\":");
        push_int(l, t.bytes_to_server);
        l.extend_from_slice(b",\"bytes_to_client\":");
        push_int(l, t.bytes_to_client);
        l.extend_from_slice(b",\"alert\":");
        match t.alert {
            Some(a) => {
                l.extend_from_slice(b"{\"level\":");
                l.extend_from_slice(match a.level {
                    1 => b"\"warning\"",
                    2 => b"\"fatal\"",
                    _ => b"null",
                });
                l.extend_from_slice(b",\"code\":");
                push_int(l, u64::from(a.description));
                l.extend_from_slice(b",\"description\":");
                match tls::names::alert(a.description) {
                    Some(n) => push_wire(l, n.as_bytes()),
                    None => l.extend_from_slice(b"null"),
                }
                l.extend_from_slice(if a.from_client {
                    b",\"from\":\"client\"}"
                } else {
                    b",\"from\":\"server\"}"
                });
            }
            None => l.extend_from_slice(b"null"),
        }
        l.extend_from_slice(b",\"cert\":");
        match &t.cert {
            Some(c) => {
                l.push(b'{');
                l.extend_from_slice(b"\"chain_len\":");
                push_int(l, u64::from(c.chain_len));
                push_opt_wire(l, b"subject", c.subject.as_ref());
                push_opt_wire(l, b"issuer", c.issuer.as_ref());
                push_wire_list(l, b"sans", &c.sans);
                for (name, v) in [
                    (&b"not_before"[..], c.not_before),
                    (b"not_after", c.not_after),
                ] {
                    l.extend_from_slice(b",\"");
                    l.extend_from_slice(name);
                    l.extend_from_slice(b"\":");
                    push_opt_i64(l, v);
                }
                l.extend_from_slice(b",\"days_left\":");
                push_opt_i64(l, c.days_left(t.ts));
                l.push(b'}');
            }
            None => l.extend_from_slice(b"null"),
        }
        push_encap(l, &t.encap);
        let mut flags = t.flags;
        let cut = [&t.sni, &t.alpn]
            .into_iter()
            .flatten()
            .chain(&t.alpn_offered)
            .any(|s| s.truncated);
        if cut {
            flags.insert(TlsFlags::TRUNCATED);
        }
        l.extend_from_slice(b",\"flags\":[");
        push_names(
            l,
            TlsFlags::NAMES
                .iter()
                .filter(|(f, _)| flags.contains(*f))
                .map(|(_, n)| *n),
        );
        l.extend_from_slice(b"}\n");
        self.emit();
    }
}

impl<W: Write> JsonlWriter<W> {
    /// Writes the line built in `self.line`; the first error is kept and stops writing.
    fn emit(&mut self) {
        if let Err(e) = self.w.write_all(&self.line) {
            self.error = Some(e);
        }
    }
}

/// `{"type":"TY","schema":N,"ts":TS`
fn push_head(l: &mut Vec<u8>, ty: &[u8], ts: Timestamp) {
    l.extend_from_slice(b"{\"type\":\"");
    l.extend_from_slice(ty);
    l.extend_from_slice(b"\",\"schema\":");
    push_int(l, u64::from(SCHEMA_VERSION));
    l.extend_from_slice(b",\"ts\":");
    push_ts(l, ts);
}

/// `,"client":..,"server":..`
fn push_ends(
    l: &mut Vec<u8>,
    client: Option<std::net::SocketAddr>,
    server: Option<std::net::SocketAddr>,
) {
    l.extend_from_slice(b",\"client\":");
    push_addr(l, client);
    l.extend_from_slice(b",\"server\":");
    push_addr(l, server);
}

/// `,"name":[<wire string>,..]`
fn push_wire_list(l: &mut Vec<u8>, name: &[u8], items: &[WireStr]) {
    l.extend_from_slice(b",\"");
    l.extend_from_slice(name);
    l.extend_from_slice(b"\":[");
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            l.push(b',');
        }
        push_wire(l, a.as_bytes());
    }
    l.push(b']');
}

/// `,"name":<wire string>` or `,"name":null`.
fn push_opt_wire(l: &mut Vec<u8>, name: &[u8], v: Option<&WireStr>) {
    l.extend_from_slice(b",\"");
    l.extend_from_slice(name);
    l.extend_from_slice(b"\":");
    match v {
        Some(v) => push_wire(l, v.as_bytes()),
        None => l.extend_from_slice(b"null"),
    }
}

/// `,"name":"<name of v>"`, `"0x1a1a"` for a number without a name, or null.
fn push_named(
    l: &mut Vec<u8>,
    name: &[u8],
    v: Option<u16>,
    names: fn(u16) -> Option<&'static str>,
) {
    l.extend_from_slice(b",\"");
    l.extend_from_slice(name);
    l.extend_from_slice(b"\":");
    match v {
        Some(v) => match names(v) {
            Some(n) => push_wire(l, n.as_bytes()),
            None => push_wire(l, format!("0x{v:04x}").as_bytes()),
        },
        None => l.extend_from_slice(b"null"),
    }
}

/// Nanoseconds as milliseconds with 6 decimals, or null.
fn push_opt_ms(l: &mut Vec<u8>, ns: Option<u64>) {
    match ns {
        Some(ns) => {
            push_int(l, ns / 1_000_000);
            let mut b = [b'.'; 7];
            b[1..].copy_from_slice(&digits::<6>(ns));
            l.extend_from_slice(&b);
        }
        None => l.extend_from_slice(b"null"),
    }
}

fn push_opt_i64(l: &mut Vec<u8>, v: Option<i64>) {
    match v {
        Some(v) => {
            if v < 0 {
                l.push(b'-');
            }
            push_int(l, v.unsigned_abs());
        }
        None => l.extend_from_slice(b"null"),
    }
}

/// `,"version":"1.1"` (`"2"` for HTTP/2).
fn push_version(l: &mut Vec<u8>, v: Version) {
    // The versions that occur, as one constant each.
    let known: &[u8] = match (v.major, v.minor) {
        (1, 1) => b",\"version\":\"1.1\"",
        (1, 0) => b",\"version\":\"1.0\"",
        (0, 9) => b",\"version\":\"0.9\"",
        _ if v == Version::HTTP2 => b",\"version\":\"2\"",
        _ => b"",
    };
    if !known.is_empty() {
        l.extend_from_slice(known);
        return;
    }
    l.extend_from_slice(b",\"version\":\"");
    push_int(l, u64::from(v.major));
    l.push(b'.');
    push_int(l, u64::from(v.minor));
    l.push(b'"');
}

/// An HTTP/2 stream id; null for 0 (HTTP/1: stream 0 never carries a request).
/// `{"pid":..,"comm":..}` or `null`.
fn push_process(l: &mut Vec<u8>, p: Option<(u32, &[u8])>) {
    match p {
        Some((pid, comm)) => {
            l.extend_from_slice(b"{\"pid\":");
            push_int(l, u64::from(pid));
            l.extend_from_slice(b",\"comm\":");
            push_wire(l, comm);
            l.push(b'}');
        }
        None => l.extend_from_slice(b"null"),
    }
}

fn push_stream_id(l: &mut Vec<u8>, id: u32) {
    if id == 0 {
        l.extend_from_slice(b"null");
    } else {
        push_int(l, u64::from(id));
    }
}

fn push_opt(l: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_int(l, v),
        None => l.extend_from_slice(b"null"),
    }
}

fn push_ts(l: &mut Vec<u8>, ts: Timestamp) {
    push_int(l, ts.secs());
    let mut b = [b'.'; 10];
    b[1..].copy_from_slice(&digits::<9>(ts.nanos()));
    l.extend_from_slice(&b);
}

/// The decimal digits of each number below 100.
const PAIRS: [[u8; 2]; 100] = {
    let mut t = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    t
};

/// The last `N` decimal digits of `v` (of `v % 10^N`, zeros in front), two at a time.
#[inline]
fn digits<const N: usize>(v: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    let mut v = v;
    let mut i = N;
    while i >= 2 {
        let [a, b] = PAIRS[(v % 100) as usize];
        out[i - 2] = a;
        out[i - 1] = b;
        v /= 100;
        i -= 2;
    }
    if i == 1 {
        out[0] = b'0' + (v % 10) as u8;
    }
    out
}

fn push_original(l: &mut Vec<u8>, oc: Option<httptop_engine::OriginalClient>) {
    match oc {
        Some(oc) => {
            use std::io::Write as _;
            l.push(b'"');
            // Writing to a Vec cannot fail.
            let _ = write!(l, "{oc}");
            l.push(b'"');
        }
        None => l.extend_from_slice(b"null"),
    }
}

/// `,"encap":..`: the tunnels joined by `/`, or null.
fn push_encap(l: &mut Vec<u8>, encap: &httptop_wire::Encap) {
    l.extend_from_slice(b",\"encap\":");
    if encap.is_empty() {
        l.extend_from_slice(b"null");
    } else {
        for (i, k) in encap.iter().enumerate() {
            l.extend_from_slice(if i == 0 { b"\"" } else { b"/" });
            l.extend_from_slice(k.name().as_bytes());
        }
        l.push(b'"');
    }
}

/// The flag names, then `]` (the caller wrote `[`).
fn push_flags(l: &mut Vec<u8>, flags: Flags) {
    if flags.is_empty() {
        l.push(b']');
        return;
    }
    push_names(
        l,
        Flags::NAMES
            .iter()
            .filter(|(f, _)| flags.contains(*f))
            .map(|(_, n)| *n),
    );
}

/// `"a","b"` then `]` (the caller wrote `[`): flag names, plain ASCII.
fn push_names<'a>(l: &mut Vec<u8>, names: impl Iterator<Item = &'a str>) {
    for (i, name) in names.enumerate() {
        if i > 0 {
            l.push(b',');
        }
        l.push(b'"');
        l.extend_from_slice(name.as_bytes());
        l.push(b'"');
    }
    l.push(b']');
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
                push_kind(l, AlertKind::Rate, None);
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
                push_kind(l, AlertKind::Rate, None);
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
                push_kind(l, AlertKind::Rate, None);
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
                push_kind(l, AlertKind::Rate, None);
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
            AlertEvent::Signal {
                kind,
                ref server,
                event,
            } => push_signal(l, kind, server.as_ref(), event),
        }
        l.extend_from_slice(b",\"message\":");
        push_str(l, ev.message().as_bytes());
        l.extend_from_slice(b"}\n");
        self.emit();
    }
}

/// `,"baseline":B`: requests per window, exact to two decimals.
fn push_baseline(l: &mut Vec<u8>, b: Baseline, window_ns: u64) {
    l.extend_from_slice(b",\"baseline\":");
    l.extend_from_slice(b.per_window_display(window_ns).to_string().as_bytes());
}

/// `,"schema":N,"at":SECONDS`
/// `,"kind":K,"server":S`.
fn push_kind(l: &mut Vec<u8>, kind: AlertKind, server: Option<&ServerName>) {
    l.extend_from_slice(b",\"kind\":\"");
    l.extend_from_slice(kind.name().as_bytes());
    l.extend_from_slice(b"\",\"server\":");
    match server {
        Some(s) => push_wire(l, s.as_bytes()),
        None => l.extend_from_slice(b"null"),
    }
}

/// A value of `kind`: percent with two decimals from basis points, or seconds.
fn push_value(l: &mut Vec<u8>, kind: AlertKind, v: u64) {
    if kind == AlertKind::Latency {
        push_secs(l, v);
    } else {
        push_int(l, v / 100);
        l.push(b'.');
        push_padded(l, v % 100, 2);
    }
}

/// An errors or latency event, after its `type` (see the module docs).
fn push_signal(l: &mut Vec<u8>, kind: AlertKind, server: Option<&ServerName>, ev: SignalEvent) {
    let ty: &[u8] = match ev {
        SignalEvent::Learned { .. } => b"learning_finished",
        SignalEvent::Restarted { .. } => b"learning_restarted",
        SignalEvent::Started { .. } | SignalEvent::Recovered { .. } => b"alert",
    };
    l.extend_from_slice(b"{\"type\":\"");
    l.extend_from_slice(ty);
    l.push(b'"');
    push_common(l, ev_at(ev));
    push_kind(l, kind, server);
    match ev {
        SignalEvent::Learned { baseline, .. } => {
            l.extend_from_slice(b",\"baseline\":");
            push_value(l, kind, baseline.value());
            l.extend_from_slice(b",\"learned_responses\":");
            push_int(l, baseline.responses());
        }
        SignalEvent::Restarted { empty_periods, .. } => {
            l.extend_from_slice(b",\"empty_periods\":");
            push_int(l, empty_periods);
        }
        SignalEvent::Started {
            value,
            responses,
            baseline,
            threshold_pct,
            ..
        } => {
            l.extend_from_slice(b",\"state\":\"started\",\"value\":");
            push_value(l, kind, value);
            l.extend_from_slice(b",\"baseline\":");
            push_value(l, kind, baseline.value());
            l.extend_from_slice(b",\"threshold\":");
            push_int(l, u64::from(threshold_pct));
            l.extend_from_slice(b",\"responses\":");
            push_int(l, responses);
        }
        SignalEvent::Recovered {
            value,
            duration_ns,
            peak,
            ..
        } => {
            l.extend_from_slice(b",\"state\":\"recovered\",\"value\":");
            match value {
                Some(v) => push_value(l, kind, v),
                None => l.extend_from_slice(b"null"),
            }
            l.extend_from_slice(b",\"duration_s\":");
            push_secs(l, duration_ns);
            l.extend_from_slice(b",\"peak\":");
            push_value(l, kind, peak);
        }
    }
}

fn ev_at(ev: SignalEvent) -> Timestamp {
    match ev {
        SignalEvent::Learned { at, .. }
        | SignalEvent::Restarted { at, .. }
        | SignalEvent::Started { at, .. }
        | SignalEvent::Recovered { at, .. } => at,
    }
}

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

    fn on_event(&mut self, ev: &httptop_engine::Event) {
        match ev {
            httptop_engine::Event::Exchange(ex) => self.write_exchange(ex),
            httptop_engine::Event::WebSocket(ws) => self.write_websocket(ws),
            httptop_engine::Event::Tls(t) => self.write_tls(t),
            _ => {}
        }
    }
}

fn push_int(l: &mut Vec<u8>, v: u64) {
    if v < 10 {
        // Schema, interim count, flags of small numbers: one byte.
        l.push(b'0' + v as u8);
        return;
    }
    let mut b = itoa::Buffer::new();
    l.extend_from_slice(b.format(v).as_bytes());
}

/// `v` in decimal, zeros in front up to `width` digits.
fn push_padded(l: &mut Vec<u8>, v: u64, width: usize) {
    // u64::MAX has 20 digits.
    let mut b = [b'0'; 20];
    let (mut v, mut i) = (v, b.len());
    while v > 0 && i > 0 {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = i.min(b.len() - width.clamp(1, b.len()));
    l.extend_from_slice(&b[start..]);
}

/// Writes `v` (at most five digits, as a port or an octet) in decimal at the start of
/// `out`, which has room for them; returns the number of digits.
#[inline]
fn put_decimal(out: &mut [u8], v: u32) -> usize {
    let n = match v {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => 5,
    };
    let mut v = v;
    for d in out.iter_mut().take(n).rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    n
}

fn push_addr(l: &mut Vec<u8>, a: Option<std::net::SocketAddr>) {
    match a {
        Some(std::net::SocketAddr::V4(v4)) => {
            // The common case, without the formatting machinery: `"a.b.c.d:port"` built
            // on the stack (at most 23 bytes), appended at once.
            let mut b = [0u8; 24];
            b[0] = b'"';
            let mut n = 1;
            for (i, o) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    b[n] = b'.';
                    n += 1;
                }
                n += put_decimal(&mut b[n..], u32::from(o));
            }
            b[n] = b':';
            n += 1;
            n += put_decimal(&mut b[n..], u32::from(v4.port()));
            b[n] = b'"';
            l.extend_from_slice(&b[..n + 1]);
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
    push_wire(l, v.as_bytes());
}

/// Appends the wire string `s` losslessly: a JSON string when `s` is valid UTF-8, else
/// `{"bytes":"<base64 of s>"}` (see the module docs).
pub fn push_wire(l: &mut Vec<u8>, s: &[u8]) {
    if is_plain_ascii(s) {
        // Nearly every wire string: written as is, without the UTF-8 check and the
        // escape scan (which would find nothing).
        l.reserve(s.len() + 2);
        l.push(b'"');
        l.extend_from_slice(s);
        l.push(b'"');
        return;
    }
    match std::str::from_utf8(s) {
        Ok(text) => {
            l.push(b'"');
            push_utf8(l, text);
            l.push(b'"');
        }
        Err(_) => {
            use base64::Engine as _;
            l.extend_from_slice(b"{\"bytes\":\"");
            let start = l.len();
            l.resize(start + base64::encoded_len(s.len(), true).unwrap_or(0), 0);
            // The buffer was sized by `encoded_len`, so this cannot fail; were it to, the
            // value would be cut, never a panic.
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(s, &mut l[start..])
                .unwrap_or(0);
            l.truncate(start + n);
            l.extend_from_slice(b"\"}");
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether every byte of `s` is printable ASCII that a JSON string holds as is
/// (`0x20..=0x7e` except `"` and `\`), checked eight bytes at a time: such a string is
/// valid UTF-8 in which [`push_utf8`] escapes nothing.
fn is_plain_ascii(s: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit set in some byte iff some byte of `v` is zero (exact as a yes/no answer).
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v;
    let plain = |w: &[u8; 8]| {
        let w = u64::from_le_bytes(*w);
        // A byte >= 0x7f (its high bit, or that of byte + 1: a carry out of a byte
        // comes only from 0xff, found anyway), a byte < 0x20 (exact for a bound
        // <= 0x80), `"`, `\`.
        let bad = ((w | w.wrapping_add(LO))
            | (w.wrapping_sub(LO * 0x20) & !w)
            | has_zero(w ^ (LO * u64::from(b'"')))
            | has_zero(w ^ (LO * u64::from(b'\\'))))
            & HI;
        bad == 0
    };
    let Some(last) = s.last_chunk::<8>() else {
        // Shorter than a word (methods, sections): a byte at a time.
        return s.iter().all(|&b| PLAIN[usize::from(b)]);
    };
    let mut words = s.chunks_exact(8);
    let whole = words.all(|w| w.first_chunk::<8>().is_some_and(plain));
    // The last eight bytes (overlapping the last whole word) cover the rest.
    whole && (words.remainder().is_empty() || plain(last))
}

/// The bytes [`is_plain_ascii`] accepts.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0x20;
    while i < 0x7f {
        t[i] = i != b'"' as usize && i != b'\\' as usize;
        i += 1;
    }
    t
};

/// Appends `s` as a JSON string literal, always a string: every byte that is not part of
/// valid UTF-8 becomes the four characters `\xHH`. Lossy on such bytes (the wire can send
/// those characters too), so the log writes wire strings with [`push_wire`]; this one is
/// for text this program makes and for the report's keys.
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

    /// The word-at-a-time test agrees with the byte-by-byte definition for every byte
    /// value at every place of a word and of the remainder, and the fast path of
    /// `push_wire` writes what the UTF-8 path writes.
    #[test]
    fn plain_ascii_fast_path_agrees_with_the_escaping_path() {
        for len in 1..=19 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    let plain = (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
                    assert_eq!(is_plain_ascii(&s), plain, "byte {b:#x} at {at} of {len}");
                    let mut fast = Vec::new();
                    push_wire(&mut fast, &s);
                    let mut slow = Vec::new();
                    match std::str::from_utf8(&s) {
                        Ok(t) => {
                            slow.push(b'"');
                            push_utf8(&mut slow, t);
                            slow.push(b'"');
                        }
                        Err(_) => push_wire(&mut slow, &s),
                    }
                    assert_eq!(fast, slow, "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert!(is_plain_ascii(b""));
    }

    /// IPv4 addresses and timestamps are written without the formatting machinery, as
    /// `Display` and nine-decimal padding write them.
    #[test]
    fn addresses_and_timestamps_write_what_display_writes() {
        for (ip, port) in [
            ([0, 0, 0, 0], 0),
            ([1, 2, 3, 4], 5),
            ([9, 10, 99, 100], 999),
            ([127, 0, 0, 1], 1000),
            ([255, 255, 255, 255], 65535),
            ([10, 200, 30, 249], 9999),
            ([192, 168, 1, 10], 10000),
        ] {
            let a = std::net::SocketAddr::from((ip, port));
            let mut l = Vec::new();
            push_addr(&mut l, Some(a));
            assert_eq!(String::from_utf8(l).unwrap(), format!("\"{a}\""));
        }
        for (secs, nanos) in [(0, 0), (1, 1), (1_700_000_000, 999_999_999), (12, 100_000)] {
            let mut l = Vec::new();
            push_ts(&mut l, Timestamp(secs * 1_000_000_000 + nanos));
            assert_eq!(String::from_utf8(l).unwrap(), format!("{secs}.{nanos:09}"));
        }
    }

    /// Zero-padded decimals and HTTP versions as the general formatting writes them.
    #[test]
    fn padded_numbers_and_versions_write_what_format_writes() {
        for v in [0, 1, 9, 10, 999_999, 1_000_000, 123_456_789, u64::MAX] {
            for width in [0, 1, 6, 9, 20] {
                let mut l = Vec::new();
                push_padded(&mut l, v, width);
                assert_eq!(String::from_utf8(l).unwrap(), format!("{v:0width$}"));
            }
            let mut l = Vec::new();
            push_int(&mut l, v);
            assert_eq!(String::from_utf8(l).unwrap(), v.to_string());
        }
        for (major, minor, text) in [
            (1, 1, "1.1"),
            (1, 0, "1.0"),
            (0, 9, "0.9"),
            (2, 0, "2"),
            (3, 7, "3.7"),
            (2, 1, "2.1"),
        ] {
            let mut l = Vec::new();
            push_version(&mut l, Version { major, minor });
            assert_eq!(
                String::from_utf8(l).unwrap(),
                format!(",\"version\":\"{text}\"")
            );
        }
    }

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

    /// The exact bytes a decoded wire-string value stands for: a string's UTF-8, or the
    /// base64 of `{"bytes":..}` (what a reader of the log does).
    fn wire_bytes(v: &serde_json::Value) -> Vec<u8> {
        use base64::Engine as _;
        match v {
            serde_json::Value::String(t) => t.as_bytes().to_vec(),
            serde_json::Value::Object(o) => {
                assert_eq!(o.len(), 1, "{v}");
                let b = o["bytes"].as_str().unwrap();
                base64::engine::general_purpose::STANDARD.decode(b).unwrap()
            }
            _ => panic!("not a wire string: {v}"),
        }
    }

    fn w(b: &[u8]) -> String {
        let mut v = Vec::new();
        push_wire(&mut v, b);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn wire_strings_are_text_when_utf8_else_base64_bytes() {
        // Valid UTF-8 is escaped exactly as before.
        assert_eq!(w(b"plain"), "\"plain\"");
        assert_eq!(w(b""), "\"\"");
        assert_eq!(w(b"a\"b\\c\n\x1b[31m\x7f"), s(b"a\"b\\c\n\x1b[31m\x7f"));
        assert_eq!(
            w("a\u{9b}b\u{202e}c\u{200b}\u{e0041}¡".as_bytes()),
            r#""a\u009bb\u202ec\u200b\udb40\udc41¡""#
        );
        // Anything else is all of its bytes in base64, valid parts included.
        assert_eq!(w(b"a\xffb\xc3"), r#"{"bytes":"Yf9iww=="}"#);
        assert_eq!(w(b"\xff"), r#"{"bytes":"/w=="}"#);
        // A character cut in the middle (as a length limit can) is not text.
        assert_eq!(w(b"\xe2\x82"), r#"{"bytes":"4oI="}"#);
    }

    fn host_log(host: &[u8]) -> serde_json::Value {
        let ex = Exchange {
            host: WireStr::capped(host, 1024),
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        serde_json::from_slice(&w.into_inner()).unwrap()
    }

    #[test]
    fn tls_plaintext_exchanges_carry_their_processes() {
        let log = |ex: &Exchange| -> serde_json::Value {
            let mut w = JsonlWriter::new(Vec::new());
            w.write_exchange(ex);
            serde_json::from_slice(&w.into_inner()).unwrap()
        };
        let wire = log(&Exchange::default());
        assert_eq!(
            (&wire["tls"], &wire["process"], &wire["peer_process"]),
            (
                &serde_json::json!(false),
                &serde_json::Value::Null,
                &serde_json::Value::Null
            )
        );
        let plain = log(&Exchange {
            tls: true,
            process: Some(httptop_engine::Process {
                pid: 4242,
                comm: WireStr::capped(b"curl", 16),
            }),
            peer_process: Some(httptop_engine::Process {
                pid: 7,
                comm: WireStr::capped(b"ng\x1binx", 16),
            }),
            ..Exchange::default()
        });
        assert_eq!(plain["tls"], true);
        assert_eq!(
            plain["process"],
            serde_json::json!({"pid": 4242, "comm": "curl"})
        );
        assert_eq!(plain["peer_process"]["comm"], "ng\u{1b}inx");
    }

    #[test]
    fn byte_ff_and_text_backslash_xff_log_differently() {
        let byte = host_log(b"\xff");
        let text = host_log(b"\\xff");
        assert_eq!(byte["schema"], 2);
        assert_ne!(byte["host"], text["host"]);
        assert_eq!(text["host"], "\\xff");
        assert_eq!(byte["host"], serde_json::json!({"bytes": "/w=="}));
        assert_eq!(wire_bytes(&byte["host"]), b"\xff");
        assert_eq!(wire_bytes(&text["host"]), b"\\xff");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_round_trip_through_the_log(
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            text in "\\PC{0,16}",
        ) {
            for input in [b.clone(), text.into_bytes()] {
                let v: serde_json::Value = serde_json::from_str(&w(&input)).unwrap();
                proptest::prop_assert_eq!(v.is_string(), std::str::from_utf8(&input).is_ok());
                proptest::prop_assert_eq!(wire_bytes(&v), input.clone());
                // The same through a whole record, in every wire-string field.
                let ex = Exchange {
                    method: WireStr::capped(&input, 1024),
                    host: WireStr::capped(&input, 1024),
                    path: WireStr::capped(&input, 1024),
                    user_agent: WireStr::capped(&input, 1024),
                    ..Exchange::default()
                };
                let mut jw = JsonlWriter::new(Vec::new());
                jw.write_exchange(&ex);
                let rec: serde_json::Value = serde_json::from_slice(&jw.into_inner()).unwrap();
                for f in ["method", "host", "path", "user_agent"] {
                    proptest::prop_assert_eq!(wire_bytes(&rec[f]), input.clone());
                }
                proptest::prop_assert_eq!(wire_bytes(&rec["section"]), ex.section().to_vec());
            }
        }
    }

    #[test]
    fn exchange_record_has_every_field() {
        let ex = Exchange {
            ts: Timestamp(1_700_000_000_123_456_789),
            client: Some("10.0.0.1:5555".parse().unwrap()),
            server: Some("[::1]:80".parse().unwrap()),
            original_client: Some(httptop_engine::OriginalClient {
                ip: "203.0.113.7".parse().unwrap(),
                port: Some(51234),
            }),
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
            encap: httptop_wire::Encap::NONE
                .push(httptop_wire::EncapKind::Gre)
                .and_then(|e| e.push(httptop_wire::EncapKind::Erspan2))
                .unwrap(),
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        let out = w.into_inner();
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["type"], "exchange");
        assert_eq!(v["schema"], 2);
        assert!((v["ts"].as_f64().unwrap() - 1_700_000_000.123_456_8).abs() < 1e-6);
        assert_eq!(v["client"], "10.0.0.1:5555");
        assert_eq!(v["server"], "[::1]:80");
        assert_eq!(v["original_client"], "203.0.113.7:51234");
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
        assert_eq!(v["encap"], "gre/erspan2");
        assert!(std::str::from_utf8(&out)
            .unwrap()
            .contains("\"ts\":1700000000.123456789,"));
    }

    #[test]
    fn http1_exchange_has_null_http2_fields() {
        let ex = Exchange {
            version: Version { major: 1, minor: 1 },
            status: Some(200),
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(v["version"], "1.1");
        for f in ["stream_id", "grpc_status", "grpc_message", "reset_code"] {
            assert!(v[f].is_null(), "{f}: {}", v[f]);
        }
    }

    #[test]
    fn grpc_exchange_over_http2_writes_stream_status_message_and_flags() {
        let ex = Exchange {
            method: WireStr::capped(b"POST", 1024),
            path: WireStr::capped(b"/helloworld.Greeter/SayHello", 1024),
            version: Version::HTTP2,
            status: Some(200),
            stream_id: 7,
            grpc_status: Some(5),
            // As sent: percent-encoded, with a byte that is not UTF-8.
            grpc_message: WireStr::capped(b"no such user %E2%9C%93 \xff", 1024),
            flags: Flags::GRPC | Flags::TRAILERS,
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(v["version"], "2");
        assert_eq!(v["stream_id"], 7);
        assert_eq!(v["grpc_status"], 5);
        assert_eq!(wire_bytes(&v["grpc_message"]), ex.grpc_message.as_bytes());
        assert!(v["grpc_message"]["bytes"].is_string());
        assert!(v["reset_code"].is_null());
        assert_eq!(v["flags"], serde_json::json!(["grpc", "trailers"]));

        let reset = Exchange {
            version: Version::HTTP2,
            stream_id: 9,
            reset_code: Some(8),
            grpc_message: WireStr::capped(b"deadline", 4),
            flags: Flags::RESET | Flags::GOAWAY | Flags::NO_RESPONSE,
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&reset);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(v["reset_code"], 8);
        assert_eq!(v["grpc_message"], "dead");
        assert!(v["grpc_status"].is_null());
        assert_eq!(
            v["flags"],
            serde_json::json!(["no_response", "truncated", "reset", "goaway"])
        );
    }

    #[test]
    fn tls_record_has_every_field_with_names_and_escapes() {
        use httptop_engine::tls::{TlsAlert, TlsCert};
        let ts = Timestamp::from_secs(1_700_000_000);
        let t = TlsSession {
            ts,
            end: ts.add_nanos(2_500_000_000),
            client: Some("10.0.0.1:5555".parse().unwrap()),
            server: Some("10.0.0.2:443".parse().unwrap()),
            sni: Some(WireStr::capped(b"shop.example\x1b", 1024)),
            alpn_offered: vec![WireStr::capped(b"h2", 64), WireStr::capped(b"http/1.1", 64)],
            alpn: Some(WireStr::capped(b"h2", 64)),
            client_version: Some(0x0304),
            version: Some(0x0303),
            cipher: Some(0xc02f),
            ja4: Some("t13d1516h2_8daaf6152771_d8a2da3f94cd".into()),
            handshake_ns: Some(1_250_000),
            bytes_to_server: 517,
            bytes_to_client: 4000,
            alert: Some(TlsAlert {
                level: 2,
                description: 48,
                from_client: true,
            }),
            cert: Some(Box::new(TlsCert {
                chain_len: 2,
                len: 900,
                subject: Some(WireStr::capped(b"shop.example", 1024)),
                issuer: Some(WireStr::capped(b"Test CA", 1024)),
                sans: vec![WireStr::capped(b"shop.example", 1024)],
                not_before: Some(1_690_000_000),
                not_after: Some(1_700_000_000 + 3 * 86_400 + 10),
            })),
            flags: TlsFlags::NO_SERVER_HELLO,
            encap: httptop_wire::Encap::NONE,
        };
        let mut w = JsonlWriter::new(Vec::new());
        httptop_engine::Sink::on_event(&mut w, &httptop_engine::Event::Tls(Box::new(t)));
        let out = w.into_inner();
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"sni\":\"shop.example\\u001b\""), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut got: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = vec![
            "type",
            "schema",
            "ts",
            "end",
            "client",
            "server",
            "sni",
            "alpn",
            "alpn_offered",
            "version",
            "client_version",
            "cipher",
            "ja4",
            "handshake_ms",
            "duration_ms",
            "bytes_to_server",
            "bytes_to_client",
            "alert",
            "cert",
            "encap",
            "flags",
        ];
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["type"], "tls");
        assert_eq!(v["version"], "TLS 1.2");
        assert_eq!(v["client_version"], "TLS 1.3");
        assert_eq!(v["cipher"], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(v["alpn"], "h2");
        assert_eq!(v["alpn_offered"], serde_json::json!(["h2", "http/1.1"]));
        assert_eq!(v["handshake_ms"].as_f64().unwrap(), 1.25);
        assert_eq!(v["duration_ms"].as_f64().unwrap(), 2500.0);
        assert_eq!(
            v["alert"],
            serde_json::json!({"level": "fatal", "code": 48, "description": "unknown_ca", "from": "client"})
        );
        assert_eq!(v["cert"]["days_left"], 3);
        assert_eq!(v["cert"]["chain_len"], 2);
        assert_eq!(v["cert"]["subject"], "shop.example");
        assert_eq!(v["flags"], serde_json::json!(["no_server_hello"]));

        // Unnamed numbers in hex; absent values null; an expired certificate counts down.
        let t = TlsSession {
            ts,
            version: Some(0x7f1c),
            cipher: Some(0x0a0a),
            cert: Some(Box::new(TlsCert {
                not_after: Some(1_700_000_000 - 86_400),
                ..TlsCert::default()
            })),
            ..TlsSession::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_tls(&t);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(v["version"], "0x7f1c");
        assert_eq!(v["cipher"], "0x0a0a");
        assert!(v["sni"].is_null() && v["ja4"].is_null() && v["alert"].is_null());
        assert_eq!(v["cert"]["days_left"], -1);
        assert!(v["cert"]["subject"].is_null());
    }

    #[test]
    fn websocket_record_has_every_field() {
        let ws = WebSocketSession {
            ts: Timestamp(1_700_000_000_000_000_000),
            end: Timestamp(1_700_000_002_500_000_000),
            client: Some("10.0.0.1:5555".parse().unwrap()),
            server: Some("10.0.0.2:80".parse().unwrap()),
            original_client: None,
            host: WireStr::capped(b"chat.example", 1024),
            path: WireStr::capped(b"/ws", 1024),
            version: Version { major: 1, minor: 1 },
            stream_id: 0,
            frames_to_server: 4,
            frames_to_client: 5,
            messages_to_server: 3,
            messages_to_client: 4,
            payload_to_server: 100,
            payload_to_client: 2000,
            close_code: Some(1000),
            close_reason: WireStr::capped(b"bye\x1b", 1024),
            flags: Flags::empty(),
            encap: httptop_wire::Encap::NONE,
        };
        let mut w = JsonlWriter::new(Vec::new());
        httptop_engine::Sink::on_event(&mut w, &httptop_engine::Event::WebSocket(Box::new(ws)));
        let out = w.into_inner();
        let text = std::str::from_utf8(&out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"close_reason\":\"bye\\u001b\""), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want = vec![
            "type",
            "schema",
            "ts",
            "end",
            "client",
            "server",
            "original_client",
            "host",
            "path",
            "version",
            "stream_id",
            "frames_to_server",
            "frames_to_client",
            "messages_to_server",
            "messages_to_client",
            "payload_to_server",
            "payload_to_client",
            "close_code",
            "close_reason",
            "encap",
            "flags",
        ];
        let mut got = keys.clone();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(v["type"], "websocket");
        assert_eq!(v["version"], "1.1");
        assert!(v["stream_id"].is_null());
        assert_eq!(v["end"].as_f64().unwrap(), 1_700_000_002.5);
        assert_eq!(v["messages_to_client"], 4);
        assert_eq!(v["payload_to_client"], 2000);
        assert_eq!(v["close_code"], 1000);
        assert_eq!(v["flags"], serde_json::json!([]));

        // Over HTTP/2 (RFC 8441), without a Close frame.
        let ws = WebSocketSession {
            version: Version::HTTP2,
            stream_id: 3,
            flags: Flags::TRUNCATED,
            ..WebSocketSession::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_websocket(&ws);
        let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
        assert_eq!(
            (v["version"].as_str(), v["stream_id"].as_u64()),
            (Some("2"), Some(3))
        );
        assert!(v["close_code"].is_null() && v["close_reason"].is_null());
        assert_eq!(v["flags"], serde_json::json!(["truncated"]));
    }

    #[test]
    fn plain_ascii_check_finds_a_bad_byte_at_any_place() {
        for len in 0..40 {
            let s = vec![b'a'; len];
            assert!(is_plain_ascii(&s), "{len}");
            for at in 0..len {
                for bad in [b'"', b'\\', 0x1f, 0x7f, 0x80, 0xff] {
                    let mut t = s.clone();
                    t[at] = bad;
                    assert!(!is_plain_ascii(&t), "{len} {at} {bad:#x}");
                }
            }
        }
    }

    #[test]
    fn timestamps_and_milliseconds_keep_their_zeros() {
        let mut l = Vec::new();
        push_ts(&mut l, Timestamp(1_700_000_000_000_000_007));
        push_opt_ms(&mut l, Some(12_000_340));
        push_opt_ms(&mut l, Some(999_999));
        assert_eq!(l, b"1700000000.00000000712.0003400.999999");
    }

    /// The common exchange (HTTP/1.1, nothing of HTTP/2, gRPC or TLS) is written by
    /// constants: the same fields in the same order as any other.
    #[test]
    fn plain_http1_exchange_line() {
        let ex = Exchange {
            ts: Timestamp(1_700_000_000_000_000_001),
            method: WireStr::capped(b"GET", 64),
            path: WireStr::capped(b"/a/b", 64),
            version: Version { major: 1, minor: 1 },
            status: Some(200),
            request_bytes: 10,
            response_bytes: 20,
            latency_ns: Some(1_500_000),
            ..Exchange::default()
        };
        let mut w = JsonlWriter::new(Vec::new());
        w.write_exchange(&ex);
        assert_eq!(
            String::from_utf8(w.into_inner()).unwrap(),
            "{\"type\":\"exchange\",\"schema\":2,\"ts\":1700000000.000000001,\"client\":null,\
             \"server\":null,\"original_client\":null,\"method\":\"GET\",\"host\":\"\",\
             \"path\":\"/a/b\",\"section\":\"/a\",\"user_agent\":\"\",\"version\":\"1.1\",\
             \"stream_id\":null,\"status\":200,\"request_bytes\":10,\"response_bytes\":20,\
             \"latency_ms\":1.500000,\"interim\":0,\"grpc_status\":null,\"grpc_message\":null,\
             \"reset_code\":null,\"tls\":false,\"process\":null,\"peer_process\":null,\
             \"encap\":null,\"flags\":[]}\n"
        );
    }

    #[test]
    fn long_strings_seen_before_write_what_push_wire_writes() {
        let ua = b"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0".to_vec();
        let mut quoted = ua.clone();
        quoted[30] = b'"';
        let mut bidi = ua.clone();
        bidi.splice(30..31, "\u{202e}".bytes());
        bidi.truncate(ua.len());
        let mut bad = ua.clone();
        bad[30] = 0xff;
        let mut other = ua.clone();
        other[30] = b'Q';
        // Same length, head and tail (one slot), differing in the middle; short, long,
        // exactly at the bounds.
        let strings: Vec<Vec<u8>> = vec![
            ua.clone(),
            quoted,
            bidi,
            bad,
            other,
            vec![b'a'; 31],
            vec![b'a'; 32],
            vec![b'a'; 192],
            vec![b'a'; 193],
            b"GET".to_vec(),
            Vec::new(),
        ];
        let mut seen = SeenCache { slots: Vec::new() };
        for _ in 0..3 {
            for s in &strings {
                let mut got = Vec::new();
                seen.push_field(&mut got, b",\"x\":", s);
                let mut want = b",\"x\":".to_vec();
                push_wire(&mut want, s);
                assert_eq!(got, want, "{}", String::from_utf8_lossy(s));
            }
        }
    }

    #[test]
    fn client_and_server_cached_per_connection_write_what_fresh_writers_write() {
        use std::net::SocketAddr;
        let v4 = |o: u8, port: u16| Some(SocketAddr::from(([10, 0, 0, o], port)));
        let v6 = |port: u16| Some(SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, 0x1234], port)));
        // Same ports with other addresses (one slot), another client port, v6, none.
        let pairs = [
            (v4(1, 40000), v4(2, 80)),
            (v4(3, 40000), v4(2, 80)),
            (v4(1, 40064), v4(2, 80)),
            (v6(40000), v6(443)),
            (None, v4(2, 80)),
            (v4(1, 40000), None),
            (None, None),
        ];
        let mut one = JsonlWriter::new(Vec::new());
        let mut want = Vec::new();
        for round in 0..3 {
            for (i, &(client, server)) in pairs.iter().enumerate() {
                let ex = Exchange {
                    client,
                    server,
                    request_bytes: (round * 10 + i) as u64,
                    ..Exchange::default()
                };
                one.write_exchange(&ex);
                let mut fresh = JsonlWriter::new(Vec::new());
                fresh.write_exchange(&ex);
                want.extend(fresh.into_inner());
            }
        }
        assert_eq!(
            String::from_utf8(one.into_inner()).unwrap(),
            String::from_utf8(want).unwrap()
        );
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
        assert!(v["encap"].is_null());
        assert!(v["original_client"].is_null());
        assert_eq!(v["flags"], serde_json::json!(["no_response"]));
    }

    #[test]
    fn original_client_is_ip_without_a_port_and_ip_port_with_one() {
        let log = |ip: &str, port: Option<u16>| {
            let ex = Exchange {
                original_client: Some(httptop_engine::OriginalClient {
                    ip: ip.parse().unwrap(),
                    port,
                }),
                ..Exchange::default()
            };
            let mut w = JsonlWriter::new(Vec::new());
            w.write_exchange(&ex);
            let v: serde_json::Value = serde_json::from_slice(&w.into_inner()).unwrap();
            v["original_client"].clone()
        };
        assert_eq!(log("192.0.2.1", None), "192.0.2.1");
        assert_eq!(log("2001:db8::1", None), "2001:db8::1");
        assert_eq!(log("2001:db8::1", Some(4711)), "[2001:db8::1]:4711");
    }
}
