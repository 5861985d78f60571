//! Text from the wire made safe for a terminal.
//!
//! Contract: [`clean`] returns only printable text: C0/C1 controls and DEL are escaped
//! as `\u{..}` (via `httptop_output::report::sanitize`), invalid UTF-8 as `\x..`, and the
//! invisible format characters that reorder or hide text (bidi overrides and isolates,
//! zero-width characters, soft hyphen, BOM) are escaped too, so a Host, User-Agent or path
//! can neither drive the terminal nor disguise what it shows.

use httptop_engine::WireStr;

/// `bytes` as printable text; see the module documentation.
pub fn clean(bytes: &[u8]) -> String {
    let s = httptop_output::report::sanitize(bytes);
    if !s.chars().any(is_invisible) {
        return s;
    }
    let mut o = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        if is_invisible(ch) {
            o.push_str(&format!("\\u{{{:x}}}", ch as u32));
        } else {
            o.push(ch);
        }
    }
    o
}

/// A wire string as printable text, with `…` when the engine cut it.
pub fn wire(s: &WireStr) -> String {
    let mut o = clean(s.as_bytes());
    if s.truncated {
        o.push('…');
    }
    o
}

fn is_invisible(ch: char) -> bool {
    matches!(ch,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}'
        | '\u{fff0}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e0fff}')
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
