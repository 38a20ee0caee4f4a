//! The verifier of each circuit (and the batched verifier of those in
//! [`BATCH_VERIFIED`]), written from its pinned verifying key, and the check
//! that a committed `contracts/src/verifiers/<Name>.sol` is what the
//! generator writes now (`veil export solidity --check`, and a test).

use ark_bn254::Bn254;
use ark_groth16::VerifyingKey;
use veil_proofs::{CircuitId, ParamStore, ParamsError};

use crate::generated::{GeneratedSource, SourceIoError};
use crate::solidity::{
    GenerateError, batch_verifier_contract_name, groth16_batch_verifier, groth16_verifier,
    verifier_contract_name,
};

/// Where the committed verifiers live, relative to the repository root.
pub const VERIFIERS_DIR: &str = "contracts/src/verifiers";

/// The circuits that also get a batched verifier
/// (`<Name>BatchVerifier.sol`, [`groth16_batch_verifier`]): `access`, whose
/// tokens a node opens many at a time (`docs/evm.md` §1.5).
pub const BATCH_VERIFIED: [CircuitId; 1] = [CircuitId::Access];

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
        Self::generate(id, verifier_contract_name(id), vk, groth16_verifier)
    }

    /// Writes the batched verifier of `id` from `vk` (any circuit's key
    /// works; only [`BATCH_VERIFIED`] ones are committed).
    pub fn batch_from_key(id: CircuitId, vk: &VerifyingKey<Bn254>) -> Result<Self, VerifierError> {
        Self::generate(
            id,
            batch_verifier_contract_name(id),
            vk,
            groth16_batch_verifier,
        )
    }

    fn generate(
        id: CircuitId,
        contract: String,
        vk: &VerifyingKey<Bn254>,
        write: fn(&VerifyingKey<Bn254>, &str) -> Result<String, GenerateError>,
    ) -> Result<Self, VerifierError> {
        let source = write(vk, &contract).map_err(|source| VerifierError::Generate {
            circuit: id,
            source,
        })?;
        Ok(GeneratedVerifier {
            circuit: id,
            file: GeneratedSource { contract, source },
        })
    }

    /// Every verifier committed for `id`: its own, then its batched one if
    /// `id` is in [`BATCH_VERIFIED`] (what `veil export solidity` writes).
    pub fn all_from_key(
        id: CircuitId,
        vk: &VerifyingKey<Bn254>,
    ) -> Result<Vec<Self>, VerifierError> {
        let mut out = vec![Self::from_key(id, vk)?];
        if BATCH_VERIFIED.contains(&id) {
            out.push(Self::batch_from_key(id, vk)?);
        }
        Ok(out)
    }

    /// [`GeneratedVerifier::all_from_key`] with `id`'s key in `store`.
    pub fn all_from_store(id: CircuitId, store: &ParamStore) -> Result<Vec<Self>, VerifierError> {
        let vk = store.verifying_key(id, None)?;
        Self::all_from_key(id, &vk)
    }
}
