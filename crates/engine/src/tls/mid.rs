//! Mid-stream pickup: recognising TLS by its record headers when the capture missed the
//! handshake (a sensor restarted on a busy proxy sees only application data records).
//!
//! [`MidWalk`] runs beside HTTP/1's speculative probe while a connection is undecided,
//! started by the analyzer for a side whose **first** data byte is a record content type
//! (20-23). Per side, a walker reads the 5-byte record headers from that byte on and
//! skips their bodies by their declared length; every header must be well-formed: type
//! 20-23, version 3.1-3.4, length 1..=2^14 + 2048. TLS is decided once [`K`] well-formed
//! headers were read, both sides together, with no side broken; a malformed header or a
//! gap ends the attempt (HTTP/1's verdict then stands). The walk is bounded by itself:
//! at most `K - 1` record bodies (2 x 18 KiB) are skipped before the next header decides. Random bytes pass one header check with a probability under 10^-6:
//! three in a row are beyond reach; HTTP/1 text fails the first byte.
//!
//! Nothing is buffered (a header is gathered in a 5-byte array), so nothing is
//! replayed: the TLS analyzer is handed each side's framing state
//! ([`TlsConn::mid`](super::TlsConn::mid)) and counts records from there, both sides
//! encrypted (a walked side) or stopped (a side never walked).

use crate::stream::{Dir, StreamEvent};
use httptop_wire::Timestamp;

/// Well-formed record headers, both sides together, that decide TLS.
pub const K: u32 = 3;

/// One side's walker: its header being gathered and the body bytes left to skip.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Walker {
    pub hdr: [u8; 5],
    pub hn: u8,
    pub ty: u8,
    pub left: u16,
    /// Well-formed headers read.
    pub good: u32,
    pub started: bool,
}

/// What the walk says after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidVerdict {
    More,
    Tls,
    Off,
}

/// The mid-stream TLS walk of one connection.
#[derive(Clone, Debug, Default)]
pub struct MidWalk {
    pub sides: [Walker; 2],
    /// Time of the event that started the walk.
    pub t0: Timestamp,
}

/// Whether a record header is well-formed for the walk.
pub fn valid_header(h: &[u8; 5]) -> bool {
    let len = u16::from_be_bytes([h[3], h[4]]);
    (20..=23).contains(&h[0])
        && h[1] == 3
        && (1..=4).contains(&h[2])
        && (1..=16384 + 2048).contains(&len)
}

impl MidWalk {
    /// A walk for a side whose first data event is `d` (`first`: no data of that side
    /// came before), if it starts like a record.
    pub fn start(d: &[u8], first: bool, ts: Timestamp) -> Option<Box<MidWalk>> {
        match d.first() {
            Some(20..=23) if first => Some(Box::new(MidWalk {
                t0: ts,
                ..MidWalk::default()
            })),
            _ => None,
        }
    }

    /// One event of `dir`; `first`: that side had no data before it.
    pub fn feed(&mut self, dir: Dir, ev: StreamEvent<'_>, first: bool) -> MidVerdict {
        let w = &mut self.sides[dir.index()];
        let mut d = match ev {
            StreamEvent::Data(d) => d,
            StreamEvent::Gap(_) => return MidVerdict::Off,
            _ => return MidVerdict::More,
        };
        if !w.started {
            if !first || !matches!(d.first(), Some(20..=23) | None) {
                return MidVerdict::Off;
            }
            w.started = !d.is_empty();
        }
        while !d.is_empty() {
            if w.left > 0 {
                let k = usize::from(w.left).min(d.len());
                w.left -= k as u16;
                d = &d[k..];
                continue;
            }
            let k = (5 - usize::from(w.hn)).min(d.len());
            w.hdr[usize::from(w.hn)..usize::from(w.hn) + k].copy_from_slice(&d[..k]);
            w.hn += k as u8;
            d = &d[k..];
            if w.hn == 5 {
                if !valid_header(&w.hdr) {
                    return MidVerdict::Off;
                }
                w.hn = 0;
                w.ty = w.hdr[0];
                w.left = u16::from_be_bytes([w.hdr[3], w.hdr[4]]);
                w.good += 1;
            }
        }
        if self.sides.iter().map(|s| s.good).sum::<u32>() >= K {
            MidVerdict::Tls
        } else {
            MidVerdict::More
        }
    }

    /// Records read so far, both sides.
    pub fn records(&self) -> u64 {
        self.sides.iter().map(|s| u64::from(s.good)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ty: u8, n: usize) -> Vec<u8> {
        let mut v = vec![ty, 3, 3, (n >> 8) as u8, n as u8];
        v.resize(5 + n, 0xee);
        v
    }

    #[test]
    fn three_records_decide_and_garbage_does_not() {
        let s = [rec(23, 100), rec(23, 3000), rec(23, 20)].concat();
        for split in [1, 4, 5, 7, 1000, s.len()] {
            let mut w = MidWalk::start(&s, true, Timestamp::ZERO).unwrap();
            let mut v = MidVerdict::More;
            for (i, c) in s.chunks(split).enumerate() {
                v = w.feed(Dir::Resp, StreamEvent::Data(c), i == 0);
                if v != MidVerdict::More {
                    break;
                }
            }
            assert_eq!(v, MidVerdict::Tls, "split {split}");
            assert_eq!(w.records(), 3);
        }
        // Two from one side, one from the other.
        let mut w = MidWalk::start(&s, true, Timestamp::ZERO).unwrap();
        let two = [rec(23, 10), rec(23, 10)].concat();
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Data(&two), true),
            MidVerdict::More
        );
        assert_eq!(
            w.feed(Dir::Resp, StreamEvent::Data(&rec(21, 2)), true),
            MidVerdict::Tls
        );
        // A bad second header, a gap, a side starting with text.
        let mut w = MidWalk::default();
        let bad = [rec(23, 10), b"GET / HTTP/1.1\r\n".to_vec()].concat();
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Data(&bad), true),
            MidVerdict::Off
        );
        let mut w = MidWalk::default();
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Data(&rec(23, 10)), true),
            MidVerdict::More
        );
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Gap(10), false),
            MidVerdict::Off
        );
        let mut w = MidWalk::default();
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Data(&rec(23, 10)), true),
            MidVerdict::More
        );
        assert_eq!(
            w.feed(Dir::Resp, StreamEvent::Data(b"HTTP/1.1"), true),
            MidVerdict::Off
        );
        assert!(MidWalk::start(b"\x17", false, Timestamp::ZERO).is_none());
        assert!(MidWalk::start(b"GET", true, Timestamp::ZERO).is_none());
        assert!(!valid_header(&[23, 3, 0, 0, 1]) && !valid_header(&[23, 3, 3, 0, 0]));
        assert!(!valid_header(&[23, 3, 3, 0x48, 1]) && valid_header(&[20, 3, 1, 0x48, 0]));
    }

    #[test]
    fn the_header_after_a_long_body_is_checked() {
        let mut w = MidWalk::default();
        let big = rec(23, 16384);
        assert_eq!(
            w.feed(Dir::Orig, StreamEvent::Data(&big[..5]), true),
            MidVerdict::More
        );
        let mut v = MidVerdict::More;
        for _ in 0..40 {
            v = w.feed(Dir::Orig, StreamEvent::Data(&[0; 8192]), false);
            if v != MidVerdict::More {
                break;
            }
        }
        // 16 KiB of body, then a zero byte where the next header starts.
        assert_eq!(v, MidVerdict::Off);
    }
}
