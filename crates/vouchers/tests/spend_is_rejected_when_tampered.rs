//! Soundness: every altered, replayed or malformed spend is rejected with a
//! typed error and records nothing (docs/vouchers.md §6–§8, adversarial B10, B13, B14).

mod common;

use common::*;
use veil_vouchers::*;

/// Offsets from `SpendRequest::to_bytes`'s layout.
const AMOUNT: usize = 9;
const NULLIFIER: usize = 17;
const A_PRIME: usize = 49;

fn fresh(seed: u64) -> (Issuer, Credential, SpendRequest, Vec<u8>) {
    let mut rng = rng(seed);
    let issuer = issuer(1, &mut rng);
    let cred = credential(&issuer, 1000, &mut rng);
    let (req, _) = cred
        .prepare_spend(Balance::from_kib(10), CTX, &mut rng)
        .expect("prepare");
    let bytes = req.to_bytes();
    (issuer, cred, req, bytes)
}

#[test]
fn honest_spend_is_accepted_once() {
    let (issuer, _, req, _) = fresh(1);
    let (verified, _) = issuer.verify_spend(&req, CTX).expect("first spend");
    assert_eq!(verified.amount, Balance::from_kib(10));
    assert_eq!(verified.epoch, Epoch::new(1));
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::AlreadySpent)
    ));
    assert_eq!(issuer.store().len(), 1);
}

#[test]
fn second_spend_of_one_credential_with_a_new_proof_is_rejected() {
    let mut rng = rng(2);
    let issuer = issuer(1, &mut rng);
    let cred = credential(&issuer, 1000, &mut rng);
    let (a, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("a");
    let (b, _) = cred
        .prepare_spend(Balance::from_kib(999), b"other", &mut rng)
        .expect("b");
    assert!(issuer.verify_spend(&a, CTX).is_ok());
    assert!(matches!(
        issuer.verify_spend(&b, b"other"),
        Err(SpendError::AlreadySpent)
    ));
}

#[test]
fn replay_to_another_node_id_is_rejected() {
    let (issuer, _, req, _) = fresh(3);
    // Same key, another node id: only the transcript binding differs.
    let other = Issuer::new(
        NodeId::new([8; 32]),
        secret_of(3),
        MemoryNullifierStore::new(),
    );
    assert_eq!(other.current_key(), issuer.current_key());
    assert!(matches!(
        other.verify_spend(&req, CTX),
        Err(SpendError::Verification(_))
    ));
    assert!(other.store().is_empty());
}

/// The issuer of `fresh(seed)` re-created from the same seed (keys are drawn
/// first from the seeded RNG).
fn secret_of(seed: u64) -> IssuerSecretKey {
    IssuerSecretKey::generate(Epoch::new(1), &mut rng(seed))
}

#[test]
fn replay_to_another_context_is_rejected() {
    let (issuer, _, req, _) = fresh(4);
    assert!(matches!(
        issuer.verify_spend(&req, b"another connection"),
        Err(SpendError::Verification(_))
    ));
    assert!(issuer.store().is_empty());
    // Control: the right context is accepted.
    assert!(issuer.verify_spend(&req, CTX).is_ok());
}

#[test]
fn altered_amount_is_rejected() {
    let (issuer, _, _, mut bytes) = fresh(5);
    for amount in [9u64, 11, 0, u64::MAX] {
        bytes[AMOUNT..AMOUNT + 8].copy_from_slice(&amount.to_le_bytes());
        let req = SpendRequest::from_bytes(&bytes).expect("still well-formed");
        assert_eq!(req.amount(), Balance::from_kib(amount));
        assert!(matches!(
            issuer.verify_spend(&req, CTX),
            Err(SpendError::Verification(_))
        ));
    }
    assert!(issuer.store().is_empty());
}

#[test]
fn altered_nullifier_is_rejected() {
    let (issuer, _, _, mut bytes) = fresh(6);
    bytes[NULLIFIER] ^= 1;
    let req = SpendRequest::from_bytes(&bytes).expect("still canonical");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::Verification(_))
    ));
}

#[test]
fn credential_under_a_wrong_key_is_rejected() {
    let mut rng = rng(7);
    let honest = issuer(1, &mut rng);
    let other = issuer(1, &mut rng); // same node id and epoch, other key
    let cred = credential(&other, 1000, &mut rng);
    let (req, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("prepare");
    assert!(matches!(
        honest.verify_spend(&req, CTX),
        Err(SpendError::Verification(_))
    ));
}

#[test]
fn unknown_epoch_is_rejected() {
    let (issuer, _, _, mut bytes) = fresh(8);
    bytes[1..9].copy_from_slice(&2u64.to_le_bytes());
    let req = SpendRequest::from_bytes(&bytes).expect("well-formed");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::UnknownEpoch(e)) if e == Epoch::new(2)
    ));
}

/// `ℓ` little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_ell(bytes: &mut [u8]) {
    let mut carry = 0u16;
    for (b, l) in bytes.iter_mut().zip(ELL) {
        let sum = u16::from(*b) + u16::from(l) + carry;
        *b = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
}

#[test]
fn non_canonical_nullifier_encoding_is_rejected() {
    // `k + ℓ` reduces to the same nullifier: accepting it would give one
    // credential two spendable serials.
    let (_, _, _, mut bytes) = fresh(9);
    add_ell(&mut bytes[NULLIFIER..NULLIFIER + 32]);
    assert!(matches!(
        SpendRequest::from_bytes(&bytes),
        Err(DecodeError::NonCanonicalScalar { field: "k", .. })
    ));
}

