//! Layered error types (docs/vouchers.md §8, §10).
//!
//! Decoding errors ([`DecodeError`](crate::DecodeError), in `decode`) say which message and field was
//! malformed; [`VerificationError`] says which proof failed; the
//! operation errors ([`IssueError`], [`SpendError`], [`ClientError`],
//! [`KeyError`]) wrap them with the state that made the call fail.

use thiserror::Error;

use crate::types::{Balance, Epoch};

/// A proof in a message did not verify (§5–§7).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum VerificationError {
    /// The 64-bit range proof on the remaining balance failed.
    #[error("range proof on the remaining balance rejected")]
    RangeProof,
    /// A Schnorr proof (proof of knowledge of a credential, of a blinded
    /// commitment's opening, or of correct issuance) failed.
    #[error("proof of knowledge rejected")]
    Proof,
    /// A point that must not be the identity was the identity.
    #[error("identity point in {field}")]
    IdentityPoint { field: &'static str },
}

/// Node side: an issuance request was refused (§5).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum IssueError {
    /// The request was made for another epoch than the node's current one.
    #[error("issuance for epoch {requested}, current epoch is {current}")]
    WrongEpoch { requested: Epoch, current: Epoch },
    #[error(transparent)]
    Verification(#[from] VerificationError),
}

/// Node side: a spend was refused (§6). Nothing was recorded unless the
/// error is [`SpendError::AlreadySpent`], which records nothing new either.
#[derive(Debug, Error)]
pub enum SpendError {
    /// The credential's epoch is neither the current nor the grace epoch.
    #[error("no key for epoch {0} (expired or unknown)")]
    UnknownEpoch(Epoch),
    /// An exchange must spend `0` from a grace-epoch credential.
    #[error("not an exchange: epoch {epoch}, amount {amount}")]
    NotAnExchange { epoch: Epoch, amount: Balance },
    #[error(transparent)]
    Verification(#[from] VerificationError),
    /// The nullifier was spent before.
    #[error("voucher already spent")]
    AlreadySpent,
    /// The nullifier store failed; the spend was not accepted.
    #[error("nullifier store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
}

/// Client side errors (§5, §6).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ClientError {
    /// The spend exceeds the credential's balance.
    #[error("insufficient balance: {balance} KiB, spend of {amount} KiB")]
    InsufficientBalance { balance: Balance, amount: Balance },
    /// The response is for another epoch than the key it is checked against.
    #[error("response for epoch {found}, expected {expected}")]
    EpochMismatch { expected: Epoch, found: Epoch },
    /// The issuer's proof of correct issuance failed: do not use the node.
    #[error(transparent)]
    Verification(#[from] VerificationError),
}

/// Key management errors (§3).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    /// Keys must rotate to a strictly later epoch.
    #[error("cannot rotate from epoch {current} to epoch {next}")]
    NonIncreasingEpoch { current: Epoch, next: Epoch },
}
