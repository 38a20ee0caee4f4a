//! The relations between a `.ptau` file's points, checked as
//! `snarkjs powersoftau verify` does: same-ratio pairing checks on random
//! linear combinations (`powersoftau_verify.js`, `processSection`,
//! `verifyLagrangeEvaluations`), so a whole section costs one
//! multi-scalar multiplication instead of one pairing per point.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::Zero;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use rand::{CryptoRng, RngCore};

use super::{FILE, Lagrange, Ptau};
use crate::error::InteropError;

fn fail(check: &'static str) -> InteropError {
    InteropError::Inconsistent { file: FILE, check }
}

/// `n` independent 128-bit scalars: a wrong point escapes a check with
/// probability at most `2^−128`.
fn randoms<R: RngCore + CryptoRng>(rng: &mut R, n: usize) -> Vec<Fr> {
    (0..n)
        .map(|_| {
            let mut b = [0u8; 16];
            rng.fill_bytes(&mut b);
            Fr::from(u128::from_le_bytes(b))
        })
        .collect()
}

/// `(Σ r_i·P_i, Σ r_i·P_{i+1})` for consecutive points of `p`.
fn shifted<A, P, R>(p: &[A], rng: &mut R) -> (P, P)
where
    A: AffineRepr<Group = P>,
    P: VariableBaseMSM<MulBase = A, ScalarField = Fr>,
    R: RngCore + CryptoRng,
{
    let Some(last) = p.len().checked_sub(1) else {
        return (P::zero(), P::zero());
    };
    let r = randoms(rng, last);
    (msm(&p[..last], &r), msm(&p[1..], &r))
}

fn msm<A, P>(bases: &[A], scalars: &[Fr]) -> P
where
    A: AffineRepr<Group = P>,
    P: VariableBaseMSM<MulBase = A, ScalarField = Fr>,
{
    P::msm_unchecked(bases, scalars)
}

/// `e(a1, a2) = e(b1, b2)`.
fn same_ratio(a1: G1Projective, b1: G1Projective, a2: G2Affine, b2: G2Affine) -> bool {
    Bn254::multi_pairing([a1.into_affine(), (-b1).into_affine()], [a2, b2]).is_zero()
}

/// For every level `k` of a Lagrange section: with random `r` of length
/// `m = 2^k`, `Σ_j r_j·τ^j·G = Σ_i FFT(r)_i·ℓ_i(τ)·G` (since
/// `ℓ_i(τ) = (1/m)·Σ_j ω^−ij·τ^j`); all levels summed into one equation
/// with independent `r`. `powers` may be one short of the top level (the
/// `2^(power+1) − 1` powers of section 2): its missing power has `r = 0`.
fn lagrange_matches<A, P, R>(powers: &[A], basis: &[A], top: u32, rng: &mut R) -> bool
where
    A: AffineRepr<Group = P>,
    P: VariableBaseMSM<MulBase = A, ScalarField = Fr>,
    R: RngCore + CryptoRng,
{
    let mut on_powers = vec![Fr::zero(); powers.len()];
    let mut on_basis = Vec::with_capacity(basis.len());
    for k in 0..=top {
        let m = 1usize << k;
        let mut r = randoms(rng, m);
        r.iter_mut()
            .skip(powers.len())
            .for_each(|x| *x = Fr::zero());
        for (acc, x) in on_powers.iter_mut().zip(&r) {
            *acc += x;
        }
        let Some(domain) = Radix2EvaluationDomain::<Fr>::new(m) else {
            return false;
        };
        on_basis.extend(domain.fft(&r));
    }
    on_basis.len() == basis.len() && msm::<A, P>(powers, &on_powers) == msm(basis, &on_basis)
}

impl Ptau {
    /// Checks that the points are what the format says, for the `τ`, `α`,
    /// `β` that `τ·G2` (section 3), section 4's and section 6's first points
    /// define: both τ sections start at the generator; each τ, ατ, βτ
    /// section is a geometric sequence of ratio τ in G1 and G2 alike;
    /// `β·G1` and `β·G2` agree; the last contribution record names these
    /// very points; the Lagrange sections, if present, are the inverse
    /// FFTs of the powers on every level. Randomized (`rng`), one-sided.
    pub fn check_powers<R: RngCore + CryptoRng>(&self, rng: &mut R) -> Result<(), InteropError> {
        let g1 = G1Affine::generator();
        let g2 = G2Affine::generator();
        let (tau_g1, tau_g2) = match (self.tau_g1.get(..2), self.tau_g2.get(..2)) {
            (Some([a0, a1]), Some([b0, b1])) if *a0 == g1 && *b0 == g2 => (*a1, *b1),
            _ => return Err(fail("τ^0 is the generator")),
        };
        let (alpha_g1, beta_g1) = match (self.alpha_tau_g1.first(), self.beta_tau_g1.first()) {
            (Some(a), Some(b)) => (*a, *b),
            _ => return Err(fail("α·G1 and β·G1 present")),
        };
        let (mut lo, mut hi) = (G1Projective::zero(), G1Projective::zero());
        for s in [&self.tau_g1, &self.alpha_tau_g1, &self.beta_tau_g1] {
            let (l, h) = shifted::<_, G1Projective, _>(s, rng);
            lo += l;
            hi += h;
        }
        if !same_ratio(lo, hi, tau_g2, g2) {
            return Err(fail("τ·G1, ατ·G1, βτ·G1 are powers of τ"));
        }
        let (lo, hi) = shifted::<_, G2Projective, _>(&self.tau_g2, rng);
        if !Bn254::multi_pairing([tau_g1, -g1], [lo.into_affine(), hi.into_affine()]).is_zero() {
            return Err(fail("τ·G2 are powers of τ"));
        }
        if !same_ratio(beta_g1.into(), g1.into(), g2, self.beta_g2) {
            return Err(fail("β·G1 and β·G2 share β"));
        }
        let names_them = |c: &super::Contribution| {
            (c.tau_g1, c.tau_g2, c.alpha_g1, c.beta_g1, c.beta_g2)
                == (tau_g1, tau_g2, alpha_g1, beta_g1, self.beta_g2)
        };
        if !self.contributions.last().is_none_or(names_them) {
            return Err(fail("the last contribution names the file's points"));
        }
        match &self.lagrange {
            Some(l) => self.check_lagrange(l, rng),
            None => Ok(()),
        }
    }

    fn check_lagrange<R: RngCore + CryptoRng>(
        &self,
        l: &Lagrange,
        rng: &mut R,
    ) -> Result<(), InteropError> {
        let p = self.power;
        let g1 = |powers: &[G1Affine], basis: &[G1Affine], top, rng: &mut R| {
            lagrange_matches::<_, G1Projective, _>(powers, basis, top, rng)
        };
        if !g1(&self.tau_g1, &l.tau_g1, p + 1, rng) {
            return Err(fail("section 12 is τ·G1 in the Lagrange basis"));
        }
        if !lagrange_matches::<_, G2Projective, _>(&self.tau_g2, &l.tau_g2, p, rng) {
            return Err(fail("section 13 is τ·G2 in the Lagrange basis"));
        }
        if !g1(&self.alpha_tau_g1, &l.alpha_tau_g1, p, rng) {
            return Err(fail("section 14 is ατ·G1 in the Lagrange basis"));
        }
        if !g1(&self.beta_tau_g1, &l.beta_tau_g1, p, rng) {
            return Err(fail("section 15 is βτ·G1 in the Lagrange basis"));
        }
        Ok(())
    }
}
