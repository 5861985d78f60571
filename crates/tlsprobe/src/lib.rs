//! TLS plaintext at OpenSSL's boundary, read with eBPF (issue 14, groundwork).
//!
//! Uprobes and uretprobes on libssl's internal read and write functions (found from
//! `SSL_read`/`SSL_write` by [`internal`]; every call, `BIO_f_ssl` users included, one trap
//! each; else on `SSL_write`, `SSL_read`, `SSL_write_ex`, `SSL_read_ex`) and
//! `SSL_do_handshake` (and uprobes on `SSL_free`, `SSL_set_accept_state` and
//! `SSL_set_connect_state`) of the host's shared libssl copy the plaintext each call moved into
//! a BPF ring buffer; raw tracepoints on the socket layer's `sock_send_length` and
//! `sock_recv_length` (Linux 6.3+; else on `sys_enter`) learn the TCP 4-tuple of the socket
//! the thread reads or writes during the call, one on `sched_process_exit` reports the
//! exit of a process that had connections. [`Probe::attach`] loads and attaches it,
//! [`Probe::poll`] hands out borrowed [`ProbeEvent`]s, dropping the [`Probe`] detaches
//! everything.
//!
//! Wired in by `httptop --tls-plaintext` (`crates/cli/src/plaintext.rs`) feeding the
//! engine's sans-IO `plain` module; the plan below says what of it is done.
//!
//! # Loader: aya, not libbpf-rs
//!
//! - **Pure-Rust user space.** aya parses the ELF, performs the BTF/CO-RE relocations and
//!   talks to the kernel with `bpf(2)`/`perf_event_open(2)` itself: no libbpf C build, no
//!   `libelf-dev`/`zlib` link dependency, nothing to vendor, and the binary stays one static
//!   Rust artefact (libbpf-rs needs libbpf-sys: the system libbpf — Debian 12's 1.1 is older
//!   than recent libbpf-rs wants — or a vendored C build with libelf and zlib).
//! - **No `unsafe` in this crate.** The workspace forbids `unsafe_code`; aya's map, program
//!   and ring-buffer APIs are safe. libbpf-rs's skeletons (the comfortable way to use it) are
//!   generated code full of `unsafe`.
//! - **Uprobes by symbol** are resolved by aya from the library's ELF symbols, attached
//!   through the uprobe PMU with `perf_event_open` + a BPF link: no tracefs needed (this host
//!   has none mounted) and nothing written to `uprobe_events`, so nothing can stay behind
//!   when the process dies.
//! - Cost: aya is pinned at 0.13.1, the last release whose MSRV (1.80) fits the workspace's
//!   1.85 (0.14 wants 1.87, 0.16 wants 1.98). aya's ELF loader implements less of libbpf's
//!   section/relocation zoo than libbpf; the C program sticks to plain `uprobe`, `uretprobe`,
//!   `raw_tracepoint/<name>` sections, `.maps` BTF map definitions and `.rodata` globals, which it
//!   handles.
//!
//! # Build
//!
//! `build.rs` compiles `bpf/tlsprobe.bpf.c` with **clang** (`-target bpf`, Debian `clang`)
//! using **libbpf-dev**'s headers (`bpf_helpers.h`, `bpf_tracing.h`, `bpf_core_read.h`) and
//! embeds the object. No `vmlinux.h` and no kernel BTF at build time: the two kernel fields
//! groups read (`struct sock_common`'s addresses and ports) are declared in the C source with
//! `preserve_access_index` and relocated by aya against the running kernel's BTF. Building
//! from source (not a checked-in object) keeps the reviewed C the one that runs. Consequence:
//! once the CLI depends on this crate, README's prerequisites gain `clang libbpf-dev` (the
//! build fails with a one-line message naming them when clang is missing); until then only
//! `--workspace` builds need them. `.ci/run` installs `clang`, `libbpf-dev` and `bpftool`
//! (the tests use bpftool to check nothing stays attached).
//!
//! # What the kernel side does and bounds
//!
//! - Entry probe: remembers (SSL*, buffer, `_ex` length pointer) in the thread's own BPF
//!   task storage (no hashing, no insert and delete per call, freed with the thread; a
//!   failed allocation is counted `active_full`).
//! - Return probe: bytes moved = the return value (or `*readbytes`/`*written` of the `_ex`
//!   forms when they return 1); reserves a ring-buffer record of the smallest size class
//!   holding `min(moved, 16 KiB)` bytes (128 B to 16 KiB, powers of two: a
//!   reservation's size must be a constant for the verifier; at most twice the data) and
//!   copies the plaintext with `bpf_probe_read_user` straight into it: one copy, no
//!   staging buffer. No room: counted `lost`. A call that moved more than 16 KiB
//!   (`SSL_write` of a whole body: python's `sendall`) goes out as consecutive 16 KiB records
//!   (a bounded loop, at most 16), up to `capture_bytes` (256 KiB by default and at most)
//!   per call; the rest of the call is the last record's uncarried tail: a counted gap.
//! - Per connection (pid + SSL*, LRU hash of `max_connections`): the 4-tuple and the bytes
//!   moved each way; every record carries its stream offset, so user space sees a lost or
//!   truncated record as a gap of a known size, never a silent hole. `SSL_free` drops the
//!   entry and sends a `Closed` record with the final offsets both ways (so a lost last
//!   record shows as a tail gap). `SSL_do_handshake` (which `SSL_connect`/`SSL_accept`
//!   call) creates the entry marked `from_start`; a connection first seen at a data call
//!   was open before the probe attached: its records say `from_start: false`.
//!   `SSL_set_accept_state`/`SSL_set_connect_state` mark a fresh connection the same way
//!   (entry probe only, once per connection): applications whose handshake runs inside
//!   their first read (`BIO_f_ssl` users) never call `SSL_do_handshake`.
//! - Where: libssl's internal `ssl_read_internal`/`ssl_write_internal`, which every
//!   `SSL_read*`/`SSL_write*` and `BIO_f_ssl` (`openssl s_server -WWW`) call goes through,
//!   found by [`internal`] (x86-64); their `_ex`-like signature is served by the `_ex`
//!   programs. Where they are not found, the four exported forms are probed instead.
//! - Process exit: a process killed or crashed never calls `SSL_free`. The programs note
//!   each process that gets a connection (LRU hash `PIDS`, 16384); a raw tracepoint on
//!   `sched_process_exit` (one hash lookup per exiting thread system-wide) sends one
//!   header-only `Exited` record when the last thread of such a process exits
//!   (`signal->live` is 0). Its kernel-side connection entries are left to the LRU (a
//!   reused pid with the same `SSL*` address would start as a mid-stream pickup).
//! - `--pid`: the uprobes are bound to that process (`perf_event_open` with its pid: the
//!   kernel plants breakpoints in its memory only, so no other process traps), and the
//!   programs filter on `TARGET_TGID` (a `.rodata` constant) too, for the tracepoints,
//!   which run for every process.
//! - The 4-tuple ([`SocketHook`]): raw tracepoints on `sock:sock_send_length` and
//!   `sock:sock_recv_length` (Linux 6.3+) run in the thread doing socket I/O, with the
//!   `struct sock` as argument: a thread inside an SSL call whose connection's tuple is not
//!   known yet (one task-storage lookup) reads the addresses with CO-RE (`SOCK_STREAM`
//!   checked through `sk_socket`). Where the kernel lacks them, a raw tracepoint on
//!   `sys_enter` filters on the socket system-call numbers and resolves fd → `struct file`
//!   → `struct socket` (checked by its back-pointer to the file) → `struct sock`; it makes
//!   every system call of every process take the kernel's slow syscall path, about 18 per
//!   HTTP/1 request between nginx and its client. fentry/kprobes on
//!   `tcp_sendmsg`/`tcp_recvmsg` would do too, but the kernels this is tested on (locked
//!   down, `CONFIG_KPROBES` and the function tracer off) refuse both: `bpftool feature
//!   probe` says program type `tracing` is not available and there is no kprobe PMU.
//!

