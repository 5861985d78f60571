//! Tests of the HTTP/1.x syntax helpers.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::event::Version;

fn v(major: u8, minor: u8) -> Version {
    Version { major, minor }
}

#[test]
fn request_lines() {
    let ok = |l: &'static [u8]| parse_request_line(l).ok();
    assert_eq!(
        ok(b"GET / HTTP/1.1\r\n"),
        Some(RequestLine {
            method: b"GET",
            target: b"/",
            version: v(1, 1),
            simple: false,
            malformed: false
        })
    );
    assert_eq!(
        ok(b"CCM_POST /x HTTP/1.0\n"),
        Some(RequestLine {
            method: b"CCM_POST",
            target: b"/x",
            version: v(1, 0),
            simple: false,
            malformed: false
        })
    );
    assert_eq!(
        ok(b"GET /old\r\n"),
        Some(RequestLine {
            method: b"GET",
            target: b"/old",
            version: v(0, 9),
            simple: false,
            malformed: true
        })
    );
    assert_eq!(
        ok(b"get  /a b  HTTP/1.1").map(|r| r.target),
        Some(&b"/a b"[..])
    );
    // Known methods make a (malformed) request of a broken line, as tshark does.
    let malformed = |l: &'static [u8]| ok(l).map(|r| (r.method, r.target, r.malformed));
    assert_eq!(
        malformed(b"POST /old\r\n"),
        Some((&b"POST"[..], &b"/old"[..], true))
    );
    assert_eq!(
        malformed(b"GET / HTTP/1.1x\r\n"),
        Some((&b"GET"[..], &b"/"[..], true))
    );
    assert_eq!(
        malformed(b"OPTIONS\r\n"),
        Some((&b"OPTIONS"[..], &b""[..], true))
    );
    assert!(ok(b"FOO /old\r\n").is_none());
    assert!(ok(b"FOO\r\n").is_none());
    assert!(ok(b" GET / HTTP/1.1\r\n").is_none());
    assert!(ok(b"").is_none());
    assert_eq!(
        parse_request_line(b"FOO / HTTP/x\r\n"),
        Err(BadRequestLine {
            method: Some(b"FOO"),
            target: b"/"
        })
    );
    assert_eq!(
        parse_request_line(b"\x16\x03"),
        Err(BadRequestLine {
            method: None,
            target: b""
        })
    );
}

#[test]
fn status_lines() {
    assert_eq!(
        parse_status_line(b"HTTP/1.1 200 OK\r\n"),
        Some(StatusLine {
            version: v(1, 1),
            code: 200
        })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.0 404\n"),
        Some(StatusLine {
            version: v(1, 0),
            code: 404
        })
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.1  204 x"),
        Some(StatusLine {
            version: v(1, 1),
            code: 204
        })
    );
    assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1 20 OK"), None);
    assert_eq!(parse_status_line(b"HTTP/1.1200 OK"), None);
    assert_eq!(parse_status_line(b"HTTP/1."), None);
}

fn scan_all(bytes: &[u8], want: Want) -> Verdict {
    LineScan::new().feed(bytes, want).1
}

