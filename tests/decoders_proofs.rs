//! Decoder robustness for the proof-carrying messages of `veil-proofs`
//! (adversarial G5, B3, B11; `docs/protocol.md` §2.1, §7.2, §7.6).
//!
//! Property for every decoder: on any input it never panics, and it either
//! rejects or returns a value whose canonical encoding is exactly the input
//! (one encoding per value: nothing is reduced, padded or ignored). Inputs
//! are random bytes and mutations (bit flips, byte overwrites, truncation,
//! extension, all-ones field words) of a valid encoding: the frozen access
//! token `crates/proofs/tests/vectors/access_token_v1.hex`, and withdraw and
//! settle messages assembled from its parts. Decoding does not verify the
//! proof, so re-using the token's proof points is enough.

#[path = "support/mutation.rs"]
mod mutation;
#[path = "support/seeds.rs"]
mod seeds;

use mutation::{mutation, rejects_or_round_trips};

use proptest::prelude::*;
use veil_proofs::{AccessToken, Proof, SettleProof, WithdrawProof};

const FROZEN_ACCESS_TOKEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/proofs/tests/vectors/access_token_v1.hex"
));

fn access_bytes() -> Vec<u8> {
    hex::decode(FROZEN_ACCESS_TOKEN.trim()).expect("frozen vector is hex")
}

fn proof_bytes() -> Vec<u8> {
    access_bytes()[AccessToken::BYTES - Proof::BYTES..].to_vec()
}

/// `1 ‖ root ‖ nf ‖ cm_change ‖ amount ‖ recipient ‖ proof` (§7.6), from the token.
fn withdraw_bytes() -> Vec<u8> {
    let t = access_bytes();
    let mut out = t[..105].to_vec(); // version, root, nf, cm_change, E as amount
    out.extend_from_slice(&t[105..137]); // node_id as the recipient account
    out.extend_from_slice(&proof_bytes());
    out
}

/// `1 ‖ K ‖ node_id ‖ T ‖ price ‖ esc × K ‖ cm_refund × K ‖ proof` (§7.6),
/// from the token.
fn settle_bytes(k: u8) -> Vec<u8> {
    let t = access_bytes();
    let mut out = vec![1, k];
    out.extend_from_slice(&t[105..137]); // node_id
    out.extend_from_slice(&t[97..105]); // E as T
    out.extend_from_slice(&t[201..209]); // expiry as the price
    for _ in 0..2 * usize::from(k) {
        out.extend_from_slice(&t[1..33]); // root as a commitment: any canonical element
    }
    out.extend_from_slice(&proof_bytes());
    out
}

fn dec_proof(b: &[u8]) -> Result<Proof, veil_proofs::ProofError> {
    Proof::from_bytes(b)
}
fn enc_proof(p: &Proof) -> Vec<u8> {
    p.to_bytes().to_vec()
}

#[test]
fn seeds_are_valid_encodings() {
    assert_eq!(access_bytes().len(), AccessToken::BYTES);
    for (name, bytes, ok) in [
        ("proof", proof_bytes(), dec_proof(&proof_bytes()).is_ok()),
        (
            "access",
            access_bytes(),
            AccessToken::from_bytes(&access_bytes()).is_ok(),
        ),
        (
            "withdraw",
            withdraw_bytes(),
            WithdrawProof::from_bytes(&withdraw_bytes()).is_ok(),
        ),
        (
            "settle_8",
            settle_bytes(8),
            SettleProof::from_bytes(&settle_bytes(8)).is_ok(),
        ),
    ] {
        assert!(ok, "{name} seed ({} bytes) must decode", bytes.len());
    }
    // Round trips of the seeds themselves.
    assert_eq!(
        AccessToken::from_bytes(&access_bytes())
            .expect("seed")
            .to_bytes(),
        access_bytes()
    );
    assert_eq!(
        WithdrawProof::from_bytes(&withdraw_bytes())
            .expect("seed")
            .to_bytes(),
        withdraw_bytes()
    );
    for k in [1u8, 8, 64] {
        let b = settle_bytes(k);
        assert_eq!(SettleProof::from_bytes(&b).expect("seed").to_bytes(), b);
    }
}

#[test]
fn settle_batch_size_byte_outside_1_8_64_is_rejected() {
    for k in (0u8..=255).filter(|k| ![1, 8, 64].contains(k)) {
        assert!(
            SettleProof::from_bytes(&settle_bytes(k)).is_err(),
            "K = {k} accepted"
        );
    }
}

