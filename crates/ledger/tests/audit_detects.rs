//! The audit (docs/ledger.md "Audit") finds each kind of damage: a store
//! altered behind the engine's back by one record is reported, naming the
//! invariant it breaks; the untouched store passes.

use std::path::Path;
use std::sync::Arc;

use redb::ReadableTable;
use veil_ledger::audit::{AuditReport, audit};
use veil_ledger::records::NullifierUse;
use veil_ledger::schema::{ACCOUNTS, COMMITMENTS, DEPOSITS, NULLIFIERS};
use veil_ledger::store::Store;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

fn key() -> SigningKey {
    SigningKey::from_seed([7; 32]).unwrap()
}

/// A ledger with four deposits of 10 from one account funded with 100.
fn populate(path: &Path) {
    let e = Engine::open(
        path,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .unwrap();
    e.faucet(key().verifying_key().account_id(), Value(100))
        .unwrap();
    for i in 0..4u64 {
        testing::deposit(&e, &key(), Value(10), Address::from_fr(Fr::from(50 + i))).unwrap();
    }
}

/// Populates a fresh ledger, applies `tamper` to its database directly,
/// and audits the result.
fn audit_after(tamper: impl FnOnce(&redb::WriteTransaction)) -> AuditReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    populate(&path);
    {
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tamper(&tx);
        tx.commit().unwrap();
    }
    audit(&Store::open(&path).unwrap()).unwrap()
}

fn assert_found(rep: &AuditReport, needle: &str) {
    assert!(
        rep.violations.iter().any(|v| v.contains(needle)),
        "expected a violation containing {needle:?}, got {:?}",
        rep.violations
    );
}

#[test]
fn an_untouched_ledger_passes() {
    let rep = audit_after(|_| {});
    assert!(rep.ok(), "{:?}", rep.violations);
    assert_eq!(
        (rep.commitments, rep.minted, rep.pool, rep.accounts),
        (4, 100, 40, 60)
    );
}

#[test]
fn a_minted_balance_breaks_the_turnstile() {
    let rep = audit_after(|tx| {
        let mut t = tx.open_table(ACCOUNTS).unwrap();
        let id = key().verifying_key().account_id().to_bytes();
        let bal = t.get(id).unwrap().unwrap().value();
        t.insert(id, bal + 1).unwrap();
    });
    assert_found(&rep, "turnstile violated");
    assert_eq!(rep.accounts, 61);
}

#[test]
fn a_replaced_leaf_breaks_the_root_and_its_deposit() {
    let rep = audit_after(|tx| {
        let mut t = tx.open_table(COMMITMENTS).unwrap();
        let other = t.get(2u64).unwrap().unwrap().value();
        t.insert(1u64, other).unwrap();
    });
    assert_found(&rep, "root recomputed from the leaves differs");
    assert_found(&rep, "deposit leaf 1 does not hold its commitment");
}

#[test]
fn a_missing_leaf_breaks_contiguity_and_the_frontier_count() {
    let rep = audit_after(|tx| {
        tx.open_table(COMMITMENTS).unwrap().remove(1u64).unwrap();
    });
    assert_found(&rep, "not contiguous");
    assert_found(&rep, "frontier counts 4 leaves, table holds 3");
}

#[test]
fn a_forgotten_deposit_breaks_the_pool() {
    let rep = audit_after(|tx| {
        let mut t = tx.open_table(DEPOSITS).unwrap();
        let first = t.first().unwrap().unwrap().0.value();
        t.remove(first).unwrap();
    });
    assert_found(&rep, "pool: stored 40 recomputed 30");
    assert_found(&rep, "turnstile violated");
}

#[test]
fn a_nullifier_without_its_escrow_is_reported() {
    let rep = audit_after(|tx| {
        let use_escrow = NullifierUse::Escrow.encode();
        let mut t = tx.open_table(NULLIFIERS).unwrap();
        t.insert([9u8; 32], use_escrow.as_slice()).unwrap();
    });
    assert_found(&rep, "spent without an escrow");
}
