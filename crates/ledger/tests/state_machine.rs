//! Adversarial rows D1–D12, C5, C7 against the engine with a fake verifier.

use std::sync::Arc;

use veil_ledger::audit::audit;
use veil_ledger::types::*;
use veil_ledger::verifier::{CountingVerifier, FakeVerifier};
use veil_ledger::{Engine, LedgerConfig, LedgerError};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn node_key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}

struct Fx {
    engine: Arc<Engine>,
    verifier: Arc<CountingVerifier<FakeVerifier>>,
    node: NodeId,
    node_account: AccountId,
    wallet: AccountId,
}

const E: Value = Value(1_000);

fn fixture() -> Fx {
    let verifier = Arc::new(CountingVerifier::new(FakeVerifier::default()));
    let engine = Arc::new(Engine::in_memory(verifier.clone(), LedgerConfig::default()).unwrap());
    let node_key = node_key(77);
    let node = node_key.verifying_key().node_id();
    let node_account = AccountId::from_fr(fr(78));
    let wallet = AccountId::from_fr(fr(79));
    engine.faucet(node_account, Value(500)).unwrap();
    engine
        .register_node(NodeRegistration::signed(
            &node_key,
            node_account,
            Value(2),
            vec![E, Value(5_000)],
            Value(500),
            [9; 32],
        ))
        .unwrap();
    engine.faucet(wallet, Value(1_000_000)).unwrap();
    engine
        .deposit(wallet, Value(100_000), Address::from_fr(fr(1)))
        .unwrap();
    Fx {
        engine,
        verifier,
        node,
        node_account,
        wallet,
    }
}

impl Fx {
    fn token(&self, nf: u64) -> AccessStatement {
        let roots = self.engine.roots().unwrap();
        AccessStatement {
            root: *roots.last().unwrap(),
            nullifier: Nullifier::from_fr(fr(10_000 + nf)),
            cm_change: NoteCommitment::from_fr(fr(20_000 + nf)),
            escrow: E,
            node_id: self.node,
            session_key_hash: SessionKeyHash::from_fr(fr(30_000 + nf)),
            refund_owner: OwnerKey::from_fr(fr(40_000 + nf)),
            expiry: BlockHeight(self.engine.status().unwrap().height.0 + 10),
        }
    }
    fn open(&self, nf: u64) -> Escrow {
        self.engine
            .open_escrow(self.token(nf), &FakeVerifier::valid_proof())
            .unwrap()
    }
    fn settle_req(&self, ids: Vec<SessionId>, total: u64) -> SettleRequest {
        let n = ids.len() as u64;
        SettleRequest {
            node_id: self.node,
            k: 8,
            cm_refunds: (0..n)
                .map(|i| NoteCommitment::from_fr(fr(50_000 + i)))
                .collect(),
            session_ids: ids,
            total: Value(total),
            proof: FakeVerifier::valid_proof(),
        }
    }
    fn audit_ok(&self) {
        let r = audit(self.engine.store()).unwrap();
        assert!(r.ok(), "{:?}", r.violations);
    }
}

