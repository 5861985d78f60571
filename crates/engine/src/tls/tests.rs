use super::*;
use proptest::prelude::*;

fn hs(ty: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut v = vec![ty, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    v.extend_from_slice(body);
    v
}

fn record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty, 3, 1, (body.len() >> 8) as u8, body.len() as u8];
    v.extend_from_slice(body);
    v
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend((data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn v16(d: &[u8]) -> Vec<u8> {
    let mut v = (d.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(d);
    v
}

/// A TLS 1.3 ClientHello with SNI `example.com`, ALPN h2 and http/1.1, GREASE.
fn client_hello() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7; 32]);
    b.push(0);
    b.extend(v16(&[0x2a, 0x2a, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]));
    b.extend([1, 0]);
    let mut sni = vec![0];
    sni.extend(v16(b"example.com"));
    let mut e = ext(0x0a0a, &[]);
    e.extend(ext(0x0000, &v16(&sni)));
    e.extend(ext(0x0010, &v16(b"\x02h2\x08http/1.1")));
    e.extend(ext(0x002b, &[4, 0x03, 0x04, 0x03, 0x03]));
    e.extend(ext(0x000d, &v16(&[0x04, 0x03, 0x08, 0x04])));
    b.extend(v16(&e));
    hs(1, &b)
}

fn server_hello(version13: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([9; 32]);
    b.push(0);
    b.extend([0x13, 0x01, 0]);
    let mut e = ext(0x0010, &v16(b"\x02h2"));
    if version13 {
        e.extend(ext(0x002b, &[0x03, 0x04]));
    }
    b.extend(v16(&e));
    hs(2, &b)
}

fn addrs() -> [SocketAddr; 2] {
    [
        "10.0.0.1:40000".parse().unwrap(),
        "10.0.0.2:443".parse().unwrap(),
    ]
}

const LIMITS: TlsLimits = TlsLimits {
    max_handshake: 64 << 10,
    max_cert: 16 << 10,
    max_string: 1024,
};

/// A TLS 1.2 exchange: the ClientHello split over two records, ServerHello +
/// Certificate in one record, then CCS and application data both ways.
fn transcript12() -> Vec<(Dir, Vec<u8>)> {
    let ch = client_hello();
    let (a, b) = ch.split_at(20);
    let mut c = record(22, a);
    c.extend(record(22, b));
    let leaf = super::cert::tests::leaf_der();
    let cert = super::cert::tests::message(&[&leaf, b"intermediate"]);
    let mut s = server_hello(false);
    s.extend(hs(11, &cert));
    let mut sv = record(22, &s);
    sv.extend(record(20, &[1]));
    vec![
        (Dir::Orig, c),
        (Dir::Resp, sv),
        (Dir::Orig, [record(20, &[1]), record(23, &[0; 40])].concat()),
        (Dir::Resp, record(23, &[0; 30])),
    ]
}

/// Feeds the script with every event's bytes cut at `split` (0: whole); the packet time
/// is the event's index in seconds.
fn run(script: &[(Dir, Vec<u8>)], split: usize) -> (TlsSession, TlsCounters) {
    let mut c = TlsCounters::default();
    let mut t = TlsConn::new(Dir::Orig, addrs(), Timestamp::ZERO, LIMITS);
    for (i, (d, bytes)) in script.iter().enumerate() {
        let ts = Timestamp::from_secs(i as u64);
        if split == 0 || split >= bytes.len() {
            t.feed(*d, ts, StreamEvent::Data(bytes), &mut c);
        } else {
            for chunk in bytes.chunks(split) {
                t.feed(*d, ts, StreamEvent::Data(chunk), &mut c);
            }
        }
    }
    (t.finish(Timestamp::from_secs(9), 1, 2), c)
}

