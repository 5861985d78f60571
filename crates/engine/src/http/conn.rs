//! [`HttpConn`]: the per-connection state machine (roles, heads, bodies, pairing, gaps).
//! See the module documentation of [`crate::http`] for the contract and the documented
//! choices.

use super::parse::{
    find_head_end, line_state_after, parse_request_line, parse_status_line, salvage_headers,
    scan_clean_block, scan_headers, split_absolute, BadRequestLine, Chunk, ChunkStep,
    ContentLength, HeaderSummary, LineScan, LineState, RequestLine, StartKind, StatusLine,
    TransferEncoding, Verdict, Want,
};
use super::{Ctx, Dir, StreamEvent};
use crate::budget::heap;
use crate::event::{Exchange, Flags, Version, WireStr};
use crate::limits::Limits;
use httptop_wire::Timestamp;
use memchr::{memchr, memchr2};
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Smallest head limit used, whatever `Limits::max_header_bytes` says: a start line must
/// fit.
pub(crate) const MIN_HEAD_CAP: usize = 32;

/// A head buffer whose capacity grew past this is freed rather than kept for reuse, so an
/// idle connection holds no large allocation.
const KEEP_BUF_CAPACITY: usize = 512;

fn head_cap(limits: &Limits) -> usize {
    limits.max_header_bytes.max(MIN_HEAD_CAP)
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::Orig => 0,
        Dir::Resp => 1,
    }
}

fn n64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Cl(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not synchronised: looking for a start line at line starts (stream start, after a
    /// gap, after a malformed message). `cand`: a start line candidate in progress, its
    /// bytes in the head buffer.
    Hunt {
        at_line_start: bool,
        cand: Option<LineScan>,
    },
    /// Synchronised, at a message start or inside a head (head buffer non-empty).
    Head,
    Body(Body),
    /// Client side after a CONNECT request, until its response says whether a tunnel
    /// follows. `seen`: bytes arrived meanwhile.
    AwaitTunnel {
        seen: bool,
    },
    /// Opaque data after 101 or a 2xx to CONNECT.
    Tunnel,
    /// FIN seen or connection closed.
    Closed,
}

/// What the bytes of the current message on a side are counted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    None,
    Entry(u64),
    Orphan,
}

/// What the first bytes of a side said (for [`HttpConn::is_dead`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    Pending,
    Http,
    NotHttp,
    /// The side started with a gap: its real beginning was not seen.
    Unknown,
}

#[derive(Debug)]
struct Side {
    mode: Mode,
    /// Head (or start line candidate) bytes when they span events; empty otherwise.
    hbuf: Vec<u8>,
    /// Line state at the end of `hbuf`.
    line: LineState,
    /// `hbuf` holds a complete start line that was already checked.
    start_checked: bool,
    /// Time of the first byte of the current head or candidate.
    head_ts: Timestamp,
    /// Stream bytes (data and gaps) before the current event.
    offset: u64,
    /// The current candidate starts at stream offset 0.
    cand_at_zero: bool,
    first: First,
    synced_once: bool,
    /// Hunting after having been synchronised (the next start line is a resync).
    lost: bool,
    target: Target,
}

impl Side {
    fn new() -> Self {
        Side {
            mode: Mode::Hunt {
                at_line_start: true,
                cand: None,
            },
            hbuf: Vec::new(),
            line: LineState::Start,
            start_checked: false,
            head_ts: Timestamp::ZERO,
            offset: 0,
            cand_at_zero: false,
            first: First::Pending,
            synced_once: false,
            lost: false,
            target: Target::None,
        }
    }

    fn reset_buf(&mut self) {
        if self.hbuf.capacity() > KEEP_BUF_CAPACITY {
            self.hbuf = Vec::new();
        } else {
            self.hbuf.clear();
        }
        self.start_checked = false;
        self.line = LineState::Start;
    }

