//! Heads: parsed in place from the event when they lie in one, else gathered in the
//! side's capped buffer; the decision about a head (complete, HTTP/0.9, bad start line,
//! too large) and acting on it.

use super::*;
use memchr::memchr;

/// Decision about a head (or the part of it seen so far).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum HeadStep<'a> {
    NeedMore,
    /// HTTP/0.9 request line: the whole head.
    Simple(usize, RequestLine<'a>),
    BadStart(usize),
    Complete(usize, Head<'a>),
    TooLarge,
}

/// A complete head as far as [`eval_head`] read it, so that it is not read twice.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub(super) start: Start<'a>,
    /// The block parsed in the same pass ([`scan_clean_block`]): its summary is in the
    /// caller's `HeaderSummary`.
    pub(super) headers: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Start<'a> {
    Request(RequestLine<'a>),
    Status(StatusLine),
}

pub(super) fn eval_head<'a>(
    buf: &'a [u8],
    full: bool,
    is_req: bool,
    limits: &Limits,
    hs: &mut HeaderSummary,
) -> HeadStep<'a> {
    let Some(lf) = memchr(b'\n', buf) else {
        return if full {
            HeadStep::TooLarge
        } else {
            HeadStep::NeedMore
        };
    };
    let line = &buf[..=lf];
    let start = if is_req {
        match parse_request_line(line) {
            Ok(rl) if rl.simple => return HeadStep::Simple(lf + 1, rl),
            Ok(rl) => Start::Request(rl),
            Err(_) => return HeadStep::BadStart(lf + 1),
        }
    } else {
        match parse_status_line(line) {
            Some(sl) => Start::Status(sl),
            None => return HeadStep::BadStart(lf + 1),
        }
    };
    let block = &buf[lf + 1..];
    if let Some(e) = scan_clean_block(block, limits.max_headers, limits.max_string_len, hs) {
        let headers = true;
        return HeadStep::Complete(lf + 1 + e, Head { start, headers });
    }
    match find_head_end(LineState::Start, block) {
        Some(e) => HeadStep::Complete(
            lf + 1 + e,
            Head {
                start,
                headers: false,
            },
        ),
        None if full => HeadStep::TooLarge,
        None => HeadStep::NeedMore,
    }
}

impl HttpConn {
    pub(super) fn head(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        data: &[u8],
        mut pos: usize,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        let cap = head_cap(ctx.limits);
        let is_req = self.is_client(dir);
        let i = idx(dir);
        if self.sides[i].hbuf.is_empty() {
            // Blank lines between messages (an extra CRLF after a body) are skipped.
            while pos < data.len() && matches!(data[pos], b'\r' | b'\n') {
                pos += 1;
            }
            if pos == data.len() {
                return pos;
            }
            self.sides[i].head_ts = ts;
            if !is_req && data[pos] != b'H' && self.start_simple_response(dir, ts, ctx) {
                return pos;
            }
            let avail = &data[pos..];
            let win = &avail[..avail.len().min(cap)];
            let mut hs = HeaderSummary::default();
            match eval_head(win, win.len() >= cap, is_req, ctx.limits, &mut hs) {
                HeadStep::NeedMore => {
                    let side = &mut self.sides[i];
                    side.hbuf.extend_from_slice(win);
                    side.start_checked = memchr(b'\n', win).is_some();
                    side.line = line_state_after(LineState::Content, win);
                    pos + win.len()
                }
                step => pos + self.apply_head(dir, step, win, &mut hs, ctx),
            }
        } else {
            let side = &mut self.sides[i];
            let room = cap.saturating_sub(side.hbuf.len());
            let avail = &data[pos..data.len().min(pos.saturating_add(room))];
            let (take, hit) = if side.start_checked {
                match find_head_end(side.line, avail) {
                    Some(e) => (e, true),
                    None => (avail.len(), false),
                }
            } else {
                match memchr(b'\n', avail) {
                    Some(k) => (k + 1, true),
                    None => (avail.len(), false),
                }
            };
            side.hbuf.extend_from_slice(&avail[..take]);
            side.line = line_state_after(side.line, &avail[..take]);
            let pos = pos + take;
            if !hit && side.hbuf.len() < cap {
                return pos;
            }
            let buf = std::mem::take(&mut side.hbuf);
            let mut hs = HeaderSummary::default();
            let step = eval_head(&buf, buf.len() >= cap, is_req, ctx.limits, &mut hs);
            match step {
                HeadStep::NeedMore => {
                    let side = &mut self.sides[i];
                    side.hbuf = buf;
                    side.start_checked = true;
                }
                step => {
                    self.apply_head(dir, step, &buf, &mut hs, ctx);
                    let side = &mut self.sides[i];
                    if side.hbuf.capacity() == 0 && buf.capacity() <= KEEP_BUF_CAPACITY {
                        side.hbuf = buf;
                        side.hbuf.clear();
                    }
                    side.start_checked = false;
                }
            }
            pos
        }
    }

    /// Acts on a decided head (`hs`: the summary [`eval_head`] wrote); returns the bytes
    /// of `buf` it used.
    pub(super) fn apply_head(
        &mut self,
        dir: Dir,
        step: HeadStep<'_>,
        buf: &[u8],
        hs: &mut HeaderSummary,
        ctx: &mut Ctx<'_>,
    ) -> usize {
        match step {
            HeadStep::NeedMore => 0,
            HeadStep::Simple(n, rl) => {
                self.request_head(dir, &buf[..n], rl, None, ctx);
                n
            }
            HeadStep::Complete(n, head) => {
                let fast = head.headers.then_some(hs);
                match head.start {
                    Start::Request(rl) => self.request_head(dir, &buf[..n], rl, fast, ctx),
                    Start::Status(sl) => self.response_head(dir, &buf[..n], sl, fast, ctx),
                }
                n
            }
            HeadStep::BadStart(n) => {
                self.bad_start(dir, &buf[..n], ctx);
                n
            }
            HeadStep::TooLarge => {
                ctx.counters.header_too_large += 1;
                self.partial_head(dir, buf, Flags::TRUNCATED, ctx);
                self.sides[idx(dir)].hunt_from(buf.last() == Some(&b'\n'));
                buf.len()
            }
        }
    }
}
