//! `-r FILE` over several threads (`--threads N`): the engine's connections spread over
//! N worker threads, their events merged back into capture order on the calling thread
//! (the engine's `shard` module holds the rules; this is the threading).
//!
//! Contract:
//! - The calling thread reads frames (lent from the file reader's shared chunks, never
//!   copied), routes each ([`Router`]), and hands the workers their frames in batches of
//!   [`BATCH`] frames, at most [`DEPTH`] batches ahead of the merge. Each worker runs one
//!   shard [`Engine`] on its frames and every sweep, and sends its keyed events back per
//!   batch; the calling thread merges them ([`Merge`]) and runs statistics, alerting and
//!   the outputs frame by frame, exactly as [`Monitor::on_frame`] does: the log, the
//!   alerts and the report are the same bytes whatever N (the determinism test).
//! - Memory: the file's chunks in flight (the reader's pool, [`POOL_CHUNKS`] chunks),
//!   `DEPTH` batches of events per worker, and each shard's share of the connection caps
//!   ([`httptop_engine::Limits::per_shard`]). Events are freed by the worker that made
//!   them (sent back with the next batch), so allocation stays thread-local.
//! - A worker that panics ends the run with an error, never a hang: its channels close.

use httptop_capture::{Chunk, SharedFrame};
use httptop_engine::event::Event;
use httptop_engine::ipfrag::Reassembled;
use httptop_engine::shard::{Collect, Detached, Key, Merge, Route, Router};
use httptop_engine::{Counters, Engine, Limits, Monitor, Observer};
use httptop_wire::Timestamp;
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Frames per batch.
const BATCH: usize = 2048;
/// Batches handed out and not yet merged, at most.
const DEPTH: usize = 4;
/// The file reader's pool of chunks: the batches in flight hold theirs.
pub(crate) const POOL_CHUNKS: usize = 16;

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
    /// Events of an earlier batch, merged: dropped by the worker that made them.
    spent: Vec<(Key, Event)>,
    finish: bool,
}

struct Done {
    events: Vec<(Key, Event)>,
    /// The job's item vector, emptied, for reuse.
    items: Vec<Item>,
    counters: Counters,
    open_flows: usize,
}

struct Worker {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
    handle: Option<JoinHandle<()>>,
    /// The batch being filled for this worker.
    job: Job,
    /// Merged events to send back with the next job.
    spent: Vec<(Key, Event)>,
    spare_items: Vec<Vec<Item>>,
    counters: Counters,
    open_flows: usize,
}

/// The frames of a batch, for the merge: the first one's number and every one's time.
struct Plan {
    first: u64,
    ts: Vec<Timestamp>,
    /// The last batch: the shards' end events follow its frames.
    finish: bool,
}

/// The sharded pipeline of one file. See the module documentation.
pub(crate) struct Shards {
    router: Router,
    workers: Vec<Worker>,
    plan: Plan,
    pending: VecDeque<Plan>,
    spare_plans: Vec<Vec<Timestamp>>,
    batches: u64,
}

impl Shards {
    /// `threads` workers (at least one) over the single engine's `limits`.
    pub(crate) fn start(limits: &Limits, threads: usize) -> std::io::Result<Shards> {
        let n = threads.max(1);
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let (jobs, job_rx) = sync_channel::<Job>(DEPTH + 1);
            let (done_tx, done) = sync_channel::<Done>(DEPTH + 1);
            let shard_limits = limits.per_shard(n);
            let handle = std::thread::Builder::new()
                .name(format!("httptop-shard{i}"))
                .spawn(move || work(Engine::new(shard_limits), job_rx, done_tx))?;
            workers.push(Worker {
                jobs,
                done,
                handle: Some(handle),
                job: Job::default(),
                spent: Vec::new(),
                spare_items: Vec::new(),
                counters: Counters::default(),
                open_flows: 0,
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
        let frame = f.frame(chunk);
        let r = self.router.route(&frame);
        match r.route {
            Route::None => {}
            Route::Segment(s, seg) => {
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
            Route::Datagram(s, d) => self.workers[s].job.items.push(Item::Datagram {
                seq: r.seq,
                now: r.now,
                ts: f.ts,
                d,
            }),
        }
        if r.sweep {
            let now = self.router.now();
            for w in &mut self.workers {
                w.job.items.push(Item::Sweep {
                    seq: r.seq,
                    now,
                    ts: f.ts,
                });
            }
        }
        self.plan.ts.push(f.ts);
        if self.plan.ts.len() >= BATCH {
            self.send(false)?;
            while self.pending.len() > DEPTH {
                self.merge_oldest(monitor, out)?;
            }
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
            job.spent = std::mem::take(&mut w.spent);
            job.finish = finish;
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
        let mut dones = Vec::with_capacity(self.workers.len());
        for w in &mut self.workers {
            let d = w
                .done
                .recv()
                .map_err(|_| anyhow::anyhow!("a worker thread stopped (see the message above)"))?;
            dones.push(d);
        }
        let last = plan.finish;
        {
            let mut merge = Merge::new(dones.iter().map(|d| d.events.as_slice()));
            for (i, ts) in plan.ts.iter().enumerate() {
                let seq = plan.first + i as u64;
                monitor.on_merged(*ts, std::iter::from_fn(|| merge.next_upto(seq)), out);
                out.merged(monitor, *ts);
            }
            if last {
                let now = self.router.now();
                monitor.finish_merged(now, std::iter::from_fn(|| merge.next_upto(u64::MAX)), out);
            }
        }
        for (w, d) in self.workers.iter_mut().zip(dones) {
            w.spent = d.events;
            w.spare_items.push(d.items);
            w.counters = d.counters;
            w.open_flows = d.open_flows;
        }
        plan.ts.clear();
        self.spare_plans.push(plan.ts);
        if last || self.batches % 16 == 0 {
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

impl Drop for Shards {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Closing the job channel ends the worker.
            let (dead, _) = sync_channel(0);
            drop(std::mem::replace(&mut w.jobs, dead));
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

/// A worker: its shard engine over the jobs, until the channel closes.
fn work(mut engine: Engine, jobs: Receiver<Job>, done: SyncSender<Done>) {
    for mut job in jobs {
        // The merged events of an earlier batch are freed here, where they were made,
        // and their vector holds this batch's.
        let mut events = std::mem::take(&mut job.spent);
        events.clear();
        let mut sink = Collect(&mut events);
        for item in job.items.drain(..) {
            match item {
                Item::Segment {
                    seq,
                    now,
                    chunk,
                    frame,
                    seg,
                } => {
                    if let Some(c) = job.chunks.get(chunk as usize) {
                        let seg = seg.attach(frame.frame(c).data);
                        engine.on_shard_segment(seq, now, frame.ts, &seg, &mut sink);
                    }
                }
                Item::Datagram { seq, now, ts, d } => {
                    engine.on_shard_datagram(seq, now, ts, &d, &mut sink)
                }
                Item::Sweep { seq, now, ts } => engine.on_shard_sweep(seq, now, ts, &mut sink),
            }
        }
        // The chunks go back to the reader's pool as soon as possible.
        job.chunks.clear();
        if job.finish {
            engine.finish(&mut sink);
        }
        let reply = Done {
            events,
            items: job.items,
            counters: engine.counters().clone(),
            open_flows: engine.open_flows(),
        };
        if done.send(reply).is_err() {
            return;
        }
    }
}
