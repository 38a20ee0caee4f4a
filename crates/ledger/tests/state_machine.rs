//! Adversarial rows D1–D12, C5, C7 against the engine with a fake verifier.

use std::sync::Arc;

use veil_ledger::audit::audit;
use veil_ledger::types::*;
use veil_ledger::verifier::{CountingVerifier, FakeVerifier};
use veil_ledger::{Engine, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn node_key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}

/// An account key (a different seed space from node keys only by convention).
fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}

struct Fx {
    engine: Arc<Engine>,
    verifier: Arc<CountingVerifier<FakeVerifier>>,
    node: NodeId,
    node_key: SigningKey,
    node_account: AccountId,
    node_account_key: SigningKey,
    wallet: AccountId,
    wallet_key: SigningKey,
}

const E: Value = Value(1_000);

fn fixture() -> Fx {
    let verifier = Arc::new(CountingVerifier::new(FakeVerifier::default()));
    let engine =
        Arc::new(Engine::in_memory(verifier.clone(), LedgerConfig::with_dev_faucet()).unwrap());
    let node_key = node_key(77);
    let node = node_key.verifying_key().node_id();
    let node_account_key = key(78);
    let node_account = node_account_key.verifying_key().account_id();
    let wallet_key = key(79);
    let wallet = wallet_key.verifying_key().account_id();
    engine.faucet(node_account, Value(500)).unwrap();
    engine
        .register_node(
            testing::registration(
                &engine,
                &node_key,
                &node_account_key,
                Value(2),
                vec![E, Value(5_000)],
                Value(500),
                [9; 32],
            )
            .unwrap(),
        )
        .unwrap();
    engine.faucet(wallet, Value(1_000_000)).unwrap();
    testing::deposit(
        &engine,
        &wallet_key,
        Value(100_000),
        Address::from_fr(fr(1)),
    )
    .unwrap();
    Fx {
        engine,
        verifier,
        node,
        node_key,
        node_account,
        node_account_key,
        wallet,
        wallet_key,
    }
}

