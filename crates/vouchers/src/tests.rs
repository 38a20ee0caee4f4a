//! Tests that need the crate's internals: dishonest provers, malformed
//! proofs built in-process, and the node's view against its own secrets.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::generators::RANGE_BITS;
use crate::spend::{Overspend, ProverOptions};
use crate::transcript::SPEND_LABEL;
use crate::*;

const NODE: NodeId = NodeId::new([3; 32]);
const CTX: &[u8] = b"connection-challenge";

fn setup(balance: u64, rng: &mut ChaCha20Rng) -> (Issuer, Credential, IssuanceResponse) {
    let issuer = Issuer::new(
        NODE,
        IssuerSecretKey::generate(Epoch::new(5), rng),
        MemoryNullifierStore::new(),
    );
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(balance),
        CTX,
        rng,
    );
    let resp = issuer.issue_with_rng(&req, CTX, rng).expect("issue");
    let cred = awaiting.finish_issuance(&resp).expect("finish");
    (issuer, cred, resp)
}

fn cheat(overspend: Overspend) -> ProverOptions {
    ProverOptions {
        label: SPEND_LABEL,
        range_bits: RANGE_BITS,
        overspend,
    }
}

#[test]
fn honest_prover_refuses_overspend() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (_, cred, _) = setup(100, &mut rng);
    let err = cred
        .prepare_spend(Balance::from_kib(101), CTX, &mut rng)
        .expect_err("overspend");
    assert_eq!(
        err,
        ClientError::InsufficientBalance {
            balance: Balance::from_kib(100),
            amount: Balance::from_kib(101)
        }
    );
    // The boundary is accepted.
    assert!(
        cred.prepare_spend(Balance::from_kib(100), CTX, &mut rng)
            .is_ok()
    );
}

#[test]
fn overspend_with_range_proof_of_wrapped_value_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (issuer, cred, _) = setup(100, &mut rng);
    let (req, _) = cred
        .prepare_spend_with(
            Balance::from_kib(101),
            CTX,
            &cheat(Overspend::RangeProofOfWrapped),
            &mut rng,
        )
        .expect("cheating prover builds a request");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::Verification(VerificationError::RangeProof))
    ));
    assert!(issuer.store().is_empty(), "nothing recorded on rejection");
}

#[test]
fn overspend_with_commitment_to_wrapped_value_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (issuer, cred, _) = setup(100, &mut rng);
    let (req, _) = cred
        .prepare_spend_with(
            Balance::from_kib(101),
            CTX,
            &cheat(Overspend::CommitWrapped),
            &mut rng,
        )
        .expect("cheating prover builds a request");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::Verification(VerificationError::Proof))
    ));
    assert!(issuer.store().is_empty());
}

#[test]
fn proof_under_another_transcript_label_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (issuer, cred, _) = setup(100, &mut rng);
    let opts = ProverOptions {
        label: b"veil.voucher.spend.v0",
        ..cheat(Overspend::Refuse)
    };
    let (req, _) = cred
        .prepare_spend_with(Balance::from_kib(1), CTX, &opts, &mut rng)
        .expect("build");
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::Verification(_))
    ));
    // Control: the same prover with the right label is accepted.
    let (req, _) = cred
        .prepare_spend_with(Balance::from_kib(1), CTX, &ProverOptions::HONEST, &mut rng)
        .expect("build");
    assert!(issuer.verify_spend(&req, CTX).is_ok());
}

#[test]
fn range_proof_of_32_bits_presented_as_64_is_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (issuer, cred, _) = setup(100, &mut rng);
    let opts = ProverOptions {
        range_bits: 32,
        ..cheat(Overspend::Refuse)
    };
    let (short, _) = cred
        .prepare_spend_with(Balance::from_kib(1), CTX, &opts, &mut rng)
        .expect("build");
    assert!(matches!(
        issuer.verify_spend(&short, CTX),
        Err(SpendError::Verification(VerificationError::RangeProof))
    ));
    // On the wire, a 32-bit proof cannot even take the 64-bit proof's place.
    let (honest, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("build");
    let mut bytes = honest.to_bytes();
    bytes.truncate(SpendRequest::ENCODED_LEN - crate::spend::RANGE_PROOF_LEN);
    bytes.extend_from_slice(&short.range_proof.to_bytes());
    assert!(matches!(
        SpendRequest::from_bytes(&bytes),
        Err(DecodeError::Length { .. })
    ));
}

#[test]
fn identity_a_prime_is_rejected_by_the_verifier() {
    use curve25519_dalek::ristretto::RistrettoPoint;
    use curve25519_dalek::traits::Identity;
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (issuer, cred, _) = setup(100, &mut rng);
    let (mut req, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("build");
    req.public.a_prime = RistrettoPoint::identity();
    assert!(matches!(
        issuer.verify_spend(&req, CTX),
        Err(SpendError::Verification(VerificationError::IdentityPoint {
            field: "A'"
        }))
    ));
}

/// The node knows `x` and the `e` it chose at issuance. With a single
/// randomizer, `D − x·A'` would equal `e·A'` and link the spend to the
/// issuance; with two (§6) it does not.
#[test]
fn node_cannot_link_spend_to_issuance_through_e() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (issuer, cred, resp) = setup(100, &mut rng);
    let x = *issuer_secret(&issuer);
    let e = resp.0.e;
    let (req, _) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("build");
    let p = &req.public;
    // The node's keyed check holds on the presentation ...
    assert!(issuer.verify_spend(&req, CTX).is_ok());
    // ... but the issuance's `e` does not show through.
    assert_ne!(p.d, (x + e) * p.a_prime);
    assert_ne!(p.a_prime, cred.a);
}

