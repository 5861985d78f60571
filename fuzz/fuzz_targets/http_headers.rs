//! cargo-fuzz target `http_headers`: runs `httptop_engine::fuzzing::http_headers`, the
//! same function the corpus replay test of its crate runs. Input format and invariants
//! are documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httptop_engine::fuzzing::http_headers(data);
});
