//! The spend core shared by `access` (§3) and `withdraw` (§4).
//!
//! Relation (`docs/protocol.md` §3.2), for public `root, nf, cm_change, A`
//! (`A` the amount taken out: the escrow `E` or the withdrawn amount) and
//! private `sk, v, ρ, path, ρ_c`:
//!
//! 1. `A`, `v` and `v_c = v − A` are each `< 2^64` (so `A ≤ v`, no wrap: A1–A4);
//! 2. `pk = H(OWNER, sk)`, `cm = H(NOTE, v, H(ADDR, pk, ρ))`;
//! 3. `path` leads from `cm` to `root` (32 levels, boolean bits: A7, A8);
//! 4. `nf = H(NULLIFIER, sk, ρ)` (depends on `(sk, ρ)` only: A6);
//! 5. `cm_change = H(NOTE, v_c, H(ADDR, pk, ρ_c))`.
//!
//! [`check`] is the native twin over the same raw field values: it returns
//! the first violated relation, in the order above.

use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use thiserror::Error;
use veil_primitives::{
    Fr,
    field::fr_to_u64,
    keys::SpendingKey,
    merkle::AuthPath,
    note::{Address, NoteCommitment, Rho},
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

use crate::gadgets::{merkle::AuthPathVar, note, range::enforce_u64};

/// The private part of a spend: the note being spent and the change randomness.
///
/// `Debug` shows only the leaf index: the rest is secret.
#[derive(Clone)]
pub struct SpendPrivate {
    /// The spending key that owns the note.
    pub sk: SpendingKey,
    /// The note's value `v`.
    pub value: Value,
    /// The note's randomness `ρ`.
    pub rho: Rho,
    /// The note commitment's path in the tree.
    pub path: AuthPath,
    /// Randomness `ρ_c` of the change note (to the same owner).
    pub rho_change: Rho,
}

impl SpendPrivate {
    /// The spent note's commitment `cm = H(NOTE, v, H(ADDR, pk, ρ))`.
    pub fn commitment(&self) -> NoteCommitment {
        NoteCommitment::from_value_and_address(
            self.value,
            &Address::derive(&self.sk.owner_key(), &self.rho),
        )
    }

    /// The raw field values the circuit allocates.
    pub fn to_witness(&self) -> SpendWitness {
        SpendWitness {
            sk: self.sk.inner(),
            value: self.value.to_fr(),
            rho: self.rho.inner(),
            path: self.path.clone(),
            rho_change: self.rho_change.inner(),
        }
    }
}

/// The spend witness as raw field elements: what the circuit sees.
///
/// Typed code builds it from [`SpendPrivate`]; adversarial tests build it
/// directly to feed values no typed witness can hold (a balance `>= 2^64`).
/// `Debug` shows only the leaf index.
#[derive(Clone, PartialEq, Eq)]
pub struct SpendWitness {
    /// `sk`.
    pub sk: Fr,
    /// `v`.
    pub value: Fr,
    /// `ρ`.
    pub rho: Fr,
    /// The authentication path (its index gives the path bits).
    pub path: AuthPath,
    /// `ρ_c`.
    pub rho_change: Fr,
}

impl core::fmt::Debug for SpendPrivate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpendPrivate")
            .field("index", &self.path.index)
            .finish_non_exhaustive()
    }
}

impl core::fmt::Debug for SpendWitness {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpendWitness")
            .field("index", &self.path.index)
            .finish_non_exhaustive()
    }
}

/// The public part of a spend as raw field elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendPublicFr {
    /// `root`.
    pub root: Fr,
    /// `nf`.
    pub nullifier: Fr,
    /// `cm_change`.
    pub cm_change: Fr,
    /// `A`: the escrow `E` or the withdrawn amount.
    pub amount: Fr,
}

/// A violated spend relation (native twin, `docs/protocol.md` §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SpendError {
    /// The amount taken out is not `< 2^64`.
    #[error("amount is not a 64-bit value")]
    AmountOutOfRange,
    /// The note value is not `< 2^64`.
    #[error("note value is not a 64-bit value")]
    ValueOutOfRange,
    /// The amount exceeds the note value (the change would wrap).
    #[error("amount exceeds the note value")]
    InsufficientValue,
    /// The note's commitment is not in the tree at `root` along the path.
    #[error("note is not in the tree at this root")]
    NotInTree,
    /// `nf` is not the note's nullifier under `sk`.
    #[error("nullifier does not match the note")]
    WrongNullifier,
    /// `cm_change` is not the change note's commitment.
    #[error("change commitment does not match")]
    WrongChange,
}

/// Native twin of [`enforce_spend`].
pub fn check(public: &SpendPublicFr, w: &SpendWitness) -> Result<(), SpendError> {
    let amount = fr_to_u64(&public.amount).ok_or(SpendError::AmountOutOfRange)?;
    let value = fr_to_u64(&w.value).ok_or(SpendError::ValueOutOfRange)?;
    let change = value
        .checked_sub(amount)
        .ok_or(SpendError::InsufficientValue)?;
    let pk = hash_tagged(DomainTag::Owner, &[w.sk]);
    let addr = hash_tagged(DomainTag::Addr, &[pk, w.rho]);
    let cm = NoteCommitment::from_fr(hash_tagged(DomainTag::Note, &[w.value, addr]));
    if w.path.root_for(&cm).inner() != public.root {
        return Err(SpendError::NotInTree);
    }
    if hash_tagged(DomainTag::Nullifier, &[w.sk, w.rho]) != public.nullifier {
        return Err(SpendError::WrongNullifier);
    }
    let addr_c = hash_tagged(DomainTag::Addr, &[pk, w.rho_change]);
    if hash_tagged(DomainTag::Note, &[Fr::from(change), addr_c]) != public.cm_change {
        return Err(SpendError::WrongChange);
    }
    Ok(())
}

