//! In-circuit Merkle path verification, the twin of
//! [`veil_primitives::merkle::AuthPath::root_for`].
//!
//! Spec: `docs/protocol.md` §2.4. Depth is fixed at 32. Each path bit is a
//! [`Boolean`] witness (booleanity constraint `b·(1 − b) = 0`, adversarial
//! A7); each level costs one conditional select (1 constraint), one linear
//! swap and one `Poseidon_2` (240 constraints): 242 per level, 7,744 in all.

use core::borrow::Borrow;

use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::fp::FpVar,
    select::CondSelectGadget,
};
use ark_relations::gr1cs::{Namespace, SynthesisError};
use veil_primitives::{
    Fr,
    merkle::{AuthPath, DEPTH},
};

use super::poseidon::hash_node;

/// An allocated authentication path: 32 siblings and 32 direction bits.
#[derive(Clone, Debug)]
pub struct AuthPathVar {
    /// `siblings[k]`: the sibling at level `k`.
    pub siblings: Vec<FpVar<Fr>>,
    /// `bits[k] = 1` iff the node on the path is the right child at level `k`.
    pub bits: Vec<Boolean<Fr>>,
}

impl AllocVar<AuthPath, Fr> for AuthPathVar {
    fn new_variable<T: Borrow<AuthPath>>(
        cs: impl Into<Namespace<Fr>>,
        f: impl FnOnce() -> Result<T, SynthesisError>,
        mode: AllocationMode,
    ) -> Result<Self, SynthesisError> {
        let ns = cs.into();
        let cs = ns.cs();
        let path = f().map(|p| p.borrow().clone());
        let mut siblings = Vec::with_capacity(DEPTH);
        let mut bits = Vec::with_capacity(DEPTH);
        for k in 0..DEPTH {
            let sib = path.as_ref().map(|p| p.siblings[k]).map_err(|e| *e);
            siblings.push(FpVar::new_variable(cs.clone(), || sib, mode)?);
        }
        for k in 0..DEPTH {
            let bit = path.as_ref().map(|p| p.index.bit(k)).map_err(|e| *e);
            bits.push(Boolean::new_variable(cs.clone(), || bit, mode)?);
        }
        Ok(Self { siblings, bits })
    }
}

impl AuthPathVar {
    /// The root reached from `leaf` along this path (§2.4): at level `k`,
    /// `(left, right) = b_k ? (sibling, cur) : (cur, sibling)`.
    pub fn root_for(&self, leaf: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
        climb(leaf.clone(), &self.siblings, &self.bits)
    }
}

/// Hashes `node` up along `siblings` and direction `bits` (twin of
/// [`veil_primitives::merkle::climb`]): at each level one select, the other
/// side linear (`left + right = cur + sib`), one `Poseidon_2`.
pub fn climb(
    mut node: FpVar<Fr>,
    siblings: &[FpVar<Fr>],
    bits: &[Boolean<Fr>],
) -> Result<FpVar<Fr>, SynthesisError> {
    for (sib, bit) in siblings.iter().zip(bits) {
        let left = FpVar::conditionally_select(bit, sib, &node)?;
        let right = &node + sib - &left;
        node = hash_node(&left, &right)?;
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{GR1CSVar, eq::EqGadget};
    use ark_relations::gr1cs::ConstraintSystem;
    use veil_primitives::{merkle::Tree, note::NoteCommitment};

    fn tree() -> Tree {
        let mut t = Tree::new();
        t.append_many((1..=11u64).map(|i| NoteCommitment::from_fr(Fr::from(i * 1000 + 7))))
            .expect("fits");
        t
    }

    #[test]
    fn agrees_with_native_in_every_allocation_mode() {
        let t = tree();
        for i in [0u64, 5, 10] {
            let path = t.path(i).expect("leaf");
            let leaf = t.leaf(i).expect("leaf");
            for mode in [
                AllocationMode::Witness,
                AllocationMode::Input,
                AllocationMode::Constant,
            ] {
                let cs = ConstraintSystem::<Fr>::new_ref();
                let p = AuthPathVar::new_variable(cs.clone(), || Ok(&path), mode).expect("alloc");
                let l = FpVar::new_variable(cs.clone(), || Ok(leaf.inner()), mode).expect("alloc");
                let root = p.root_for(&l).expect("synthesis");
                assert_eq!(root.value().expect("assigned"), t.root().inner());
                assert_eq!(
                    root.value().expect("assigned"),
                    path.root_for(&leaf).inner()
                );
                assert!(cs.is_satisfied().expect("prove mode"));
            }
        }
    }

    #[test]
    fn cost_is_242_per_level() {
        let t = tree();
        let path = t.path(3).expect("leaf");
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = AuthPathVar::new_witness(cs.clone(), || Ok(&path)).expect("alloc");
        let l =
            FpVar::new_witness(cs.clone(), || Ok(t.leaf(3).expect("leaf").inner())).expect("alloc");
        let _ = p.root_for(&l).expect("synthesis");
        assert_eq!(cs.num_constraints(), 242 * DEPTH);
    }

    #[test]
    fn wrong_leaf_or_index_is_unsatisfied() {
        let t = tree();
        let mut path = t.path(4).expect("leaf");
        path.index = veil_primitives::merkle::LeafIndex::new(5).expect("small");
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = AuthPathVar::new_witness(cs.clone(), || Ok(&path)).expect("alloc");
        let l =
            FpVar::new_witness(cs.clone(), || Ok(t.leaf(4).expect("leaf").inner())).expect("alloc");
        let root = FpVar::new_input(cs.clone(), || Ok(t.root().inner())).expect("alloc");
        p.root_for(&l)
            .expect("synthesis")
            .enforce_equal(&root)
            .expect("synthesis");
        assert!(!cs.is_satisfied().expect("prove mode"));
    }
}
