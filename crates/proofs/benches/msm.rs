//! arkworks' `msm_bigint` against `veil_msm::msm`, `veil_msm::msm_glv` and
//! the fixed-base tables (`FixedBases`) on the real `access` witness: the
//! four MSMs over the wire assignment (A and B in G1, B in G2, L), with the
//! development proving key's bases, and H's bases with random full-width
//! scalars (the quotient's coefficients are full width). Results:
//! `docs/benchmarks.md` "Batch-affine MSM (issue 12)" and "GLV and
//! fixed-base tables".

use ark_bn254::Fr;
use ark_ec::VariableBaseMSM;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ff::{BigInteger256, PrimeField, UniformRand};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use veil_circuits::access::AccessCircuit;
use veil_proofs::groth16::full_assignment;
use veil_proofs::{CircuitId, ParamStore, Prover, samples};

fn pair<P>(c: &mut Criterion, name: &str, bases: &[Affine<P>], scalars: &[BigInteger256])
where
    P: GLVConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let want = Projective::<P>::msm_bigint(bases, scalars);
    assert_eq!(veil_msm::msm(bases, scalars), want);
    assert_eq!(veil_msm::msm_glv(bases, scalars), want);
    let w = veil_msm::FixedBases::<P>::window_for(bases.len());
    let table = veil_msm::FixedBases::new(bases, w).expect("BN254 has GLV");
    assert_eq!(table.msm(scalars), want);
    let mut g = c.benchmark_group(format!("access_{name}"));
    g.sample_size(10);
    g.bench_function("arkworks", |b| {
        b.iter(|| Projective::<P>::msm_bigint(bases, scalars))
    });
    g.bench_function("veil", |b| b.iter(|| veil_msm::msm(bases, scalars)));
    g.bench_function("veil_glv", |b| b.iter(|| veil_msm::msm_glv(bases, scalars)));
    g.bench_function("fixed", |b| b.iter(|| table.msm(scalars)));
    g.finish();
}

fn benches(c: &mut Criterion) {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("parameter store");
    let prover = Prover::from_store(&store, &[CircuitId::Access], None).expect("proving key");
    let pk = prover.proving_key(CircuitId::Access).expect("access key");
    let (public, private) = samples::access(1, 100).expect("sample");
    let statement = public.to_field_elements();
    let z = full_assignment(AccessCircuit::new(&public, &private), &statement).expect("witness");
    let assignment: Vec<BigInteger256> = z[1..].iter().map(|x| x.into_bigint()).collect();
    let aux = &assignment[statement.len()..];
    pair(c, "a_g1", &pk.a_query[1..], &assignment);
    pair(c, "b_g1", &pk.b_g1_query[1..], &assignment);
    pair(c, "b_g2", &pk.b_g2_query[1..], &assignment);
    pair(c, "l_g1", &pk.l_query, aux);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
    let h: Vec<BigInteger256> = (0..pk.h_query.len())
        .map(|_| Fr::rand(&mut rng).into_bigint())
        .collect();
    pair(c, "h_g1", &pk.h_query, &h);
}

criterion_group!(msm, benches);
criterion_main!(msm);
