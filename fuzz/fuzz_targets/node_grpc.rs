//! Every unary handler of the node's gRPC service, over loopback: the body is `veil_fuzz::node_grpc::node_grpc`
//! (fuzz/src/node_grpc.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::node_grpc::node_grpc(data));
