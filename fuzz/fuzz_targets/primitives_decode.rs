//! Field element, point, scalar, EdDSA key and signature, receipt, frontier, root history: the body is `veil_fuzz::decoders::primitives_decode`
//! (fuzz/src/decoders.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::decoders::primitives_decode(data));