#[test]
fn a_tls12_handshake_gives_its_record_whatever_the_splits() {
    let script = transcript12();
    let (s, c) = run(&script, 0);
    assert_eq!(
        s.sni.as_ref().map(|x| x.as_bytes()),
        Some(&b"example.com"[..])
    );
    assert_eq!(s.alpn_offered.len(), 2);
    assert_eq!(s.alpn.as_ref().map(|x| x.as_bytes()), Some(&b"h2"[..]));
    assert_eq!(s.client_version, Some(0x0304));
    assert_eq!(s.version, Some(0x0303));
    assert_eq!(s.cipher, Some(0x1301));
    assert_eq!(s.handshake_ns, Some(1_000_000_000));
    let cert = s.cert.as_deref().unwrap();
    let leaf_len = super::cert::tests::leaf_der().len() as u32;
    assert_eq!((cert.chain_len, cert.len), (2, leaf_len));
    assert_eq!(
        cert.subject.as_ref().map(|x| x.as_bytes()),
        Some(&b"leaf.example"[..])
    );
    assert_eq!(cert.sans.len(), 4);
    assert!(cert.not_after.is_some() && !s.flags.contains(TlsFlags::BAD_CERT));
    assert_eq!(c.tls_certs_undecoded, 0);
    assert!(s.flags.contains(TlsFlags::COMPLETE), "{:?}", s.flags);
    assert_eq!(s.ja4.as_deref().map(|j| &j[..11]), Some("t13d0304h2_"));
    assert_eq!((s.bytes_to_server, s.bytes_to_client), (1, 2));
    assert_eq!(c.tls_records, 7);
    assert_eq!(c.tls_handshake_messages, 3);
    // Every split size, one byte at a time included, gives the same record.
    let total = script.iter().map(|(_, b)| b.len()).max().unwrap();
    for split in 1..=total {
        assert_eq!(run(&script, split), (s.clone(), c.clone()), "split {split}");
    }
}

#[test]
fn a_tls13_server_hello_ends_the_clear_part_and_a_fatal_alert_is_kept() {
    let script = vec![
        (Dir::Orig, record(22, &client_hello())),
        (
            Dir::Resp,
            [record(22, &server_hello(true)), record(23, &[1; 50])].concat(),
        ),
        (Dir::Orig, record(21, &[2, 48])),
    ];
    let (s, c) = run(&script, 0);
    assert_eq!(s.version, Some(0x0304));
    assert_eq!(
        s.alert,
        Some(TlsAlert {
            level: 2,
            description: 48,
            from_client: true
        })
    );
    assert!(!s.flags.contains(TlsFlags::COMPLETE));
    assert_eq!(c.tls_alerts, 1);
}

#[test]
fn no_server_hello_and_garbage_are_flagged() {
    let script = vec![
        (Dir::Orig, record(22, &client_hello())),
        (Dir::Resp, b"HTTP/1.1 400 Bad Request\r\n".to_vec()),
    ];
    let (s, c) = run(&script, 0);
    assert!(s.flags.contains(TlsFlags::NO_SERVER_HELLO));
    assert!(s.flags.contains(TlsFlags::MALFORMED));
    assert_eq!(c.tls_malformed, 1);
}

#[test]
fn a_huge_handshake_message_is_not_buffered() {
    // A 16 MiB length, delivered in full records: nothing kept, counted once.
    let mut first = vec![1, 0xff, 0xff, 0xff];
    first.extend([0; 16000]);
    let mut script = vec![(Dir::Orig, record(22, &first))];
    for _ in 0..100 {
        script.push((Dir::Orig, record(22, &[0; 16000])));
    }
    let mut c = TlsCounters::default();
    let mut t = TlsConn::new(Dir::Orig, addrs(), Timestamp::ZERO, LIMITS);
    for (d, b) in &script {
        t.feed(*d, Timestamp::ZERO, StreamEvent::Data(b), &mut c);
        assert!(t.heap_bytes() < 4096, "{}", t.heap_bytes());
    }
    assert_eq!(c.tls_handshake_too_large, 1);
    assert_eq!(c.tls_records, 101);
    let s = t.finish(Timestamp::ZERO, 0, 0);
    assert!(s.flags.contains(TlsFlags::TRUNCATED) && s.flags.contains(TlsFlags::NO_CLIENT_HELLO));
}

