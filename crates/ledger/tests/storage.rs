//! D8 (corrupted or foreign database refused, never re-initialised),
//! durability across reopen, and the D7 turnstile property.

use std::sync::Arc;

use proptest::prelude::*;
use veil_ledger::audit::audit;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn engine_at(path: &std::path::Path) -> Result<Engine, LedgerError> {
    Engine::open(
        path,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
}

fn account_key(i: u8) -> SigningKey {
    SigningKey::from_seed([i; 32]).unwrap()
}

fn account(i: u8) -> AccountId {
    account_key(i).verifying_key().account_id()
}

fn populate(path: &std::path::Path) {
    let e = engine_at(path).unwrap();
    e.faucet(account(1), Value(1_000)).unwrap();
    for i in 0..50 {
        testing::deposit(
            &e,
            &account_key(1),
            Value(10),
            Address::from_fr(fr(100 + i)),
        )
        .unwrap();
    }
}

#[test]
fn acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    populate(&path);
    let e = engine_at(&path).unwrap();
    assert_eq!(e.status().unwrap().commitment_count, 50);
    assert_eq!(e.balance(&account(1)).unwrap(), Value(500));
    assert_eq!(
        e.account(&account(1)).unwrap().next_nonce,
        50,
        "nonces are durable"
    );
    assert!(audit(e.store()).unwrap().ok());
}

