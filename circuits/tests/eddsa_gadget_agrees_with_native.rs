//! The in-circuit EdDSA verifier accepts exactly what the native raw
//! verifier accepts (`docs/protocol.md` §2.6), on honest signatures and on
//! the adversarial inputs A12–A14.

use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, PrimeField};
use ark_r1cs_std::{
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    fields::fp::FpVar,
};
use ark_relations::gr1cs::{ConstraintSystem, SynthesisError};
use proptest::prelude::*;
use veil_circuits::gadgets::eddsa::{
    alloc_point, alloc_scalar_bits, fixed_base_mul_le, var_base_mul_le, verify,
};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsAffine, EdwardsProjective, ScalarField},
    eddsa::{RawSignature, SigningKey, testing, verify_raw},
};

/// Runs the gadget on `(A, m, R, S)` and returns whether the system is satisfied
/// (and the constraint count).
fn gadget_accepts(
    a: EdwardsAffine,
    m: Fr,
    sig: &RawSignature,
    enabled: bool,
) -> Result<(bool, usize), SynthesisError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let a_var = alloc_point(cs.clone(), Some(a), AllocationMode::Witness)?;
    let r_var = alloc_point(cs.clone(), Some(sig.r), AllocationMode::Witness)?;
    let s_bits = alloc_scalar_bits(cs.clone(), Some(sig.s))?;
    let m_var = FpVar::new_witness(cs.clone(), || Ok(m))?;
    let en = Boolean::new_witness(cs.clone(), || Ok(enabled))?;
    verify(&a_var, &m_var, &r_var, &s_bits, &en)?;
    Ok((cs.is_satisfied()?, cs.num_constraints()))
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("non-degenerate test key")
}

fn agree(a: EdwardsAffine, m: Fr, sig: &RawSignature) -> bool {
    let native = verify_raw(&a, &m, sig).is_ok();
    let circuit = gadget_accepts(a, m, sig, true).expect("synthesis").0;
    assert_eq!(native, circuit, "native {native} vs circuit {circuit}");
    native
}

#[test]
fn honest_signature_is_accepted_and_cost_is_reported() {
    let k = key(1);
    let m = Fr::from(77u64);
    let sig: RawSignature = k.sign(&m).into();
    let a = k.verifying_key().point().to_affine();
    assert!(agree(a, m, &sig));
    let (_, n) = gadget_accepts(a, m, &sig, true).expect("synthesis");
    println!("eddsa gadget constraints (incl. allocation): {n}");
    assert!(n < 6_000, "EdDSA gadget grew to {n} constraints");
}

#[test]
fn wrong_message_and_swapped_key_fail() {
    let k = key(2);
    let m = Fr::from(5u64);
    let sig: RawSignature = k.sign(&m).into();
    let a = k.verifying_key().point().to_affine();
    assert!(!agree(a, Fr::from(6u64), &sig));
    // A14: a valid signature under another key.
    let other = key(3).verifying_key().point().to_affine();
    assert!(!agree(other, m, &sig));
    // The gate: a disabled slot does not enforce the equation.
    assert!(gadget_accepts(other, m, &sig, false).expect("synthesis").0);
}

#[test]
fn s_plus_l_fails() {
    // A12: find a signature whose S + l still fits in 251 bits, so that the
    // only thing rejecting it is the S < l comparison.
    for seed in 0u8..64 {
        let k = key(seed.wrapping_add(10));
        let m = Fr::from(u64::from(seed));
        let sig: RawSignature = k.sign(&m).into();
        let bumped = RawSignature {
            r: sig.r,
            s: testing::add_l(&sig.s),
        };
        if bumped.s.num_bits() as usize > veil_circuits::gadgets::eddsa::SCALAR_BITS {
            continue;
        }
        let a = k.verifying_key().point().to_affine();
        assert!(agree(a, m, &sig));
        assert!(!agree(a, m, &bumped));
        return;
    }
    panic!("no seed gave S + l < 2^251");
}

#[test]
fn small_order_and_off_curve_keys_fail() {
    // A13: with A of small order, R = S·G satisfies the cofactored equation for
    // every message; only 8·A ≠ O stops it. Checked with the gate on and off.
    let s = ScalarField::from(1234u64);
    let r = EdwardsProjective::generator()
        .mul_bigint(s.into_bigint())
        .into_affine();
    let sig = RawSignature {
        r,
        s: s.into_bigint(),
    };
    let m = Fr::from(1u64);
    for a in [
        testing::identity(),
        testing::order_two(),
        testing::order_eight(),
    ] {
        assert!(!agree(a, m, &sig));
        assert!(gadget_accepts(a, m, &sig, false).expect("synthesis").0);
    }
    // Off-curve A and R: unsatisfied whatever the gate.
    assert!(!agree(testing::off_curve(), m, &sig));
    assert!(
        !gadget_accepts(testing::off_curve(), m, &sig, false)
            .expect("synthesis")
            .0
    );
    let k = key(4);
    let off_r = RawSignature {
        r: testing::off_curve(),
        s: sig.s,
    };
    assert!(!agree(k.verifying_key().point().to_affine(), m, &off_r));
}

