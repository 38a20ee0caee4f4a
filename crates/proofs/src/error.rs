//! Errors of proving, verification and parameter loading.
//!
//! arkworks' own errors are mapped into these types at the boundary:
//! `SynthesisError` is carried as text, because boxed arkworks errors are
//! not `Sync` and must not leak into callers' error chains (stack.md trap 2).

use std::path::PathBuf;

use thiserror::Error;
use veil_primitives::EncodingError;

use crate::circuit::{CircuitId, UnknownBatchSize};

/// A proof or token could not be decoded, or a proof could not be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// Wrong total length (truncated or trailing bytes: adversarial B3).
    #[error("wrong length: expected {expected} bytes, got {actual}")]
    Length { expected: usize, actual: usize },
    /// Unknown version byte.
    #[error("unsupported encoding version {0}")]
    Version(u8),
    /// A point that does not decode, is off the curve or outside the
    /// prime-order subgroup (adversarial B4).
    #[error("invalid proof point {point}: {reason}")]
    InvalidPoint { point: &'static str, reason: String },
    /// A proof point is the point at infinity (adversarial B5).
    #[error("proof point {0} is the point at infinity")]
    PointAtInfinity(&'static str),
    /// A public input is not canonically encoded (adversarial B1).
    #[error("public input `{field}`: {source}")]
    PublicInput {
        field: &'static str,
        #[source]
        source: EncodingError,
    },
    /// A settlement batch size for which no circuit exists.
    #[error("no settlement circuit for batch size {0} (expected 1, 8 or 64)")]
    UnknownBatchSize(u64),
    /// The circuit failed to synthesize (missing witness, gadget error).
    #[error("constraint synthesis failed: {0}")]
    Synthesis(String),
    /// The witness does not satisfy the circuit: no proof is produced.
    #[error("witness does not satisfy the circuit (first unsatisfied: {0})")]
    Unsatisfied(String),
    /// The prover holds no proving key for this circuit.
    #[error("no proving key loaded for circuit {0}")]
    MissingKey(CircuitId),
    /// The circuit's public inputs differ from the statement being proven,
    /// or from the number the proving key was made for.
    #[error("statement mismatch: {0}")]
    StatementMismatch(String),
}

/// A proof did not verify. Every variant is a rejection; there is no
/// "verified with a warning".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// The pairing check failed (`verify` returned `Ok(false)`, adversarial B7).
    #[error("invalid proof")]
    InvalidProof,
    /// A batch contained at least one invalid proof.
    #[error("batch verification failed: at least one proof of {0} is invalid")]
    InvalidBatch(usize),
    /// Wrong number of public inputs for the verifying key (adversarial B6).
    #[error(
        "malformed verifying key or statement: expected {expected} public inputs, got {actual}"
    )]
    PublicInputCount { expected: usize, actual: usize },
    /// The proof is for another circuit than the one asked for (B8).
    #[error("proof is for circuit {actual}, expected {expected}")]
    WrongCircuit {
        expected: CircuitId,
        actual: CircuitId,
    },
    /// The verifier holds no key for this circuit.
    #[error("no verifying key loaded for circuit {0}")]
    NoKey(CircuitId),
    /// arkworks reported an error while verifying.
    #[error("verification error: {0}")]
    Backend(String),
}

/// Parameters are missing, corrupted, or do not match the pinned record.
#[derive(Debug, Error)]
pub enum ParamsError {
    /// The setup record has no entry for this circuit: with no ceremony key
    /// pinned, the caller must either install one or explicitly ask for
    /// the development keys.
    #[error("{}", not_pinned(*circuit, *ceremony))]
    NotPinned {
        circuit: CircuitId,
        /// Whether the record is a ceremony record (`params/setup.json`).
        ceremony: bool,
    },
    /// A file's hash differs from the pinned one (B8: keys are loaded only by pinned hash).
    #[error(
        "{what} for circuit {circuit} does not match the pinned hash (expected sha256 {expected}, got {actual}){hint}"
    )]
    HashMismatch {
        circuit: CircuitId,
        what: &'static str,
        expected: String,
        actual: String,
        hint: &'static str,
    },
    /// A key file does not decode.
    #[error("{what} for circuit {circuit} is malformed: {reason}")]
    Malformed {
        circuit: CircuitId,
        what: &'static str,
        reason: String,
    },
    /// The setup record does not parse.
    #[error("setup record {path}: {reason}")]
    Record { path: PathBuf, reason: String },
    /// Key generation failed.
    #[error("setup of circuit {circuit} failed: {source}")]
    Setup {
        circuit: CircuitId,
        #[source]
        source: ProofError,
    },
    /// A ceremony key is pinned but its proving key is not in the cache.
    #[error(
        "the proving key of circuit {0} (from a ceremony) is not installed: run `veil setup --from-ceremony DIR` with the ceremony's final keys (docs/ceremony.md)"
    )]
    NotInstalled(CircuitId),
    /// No cache directory could be determined.
    #[error("no parameter cache directory: set VEIL_PARAMS_CACHE, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// A file system error.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ParamsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ParamsError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<UnknownBatchSize> for ProofError {
    fn from(e: UnknownBatchSize) -> Self {
        Self::UnknownBatchSize(e.0)
    }
}

fn not_pinned(id: CircuitId, ceremony: bool) -> String {
    if ceremony {
        format!(
            "no ceremony key is pinned for {id} in params/setup.json: install one with \
             `veil setup --from-ceremony DIR --write-params` (docs/ceremony.md), or pass \
             --dev-keys to use the INSECURE development keys (tests and demos only)"
        )
    } else {
        format!(
            "circuit {id} has no pinned development key in params/dev/setup.json; run \
             `veil setup --dev --circuit {id} --write-params`"
        )
    }
}
