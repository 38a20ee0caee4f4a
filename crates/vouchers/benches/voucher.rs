//! Spend creation, node verification + re-issuance, and sizes
//! (docs/vouchers.md §11).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use veil_vouchers::*;

const NODE: NodeId = NodeId::new([1; 32]);
const CTX: &[u8] = b"bench-connection";

fn setup() -> (Issuer, Credential) {
    let mut rng = rand::thread_rng();
    let issuer = Issuer::new(
        NODE,
        IssuerSecretKey::generate(Epoch::new(1), &mut rng),
        MemoryNullifierStore::new(),
    );
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(1 << 40),
        CTX,
        &mut rng,
    );
    let resp = issuer.issue(&req, CTX).expect("issue");
    let cred = awaiting.finish_issuance(&resp).expect("finish");
    (issuer, cred)
}

fn vouchers(c: &mut Criterion) {
    let (issuer, cred) = setup();
    let mut rng = rand::thread_rng();
    let (sample, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("spend");
    println!(
        "sizes: spend request {} B, spend response {} B, issuance request {} B, \
         issuance response {} B, credential {} B",
        sample.to_bytes().len(),
        SpendResponse::ENCODED_LEN,
        IssuanceRequest::ENCODED_LEN,
        IssuanceResponse::ENCODED_LEN,
        Credential::ENCODED_LEN,
    );

    let mut group = c.benchmark_group("voucher");
    group.sample_size(20);
    group.bench_function("spend_create", |b| {
        b.iter(|| {
            cred.prepare_spend(Balance::from_kib(1), CTX, &mut rng)
                .expect("spend")
        })
    });
    // Each verification needs an unspent nullifier: a fresh spend per
    // iteration, built outside the timing.
    group.bench_function("verify_and_reissue", |b| {
        b.iter_batched(
            || {
                let (issuer, cred) = setup();
                let (req, _) = cred
                    .prepare_spend(Balance::from_kib(1), CTX, &mut rand::thread_rng())
                    .expect("spend");
                (issuer, req)
            },
            |(issuer, req)| issuer.verify_spend(&req, CTX).expect("verify"),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("decode_spend", |b| {
        let bytes = sample.to_bytes();
        b.iter(|| SpendRequest::from_bytes(&bytes).expect("decode"))
    });
    group.bench_function("issue", |b| {
        let (req, _) = Credential::request_issuance(
            issuer.current_key(),
            NODE,
            Balance::from_kib(10),
            CTX,
            &mut rand::thread_rng(),
        );
        b.iter(|| issuer.issue(&req, CTX).expect("issue"))
    });
    group.finish();

    let summary = bench_summary(20);
    println!("bench_summary(20): {summary:?}");
}

criterion_group!(benches, vouchers);
criterion_main!(benches);
