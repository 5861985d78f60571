//! What reassembly hands to the analyzers: the two in-order byte streams of a TCP
//! connection as [`StreamEvent`]s, each from one [`Dir`]ection.
//!
//! This is the seam between the transport layers (`flow`, `reasm`) and the application
//! layer (`analyzer`, `http`, and every protocol added later): nothing below it knows
//! about any protocol, and every analyzer consumes exactly these events.
//!
//! Contract of a stream, whoever produces it: events of one direction come in stream
//! order; every byte is delivered at most once; a `Gap(n)` stands for exactly `n` bytes
//! the capture lost (never for bytes deliberately skipped); `Fin` comes at most once, after
//! the last byte; after `Rst` nothing more comes.

/// Which side of the TCP connection a byte stream comes from. `Orig` is the side that
/// sent the SYN, or the side first seen when the connection was picked up mid-stream.
/// Which of them is the client is decided by content (by the analyzer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    Orig,
    Resp,
}

impl Dir {
    pub fn other(self) -> Dir {
        match self {
            Dir::Orig => Dir::Resp,
            Dir::Resp => Dir::Orig,
        }
    }

    /// 0 for `Orig`, 1 for `Resp`: the index of per-direction arrays.
    pub const fn index(self) -> usize {
        match self {
            Dir::Orig => 0,
            Dir::Resp => 1,
        }
    }
}

/// One in-order event of a reassembled byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// This many bytes of the stream were lost (not captured).
    Gap(u64),
    /// The sender closed its side (FIN).
    Fin,
    /// The connection was reset.
    Rst,
}
