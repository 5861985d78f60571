//! The header block grammar, read in one pass: the fields of a block as
//! `httparse::parse_headers` reads them with its default configuration, field for field.
//!
//! Contract: [`each_field`] hands every `name: value` field of `block` to `each`, in order,
//! and returns the offset just past the empty line that ends the block; `None` when the
//! block does not end in `block` or breaks the grammar (then some fields may have been
//! handed over already: the caller starts again from a fresh state). The grammar is
//! `httparse`'s (1.10, default configuration), which decides what a clean head is and
//! which the tshark oracle tests agree with:
//! - a line ends with CRLF or a bare LF (a CR followed by anything else is an error);
//! - a name is one or more `tchar`s, followed at once by `:` (no space before it);
//! - spaces and tabs after the colon are skipped; the value is every byte up to the line
//!   end, which must be a tab, `0x20..=0x7e` or `0x80..=0xff`; spaces and tabs at its end
//!   are trimmed;
//! - no obsolete line folding (a line starting with a space or tab is an error), and the
//!   empty line ends the block.
//!
//! Why not `httparse` itself: the engine keeps seven fields of a head, and `httparse`
//! with the batch loop around it (a stack array of 16 headers set up per call, a runtime
//! SIMD dispatch per field, a byte loop over every name) was 31.6 % of the instructions
//! of a run on the first 300,000 packets of the 2 GB bench capture (500.6 M of
//! 1,586.7 M). Here a value, most of a head's bytes, is checked 16 bytes a step (SSE2
//! through `safe_arch`, no `unsafe`; 8 in a `u64` elsewhere): the same run takes
//! 1,521.4 M with the `u64` scan. `httparse` stays the oracle: the tests
//! beside this file and the `http_headers` fuzz target (`crate::fuzzing`)
//! compare both on every input they make. Total over arbitrary input; no allocation.

use super::is_tchar;

/// `tchar` by byte value.
pub(super) static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = is_tchar(b as u8);
        b += 1;
    }
    t
};

/// Every field of a header block, in order, to `each(name, value)`; the offset just past
/// the empty line, or `None` (see the module documentation).
#[inline]
pub(crate) fn each_field(block: &[u8], mut each: impl FnMut(&[u8], &[u8])) -> Option<usize> {
    let mut i = 0;
    loop {
        match *block.get(i)? {
            b'\n' => return Some(i + 1),
            b'\r' => return (*block.get(i + 1)? == b'\n').then_some(i + 2),
            _ => {}
        }
        let start = i;
        match name_len(block.get(i..)?) {
            Some(n) => i += n,
            None => {
                while TCHAR[usize::from(*block.get(i)?)] {
                    i += 1;
                }
            }
        }
        if i == start || block[i] != b':' {
            return None;
        }
        let name = &block[start..i];
        i += 1;
        while matches!(*block.get(i)?, b' ' | b'\t') {
            i += 1;
        }
        let value_start = i;
        // The value runs to the first control byte that is not a tab: the line end.
        let end = loop {
            i += first_control(block.get(i..)?)?;
            if block[i] != b'\t' {
                break i;
            }
            i += 1;
        };
        i = match block[end] {
            b'\n' => end + 1,
            b'\r' if *block.get(end + 1)? == b'\n' => end + 2,
            _ => return None,
        };
        // Trailing spaces only: the leading ones are skipped above (`trim_ows`, both
        // ends, cost 17 M more instructions on the bench slice).
        let mut value = &block[value_start..end];
        while let [v @ .., b' ' | b'\t'] = value {
            value = v;
        }
        each(name, value);
    }
}

/// The length of the name `line` starts with, when its first 16 bytes hold it and its
/// colon and it is made of the usual `tchar`s (letters, digits, `-`): one SSE2 step.
/// `None` says nothing (the caller reads the name byte by byte).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn name_len(line: &[u8]) -> Option<usize> {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let splat = |b: u8| set_splat_i8_m128i(b as i8);
    let x = load_unaligned_m128i(line.first_chunk::<16>()?);
    // Signed compares: bytes from 0x80 are below zero, in no range here.
    let lower = x | splat(0x20);
    let letter =
        cmp_gt_mask_i8_m128i(lower, splat(b'a' - 1)) & cmp_lt_mask_i8_m128i(lower, splat(b'z' + 1));
    let digit = cmp_gt_mask_i8_m128i(x, splat(b'0' - 1)) & cmp_lt_mask_i8_m128i(x, splat(b'9' + 1));
    let usual = move_mask_i8_m128i(letter | digit | cmp_eq_mask_i8_m128i(x, splat(b'-'))) as u32;
    let colon = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(x, splat(b':'))) as u32;
    let n = (!usual).trailing_zeros();
    (n < 16 && colon >> n & 1 == 1).then_some(n as usize)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn name_len(_: &[u8]) -> Option<usize> {
    None
}

/// The index of the first byte of `b` below `0x20` or equal to `0x7f`: 16 bytes a step
/// with SSE2 (every x86-64), else 8 with [`first_control_swar`].
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn first_control(b: &[u8]) -> Option<usize> {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, cmp_lt_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i, zeroed_m128i,
    };
    let (space, del, zero) = (
        set_splat_i8_m128i(0x20),
        set_splat_i8_m128i(0x7f),
        zeroed_m128i(),
    );
    let mut at = 0;
    while let Some(w) = b.get(at..).and_then(|r| r.first_chunk::<16>()) {
        let x = load_unaligned_m128i(w);
        // Signed: 0x80..=0xff are below zero, and allowed.
        let below = cmp_lt_mask_i8_m128i(x, space) & !cmp_lt_mask_i8_m128i(x, zero);
        let hits = move_mask_i8_m128i(below | cmp_eq_mask_i8_m128i(x, del)) as u32;
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize);
        }
        at += 16;
    }
    first_control_swar(b.get(at..)?).map(|k| at + k)
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline]
fn first_control(b: &[u8]) -> Option<usize> {
    first_control_swar(b)
}

