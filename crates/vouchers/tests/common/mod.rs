//! Shared setup for the integration tests (included with `mod common;`).
#![allow(dead_code)]

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_vouchers::*;

pub const NODE: NodeId = NodeId::new([9; 32]);
pub const CTX: &[u8] = b"ctx";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn issuer(epoch: u64, rng: &mut ChaCha20Rng) -> Issuer {
    Issuer::new(
        NODE,
        IssuerSecretKey::generate(Epoch::new(epoch), rng),
        MemoryNullifierStore::new(),
    )
}

pub fn credential(issuer: &Issuer, balance: u64, rng: &mut ChaCha20Rng) -> Credential {
    let (req, awaiting) = Credential::request_issuance(
        issuer.current_key(),
        *issuer.node_id(),
        Balance::from_kib(balance),
        CTX,
        rng,
    );
    let req = IssuanceRequest::from_bytes(&req.to_bytes()).expect("request round trip");
    let resp = issuer.issue_with_rng(&req, CTX, rng).expect("issue");
    let resp = IssuanceResponse::from_bytes(&resp.to_bytes()).expect("response round trip");
    awaiting.finish_issuance(&resp).expect("finish issuance")
}

/// Encodes, decodes and verifies a spend; returns the next credential.
pub fn spend(
    issuer: &Issuer,
    cred: &Credential,
    amount: u64,
    rng: &mut ChaCha20Rng,
) -> (Vec<u8>, Credential) {
    let (req, pending) = cred
        .prepare_spend(Balance::from_kib(amount), CTX, rng)
        .expect("prepare");
    let bytes = req.to_bytes();
    let req = SpendRequest::from_bytes(&bytes).expect("decode");
    let (verified, resp) = issuer
        .verify_spend_with_rng(&req, CTX, rng)
        .expect("verify");
    assert_eq!(verified.amount, Balance::from_kib(amount));
    let resp = SpendResponse::from_bytes(&resp.to_bytes()).expect("response round trip");
    let next = pending
        .finish_spend(&resp, issuer.current_key())
        .expect("finish spend");
    (bytes, next)
}
