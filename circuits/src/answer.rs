//! Circuit `answer`: a node key's answer to a ledger challenge, as a proof
//! a contract verifies (docs/protocol.md §8.3.14, docs/evm.md §8.6).
//!
//! Public inputs, in this order: `node_id, monitor, epoch, root`.
//! Private: the node key `A` and its signature `(R, S)`.
//! Relations:
//!
//! 1. `node_id = H(NODE_ID, A.x, A.y)` (the key is the node's);
//! 2. `(R, S)` is a valid EdDSA signature by `A` (§2.6, the settle
//!    circuit's gadget) over
//!    `m = H(71, node_id, monitor, epoch, root)`
//!    ([`veil_primitives::challenge::challenge_value`]).
//!
//! The witness is public knowledge once the node signed: anyone holding
//! the signature may make the proof. What it authorises is the node key's
//! signature, as on the embedded ledger; the proof only carries it to a
//! chain that verifies Groth16 for ~10× less gas than BabyJubJub.

use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use thiserror::Error;
use veil_primitives::{
    Fr,
    babyjubjub::EdwardsAffine,
    challenge::{ANSWER_TAG, challenge_value},
    eddsa::{RawSignature, Signature, SignatureError, VerifyingKey, verify_raw},
    ids::{AccountId, NodeId},
    merkle::MerkleRoot,
    poseidon::{DomainTag, hash, hash_tagged},
};

use crate::gadgets::eddsa as eddsa_gadget;
use crate::gadgets::poseidon::{hash as hash_var, hash_tagged as hash_tagged_var};

/// Offset of `node_id` in the public input vector.
pub const NODE_ID: usize = 0;
/// Offset of the challenging monitor's account.
pub const MONITOR: usize = 1;
/// Offset of the challenge's epoch.
pub const EPOCH: usize = 2;
/// Offset of the tree root the challenge recorded.
pub const ROOT: usize = 3;
/// Number of public inputs.
pub const NUM_PUBLIC_INPUTS: usize = 4;

/// The public statement: which challenge is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerPublic {
    /// The challenged node.
    pub node_id: NodeId,
    /// The challenging monitor (on a chain, its address as an account).
    pub monitor: AccountId,
    /// The epoch of the challenge.
    pub epoch: u64,
    /// The note tree's latest root when the challenge was recorded.
    pub root: MerkleRoot,
}

impl AnswerPublic {
    /// The public input vector, in the order above.
    pub fn to_array(&self) -> [Fr; NUM_PUBLIC_INPUTS] {
        [
            self.node_id.inner(),
            self.monitor.inner(),
            Fr::from(self.epoch),
            self.root.inner(),
        ]
    }

    /// The public inputs as a vector.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        self.to_array().to_vec()
    }

    /// What the node key signs: [`challenge_value`].
    pub fn value(&self) -> Fr {
        challenge_value(&self.node_id, &self.monitor, self.epoch, &self.root)
    }
}

/// The private witness: the node key and its signature, unchecked (the
/// relation checks them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerPrivate {
    /// The node key `A`.
    pub node_key: EdwardsAffine,
    /// The signature over [`AnswerPublic::value`].
    pub signature: RawSignature,
}

impl AnswerPrivate {
    /// A validated key's signature.
    pub fn new(node_key: &VerifyingKey, signature: Signature) -> Self {
        Self {
            node_key: node_key.point().to_affine(),
            signature: signature.into(),
        }
    }
}

/// A violated answer relation.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AnswerError {
    /// `node_id ≠ H(NODE_ID, A)`.
    #[error("the key is not the node's")]
    NotTheNodeKey,
    /// The signature does not verify over the challenge's value.
    #[error("the signature does not answer the challenge: {0}")]
    Signature(#[from] SignatureError),
}

/// The native answer relation (twin of [`AnswerCircuit`]).
pub struct AnswerRelation;

