//! Groth16 proofs of veil: development setup, parameters pinned by hash,
//! proving, verification (single and batched), and the canonical encodings
//! of proofs and access tokens.
//!
//! Spec: `docs/protocol.md` §7 (Proofs, tokens and parameters).

pub mod circuit;
pub mod error;
pub mod groth16;
pub mod proof;

pub use circuit::{CircuitId, SettleSize};
pub use error::{ParamsError, ProofError, VerifyError};
pub use groth16::{INSECURE_WARNING, PreparedKey, ProvingKey};
pub use proof::Proof;
