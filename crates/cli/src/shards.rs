//! `-r FILE` over several threads (`--threads N`): the engine's connections spread over
//! N worker threads, their events merged back into capture order on the calling thread
//! (the engine's `shard` module holds the rules; this is the threading).
//!
//! Contract:
//! - The calling thread reads frames (lent from the file reader's shared chunks, never
//!   copied), routes each ([`Router`]), and hands the workers their frames in batches of
//!   at most [`BATCH`] frames spanning at most [`BATCH_CHUNKS`] chunk(s), at most
//!   [`DEPTH`] batches ahead of the one being merged. Each worker runs one shard
//!   [`Engine`] on its frames and every sweep and sends its events back in pieces of
//!   about [`PIECE`] events as they accumulate, even within one call (a sweep or the end
//!   can close thousands of connections): a piece is the engine's own event vector,
//!   taken whole with the events' merge keys by runs ([`Keyed`]; `Sink::keyed`), so an
//!   event is never copied on its way; a batch's last piece closes it. The calling thread merges frame by frame, pulling pieces as it
//!   needs them: a frame's events can only come from the worker its segment went to, or
//!   from every worker when a sweep follows it ([`Makers`]); they go to statistics,
//!   alerting and the outputs exactly as after [`Monitor::on_frame`]: the log, the
//!   alerts and the report are the same bytes whatever N (`tests/threads.rs`).
//! - Memory: the reader's pool ([`POOL_CHUNKS`] chunks, enough for every batch not yet
//!   merged, so the calling thread never waits on chunks a worker holds), per worker at
//!   most [`PIECES_QUEUED`] pieces waiting (then it waits), the one the merge is in and
//!   [`SPARE_PIECES`] emptied ones, and each shard's share of the connection caps
//!   ([`httptop_engine::Limits::per_shard`]). Events are freed by the worker that made
//!   them (merged pieces go back to it), so allocation stays thread-local.
//! - A worker that panics ends the run with an error, never a hang: its channels close.

use httptop_capture::{Chunk, SharedFrame};
use httptop_engine::event::{Event, Exchange, Sink};
use httptop_engine::ipfrag::Reassembled;
use httptop_engine::shard::{Detached, Key, Route, Router};
use httptop_engine::{Counters, Engine, Limits, Monitor, Observer};
use httptop_wire::Timestamp;
use std::collections::VecDeque;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Frames per batch.
const BATCH: usize = 2048;
/// Batches handed out and not yet merged, beyond the one being merged.
const DEPTH: usize = 2;
/// Chunks one batch may span: a batch is handed out once it spans this many.
const BATCH_CHUNKS: usize = 1;
/// The file reader's pool of chunks: room for every chunk the batches not yet merged can
/// hold (the one being filled and `DEPTH + 1` handed out), and the reader's two. So
/// this thread never waits for the reader because of chunks the workers hold: a worker
/// waiting for this thread to take its events (their channel is bounded) cannot stall
/// it.
pub(crate) const POOL_CHUNKS: usize = (DEPTH + 2) * BATCH_CHUNKS + 2;

/// What the outputs do per merged frame besides observing (the periodic refresh).
pub(crate) trait Merged: Observer {
    fn merged(&mut self, monitor: &Monitor, ts: Timestamp);
}

enum Item {
    Segment {
        seq: u64,
        now: Timestamp,
        /// Index in the job's chunks.
        chunk: u32,
        frame: SharedFrame,
        seg: Detached,
    },
    Datagram {
        seq: u64,
        now: Timestamp,
        ts: Timestamp,
        d: Box<Reassembled>,
    },
    Sweep {
        seq: u64,
        now: Timestamp,
        ts: Timestamp,
    },
}

#[derive(Default)]
struct Job {
    items: Vec<Item>,
    chunks: Vec<Arc<Chunk>>,
    /// The number of the first frame after the batch.
    end: u64,
    finish: bool,
    /// The latest packet time over all frames (for the end).
    now: Timestamp,
}

/// A worker's events, sent as they accumulate ([`PIECE`]): the merge needs only the
/// pieces covering the frame it is at, so what is in flight stays bounded whatever a
/// batch's frames produce.
struct Piece {
    events: Keyed,
    /// Every event keyed with a frame number below this one has been sent.
    covered: u64,
    /// The batch's last piece: the worker's state after the batch.
    last: Option<BatchEnd>,
}

