//! ClientHello and ServerHello bodies (RFC 8446 section 4.1.2-4.1.3, RFC 5246 section
//! 7.4.1), read in place. Every read goes through [`Rd`], whose accessors return `None`
//! past the end: no index can panic.

use super::ja4::{ja4, Ja4Input};
use super::MAX_LIST;

/// A bounds-checked reader.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Pushes the u16 values of `b` into `v`, at most [`MAX_LIST`]; true if some were left out.
fn u16s(b: &[u8], v: &mut Vec<u16>) -> bool {
    for c in b.chunks_exact(2) {
        if v.len() == MAX_LIST {
            return true;
        }
        v.push(u16::from_be_bytes([c[0], c[1]]));
    }
    false
}

/// What a ClientHello says (borrowing the message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello<'a> {
    pub legacy_version: u16,
    pub ciphers: Vec<u16>,
    /// Extension types in wire order.
    pub extensions: Vec<u16>,
    pub sni: Option<&'a [u8]>,
    pub alpn: Vec<&'a [u8]>,
    pub supported_versions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    /// A list was cut at [`MAX_LIST`].
    pub capped: bool,
}

impl<'a> ClientHello<'a> {
    /// `None`: a length points past the end of the message.
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        let mut r = Rd(body);
        let mut h = ClientHello {
            legacy_version: r.u16()?,
            ..ClientHello::default()
        };
        r.take(32)?;
        r.vec8()?;
        h.capped |= u16s(r.vec16()?, &mut h.ciphers);
        r.vec8()?;
        if r.0.is_empty() {
            return Some(h); // no extensions (SSL 3.0 style)
        }
        let mut ex = Rd(r.vec16()?);
        while !ex.0.is_empty() {
            let ty = ex.u16()?;
            let data = ex.vec16()?;
            if h.extensions.len() < MAX_LIST {
                h.extensions.push(ty);
            } else {
                h.capped = true;
            }
            let mut d = Rd(data);
            match ty {
                0x0000 => {
                    // server_name_list: name_type 0 = host_name.
                    let mut l = Rd(d.vec16()?);
                    while !l.0.is_empty() {
                        let t = l.u8()?;
                        let n = l.vec16()?;
                        if t == 0 && h.sni.is_none() {
                            h.sni = Some(n);
                        }
                    }
                }
                0x0010 => {
                    let mut l = Rd(d.vec16()?);
                    while !l.0.is_empty() {
                        let p = l.vec8()?;
                        if h.alpn.len() < MAX_LIST {
                            h.alpn.push(p);
                        } else {
                            h.capped = true;
                        }
                    }
                }
                0x000d => h.capped |= u16s(d.vec16()?, &mut h.signature_algorithms),
                0x002b => h.capped |= u16s(d.vec8()?, &mut h.supported_versions),
                _ => {}
            }
        }
        Some(h)
    }

    /// The highest non-GREASE version offered.
    pub fn max_version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !super::ja4::is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    pub fn ja4(&self) -> String {
        ja4(&Ja4Input {
            legacy_version: self.legacy_version,
            supported_versions: &self.supported_versions,
            ciphers: &self.ciphers,
            extensions: &self.extensions,
            signature_algorithms: &self.signature_algorithms,
            first_alpn: self.alpn.first().copied(),
        })
    }
}

/// What a ServerHello says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello<'a> {
    /// The negotiated version: supported_versions (TLS 1.3) else the legacy field.
    pub version: u16,
    pub cipher: u16,
    pub alpn: Option<&'a [u8]>,
    /// The random is RFC 8446 4.1.3's magic value: a HelloRetryRequest, not a ServerHello.
    pub hrr: bool,
}

/// SHA-256("HelloRetryRequest"), the random of a HelloRetryRequest (RFC 8446 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

impl<'a> ServerHello<'a> {
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        let mut r = Rd(body);
        let mut h = ServerHello {
            version: r.u16()?,
            ..ServerHello::default()
        };
        h.hrr = r.take(32)? == HRR_RANDOM;
        r.vec8()?;
        h.cipher = r.u16()?;
        r.u8()?;
        if r.0.is_empty() {
            return Some(h);
        }
        let mut ex = Rd(r.vec16()?);
        while !ex.0.is_empty() {
            let ty = ex.u16()?;
            let mut d = Rd(ex.vec16()?);
            match ty {
                0x002b => h.version = d.u16()?,
                0x0010 => {
                    let mut l = Rd(d.vec16()?);
                    h.alpn = Some(l.vec8()?);
                }
                _ => {}
            }
        }
        Some(h)
    }
}
