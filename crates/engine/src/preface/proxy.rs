//! PROXY protocol headers (HAProxy's specification, versions 1 and 2) as push parsers:
//! fed the originator's stream from its first byte, each answers "need more" or "over
//! after N bytes of this input" with what the header said.
//!
//! Contract: total over arbitrary bytes; the same verdict and byte count whatever way
//! the input is split. Bounded: version 1 keeps at most its 107-byte line; version 2 keeps
//! its 16-byte header and at most the 36 bytes of an IPv6 address block, and skips
//! everything else it declares (TLVs, UNIX addresses, up to 65,535 bytes) as it streams
//! by, counted in `PrefaceCounters::proxy_v2_skipped_bytes`.

use super::{forwarded::port, PrefaceCounters, Verdict};
use crate::event::OriginalClient;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a version 1 header starts with.
pub(crate) const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 header, CRLF included.
pub(crate) const V1_MAX: usize = 107;
/// The 12-byte signature of a version 2 header.
pub(crate) const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_HEAD: usize = 16;
/// The largest address block read: two IPv6 addresses and two ports.
const V2_ADDRS: usize = 36;

/// A version 1 header (`PROXY TCP4 src dst sport dport\r\n`) being read.
#[derive(Debug)]
pub(crate) struct ProxyV1 {
    line: [u8; V1_MAX],
    len: usize,
}

impl ProxyV1 {
    pub fn new() -> Self {
        ProxyV1 {
            line: [0; V1_MAX],
            len: 0,
        }
    }

    /// Bytes of `data` consumed and, once the header is over, its verdict: the line up
    /// to its LF, or 107 bytes without one (malformed).
    pub fn feed(&mut self, data: &[u8]) -> (usize, Option<Verdict>) {
        let room = V1_MAX - self.len;
        let window = &data[..data.len().min(room)];
        let (n, end) = match memchr::memchr(b'\n', window) {
            Some(i) => (i + 1, true),
            None => (window.len(), window.len() == room),
        };
        self.line[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        if !end {
            return (n, None);
        }
        let verdict = match parse_v1(&self.line[..self.len]) {
            Some(oc) => Verdict::Proxy(oc),
            None => Verdict::Malformed,
        };
        (n, Some(verdict))
    }
}

/// A complete version 1 line (through its LF): `None` when malformed, `Some(None)` for
/// `UNKNOWN`.
fn parse_v1(line: &[u8]) -> Option<Option<OriginalClient>> {
    let line = line.strip_suffix(b"\r\n")?;
    let text = std::str::from_utf8(line).ok()?;
    let mut f = text.split(' ');
    if f.next()? != "PROXY" {
        return None;
    }
    let proto = f.next()?;
    if proto == "UNKNOWN" {
        // Whatever follows is to be ignored (the balancer did not know).
        return Some(None);
    }
    let (src, dst, sport, dport) = (f.next()?, f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            src.parse::<Ipv4Addr>().ok()?.into(),
            dst.parse::<Ipv4Addr>().ok()?.into(),
        ),
        "TCP6" => (
            src.parse::<Ipv6Addr>().ok()?.into(),
            dst.parse::<Ipv6Addr>().ok()?.into(),
        ),
        _ => return None,
    };
    let _ = dst;
    port(dport)?;
    Some(Some(OriginalClient {
        ip: src,
        port: Some(port(sport)?),
    }))
}

/// A version 2 header being read: 16 bytes, the address block, then the declared rest
/// skipped.
#[derive(Debug)]
pub(crate) struct ProxyV2 {
    head: [u8; V2_HEAD + V2_ADDRS],
    have: usize,
    /// Bytes of `head` to gather: 16, then 16 + the address bytes read.
    need: usize,
    /// Declared bytes still to skip.
    skip: usize,
    client: Option<OriginalClient>,
}