/// Events as the shard engine made them, in its own vector (taken whole, never copied),
/// and their merge keys by runs: run `(key, end)` is the events from the previous run's
/// end up to `end`. Runs are not empty.
#[derive(Default)]
struct Keyed {
    events: Vec<Event>,
    runs: Vec<(Key, usize)>,
}

impl Keyed {
    fn clear(&mut self) {
        self.events.clear();
        self.runs.clear();
    }
}

struct BatchEnd {
    /// The job's item vector, emptied, for reuse.
    items: Vec<Item>,
    counters: Counters,
    open_flows: usize,
}

/// Events per piece (a piece also ends at a batch's end).
const PIECE: usize = 256;
/// A new piece's room: a piece ends at the first drain that takes it to [`PIECE`]
/// events, so it rarely grows past this (one packet's or one connection's events).
const PIECE_CAPACITY: usize = PIECE + PIECE / 4;
/// Emptied pieces a worker keeps for reuse (each returned by the merge).
const SPARE_PIECES: usize = PIECES_QUEUED + 2;
/// Pieces waiting for the merge per worker, at most (then the worker waits).
const PIECES_QUEUED: usize = 2;

struct Worker {
    jobs: SyncSender<Job>,
    done: Receiver<Piece>,
    /// Merged pieces go back to be freed by the thread that made their events.
    back: Sender<Keyed>,
    handle: Option<JoinHandle<()>>,
    /// The batch being filled for this worker.
    job: Job,
    spare_items: Vec<Vec<Item>>,
    counters: Counters,
    open_flows: usize,
    /// Pieces received and not yet merged through; the merge is at event `pos`, in run
    /// `run`, of the first.
    pieces: VecDeque<Keyed>,
    run: usize,
    pos: usize,
    covered: u64,
    /// The last piece of the batch being merged has arrived.
    batch_done: bool,
}

/// The frames of a batch, for the merge: the first one's number, and every one's time
/// and the workers that can have events keyed with its number.
struct Plan {
    first: u64,
    ts: Vec<(Timestamp, Makers)>,
    /// The last batch: the shards' end events follow its frames.
    finish: bool,
}

/// The workers whose events can be keyed with a frame's number: the one its segment or
/// datagram went to, or all of them when a sweep follows it. The merge of a frame waits
/// for those only, and takes their events without comparing keys when there is one.
#[derive(Clone, Copy)]
enum Makers {
    None,
    One(u16),
    All,
}

/// The sharded pipeline of one file. See the module documentation.
pub(crate) struct Shards {
    router: Router,
    workers: Vec<Worker>,
    plan: Plan,
    pending: VecDeque<Plan>,
    spare_plans: Vec<Vec<(Timestamp, Makers)>>,
    batches: u64,
    /// The chunk the last frame lay in, and how many the batch being filled spans.
    last_chunk: Option<Arc<Chunk>>,
    batch_chunks: usize,
}

