//! In-circuit Poseidon, the twin of [`veil_primitives::poseidon`].
//!
//! Spec: `docs/protocol.md` §2.2. Same parameters, same round structure; the
//! leading capacity zero and the domain tag are constants, so the first
//! round's S-boxes on them are folded away at no cost. Cost: 3 constraints
//! per S-box (x², x⁴, x⁵); the round constants and the MDS mix are linear.

use ark_r1cs_std::fields::{FieldVar, fp::FpVar};
use ark_relations::gr1cs::SynthesisError;
use veil_primitives::{
    Fr,
    poseidon::{DomainTag, params},
};

/// x^5 with 3 constraints (free on constants).
fn sbox(x: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    let x2 = x.square()?;
    let x4 = x2.square()?;
    Ok(x4 * x)
}

/// The Poseidon permutation over in-circuit state.
pub fn permute(state: &mut [FpVar<Fr>]) -> Result<(), SynthesisError> {
    let t = state.len();
    let p = params(t);
    let half = p.full_rounds / 2;
    let total = p.full_rounds + p.partial_rounds;
    for round in 0..total {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.ark[round * t + i];
        }
        let full = round < half || round >= half + p.partial_rounds;
        if full {
            for s in state.iter_mut() {
                *s = sbox(s)?;
            }
        } else {
            state[0] = sbox(&state[0])?;
        }
        let mixed: Vec<FpVar<Fr>> = (0..t)
            .map(|i| {
                state
                    .iter()
                    .zip(&p.mds[i])
                    .fold(FpVar::zero(), |acc, (a, m)| acc + a * *m)
            })
            .collect();
        state.clone_from_slice(&mixed);
    }
    Ok(())
}

/// circomlib `Poseidon(n)(inputs)` in-circuit.
pub fn hash(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut state = Vec::with_capacity(inputs.len() + 1);
    state.push(FpVar::zero());
    state.extend_from_slice(inputs);
    permute(&mut state)?;
    Ok(state.swap_remove(0))
}

/// `H(tag, x1..xn)` in-circuit (twin of `poseidon::hash_tagged`).
pub fn hash_tagged(tag: DomainTag, inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let mut state = Vec::with_capacity(inputs.len() + 2);
    state.push(FpVar::zero());
    state.push(FpVar::constant(tag.fr()));
    state.extend_from_slice(inputs);
    permute(&mut state)?;
    Ok(state.swap_remove(0))
}

/// The Merkle node hash `Poseidon(left, right)` in-circuit.
pub fn hash_node(left: &FpVar<Fr>, right: &FpVar<Fr>) -> Result<FpVar<Fr>, SynthesisError> {
    hash(&[left.clone(), right.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::{GR1CSVar, alloc::AllocVar};
    use ark_relations::gr1cs::ConstraintSystem;
    use ark_std::UniformRand;
    use rand::SeedableRng;
    use veil_primitives::poseidon as native;

    #[test]
    fn agrees_with_native_in_every_allocation_mode() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        for n in 1..=6 {
            let xs: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            for mode in 0..3 {
                let cs = ConstraintSystem::<Fr>::new_ref();
                let vars: Vec<FpVar<Fr>> = xs
                    .iter()
                    .map(|x| match mode {
                        0 => FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap(),
                        1 => FpVar::new_input(cs.clone(), || Ok(*x)).unwrap(),
                        _ => FpVar::constant(*x),
                    })
                    .collect();
                let h = hash(&vars).unwrap();
                assert_eq!(h.value().unwrap(), native::hash(&xs), "n={n} mode={mode}");
                let ht = hash_tagged(DomainTag::Note, &vars).unwrap();
                assert_eq!(
                    ht.value().unwrap(),
                    native::hash_tagged(DomainTag::Note, &xs)
                );
                assert!(cs.is_satisfied().unwrap());
            }
        }
    }

    #[test]
    fn constraint_cost_is_as_documented() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).unwrap();
        let b = FpVar::new_witness(cs.clone(), || Ok(Fr::from(2u64))).unwrap();
        let _ = hash_node(&a, &b).unwrap();
        // 8 full rounds x 3 S-boxes + 57 partial x 1, 3 constraints each,
        // less the first round's S-box on the constant capacity lane.
        assert_eq!(cs.num_constraints(), (8 * 3 + 57) * 3 - 3);
    }

    #[test]
    fn wrong_witness_is_unsatisfied() {
        use ark_r1cs_std::eq::EqGadget;
        let cs = ConstraintSystem::<Fr>::new_ref();
        let a = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).unwrap();
        let claimed = FpVar::new_input(cs.clone(), || Ok(native::hash(&[Fr::from(2u64)]))).unwrap();
        hash(&[a]).unwrap().enforce_equal(&claimed).unwrap();
        assert!(!cs.is_satisfied().unwrap());
    }
}
