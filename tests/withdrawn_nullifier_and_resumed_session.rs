//! Review findings R-2 and R-8 (`docs/security.md`), adversarial C4/C5/F6.
//!
//! a token whose nullifier was already spent by a *withdrawal* is
//! refused by the node's cheap checks (the ledger's nullifier set,
//! `LedgerApi::nullifier_spent`), without pairing work, like a token whose
//! nullifier opened an escrow (`crates/node/tests/grpc.rs::invalid_tokens_c4_c5`).
//!
//! when the ledger opened a token's escrow but the node stopped before
//! installing the session, the client's retry of the same token resumes
//! the session instead of being refused as "already used".
//!
//! Uses the node's own test harness (in-memory ledger with the fake proof
//! rule, node on 127.0.0.1).

#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use common::World;
use tonic::Code;
use veil_ledger::LedgerApi;
use veil_ledger::types::{AccountId, NoteCommitment, Value, WithdrawPublic};
use veil_ledger::verifier::FakeVerifier;
use veil_primitives::field::fr_from_u64;

const REPLAYS: u64 = 8;

/// A world with one session token whose nullifier a withdrawal has spent.
async fn withdrawn_token() -> (World, common::Session) {
    let w = World::new().await;
    let s = w.session().await;
    let withdrawal = WithdrawPublic {
        root: s.statement.root,
        nullifier: s.statement.nullifier,
        cm_change: NoteCommitment::from_fr(fr_from_u64(4242)),
        amount: Value(1),
        recipient: AccountId::from_fr(fr_from_u64(99)),
    };
    w.ledger
        .withdraw(withdrawal, FakeVerifier::valid_proof())
        .await
        .expect("the withdrawal spends the nullifier");
    (w, s)
}

#[tokio::test]
async fn token_with_a_withdrawn_nullifier_costs_no_pairing() {
    let (w, s) = withdrawn_token().await;
    for _ in 0..REPLAYS {
        let err = w
            .open(&s)
            .await
            .expect_err("a spent nullifier never opens a session");
        assert_eq!(err.code(), Code::AlreadyExists, "{err}");
    }
    assert_eq!(
        w.node.status().proof_verifications,
        0,
        "a spent nullifier must be refused before any pairing (C5)"
    );
}

#[tokio::test]
async fn an_unspent_token_still_pays_one_pairing_and_opens() {
    // The control for the test above: the cheap check is not refusing everything.
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.expect("a fresh token opens");
    assert_eq!(w.node.status().proof_verifications, 1);
}

#[tokio::test]
async fn an_escrow_opened_but_not_installed_is_resumed_by_the_retry() {
    let w = World::new().await;
    let s = w.session().await;
    // The node forwarded the token to the ledger and stopped before
    // installing the session: the escrow exists, the node has no record.
    w.ledger
        .open_escrow(s.statement.clone(), FakeVerifier::valid_proof())
        .await
        .expect("the ledger opens the escrow");
    let r = w
        .open(&s)
        .await
        .expect("the retry resumes the session (R-8)");
    assert_eq!(r.session_id, s.id().to_bytes().to_vec());
    assert_eq!(
        w.node.status().proof_verifications,
        0,
        "the ledger verified it already"
    );
    // Once installed, the same token with the same session key gets the
    // same answer (F6: the client may have lost the reply), with no work
    // and no second session.
    let again = w.open(&s).await.expect("an idempotent retry");
    assert_eq!(again, r);
    assert_eq!(w.node.status().proof_verifications, 0);
    assert_eq!(w.node.status().sessions_open, 1);
}

#[tokio::test]
async fn an_escrow_for_another_session_key_is_not_resumed() {
    let w = World::new().await;
    let s = w.session().await;
    // The escrow on the ledger was opened with a different h_S (another
    // token for the same nullifier cannot exist, but a node must not trust
    // that): the node's token must match the escrow in every field.
    let mut other = s.statement.clone();
    other.session_key_hash = veil_ledger::types::SessionKeyHash::from_fr(fr_from_u64(777));
    w.ledger
        .open_escrow(other, FakeVerifier::valid_proof())
        .await
        .expect("the ledger opens the escrow");
    let err = w
        .open(&s)
        .await
        .expect_err("a different statement is not resumed");
    assert_eq!(err.code(), Code::AlreadyExists);
}
