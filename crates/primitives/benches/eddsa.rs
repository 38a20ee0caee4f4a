//! EdDSA-Poseidon on BabyJubJub (`docs/protocol.md` §2.6): one signature,
//! one verification, and the pieces they are made of.
//!
//! `cargo bench -p veil-primitives --bench eddsa`

use std::hint::black_box;

use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{BigInteger, Field, PrimeField};
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::{Digest, Sha512};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsProjective, Point, ScalarField},
    eddsa::{RawSignature, Signature, SigningKey, Verifier, challenge, verify_raw},
    poseidon,
    receipt::{Receipt, SignedReceipt},
};

fn eddsa(c: &mut Criterion) {
    let key = SigningKey::from_seed([7u8; 32]).expect("non-degenerate key");
    let vk = key.verifying_key();
    let m = Fr::from(123_456_789u64);
    let sig = key.sign(&m);
    let sig_bytes = sig.to_bytes();
    let receipt = Receipt {
        session_id: Fr::from(99u64),
        kib: 4096,
    }
    .sign(&key);
    let receipt_bytes = receipt.to_bytes();

    let mut g = c.benchmark_group("eddsa");
    g.bench_function("sign", |b| b.iter(|| key.sign(black_box(&m))));
    g.bench_function("verify", |b| {
        b.iter(|| vk.verify(black_box(&m), black_box(&sig)))
    });
    g.bench_function("verify_raw", |b| {
        let raw = RawSignature::from(sig);
        let a = vk.point().to_affine();
        b.iter(|| verify_raw(black_box(&a), black_box(&m), black_box(&raw)))
    });
    g.bench_function("signature_from_bytes", |b| {
        b.iter(|| Signature::from_bytes(black_box(&sig_bytes)))
    });
    // What a node does per receipt: decode, then verify (§9.3).
    g.bench_function("receipt_decode_verify", |b| {
        b.iter(|| {
            SignedReceipt::from_bytes(black_box(&receipt_bytes))
                .expect("valid")
                .verify(&vk)
        })
    });
    // The same without the decoder's subgroup check of R (exact equation).
    g.bench_function("receipt_decode_verify_fast", |b| {
        b.iter(|| SignedReceipt::decode_verify(black_box(&receipt_bytes), &vk))
    });
    // A node's per-session key: table built once, then per receipt.
    let prepared = vk.prepare();
    g.bench_function("prepare_key", |b| b.iter(|| black_box(&vk).prepare()));
    g.bench_function("verify_prepared", |b| {
        b.iter(|| prepared.verify_signature(black_box(&m), black_box(&sig)))
    });
    g.bench_function("receipt_decode_verify_prepared", |b| {
        b.iter(|| SignedReceipt::decode_verify(black_box(&receipt_bytes), &prepared))
    });
    g.bench_function("receipt_sign", |b| {
        b.iter(|| {
            Receipt {
                session_id: Fr::from(99u64),
                kib: black_box(4096),
            }
            .sign(&key)
        })
    });
    g.finish();

    // The pieces.
    let mut p = c.benchmark_group("eddsa_parts");
    let s = ScalarField::from(0xdead_beef_u64).pow([9u64]);
    p.bench_function("ark_mul_generator", |b| {
        b.iter(|| EdwardsProjective::generator().mul_bigint(black_box(s).into_bigint()))
    });
    p.bench_function("point_mul_generator_checked", |b| {
        let sc = veil_primitives::babyjubjub::Scalar::new(s);
        b.iter(|| Point::mul_generator(black_box(&sc)))
    });
    p.bench_function("subgroup_check", |b| {
        let pt = vk.point().to_affine();
        b.iter(|| Point::new(black_box(pt)))
    });
    p.bench_function("into_affine", |b| {
        let pt = EdwardsProjective::generator().mul_bigint(s.into_bigint());
        b.iter(|| black_box(pt).into_affine())
    });
    p.bench_function("poseidon_challenge", |b| {
        let r = sig.r.to_affine();
        let a = vk.point().to_affine();
        b.iter(|| challenge(black_box(&r), black_box(&a), black_box(&m)))
    });
    p.bench_function("sha512_nonce", |b| {
        b.iter(|| {
            let mut h = Sha512::new();
            h.update([2u8]);
            h.update(black_box([1u8; 64]));
            h.update(black_box([2u8; 32]));
            let out: [u8; 64] = h.finalize().into();
            ScalarField::from_be_bytes_mod_order(&out)
        })
    });
    p.bench_function("fr_mul", |b| {
        let x = Fr::from(3u64).pow([1000u64]);
        b.iter(|| black_box(x) * black_box(x))
    });
    let _ = s.into_bigint().to_bytes_be();
    p.finish();
}

/// The permutation at the widths of the receipt message (t = 4) and the
/// EdDSA challenge (t = 7): sparse partial rounds against the dense reference.
fn poseidon(c: &mut Criterion) {
    let mut g = c.benchmark_group("poseidon");
    for t in [4usize, 7] {
        let state: Vec<Fr> = (1..=t as u64).map(|i| Fr::from(i).pow([7u64])).collect();
        g.bench_function(format!("t{t}_fast"), |b| {
            b.iter(|| {
                let mut s = black_box(state.clone());
                poseidon::permute(&mut s);
                s
            })
        });
        g.bench_function(format!("t{t}_reference"), |b| {
            b.iter(|| {
                let mut s = black_box(state.clone());
                poseidon::permute_reference(&mut s);
                s
            })
        });
    }
    g.finish();
}

criterion_group!(benches, eddsa, poseidon);
criterion_main!(benches);
