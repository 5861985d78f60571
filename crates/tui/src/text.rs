//! Text from the wire made safe for a terminal.
//!
//! Contract: [`clean`] (`httptop_output::report::sanitize`) returns only printable text:
//! C0/C1 controls and DEL are escaped as `\u{..}`, invalid UTF-8 as `\x..`, and the
//! invisible format characters that reorder or hide text (bidi overrides and isolates,
//! zero-width characters, soft hyphen, BOM) are escaped too, so a Host, User-Agent or path
//! can neither drive the terminal nor disguise what it shows.

use httptop_engine::WireStr;

/// `bytes` as printable text; see the module documentation.
pub fn clean(bytes: &[u8]) -> String {
    httptop_output::report::sanitize(bytes)
}

/// A wire string as printable text, with `…` when the engine cut it.
pub fn wire(s: &WireStr) -> String {
    let mut o = clean(s.as_bytes());
    if s.truncated {
        o.push('…');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_bidi_and_invalid_utf8() {
        assert_eq!(clean(b"ok/path"), "ok/path");
        assert_eq!(clean(b"\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(clean("a\u{202e}b".as_bytes()), "a\\u{202e}b");
        assert_eq!(clean("\u{9b}x".as_bytes()), "\\u{9b}x");
        assert!(!clean(b"\xff\x07").chars().any(|c| c.is_control()));
    }

    #[test]
    fn marks_truncated_strings() {
        let s = WireStr::capped(b"abcdef", 3);
        assert_eq!(wire(&s), "abc…");
    }
}
