//! The Certificate handshake message of TLS <= 1.2 (RFC 5246 section 7.4.2): the chain
//! is walked (bounded by the message itself) and its first certificate, the leaf, is
//! decoded in place from the buffered message by `x509-parser` (no DER copy is kept).
//!
//! Why `x509-parser` (rusticata): the maintained X.509 parser of the Rust ecosystem
//! (nom based, `#![forbid(unsafe_code)]`, fuzzed in OSS-Fuzz with its `der-parser` and
//! `asn1-rs`), zero-copy (borrows the DER), and it returns errors rather than
//! panicking on bad DER. Its failures here are data: the proptest beside this module
//! feeds it random and mutated DER through [`decode_leaf`]. It allocates a little per
//! certificate (the name and extension vectors): once per connection, not per packet.
//!
//! Contract: [`parse`] never panics; `None` only when the message's own lengths do not
//! hold (a `tls_bad_messages` case); a leaf that does not decode, or is longer than
//! `Limits::max_tls_cert_bytes`, gives `decoded == false` and a [`TlsCert`] with `len`
//! and `chain_len` only.

use super::{TlsCert, MAX_SANS};
use crate::event::WireStr;
use std::fmt::Write as _;
use std::net::IpAddr;
use x509_parser::asn1_rs::ToDer;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

/// A Certificate message read: the record (its leaf's fields filled if decoded) and
/// whether the leaf decoded.
#[derive(Debug)]
pub struct Parsed {
    pub cert: TlsCert,
    pub decoded: bool,
}

/// The walk of the chain reads 3 bytes per entry and stores nothing: its cost is bounded
/// by the message, itself at most `Limits::max_tls_handshake_bytes`.
///
/// `body`: the Certificate message body; `max_der`: the longest leaf decoded; `max_str`:
/// strings cut to it.
pub fn parse(body: &[u8], max_der: usize, max_str: usize) -> Option<Parsed> {
    let u24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
    // certificate_list<0..2^24-1>; each ASN.1Cert<1..2^24-1>.
    let n = u24(body.get(..3)?);
    let mut list = body.get(3..3 + n)?;
    let mut leaf: Option<&[u8]> = None;
    let mut chain_len = 0u32;
    while !list.is_empty() {
        let l = u24(list.get(..3)?);
        let der = list.get(3..3 + l)?;
        leaf.get_or_insert(der);
        chain_len = chain_len.saturating_add(1);
        list = &list[3 + l..];
    }
    let der = leaf?;
    let mut cert = TlsCert {
        chain_len,
        len: der.len() as u32,
        ..TlsCert::default()
    };
    let decoded = der.len() <= max_der && decode_leaf(der, max_str, &mut cert);
    Some(Parsed { cert, decoded })
}

/// Decodes one DER certificate into `out` (subject, issuer, SANs, validity); false if it
/// does not decode (then `out` is untouched).
pub fn decode_leaf(der: &[u8], max_str: usize, out: &mut TlsCert) -> bool {
    let Ok((_, x)) = X509Certificate::from_der(der) else {
        return false;
    };
    out.subject = Some(name(x.subject(), max_str));
    out.issuer = Some(name(x.issuer(), max_str));
    out.not_before = Some(x.validity().not_before.timestamp());
    out.not_after = Some(x.validity().not_after.timestamp());
    out.sans.clear();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        let mut buf = String::new();
        for g in &san.value.general_names {
            if out.sans.len() == MAX_SANS {
                break;
            }
            match g {
                GeneralName::DNSName(d) => out.sans.push(WireStr::capped(d.as_bytes(), max_str)),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()),
                        16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()),
                        _ => continue,
                    };
                    buf.clear();
                    let _ = write!(buf, "{ip}");
                    out.sans.push(WireStr::capped(buf.as_bytes(), max_str));
                }
                _ => {}
            }
        }
    }
    true
}

