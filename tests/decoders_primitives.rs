//! Decoder robustness for `veil-primitives` (adversarial G5, B11, B12;
//! `docs/protocol.md` §2.1, §2.4, §2.6, §6): field elements, BabyJubJub
//! points and scalars, EdDSA signatures and keys, signed receipts, and the
//! ledger's stored Merkle frontier and root history.
//!
//! Property for every decoder: it never panics, and it either rejects or
//! returns a value whose canonical encoding is exactly the input. Inputs are
//! random bytes and mutations of a valid encoding (bit flips, byte
//! overwrites, truncation, extension, a 32-byte word set to all ones).

#[path = "support/mutation.rs"]
mod mutation;
#[path = "support/seeds.rs"]
mod seeds;

use mutation::{mutation, rejects_or_round_trips};

use proptest::prelude::*;
use veil_primitives::{
    Fr,
    babyjubjub::{Point, Scalar},
    eddsa::{Signature, SigningKey, VerifyingKey},
    field::{fr_from_bytes, fr_from_slice, fr_to_bytes},
    merkle::{Frontier, RootHistory},
    note::NoteCommitment,
    receipt::{Receipt, SignedReceipt},
};

// Slice-taking adapters over the fixed-size decoders.
fn dec_fr(b: &[u8]) -> Result<Fr, veil_primitives::EncodingError> {
    fr_from_slice(b)
}
fn enc_fr(x: &Fr) -> Vec<u8> {
    fr_to_bytes(x).to_vec()
}
fn dec_point(b: &[u8]) -> Result<Point, veil_primitives::EncodingError> {
    Point::from_slice(b)
}
fn enc_point(p: &Point) -> Vec<u8> {
    p.to_bytes().to_vec()
}
fn dec_scalar(b: &[u8]) -> Result<Scalar, String> {
    let arr: &[u8; 32] = b.try_into().map_err(|_| "length".to_string())?;
    Scalar::from_bytes(arr).map_err(|e| e.to_string())
}
fn enc_scalar(s: &Scalar) -> Vec<u8> {
    s.to_bytes().to_vec()
}
fn dec_sig(b: &[u8]) -> Result<Signature, veil_primitives::EncodingError> {
    Signature::from_slice(b)
}
fn enc_sig(s: &Signature) -> Vec<u8> {
    s.to_bytes().to_vec()
}
fn dec_vk(b: &[u8]) -> Result<VerifyingKey, String> {
    let arr: &[u8; 64] = b.try_into().map_err(|_| "length".to_string())?;
    VerifyingKey::from_bytes(arr).map_err(|e| e.to_string())
}
fn enc_vk(k: &VerifyingKey) -> Vec<u8> {
    k.to_bytes().to_vec()
}
fn enc_receipt(r: &SignedReceipt) -> Vec<u8> {
    r.to_bytes().to_vec()
}

fn signing_key() -> SigningKey {
    SigningKey::from_seed([7; 32]).expect("fixed seed gives a non-zero key")
}

fn receipt_bytes(kib: u64) -> Vec<u8> {
    let sid = Fr::from(0x5e55_1011u64);
    enc_receipt(
        &Receipt {
            session_id: sid,
            kib,
        }
        .sign(&signing_key()),
    )
}

fn frontier_bytes(leaves: u64) -> Vec<u8> {
    let mut f = Frontier::new();
    for i in 0..leaves {
        f.append(NoteCommitment::from_fr(Fr::from(i + 1)))
            .expect("tree not full");
    }
    f.to_bytes()
}

fn history_bytes(roots: u64) -> Vec<u8> {
    let mut h = RootHistory::new();
    for i in 0..roots {
        h.push(veil_primitives::merkle::MerkleRoot::from_fr(Fr::from(
            i + 9,
        )));
    }
    h.to_bytes()
}

#[test]
fn seeds_round_trip() {
    let key = signing_key();
    let vk = enc_vk(&key.verifying_key());
    assert_eq!(enc_vk(&dec_vk(&vk).expect("valid key")), vk);
    let sig = enc_sig(&key.sign(&Fr::from(3u64)));
    assert_eq!(enc_sig(&dec_sig(&sig).expect("valid signature")), sig);
    let r = receipt_bytes(42);
    assert_eq!(
        enc_receipt(&SignedReceipt::from_bytes(&r).expect("valid receipt")),
        r
    );
    for n in [0, 1, 5, 64] {
        let f = frontier_bytes(n);
        assert_eq!(
            Frontier::from_bytes(&f).expect("valid frontier").to_bytes(),
            f
        );
    }
    let h = history_bytes(7);
    assert_eq!(
        RootHistory::from_bytes(&h)
            .expect("valid history")
            .to_bytes(),
        h
    );
}

