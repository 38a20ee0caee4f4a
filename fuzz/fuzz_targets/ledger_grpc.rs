//! Every handler of the ledger's gRPC service, in process: the body is `veil_fuzz::ledger_grpc::ledger_grpc`
//! (fuzz/src/ledger_grpc.rs), which `tests/fuzz_harness.rs` also runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::ledger_grpc::ledger_grpc(data));
