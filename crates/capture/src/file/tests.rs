//! Tests of the contract as a whole: hostile input never panics or loops, and the real
//! corpus reads as tshark reads it.

use super::testing::*;
use super::*;

/// Random bytes after a valid header, and random mutations of valid files: every read
/// ends (bounded number of calls) and no frame exceeds the input.
#[test]
fn hostile_input_never_panics_or_loops() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pcap = small_pcap().bytes;
    let ng = sample_pcapng().0.bytes;
    let small = FileOptions {
        buffer_size: 128,
        max_record_size: 64 << 10,
        ..FileOptions::default()
    };
    for round in 0..6000 {
        let base = if round % 2 == 0 { &pcap } else { &ng };
        let mut bytes = if round % 3 == 0 {
            // Header, then noise.
            let hdr = if round % 2 == 0 { 24 } else { 28 };
            let mut v = base[..hdr].to_vec();
            let n = rng.below(600);
            v.extend((0..n).map(|_| rng.next() as u8));
            v
        } else {
            // Flip a few bytes, sometimes cut.
            let mut v = base.clone();
            for _ in 0..1 + rng.below(6) {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            if rng.below(4) == 0 {
                v.truncate(rng.below(v.len()));
            }
            v
        };
        // Small length fields reach deeper than uniform noise.
        if round % 5 == 0 {
            for b in bytes.iter_mut().skip(28) {
                *b &= 0x1f;
            }
        }
        let opts = if round % 100 == 0 {
            FileOptions::default()
        } else {
            small
        };
        let Ok(mut src) = FileSource::with_options(Trickle::new(&bytes, 61), opts) else {
            continue;
        };
        let (frames, _err) = drain(&mut src, bytes.len() / 12 + 2);
        for fr in &frames {
            assert!(fr.data.len() <= bytes.len(), "round {round}");
        }
    }
}

// ---- the real corpus -----------------------------------------------------------------

/// Every capture of ../shared/corpus: the frame count is tshark's and the first frame's
/// link type matches tshark's encapsulation name.
#[test]
fn corpus_matches_tshark_oracle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let pcaps = root.join("pcaps");
    let Ok(dir) = std::fs::read_dir(&pcaps) else {
        eprintln!("skipping: no corpus at {}", pcaps.display());
        return;
    };
    let summary = std::fs::read_to_string(root.join("oracle/summary.json"))
        .expect("corpus without oracle/summary.json");
    let summary: serde_json::Value = serde_json::from_str(&summary).expect("summary.json");
    let mut checked = 0;
    for entry in dir {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let oracle = &summary["files"][name];
        let want = oracle["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: not in summary.json"));
        let want_lt: &[u32] = match oracle["linktype"].as_str() {
            Some("ether") => &[1],
            Some("linux-sll") => &[113],
            Some("linux-sll2") => &[276],
            Some("rawip") => &[12, 14, 101],
            Some("rawip4") => &[228],
            Some("rawip6") => &[229],
            Some("null") => &[0],
            Some("loop") => &[108],
            other => panic!("{name}: unmapped tshark encapsulation {other:?}"),
        };
        let mut src = FileSource::open(&path).expect("open");
        let mut first_lt = None;
        let mut n = 0u64;
        while let Some(fr) = src.next_frame().unwrap_or_else(|e| panic!("{name}: {e}")) {
            first_lt.get_or_insert(fr.linktype.0);
            n += 1;
        }
        assert_eq!(n, want, "{name}: frame count");
        let lt = first_lt.unwrap_or_else(|| panic!("{name}: no frames"));
        assert!(want_lt.contains(&lt), "{name}: link type {lt}");
        assert_eq!(
            src.stats().truncated,
            name == "sv-mime-truncated.pcap",
            "{name}: truncation flag"
        );
        checked += 1;
    }
    assert!(checked > 0, "empty corpus directory");
}