#[test]
fn line_scan_verdicts_are_split_independent() {
    let both = Want {
        request: true,
        status: true,
    };
    let cases: &[(&[u8], Verdict)] = &[
        (b"GET / HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
        (b"M-SEARCH * HTTP/1.1\n", Verdict::Yes(StartKind::Request)),
        (b"HTTP/1.1 200 OK\r\n", Verdict::Yes(StartKind::Status)),
        (b"HTTP/1.0 304\r\n", Verdict::Yes(StartKind::Status)),
        (b"get / HTTP/1.1\r\n", Verdict::No),
        (b"\x16\x03\x01", Verdict::No),
        (b"SSH-2.0-OpenSSH\r\n", Verdict::No),
        (b"GET /a b HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
        (b"FOO /a b HTTP/1.1\r\n", Verdict::No),
        (b"GET /\x01 HTTP/1.1\r\n", Verdict::Yes(StartKind::Request)),
        (b"FOO /\x01 HTTP/1.1\r\n", Verdict::No),
        (b"GET / HTTP/1.1x", Verdict::Yes(StartKind::Request)),
        (b"FOO / HTTP/1.1x", Verdict::No),
        (b"OPTIONS\n", Verdict::Yes(StartKind::Request)),
        (b"GET/ HTTP/1.1\r\n", Verdict::No),
        (b"ABCDEFGHIJKLMNOPQRSTU / HTTP/1.1\r\n", Verdict::No),
        (
            b"ABCDEFGHIJKLMNOPQRST / HTTP/1.1\r\n",
            Verdict::Yes(StartKind::Request),
        ),
        (b"FOO / HTTP/1.", Verdict::Maybe),
        (b"", Verdict::Maybe),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            scan_all(bytes, both),
            *want,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        let mut s = LineScan::new();
        let mut last = Verdict::Maybe;
        for b in bytes.iter() {
            let (_, v) = s.feed(std::slice::from_ref(b), both);
            if v != Verdict::Maybe {
                last = v;
                break;
            }
        }
        assert_eq!(last, *want);
    }
    let req_only = Want {
        request: true,
        status: false,
    };
    assert_eq!(scan_all(b"HTTP/1.1 200 OK\r\n", req_only), Verdict::No);
}

#[test]
fn head_end_across_boundaries() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
    assert_eq!(find_head_end(LineState::Content, head), Some(27));
    for split in 0..head.len() {
        let (a, b) = head.split_at(split);
        let found = match find_head_end(LineState::Content, a) {
            Some(e) => Some(e),
            None => find_head_end(line_state_after(LineState::Content, a), b).map(|e| e + split),
        };
        assert_eq!(found, Some(27), "split {split}");
    }
    assert_eq!(
        find_head_end(LineState::Content, b"GET / HTTP/1.1\n\n"),
        Some(16)
    );
    assert_eq!(
        find_head_end(LineState::Content, b"GET / HTTP/1.1\r\n\r\r\n"),
        None
    );
}

/// `Field::of` (length dispatch, word-wise comparison) agrees with a plain
/// `eq_ignore_ascii_case` against each of the seven names, for every byte value at every
/// position of each name (CR where `-` is, letters of either case, bytes >= 0x80), and
/// for names one byte shorter or longer.
#[test]
fn field_names_match_exactly() {
    use super::headers::Field;
    const NAMES: [(&[u8], Field); 7] = [
        (b"host", Field::Host),
        (b"upgrade", Field::Upgrade),
        (b"forwarded", Field::Forwarded),
        (b"user-agent", Field::UserAgent),
        (b"content-length", Field::ContentLength),
        (b"x-forwarded-for", Field::XForwardedFor),
        (b"transfer-encoding", Field::TransferEncoding),
    ];
    let plain = |name: &[u8]| {
        NAMES
            .iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|&(_, f)| f)
    };
    for (n, f) in NAMES {
        assert_eq!(Field::of(n), Some(f));
        assert_eq!(Field::of(&n.to_ascii_uppercase()), Some(f));
        for at in 0..n.len() {
            for b in 0..=255u8 {
                let mut name = n.to_vec();
                name[at] = b;
                assert_eq!(Field::of(&name), plain(&name), "{name:?}");
            }
        }
        assert_eq!(Field::of(&n[1..]), plain(&n[1..]));
        assert_eq!(Field::of(&[n, b"s"].concat()), None);
    }
    for name in [
        &b""[..],
        b"a",
        b"ho",
        b"date",
        b"cookie",
        b"connection",
        b"content-type",
    ] {
        assert_eq!(Field::of(name), plain(name), "{name:?}");
    }
}

#[test]
fn content_length_values() {
    let cl = |v: &[u8]| {
        let mut s = HeaderSummary::default();
        s.take(b"Content-Length", v, 10, 10);
        s.content_length
    };
    assert_eq!(cl(b"0"), ContentLength::Valid(0));
    assert_eq!(cl(b"18446744073709551615"), ContentLength::Valid(u64::MAX));
    assert_eq!(cl(b"18446744073709551616"), ContentLength::Bad);
    assert_eq!(cl(b"-1"), ContentLength::Bad);
    assert_eq!(cl(b"+1"), ContentLength::Bad);
    assert_eq!(cl(b""), ContentLength::Bad);
    assert_eq!(cl(b"5, 5"), ContentLength::Valid(5));
    assert_eq!(cl(b"5, 6"), ContentLength::Bad);
    assert_eq!(cl(b"0x10"), ContentLength::Bad);
    let mut s = HeaderSummary::default();
    s.take(b"content-length", b"5", 10, 10);
    s.take(b"CONTENT-LENGTH", b"5", 10, 10);
    assert_eq!(s.content_length, ContentLength::Valid(5));
    s.take(b"content-length", b"6", 10, 10);
    assert_eq!(s.content_length, ContentLength::Bad);
}

