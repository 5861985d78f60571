//! The one error type of the capture layer.
//!
//! Contract: an error is returned only when a source cannot go on (setup failed, the OS
//! refused, the file is not a capture or its framing is broken beyond resynchronisation).
//! Problems a source can step over (a packet naming an unknown pcapng interface, an
//! inconsistent packet block, a file cut short in a record) are counted in the source's
//! stats instead. Sources are fused: after returning an error they only report the end.

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
}
