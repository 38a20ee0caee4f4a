//! The verifier of each circuit, written from its pinned verifying key, and
//! the check that a committed `contracts/src/verifiers/<Name>.sol` is what
//! the generator writes now (`veil export solidity --check`, and a test).

use ark_bn254::Bn254;
use ark_groth16::VerifyingKey;
use veil_proofs::{CircuitId, ParamStore, ParamsError};

use crate::generated::{GeneratedSource, SourceIoError};
use crate::solidity::{GenerateError, groth16_verifier, verifier_contract_name};

/// Where the committed verifiers live, relative to the repository root.
pub const VERIFIERS_DIR: &str = "contracts/src/verifiers";

/// A verifier could not be written or checked.
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The pinned verifying key could not be loaded.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// The key is not one a verifier may be written for.
    #[error("{circuit}: {source}")]
    Generate {
        /// The circuit.
        circuit: CircuitId,
        /// Why.
        source: GenerateError,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] SourceIoError),
}

/// One circuit's generated verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedVerifier {
    /// The circuit.
    pub circuit: CircuitId,
    /// The contract ([`verifier_contract_name`]) and its source.
    pub file: GeneratedSource,
}

impl GeneratedVerifier {
    /// Writes the verifier of `id` from `vk`.
    pub fn from_key(id: CircuitId, vk: &VerifyingKey<Bn254>) -> Result<Self, VerifierError> {
        let contract = verifier_contract_name(id);
        let source = groth16_verifier(vk, &contract).map_err(|source| VerifierError::Generate {
            circuit: id,
            source,
        })?;
        Ok(GeneratedVerifier {
            circuit: id,
            file: GeneratedSource { contract, source },
        })
    }

    /// Writes the verifier of `id` from its verifying key in `store`
    /// (checked against the pin in `params/setup.json`).
    pub fn from_store(id: CircuitId, store: &ParamStore) -> Result<Self, VerifierError> {
        let vk = store.verifying_key(id, None)?;
        Self::from_key(id, &vk)
    }
}
