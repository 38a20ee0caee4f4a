//! Circuit `tree_insert_K`: appending `K` leaves to the note tree as one
//! aligned subtree, so that a chain never hashes Poseidon to append a leaf.
//!
//! Spec: `docs/evm.md`, "The ledger on chain", proposal item 1 (a proposal
//! for the next protocol version; no ledger uses it yet). Public inputs, in
//! this order: `old_root, new_root, start, leaf_0 … leaf_{K−1}`. Private:
//! the `32 − log2 K` siblings of the subtree's position.
//!
//! Relations:
//! 1. `start = K · p` with `p` given as `32 − log2 K` boolean witnesses: the
//!    batch is aligned and ends inside the tree (`start + K ≤ 2^32`);
//! 2. `S` = the root of the `K` leaves as a complete subtree (`K − 1`
//!    Merkle node hashes, §2.4);
//! 3. from level `log2 K` up, along the bits of `p` and the siblings, the
//!    empty subtree root `Z_{log2 K}` leads to `old_root` and `S` leads to
//!    `new_root`.
//!
//! Relation 3 proves the subtree was empty in the old tree; that it is the
//! *next* one (`start` = the number of leaves) is the ledger's check, made
//! on the public `start`. Leaves are any field elements: a ledger pads a
//! short batch with `0`, the empty leaf. The native twin is
//! [`TreeInsertRelation::check`].

use ark_r1cs_std::{
    alloc::AllocVar, boolean::Boolean, eq::EqGadget, fields::FieldVar, fields::fp::FpVar,
};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
use veil_primitives::{
    Fr,
    merkle::{CAPACITY, DEPTH, Frontier, MerkleRoot, climb as climb_native, empty_roots},
    poseidon::hash_node,
};

use crate::gadgets::{merkle::climb, poseidon::hash_node as hash_node_var};

/// Offset of `old_root` in the public input vector.
pub const OLD_ROOT: usize = 0;
/// Offset of `new_root`.
pub const NEW_ROOT: usize = 1;
/// Offset of `start`, the index of the first leaf.
pub const START: usize = 2;
/// Offset of `leaf_0`.
pub const LEAVES: usize = 3;

/// Why a batched append does not hold; the first violated relation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeInsertError {
    /// `K` is not a power of two in `1..=2^16`.
    #[error("batch size {0} is not a power of two in 1..=65536")]
    BadBatchSize(usize),
    /// Not exactly `K` leaves.
    #[error("expected {expected} leaves, got {actual}")]
    LeafCount {
        /// `K`.
        expected: usize,
        /// Given.
        actual: usize,
    },
    /// Not `32 − log2 K` siblings.
    #[error("expected {expected} siblings, got {actual}")]
    SiblingCount {
        /// `32 − log2 K`.
        expected: usize,
        /// Given.
        actual: usize,
    },
    /// `start` is not a multiple of `K`, or the batch would not fit.
    #[error("start {0} is not a K-aligned position inside the tree")]
    BadStart(u64),
    /// The empty subtree does not lead to `old_root`.
    #[error("the subtree at start is not empty under old_root")]
    OldRoot,
    /// The filled subtree does not lead to `new_root`.
    #[error("the leaves do not lead to new_root")]
    NewRoot,
}

/// `log2 K`, or the error for a batch size without a circuit.
pub fn log2_batch(k: usize) -> Result<usize, TreeInsertError> {
    if k.is_power_of_two() && k <= 1 << 16 {
        Ok(k.trailing_zeros() as usize)
    } else {
        Err(TreeInsertError::BadBatchSize(k))
    }
}

/// The public statement of a batched append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeInsertPublic {
    /// The tree's root before.
    pub old_root: MerkleRoot,
    /// The tree's root after.
    pub new_root: MerkleRoot,
    /// Index of the first leaf (the tree's size before).
    pub start: u64,
    /// The `K` leaves, in order.
    pub leaves: Vec<Fr>,
}

impl TreeInsertPublic {
    /// The public input vector, in the order of the module docs.
    pub fn to_field_elements(&self) -> Vec<Fr> {
        let mut v = vec![
            self.old_root.inner(),
            self.new_root.inner(),
            Fr::from(self.start),
        ];
        v.extend_from_slice(&self.leaves);
        v
    }
}

/// Statement and witness of appending `leaves` to `frontier`, and the
/// frontier after (the ledger's own append, so the twin is checked against
/// the one tree implementation).
pub fn prepare(
    frontier: &Frontier,
    leaves: &[Fr],
) -> Result<(TreeInsertPublic, Vec<Fr>, Frontier), TreeInsertError> {
    let log_k = log2_batch(leaves.len())?;
    let start = frontier.size();
    let siblings = frontier
        .subtree_siblings(log_k)
        .ok_or(TreeInsertError::BadStart(start))?;
    let mut after = frontier.clone();
    for leaf in leaves {
        after
            .append(veil_primitives::note::NoteCommitment::from_fr(*leaf))
            .map_err(|_| TreeInsertError::BadStart(start))?;
    }
    let public = TreeInsertPublic {
        old_root: frontier.root(),
        new_root: after.root(),
        start,
        leaves: leaves.to_vec(),
    };
    Ok((public, siblings, after))
}

