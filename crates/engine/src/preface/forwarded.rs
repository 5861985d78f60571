//! The original client in the forwarding headers of a request: the first element of
//! `X-Forwarded-For` and the first `for=` of `Forwarded` (RFC 7239).
//!
//! Contract: total over arbitrary bytes, no allocation; a value that is not an address
//! (`unknown`, an obfuscated `_identifier`, garbage) gives `None`, never a guess.
//! Accepted forms: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`, `[2001:db8::1]`,
//! `[2001:db8::1]:4711`, each optionally quoted (`for="[2001:db8::1]:4711"`), surrounded
//! by optional whitespace.

use crate::event::OriginalClient;
use std::net::{IpAddr, Ipv6Addr};

/// The first element of an `X-Forwarded-For` value (`client, proxy1, proxy2`).
pub(crate) fn x_forwarded_for(value: &[u8]) -> Option<OriginalClient> {
    let first = value.split(|&b| b == b',').next()?;
    node(trim(first))
}

/// The first `for=` parameter of a `Forwarded` value (`for=a;proto=http, for=b`):
/// `None` when there is none (`Some(None)` when there is one that is no address).
pub(crate) fn forwarded_for(value: &[u8]) -> Option<Option<OriginalClient>> {
    // Quoted strings may hold `,` and `;` (an IPv6 address with a port does not, but
    // a hostile value might): split outside quotes only.
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for i in 0..=value.len() {
        let b = value.get(i).copied();
        if quoted {
            match b {
                _ if escaped => escaped = false,
                Some(b'\\') => escaped = true,
                Some(b'"') => quoted = false,
                _ => {}
            }
            if b.is_some() {
                continue;
            }
        }
        match b {
            Some(b'"') => quoted = true,
            Some(b',' | b';') | None => {
                let pair = trim(&value[start..i]);
                if let Some(eq) = pair.iter().position(|&b| b == b'=') {
                    if trim(&pair[..eq]).eq_ignore_ascii_case(b"for") {
                        return Some(node(trim(&pair[eq + 1..])));
                    }
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let z = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(a, |i| i + 1);
    &s[a..z.max(a)]
}

/// One node: an address with an optional port, optionally quoted.
fn node(s: &[u8]) -> Option<OriginalClient> {
    let s = match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => s,
    };
    // Longest form: `[` 45-character IPv6 `]:65535`.
    if s.len() > 53 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    if let Some(rest) = text.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(port(p.strip_prefix(':')?)?),
        };
        return Some(OriginalClient {
            ip: IpAddr::V6(ip),
            port,
        });
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(OriginalClient { ip, port: None });
    }
    let (ip, p) = text.rsplit_once(':')?;
    Some(OriginalClient {
        ip: IpAddr::V4(ip.parse().ok()?),
        port: Some(port(p)?),
    })
}

/// A decimal port, 1 to 5 digits.
pub(crate) fn port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oc(s: &str) -> Option<String> {
        x_forwarded_for(s.as_bytes()).map(|o| o.to_string())
    }

    fn fw(s: &str) -> Option<Option<String>> {
        forwarded_for(s.as_bytes()).map(|o| o.map(|o| o.to_string()))
    }

    #[test]
    fn x_forwarded_for_takes_the_first_element() {
        assert_eq!(oc("203.0.113.7"), Some("203.0.113.7".into()));
        assert_eq!(
            oc(" 203.0.113.7 , 10.0.0.1, 10.0.0.2"),
            Some("203.0.113.7".into())
        );
        assert_eq!(oc("2001:db8::1, 10.0.0.1"), Some("2001:db8::1".into()));
        assert_eq!(oc("[2001:db8::1]:4711"), Some("[2001:db8::1]:4711".into()));
        assert_eq!(oc("203.0.113.7:51000"), Some("203.0.113.7:51000".into()));
        assert_eq!(oc("[2001:db8::1]"), Some("2001:db8::1".into()));
        // The first element decides: an unknown client is not replaced by a proxy.
        assert_eq!(oc("unknown, 10.0.0.1"), None);
        for bad in [
            "",
            ",",
            "_hidden",
            "203.0.113.7:",
            "203.0.113.7:65536",
            "203.0.113.7:+80",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[203.0.113.7]",
            "300.1.1.1",
            "\u{1b}[31m",
        ] {
            assert_eq!(oc(bad), None, "{bad:?}");
        }
        assert_eq!(x_forwarded_for(&[0xff, b'1']), None);
        assert_eq!(x_forwarded_for(&[b'1'; 10_000]), None);
    }

    #[test]
    fn forwarded_takes_the_first_for() {
        assert_eq!(fw("for=192.0.2.60"), Some(Some("192.0.2.60".into())));
        assert_eq!(
            fw("proto=http;by=203.0.113.43; For=\"[2001:db8:cafe::17]:4711\""),
            Some(Some("[2001:db8:cafe::17]:4711".into()))
        );
        assert_eq!(
            fw("for=192.0.2.43, for=198.51.100.17"),
            Some(Some("192.0.2.43".into()))
        );
        assert_eq!(
            fw("by=x, for=\"192.0.2.43:47011\""),
            Some(Some("192.0.2.43:47011".into()))
        );
        assert_eq!(fw("for=unknown, for=192.0.2.1"), Some(None));
        assert_eq!(fw("for=_hidden"), Some(None));
        assert_eq!(fw("proto=https;by=10.0.0.1"), None);
        assert_eq!(fw("x=\"a;for=1.2.3.4\""), None, "inside a quoted string");
        assert_eq!(fw("x=\"a\\\";for=1.2.3.4\""), None, "an escaped quote");
        assert_eq!(fw(""), None);
        assert_eq!(fw("for"), None);
        assert_eq!(fw("\"unterminated"), None);
    }
}