#[test]
fn open_escrow_happy_path_and_idempotent_retry() {
    let fx = fixture();
    let t = fx.token(1);
    let e = fx
        .engine
        .open_escrow(t.clone(), &FakeVerifier::valid_proof())
        .unwrap();
    assert_eq!(e.state, EscrowState::Open);
    assert_eq!(e.price_per_kib, Value(2));
    let calls = fx.verifier.calls();
    // Same token again: same escrow, no second spend, no pairing.
    assert_eq!(
        fx.engine
            .open_escrow(t.clone(), &FakeVerifier::valid_proof())
            .unwrap(),
        e
    );
    assert_eq!(fx.verifier.calls(), calls);
    // Different token, same nullifier: refused.
    let other = AccessStatement {
        cm_change: NoteCommitment::from_fr(fr(1)),
        ..t
    };
    assert_eq!(
        fx.engine.open_escrow(other, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    fx.audit_ok();
}

#[test]
fn invalid_proof_changes_nothing() {
    let fx = fixture();
    let before = fx.engine.status().unwrap();
    assert_eq!(
        fx.engine
            .open_escrow(fx.token(1), &FakeVerifier::invalid_proof()),
        Err(LedgerError::InvalidProof)
    );
    assert_eq!(fx.engine.status().unwrap(), before);
    assert_eq!(
        fx.engine
            .get_escrow(&SessionId::from(fx.token(1).nullifier))
            .unwrap(),
        None
    );
}

#[test]
fn c5_cheap_checks_run_before_any_pairing() {
    let fx = fixture();
    fx.open(1);
    let calls = fx.verifier.calls();
    let bad_root = AccessStatement {
        root: MerkleRoot::from_fr(fr(12345)),
        ..fx.token(2)
    };
    assert!(matches!(
        fx.engine
            .open_escrow(bad_root, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownRoot(_))
    ));
    let spent = AccessStatement {
        cm_change: NoteCommitment::from_fr(fr(3)),
        ..fx.token(1)
    };
    assert_eq!(
        fx.engine.open_escrow(spent, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    let unknown_node = AccessStatement {
        node_id: NodeId::from_fr(fr(5)),
        ..fx.token(3)
    };
    assert_eq!(
        fx.engine
            .open_escrow(unknown_node, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownNode)
    );
    let size = AccessStatement {
        escrow: Value(999),
        ..fx.token(4)
    };
    assert!(matches!(
        fx.engine.open_escrow(size, &FakeVerifier::valid_proof()),
        Err(LedgerError::EscrowSizeNotAccepted(_))
    ));
    assert_eq!(
        fx.verifier.calls(),
        calls,
        "a pairing ran for a request refused by a cheap check"
    );
}

#[test]
fn d6_root_window_boundary() {
    let fx = fixture();
    let zero = AccessStatement {
        root: MerkleRoot::from_fr(fr(0)),
        ..fx.token(1)
    };
    assert!(matches!(
        fx.engine.open_escrow(zero, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownRoot(_))
    ));
    // Push the deposit-era root to the edge of the window: 127 more roots keep it, 128 drop it.
    let old = *fx.engine.roots().unwrap().last().unwrap();
    for i in 0..127u64 {
        fx.engine
            .deposit(fx.wallet, Value(1), Address::from_fr(fr(900 + i)))
            .unwrap();
    }
    assert_eq!(
        fx.engine.roots().unwrap().first(),
        Some(&old),
        "oldest root still inside the window"
    );
    let inside = AccessStatement {
        root: old,
        ..fx.token(2)
    };
    fx.engine
        .open_escrow(inside, &FakeVerifier::valid_proof())
        .unwrap();
    // The open appended a root: `old` is now just outside.
    let outside = AccessStatement {
        root: old,
        ..fx.token(3)
    };
    assert!(matches!(
        fx.engine.open_escrow(outside, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownRoot(_))
    ));
}

#[test]
fn expiry_must_be_future_and_bounded_by_ledger_height() {
    let fx = fixture();
    let h = fx.engine.status().unwrap().height.0;
    let now = AccessStatement {
        expiry: BlockHeight(h),
        ..fx.token(1)
    };
    assert!(matches!(
        fx.engine.open_escrow(now, &FakeVerifier::valid_proof()),
        Err(LedgerError::ExpiryOutOfRange { .. })
    ));
    let far = AccessStatement {
        expiry: BlockHeight(h + 10_001),
        ..fx.token(1)
    };
    assert!(matches!(
        fx.engine.open_escrow(far, &FakeVerifier::valid_proof()),
        Err(LedgerError::ExpiryOutOfRange { .. })
    ));
    let edge = AccessStatement {
        expiry: BlockHeight(h + 10_000),
        ..fx.token(1)
    };
    fx.engine
        .open_escrow(edge, &FakeVerifier::valid_proof())
        .unwrap();
}

#[test]
fn d1_c7_same_nullifier_concurrently_exactly_one_escrow() {
    let fx = fixture();
    let t = fx.token(1);
    let mut handles = Vec::new();
    for i in 0..16u64 {
        let engine = fx.engine.clone();
        // Half identical retries, half a different token with the same nf.
        let tok = if i % 2 == 0 {
            t.clone()
        } else {
            AccessStatement {
                cm_change: NoteCommitment::from_fr(fr(600 + i)),
                ..t.clone()
            }
        };
        handles.push(std::thread::spawn(move || {
            engine.open_escrow(tok, &FakeVerifier::valid_proof())
        }));
    }
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let escrows: std::collections::HashSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|e| e.cm_change)
        .collect();
    assert_eq!(escrows.len(), 1, "exactly one escrow exists");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || r == &Err(LedgerError::NullifierSpent))
    );
    assert_eq!(fx.engine.status().unwrap().pool, Value(100_000 - E.0));
    fx.audit_ok();
}

#[test]
fn settle_pays_node_refunds_pool_and_is_all_or_nothing() {
    let fx = fixture();
    let a = fx.open(1).session_id;
    let b = fx.open(2).session_id;
    let bal = fx.engine.balance(&fx.node_account).unwrap();
    let pool = fx.engine.status().unwrap().pool;
    let r = fx.engine.settle(fx.settle_req(vec![a, b], 300)).unwrap();
    assert_eq!(
        fx.engine.balance(&fx.node_account).unwrap(),
        Value(bal.0 + 300)
    );
    assert_eq!(
        fx.engine.status().unwrap().pool,
        Value(pool.0 + 2 * E.0 - 300)
    );
    assert!(matches!(
        fx.engine.get_escrow(&a).unwrap().unwrap().state,
        EscrowState::Settled { .. }
    ));
    // Identical retry: same receipt, no second payout.
    assert_eq!(fx.engine.settle(fx.settle_req(vec![a, b], 300)).unwrap(), r);
    assert_eq!(
        fx.engine.balance(&fx.node_account).unwrap(),
        Value(bal.0 + 300)
    );
    fx.audit_ok();
}

#[test]
fn d5_replayed_or_overlapping_settlement_is_rejected() {
    let fx = fixture();
    let a = fx.open(1).session_id;
    let b = fx.open(2).session_id;
    fx.engine.settle(fx.settle_req(vec![a], 100)).unwrap();
    // A different batch containing the settled session.
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![b, a], 100)),
        Err(LedgerError::AlreadySettled)
    );
    // The same batch with a higher total.
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![a], 200)),
        Err(LedgerError::AlreadySettled)
    );
    // b untouched (all or nothing).
    assert_eq!(
        fx.engine.get_escrow(&b).unwrap().unwrap().state,
        EscrowState::Open
    );
    // A15: the same session twice in one batch.
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![b, b], 100)),
        Err(LedgerError::DuplicateSession)
    );
    fx.audit_ok();
}