#[test]
fn non_canonical_proof_scalars_are_rejected() {
    let (_, _, _, bytes) = fresh(10);
    // challenge, a response, and a scalar inside the range proof (t_x).
    for offset in [177, 209 + 3 * 32, 465 + 4 * 32] {
        let mut b = bytes.clone();
        b[offset..offset + 32].copy_from_slice(&[0xff; 32]);
        assert!(SpendRequest::from_bytes(&b).is_err(), "offset {offset}");
        let mut b = bytes.clone();
        add_ell(&mut b[offset..offset + 32]);
        assert!(SpendRequest::from_bytes(&b).is_err(), "offset {offset} + ℓ");
    }
}

#[test]
fn non_canonical_and_identity_points_are_rejected() {
    let (_, _, _, bytes) = fresh(11);
    // p = 2^255 − 19 (field element not reduced), and 1 (a "negative" s).
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    for offset in [A_PRIME, 81, 113, 145] {
        for bad in [p, one] {
            let mut b = bytes.clone();
            b[offset..offset + 32].copy_from_slice(&bad);
            assert!(
                matches!(
                    SpendRequest::from_bytes(&b),
                    Err(DecodeError::NonCanonicalPoint { .. })
                ),
                "offset {offset}"
            );
        }
        let mut b = bytes.clone();
        b[offset..offset + 32].copy_from_slice(&[0; 32]);
        assert!(
            matches!(
                SpendRequest::from_bytes(&b),
                Err(DecodeError::IdentityPoint { .. })
            ),
            "offset {offset}"
        );
    }
    // A point inside the range proof (A of the proof, and L_0).
    for offset in [465, 465 + 7 * 32] {
        let mut b = bytes.clone();
        b[offset..offset + 32].copy_from_slice(&p);
        assert!(
            matches!(
                SpendRequest::from_bytes(&b),
                Err(DecodeError::RangeProof { .. })
            ),
            "offset {offset}"
        );
    }
}

#[test]
fn trailing_missing_and_versioned_bytes_are_rejected() {
    let (_, _, _, bytes) = fresh(12);
    assert_eq!(bytes.len(), SpendRequest::ENCODED_LEN);
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        SpendRequest::from_bytes(&long),
        Err(DecodeError::Length { .. })
    ));
    assert!(matches!(
        SpendRequest::from_bytes(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Length { .. })
    ));
    assert!(matches!(
        SpendRequest::from_bytes(&[]),
        Err(DecodeError::Length { .. })
    ));
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert!(matches!(
        SpendRequest::from_bytes(&v2),
        Err(DecodeError::Version { found: 2, .. })
    ));
}

#[test]
fn other_messages_reject_trailing_bytes_and_bad_fields() {
    let mut rng = rng(13);
    let issuer = issuer(1, &mut rng);
    let (req, _) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(5),
        CTX,
        &mut rng,
    );
    let resp = issuer.issue(&req, CTX).expect("issue");
    let cred = credential(&issuer, 5, &mut rng);
    type Decodes = fn(&[u8]) -> bool;
    let cases: [(Vec<u8>, Decodes); 4] = [
        (req.to_bytes(), |b| IssuanceRequest::from_bytes(b).is_ok()),
        (resp.to_bytes(), |b| IssuanceResponse::from_bytes(b).is_ok()),
        (cred.to_bytes().to_vec(), |b| {
            Credential::from_bytes(b).is_ok()
        }),
        (issuer.current_key().to_bytes(), |b| {
            IssuerPublicKey::from_bytes(b).is_ok()
        }),
    ];
    for (bytes, decodes) in cases {
        assert!(decodes(&bytes));
        let mut long = bytes.clone();
        long.push(0);
        assert!(!decodes(&long));
        assert!(!decodes(&bytes[..bytes.len() - 1]));
        let mut last = bytes.clone();
        let n = last.len();
        last[n - 32..].copy_from_slice(&[0xff; 32]); // last field: point or scalar
        assert!(!decodes(&last));
    }
    assert_eq!(
        Credential::from_bytes(&cred.to_bytes()).expect("round trip"),
        cred
    );
}

#[test]
fn issuance_request_with_altered_balance_is_rejected() {
    let mut rng = rng(14);
    let issuer = issuer(1, &mut rng);
    let (req, _) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(5),
        CTX,
        &mut rng,
    );
    let mut bytes = req.to_bytes();
    bytes[9..17].copy_from_slice(&500u64.to_le_bytes());
    let altered = IssuanceRequest::from_bytes(&bytes).expect("well-formed");
    assert_eq!(
        issuer.issue(&altered, CTX),
        Err(IssueError::Verification(VerificationError::Proof))
    );
    assert!(issuer.issue(&req, b"other context").is_err());
    assert!(issuer.issue(&req, CTX).is_ok());
}

#[test]
fn altered_issuance_and_spend_responses_are_rejected_by_the_client() {
    let mut rng = rng(15);
    let issuer = issuer(1, &mut rng);
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(5),
        CTX,
        &mut rng,
    );
    let mut bytes = issuer.issue(&req, CTX).expect("issue").to_bytes();
    bytes[41] ^= 1; // e
    let resp = IssuanceResponse::from_bytes(&bytes).expect("well-formed");
    assert!(matches!(
        awaiting.finish_issuance(&resp),
        Err(ClientError::Verification(_))
    ));

    let cred = credential(&issuer, 5, &mut rng);
    let (spend, pending) = cred
        .prepare_spend(Balance::from_kib(2), CTX, &mut rng)
        .expect("prepare");
    let (_, resp) = issuer.verify_spend(&spend, CTX).expect("verify");
    let mut bytes = resp.to_bytes();
    bytes[73] ^= 1; // challenge
    let resp = SpendResponse::from_bytes(&bytes).expect("well-formed");
    assert!(matches!(
        pending.finish_spend(&resp, issuer.current_key()),
        Err(ClientError::Verification(_))
    ));
}
