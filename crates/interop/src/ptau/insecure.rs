//! A prepared phase-1 file (`.ptau`, snarkjs' format, version 1) made from
//! KNOWN toxic waste, for tests only: it lets `snarkjs groth16 setup` run on
//! veil's `.r1cs` in seconds (snarkjs' own `powersoftau contribute` and
//! `prepare phase2` take minutes even at `2^13`). Anyone who knows the seed
//! can forge proofs for any key made from it. It records one contribution,
//! that of the known secrets, named [`INSECURE_CONTRIBUTOR`], whose chain
//! verifies ([`super::Ptau::verify_chain`]; its response hash covers the
//! challenge and the public key, not the compressed points snarkjs also
//! hashes, which no verifier recomputes); real ceremonies start from the
//! public Perpetual Powers of Tau (issue 11).
//!
//! The layout is the one [`super::Ptau::from_bytes`] reads.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::scalar_mul::ScalarMul;
use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, FftField, Field, One, PrimeField, UniformRand};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::KeyPart;
use super::chain::{first_challenge, key_part, next_challenge, public_key_bytes};
use crate::binfile::Writer;
use crate::blake2b::Blake2b;
use crate::lem;

/// The name of the one contribution an insecure file records.
pub const INSECURE_CONTRIBUTOR: &str = "INSECURE test phase 1: tau, alpha, beta known";

/// The largest power this writer makes: 2^20, what `settle_64` (domain
/// 2^19, veil's largest circuit) needs, since snarkjs' circuit hash reads
/// `τ^(2m−1)·G1` for domains above 2^14. The file is held in memory: about
/// 1.2 GB at that power, a few MB for the powers tests use.
pub const MAX_POWER: u32 = 20;

fn g1(scalars: &[Fr]) -> Vec<G1Affine> {
    G1Projective::generator().batch_mul(scalars)
}

fn g2(scalars: &[Fr]) -> Vec<G2Affine> {
    G2Projective::generator().batch_mul(scalars)
}

fn g1_bytes(points: &[G1Affine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * lem::G1_BYTES);
    points.iter().for_each(|p| lem::put_g1(&mut out, p));
    out
}

fn g2_bytes(points: &[G2Affine]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * lem::G2_BYTES);
    points.iter().for_each(|p| lem::put_g2(&mut out, p));
    out
}

/// Sections 2–6 of a file.
struct Powers {
    tau_g1: Vec<G1Affine>,
    tau_g2: Vec<G2Affine>,
    alpha_tau_g1: Vec<G1Affine>,
    beta_tau_g1: Vec<G1Affine>,
    beta_g2: G2Affine,
}

/// Section 7: one contribution, by the holder of `secrets` (τ, α, β),
/// answering the first challenge of `2^power`.
fn contribution(power: u32, secrets: [Fr; 3], p: &Powers, rng: &mut ChaCha20Rng) -> Vec<u8> {
    let challenge = first_challenge(power);
    let key: [KeyPart; 3] = [0u8, 1, 2].map(|p| {
        let g1_s = (G1Projective::generator() * Fr::rand(rng)).into_affine();
        key_part(p, &challenge, g1_s, secrets[usize::from(p)])
    });
    let mut response = Blake2b::default();
    response.update(&challenge);
    let partial = response.to_partial();
    response.update(&public_key_bytes(&key));
    let next = next_challenge(
        &response.finalize(),
        &p.tau_g1,
        &p.tau_g2,
        &p.alpha_tau_g1,
        &p.beta_tau_g1,
        &p.beta_g2,
    );
    let mut out = 1u32.to_le_bytes().to_vec();
    out.extend(g1_bytes(&[p.tau_g1[1]]));
    out.extend(g2_bytes(&[p.tau_g2[1]]));
    out.extend(g1_bytes(&[p.alpha_tau_g1[0], p.beta_tau_g1[0]]));
    out.extend(g2_bytes(&[p.beta_g2]));
    for k in &key {
        out.extend(g1_bytes(&[k.g1_s, k.g1_sx]));
    }
    out.extend(g2_bytes(&key.iter().map(|k| k.g2_spx).collect::<Vec<_>>()));
    out.extend_from_slice(&partial);
    out.extend_from_slice(&next);
    out.extend_from_slice(&0u32.to_le_bytes());
    let params = super::put_params(Some(INSECURE_CONTRIBUTOR), None);
    out.extend_from_slice(&(params.len() as u32).to_le_bytes());
    out.extend(params);
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

    let p = Powers {
        tau_g1: g1(&tau_n),
        tau_g2: g2(&tau_n[..n]),
        alpha_tau_g1: g1(&scaled(alpha, &tau_n[..n])),
        beta_tau_g1: g1(&scaled(beta, &tau_n[..n])),
        beta_g2: g2(&[beta])[0],
    };
    let mut w = Writer::new(b"ptau", 1, 11);
    w.section(1, &header);
    w.section(2, &g1_bytes(&p.tau_g1));
    w.section(3, &g2_bytes(&p.tau_g2));
    w.section(4, &g1_bytes(&p.alpha_tau_g1));
    w.section(5, &g1_bytes(&p.beta_tau_g1));
    w.section(6, &g2_bytes(&[p.beta_g2]));
    w.section(7, &contribution(power, [tau, alpha, beta], &p, &mut rng));
    w.section(12, &g1_bytes(&g1(&l_g1)));
    w.section(13, &g2_bytes(&g2(&l)));
    w.section(14, &g1_bytes(&g1(&scaled(alpha, &l))));
    w.section(15, &g1_bytes(&g1(&scaled(beta, &l))));
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