impl ProxyV2 {
    pub fn new() -> Self {
        ProxyV2 {
            head: [0; V2_HEAD + V2_ADDRS],
            have: 0,
            need: V2_HEAD,
            skip: 0,
            client: None,
        }
    }

    /// Bytes of `data` consumed and, once the header is over, its verdict.
    pub fn feed(&mut self, data: &[u8], c: &mut PrefaceCounters) -> (usize, Option<Verdict>) {
        let mut pos = 0;
        while self.have < self.need {
            let n = (self.need - self.have).min(data.len() - pos);
            self.head[self.have..self.have + n].copy_from_slice(&data[pos..pos + n]);
            self.have += n;
            pos += n;
            if self.have < self.need {
                return (pos, None);
            }
            if self.need == V2_HEAD {
                if let Err(v) = self.header() {
                    return (pos, Some(v));
                }
            } else {
                self.client = self.address();
            }
        }
        let n = self.skip.min(data.len() - pos);
        self.skip -= n;
        pos += n;
        c.proxy_v2_skipped_bytes += n as u64;
        if self.skip > 0 {
            return (pos, None);
        }
        (pos, Some(Verdict::Proxy(self.client)))
    }

    /// The fixed header is in: what to read and what to skip.
    fn header(&mut self) -> Result<(), Verdict> {
        let h = &self.head;
        if &h[..12] != V2_SIG || h[12] >> 4 != 2 {
            return Err(Verdict::Malformed);
        }
        let proxy = match h[12] & 0x0f {
            0 => false, // LOCAL: the balancer's own connection (health checks)
            1 => true,
            _ => return Err(Verdict::Malformed),
        };
        let len = usize::from(u16::from_be_bytes([h[14], h[15]]));
        // AF_INET and AF_INET6 (whatever the transport nibble says); UNSPEC, UNIX and
        // unknown families carry no IP address: skipped.
        let addrs = match h[13] >> 4 {
            1 => 12,
            2 => 36,
            _ => 0,
        };
        if len < addrs {
            return Err(Verdict::Malformed);
        }
        let read = if proxy { addrs } else { 0 };
        self.need = V2_HEAD + read;
        self.skip = len - read;
        Ok(())
    }

