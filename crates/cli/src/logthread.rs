//! The JSON Lines log (`--log`) written on its own thread (issue 17).
//!
//! Formatting a record costs about a fifth of what analysing the packets behind it does
//! (ARCHITECTURE.md, "Where the time goes"), so the thread that decodes packets hands
//! owned records, in batches, to a writer thread that runs beside it on the other core.
//! An exchange is handed over flat, as an [`ExchangeRecord`] whose strings are places in
//! one buffer of bytes per batch: a copy without an allocation (a clone of the exchange
//! allocated its long strings, and freeing them cost as much again).
//!
//! Contract:
//! - **Same log.** One producer, one FIFO channel, one [`JsonlWriter`]: the lines and their
//!   order are exactly those written inline (the log tests compare whole files).
//! - **Bounded.** At most [`QUEUE`] batches of at most [`BATCH`] records are in flight; a
//!   full queue blocks the producer (back-pressure, as a slow disk did before). Emptied
//!   batches come back to be refilled, so a steady stream allocates nothing per batch,
//!   nor per exchange; what a batch allocated is freed by the producer, which allocated
//!   it (freeing on the writer made the two threads contend for the allocator's arena
//!   lock).
//! - **Rotation and reopen** (`--log-max-mib`, SIGHUP) happen on the writer thread between
//!   two records, as before; what they have to say comes back as notes ([`LogPipe::notes`]).
//! - **Errors.** The writer keeps the first write error, as [`JsonlWriter`] does; a broken
//!   pipe (`--log -` into `head`) is visible at once through [`LogPipe::broken_pipe`];
//!   [`LogPipe::flush`] waits until everything sent is written and flushed, and returns
//!   the error, if any.
//! - **Sandbox.** The thread is started by [`LogPipe::start`] after the privilege drop
//!   (Landlock applies to the threads created after it); until then records are written
//!   inline, the same way.

use crate::logfile::LogSink;
use httptop_engine::alert::AlertEvent;
use httptop_engine::{Exchange, TlsSession, WebSocketSession};
use httptop_output::jsonl::ExchangeRecord;
use httptop_output::JsonlWriter;
use std::io::{self, BufWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Records per batch handed to the writer (each hand-over may wake the writer: a few
/// microseconds of system time, so batches are large).
pub const BATCH: usize = 1024;
/// Batches in flight at most (sent and not yet written): with [`BATCH`], about 2 MiB.
pub const QUEUE: usize = 4;

type Writer = JsonlWriter<BufWriter<LogSink>>;

/// Bytes of a batch's buffer kept for the next batch at most: beyond, the buffer is
/// freed (a batch of unusually long strings does not hold its memory for ever). A
/// typical batch takes about 250 KiB; the batches kept then hold at most 6 MiB.
const KEEP_BYTES: usize = 1 << 20;

/// One log record, owned (the rare kinds boxed, so that a record is no larger than an
/// exchange).
// The common kind stays unboxed on purpose: a box would be an allocation per record.
#[allow(clippy::large_enum_variant)]
enum Record {
    /// The strings: `start..end` in the batch's bytes.
    Exchange(ExchangeRecord<(usize, usize)>),
    WebSocket(Box<WebSocketSession>),
    Tls(Box<TlsSession>),
    Alert(Box<AlertEvent>),
}

/// Records and the bytes of their exchanges' strings.
struct Batch {
    records: Vec<Record>,
    bytes: Vec<u8>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            records: Vec::with_capacity(BATCH),
            bytes: Vec::new(),
        }
    }

    /// `ex`, its strings copied into `self.bytes`.
    #[inline]
    fn push_exchange(&mut self, ex: &Exchange) {
        let bytes = &mut self.bytes;
        let r = ExchangeRecord::of(ex).map(|s| {
            let start = bytes.len();
            bytes.extend_from_slice(s);
            (start, bytes.len())
        });
        self.records.push(Record::Exchange(r));
    }

    /// Empty, to be refilled (on the producer: see the module docs).
    fn clear(&mut self) {
        self.records.clear();
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes = Vec::new();
        }
        self.bytes.clear();
    }
}

