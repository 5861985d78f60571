//! The one error type of the capture layer.
//!
//! Contract: an error is returned only when a source cannot go on (setup failed, the OS
//! refused, the file is not a capture, or its framing is broken and no plausible record
//! follows within the resynchronisation bound: [`CaptureError::Damaged`]). Problems a
//! source can step over (a packet naming an unknown pcapng interface, an inconsistent
//! packet block, a file cut short in a record, damage followed by a plausible record) are
//! counted in the source's stats instead, damage also reported as a [`Damage`]. Sources are
//! fused: after returning an error they only report the end.

use std::fmt;
use std::io;

/// Why a source stopped or could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Reading the input failed (the original OS error is kept).
    #[error("read error: {0}")]
    Io(#[from] io::Error),

    /// The input is not a pcap/pcapng capture, or its framing is broken at `offset`.
    #[error("bad capture file at byte {offset}: {problem}")]
    Format { offset: u64, problem: FormatError },

    /// Damage in a capture file after which no plausible record was found within the
    /// resynchronisation bound ([`crate::FileOptions::max_resync_bytes`]): the source ends.
    #[error("{0}")]
    Damaged(Damage),

    /// A record claims more bytes than the configured cap; nothing was allocated for it.
    #[error("record at byte {offset} claims {size} bytes, more than the limit of {max} bytes")]
    RecordTooLarge { offset: u64, size: u64, max: u64 },

    /// The OS refused to open the device for capture (EPERM/EACCES from libpcap).
    ///
    /// The fix is to run as root, or to grant the binary the capabilities:
    /// `setcap cap_net_raw,cap_net_admin=eip $(which httptop)`.
    #[error("no permission to capture on {device}: {message}")]
    Permission { device: String, message: String },

    /// The named device does not exist, or no device was named and libpcap has no default.
    #[error("{}", match device {
        Some(d) => format!("no such capture device: {d} ({message})"),
        None => format!("no capture device available ({message})"),
    })]
    NoDevice {
        device: Option<String>,
        message: String,
    },

    /// libpcap rejected the BPF filter expression.
    #[error("invalid capture filter {filter:?}: {message}")]
    Filter { filter: String, message: String },

    /// Any other libpcap failure, with libpcap's message.
    #[error("libpcap: {0}")]
    Pcap(String),
}

impl CaptureError {
    /// True for [`CaptureError::Permission`]: the caller should explain how to grant capture
    /// rights rather than show a generic failure.
    pub fn is_permission(&self) -> bool {
        matches!(self, CaptureError::Permission { .. })
    }
}

/// What is wrong with a capture file's framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("the input is empty")]
    Empty,
    #[error("the input ends inside the file header")]
    TruncatedHeader,
    #[error("unknown magic number 0x{0:08x}: not a pcap or pcapng file")]
    UnknownMagic(u32),
    #[error("unsupported variant (magic 0x{0:08x})")]
    UnsupportedMagic(u32),
    #[error("unsupported pcapng version {major}.{minor}")]
    UnsupportedVersion { major: u16, minor: u16 },
    #[error("bad pcapng byte-order magic 0x{0:08x}")]
    BadByteOrderMagic(u32),
    #[error("bad pcapng block length {0}")]
    BadBlockLength(u32),
    #[error("pcapng block length {first} disagrees with its trailing copy {second}")]
    BlockLengthMismatch { first: u32, second: u32 },
    /// A pcap record header whose captured length is over the record limit.
    #[error("record length {len} over the {} limit", Size(*max))]
    RecordTooLong { len: u32, max: u64 },
    /// A record or block whose length runs past the end of the input, while plausible
    /// records follow it (so the file was not merely cut short).
    #[error("length {len} runs past the end of the input")]
    LengthPastEnd { len: u32 },
    /// A pcapng block whose length is over the record limit.
    #[error("pcapng block length {len} over the {} limit", Size(*max))]
    BlockTooLong { len: u32, max: u64 },
}

/// A damaged stretch of a capture file: where it starts, what was wrong there, how many
/// bytes were skipped and where reading resumed. Reported by
/// [`crate::FileSource::take_damage`] once the source has resynchronised, or as
/// [`CaptureError::Damaged`] when it gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Damage {
    /// Input offset of the record or block that could not be read.
    pub offset: u64,
    /// What was wrong with it.
    pub problem: FormatError,
    /// Bytes skipped from `offset` on.
    pub skipped: u64,
    /// What came next.
    pub resumed: Resumed,
}

/// Where reading went on after damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resumed {
    /// At a plausible record or block of the same section, at this input offset.
    Record(u64),
    /// At a new pcap file header or pcapng section header, at this input offset.
    Header(u64),
    /// The input ended first: everything after `offset` was skipped.
    End,
    /// No plausible record within the bound: the source stopped.
    GaveUp,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}; ", self.offset, self.problem)?;
        match self.resumed {
            Resumed::Record(at) => write!(
                f,
                "skipped {} bytes, reading resumed at the next plausible record (byte {at})",
                self.skipped
            ),
            Resumed::Header(at) => write!(
                f,
                "skipped {} bytes, reading resumed at a new file header (byte {at})",
                self.skipped
            ),
            Resumed::End => write!(
                f,
                "no plausible record after it: skipped the last {} bytes",
                self.skipped
            ),
            Resumed::GaveUp => write!(
                f,
                "no plausible record in the {} after it: reading stopped",
                Size(self.skipped)
            ),
        }
    }
}

/// A byte count for messages: whole MiB or KiB when exact.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{} MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{} KiB", n >> 10),
            n => write!(f, "{n} bytes"),
        }
    }
}
