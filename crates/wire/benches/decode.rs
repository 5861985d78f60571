//! Per-frame decode cost: this crate's decoder against etherparse 0.21 producing the same
//! `TcpSegment`. Plain `std::time` harness (`cargo bench -p httptop-wire`); prints ns/frame
//! as the best and the median of several runs. Frames are built with etherparse's
//! `PacketBuilder` so both decoders read bytes neither of them wrote.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

use etherparse::{
    LaxNetSlice, LaxSlicedPacket, NetSlice, PacketBuilder, SlicedPacket, TcpOptionElement,
    TransportSlice, VlanId,
};
use httptop_wire::{decode, Decoded, LinkType, TcpFlags, TcpSegment};

const MAC_A: [u8; 6] = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x5e];
const MAC_B: [u8; 6] = [0x02, 0x42, 0xac, 0x11, 0x00, 0x02];
const V6_A: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];
const V6_B: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20,
];
const TS: [TcpOptionElement; 3] = [
    TcpOptionElement::Noop,
    TcpOptionElement::Noop,
    TcpOptionElement::Timestamp(0x0102_0304, 0x0506_0708),
];

fn request() -> Vec<u8> {
    let mut p = b"GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.example.com\r\n".to_vec();
    p.extend_from_slice(b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0)\r\n");
    p.extend_from_slice(b"Accept: */*\r\nAccept-Encoding: gzip, deflate, br\r\n");
    while p.len() < 480 {
        p.extend_from_slice(b"Cookie: session=0123456789abcdef\r\n");
    }
    p.extend_from_slice(b"\r\n");
    p
}

fn build(shape: Shape, payload: &[u8]) -> Vec<u8> {
    let tcp = match shape {
        Shape::V4 { vlan } => {
            let b = PacketBuilder::ethernet2(MAC_A, MAC_B);
            if vlan {
                let vid = VlanId::try_new(100).unwrap_or(VlanId::ZERO);
                b.single_vlan(vid)
                    .ipv4([10, 1, 2, 3], [93, 184, 216, 34], 64)
            } else {
                b.ipv4([10, 1, 2, 3], [93, 184, 216, 34], 64)
            }
            .tcp(51514, 80, 0x1122_3344, 502)
        }
        Shape::V6 => PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6(V6_A, V6_B, 64)
            .tcp(51514, 80, 0x1122_3344, 502),
    };
    let tcp = tcp
        .ack(0x5566_7788)
        .psh()
        .options(&TS)
        .unwrap_or_else(|e| panic!("options: {e}"));
    let mut v = Vec::new();
    tcp.write(&mut v, payload)
        .unwrap_or_else(|e| panic!("write: {e}"));
    v
}

#[derive(Clone, Copy)]
enum Shape {
    V4 { vlan: bool },
    V6,
}

fn ours(data: &[u8]) -> Option<TcpSegment<'_>> {
    match decode(LinkType::ETHERNET, data) {
        Ok(Decoded::Tcp(s)) => Some(s),
        _ => None,
    }
}

/// The etherparse equivalent: lax slicing (so a snaplen-cut payload still decodes), with
/// fragments, non-TCP and the missing-byte count handled as `decode` does.
fn etherparse_lax(data: &[u8]) -> Option<TcpSegment<'_>> {
    let p = LaxSlicedPacket::from_ethernet(data).ok()?;
    let (src, dst, announced, ip_payload) = match p.net.as_ref()? {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            if ip.is_payload_fragmented() {
                return None;
            }
            let announced = usize::from(h.total_len()).saturating_sub(h.slice().len());
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                announced,
                ip.payload(),
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            if ip.is_payload_fragmented() {
                return None;
            }
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                usize::from(h.payload_length()),
                ip.payload(),
            )
        }
        LaxNetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(t) = p.transport? else {
        return None;
    };
    let missing = if ip_payload.incomplete {
        announced.saturating_sub(ip_payload.payload.len()) as u32
    } else {
        0
    };
    Some(TcpSegment {
        src,
        dst,
        src_port: t.source_port(),
        dst_port: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: TcpFlags::from_bits(t.slice()[13]),
        window: t.window_size(),
        payload: t.payload(),
        payload_missing: missing,
        encap: httptop_wire::Encap::NONE,
    })
}

/// etherparse's strict slicer: rejects cut payloads, so it does less than `decode`.
fn etherparse_strict(data: &[u8]) -> Option<TcpSegment<'_>> {
    let p = SlicedPacket::from_ethernet(data).ok()?;
    let (src, dst) = match p.net.as_ref()? {
        NetSlice::Ipv4(ip) => {
            if ip.is_payload_fragmented() {
                return None;
            }
            (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            )
        }
        NetSlice::Ipv6(ip) => {
            if ip.is_payload_fragmented() {
                return None;
            }
            (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            )
        }
        NetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(t) = p.transport? else {
        return None;
    };
    Some(TcpSegment {
        src,
        dst,
        src_port: t.source_port(),
        dst_port: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: TcpFlags::from_bits(t.slice()[13]),
        window: t.window_size(),
        payload: t.payload(),
        payload_missing: 0,
        encap: httptop_wire::Encap::NONE,
    })
}

