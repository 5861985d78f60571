//! Every limit at cap-1, cap and cap+1, through whole connections (each run also
//! through the incremental-feed check).

use super::{run_all_splits, Step};
use crate::event::Flags;
use crate::http::{Dir, HttpConn};
use crate::limits::Limits;

fn get_with_host(host: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

#[test]
fn head_size_at_cap_minus_one_cap_and_cap_plus_one() {
    // "GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n" is 26 bytes plus the host.
    let cap = 64;
    let limits = Limits {
        max_header_bytes: cap,
        ..Limits::default()
    };
    for (len, too_large) in [(cap - 1, false), (cap, false), (cap + 1, true)] {
        let host = "h".repeat(len - 26);
        let req = get_with_host(&host);
        assert_eq!(req.len(), len);
        let out = run_all_splits(
            &[
                Step::Data(Dir::Orig, 1, req),
                Step::Data(Dir::Resp, 2, OK.to_vec()),
            ],
            &limits,
        );
        assert_eq!(
            out.counters.header_too_large,
            u64::from(too_large),
            "head of {len}"
        );
        assert_eq!(out.exchanges.len(), 1);
        let ex = &out.exchanges[0];
        assert_eq!(ex.flags.contains(Flags::TRUNCATED), too_large);
        assert_eq!(ex.status, Some(200));
        assert_eq!(ex.method.as_bytes(), b"GET");
        // Cut off in the middle of the final CRLF: the Host line itself was complete.
        assert_eq!(ex.host.as_bytes(), host.as_bytes());
    }
}

#[test]
fn header_count_at_cap_minus_one_cap_and_cap_plus_one() {
    let cap = 4;
    let limits = Limits {
        max_headers: cap,
        ..Limits::default()
    };
    for (n, too_many) in [(cap - 1, false), (cap, false), (cap + 1, true)] {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n - 1 {
            req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"Host: last\r\n\r\n");
        let out = run_all_splits(
            &[
                Step::Data(Dir::Orig, 1, req),
                Step::Data(Dir::Resp, 2, OK.to_vec()),
            ],
            &limits,
        );
        assert_eq!(
            out.counters.too_many_headers,
            u64::from(too_many),
            "{n} headers"
        );
        let ex = &out.exchanges[0];
        assert_eq!(ex.flags.contains(Flags::TRUNCATED), too_many);
        // Host is the last field: kept only within the limit.
        assert_eq!(
            ex.host.as_bytes(),
            if too_many { &b""[..] } else { &b"last"[..] }
        );
    }
}

#[test]
fn pending_queue_at_cap_minus_one_cap_and_cap_plus_one() {
    let cap = 3;
    let limits = Limits {
        max_pending_requests: cap,
        ..Limits::default()
    };
    for (n, overflow) in [(cap - 1, 0), (cap, 0), (cap + 1, 1)] {
        let steps: Vec<Step> = (0..n)
            .map(|i| {
                Step::Data(
                    Dir::Orig,
                    i as u64 + 1,
                    format!("GET /{i} HTTP/1.1\r\n\r\n").into_bytes(),
                )
            })
            .collect();
        let out = run_all_splits(&steps, &limits);
        assert_eq!(out.counters.pending_overflow, overflow, "{n} requests");
        assert_eq!(out.exchanges.len(), n);
        for (i, ex) in out.exchanges.iter().enumerate() {
            assert_eq!(
                ex.path.as_bytes(),
                format!("/{i}").as_bytes(),
                "request order kept"
            );
            assert_eq!(ex.flags, Flags::NO_RESPONSE);
        }
    }
}

#[test]
fn string_length_at_cap_minus_one_cap_and_cap_plus_one() {
    let cap = 10;
    let limits = Limits {
        max_string_len: cap,
        ..Limits::default()
    };
    for (len, cut) in [(cap - 1, false), (cap, false), (cap + 1, true)] {
        let host = "a".repeat(len);
        let out = run_all_splits(
            &[
                Step::Data(Dir::Orig, 1, get_with_host(&host)),
                Step::Data(Dir::Resp, 2, OK.to_vec()),
            ],
            &limits,
        );
        let ex = &out.exchanges[0];
        assert_eq!(ex.host.bytes.len(), len.min(cap));
        assert_eq!(ex.host.truncated, cut);
        assert_eq!(ex.flags.contains(Flags::TRUNCATED), cut);
        assert_eq!(out.counters.strings_truncated, u64::from(cut));
    }
}

#[test]
fn candidate_line_at_head_cap_while_hunting() {
    // A request line longer than the head limit is never taken for a start line.
    let limits = Limits {
        max_header_bytes: 40,
        ..Limits::default()
    };
    let long = format!("FOO /{} HTTP/1.1\r\n\r\n", "p".repeat(40)).into_bytes();
    let out = run_all_splits(&[Step::Data(Dir::Orig, 1, long)], &limits);
    assert!(out.exchanges.is_empty());
    assert_eq!(out.counters.requests, 0);
    // A known method is recognised at once: the over-long head is a truncated request.
    let long = format!("GET /{} HTTP/1.1\r\n\r\n", "p".repeat(40)).into_bytes();
    let out = run_all_splits(&[Step::Data(Dir::Orig, 1, long)], &limits);
    assert_eq!(out.exchanges.len(), 1);
    assert!(out.exchanges[0].flags.contains(Flags::TRUNCATED));
    assert_eq!(out.counters.header_too_large, 1);
}

#[test]
fn idle_connection_is_small() {
    let size = std::mem::size_of::<HttpConn>();
    eprintln!("size_of::<HttpConn>() = {size}");
    assert!(size <= 400, "HttpConn is {size} bytes");
}

#[test]
fn empty_gap_changes_nothing() {
    let req = b"GET / HTTP/1.1\r\nHost: z\r\n\r\n".to_vec();
    let plain = run_all_splits(
        &[
            Step::Data(Dir::Orig, 1, req.clone()),
            Step::Data(Dir::Resp, 2, OK.to_vec()),
        ],
        &Limits::default(),
    );
    let with_gaps = run_all_splits(
        &[
            Step::Gap(Dir::Orig, 1, 0),
            Step::Data(Dir::Orig, 1, req),
            Step::Gap(Dir::Resp, 2, 0),
            Step::Data(Dir::Resp, 2, OK.to_vec()),
        ],
        &Limits::default(),
    );
    assert_eq!(plain, with_gaps);
    assert_eq!(plain.exchanges[0].status, Some(200));
}
