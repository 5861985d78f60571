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

// ---- damaged and concatenated captures ---------------------------------------------------

fn recs(n: usize, sec0: u32) -> (Vec<Vec<u8>>, Vec<u32>) {
    let data = (0..n).map(|i| payload(40 + i * 3, i as u8)).collect();
    let secs = (0..n).map(|i| sec0 + i as u32).collect();
    (data, secs)
}

fn pcap_of(magic: u32, be: bool, lt: u32, data: &[Vec<u8>], secs: &[u32]) -> Built {
    let r: Vec<Rec<'_>> = data
        .iter()
        .zip(secs)
        .map(|(d, &sec)| Rec {
            sec,
            frac: 500,
            orig: d.len() as u32,
            data: d,
        })
        .collect();
    pcap_file(magic, be, lt, &r)
}

fn ng_of(be: bool, data: &[Vec<u8>]) -> Built {
    let mut ng = Ng::new(be);
    ng.idb(101, 0, &[]);
    for (i, d) in data.iter().enumerate() {
        ng.epb(0, 1_700_000_000_000_000 + i as u64, d.len() as u32, d);
    }
    ng.build()
}

fn frames_of(b: &[u8]) -> Vec<F> {
    read_ok(b).0
}

fn opts() -> FileOptions {
    FileOptions::default()
}

/// Regression (issue 11): a record length corrupted in the middle of a pcap ended the
/// read; now the record is named, skipped, and every other frame is read.
#[test]
fn pcap_record_length_corrupted_in_the_middle_is_skipped() {
    let (data, secs) = recs(10, 1_700_000_000);
    for be in [false, true] {
        let file = pcap_of(MAGIC_USEC, be, 1, &data, &secs);
        let all = frames_of(&file.bytes);
        let mut bytes = file.bytes.clone();
        let at = file.ends[5].0; // the header of the 6th record
        bytes[at + 8..at + 12].copy_from_slice(&[0xff; 4]);
        let r = read_every_way(&bytes, opts());
        assert_eq!(r.error, None);
        let mut want = all.clone();
        want.remove(5);
        assert_eq!(r.frames, want);
        let skipped = (file.ends[6].0 - at) as u64;
        assert_eq!(
            r.damage,
            vec![Damage {
                offset: at as u64,
                problem: FormatError::RecordTooLong {
                    len: u32::MAX,
                    max: 1 << 20
                },
                skipped,
                resumed: Resumed::Record(file.ends[6].0 as u64),
            }]
        );
        assert_eq!(
            r.damage[0].to_string(),
            format!(
                "byte {at}: record length 4294967295 over the 1 MiB limit; skipped {skipped} \
                 bytes, reading resumed at the next plausible record (byte {})",
                file.ends[6].0
            )
        );
        assert_eq!((r.stats.resyncs, r.stats.skipped_bytes), (1, skipped));
        assert!(!r.stats.truncated);
    }
}

/// Regression (issue 11): a corrupt pcapng block (length fields that disagree, then a
/// length that is no multiple of 4) ended the read; now both are skipped.
#[test]
fn pcapng_corrupt_blocks_are_skipped() {
    let data: Vec<Vec<u8>> = (0..8).map(|i| payload(30 + i, i as u8)).collect();
    for be in [false, true] {
        let file = ng_of(be, &data);
        let all = frames_of(&file.bytes);
        let mut bytes = file.bytes.clone();
        // Blocks: SHB, IDB, then EPBs; corrupt the 3rd EPB's trailer and 6th EPB's length.
        let (a, a_end) = (file.ends[3].0, file.ends[4].0);
        bytes[a_end - 4] ^= 0x40;
        let (b, b_end) = (file.ends[6].0, file.ends[7].0);
        bytes[b + if be { 7 } else { 4 }] ^= 0x03; // low byte of the length
        let r = read_every_way(&bytes, opts());
        assert_eq!(r.error, None);
        let want: Vec<F> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2 && *i != 5)
            .map(|(_, f)| f.clone())
            .collect();
        assert_eq!(r.frames, want);
        let got: Vec<(u64, u64, Resumed)> = r
            .damage
            .iter()
            .map(|d| (d.offset, d.skipped, d.resumed))
            .collect();
        assert_eq!(
            got,
            vec![
                (a as u64, (a_end - a) as u64, Resumed::Record(a_end as u64)),
                (b as u64, (b_end - b) as u64, Resumed::Record(b_end as u64)),
            ]
        );
        assert!(matches!(
            r.damage[0].problem,
            FormatError::BlockLengthMismatch { .. }
        ));
        assert!(matches!(
            r.damage[1].problem,
            FormatError::BadBlockLength(_)
        ));
        assert_eq!(r.stats.resyncs, 2);
    }
}

