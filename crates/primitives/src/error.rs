//! Errors of the primitives crate.

use thiserror::Error;

/// A byte string or text is not the one canonical encoding of a value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodingError {
    /// Wrong length (no truncation, no trailing bytes are accepted).
    #[error("wrong length: expected {expected} bytes, got {actual}")]
    Length { expected: usize, actual: usize },
    /// A field element `>= r`: never reduced.
    #[error("field element is not canonical (>= r)")]
    NonCanonicalField,
    /// Not a decimal integer.
    #[error("not a decimal integer")]
    NotDecimal,
    /// Not hex of even length.
    #[error("not a hex string of even length")]
    NotHex,
    /// A curve point that does not decode, is not on the curve, or is not in the prime-order subgroup.
    #[error("invalid curve point: {0}")]
    InvalidPoint(&'static str),
    /// A scalar `>= l` (the BabyJubJub subgroup order).
    #[error("scalar is not canonical (>= l)")]
    NonCanonicalScalar,
    /// A value out of its allowed range.
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
    /// Unknown version byte.
    #[error("unsupported encoding version {0}")]
    Version(u8),
}