/// Harness floor: reads an untagged IPv4 frame at fixed offsets with no checks beyond the
/// slice bounds. Not a decoder; it shows what the loop itself costs.
fn floor(data: &[u8]) -> Option<TcpSegment<'_>> {
    let h = data.get(34..54)?;
    Some(TcpSegment {
        src: IpAddr::V4([data[26], data[27], data[28], data[29]].into()),
        dst: IpAddr::V4([data[30], data[31], data[32], data[33]].into()),
        src_port: u16::from_be_bytes([h[0], h[1]]),
        dst_port: u16::from_be_bytes([h[2], h[3]]),
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
        flags: TcpFlags::from_bits(h[13]),
        window: u16::from_be_bytes([h[14], h[15]]),
        payload: data.get(66..)?,
        payload_missing: 0,
        encap: httptop_wire::Encap::NONE,
    })
}

/// Folds every field into a word, so no decoding work can be skipped by the optimiser.
#[inline(always)]
fn digest(s: &TcpSegment<'_>) -> u64 {
    let addr = |a: IpAddr| match a {
        IpAddr::V4(a) => u64::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits() as u64,
    };
    addr(s.src)
        ^ addr(s.dst).rotate_left(7)
        ^ u64::from(s.src_port) << 16
        ^ u64::from(s.dst_port)
        ^ u64::from(s.seq) << 32
        ^ u64::from(s.ack)
        ^ u64::from(s.flags.bits()) << 24
        ^ u64::from(s.window) << 40
        ^ s.payload.len() as u64
        ^ (s.payload.as_ptr() as u64)
        ^ u64::from(s.payload_missing)
}

/// ns/frame: (best, median) over `runs` runs of `iters` decodes each. Generic, so the
/// decoder is inlined into the loop as it would be in the engine.
fn measure<F>(f: F, frame: &[u8], iters: u32, runs: usize) -> (f64, f64)
where
    F: for<'a> Fn(&'a [u8]) -> Option<TcpSegment<'a>>,
{
    let mut per_frame: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let mut acc = 0u64;
            for _ in 0..iters {
                if let Some(s) = f(black_box(frame)) {
                    acc = acc.wrapping_add(digest(&s));
                }
            }
            black_box(acc);
            start.elapsed().as_nanos() as f64 / f64::from(iters)
        })
        .collect();
    per_frame.sort_by(f64::total_cmp);
    (per_frame[0], per_frame[runs / 2])
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this binary without it,
    // unoptimised, and only needs to see that it works.
    let quick = !std::env::args().any(|a| a == "--bench") || std::env::var_os("QUICK").is_some();
    let (iters, runs) = if quick { (1_000, 1) } else { (5_000_000, 9) };

    let req = request();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "eth/ipv4/tcp ack (66 B)",
            build(Shape::V4 { vlan: false }, &[]),
        ),
        (
            "eth/ipv4/tcp request",
            build(Shape::V4 { vlan: false }, &req),
        ),
        (
            "eth/vlan/ipv4/tcp request",
            build(Shape::V4 { vlan: true }, &req),
        ),
        ("eth/ipv6/tcp ack (86 B)", build(Shape::V6, &[])),
        ("eth/ipv6/tcp request", build(Shape::V6, &req)),
    ];
    // Same answer from every decoder, or the comparison is meaningless.
    for (name, frame) in &cases {
        let reference = ours(frame);
        assert!(reference.is_some(), "{name}");
        assert_eq!(etherparse_lax(frame), reference, "etherparse lax on {name}");
        assert_eq!(
            etherparse_strict(frame),
            reference,
            "etherparse strict on {name}"
        );
    }

    println!(
        "{:<28} {:>6} {:<18} {:>9} {:>9}",
        "frame", "bytes", "decoder", "best", "median"
    );
    for (name, frame) in &cases {
        let rows = [
            ("harness floor", measure(floor, frame, iters, runs)),
            ("httptop-wire", measure(ours, frame, iters, runs)),
            (
                "etherparse lax",
                measure(etherparse_lax, frame, iters, runs),
            ),
            (
                "etherparse strict",
                measure(etherparse_strict, frame, iters, runs),
            ),
        ];
        for (decoder, (best, median)) in rows {
            println!(
                "{name:<28} {:>6} {decoder:<18} {best:>6.2} ns {median:>6.2} ns",
                frame.len()
            );
        }
    }
}
