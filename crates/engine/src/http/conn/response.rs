//! Response heads: pairing with their request, interim responses, HTTP/0.9 responses,
//! the framing of the response body, responses without request, and upgrades (101,
//! 2xx to CONNECT) that end HTTP/1 on the connection.

use super::*;
use memchr::memchr;

impl HttpConn {
    // ---------------------------------------------------------------- responses

    pub(super) fn orphan_exchange(
        &self,
        ts: Timestamp,
        sl: StatusLine,
        bytes: u64,
        flags: Flags,
    ) -> Exchange {
        let (client, server) = self.roles();
        Exchange {
            ts,
            client,
            server,
            version: sl.version,
            status: Some(sl.code),
            response_bytes: bytes,
            flags: flags | Flags::NO_REQUEST,
            ..Exchange::default()
        }
    }

    /// On a synchronised server side, data that cannot start a status line answers an
    /// HTTP/0.9 request (if that is the next one waiting): its body runs until close. A
    /// versionless request line whose head is still in progress on the client side (no
    /// blank line yet) is such a request: the server's answer shows that it was complete.
    pub(super) fn start_simple_response(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ctx: &mut Ctx<'_>,
    ) -> bool {
        if !self.queue.iter().any(|p| p.resp == Resp::Waiting) {
            self.complete_simple_request(dir.other(), ts, ctx);
        }
        let Some(p) = self.queue.iter_mut().find(|p| p.resp == Resp::Waiting) else {
            return false;
        };
        if p.ex.version != (Version { major: 0, minor: 9 }) || p.ex.ts > ts {
            return false;
        }
        p.resp = Resp::Reading;
        p.ex.latency_ns = Some(ts.since(p.ex.ts));
        let id = p.id;
        ctx.counters.responses += 1;
        let side = &mut self.sides[idx(dir)];
        side.target = Target::Entry(id);
        side.mode = Mode::Body(Body::UntilClose);
        true
    }

    /// The head in progress on the client side `dir`, if its start line is a complete
    /// versionless request line that came before `ts`, becomes an HTTP/0.9 request (all
    /// its bytes); the side then hunts for the next request line.
    fn complete_simple_request(&mut self, dir: Dir, ts: Timestamp, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        let side = &self.sides[i];
        if side.mode != Mode::Head || side.hbuf.is_empty() || side.head_ts > ts {
            return;
        }
        let Some(lf) = memchr(b'\n', &side.hbuf) else {
            return;
        };
        let buf = std::mem::take(&mut self.sides[i].hbuf);
        let head_ts = self.sides[i].head_ts;
        if let Ok(rl) = parse_request_line(&buf[..=lf]) {
            if rl.version == (Version { major: 0, minor: 9 }) {
                ctx.request_started();
                let roles = self.roles();
                self.push_request(head_ts, true, ctx, |ex, ctx| {
                    let (method, target, version) = (rl.method, rl.target, rl.version);
                    Self::request_exchange(ex, roles, method, target, version, None, ctx);
                    ex.request_bytes = n64(buf.len());
                });
                let side = &mut self.sides[i];
                side.hunt_from(buf.last() == Some(&b'\n'));
                side.hbuf = buf;
                side.reset_buf();
                return;
            }
        }
        self.sides[i].hbuf = buf;
    }

