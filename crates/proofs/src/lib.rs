//! Groth16 proofs of veil: development setup, parameters pinned by hash,
//! proving, verification (single and batched), and the canonical encodings
//! of proofs and access tokens.
//!
//! Spec: `docs/protocol.md` §7 (Proofs, tokens and parameters).
//!
//! Keys from a phase-2 ceremony ([`KeySet::Ceremony`], the default) are
//! installed by `veil setup --from-ceremony` (`veil-interop` reads and
//! checks the transcript, `docs/ceremony.md`). The keys this crate makes
//! itself are INSECURE development keys (public seed, [`KeySet::Dev`]),
//! used only when asked for; [`INSECURE_WARNING`] must be shown wherever
//! they are used.

pub mod assemble;
pub mod circuit;
pub mod circuits;
pub mod error;
pub mod groth16;
pub mod params;
pub mod proof;
pub mod prover;
pub mod qap;
pub mod samples;
pub mod token;
pub mod verifier;

pub use circuit::{CircuitId, SettleSize, UnknownBatchSize};
pub use error::{ParamsError, ProofError, VerifyError};
pub use groth16::{INSECURE_WARNING, PreparedKey, ProvingContext, ProvingKey};
pub use params::{KeySet, ParamStore, SetupEvent};
pub use proof::Proof;
pub use prover::Prover;
pub use qap::Reduction;
pub use token::{AccessToken, SettleProof, WithdrawProof};
pub use verifier::Verifier;
