//! Requests waiting for their response: the queue (and the engine's pool of spare
//! queues), pairing a response with its request (the timing rule and the gap-pairing
//! heuristic), counting bytes and flags to the message being read, and emitting
//! finished exchanges in request order.

use super::*;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Resp {
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
    pub(super) spare: Vec<VecDeque<Pending>>,
}

impl QueuePool {
    pub const MAX: usize = 64;
    pub const MAX_CAPACITY: usize = 8;

    /// A spare queue, or a new one with room for exactly one request (the common case;
    /// the default first allocation would hold four, all charged to the budget).
    pub(super) fn take(&mut self) -> VecDeque<Pending> {
        self.spare
            .pop()
            .unwrap_or_else(|| VecDeque::with_capacity(1))
    }

    pub(super) fn give(&mut self, q: VecDeque<Pending>) {
        if q.is_empty() && q.capacity() <= Self::MAX_CAPACITY && self.spare.len() < Self::MAX {
            self.spare.push(q);
        }
    }
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) id: u64,
    pub(super) ex: Exchange,
    pub(super) req_done: bool,
    pub(super) resp: Resp,
}

impl Pending {
    /// The exchange as it stands when its wait ends without a complete response (close,
    /// pending-queue overflow): flagged for what is missing; `lost` when the server side
    /// lost data meanwhile.
    pub(super) fn give_up(mut self, lost: bool) -> Exchange {
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

impl HttpConn {
    pub(super) fn entry_mut(&mut self, id: u64) -> Option<&mut Pending> {
        let front = self.queue.front()?.id;
        let i = usize::try_from(id.checked_sub(front)?).ok()?;
        self.queue.get_mut(i)
    }

    pub(super) fn add_bytes(&mut self, dir: Dir, n: u64) {
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

    pub(super) fn flag(&mut self, dir: Dir, f: Flags) {
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
    pub(super) fn flush(&mut self, ctx: &mut Ctx<'_>) {
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
    pub(super) fn finish_message(&mut self, dir: Dir, next: Mode, ctx: &mut Ctx<'_>) {
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

    /// Queues a new request that started at `ts`: `fill` builds its exchange in place
    /// (from `Exchange { ts, ..Exchange::default() }`; no copy of the exchange on its way
    /// in), then its strings are charged to `queue_strings`. Returns its id.
    pub(super) fn push_request(
        &mut self,
        ts: Timestamp,
        req_done: bool,
        ctx: &mut Ctx<'_>,
        fill: impl FnOnce(&mut Exchange, &mut Ctx<'_>),
    ) -> u64 {
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
            .is_some_and(|b| b.resp == Resp::Waiting && b.ex.ts == ts)
        {
            self.pipelining = true;
        }
        let id = self.next_id;
        self.next_id += 1;
        if self.queue.capacity() == 0 {
            self.queue = ctx.pool.take();
        }
        // `resize_with` writes the new entry straight into the queue (`push_back` would
        // build it on the stack and copy it in); the queue grows as `push_back` grows it.
        self.queue.resize_with(self.queue.len() + 1, || Pending {
            id,
            ex: Exchange {
                ts,
                ..Exchange::default()
            },
            req_done,
            resp: Resp::Waiting,
        });
        if let Some(p) = self.queue.back_mut() {
            fill(&mut p.ex, ctx);
            self.queue_strings += p.ex.heap_bytes();
        }
        // Alone in the queue, the new request waits for its response: nothing to flush.
        if self.queue.len() > 1 {
            self.flush(ctx);
        }
        id
    }

    /// Which pending request a response whose first byte came at `ts` answers (None: no
    /// request). Implements the timing rule and the gap-pairing heuristic.
    pub(super) fn pair_response(&mut self, ts: Timestamp, ctx: &mut Ctx<'_>) -> Option<u64> {
        let lost = std::mem::take(&mut self.server_lost);
        if let (1, Some(p)) = (self.queue.len(), self.queue.front()) {
            if p.resp == Resp::Waiting && p.ex.ts <= ts {
                // The common case, one request waiting: it is the answer, nothing is
                // skipped or finished (what the general path below gives for it).
                return Some(p.id);
            }
        }
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
}
