//! Mid-stream pickup: recognising HTTP/2 by its frame headers when the capture missed the
//! client preface (see the contract in `super`).
//!
//! [`MidProbe`] runs beside HTTP/1's speculative probe while a connection is undecided.
//! It starts on a side's data event whose first byte is 0x00 (a frame of at most 16,384
//! bytes starts with a zero length byte: HTTP/1 text and TLS records never do, so they
//! never pay more than that one comparison). Per side, a walker reads the 9-byte frame
//! headers from that event on and skips their payloads by their declared length; every
//! header must be well-formed ([`valid`]): a known type (0-9), a length of at most
//! 16,384 and the one its type fixes (PING 8, RST_STREAM 4, ...), only the flags its type
//! defines, the reserved bit clear, stream 0 exactly for SETTINGS, PING and GOAWAY, a
//! CONTINUATION right after the HEADERS or PUSH_PROMISE it continues (and only then),
//! not first. A malformed header ends the side's attempt; a later event of that side
//! starting with 0x00 may start another ([`MAX_ATTEMPTS`] a side), and a gap ends it too
//! (the walker restarts at the side's next event).
//!
//! HTTP/2 is decided when the walkers of the sides still in sync have read [`K`]
//! well-formed headers together, spanning at least [`MIN_BYTES`] bytes of frames, and the
//! client side is known, without contradiction, from what only one role sends: a
//! PUSH_PROMISE or a HEADERS on an even stream (the server), or the first field of a
//! HEADERS block on an odd stream, whose first HPACK byte names a static-table request
//! pseudo-header (`:authority`, `:method`, `:path`, `:scheme`: the client) or `:status`
//! (the server). Random bytes pass one header check with a probability under 10^-5, so
//! three in a row and a role are beyond reach; HTTP/1 and TLS fail the first byte.
//!
//! Every event of both sides from the probe's start is kept (a window of at most
//! [`WINDOW`] bytes and [`MAX_EVENTS`] events, charged through `heap_bytes`) so that the
//! HTTP/2 analyzer can be given them again, in their order and with their times, from
//! each side's synchronised start; the event that decides is not copied (the caller
//! feeds it from the packet). A window that would overflow before a decision ends the
//! probe (the connection stays with HTTP/1's verdict).

use super::frame_type::*;
use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;

/// Well-formed frame headers, both sides together, that decide HTTP/2.
pub(crate) const K: u32 = 3;
/// Bytes (headers and declared payloads) the deciding frames span at least.
pub(crate) const MIN_BYTES: u64 = 32;
/// Bytes of events kept for the replay.
pub(crate) const WINDOW: usize = 8 << 10;
/// Events kept for the replay.
pub(crate) const MAX_EVENTS: usize = 32;
/// Attempts a side may start (at an event starting with 0x00) before it is given up.
pub(crate) const MAX_ATTEMPTS: u8 = 4;
/// The default SETTINGS_MAX_FRAME_SIZE: no frame of a detection may be longer.
const MAX_FRAME: u32 = 16_384;

/// What a side's frames say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No attempt running (never started, or ended by a gap).
    Idle,
    /// Reading a frame header (`have` bytes of it).
    Head,
    /// Skipping the payload (`left` bytes).
    Payload,
    /// The attempt failed: a malformed header.
    Failed,
}

#[derive(Clone, Copy)]
struct Walker {
    state: State,
    head: [u8; 9],
    have: u8,
    left: u32,
    /// Payload bytes of the current frame read so far.
    at: u32,
    /// The payload offset of the first HPACK byte of the current HEADERS frame.
    peek: Option<u32>,
    /// A header block to be continued on this stream.
    cont: Option<u32>,
    /// Well-formed headers in this attempt, and the bytes their frames declare.
    frames: u32,
    bytes: u64,
    role: Option<Role>,
    attempts: u8,
    /// The index (in the probe's event order) of the event this attempt started at.
    start: usize,
}

impl Walker {
    fn new() -> Self {
        Walker {
            state: State::Idle,
            head: [0; 9],
            have: 0,
            left: 0,
            at: 0,
            peek: None,
            cont: None,
            frames: 0,
            bytes: 0,
            role: None,
            attempts: 0,
            start: 0,
        }
    }