impl AnswerRelation {
    /// Checks the relation on typed values.
    pub fn check(public: &AnswerPublic, private: &AnswerPrivate) -> Result<(), AnswerError> {
        Self::check_raw(&public.to_array(), private)
    }

    /// Checks the relation on raw field values (what the circuit sees).
    pub fn check_raw(
        public: &[Fr; NUM_PUBLIC_INPUTS],
        w: &AnswerPrivate,
    ) -> Result<(), AnswerError> {
        let a = &w.node_key;
        if hash_tagged(DomainTag::NodeId, &[a.x, a.y]) != public[NODE_ID] {
            return Err(AnswerError::NotTheNodeKey);
        }
        verify_raw(a, &raw_value(public), &w.signature)?;
        Ok(())
    }
}

/// `H(71, node_id, monitor, epoch, root)` over raw inputs (the epoch as the
/// field element the verifier gives; [`challenge_value`] for typed ones).
fn raw_value(public: &[Fr; NUM_PUBLIC_INPUTS]) -> Fr {
    hash(&[
        Fr::from(ANSWER_TAG),
        public[NODE_ID],
        public[MONITOR],
        public[EPOCH],
        public[ROOT],
    ])
}

/// The answer circuit.
#[derive(Clone, Debug)]
pub struct AnswerCircuit {
    public: [Fr; NUM_PUBLIC_INPUTS],
    witness: AnswerPrivate,
}

impl AnswerCircuit {
    /// The circuit for a typed statement and witness.
    pub fn new(public: &AnswerPublic, private: &AnswerPrivate) -> Self {
        Self::from_raw(public.to_array(), *private)
    }

    /// The circuit over raw field values (adversarial tests).
    pub fn from_raw(public: [Fr; NUM_PUBLIC_INPUTS], witness: AnswerPrivate) -> Self {
        Self { public, witness }
    }

    /// A satisfiable instance with the right shape (for setup): a fixed
    /// key's answer to the challenge of epoch 0 by account 0 on root 0.
    pub fn dummy() -> Self {
        let key = match veil_primitives::eddsa::SigningKey::from_seed([7; 32]) {
            Some(k) => k,
            None => unreachable!("a fixed seed in range"),
        };
        let vk = key.verifying_key();
        let public = AnswerPublic {
            node_id: vk.node_id(),
            monitor: AccountId::from_fr(Fr::from(0u64)),
            epoch: 0,
            root: MerkleRoot::from_fr(Fr::from(0u64)),
        };
        Self::new(&public, &AnswerPrivate::new(&vk, key.sign(&public.value())))
    }

    /// The public input vector this circuit is built for.
    pub fn public_inputs(&self) -> &[Fr; NUM_PUBLIC_INPUTS] {
        &self.public
    }
}

impl ConstraintSynthesizer<Fr> for AnswerCircuit {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let inputs = self
            .public
            .iter()
            .map(|x| FpVar::new_input(cs.clone(), || Ok(*x)))
            .collect::<Result<Vec<_>, _>>()?;
        let w = &self.witness;
        let a = eddsa_gadget::alloc_point(cs.clone(), Some(w.node_key), AllocationMode::Witness)?;
        let r =
            eddsa_gadget::alloc_point(cs.clone(), Some(w.signature.r), AllocationMode::Witness)?;
        let s_bits = eddsa_gadget::alloc_scalar_bits(cs.clone(), Some(w.signature.s))?;

        hash_tagged_var(DomainTag::NodeId, &[a.x.clone(), a.y.clone()])?
            .enforce_equal(&inputs[NODE_ID])?;
        let m = hash_var(&[
            FpVar::constant(Fr::from(ANSWER_TAG)),
            inputs[NODE_ID].clone(),
            inputs[MONITOR].clone(),
            inputs[EPOCH].clone(),
            inputs[ROOT].clone(),
        ])?;
        eddsa_gadget::verify(&a, &m, &r, &s_bits, &Boolean::TRUE)
    }
}
