//! Canonical fixed-length encodings (docs/vouchers.md §8).
//!
//! Every message starts with [`VERSION`] and has one exact length. The
//! [`Reader`] checks version and length up front and then reads fields that
//! must be canonical: points decompress (ristretto encodings are unique) and
//! are not the identity, scalars are `< ℓ`.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;

use crate::decode::DecodeError;

/// The encoding version of every message and record in this crate.
pub const VERSION: u8 = 1;

pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn new(len: usize) -> Self {
        let mut buf = Vec::with_capacity(len);
        buf.push(VERSION);
        Writer(buf)
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    pub(crate) fn point(&mut self, p: &RistrettoPoint) -> &mut Self {
        self.bytes(p.compress().as_bytes())
    }

    pub(crate) fn scalar(&mut self, s: &Scalar) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    pub(crate) fn finish(self, expected_len: usize) -> Vec<u8> {
        debug_assert_eq!(self.0.len(), expected_len);
        self.0
    }
}

pub(crate) struct Reader<'a> {
    message: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Checks the version byte and the exact length.
    pub(crate) fn new(
        message: &'static str,
        bytes: &'a [u8],
        expected_len: usize,
    ) -> Result<Self, DecodeError> {
        match bytes.first() {
            Some(&VERSION) => {}
            Some(&found) => {
                return Err(DecodeError::Version {
                    message,
                    expected: VERSION,
                    found,
                });
            }
            None => {
                return Err(DecodeError::Length {
                    message,
                    expected: expected_len,
                    found: 0,
                });
            }
        }
        if bytes.len() != expected_len {
            return Err(DecodeError::Length {
                message,
                expected: expected_len,
                found: bytes.len(),
            });
        }
        Ok(Reader {
            message,
            rest: &bytes[1..],
        })
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            // Unreachable after the length check in `new`; kept as an error
            // rather than a panic.
            return Err(DecodeError::Length {
                message: self.message,
                expected: n,
                found: self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut out = [0u8; 8];
        out.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(out))
    }

    /// A canonical scalar.
    pub(crate) fn scalar(&mut self, field: &'static str) -> Result<Scalar, DecodeError> {
        let bytes = self.array32()?;
        Option::from(Scalar::from_canonical_bytes(bytes)).ok_or(DecodeError::NonCanonicalScalar {
            message: self.message,
            field,
        })
    }

    /// A canonical, non-identity point.
    pub(crate) fn point(&mut self, field: &'static str) -> Result<RistrettoPoint, DecodeError> {
        let bytes = self.array32()?;
        let point = decompress(&bytes).ok_or(DecodeError::NonCanonicalPoint {
            message: self.message,
            field,
        })?;
        if point.is_identity() {
            return Err(DecodeError::IdentityPoint {
                message: self.message,
                field,
            });
        }
        Ok(point)
    }

    pub(crate) fn message(&self) -> &'static str {
        self.message
    }

    /// Asserts that everything was read (the length check makes this hold
    /// for every decoder; the check catches a wrong layout constant).
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Length {
                message: self.message,
                expected: 0,
                found: self.rest.len(),
            })
        }
    }
}

pub(crate) fn decompress(bytes: &[u8; 32]) -> Option<RistrettoPoint> {
    CompressedRistretto(*bytes).decompress()
}
