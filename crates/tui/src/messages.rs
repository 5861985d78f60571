//! Messages for the user while the dashboard owns the screen (warnings, notes): kept in
//! a bounded list, the newest shown on the dashboard's status line, all of them printed
//! once the terminal is restored.
//!
//! Contract: a cloneable handle, shared by the threads that say something and the
//! dashboard thread that shows it; [`Messages::push`] holds a mutex for one push and
//! never blocks on the terminal. At most [`MAX_MESSAGES`] are kept: later ones are
//! dropped and counted (the first ones say what went wrong first). Texts are stored as
//! given; the dashboard escapes them when it shows them.

use std::sync::{Arc, Mutex, MutexGuard};

/// Messages kept; more are counted in [`Messages::dropped`].
pub const MAX_MESSAGES: usize = 64;

#[derive(Debug, Default)]
struct Inner {
    list: Vec<String>,
    dropped: u64,
}

/// A bounded list of messages (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Messages {
    inner: Arc<Mutex<Inner>>,
}

impl Messages {
    pub fn new() -> Self {
        Messages::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `text`, or counts it as dropped when [`MAX_MESSAGES`] are kept.
    pub fn push(&self, text: impl Into<String>) {
        let mut i = self.lock();
        if i.list.len() < MAX_MESSAGES {
            i.list.push(text.into());
        } else {
            i.dropped += 1;
        }
    }

    /// The newest message kept, and how many there are (kept and dropped).
    pub fn latest(&self) -> Option<(String, u64)> {
        let i = self.lock();
        let total = i.list.len() as u64 + i.dropped;
        i.list.last().map(|m| (m.clone(), total))
    }

    /// Messages dropped because the list was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Takes every message kept, in order, and the count of those dropped.
    pub fn take(&self) -> (Vec<String>, u64) {
        let mut i = self.lock();
        let dropped = std::mem::take(&mut i.dropped);
        (std::mem::take(&mut i.list), dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_messages_up_to_the_cap_and_counts_the_rest() {
        let m = Messages::new();
        assert_eq!(m.latest(), None);
        for i in 0..MAX_MESSAGES - 1 {
            m.push(format!("m{i}"));
        }
        assert_eq!(m.dropped(), 0);
        m.push("at cap");
        assert_eq!(m.dropped(), 0, "the cap-th message is kept");
        let shared = m.clone();
        shared.push("over");
        shared.push("over again");
        assert_eq!(m.dropped(), 2);
        assert_eq!(
            m.latest(),
            Some(("at cap".to_string(), MAX_MESSAGES as u64 + 2))
        );
        let (list, dropped) = m.take();
        assert_eq!((list.len(), dropped), (MAX_MESSAGES, 2));
        assert_eq!(list[0], "m0");
        assert_eq!(m.take(), (Vec::new(), 0));
    }
}