//! # Known gaps (measured on Debian 12, OpenSSL 3.0)
//!
//! - Where the library's code does not show its internal read/write functions (see
//!   [`internal`]: another architecture or layout), the exported forms are probed instead
//!   and applications reading through a `BIO_f_ssl` chain (e.g. `openssl s_server -WWW`)
//!   are not seen. Debian 12's OpenSSL 3.0 on x86-64 shows them.
//! - Statically linked OpenSSL, BoringSSL, rustls, Go's crypto/tls, Java: not libssl.so.
//! - A call's plaintext beyond `capture_bytes` (256 KiB max) is a counted gap; OpenSSL moves
//!   at most 16 KiB per TLS record, but `SSL_write` of a larger buffer is one call.
//!
//! # Plan for the rest of issue 14
//!
//! 1. **Ordering per connection.** The ring is one multi-producer queue: records of one
//!    connection arrive in commit order, which for one SSL object (used by one thread at a
//!    time, as OpenSSL requires) is call order. The offsets carried per direction make this
//!    checkable: user space keeps `next_offset[dir]` per `ConnKey`; `offset > next` is a gap
//!    of `offset - next` bytes (a lost/truncated record), `offset < next` means the kernel
//!    LRU evicted the connection (restart the stream). Write and read of one connection are
//!    ordered by `ts_mono_ns` (request before response for HTTP/1); a record carries the
//!    other direction's offset too, which orders them exactly if timestamps tie.
//! 2. **A second stream source at the analyzer seam.** A `tls_plaintext` module in the engine
//!    (sans-IO, fed `PlaintextChunk`s and `on_tick`) owns a table of connections keyed by
//!    `ConnKey` (capped, LRU, idle-evicted, counted) and turns chunks into the existing
//!    `stream::StreamEvent::{Data, Gap, Fin}` per `stream::Dir` (client = the side that
//!    writes first... decided by content like today: HTTP/1 request line or the HTTP/2
//!    preface), feeding `analyzer::AppLayer` exactly as reassembly does. The flow key is the
//!    4-tuple when known (else a synthetic key from pid + SSL*), so exchanges carry the real
//!    addresses; `Exchange` gains `tls: bool` and `process: Option<{pid, comm}>` (JSON
//!    `"tls":true, "process":{..}`, a Processes table by comm). `Closed` → `Fin` both ways;
//!    a process that exits without `SSL_free` is evicted when idle → `no_response`.
//!    Mid-stream pickup: a connection whose records say `from_start: false` starts with a
//!    `Gap` (the HTTP/1 parser's resync path; HTTP/2 waits for a frame boundary it can
//!    trust or stays opaque) so no false request is made.
//! 3. **Dedup with the wire.** With `-i` too, the TCP flow of a 4-tuple the probe has
//!    reported is marked "plaintext-owned": the wire side keeps its TLS analyzer (handshake
//!    record, SNI, JA4) but emits no HTTP exchange; the plaintext side emits the exchanges
//!    under the same flow key. Keyed on the 4-tuple, both orders of arrival handled (the
//!    probe usually sees the first application data after the wire sees the handshake).
//! 4. **Caps and counters** (`counters!` lines): records, lost, truncated, read faults,
//!    tables full (from [`ProbeStats`]); user-side connections tracked/evicted, bytes
//!    buffered per stream, records per second over a cap (a token bucket in user space; a
//!    kernel-side per-CPU rate cap if the overhead test needs it). `--tls-plaintext`,
//!    `--libssl PATH` (repeatable), `--pid PID`; attach before the privilege drop (the
//!    ring fd keeps working after it; Landlock does not affect open BPF fds).
//! 5. **Handshake/shutdown.** `SSL_do_handshake` already marks connection starts and learns
//!    the tuple from the handshake's socket calls; next: a record for handshake timing, and
//!    `SSL_shutdown` for a clean close (today `SSL_free`).
//! 6. **Tests** per the issue: nginx-light TLS (HTTP/1.1 and HTTP/2), `openssl s_server`,
//!    curl and python3 clients, tuples compared with `ss`; overhead with h2load alternating.

#![warn(missing_docs)]

pub mod internal;
pub mod ldcache;
mod probe;
pub mod record;

pub use probe::{AttachError, Probe, ProbeOptions, ProbeStats, SocketHook, PROGRAM_NAMES};
pub use record::{ConnKey, DecodeError, Direction, PlaintextChunk, ProbeEvent, SocketPair};
