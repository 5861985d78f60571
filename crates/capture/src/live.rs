//! Live capture through libpcap (the `pcap` crate).
//!
//! Contract:
//! - [`LiveSource::open`] opens a device by name, or libpcap's default device, applies the
//!   BPF filter it is given (choosing a default filter is the caller's business) and reports
//!   the link type.
//! - Immediate mode is off by default, on purpose. On Linux it forces TPACKET_V2, whose ring
//!   slots are sized for the largest packet (64 KiB on `lo` or with offloads), so the default
//!   2 MiB ring holds about 32 packets: a 20 000-datagram burst on `lo` lost half of its
//!   packets in the kernel (8 MiB: 9% after an idle spell; 64 MiB: 3%). Without it
//!   (TPACKET_V3, packets packed into blocks) the same bursts lost nothing even at 2 MiB, and
//!   the kernel still hands over a block within [`LiveConfig::read_timeout`] of its first
//!   packet, so latency stays a few milliseconds. Lost packets are reassembly gaps, which
//!   matter more here than sub-millisecond latency.
//! - [`LiveSource::next`] never blocks longer than [`LiveConfig::read_timeout`]: it returns a
//!   frame, or [`LiveNext::Timeout`] when none was ready. Timeouts are normal and frequent
//!   while idle; they hand control back so the caller can tick its clock (rate-limit that
//!   tick; `Timeout` may come every few milliseconds) and check for shutdown. To stop from a
//!   signal handler, set a shared `AtomicBool` there and test it in the capture loop after
//!   every call: the loop notices within one read timeout even on an idle interface.
//! - Why not libpcap's own timeout: on Linux since libpcap 1.9.1 the "read timeout" is a
//!   packet-buffer timeout that never fires on an idle interface (libpcap issues #1001,
//!   #1489), so a blocking read can wait forever; and `pcap_breakloop` from a timer would
//!   drop the packet being read when it lands. So the handle is non-blocking: a packet that is
//!   ready is returned at once, and after an empty read the next call first waits with
//!   `poll(2)` on libpcap's selectable descriptor, for at most the read timeout. While packets
//!   flow nothing waits; a signal interrupts the wait (the call returns `Timeout`).
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

/// Longest a [`LiveSource::next`] call waits while idle, and the longest the kernel holds a
/// block of packets before handing it over (the display's worst-case latency).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_millis(50);
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
    /// Deliver each packet as soon as it arrives instead of in kernel blocks retired after
    /// `read_timeout`. Off by default: see the module documentation for the loss it costs.
    pub immediate: bool,
    /// Upper bound on how long one [`LiveSource::next`] call waits while idle (the cap of
    /// the idle back-off), and the kernel's block timeout when not in immediate mode; see the
    /// module documentation.
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
            immediate: false,
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
    /// No packet was ready (after at most one read timeout of waiting).
    Timeout,
}