    fn in_sync(&self) -> bool {
        matches!(self.state, State::Head | State::Payload)
    }

    /// Starts an attempt at event `index` when the side can take one.
    fn maybe_start(&mut self, index: usize, first: u8) {
        if matches!(self.state, State::Idle | State::Failed)
            && first == 0
            && self.attempts < MAX_ATTEMPTS
        {
            *self = Walker {
                attempts: self.attempts + 1,
                start: index,
                state: State::Head,
                ..Walker::new()
            };
        }
    }

    fn fail(&mut self) {
        self.state = State::Failed;
        self.frames = 0;
        self.bytes = 0;
        self.role = None;
    }

    /// Sets the role the frames say; a contradiction fails the attempt.
    fn say(&mut self, r: Role) {
        match self.role {
            Some(x) if x != r => self.fail(),
            _ => self.role = Some(r),
        }
    }

    /// Walks `d`; `enough` is asked after every header whether to stop.
    fn walk(&mut self, d: &[u8], mut enough: impl FnMut(&Walker) -> bool) {
        let mut i = 0;
        while i < d.len() {
            match self.state {
                State::Idle | State::Failed => return,
                State::Head => {
                    let h = usize::from(self.have);
                    let n = (9 - h).min(d.len() - i);
                    self.head[h..h + n].copy_from_slice(&d[i..i + n]);
                    self.have += n as u8;
                    i += n;
                    if self.have == 9 {
                        self.have = 0;
                        self.on_head();
                        if enough(self) {
                            return;
                        }
                    }
                }
                State::Payload => {
                    let n = (self.left as usize).min(d.len() - i);
                    if let Some(p) = self.peek {
                        if p >= self.at && ((p - self.at) as usize) < n {
                            self.peek = None;
                            let sid = be31(&self.head[5..9]);
                            if let Some(r) = classify(d[i + (p - self.at) as usize]) {
                                if sid % 2 == 1 {
                                    self.say(r);
                                }
                            }
                        }
                    }
                    if self.state == State::Failed {
                        return;
                    }
                    self.left -= n as u32;
                    self.at += n as u32;
                    i += n;
                    if self.left == 0 {
                        self.state = State::Head;
                    }
                }
            }
        }
    }

    fn on_head(&mut self) {
        let h = self.head;
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
        let (ty, flags, sid) = (h[3], h[4], be31(&h[5..9]));
        let first = self.frames == 0;
        let ok = valid(len, ty, flags, u32::from_be_bytes([h[5], h[6], h[7], h[8]]))
            && match (self.cont, ty) {
                (Some(s), CONTINUATION) => s == sid,
                (Some(_), _) => false,
                (None, CONTINUATION) => false,
                (None, _) => true,
            }
            && !(first && ty == CONTINUATION);
        if !ok {
            return self.fail();
        }
        self.frames += 1;
        self.bytes += 9 + u64::from(len);
        self.cont = match ty {
            HEADERS | PUSH_PROMISE | CONTINUATION if flags & 0x4 == 0 => Some(sid),
            _ => None,
        };
        self.peek = None;
        match ty {
            PUSH_PROMISE => self.say(Role::Server),
            HEADERS if sid % 2 == 0 => self.say(Role::Server),
            HEADERS => {
                let pre = u32::from(flags & 0x8 != 0) + if flags & 0x20 != 0 { 5 } else { 0 };
                if pre < len {
                    self.peek = Some(pre);
                }
            }
            _ => {}
        }
        if self.state == State::Failed {
            return;
        }
        (self.left, self.at) = (len, 0);
        self.state = if len == 0 {
            State::Head
        } else {
            State::Payload
        };
    }
}

fn be31(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff
}

