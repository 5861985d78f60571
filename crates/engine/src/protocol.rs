//! The protocols the engine tells apart on a connection, and what it counts per protocol
//! (the **Protocols** table of the report, the dashboard and Prometheus).
//!
//! Contract: a connection is counted once, under the protocol its analyzer was finally
//! decided as (`Unknown` for a connection whose probe never decided, or that closed
//! before it could). Bytes are TCP payload bytes of the reassembled streams (each byte
//! once: retransmissions are not counted, bytes lost in a gap are not either), by
//! direction: `to_server` is what the client sent (the side that sent requests, or the
//! side that opened the connection when no role is known). Requests are the requests the
//! protocol's analyzer reported (the same events alerting and statistics count).
//!
//! Adding a protocol is one variant here (with its name, as shown and exported) and one
//! analyzer; presenters iterate [`Protocol::ALL`].

/// A protocol as detected by content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// HTTP/1.0 and HTTP/1.1 (and HTTP/0.9 requests).
    Http1,
    /// HTTP/2 over cleartext TCP (prior knowledge, or upgraded from HTTP/1.1 by `h2c`).
    Http2,
    /// gRPC calls: a **part of** `http/2`, not beside it. Its row counts the HTTP/2
    /// connections that carried at least one gRPC call, the calls (also counted in
    /// `http/2`'s requests), and the wire bytes of their streams (frame headers
    /// included; also in `http/2`'s bytes). Totals over rows exclude it.
    Grpc,
    /// WebSocket after an HTTP/1.1 `101` (the connection also counts under `http/1`,
    /// its bytes after the upgrade under `websocket`), and over HTTP/2 (RFC 8441
    /// extended CONNECT): each such session counts as one `websocket` connection, at
    /// its 2xx, while its bytes (DATA frames of its stream) stay under `http/2`'s (the
    /// TCP connection is HTTP/2's, and several sessions may share it).
    WebSocket,
    /// TLS: a handshake record starting the client's stream (any port), or inside a
    /// CONNECT tunnel (the connection then counts under `http/1` too).
    Tls,
    /// Payload no analyzer claimed (opaque): only connections and bytes are counted.
    Unknown,
}

impl Protocol {
    /// Number of variants.
    pub const COUNT: usize = 6;
    /// Every protocol, in the order presenters list them.
    pub const ALL: [Protocol; Protocol::COUNT] = [
        Protocol::Http1,
        Protocol::Http2,
        Protocol::Grpc,
        Protocol::WebSocket,
        Protocol::Tls,
        Protocol::Unknown,
    ];

    /// The name shown in reports and exported as the `protocol` label.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1",
            Protocol::Http2 => "http/2",
            Protocol::Grpc => "grpc",
            Protocol::WebSocket => "websocket",
            Protocol::Tls => "tls",
            Protocol::Unknown => "unknown",
        }
    }

    /// A row that is a part of another (its counts are included in that row's).
    pub const fn part_of(self) -> Option<Protocol> {
        match self {
            Protocol::Grpc => Some(Protocol::Http2),
            _ => None,
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Counts of one protocol, monotonic over the engine's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProtocolCounts {
    /// Connections decided as this protocol.
    pub connections: u64,
    /// Requests its analyzer reported.
    pub requests: u64,
    /// Payload bytes client to server.
    pub bytes_to_server: u64,
    /// Payload bytes server to client.
    pub bytes_to_client: u64,
}

impl ProtocolCounts {
    /// `n` payload bytes, sent by the client (`to_server`) or by the server.
    pub fn add_bytes(&mut self, to_server: bool, n: u64) {
        let b = if to_server {
            &mut self.bytes_to_server
        } else {
            &mut self.bytes_to_client
        };
        *b = b.saturating_add(n);
    }
}

/// [`ProtocolCounts`] for every [`Protocol`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProtocolTable([ProtocolCounts; Protocol::COUNT]);

impl ProtocolTable {
    pub fn get(&self, p: Protocol) -> &ProtocolCounts {
        &self.0[p.index()]
    }

    pub fn get_mut(&mut self, p: Protocol) -> &mut ProtocolCounts {
        &mut self.0[p.index()]
    }

    /// Requests of every protocol (rows that are a part of another, like grpc, not
    /// counted twice).
    pub fn requests(&self) -> u64 {
        self.iter()
            .filter(|(p, _)| p.part_of().is_none())
            .map(|(_, c)| c.requests)
            .sum()
    }

    /// Every protocol with its counts, in [`Protocol::ALL`] order (rows with nothing
    /// counted included).
    pub fn iter(&self) -> impl Iterator<Item = (Protocol, &ProtocolCounts)> {
        Protocol::ALL.into_iter().map(move |p| (p, self.get(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_variant_at_its_index() {
        for (i, p) in Protocol::ALL.into_iter().enumerate() {
            assert_eq!(p.index(), i);
        }
        let names: std::collections::HashSet<_> = Protocol::ALL.map(Protocol::name).into();
        assert_eq!(names.len(), Protocol::COUNT);
    }
}