    /// The address block is in: the source address and port.
    fn address(&self) -> Option<OriginalClient> {
        let a = &self.head[V2_HEAD..self.need];
        let (ip, port): (IpAddr, _) = match a.len() {
            12 => (
                Ipv4Addr::new(a[0], a[1], a[2], a[3]).into(),
                u16::from_be_bytes([a[8], a[9]]),
            ),
            36 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[..16]);
                (Ipv6Addr::from(b).into(), u16::from_be_bytes([a[32], a[33]]))
            }
            _ => return None,
        };
        Some(OriginalClient {
            ip,
            port: Some(port),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const V1: &[u8] = b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\r\n";
    const V1_6: &[u8] = b"PROXY TCP6 2001:db8::7 2001:db8::2 4711 443\r\n";

    /// A version 2 header: command, family byte, address block, then `tlv` bytes.
    pub(crate) fn v2(cmd: u8, fam: u8, addrs: &[u8], tlv: usize) -> Vec<u8> {
        let mut h = V2_SIG.to_vec();
        h.push(0x20 | cmd);
        h.push(fam);
        h.extend_from_slice(&((addrs.len() + tlv) as u16).to_be_bytes());
        h.extend_from_slice(addrs);
        h.extend(std::iter::repeat_n(0x04, tlv));
        h
    }

    pub(crate) fn v4_block() -> Vec<u8> {
        let mut a = vec![198, 51, 100, 9, 10, 0, 0, 2];
        a.extend_from_slice(&40000u16.to_be_bytes());
        a.extend_from_slice(&80u16.to_be_bytes());
        a
    }

    fn v1_whole(input: &[u8]) -> (usize, Option<Verdict>) {
        ProxyV1::new().feed(input)
    }

    /// Fed whole, at every split, byte by byte: one answer; at every truncated length:
    /// need more, everything consumed.
    fn v1_all_ways(input: &[u8]) -> (usize, Option<Verdict>) {
        let whole = v1_whole(input);
        let Some(_) = whole.1 else {
            panic!("{input:?} gave no verdict")
        };
        for cut in 0..whole.0 {
            let mut p = ProxyV1::new();
            let (n, v) = p.feed(&input[..cut]);
            assert_eq!((n, v), (cut, None), "truncated at {cut}");
            let (m, v) = p.feed(&input[cut..]);
            assert_eq!((n + m, v), whole, "split at {cut}");
        }
        let mut p = ProxyV1::new();
        for (i, b) in input.iter().enumerate() {
            let (n, v) = p.feed(std::slice::from_ref(b));
            assert_eq!(n, 1);
            if v.is_some() {
                assert_eq!((i + 1, v), whole);
                break;
            }
        }
        whole
    }

    fn addr(s: &str) -> Option<OriginalClient> {
        let sa: std::net::SocketAddr = s.parse().unwrap();
        Some(OriginalClient {
            ip: sa.ip(),
            port: Some(sa.port()),
        })
    }

    #[test]
    fn v1_headers_give_the_source_address() {
        let mut input = V1.to_vec();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            v1_all_ways(&input),
            (V1.len(), Some(Verdict::Proxy(addr("203.0.113.7:51234"))))
        );
        assert_eq!(
            v1_all_ways(V1_6),
            (V1_6.len(), Some(Verdict::Proxy(addr("[2001:db8::7]:4711"))))
        );
        let unknown = b"PROXY UNKNOWN whatever here\r\nGET";
        assert_eq!(v1_all_ways(unknown), (29, Some(Verdict::Proxy(None))));
        assert_eq!(
            v1_all_ways(b"PROXY UNKNOWN\r\n"),
            (15, Some(Verdict::Proxy(None)))
        );
    }

    #[test]
    fn v1_malformed_lines_are_over_at_their_lf_or_at_107_bytes() {
        for bad in [
            &b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80\n"[..],
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51234\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 80 9\r\n",
            b"PROXY TCP4 203.0.113.7  10.0.0.2 51234 80\r\n",
            b"PROXY TCP6 203.0.113.7 10.0.0.2 51234 80\r\n",
            b"PROXY TCP4 2001:db8::7 10.0.0.2 51234 80\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.2 65536 80\r\n",
            b"PROXY TCP4 203.0.113.7 10.0.0.2 51234 x\r\n",
            b"PROXY UDP4 203.0.113.7 10.0.0.2 51234 80\r\n",
            b"PROXY \xff\r\n",
            b"PROXY \r\n",
        ] {
            assert_eq!(
                v1_all_ways(bad),
                (bad.len(), Some(Verdict::Malformed)),
                "{bad:?}"
            );
        }
        let long = [V1_PREFIX, &[b'x'; 200][..]].concat();
        assert_eq!(v1_all_ways(&long), (V1_MAX, Some(Verdict::Malformed)));
        // 107 bytes with the LF last is the longest header there is.
        let mut max = b"PROXY UNKNOWN ".to_vec();
        max.resize(V1_MAX - 2, b'y');
        max.extend_from_slice(b"\r\n");
        assert_eq!(v1_all_ways(&max), (V1_MAX, Some(Verdict::Proxy(None))));
    }

    fn v2_all_ways(input: &[u8]) -> (usize, Option<Verdict>, u64) {
        let mut c = PrefaceCounters::default();
        let (n, v) = ProxyV2::new().feed(input, &mut c);
        assert!(v.is_some(), "{input:?} gave no verdict");
        for cut in 0..n {
            let mut c2 = PrefaceCounters::default();
            let mut p = ProxyV2::new();
            let (a, v1) = p.feed(&input[..cut], &mut c2);
            assert_eq!((a, v1), (cut, None), "truncated at {cut}");
            let (b, v2) = p.feed(&input[cut..], &mut c2);
            assert_eq!((a + b, v2), (n, v), "split at {cut}");
            assert_eq!(c2, c);
        }
        let mut c3 = PrefaceCounters::default();
        let mut p = ProxyV2::new();
        for (i, b) in input.iter().enumerate() {
            let (k, got) = p.feed(std::slice::from_ref(b), &mut c3);
            assert_eq!(k, 1);
            if got.is_some() {
                assert_eq!((i + 1, got), (n, v));
                break;
            }
        }
        assert_eq!(c3, c);
        (n, v, c.proxy_v2_skipped_bytes)
    }

    #[test]
    fn v2_headers_give_the_source_address_and_skip_the_rest() {
        let h = v2(1, 0x11, &v4_block(), 0);
        let mut input = h.clone();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            v2_all_ways(&input),
            (28, Some(Verdict::Proxy(addr("198.51.100.9:40000"))), 0)
        );
        let mut a6 = Vec::new();
        a6.extend_from_slice(&"2001:db8::9".parse::<Ipv6Addr>().unwrap().octets());
        a6.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        a6.extend_from_slice(&[0x12, 0x67, 0, 80]);
        let h6 = v2(1, 0x21, &a6, 7);
        assert_eq!(
            v2_all_ways(&h6),
            (
                h6.len(),
                Some(Verdict::Proxy(addr("[2001:db8::9]:4711"))),
                7
            )
        );
        // LOCAL: the balancer's own health check, addresses skipped.
        let local = v2(0, 0x11, &v4_block(), 3);
        assert_eq!(
            v2_all_ways(&local),
            (local.len(), Some(Verdict::Proxy(None)), 15)
        );
        // UNSPEC and UNIX families: no IP address, everything skipped.
        let unspec = v2(1, 0x00, &[], 0);
        assert_eq!(v2_all_ways(&unspec), (16, Some(Verdict::Proxy(None)), 0));
        let unix = v2(1, 0x31, &[b'/'; 216], 0);
        assert_eq!(v2_all_ways(&unix), (232, Some(Verdict::Proxy(None)), 216));
        // An unknown family is kept as data: skipped, not rejected.
        let odd = v2(1, 0x71, &[1, 2, 3], 0);
        assert_eq!(v2_all_ways(&odd), (19, Some(Verdict::Proxy(None)), 3));
    }

    #[test]
    fn v2_malformed_headers_are_over_after_16_bytes() {
        let mut bad_version = v2(1, 0x11, &v4_block(), 0);
        bad_version[12] = 0x11;
        let mut bad_command = v2(1, 0x11, &v4_block(), 0);
        bad_command[12] = 0x2f;
        let short = v2(1, 0x21, &v4_block(), 0);
        let mut bad_sig = v2(1, 0x11, &v4_block(), 0);
        bad_sig[11] = b'X';
        for bad in [bad_version, bad_command, short, bad_sig] {
            assert_eq!(v2_all_ways(&bad), (16, Some(Verdict::Malformed), 0));
        }
    }

    #[test]
    fn v2_claiming_65535_bytes_holds_none_of_them() {
        let h = v2(1, 0x11, &v4_block(), 65_535 - 12);
        let mut c = PrefaceCounters::default();
        let mut p = ProxyV2::new();
        let size = std::mem::size_of::<ProxyV2>();
        assert!(size < 128, "{size}");
        let (n, v) = p.feed(&h[..40_000], &mut c);
        assert_eq!((n, v), (40_000, None));
        let (n, v) = p.feed(&h[40_000..], &mut c);
        assert_eq!(n, h.len() - 40_000);
        assert_eq!(v, Some(Verdict::Proxy(addr("198.51.100.9:40000"))));
        assert_eq!(c.proxy_v2_skipped_bytes, 65_535 - 12);
    }
}
