//! In-circuit EdDSA verification, the twin of
//! [`veil_primitives::eddsa::verify_raw`].
//!
//! Spec: `docs/protocol.md` §2.6. The gadget enforces, for an `enabled` slot:
//!
//! 1. `A` and `R` are on the curve (one constraint pair each, at allocation);
//! 2. `S < l` (`S` as 251 witness bits, compared to `l − 1`; adversarial A12);
//! 3. `8·A ≠ O` (three doublings; A13);
//! 4. `8·(S·G − R − c·A) = O` with `c = H(CHALLENGE, R.x, R.y, A.x, A.y, m)`
//!    decomposed into its 254 *strict* bits (no alias `c + r`, A5).
//!
//! Checks 1 and 2 hold for every slot (a padding slot carries the identity
//! and `S = 0`); checks 3 and 4 only where `enabled` is true.
//!
//! Cost (measured, see the tests): fixed-base `S·G` with a 2-bit window over
//! precomputed `2^i·G`, variable-base `c·A` by double-and-add.

use std::sync::OnceLock;

use ark_ec::{AdditiveGroup, AffineRepr, PrimeGroup};
use ark_ed_on_bn254::constraints::EdwardsVar;
use ark_ff::{BigInt, BigInteger, Field, PrimeField};
use ark_r1cs_std::{
    GR1CSVar,
    alloc::{AllocVar, AllocationMode},
    boolean::Boolean,
    convert::ToBitsGadget,
    eq::EqGadget,
    fields::{FieldVar, fp::FpVar},
    groups::CurveVar,
};
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsAffine, EdwardsProjective, ScalarField},
    poseidon::DomainTag,
};

use super::poseidon::hash_tagged;

/// Bits of a canonical `S` (`l < 2^251`).
pub const SCALAR_BITS: usize = 251;

/// A point allocated with the on-curve check only (no subgroup check: the
/// cofactored equation and `8·A ≠ O` make it unnecessary, §2.6).
pub fn alloc_point(
    cs: ConstraintSystemRef<Fr>,
    point: Option<EdwardsAffine>,
    mode: AllocationMode,
) -> Result<EdwardsVar, SynthesisError> {
    EdwardsVar::new_variable_omit_prime_order_check(
        cs,
        || {
            point
                .map(|p| p.into_group())
                .ok_or(SynthesisError::AssignmentMissing)
        },
        mode,
    )
}

/// `S` as [`SCALAR_BITS`] little-endian witness bits, constrained to `S < l`.
///
/// A value of 251 bits or more that is not `< l` makes the system
/// unsatisfiable: the bits are the low 251 bits of the witness, and a witness
/// `>= 2^251` cannot be represented (the prover's `S` must equal them).
pub fn alloc_scalar_bits(
    cs: ConstraintSystemRef<Fr>,
    s: Option<BigInt<4>>,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let bits = (0..SCALAR_BITS)
        .map(|i| {
            Boolean::new_witness(cs.clone(), || {
                s.map(|v| v.get_bit(i))
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut l_minus_1 = ScalarField::MODULUS;
    l_minus_1.sub_with_borrow(&BigInt::from(1u64));
    Boolean::enforce_smaller_or_equal_than_le(&bits, l_minus_1)?;
    Ok(bits)
}

/// `2^i·G` for `i < 251`, the fixed-base table.
fn generator_powers() -> &'static [EdwardsProjective] {
    static POWERS: OnceLock<Vec<EdwardsProjective>> = OnceLock::new();
    POWERS.get_or_init(|| {
        let mut p = EdwardsProjective::generator();
        (0..SCALAR_BITS)
            .map(|_| {
                let cur = p;
                p.double_in_place();
                cur
            })
            .collect()
    })
}

/// `8·P` by three doublings.
fn mul_by_cofactor(p: &EdwardsVar) -> Result<EdwardsVar, SynthesisError> {
    let mut q = p.double()?;
    q.double_in_place()?;
    q.double_in_place()?;
    Ok(q)
}

/// Enforces `P ≠ O` when `enabled`, for `P` in the order-`l` subgroup (such
/// as `8·A`): there the only point with `x = 0` is `O` (the other one,
/// `(0, −1)`, has order 2), so `P ≠ O ⇔ x ≠ 0`. Two constraints, with a
/// fully determined helper `inv`: `x·inv = enabled` and `(1 − enabled)·inv = 0`.
fn enforce_not_identity_if(p: &EdwardsVar, enabled: &Boolean<Fr>) -> Result<(), SynthesisError> {
    let x = &p.x;
    let inv = FpVar::new_witness(x.cs().or(enabled.cs()), || {
        let (xv, en) = (x.value()?, enabled.value()?);
        Ok(if en {
            xv.inverse().unwrap_or_default()
        } else {
            Fr::ZERO
        })
    })?;
    let en = FpVar::from(enabled.clone());
    x.mul_equals(&inv, &en)?;
    inv.mul_equals(&FpVar::from(!enabled), &FpVar::zero())
}

/// The in-circuit challenge `c = H(CHALLENGE, R.x, R.y, A.x, A.y, m)` (§2.6).
pub fn challenge(
    r: &EdwardsVar,
    a: &EdwardsVar,
    m: &FpVar<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    hash_tagged(
        DomainTag::Challenge,
        &[
            r.x.clone(),
            r.y.clone(),
            a.x.clone(),
            a.y.clone(),
            m.clone(),
        ],
    )
}

/// Enforces, when `enabled`, that `(R, S)` is a valid signature on `m` under
/// `A` (§2.6). `A` and `R` must come from [`alloc_point`] (on-curve checked)
/// and `s_bits` from [`alloc_scalar_bits`] (`S < l`).
pub fn verify(
    a: &EdwardsVar,
    m: &FpVar<Fr>,
    r: &EdwardsVar,
    s_bits: &[Boolean<Fr>],
    enabled: &Boolean<Fr>,
) -> Result<(), SynthesisError> {
    // 8·A ≠ O (A13).
    enforce_not_identity_if(&mul_by_cofactor(a)?, enabled)?;

    // c·A with c's strict 254-bit decomposition.
    let c = challenge(r, a, m)?;
    let c_bits = c.to_bits_le()?;
    let c_a = a.scalar_mul_le(c_bits.iter())?;

    // S·G over the precomputed powers of G.
    let mut s_g = EdwardsVar::zero();
    s_g.precomputed_base_scalar_mul_le(s_bits.iter().zip(generator_powers()))?;

    // 8·(S·G − R − c·A) = O.
    let diff = s_g - r - &c_a;
    mul_by_cofactor(&diff)?.conditional_enforce_equal(&EdwardsVar::zero(), enabled)
}

/// The affine identity `(0, 1)`: the session key and nonce of a padding slot.
pub fn identity() -> EdwardsAffine {
    EdwardsAffine::zero()
}
