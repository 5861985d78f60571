//! Recognition without sync: the data loop of a side, hunting for a start line at line
//! starts (stream start, after a gap or a malformed message), the roles it sets, and the
//! "not HTTP" decision when the first line of both directions is no start line.

use super::*;
use memchr::{memchr, memchr2};

impl HttpConn {
    pub(super) fn check_dead(&mut self, ctx: &mut Ctx<'_>) {
        if self.client.is_none() && self.sides.iter().all(|s| s.first == First::NotHttp) {
            self.dead = true;
            ctx.counters.not_http_connections += 1;
            for s in &mut self.sides {
                s.hbuf = Vec::new();
            }
        }
    }

    // ---------------------------------------------------------------- data

    pub(super) fn on_data(&mut self, dir: Dir, ts: Timestamp, data: &[u8], ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        let mut pos = 0;
        let mut stalls = 0;
        while pos < data.len() && !self.dead && !self.finished {
            if matches!(self.sides[i].mode, Mode::Tunnel) {
                self.note_upgrade(dir, pos);
            }
            let before = (pos, self.sides[i].mode);
            pos = match self.sides[i].mode {
                Mode::Hunt { .. } if self.sides[i].malformed_ts.is_some() => {
                    // Bytes skipped while hunting belong to the malformed response:
                    // consumed here and not held as a candidate start line.
                    let held = self.sides[i].hbuf.len();
                    let next = self.hunt(dir, ts, data, pos, ctx);
                    let skipped = (next - pos + held).saturating_sub(self.sides[i].hbuf.len());
                    self.add_bytes(dir, n64(skipped));
                    next
                }
                Mode::Hunt { .. } => self.hunt(dir, ts, data, pos, ctx),
                Mode::Head => self.head(dir, ts, data, pos, ctx),
                Mode::Body(b) => self.body(dir, data, pos, b, ctx),
                Mode::AwaitTunnel { .. } => {
                    self.sides[i].mode = Mode::AwaitTunnel { seen: true };
                    data.len()
                }
                Mode::Tunnel | Mode::Closed => data.len(),
            };
            if (pos, self.sides[i].mode) == before {
                stalls += 1;
                debug_assert!(
                    stalls < 3,
                    "http parser made no progress in {:?}",
                    self.sides[i].mode
                );
                if stalls >= 3 {
                    break;
                }
            } else {
                stalls = 0;
            }
        }
        if matches!(self.sides[i].mode, Mode::Tunnel) {
            self.note_upgrade(dir, pos.min(data.len()));
        }
        let side = &mut self.sides[i];
        side.offset = side.offset.saturating_add(n64(data.len()));
    }

    /// The side `dir` is in tunnel mode from `pos` of the current event on: the first
    /// such point seen is where the connection was upgraded (the switching response
    /// ends the event's HTTP part; the client side has no bytes left to parse).
    pub(super) fn note_upgrade(&mut self, dir: Dir, pos: usize) {
        if self.upgrade.is_none() {
            let offset = self.sides[idx(dir)].offset.saturating_add(n64(pos));
            self.upgrade = Some(Upgrade {
                dir,
                offset,
                to: self.upgrade_to,
            });
        }
    }

    pub(super) fn hunt(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        data: &[u8],
        pos: usize,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        if self.synchronised_response_start(dir, ts, pos, ctx) {
            return pos;
        }
        let cap = head_cap(ctx.limits);
        let want = self.want(dir);
        let side = &mut self.sides[idx(dir)];
        let Mode::Hunt {
            at_line_start,
            cand,
        } = side.mode
        else {
            return pos;
        };
        let mut scan = match cand {
            Some(s) => s,
            None if !at_line_start => {
                // Mid-line, only a status line can start, at an `H`: a response often
                // follows a body whose framing was lost without any line end before it.
                let rest = &data[pos..];
                let hit = if want.status {
                    memchr2(b'\n', b'H', rest)
                } else {
                    memchr(b'\n', rest)
                };
                return match hit {
                    Some(k) if rest[k] == b'\n' => {
                        side.mode = Mode::Hunt {
                            at_line_start: true,
                            cand: None,
                        };
                        pos + k + 1
                    }
                    Some(k) => {
                        side.head_ts = ts;
                        side.cand_at_zero = false;
                        side.reset_buf();
                        side.mode = Mode::Hunt {
                            at_line_start: false,
                            cand: Some(LineScan::status_only()),
                        };
                        pos + k
                    }
                    None => data.len(),
                };
            }
            None => {
                side.head_ts = ts;
                side.cand_at_zero = side.offset.saturating_add(n64(pos)) == 0;
                side.reset_buf();
                LineScan::new()
            }
        };
        let room = cap.saturating_sub(side.hbuf.len());
        let avail = &data[pos..data.len().min(pos.saturating_add(room))];
        let (used, verdict) = scan.feed(avail, want);
        // A candidate as long as the head limit without a verdict is not a start line.
        let capped = verdict == Verdict::Maybe && used == room;
        let verdict = if capped { Verdict::No } else { verdict };
        match verdict {
            Verdict::Yes(kind) => {
                if side.cand_at_zero {
                    side.first = First::Http;
                }
                let next = if side.hbuf.is_empty() {
                    // In place: the head is parsed from `pos` in this same event.
                    pos
                } else {
                    side.hbuf.extend_from_slice(&avail[..used]);
                    side.start_checked = memchr(b'\n', &side.hbuf).is_some();
                    side.line = line_state_after(LineState::Content, &side.hbuf);
                    pos + used
                };
                self.start_found(dir, kind, ctx);
                next
            }
            Verdict::No => {
                if side.cand_at_zero {
                    side.first = First::NotHttp;
                }
                // The server side skips bytes that are no response head: a response
                // whose head the capture missed (picked up mid-body). Pair the next one
                // as after a gap.
                if self.client == Some(dir.other()) && self.sides[idx(dir)].malformed_ts.is_none() {
                    self.server_lost = true;
                }
                let side = &mut self.sides[idx(dir)];
                side.cand_at_zero = false;
                side.reset_buf();
                side.mode = Mode::Hunt {
                    at_line_start: false,
                    cand: None,
                };
                // The deciding byte may be the LF that ends the line: look at it again.
                let next = if capped {
                    pos + used
                } else {
                    pos + used.saturating_sub(1)
                };
                self.check_dead(ctx);
                next
            }
            Verdict::Maybe => {
                side.hbuf.extend_from_slice(avail);
                side.mode = Mode::Hunt {
                    at_line_start: true,
                    cand: Some(scan),
                };
                pos + avail.len()
            }
        }
    }