#[test]
fn transfer_encoding_values() {
    let te = |vals: &[&[u8]]| {
        let mut s = HeaderSummary::default();
        for v in vals {
            s.take(b"Transfer-Encoding", v, 10, 10);
        }
        s.transfer_encoding
    };
    assert_eq!(te(&[b"chunked"]), TransferEncoding::Chunked);
    assert_eq!(te(&[b"gzip, Chunked"]), TransferEncoding::Chunked);
    assert_eq!(te(&[b"chunked, gzip"]), TransferEncoding::Other);
    assert_eq!(te(&[b"gzip", b"chunked"]), TransferEncoding::Chunked);
    assert_eq!(te(&[b"identity"]), TransferEncoding::Other);
}

#[test]
fn headers_obs_fold_and_salvage() {
    let s = scan_headers(b"Host: a\r\nUser-Agent: x\r\n  y\r\n\r\n", 10, 100);
    assert!(s.obs_fold && !s.malformed);
    assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"a".to_vec()));
    assert_eq!(
        s.user_agent.map(|h| h.bytes.to_vec()),
        Some(b"x    y".to_vec())
    );
    let s = scan_headers(b"Host: a\x1bb\r\nContent-Length: 3\r\n\r\n", 10, 100);
    assert!(s.malformed);
    assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"a\x1bb".to_vec()));
    assert_eq!(s.content_length, ContentLength::Valid(3));
}

#[test]
fn headers_past_one_batch_keep_framing() {
    let mut block = Vec::new();
    for i in 0..300 {
        block.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    block.extend_from_slice(b"Content-Length: 7\r\nHost: late\r\n\r\n");
    let s = scan_headers(&block, 128, 100);
    assert_eq!(s.count, 302);
    assert!(s.too_many(128) && !s.malformed);
    assert_eq!(s.content_length, ContentLength::Valid(7));
    assert_eq!(s.host, None);
    let s = scan_headers(&block, 1000, 100);
    assert_eq!(s.host.map(|h| h.bytes.to_vec()), Some(b"late".to_vec()));
}

#[test]
fn absolute_targets() {
    let (a, p) = split_absolute(b"http://h:8080/x?y").unwrap();
    assert_eq!((a, &*p), (&b"h:8080"[..], &b"/x?y"[..]));
    let (a, p) = split_absolute(b"http://u:p@h").unwrap();
    assert_eq!((a, &*p), (&b"h"[..], &b"/"[..]));
    let (_, p) = split_absolute(b"http://h?q").unwrap();
    assert_eq!(&*p, b"/?q");
    assert!(split_absolute(b"/a://b").is_none());
    assert!(split_absolute(b"h:80").is_none());
}

fn chunk_all(parts: &[&[u8]]) -> (Chunk, Option<ChunkStep>, usize) {
    let mut c = Chunk::START;
    let mut used = 0;
    for p in parts {
        match c.feed(p) {
            ChunkStep::More => used += p.len(),
            s => return (c, Some(s), used),
        }
    }
    (c, None, used)
}

#[test]
fn chunked_framing() {
    let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\nNEXT";
    for split in 0..body.len() {
        let (a, b) = body.split_at(split);
        let (_, step, used) = chunk_all(&[a, b]);
        let end = match step {
            Some(ChunkStep::Done(n)) => used + n,
            other => panic!("split {split}: {other:?}"),
        };
        assert_eq!(end, body.len() - 4, "split {split}");
    }
    assert_eq!(chunk_all(&[b"0\n\n"]).1, Some(ChunkStep::Done(3)));
    assert_eq!(
        chunk_all(&[b"10000000000000000\r\n"]).1,
        Some(ChunkStep::Bad(17))
    );
    assert_eq!(
        chunk_all(&[b"0000000000000000000000001\r\nx\r\n0\r\n\r\n"]).1,
        Some(ChunkStep::Done(35))
    );
    assert_eq!(
        chunk_all(&[b"ffffffffffffffff\r\n"]).0,
        Chunk::Data { left: u64::MAX }
    );
    assert_eq!(chunk_all(&[b"zz\r\n"]).1, Some(ChunkStep::Bad(1)));
    assert_eq!(chunk_all(&[b"\r\n"]).1, Some(ChunkStep::Bad(1)));
    assert_eq!(chunk_all(&[b"2\r\nabX"]).1, Some(ChunkStep::Bad(6)));
}

#[test]
fn chunk_gap() {
    let mut c = Chunk::Data { left: 10 };
    assert_eq!(c.gap(4), Ok(()));
    assert_eq!(c.gap(6), Ok(()));
    assert_eq!(c, Chunk::DataCr);
    assert_eq!(c.gap(1), Err(0));
    let mut c = Chunk::Data { left: 3 };
    assert_eq!(c.gap(5), Err(3));
}
