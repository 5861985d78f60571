//! The OS-facing shell: load the BPF object, attach it, read the ring buffer, detach on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::{RawTracePoint, UProbe};
use aya::{Btf, Ebpf, EbpfLoader};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::time::{clock_gettime, ClockId, Timespec};

use crate::record::{self, ProbeEvent, MAX_CAPTURE};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tlsprobe.bpf.o"));

/// Entry/return program pairs and the libssl symbol each pair is attached to. `required`:
/// attaching fails when the symbol is missing (the `_ex` forms exist since OpenSSL 1.1.1).
const UPROBES: &[(&str, &str, &str, bool)] = &[
    ("SSL_write", "ssl_write_enter", "ssl_write_leave", true),
    ("SSL_read", "ssl_read_enter", "ssl_read_leave", true),
    (
        "SSL_write_ex",
        "ssl_write_ex_enter",
        "ssl_write_ex_leave",
        false,
    ),
    (
        "SSL_read_ex",
        "ssl_read_ex_enter",
        "ssl_read_ex_leave",
        false,
    ),
    (
        "SSL_do_handshake",
        "ssl_handshake_enter",
        "ssl_handshake_leave",
        true,
    ),
];
const FREE_PROBE: (&str, &str) = ("SSL_free", "ssl_free_enter");
/// Entry-only probes: a fresh connection is set up (seen from its start even when its
/// handshake runs inside its first read, as with `BIO_f_ssl`). Optional symbols.
const STATE_PROBES: &[&str] = &["SSL_set_accept_state", "SSL_set_connect_state"];
const STATE_PROGRAM: &str = "ssl_set_state";
const SYS_ENTER: (&str, &str) = ("sys_enter", "sys_enter");
/// The socket layer's send/receive tracepoints (Linux 6.3+), preferred to `SYS_ENTER`.
const SOCK_IO: &[(&str, &str)] = &[
    ("sock_send_length", "sock_send"),
    ("sock_recv_length", "sock_recv"),
];
const PROC_EXIT: (&str, &str) = ("sched_process_exit", "proc_exit");
/// Names of the BPF programs this crate loads (as `bpftool prog` shows them, cut at 15 bytes).
pub const PROGRAM_NAMES: &[&str] = &[
    "ssl_write_enter",
    "ssl_write_leave",
    "ssl_read_enter",
    "ssl_read_leave",
    "ssl_write_ex_enter",
    "ssl_write_ex_leave",
    "ssl_read_ex_enter",
    "ssl_read_ex_leave",
    "ssl_handshake_enter",
    "ssl_handshake_leave",
    "ssl_free_enter",
    "ssl_set_state",
    "sys_enter",
    "sock_send",
    "sock_recv",
    "proc_exit",
];

/// What to attach to and the bounds of what the kernel side keeps.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// libssl files to probe; empty: the ones `/etc/ld.so.cache` names (as ld.so finds them).
    pub libssl: Vec<PathBuf>,
    /// Only this process (thread group): its uprobes are bound to it (no other process
    /// traps); `None`: every process using the libraries, also those started later.
    pub pid: Option<u32>,
    /// Plaintext bytes kept per SSL call (1..=262144, in records of at most 16 KiB); the
    /// rest is counted as truncated.
    pub capture_bytes: u32,
    /// Ring buffer size in bytes (a power of two, ≥ the page size); a full ring drops records
    /// (counted as `lost`, seen as gaps in their streams).
    pub ring_bytes: u32,
    /// Connections (process + SSL object) the kernel side tracks (LRU).
    pub max_connections: u32,
    /// How the TCP 4-tuple of a connection is learned.
    pub socket_hook: SocketHook,
    /// Attach every probe but make each program return at once: nothing is recorded. For
    /// measuring what the uprobe traps alone cost a process (`benches/tls-plaintext.sh -t`).
    pub traps_only: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            libssl: Vec::new(),
            pid: None,
            capture_bytes: MAX_CAPTURE,
            ring_bytes: 8 << 20,
            max_connections: 65_536,
            socket_hook: SocketHook::Auto,
            traps_only: false,
        }
    }
}

