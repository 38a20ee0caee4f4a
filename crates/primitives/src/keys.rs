//! Spending and owner keys.
//!
//! Spec: `docs/protocol.md` §2.3: `sk` uniform in `F_r`, `pk = H(OWNER, sk)`.

use ark_ff::UniformRand;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{
    error::EncodingError,
    field::{FR_BYTES, Fr, fr_from_bytes, fr_from_slice, fr_to_bytes},
    ids::fr_newtype,
    poseidon::{DomainTag, hash_tagged},
    secret::Redacted,
};

/// The secret that owns notes and derives their nullifiers (§2.3).
///
/// `Debug` never prints it. It is overwritten with zero on drop
/// (`docs/security.md`, "Secrets in memory"); copies made by the caller
/// through [`SpendingKey::inner`] or [`SpendingKey::to_bytes`] are the
/// caller's to erase.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SpendingKey(Fr);

impl SpendingKey {
    /// A fresh key, uniform in `F_r`.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self(Fr::rand(rng))
    }

    /// Wraps a field element (used by circuits' witnesses and tests).
    pub fn from_fr(sk: Fr) -> Self {
        Self(sk)
    }

    /// The secret scalar.
    pub fn inner(&self) -> Fr {
        self.0
    }

    /// The owner key `pk = H(OWNER, sk)` (§2.3).
    pub fn owner_key(&self) -> OwnerKey {
        OwnerKey::from_fr(hash_tagged(DomainTag::Owner, &[self.0]))
    }

    /// Canonical encoding: 32 bytes, big-endian (§2.1).
    pub fn to_bytes(&self) -> [u8; FR_BYTES] {
        fr_to_bytes(&self.0)
    }

    /// Decodes the canonical encoding, rejecting any value `>= r`.
    pub fn from_bytes(bytes: &[u8; FR_BYTES]) -> Result<Self, EncodingError> {
        fr_from_bytes(bytes).map(Self)
    }

    /// Decodes from a slice that must be exactly 32 bytes and `< r`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EncodingError> {
        fr_from_slice(bytes).map(Self)
    }
}

impl core::fmt::Debug for SpendingKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("SpendingKey").field(&Redacted).finish()
    }
}

fr_newtype!(
    /// The owner key `pk = H(OWNER, sk)` (§2.3): public to whoever is paid,
    /// never published on the ledger (addresses hide it).
    OwnerKey
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    use crate::secret::testing::assert_debug_redacted;

    #[test]
    fn debug_does_not_leak_the_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let sk = SpendingKey::random(&mut rng);
        let shown = format!("{sk:?}");
        assert_debug_redacted(&shown, &[&sk.to_bytes()]);
        assert!(!shown.contains(&sk.inner().to_string()));
        assert_eq!(shown, "SpendingKey(<redacted>)");
        // Inside another struct's derived Debug, too.
        assert_debug_redacted(&format!("{:?}", Some((1, &sk))), &[&sk.to_bytes()]);
    }

    #[test]
    fn zeroize_wipes_the_key() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let mut sk = SpendingKey::random(&mut rng);
        assert_ne!(sk.to_bytes(), [0; 32]);
        // What drop runs (ZeroizeOnDrop), observed before the memory is freed.
        sk.zeroize();
        assert_eq!(sk.to_bytes(), [0; 32]);
    }

    #[test]
    fn owner_key_is_the_tagged_hash() {
        let sk = SpendingKey::from_fr(Fr::from(42u64));
        assert_eq!(
            sk.owner_key().inner(),
            hash_tagged(DomainTag::Owner, &[Fr::from(42u64)])
        );
        assert_ne!(
            sk.owner_key().inner(),
            hash_tagged(DomainTag::Nullifier, &[Fr::from(42u64)])
        );
        let back = SpendingKey::from_bytes(&sk.to_bytes()).expect("canonical");
        assert_eq!(back.owner_key(), sk.owner_key());
        assert!(SpendingKey::from_bytes(&[0xff; 32]).is_err());
    }
}
