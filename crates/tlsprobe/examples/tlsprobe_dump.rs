//! Prints what the probe sees for a few seconds (root): `cargo run -p httptop-tlsprobe
//! --example tlsprobe_dump -- SECONDS [--traps-only]`. With `--traps-only` every program
//! returns at once (nothing is printed): what the uprobe traps alone cost the probed
//! processes (`benches/tls-plaintext.sh -t`).
use std::time::{Duration, Instant};

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let opts = httptop_tlsprobe::ProbeOptions {
        traps_only: std::env::args().any(|a| a == "--traps-only"),
        ..httptop_tlsprobe::ProbeOptions::default()
    };
    let mut probe = match httptop_tlsprobe::Probe::attach(&opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("httptop-tlsprobe: {e}");
            std::process::exit(2);
        }
    };
    eprintln!("attached to {:?}", probe.libraries());
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let r = probe.poll(Duration::from_millis(100), 1024, |ev| match ev {
            httptop_tlsprobe::ProbeEvent::Data(c) => println!(
                "{} {} pid={} ssl={:#x} {:?} {:?} off={} total={} {:?}",
                c.ts_mono_ns,
                c.comm_lossy(),
                c.conn.pid,
                c.conn.ssl,
                c.dir,
                c.sockets,
                c.offset,
                c.total,
                String::from_utf8_lossy(&c.data[..c.data.len().min(40)])
            ),
            other => println!("{other:?}"),
        });
        if let Err(e) = r {
            eprintln!("poll: {e}");
            break;
        }
    }
    eprintln!("{:?}", probe.stats());
}
