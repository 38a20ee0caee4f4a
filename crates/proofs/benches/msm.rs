//! arkworks' `msm_bigint` against `veil_msm::msm` on the real `access`
//! witness: the four MSMs over the wire assignment (A and B in G1, B in
//! G2, L), with the development proving key's bases. H's scalars are the
//! quotient's coefficients, all full width: `veil-msm`'s random bench
//! covers it. Results: `docs/benchmarks.md` "Batch-affine MSM (issue 12)".

use ark_bn254::Fr;
use ark_ec::VariableBaseMSM;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ff::{BigInteger256, PrimeField};
use criterion::{Criterion, criterion_group, criterion_main};
use veil_circuits::access::AccessCircuit;
use veil_proofs::groth16::full_assignment;
use veil_proofs::{CircuitId, ParamStore, Prover, samples};

fn pair<P>(c: &mut Criterion, name: &str, bases: &[Affine<P>], scalars: &[BigInteger256])
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    assert_eq!(
        veil_msm::msm(bases, scalars),
        Projective::<P>::msm_bigint(bases, scalars)
    );
    let mut g = c.benchmark_group(format!("access_{name}"));
    g.sample_size(10);
    g.bench_function("arkworks", |b| {
        b.iter(|| Projective::<P>::msm_bigint(bases, scalars))
    });
    g.bench_function("veil", |b| b.iter(|| veil_msm::msm(bases, scalars)));
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
}

criterion_group!(msm, benches);
criterion_main!(msm);
