//! A prepared phase-1 file (`.ptau`, snarkjs' format, version 1) made from
//! KNOWN toxic waste, for tests only: it lets `snarkjs groth16 setup` run on
//! veil's `.r1cs` in seconds (snarkjs' own `powersoftau contribute` and
//! `prepare phase2` take minutes even at `2^13`). Anyone who knows the seed
//! can forge proofs for any key made from it. It records no contribution,
//! so `snarkjs powersoftau verify` refuses it; real ceremonies start from
//! the public Perpetual Powers of Tau (issue 11).
//!
//! The layout is the one [`super::Ptau::from_bytes`] reads.

use ark_bn254::{Fq, Fr, G1Projective, G2Projective};
use ark_ec::PrimeGroup;
use ark_ec::scalar_mul::ScalarMul;
use ark_ff::{BigInteger, FftField, Field, One, PrimeField, UniformRand};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::binfile::Writer;
use crate::lem;

/// The largest power this writer makes: 2^20, what `settle_64` (domain
/// 2^19, veil's largest circuit) needs, since snarkjs' circuit hash reads
/// `τ^(2m−1)·G1` for domains above 2^14. The file is held in memory: about
/// 1.2 GB at that power, a few MB for the powers tests use.
pub const MAX_POWER: u32 = 20;

fn g1_points(scalars: &[Fr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(scalars.len() * lem::G1_BYTES);
    for p in G1Projective::generator().batch_mul(scalars) {
        lem::put_g1(&mut out, &p);
    }
    out
}

fn g2_points(scalars: &[Fr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(scalars.len() * lem::G2_BYTES);
    for p in G2Projective::generator().batch_mul(scalars) {
        lem::put_g2(&mut out, &p);
    }
    out
}

/// `τ^0, …, τ^(n−1)`.
fn powers(tau: Fr, n: usize) -> Vec<Fr> {
    std::iter::successors(Some(Fr::one()), |p| Some(*p * tau))
        .take(n)
        .collect()
}

/// snarkjs' Lagrange evaluations (an inverse FFT) of `τ^0 … τ^(avail−1)`
/// padded with zeros to `m = 2^k`: `ℓ_i = (1/m)·Σ_{j<avail} (ω^−i·τ)^j`.
fn lagrange(tau: Fr, k: u32, avail: usize) -> Vec<Fr> {
    let m = 1usize << k;
    let avail = avail.min(m) as u64;
    let Some(omega_inv) = Fr::get_root_of_unity(m as u64).and_then(|w| w.inverse()) else {
        return Vec::new();
    };
    let m_inv = Fr::from(m as u64).inverse().unwrap_or_default();
    let mut out = Vec::with_capacity(m);
    let mut w = Fr::one();
    for _ in 0..m {
        let x = w * tau;
        // Σ_{j<avail} x^j = (x^avail − 1)/(x − 1), or `avail` when x = 1.
        let sum = match (x - Fr::one()).inverse() {
            Some(d) => (x.pow([avail]) - Fr::one()) * d,
            None => Fr::from(avail),
        };
        out.push(sum * m_inv);
        w *= omega_inv;
    }
    out
}

/// The prepared `.ptau` of `2^power` for toxic waste `(τ, α, β)` derived
/// from `seed` (INSECURE, tests only). `None` if `power` is 0 or above
/// [`MAX_POWER`].
pub fn insecure_prepared_ptau(power: u32, seed: [u8; 32]) -> Option<Vec<u8>> {
    if power == 0 || power > MAX_POWER {
        return None;
    }
    let mut rng = ChaCha20Rng::from_seed(seed);
    let (tau, alpha, beta) = (Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng));
    let n = 1usize << power;
    let tau_n = powers(tau, 2 * n - 1);
    let scaled = |c: Fr, v: &[Fr]| v.iter().map(|x| c * x).collect::<Vec<_>>();

    let mut header = Vec::new();
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&Fq::MODULUS.to_bytes_le());
    header.extend_from_slice(&power.to_le_bytes());
    header.extend_from_slice(&power.to_le_bytes());

    let levels = |top: u32, avail: usize| -> Vec<Fr> {
        (0..=top).flat_map(|k| lagrange(tau, k, avail)).collect()
    };
    let l_g1 = levels(power + 1, 2 * n - 1);
    let l = levels(power, n);

    let mut w = Writer::new(b"ptau", 1, 11);
    w.section(1, &header);
    w.section(2, &g1_points(&tau_n));
    w.section(3, &g2_points(&tau_n[..n]));
    w.section(4, &g1_points(&scaled(alpha, &tau_n[..n])));
    w.section(5, &g1_points(&scaled(beta, &tau_n[..n])));
    w.section(6, &g2_points(&[beta]));
    w.section(7, &0u32.to_le_bytes());
    w.section(12, &g1_points(&l_g1));
    w.section(13, &g2_points(&l));
    w.section(14, &g1_points(&scaled(alpha, &l)));
    w.section(15, &g1_points(&scaled(beta, &l)));
    Some(w.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decimal::to_decimal;
    use ark_ff::Zero;

    #[test]
    fn root_of_unity_is_snarkjs_w28() {
        // `Fr.w[28]` of snarkjs 0.7.6's bn128: the domains agree.
        let w = Fr::get_root_of_unity(1 << 28).unwrap();
        assert_eq!(
            to_decimal(&w),
            "19103219067921713944291392827692070036145651957329286315305642004821462161904"
        );
    }

    #[test]
    fn lagrange_basis_interpolates() {
        // Σ_i ℓ_i(τ)·f(ω^i) = f(τ) for deg f < m: check with f(X) = X^3 + 2.
        let tau = Fr::from(123_456_789u64);
        let k = 4;
        let m = 1u64 << k;
        let w = Fr::get_root_of_unity(m).unwrap();
        let f = |x: Fr| x.pow([3]) + Fr::from(2u64);
        let l = lagrange(tau, k, m as usize);
        let mut acc = Fr::zero();
        let mut wi = Fr::one();
        for li in &l {
            acc += *li * f(wi);
            wi *= w;
        }
        assert_eq!(acc, f(tau));
    }

    #[test]
    fn sizes_follow_the_layout() {
        let power = 3;
        let bytes = insecure_prepared_ptau(power, [7; 32]).unwrap();
        let s = crate::binfile::Sections::parse(&bytes, ".ptau", b"ptau", 1).unwrap();
        let len = |id| s.unique(id).unwrap().remaining();
        let n = 1usize << power;
        assert_eq!(len(2), (2 * n - 1) * 64);
        assert_eq!(len(3), n * 128);
        assert_eq!(len(6), 128);
        assert_eq!(len(12), (4 * n - 1) * 64);
        assert_eq!(len(13), (2 * n - 1) * 128);
        assert!(insecure_prepared_ptau(0, [0; 32]).is_none());
        assert!(insecure_prepared_ptau(MAX_POWER + 1, [0; 32]).is_none());
    }
}
