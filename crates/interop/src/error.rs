//! Errors of the snarkjs/circom encoders and decoders.

use veil_proofs::ProofError;

/// Why a decimal string is not a canonical field element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// Empty string.
    #[error("empty number")]
    Empty,
    /// A character other than `0`–`9` (no sign, no hex, no spaces).
    #[error("not a decimal integer")]
    NotDecimal,
    /// A leading zero: not the one canonical spelling.
    #[error("leading zero (non-canonical)")]
    LeadingZero,
    /// Not below the field modulus (`p` for coordinates, `r` for scalars).
    #[error("not below the field modulus")]
    NotReduced,
}

/// What is wrong with a section of an iden3 container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SectionProblem {
    /// The file has no such section.
    #[error("is missing")]
    Missing,
    /// The section occurs more than once.
    #[error("occurs more than once")]
    Duplicated,
    /// The format has no section of this id.
    #[error("is not part of the format")]
    Unknown,
    /// The section's length disagrees with the header.
    #[error("is {found} bytes long, expected {expected}")]
    Length {
        /// What the header implies.
        expected: u64,
        /// What the file says.
        found: u64,
    },
}

/// Which check a phase-2 contribution fails (`snarkjs zkey verify`'s
/// order; `docs/interop.md`, "Phase 2 contributions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ContributionFailure {
    /// Its transcript hash is not BLAKE2b-512 of the circuit hash, the
    /// earlier contributions' public keys and its own `g1_s`, `g1_sx`.
    #[error("its transcript hash does not follow the earlier contributions")]
    Transcript,
    /// `g1_s`, `g1_sx` and `sp`, `g2_spx` (`sp` from the transcript) do
    /// not share one secret: no proof of knowledge.
    #[error("its proof of knowledge (g1_s, g1_sx vs sp, g2_spx) fails")]
    ProofOfKnowledge,
    /// Its `deltaAfter` is not the δ before it times its secret.
    #[error("its deltaAfter is not the previous delta times its secret")]
    DeltaAfter,
    /// A beacon whose parameters snarkjs never writes.
    #[error("its beacon parameters are out of range")]
    BeaconParameters,
    /// A beacon whose key is not the one its beacon value gives.
    #[error("its key is not the one its beacon value gives")]
    BeaconKey,
}

/// Why a phase-1 contribution does not follow from the one before it
/// (`snarkjs powersoftau verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Phase1Failure {
    /// A beacon whose parameters snarkjs never writes.
    #[error("its beacon parameters are out of range")]
    BeaconParameters,
    /// A beacon whose key is not the one its beacon value gives.
    #[error("its key is not the one its beacon value gives")]
    BeaconKey,
    /// `g1_s`, `g1_sx` and `sp`, `g2_spx` of this part do not share one
    /// secret.
    #[error("its proof of knowledge of the {0} secret fails")]
    ProofOfKnowledge(&'static str),
    /// This point is not the previous one times the part's secret.
    #[error("its {0} is not the previous one times its secret")]
    DoesNotFollow(&'static str),
    /// Its saved response-hash state is not one BLAKE2b can be in.
    #[error("its saved response-hash state is not a BLAKE2b state")]
    PartialHash,
    /// The last record's next challenge is not the hash of its response
    /// and the file's points.
    #[error("its next challenge is not the hash of its response and the file's points")]
    NextChallenge,
}

/// Everything that can go wrong reading or writing snarkjs and circom files.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// Not JSON, or not the shape snarkjs writes (missing, extra or
    /// mistyped fields, wrong array lengths).
    #[error("malformed {file}: {reason}")]
    Json {
        /// Which file kind.
        file: &'static str,
        /// serde's message.
        reason: String,
    },
    /// A number that is not a canonical element of its field.
    #[error("{what}: {reason}")]
    Number {
        /// Where in the file.
        what: String,
        /// Why.
        reason: NumberError,
    },
    /// A curve point that is not acceptable.
    #[error("{what}: {reason}")]
    Point {
        /// Where in the file.
        what: String,
        /// Why (off the curve, outside the subgroup, at infinity, ...).
        reason: &'static str,
    },
    /// A header field with a value veil does not accept.
    #[error("{file}: {field} must be {expected}, found {found}")]
    Unsupported {
        /// Which file kind.
        file: &'static str,
        /// Which field.
        field: &'static str,
        /// What veil accepts.
        expected: String,
        /// What the file says.
        found: String,
    },
    /// `nPublic` disagrees with the number of `IC` points.
    #[error(
        "verification key: nPublic is {n_public} but IC has {ic} points (expected nPublic + 1)"
    )]
    PublicCount {
        /// `nPublic` as written.
        n_public: usize,
        /// Number of `IC` points.
        ic: usize,
    },
    /// `vk_alphabeta_12` is not the pairing of `vk_alpha_1` and `vk_beta_2`.
    #[error("verification key: vk_alphabeta_12 is not e(vk_alpha_1, vk_beta_2)")]
    AlphaBeta,
    /// A binary (`.r1cs`, `.wtns`) file that is truncated or inconsistent.
    #[error("{file}: {reason}")]
    Binary {
        /// Which file kind.
        file: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A section missing, repeated, unknown or of the wrong length.
    #[error("{file}: section {id} {problem}")]
    Section {
        /// Which file kind.
        file: &'static str,
        /// The section id.
        id: u32,
        /// What is wrong with it.
        problem: SectionProblem,
    },
    /// Well-formed points that do not have the relations the format
    /// promises (e.g. the `.ptau` powers are not powers of one `τ`).
    #[error("{file}: {check} fails")]
    Inconsistent {
        /// Which file kind.
        file: &'static str,
        /// Which relation does not hold.
        check: &'static str,
    },
    /// Phase-2 contribution `index` (0-based; snarkjs prints `#index+1`)
    /// does not follow from the key before it.
    #[error(".zkey contribution #{}: {failure}", index + 1)]
    Contribution {
        /// Which contribution, oldest first from 0.
        index: usize,
        /// Which check fails.
        failure: ContributionFailure,
    },
    /// Phase-1 contribution `index` (0-based; snarkjs prints `#index+1`)
    /// does not follow from the one before it.
    #[error(".ptau contribution #{}: {failure}", index + 1)]
    Phase1Contribution {
        /// Which contribution, oldest first from 0.
        index: usize,
        /// Which check fails.
        failure: Phase1Failure,
    },
    /// The witness has the wrong number of wires or wire 0 is not one.
    #[error("witness has {actual} wires (expected {expected}) or wire 0 is not one")]
    WitnessShape {
        /// The constraint system's wire count.
        expected: usize,
        /// The witness's.
        actual: usize,
    },
    /// The witness does not satisfy the constraint system.
    #[error("witness does not satisfy constraint {0}")]
    Unsatisfied(usize),
    /// Synthesis or proving of a veil circuit failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A verified transcript falls short of the ceremony's policy
    /// ([`crate::ceremony::Policy`]).
    #[error("the transcript does not meet the ceremony policy: {0}")]
    Policy(String),
    /// Keys could not be described or stored.
    #[error(transparent)]
    Params(#[from] veil_proofs::ParamsError),
}

impl InteropError {
    pub(crate) fn binary(file: &'static str, reason: impl Into<String>) -> Self {
        InteropError::Binary {
            file,
            reason: reason.into(),
        }
    }
}