httptop_wire::counters! {
    /// Kernel counters since the capture was opened, as libpcap reports them (32-bit: they
    /// may wrap on busy interfaces).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct LiveStats {
        [Capture]
        /// Packets that passed the capture filter (on Linux: delivered or dropped by the kernel).
        received: Frames => "kernel_received_packets",
        /// Packets the kernel dropped because the capture buffer was full (httptop read too slowly).
        dropped: Frames => "kernel_drops" { by = "kernel" },
        /// Packets dropped by the network interface or its driver.
        if_dropped: Frames => "kernel_drops" { by = "interface" },
    }
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
        // The Linux "any" pseudo-device has no promiscuous mode; some libpcap releases say so
        // with an activation warning, which the pcap crate turns into a failed open (1.10.3
        // does not). Promiscuous mode is a best effort there and on such devices.
        let promisc = config.promiscuous && device != "any";
        let mut cap = match activate(&device, config, promisc) {
            Err(CaptureError::Pcap(msg)) if promisc && msg.contains("Promiscuous mode") => {
                activate(&device, config, false)?
            }
            other => other?,
        };
        if let Some(filter) = config.filter {
            cap.filter(filter, true).map_err(|e| CaptureError::Filter {
                filter: filter.to_owned(),
                message: pcap_message(&e),
            })?;
        }
        let cap = cap.setnonblock().map_err(|e| classify(e, Some(&device)))?;
        Ok(LiveSource {
            linktype: LinkType(cap.get_datalink().0 as u32),
            cap,
            device,
            nanos: cfg!(target_os = "linux"),
            drained: false,
            read_timeout: config.read_timeout,
        })
    }

    /// The next frame, or `Timeout` when none is ready. Waits at most one read timeout, and
    /// only if the previous call found nothing.
    ///
    /// The handle is non-blocking and the wait is a `poll` on its descriptor: libpcap's own
    /// read timeout never fires on an idle interface on Linux (it polls again internally;
    /// libpcap issues #1001, #1489), and a signal must stop the capture within one timeout.
    /// A signal interrupts the poll and yields `Timeout`.
    #[allow(
        clippy::should_implement_trait,
        reason = "a lending read: the frame borrows the source, which Iterator cannot express"
    )]
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
            // Non-blocking: nothing ready. ("No more packets" on a live handle only follows
            // pcap_breakloop, which we never call; same meaning.)
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => {
                self.drained = true;
                Ok(LiveNext::Timeout)
            }
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
            received: u64::from(s.received),
            dropped: u64::from(s.dropped),
            if_dropped: u64::from(s.if_dropped),
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
    cap.open().map_err(|e| classify(e, Some(device)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{Instant, SystemTime, UNIX_EPOCH};

    #[test]
    fn libpcap_messages_are_classified() {
        // Messages as libpcap 1.10 words them (the first two seen running as `nobody`).
        let cases = [
            ("socket: Operation not permitted", "perm"),
            (
                "You don't have permission to perform this capture on that device \
                 (socket: Operation not permitted)",
                "perm",
            ),
            (
                "(cannot open BPF device) /dev/bpf0: Permission denied",
                "perm",
            ),
            ("No such device exists", "nodev"),
            ("SIOCGIFHWADDR: No such device", "nodev"),
            ("can't parse filter expression: syntax error", "pcap"),
            ("The interface went down", "pcap"),
        ];
        for (msg, want) in cases {
            let got = match classify_message(msg.to_owned(), Some("eth0")) {
                CaptureError::Permission { device, .. } => {
                    assert_eq!(device, "eth0");
                    "perm"
                }
                CaptureError::NoDevice { device, .. } => {
                    assert_eq!(device.as_deref(), Some("eth0"));
                    "nodev"
                }
                CaptureError::Pcap(m) => {
                    assert_eq!(m, msg);
                    "pcap"
                }
                other => panic!("{msg}: {other:?}"),
            };
            assert_eq!(got, want, "{msg}");
        }
        assert!(classify_message("Operation not permitted".into(), None).is_permission());
    }

    #[test]
    fn interfaces_include_loopback() {
        let list = list_interfaces().expect("pcap_findalldevs");
        let lo = list
            .iter()
            .find(|i| i.flags.loopback)
            .expect("a loopback device");
        assert!(!lo.name.is_empty());
        if cfg!(target_os = "linux") {
            assert!(list.iter().any(|i| i.name == "lo"));
        }
    }

    /// Opens `lo` or explains why the test is skipped (live capture needs root or
    /// CAP_NET_RAW).
    fn open_lo(filter: &str) -> Option<LiveSource> {
        let config = LiveConfig {
            filter: Some(filter),
            ..LiveConfig::new(Some("lo"))
        };
        match LiveSource::open(&config) {
            Ok(src) => Some(src),
            Err(e) if e.is_permission() => {
                eprintln!("skipping live test: {e}");
                None
            }
            Err(e) => panic!("opening lo: {e}"),
        }
    }

    fn now_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    }

    #[test]
    fn idle_capture_returns_within_the_read_timeout() {
        // A filter nothing on lo matches.
        let Some(mut src) = open_lo("udp port 9 and udp port 10") else {
            return;
        };
        let limit = DEFAULT_READ_TIMEOUT + Duration::from_millis(50);
        let start = Instant::now();
        for _ in 0..30 {
            let call = Instant::now();
            match src.next().expect("next") {
                LiveNext::Timeout => {}
                LiveNext::Frame(f) => panic!("unexpected frame {f:?}"),
            }
            assert!(call.elapsed() < limit, "one call took {:?}", call.elapsed());
        }
        // Idle calls wait on the descriptor: bounded wake-ups, not a spin.
        assert!(src.drained);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn loopback_datagram_is_captured_with_nanosecond_time() {
        for immediate in [false, true] {
            capture_one_datagram(immediate);
        }
    }

    fn capture_one_datagram(immediate: bool) {
        let rx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = rx.local_addr().expect("addr").port();
        let filter = format!("udp and dst port {port}");
        let config = LiveConfig {
            filter: Some(&filter),
            immediate,
            ..LiveConfig::new(Some("lo"))
        };
        let mut src = match LiveSource::open(&config) {
            Ok(src) => src,
            Err(e) if e.is_permission() => {
                eprintln!("skipping live test: {e}");
                return;
            }
            Err(e) => panic!("opening lo: {e}"),
        };
        let linktype = src.linktype();
        let before = now_ns();
        let tx = UdpSocket::bind("127.0.0.1:0").expect("bind");
        tx.send_to(b"httptop-capture-probe", ("127.0.0.1", port))
            .expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        let frame = loop {
            assert!(
                Instant::now() < deadline,
                "no frame within 5 s (immediate {immediate})"
            );
            if let LiveNext::Frame(f) = src.next().expect("next") {
                break (f.ts.0, f.linktype, f.orig_len, f.data.to_vec());
            }
        };
        let after = now_ns();
        let (ts, lt, orig_len, data) = frame;
        assert_eq!(lt, linktype);
        assert_eq!(lt, LinkType::ETHERNET, "lo is DLT_EN10MB on Linux");
        assert!(data.ends_with(b"httptop-capture-probe"));
        assert_eq!(orig_len as usize, data.len());
        // A microsecond fraction read as nanoseconds would land within the first
        // millisecond of the second, far from the wall clock.
        let slack = 20_000_000;
        assert!(
            before - slack <= ts && ts <= after + slack,
            "ts {ts} outside [{before}, {after}] (immediate {immediate})"
        );
        // Delivered promptly in both modes (the kernel retires a block after read_timeout).
        assert!(after - before < 1_000_000_000, "took {} ns", after - before);
        let stats = src.stats().expect("stats");
        assert!(stats.received >= 1, "{stats:?}");
    }

    #[test]
    fn bad_filter_and_missing_device_are_typed() {
        let Some(_) = open_lo("tcp") else {
            return;
        };
        let bad = LiveConfig {
            filter: Some("tcp port"),
            ..LiveConfig::new(Some("lo"))
        };
        match LiveSource::open(&bad) {
            Err(CaptureError::Filter { filter, message }) => {
                assert_eq!(filter, "tcp port");
                assert!(message.contains("syntax error"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let missing = LiveConfig::new(Some("httptop-nodev0"));
        match LiveSource::open(&missing) {
            Err(CaptureError::NoDevice { device, .. }) => {
                assert_eq!(device.as_deref(), Some("httptop-nodev0"));
            }
            other => panic!("{other:?}"),
        }
    }
}
