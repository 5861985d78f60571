//! The ring-buffer record written by `bpf/tlsprobe.bpf.c` (`struct event`) and its decoding.
//!
//! [`decode`] is pure and total: any bytes give an event or a [`DecodeError`], never a
//! panic, and the event borrows the record (no copy of the plaintext). The layout is the C
//! struct's, host byte order:
//!
//! ```text
//!   0 ts_ns u64 (CLOCK_MONOTONIC)   8 ssl u64   16 offset u64
//!  24 tgid u32  28 tid u32  32 len u32  36 total u32  40 kind u32  44 flags u32
//!  48 local addr [16]  64 remote addr [16]  80 local port u16  82 remote port u16
//!  84 family u16  86 pad   88 comm [16]   104 other_offset u64   112 data [len]
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Bytes before the plaintext in a record.
pub const HEADER_LEN: usize = 112;
/// The most plaintext bytes one record carries; a larger call comes as several records.
pub const MAX_RECORD: u32 = 16384;
/// The most plaintext bytes captured of one call (16 records; the rest is a gap).
pub const MAX_CAPTURE: u32 = MAX_RECORD * 16;

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const F_FROM_START: u32 = 1;

/// Which way the plaintext went, seen from the process holding the SSL object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `SSL_write`/`SSL_write_ex`: the process sends (local → remote).
    Write,
    /// `SSL_read`/`SSL_read_ex`: the process receives (remote → local).
    Read,
}

/// One TLS connection as the probe knows it: a process and its `SSL*`. (An `SSL*` can be
/// reused after `SSL_free`; [`ProbeEvent::Closed`] ends the previous one.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// The process (thread group) id.
    pub pid: u32,
    /// The `SSL*` in that process.
    pub ssl: u64,
}

/// The TCP connection under a TLS connection, from the kernel socket the thread used
/// during the SSL call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketPair {
    /// This process's end.
    pub local: SocketAddr,
    /// The peer.
    pub remote: SocketAddr,
}

/// Plaintext one SSL call moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaintextChunk<'a> {
    /// Which connection.
    pub conn: ConnKey,
    /// The thread that made the call.
    pub tid: u32,
    /// The thread's command name (at most 15 bytes, as the kernel keeps it; not UTF-8 checked).
    pub comm: &'a [u8],
    /// The TCP 4-tuple, when the call touched a TCP socket (or an earlier call of the
    /// connection did); `None` for a connection not over TCP or not yet seen on a socket.
    pub sockets: Option<SocketPair>,
    /// Which way.
    pub dir: Direction,
    /// When the call returned, CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub ts_mono_ns: u64,
    /// The same instant as nanoseconds since the Unix epoch (monotonic + the offset measured
    /// at attach; drifts with clock steps after that).
    pub ts_wall_ns: u64,
    /// Bytes this connection moved in this direction before this call (the stream offset of
    /// `data[0]`; a jump over the bytes expected is a gap: a record lost or truncated).
    pub offset: u64,
    /// The probe saw this connection's handshake, so `offset` counts from its first byte.
    /// `false`: the connection was open before the probe attached (picked up mid-stream;
    /// offsets count from the first call seen) — an HTTP parser must resynchronise.
    pub from_start: bool,
    /// Bytes of the call this record stands for (≥ `data.len()`): the call's bytes from
    /// `offset` on, or 16 KiB of them when the call was split into several records.
    pub total: u32,
    /// The first bytes of those (all of them unless the capture per call was exhausted).
    pub data: &'a [u8],
}

impl PlaintextChunk<'_> {
    /// The call moved more bytes than the record carries (the rest is a gap).
    pub fn truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.total)
    }

    /// `comm` as text, lossy.
    pub fn comm_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.comm)
    }
}