    pub(super) fn start_found(&mut self, dir: Dir, kind: StartKind, ctx: &mut Ctx<'_>) {
        if self.client.is_none() {
            self.client = Some(match kind {
                StartKind::Request => dir,
                StartKind::Status => dir.other(),
            });
        }
        if self.sides[idx(dir)].malformed_ts.take().is_some() {
            // A status line after a malformed one answers the same request (the bad line
            // was a preamble): the request waits for it again, its bytes and MALFORMED kept.
            if let Target::Entry(id) =
                std::mem::replace(&mut self.sides[idx(dir)].target, Target::None)
            {
                if let Some(p) = self.entry_mut(id) {
                    p.resp = Resp::Waiting;
                }
            }
        }
        let side = &mut self.sides[idx(dir)];
        if side.lost {
            ctx.counters.resyncs += 1;
            side.lost = false;
        }
        side.synced_once = true;
        side.cand_at_zero = false;
        side.mode = Mode::Head;
    }

    /// At a line start of a hunting server side, decides whether a response starts here
    /// although no status line was recognised (the side is then synchronised: `Mode::Head`
    /// reads the line, as a status line, an HTTP/0.9 body or a malformed response):
    /// - the stream start (no gap before it), when the client side also began with a
    ///   request, an HTTP/0.9 one (versionless, queued or its head in progress), that came
    ///   before this byte (anything else at the start of a server side may be the tail of
    ///   a response the capture picked up mid-stream: skipped while hunting);
    /// - after a malformed response, a request that started after that response and
    ///   before this byte is waiting (a serial client: this line answers it).
    fn synchronised_response_start(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        pos: usize,
        ctx: &mut Ctx<'_>,
    ) -> bool {
        let Some(c) = self.client else { return false };
        if c == dir {
            return false;
        }
        let side = &self.sides[idx(dir)];
        if side.mode
            != (Mode::Hunt {
                at_line_start: true,
                cand: None,
            })
        {
            return false;
        }
        if let Some(m) = side.malformed_ts {
            let next = self
                .queue
                .iter()
                .find(|p| p.resp == Resp::Waiting)
                .is_some_and(|p| p.ex.ts > m && p.ex.ts <= ts);
            if next {
                self.sides[idx(dir)].malformed_ts = None;
                self.sides[idx(dir)].lost = false;
                self.finish_message(dir, Mode::Head, ctx);
                return true;
            }
            return false;
        }
        let at_start = side.offset.saturating_add(n64(pos)) == 0 && side.first == First::Pending;
        let cs = &self.sides[idx(c)];
        let v09 = Version { major: 0, minor: 9 };
        let in_progress = cs.mode == Mode::Head
            && cs.head_ts <= ts
            && memchr(b'\n', &cs.hbuf).is_some_and(|lf| {
                parse_request_line(&cs.hbuf[..=lf]).is_ok_and(|rl| rl.version == v09)
            });
        let asked = in_progress
            || self
                .queue
                .iter()
                .find(|p| p.resp == Resp::Waiting)
                .is_some_and(|p| p.ex.version == v09 && p.ex.ts <= ts);
        if at_start && cs.first == First::Http && asked {
            let side = &mut self.sides[idx(dir)];
            side.first = First::Http;
            side.synced_once = true;
            side.mode = Mode::Head;
            return true;
        }
        false
    }
}
