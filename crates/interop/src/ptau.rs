//! A prepared phase-1 file (`.ptau`, snarkjs' format, version 1) made from
//! KNOWN toxic waste, for tests only: it lets `snarkjs groth16 setup` run on
//! veil's `.r1cs` in seconds (snarkjs' own `powersoftau contribute` and
//! `prepare phase2` take minutes even at `2^13`). Anyone who knows the seed
//! can forge proofs for any key made from it. It records no contribution,
//! so `snarkjs powersoftau verify` refuses it; real ceremonies start from
//! the public Perpetual Powers of Tau (issue 11).
//!
//! Layout (`powersoftau_new.js`, `powersoftau_preparephase2.js`), points
//! affine, uncompressed, coordinates little-endian in Montgomery form
//! (snarkjs' "LEM", which is arkworks' internal representation):
//! 1 header (`n8`, `q`, power, ceremony power); 2 `τ^i·G1`, `i < 2^(power+1)−1`;
//! 3 `τ^i·G2`, 4 `ατ^i·G1`, 5 `βτ^i·G1`, `i < 2^power`; 6 `β·G2`;
//! 7 contributions (none); 12–15 the same four in the Lagrange basis of
//! every domain `2^k`, `k ≤ power` (and `k = power+1` for section 12, from
//! the `2^(power+1)−1` powers padded with the identity, as snarkjs does).

use ark_bn254::{Fq, Fr, G1Projective, G2Projective};
use ark_ec::scalar_mul::ScalarMul;
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::{BigInteger, FftField, Field, One, PrimeField, UniformRand, Zero};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::binfile::Writer;

/// The largest power this writer makes (a test file, held in memory).
pub const MAX_POWER: u32 = 16;

fn put_fq(out: &mut Vec<u8>, x: &Fq) {
    // `Fp`'s field is the Montgomery form x·2^256 mod q: snarkjs' LEM.
    out.extend_from_slice(&x.0.to_bytes_le());
}

fn g1_points(scalars: &[Fr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(scalars.len() * 64);
    for p in G1Projective::generator().batch_mul(scalars) {
        let (x, y) = p.xy().unwrap_or((Fq::zero(), Fq::zero()));
        put_fq(&mut out, &x);
        put_fq(&mut out, &y);
    }
    out
}

fn g2_points(scalars: &[Fr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(scalars.len() * 128);
    for p in G2Projective::generator().batch_mul(scalars) {
        let zero = ark_bn254::Fq2::zero();
        let (x, y) = p.xy().unwrap_or((zero, zero));
        for c in [x.c0, x.c1, y.c0, y.c1] {
            put_fq(&mut out, &c);
        }
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