/// `cat a.pcap b.pcap`, in every pair of byte orders, resolutions and link types, and
/// pcap and pcapng in both orders: every frame of both, nothing skipped, one section each.
#[test]
fn concatenated_captures_are_read_whole_without_damage() {
    let (d1, s1) = recs(5, 1_700_000_000);
    let (d2, s2) = recs(4, 1_600_000_000);
    let files = [
        pcap_of(MAGIC_USEC, false, 1, &d1, &s1),
        pcap_of(MAGIC_NSEC, true, 101, &d2, &s2),
        pcap_of(MAGIC_MODIFIED, false, 113, &d2, &s2),
        ng_of(false, &d1),
        ng_of(true, &d2),
    ];
    for (i, a) in files.iter().enumerate() {
        for (j, b) in files.iter().enumerate() {
            let mut bytes = a.bytes.clone();
            bytes.extend_from_slice(&b.bytes);
            let r = read_every_way(&bytes, opts());
            let mut want = frames_of(&a.bytes);
            want.extend(frames_of(&b.bytes));
            assert_eq!(r.frames, want, "file {i} then {j}");
            assert_eq!(r.damage, vec![], "file {i} then {j}");
            assert_eq!(r.error, None);
            assert_eq!(
                (r.stats.sections, r.stats.resyncs, r.stats.skipped_bytes),
                (2, 0, 0),
                "file {i} then {j}"
            );
        }
    }
}

/// Random bytes between records (of a pcap, of a pcapng) are skipped, exactly, and a
/// capture concatenated after garbage starts its own section.
#[test]
fn random_bytes_between_records_are_skipped_exactly() {
    let mut rng = Rng(0x51ed_270b_2a3c_9e11);
    let (data, secs) = recs(12, 1_700_000_000);
    let pcap = pcap_of(MAGIC_NSEC, false, 1, &data, &secs);
    let ng = ng_of(false, &data);
    for (file, first_record) in [(&pcap, 1), (&ng, 2)] {
        let all = frames_of(&file.bytes);
        for round in 0..20 {
            let k = first_record + rng.below(file.ends.len() - first_record);
            let at = file.ends[k].0;
            let n = 1 + rng.below(3000);
            let mut noise: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            // Sometimes noise that looks like lengths (small words).
            if round % 3 == 0 {
                noise.iter_mut().step_by(4).for_each(|b| *b &= 0x0f);
            }
            let mut bytes = file.bytes[..at].to_vec();
            bytes.extend_from_slice(&noise);
            bytes.extend_from_slice(&file.bytes[at..]);
            let r = read_every_way(&bytes, opts());
            assert_eq!(r.error, None, "round {round}");
            if at == file.bytes.len() {
                // Trailing noise: skipped to the end (or read as a cut-short record).
                assert!(r.frames.starts_with(&all), "round {round}");
                continue;
            }
            // A few noise records may be taken for records before the damage shows; every
            // real frame is read and the resumption is exact.
            let real: Vec<&F> = r.frames.iter().filter(|f| all.contains(f)).collect();
            assert_eq!(real.len(), all.len(), "round {round}: {:?}", r.damage);
            let last = r.damage.last().expect("damage reported");
            assert_eq!(
                last.resumed,
                Resumed::Record((at + n) as u64),
                "round {round}"
            );
            assert!(r.stats.skipped_bytes <= n as u64);
        }
    }
    // Noise, then a different capture: the new header starts a section.
    let (d2, s2) = recs(3, 1_500_000_000);
    let other = pcap_of(MAGIC_USEC, true, 101, &d2, &s2);
    let mut bytes = pcap.bytes.clone();
    bytes.extend_from_slice(&[0xee; 100]);
    bytes.extend_from_slice(&other.bytes);
    let r = read_every_way(&bytes, opts());
    let mut want = frames_of(&pcap.bytes);
    want.extend(frames_of(&other.bytes));
    assert_eq!(r.frames, want);
    assert_eq!(r.damage.len(), 1);
    assert_eq!(r.damage[0].offset, pcap.bytes.len() as u64);
    assert_eq!(
        r.damage[0].resumed,
        Resumed::Header(pcap.bytes.len() as u64 + 100)
    );
    assert_eq!(r.stats.sections, 2);
}

