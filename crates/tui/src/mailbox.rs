//! A one-slot mailbox between the capture thread and the dashboard thread: the newest
//! value wins.
//!
//! Contract: [`Sender::send`] never blocks on the receiver (it takes a mutex held only
//! to swap one value) and never queues: a value not yet taken is replaced by the newer
//! one and counted as coalesced, so memory is one value whatever the receiver's pace. The
//! receiver waits with a timeout ([`Receiver::recv_timeout`]) and learns when the sender
//! is gone ([`Received::Closed`], after the last value is taken), so a thread reading it
//! ends when the sender is dropped or [`Sender::close`]d.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Slot<T> {
    value: Option<T>,
    /// Values replaced before the receiver took them.
    coalesced: u64,
    /// Values handed over.
    sent: u64,
    closed: bool,
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

impl<T> Shared<T> {
    /// A panic on the other side poisons nothing worth refusing: the slot is always valid.
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending half (the capture thread).
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half (the dashboard thread).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// What [`Receiver::recv_timeout`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<T> {
    /// The newest value.
    Value(T),
    /// Nothing new within the timeout.
    Empty,
    /// The sender is gone and nothing is left.
    Closed,
}

/// A new mailbox, empty.
pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot {
            value: None,
            coalesced: 0,
            sent: 0,
            closed: false,
        }),
        ready: Condvar::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Puts `value` in the slot, replacing (and counting) one not yet taken.
    pub fn send(&self, value: T) {
        let mut s = self.shared.lock();
        if s.value.replace(value).is_some() {
            s.coalesced += 1;
        }
        s.sent += 1;
        drop(s);
        self.shared.ready.notify_one();
    }

    /// Values replaced before the receiver took them.
    pub fn coalesced(&self) -> u64 {
        self.shared.lock().coalesced
    }

    /// Ends the mailbox: the receiver gets what is left, then [`Received::Closed`].
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> Receiver<T> {
    /// The newest value, waiting at most `timeout` for one.
    pub fn recv_timeout(&self, timeout: Duration) -> Received<T> {
        let deadline = Instant::now() + timeout;
        let mut s = self.shared.lock();
        loop {
            if let Some(v) = s.value.take() {
                return Received::Value(v);
            }
            if s.closed {
                return Received::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Received::Empty;
            }
            s = match self.shared.ready.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Values replaced before they were taken.
    pub fn coalesced(&self) -> u64 {
        self.shared.lock().coalesced
    }

    /// Values handed over (taken, waiting or coalesced).
    pub fn sent(&self) -> u64 {
        self.shared.lock().sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_wins_and_every_replaced_value_is_counted() {
        let (tx, rx) = mailbox();
        assert_eq!(rx.recv_timeout(Duration::ZERO), Received::Empty);
        tx.send(1);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Received::Value(1));
        assert_eq!(rx.coalesced(), 0);
        for v in 2..=10 {
            tx.send(v);
        }
        assert_eq!(rx.recv_timeout(Duration::ZERO), Received::Value(10));
        assert_eq!(rx.recv_timeout(Duration::ZERO), Received::Empty);
        assert_eq!((tx.coalesced(), rx.coalesced(), rx.sent()), (8, 8, 10));
    }

    #[test]
    fn closing_hands_over_what_is_left_then_says_closed() {
        let (tx, rx) = mailbox();
        tx.send("last");
        drop(tx);
        assert_eq!(rx.recv_timeout(Duration::ZERO), Received::Value("last"));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Received::Closed);
    }

    #[test]
    fn a_waiting_receiver_wakes_for_a_value_and_for_the_close() {
        let (tx, rx) = mailbox::<u32>();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                // Long timeouts: only a send or the close can wake it in time.
                match rx.recv_timeout(Duration::from_secs(600)) {
                    Received::Value(v) => got.push(v),
                    Received::Empty => {}
                    Received::Closed => return got,
                }
            }
        });
        tx.send(7);
        tx.close();
        let got = reader.join().expect("reader");
        // 7 was either taken before the close or still in the slot at the close.
        assert_eq!(got, vec![7]);
    }
}
