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
//! SHA-256 is written out here (FIPS 180-4, checked against its published vectors):
//! 40 lines instead of a dependency tree for one hash per connection.

use std::fmt::Write as _;

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

fn hex_list(out: &mut String, vals: impl Iterator<Item = u16>) {
    for (i, v) in vals.enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{v:04x}");
    }
}

fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let d = sha256(s.as_bytes());
    let mut h = String::with_capacity(12);
    for b in &d[..6] {
        let _ = write!(h, "{b:02x}");
    }
    h
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
    let alpn = match i.first_alpn {
        Some([f, .., l]) | Some([f @ l])
            if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() =>
        {
            format!("{}{}", *f as char, *l as char)
        }
        Some(v @ [_, ..]) => {
            let hex = |b: u8, hi: bool| {
                let n = if hi { b >> 4 } else { b & 0xf };
                char::from_digit(u32::from(n), 16).unwrap_or('0')
            };
            let (f, l) = (v[0], v[v.len() - 1]);
            format!("{}{}", hex(f, true), hex(l, false))
        }
        _ => "00".into(),
    };
    let mut out = format!(
        "t{}{}{:02}{:02}{}_",
        version_code(version),
        if sni { 'd' } else { 'i' },
        ciphers.len().min(99),
        exts.len().min(99),
        alpn
    );
    ciphers.sort_unstable();
    let mut s = String::new();
    hex_list(&mut s, ciphers.into_iter());
    out.push_str(&hash12(&s));
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
    out.push_str(&hash12(&s));
    out
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (FIPS 180-4) of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let bits = (data.len() as u64).wrapping_mul(8);
    let mut tail = [0u8; 128];
    let rest = data.chunks_exact(64).remainder();
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
    for block in data
        .chunks_exact(64)
        .chain(tail[..tail_len].chunks_exact(64))
    {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_the_fips_180_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

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