enum Msg {
    Batch(Batch),
    /// SIGHUP: reopen the file between two records.
    Reopen,
    /// Flush, then answer with the first write error (if any).
    Flush(SyncSender<io::Result<()>>),
}

/// What both threads see of the writer's state.
struct Shared {
    broken_pipe: AtomicBool,
    /// A note waits in the channel (checked cheaply after every frame).
    noted: AtomicBool,
}

/// The writer: a [`JsonlWriter`] and what to do around each record.
struct Sink {
    w: Writer,
    quiet: bool,
    shared: Arc<Shared>,
    notes: mpsc::Sender<String>,
}

impl Sink {
    /// Writes `r`, of a batch whose strings are `bytes`.
    fn write(&mut self, r: &Record, bytes: &[u8]) {
        match r {
            Record::Exchange(ex) => self
                .w
                .write_record(&ex.map(|(start, end)| bytes.get(start..end).unwrap_or_default())),
            Record::WebSocket(ws) => self.w.write_websocket(ws),
            Record::Tls(t) => self.w.write_tls(t),
            Record::Alert(ev) => self.w.write_alert(ev),
        }
        self.wrote();
    }

    /// After each record: a broken pipe is said, a full file rotates.
    fn wrote(&mut self) {
        if self
            .w
            .error()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
        {
            self.shared.broken_pipe.store(true, Ordering::Relaxed);
        }
        // A full file rotates between two records.
        let buf = self.w.get_mut();
        let pending = buf.buffer().len();
        if let LogSink::File(f) = buf.get_ref() {
            if f.rotation_due(pending) {
                self.switch(false);
            }
        }
    }

    /// Flushes into the current file, then reopens it (SIGHUP) or rotates it. On failure
    /// the current file stays in use and the error is said.
    #[cold]
    fn switch(&mut self, reopen: bool) {
        let flushed = self.w.flush();
        let LogSink::File(f) = self.w.get_mut().get_mut() else {
            return;
        };
        let what = if reopen { "reopen" } else { "rotate" };
        let r = flushed.and_then(|()| if reopen { f.reopen() } else { f.rotate() });
        let msg = match r {
            Ok(()) if reopen && !self.quiet => format!(
                "httptop: SIGHUP: log file {} reopened",
                f.path().display()
            ),
            Ok(()) => return,
            Err(e) => format!(
                "httptop: cannot {what} the log file {}: {e}; still writing to the file open before",
                f.path().display()
            ),
        };
        // The receiver outlives the writer (it is in the LogPipe that joins it).
        let _ = self.notes.send(msg);
        self.shared.noted.store(true, Ordering::Release);
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.w.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.shared.broken_pipe.store(true, Ordering::Relaxed);
                Ok(())
            }
            r => r,
        }
    }

    /// The writer thread: until the pipe is dropped.
    fn run(mut self, rx: Receiver<Msg>, free: SyncSender<Batch>) {
        for msg in rx {
            match msg {
                Msg::Batch(batch) => {
                    for r in &batch.records {
                        self.write(r, &batch.bytes);
                    }
                    // Back to the producer, records and all: it frees their strings in
                    // the thread that allocated them (freeing them here made the two
                    // threads contend for the allocator's arena lock). If the producer
                    // has gone, the batch is freed here.
                    let _ = free.try_send(batch);
                }
                Msg::Reopen => self.switch(true),
                Msg::Flush(ack) => {
                    let _ = ack.send(self.flush());
                }
            }
        }
        let _ = self.flush();
    }
}

/// Where the writer is: inline before [`LogPipe::start`], then on its thread.
enum State {
    Inline(Box<Sink>),
    Thread {
        tx: SyncSender<Msg>,
        free: Receiver<Batch>,
        handle: JoinHandle<()>,
    },
    /// The thread is gone (joined, or it panicked): records are dropped.
    Gone,
}

