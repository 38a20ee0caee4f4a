//! Protobuf requests of both services and the ledger's protobuf → domain conversions: the body is `veil_fuzz::decoders::ledger_proto`
//! (fuzz/src/decoders.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::decoders::ledger_proto(data));
