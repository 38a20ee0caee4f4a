//! Wallet file, amounts, hex field elements: the body is `veil_fuzz::decoders::client_inputs`
//! (fuzz/src/decoders.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::decoders::client_inputs(data));