impl Fx {
    fn token(&self, nf: u64) -> AccessPublic {
        let roots = self.engine.roots().unwrap();
        AccessPublic {
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
    /// A settlement signed by the node key over the ledger's records.
    fn settle_req(&self, ids: Vec<SessionId>, total: u64) -> SettleRequest {
        let n = ids.len() as u64;
        let mut r = SettleRequest {
            node_id: self.node,
            k: 8,
            cm_refunds: (0..n)
                .map(|i| NoteCommitment::from_fr(fr(50_000 + i)))
                .collect(),
            session_ids: ids,
            total: Value(total),
            proof: FakeVerifier::valid_proof(),
            authorisation: None,
        };
        testing::authorise_settle(&self.engine, &self.node_key, &mut r).unwrap();
        r
    }
    fn deposit(&self, value: Value, addr: Address) -> Result<DepositReceipt, LedgerError> {
        testing::deposit(&self.engine, &self.wallet_key, value, addr)
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
    let other = AccessPublic {
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
    let bad_root = AccessPublic {
        root: MerkleRoot::from_fr(fr(12345)),
        ..fx.token(2)
    };
    assert!(matches!(
        fx.engine
            .open_escrow(bad_root, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownRoot(_))
    ));
    let spent = AccessPublic {
        cm_change: NoteCommitment::from_fr(fr(3)),
        ..fx.token(1)
    };
    assert_eq!(
        fx.engine.open_escrow(spent, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    let unknown_node = AccessPublic {
        node_id: NodeId::from_fr(fr(5)),
        ..fx.token(3)
    };
    assert_eq!(
        fx.engine
            .open_escrow(unknown_node, &FakeVerifier::valid_proof()),
        Err(LedgerError::UnknownNode)
    );
    let size = AccessPublic {
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
    let zero = AccessPublic {
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
        fx.deposit(Value(1), Address::from_fr(fr(900 + i))).unwrap();
    }
    assert_eq!(
        fx.engine.roots().unwrap().first(),
        Some(&old),
        "oldest root still inside the window"
    );
    let inside = AccessPublic {
        root: old,
        ..fx.token(2)
    };
    fx.engine
        .open_escrow(inside, &FakeVerifier::valid_proof())
        .unwrap();
    // The open appended a root: `old` is now just outside.
    let outside = AccessPublic {
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
    let now = AccessPublic {
        expiry: BlockHeight(h),
        ..fx.token(1)
    };
    assert!(matches!(
        fx.engine.open_escrow(now, &FakeVerifier::valid_proof()),
        Err(LedgerError::ExpiryOutOfRange { .. })
    ));
    let far = AccessPublic {
        expiry: BlockHeight(h + 10_001),
        ..fx.token(1)
    };
    assert!(matches!(
        fx.engine.open_escrow(far, &FakeVerifier::valid_proof()),
        Err(LedgerError::ExpiryOutOfRange { .. })
    ));
    let edge = AccessPublic {
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
            AccessPublic {
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
    let st = WithdrawPublic {
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
    let other = WithdrawPublic {
        amount: Value(1),
        ..st.clone()
    };
    assert_eq!(
        fx.engine.withdraw(other, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    // The same nf cannot then open an escrow either.
    let t = AccessPublic {
        nullifier: st.nullifier,
        ..fx.token(1)
    };
    assert_eq!(
        fx.engine.open_escrow(t, &FakeVerifier::valid_proof()),
        Err(LedgerError::NullifierSpent)
    );
    // Turnstile: more than the pool holds is refused.
    let huge = WithdrawPublic {
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
    let request = testing::signed_deposit(&fx.engine, &fx.wallet_key, Value(5), addr).unwrap();
    let a = fx.engine.deposit(request.clone()).unwrap();
    let bal = fx.engine.balance(&fx.wallet).unwrap();
    let nonce = fx.engine.account(&fx.wallet).unwrap().next_nonce;
    assert_eq!(
        fx.engine.deposit(request).unwrap(),
        a,
        "retry returns the same leaf"
    );
    assert_eq!(
        fx.engine.account(&fx.wallet).unwrap().next_nonce,
        nonce,
        "a retry consumes no nonce"
    );
    // The same commitment again under a fresh nonce is another deposit of an
    // existing commitment: refused.
    assert_eq!(
        fx.deposit(Value(5), addr),
        Err(LedgerError::DuplicateDeposit)
    );
    assert_eq!(
        fx.engine.balance(&fx.wallet).unwrap(),
        bal,
        "retry debits once"
    );
    // The same commitment as a change output lands as a new leaf.
    let t = AccessPublic {
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
        fx.deposit(Value(u64::MAX), addr),
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
    // Same terms re-signed by the same keys with the same nonce: a retry.
    let g = &rec.registration;
    let applied_nonce = g.account_auth.unwrap().nonce;
    let resigned = NodeRegistration::signed(
        &node_key(77),
        &fx.node_account_key,
        applied_nonce,
        g.price_per_kib,
        g.escrow_sizes.clone(),
        g.stake,
        g.tls_key_hash,
    );
    assert_eq!(fx.engine.register_node(resigned).unwrap(), rec);
    // Same terms under a fresh nonce: not a retry, the node exists.
    let fresh = testing::registration(
        &fx.engine,
        &node_key(77),
        &fx.node_account_key,
        g.price_per_kib,
        g.escrow_sizes.clone(),
        g.stake,
        g.tls_key_hash,
    )
    .unwrap();
    assert_eq!(fx.engine.register_node(fresh), Err(LedgerError::NodeExists));
    let changed = testing::registration(
        &fx.engine,
        &node_key(77),
        &fx.node_account_key,
        Value(3),
        g.escrow_sizes.clone(),
        g.stake,
        g.tls_key_hash,
    )
    .unwrap();
    assert_eq!(
        fx.engine.register_node(changed),
        Err(LedgerError::NodeExists)
    );
    let other = |sizes: Vec<Value>, stake: Value| {
        testing::registration(
            &fx.engine,
            &node_key(1),
            &fx.node_account_key,
            Value(1),
            sizes,
            stake,
            [0; 32],
        )
        .unwrap()
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
    let acct_key = key(40);
    let acct = acct_key.verifying_key().account_id();
    fx.engine.faucet(acct, Value(1_000)).unwrap();
    let reg = |node: u8| {
        testing::registration(
            &fx.engine,
            &node_key(node),
            &acct_key,
            Value(1),
            vec![E],
            Value(10),
            [1; 32],
        )
        .unwrap()
    };
    let good = reg(5);
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
    let thief = reg(6);
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
    use veil_ledger::state::StateRead;
    let before = (snap.frontier().unwrap(), snap.roots().unwrap());
    for i in 0..5 {
        fx.open(i);
    }
    // The old snapshot still sees R, with its own history: no torn view.
    assert_eq!((snap.frontier().unwrap(), snap.roots().unwrap()), before);
    assert_eq!(snap.roots().unwrap().latest(), Some(before.0.root()));
    assert!(
        snap.nullifier(&Nullifier::from_fr(fr(10_000)))
            .unwrap()
            .is_none()
    );
}

/// Everything a refused operation must leave unchanged: counters, tree,
/// the accounts and nonces of the fixture, the node records.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: LedgerStatus,
    accounts: Vec<AccountState>,
    nodes: Vec<Option<NodeRecord>>,
}

impl Fx {
    fn snapshot(&self, others: &[AccountId], nodes: &[NodeId]) -> Snapshot {
        let mut ids = vec![self.wallet, self.node_account];
        ids.extend_from_slice(others);
        let mut node_ids = vec![self.node];
        node_ids.extend_from_slice(nodes);
        Snapshot {
            status: self.engine.status().unwrap(),
            accounts: ids
                .iter()
                .map(|a| self.engine.account(a).unwrap())
                .collect(),
            nodes: node_ids
                .iter()
                .map(|n| self.engine.get_node(n).unwrap())
                .collect(),
        }
    }
}

/// §8.3.3 (issue 8, attack 1): only the node may settle its sessions. The
/// client knows every slot input of its own session and holds its session
/// key; a request without the node's signature over the exact statement,
/// signed by anyone else, or altered after signing is refused before any
/// pairing and changes nothing. The node's own request still pays.
#[test]
fn settle_requires_the_registered_node_key_over_the_exact_statement() {
    let fx = fixture();
    // A second registered node, to sign with a registered key that is not this node's.
    let other_node = node_key(91);
    let reg = testing::registration(
        &fx.engine,
        &other_node,
        &fx.node_account_key,
        Value(1),
        vec![E],
        Value(0),
        [0; 32],
    )
    .unwrap();
    fx.engine.register_node(reg).unwrap();
    let a = fx.open(1).session_id;
    let good = fx.settle_req(vec![a], 300);
    let before = fx.snapshot(&[], &[]);
    let calls = fx.verifier.calls();
    let refused = |r: SettleRequest| {
        assert!(
            matches!(fx.engine.settle(r), Err(LedgerError::SettleUnauthorized(_))),
            "refused as unauthorised"
        );
        assert_eq!(fx.snapshot(&[], &[]), before, "nothing changed");
        assert_eq!(fx.verifier.calls(), calls, "refused before any pairing");
    };
    // The client's self-settlement: T = 0, the full refund, no node signature.
    let own = SettleRequest {
        total: Value(0),
        cm_refunds: vec![
            veil_primitives::refund::refund_note(
                E,
                fx.engine.get_escrow(&a).unwrap().unwrap().refund_owner,
                &key(33).verifying_key().point().to_affine(),
            )
            .commitment(),
        ],
        authorisation: None,
        ..good.clone()
    };
    refused(own.clone());
    // ... or signed by the session key (the client's only key here).
    let session_key = key(33);
    let mut by_client = own.clone();
    testing::authorise_settle(&fx.engine, &session_key, &mut by_client).unwrap();
    refused(by_client);
    // Signed by another registered node's key.
    let mut by_other = good.clone();
    testing::authorise_settle(&fx.engine, &other_node, &mut by_other).unwrap();
    refused(by_other);
    // A garbage signature (valid encoding, signs nothing of this batch).
    refused(SettleRequest {
        authorisation: Some(fx.node_key.sign(&fr(12345))),
        ..good.clone()
    });
    // The node's signature with T changed, or a refund changed.
    refused(SettleRequest {
        total: Value(0),
        ..good.clone()
    });
    refused(SettleRequest {
        cm_refunds: vec![NoteCommitment::from_fr(fr(4))],
        ..good.clone()
    });
    // K changed (the statement is padded differently).
    refused(SettleRequest {
        k: 64,
        ..good.clone()
    });
    // The node's own request still pays.
    let bal = fx.engine.balance(&fx.node_account).unwrap();
    fx.engine.settle(good).unwrap();
    assert_eq!(
        fx.engine.balance(&fx.node_account).unwrap(),
        Value(bal.0 + 300)
    );
    fx.audit_ok();
}

/// §8.3 (issue 8, attack 3): a deposit debits an account only with the
/// signature of that account's key at its next nonce; each refusal changes
/// nothing.
#[test]
fn deposit_requires_the_account_key_and_its_next_nonce() {
    let fx = fixture();
    let victim = fx.node_account; // a node's earnings account
    fx.engine.faucet(victim, Value(1_000)).unwrap();
    let attacker_key = key(66);
    let attacker = attacker_key.verifying_key().account_id();
    fx.engine.faucet(attacker, Value(10)).unwrap();
    let addr = Address::from_fr(fr(777));
    let before = fx.snapshot(&[attacker], &[]);
    let refused = |r: DepositRequest, want: &dyn Fn(&LedgerError) -> bool| {
        let e = fx.engine.deposit(r).unwrap_err();
        assert!(want(&e), "unexpected {e:?}");
        assert_eq!(fx.snapshot(&[attacker], &[]), before, "nothing changed");
    };
    let unauth = |e: &LedgerError| matches!(e, LedgerError::AccountUnauthenticated(_));
    let victim_nonce = fx.engine.account(&victim).unwrap().next_nonce;
    // Missing signature.
    refused(
        DepositRequest {
            account: victim,
            value: Value(100),
            addr,
            auth: None,
        },
        &unauth,
    );
    // Wrong key: the attacker signs with its own key for the victim's account.
    let mut wrong = DepositRequest::signed(&attacker_key, victim_nonce, Value(100), addr);
    wrong.account = victim;
    refused(wrong, &unauth);
    // The victim's (public) key with the attacker's signature.
    let mut forged = DepositRequest::signed(&fx.node_account_key, victim_nonce, Value(100), addr);
    let attacker_sig = DepositRequest::signed(&attacker_key, victim_nonce, Value(100), addr);
    forged.auth = Some(AccountAuth {
        signature: attacker_sig.auth.unwrap().signature,
        ..forged.auth.unwrap()
    });
    refused(forged, &unauth);
    // Cross-account: the victim's valid signature on a deposit presented for another account.
    let mut cross = DepositRequest::signed(&fx.node_account_key, victim_nonce, Value(100), addr);
    cross.account = attacker;
    refused(cross, &unauth);
    // Altered after signing: value or address.
    let signed = DepositRequest::signed(&fx.node_account_key, victim_nonce, Value(100), addr);
    refused(
        DepositRequest {
            value: Value(101),
            ..signed.clone()
        },
        &unauth,
    );
    refused(
        DepositRequest {
            addr: Address::from_fr(fr(778)),
            ..signed.clone()
        },
        &unauth,
    );
    // Replayed (an old nonce) and a future nonce.
    let w_nonce = fx.engine.account(&fx.wallet).unwrap().next_nonce;
    assert!(w_nonce > 0);
    refused(
        DepositRequest::signed(&fx.wallet_key, w_nonce - 1, Value(1), addr),
        &|e: &LedgerError| matches!(e, LedgerError::BadNonce),
    );
    refused(
        DepositRequest::signed(&fx.wallet_key, w_nonce + 1, Value(1), addr),
        &|e: &LedgerError| matches!(e, LedgerError::BadNonce),
    );
    // The owner's own signed deposit goes through and consumes the nonce.
    let r = fx.engine.deposit(signed.clone()).unwrap();
    assert_eq!(
        fx.engine.account(&victim).unwrap().next_nonce,
        victim_nonce + 1
    );
    // Its exact retry returns the original result; its replay under other
    // fields (same nonce) is refused.
    assert_eq!(fx.engine.deposit(signed).unwrap(), r);
    let after = fx.snapshot(&[attacker], &[]);
    let e = fx
        .engine
        .deposit(DepositRequest::signed(
            &fx.node_account_key,
            victim_nonce,
            Value(1),
            addr,
        ))
        .unwrap_err();
    assert_eq!(e, LedgerError::BadNonce);
    assert_eq!(fx.snapshot(&[attacker], &[]), after);
    fx.audit_ok();
}

/// §8.3, §8.3.6: registering a node stakes from, and binds payouts to, an
/// account: only with that account's signature at its next nonce.
#[test]
fn register_node_requires_the_account_key_and_its_next_nonce() {
    let fx = fixture();
    let victim_key = key(70);
    let victim = victim_key.verifying_key().account_id();
    fx.engine.faucet(victim, Value(1_000)).unwrap();
    let attacker_key = key(71);
    let attacker = attacker_key.verifying_key().account_id();
    let new_node = node_key(72);
    let nid = new_node.verifying_key().node_id();
    let before = fx.snapshot(&[victim, attacker], &[nid]);
    let refused = |g: NodeRegistration, want: &dyn Fn(&LedgerError) -> bool| {
        let e = fx.engine.register_node(g).unwrap_err();
        assert!(want(&e), "unexpected {e:?}");
        assert_eq!(
            fx.snapshot(&[victim, attacker], &[nid]),
            before,
            "nothing changed"
        );
    };
    let unauth = |e: &LedgerError| matches!(e, LedgerError::AccountUnauthenticated(_));
    let good = testing::registration(
        &fx.engine,
        &new_node,
        &victim_key,
        Value(1),
        vec![E],
        Value(100),
        [3; 32],
    )
    .unwrap();
    // Missing account signature.
    refused(
        NodeRegistration {
            account_auth: None,
            ..good.clone()
        },
        &unauth,
    );
    // Wrong key: the attacker's account authorisation on the victim's account.
    let by_attacker = testing::registration(
        &fx.engine,
        &new_node,
        &attacker_key,
        Value(1),
        vec![E],
        Value(100),
        [3; 32],
    )
    .unwrap();
    refused(
        NodeRegistration {
            account_auth: by_attacker.account_auth,
            ..good.clone()
        },
        &unauth,
    );
    // Cross-account: the victim's authorisation of another registration
    // (same node, another stake) presented with this one.
    let other_terms = testing::registration(
        &fx.engine,
        &new_node,
        &victim_key,
        Value(1),
        vec![E],
        Value(1),
        [3; 32],
    )
    .unwrap();
    refused(
        NodeRegistration {
            account_auth: other_terms.account_auth,
            ..good.clone()
        },
        &unauth,
    );
    // The victim's key authorising a deposit cannot authorise a registration (op separated).
    let dep = DepositRequest::signed(&victim_key, 0, Value(1), Address::from_fr(good.message()));
    refused(
        NodeRegistration {
            account_auth: dep.auth,
            ..good.clone()
        },
        &unauth,
    );
    // Replayed nonce: consume the victim's nonce 0 with a deposit, then the
    // registration signed at 0 is stale.
    let d = DepositRequest::signed(&victim_key, 0, Value(1), Address::from_fr(fr(5)));
    fx.engine.deposit(d).unwrap();
    let before = fx.snapshot(&[victim, attacker], &[nid]);
    let e = fx.engine.register_node(good).unwrap_err();
    assert_eq!(e, LedgerError::BadNonce);
    assert_eq!(fx.snapshot(&[victim, attacker], &[nid]), before);
    // Re-signed at the next nonce: registered, stake taken from the victim who signed.
    let good = testing::registration(
        &fx.engine,
        &new_node,
        &victim_key,
        Value(1),
        vec![E],
        Value(100),
        [3; 32],
    )
    .unwrap();
    fx.engine.register_node(good).unwrap();
    assert_eq!(fx.engine.balance(&victim).unwrap(), Value(1_000 - 1 - 100));
    fx.audit_ok();
}

/// §8.3.7: without the development flag the faucet mints nothing.
#[test]
fn faucet_is_refused_without_the_development_flag() {
    let engine =
        Engine::in_memory(Arc::new(FakeVerifier::default()), LedgerConfig::default()).unwrap();
    let a = key(1).verifying_key().account_id();
    let before = engine.status().unwrap();
    assert_eq!(engine.faucet(a, Value(5)), Err(LedgerError::FaucetDisabled));
    assert_eq!(engine.balance(&a).unwrap(), Value(0));
    assert_eq!(engine.status().unwrap(), before);
}