#[test]
fn every_unknown_version_is_rejected() {
    for v in (0u8..=255).filter(|v| *v != 1) {
        let mut a = access_bytes();
        a[0] = v;
        assert!(AccessToken::from_bytes(&a).is_err(), "access version {v}");
        let mut w = withdraw_bytes();
        w[0] = v;
        assert!(
            WithdrawProof::from_bytes(&w).is_err(),
            "withdraw version {v}"
        );
        let mut s = settle_bytes(8);
        s[0] = v;
        assert!(SettleProof::from_bytes(&s).is_err(), "settle version {v}");
    }
}

#[test]
fn field_element_plus_r_is_rejected_not_reduced() {
    // B1: nf + r still fits in 32 bytes; the decoder must refuse it.
    use ark_ff::{BigInteger, PrimeField};
    let a = access_bytes();
    let nf = ark_ff::BigInt::<4>::new({
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            let s = 33 + 32 - 8 * (i + 1);
            *l = u64::from_be_bytes(a[s..s + 8].try_into().expect("8 bytes"));
        }
        limbs
    });
    let mut big = nf;
    let carry = big.add_with_carry(&veil_primitives::Fr::MODULUS);
    assert!(!carry, "nf + r fits in 256 bits for this vector");
    let mut t = a.clone();
    t[33..65].copy_from_slice(&big.to_bytes_be());
    assert!(AccessToken::from_bytes(&t).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        rejects_or_round_trips(&bytes, dec_proof, enc_proof)?;
        rejects_or_round_trips(&bytes, AccessToken::from_bytes, AccessToken::to_bytes)?;
        rejects_or_round_trips(&bytes, WithdrawProof::from_bytes, WithdrawProof::to_bytes)?;
        rejects_or_round_trips(&bytes, SettleProof::from_bytes, SettleProof::to_bytes)?;
    }

    #[test]
    fn random_bytes_of_the_exact_length_never_panic(
        proof in prop::array::uniform32(any::<u8>()),
        rest in prop::collection::vec(any::<u8>(), AccessToken::BYTES),
    ) {
        let mut p = proof.to_vec();
        p.extend_from_slice(&rest[..Proof::BYTES - 32]);
        rejects_or_round_trips(&p, dec_proof, enc_proof)?;
        rejects_or_round_trips(&rest, AccessToken::from_bytes, AccessToken::to_bytes)?;
        rejects_or_round_trips(&rest[..WithdrawProof::BYTES], WithdrawProof::from_bytes, WithdrawProof::to_bytes)?;
        let settle_1 = SettleProof::bytes_for(veil_proofs::SettleSize::new(1).expect("K = 1"));
        rejects_or_round_trips(&rest[..settle_1], SettleProof::from_bytes, SettleProof::to_bytes)?;
    }

    #[test]
    fn mutated_proof(m in mutation()) {
        let input = m.apply(&proof_bytes());
        let accepted = rejects_or_round_trips(&input, dec_proof, enc_proof)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }

    #[test]
    fn mutated_access_token(m in mutation()) {
        let input = m.apply(&access_bytes());
        let accepted = rejects_or_round_trips(&input, AccessToken::from_bytes, AccessToken::to_bytes)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }

    #[test]
    fn mutated_withdraw_proof(m in mutation()) {
        let input = m.apply(&withdraw_bytes());
        let accepted = rejects_or_round_trips(&input, WithdrawProof::from_bytes, WithdrawProof::to_bytes)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }

    #[test]
    fn mutated_settle_proof(m in mutation(), k in prop::sample::select(vec![1u8, 8, 64])) {
        let input = m.apply(&settle_bytes(k));
        let accepted = rejects_or_round_trips(&input, SettleProof::from_bytes, SettleProof::to_bytes)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }
}

/// The committed fuzz seed corpus is current (support/seeds.rs).
#[test]
fn fuzz_seed_corpus_is_current() {
    seeds::seed_corpus(
        "proofs_decode",
        &[
            ("proof", proof_bytes()),
            ("access", access_bytes()),
            ("withdraw", withdraw_bytes()),
            ("settle1", settle_bytes(1)),
            ("settle8", settle_bytes(8)),
            ("settle64", settle_bytes(64)),
        ],
    );
}
