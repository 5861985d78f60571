//! Live capture through libpcap (the `pcap` crate).
//!
//! Contract:
//! - [`LiveSource::open`] opens a device by name, or libpcap's default device, in immediate
//!   mode with a short read timeout ([`DEFAULT_READ_TIMEOUT`]), applies the BPF filter it is
//!   given (choosing a default filter is the caller's business) and reports the link type.
//! - [`LiveSource::next`] blocks at most about one read timeout: it returns a frame, or
//!   [`LiveNext::Timeout`] when none arrived. Timeouts are normal; they hand control back so
//!   the caller can tick its clock and check for shutdown. To stop from a signal handler, set
//!   a shared `AtomicBool` there and test it in the capture loop after every call: the loop
//!   notices within one timeout even on an idle interface.
//! - Frames borrow libpcap's ring buffer until the next call; nothing is allocated per frame.
//!   Timestamps are nanoseconds since the epoch (nanosecond precision is requested from
//!   libpcap on Linux, where every capture device it opens supports it; elsewhere microsecond
//!   timestamps are converted). `orig_len` is at least the captured length.
//! - Setup failures are typed so the caller can explain them: [`CaptureError::Permission`]
//!   (EPERM/EACCES: run as root or grant `cap_net_raw,cap_net_admin`),
//!   [`CaptureError::NoDevice`], [`CaptureError::Filter`]; anything else from libpcap is
//!   [`CaptureError::Pcap`] with libpcap's message.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use std::net::IpAddr;
use std::time::Duration;

use httptop_wire::{Frame, LinkType, Timestamp};
use pcap::{Active, Capture, Device, IfFlags};

use crate::error::CaptureError;

/// Read timeout: how long [`LiveSource::next`] may block before returning `Timeout`.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(100);
/// Default snapshot length: whole packets, as tcpdump does.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// How to open a live capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveConfig<'a> {
    /// Device name; `None` for libpcap's default device.
    pub device: Option<&'a str>,
    /// BPF filter expression; `None` captures everything.
    pub filter: Option<&'a str>,
    /// Bytes kept of each packet.
    pub snaplen: u32,
    /// Put the interface in promiscuous mode. Off by default: a monitor on a server wants the
    /// host's own traffic and should not change the interface's mode unasked.
    pub promiscuous: bool,
    /// Deliver packets as soon as they arrive rather than when a kernel block fills.
    pub immediate: bool,
    /// Upper bound on how long one [`LiveSource::next`] call blocks.
    pub read_timeout: Duration,
    /// Kernel capture buffer in bytes; `None` keeps libpcap's default (2 MiB on Linux).
    pub buffer_size: Option<u32>,
}

impl Default for LiveConfig<'_> {
    fn default() -> Self {
        LiveConfig {
            device: None,
            filter: None,
            snaplen: DEFAULT_SNAPLEN,
            promiscuous: false,
            immediate: true,
            read_timeout: DEFAULT_READ_TIMEOUT,
            buffer_size: None,
        }
    }
}

impl<'a> LiveConfig<'a> {
    /// Defaults, on `device` (or libpcap's default device).
    pub fn new(device: Option<&'a str>) -> Self {
        LiveConfig {
            device,
            ..LiveConfig::default()
        }
    }
}

/// One step of a live capture.
#[derive(Clone, Copy, Debug)]
pub enum LiveNext<'a> {
    Frame(Frame<'a>),
    /// The read timeout passed without a packet.
    Timeout,
}

/// Kernel counters since the capture was opened, as libpcap reports them (32-bit, they may
/// wrap on busy interfaces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LiveStats {
    /// Packets that passed the filter (on Linux: delivered or dropped by the kernel).
    pub received: u32,
    /// Packets dropped because the capture buffer was full (we read too slowly).
    pub dropped: u32,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u32,
}

