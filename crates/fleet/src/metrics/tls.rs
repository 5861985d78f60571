//! TLS metrics: exact counters since start-up, fed one `TlsSession` (one TLS connection,
//! at its end) at a time, with the same top-k labelling as hosts.
//!
//! Contract:
//! - Server names (`sni`) and cipher suites (`cipher`) have a series only for the keys
//!   chosen by [`TlsTotals::relabel`] (the statistics' current top rows, at most
//!   [`MAX_LABELLED`]); every other connection counts under `other`. Keys are those of
//!   the statistics: the SNI bytes, `(none)` for a ClientHello without SNI, `(no client
//!   hello)`; the cipher's IANA name, else `0x....`.
//! - Versions are fixed slots (SSL 3.0 .. TLS 1.3, `other`); failures are fixed slots
//!   (the alert descriptions `names::alert` knows, by sender; unknown ones `other`; and
//!   `no_server_hello`): bounded by construction.
//! - Certificate expiry: one gauge per (server name, subject) pair, at most
//!   [`MAX_LABELLED`], the earliest `not_after` kept when full (the others counted in
//!   `cert_series_dropped`). A pair's value is the earliest `not_after` seen for it.
//! - Counting a session allocates nothing once its keys exist (a cert pair's first
//!   sighting allocates its two labels).

use super::model::{label_value, Counts, LabelTable};
use super::{BUCKET_NS, MAX_LABELLED};
use httptop_engine::stats::{TlsFailure, NO_CLIENT_HELLO, NO_SNI};
use httptop_engine::tls::{names, TlsSession};

/// Version slots: their labels, `other` last.
pub const VERSIONS: [&str; 6] = [
    "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3", "other",
];

/// What one server name (or cipher suite) has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsCounts {
    pub connections: u64,
    /// Fatal alert, or ClientHello without ServerHello.
    pub failed: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
    /// Handshake latency (ClientHello to ServerHello) histogram, buckets of the request
    /// latency, not cumulative (the last slot `+Inf`).
    pub latency: [u64; BUCKET_NS.len() + 1],
    pub latency_sum_ns: u128,
}

impl Default for TlsCounts {
    fn default() -> Self {
        TlsCounts {
            connections: 0,
            failed: 0,
            bytes_to_server: 0,
            bytes_to_client: 0,
            latency: [0; BUCKET_NS.len() + 1],
            latency_sum_ns: 0,
        }
    }
}

impl Counts for TlsCounts {
    fn add(&mut self, x: &TlsCounts) {
        self.connections += x.connections;
        self.failed += x.failed;
        self.bytes_to_server += x.bytes_to_server;
        self.bytes_to_client += x.bytes_to_client;
        for (a, b) in self.latency.iter_mut().zip(x.latency) {
            *a += b;
        }
        self.latency_sum_ns += x.latency_sum_ns;
    }
}

/// One certificate expiry gauge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertGauge {
    pub sni: String,
    pub subject: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// TLS counters since start-up. See the module documentation.
#[derive(Clone, Debug)]
pub struct TlsTotals {
    pub(crate) by_sni: LabelTable<TlsCounts>,
    pub(crate) by_cipher: LabelTable<TlsCounts>,
    pub(crate) by_version: [u64; VERSIONS.len()],
    /// `[sender][description]`, sender 0 client, 1 server; unknown descriptions at 255
    /// when `names::alert` has no name for them.
    pub(crate) alerts: Box<[[u64; 256]; 2]>,
    pub(crate) no_server_hello: u64,
    pub(crate) certs: Vec<CertGauge>,
    pub(crate) cert_series_dropped: u64,
}

impl Default for TlsTotals {
    fn default() -> Self {
        TlsTotals {
            by_sni: LabelTable::default(),
            by_cipher: LabelTable::default(),
            by_version: [0; VERSIONS.len()],
            alerts: Box::new([[0; 256]; 2]),
            no_server_hello: 0,
            certs: Vec::new(),
            cert_series_dropped: 0,
        }
    }
}

/// Histogram bucket of a latency (the last one is `+Inf`).
fn latency_bucket(ns: u64) -> usize {
    BUCKET_NS.partition_point(|&le| le < ns)
}

