//! Identifiers and heights: typed field elements with one canonical encoding.
//!
//! Spec: `docs/protocol.md` §2.1 (encodings), §3 (access public inputs).
//! Every identifier is a field element `< r`, encoded as 32 big-endian bytes;
//! decoding rejects `>= r` and never reduces (adversarial B1, D9).

use crate::{error::EncodingError, field::Fr};

/// Defines a newtype over [`Fr`] with the canonical 32-byte encoding.
macro_rules! fr_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        crate::ids::fr_newtype!(@base $(#[$meta])* $name);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.to_bytes()))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&hex::encode(self.to_bytes()))
            }
        }
    };
    // A secret value: `Debug` is redacted and there is no `Display`.
    (secret $(#[$meta:meta])* $name:ident) => {
        crate::ids::fr_newtype!(@base $(#[$meta])* $name);

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
    (@base $(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(crate::field::Fr);

        impl $name {
            /// Wraps a field element (every field element is canonical).
            pub const fn from_fr(x: crate::field::Fr) -> Self {
                Self(x)
            }

            /// The field element.
            pub const fn inner(&self) -> crate::field::Fr {
                self.0
            }

            /// Canonical encoding: 32 bytes, big-endian (`docs/protocol.md` §2.1).
            pub fn to_bytes(&self) -> [u8; crate::field::FR_BYTES] {
                crate::field::fr_to_bytes(&self.0)
            }

            /// Decodes the canonical encoding, rejecting any value `>= r`.
            pub fn from_bytes(
                bytes: &[u8; crate::field::FR_BYTES],
            ) -> Result<Self, crate::error::EncodingError> {
                crate::field::fr_from_bytes(bytes).map(Self)
            }

            /// Decodes from a slice that must be exactly 32 bytes and `< r`.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, crate::error::EncodingError> {
                crate::field::fr_from_slice(bytes).map(Self)
            }
        }

    };
}
pub(crate) use fr_newtype;

fr_newtype!(
    /// A node's identifier `node_id = H(NODE_ID, N.x, N.y)` (§2.2); bound in
    /// the access statement so a token cannot be replayed to another node.
    NodeId
);
fr_newtype!(
    /// A session's identifier: the access nullifier `nf` (§3).
    SessionId
);
fr_newtype!(
    /// A public ledger account (withdraw recipient, deposit source, node
    /// payee): `H(ACCOUNT, A.x, A.y)` of the account key `A` that signs its
    /// debits (§1, §8.3; `VerifyingKey::account_id`). Decoding accepts any
    /// canonical field element: crediting needs no key.
    AccountId
);
fr_newtype!(
    /// Commitment to the client's session key `h_S = H(SESSION, S.x, S.y)` (§2.2, §3).
    SessionKeyHash
);

/// A ledger height (the ledger's only clock, adversarial D10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockHeight(pub u64);

impl BlockHeight {
    /// The height as a field element (a public input of §3).
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

    /// `self + delta`, or `None` on overflow.
    pub fn checked_add(self, delta: u64) -> Option<Self> {
        self.0.checked_add(delta).map(Self)
    }
}

impl core::fmt::Display for BlockHeight {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::PrimeField;
    use proptest::prelude::*;

    #[test]
    fn rejects_non_canonical_ids() {
        let mut r = [0u8; 32];
        r.copy_from_slice(&ark_ff::BigInteger::to_bytes_be(&Fr::MODULUS));
        assert_eq!(
            NodeId::from_bytes(&r),
            Err(EncodingError::NonCanonicalField)
        );
        assert_eq!(
            AccountId::from_bytes(&r),
            Err(EncodingError::NonCanonicalField)
        );
        assert!(SessionKeyHash::from_slice(&[0u8; 31]).is_err());
        assert!(BlockHeight::from_slice(&[0u8; 9]).is_err());
    }

    proptest! {
        #[test]
        fn id_roundtrip(bytes in proptest::array::uniform32(any::<u8>())) {
            if let Ok(id) = SessionId::from_bytes(&bytes) {
                prop_assert_eq!(id.to_bytes(), bytes);
                prop_assert_eq!(SessionId::from_fr(id.inner()), id);
            }
        }

        #[test]
        fn height_roundtrip(h in any::<u64>()) {
            let b = BlockHeight(h);
            prop_assert_eq!(BlockHeight::from_slice(&b.to_bytes()), Ok(b));
            prop_assert_eq!(b.to_fr(), Fr::from(h));
        }
    }
}