/// A ledger written under another schema (here version 3, whose escrows
/// held `addr_r` where version 4 holds `rk`) is refused on open, with the
/// version named, and is neither migrated nor reinitialised.
#[test]
fn an_older_schema_is_refused_and_not_rewritten() {
    use redb::{ReadableDatabase, ReadableTableMetadata};
    use veil_ledger::schema::{COMMITMENTS, META, META_SCHEMA_VERSION, SCHEMA_VERSION, encode_u32};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    populate(&path);
    let old = encode_u32(SCHEMA_VERSION - 1);
    {
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(META_SCHEMA_VERSION, old.as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    match engine_at(&path) {
        Err(LedgerError::Corrupted(m)) => {
            assert!(
                m.contains(&format!("schema version {}", SCHEMA_VERSION - 1)),
                "{m}"
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an older schema was opened"),
    }
    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    let meta = tx.open_table(META).unwrap();
    let version = meta.get(META_SCHEMA_VERSION).unwrap().unwrap();
    assert!(
        version.value() == old.as_slice(),
        "the version record is unchanged"
    );
    assert_eq!(
        tx.open_table(COMMITMENTS).unwrap().len().unwrap(),
        50,
        "no data lost"
    );
}

#[test]
fn d8_truncated_database_is_refused_not_reinitialised() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    populate(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    for cut in [0u64, 1, 512, len / 2] {
        let p = dir.path().join(format!("cut{cut}.redb"));
        std::fs::copy(&path, &p).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(cut)
            .unwrap();
        match engine_at(&p) {
            Err(LedgerError::Corrupted(msg)) => assert!(!msg.is_empty()),
            Err(other) => panic!("cut at {cut}: unexpected error {other}"),
            Ok(e) => {
                // redb may repair a torn tail: then every record must still be there.
                assert_eq!(
                    e.status().unwrap().commitment_count,
                    50,
                    "cut at {cut} silently lost data"
                );
            }
        }
        // Never re-initialised: the file is not replaced by an empty ledger.
        assert!(std::fs::metadata(&p).unwrap().len() <= len);
    }
}

#[test]
fn d8_garbage_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    assert!(matches!(
        engine_at(&garbage),
        Err(LedgerError::Corrupted(_))
    ));
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        vec![0x5a; 8192],
        "refused file left untouched"
    );

    // A valid redb database that is not a veil ledger (no schema record).
    let foreign = dir.path().join("foreign.redb");
    drop(redb::Database::create(&foreign).unwrap());
    let err = engine_at(&foreign).err().unwrap();
    assert!(
        matches!(err, LedgerError::Corrupted(ref m) if m.contains("schema")),
        "{err}"
    );
}

#[test]
fn d8_flipped_bytes_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    populate(&path);
    let bytes = std::fs::read(&path).unwrap();
    let mut refused = 0;
    for at in (0..bytes.len()).step_by(bytes.len() / 16) {
        let p = dir.path().join(format!("flip{at}.redb"));
        let mut b = bytes.clone();
        for x in b.iter_mut().skip(at).take(64) {
            *x ^= 0xff;
        }
        std::fs::write(&p, &b).unwrap();
        match engine_at(&p) {
            Err(_) => refused += 1,
            Ok(e) => {
                // Damage in unused pages is harmless; damage in live data must not pass the audit silently.
                if let Ok(r) = audit(e.store()) {
                    if !r.ok() {
                        refused += 1;
                    }
                } else {
                    refused += 1;
                }
            }
        }
    }
    assert!(refused > 0, "no corruption was detected at all");
}

#[derive(Clone, Debug)]
enum Step {
    Faucet(u8, u16),
    Deposit(u8, u16),
    Open(u8, bool),
    Settle(u8, u16),
    Reclaim(u8),
    Withdraw(u8, u16),
    Advance(u8),
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(a, v)| Step::Faucet(a % 3, v)),
        (any::<u8>(), any::<u16>()).prop_map(|(a, v)| Step::Deposit(a % 3, v)),
        (any::<u8>(), any::<bool>()).prop_map(|(n, big)| Step::Open(n % 24, big)),
        (any::<u8>(), any::<u16>()).prop_map(|(n, t)| Step::Settle(n % 24, t)),
        any::<u8>().prop_map(|n| Step::Reclaim(n % 24)),
        (any::<u8>(), any::<u16>()).prop_map(|(n, v)| Step::Withdraw(n % 24, v)),
        (0u8..40).prop_map(Step::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// D7: after every step of any sequence, the stored counters equal the
    /// ones recomputed from records, and minted = accounts + pool + escrowed + staked.
    /// Steps that would drive the pool negative are refused.
    #[test]
    fn d7_turnstile_holds_after_every_step(steps in proptest::collection::vec(arb_step(), 1..40)) {
        let e = Engine::in_memory(Arc::new(FakeVerifier::default()), LedgerConfig::with_dev_faucet()).unwrap();
        let key = SigningKey::from_seed([7; 32]).unwrap();
        let node = key.verifying_key().node_id();
        let acct_key = |i: u8| account_key(100 + i);
        let acct = |i: u8| acct_key(i).verifying_key().account_id();
        e.faucet(acct(9), Value(10)).unwrap();
        e.register_node(testing::registration(
            &e, &key, &acct_key(9), Value(1), vec![Value(100), Value(60_000)], Value(10), [0; 32],
        ).unwrap()).unwrap();
        let mut seq = 0u64;
        for s in steps {
            seq += 1;
            let root = *e.roots().unwrap().last().unwrap();
            let h = e.status().unwrap().height.0;
            let _ = match s {
                Step::Faucet(a, v) => e.faucet(acct(a), Value(u64::from(v))).map(|_| ()),
                Step::Deposit(a, v) => testing::deposit(&e, &acct_key(a), Value(u64::from(v)), Address::from_fr(fr(seq))).map(|_| ()),
                Step::Open(n, big) => e.open_escrow(AccessPublic {
                    root, nullifier: Nullifier::from_fr(fr(50_000 + u64::from(n))),
                    cm_change: NoteCommitment::from_fr(fr(seq)), escrow: Value(if big { 60_000 } else { 100 }),
                    node_id: node, session_key_hash: SessionKeyHash::from_fr(fr(1)),
                    refund_owner: OwnerKey::from_fr(fr(2)), expiry: BlockHeight(h + 5),
                }, &FakeVerifier::valid_proof()).map(|_| ()),
                Step::Settle(n, t) => {
                    let mut r = SettleRequest {
                        node_id: node, k: 1, session_ids: vec![SessionId::from_fr(fr(50_000 + u64::from(n)))],
                        total: Value(u64::from(t)), cm_refunds: vec![NoteCommitment::from_fr(fr(seq))],
                        proof: FakeVerifier::valid_proof(), authorisation: None,
                    };
                    testing::authorise_settle(&e, &key, &mut r).unwrap();
                    e.settle(r).map(|_| ())
                }
                Step::Reclaim(n) => e.reclaim(SessionId::from_fr(fr(50_000 + u64::from(n)))).map(|_| ()),
                Step::Withdraw(n, v) => e.withdraw(WithdrawPublic {
                    root, nullifier: Nullifier::from_fr(fr(90_000 + u64::from(n))),
                    cm_change: NoteCommitment::from_fr(fr(seq)), amount: Value(u64::from(v)), recipient: acct(n % 3),
                }, &FakeVerifier::valid_proof()).map(|_| ()),
                Step::Advance(b) => e.advance(u64::from(b)).map(|_| ()),
            };
            let r = audit(e.store()).unwrap();
            prop_assert!(r.ok(), "after {:?}: {:?}", s, r.violations);
        }
    }
}
