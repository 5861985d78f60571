//! The HPACK Huffman code (RFC 7541 Appendix B) and its decoder.
//!
//! The code is canonical (codes of one length are consecutive, in symbol order, and
//! each length's first code follows the previous length's last), so the table is its
//! 257 code lengths (the "len" column of Appendix B); the decoding tree is built from
//! them at compile time by a `const fn`. Decoding walks the tree one bit at a time: no
//! allocation, no recursion, any input. A string is invalid when it contains EOS, or
//! ends in padding longer than 7 bits or not made of ones (RFC 7541 5.2).

/// Code length of each symbol (256 is EOS), RFC 7541 Appendix B.
#[rustfmt::skip]
const LENS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
];

/// A child in [`TREE`]: 0 none, `LEAF | sym` a symbol, else an inner node's index.
const LEAF: u16 = 0x8000;

/// The decoding tree: 256 inner nodes (257 leaves), the root at 0; `[node][bit]`.
static TREE: [[u16; 2]; 256] = build();

const fn build() -> [[u16; 2]; 256] {
    let mut t = [[0u16; 2]; 256];
    let mut next = 1usize;
    let mut code: u32 = 0;
    let mut len = 1u8;
    while len <= 30 {
        let mut s = 0;
        while s < 257 {
            if LENS[s] == len {
                let mut node = 0usize;
                let mut i = len;
                while i > 1 {
                    let bit = ((code >> (i - 1)) & 1) as usize;
                    if t[node][bit] == 0 {
                        t[node][bit] = next as u16;
                        next += 1;
                    }
                    node = t[node][bit] as usize;
                    i -= 1;
                }
                t[node][(code & 1) as usize] = LEAF | s as u16;
                code += 1;
            }
            s += 1;
        }
        code <<= 1;
        len += 1;
    }
    t
}

/// The canonical code of `sym` (for tests and the encoder of test inputs).
#[cfg(test)]
pub(crate) fn code_of(sym: usize) -> (u32, u8) {
    let mut code: u32 = 0;
    for len in 1..=30u8 {
        for (s, &l) in LENS.iter().enumerate() {
            if l == len {
                if s == sym {
                    return (code, len);
                }
                code += 1;
            }
        }
        code <<= 1;
    }
    unreachable!("every symbol has a code")
}

/// Huffman-encodes `src` (tests build HPACK inputs with it).
#[cfg(test)]
pub(crate) fn encode(src: &[u8]) -> Vec<u8> {
    let (mut acc, mut bits, mut out) = (0u64, 0u32, Vec::new());
    for &b in src {
        let (c, l) = code_of(usize::from(b));
        acc = (acc << l) | u64::from(c);
        bits += u32::from(l);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
    out
}

/// The string is not valid Huffman code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Appends the decoding of `src` to `out` (at most 8/5 of `src`'s length).
pub(crate) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    let mut node = 0usize;
    // Bits since the last symbol, and whether they were all ones (padding).
    let (mut depth, mut ones) = (0u32, true);
    for &byte in src {
        for i in (0..8).rev() {
            let bit = usize::from((byte >> i) & 1);
            let next = TREE[node][bit];
            if next & LEAF != 0 {
                let sym = next & !LEAF;
                if sym > 255 {
                    return Err(Invalid);
                }
                out.push(sym as u8);
                (node, depth, ones) = (0, 0, true);
            } else if next == 0 {
                return Err(Invalid);
            } else {
                node = usize::from(next);
                depth += 1;
                ones &= bit == 1;
            }
        }
    }
    if depth > 7 || !ones {
        return Err(Invalid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_appendix_b() {
        // A few rows of RFC 7541 Appendix B, as hex and length.
        for (sym, code, len) in [
            (0usize, 0x1ff8u32, 13u8),
            (b' ' as usize, 0x14, 6),
            (b'0' as usize, 0x0, 5),
            (b'a' as usize, 0x3, 5),
            (b'z' as usize, 0x7b, 7),
            (9, 0xffffea, 24),
            (10, 0x3ffffffc, 30),
            (255, 0x3ffffee, 26),
            (256, 0x3fffffff, 30),
        ] {
            assert_eq!(code_of(sym), (code, len), "symbol {sym}");
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        decode(&encode(&all), &mut out).unwrap();
        assert_eq!(out, all);
        out.clear();
        decode(b"", &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn invalid_strings_are_refused() {
        let mut out = Vec::new();
        // EOS (30 ones) inside a string.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff], &mut out), Err(Invalid));
        // Padding of 8 ones or more.
        let mut s = encode(b"a");
        s.push(0xff);
        assert_eq!(decode(&s, &mut out), Err(Invalid));
        // Padding with a zero bit: 'a' is 00011, pad 000.
        assert_eq!(decode(&[0x18], &mut out), Err(Invalid));
    }
}
