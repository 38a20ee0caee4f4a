//! arkworks' `msm_bigint` against `veil_msm::msm` on random full-width
//! scalars, G1 and G2 of BN254, 9,537 and 16,384 points (issue 12's
//! reference sizes). The real `access` witness: `veil-proofs`'s `msm`
//! bench. Results: `docs/benchmarks.md` "Batch-affine MSM (issue 12)".

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Projective, SWCurveConfig};
use ark_ec::{CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// `n` random bases (random multiples of the generator, normalised in one
/// batch) and scalars.
fn inputs<P: SWCurveConfig<ScalarField = Fr>>(
    n: usize,
) -> (
    Vec<ark_ec::short_weierstrass::Affine<P>>,
    Vec<veil_msm::BigInt<P>>,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let g = Projective::<P>::generator();
    let points: Vec<Projective<P>> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    let scalars = (0..n).map(|_| Fr::rand(&mut rng).into_bigint()).collect();
    (Projective::normalize_batch(&points), scalars)
}

fn group<P>(c: &mut Criterion, name: &str)
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>:
        VariableBaseMSM<MulBase = ark_ec::short_weierstrass::Affine<P>, ScalarField = Fr>,
{
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    for n in [9_537, 16_384] {
        let (bases, scalars) = inputs::<P>(n);
        g.bench_with_input(BenchmarkId::new("arkworks", n), &n, |b, _| {
            b.iter(|| Projective::<P>::msm_bigint(&bases, &scalars))
        });
        g.bench_with_input(BenchmarkId::new("veil", n), &n, |b, _| {
            b.iter(|| veil_msm::msm(&bases, &scalars))
        });
        if let Ok(cs) = std::env::var("VEIL_MSM_WINDOWS") {
            for w in cs.split(',').filter_map(|w| w.parse().ok()) {
                g.bench_with_input(BenchmarkId::new(format!("veil_c{w}"), n), &n, |b, _| {
                    b.iter(|| veil_msm::msm_with_window(&bases, &scalars, Some(w)))
                });
            }
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    group::<ark_bn254::g1::Config>(c, "msm_g1");
    group::<ark_bn254::g2::Config>(c, "msm_g2");
}

criterion_group!(msm, benches);
criterion_main!(msm);
