//! cargo-fuzz target `monitor`: runs `httptop_engine::fuzzing::monitor`, the same
//! function the corpus replay test of its crate runs. Input format and invariants are
//! documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = httptop_engine::fuzzing::monitor(data);
});