#[test]
fn settle_checks_node_total_batch_size_and_window() {
    let fx = fixture();
    let a = fx.open(1).session_id;
    let mut wrong = fx.settle_req(vec![a], 10);
    wrong.node_id = NodeId::from_fr(fr(5));
    assert_eq!(fx.engine.settle(wrong), Err(LedgerError::UnknownNode));
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![a], E.0 + 1)),
        Err(LedgerError::TotalExceedsEscrow)
    );
    let mut k3 = fx.settle_req(vec![a], 10);
    k3.k = 3;
    assert!(matches!(
        fx.engine.settle(k3),
        Err(LedgerError::InvalidArgument(_))
    ));
    let mut bad = fx.settle_req(vec![a], 10);
    bad.proof = FakeVerifier::invalid_proof();
    assert_eq!(fx.engine.settle(bad), Err(LedgerError::InvalidProof));
    // expiry = h + 10; window 20: settle allowed through h + 30, not after.
    fx.engine.advance(30).unwrap();
    let b_ok = fx.engine.get_escrow(&a).unwrap().unwrap();
    assert_eq!(b_ok.state, EscrowState::Open);
    fx.engine.advance(1).unwrap();
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![a], 10)),
        Err(LedgerError::SettleWindowClosed)
    );
}

#[test]
fn d10_reclaim_only_after_expiry_plus_window_in_ledger_height() {
    let fx = fixture();
    let e = fx.open(1);
    // expiry = opened + 10, window 20: reclaimable from expiry + 21.
    let deadline = e.expiry.0 + 20;
    let h = fx.engine.status().unwrap().height.0;
    fx.engine.advance(deadline - h).unwrap();
    assert!(matches!(
        fx.engine.reclaim(e.session_id),
        Err(LedgerError::NotYetReclaimable(_))
    ));
    fx.engine.advance(1).unwrap();
    let pool = fx.engine.status().unwrap().pool;
    let r = fx.engine.reclaim(e.session_id).unwrap();
    assert_eq!(
        r.commitment,
        veil_primitives::refund::reclaim_note(E, e.refund_owner, &e.session_id).commitment()
    );
    assert_eq!(fx.engine.status().unwrap().pool, Value(pool.0 + E.0));
    // Retry: same leaf, no second refund.
    assert_eq!(fx.engine.reclaim(e.session_id).unwrap(), r);
    assert_eq!(fx.engine.status().unwrap().pool, Value(pool.0 + E.0));
    // A reclaimed escrow cannot be settled.
    assert_eq!(
        fx.engine.settle(fx.settle_req(vec![e.session_id], 1)),
        Err(LedgerError::EscrowNotOpen)
    );
    fx.audit_ok();
}

