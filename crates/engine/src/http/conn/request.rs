//! Request heads into exchanges: method, target, Host and User-Agent (capped strings),
//! framing of the request body, CONNECT, malformed and partial heads.

use super::*;
use memchr::memchr;

impl HttpConn {
    pub(super) fn wire(src: &[u8], ctx: &mut Ctx<'_>, flags: &mut Flags) -> WireStr {
        let w = WireStr::capped(src, ctx.limits.max_string_len);
        if w.truncated {
            ctx.counters.strings_truncated += 1;
            flags.insert(Flags::TRUNCATED);
        }
        w
    }

    /// Counts a string that was capped while headers were read.
    pub(super) fn count_capped(w: &Option<WireStr>, ctx: &mut Ctx<'_>, flags: &mut Flags) {
        if w.as_ref().is_some_and(|w| w.truncated) {
            ctx.counters.strings_truncated += 1;
            flags.insert(Flags::TRUNCATED);
        }
    }
    // ---------------------------------------------------------------- requests

    /// Fills method, path, host and version from a request line (and headers, if read)
    /// into `ex`, a fresh exchange in the queue (see `push_request`); `roles` are the
    /// connection's client and server.
    pub(super) fn request_exchange(
        ex: &mut Exchange,
        roles: (Option<SocketAddr>, Option<SocketAddr>),
        method: &[u8],
        target: &[u8],
        version: Version,
        hs: Option<&mut HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) {
        let flags = &mut ex.flags;
        (ex.client, ex.server) = roles;
        let (path, uri_host) = if method == b"CONNECT" {
            (std::borrow::Cow::Borrowed(target), Some(target))
        } else if let Some((authority, path)) = split_absolute(target) {
            (path, Some(authority))
        } else {
            (std::borrow::Cow::Borrowed(target), None)
        };
        ex.method = Self::wire(method, ctx, flags);
        ex.path = Self::wire(&path, ctx, flags);
        if let Some(hs) = hs {
            ex.original_client = hs.original_client();
            Self::count_capped(&hs.host, ctx, flags);
            Self::count_capped(&hs.user_agent, ctx, flags);
            if let Some(h) = hs.host.take() {
                ex.host = h;
            }
            if let Some(u) = hs.user_agent.take() {
                ex.user_agent = u;
            }
        }
        if ex.host.is_empty() {
            if let Some(h) = uri_host {
                ex.host = Self::wire(h, ctx, flags);
            }
        }
        ex.version = version;
    }

    pub(super) fn request_head(
        &mut self,
        dir: Dir,
        head: &[u8],
        rl: RequestLine<'_>,
        fast: Option<&mut HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) {
        let i = idx(dir);
        let ts = self.sides[i].head_ts;
        ctx.request_started();
        let malformed_line = rl.malformed;
        if malformed_line {
            ctx.counters.malformed_requests += 1;
        }
        let roles = self.roles();
        if rl.simple {
            self.push_request(ts, true, ctx, |ex, ctx| {
                Self::request_exchange(ex, roles, rl.method, rl.target, rl.version, None, ctx);
                ex.request_bytes = n64(head.len());
            });
            self.sides[i].mode = Mode::Head;
            return;
        }
        let limits = ctx.limits;
        let mut scanned;
        let hs = match fast {
            Some(hs) => hs,
            None => {
                let lf = memchr(b'\n', head).map_or(head.len(), |k| k + 1);
                scanned = scan_headers(&head[lf..], limits.max_headers, limits.max_string_len);
                &mut scanned
            }
        };
        // Flags of the head as a whole; the exchange is built in the queue once the
        // framing (whether a body follows) is known.
        let mut flags = Flags::empty();
        if malformed_line {
            flags.insert(Flags::MALFORMED);
        }
        self.note_headers(hs, &mut flags, true, ctx);
        let mut next = Mode::Head;
        let mut body = false;
        if rl.method == b"CONNECT" && !hs.malformed {
            next = Mode::AwaitTunnel { seen: false };
        } else if hs.malformed {
            next = Mode::Hunt {
                at_line_start: true,
                cand: None,
            };
        } else {
            match (hs.transfer_encoding, hs.content_length) {
                (TransferEncoding::Chunked, cl) => {
                    if cl != ContentLength::Absent {
                        ctx.counters.te_cl_conflicts += 1;
                    }
                    next = Mode::Body(Body::Chunked(Chunk::START));
                    body = true;
                }
                (TransferEncoding::Other, _) => {
                    ctx.counters.bad_transfer_encoding += 1;
                    flags.insert(Flags::MALFORMED);
                    next = Mode::Hunt {
                        at_line_start: true,
                        cand: None,
                    };
                }
                (TransferEncoding::Absent, ContentLength::Bad) => {
                    ctx.counters.bad_content_length += 1;
                    flags.insert(Flags::MALFORMED);
                    next = Mode::Hunt {
                        at_line_start: true,
                        cand: None,
                    };
                }
                (TransferEncoding::Absent, ContentLength::Valid(n)) if n > 0 => {
                    next = Mode::Body(Body::Cl(n));
                    body = true;
                }
                (TransferEncoding::Absent, _) => {}
            }
        }
        let id = self.push_request(ts, !body, ctx, |ex, ctx| {
            Self::request_exchange(ex, roles, rl.method, rl.target, rl.version, Some(hs), ctx);
            ex.request_bytes = n64(head.len());
            ex.flags.insert(flags);
        });
        let side = &mut self.sides[i];
        side.target = if body {
            Target::Entry(id)
        } else {
            Target::None
        };
        if let Mode::Hunt { at_line_start, .. } = next {
            side.hunt_from(at_line_start);
        } else {
            side.mode = next;
        }
    }

