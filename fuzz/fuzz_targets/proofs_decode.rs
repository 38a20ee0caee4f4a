//! Proof, access token, withdraw proof and settle proof decoders: the body is `veil_fuzz::decoders::proofs_decode`
//! (fuzz/src/decoders.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::decoders::proofs_decode(data));