/// The producer's end.
pub struct LogPipe {
    state: State,
    batch: Batch,
    shared: Arc<Shared>,
    notes: Receiver<String>,
}

impl LogPipe {
    /// A pipe writing into `w`; `quiet`: no note when a SIGHUP reopens the file.
    pub fn new(w: JsonlWriter<BufWriter<LogSink>>, quiet: bool) -> LogPipe {
        let shared = Arc::new(Shared {
            broken_pipe: AtomicBool::new(false),
            noted: AtomicBool::new(false),
        });
        let (note_tx, notes) = mpsc::channel();
        LogPipe {
            state: State::Inline(Box::new(Sink {
                w,
                quiet,
                shared: Arc::clone(&shared),
                notes: note_tx,
            })),
            batch: Batch::new(),
            shared,
            notes,
        }
    }

    /// Starts the writer thread (after the privilege drop: see the module docs).
    pub fn start(&mut self) -> io::Result<()> {
        let State::Inline(_) = self.state else {
            return Ok(());
        };
        let State::Inline(sink) = std::mem::replace(&mut self.state, State::Gone) else {
            unreachable!("checked above");
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        // QUEUE batches in the channel, one being written, one being filled.
        let (free_tx, free) = mpsc::sync_channel(QUEUE + 2);
        let handle = std::thread::Builder::new()
            .name("httptop-log".into())
            .spawn(move || sink.run(rx, free_tx))?;
        self.state = State::Thread { tx, free, handle };
        Ok(())
    }

    pub fn exchange(&mut self, ex: &Exchange) {
        match &mut self.state {
            State::Inline(sink) => {
                sink.w.write_exchange(ex);
                sink.wrote();
            }
            State::Thread { .. } => {
                self.batch.push_exchange(ex);
                self.added();
            }
            State::Gone => {}
        }
    }

    pub fn websocket(&mut self, ws: &WebSocketSession) {
        self.push(Record::WebSocket(Box::new(ws.clone())));
    }

    pub fn tls(&mut self, t: &TlsSession) {
        self.push(Record::Tls(Box::new(t.clone())));
    }

    pub fn alert(&mut self, ev: &AlertEvent) {
        self.push(Record::Alert(Box::new(*ev)));
    }

    #[inline]
    fn push(&mut self, r: Record) {
        match &mut self.state {
            State::Inline(sink) => sink.write(&r, &[]),
            State::Thread { .. } => {
                self.batch.records.push(r);
                self.added();
            }
            State::Gone => {}
        }
    }

    /// A record was added to the batch: the batch goes once full.
    #[inline]
    fn added(&mut self) {
        if self.batch.records.len() >= BATCH {
            self.send_batch();
        }
    }

    /// Hands the batch being filled to the writer (blocks while the queue is full).
    fn send_batch(&mut self) {
        if self.batch.records.is_empty() {
            return;
        }
        let State::Thread { tx, free, .. } = &mut self.state else {
            return;
        };
        let next = match free.try_recv() {
            Ok(mut written) => {
                written.clear();
                written
            }
            Err(_) => Batch::new(),
        };
        let full = std::mem::replace(&mut self.batch, next);
        if tx.send(Msg::Batch(full)).is_err() {
            self.gone();
        }
    }

    /// SIGHUP: the file is reopened after the records sent so far.
    pub fn reopen(&mut self) {
        self.send_batch();
        match &mut self.state {
            State::Inline(sink) => sink.switch(true),
            State::Thread { tx, .. } => {
                if tx.send(Msg::Reopen).is_err() {
                    self.gone();
                }
            }
            State::Gone => {}
        }
    }

    /// Writes and flushes every record handed over so far; the first write error, if any
    /// (a broken pipe is not one: see [`LogPipe::broken_pipe`]).
    pub fn flush(&mut self) -> io::Result<()> {
        self.send_batch();
        match &mut self.state {
            State::Inline(sink) => sink.flush(),
            State::Thread { tx, .. } => {
                let (ack_tx, ack) = mpsc::sync_channel(1);
                if tx.send(Msg::Flush(ack_tx)).is_err() {
                    self.gone();
                    return Err(io::Error::other("the log writer thread ended"));
                }
                ack.recv().unwrap_or_else(|_| {
                    self.gone();
                    Err(io::Error::other("the log writer thread ended"))
                })
            }
            State::Gone => Ok(()),
        }
    }

    /// The log's reader went away (`--log -` into a pipe that closed).
    pub fn broken_pipe(&self) -> bool {
        self.shared.broken_pipe.load(Ordering::Relaxed)
    }

    /// Messages from the writer (rotation or reopen) since the last call.
    #[inline]
    pub fn notes(&self) -> impl Iterator<Item = String> + '_ {
        // A plain load first: this runs after every frame, and then nothing more (a
        // flattened `Option<TryIter>` cost some 80 instructions a frame even when empty).
        let any = self.shared.noted.load(Ordering::Relaxed)
            && self.shared.noted.swap(false, Ordering::Acquire);
        let rx = any.then_some(&self.notes);
        std::iter::from_fn(move || rx?.try_recv().ok())
    }