    fn hunt_from(&mut self, at_line_start: bool) {
        self.reset_buf();
        self.mode = Mode::Hunt {
            at_line_start,
            cand: None,
        };
        self.lost = self.synced_once;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resp {
    Waiting,
    Reading,
    Done,
}

/// Spare request queues shared by the connections of one engine: a keep-alive connection
/// takes one for a request and gives it back once the queue is empty, so it neither
/// allocates per request nor holds a queue while idle. At most [`QueuePool::MAX`] queues
/// of at most [`QueuePool::MAX_CAPACITY`] entries are kept (about 160 KiB); others are
/// freed.
#[derive(Debug, Default)]
pub struct QueuePool {
    spare: Vec<VecDeque<Pending>>,
}

impl QueuePool {
    pub const MAX: usize = 64;
    pub const MAX_CAPACITY: usize = 8;

    /// A spare queue, or a new one with room for exactly one request (the common case;
    /// the default first allocation would hold four, all charged to the budget).
    fn take(&mut self) -> VecDeque<Pending> {
        self.spare
            .pop()
            .unwrap_or_else(|| VecDeque::with_capacity(1))
    }

    fn give(&mut self, q: VecDeque<Pending>) {
        if q.is_empty() && q.capacity() <= Self::MAX_CAPACITY && self.spare.len() < Self::MAX {
            self.spare.push(q);
        }
    }
}

#[derive(Debug)]
struct Pending {
    id: u64,
    ex: Exchange,
    req_done: bool,
    resp: Resp,
}

impl Pending {
    /// The exchange as it stands when its wait ends without a complete response (close,
    /// pending-queue overflow): flagged for what is missing; `lost` when the server side
    /// lost data meanwhile.
    fn give_up(mut self, lost: bool) -> Exchange {
        match self.resp {
            Resp::Waiting => {
                self.ex.flags.insert(Flags::NO_RESPONSE);
                if lost {
                    self.ex.flags.insert(Flags::GAP);
                }
            }
            Resp::Reading => self.ex.flags.insert(Flags::TRUNCATED),
            Resp::Done => {}
        }
        if !self.req_done {
            self.ex.flags.insert(Flags::TRUNCATED);
        }
        self.ex
    }
}

/// Decision about a head (or the part of it seen so far).
#[derive(Debug, PartialEq, Eq)]
enum HeadStep<'a> {
    NeedMore,
    /// HTTP/0.9 request line: the whole head.
    Simple(usize, RequestLine<'a>),
    BadStart(usize),
    Complete(usize, Head<'a>),
    TooLarge,
}

/// A complete head as far as [`eval_head`] read it, so that it is not read twice.
#[derive(Debug, PartialEq, Eq)]
struct Head<'a> {
    start: Start<'a>,
    /// The header summary when the block parsed in the same pass ([`scan_clean_block`]).
    headers: Option<HeaderSummary>,
}

#[derive(Debug, PartialEq, Eq)]
enum Start<'a> {
    Request(RequestLine<'a>),
    Status(StatusLine),
}

fn eval_head<'a>(buf: &'a [u8], full: bool, is_req: bool, limits: &Limits) -> HeadStep<'a> {
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
    if let Some((e, hs)) = scan_clean_block(block, limits.max_headers, limits.max_string_len) {
        let headers = Some(hs);
        return HeadStep::Complete(lf + 1 + e, Head { start, headers });
    }
    match find_head_end(LineState::Start, block) {
        Some(e) => HeadStep::Complete(
            lf + 1 + e,
            Head {
                start,
                headers: None,
            },
        ),
        None if full => HeadStep::TooLarge,
        None => HeadStep::NeedMore,
    }
}

/// The HTTP/1.x parser of one TCP connection. See [`crate::http`].
#[derive(Debug)]
pub struct HttpConn {
    addrs: [SocketAddr; 2],
    /// The side that sends requests, once known.
    client: Option<Dir>,
    sides: [Side; 2],
    /// Requests in order, until emitted. Ids are consecutive from the front.
    queue: VecDeque<Pending>,
    /// Heap bytes held by the strings of the exchanges in `queue` (for [`Self::heap_bytes`]).
    queue_strings: usize,
    next_id: u64,
    /// A response being read that pairs with no request.
    orphan: Option<Box<Exchange>>,
    /// The server side lost data at a point where no message framing could absorb it;
    /// cleared by the next response (see the gap-pairing heuristic).
    server_lost: bool,
    /// The client was seen sending a request before the previous one was answered.
    pipelining: bool,
    dead: bool,
    finished: bool,
    /// Where the connection stopped being HTTP/1 (101, 2xx to CONNECT).
    upgrade: Option<Upgrade>,
}

