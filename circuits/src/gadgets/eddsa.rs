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

use ark_ec::{AdditiveGroup, AffineRepr, CurveGroup, PrimeGroup};
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

/// An in-circuit BabyJubJub point (affine, complete twisted Edwards formulas).
pub type PointVar = EdwardsVar;

/// Bits of a canonical `S` (`l < 2^251`).
pub const SCALAR_BITS: usize = 251;

/// A point allocated with the on-curve check only (no subgroup check: the
/// cofactored equation and `8·A ≠ O` make it unnecessary, §2.6).
///
/// Deliberately not `EdwardsVar::new_witness`: in r1cs-std 0.6 that also
/// forces prime-order membership, by allocating `8⁻¹·P` and multiplying by
/// 8; for a point outside the subgroup the circuit would then silently work
/// on a different point than the native verifier (and pay 3 doublings).
/// In `Constant` mode no check is made (constants are the designer's).
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

/// Width of a fixed-base window.
const FIXED_WINDOW: usize = 3;

/// For each 3-bit window `j` of `S`, the lookup `k ↦ k·2^{3j}·G` (`k < 8`)
/// written as a multilinear polynomial in the window's bits: one
/// `(x, y)` coefficient per monomial `Π_{i∈T} b_i`, `T ⊆ {0, 1, 2}` (bit
/// mask order). A lookup is then linear in the monomials; only the
/// products cost constraints (4 per full window).
fn fixed_base_tables() -> &'static [Vec<(Fr, Fr)>] {
    static TABLES: OnceLock<Vec<Vec<(Fr, Fr)>>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut base = EdwardsProjective::generator();
        (0..SCALAR_BITS.div_ceil(FIXED_WINDOW))
            .map(|j| {
                let width = (SCALAR_BITS - j * FIXED_WINDOW).min(FIXED_WINDOW);
                let size = 1usize << width;
                // f(k) = k·base, affine.
                let mut f = Vec::with_capacity(size);
                let mut p = EdwardsProjective::default();
                for _ in 0..size {
                    let q = p.into_affine();
                    f.push((q.x, q.y));
                    p += base;
                }
                // Möbius transform: coefficient of monomial T = Σ_{U⊆T} (−1)^{|T∖U|} f(U).
                for i in 0..width {
                    for t in 0..size {
                        if t & (1 << i) != 0 {
                            let (lx, ly) = f[t ^ (1 << i)];
                            f[t].0 -= lx;
                            f[t].1 -= ly;
                        }
                    }
                }
                for _ in 0..width {
                    base.double_in_place();
                }
                f
            })
            .collect()
    })
}

/// `S·G` from the little-endian bits of `S` (at most [`SCALAR_BITS`]),
/// with 3-bit windows over precomputed tables: ~10 constraints per window.
pub fn fixed_base_mul_le(bits: &[Boolean<Fr>]) -> Result<EdwardsVar, SynthesisError> {
    let tables = fixed_base_tables();
    if bits.len() > SCALAR_BITS {
        return Err(SynthesisError::Unsatisfiable);
    }
    let mut acc: Option<EdwardsVar> = None;
    for (chunk, table) in bits.chunks(FIXED_WINDOW).zip(tables) {
        // Monomials in mask order: m[T] = Π_{i∈T} b_i, m[∅] = 1.
        let mut monomials: Vec<Option<Boolean<Fr>>> = vec![None; 1 << chunk.len()];
        for t in 1..monomials.len() {
            let low = t & t.wrapping_neg();
            let i = low.trailing_zeros() as usize;
            monomials[t] = Some(match &monomials[t ^ low] {
                None => chunk[i].clone(),
                Some(m) => m & &chunk[i],
            });
        }
        let (mut x, mut y) = (FpVar::constant(table[0].0), FpVar::constant(table[0].1));
        for (m, (cx, cy)) in monomials.iter().zip(table).skip(1) {
            if let Some(m) = m {
                let m = FpVar::from(m.clone());
                x += &m * *cx;
                y += &m * *cy;
            }
        }
        let entry = EdwardsVar::new(x, y);
        acc = Some(match acc {
            None => entry,
            Some(a) => a + &entry,
        });
    }
    Ok(acc.unwrap_or_else(EdwardsVar::zero))
}

/// `k·P` for a variable point `P` from the little-endian bits of `k`, with
/// 2-bit windows over the table `[O, P, 2P, 3P]`, most significant window
/// first: per window two doublings, a 4-way select and one addition
/// (22 constraints, against 26 for bitwise double-and-add).
pub fn var_base_mul_le(p: &EdwardsVar, bits: &[Boolean<Fr>]) -> Result<EdwardsVar, SynthesisError> {
    let zero = EdwardsVar::zero();
    let p2 = p.double()?;
    let p3 = &p2 + p;
    let mut acc: Option<EdwardsVar> = None;
    for chunk in bits.chunks(2).rev() {
        let entry = match chunk {
            [b0, b1] => {
                let lo = b0.select(p, &zero)?;
                let hi = b0.select(&p3, &p2)?;
                b1.select(&hi, &lo)?
            }
            [b0] => b0.select(p, &zero)?,
            _ => return Err(SynthesisError::Unsatisfiable),
        };
        acc = Some(match acc {
            None => entry,
            Some(mut a) => {
                for _ in 0..chunk.len() {
                    a.double_in_place()?;
                }
                a + &entry
            }
        });
    }
    Ok(acc.unwrap_or(zero))
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
    let c_a = var_base_mul_le(a, &c_bits)?;

    // S·G over precomputed window tables of G.
    let s_g = fixed_base_mul_le(s_bits)?;

    // 8·(S·G − R − c·A) = O.
    let diff = s_g - r - &c_a;
    mul_by_cofactor(&diff)?.conditional_enforce_equal(&EdwardsVar::zero(), enabled)
}

/// The affine identity `(0, 1)`: the session key and nonce of a padding slot.
pub fn identity() -> EdwardsAffine {
    EdwardsAffine::zero()
}