impl Shards {
    /// `threads` workers (at least one) over the single engine's `limits`.
    pub(crate) fn start(limits: &Limits, threads: usize) -> std::io::Result<Shards> {
        let n = threads.max(1);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            // At most DEPTH + 1 batches are out (see `hand_out`): a job is never
            // waited for.
            let (jobs, job_rx) = sync_channel::<Job>(DEPTH + 1);
            let (done_tx, done) = sync_channel::<Piece>(PIECES_QUEUED);
            let (back, back_rx) = channel();
            let shard_limits = limits.per_shard(n);
            let handle = std::thread::Builder::new()
                .name(format!("httptop-shard{i}"))
                .spawn(move || work(Engine::new(shard_limits), job_rx, done_tx, back_rx))?;
            workers.push(Worker {
                jobs,
                done,
                back,
                handle: Some(handle),
                job: Job::default(),
                spare_items: Vec::new(),
                counters: Counters::default(),
                open_flows: 0,
                pieces: VecDeque::new(),
                run: 0,
                pos: 0,
                covered: 0,
                batch_done: false,
            });
        }
        Ok(Shards {
            router: Router::new(limits.clone(), n),
            workers,
            plan: Plan {
                first: 0,
                ts: Vec::with_capacity(BATCH),
                finish: false,
            },
            pending: VecDeque::new(),
            spare_plans: Vec::new(),
            batches: 0,
            last_chunk: None,
            batch_chunks: 0,
        })
    }

    /// One frame of the file, its bytes in `chunk`.
    pub(crate) fn push<O: Merged>(
        &mut self,
        f: SharedFrame,
        chunk: &Arc<Chunk>,
        monitor: &mut Monitor,
        out: &mut O,
    ) -> anyhow::Result<()> {
        if !self
            .last_chunk
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, chunk))
        {
            if self.batch_chunks >= BATCH_CHUNKS {
                self.hand_out(monitor, out)?;
            }
            self.batch_chunks += 1;
            self.last_chunk = Some(Arc::clone(chunk));
        }
        let frame = f.frame(chunk);
        let r = self.router.route(&frame);
        let mut makers = Makers::None;
        match r.route {
            Route::None => {}
            Route::Segment(s, seg) => {
                makers = Makers::One(s as u16);
                let w = &mut self.workers[s];
                let chunk = w.chunk_index(chunk);
                w.job.items.push(Item::Segment {
                    seq: r.seq,
                    now: r.now,
                    chunk,
                    frame: f,
                    seg,
                });
            }
            Route::Datagram(s, d) => {
                makers = Makers::One(s as u16);
                self.workers[s].job.items.push(Item::Datagram {
                    seq: r.seq,
                    now: r.now,
                    ts: f.ts,
                    d,
                })
            }
        }
        if r.sweep {
            makers = Makers::All;
            let now = self.router.now();
            for w in &mut self.workers {
                w.job.items.push(Item::Sweep {
                    seq: r.seq,
                    now,
                    ts: f.ts,
                });
            }
        }
        self.plan.ts.push((f.ts, makers));
        if self.plan.ts.len() >= BATCH {
            self.hand_out(monitor, out)?;
        }
        Ok(())
    }

    /// Hands the batch being filled out, merging the oldest ones past the depth.
    fn hand_out<O: Merged>(&mut self, monitor: &mut Monitor, out: &mut O) -> anyhow::Result<()> {
        self.send(false)?;
        while self.pending.len() > DEPTH {
            self.merge_oldest(monitor, out)?;
        }
        Ok(())
    }

    /// The end of the file (or a stop): everything handed out is merged, the shards
    /// close their connections, and their end events go out in creation order.
    pub(crate) fn finish<O: Merged>(
        mut self,
        monitor: &mut Monitor,
        out: &mut O,
    ) -> anyhow::Result<()> {
        self.send(true)?;
        while !self.pending.is_empty() {
            self.merge_oldest(monitor, out)?;
        }
        Ok(())
    }

    /// Hands the batch being filled to the workers.
    fn send(&mut self, finish: bool) -> anyhow::Result<()> {
        for w in &mut self.workers {
            let items = w.spare_items.pop().unwrap_or_default();
            let mut job = std::mem::replace(
                &mut w.job,
                Job {
                    items,
                    ..Job::default()
                },
            );
            job.end = self.router.frames();
            job.finish = finish;
            job.now = self.router.now();
            w.jobs
                .send(job)
                .map_err(|_| anyhow::anyhow!("a worker thread stopped"))?;
        }
        let ts = self.spare_plans.pop().unwrap_or_default();
        let next = Plan {
            first: self.router.frames(),
            ts,
            finish: false,
        };
        let mut plan = std::mem::replace(&mut self.plan, next);
        plan.finish = finish;
        // The chunk of the last frame is the next batch's first.
        self.batch_chunks = usize::from(self.last_chunk.is_some());
        self.pending.push_back(plan);
        self.batches += 1;
        Ok(())
    }

    /// Merges the oldest batch handed out: frame by frame, its events to the monitor.
    fn merge_oldest<O: Merged>(
        &mut self,
        monitor: &mut Monitor,
        out: &mut O,
    ) -> anyhow::Result<()> {
        let Some(mut plan) = self.pending.pop_front() else {
            return Ok(());
        };
        let mut failed = Ok(());
        for (i, &(ts, makers)) in plan.ts.iter().enumerate() {
            let seq = plan.first + i as u64;
            let workers = &mut self.workers;
            monitor.on_merged(ts, |to| failed = merge(workers, makers, seq, to), out);
            std::mem::replace(&mut failed, Ok(()))?;
            out.merged(monitor, ts);
        }
        if plan.finish {
            let workers = &mut self.workers;
            monitor.finish_merged(
                self.router.now(),
                |to| failed = merge(workers, Makers::All, u64::MAX, to),
                out,
            );
            failed?;
        }
        for w in 0..self.workers.len() {
            while !self.workers[w].batch_done {
                self.workers[w].receive()?;
            }
        }
        for w in &mut self.workers {
            w.batch_done = false;
        }
        plan.ts.clear();
        self.spare_plans.push(plan.ts);
        if plan.finish || self.batches % 16 == 0 {
            self.publish(monitor);
        }
        Ok(())
    }

    /// The router's and the shards' counters, connections and time, to the snapshots.
    fn publish(&self, monitor: &mut Monitor) {
        let mut c = self.router.counters().clone();
        let mut open = 0;
        for w in &self.workers {
            c.add(&w.counters);
            open += w.open_flows;
        }
        monitor.set_engine_view(c, open, self.router.now());
    }
}

