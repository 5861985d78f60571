//! cargo-fuzz target `decode_frame`: runs `httptop_wire::fuzzing::decode`,
//! the same function the corpus replay test of its crate runs. Input format and
//! invariants are documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httptop_wire::fuzzing::decode(data);
});
