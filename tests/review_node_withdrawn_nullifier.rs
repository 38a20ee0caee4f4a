//! Review finding R-2 (`docs/security.md`), adversarial C4/C5: a token whose
//! nullifier was already spent by a *withdrawal* must be refused by the
//! node's cheap checks, without pairing work, like a token whose nullifier
//! opened an escrow (`crates/node/tests/grpc.rs::invalid_tokens_c4_c5`).
//!
//! Today the node's "nullifier unseen" check is `get_escrow(nf)`
//! (`crates/node/src/service.rs`), which does not see withdrawals: every
//! replay costs one Groth16 verification, and the ledger's `NullifierSpent`
//! is not counted toward the peer's ban. The first test asserts the expected
//! behaviour and is ignored until R-2 is fixed; the second pins the current
//! behaviour so the finding stays visible (the fix deletes it and removes the
//! `#[ignore]` of the first).
//!
//! Uses the node's own test harness (in-memory ledger with the fake proof
//! rule, node on 127.0.0.1).

#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use common::World;
use tonic::Code;
use veil_ledger::LedgerApi;
use veil_ledger::types::{AccountId, NoteCommitment, Value, WithdrawStatement};
use veil_ledger::verifier::FakeVerifier;
use veil_primitives::field::fr_from_u64;

const REPLAYS: u64 = 8;

/// A world with one session token whose nullifier a withdrawal has spent.
async fn withdrawn_token() -> (World, common::Session) {
    let w = World::new().await;
    let s = w.session().await;
    let withdrawal = WithdrawStatement {
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
#[ignore = "R-2 open: the node pays a pairing for a nullifier spent by a withdrawal; un-ignore with the fix"]
async fn token_with_a_withdrawn_nullifier_costs_no_pairing() {
    let (w, s) = withdrawn_token().await;
    for _ in 0..REPLAYS {
        assert!(
            w.open(&s).await.is_err(),
            "a spent nullifier never opens a session"
        );
    }
    assert_eq!(
        w.node.status().proof_verifications,
        0,
        "a spent nullifier must be refused before any pairing (C5)"
    );
}

#[tokio::test]
async fn r2_current_behaviour_every_replay_is_verified_and_never_banned() {
    let (w, s) = withdrawn_token().await;
    for _ in 0..REPLAYS {
        let err = w.open(&s).await.expect_err("refused by the ledger");
        assert_ne!(err.code(), Code::PermissionDenied, "the peer is not banned");
        assert_ne!(err.code(), Code::Ok);
    }
    // One verification per replay, beyond the node's ban threshold (5).
    assert_eq!(w.node.status().proof_verifications, REPLAYS);
}
