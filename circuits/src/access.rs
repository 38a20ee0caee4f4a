//! Circuit `access`: open an escrow of `E` to a node with a note of the pool.
//!
//! Spec: `docs/protocol.md` §3. Public inputs, in this order
//! (offsets [`ROOT`] … [`ESCROW_COMMITMENT`]):
//! `root, nf, cm_change, E, node_id, h_S, rk, expiry, esc`.
//! Private: `sk, v, ρ, path, ρ_c` ([`AccessPrivate`]).
//!
//! Relations: the spend core (§3.2, [`crate::spend`]) with amount `E`;
//! `expiry < 2^64`; `esc = H(ESCROW, nf, node_id, E, h_S, rk, expiry)`
//! ([`EscrowTerms::commitment`]), which binds every term (§3.3). About
//! 9,900 constraints (pinned in [`crate::shape`]).

use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use thiserror::Error;
use veil_primitives::{
    Fr,
    escrow::{EscrowCommitment, EscrowTerms},
    field::fr_to_u64,
    ids::{BlockHeight, NodeId, SessionKeyHash},
    keys::OwnerKey,
    merkle::MerkleRoot,
    note::{NoteCommitment, Nullifier},
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

use crate::{
    gadgets::{poseidon::hash_tagged as hash_tagged_var, range::enforce_u64},
    spend::{
        self, SpendError, SpendPrivate, SpendPublicFr, SpendPublicVar, SpendWitness,
        SpendWitnessVar,
    },
};

/// Offset of `root` in the public input vector.
pub const ROOT: usize = 0;
/// Offset of `nf` (the session id).
pub const NULLIFIER: usize = 1;
/// Offset of `cm_change`.
pub const CM_CHANGE: usize = 2;
/// Offset of the escrow `E`.
pub const ESCROW: usize = 3;
/// Offset of `node_id`.
pub const NODE_ID: usize = 4;
/// Offset of `h_S`.
pub const SESSION_KEY_HASH: usize = 5;
/// Offset of `rk`, the session's refund owner key (§3.1 input #6).
pub const REFUND_OWNER: usize = 6;
/// Offset of `expiry`.
pub const EXPIRY: usize = 7;
/// Offset of `esc`, the escrow commitment of inputs #1 and #3–#7 (§3.3).
pub const ESCROW_COMMITMENT: usize = 8;
/// Number of public inputs.
pub const NUM_PUBLIC_INPUTS: usize = 9;
/// The inputs `esc` hashes, in its order (§3.3): `nf, node_id, E, h_S, rk, expiry`.
pub const ESCROW_TERMS: [usize; 6] = [
    NULLIFIER,
    NODE_ID,
    ESCROW,
    SESSION_KEY_HASH,
    REFUND_OWNER,
    EXPIRY,
];

/// The public statement of an access proof (§3.1). Input #8, `esc`, is a
/// function of the others ([`Self::escrow_commitment`]), so it is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AccessPublic {
    /// A recent root of the note commitment tree.
    pub root: MerkleRoot,
    /// The spent note's nullifier; it names the session.
    pub nullifier: Nullifier,
    /// The change note `v − E` to the same owner.
    pub cm_change: NoteCommitment,
    /// The escrow locked for the node.
    pub escrow: Value,
    /// The node the escrow pays.
    pub node_id: NodeId,
    /// Commitment to the session key that signs receipts.
    pub session_key_hash: SessionKeyHash,
    /// The client's hidden refund address.
    pub refund_owner: OwnerKey,
    /// Last height at which the session may be settled.
    pub expiry: BlockHeight,
}

impl AccessPublic {
    /// The public input vector Groth16 verification needs, in the order of §3.1.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        self.to_array().to_vec()
    }

    /// The public inputs as a fixed-size array.
    pub fn to_array(&self) -> [Fr; NUM_PUBLIC_INPUTS] {
        [
            self.root.inner(),
            self.nullifier.inner(),
            self.cm_change.inner(),
            self.escrow.to_fr(),
            self.node_id.inner(),
            self.session_key_hash.inner(),
            self.refund_owner.inner(),
            self.expiry.to_fr(),
            self.escrow_commitment().inner(),
        ]
    }

    /// The escrow's terms (§3.3).
    pub fn escrow_terms(&self) -> EscrowTerms {
        EscrowTerms {
            session_id: self.nullifier.into(),
            node_id: self.node_id,
            escrow: self.escrow,
            session_key_hash: self.session_key_hash,
            refund_owner: self.refund_owner,
            expiry: self.expiry,
        }
    }

    /// Input #8: `esc = H(ESCROW, nf, node_id, E, h_S, rk, expiry)`.
    pub fn escrow_commitment(&self) -> EscrowCommitment {
        self.escrow_terms().commitment()
    }

    /// Computes the honest statement for spending `private` into an escrow
    /// with these terms, or the violated relation (e.g. `E > v`).
    pub fn derive(
        private: &AccessPrivate,
        escrow: Value,
        node_id: NodeId,
        session_key_hash: SessionKeyHash,
        refund_owner: OwnerKey,
        expiry: BlockHeight,
    ) -> Result<Self, AccessError> {
        let (root, nf, cm_change) = spend::outputs(&private.to_witness(), escrow)?;
        Ok(Self {
            root: MerkleRoot::from_fr(root),
            nullifier: Nullifier::from_fr(nf),
            cm_change: NoteCommitment::from_fr(cm_change),
            escrow,
            node_id,
            session_key_hash,
            refund_owner,
            expiry,
        })
    }
}