    /// The writer thread ended unexpectedly: joined, and records from now on are dropped.
    #[cold]
    fn gone(&mut self) {
        if let State::Thread { handle, .. } = std::mem::replace(&mut self.state, State::Gone) {
            let _ = handle.join();
        }
    }
}

impl Drop for LogPipe {
    /// Everything handed over is written and flushed before the thread is joined.
    fn drop(&mut self) {
        self.send_batch();
        if let State::Thread { tx, handle, .. } = std::mem::replace(&mut self.state, State::Gone) {
            drop(tx);
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfile::LogFile;
    use httptop_wire::Timestamp;

    fn exchange(i: u64) -> Exchange {
        Exchange {
            ts: Timestamp(1_700_000_000_000_000_000 + i),
            method: httptop_engine::WireStr::capped(b"GET", 64),
            path: httptop_engine::WireStr::capped(format!("/p/{i}").as_bytes(), 64),
            status: Some(200),
            ..Exchange::default()
        }
    }

    fn pipe_to(path: &std::path::Path) -> LogPipe {
        let f = LogFile::create(path, None).expect("log file");
        LogPipe::new(
            JsonlWriter::new(BufWriter::with_capacity(1 << 16, LogSink::File(f))),
            true,
        )
    }

    #[test]
    fn a_record_is_the_size_of_an_exchange() {
        assert!(std::mem::size_of::<Record>() <= std::mem::size_of::<Exchange>() + 8);
    }

    /// The same records give the same bytes inline and through the thread, across many
    /// batches (more than the queue holds: back-pressure), and flush writes them all.
    #[test]
    fn the_thread_writes_what_inline_writes_in_order() {
        let dir = std::env::temp_dir().join(format!("httptop-logthread-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let n = (BATCH * (QUEUE + 3) + 17) as u64;
        let inline = dir.join("inline.jsonl");
        let threaded = dir.join("thread.jsonl");
        {
            let mut p = pipe_to(&inline);
            for i in 0..n {
                p.exchange(&exchange(i));
            }
            p.flush().expect("flush");
        }
        let mut p = pipe_to(&threaded);
        p.start().expect("thread");
        for i in 0..n {
            p.exchange(&exchange(i));
        }
        p.flush().expect("flush");
        // Flushed means written: the file is complete while the pipe is still open.
        let a = std::fs::read(&inline).expect("read");
        let b = std::fs::read(&threaded).expect("read");
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count() as u64, n);
        assert!(a == b, "the threaded log differs from the inline one");
        drop(p);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
