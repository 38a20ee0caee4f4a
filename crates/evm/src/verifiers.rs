//! The verifier of each circuit, written from its pinned verifying key, and
//! the check that a committed `contracts/src/verifiers/<Name>.sol` is what
//! the generator writes now (`veil export solidity --check`, and a test).

use std::path::{Path, PathBuf};

use ark_bn254::Bn254;
use ark_groth16::VerifyingKey;
use veil_proofs::{CircuitId, ParamStore, ParamsError};

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
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One circuit's generated verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedVerifier {
    /// The circuit.
    pub circuit: CircuitId,
    /// The contract name ([`verifier_contract_name`]).
    pub contract: String,
    /// The Solidity source.
    pub source: String,
}

/// Whether a committed file is what the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Byte-identical.
    Same,
    /// Present, but different.
    Differs,
    /// No such file.
    Missing,
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
            contract,
            source,
        })
    }

    /// Writes the verifier of `id` from its verifying key in `store`
    /// (checked against the pin in `params/setup.json`).
    pub fn from_store(id: CircuitId, store: &ParamStore) -> Result<Self, VerifierError> {
        let vk = store.verifying_key(id, None)?;
        Self::from_key(id, &vk)
    }

    /// `<Name>.sol`.
    pub fn file_name(&self) -> String {
        format!("{}.sol", self.contract)
    }

    /// `<dir>/<Name>.sol`.
    pub fn path_in(&self, dir: &Path) -> PathBuf {
        dir.join(self.file_name())
    }

    /// Compares with `<dir>/<Name>.sol`.
    pub fn freshness(&self, dir: &Path) -> Result<Freshness, VerifierError> {
        let path = self.path_in(dir);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == self.source.as_bytes() => Ok(Freshness::Same),
            Ok(_) => Ok(Freshness::Differs),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Freshness::Missing),
            Err(source) => Err(VerifierError::Io { path, source }),
        }
    }

    /// Writes `<dir>/<Name>.sol` (creating `dir`).
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf, VerifierError> {
        let path = self.path_in(dir);
        let io = |source| VerifierError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::write(&path, &self.source).map_err(io)?;
        Ok(path)
    }
}
