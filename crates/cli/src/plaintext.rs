//! `--tls-plaintext`: HTTPS read in plaintext at OpenSSL's boundary (issue 14), a second
//! source beside packets feeding the same [`Monitor`].
//!
//! The eBPF probe (crate `httptop-tlsprobe`: uprobes on the host's shared libssl, records
//! in a BPF ring buffer) is attached here, before the privilege drop: its ring buffer and
//! links are file descriptors, which keep working afterwards (Landlock does not restrict
//! them); dropping [`PlainSource`] (at exit, or on any error path) closes them, which
//! detaches every program: nothing stays attached after httptop exits.
//!
//! Each record becomes a [`Input`] for [`Monitor::on_plain`]; its time is wall
//! time (the probe's CLOCK_MONOTONIC time plus the offset measured at attach).
//!
//! Ordering with packets (`-i` too): the live loop polls the ring after every read
//! timeout and at least every [`POLL_EVERY`] while packets flow, handing over what
//! waits. Plaintext records and packets therefore interleave at that granularity, not
//! record by record; each source is in order by itself, the two tables (TCP flows,
//! plaintext connections) never share a connection's streams, and the engine treats a
//! time older than its latest as the latest (statistics and alerting count in the second
//! they see). A record of one connection is never reordered.
//!
//! The probe's own counters (kernel side: records, lost, truncated, ...) are read at the
//! same instants as the capture's kernel counters and shown among the capture counters.

use crate::runtime::Failure;
use httptop_engine::plain::{Chunk, ConnId, Input, Side};
use httptop_engine::{Monitor, Observer};
use httptop_tlsprobe::{Direction, Probe, ProbeEvent, ProbeOptions, ProbeStats};
use httptop_wire::counter::Sample;
use httptop_wire::Timestamp;
use std::path::PathBuf;
use std::time::Duration;

/// How often the live capture loop looks at the ring buffer while packets flow.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Records handed over per poll at most (the loop comes back for the rest).
const MAX_PER_POLL: usize = 4096;

httptop_wire::counters! {
    /// The TLS plaintext probe's kernel-side counters (`--tls-plaintext`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    #[non_exhaustive]
    pub struct ProbeCounters {
        [Capture]
        /// TLS plaintext records the probe wrote to its ring buffer (one per SSL read/write call, or per 16 KiB of a larger one, plus one per SSL_free).
        tls_probe_records: Events,
        /// TLS plaintext records lost because the ring buffer was full (each a gap in its stream).
        tls_probe_lost: Events anomaly,
        /// TLS plaintext records carrying fewer bytes than their call moved (the rest is a gap).
        tls_probe_truncated: Events,
        /// SSL calls whose buffer the probe could not read (a gap).
        tls_probe_read_faults: Events anomaly,
        /// SSL calls not seen because the probe could not allocate its per-thread call record.
        tls_probe_calls_missed: Events anomaly,
        /// TLS connections the probe's kernel-side table could not take.
        tls_probe_conn_full: Events anomaly,
        /// TCP 4-tuples the probe learned from the socket calls made during SSL calls.
        tls_probe_tuples: Events,
        /// TLS plaintext records user space could not decode (a layout mismatch: a bug).
        tls_probe_malformed: Events anomaly,
        /// libssl files probed at their exported SSL_read/SSL_write because their internal read/write functions were not found (their BIO_f_ssl users, such as openssl s_server -WWW, are not seen; said at start).
        tls_probe_not_internal: Events anomaly,
    }
}

impl From<ProbeStats> for ProbeCounters {
    fn from(s: ProbeStats) -> Self {
        ProbeCounters {
            tls_probe_records: s.events,
            tls_probe_lost: s.lost,
            tls_probe_truncated: s.truncated,
            tls_probe_read_faults: s.read_faults,
            tls_probe_calls_missed: s.active_full,
            tls_probe_conn_full: s.conn_full,
            tls_probe_tuples: s.tuples,
            tls_probe_malformed: s.malformed,
            tls_probe_not_internal: s.not_internal,
        }
    }
}

/// The attached probe.
pub struct PlainSource {
    probe: Probe,
}

impl PlainSource {
    /// Attaches the probe (needs root); an impossible attach is a one-line usage error
    /// (exit 2) saying why and how to fix it.
    pub fn attach(libssl: &[PathBuf], pid: Option<u32>) -> Result<PlainSource, Failure> {
        let opts = ProbeOptions {
            libssl: libssl.to_vec(),
            pid,
            ..ProbeOptions::default()
        };
        let probe = Probe::attach(&opts).map_err(|e| Failure::Usage(e.to_string()))?;
        Ok(PlainSource { probe })
    }

    /// A line for the start-up note.
    pub fn describe(&self) -> String {
        let libs: Vec<String> = self
            .probe
            .libraries()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut note = format!("TLS plaintext from {}", libs.join(", "));
        if let Some(hook) = self.probe.socket_hook() {
            note.push_str(&format!(" (addresses from {hook})"));
        }
        // Said once, here: the exported forms see every call but those of BIO_f_ssl users.
        for (lib, internal) in self.probe.libraries().iter().zip(self.probe.internal()) {
            if !internal {
                note.push_str(&format!(
                    "; {}: internal read/write functions not found, BIO_f_ssl users not seen",
                    lib.display()
                ));
            }
        }
        note
    }

    /// Hands every waiting record to the monitor (at most [`MAX_PER_POLL`]); when none
    /// waits, first waits up to `timeout`. Returns how many were handed.
    pub fn poll(
        &mut self,
        timeout: Duration,
        monitor: &mut Monitor,
        obs: &mut dyn Observer,
    ) -> std::io::Result<usize> {
        let offset = self.probe.wall_offset_ns();
        self.probe.poll(timeout, MAX_PER_POLL, |ev| {
            monitor.on_plain(&input(&ev, offset), obs);
        })
    }

    /// The probe's counters as samples; `Err` when the kernel refused to read them.
    pub fn samples(&self) -> std::io::Result<impl Iterator<Item = Sample>> {
        let c = ProbeCounters::from(self.probe.stats()?);
        Ok(c.samples().collect::<Vec<_>>().into_iter())
    }
}

/// A probe record as the engine's input (time: wall time).
pub fn input<'a>(ev: &ProbeEvent<'a>, wall_offset_ns: i64) -> Input<'a> {
    match *ev {
        ProbeEvent::Data(c) => Input::Data(Chunk {
            ts: Timestamp(c.ts_wall_ns),
            conn: ConnId {
                pid: c.conn.pid,
                ssl: c.conn.ssl,
            },
            comm: c.comm,
            sockets: c.sockets.map(|s| (s.local, s.remote)),
            side: match c.dir {
                Direction::Write => Side::Write,
                Direction::Read => Side::Read,
            },
            offset: c.offset,
            total: u64::from(c.total),
            data: c.data,
            from_start: c.from_start,
        }),
        ProbeEvent::Closed {
            conn,
            ts_mono_ns,
            written,
            read,
            ..
        } => Input::Closed {
            ts: Timestamp(ts_mono_ns.saturating_add_signed(wall_offset_ns)),
            conn: ConnId {
                pid: conn.pid,
                ssl: conn.ssl,
            },
            written,
            read,
        },
        ProbeEvent::Exited { pid, ts_mono_ns } => Input::Exited {
            ts: Timestamp(ts_mono_ns.saturating_add_signed(wall_offset_ns)),
            pid,
        },
    }
}