/// A cut-short last record after a concatenation and after damage is still a truncation.
#[test]
fn truncated_last_record_after_damage_is_a_truncation() {
    let (data, secs) = recs(6, 1_700_000_000);
    let file = pcap_of(MAGIC_USEC, false, 1, &data, &secs);
    let mut bytes = file.bytes.clone();
    let at = file.ends[2].0;
    bytes[at + 8..at + 12].copy_from_slice(&[0xff; 4]);
    bytes.extend_from_slice(&file.bytes);
    bytes.truncate(bytes.len() - 10);
    let r = read_every_way(&bytes, opts());
    assert_eq!(r.frames.len(), 5 + 5);
    assert_eq!(r.damage.len(), 1);
    assert!(r.stats.truncated);
    assert_eq!(r.stats.truncated_bytes, (16 + data[5].len() - 10) as u64);
}

/// Past `max_resync_bytes` without a plausible record, the source ends with the named
/// damage as its error, after every frame before it.
#[test]
fn resync_gives_up_after_its_bound() {
    let (data, secs) = recs(4, 1_700_000_000);
    let file = pcap_of(MAGIC_USEC, false, 1, &data, &secs);
    let at = file.ends[2].0;
    let mut bytes = file.bytes[..at].to_vec();
    bytes.extend_from_slice(&[0x55; 5000]);
    bytes.extend_from_slice(&file.bytes[at..]);
    let small = FileOptions {
        max_resync_bytes: 4096,
        ..opts()
    };
    let r = read_every_way(&bytes, small);
    assert_eq!(r.frames, frames_of(&file.bytes)[..2]);
    assert_eq!(r.damage, vec![]);
    assert_eq!(
        r.error.as_deref(),
        Some(
            format!(
                "byte {at}: record length 1431655765 over the 1 MiB limit; no plausible \
                 record in the 4 KiB after it: reading stopped"
            )
            .as_str()
        )
    );
    assert_eq!((r.stats.resyncs, r.stats.skipped_bytes), (1, 4096));
    // With the default bound it reads on.
    let r = read_every_way(&bytes, opts());
    assert_eq!(r.frames, frames_of(&file.bytes));
    assert_eq!(r.damage[0].skipped, 5000);
}

/// A record whose first word equals a magic number is a record, not a new file.
#[test]
fn timestamp_equal_to_a_magic_is_not_a_header() {
    let (data, _) = recs(3, 0);
    for magic in [0xa1b2_c3d4u32, 0xd4c3_b2a1, 0x0A0D_0D0A] {
        let file = pcap_of(MAGIC_USEC, false, 1, &data, &[magic, magic, magic]);
        let r = read_every_way(&file.bytes, opts());
        assert_eq!(r.frames.len(), 3, "{magic:#x}");
        assert_eq!(r.damage, vec![]);
        assert_eq!(r.stats.sections, 1);
    }
}