#[test]
fn a_gap_stops_the_direction() {
    let mut c = TlsCounters::default();
    let mut t = TlsConn::new(Dir::Orig, addrs(), Timestamp::ZERO, LIMITS);
    t.feed(Dir::Orig, Timestamp::ZERO, StreamEvent::Gap(10), &mut c);
    t.feed(
        Dir::Orig,
        Timestamp::ZERO,
        StreamEvent::Data(&record(22, &client_hello())),
        &mut c,
    );
    let s = t.finish(Timestamp::ZERO, 0, 0);
    assert!(s.flags.contains(TlsFlags::GAP) && s.ja4.is_none());
    assert_eq!((c.tls_gaps, c.tls_records), (1, 0));
}

#[test]
fn detection_needs_a_handshake_record_header() {
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 0, 200]), Some(true));
    assert_eq!(looks_like_tls(&[0x16, 3, 4, 2, 0, 1]), Some(true));
    assert_eq!(looks_like_tls(&[0x16, 3]), None);
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 0, 0]), Some(false));
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 0xff, 0xff]), Some(false));
    assert_eq!(looks_like_tls(&[0x16, 2]), Some(false));
    assert_eq!(looks_like_tls(b"GET /"), Some(false));
}

proptest! {
    /// Random bytes (and random bytes after a valid record header) never panic, and the
    /// buffered handshake stays within its cap.
    #[test]
    fn random_input_never_panics(
        a in proptest::collection::vec(any::<u8>(), 0..600),
        b in proptest::collection::vec(any::<u8>(), 0..600),
        cut in 0usize..600,
    ) {
        let mut c = TlsCounters::default();
        let mut t = TlsConn::new(Dir::Orig, addrs(), Timestamp::ZERO, LIMITS);
        let mut with_hdr = vec![0x16, 3, 3, (b.len() >> 8) as u8, b.len() as u8, 1];
        with_hdr.extend(&b);
        let (x, y) = a.split_at(cut.min(a.len()));
        for (d, bytes) in [(Dir::Orig, &with_hdr[..]), (Dir::Resp, x), (Dir::Resp, y), (Dir::Orig, &a[..])] {
            t.feed(d, Timestamp::ZERO, StreamEvent::Data(bytes), &mut c);
            prop_assert!(t.heap_bytes() < 2 * LIMITS.max_handshake + 4096);
        }
        let _ = ClientHello::parse(&a);
        let _ = ServerHello::parse(&a);
        let _ = t.finish(Timestamp::ZERO, 0, 0);
    }
}

fn hello_retry_request() -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend(super::hello::HRR_RANDOM);
    b.push(0);
    b.extend([0x13, 0x02, 0]);
    let mut e = ext(0x002b, &[0x03, 0x04]);
    e.extend(ext(0x0033, &[0x00, 0x17])); // key_share: the group wanted
    b.extend(v16(&e));
    hs(2, &b)
}

/// TLS 1.3 with a HelloRetryRequest, middlebox-compatibility CCS records both ways:
/// ClientHello (t0), HRR + CCS (t1), CCS + a second ClientHello with another SNI and no
/// ALPN (t2), the real ServerHello (t3), then encrypted records.
fn transcript_hrr() -> Vec<(Dir, Vec<u8>)> {
    let mut ch2 = client_hello();
    let at = ch2.windows(11).position(|w| w == b"example.com").unwrap();
    ch2[at..at + 7].copy_from_slice(b"changed");
    vec![
        (Dir::Orig, record(22, &client_hello())),
        (
            Dir::Resp,
            [record(22, &hello_retry_request()), record(20, &[1])].concat(),
        ),
        (Dir::Orig, [record(20, &[1]), record(22, &ch2)].concat()),
        (
            Dir::Resp,
            [
                record(22, &server_hello(true)),
                record(20, &[1]),
                record(23, &[0; 50]),
            ]
            .concat(),
        ),
        (Dir::Orig, record(23, &[0; 40])),
    ]
}

