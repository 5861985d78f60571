//! The RFC 6455 frame parser of one direction: a push parser over the in-order bytes of
//! that direction, keeping no payload but the first 125 bytes of a Close frame (a
//! control frame is never longer), unmasked in place.
//!
//! Wire format (RFC 6455 section 5.2): byte 0 = FIN, RSV1-3, opcode; byte 1 = MASK and
//! a 7-bit length (126: a 16-bit length follows, 127: a 64-bit one); a 4-byte masking
//! key when MASK is set; then the payload. The header is at most 14 bytes and is
//! gathered into a fixed array, so a header split across events costs no allocation.

use super::WebSocketCounters;

/// Longest frame header: 2 bytes, a 64-bit length, a masking key.
const MAX_HEADER: usize = 14;
/// Longest control frame payload (RFC 6455 section 5.5).
pub(super) const MAX_CONTROL: usize = 125;

pub(super) const OP_CONTINUATION: u8 = 0x0;
pub(super) const OP_TEXT: u8 = 0x1;
pub(super) const OP_BINARY: u8 = 0x2;
pub(super) const OP_CLOSE: u8 = 0x8;
pub(super) const OP_PING: u8 = 0x9;
pub(super) const OP_PONG: u8 = 0xa;

/// Where the parser of one direction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Gathering a frame header (`have` bytes of it so far).
    Header,
    /// Inside a frame's payload.
    Payload,
    /// Framing was lost (a malformed frame or a gap): bytes are no longer parsed.
    Stopped,
}

/// Why a direction stopped parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stop {
    Malformed,
    Gap,
}

/// What a call to [`FrameParser::feed`] completed that the caller acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Nothing to report (all of the input was consumed).
    More,
    /// A Close frame completed after `n` bytes of the input; its payload is in
    /// [`FrameParser::close_payload`]. Feed the rest again.
    Close(usize),
    /// A malformed frame header ended at byte `n` of the input: the direction stopped.
    Malformed(usize),
}

/// Counts and state of one direction.
#[derive(Clone, Debug)]
pub(super) struct FrameParser {
    pub state: State,
    header: [u8; MAX_HEADER],
    have: u8,
    /// Current frame: opcode, FIN, masking key (if masked).
    opcode: u8,
    fin: bool,
    key: Option<[u8; 4]>,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A fragmented data message is in progress (a non-FIN text or binary frame was
    /// seen, its FIN continuation not yet).
    in_message: bool,
    close: [u8; MAX_CONTROL],
    close_len: u8,
    pub frames: u64,
    pub messages: u64,
    pub payload: u64,
    pub stopped: Option<Stop>,
}

impl Default for FrameParser {
    fn default() -> Self {
        FrameParser {
            state: State::Header,
            header: [0; MAX_HEADER],
            have: 0,
            opcode: 0,
            fin: false,
            key: None,
            remaining: 0,
            in_message: false,
            close: [0; MAX_CONTROL],
            close_len: 0,
            frames: 0,
            messages: 0,
            payload: 0,
            stopped: None,
        }
    }
}

/// Header bytes needed once the first two are known.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameParser {
    /// The unmasked payload of the Close frame [`Outcome::Close`] reported.
    pub fn close_payload(&self) -> &[u8] {
        &self.close[..usize::from(self.close_len)]
    }

    /// Stops parsing: nothing more is read from this direction.
    pub fn stop(&mut self, why: Stop) {
        if self.stopped.is_none() {
            self.stopped = Some(why);
        }
        self.state = State::Stopped;
    }

    /// Consumes `data` up to the end or the first event the caller must see.
    pub fn feed(&mut self, data: &[u8], c: &mut WebSocketCounters) -> Outcome {
        let mut at = 0;
        while at < data.len() {
            match self.state {
                State::Stopped => return Outcome::More,
                State::Header => {
                    let need = if self.have < 2 {
                        2
                    } else {
                        header_len(self.header[1])
                    };
                    let have = usize::from(self.have);
                    let k = (need - have).min(data.len() - at);
                    self.header[have..have + k].copy_from_slice(&data[at..at + k]);
                    self.have += k as u8;
                    at += k;
                    if usize::from(self.have) < need {
                        continue;
                    }
                    if need == 2 && header_len(self.header[1]) > 2 {
                        continue;
                    }
                    if !self.start_frame(c) {
                        self.stop(Stop::Malformed);
                        c.websocket_malformed += 1;
                        return Outcome::Malformed(at);
                    }
                    if self.remaining == 0 && self.end_frame(c) {
                        return Outcome::Close(at);
                    }
                }
                State::Payload => {
                    let k = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len() - at);
                    let chunk = &data[at..at + k];
                    if self.opcode == OP_CLOSE {
                        // A control frame is at most 125 bytes: checked in start_frame.
                        let from = usize::from(self.close_len);
                        let to = (from + k).min(MAX_CONTROL);
                        self.close[from..to].copy_from_slice(&chunk[..to - from]);
                        if let Some(key) = self.key {
                            for (i, b) in self.close[from..to].iter_mut().enumerate() {
                                *b ^= key[(from + i) % 4];
                            }
                        }
                        self.close_len = to as u8;
                    }
                    at += k;
                    self.remaining -= k as u64;
                    self.payload += k as u64;
                    c.websocket_payload_bytes += k as u64;
                    if self.remaining == 0 && self.end_frame(c) {
                        return Outcome::Close(at);
                    }
                }
            }
        }
        Outcome::More
    }

    /// A whole header is in `header`: checks it and starts the frame. False when the
    /// frame breaks RFC 6455 framing.
    fn start_frame(&mut self, c: &mut WebSocketCounters) -> bool {
        let h = &self.header;
        let (b0, b1) = (h[0], h[1]);
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0f);
        let (len, key_at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (u64::from(n), 2),
        };
        let control = opcode & 0x08 != 0;
        let valid = match opcode {
            OP_CONTINUATION => self.in_message,
            OP_TEXT | OP_BINARY => !self.in_message,
            OP_CLOSE | OP_PING | OP_PONG => fin && len <= MAX_CONTROL as u64,
            // Reserved opcodes: the endpoint must fail the connection (section 5.2).
            _ => false,
        };
        // The most significant bit of a 64-bit length must be 0.
        if !valid || len >> 63 != 0 || (control && !fin) {
            return false;
        }
        self.key = (b1 & 0x80 != 0).then(|| {
            let mut k = [0u8; 4];
            k.copy_from_slice(&h[key_at..key_at + 4]);
            k
        });
        self.opcode = opcode;
        self.fin = fin;
        self.remaining = len;
        self.close_len = 0;
        self.have = 0;
        self.frames += 1;
        c.websocket_frames += 1;
        self.state = State::Payload;
        true
    }

    /// The current frame's payload is complete: counts a message at the end of one;
    /// true for a Close frame.
    fn end_frame(&mut self, c: &mut WebSocketCounters) -> bool {
        self.state = State::Header;
        match self.opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                self.in_message = !self.fin;
                if self.fin {
                    self.messages += 1;
                    c.websocket_messages += 1;
                }
                false
            }
            OP_CLOSE => true,
            _ => false,
        }
    }
}