/// Where an upgraded connection (101 Switching Protocols, a 2xx answer to CONNECT)
/// stops being HTTP/1: the rest of both streams belongs to the next analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upgrade {
    /// The direction of the response that switched.
    pub dir: Dir,
    /// Stream offset in `dir` of the first byte after that response's head.
    pub offset: u64,
}

impl HttpConn {
    /// `orig`/`resp`: the socket addresses of the Orig and Resp sides.
    pub fn new(orig: SocketAddr, resp: SocketAddr) -> Self {
        HttpConn {
            addrs: [orig, resp],
            client: None,
            sides: [Side::new(), Side::new()],
            queue: VecDeque::new(),
            queue_strings: 0,
            next_id: 0,
            orphan: None,
            server_lost: false,
            pipelining: false,
            dead: false,
            finished: false,
            upgrade: None,
        }
    }

    /// The side that sends requests, once a start line said so (the connection is then
    /// HTTP/1: this is the probe's "mine").
    pub fn client(&self) -> Option<Dir> {
        self.client
    }

    /// Set once a response switched the connection to another protocol (the flow then
    /// hands the streams over; HTTP/1 parses nothing more).
    pub fn upgrade(&self) -> Option<Upgrade> {
        self.upgrade
    }

    /// One in-order event of the `dir` stream at packet time `ts`.
    pub fn feed(&mut self, dir: Dir, ts: Timestamp, ev: StreamEvent<'_>, ctx: &mut Ctx<'_>) {
        if self.dead || self.finished {
            return;
        }
        match ev {
            StreamEvent::Data(d) => self.on_data(dir, ts, d, ctx),
            StreamEvent::Gap(0) => {}
            StreamEvent::Gap(n) => self.on_gap(dir, n, ctx),
            StreamEvent::Fin => self.finish_side(dir, ctx),
            StreamEvent::Rst => self.close(ts, ctx),
        }
    }

    /// The connection is gone (both FINs / RST handled, idle timeout, eviction, end of
    /// capture): finish what can be finished (a response framed by connection close is
    /// complete; requests still waiting get [`Flags::NO_RESPONSE`]) and emit everything
    /// pending. Later calls to `feed` and `close` do nothing.
    pub fn close(&mut self, _ts: Timestamp, ctx: &mut Ctx<'_>) {
        if self.finished {
            return;
        }
        if !self.dead {
            self.finish_side(Dir::Orig, ctx);
            self.finish_side(Dir::Resp, ctx);
            let lost = self.server_lost;
            while let Some(p) = self.pop_pending() {
                ctx.emit(p.give_up(lost));
            }
            if let Some(o) = self.orphan.take() {
                ctx.emit(*o);
            }
        }
        self.finished = true;
        self.release();
    }

    /// True once the connection is known not to be HTTP (the flow table then stops
    /// delivering data to it, to save time).
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Bytes held in head buffers (both directions); at most twice
    /// `max(Limits::max_header_bytes, 32)`.
    pub fn buffered_bytes(&self) -> usize {
        self.sides[0].hbuf.len() + self.sides[1].hbuf.len()
    }

    /// Requests held (waiting for their response, or for an earlier one to be emitted);
    /// at most `max(Limits::max_pending_requests, 1)`.
    pub fn pending_requests(&self) -> usize {
        self.queue.len()
    }

    /// Heap bytes this connection holds: head buffers, the queue of requests and their
    /// strings, a response without request being read; allocator overhead included. O(1).
    /// This is what the engine charges against `Limits::max_buffered_bytes`.
    pub fn heap_bytes(&self) -> usize {
        let sides = heap(self.sides[0].hbuf.capacity()) + heap(self.sides[1].hbuf.capacity());
        let queue = heap(self.queue.capacity() * std::mem::size_of::<Pending>());
        let orphan = if self.orphan.is_some() {
            heap(std::mem::size_of::<Exchange>())
        } else {
            0
        };
        sides + queue + self.queue_strings + orphan
    }

