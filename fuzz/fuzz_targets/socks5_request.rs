//! The SOCKS5 handshake parser: the body is `veil_fuzz::decoders::socks5_request`
//! (fuzz/src/decoders.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::decoders::socks5_request(data));
