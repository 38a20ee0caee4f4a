//! Amounts in base units.
//!
//! Spec: `docs/protocol.md` §2.5. A value is a `u64`; arithmetic is checked
//! (no wrap), and in circuits every value is range checked to 64 bits.

use crate::{error::EncodingError, field::Fr};

/// An amount in base units (`docs/protocol.md` §2.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(pub u64);

impl Value {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// The largest value, `2^64 − 1`.
    pub const MAX: Self = Self(u64::MAX);

    /// The amount in base units.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self − other`, or `None` if `other > self` (no wrap, adversarial A4).
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    /// The value as a field element (always `< 2^64`).
    pub fn to_fr(self) -> Fr {
        Fr::from(self.0)
    }

    /// Canonical encoding: 8 bytes, big-endian (§2.1).
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Decodes the 8-byte big-endian encoding.
    pub fn from_bytes(bytes: &[u8; 8]) -> Self {
        Self(u64::from_be_bytes(*bytes))
    }

    /// Decodes from a slice that must be exactly 8 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EncodingError> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| EncodingError::Length {
            expected: 8,
            actual: bytes.len(),
        })?;
        Ok(Self::from_bytes(&arr))
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Self(v)
    }
}

impl core::fmt::Display for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn checked_arithmetic_does_not_wrap() {
        assert_eq!(Value::MAX.checked_add(Value(1)), None);
        assert_eq!(Value(5).checked_sub(Value(6)), None);
        assert_eq!(Value(5).checked_sub(Value(5)), Some(Value::ZERO));
        assert!(Value::from_slice(&[0u8; 7]).is_err());
    }

    proptest! {
        #[test]
        fn arithmetic_matches_u128(a in any::<u64>(), b in any::<u64>()) {
            let sum = u128::from(a) + u128::from(b);
            prop_assert_eq!(Value(a).checked_add(Value(b)).map(|v| u128::from(v.0)), (sum <= u128::from(u64::MAX)).then_some(sum));
            prop_assert_eq!(Value(a).checked_sub(Value(b)).map(|v| v.0), a.checked_sub(b));
            prop_assert_eq!(Value::from_slice(&Value(a).to_bytes()), Ok(Value(a)));
            prop_assert_eq!(Value(a).to_fr(), Fr::from(a));
        }
    }
}
