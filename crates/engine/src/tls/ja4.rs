//! The JA4 TLS client fingerprint (FoxIO's public JA4 specification, BSD 3-Clause; JA4
//! only: JA4S, JA4X and the others are under another licence and are not here), and the
//! SHA-256 it needs.
//!
//! `t` + version + `d`/`i` (SNI present) + cipher count + extension count (two digits
//! each, at most 99) + first and last character of the first ALPN value (`00` without
//! one; hex of its first and last byte when either is not alphanumeric) + `_` + the first
//! 12 hex digits of sha256 of the sorted cipher list (4-digit lowercase hex, comma
//! separated) + `_` + the same of the sorted extension list without SNI (0x0000) and
//! ALPN (0x0010), then `_` and the signature algorithms in wire order. GREASE values
//! (RFC 8701: 0x?a?a with equal bytes) are left out of every list and count; the
//! version is the highest non-GREASE `supported_versions` value, else the
//! ClientHello's legacy version. An empty list hashes to `000000000000`.
//!
//! SHA-256 is RustCrypto's `sha2` (SHA-NI when the CPU has it): one hash per connection,
//! two per ClientHello.

use sha2::{Digest, Sha256};

/// RFC 8701 GREASE value.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// What JA4 reads of a ClientHello (GREASE values may be present: they are skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ja4Input<'a> {
    pub legacy_version: u16,
    pub supported_versions: &'a [u16],
    pub ciphers: &'a [u16],
    /// Extension types in wire order.
    pub extensions: &'a [u16],
    pub signature_algorithms: &'a [u16],
    /// The first ALPN value offered.
    pub first_alpn: Option<&'a [u8]>,
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_list(out: &mut String, vals: impl Iterator<Item = u16>) {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            out.push(',');
        }
        for shift in [12, 8, 4, 0] {
            out.push(char::from(HEX[usize::from((v >> shift) & 0xf)]));
        }
    }
}

/// The first 12 hex digits of SHA-256 of `s`, appended to `out` (`000000000000` for an
/// empty `s`).
fn push_hash12(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("000000000000");
        return;
    }
    let d = Sha256::digest(s.as_bytes());
    for b in &d[..6] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

/// The JA4 fingerprint of a ClientHello.
pub fn ja4(i: &Ja4Input<'_>) -> String {
    let version = i
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
        .unwrap_or(i.legacy_version);
    let sni = i.extensions.contains(&0x0000);
    let mut ciphers: Vec<u16> = i
        .ciphers
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    let mut exts: Vec<u16> = i
        .extensions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    let mut out = String::with_capacity(36);
    out.push('t');
    out.push_str(version_code(version));
    out.push(if sni { 'd' } else { 'i' });
    for n in [ciphers.len().min(99), exts.len().min(99)] {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    }
    match i.first_alpn {
        Some([f, .., l]) | Some([f @ l])
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() =>
        {
            out.push(char::from(*f));
            out.push(char::from(*l));
        }
        Some(v @ [_, ..]) => {
            out.push(char::from(HEX[usize::from(v[0] >> 4)]));
            out.push(char::from(HEX[usize::from(v[v.len() - 1] & 0xf)]));
        }
        _ => out.push_str("00"),
    }
    out.push('_');
    ciphers.sort_unstable();
    let mut s = String::with_capacity(5 * (ciphers.len() + exts.len() + 32));
    hex_list(&mut s, ciphers.into_iter());
    push_hash12(&mut out, &s);
    out.push('_');
    exts.retain(|&e| e != 0x0000 && e != 0x0010);
    exts.sort_unstable();
    s.clear();
    hex_list(&mut s, exts.into_iter());
    let sigs: Vec<u16> = i
        .signature_algorithms
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect();
    if !s.is_empty() && !sigs.is_empty() {
        s.push('_');
        hex_list(&mut s, sigs.into_iter());
    }
    push_hash12(&mut out, &s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as published by browserleaks.com's JA4 output for Chrome 143
    /// (`ja4_ro`: the wire order; `ja4`: FoxIO's fingerprint of it), an independent
    /// implementation's figures.
    #[test]
    fn ja4_of_a_published_chrome_hello() {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let exts = [
            0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b, 0x000a, 0x002b, 0xff01,
            0x0023, 0x0012, 0x0005, 0x000d, 0x001b,
        ];
        let sigs = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        // GREASE values as Chrome sends them change nothing.
        let mut gc = vec![0x2a2a];
        gc.extend(ciphers);
        let mut ge = vec![0xdada];
        ge.extend(exts);
        ge.push(0x1a1a);
        let i = Ja4Input {
            legacy_version: 0x0303,
            supported_versions: &[0x7a7a, 0x0304, 0x0303],
            ciphers: &gc,
            extensions: &ge,
            signature_algorithms: &sigs,
            first_alpn: Some(b"h2"),
        };
        assert_eq!(ja4(&i), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
    }

    #[test]
    fn ja4_edge_cases_follow_the_spec() {
        let i = Ja4Input {
            legacy_version: 0x0301,
            ..Ja4Input::default()
        };
        assert_eq!(ja4(&i), "t10i000000_000000000000_000000000000");
        let i = Ja4Input {
            legacy_version: 0x0303,
            ciphers: &[0x002f],
            extensions: &[0x0010],
            first_alpn: Some(&[0xab, b'x', 0xcd]),
            ..Ja4Input::default()
        };
        // ALPN not alphanumeric: first hex digit of the first byte, last of the last.
        let f = ja4(&i);
        assert!(f.starts_with("t12i0101ad_"), "{f}");
        assert!(f.ends_with("_000000000000"), "{f}");
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && !is_grease(0x0a1a));
    }
}
