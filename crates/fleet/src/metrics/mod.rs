//! The metrics model and its Prometheus text exposition (format 0.0.4).
//!
//! Contract:
//! - [`Totals`] ([`model`]) holds exact, monotonic counters since start-up, fed one
//!   `Exchange` at a time by the capture thread (a few integer additions into fixed arrays
//!   and two small hash lookups; no allocation, no lock, no clock).
//! - Host and section labels exist only for the keys chosen by [`Totals::relabel`] (the
//!   current top-k, at most [`MAX_LABELLED`]); every other exchange counts under the
//!   label value `other`. A key's series starts at 0 when it enters the top-k and
//!   disappears when it leaves (Prometheus sees a new series, or a stale one); `other` only
//!   counts exchanges that had no series of their own at the time, so every series is
//!   monotonic and `sum(rate(...))` over a metric's series is the rate of all exchanges.
//! - [`Health`] is the rest of the monitor (every registered counter, the Protocols
//!   table, alerting), copied once per publication. [`render`] ([`exposition`]) writes
//!   both as text; it never fails and escapes every label value taken from the wire. The
//!   counters are not named here: one family per registered counter (or per shared
//!   family, told apart by a label), with the registry's help text.
//!
//! Names follow Prometheus conventions: `httptop_` prefix, base units (seconds, bytes),
//! `_total` for counters.

pub mod exposition;
pub mod model;
pub mod tls;

pub use exposition::{render, series};
pub use model::{
    label_value, AlertGauges, Health, KeyCounts, LabelTable, NotifierCounts, Series, Totals, STATES,
};
pub use tls::{CertGauge, TlsCounts, TlsTotals};

/// Most labelled series per labelled metric family (hosts, sections): `--top` is capped
/// here.
pub const MAX_LABELLED: usize = 50;

/// Label values longer than this (in characters, after escaping) are cut and marked `…`.
pub const MAX_LABEL_CHARS: usize = 128;

/// The label value of everything outside the top-k.
pub const OTHER: &str = "other";

/// Methods with a label of their own; every other method counts as `other`.
pub const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// Upper bounds of the latency histogram's buckets, in seconds (`+Inf` follows).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const BUCKET_NS: [u64; 14] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];
