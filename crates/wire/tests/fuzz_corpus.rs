//! Replays the fuzz corpus and regressions of the `decode_frame` target
//! (`fuzz/corpus/decode_frame`, `fuzz/regressions/decode_frame`) through the same function
//! the fuzzer runs, and checks the seeds the corpus was started from. With
//! `HTTPTOP_FUZZ_SEEDS=DIR` set, the seeds are also written to `DIR/decode_frame/`
//! (see `fuzz/README.md`).

#![allow(clippy::unwrap_used)]

use httptop_wire::build::{ethernet_ipv4_tcp, flags};
use httptop_wire::fuzzing::{decode, linktype_byte};
use httptop_wire::LinkType;

const TARGET: &str = "decode_frame";

#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn corpus_and_regressions_replay() {
    replay::replay(TARGET, decode);
}

/// An IPv4 packet (the Ethernet frame without its 14-byte header).
fn ipv4(payload: &[u8], fl: u8) -> Vec<u8> {
    ethernet_ipv4_tcp(
        ([10, 0, 0, 1], 40000),
        ([10, 0, 0, 2], 80),
        1000,
        2000,
        fl,
        payload,
    )[14..]
        .to_vec()
}

/// An IPv6 packet carrying TCP, optionally behind one hop-by-hop extension header.
fn ipv6(payload: &[u8], ext: bool) -> Vec<u8> {
    let mut tcp = ipv4(payload, flags::PSH | flags::ACK)[20..].to_vec();
    let mut next = 6u8;
    if ext {
        let mut e = vec![6u8, 0, 1, 4, 0, 0, 0, 0];
        e.extend_from_slice(&tcp);
        tcp = e;
        next = 0;
    }
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&u16::try_from(tcp.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&tcp);
    p
}

/// `ip` framed for `lt` (ethertype 0x0800 or 0x86dd as `v6` says).
fn framed(lt: LinkType, ip: &[u8], v6: bool) -> Vec<u8> {
    let ethertype: [u8; 2] = if v6 { [0x86, 0xdd] } else { [0x08, 0x00] };
    let mut f = vec![linktype_byte(lt)];
    match lt {
        LinkType::ETHERNET => {
            f.extend_from_slice(&[0; 12]);
            f.extend_from_slice(&ethertype);
        }
        LinkType::LINUX_SLL => {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
            f.extend_from_slice(&ethertype);
        }
        LinkType::LINUX_SLL2 => {
            f.extend_from_slice(&ethertype);
            f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 4, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        LinkType::NULL => f.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_le_bytes()),
        LinkType::LOOP => f.extend_from_slice(&(if v6 { 30u32 } else { 2 }).to_be_bytes()),
        _ => {}
    }
    f.extend_from_slice(ip);
    f
}

/// Seeds: frames built with `httptop_wire::build` and by hand for every link type.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let get = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let v4 = [
        ipv4(get, flags::PSH | flags::ACK),
        ipv4(b"", flags::SYN),
        ipv4(b"HTTP/1.1 200 OK\r\n\r\n", flags::FIN | flags::ACK),
    ];
    let v6 = [ipv6(get, false), ipv6(b"", true)];
    for lt in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::RAW,
        LinkType::IPV4,
    ] {
        for ip in &v4 {
            out.push(framed(lt, ip, false));
        }
    }
    for lt in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::RAW,
        LinkType::IPV6,
    ] {
        for ip in &v6 {
            out.push(framed(lt, ip, true));
        }
    }
    // 802.1Q then 802.1ad tags.
    let mut tagged = framed(LinkType::ETHERNET, &v4[0], false);
    tagged.splice(13..13, [0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2]);
    out.push(tagged);
    // IPv4 with options, cut by a snaplen, and a fragment.
    let mut opt = v4[0].clone();
    opt[0] = 0x46;
    opt.splice(20..20, [1, 1, 1, 0]);
    let total = u16::try_from(opt.len()).unwrap();
    opt[2..4].copy_from_slice(&total.to_be_bytes());
    out.push(framed(LinkType::RAW, &opt, false));
    out.push(framed(LinkType::RAW, &v4[0][..50], false));
    let mut frag = v4[0].clone();
    frag[6] = 0x20;
    out.push(framed(LinkType::RAW, &frag, false));
    out.extend(tunnel_seeds(&v4[0], &v6[0]));
    out
}