/// [`first_control`] 8 bytes a step in a `u64` (any target; the tail of the SSE2 scan).
#[inline]
fn first_control_swar(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = b.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        // A byte's high bit is set where it is below 0x20 (resp. equal to 0x7f). Above
        // the first such byte a borrow can set more, so only the lowest one is read.
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let del = x ^ (ONES * 0x7f);
        let del = del.wrapping_sub(ONES) & !del;
        let hits = (below | del) & HIGH;
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let k = words
        .remainder()
        .iter()
        .position(|&c| c < 0x20 || c == 0x7f)?;
    Some(at + k)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fuzzing::{header_fields as by_fields, header_fields_by_httparse as by_httparse};

    fn same(block: &[u8]) {
        assert_eq!(
            by_fields(block),
            by_httparse(block),
            "block {:?}",
            String::from_utf8_lossy(block)
        );
    }

    const HEADS: [&[u8]; 8] = [
        b"Host: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0)\r\nAccept: */*\r\n\r\nbody",
        b"host:a\nx-forwarded-for:  10.0.0.1 , 10.0.0.2\t \nContent-Length: 12\n\n",
        b"Server: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 19:58:00 GMT\r\nContent-Type: text/html\r\nContent-Length: 615\r\nConnection: keep-alive\r\n\r\n",
        b"A:\r\nB: \r\nC:\t\r\nD:x\r\n\r\n",
        b"\r\n",
        b"\n",
        b"X-Long: 0123456789abcdef0123456789abcdef0123456789abcdef\tend \xff\x80 tail\r\n\r\n",
        b"a:1\r\nb:2\r\nc:3\r\nd:4\r\ne:5\r\nf:6\r\ng:7\r\nh:8\r\ni:9\r\nj:10\r\nk:11\r\nl:12\r\nm:13\r\nn:14\r\no:15\r\np:16\r\nq:17\r\nr:18\r\n\r\n",
    ];

    #[test]
    fn clean_heads_read_as_httparse_reads_them() {
        for h in HEADS {
            assert!(by_fields(h).is_some());
            same(h);
        }
    }

    #[test]
    fn every_byte_at_every_position_reads_as_httparse() {
        for h in HEADS {
            for at in 0..h.len() {
                for b in 0..=255u8 {
                    let mut m = h.to_vec();
                    m[at] = b;
                    same(&m);
                }
            }
        }
    }

    #[test]
    fn every_cut_reads_as_httparse() {
        for h in HEADS {
            for n in 0..=h.len() {
                same(&h[..n]);
            }
        }
    }

    #[test]
    fn random_blocks_read_as_httparse() {
        // Bytes that matter to the grammar, and some that do not, so that most blocks
        // go some way before they end or break.
        const ALPHABET: &[u8] = b"::::\r\r\n\n\n  \t\t\x00\x7f\x80\xffaAz-_~@\"(,;=/ 0";
        let mut next = crate::http::parse::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let (mut complete, mut broken) = (0, 0);
        for _ in 0..300_000 {
            let len = (next() % 48) as usize;
            let block: Vec<u8> = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            same(&block);
            match by_fields(&block) {
                Some(_) => complete += 1,
                None => broken += 1,
            }
        }
        // Both outcomes are well exercised.
        assert!(complete > 10_000 && broken > 10_000, "{complete} {broken}");
    }

    #[test]
    fn name_len_is_the_byte_loops_answer_or_none() {
        let by_bytes = |l: &[u8]| {
            let n = l.iter().position(|&b| !TCHAR[usize::from(b)])?;
            (l[n] == b':').then_some(n)
        };
        let mut line = *b"Accept-Encoding: gzip";
        assert_eq!(name_len(&line), by_bytes(&line));
        for at in 0..17 {
            for b in 0..=255u8 {
                let keep = line[at];
                line[at] = b;
                if let Some(n) = name_len(&line) {
                    assert_eq!(Some(n), by_bytes(&line), "{at} {b}");
                }
                line[at] = keep;
            }
        }
    }

    #[test]
    fn first_control_finds_the_first_bad_byte_at_every_position() {
        let good = |k: usize| [b' ', 0x7e, 0x80, 0xff, b'a'][k % 5];
        for len in 0..40 {
            let clean: Vec<u8> = (0..len).map(good).collect();
            assert_eq!(first_control(&clean), None);
            assert_eq!(first_control_swar(&clean), None);
            for at in 0..len {
                for bad in (0..0x20u8).chain([0x7f]) {
                    let mut b = clean.clone();
                    b[at] = bad;
                    // Bytes after it that a borrow could flag.
                    for (k, c) in b.iter_mut().enumerate().skip(at + 1) {
                        *c = [0x01, 0x21, 0x80, 0x7f, 0x00][k % 5];
                    }
                    assert_eq!(first_control(&b), Some(at), "len {len} at {at} bad {bad}");
                    assert_eq!(first_control_swar(&b), Some(at));
                }
            }
        }
    }
}