/// A device as `-D` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<InterfaceAddress>,
    pub flags: InterfaceFlags,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceAddress {
    pub addr: IpAddr,
    pub netmask: Option<IpAddr>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceFlags {
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
    pub wireless: bool,
}

/// The devices libpcap can capture on, in libpcap's order (its default device first).
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, CaptureError> {
    let devices = Device::list().map_err(|e| classify(e, None))?;
    Ok(devices
        .into_iter()
        .map(|d| InterfaceInfo {
            flags: InterfaceFlags {
                up: d.flags.contains(IfFlags::UP),
                running: d.flags.contains(IfFlags::RUNNING),
                loopback: d.flags.contains(IfFlags::LOOPBACK),
                wireless: d.flags.contains(IfFlags::WIRELESS),
            },
            addresses: d
                .addresses
                .iter()
                .map(|a| InterfaceAddress {
                    addr: a.addr,
                    netmask: a.netmask,
                })
                .collect(),
            name: d.name,
            description: d.desc,
        })
        .collect())
}

/// An open live capture.
pub struct LiveSource {
    cap: Capture<Active>,
    device: String,
    linktype: LinkType,
    /// The header's sub-second field is in nanoseconds (else microseconds).
    nanos: bool,
    /// The last read found the ring empty: wait on the descriptor before reading again.
    drained: bool,
    read_timeout: Duration,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("device", &self.device)
            .field("linktype", &self.linktype)
            .field("nanos", &self.nanos)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    /// Opens and activates the device, then applies the filter.
    pub fn open(config: &LiveConfig<'_>) -> Result<Self, CaptureError> {
        let device = match config.device {
            Some(d) => d.to_owned(),
            None => match Device::lookup() {
                Ok(Some(d)) => d.name,
                Ok(None) => {
                    return Err(CaptureError::NoDevice {
                        device: None,
                        message: "libpcap found no capture device".to_owned(),
                    })
                }
                Err(e) => return Err(classify(e, None)),
            },
        };
        // libpcap cannot put the Linux "any" pseudo-device in promiscuous mode and says so
        // with a warning, which the pcap crate turns into a failed open.
        let promisc = config.promiscuous && device != "any";
        let cap = match activate(&device, config, promisc) {
            Err(CaptureError::Pcap(msg)) if promisc && msg.contains("Promiscuous mode") => {
                activate(&device, config, false)?
            }
            other => other?,
        };
        let mut src = LiveSource {
            linktype: LinkType(cap.get_datalink().0 as u32),
            cap,
            device,
            nanos: cfg!(target_os = "linux"),
            drained: false,
            read_timeout: config.read_timeout,
        };
        if let Some(filter) = config.filter {
            src.cap
                .filter(filter, true)
                .map_err(|e| CaptureError::Filter {
                    filter: filter.to_owned(),
                    message: pcap_message(&e),
                })?;
        }
        Ok(src)
    }

    /// The next frame, or `Timeout` after about one read timeout without one.
    #[allow(
        clippy::should_implement_trait,
        reason = "a lending read: the frame borrows the source, which Iterator cannot express"
    )]
    ///
    /// The handle is non-blocking and the wait is a `poll` on its descriptor: libpcap's own
    /// read timeout does not return control on Linux in immediate mode (it polls again
    /// internally), and a signal must be able to stop the capture within one timeout.
    pub fn next(&mut self) -> Result<LiveNext<'_>, CaptureError> {
        if self.drained {
            let timeout = Timespec {
                tv_sec: i64::try_from(self.read_timeout.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(self.read_timeout.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.cap, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => return Ok(LiveNext::Timeout),
                Ok(_) => {}
                Err(e) => return Err(CaptureError::Io(std::io::Error::from(e))),
            }
            self.drained = false;
        }
        match self.cap.next_packet() {
            Ok(p) => {
                let h = p.header;
                let sec = u64::try_from(h.ts.tv_sec).unwrap_or(0);
                let frac = u64::try_from(h.ts.tv_usec).unwrap_or(0);
                let frac_ns = if self.nanos {
                    frac
                } else {
                    frac.saturating_mul(1_000)
                };
                let ns = sec.saturating_mul(1_000_000_000).saturating_add(frac_ns);
                let caplen = u32::try_from(p.data.len()).unwrap_or(u32::MAX);
                Ok(LiveNext::Frame(Frame {
                    ts: Timestamp(ns),
                    linktype: self.linktype,
                    orig_len: h.len.max(caplen),
                    data: p.data,
                }))
            }
            Err(pcap::Error::TimeoutExpired) => {
                self.drained = true;
                Ok(LiveNext::Timeout)
            }
            // pcap_next_ex says "no more packets" on a live handle only after
            // pcap_breakloop, which we never call; treat it as a turn without a packet.
            Err(pcap::Error::NoMorePackets) => Ok(LiveNext::Timeout),
            Err(e) => Err(classify(e, Some(&self.device))),
        }
    }

    /// Kernel counters since the capture was opened.
    pub fn stats(&mut self) -> Result<LiveStats, CaptureError> {
        let s = self
            .cap
            .stats()
            .map_err(|e| classify(e, Some(&self.device)))?;
        Ok(LiveStats {
            received: s.received,
            dropped: s.dropped,
            if_dropped: s.if_dropped,
        })
    }

    /// Link type of every frame of this capture.
    pub fn linktype(&self) -> LinkType {
        self.linktype
    }

    /// Name of the device being captured.
    pub fn device(&self) -> &str {
        &self.device
    }
}

fn activate(
    device: &str,
    config: &LiveConfig<'_>,
    promisc: bool,
) -> Result<Capture<Active>, CaptureError> {
    let timeout_ms = i32::try_from(config.read_timeout.as_millis())
        .unwrap_or(i32::MAX)
        .max(1);
    let mut cap = Capture::from_device(device)
        .map_err(|e| classify(e, Some(device)))?
        .promisc(promisc)
        .snaplen(i32::try_from(config.snaplen).unwrap_or(i32::MAX))
        .immediate_mode(config.immediate)
        .timeout(timeout_ms);
    if let Some(size) = config.buffer_size {
        cap = cap.buffer_size(i32::try_from(size).unwrap_or(i32::MAX));
    }
    if cfg!(target_os = "linux") {
        cap = cap.precision(pcap::Precision::Nano);
    }
    cap.open()
        .and_then(|c| c.setnonblock())
        .map_err(|e| classify(e, Some(device)))
}

fn pcap_message(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Sorts libpcap's failures into the errors a user can act on.
fn classify(e: pcap::Error, device: Option<&str>) -> CaptureError {
    let message = pcap_message(&e);
    classify_message(message, device)
}

fn classify_message(message: String, device: Option<&str>) -> CaptureError {
    let lower = message.to_ascii_lowercase();
    let is_permission = [
        "permission",
        "operation not permitted",
        "eperm",
        "eacces",
        "access denied",
    ]
    .iter()
    .any(|p| lower.contains(p));
    if is_permission {
        return CaptureError::Permission {
            device: device.unwrap_or("(default)").to_owned(),
            message,
        };
    }
    let no_device = ["no such device", "doesn't exist", "does not exist"]
        .iter()
        .any(|p| lower.contains(p));
    if no_device {
        return CaptureError::NoDevice {
            device: device.map(str::to_owned),
            message,
        };
    }
    CaptureError::Pcap(message)
}
