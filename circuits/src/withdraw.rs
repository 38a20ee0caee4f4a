//! Circuit `withdraw`: spend a note to a public ledger account.
//!
//! Spec: `docs/protocol.md` §4. Public inputs, in this order:
//! `root, nf, cm_change, amount, recipient`. Private: as `access`.
//! Relations: the spend core (§3.2) with amount `amount`, and `recipient`
//! bound by one constraint.

use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use veil_primitives::{
    Fr,
    ids::AccountId,
    merkle::MerkleRoot,
    note::{NoteCommitment, Nullifier},
    value::Value,
};

use crate::spend::{
    self, SpendError, SpendPrivate, SpendPublicFr, SpendPublicVar, SpendWitness, SpendWitnessVar,
};

/// Offset of `root` in the public input vector.
pub const ROOT: usize = 0;
/// Offset of `nf`.
pub const NULLIFIER: usize = 1;
/// Offset of `cm_change`.
pub const CM_CHANGE: usize = 2;
/// Offset of the withdrawn amount.
pub const AMOUNT: usize = 3;
/// Offset of the recipient account.
pub const RECIPIENT: usize = 4;
/// Number of public inputs.
pub const NUM_PUBLIC_INPUTS: usize = 5;

/// The public statement of a withdrawal (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WithdrawPublic {
    /// A recent root of the note commitment tree.
    pub root: MerkleRoot,
    /// The spent note's nullifier.
    pub nullifier: Nullifier,
    /// The change note `v − amount` to the same owner.
    pub cm_change: NoteCommitment,
    /// The amount paid to `recipient`.
    pub amount: Value,
    /// The public account credited.
    pub recipient: AccountId,
}

impl WithdrawPublic {
    /// The public input vector Groth16 verification needs, in the order of §4.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        self.to_array().to_vec()
    }

    /// The public inputs as a fixed-size array.
    pub fn to_array(&self) -> [Fr; NUM_PUBLIC_INPUTS] {
        [
            self.root.inner(),
            self.nullifier.inner(),
            self.cm_change.inner(),
            self.amount.to_fr(),
            self.recipient.inner(),
        ]
    }

    /// Computes the honest statement for withdrawing `amount` from `private`
    /// to `recipient`, or the violated relation.
    pub fn derive(
        private: &WithdrawPrivate,
        amount: Value,
        recipient: AccountId,
    ) -> Result<Self, WithdrawError> {
        let (root, nf, cm_change) = spend::outputs(&private.to_witness(), amount)?;
        Ok(Self {
            root: MerkleRoot::from_fr(root),
            nullifier: Nullifier::from_fr(nf),
            cm_change: NoteCommitment::from_fr(cm_change),
            amount,
            recipient,
        })
    }
}

/// The private witness of a withdrawal.
pub type WithdrawPrivate = SpendPrivate;

/// A violated withdraw relation: exactly the spend core's.
pub type WithdrawError = SpendError;

/// The native withdraw relation (twin of [`WithdrawCircuit`]).
pub struct WithdrawRelation;

impl WithdrawRelation {
    /// Checks the relation on typed values.
    pub fn check(public: &WithdrawPublic, private: &WithdrawPrivate) -> Result<(), WithdrawError> {
        Self::check_raw(&public.to_array(), &private.to_witness())
    }

    /// Checks the relation on raw field values (what the circuit sees).
    pub fn check_raw(
        public: &[Fr; NUM_PUBLIC_INPUTS],
        w: &SpendWitness,
    ) -> Result<(), WithdrawError> {
        spend::check(
            &SpendPublicFr {
                root: public[ROOT],
                nullifier: public[NULLIFIER],
                cm_change: public[CM_CHANGE],
                amount: public[AMOUNT],
            },
            w,
        )
    }
}

/// The withdraw circuit (§4).
#[derive(Clone, Debug)]
pub struct WithdrawCircuit {
    public: [Fr; NUM_PUBLIC_INPUTS],
    witness: SpendWitness,
}

impl WithdrawCircuit {
    /// The circuit for a typed statement and witness.
    pub fn new(public: &WithdrawPublic, private: &WithdrawPrivate) -> Self {
        Self {
            public: public.to_array(),
            witness: private.to_witness(),
        }
    }

    /// The circuit over raw field values (adversarial tests).
    pub fn from_raw(public: [Fr; NUM_PUBLIC_INPUTS], witness: SpendWitness) -> Self {
        Self { public, witness }
    }

    /// A satisfiable instance with the right shape (for setup).
    pub fn dummy() -> Self {
        let witness = spend::dummy_witness();
        let (root, nf, cm_change) = match spend::outputs(&witness, Value::ZERO) {
            Ok(o) => o,
            Err(_) => unreachable!("the dummy witness spends 0 from a 0-value note"),
        };
        Self {
            public: [root, nf, cm_change, Fr::from(0u64), Fr::from(0u64)],
            witness,
        }
    }

    /// The public input vector this circuit is built for.
    pub fn public_inputs(&self) -> &[Fr; NUM_PUBLIC_INPUTS] {
        &self.public
    }
}

impl ConstraintSynthesizer<Fr> for WithdrawCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let inputs = self
            .public
            .iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)))
            .collect::<Result<Vec<_>, _>>()?;
        let w = SpendWitnessVar::new_witness(cs.clone(), &self.witness)?;
        let public = SpendPublicVar {
            root: inputs[ROOT].clone(),
            nullifier: inputs[NULLIFIER].clone(),
            cm_change: inputs[CM_CHANGE].clone(),
            amount: inputs[AMOUNT].clone(),
        };
        spend::enforce_spend(&public, &w)?;
        spend::bind_public_input(&inputs[RECIPIENT])?;
        Ok(())
    }
}
