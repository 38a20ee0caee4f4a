//! In-circuit keys, addresses, commitments and nullifiers: the twins of
//! [`veil_primitives::keys`] and [`veil_primitives::note`].
//!
//! Spec: `docs/protocol.md` §2.3.

use ark_r1cs_std::fields::fp::FpVar;
use ark_relations::gr1cs::SynthesisError;
use veil_primitives::{Fr, poseidon::DomainTag};

use super::poseidon::hash_tagged;

/// `pk = H(OWNER, sk)` (237 constraints).
pub fn owner_key(sk: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash_tagged(DomainTag::Owner, core::slice::from_ref(sk))
}

/// `addr = H(ADDR, pk, ρ)` (258 constraints).
pub fn address(pk: &FpVar<Fr>, rho: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash_tagged(DomainTag::Addr, &[pk.clone(), rho.clone()])
}

/// `cm = H(NOTE, v, addr)` (258 constraints). `v` must be range checked by the caller.
pub fn commitment(value: &FpVar<Fr>, addr: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash_tagged(DomainTag::Note, &[value.clone(), addr.clone()])
}

/// `nf = H(NULLIFIER, sk, ρ)` (258 constraints).
pub fn nullifier(sk: &FpVar<Fr>, rho: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash_tagged(DomainTag::Nullifier, &[sk.clone(), rho.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{
        GR1CSVar,
        alloc::{AllocVar, AllocationMode},
    };
    use ark_relations::gr1cs::ConstraintSystem;
    use proptest::prelude::*;
    use veil_primitives::{
        keys::SpendingKey,
        note::{Note, Rho},
        value::Value,
    };

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn agrees_with_native(sk in any::<u64>(), v in any::<u64>(), rho in any::<u64>(), mode in 0usize..3) {
            let mode = [AllocationMode::Witness, AllocationMode::Input, AllocationMode::Constant][mode];
            let key = SpendingKey::from_fr(Fr::from(sk) * Fr::from(u64::MAX));
            let note = Note::new(Value(v), key.owner_key(), Rho::from_fr(Fr::from(rho) + Fr::from(3u64)));
            let cs = ConstraintSystem::<Fr>::new_ref();
            let alloc = |x: Fr| FpVar::new_variable(cs.clone(), || Ok(x), mode).expect("alloc");
            let (skv, vv, rv) = (alloc(key.inner()), alloc(note.value.to_fr()), alloc(note.rho.inner()));
            let pk = owner_key(&skv).expect("synthesis");
            let addr = address(&pk, &rv).expect("synthesis");
            prop_assert_eq!(pk.value().expect("assigned"), note.owner.inner());
            prop_assert_eq!(addr.value().expect("assigned"), note.address().inner());
            prop_assert_eq!(commitment(&vv, &addr).expect("synthesis").value().expect("assigned"), note.commitment().inner());
            prop_assert_eq!(nullifier(&skv, &rv).expect("synthesis").value().expect("assigned"), note.nullifier(&key).inner());
            prop_assert!(cs.is_satisfied().expect("prove mode"));
        }
    }
}