/// The native twin of the circuit.
pub struct TreeInsertRelation;

impl TreeInsertRelation {
    /// Checks every relation of the module docs, in order.
    pub fn check(public: &TreeInsertPublic, siblings: &[Fr]) -> Result<(), TreeInsertError> {
        let log_k = log2_batch(public.leaves.len())?;
        if siblings.len() != DEPTH - log_k {
            return Err(TreeInsertError::SiblingCount {
                expected: DEPTH - log_k,
                actual: siblings.len(),
            });
        }
        let k = public.leaves.len() as u64;
        if public.start % k != 0 || public.start.checked_add(k).is_none_or(|e| e > CAPACITY) {
            return Err(TreeInsertError::BadStart(public.start));
        }
        let up = |node: Fr| climb_native(node, siblings, public.start >> log_k);
        if up(empty_roots()[log_k]) != public.old_root.inner() {
            return Err(TreeInsertError::OldRoot);
        }
        if up(subtree_root(&public.leaves)) != public.new_root.inner() {
            return Err(TreeInsertError::NewRoot);
        }
        Ok(())
    }
}

/// The root of a complete subtree over `leaves` (a power of two of them).
pub fn subtree_root(leaves: &[Fr]) -> Fr {
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| hash_node(&p[0], &p[1])).collect();
    }
    level.first().copied().unwrap_or(Fr::from(0u64))
}

/// The circuit. `K` is the batch size (a power of two).
#[derive(Clone, Debug)]
pub struct TreeInsertCircuit<const K: usize> {
    /// The statement.
    pub public: TreeInsertPublic,
    /// The `32 − log2 K` siblings.
    pub siblings: Vec<Fr>,
}

impl<const K: usize> TreeInsertCircuit<K> {
    /// A circuit over an honest statement, or why it does not hold.
    pub fn new(public: TreeInsertPublic, siblings: Vec<Fr>) -> Result<Self, TreeInsertError> {
        if public.leaves.len() != K {
            return Err(TreeInsertError::LeafCount {
                expected: K,
                actual: public.leaves.len(),
            });
        }
        TreeInsertRelation::check(&public, &siblings)?;
        Ok(Self { public, siblings })
    }

    /// A satisfiable instance for key generation (`K` zero leaves at 0).
    pub fn blank() -> Result<Self, TreeInsertError> {
        let (public, siblings, _) = prepare(&Frontier::new(), &[Fr::from(0u64); K])?;
        Self::new(public, siblings)
    }

    /// Same as [`Self::new`] without the native check: for tests that must
    /// show the circuit itself refuses a false statement.
    pub fn unchecked(public: TreeInsertPublic, siblings: Vec<Fr>) -> Self {
        Self { public, siblings }
    }
}

impl<const K: usize> ConstraintSynthesizer<Fr> for TreeInsertCircuit<K> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let log_k = log2_batch(K).map_err(|_| SynthesisError::Unsatisfiable)?;
        if self.public.leaves.len() != K || self.siblings.len() != DEPTH - log_k {
            return Err(SynthesisError::Unsatisfiable);
        }
        let input = |x: Fr| FpVar::new_input(cs.clone(), || Ok(x));
        let old_root = input(self.public.old_root.inner())?;
        let new_root = input(self.public.new_root.inner())?;
        let start = input(Fr::from(self.public.start))?;
        let leaves = self
            .public
            .leaves
            .iter()
            .map(|l| input(*l))
            .collect::<Result<Vec<_>, _>>()?;
        let siblings = self
            .siblings
            .iter()
            .map(|s| FpVar::new_witness(cs.clone(), || Ok(*s)))
            .collect::<Result<Vec<_>, _>>()?;
        let bits = position_bits(&cs, &start, self.public.start, log_k)?;

        let z = FpVar::constant(empty_roots()[log_k]);
        climb(z, &siblings, &bits)?.enforce_equal(&old_root)?;
        climb(subtree_root_var(leaves)?, &siblings, &bits)?.enforce_equal(&new_root)
    }
}

/// The bits of `p = start / K` as `32 − log2 K` booleans with
/// `start = K · Σ 2^i b_i` (relation 1; one linear constraint).
fn position_bits(
    cs: &ConstraintSystemRef<Fr>,
    start: &FpVar<Fr>,
    start_value: u64,
    log_k: usize,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let p = start_value >> log_k;
    let bits = (0..DEPTH - log_k)
        .map(|i| Boolean::new_witness(cs.clone(), || Ok((p >> i) & 1 == 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sum = FpVar::zero();
    for (i, b) in bits.iter().enumerate() {
        sum += FpVar::from(b.clone()) * Fr::from(1u64 << (log_k + i));
    }
    sum.enforce_equal(start)?;
    Ok(bits)
}

fn subtree_root_var(mut level: Vec<FpVar<Fr>>) -> Result<FpVar<Fr>, SynthesisError> {
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| hash_node_var(&p[0], &p[1]))
            .collect::<Result<Vec<_>, _>>()?;
    }
    level.pop().ok_or(SynthesisError::Unsatisfiable)
}