fn issuer_secret(issuer: &Issuer) -> &curve25519_dalek::scalar::Scalar {
    issuer.current_secret().x()
}

#[test]
fn issuer_cannot_use_a_key_other_than_the_published_one() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let published = IssuerSecretKey::generate(Epoch::new(5), &mut rng);
    // A "tagging" key for this one user, same epoch.
    let tagging = Issuer::new(
        NODE,
        IssuerSecretKey::generate(Epoch::new(5), &mut rng),
        MemoryNullifierStore::new(),
    );
    let (req, awaiting) = Credential::request_issuance(
        published.public_key(),
        NODE,
        Balance::from_kib(10),
        CTX,
        &mut rng,
    );
    // The tagging issuer must answer a request bound to the published key id:
    // its own check of the request fails first ...
    assert!(tagging.issue(&req, CTX).is_err());
    // ... and if it signs anyway, the client rejects the response.
    let g = crate::generators::generators();
    let c = g.g_0 + Balance::from_kib(10).to_scalar() * g.h_c + req_commitment(&req);
    let mut t = crate::transcript::new_transcript(
        crate::transcript::ISSUE_LABEL,
        &NODE,
        &published.public_key().key_id(),
        Epoch::new(5),
        CTX,
    );
    let forged = IssuanceResponse(crate::credential::BlindMac::sign(
        tagging.current_secret(),
        &c,
        &mut t,
        &mut rng,
    ));
    assert_eq!(
        awaiting.finish_issuance(&forged),
        Err(ClientError::Verification(VerificationError::Proof))
    );
}

fn req_commitment(req: &IssuanceRequest) -> curve25519_dalek::ristretto::RistrettoPoint {
    let bytes = req.to_bytes();
    let mut k = [0u8; 32];
    k.copy_from_slice(&bytes[17..49]);
    crate::encoding::decompress(&k).expect("valid K")
}

/// Every secret scalar's bytes, as they sit in memory (little-endian) —
/// the helper also searches the reverse order.
fn scalar_bytes(scalars: &[&curve25519_dalek::scalar::Scalar]) -> Vec<[u8; 32]> {
    scalars.iter().map(|s| s.to_bytes()).collect()
}

fn assert_redacted(shown: &str, secrets: &[[u8; 32]]) {
    let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_slice()).collect();
    veil_primitives::secret::testing::assert_debug_redacted(shown, &secrets);
}

#[test]
fn debug_of_every_secret_type_is_redacted() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let (issuer, cred, _) = setup(100, &mut rng);
    let x = scalar_bytes(&[issuer_secret(&issuer)]);
    assert_redacted(&format!("{issuer:?}"), &x);
    assert_redacted(&format!("{:?}", issuer.current_secret()), &x);
    let cred_secrets = scalar_bytes(&[&cred.nullifier.0, &cred.blinding, &cred.e]);
    let mut with_a = cred_secrets.clone();
    with_a.push(cred.a.compress().to_bytes());
    assert_redacted(&format!("{cred:?}"), &with_a);

    let (_, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(5),
        CTX,
        &mut rng,
    );
    let secrets = scalar_bytes(&[&awaiting.nullifier_scalar(), awaiting.blinding_scalar()]);
    assert_redacted(&format!("{awaiting:?}"), &secrets);

    let (_, pending) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("spend");
    let secrets = scalar_bytes(&[&pending.nullifier_scalar(), pending.blinding_scalar()]);
    assert_redacted(&format!("{pending:?}"), &secrets);
}

#[test]
fn zeroize_wipes_every_secret_type() {
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::Identity;
    use zeroize::Zeroize;
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let (issuer, mut cred, _) = setup(100, &mut rng);
    // What drop runs (ZeroizeOnDrop), observed before the memory is freed.
    let mut sk = issuer.current_secret().clone();
    let public = *sk.public_key();
    sk.zeroize();
    assert_eq!(*sk.x(), Scalar::ZERO);
    assert_eq!(*sk.public_key(), public, "the public key is not secret");

    cred.zeroize();
    assert_eq!([cred.nullifier.0, cred.blinding, cred.e], [Scalar::ZERO; 3]);
    assert_eq!(
        cred.a,
        curve25519_dalek::ristretto::RistrettoPoint::identity()
    );
    assert_eq!(cred.balance, Balance::from_kib(100));

    let (_, mut awaiting) = Credential::request_issuance(
        issuer.current_key(),
        NODE,
        Balance::from_kib(5),
        CTX,
        &mut rng,
    );
    awaiting.zeroize();
    assert_eq!(
        [awaiting.nullifier_scalar(), *awaiting.blinding_scalar()],
        [Scalar::ZERO; 2]
    );
    let (_, cred, _) = setup(10, &mut rng);
    let (_, mut pending) = cred
        .prepare_spend(Balance::from_kib(1), CTX, &mut rng)
        .expect("spend");
    pending.zeroize();
    assert_eq!(
        [pending.nullifier_scalar(), *pending.blinding_scalar()],
        [Scalar::ZERO; 2]
    );
}
