//! Native cryptographic primitives of veil. No I/O, no gRPC, no storage.
//!
//! Every function here that a circuit mirrors has an in-circuit twin in
//! `veil-circuits` and a test that both agree. Spec: `docs/protocol.md` §2.

pub mod babyjubjub;
pub mod challenge;
pub mod eddsa;
pub mod error;
pub mod escrow;
pub mod field;
pub mod ids;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod poseidon;
pub mod progress;
pub mod receipt;
pub mod refund;
pub mod secret;
pub mod value;

pub use error::EncodingError;
pub use field::Fr;