/// A frame header as a detection accepts it (see the module documentation); `raw_sid`
/// with its reserved bit.
pub(crate) fn valid(len: u32, ty: u8, flags: u8, raw_sid: u32) -> bool {
    if len > MAX_FRAME || raw_sid & 0x8000_0000 != 0 {
        return false;
    }
    let sid = raw_sid;
    let (allowed, on_zero, len_ok) = match ty {
        DATA => (0x1 | 0x8, false, true),
        HEADERS => (
            0x1 | 0x4 | 0x8 | 0x20,
            false,
            len >= u32::from(flags & 0x8 != 0) + if flags & 0x20 != 0 { 5 } else { 0 },
        ),
        PRIORITY => (0, false, len == 5),
        RST_STREAM => (0, false, len == 4),
        SETTINGS => (
            0x1,
            true,
            if flags & 0x1 != 0 {
                len == 0
            } else {
                len % 6 == 0
            },
        ),
        PUSH_PROMISE => (0x4 | 0x8, false, len >= 4 + u32::from(flags & 0x8 != 0)),
        PING => (0x1, true, len == 8),
        GOAWAY => (0, true, len >= 8),
        WINDOW_UPDATE => (0, sid == 0, len == 4),
        CONTINUATION => (0x4, false, true),
        _ => return false,
    };
    flags & !allowed == 0 && (sid == 0) == on_zero && len_ok
}

/// The role the first byte of a request or response header block names, if it does:
/// pseudo-header fields come first (RFC 9113 8.3), and a static-table index 1-7 names a
/// request's, 8-14 `:status`.
fn classify(b: u8) -> Option<Role> {
    let index = if b & 0x80 != 0 {
        b & 0x7f
    } else if b & 0xc0 == 0x40 {
        b & 0x3f
    } else if b & 0xe0 == 0x00 || b & 0xf0 == 0x10 {
        b & 0x0f
    } else {
        // A dynamic table size update.
        return None;
    };
    match index {
        1..=7 => Some(Role::Client),
        8..=14 => Some(Role::Server),
        _ => None,
    }
}

/// What the probe concluded after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing decided yet.
    More,
    /// HTTP/2, with this client side.
    Http2(Dir),
    /// Not (or no longer) possible: the probe is over.
    Off,
}

/// One kept event: its side, time, and where its bytes are in the window.
#[derive(Clone, Copy, Debug)]
struct Kept {
    dir: Dir,
    ts: Timestamp,
    from: u32,
    len: u32,
}

/// The mid-stream probe of one connection (see the module documentation).
#[derive(Debug)]
pub(crate) struct MidProbe {
    sides: [Walker; 2],
    /// Events since the probe started, in order (index = order of arrival).
    kept: Vec<Kept>,
    window: Vec<u8>,
    /// A side had data before its walker could start (its stream start is unknown).
    unsynced: [bool; 2],
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Walker({:?}, {} frames)", self.state, self.frames)
    }
}

impl MidProbe {
    /// A probe that may start on `ev` of `dir`: only a data event starting with 0x00
    /// starts one. `had_data`: bytes each side delivered before `ev`.
    pub fn start(dir: Dir, ev: &StreamEvent<'_>, had_data: [bool; 2]) -> Option<Box<Self>> {
        match ev {
            StreamEvent::Data([0, ..]) => {}
            _ => return None,
        }
        let mut p = Box::new(MidProbe {
            sides: [Walker::new(); 2],
            kept: Vec::new(),
            window: Vec::new(),
            unsynced: had_data,
        });
        p.unsynced[dir.index()] = false;
        Some(p)
    }

    /// Heap bytes held (the probe itself, its window and event list).
    pub fn heap_bytes(&self) -> usize {
        crate::budget::heap(std::mem::size_of::<Self>())
            + crate::budget::heap(self.window.capacity())
            + crate::budget::heap(self.kept.capacity() * std::mem::size_of::<Kept>())
    }

    fn decided(&self) -> Option<Dir> {
        let live = || self.sides.iter().filter(|w| w.in_sync());
        let frames: u32 = live().map(|w| w.frames).sum();
        let bytes: u64 = live().map(|w| w.bytes).sum();
        if frames < K || bytes < MIN_BYTES {
            return None;
        }
        let mut client = None;
        for (i, w) in self.sides.iter().enumerate() {
            let Some(r) = w.role.filter(|_| w.in_sync()) else {
                continue;
            };
            let d = if i == 0 { Dir::Orig } else { Dir::Resp };
            let c = if r == Role::Client { d } else { d.other() };
            if client.is_some_and(|x| x != c) {
                return None;
            }
            client = Some(c);
        }
        client
    }