/// Computes the public outputs of an honest spend of `w` taking out `amount`:
/// `(root, nf, cm_change)`, or the violated relation.
pub fn outputs(w: &SpendWitness, amount: Value) -> Result<(Fr, Fr, Fr), SpendError> {
    let value = fr_to_u64(&w.value).ok_or(SpendError::ValueOutOfRange)?;
    let change = value
        .checked_sub(amount.get())
        .ok_or(SpendError::InsufficientValue)?;
    let pk = hash_tagged(DomainTag::Owner, &[w.sk]);
    let addr = hash_tagged(DomainTag::Addr, &[pk, w.rho]);
    let cm = NoteCommitment::from_fr(hash_tagged(DomainTag::Note, &[w.value, addr]));
    let root = w.path.root_for(&cm).inner();
    let nf = hash_tagged(DomainTag::Nullifier, &[w.sk, w.rho]);
    let addr_c = hash_tagged(DomainTag::Addr, &[pk, w.rho_change]);
    Ok((
        root,
        nf,
        hash_tagged(DomainTag::Note, &[Fr::from(change), addr_c]),
    ))
}

/// The spend witness, allocated.
#[derive(Clone, Debug)]
pub struct SpendWitnessVar {
    sk: FpVar<Fr>,
    value: FpVar<Fr>,
    rho: FpVar<Fr>,
    path: AuthPathVar,
    rho_change: FpVar<Fr>,
}

impl SpendWitnessVar {
    /// Allocates `w` as witnesses.
    pub fn new_witness(
        cs: ConstraintSystemRef<Fr>,
        w: &SpendWitness,
    ) -> Result<Self, SynthesisError> {
        Ok(Self {
            sk: FpVar::new_witness(cs.clone(), || Ok(w.sk))?,
            value: FpVar::new_witness(cs.clone(), || Ok(w.value))?,
            rho: FpVar::new_witness(cs.clone(), || Ok(w.rho))?,
            path: AuthPathVar::new_witness(cs.clone(), || Ok(&w.path))?,
            rho_change: FpVar::new_witness(cs, || Ok(w.rho_change))?,
        })
    }
}

/// Allocated public inputs of the spend core.
#[derive(Clone, Debug)]
pub struct SpendPublicVar {
    /// `root`.
    pub root: FpVar<Fr>,
    /// `nf`.
    pub nullifier: FpVar<Fr>,
    /// `cm_change`.
    pub cm_change: FpVar<Fr>,
    /// `A`.
    pub amount: FpVar<Fr>,
}

/// Enforces relations 1–5 of the spend core (module docs).
pub fn enforce_spend(public: &SpendPublicVar, w: &SpendWitnessVar) -> Result<(), SynthesisError> {
    // 1. Ranges: A, v, v_c = v − A in [0, 2^64). With A, v_c < 2^64 and
    //    v = v_c + A < 2^65 < r there is no wrap: A ≤ v.
    enforce_u64(&public.amount)?;
    enforce_u64(&w.value)?;
    let change = &w.value - &public.amount;
    enforce_u64(&change)?;
    // 2. Ownership and commitment.
    let pk = note::owner_key(&w.sk)?;
    let addr = note::address(&pk, &w.rho)?;
    let cm = note::commitment(&w.value, &addr)?;
    // 3. Membership.
    w.path.root_for(&cm)?.enforce_equal(&public.root)?;
    // 4. Nullifier.
    note::nullifier(&w.sk, &w.rho)?.enforce_equal(&public.nullifier)?;
    // 5. Change note to the same owner.
    let addr_c = note::address(&pk, &w.rho_change)?;
    note::commitment(&change, &addr_c)?.enforce_equal(&public.cm_change)?;
    Ok(())
}

/// A satisfiable spend of a zero-value note in an otherwise empty tree
/// (used for setup, which needs only the shape, and for tests).
pub fn dummy_witness() -> SpendWitness {
    SpendWitness {
        sk: Fr::from(1u64),
        value: Fr::from(0u64),
        rho: Fr::from(2u64),
        path: AuthPath::empty(),
        rho_change: Fr::from(3u64),
    }
}

/// Makes a public input that no relation uses appear in a constraint
/// (`x · x = s` for a fresh witness `s`, 1 constraint).
///
/// In Groth16 a public input that appears in no constraint has a zero
/// verifying-key term, so a proof would verify for any value of it
/// (adversarial A11). Binding it makes the statement commit to the value.
pub fn bind_public_input(x: &FpVar<Fr>) -> Result<(), SynthesisError> {
    use ark_r1cs_std::fields::FieldVar;
    let _square = x.square()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_witness() {
        let w = dummy_witness();
        let shown = format!("{w:?} {:?}", crate::access::AccessCircuit::dummy());
        assert!(shown.contains("index"));
        // sk = 1, ρ = 2, ρ_c = 3 in the dummy witness: none of them may appear as a field.
        assert!(!shown.contains("sk"), "{shown}");
        assert!(!shown.contains("rho"), "{shown}");
    }
}
