//! [`HttpConn`]: the per-connection state machine of HTTP/1.x, one file per concern:
//! `side` (per-direction state), `sync` (hunting for start lines, roles, not HTTP),
//! `head` (gathering and deciding heads), `request` and `response` (heads into
//! exchanges, upgrades), `body` (bodies, gaps, FIN), `pairing` (the request queue,
//! pairing and emitting). See the module documentation of [`crate::http`] for the
//! contract and the documented choices.

mod body;
mod head;
mod pairing;
mod request;
mod response;
mod side;
mod sync;

use super::parse::{
    find_head_end, line_state_after, parse_request_line, parse_status_line, salvage_headers,
    scan_clean_block, scan_headers, split_absolute, BadRequestLine, Chunk, ChunkStep,
    ContentLength, HeaderSummary, LineScan, LineState, RequestLine, StartKind, StatusLine,
    TransferEncoding, Verdict, Want,
};
use super::{Ctx, Dir, StreamEvent, UpgradeTo};
use crate::budget::heap;
use crate::event::{Exchange, Flags, Version, WireStr};
use crate::limits::Limits;
use httptop_wire::Timestamp;
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

pub use pairing::QueuePool;
use pairing::*;
use side::*;

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
    /// What the switching response's `Upgrade` field named, until `upgrade` is set.
    upgrade_to: UpgradeTo,
}

/// Where an upgraded connection (101 Switching Protocols, a 2xx answer to CONNECT)
/// stops being HTTP/1: the rest of both streams belongs to the next analyzer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upgrade {
    /// The direction of the response that switched.
    pub dir: Dir,
    /// Stream offset in `dir` of the first byte after that response's head.
    pub offset: u64,
    /// What a 101 response's `Upgrade` field named (`Absent` after a 2xx to CONNECT).
    pub to: UpgradeTo,
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
            upgrade_to: UpgradeTo::Absent,
        }
    }

    /// The side that sends requests, once a start line said so (the connection is then
    /// HTTP/1: this is the probe's "mine").
    pub fn client(&self) -> Option<Dir> {
        self.client
    }

    /// The socket addresses of the Orig and Resp sides.
    pub fn addrs(&self) -> [SocketAddr; 2] {
        self.addrs
    }

    /// Set once a response switched the connection to another protocol (the flow then
    /// hands the streams over; HTTP/1 parses nothing more).
    pub fn upgrade(&self) -> Option<Upgrade> {
        self.upgrade
    }

    /// Stream bytes (data and gaps) of `dir` fed so far: with [`Upgrade::offset`], where
    /// the current event's bytes after an upgrade begin.
    pub fn offset(&self, dir: Dir) -> u64 {
        self.sides[idx(dir)].offset
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

    /// True once the connection is known not to be HTTP (the analyzer seam then makes
    /// the flow opaque: its payload is only counted).
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
}
