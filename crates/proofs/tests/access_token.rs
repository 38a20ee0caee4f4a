//! Access tokens end to end: prove, encode, decode, verify, and every
//! rejection of adversarial.md B1–B8 and A11 at the proof level.

mod common;

use std::sync::OnceLock;

use ark_ff::{BigInteger, PrimeField};
use common::*;
use proptest::prelude::*;
use veil_primitives::Fr;
use veil_primitives::ids::{BlockHeight, NodeId, SessionKeyHash};
use veil_primitives::keys::OwnerKey;
use veil_primitives::merkle::MerkleRoot;
use veil_primitives::note::{NoteCommitment, Nullifier};
use veil_primitives::value::Value;
use veil_proofs::token::VERSION;
use veil_proofs::{AccessToken, CircuitId, Proof, ProofError, VerifyError};

/// Eight honest tokens (distinct statements), proven once per process.
fn tokens() -> &'static [AccessToken] {
    static T: OnceLock<Vec<AccessToken>> = OnceLock::new();
    T.get_or_init(|| {
        (1..=8u64)
            .map(|i| {
                let (public, private) = access_case(i, 100 + i);
                prover()
                    .prove_access(&public, &private, &mut rng(i))
                    .expect("honest proof")
            })
            .collect()
    })
}

fn token() -> &'static AccessToken {
    &tokens()[0]
}

#[test]
fn honest_token_verifies_and_roundtrips() {
    let t = token();
    assert_eq!(verifier().verify_access(t), Ok(()));
    let bytes = t.to_bytes();
    assert_eq!(bytes.len(), AccessToken::BYTES);
    assert_eq!(AccessToken::BYTES, 337);
    assert_eq!(bytes[0], VERSION);
    let back = AccessToken::from_bytes(&bytes).expect("decodes");
    assert_eq!(&back, t);
    assert_eq!(verifier().verify_access(&back), Ok(()));
}

#[test]
fn layout_offsets_are_as_documented() {
    let t = token();
    let b = t.to_bytes();
    let p = &t.public;
    assert_eq!(&b[1..33], &p.root.to_bytes());
    assert_eq!(&b[33..65], &p.nullifier.to_bytes());
    assert_eq!(&b[65..97], &p.cm_change.to_bytes());
    assert_eq!(&b[97..105], &p.escrow.0.to_be_bytes());
    assert_eq!(&b[105..137], &p.node_id.to_bytes());
    assert_eq!(&b[137..169], &p.session_key_hash.to_bytes());
    assert_eq!(&b[169..201], &p.refund_owner.to_bytes());
    assert_eq!(&b[201..209], &p.expiry.0.to_be_bytes());
    assert_eq!(&b[209..337], &t.proof.to_bytes());
}