/// `payload` in an IPv4 header of protocol `proto` (outer addresses 172.16.0.1 -> .2).
fn outer(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&u16::try_from(20 + payload.len()).unwrap().to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 64, proto, 0, 0, 172, 16, 0, 1, 172, 16, 0, 2]);
    p.extend_from_slice(payload);
    p
}

fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = vec![0xc0, 0x00];
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&u16::try_from(8 + payload.len()).unwrap().to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Every encapsulation the decoder enters (issue 11), around the TCP packets `v4`/`v6`.
fn tunnel_seeds(v4: &[u8], v6: &[u8]) -> Vec<Vec<u8>> {
    let eth = framed(LinkType::ETHERNET, v4, false)[1..].to_vec();
    let cat = |parts: &[&[u8]]| parts.concat();
    let e = |ip: &[u8]| framed(LinkType::ETHERNET, ip, false);
    let mut nflog = vec![linktype_byte(LinkType::NFLOG), 2, 0, 0, 0];
    let len = u16::try_from(4 + v4.len()).unwrap();
    nflog.extend_from_slice(&len.to_le_bytes());
    nflog.extend_from_slice(&[9, 0]);
    nflog.extend_from_slice(v4);
    let pppoe_len = u16::try_from(2 + v4.len()).unwrap().to_be_bytes();
    let mut mpls = framed(
        LinkType::ETHERNET,
        &cat(&[&[0, 1, 0, 64, 0, 2, 1, 64], v4]),
        false,
    );
    mpls[13..15].copy_from_slice(&[0x88, 0x47]);
    let mut pppoe = framed(
        LinkType::ETHERNET,
        &cat(&[&[0x11, 0, 0, 1, pppoe_len[0], pppoe_len[1], 0, 0x21], v4]),
        false,
    );
    pppoe[13..15].copy_from_slice(&[0x88, 0x64]);
    vec![
        e(&outer(
            17,
            &udp(4789, &cat(&[&[8, 0, 0, 0, 0, 0, 1, 0], &eth])),
        )),
        e(&outer(
            17,
            &udp(
                6081,
                &cat(&[&[1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 0, 0, 0], &eth]),
            ),
        )),
        e(&outer(47, &cat(&[&[0, 0, 0x08, 0], v4]))),
        e(&outer(47, &cat(&[&[0xb0, 0, 0x65, 0x58], &[0; 12], &eth]))),
        e(&outer(47, &cat(&[&[0, 0, 0x88, 0xbe], &eth]))),
        e(&outer(
            47,
            &cat(&[
                &[0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 1, 0, 0, 0, 0, 0, 0],
                &eth,
            ]),
        )),
        e(&outer(
            47,
            &cat(&[
                &[0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 1, 0, 0],
                &[0; 8],
                &eth,
            ]),
        )),
        e(&outer(
            17,
            &udp(
                2152,
                &cat(&[
                    &[0x34, 0xff, 0, 95, 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0, 0, 0],
                    v4,
                ]),
            ),
        )),
        e(&outer(
            17,
            &udp(3544, &cat(&[&[0, 0, 1, 2, 3, 4, 5, 6], v6])),
        )),
        e(&outer(4, v4)),
        e(&outer(41, v6)),
        e(&outer(
            4,
            &outer(47, &cat(&[&[0x20, 0, 0x08, 0, 0, 0, 0, 9], v4])),
        )),
        mpls,
        pppoe,
        nflog,
    ]
}

#[test]
fn seeds_decode_and_maybe_are_written() {
    let seeds = seeds();
    for s in &seeds {
        decode(s);
        // Every seed that claims a TCP link type is a TCP segment (the seeds are real).
        let lt = httptop_wire::fuzzing::LINKTYPES[usize::from(s[0])];
        let got = httptop_wire::decode(lt, &s[1..]);
        assert!(
            matches!(
                got,
                Ok(httptop_wire::Decoded::Tcp(_) | httptop_wire::Decoded::Fragment(_))
            ),
            "seed {s:?} decodes as {got:?}"
        );
    }
    if let Some(dir) = replay::seeds_dir(TARGET) {
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
}