impl Worker {
    /// The next piece from this worker.
    fn receive(&mut self) -> anyhow::Result<()> {
        let piece = self
            .done
            .recv()
            .map_err(|_| anyhow::anyhow!("a decoding thread stopped (see the message above)"))?;
        self.covered = piece.covered;
        if let Some(end) = piece.last {
            self.spare_items.push(end.items);
            self.counters = end.counters;
            self.open_flows = end.open_flows;
            self.batch_done = true;
        }
        if self.pieces.is_empty() {
            (self.run, self.pos) = (0, 0);
        }
        self.pieces.push_back(piece.events);
        Ok(())
    }

    /// The key of this worker's next event keyed at most `seq`, receiving pieces as
    /// needed; `None` when it has sent every such event. Pieces merged through go back
    /// to the worker on the way.
    fn next_key(&mut self, seq: u64) -> anyhow::Result<Option<Key>> {
        loop {
            if let Some(k) = self.run_key() {
                return Ok((k.seq <= seq).then_some(k));
            }
            if let Some(v) = self.pieces.pop_front() {
                // Merged through. A worker gone (at the end) frees nothing more: dropped
                // here.
                let _ = self.back.send(v);
                (self.run, self.pos) = (0, 0);
                continue;
            }
            // Every event received is merged: more can come only if the worker has not
            // said it sent everything below a later frame.
            if self.batch_done || self.covered > seq {
                return Ok(None);
            }
            self.receive()?;
        }
    }

    /// The key of the run the merge is at, in the piece at hand (`None`: no piece, or
    /// merged through).
    #[inline]
    fn run_key(&self) -> Option<Key> {
        let v = self.pieces.front()?;
        v.runs.get(self.run).map(|&(k, _)| k)
    }

    /// Hands `to` the events of the run the merge is at, and moves past it.
    #[inline]
    fn take_run(&mut self, to: &mut dyn FnMut(&Event)) {
        let Some(v) = self.pieces.front() else {
            return;
        };
        let Some(&(_, end)) = v.runs.get(self.run) else {
            return;
        };
        for ev in v.events.get(self.pos..end).unwrap_or_default() {
            to(ev);
        }
        self.run += 1;
        self.pos = end;
    }

    /// The index of `chunk` in the job's chunk list (added when new).
    #[inline]
    fn chunk_index(&mut self, chunk: &Arc<Chunk>) -> u32 {
        match self.job.chunks.last() {
            Some(c) if Arc::ptr_eq(c, chunk) => {}
            _ => self.job.chunks.push(Arc::clone(chunk)),
        }
        (self.job.chunks.len() - 1) as u32
    }
}