#[test]
fn a_hello_retry_request_is_not_the_server_hello() {
    let script = transcript_hrr();
    let (s, c) = run(&script, 0);
    assert!(s.flags.contains(TlsFlags::HRR), "{:?}", s.flags);
    assert!(s.flags.contains(TlsFlags::COMPLETE), "{:?}", s.flags);
    assert!(!s.flags.contains(TlsFlags::BAD_MESSAGE));
    // The real ServerHello's choice, timed from the first ClientHello.
    assert_eq!((s.version, s.cipher), (Some(0x0304), Some(0x1301)));
    assert_eq!(s.handshake_ns, Some(3_000_000_000));
    assert_eq!(s.alpn.as_ref().map(|x| x.as_bytes()), Some(&b"h2"[..]));
    // The first ClientHello's fields and fingerprint.
    assert_eq!(
        s.sni.as_ref().map(|x| x.as_bytes()),
        Some(&b"example.com"[..])
    );
    let first = run(&script[..1], 0).0;
    assert_eq!(s.ja4, first.ja4);
    assert_eq!(c.tls_hello_retries, 1);
    // ClientHello, HRR, ClientHello, ServerHello: all parsed in clear.
    assert_eq!(c.tls_handshake_messages, 4);
    for split in [1, 2, 5, 7] {
        assert_eq!(run(&script, split), (s.clone(), c.clone()), "split {split}");
    }
}

#[test]
fn without_the_retry_the_tls13_ccs_does_not_hide_the_server_hello() {
    // The client's compatibility CCS right after its ClientHello (before any
    // ServerHello): TLS 1.2 semantics would encrypt the client side; harmless here, and
    // the server's ServerHello is still read.
    let script = [
        (Dir::Orig, record(22, &client_hello())),
        (
            Dir::Resp,
            [record(22, &server_hello(true)), record(20, &[1])].concat(),
        ),
        (Dir::Orig, [record(20, &[1]), record(23, &[0; 40])].concat()),
    ];
    let (s, _) = run(&script, 0);
    assert_eq!(s.version, Some(0x0304));
    assert!(s.flags.contains(TlsFlags::COMPLETE) && !s.flags.contains(TlsFlags::HRR));
}

#[test]
fn an_sslv2_compatible_hello_gives_the_version_and_the_tls_records_follow() {
    let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
    body.extend_from_slice(&[0, 0, 0x2f, 0, 0, 0x35]);
    body.extend_from_slice(&[0x5a; 16]);
    let mut v2 = vec![0x80, body.len() as u8];
    v2.extend_from_slice(&body);
    assert_eq!(looks_like_tls(&v2), Some(true));
    assert_eq!(looks_like_tls(&v2[..3]), None);
    assert_eq!(
        looks_like_tls(&[0x80, 5, 1, 3, 1]),
        Some(false),
        "too short"
    );
    assert_eq!(looks_like_tls(&[0x80, 40, 2]), Some(false), "not a hello");
    let mut sh = record(22, &server_hello(false));
    sh.extend(record(20, &[1]));
    let script = [
        (Dir::Orig, v2.clone()),
        (Dir::Resp, sh),
        (Dir::Orig, [record(20, &[1]), record(23, &[0; 40])].concat()),
    ];
    for split in [0, 1, 3] {
        let (s, c) = run(&script, split);
        assert_eq!(c.tls_sslv2_hellos, 1);
        assert_eq!(c.tls_malformed, 0);
        assert_eq!(c.tls_records, 5);
        assert_eq!((s.client_version, s.version), (Some(0x0301), Some(0x0303)));
        assert_eq!(s.handshake_ns, Some(1_000_000_000));
        assert!(s.flags.contains(TlsFlags::SSLV2_HELLO) && s.flags.contains(TlsFlags::COMPLETE));
        assert!(!s.flags.contains(TlsFlags::NO_CLIENT_HELLO));
        assert!(s.ja4.is_none());
    }
    // Only as the client's first record.
    let (s, c) = run(
        &[(Dir::Orig, [record(22, &client_hello()), v2].concat())],
        0,
    );
    assert_eq!((c.tls_sslv2_hellos, c.tls_malformed), (0, 1));
    assert!(s.ja4.is_some());
}
