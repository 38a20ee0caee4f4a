//! Native cryptographic primitives of veil. No I/O, no gRPC, no storage.
//!
//! Every function here that a circuit mirrors has an in-circuit twin in
//! `veil-circuits` and a test that both agree. Spec: `docs/protocol.md`.

pub mod error;
pub mod field;
pub mod poseidon;

pub use error::EncodingError;
pub use field::Fr;