    fn pop_pending(&mut self) -> Option<Pending> {
        let p = self.queue.pop_front()?;
        self.queue_strings = self.queue_strings.saturating_sub(p.ex.heap_bytes());
        Some(p)
    }

    fn release(&mut self) {
        for s in &mut self.sides {
            s.hbuf = Vec::new();
            s.mode = Mode::Closed;
        }
        self.queue = VecDeque::new();
        self.queue_strings = 0;
        self.orphan = None;
    }

    // ---------------------------------------------------------------- helpers

    fn is_client(&self, dir: Dir) -> bool {
        self.client == Some(dir)
    }

    fn roles(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        match self.client {
            Some(c) => (Some(self.addrs[idx(c)]), Some(self.addrs[idx(c.other())])),
            None => (None, None),
        }
    }

    fn want(&self, dir: Dir) -> Want {
        match self.client {
            None => Want {
                request: true,
                status: true,
            },
            Some(c) if c == dir => Want {
                request: true,
                status: false,
            },
            Some(_) => Want {
                request: false,
                status: true,
            },
        }
    }

    fn entry_mut(&mut self, id: u64) -> Option<&mut Pending> {
        let front = self.queue.front()?.id;
        let i = usize::try_from(id.checked_sub(front)?).ok()?;
        self.queue.get_mut(i)
    }

    fn wire(src: &[u8], ctx: &mut Ctx<'_>, flags: &mut Flags) -> WireStr {
        let w = WireStr::capped(src, ctx.limits.max_string_len);
        if w.truncated {
            ctx.counters.strings_truncated += 1;
            flags.insert(Flags::TRUNCATED);
        }
        w
    }

    /// Counts a string that was capped while headers were read.
    fn count_capped(w: &Option<WireStr>, ctx: &mut Ctx<'_>, flags: &mut Flags) {
        if w.as_ref().is_some_and(|w| w.truncated) {
            ctx.counters.strings_truncated += 1;
            flags.insert(Flags::TRUNCATED);
        }
    }

    fn add_bytes(&mut self, dir: Dir, n: u64) {
        let client = self.is_client(dir);
        match self.sides[idx(dir)].target {
            Target::Entry(id) => {
                if let Some(p) = self.entry_mut(id) {
                    let b = if client {
                        &mut p.ex.request_bytes
                    } else {
                        &mut p.ex.response_bytes
                    };
                    *b = b.saturating_add(n);
                }
            }
            Target::Orphan => {
                if let Some(o) = self.orphan.as_mut() {
                    o.response_bytes = o.response_bytes.saturating_add(n);
                }
            }
            Target::None => {}
        }
    }

    fn flag(&mut self, dir: Dir, f: Flags) {
        match self.sides[idx(dir)].target {
            Target::Entry(id) => {
                if let Some(p) = self.entry_mut(id) {
                    p.ex.flags.insert(f);
                }
            }
            Target::Orphan => {
                if let Some(o) = self.orphan.as_mut() {
                    o.flags.insert(f);
                }
            }
            Target::None => {}
        }
    }

    /// Emits finished exchanges from the front, in request order.
    fn flush(&mut self, ctx: &mut Ctx<'_>) {
        while self
            .queue
            .front()
            .is_some_and(|p| p.req_done && p.resp == Resp::Done)
        {
            if let Some(p) = self.pop_pending() {
                ctx.emit(p.ex);
            }
        }
        if self.queue.is_empty() && self.queue.capacity() > 0 {
            // An idle connection keeps no queue allocation (see `heap_bytes`); it goes
            // back to the engine's pool for the next request.
            ctx.pool.give(std::mem::take(&mut self.queue));
        }
    }

    /// The current message of `dir` is complete; the side continues in `next`.
    fn finish_message(&mut self, dir: Dir, next: Mode, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        let client = self.is_client(dir);
        match std::mem::replace(&mut self.sides[i].target, Target::None) {
            Target::Entry(id) => {
                if let Some(p) = self.entry_mut(id) {
                    if client {
                        p.req_done = true;
                    } else {
                        p.resp = Resp::Done;
                    }
                }
            }
            Target::Orphan => {
                if let Some(o) = self.orphan.take() {
                    ctx.emit(*o);
                }
            }
            Target::None => {}
        }
        self.sides[i].mode = next;
        self.flush(ctx);
    }

