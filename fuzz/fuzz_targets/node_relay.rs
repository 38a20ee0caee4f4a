//! The node's Relay stream, fed arbitrary frames: the body is `veil_fuzz::node_grpc::node_relay`
//! (fuzz/src/node_grpc.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::node_grpc::node_relay(data));