    /// Counters and flags for what the header scan found.
    pub(super) fn note_headers(
        &mut self,
        hs: &HeaderSummary,
        flags: &mut Flags,
        request: bool,
        ctx: &mut Ctx<'_>,
    ) {
        if hs.too_many(ctx.limits.max_headers) {
            ctx.counters.too_many_headers += 1;
            flags.insert(Flags::TRUNCATED);
        }
        if hs.obs_fold {
            ctx.counters.obs_folds += 1;
        }
        if hs.malformed {
            if request {
                ctx.counters.malformed_requests += 1;
            } else {
                ctx.counters.malformed_responses += 1;
            }
            flags.insert(Flags::MALFORMED);
        }
    }

    /// A start line that does not parse on a synchronised side.
    pub(super) fn bad_start(&mut self, dir: Dir, line: &[u8], ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        if self.is_client(dir) {
            ctx.counters.malformed_requests += 1;
            if let Err(BadRequestLine {
                method: Some(method),
                target,
            }) = parse_request_line(line)
            {
                // Reported as an exchange, so it is a request: every request exchange
                // has one `RequestStarted` (see `crate::event`).
                ctx.request_started();
                let ts = self.sides[i].head_ts;
                let roles = self.roles();
                self.push_request(ts, true, ctx, |ex, ctx| {
                    let version = Version::default();
                    Self::request_exchange(ex, roles, method, target, version, None, ctx);
                    ex.flags.insert(Flags::MALFORMED);
                    ex.request_bytes = n64(line.len());
                });
            }
        } else {
            let ts = self.sides[i].head_ts;
            if self.start_simple_response(dir, ts, ctx) {
                // An HTTP/0.9 answer whose first line looked like nothing else.
                self.add_bytes(dir, n64(line.len()));
                return;
            }
            ctx.counters.malformed_responses += 1;
            if let Some(id) = self.pair_response(ts, ctx) {
                // The response to that request, malformed: its bytes run to the next
                // start line found (or close), counted to it; status unknown.
                if let Some(p) = self.entry_mut(id) {
                    p.resp = Resp::Reading;
                    p.ex.flags.insert(Flags::MALFORMED);
                    p.ex.latency_ns = Some(ts.since(p.ex.ts));
                    p.ex.response_bytes = p.ex.response_bytes.saturating_add(n64(line.len()));
                }
                let side = &mut self.sides[i];
                side.target = Target::Entry(id);
                side.hunt_from(line.last() == Some(&b'\n'));
                side.malformed_ts = Some(ts);
                return;
            }
        }
        self.sides[i].hunt_from(line.last() == Some(&b'\n'));
    }

    /// A head cut short (limit, gap, FIN): emit what its start line and complete header
    /// lines say, with `flags`. Does not change the side's mode.
    pub(super) fn partial_head(&mut self, dir: Dir, buf: &[u8], flags: Flags, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        let ts = self.sides[i].head_ts;
        let lf = memchr(b'\n', buf).map_or(buf.len(), |k| k + 1);
        let (line, rest) = buf.split_at(lf);
        let limits = ctx.limits;
        let mut hs = salvage_headers(rest, limits.max_headers, limits.max_string_len);
        if self.is_client(dir) {
            let (method, target, version) = match parse_request_line(line) {
                Ok(RequestLine {
                    method,
                    target,
                    version,
                    simple,
                    ..
                }) => {
                    // A line cut before its version is not HTTP/0.9.
                    let version = if simple && line.last() != Some(&b'\n') {
                        Version::default()
                    } else {
                        version
                    };
                    (method, target, version)
                }
                Err(BadRequestLine {
                    method: Some(method),
                    target,
                }) if line.last() != Some(&b'\n') => (method, target, Version::default()),
                Err(_) => return,
            };
            ctx.request_started();
            let roles = self.roles();
            self.push_request(ts, true, ctx, |ex, ctx| {
                let hs = Some(&mut hs);
                Self::request_exchange(ex, roles, method, target, version, hs, ctx);
                ex.flags.insert(flags);
                ex.request_bytes = n64(buf.len());
            });
        } else if let Some(sl) = parse_status_line(line) {
            ctx.counters.responses += 1;
            let interim = (100..200).contains(&sl.code) && sl.code != 101;
            match self.pair_response(ts, ctx) {
                Some(id) => {
                    if let Some(p) = self.entry_mut(id) {
                        p.ex.response_bytes = p.ex.response_bytes.saturating_add(n64(buf.len()));
                        p.ex.flags.insert(flags);
                        if interim {
                            p.ex.interim_responses = p.ex.interim_responses.saturating_add(1);
                        } else {
                            p.ex.status = Some(sl.code);
                            p.ex.latency_ns = Some(ts.since(p.ex.ts));
                            p.resp = Resp::Done;
                        }
                    }
                    self.flush(ctx);
                }
                None => {
                    ctx.counters.responses_without_request += 1;
                    let ex = self.orphan_exchange(ts, sl, n64(buf.len()), flags);
                    ctx.emit(ex);
                }
            }
        }
    }
}