    fn push_request(&mut self, ex: Exchange, req_done: bool, ctx: &mut Ctx<'_>) -> u64 {
        let cap = ctx.limits.max_pending_requests.max(1);
        while self.queue.len() >= cap {
            let Some(p) = self.pop_pending() else {
                break;
            };
            ctx.counters.pending_overflow += 1;
            ctx.emit(p.give_up(self.server_lost));
        }
        // Two requests starting in the same packet: the client pipelines.
        if self
            .queue
            .back()
            .is_some_and(|b| b.resp == Resp::Waiting && b.ex.ts == ex.ts)
        {
            self.pipelining = true;
        }
        let id = self.next_id;
        self.next_id += 1;
        if self.queue.capacity() == 0 {
            self.queue = ctx.pool.take();
        }
        self.queue_strings += ex.heap_bytes();
        self.queue.push_back(Pending {
            id,
            ex,
            req_done,
            resp: Resp::Waiting,
        });
        self.flush(ctx);
        id
    }

    /// Which pending request a response whose first byte came at `ts` answers (None: no
    /// request). Implements the timing rule and the gap-pairing heuristic.
    fn pair_response(&mut self, ts: Timestamp, ctx: &mut Ctx<'_>) -> Option<u64> {
        let lost = std::mem::take(&mut self.server_lost);
        let cursor = self.queue.iter().position(|p| p.resp == Resp::Waiting)?;
        let cands = self
            .queue
            .iter()
            .skip(cursor)
            .take_while(|p| p.resp == Resp::Waiting && p.ex.ts <= ts)
            .count();
        if cands == 0 {
            return None;
        }
        let chosen = if lost && cands >= 2 && !self.pipelining {
            cursor + cands - 1
        } else {
            cursor
        };
        for p in self.queue.range_mut(cursor..chosen) {
            p.resp = Resp::Done;
            p.ex.flags.insert(Flags::NO_RESPONSE | Flags::GAP);
        }
        if !lost
            && self
                .queue
                .get(chosen + 1)
                .is_some_and(|n| n.resp == Resp::Waiting && n.ex.ts < ts)
        {
            self.pipelining = true;
        }
        let id = self.queue.get(chosen).map(|p| p.id);
        self.flush(ctx);
        id
    }

    fn check_dead(&mut self, ctx: &mut Ctx<'_>) {
        if self.client.is_none() && self.sides.iter().all(|s| s.first == First::NotHttp) {
            self.dead = true;
            ctx.counters.not_http_connections += 1;
            for s in &mut self.sides {
                s.hbuf = Vec::new();
            }
        }
    }

    // ---------------------------------------------------------------- data