/// The common name (the last CN, the most specific), else the RFC 4514 form of the
/// whole name.
fn name(n: &X509Name<'_>, max: usize) -> WireStr {
    if let Some(cn) = n.iter_common_name().last() {
        return match cn.as_str() {
            Ok(s) => WireStr::capped(s.as_bytes(), max),
            Err(_) => WireStr::capped(cn.as_slice(), max),
        };
    }
    WireStr::capped(rfc4514(n).as_bytes(), max)
}

/// RFC 4514: RDNs in reverse order joined by ",", multi-valued ones by "+", types by
/// their short name (else the dotted OID), string values escaped, others as `#hex`.
fn rfc4514(n: &X509Name<'_>) -> String {
    let reg = x509_parser::objects::oid_registry();
    let mut s = String::new();
    let rdns: Vec<_> = n.iter_rdn().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            s.push(',');
        }
        for (j, a) in rdn.iter().enumerate() {
            if j > 0 {
                s.push('+');
            }
            match x509_parser::objects::oid2abbrev(a.attr_type(), reg) {
                Ok(ab) => s.push_str(ab),
                Err(_) => {
                    let _ = write!(s, "{}", a.attr_type());
                }
            }
            s.push('=');
            match a.as_str() {
                Ok(v) => {
                    let last = v.chars().count().saturating_sub(1);
                    for (k, ch) in v.chars().enumerate() {
                        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
                            || (k == 0 && matches!(ch, '#' | ' '))
                            || (k == last && ch == ' ');
                        if special {
                            s.push('\\');
                        }
                        s.push(ch);
                    }
                }
                Err(_) => {
                    s.push('#');
                    for b in a.attr_value().to_der_vec().unwrap_or_default() {
                        let _ = write!(s, "{b:02x}");
                    }
                }
            }
        }
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A self-signed certificate made once with
    /// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650
    ///  -subj "/O=httptop test/CN=leaf.example" -addext
    ///  "subjectAltName=DNS:leaf.example,DNS:*.leaf.example,IP:192.0.2.7,IP:2001:db8::1"
    ///  -keyout /dev/null -outform DER` (openssl 3.0); test data, not a secret (the key
    /// was thrown away).
    pub(crate) const LEAF_DER_B64: &str = include_str!("testdata/leaf.der.b64");

    pub(crate) fn leaf_der() -> Vec<u8> {
        b64(LEAF_DER_B64)
    }

    fn b64(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        };
        let v: Vec<u8> = s.bytes().filter_map(val).collect();
        let mut out = Vec::new();
        for c in v.chunks(4) {
            let n = c.iter().fold(0u32, |a, &x| a << 6 | u32::from(x)) << (6 * (4 - c.len()));
            out.extend_from_slice(&n.to_be_bytes()[1..c.len()]);
        }
        out
    }

    /// A Certificate message body listing `certs`.
    pub(crate) fn message(certs: &[&[u8]]) -> Vec<u8> {
        let total: usize = certs.iter().map(|c| c.len() + 3).sum();
        let mut m = (total as u32).to_be_bytes()[1..].to_vec();
        for c in certs {
            m.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
            m.extend_from_slice(c);
        }
        m
    }

    #[test]
    fn a_real_leaf_decodes() {
        let der = leaf_der();
        let p = parse(&message(&[&der, b"x", &der]), 16 << 10, 1024).unwrap();
        assert!(p.decoded);
        let c = p.cert;
        assert_eq!(c.chain_len, 3);
        assert_eq!(c.len as usize, der.len());
        assert_eq!(c.subject.unwrap().as_bytes(), b"leaf.example");
        assert_eq!(c.issuer.unwrap().as_bytes(), b"leaf.example");
        let sans: Vec<_> = c.sans.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(
            sans,
            [
                &b"leaf.example"[..],
                b"*.leaf.example",
                b"192.0.2.7",
                b"2001:db8::1"
            ]
        );
        let (nb, na) = (c.not_before.unwrap(), c.not_after.unwrap());
        assert!(nb > 1_700_000_000, "{nb}");
        assert_eq!((na - nb) / 86_400, 3650);
    }

    #[test]
    fn a_leaf_made_now_by_openssl_decodes_when_openssl_is_there() {
        let dir = std::env::temp_dir().join(format!("httptop-tls-cert-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let out = dir.join("c.der");
        let st = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", "/C=FR/O=Example, Inc./OU=ops"])
            .args(["-addext", "subjectAltName=DNS:a.example,IP:10.1.2.3"])
            .args(["-keyout", "/dev/null", "-outform", "DER", "-out"])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status();
        let Ok(st) = st else {
            eprintln!("SKIP: openssl not found");
            return;
        };
        assert!(st.success());
        let der = std::fs::read(&out).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let p = parse(&message(&[&der]), 16 << 10, 1024).unwrap();
        assert!(p.decoded);
        // No CN: the RFC 4514 form, most specific RDN first, the comma escaped.
        assert_eq!(
            p.cert.subject.unwrap().as_bytes(),
            b"OU=ops,O=Example\\, Inc.,C=FR"
        );
        let sans: Vec<_> = p.cert.sans.iter().map(|s| s.as_bytes().to_vec()).collect();
        assert_eq!(sans, [&b"a.example"[..], b"10.1.2.3"]);
        let d = p.cert.not_after.unwrap() - p.cert.not_before.unwrap();
        assert_eq!(d, 30 * 86_400);
    }

    #[test]
    fn over_the_limit_or_undecodable_leaves_keep_lengths_only() {
        let der = leaf_der();
        let p = parse(&message(&[&der]), der.len() - 1, 1024).unwrap();
        assert!(!p.decoded);
        assert_eq!((p.cert.chain_len, p.cert.len as usize), (1, der.len()));
        assert_eq!(p.cert.subject, None);
        let p = parse(&message(&[&der[..der.len() - 1]]), 1 << 20, 1024).unwrap();
        assert!(!p.decoded && p.cert.not_after.is_none());
        // Lengths past the message: not a Certificate message.
        assert!(parse(&[0, 0, 9, 0, 0, 1, 0], 1 << 20, 1024).is_none());
        assert!(parse(&[0, 0, 0], 1 << 20, 1024).is_none());
        assert!(parse(&[], 1 << 20, 1024).is_none());
    }

    #[test]
    fn strings_are_cut_and_sans_capped() {
        let der = leaf_der();
        let p = parse(&message(&[&der]), 16 << 10, 4).unwrap();
        let s = p.cert.subject.unwrap();
        assert_eq!((s.as_bytes(), s.truncated), (&b"leaf"[..], true));
        assert!(p.cert.sans.iter().all(|s| s.as_bytes().len() <= 4));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Random bytes: no panic, never decoded.
        #[test]
        fn random_der_never_panics(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut c = TlsCert::default();
            let _ = decode_leaf(&b, 64, &mut c);
            let _ = parse(&b, 1 << 16, 64);
        }

        /// The real leaf with bytes changed, cut or inserted: no panic; what decodes keeps
        /// its bounds.
        #[test]
        fn mutated_der_never_panics(
            edits in proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..8),
            cut in any::<u16>(),
        ) {
            let mut der = leaf_der();
            for (at, b, op) in edits {
                let i = usize::from(at) % der.len().max(1);
                match op {
                    0 => der[i] = b,
                    1 => der.insert(i, b),
                    _ => { der.remove(i); }
                }
            }
            der.truncate(usize::from(cut) % (der.len() + 1) + der.len() / 2);
            let mut c = TlsCert::default();
            if decode_leaf(&der, 32, &mut c) {
                prop_assert!(c.sans.len() <= MAX_SANS);
                prop_assert!(c.subject.iter().chain(&c.issuer).all(|s| s.as_bytes().len() <= 32));
            }
        }
    }
}