impl TlsTotals {
    /// Counts one TLS connection.
    pub fn on_tls(&mut self, t: &TlsSession) {
        let failure = TlsFailure::of(t);
        let mut hit = TlsCounts {
            connections: 1,
            failed: u64::from(failure.is_some()),
            bytes_to_server: t.bytes_to_server,
            bytes_to_client: t.bytes_to_client,
            ..TlsCounts::default()
        };
        if let Some(ns) = t.handshake_ns {
            if let Some(c) = hit.latency.get_mut(latency_bucket(ns)) {
                *c += 1;
            }
            hit.latency_sum_ns = u128::from(ns);
        }
        let sni: &[u8] = match &t.sni {
            Some(s) => s.as_bytes(),
            None if t
                .flags
                .contains(httptop_engine::tls::TlsFlags::NO_CLIENT_HELLO) =>
            {
                NO_CLIENT_HELLO.as_bytes()
            }
            None => NO_SNI.as_bytes(),
        };
        self.by_sni.counts_mut(sni).add(&hit);
        if let Some(id) = t.cipher {
            let mut hex = *b"0x0000";
            let key = match names::cipher(id) {
                Some(n) => n.as_bytes(),
                None => {
                    const D: &[u8; 16] = b"0123456789abcdef";
                    for (i, b) in hex[2..].iter_mut().enumerate() {
                        *b = D[usize::from((id >> (12 - 4 * i)) & 0xf)];
                    }
                    &hex[..]
                }
            };
            let c = self.by_cipher.counts_mut(key);
            c.connections += 1;
            c.failed += hit.failed;
        }
        if let Some(v) = t.version {
            let i = match v {
                0x0300..=0x0304 => usize::from(v - 0x0300),
                _ => VERSIONS.len() - 1,
            };
            if let Some(c) = self.by_version.get_mut(i) {
                *c += 1;
            }
        }
        match failure {
            Some(TlsFailure::Alert {
                description,
                from_client,
            }) => {
                let d = if names::alert(description).is_some() {
                    description
                } else {
                    255
                };
                self.alerts[usize::from(!from_client)][usize::from(d)] += 1;
            }
            Some(TlsFailure::NoServerHello) => self.no_server_hello += 1,
            None => {}
        }
        if let Some(cert) = &t.cert {
            if let Some(na) = cert.not_after {
                let subject = cert.subject.as_ref().map_or(&[][..], |s| s.as_bytes());
                self.add_cert(sni, subject, na);
            }
        }
    }

    fn add_cert(&mut self, sni: &[u8], subject: &[u8], not_after: i64) {
        let (sni, subject) = (label_value(sni), label_value(subject));
        if let Some(c) = self
            .certs
            .iter_mut()
            .find(|c| c.sni == sni && c.subject == subject)
        {
            c.not_after = c.not_after.min(not_after);
            return;
        }
        let g = CertGauge {
            sni,
            subject,
            not_after,
        };
        if self.certs.len() < MAX_LABELLED {
            self.certs.push(g);
            return;
        }
        self.cert_series_dropped += 1;
        if let Some(c) = self
            .certs
            .iter_mut()
            .max_by_key(|c| c.not_after)
            .filter(|c| c.not_after > not_after)
        {
            *c = g;
        }
    }

    /// New top-k label sets: server-name keys and cipher names (see
    /// [`LabelTable::relabel`]).
    pub fn relabel<'a>(
        &mut self,
        names: impl IntoIterator<Item = &'a [u8]>,
        ciphers: impl IntoIterator<Item = &'a [u8]>,
        k: usize,
    ) {
        self.by_sni.relabel(names, k);
        self.by_cipher.relabel(ciphers, k);
    }

    pub fn by_sni(&self) -> &LabelTable<TlsCounts> {
        &self.by_sni
    }

    pub fn by_cipher(&self) -> &LabelTable<TlsCounts> {
        &self.by_cipher
    }

    /// Connections counted.
    pub fn connections(&self) -> u64 {
        self.by_sni.sum().connections
    }

    /// `(reason, sender, count)` of every failure kind seen.
    pub fn failures(&self) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        self.alerts
            .iter()
            .enumerate()
            .flat_map(|(s, row)| {
                let sender = if s == 0 { "client" } else { "server" };
                row.iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(move |(d, &n)| {
                        let reason = names::alert(d as u8)
                            .filter(|_| d != 255)
                            .unwrap_or("other");
                        (reason, sender, n)
                    })
            })
            .chain((self.no_server_hello > 0).then_some((
                "no_server_hello",
                "none",
                self.no_server_hello,
            )))
    }
}
