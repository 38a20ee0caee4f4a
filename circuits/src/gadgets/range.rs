//! 64-bit range checks and comparisons on range-checked values.
//!
//! Spec: `docs/protocol.md` §2.5. A value is range checked by an explicit
//! little-endian decomposition into `n` booleans (one booleanity constraint
//! each) and one linear equality `x = Σ 2^i b_i`. With `n < 254` the sum
//! cannot wrap, so the decomposition is unique (no aliasing, adversarial A5).
//! Comparisons are only ever made on operands that were range checked first
//! (A3): `a <= b` for `a, b < 2^n` is decided by range checking
//! `b - a + 2^n` to `n + 1` bits and reading the top bit.

use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField};
use ark_r1cs_std::{
    GR1CSVar,
    alloc::AllocVar,
    boolean::Boolean,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
};
use ark_relations::gr1cs::SynthesisError;
use veil_primitives::Fr;

/// Bits of a veil value (`u64`).
pub const VALUE_BITS: usize = 64;

/// Enforces `0 <= x < 2^n` and returns the little-endian bits (`n <= 252`).
pub fn enforce_bits(x: &FpVar<Fr>, n: usize) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    assert!(n <= 252, "range checks above 252 bits could wrap");
    let cs = x.cs();
    let value = x.value().ok();
    let bigint = value.map(|v| v.into_bigint());
    if cs.is_none() {
        // A constant: check it natively; an out-of-range constant is a synthesis error.
        let b = bigint.ok_or(SynthesisError::AssignmentMissing)?;
        if b.num_bits() as usize > n {
            return Err(SynthesisError::Unsatisfiable);
        }
    }
    let mut bits = Vec::with_capacity(n);
    for i in 0..n {
        let bit_value = bigint.map(|b| b.get_bit(i));
        let bit = if cs.is_none() {
            // `x` is a constant: decompose as constants (and fail if out of range).
            Boolean::constant(bit_value.ok_or(SynthesisError::AssignmentMissing)?)
        } else {
            Boolean::new_witness(cs.clone(), || {
                bit_value.ok_or(SynthesisError::AssignmentMissing)
            })?
        };
        bits.push(bit);
    }
    let mut sum = FpVar::<Fr>::zero();
    let mut coeff = Fr::ONE;
    for b in &bits {
        sum += FpVar::from(b.clone()) * coeff;
        coeff.double_in_place();
    }
    sum.enforce_equal(x)?;
    Ok(bits)
}

/// Enforces `0 <= x < 2^64`.
pub fn enforce_u64(x: &FpVar<Fr>) -> Result<(), SynthesisError> {
    enforce_bits(x, VALUE_BITS).map(|_| ())
}

/// Returns `a <= b` for operands already known to be `< 2^n` (`n <= 251`).
///
/// Range checks `b - a + 2^n` to `n + 1` bits; its top bit is `a <= b`.
pub fn is_le(a: &FpVar<Fr>, b: &FpVar<Fr>, n: usize) -> Result<Boolean<Fr>, SynthesisError> {
    assert!(n <= 251);
    let shift = Fr::from(2u64).pow([n as u64]);
    let d = b - a + FpVar::constant(shift);
    let bits = enforce_bits(&d, n + 1)?;
    Ok(bits[n].clone())
}

/// Returns `min(a, b)` for operands already known to be `< 2^n`.
pub fn min(a: &FpVar<Fr>, b: &FpVar<Fr>, n: usize) -> Result<FpVar<Fr>, SynthesisError> {
    let a_le_b = is_le(a, b, n)?;
    a_le_b.select(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;
    use proptest::prelude::*;

    fn check_u64(x: Fr) -> bool {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let v = FpVar::new_witness(cs.clone(), || Ok(x)).unwrap();
        enforce_u64(&v).unwrap();
        cs.is_satisfied().unwrap()
    }

    #[test]
    fn u64_boundaries() {
        assert!(check_u64(Fr::from(0u64)));
        assert!(check_u64(Fr::from(u64::MAX)));
        // A2: 2^64 and -1 (= r - 1) fail.
        assert!(!check_u64(Fr::from(u64::MAX) + Fr::ONE));
        assert!(!check_u64(-Fr::ONE));
        // A3: 2^64 + 5.
        assert!(!check_u64(Fr::from(u64::MAX) + Fr::from(6u64)));
    }

    #[test]
    fn decomposition_cost() {
        // n booleanity constraints and one packing equality.
        let cs = ConstraintSystem::<Fr>::new_ref();
        let v = FpVar::new_witness(cs.clone(), || Ok(Fr::from(5u64))).unwrap();
        let bits = enforce_bits(&v, 8).unwrap();
        assert!(cs.is_satisfied().unwrap());
        assert_eq!(bits.len(), 8);
        assert_eq!(cs.num_constraints(), 8 + 1);
    }

    #[test]
    fn constants_are_checked_too() {
        assert!(enforce_u64(&FpVar::constant(Fr::from(3u64))).is_ok());
        assert!(enforce_u64(&FpVar::constant(-Fr::ONE)).is_err());
    }

    proptest! {
        #[test]
        fn comparison_agrees_with_native(a in any::<u64>(), b in any::<u64>()) {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let av = FpVar::new_witness(cs.clone(), || Ok(Fr::from(a))).unwrap();
            let bv = FpVar::new_witness(cs.clone(), || Ok(Fr::from(b))).unwrap();
            enforce_u64(&av).unwrap();
            enforce_u64(&bv).unwrap();
            let le = is_le(&av, &bv, 64).unwrap();
            let m = min(&av, &bv, 64).unwrap();
            prop_assert_eq!(le.value().unwrap(), a <= b);
            prop_assert_eq!(m.value().unwrap(), Fr::from(a.min(b)));
            prop_assert!(cs.is_satisfied().unwrap());
        }

        #[test]
        fn comparison_rejects_unranged_operand(a in any::<u64>()) {
            // A3: with an operand >= 2^64 the range checks make the system unsatisfied.
            let cs = ConstraintSystem::<Fr>::new_ref();
            let big = Fr::from(u64::MAX) + Fr::from(a) + Fr::ONE;
            let av = FpVar::new_witness(cs.clone(), || Ok(big)).unwrap();
            let bv = FpVar::new_witness(cs.clone(), || Ok(Fr::from(10u64))).unwrap();
            enforce_u64(&av).unwrap();
            enforce_u64(&bv).unwrap();
            let _ = is_le(&av, &bv, 64).unwrap();
            prop_assert!(!cs.is_satisfied().unwrap());
        }
    }
}