    pub(super) fn response_head(
        &mut self,
        dir: Dir,
        head: &[u8],
        sl: StatusLine,
        fast: Option<&mut HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) {
        let i = idx(dir);
        let ts = self.sides[i].head_ts;
        ctx.counters.responses += 1;
        let limits = ctx.limits;
        let scanned;
        let hs: &HeaderSummary = match fast {
            Some(hs) => hs,
            None => {
                let lf = memchr(b'\n', head).map_or(head.len(), |k| k + 1);
                scanned = scan_headers(&head[lf..], limits.max_headers, limits.max_string_len);
                &scanned
            }
        };
        let mut flags = Flags::empty();
        self.note_headers(hs, &mut flags, false, ctx);
        let interim = (100..200).contains(&sl.code) && sl.code != 101;
        let bytes = n64(head.len());
        let (is_head, is_connect) = match self.pair_response(ts, ctx) {
            Some(id) => {
                let Some(p) = self.entry_mut(id) else { return };
                p.ex.response_bytes = p.ex.response_bytes.saturating_add(bytes);
                p.ex.flags.insert(flags);
                if interim {
                    p.ex.interim_responses = p.ex.interim_responses.saturating_add(1);
                } else {
                    p.ex.status = Some(sl.code);
                    p.ex.latency_ns = Some(ts.since(p.ex.ts));
                    p.resp = Resp::Reading;
                }
                let m = p.ex.method.as_bytes();
                let r = (m == b"HEAD", m == b"CONNECT");
                if !interim {
                    self.sides[i].target = Target::Entry(id);
                }
                r
            }
            None => {
                ctx.counters.responses_without_request += 1;
                let ex = self.orphan_exchange(ts, sl, bytes, flags);
                if interim {
                    ctx.emit(ex);
                } else {
                    if let Some(old) = self.orphan.replace(Box::new(ex)) {
                        ctx.emit(*old);
                    }
                    self.sides[i].target = Target::Orphan;
                }
                (false, false)
            }
        };
        if interim {
            if hs.malformed {
                self.sides[i].hunt_from(true);
            } else {
                self.sides[i].mode = Mode::Head;
            }
            return;
        }
        let code = sl.code;
        if code == 101 || (is_connect && (200..300).contains(&code)) {
            if code == 101 {
                self.upgrade_to = hs.upgrade;
            }
            self.finish_message(dir, Mode::Tunnel, ctx);
            self.enter_tunnel(ctx);
            return;
        }
        if is_connect {
            if let Some(c) = self.client {
                let cs = &mut self.sides[idx(c)];
                if let Mode::AwaitTunnel { seen } = cs.mode {
                    if seen {
                        cs.hunt_from(false);
                    } else {
                        cs.mode = Mode::Head;
                    }
                }
            }
        }
        if hs.malformed {
            self.finish_message(dir, Mode::Head, ctx);
            self.sides[i].hunt_from(true);
            return;
        }
        let body = if is_head || code == 204 || code == 304 || (100..200).contains(&code) {
            None
        } else {
            match (hs.transfer_encoding, hs.content_length) {
                (TransferEncoding::Chunked, cl) => {
                    if cl != ContentLength::Absent {
                        ctx.counters.te_cl_conflicts += 1;
                    }
                    Some(Body::Chunked(Chunk::START))
                }
                (TransferEncoding::Other, _)
                | (TransferEncoding::Absent, ContentLength::Absent) => Some(Body::UntilClose),
                (TransferEncoding::Absent, ContentLength::Bad) => {
                    ctx.counters.bad_content_length += 1;
                    self.flag(dir, Flags::MALFORMED);
                    Some(Body::UntilClose)
                }
                (TransferEncoding::Absent, ContentLength::Valid(0)) => None,
                (TransferEncoding::Absent, ContentLength::Valid(n)) => Some(Body::Cl(n)),
            }
        };
        match body {
            None => self.finish_message(dir, Mode::Head, ctx),
            Some(b) => self.sides[i].mode = Mode::Body(b),
        }
    }

    pub(super) fn enter_tunnel(&mut self, ctx: &mut Ctx<'_>) {
        if let Some(c) = self.client {
            if self.sides[idx(c)].target != Target::None {
                self.finish_message(c, Mode::Tunnel, ctx);
            }
        }
        for s in &mut self.sides {
            if s.mode != Mode::Closed {
                s.mode = Mode::Tunnel;
            }
            s.hbuf = Vec::new();
            s.start_checked = false;
        }
    }
}
