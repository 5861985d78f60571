//! RFC 7541 Appendix C, and the decoder's caps.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn run(d: &mut Decoder, block: &[u8]) -> (Vec<(String, String)>, Block) {
    let mut got = Vec::new();
    let r = d.decode(block, usize::MAX, MAX_TABLE, &mut |n, v| {
        got.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    });
    (got, r)
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A block (hex), the fields it decodes to, the table size after it.
type Step<'a> = (&'a str, &'a [(&'a str, &'a str)], usize);

/// Runs each step through one decoder.
fn sequence(d: &mut Decoder, steps: &[Step<'_>]) {
    for (i, (block, want, size)) in steps.iter().enumerate() {
        let (got, r) = run(d, &hex(block));
        assert_eq!(r.error, None, "step {i}");
        assert_eq!(got, fields(want), "step {i}");
        assert_eq!(d.table().0, *size, "table size after step {i}");
    }
}

#[test]
fn c2_literal_and_indexed_fields() {
    sequence(
        &mut Decoder::default(),
        &[(
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            &[("custom-key", "custom-header")],
            55,
        )],
    );
    sequence(
        &mut Decoder::default(),
        &[(
            "040c 2f73 616d 706c 652f 7061 7468",
            &[(":path", "/sample/path")],
            0,
        )],
    );
    sequence(
        &mut Decoder::default(),
        &[(
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            &[("password", "secret")],
            0,
        )],
    );
    sequence(&mut Decoder::default(), &[("82", &[(":method", "GET")], 0)]);
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    sequence(
        &mut Decoder::default(),
        &[
            (
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                REQ1,
                57,
            ),
            ("8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110),
            (
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                REQ3,
                164,
            ),
        ],
    );
}

#[test]
fn c4_requests_with_huffman() {
    sequence(
        &mut Decoder::default(),
        &[
            ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, 57),
            ("8286 84be 5886 a8eb 1064 9cbf", REQ2, 110),
            (
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                REQ3,
                164,
            ),
        ],
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

/// C.5 and C.6 use a 256-byte table (as if announced and signalled).
fn small_table() -> Decoder {
    let mut d = Decoder::default();
    d.table.resize(256);
    d
}

#[test]
fn c5_responses_without_huffman_evict() {
    sequence(
        &mut small_table(),
        &[
            (
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                 6c65 2e63 6f6d",
                RESP1,
                222,
            ),
            ("4803 3330 37c1 c0bf", RESP2, 222),
            (
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                 3d31",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn c6_responses_with_huffman_evict() {
    sequence(
        &mut small_table(),
        &[
            (
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                RESP1,
                222,
            ),
            ("4883 640e ffc1 c0bf", RESP2, 222),
            (
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                RESP3,
                215,
            ),
        ],
    );
}

#[test]
fn integers_never_overflow() {
    let mut pos = 0;
    assert_eq!(int(&[0x1f, 0x9a, 0x0a], &mut pos, 5), Ok(1337), "C.1.2");
    for bad in [
        &[0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f][..],
        &[0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
        &[0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        let mut pos = 0;
        assert_eq!(int(bad, &mut pos, 7), Err(Error::Overflow), "{bad:?}");
    }
    let mut pos = 0;
    assert_eq!(int(&[0x7f, 0x80], &mut pos, 7), Err(Error::Truncated));
}

#[test]
fn an_hpack_bomb_stops_at_the_budget_and_keeps_the_table() {
    // One 4,000-byte value inserted, then referenced 10,000 times in one block.
    let mut d = Decoder::default();
    let mut block = vec![0x40, 0x01, b'x', 0x7f];
    let mut n = Vec::new();
    let mut v = 4000u32 - 127;
    while v >= 128 {
        n.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    n.push(v as u8);
    block.extend_from_slice(&n);
    block.extend(std::iter::repeat_n(b'a', 4000));
    block.extend(std::iter::repeat_n(0xbe, 10_000));
    let mut handed = 0usize;
    let r = d.decode(&block, 16 << 10, MAX_TABLE, &mut |n, v| {
        handed += n.len() + v.len() + 32
    });
    assert_eq!(r.error, None);
    assert!(r.over_budget);
    assert!(handed <= 16 << 10);
    assert_eq!(
        r.fields, 4,
        "the literal and three references fit in 16 KiB"
    );
    assert_eq!(d.table().1, 1, "the table was still updated");
    // The next block still decodes against it.
    let (got, r) = run(&mut d, &[0xbe]);
    assert_eq!((got.len(), r.over_budget), (1, false));
}

#[test]
fn size_updates_are_capped_and_checked() {
    let mut d = Decoder::default();
    // 4 GiB - 1: 001 11111 then the rest.
    let (_, r) = run(&mut d, &[0x3f, 0xe0, 0xff, 0xff, 0xff, 0x0f, 0x82]);
    assert_eq!(r.error, None);
    assert!(r.capped && r.over_settings);
    assert_eq!(r.fields, 1);
    assert_eq!(d.table.max, MAX_TABLE);
    // Announced by SETTINGS: not over.
    d.set_allowed(8192);
    let (_, r) = run(&mut d, &[0x3f, 0xe1, 0x3f]);
    assert!(!r.capped && !r.over_settings);
    assert_eq!(d.table.max, 8192);
    // After a field: an error.
    let (_, r) = run(&mut d, &[0x82, 0x20]);
    assert_eq!(r.error, Some(Error::LateSizeUpdate));
}

#[test]
fn invalid_huffman_and_truncation_end_the_block() {
    let mut d = Decoder::default();
    // :path with a Huffman value of 4 bytes of ones (EOS).
    let (got, r) = run(&mut d, &[0x04, 0x84, 0xff, 0xff, 0xff, 0xff, 0x82]);
    assert_eq!((got.len(), r.error), (0, Some(Error::Huffman)));
    let (_, r) = run(&mut d, &[0x04, 0x0c, b'/']);
    assert_eq!(r.error, Some(Error::Truncated));
    let (_, r) = run(&mut d, &[0x80]);
    assert_eq!(r.error, Some(Error::BadIndex));
}

#[test]
fn unknown_dynamic_entries_are_counted_and_keep_alignment() {
    // Picked up mid-stream: index 62 does not exist yet.
    let mut d = Decoder::default();
    let (got, r) = run(&mut d, &hex("82 be 7e03 616263"));
    // GET; unknown 62; a literal with indexed name 62 (unknown) inserted as ("", "abc").
    assert_eq!(got, fields(&[(":method", "GET")]));
    assert_eq!(r.unknown, 2);
    assert_eq!(d.table().1, 1);
    let (got, r) = run(&mut d, &[0xbe]);
    assert_eq!((got, r.unknown), (fields(&[("", "abc")]), 0));
}

#[test]
fn a_table_of_many_entries_compacts_and_stays_bounded() {
    let mut d = Decoder::default();
    for i in 0..10_000u32 {
        let v = format!("{i:08}");
        let mut b = vec![0x40, 0x01, b'k', v.len() as u8];
        b.extend_from_slice(v.as_bytes());
        b.push(0xbe);
        let (got, r) = run(&mut d, &b);
        assert_eq!(r.error, None);
        assert_eq!(got[1], ("k".to_string(), v));
    }
    assert!(d.table().0 <= DEFAULT_TABLE);
    assert!(
        d.heap_bytes() < 4 * DEFAULT_TABLE + 8192,
        "{}",
        d.heap_bytes()
    );
}
