//! Notes, addresses, commitments and nullifiers.
//!
//! Spec: `docs/protocol.md` §2.3:
//! `addr = H(ADDR, pk, ρ)`, `cm = H(NOTE, v, addr)`, `nf = H(NULLIFIER, sk, ρ)`.
//! The in-circuit twins are in `veil_circuits::gadgets::note`.

use ark_ff::UniformRand;
use rand_core::{CryptoRng, RngCore};

use crate::{
    ids::{SessionId, fr_newtype},
    keys::{OwnerKey, SpendingKey},
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

fr_newtype!(
    secret
    /// The note randomness `ρ`, uniform in `F_r` (§2.3). Secret to the owner:
    /// `Debug` is redacted.
    Rho
);

impl Rho {
    /// A fresh uniform `ρ`.
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_fr(crate::field::Fr::rand(rng))
    }
}

fr_newtype!(
    /// A hidden address `addr = H(ADDR, pk, ρ)` (§2.3): payable without naming the owner.
    Address
);

impl Address {
    /// `addr = H(ADDR, pk, ρ)`.
    pub fn derive(owner: &OwnerKey, rho: &Rho) -> Self {
        Self::from_fr(hash_tagged(DomainTag::Addr, &[owner.inner(), rho.inner()]))
    }
}

fr_newtype!(
    /// A note commitment `cm = H(NOTE, v, addr)` (§2.3): a leaf of the tree (§2.4).
    NoteCommitment
);

impl NoteCommitment {
    /// `cm = H(NOTE, v, addr)`. The ledger computes deposits and reclaims this way.
    pub fn from_value_and_address(value: Value, address: &Address) -> Self {
        Self::from_fr(hash_tagged(
            DomainTag::Note,
            &[value.to_fr(), address.inner()],
        ))
    }
}

fr_newtype!(
    /// A nullifier `nf = H(NULLIFIER, sk, ρ)` (§2.3): published when the note is spent.
    Nullifier
);

impl Nullifier {
    /// `nf = H(NULLIFIER, sk, ρ)`.
    pub fn derive(sk: &SpendingKey, rho: &Rho) -> Self {
        Self::from_fr(hash_tagged(
            DomainTag::Nullifier,
            &[sk.inner(), rho.inner()],
        ))
    }
}

impl From<Nullifier> for SessionId {
    /// The session opened by an access token is named by its nullifier (§3).
    fn from(nf: Nullifier) -> Self {
        SessionId::from_fr(nf.inner())
    }
}

/// A note `(v, pk, ρ)` (§2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Note {
    /// The amount.
    pub value: Value,
    /// The owner key `pk`.
    pub owner: OwnerKey,
    /// The randomness `ρ`.
    pub rho: Rho,
}

impl Note {
    /// A note of `value` to `owner` with randomness `rho`.
    pub fn new(value: Value, owner: OwnerKey, rho: Rho) -> Self {
        Self { value, owner, rho }
    }

    /// `addr = H(ADDR, pk, ρ)`.
    pub fn address(&self) -> Address {
        Address::derive(&self.owner, &self.rho)
    }

    /// `cm = H(NOTE, v, addr)`.
    pub fn commitment(&self) -> NoteCommitment {
        NoteCommitment::from_value_and_address(self.value, &self.address())
    }

    /// `nf = H(NULLIFIER, sk, ρ)`. Meaningful only when `sk.owner_key() == self.owner`:
    /// circuits enforce that; this function does not check it.
    pub fn nullifier(&self, sk: &SpendingKey) -> Nullifier {
        Nullifier::derive(sk, &self.rho)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{field::Fr, poseidon::hash};
    use ark_ff::Zero;
    use proptest::prelude::*;

    fn note(sk: u64, v: u64, rho: u64) -> (SpendingKey, Note) {
        let sk = SpendingKey::from_fr(Fr::from(sk));
        let n = Note::new(Value(v), sk.owner_key(), Rho::from_fr(Fr::from(rho)));
        (sk, n)
    }

    #[test]
    fn definitions_match_the_spec() {
        let (sk, n) = note(3, 100, 9);
        let pk = hash_tagged(DomainTag::Owner, &[Fr::from(3u64)]);
        let addr = hash_tagged(DomainTag::Addr, &[pk, Fr::from(9u64)]);
        assert_eq!(n.address().inner(), addr);
        assert_eq!(
            n.commitment().inner(),
            hash_tagged(DomainTag::Note, &[Fr::from(100u64), addr])
        );
        assert_eq!(
            n.nullifier(&sk).inner(),
            hash_tagged(DomainTag::Nullifier, &[Fr::from(3u64), Fr::from(9u64)])
        );
    }

    #[test]
    fn rho_is_not_printed() {
        let rho = Rho::from_fr(Fr::from(0xabcdefu64));
        assert_eq!(format!("{rho:?}"), "Rho(<redacted>)");
        assert!(format!("{:?}", note(1, 2, 0xabcdef).1).contains("<redacted>"));
    }

    #[test]
    fn domains_are_separated() {
        // A9: the nullifier and the address take (secret-ish, ρ) pairs; tags keep them apart,
        // and a commitment is never the untagged node hash of its inputs nor the empty leaf.
        let (sk, n) = note(3, 100, 9);
        assert_ne!(
            n.nullifier(&sk).inner(),
            Address::derive(&OwnerKey::from_fr(sk.inner()), &n.rho).inner()
        );
        assert_ne!(
            n.commitment().inner(),
            hash(&[n.value.to_fr(), n.address().inner()])
        );
        assert!(!n.commitment().inner().is_zero());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn every_field_changes_the_commitment(sk in any::<u64>(), v in any::<u64>(), rho in any::<u64>()) {
            let (key, n) = note(sk, v, rho);
            let (_, other_v) = note(sk, v ^ 1, rho);
            let (_, other_rho) = note(sk, v, rho ^ 1);
            let (other_key, other_owner) = note(sk ^ 1, v, rho);
            prop_assert_ne!(n.commitment(), other_v.commitment());
            prop_assert_ne!(n.commitment(), other_rho.commitment());
            prop_assert_ne!(n.commitment(), other_owner.commitment());
            prop_assert_ne!(n.nullifier(&key), other_rho.nullifier(&key));
            prop_assert_ne!(n.nullifier(&key), n.nullifier(&other_key));
            // The nullifier does not depend on the value (one per (sk, ρ)).
            prop_assert_eq!(n.nullifier(&key), other_v.nullifier(&key));
        }
    }
}