/// How the kernel side learns the TCP 4-tuple of the socket a thread reads or writes while
/// it is inside an SSL call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketHook {
    /// The socket layer's tracepoints `sock:sock_send_length` and `sock:sock_recv_length`
    /// (Linux 6.3+: only socket I/O pays); where the kernel lacks them, [`SocketHook::Syscalls`].
    Auto,
    /// A raw tracepoint on `sys_enter` (fd -> socket): any kernel with raw tracepoints, but
    /// every system call of every process takes the kernel's slow syscall path.
    Syscalls,
    /// Not learned: records carry no 4-tuple.
    Off,
}

/// Why the probe could not start, in one line that says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// Not root (nor CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE).
    #[error("TLS plaintext needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE): {0}")]
    Permission(String),
    /// The kernel has no BTF at /sys/kernel/btf/vmlinux.
    #[error("the kernel has no BTF (/sys/kernel/btf/vmlinux: {0}); TLS plaintext needs Linux 5.11+ built with CONFIG_DEBUG_INFO_BTF (Debian 12, Ubuntu 21.04+, RHEL 9)")]
    NoBtf(String),
    /// No libssl found.
    #[error("no OpenSSL libssl found ({0}); name one with --libssl PATH")]
    NoLibssl(String),
    /// An option is out of range.
    #[error("invalid TLS plaintext option: {0}")]
    Option(String),
    /// The kernel refused to load or attach a program (the message names which).
    #[error("the kernel refused the TLS plaintext probe: {0}")]
    Kernel(String),
}

/// Counters of the kernel side (summed over CPUs) and of decoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Records written to the ring buffer.
    pub events: u64,
    /// Records the ring buffer had no room for (each a gap in its stream).
    pub lost: u64,
    /// Records carrying fewer bytes than their call moved.
    pub truncated: u64,
    /// Calls whose buffer could not be read (a gap).
    pub read_faults: u64,
    /// Calls not seen because the per-thread call record could not be allocated.
    pub active_full: u64,
    /// Connections the kernel-side table could not take.
    pub conn_full: u64,
    /// 4-tuples learned from a socket system call made during an SSL call.
    pub tuples: u64,
    /// Records user space could not decode (a layout mismatch: a bug).
    pub malformed: u64,
    /// Libraries probed at their exported `SSL_read`/`SSL_write` forms because their
    /// internal read/write functions were not found (their `BIO_f_ssl` users are not seen;
    /// see [`Probe::internal`]).
    pub not_internal: u64,
}

/// The attached probe. Dropping it detaches every program and frees the maps.
pub struct Probe {
    // Field order is drop order: the ring first, then the programs and links.
    ring: RingBuf<MapData>,
    ring_fd: MapData,
    counters: PerCpuArray<MapData, u64>,
    ebpf: Ebpf,
    libraries: Vec<PathBuf>,
    /// Per library: probed at its internal read/write functions (else the exported ones).
    internal: Vec<bool>,
    wall_offset_ns: i64,
    malformed: u64,
    socket_hook: Option<&'static str>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("libraries", &self.libraries)
            .finish_non_exhaustive()
    }
}

fn ns(t: Timespec) -> i128 {
    i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
}

fn kernel_error(what: &str, e: impl std::fmt::Display) -> AttachError {
    let text = e.to_string();
    if text.contains("Operation not permitted")
        || text.contains("EPERM")
        || text.contains("permission")
    {
        AttachError::Permission(format!("{what}: {text}"))
    } else {
        AttachError::Kernel(format!("{what}: {text}"))
    }
}

