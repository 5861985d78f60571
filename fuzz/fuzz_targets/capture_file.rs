//! cargo-fuzz target `capture_file`: runs `httptop_capture::fuzzing::read_file`,
//! the same function the corpus replay test of its crate runs. Input format and
//! invariants are documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httptop_capture::fuzzing::read_file(data);
});
