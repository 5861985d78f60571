//! Fuzzing entry points, shared by the cargo-fuzz target `decode_frame` (in `fuzz/`) and the
//! corpus replay test (`tests/fuzz_corpus.rs`), so both run exactly the same code.
//!
//! Input format of [`decode`]: the first byte picks the link type (an index into
//! [`LINKTYPES`], modulo its length); the rest is the captured frame. Beyond "never
//! panics", it asserts what [`crate::decode`] promises: a TCP payload is a sub-slice of
//! the frame (zero copy), and decoding is a pure function of its input; and that
//! [`crate::decode_plain`], the common case alone, finds either that segment or nothing.

use crate::{decode as decode_frame, decode_plain, Decoded, LinkType};

/// Every link type the decoder understands, plus one it does not (to cover the refusal);
/// NFLOG was added last so that older corpus entries keep their link type.
pub const LINKTYPES: [LinkType; 12] = [
    LinkType::ETHERNET,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::RAW,
    LinkType::RAW_DLT12,
    LinkType::RAW_DLT14,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType(147),
    LinkType::NFLOG,
];

/// The byte that selects `lt` in [`decode`]'s input format.
pub fn linktype_byte(lt: LinkType) -> u8 {
    LINKTYPES
        .iter()
        .position(|l| *l == lt)
        .and_then(|i| u8::try_from(i).ok())
        .unwrap_or(0)
}

/// Decodes `data` (link-type byte + frame) and checks the decoder's promises.
pub fn decode(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let lt = LINKTYPES[usize::from(sel) % LINKTYPES.len()];
    let got = decode_frame(lt, frame);
    if let Ok(Decoded::Tcp(seg)) = &got {
        let base = frame.as_ptr() as usize;
        let p = seg.payload.as_ptr() as usize;
        assert!(
            seg.payload.is_empty() || (p >= base && p + seg.payload.len() <= base + frame.len()),
            "payload is not a slice of the frame"
        );
        assert!(
            seg.wire_payload_len() >= seg.payload.len() as u64,
            "wire length below the captured length"
        );
        assert_eq!(
            seg.src.is_ipv4(),
            seg.dst.is_ipv4(),
            "mixed address families"
        );
    }
    assert_eq!(got, decode_frame(lt, frame), "decode is not deterministic");
    if let Some(seg) = decode_plain(lt, frame) {
        assert_eq!(got, Ok(Decoded::Tcp(seg)), "the common case disagrees");
        assert!(seg.encap.is_empty(), "the common case in a tunnel");
    }
}
