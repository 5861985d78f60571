//! One direction of a connection: its parsing mode (hunting for a start line, in a
//! head, in a body, tunnelled, closed), its head buffer, and what its first bytes said.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Body {
    Cl(u64),
    Chunked(Chunk),
    UntilClose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
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
pub(super) enum Target {
    None,
    Entry(u64),
    Orphan,
}

/// What the first bytes of a side said (for [`HttpConn::is_dead`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum First {
    Pending,
    Http,
    NotHttp,
    /// The side started with a gap: its real beginning was not seen.
    Unknown,
}

#[derive(Debug)]
pub(super) struct Side {
    pub(super) mode: Mode,
    /// Head (or start line candidate) bytes when they span events; empty otherwise.
    pub(super) hbuf: Vec<u8>,
    /// Line state at the end of `hbuf`.
    pub(super) line: LineState,
    /// `hbuf` holds a complete start line that was already checked.
    pub(super) start_checked: bool,
    /// Time of the first byte of the current head or candidate.
    pub(super) head_ts: Timestamp,
    /// Stream bytes (data and gaps) before the current event.
    pub(super) offset: u64,
    /// The current candidate starts at stream offset 0.
    pub(super) cand_at_zero: bool,
    pub(super) first: First,
    pub(super) synced_once: bool,
    /// Hunting after having been synchronised (the next start line is a resync).
    pub(super) lost: bool,
    pub(super) target: Target,
    /// Server side skipping the rest of a malformed response (its start line was no
    /// status line): the time of its first byte. The skipped bytes count to `target`.
    pub(super) malformed_ts: Option<Timestamp>,
}

impl Side {
    pub(super) fn new() -> Self {
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
            malformed_ts: None,
        }
    }

    pub(super) fn reset_buf(&mut self) {
        if self.hbuf.capacity() > KEEP_BUF_CAPACITY {
            self.hbuf = Vec::new();
        } else {
            self.hbuf.clear();
        }
        self.start_checked = false;
        self.line = LineState::Start;
    }

    pub(super) fn hunt_from(&mut self, at_line_start: bool) {
        self.reset_buf();
        self.mode = Mode::Hunt {
            at_line_start,
            cand: None,
        };
        self.lost = self.synced_once;
    }
}
