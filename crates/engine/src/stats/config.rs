//! [`StatsConfig`]: the caps of the statistics engine, their ranges, and the worst-case
//! heap bytes they allow (the module documentation's budget table).

use super::grpc::GrpcData;
use super::metrics::{
    ByteKey, ClientData, Counts, FixedEntry, HostData, LatData, StatusTable, KNOWN_METHODS,
};
use super::ring::{K, SEC};
use super::table::{alloc_size, Table};
use std::net::IpAddr;

/// Smallest retention period accepted (shorter values are raised to it).
pub const MIN_RETENTION_NS: u64 = 2 * 3600 * SEC;
/// Largest retention period accepted (longer values are lowered to it).
pub const MAX_RETENTION_NS: u64 = 31 * 24 * 3600 * SEC;
/// Retention periods are rounded down to a multiple of this (so that a retention bucket
/// is a whole number of minutes).
pub const RETENTION_STEP_NS: u64 = K as u64 * 60 * SEC;
/// Largest `max_keys` accepted.
pub const MAX_KEYS_LIMIT: usize = 1 << 24;

/// Which address the clients table counts a request under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientsBy {
    /// The address that sent the request on the wire (behind a balancer: the balancer).
    #[default]
    Wire,
    /// `Exchange::original_client` (PROXY header, else `X-Forwarded-For` /
    /// `Forwarded`), the wire address when there is none.
    Forwarded,
}

/// Settings of the statistics engine. Every field that bounds memory is a cap with the
/// policy and counter given in the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsConfig {
    /// Rows per top table in a [`Report`](super::Report) (default 10).
    pub top: usize,
    /// Distinct keys kept per table: sections, hosts/servers, User-Agents, clients
    /// (default 10,000; 1 ..= 2^24).
    pub max_keys: usize,
    /// Distinct methods kept besides the nine common ones, which have fixed slots
    /// (default 64; at most `max_keys`).
    pub max_method_keys: usize,
    /// Servers with latency histograms (default 64, the busiest; at most `max_keys`): each holds 12 histograms of 1,203 bins (about 58 KiB) for the 1 % error bound.
    pub max_latency_keys: usize,
    /// gRPC `(service, method)` rows (default 32; at most `max_keys`): each has a latency
    /// histogram like a server's (about 60 KiB with its status codes).
    pub max_grpc_keys: usize,
    /// Bytes kept of a key; longer keys are cut and marked truncated (default 1024, the
    /// engine's default `max_string_len`; at least 16).
    pub max_key_len: usize,
    /// The longest window (default 24 h; 2 h ..= 31 days, rounded down to 12 minutes).
    pub retention_ns: u64,
    /// The address a request counts under in the clients table (default: the wire's).
    pub clients_by: ClientsBy,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            top: 10,
            max_keys: 10_000,
            max_method_keys: 64,
            max_latency_keys: 64,
            max_grpc_keys: 32,
            max_key_len: 1024,
            retention_ns: 24 * 3600 * SEC,
            clients_by: ClientsBy::Wire,
        }
    }
}

impl StatsConfig {
    /// The configuration actually used: every field brought into its documented range.
    pub fn validated(&self) -> StatsConfig {
        let max_keys = self.max_keys.clamp(1, MAX_KEYS_LIMIT);
        let retention = self.retention_ns.clamp(MIN_RETENTION_NS, MAX_RETENTION_NS);
        StatsConfig {
            top: self.top,
            max_keys,
            max_method_keys: self.max_method_keys.clamp(1, max_keys),
            max_latency_keys: self.max_latency_keys.clamp(1, max_keys),
            max_grpc_keys: self.max_grpc_keys.clamp(1, max_keys),
            max_key_len: self.max_key_len.max(16),
            retention_ns: retention - retention % RETENTION_STEP_NS,
            clients_by: self.clients_by,
        }
    }

    /// Heap bytes of a [`Stats`](super::Stats) with this configuration when every table is
    /// full of keys of `max_key_len` bytes: the bound the module documentation's budget
    /// table lists.
    pub fn worst_case_bytes(&self) -> usize {
        let c = self.validated();
        let key = alloc_size(c.max_key_len);
        let per_min = (c.retention_ns / (60 * SEC)) as usize;
        Table::<ByteKey, Counts>::worst_case_bytes(c.max_keys, key) * 2
            + Table::<ByteKey, HostData>::worst_case_bytes(c.max_keys, key)
            + Table::<IpAddr, ClientData>::worst_case_bytes(c.max_keys, 0)
            + Table::<ByteKey, Counts>::worst_case_bytes(c.max_method_keys, key)
            + Table::<ByteKey, LatData>::worst_case_bytes(c.max_latency_keys, key)
            + Table::<ByteKey, GrpcData>::worst_case_bytes(c.max_grpc_keys, key)
            + super::tls::TlsTables::worst_case_bytes(c.max_keys, c.max_latency_keys, key)
            + super::procs::ProcTable::worst_case_bytes(c.max_keys)
            + StatusTable::worst_case_bytes()
            + KNOWN_METHODS.len() * std::mem::size_of::<Option<FixedEntry>>()
            + (3600 + per_min) * 8
            + 2 * c.max_key_len
            + 64
    }
}