/// The private witness of an access proof (§3.1).
pub type AccessPrivate = SpendPrivate;

/// A violated access relation (native twin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum AccessError {
    /// A spend-core relation (§3.2).
    #[error(transparent)]
    Spend(#[from] SpendError),
    /// `expiry` is not `< 2^64`.
    #[error("expiry is not a 64-bit height")]
    ExpiryOutOfRange,
    /// `esc` is not the escrow commitment of the other inputs (§3.3).
    #[error("escrow commitment does not match the escrow terms")]
    EscrowCommitmentMismatch,
}

/// The native access relation (twin of [`AccessCircuit`]).
pub struct AccessRelation;

impl AccessRelation {
    /// Checks the relation on typed values.
    pub fn check(public: &AccessPublic, private: &AccessPrivate) -> Result<(), AccessError> {
        Self::check_raw(&public.to_array(), &private.to_witness())
    }

    /// Checks the relation on raw field values (what the circuit sees).
    pub fn check_raw(
        public: &[Fr; NUM_PUBLIC_INPUTS],
        w: &SpendWitness,
    ) -> Result<(), AccessError> {
        spend::check(&spend_public(public), w)?;
        fr_to_u64(&public[EXPIRY]).ok_or(AccessError::ExpiryOutOfRange)?;
        let terms = ESCROW_TERMS.map(|i| public[i]);
        if hash_tagged(DomainTag::Escrow, &terms) != public[ESCROW_COMMITMENT] {
            return Err(AccessError::EscrowCommitmentMismatch);
        }
        Ok(())
    }
}

fn spend_public(p: &[Fr; NUM_PUBLIC_INPUTS]) -> SpendPublicFr {
    SpendPublicFr {
        root: p[ROOT],
        nullifier: p[NULLIFIER],
        cm_change: p[CM_CHANGE],
        amount: p[ESCROW],
    }
}

/// The access circuit (§3).
#[derive(Clone, Debug)]
pub struct AccessCircuit {
    public: [Fr; NUM_PUBLIC_INPUTS],
    witness: SpendWitness,
}

impl AccessCircuit {
    /// The circuit for a typed statement and witness.
    pub fn new(public: &AccessPublic, private: &AccessPrivate) -> Self {
        Self {
            public: public.to_array(),
            witness: private.to_witness(),
        }
    }

    /// The circuit over raw field values, for adversarial tests that feed
    /// values a typed statement cannot hold (`E = r − 1`, `v = 2^64`).
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
        let mut public = [Fr::from(0u64); NUM_PUBLIC_INPUTS];
        public[ROOT] = root;
        public[NULLIFIER] = nf;
        public[CM_CHANGE] = cm_change;
        public[ESCROW_COMMITMENT] =
            hash_tagged(DomainTag::Escrow, &ESCROW_TERMS.map(|i| public[i]));
        Self { public, witness }
    }

    /// The public input vector this circuit is built for.
    pub fn public_inputs(&self) -> &[Fr; NUM_PUBLIC_INPUTS] {
        &self.public
    }
}

impl ConstraintSynthesizer<Fr> for AccessCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        // Public inputs first, in the order of §3.1.
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
            amount: inputs[ESCROW].clone(),
        };
        // §3.2: the spend core with amount E.
        spend::enforce_spend(&public, &w)?;
        // §3.3: expiry is a 64-bit height; esc commits to every term, which
        // also binds node_id, h_S and rk (each enters this hash).
        enforce_u64(&inputs[EXPIRY])?;
        let terms = ESCROW_TERMS.map(|i| inputs[i].clone());
        hash_tagged_var(DomainTag::Escrow, &terms)?.enforce_equal(&inputs[ESCROW_COMMITMENT])
    }
}
