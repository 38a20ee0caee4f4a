//! Criterion benches: access prove/verify, settle_8 prove, batch verify of
//! 64 access tokens. Keys come from the parameter cache (generated on first
//! use). Results and targets: `docs/benchmarks.md`.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::access::AccessCircuit;
use veil_circuits::settle::SettleCircuit;
use veil_proofs::groth16::circuit_shape;
use veil_proofs::{AccessToken, CircuitId, ParamStore, Prover, SettleSize, Verifier, samples};

const CIRCUITS: [CircuitId; 2] = [CircuitId::Access, CircuitId::Settle(SettleSize::K8)];

fn setup() -> (Prover, Verifier) {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("parameter store");
    if let Some(w) = store.insecure_warning(&CIRCUITS) {
        eprintln!("{w}");
    }
    let prover = Prover::from_store(&store, &CIRCUITS, None).expect("proving keys");
    let verifier = Verifier::from_store(&store, &CIRCUITS, None).expect("verifying keys");
    for (name, shape) in [
        ("access", circuit_shape(AccessCircuit::dummy())),
        ("settle_8", circuit_shape(SettleCircuit::<8>::dummy())),
    ] {
        if let Ok(s) = shape {
            eprintln!(
                "{name}: {} constraints, {} public inputs",
                s.constraints, s.public_inputs
            );
        }
    }
    (prover, verifier)
}

fn benches(c: &mut Criterion) {
    let (prover, verifier) = setup();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (public, private) = samples::access(1, 100).expect("sample");
    let token = prover
        .prove_access(&public, &private, &mut rng)
        .expect("prove");

    let mut g = c.benchmark_group("access");
    g.sample_size(10);
    g.bench_function("prove", |b| {
        b.iter(|| {
            prover
                .prove_access(&public, &private, &mut rng)
                .expect("prove")
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| verifier.verify_access(&token).expect("verify"))
    });
    g.finish();

    let vk = verifier.key(CircuitId::Access).expect("key").vk().clone();
    let batch: Vec<AccessToken> = (0..64)
        .map(|_| AccessToken {
            public,
            proof: token.proof.rerandomize(&vk, &mut rng).expect("rerandomize"),
        })
        .collect();
    let mut g = c.benchmark_group("batch_verify_access");
    g.sample_size(10);
    g.bench_with_input(
        BenchmarkId::from_parameter(batch.len()),
        &batch,
        |b, batch| {
            b.iter(|| {
                verifier
                    .batch_verify_access(batch, &mut rng)
                    .expect("batch")
            })
        },
    );
    g.finish();

    let (settle_public, slots) = samples::settle(8, 1).expect("sample");
    let mut g = c.benchmark_group("settle_8");
    g.sample_size(10);
    g.bench_function("prove", |b| {
        b.iter(|| {
            prover
                .prove_settle::<8>(&settle_public, slots.clone(), &mut rng)
                .expect("prove")
        })
    });
    g.finish();
}

criterion_group!(proofs, benches);
criterion_main!(proofs);