/// One record from the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeEvent<'a> {
    /// Plaintext of one `SSL_read`/`SSL_write` call.
    Data(PlaintextChunk<'a>),
    /// `SSL_free` of a connection that carried data: the connection ended.
    Closed {
        /// Which connection.
        conn: ConnKey,
        /// Its 4-tuple, if known.
        sockets: Option<SocketPair>,
        /// CLOCK_MONOTONIC ns.
        ts_mono_ns: u64,
        /// Bytes the process wrote on it in all (the end offset of the write stream: a
        /// last record lost before it shows here as a gap at the tail).
        written: u64,
        /// Bytes the process read on it in all.
        read: u64,
        /// As [`PlaintextChunk::from_start`].
        from_start: bool,
    },
    /// A process that had connections exited (its last thread): its connections ended
    /// without `SSL_free` (killed, crashed, or exited without cleaning up).
    Exited {
        /// The process (thread group) id.
        pid: u32,
        /// CLOCK_MONOTONIC ns.
        ts_mono_ns: u64,
    },
}

/// A record that is not one the BPF program writes (a layout mismatch; counted, skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than the header.
    #[error("record of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    Short(usize),
    /// `len` says more bytes than the record has, or more than `total`.
    #[error("record length fields are inconsistent")]
    BadLength,
    /// Unknown `kind`.
    #[error("record kind {0} is unknown")]
    BadKind(u32),
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn addr(family: u16, raw: &[u8]) -> Option<IpAddr> {
    let mut a = [0u8; 16];
    a.copy_from_slice(&raw[..16]);
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

fn sockets(h: &[u8]) -> Option<SocketPair> {
    let family = u16_at(h, 84);
    let local = addr(family, &h[48..64])?;
    let remote = addr(family, &h[64..80])?;
    Some(SocketPair {
        local: SocketAddr::new(local, u16_at(h, 80)),
        remote: SocketAddr::new(remote, u16_at(h, 82)),
    })
}

/// Decodes one ring-buffer record; `wall_offset_ns` is added to the monotonic time to give
/// `ts_wall_ns` (see [`crate::Probe::wall_offset_ns`]).
pub fn decode(rec: &[u8], wall_offset_ns: i64) -> Result<ProbeEvent<'_>, DecodeError> {
    if rec.len() < HEADER_LEN {
        return Err(DecodeError::Short(rec.len()));
    }
    // All fixed offsets below are < HEADER_LEN, checked once here.
    let h = &rec[..HEADER_LEN];
    let ts_mono_ns = u64_at(h, 0);
    let conn = ConnKey {
        pid: u32_at(h, 24),
        ssl: u64_at(h, 8),
    };
    let len = u32_at(h, 32);
    let total = u32_at(h, 36);
    let kind = u32_at(h, 40);
    let from_start = u32_at(h, 44) & F_FROM_START != 0;
    match kind {
        0 | 1 => {
            let data = rec
                .get(HEADER_LEN..HEADER_LEN + len as usize)
                .ok_or(DecodeError::BadLength)?;
            if len > total {
                return Err(DecodeError::BadLength);
            }
            let comm_raw = &h[88..104];
            let comm = &comm_raw[..comm_raw.iter().position(|&c| c == 0).unwrap_or(16)];
            Ok(ProbeEvent::Data(PlaintextChunk {
                conn,
                tid: u32_at(h, 28),
                comm,
                sockets: sockets(h),
                dir: if kind == 0 {
                    Direction::Write
                } else {
                    Direction::Read
                },
                ts_mono_ns,
                ts_wall_ns: ts_mono_ns.saturating_add_signed(wall_offset_ns),
                offset: u64_at(h, 16),
                from_start,
                total,
                data,
            }))
        }
        2 => Ok(ProbeEvent::Closed {
            conn,
            sockets: sockets(h),
            ts_mono_ns,
            written: u64_at(h, 16),
            read: u64_at(h, 104),
            from_start,
        }),
        4 => Ok(ProbeEvent::Exited {
            pid: conn.pid,
            ts_mono_ns,
        }),
        k => Err(DecodeError::BadKind(k)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record as the BPF program lays it out.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        kind: u32,
        pid: u32,
        ssl: u64,
        offset: u64,
        total: u32,
        v4: Option<([u8; 4], u16, [u8; 4], u16)>,
        comm: &[u8],
        data: &[u8],
    ) -> Vec<u8> {
        let mut r = vec![0u8; HEADER_LEN];
        r[0..8].copy_from_slice(&1_000u64.to_ne_bytes());
        r[8..16].copy_from_slice(&ssl.to_ne_bytes());
        r[16..24].copy_from_slice(&offset.to_ne_bytes());
        r[24..28].copy_from_slice(&pid.to_ne_bytes());
        r[28..32].copy_from_slice(&(pid + 1).to_ne_bytes());
        r[32..36].copy_from_slice(&(data.len() as u32).to_ne_bytes());
        r[36..40].copy_from_slice(&total.to_ne_bytes());
        r[40..44].copy_from_slice(&kind.to_ne_bytes());
        r[44..48].copy_from_slice(&F_FROM_START.to_ne_bytes());
        r[104..112].copy_from_slice(&99u64.to_ne_bytes());
        if let Some((l, lp, rm, rp)) = v4 {
            r[48..52].copy_from_slice(&l);
            r[64..68].copy_from_slice(&rm);
            r[80..82].copy_from_slice(&lp.to_ne_bytes());
            r[82..84].copy_from_slice(&rp.to_ne_bytes());
            r[84..86].copy_from_slice(&AF_INET.to_ne_bytes());
        }
        r[88..88 + comm.len()].copy_from_slice(comm);
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn decodes_a_write_with_its_tuple() {
        let r = record(
            0,
            42,
            0xdead_beef,
            7,
            20,
            Some(([127, 0, 0, 1], 40000, [127, 0, 0, 2], 443)),
            b"curl",
            b"GET / HTTP/1.1\r\n",
        );
        let ProbeEvent::Data(c) = decode(&r, 5).expect("valid") else {
            panic!("data expected")
        };
        assert_eq!(
            c.conn,
            ConnKey {
                pid: 42,
                ssl: 0xdead_beef
            }
        );
        assert_eq!(c.tid, 43);
        assert_eq!(c.comm, b"curl");
        assert_eq!(c.dir, Direction::Write);
        assert_eq!(c.ts_wall_ns, 1_005);
        assert_eq!(c.offset, 7);
        assert!(c.from_start);
        assert_eq!(c.data, b"GET / HTTP/1.1\r\n");
        assert!(c.truncated(), "total 20 > 16 bytes carried");
        let s = c.sockets.expect("tuple");
        assert_eq!(s.local, "127.0.0.1:40000".parse().expect("addr"));
        assert_eq!(s.remote, "127.0.0.2:443".parse().expect("addr"));
    }

    #[test]
    fn closed_and_unknown_tuple() {
        let r = record(2, 1, 2, 0, 0, None, b"nginx", b"");
        assert_eq!(
            decode(&r, 0),
            Ok(ProbeEvent::Closed {
                conn: ConnKey { pid: 1, ssl: 2 },
                sockets: None,
                ts_mono_ns: 1_000,
                written: 0,
                read: 99,
                from_start: true,
            })
        );
        let r = record(4, 77, 0, 0, 0, None, b"python3", b"");
        assert_eq!(
            decode(&r, 0),
            Ok(ProbeEvent::Exited {
                pid: 77,
                ts_mono_ns: 1_000
            })
        );
        let r = record(1, 1, 2, 0, 3, None, b"0123456789abcdef", b"abc");
        let ProbeEvent::Data(c) = decode(&r, 0).expect("valid") else {
            panic!("data expected")
        };
        assert_eq!(c.comm.len(), 16, "a comm filling the field has no NUL");
        assert_eq!(c.dir, Direction::Read);
        assert!(!c.truncated());
        assert_eq!(c.sockets, None);
    }

    #[test]
    fn hostile_records_are_errors_not_panics() {
        let good = record(0, 1, 2, 0, 5, None, b"x", b"hello");
        for cut in 0..good.len() {
            assert!(decode(&good[..cut], 0).is_err(), "cut at {cut}");
        }
        let mut long_len = good.clone();
        long_len[32..36].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(decode(&long_len, 0), Err(DecodeError::BadLength));
        let mut more_than_total = good.clone();
        more_than_total[36..40].copy_from_slice(&1u32.to_ne_bytes());
        assert_eq!(decode(&more_than_total, 0), Err(DecodeError::BadLength));
        let mut bad_kind = good.clone();
        bad_kind[40..44].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(decode(&bad_kind, 0), Err(DecodeError::BadKind(9)));
        let mut extreme_ts = good;
        extreme_ts[0..8].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert!(decode(&extreme_ts, i64::MAX).is_ok());
        assert!(decode(&extreme_ts, i64::MIN).is_ok());
    }
}