/// The loaded uprobe program `name`.
fn uprobe<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut UProbe, AttachError> {
    let prog: &mut UProbe = ebpf
        .program_mut(name)
        .ok_or_else(|| AttachError::Kernel(format!("program {name} missing from the object")))?
        .try_into()
        .map_err(|e| kernel_error(name, chain(&e)))?;
    if prog.fd().is_err() {
        prog.load()
            .map_err(|e| kernel_error(&format!("loading {name}"), chain(&e)))?;
    }
    Ok(prog)
}

/// Loads the program `name` and attaches it to the raw tracepoint `tp`.
fn raw_tracepoint(ebpf: &mut Ebpf, (tp, name): (&str, &str)) -> Result<(), AttachError> {
    let prog: &mut RawTracePoint = ebpf
        .program_mut(name)
        .ok_or_else(|| AttachError::Kernel(format!("program {name} missing from the object")))?
        .try_into()
        .map_err(|e| kernel_error(name, chain(&e)))?;
    prog.load()
        .map_err(|e| kernel_error(&format!("loading the {tp} raw tracepoint"), chain(&e)))?;
    prog.attach(tp)
        .map_err(|e| kernel_error(&format!("attaching the {tp} raw tracepoint"), chain(&e)))?;
    Ok(())
}

/// Full text of an error and its sources, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl Probe {
    /// Loads the BPF object and attaches the probes (needs root). Every program is attached
    /// or none: an error drops what was attached so far.
    pub fn attach(opts: &ProbeOptions) -> Result<Probe, AttachError> {
        if opts.capture_bytes == 0 || opts.capture_bytes > MAX_CAPTURE {
            return Err(AttachError::Option(format!(
                "capture bytes {} not in 1..={MAX_CAPTURE}",
                opts.capture_bytes
            )));
        }
        if !opts.ring_bytes.is_power_of_two() || opts.ring_bytes < 4096 {
            return Err(AttachError::Option(format!(
                "ring size {} is not a power of two ≥ 4096",
                opts.ring_bytes
            )));
        }
        if opts.max_connections == 0 {
            return Err(AttachError::Option("max connections is 0".into()));
        }
        if !rustix::process::geteuid().is_root() {
            return Err(AttachError::Permission("not running as root".into()));
        }
        let libraries = if opts.libssl.is_empty() {
            let found = crate::ldcache::find_libssl(Path::new("/etc/ld.so.cache"))
                .map_err(|e| AttachError::NoLibssl(format!("/etc/ld.so.cache: {e}")))?;
            if found.is_empty() {
                return Err(AttachError::NoLibssl(
                    "/etc/ld.so.cache names no libssl.so.3 or libssl.so.1.1".into(),
                ));
            }
            found
        } else {
            for p in &opts.libssl {
                if !p.is_file() {
                    return Err(AttachError::NoLibssl(format!(
                        "{} is not a file",
                        p.display()
                    )));
                }
            }
            opts.libssl.clone()
        };
        let btf = Btf::from_sys_fs().map_err(|e| AttachError::NoBtf(chain(&e)))?;

        let target = opts.pid.unwrap_or(0);
        // `--pid`: the uprobes are bound to that process (perf_event_open with its pid), so
        // the kernel plants its breakpoints in that process's memory only and no other
        // process pays a trap; TARGET_TGID filters in the programs as well (the socket and
        // exit tracepoints run for every process).
        let only = match opts.pid {
            Some(p) => Some(
                i32::try_from(p)
                    .map_err(|_| AttachError::Option(format!("pid {p} is not a process id")))?,
            ),
            None => None,
        };
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            // ACTIVE is a task storage map (BPF_MAP_TYPE_TASK_STORAGE), which aya 0.13 creates
            // but has no typed wrapper for; user space never touches it.
            .allow_unsupported_maps()
            .set_global("CAPTURE_BYTES", &opts.capture_bytes, true)
            .set_global("TARGET_TGID", &target, true)
            .set_global("TRAPS_ONLY", &u32::from(opts.traps_only), true)
            .set_max_entries("EVENTS", opts.ring_bytes)
            .set_max_entries("CONNS", opts.max_connections)
            .load(OBJECT)
            .map_err(|e| kernel_error("loading the BPF object", chain(&e)))?;

        for &(_, enter, leave, _) in UPROBES {
            for name in [enter, leave] {
                uprobe(&mut ebpf, name)?;
            }
        }
        let mut internal = Vec::with_capacity(libraries.len());
        for lib in &libraries {
            // ssl_read_internal / ssl_write_internal when the code shows them (every call,
            // BIO users too, one trap per call): the `_ex` programs there, nothing on the
            // exported forms. Otherwise the exported forms (see `crate::internal`).
            let found = crate::internal::find(lib);
            internal.push(found.is_some());
            for &(symbol, enter, leave, required) in UPROBES {
                let at = match (found, symbol) {
                    (Some(f), "SSL_read_ex") => Some(f.read),
                    (Some(f), "SSL_write_ex") => Some(f.write),
                    (Some(_), "SSL_read" | "SSL_write") => continue,
                    _ => None,
                };
                for (name, is_ret) in [(enter, false), (leave, true)] {
                    let prog = uprobe(&mut ebpf, name)?;
                    let attached = match at {
                        Some(offset) => prog.attach(None, offset, lib, only),
                        None => prog.attach(Some(symbol), 0, lib, only),
                    };
                    if let Err(e) = attached {
                        let text = chain(&e);
                        let missing = text.contains("symbol") && !required;
                        if !missing {
                            let what = format!(
                                "{} probe on {symbol}{} in {}",
                                if is_ret { "return" } else { "entry" },
                                if at.is_some() {
                                    "'s internal function"
                                } else {
                                    ""
                                },
                                lib.display()
                            );
                            return Err(kernel_error(&what, text));
                        }
                    }
                }
            }
        }
        {
            let (symbol, name) = FREE_PROBE;
            let prog = uprobe(&mut ebpf, name)?;
            for lib in &libraries {
                prog.attach(Some(symbol), 0, lib, only).map_err(|e| {
                    kernel_error(
                        &format!("probe on {symbol} in {}", lib.display()),
                        chain(&e),
                    )
                })?;
            }
        }
        uprobe(&mut ebpf, STATE_PROGRAM)?;
        for lib in &libraries {
            for symbol in STATE_PROBES {
                // Missing in a library: its connections are seen from SSL_do_handshake only.
                let _ = uprobe(&mut ebpf, STATE_PROGRAM)?.attach(Some(symbol), 0, lib, only);
            }
        }
        raw_tracepoint(&mut ebpf, PROC_EXIT)?;
        let socket_hook = match opts.socket_hook {
            _ if opts.traps_only => None,
            SocketHook::Off => None,
            SocketHook::Auto
                if SOCK_IO
                    .iter()
                    .all(|&tp| raw_tracepoint(&mut ebpf, tp).is_ok()) =>
            {
                Some("sock_send_length/sock_recv_length")
            }
            // A kernel before 6.3 (or without the socket tracepoints). Should only one of the
            // two have attached, sys_enter covers the other direction too.
            SocketHook::Auto | SocketHook::Syscalls => {
                raw_tracepoint(&mut ebpf, SYS_ENTER)?;
                Some("sys_enter")
            }
        };
        let ring_map = ebpf
            .take_map("EVENTS")
            .ok_or_else(|| AttachError::Kernel("map EVENTS missing".into()))?;
        // A second descriptor of the same map to poll(2) on (aya's RingBuf lends only a raw fd).
        let ring_fd = match &ring_map {
            aya::maps::Map::RingBuf(data) => data
                .info()
                .and_then(|info| MapData::from_id(info.id()))
                .map_err(|e| kernel_error("ring buffer descriptor", chain(&e)))?,
            _ => {
                return Err(AttachError::Kernel(
                    "map EVENTS is not a ring buffer".into(),
                ))
            }
        };
        let ring =
            RingBuf::try_from(ring_map).map_err(|e| kernel_error("ring buffer", chain(&e)))?;
        let counters_map = ebpf
            .take_map("COUNTERS")
            .ok_or_else(|| AttachError::Kernel("map COUNTERS missing".into()))?;
        let counters =
            PerCpuArray::try_from(counters_map).map_err(|e| kernel_error("counters", chain(&e)))?;

        let wall = ns(clock_gettime(ClockId::Realtime)) - ns(clock_gettime(ClockId::Monotonic));
        let wall_offset_ns = i64::try_from(wall).unwrap_or(0);
        Ok(Probe {
            ring,
            ring_fd,
            counters,
            ebpf,
            libraries,
            internal,
            wall_offset_ns,
            malformed: 0,
            socket_hook,
        })
    }

    /// The libssl files the probes are attached to.
    pub fn libraries(&self) -> &[PathBuf] {
        &self.libraries
    }

    /// Per library (same order as [`Probe::libraries`]): `true` when probed at its internal
    /// read/write functions (every call, `BIO_f_ssl` users too), `false` when at the
    /// exported `SSL_read`/`SSL_write` forms (see the `internal` module).
    pub fn internal(&self) -> &[bool] {
        &self.internal
    }

    /// The tracepoint(s) the 4-tuples are learned from (`None`: [`SocketHook::Off`]).
    pub fn socket_hook(&self) -> Option<&'static str> {
        self.socket_hook
    }

    /// Nanoseconds to add to a CLOCK_MONOTONIC time to get Unix time (measured at attach).
    pub fn wall_offset_ns(&self) -> i64 {
        self.wall_offset_ns
    }

    /// Hands every record waiting (at most `max` of them) to `f`, borrowed from the ring;
    /// when none is waiting, first waits up to `timeout` for one. Returns how many were
    /// handed. Records that do not decode are counted (`malformed`) and skipped.
    pub fn poll<F: FnMut(ProbeEvent<'_>)>(
        &mut self,
        timeout: Duration,
        max: usize,
        mut f: F,
    ) -> io::Result<usize> {
        let mut n = self.drain(max, &mut f);
        if n == 0 && !timeout.is_zero() {
            let ts = Timespec {
                tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(timeout.subsec_nanos()),
            };
            let mut fds = [PollFd::new(self.ring_fd.fd(), PollFlags::IN)];
            match poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            n = self.drain(max, &mut f);
        }
        Ok(n)
    }

    fn drain<F: FnMut(ProbeEvent<'_>)>(&mut self, max: usize, f: &mut F) -> usize {
        let mut n = 0;
        while n < max {
            let Some(item) = self.ring.next() else { break };
            match record::decode(&item, self.wall_offset_ns) {
                Ok(ev) => f(ev),
                Err(_) => self.malformed += 1,
            }
            n += 1;
        }
        n
    }

    /// The counters, summed over CPUs.
    pub fn stats(&self) -> io::Result<ProbeStats> {
        let get = |i: u32| -> io::Result<u64> {
            let per_cpu = self
                .counters
                .get(&i, 0)
                .map_err(|e| io::Error::other(chain(&e)))?;
            Ok(per_cpu.iter().sum())
        };
        Ok(ProbeStats {
            events: get(0)?,
            lost: get(1)?,
            truncated: get(2)?,
            read_faults: get(3)?,
            active_full: get(4)?,
            conn_full: get(5)?,
            tuples: get(6)?,
            malformed: self.malformed,
            not_internal: self.internal.iter().filter(|&&i| !i).count() as u64,
        })
    }

    /// The loaded programs (for diagnostics).
    pub fn program_count(&self) -> usize {
        self.ebpf.programs().count()
    }
}