#[test]
fn withdraw_pays_account_and_spends_nullifier_once() {
    let fx = fixture();
    let root = *fx.engine.roots().unwrap().last().unwrap();
    let to = AccountId::from_fr(fr(4242));
    let st = WithdrawStatement {
        root,
        nullifier: Nullifier::from_fr(fr(8)),
        cm_change: NoteCommitment::from_fr(fr(9)),
        amount: Value(700),
        recipient: to,
    };
    fx.engine
        .withdraw(st.clone(), &FakeVerifier::valid_proof())
        .unwrap();
    assert_eq!(fx.engine.balance(&to).unwrap(), Value(700));
    fx.engine
        .withdraw(st.clone(), &FakeVerifier::valid_proof())
        .unwrap();
    assert_eq!(
        fx.engine.balance(&to).unwrap(),
        Value(700),
        "retry pays once"
    );
    let other = WithdrawStatement {
        amount: Value(1),
        ..st.clone()
    };
    assert_eq!(
        fx.engine.withdraw(other, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    // The same nf cannot then open an escrow either.
    let t = AccessStatement {
        nullifier: st.nullifier,
        ..fx.token(1)
    };
    assert_eq!(
        fx.engine.open_escrow(t, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    // Turnstile: more than the pool holds is refused.
    let huge = WithdrawStatement {
        nullifier: Nullifier::from_fr(fr(11)),
        amount: Value(10_000_000),
        ..st
    };
    assert_eq!(
        fx.engine.withdraw(huge, &FakeVerifier::valid_proof()),
        Err(LedgerError::PoolUnderflow)
    );
    fx.audit_ok();
}

#[test]
fn d11_duplicate_commitments_are_distinct_leaves_and_deposit_retry_is_idempotent() {
    let fx = fixture();
    let addr = Address::from_fr(fr(31337));
    let a = fx.engine.deposit(fx.wallet, Value(5), addr).unwrap();
    let bal = fx.engine.balance(&fx.wallet).unwrap();
    assert_eq!(
        fx.engine.deposit(fx.wallet, Value(5), addr).unwrap(),
        a,
        "retry returns the same leaf"
    );
    assert_eq!(
        fx.engine.balance(&fx.wallet).unwrap(),
        bal,
        "retry debits once"
    );
    // The same commitment as a change output lands as a new leaf.
    let t = AccessStatement {
        cm_change: a.commitment,
        ..fx.token(1)
    };
    fx.engine
        .open_escrow(t, &FakeVerifier::valid_proof())
        .unwrap();
    let n = fx.engine.status().unwrap().commitment_count;
    let leaves = fx.engine.commitments(0, 4096).unwrap();
    assert_eq!(leaves.len() as u64, n);
    assert_eq!(leaves.iter().filter(|c| **c == a.commitment).count(), 2);
    // Overdraft refused.
    assert_eq!(
        fx.engine.deposit(fx.wallet, Value(u64::MAX), addr),
        Err(LedgerError::InsufficientBalance)
    );
    fx.audit_ok();
}

#[test]
fn register_node_rules() {
    let fx = fixture();
    let rec = fx.engine.get_node(&fx.node).unwrap().unwrap();
    assert_eq!(
        fx.engine.register_node(rec.registration.clone()).unwrap(),
        rec
    );
    // Same terms re-signed by the same key: still the same registration.
    let g = &rec.registration;
    let resigned = NodeRegistration::signed(
        &node_key(77),
        g.account,
        g.price_per_kib,
        g.escrow_sizes.clone(),
        g.stake,
        g.tls_key_hash,
    );
    assert_eq!(fx.engine.register_node(resigned).unwrap(), rec);
    let changed = NodeRegistration::signed(
        &node_key(77),
        g.account,
        Value(3),
        g.escrow_sizes.clone(),
        g.stake,
        g.tls_key_hash,
    );
    assert_eq!(
        fx.engine.register_node(changed),
        Err(LedgerError::NodeExists)
    );
    let other = |sizes: Vec<Value>, stake: Value| {
        NodeRegistration::signed(&node_key(1), g.account, Value(1), sizes, stake, [0; 32])
    };
    assert!(matches!(
        fx.engine.register_node(other(vec![Value(0)], Value(1))),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert!(matches!(
        fx.engine.register_node(other(vec![E, E], Value(1))),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(
        fx.engine.register_node(other(vec![E], Value(u64::MAX))),
        Err(LedgerError::InsufficientBalance)
    );
}

/// §8.3.6: only the holder of `N` registers `H(NODE_ID, N)`, and the
/// signature covers every term.
#[test]
fn registration_requires_the_node_key() {
    let fx = fixture();
    let acct = AccountId::from_fr(fr(4_000));
    fx.engine.faucet(acct, Value(1_000)).unwrap();
    let good = NodeRegistration::signed(&node_key(5), acct, Value(1), vec![E], Value(10), [1; 32]);
    let before = fx.engine.status().unwrap();
    let refused = |g: NodeRegistration| {
        assert!(matches!(
            fx.engine.register_node(g),
            Err(LedgerError::RegistrationUnauthenticated(_))
        ));
    };
    // Someone else's node id with my key and signature.
    refused(NodeRegistration {
        node_id: fx.node,
        ..good.clone()
    });
    // Another key claiming my node id (signed by the other key).
    let thief = NodeRegistration::signed(&node_key(6), acct, Value(1), vec![E], Value(10), [1; 32]);
    refused(NodeRegistration {
        node_id: good.node_id,
        ..thief.clone()
    });
    // Each signed term altered after signing.
    refused(NodeRegistration {
        account: AccountId::from_fr(fr(4_001)),
        ..good.clone()
    });
    refused(NodeRegistration {
        price_per_kib: Value(2),
        ..good.clone()
    });
    refused(NodeRegistration {
        escrow_sizes: vec![Value(999)],
        ..good.clone()
    });
    refused(NodeRegistration {
        stake: Value(11),
        ..good.clone()
    });
    refused(NodeRegistration {
        tls_key_hash: [2; 32],
        ..good.clone()
    });
    // A signature over different terms.
    refused(NodeRegistration {
        signature: thief.signature,
        ..good.clone()
    });
    assert_eq!(fx.engine.get_node(&good.node_id).unwrap(), None);
    assert_eq!(fx.engine.balance(&acct).unwrap(), Value(1_000));
    assert_eq!(fx.engine.status().unwrap(), before);
    fx.engine.register_node(good.clone()).unwrap();
    assert_eq!(fx.engine.balance(&acct).unwrap(), Value(990));
}

#[test]
fn d12_snapshot_reads_are_consistent() {
    let fx = fixture();
    let snap = fx.engine.store().read().unwrap();
    use veil_ledger::store::StateRead;
    let before = (snap.frontier().unwrap(), snap.roots().unwrap());
    for i in 0..5 {
        fx.open(i);
    }
    // The old snapshot still sees R, with its own history: no torn view.
    assert_eq!((snap.frontier().unwrap(), snap.roots().unwrap()), before);
    assert_eq!(snap.roots().unwrap().0.back(), Some(&before.0.root()));
    assert!(
        snap.nullifier(&Nullifier::from_fr(fr(10_000)))
            .unwrap()
            .is_none()
    );
}