/// `x + r` as 32 big-endian bytes (fits for small `x`).
fn plus_modulus(x: &[u8]) -> [u8; 32] {
    let r = Fr::MODULUS.to_bytes_be();
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let s = u16::from(r[i]) + u16::from(x[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

#[test]
fn b1_non_canonical_field_elements_are_rejected() {
    let bytes = token().to_bytes();
    // Every 32-byte field of the layout, with its decoder's name.
    let fields = [
        (1, "root"),
        (33, "nullifier"),
        (65, "cm_change"),
        (105, "node_id"),
        (137, "session_key_hash"),
        (169, "refund_owner"),
    ];
    for (offset, name) in fields {
        let original = &bytes[offset..offset + 32];
        let aliased = plus_modulus(original);
        // Only meaningful when x + r still fits in 32 bytes (x < 2^256 − r).
        if aliased < *<&[u8; 32]>::try_from(original).unwrap() {
            continue;
        }
        let mut bad = bytes.clone();
        bad[offset..offset + 32].copy_from_slice(&aliased);
        match AccessToken::from_bytes(&bad) {
            Err(ProofError::PublicInput { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: x + r accepted: {other:?}"),
        }
        let mut ff = bytes.clone();
        ff[offset..offset + 32].copy_from_slice(&[0xff; 32]);
        assert!(matches!(
            AccessToken::from_bytes(&ff),
            Err(ProofError::PublicInput { .. })
        ));
    }
    // A small nullifier n and its alias n + r are never the same token.
    let mut small = bytes.clone();
    small[33..65].copy_from_slice(&[0u8; 32]);
    small[64] = 5;
    let decoded = AccessToken::from_bytes(&small).expect("5 is canonical");
    assert_eq!(decoded.public.nullifier, Nullifier::from_fr(Fr::from(5u64)));
    let mut alias = small.clone();
    alias[33..65].copy_from_slice(&plus_modulus(&small[33..65]));
    assert!(AccessToken::from_bytes(&alias).is_err());
}

#[test]
fn b3_wrong_length_and_version_are_rejected() {
    let bytes = token().to_bytes();
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        AccessToken::from_bytes(&long),
        Err(ProofError::Length {
            expected: 337,
            actual: 338
        })
    );
    assert_eq!(
        AccessToken::from_bytes(&bytes[..336]),
        Err(ProofError::Length {
            expected: 337,
            actual: 336
        })
    );
    assert!(AccessToken::from_bytes(&[]).is_err());
    for v in [0u8, 2, 0xff] {
        let mut bad = bytes.clone();
        bad[0] = v;
        assert_eq!(AccessToken::from_bytes(&bad), Err(ProofError::Version(v)));
    }
}

#[test]
fn b4_b5_invalid_proof_points_in_a_token_are_rejected() {
    let bytes = token().to_bytes();
    // A = point at infinity (arkworks compressed: flag bit set, x = 0).
    let mut inf = bytes.clone();
    let mut a_inf = Vec::new();
    ark_serialize::CanonicalSerialize::serialize_compressed(
        &<ark_bn254::G1Affine as ark_ec::AffineRepr>::zero(),
        &mut a_inf,
    )
    .unwrap();
    inf[209..241].copy_from_slice(&a_inf);
    assert_eq!(
        AccessToken::from_bytes(&inf),
        Err(ProofError::PointAtInfinity("A"))
    );
    // Garbage in B.
    let mut garbage = bytes.clone();
    garbage[241..305].copy_from_slice(&[0x42; 64]);
    assert!(matches!(
        AccessToken::from_bytes(&garbage),
        Err(ProofError::InvalidPoint { point: "B", .. })
    ));
}

#[test]
fn a11_changing_any_public_input_fails_verification() {
    let t = token();
    let one = Fr::from(1u64);
    let p = t.public;
    let mutations = [
        ("root", {
            let mut q = p;
            q.root = MerkleRoot::from_fr(p.root.inner() + one);
            q
        }),
        ("nf", {
            let mut q = p;
            q.nullifier = Nullifier::from_fr(p.nullifier.inner() + one);
            q
        }),
        ("cm_change", {
            let mut q = p;
            q.cm_change = NoteCommitment::from_fr(p.cm_change.inner() + one);
            q
        }),
        ("E", {
            let mut q = p;
            q.escrow = Value(p.escrow.0 + 1);
            q
        }),
        ("node_id", {
            let mut q = p;
            q.node_id = NodeId::from_fr(p.node_id.inner() + one);
            q
        }),
        ("h_S", {
            let mut q = p;
            q.session_key_hash = SessionKeyHash::from_fr(p.session_key_hash.inner() + one);
            q
        }),
        ("addr_r", {
            let mut q = p;
            q.refund_owner = OwnerKey::from_fr(p.refund_owner.inner() + one);
            q
        }),
        ("expiry", {
            let mut q = p;
            q.expiry = BlockHeight(p.expiry.0 + 1);
            q
        }),
    ];
    for (name, public) in mutations {
        let forged = AccessToken {
            public,
            proof: t.proof.clone(),
        };
        assert_eq!(
            verifier().verify_access(&forged),
            Err(VerifyError::InvalidProof),
            "{name}"
        );
        // And through the wire encoding (B9-style relayer rewrite).
        let decoded = AccessToken::from_bytes(&forged.to_bytes()).expect("well formed");
        assert_eq!(
            verifier().verify_access(&decoded),
            Err(VerifyError::InvalidProof),
            "{name}"
        );
    }
}

#[test]
fn b2_rerandomised_token_verifies_but_has_the_same_identity() {
    let t = token();
    let vk = verifier().key(CircuitId::Access).unwrap().vk();
    let proof = t
        .proof
        .rerandomize(vk, &mut rng(99))
        .expect("non-degenerate");
    let copy = AccessToken {
        public: t.public,
        proof,
    };
    assert_ne!(copy.to_bytes(), t.to_bytes(), "different proof bytes");
    assert_eq!(
        verifier().verify_access(&copy),
        Ok(()),
        "still a valid proof"
    );
    // Identity is the nullifier: a ledger keyed on it sees a double spend.
    assert_eq!(copy.session_id(), t.session_id());
    let mut seen = std::collections::HashSet::new();
    assert!(seen.insert(t.session_id()));
    assert!(
        !seen.insert(copy.session_id()),
        "the copy is the same session"
    );
}

#[test]
fn b7_well_formed_proof_of_another_statement_is_rejected() {
    let (a, b) = (&tokens()[0], &tokens()[1]);
    let swapped = AccessToken {
        public: a.public,
        proof: b.proof.clone(),
    };
    let decoded = AccessToken::from_bytes(&swapped.to_bytes()).expect("well formed");
    let verdict = verifier().verify_access(&decoded);
    assert_eq!(verdict, Err(VerifyError::InvalidProof));
    assert!(
        verdict.is_err(),
        "an `.is_ok()` caller must see a rejection"
    );
}

#[test]
fn b6_b8_access_statement_under_another_key_is_rejected() {
    let t = token();
    let statement = t.public.to_field_elements();
    // The withdraw key expects 5 public inputs: a malformed statement, no panic.
    let withdraw = verifier().key(CircuitId::Withdraw).unwrap();
    assert_eq!(
        withdraw.verify(&statement, &t.proof),
        Err(VerifyError::PublicInputCount {
            expected: 5,
            actual: 9
        })
    );
    // Same count, wrong key: the first five inputs under the withdraw key.
    assert_eq!(
        withdraw.verify(&statement[..5], &t.proof),
        Err(VerifyError::InvalidProof)
    );
    let access = verifier().key(CircuitId::Access).unwrap();
    assert_eq!(
        access.verify(&statement[..8], &t.proof),
        Err(VerifyError::PublicInputCount {
            expected: 9,
            actual: 8
        })
    );
    let mut long = statement.clone();
    long.push(Fr::from(0u64));
    assert_eq!(
        access.verify(&long, &t.proof),
        Err(VerifyError::PublicInputCount {
            expected: 9,
            actual: 10
        })
    );
}

#[test]
fn unsatisfied_access_witness_gives_no_token() {
    let (mut public, private) = access_case(3, 10);
    public.escrow = Value(11); // cm_change no longer matches v − E
    assert!(matches!(
        prover().prove_access(&public, &private, &mut rng(5)),
        Err(ProofError::Unsatisfied(_))
    ));
}

/// 8 honest tokens, each re-randomised 8 times: 64 distinct valid proofs.
fn batch64() -> Vec<AccessToken> {
    let vk = verifier().key(CircuitId::Access).unwrap().vk().clone();
    let mut r = rng(64);
    tokens()
        .iter()
        .flat_map(|t| {
            (0..8)
                .map(|_| AccessToken {
                    public: t.public,
                    proof: t.proof.rerandomize(&vk, &mut r).unwrap(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn batch_verification_of_64_tokens() {
    let good = batch64();
    assert_eq!(good.len(), 64);
    assert_eq!(verifier().batch_verify_access(&good, &mut rng(1)), Ok(()));
    for bad_index in [0usize, 31, 63] {
        let mut batch = good.clone();
        batch[bad_index].public.expiry = BlockHeight(batch[bad_index].public.expiry.0 + 1);
        assert_eq!(
            verifier().batch_verify_access(&batch, &mut rng(2)),
            Err(VerifyError::InvalidBatch(64)),
            "bad token at {bad_index}"
        );
        // Individual verification agrees and finds exactly the culprit.
        let bad: Vec<usize> = batch
            .iter()
            .enumerate()
            .filter(|(_, t)| verifier().verify_access(t).is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![bad_index]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random bytes of the right length and version never panic and, if
    /// they decode, re-encode to themselves (one encoding per token).
    #[test]
    fn decode_is_canonical(mut bytes in proptest::collection::vec(any::<u8>(), 337)) {
        bytes[0] = VERSION;
        if let Ok(t) = AccessToken::from_bytes(&bytes) {
            prop_assert_eq!(t.to_bytes(), bytes);
        }
    }

    /// Any public statement with a valid proof point set roundtrips exactly.
    #[test]
    fn roundtrip_of_arbitrary_statements(
        e in any::<u64>(), expiry in any::<u64>(), seeds in proptest::array::uniform6(any::<u64>())
    ) {
        let f = |i: usize| Fr::from(seeds[i]) * Fr::from(0x9e37_79b9_7f4a_7c15u64);
        let mut t = token().clone();
        t.public.root = MerkleRoot::from_fr(f(0));
        t.public.nullifier = Nullifier::from_fr(f(1));
        t.public.cm_change = NoteCommitment::from_fr(f(2));
        t.public.escrow = Value(e);
        t.public.node_id = NodeId::from_fr(f(3));
        t.public.session_key_hash = SessionKeyHash::from_fr(f(4));
        t.public.refund_owner = OwnerKey::from_fr(f(5));
        t.public.expiry = BlockHeight(expiry);
        let back = AccessToken::from_bytes(&t.to_bytes());
        prop_assert_eq!(back, Ok(t));
    }
}

#[test]
fn proof_bytes_alone_decode_and_are_128() {
    let p = Proof::from_bytes(&token().proof.to_bytes()).unwrap();
    assert_eq!(p.to_bytes().len(), Proof::BYTES);
}
