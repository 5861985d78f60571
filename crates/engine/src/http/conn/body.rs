//! Bodies (Content-Length, chunked, until close) counted, never stored; gaps inside
//! and outside them; the end of a side (FIN or close).

use super::*;

impl HttpConn {
    pub(super) fn body(
        &mut self,
        dir: Dir,
        data: &[u8],
        pos: usize,
        b: Body,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        let rest = &data[pos..];
        match b {
            Body::Cl(left) => {
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                self.add_bytes(dir, n64(n));
                let left = left - n64(n);
                if left == 0 {
                    self.finish_message(dir, Mode::Head, ctx);
                } else {
                    self.sides[idx(dir)].mode = Mode::Body(Body::Cl(left));
                }
                pos + n
            }
            Body::UntilClose => {
                self.add_bytes(dir, n64(rest.len()));
                data.len()
            }
            Body::Chunked(mut c) => match c.feed(rest) {
                ChunkStep::More => {
                    self.add_bytes(dir, n64(rest.len()));
                    self.sides[idx(dir)].mode = Mode::Body(Body::Chunked(c));
                    data.len()
                }
                ChunkStep::Done(n) => {
                    self.add_bytes(dir, n64(n));
                    self.finish_message(dir, Mode::Head, ctx);
                    pos + n
                }
                ChunkStep::Bad(n) => {
                    self.add_bytes(dir, n64(n));
                    ctx.counters.bad_chunk += 1;
                    self.flag(dir, Flags::MALFORMED);
                    self.finish_message(dir, Mode::Head, ctx);
                    self.sides[idx(dir)].hunt_from(rest[n - 1] == b'\n');
                    pos + n
                }
            },
        }
    }

    // ---------------------------------------------------------------- gaps, FIN

    pub(super) fn on_gap(&mut self, dir: Dir, n: u64, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        {
            let side = &mut self.sides[i];
            if side.mode == Mode::Closed {
                return;
            }
            if side.first == First::Pending && (side.offset == 0 || side.cand_at_zero) {
                side.first = First::Unknown;
            }
            side.cand_at_zero = false;
            side.offset = side.offset.saturating_add(n);
        }
        match self.sides[i].mode {
            Mode::Tunnel | Mode::Closed => {}
            Mode::AwaitTunnel { .. } => self.sides[i].mode = Mode::AwaitTunnel { seen: true },
            Mode::Body(Body::UntilClose) => {
                self.add_bytes(dir, n);
                self.flag(dir, Flags::GAP);
                ctx.counters.body_gaps += 1;
            }
            Mode::Body(Body::Cl(left)) => {
                self.add_bytes(dir, n.min(left));
                self.flag(dir, Flags::GAP);
                if n < left {
                    ctx.counters.body_gaps += 1;
                    self.sides[i].mode = Mode::Body(Body::Cl(left - n));
                } else if n == left {
                    ctx.counters.body_gaps += 1;
                    self.finish_message(dir, Mode::Head, ctx);
                } else {
                    self.finish_message(dir, Mode::Head, ctx);
                    self.desync(dir, ctx);
                }
            }
            Mode::Body(Body::Chunked(mut c)) => {
                self.flag(dir, Flags::GAP);
                match c.gap(n) {
                    Ok(()) => {
                        self.add_bytes(dir, n);
                        ctx.counters.body_gaps += 1;
                        self.sides[i].mode = Mode::Body(Body::Chunked(c));
                    }
                    Err(k) => {
                        self.add_bytes(dir, k);
                        self.finish_message(dir, Mode::Head, ctx);
                        self.desync(dir, ctx);
                    }
                }
            }
            Mode::Head => {
                let buf = std::mem::take(&mut self.sides[i].hbuf);
                if !buf.is_empty() {
                    self.partial_head(dir, &buf, Flags::GAP | Flags::TRUNCATED, ctx);
                }
                self.desync(dir, ctx);
            }
            Mode::Hunt { .. } => {
                if self.sides[i].malformed_ts.take().is_some() {
                    // The malformed response being skipped lost bytes: it ends here.
                    let held = n64(self.sides[i].hbuf.len());
                    self.add_bytes(dir, held);
                    self.flag(dir, Flags::GAP);
                    let mode = self.sides[i].mode;
                    self.finish_message(dir, mode, ctx);
                }
                self.desync(dir, ctx)
            }
        }
    }

    /// The side lost data where no framing absorbs it: hunt from the next byte.
    pub(super) fn desync(&mut self, dir: Dir, ctx: &mut Ctx<'_>) {
        ctx.counters.gaps += 1;
        self.sides[idx(dir)].hunt_from(true);
        if self.client.is_some() && !self.is_client(dir) {
            self.server_lost = true;
        }
    }

    /// FIN on `dir` (or close): finish what the end of the stream finishes.
    pub(super) fn finish_side(&mut self, dir: Dir, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        match self.sides[i].mode {
            Mode::Closed => return,
            Mode::Head => {
                let buf = std::mem::take(&mut self.sides[i].hbuf);
                if !buf.is_empty() {
                    self.partial_head(dir, &buf, Flags::TRUNCATED, ctx);
                }
            }
            Mode::Hunt { .. } if self.sides[i].malformed_ts.take().is_some() => {
                // A malformed response runs to the end of the stream.
                let held = n64(self.sides[i].hbuf.len());
                self.add_bytes(dir, held);
                self.finish_message(dir, Mode::Closed, ctx);
            }
            Mode::Hunt { .. } | Mode::Tunnel | Mode::AwaitTunnel { .. } => {}
            Mode::Body(Body::UntilClose) => self.finish_message(dir, Mode::Closed, ctx),
            Mode::Body(Body::Chunked(c)) if c.in_trailer() => {
                self.finish_message(dir, Mode::Closed, ctx)
            }
            Mode::Body(_) => {
                self.flag(dir, Flags::TRUNCATED);
                self.finish_message(dir, Mode::Closed, ctx);
            }
        }
        let side = &mut self.sides[i];
        side.mode = Mode::Closed;
        side.hbuf = Vec::new();
        side.start_checked = false;
    }
}
