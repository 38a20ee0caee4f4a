//! Variable-base multi-scalar multiplication `Σ s_i·P_i` on any short
//! Weierstrass curve (G1 and G2 of BN254 alike), for the Groth16 prover's
//! five MSMs (`docs/protocol.md` §7.3, issue 12).
//!
//! The result equals arkworks' `VariableBaseMSM::msm_bigint` (the group
//! element, hence the same proof bytes); the method is the one of
//! gnark-class provers:
//!
//! - each scalar `s` is replaced by `min(s, r − s)` with the base negated
//!   when needed, so small negative witness values are small;
//! - terms are split by width ([`terms`]): `±1` are summed directly, the
//!   others go through a bucket method sized for their bit length, so
//!   bits and small values cost a few additions instead of a full
//!   254-bit pass;
//! - scalars are recoded in signed windows ([`digits`]), halving the
//!   buckets;
//! - buckets are accumulated in affine coordinates, one field inversion
//!   per batch of additions ([`batch`]); windows run on all cores;
//! - on curves with an endomorphism, [`msm_glv`] splits full-width scalars
//!   in two halves below 2^127 ([`glv`]), and [`FixedBases`] precomputes
//!   shifted copies of bases that never change (a proving key's), so all
//!   windows share one set of buckets.

mod batch;
mod digits;
mod fixed;
mod glv;
mod pippenger;
mod terms;

use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ff::PrimeField;

pub use fixed::FixedBases;

/// The scalar representation the MSM takes (arkworks' `msm_bigint`).
pub type BigInt<P> = <<P as ark_ec::CurveConfig>::ScalarField as PrimeField>::BigInt;

/// `Σ scalars_i·bases_i` over the first `min(bases.len(), scalars.len())`
/// terms (the truncation of arkworks' `msm_bigint`). Scalars need not be
/// reduced below the group order. Bases at infinity and zero scalars
/// contribute nothing.
pub fn msm<P: SWCurveConfig>(bases: &[Affine<P>], scalars: &[BigInt<P>]) -> Projective<P> {
    msm_with_window(bases, scalars, None)
}

/// [`msm`] with the window width of the full-width terms forced to `c`
/// (clamped to the supported range): for tuning and benchmarks only.
#[doc(hidden)]
pub fn msm_with_window<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[BigInt<P>],
    c: Option<usize>,
) -> Projective<P> {
    let classes = terms::classify::<P>(bases, scalars);
    let (wide, (narrow, units)) = rayon::join(
        || pippenger::sum(bases, &classes.wide, c),
        || {
            rayon::join(
                || pippenger::sum(bases, &classes.narrow, None),
                || pippenger::sum_units(bases, &classes.units),
            )
        },
    );
    wide + narrow + units
}

/// [`msm`] with the GLV endomorphism: each full-width term `k·P` becomes
/// `k1·P + k2·φ(P)` with `|k1|, |k2| < 2^127`, halving the windows. Falls
/// back to [`msm`] for a curve whose constants do not fit ([`glv`]).
pub fn msm_glv<P: GLVConfig>(bases: &[Affine<P>], scalars: &[BigInt<P>]) -> Projective<P> {
    msm_glv_with_window(bases, scalars, None)
}

/// [`msm_glv`] with the window width of the half-width terms forced to `c`
/// (clamped): for tuning and benchmarks only.
#[doc(hidden)]
pub fn msm_glv_with_window<P: GLVConfig>(
    bases: &[Affine<P>],
    scalars: &[BigInt<P>],
    c: Option<usize>,
) -> Projective<P> {
    let Some(params) = glv::Glv::new::<P>() else {
        return msm_with_window(bases, scalars, c);
    };
    let classes = terms::classify::<P>(bases, scalars);
    let (half_bases, halves) = glv::split_terms(&params, bases, &classes.wide);
    let (wide, (narrow, units)) = rayon::join(
        || pippenger::sum(&half_bases, &halves, c),
        || {
            rayon::join(
                || pippenger::sum(bases, &classes.narrow, None),
                || pippenger::sum_units(bases, &classes.units),
            )
        },
    );
    wide + narrow + units
}