#[test]
fn torsion_component_in_r_is_accepted_by_both() {
    // The cofactored equation tolerates a small-order part in R; native raw
    // path and circuit must agree on that too.
    let a_secret = ScalarField::from(99u64);
    let nonce = ScalarField::from(3u64);
    let g = EdwardsProjective::generator();
    let a = g.mul_bigint(a_secret.into_bigint()).into_affine();
    let r_t = (g.mul_bigint(nonce.into_bigint()) + testing::order_eight()).into_affine();
    let m = Fr::from(8u64);
    let c = veil_primitives::eddsa::challenge(&r_t, &a, &m);
    let c_l = ScalarField::from_le_bytes_mod_order(&c.into_bigint().to_bytes_le());
    let sig = RawSignature {
        r: r_t,
        s: (nonce + c_l * a_secret).into_bigint(),
    };
    assert!(agree(a, m, &sig));
    assert!(!EdwardsAffine::is_zero(&r_t));
}

/// In-circuit `k·P` (variable base) and `k·G` (fixed base) against native
/// scalar multiplication, for a little-endian bit string `k`.
fn mul_agrees(k_bits: &[bool], p: EdwardsAffine) {
    use ark_r1cs_std::GR1CSVar;
    let cs = ConstraintSystem::<Fr>::new_ref();
    let bits: Vec<Boolean<Fr>> = k_bits
        .iter()
        .map(|b| Boolean::new_witness(cs.clone(), || Ok(*b)).expect("alloc"))
        .collect();
    let p_var = alloc_point(cs.clone(), Some(p), AllocationMode::Witness).expect("alloc");
    let k = ark_ff::BigInt::<4>::from_bits_le(k_bits);
    // Compare coordinates: `AffineVar::value` asserts subgroup membership,
    // which torsion points used here do not have.
    let xy = |v: &veil_circuits::gadgets::eddsa::PointVar| {
        (v.x.value().expect("x"), v.y.value().expect("y"))
    };
    let native = |q: EdwardsProjective| {
        let a = q.into_affine();
        (a.x, a.y)
    };
    let var = var_base_mul_le(&p_var, &bits).expect("synthesis");
    assert_eq!(xy(&var), native(p.mul_bigint(k)));
    if k_bits.len() <= veil_circuits::gadgets::eddsa::SCALAR_BITS {
        let fixed = fixed_base_mul_le(&bits).expect("synthesis");
        assert_eq!(
            xy(&fixed),
            native(EdwardsProjective::generator().mul_bigint(k))
        );
    }
    assert!(cs.is_satisfied().expect("satisfiability"));
}

#[test]
fn scalar_multiplications_match_native_on_edge_scalars() {
    let g = EdwardsProjective::generator().into_affine();
    let p = g.mul_bigint([12345u64]).into_affine();
    let l_minus_1: Vec<bool> = {
        let mut v = ScalarField::MODULUS;
        v.sub_with_borrow(&ark_ff::BigInt::from(1u64));
        v.to_bits_le().into_iter().take(251).collect()
    };
    for bits in [
        vec![false; 254],
        vec![true; 254],
        vec![true; 251],
        vec![true],
        vec![false, true, true],
        l_minus_1,
    ] {
        mul_agrees(&bits, p);
        mul_agrees(&bits, testing::order_eight());
    }
}

#[test]
fn points_allocate_in_every_mode() {
    use ark_r1cs_std::GR1CSVar;
    let p = key(9).verifying_key().point().to_affine();
    for mode in [
        AllocationMode::Constant,
        AllocationMode::Input,
        AllocationMode::Witness,
    ] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let v = alloc_point(cs.clone(), Some(p), mode).expect("alloc");
        assert_eq!(
            (v.x.value().expect("x"), v.y.value().expect("y")),
            (p.x, p.y)
        );
        assert!(cs.is_satisfied().expect("satisfiability"));
        // Off-curve coordinates are refused in the variable modes.
        if mode != AllocationMode::Constant {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let _ = alloc_point(cs.clone(), Some(testing::off_curve()), mode).expect("alloc");
            assert!(!cs.is_satisfied().expect("satisfiability"), "{mode:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn scalar_multiplications_match_native(bytes in proptest::array::uniform32(any::<u8>()), len in 1usize..=254) {
        let bits: Vec<bool> = (0..len).map(|i| (bytes[i / 8] >> (i % 8)) & 1 == 1).collect();
        let p = EdwardsProjective::generator().mul_bigint([u64::from(bytes[0]) + 2]).into_affine();
        mul_agrees(&bits, p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn random_keys_and_messages_agree(seed in proptest::array::uniform32(any::<u8>()), msg in any::<u64>(), tamper in any::<bool>()) {
        let k = SigningKey::from_seed(seed).expect("non-degenerate");
        let m = Fr::from(msg);
        let sig: RawSignature = k.sign(&m).into();
        let m_checked = if tamper { m + Fr::from(1u64) } else { m };
        let ok = agree(k.verifying_key().point().to_affine(), m_checked, &sig);
        prop_assert_eq!(ok, !tamper);
    }
}