#[test]
fn low_order_and_identity_points_are_rejected() {
    // B11/B13: the identity (0, 1), the order-2 point (0, −1), and the
    // identity with a "sign" bit set in x (not a valid coordinate at all).
    let one = fr_to_bytes(&Fr::from(1u64));
    let minus_one = fr_to_bytes(&-Fr::from(1u64));
    let mut id = [0u8; 64];
    id[32..].copy_from_slice(&one);
    let mut two = [0u8; 64];
    two[32..].copy_from_slice(&minus_one);
    let mut signed_id = id;
    signed_id[0] = 0x80;
    for p in [id, two, signed_id] {
        assert!(Point::from_bytes(&p).is_err());
        assert!(VerifyingKey::from_bytes(&p).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        rejects_or_round_trips(&bytes, dec_fr, enc_fr)?;
        rejects_or_round_trips(&bytes, dec_point, enc_point)?;
        rejects_or_round_trips(&bytes, dec_scalar, enc_scalar)?;
        rejects_or_round_trips(&bytes, dec_sig, enc_sig)?;
        rejects_or_round_trips(&bytes, dec_vk, enc_vk)?;
        rejects_or_round_trips(&bytes, SignedReceipt::from_bytes, enc_receipt)?;
        rejects_or_round_trips(&bytes, RootHistory::from_bytes, RootHistory::to_bytes)?;
        rejects_or_round_trips(&bytes, Frontier::from_bytes, Frontier::to_bytes)?;
    }

    #[test]
    fn random_fixed_length_inputs_never_panic(
        a in prop::array::uniform32(any::<u8>()),
        b in prop::array::uniform32(any::<u8>()),
        c in prop::array::uniform32(any::<u8>()),
        head in prop::collection::vec(any::<u8>(), 41),
    ) {
        // Field elements: accepted exactly when < r, and then canonical.
        let accepted = rejects_or_round_trips(&a, dec_fr, enc_fr)?;
        prop_assert_eq!(accepted, fr_from_bytes(&a).is_ok());
        let point: Vec<u8> = a.iter().chain(&b).copied().collect();
        rejects_or_round_trips(&point, dec_point, enc_point)?;
        rejects_or_round_trips(&point, dec_vk, enc_vk)?;
        rejects_or_round_trips(&c, dec_scalar, enc_scalar)?;
        let sig: Vec<u8> = point.iter().chain(&c).copied().collect();
        rejects_or_round_trips(&sig, dec_sig, enc_sig)?;
        let receipt: Vec<u8> = head.iter().chain(&sig).copied().collect();
        rejects_or_round_trips(&receipt, SignedReceipt::from_bytes, enc_receipt)?;
    }

    #[test]
    fn mutated_receipt(m in mutation(), kib in any::<u64>()) {
        let input = m.apply(&receipt_bytes(kib));
        let accepted = rejects_or_round_trips(&input, SignedReceipt::from_bytes, enc_receipt)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }

    #[test]
    fn mutated_signature_and_key(m in mutation()) {
        let key = signing_key();
        let sig = m.apply(&enc_sig(&key.sign(&Fr::from(11u64))));
        let accepted = rejects_or_round_trips(&sig, dec_sig, enc_sig)?;
        prop_assert!(!(accepted && m.changes_length()));
        let vk = m.apply(&enc_vk(&key.verifying_key()));
        let accepted = rejects_or_round_trips(&vk, dec_vk, enc_vk)?;
        prop_assert!(!(accepted && m.changes_length()));
        let pt = m.apply(&enc_point(&key.verifying_key().point()));
        let accepted = rejects_or_round_trips(&pt, dec_point, enc_point)?;
        prop_assert!(!(accepted && m.changes_length()));
    }

    #[test]
    fn mutated_frontier(m in mutation(), leaves in 0u64..40) {
        let input = m.apply(&frontier_bytes(leaves));
        let accepted = rejects_or_round_trips(&input, Frontier::from_bytes, Frontier::to_bytes)?;
        prop_assert!(!(accepted && m.changes_length()), "length change accepted: {:?}", m);
    }

    #[test]
    fn mutated_root_history(m in mutation(), roots in 1u64..20) {
        let input = m.apply(&history_bytes(roots));
        rejects_or_round_trips(&input, RootHistory::from_bytes, RootHistory::to_bytes)?;
    }
}

/// The committed fuzz seed corpus is current (support/seeds.rs).
#[test]
fn fuzz_seed_corpus_is_current() {
    let key = signing_key();
    seeds::seed_corpus(
        "primitives_decode",
        &[
            ("field", enc_fr(&Fr::from(77u64))),
            ("scalar", enc_scalar(&key.sign(&Fr::from(1u64)).s)),
            ("key", enc_vk(&key.verifying_key())),
            ("signature", enc_sig(&key.sign(&Fr::from(2u64)))),
            ("receipt", receipt_bytes(4096)),
            ("frontier0", frontier_bytes(0)),
            ("frontier5", frontier_bytes(5)),
            ("history", history_bytes(7)),
        ],
    );
}
