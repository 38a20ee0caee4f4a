//! [`DecodeError`]: a message or stored record was not canonical
//! (docs/vouchers.md §8). Its own module so that the value types, which
//! decode, and the operation errors, which name value types, do not import
//! each other.

use thiserror::Error;

/// A message or stored record did not have its canonical encoding (§8).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The leading version byte is not one this library reads.
    #[error("{message}: unsupported version {found} (expected {expected})")]
    Version {
        message: &'static str,
        expected: u8,
        found: u8,
    },
    /// The byte string has the wrong length (this includes trailing bytes).
    #[error("{message}: length {found}, expected {expected}")]
    Length {
        message: &'static str,
        expected: usize,
        found: usize,
    },
    /// A 32-byte field is not the canonical encoding of a ristretto point.
    #[error("{message}.{field}: not a canonical ristretto255 point")]
    NonCanonicalPoint {
        message: &'static str,
        field: &'static str,
    },
    /// A point field holds the identity where it must not.
    #[error("{message}.{field}: identity point")]
    IdentityPoint {
        message: &'static str,
        field: &'static str,
    },
    /// A 32-byte field is not a canonical scalar (it is `>= ℓ`).
    #[error("{message}.{field}: non-canonical scalar")]
    NonCanonicalScalar {
        message: &'static str,
        field: &'static str,
    },
    /// The embedded range proof does not parse or does not re-encode to
    /// the same bytes.
    #[error("{message}: malformed range proof")]
    RangeProof { message: &'static str },
}