    fn on_data(&mut self, dir: Dir, ts: Timestamp, data: &[u8], ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        let mut pos = 0;
        let mut stalls = 0;
        while pos < data.len() && !self.dead && !self.finished {
            if self.sides[i].mode == Mode::Tunnel {
                self.note_upgrade(dir, pos);
            }
            let before = (pos, self.sides[i].mode);
            pos = match self.sides[i].mode {
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
        if self.sides[i].mode == Mode::Tunnel {
            self.note_upgrade(dir, pos.min(data.len()));
        }
        let side = &mut self.sides[i];
        side.offset = side.offset.saturating_add(n64(data.len()));
    }

    /// The side `dir` is in tunnel mode from `pos` of the current event on: the first
    /// such point seen is where the connection was upgraded (the switching response
    /// ends the event's HTTP part; the client side has no bytes left to parse).
    fn note_upgrade(&mut self, dir: Dir, pos: usize) {
        if self.upgrade.is_none() {
            let offset = self.sides[idx(dir)].offset.saturating_add(n64(pos));
            self.upgrade = Some(Upgrade { dir, offset });
        }
    }

    fn hunt(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        data: &[u8],
        pos: usize,
        ctx: &mut Ctx<'_>,
    ) -> usize {
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
                if self.client == Some(dir.other()) {
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

    fn start_found(&mut self, dir: Dir, kind: StartKind, ctx: &mut Ctx<'_>) {
        if self.client.is_none() {
            self.client = Some(match kind {
                StartKind::Request => dir,
                StartKind::Status => dir.other(),
            });
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

    fn head(
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
            match eval_head(win, win.len() >= cap, is_req, ctx.limits) {
                HeadStep::NeedMore => {
                    let side = &mut self.sides[i];
                    side.hbuf.extend_from_slice(win);
                    side.start_checked = memchr(b'\n', win).is_some();
                    side.line = line_state_after(LineState::Content, win);
                    pos + win.len()
                }
                step => pos + self.apply_head(dir, step, win, ctx),
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
            let step = eval_head(&buf, buf.len() >= cap, is_req, ctx.limits);
            match step {
                HeadStep::NeedMore => {
                    drop(step);
                    let side = &mut self.sides[i];
                    side.hbuf = buf;
                    side.start_checked = true;
                }
                step => {
                    self.apply_head(dir, step, &buf, ctx);
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

    /// Acts on a decided head; returns the bytes of `buf` it used.
    fn apply_head(&mut self, dir: Dir, step: HeadStep<'_>, buf: &[u8], ctx: &mut Ctx<'_>) -> usize {
        match step {
            HeadStep::NeedMore => 0,
            HeadStep::Simple(n, rl) => {
                self.request_head(dir, &buf[..n], rl, None, ctx);
                n
            }
            HeadStep::Complete(n, head) => {
                match head.start {
                    Start::Request(rl) => self.request_head(dir, &buf[..n], rl, head.headers, ctx),
                    Start::Status(sl) => self.response_head(dir, &buf[..n], sl, head.headers, ctx),
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

    fn body(&mut self, dir: Dir, data: &[u8], pos: usize, b: Body, ctx: &mut Ctx<'_>) -> usize {
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

    // ---------------------------------------------------------------- requests

    /// Fills method, path, host and version from a request line (and headers, if read).
    fn request_exchange(
        &self,
        ts: Timestamp,
        method: &[u8],
        target: &[u8],
        version: Version,
        hs: Option<&mut HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) -> Exchange {
        let mut flags = Flags::empty();
        let (client, server) = self.roles();
        let (path, uri_host) = if method == b"CONNECT" {
            (std::borrow::Cow::Borrowed(target), Some(target))
        } else if let Some((authority, path)) = split_absolute(target) {
            (path, Some(authority))
        } else {
            (std::borrow::Cow::Borrowed(target), None)
        };
        let method = Self::wire(method, ctx, &mut flags);
        let path = Self::wire(&path, ctx, &mut flags);
        let mut host = WireStr::default();
        let mut user_agent = WireStr::default();
        if let Some(hs) = hs {
            Self::count_capped(&hs.host, ctx, &mut flags);
            Self::count_capped(&hs.user_agent, ctx, &mut flags);
            host = hs.host.take().unwrap_or_default();
            user_agent = hs.user_agent.take().unwrap_or_default();
        }
        if host.is_empty() {
            if let Some(h) = uri_host {
                host = Self::wire(h, ctx, &mut flags);
            }
        }
        Exchange {
            ts,
            client,
            server,
            method,
            host,
            path,
            user_agent,
            version,
            flags,
            ..Exchange::default()
        }
    }

    fn request_head(
        &mut self,
        dir: Dir,
        head: &[u8],
        rl: RequestLine<'_>,
        fast: Option<HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) {
        let i = idx(dir);
        let ts = self.sides[i].head_ts;
        let lf = memchr(b'\n', head).map_or(head.len(), |k| k + 1);
        ctx.request_started();
        let malformed_line = rl.malformed;
        if malformed_line {
            ctx.counters.malformed_requests += 1;
        }
        if rl.simple {
            let mut ex = self.request_exchange(ts, rl.method, rl.target, rl.version, None, ctx);
            ex.request_bytes = n64(head.len());
            self.push_request(ex, true, ctx);
            self.sides[i].mode = Mode::Head;
            return;
        }
        let limits = ctx.limits;
        let mut hs = fast.unwrap_or_else(|| {
            scan_headers(&head[lf..], limits.max_headers, limits.max_string_len)
        });
        let mut ex =
            self.request_exchange(ts, rl.method, rl.target, rl.version, Some(&mut hs), ctx);
        ex.request_bytes = n64(head.len());
        if malformed_line {
            ex.flags.insert(Flags::MALFORMED);
        }
        self.note_headers(&hs, &mut ex.flags, true, ctx);
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
                    ex.flags.insert(Flags::MALFORMED);
                    next = Mode::Hunt {
                        at_line_start: true,
                        cand: None,
                    };
                }
                (TransferEncoding::Absent, ContentLength::Bad) => {
                    ctx.counters.bad_content_length += 1;
                    ex.flags.insert(Flags::MALFORMED);
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
        let id = self.push_request(ex, !body, ctx);
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
    fn note_headers(
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
    fn bad_start(&mut self, dir: Dir, line: &[u8], ctx: &mut Ctx<'_>) {
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
                let mut ex =
                    self.request_exchange(ts, method, target, Version::default(), None, ctx);
                ex.flags.insert(Flags::MALFORMED);
                ex.request_bytes = n64(line.len());
                self.push_request(ex, true, ctx);
            }
        } else {
            ctx.counters.malformed_responses += 1;
        }
        self.sides[i].hunt_from(line.last() == Some(&b'\n'));
    }

    /// A head cut short (limit, gap, FIN): emit what its start line and complete header
    /// lines say, with `flags`. Does not change the side's mode.
    fn partial_head(&mut self, dir: Dir, buf: &[u8], flags: Flags, ctx: &mut Ctx<'_>) {
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
            let mut ex = self.request_exchange(ts, method, target, version, Some(&mut hs), ctx);
            ex.flags.insert(flags);
            ex.request_bytes = n64(buf.len());
            self.push_request(ex, true, ctx);
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

    // ---------------------------------------------------------------- responses

    fn orphan_exchange(
        &self,
        ts: Timestamp,
        sl: super::parse::StatusLine,
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
    /// HTTP/0.9 request (if that is the next one waiting): its body runs until close.
    fn start_simple_response(&mut self, dir: Dir, ts: Timestamp, ctx: &mut Ctx<'_>) -> bool {
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

    fn response_head(
        &mut self,
        dir: Dir,
        head: &[u8],
        sl: StatusLine,
        fast: Option<HeaderSummary>,
        ctx: &mut Ctx<'_>,
    ) {
        let i = idx(dir);
        let ts = self.sides[i].head_ts;
        let lf = memchr(b'\n', head).map_or(head.len(), |k| k + 1);
        ctx.counters.responses += 1;
        let limits = ctx.limits;
        let hs = fast.unwrap_or_else(|| {
            scan_headers(&head[lf..], limits.max_headers, limits.max_string_len)
        });
        let mut flags = Flags::empty();
        self.note_headers(&hs, &mut flags, false, ctx);
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

    fn enter_tunnel(&mut self, ctx: &mut Ctx<'_>) {
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

    // ---------------------------------------------------------------- gaps, FIN

    fn on_gap(&mut self, dir: Dir, n: u64, ctx: &mut Ctx<'_>) {
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
            Mode::Hunt { .. } => self.desync(dir, ctx),
        }
    }

    /// The side lost data where no framing absorbs it: hunt from the next byte.
    fn desync(&mut self, dir: Dir, ctx: &mut Ctx<'_>) {
        ctx.counters.gaps += 1;
        self.sides[idx(dir)].hunt_from(true);
        if self.client.is_some() && !self.is_client(dir) {
            self.server_lost = true;
        }
    }

    /// FIN on `dir` (or close): finish what the end of the stream finishes.
    fn finish_side(&mut self, dir: Dir, ctx: &mut Ctx<'_>) {
        let i = idx(dir);
        match self.sides[i].mode {
            Mode::Closed => return,
            Mode::Head => {
                let buf = std::mem::take(&mut self.sides[i].hbuf);
                if !buf.is_empty() {
                    self.partial_head(dir, &buf, Flags::TRUNCATED, ctx);
                }
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