    /// One event of `dir`; `http1_dead`: HTTP/1 has excluded the connection (then a
    /// probe without a side in sync is over).
    pub fn feed(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        ev: StreamEvent<'_>,
        http1_dead: bool,
    ) -> Verdict {
        let index = self.kept.len();
        let i = dir.index();
        match ev {
            StreamEvent::Data([]) => {}
            StreamEvent::Data(d) => {
                self.sides[i].maybe_start(index, d[0]);
                if self.sides[i].state == State::Idle {
                    self.unsynced[i] = true;
                }
                let other = self.sides[1 - i];
                let mut done = None;
                self.sides[i].walk(d, |w| {
                    let mut probe_sides = [*w, other];
                    if i == 1 {
                        probe_sides.swap(0, 1);
                    }
                    done = decided_of(&probe_sides);
                    done.is_some()
                });
                if let Some(c) = done.or_else(|| self.decided()) {
                    return Verdict::Http2(c);
                }
                if self.window.len() + d.len() > WINDOW || self.kept.len() >= MAX_EVENTS {
                    return Verdict::Off;
                }
                match self.kept.last_mut() {
                    // Pieces of one segment (same side, same time) are one event: the
                    // kept events, hence the replay, do not depend on how a stream is
                    // split.
                    Some(k) if k.dir == dir && k.ts == ts && self.sides[i].start != index => {
                        k.len += d.len() as u32
                    }
                    _ => self.kept.push(Kept {
                        dir,
                        ts,
                        from: self.window.len() as u32,
                        len: d.len() as u32,
                    }),
                }
                self.window.extend_from_slice(d);
            }
            StreamEvent::Gap(_) => {
                // The attempt ends; the side may start again at an event starting
                // with 0x00, its stream start being unknown until then.
                let w = &mut self.sides[i];
                if w.in_sync() {
                    w.state = State::Idle;
                    w.frames = 0;
                    w.bytes = 0;
                    w.role = None;
                }
                self.unsynced[i] = true;
            }
            StreamEvent::Fin | StreamEvent::Rst => {}
        }
        if self.sides.iter().any(Walker::in_sync) {
            return Verdict::More;
        }
        // No side in sync: over once HTTP/1 has excluded the connection (a probe must
        // not keep a connection that is not HTTP undecided) or no side may start again.
        let spent = self.sides.iter().all(|w| w.attempts >= MAX_ATTEMPTS);
        if http1_dead || spent {
            Verdict::Off
        } else {
            Verdict::More
        }
    }

    /// The kept events to give the HTTP/2 analyzer again, in order: those of each side
    /// from its attempt's start (a side out of sync gives none).
    pub fn replay(&self) -> impl Iterator<Item = (Dir, Timestamp, &[u8])> {
        self.kept.iter().enumerate().filter_map(move |(index, k)| {
            let w = &self.sides[k.dir.index()];
            (w.in_sync() && index >= w.start).then(|| {
                let (a, n) = (k.from as usize, k.len as usize);
                (k.dir, k.ts, &self.window[a..a + n])
            })
        })
    }

    /// Whether `dir`'s frames are in sync for the analyzer: its walker is (its events are
    /// replayed, the deciding one fed after), or it has sent nothing yet (its next event
    /// is taken to start at a frame boundary).
    pub fn synced(&self, dir: Dir) -> bool {
        let w = &self.sides[dir.index()];
        w.in_sync() || (w.state == State::Idle && !self.unsynced[dir.index()])
    }

    /// Whether the deciding event of `dir` (not kept) is to be fed to the analyzer.
    pub fn feeds_current(&self, dir: Dir) -> bool {
        self.sides[dir.index()].in_sync()
    }
}

/// [`MidProbe::decided`] over a copy of the walkers (while one of them walks).
fn decided_of(sides: &[Walker; 2]) -> Option<Dir> {
    let p = MidProbe {
        sides: *sides,
        kept: Vec::new(),
        window: Vec::new(),
        unsynced: [false; 2],
    };
    p.decided()
}