/// Hands `to` every event keyed at most `seq` not merged yet, in key order: a k-way
/// merge over the `makers`' pieces (each in key order), receiving them as it goes, so
/// the merge holds at most a piece per worker beyond those queued.
fn merge(
    workers: &mut [Worker],
    makers: Makers,
    seq: u64,
    to: &mut dyn FnMut(&Event),
) -> anyhow::Result<()> {
    match makers {
        Makers::None => return Ok(()),
        Makers::One(w) => {
            let Some(w) = workers.get_mut(usize::from(w)) else {
                return Ok(());
            };
            loop {
                // The common case: the next run is in the piece at hand.
                match w.run_key() {
                    Some(k) if k.seq > seq => return Ok(()),
                    Some(_) => w.take_run(to),
                    None => {
                        if w.next_key(seq)?.is_none() {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Makers::All => {}
    }
    loop {
        let mut best: Option<(usize, Key)> = None;
        for (wi, w) in workers.iter_mut().enumerate() {
            if let Some(k) = w.next_key(seq)? {
                if best.is_none_or(|(_, b)| k < b) {
                    best = Some((wi, k));
                }
            }
        }
        let Some((wi, _)) = best else {
            return Ok(());
        };
        // No other worker has events with this key.
        workers[wi].take_run(to);
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Closing the job channel ends a waiting worker; closing its pieces' channel
            // ends one waiting to send (a run that stopped on an error, mid-batch).
            let (dead, _) = sync_channel(0);
            drop(std::mem::replace(&mut w.jobs, dead));
            let (_, gone) = sync_channel(0);
            drop(std::mem::replace(&mut w.done, gone));
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// A worker: its shard engine over the jobs, until the channel closes.
fn work(mut engine: Engine, jobs: Receiver<Job>, done: SyncSender<Piece>, back: Receiver<Keyed>) {
    let mut out = Outbox {
        runs: Vec::with_capacity(PIECE_CAPACITY),
        covered: 0,
        done,
        back,
        spare: Vec::new(),
        gone: false,
    };
    for mut job in jobs {
        for item in job.items.drain(..) {
            match item {
                Item::Segment {
                    seq,
                    now,
                    chunk,
                    frame,
                    seg,
                } => {
                    out.covered = seq;
                    if let Some(c) = job.chunks.get(chunk as usize) {
                        let seg = seg.attach(frame.frame(c).data);
                        engine.on_shard_segment(seq, now, frame.ts, &seg, &mut out);
                    }
                }
                Item::Datagram { seq, now, ts, d } => {
                    out.covered = seq;
                    engine.on_shard_datagram(seq, now, ts, &d, &mut out)
                }
                Item::Sweep { seq, now, ts } => {
                    out.covered = seq;
                    engine.on_shard_sweep(seq, now, ts, &mut out)
                }
            }
            if out.gone {
                return;
            }
        }
        // The chunks go back to the reader's pool as soon as possible.
        job.chunks.clear();
        let mut covered = job.end;
        if job.finish {
            out.covered = job.end;
            engine.on_shard_finish(job.now, &mut out);
            covered = u64::MAX;
        }
        let end = BatchEnd {
            items: job.items,
            counters: engine.counters().clone(),
            open_flows: engine.open_flows(),
        };
        let mut sent = false;
        engine.keyed_events(|events| sent = out.send(events, covered, Some(end)));
        if !sent {
            return;
        }
    }
}

/// A worker's sink: the shard engine's events, taken in place (the engine's vector) and
/// sent to the merge in pieces of about [`PIECE`] as they accumulate, even within one
/// call (a sweep or the end can close thousands of connections), so what a worker holds
/// stays bounded.
struct Outbox {
    /// The keys of the events in the engine's vector (see [`Keyed`]).
    runs: Vec<(Key, usize)>,
    /// Every event keyed below this frame number has been made (the current call's).
    covered: u64,
    done: SyncSender<Piece>,
    back: Receiver<Keyed>,
    /// Emptied pieces kept for reuse (at most [`SPARE_PIECES`]).
    spare: Vec<Keyed>,
    /// The merge is gone (a run that stopped): the worker ends.
    gone: bool,
}

impl Outbox {
    /// Sends the engine's `events` (taken, an emptied vector left in their place) as a
    /// piece; false when the merge is gone.
    fn send(&mut self, events: &mut Vec<Event>, covered: u64, last: Option<BatchEnd>) -> bool {
        // Merged pieces are freed here, where their events were made; a few are kept.
        while let Ok(mut v) = self.back.try_recv() {
            v.clear();
            if self.spare.len() < SPARE_PIECES {
                self.spare.push(v);
            }
        }
        let mut next = self.spare.pop().unwrap_or_else(|| Keyed {
            events: Vec::with_capacity(PIECE_CAPACITY),
            runs: Vec::with_capacity(PIECE_CAPACITY),
        });
        std::mem::swap(events, &mut next.events);
        std::mem::swap(&mut self.runs, &mut next.runs);
        let piece = Piece {
            events: next,
            covered,
            last,
        };
        if self.done.send(piece).is_err() {
            self.gone = true;
        }
        !self.gone
    }
}

impl Sink for Outbox {
    fn on_exchange(&mut self, _: &Exchange) {}
    fn keyed(&mut self, key: Key, out: &mut Vec<Event>) -> bool {
        let end = out.len();
        if self.runs.last().map_or(0, |&(_, e)| e) < end {
            self.runs.push((key, end));
        }
        if end >= PIECE && !self.gone {
            self.send(out, self.covered, None);
        }
        true
    }
}
