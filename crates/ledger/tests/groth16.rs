//! The production verifier with REAL Groth16 proofs over the pinned
//! development keys (docs/protocol.md §3–§5, §8.3). Proving keys come from
//! the `ParamStore` cache (generated once if missing); each test proves a
//! handful of statements (~0.3 s each for access/withdraw, ~2 s for settle_8).

use std::sync::{Arc, OnceLock};

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_circuits::settle::{SettlePublic, Slot};
use veil_circuits::withdraw::WithdrawPublic;
use veil_ledger::types::*;
use veil_ledger::verifier::{BatchingVerifier, CountingVerifier, Groth16Verifier, ProofVerifier};
use veil_ledger::{Engine, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::keys::SpendingKey;
use veil_primitives::merkle::Tree;
use veil_primitives::note::{Note, Rho};
use veil_primitives::receipt::Receipt;
use veil_proofs::{CircuitId, ParamStore, Prover, SettleSize};

const E: Value = Value(1_000);
const E2: Value = Value(500);
const PRICE: Value = Value(2);

fn verifier() -> Arc<Groth16Verifier> {
    static V: OnceLock<Arc<Groth16Verifier>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Groth16Verifier::dev(&[1, 8]).expect("pinned dev verifying keys")))
        .clone()
}

fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| {
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
        Prover::from_store(
            &store,
            &[
                CircuitId::Access,
                CircuitId::Withdraw,
                CircuitId::Settle(SettleSize::K1),
                CircuitId::Settle(SettleSize::K8),
            ],
            None,
        )
        .expect("dev proving keys")
    })
}

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn to_ledger_proof(p: &veil_proofs::Proof) -> Proof {
    Proof(p.to_bytes())
}

struct Fx {
    engine: Engine,
    verifier: Arc<CountingVerifier<Arc<Groth16Verifier>>>,
    node: NodeId,
    other_node: NodeId,
    node_key: SigningKey,
    node_account: AccountId,
    wallet_key: SigningKey,
    rng: ChaCha20Rng,
}

/// A deposited note the wallet can spend.
struct Owned {
    sk: SpendingKey,
    rho: Rho,
    value: Value,
    leaf: u64,
}

fn fixture(seed: u64) -> Fx {
    let verifier = Arc::new(CountingVerifier::new(verifier()));
    let config = LedgerConfig {
        settle_batch_sizes: vec![1, 8],
        ..LedgerConfig::with_dev_faucet()
    };
    let engine = Engine::in_memory(verifier.clone(), config).unwrap();
    let node_key = SigningKey::from_seed([seed as u8; 32]).unwrap();
    let other_key = SigningKey::from_seed([seed as u8 + 100; 32]).unwrap();
    let account_key = SigningKey::from_seed([seed as u8 + 50; 32]).unwrap();
    let node_account = account_key.verifying_key().account_id();
    let wallet_key = SigningKey::from_seed([seed as u8 + 150; 32]).unwrap();
    let wallet = wallet_key.verifying_key().account_id();
    engine.faucet(node_account, Value(100)).unwrap();
    engine.faucet(wallet, Value(1_000_000)).unwrap();
    for key in [&node_key, &other_key] {
        let g = testing::registration(
            &engine,
            key,
            &account_key,
            PRICE,
            vec![E, E2],
            Value(10),
            [0; 32],
        )
        .unwrap();
        engine.register_node(g).unwrap();
    }
    Fx {
        node: node_key.verifying_key().node_id(),
        other_node: other_key.verifying_key().node_id(),
        engine,
        verifier,
        node_key,
        node_account,
        wallet_key,
        rng: ChaCha20Rng::seed_from_u64(seed),
    }
}

impl Fx {
    /// Signs `r` with the node key over the ledger's records (§8.3.3).
    fn authorise(&self, r: &mut SettleRequest) {
        testing::authorise_settle(&self.engine, &self.node_key, r).unwrap();
    }

    fn deposit(&mut self, value: Value) -> Owned {
        let sk = SpendingKey::random(&mut self.rng);
        let rho = Rho::random(&mut self.rng);
        let note = Note::new(value, sk.owner_key(), rho);
        let d = testing::deposit(&self.engine, &self.wallet_key, value, note.address()).unwrap();
        assert_eq!(d.commitment, note.commitment());
        Owned {
            sk,
            rho,
            value,
            leaf: d.leaf_index,
        }
    }

    /// The spend witness of `note` against the ledger's current tree, built
    /// from `commitments()` as a wallet would.
    fn private(&mut self, note: &Owned) -> AccessPrivate {
        let cms = self.engine.commitments(0, 4096).unwrap();
        let mut tree = Tree::new();
        tree.append_many(cms).unwrap();
        assert_eq!(
            Some(&tree.root()),
            self.engine.roots().unwrap().last(),
            "wallet tree agrees with the ledger"
        );
        AccessPrivate {
            path: tree.path(note.leaf).unwrap(),
            sk: note.sk.clone(),
            value: note.value,
            rho: note.rho,
            rho_change: Rho::random(&mut self.rng),
        }
    }

    /// A real access token for `note`, escrow `E` at the main node.
    fn token(&mut self, note: &Owned, session: &SigningKey) -> (AccessPublic, Proof) {
        let private = self.private(note);
        let height = self.engine.status().unwrap().height;
        let public = AccessPublic::derive(
            &private,
            E,
            self.node,
            session.verifying_key().session_key_hash(),
            OwnerKey::from_fr(fr(4242 + note.leaf)),
            BlockHeight(height.0 + 10),
        )
        .unwrap();
        let t = prover()
            .prove_access(&public, &private, &mut self.rng)
            .unwrap();
        let st = AccessPublic {
            root: public.root,
            nullifier: public.nullifier,
            cm_change: public.cm_change,
            escrow: public.escrow,
            node_id: public.node_id,
            session_key_hash: public.session_key_hash,
            refund_owner: public.refund_owner,
            expiry: public.expiry,
        };
        (st, to_ledger_proof(&t.proof))
    }

    fn status(&self) -> LedgerStatus {
        self.engine.status().unwrap()
    }
}

#[test]
fn real_access_token_opens_and_any_altered_input_is_rejected() {
    let mut fx = fixture(1);
    let note = fx.deposit(Value(5_000));
    let session = SigningKey::from_seed([9; 32]).unwrap();
    let (st, proof) = fx.token(&note, &session);
    // A later deposit: the token's root is still accepted, and a second
    // known root exists to swap in.
    fx.deposit(Value(1));
    let newer_root = *fx.engine.roots().unwrap().last().unwrap();
    let before = fx.status();
    let calls = fx.verifier.calls();

    let altered: Vec<(&str, AccessPublic)> = vec![
        (
            "root",
            AccessPublic {
                root: newer_root,
                ..st.clone()
            },
        ),
        (
            "nullifier",
            AccessPublic {
                nullifier: Nullifier::from_fr(fr(1)),
                ..st.clone()
            },
        ),
        (
            "cm_change",
            AccessPublic {
                cm_change: NoteCommitment::from_fr(fr(2)),
                ..st.clone()
            },
        ),
        (
            "escrow",
            AccessPublic {
                escrow: E2,
                ..st.clone()
            },
        ),
        (
            "node_id",
            AccessPublic {
                node_id: fx.other_node,
                ..st.clone()
            },
        ),
        (
            "session_key_hash",
            AccessPublic {
                session_key_hash: SessionKeyHash::from_fr(fr(3)),
                ..st.clone()
            },
        ),
        (
            "refund_owner",
            AccessPublic {
                refund_owner: OwnerKey::from_fr(fr(4)),
                ..st.clone()
            },
        ),
        (
            "expiry",
            AccessPublic {
                expiry: BlockHeight(st.expiry.0 + 1),
                ..st.clone()
            },
        ),
    ];
    for (what, bad) in altered {
        assert_eq!(
            fx.engine.open_escrow(bad.clone(), &proof),
            Err(LedgerError::InvalidProof),
            "altered {what} must not verify"
        );
        assert_eq!(
            fx.engine
                .get_escrow(&SessionId::from(bad.nullifier))
                .unwrap(),
            None
        );
    }
    // A proof that does not decode (point not on the curve) is a rejection.
    let mut garbage = proof.clone();
    garbage.0[0] ^= 0xff;
    assert_eq!(
        fx.engine.open_escrow(st.clone(), &garbage),
        Err(LedgerError::InvalidProof)
    );
    assert_eq!(
        fx.verifier.calls(),
        calls + 9,
        "every altered token reached the pairing"
    );
    assert_eq!(fx.status(), before, "rejected tokens changed nothing");

    // Batched verification (§7.5) gives the same answers, also when valid
    // and invalid tokens share a batch.
    let batching = Arc::new(BatchingVerifier::new((*verifier()).clone(), 16).unwrap());
    let bad = AccessPublic {
        expiry: BlockHeight(st.expiry.0 + 1),
        ..st.clone()
    };
    let answers: Vec<bool> = (0..8)
        .map(|i| {
            let (b, s, p) = (
                batching.clone(),
                if i % 2 == 0 { st.clone() } else { bad.clone() },
                proof.clone(),
            );
            std::thread::spawn(move || b.verify_access(&s, &p))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        answers,
        [true, false, true, false, true, false, true, false]
    );
    assert!(!batching.verify_access(&st, &garbage));

    let e = fx.engine.open_escrow(st.clone(), &proof).unwrap();
    assert_eq!(e.session_id, SessionId::from(st.nullifier));
    assert_eq!(e.escrow, E);
    assert_eq!(e.state, EscrowState::Open);
    assert_eq!(fx.status().pool, Value(before.pool.0 - E.0));
    assert_eq!(fx.status().commitment_count, before.commitment_count + 1);
    // The retry returns the same escrow without verifying again.
    let calls = fx.verifier.calls();
    assert_eq!(fx.engine.open_escrow(st, &proof).unwrap(), e);
    assert_eq!(fx.verifier.calls(), calls);
}

/// Opens an escrow with a real token and returns it with its session key.
fn open(fx: &mut Fx, seed: u8) -> (Escrow, SigningKey) {
    let note = fx.deposit(Value(2_000));
    let session = SigningKey::from_seed([seed; 32]).unwrap();
    let (st, proof) = fx.token(&note, &session);
    (fx.engine.open_escrow(st, &proof).unwrap(), session)
}

fn slot(e: &Escrow, session: &SigningKey, kib: u64) -> Slot {
    let receipt = Receipt {
        session_id: e.session_id.inner(),
        kib,
    }
    .sign(session);
    Slot::new(
        e.terms(),
        e.price_per_kib,
        &session.verifying_key(),
        &receipt,
    )
}

#[test]
fn real_settle_1_and_settle_8_pay_t_and_wrong_statements_change_nothing() {
    let mut fx = fixture(2);
    let (a, sa) = open(&mut fx, 21);
    let (b, sb) = open(&mut fx, 22);
    let (c, sc) = open(&mut fx, 23);

    // settle_1 for `a`: 100 KiB at price 2 pays 200.
    let slots = vec![slot(&a, &sa, 100)];
    let public = SettlePublic::for_slots(fx.node, a.price_per_kib, &slots);
    assert_eq!(public.total, Value(200));
    let p = prover()
        .prove_settle::<1>(&public, slots.clone(), &mut fx.rng)
        .unwrap();
    let good = SettleRequest {
        node_id: fx.node,
        k: 1,
        session_ids: vec![a.session_id],
        total: public.total,
        cm_refunds: vec![slots[0].public.cm_refund],
        proof: to_ledger_proof(&p.proof),
        authorisation: None,
    };
    let before = fx.status();
    let paid_before = fx.engine.balance(&fx.node_account).unwrap();
    let wrong_refund = SettleRequest {
        cm_refunds: vec![NoteCommitment::from_fr(fr(77))],
        ..good.clone()
    };
    let wrong_total = SettleRequest {
        total: Value(public.total.0 + 1),
        ..good.clone()
    };
    let wrong_k = SettleRequest {
        k: 8,
        ..good.clone()
    };
    for mut bad in [wrong_refund, wrong_total, wrong_k] {
        // Authorised by the node: the proof is what refuses them.
        fx.authorise(&mut bad);
        assert_eq!(fx.engine.settle(bad), Err(LedgerError::InvalidProof));
    }
    assert_eq!(fx.status(), before, "rejected settlements changed nothing");
    assert_eq!(
        fx.engine.get_escrow(&a.session_id).unwrap().unwrap().state,
        EscrowState::Open
    );

    let mut good = good;
    fx.authorise(&mut good);
    let r = fx.engine.settle(good).unwrap();
    assert_eq!(r.total, Value(200));
    assert_eq!(
        fx.engine.balance(&fx.node_account).unwrap(),
        Value(paid_before.0 + 200)
    );
    assert_eq!(
        fx.engine.commitments(r.first_leaf_index, 1).unwrap(),
        vec![slots[0].public.cm_refund],
        "the refund note E - T is in the tree"
    );

    // settle_8 for `b`, `c`: two real slots, six zero slots of padding.
    let mut slots = vec![slot(&b, &sb, 50), slot(&c, &sc, 1_000)];
    slots.resize(8, Slot::padding());
    let public = SettlePublic::for_slots(fx.node, a.price_per_kib, &slots);
    assert_eq!(public.total, Value(100 + 1_000));
    let p = prover()
        .prove_settle::<8>(&public, slots.clone(), &mut fx.rng)
        .unwrap();
    let good = SettleRequest {
        node_id: fx.node,
        k: 8,
        session_ids: vec![b.session_id, c.session_id],
        total: public.total,
        cm_refunds: vec![slots[0].public.cm_refund, slots[1].public.cm_refund],
        proof: to_ledger_proof(&p.proof),
        authorisation: None,
    };
    let swapped = SettleRequest {
        cm_refunds: vec![slots[1].public.cm_refund, slots[0].public.cm_refund],
        ..good.clone()
    };
    let before = fx.status();
    let (mut swapped, mut good) = (swapped, good);
    fx.authorise(&mut swapped);
    fx.authorise(&mut good);
    assert_eq!(fx.engine.settle(swapped), Err(LedgerError::InvalidProof));
    assert_eq!(fx.status(), before);
    let paid_before = fx.engine.balance(&fx.node_account).unwrap();
    fx.engine.settle(good).unwrap();
    assert_eq!(
        fx.engine.balance(&fx.node_account).unwrap(),
        Value(paid_before.0 + 1_100)
    );
    for id in [b.session_id, c.session_id] {
        assert!(matches!(
            fx.engine.get_escrow(&id).unwrap().unwrap().state,
            EscrowState::Settled { .. }
        ));
    }
    let audit = veil_ledger::audit::audit(fx.engine.store()).unwrap();
    assert!(audit.ok(), "{:?}", audit.violations);
}

#[test]
fn real_withdraw_end_to_end() {
    let mut fx = fixture(3);
    let note = fx.deposit(Value(3_000));
    let private = fx.private(&note);
    let recipient = AccountId::from_fr(fr(5_555));
    let public = WithdrawPublic::derive(&private, Value(1_200), recipient).unwrap();
    let w = prover()
        .prove_withdraw(&public, &private, &mut fx.rng)
        .unwrap();
    let st = WithdrawPublic {
        root: public.root,
        nullifier: public.nullifier,
        cm_change: public.cm_change,
        amount: public.amount,
        recipient,
    };
    let proof = to_ledger_proof(&w.proof);
    let before = fx.status();
    for bad in [
        WithdrawPublic {
            amount: Value(1_201),
            ..st.clone()
        },
        WithdrawPublic {
            recipient: AccountId::from_fr(fr(6_666)),
            ..st.clone()
        },
    ] {
        assert_eq!(
            fx.engine.withdraw(bad, &proof),
            Err(LedgerError::InvalidProof)
        );
    }
    assert_eq!(fx.status(), before);
    fx.engine.withdraw(st.clone(), &proof).unwrap();
    assert_eq!(fx.engine.balance(&recipient).unwrap(), Value(1_200));
    assert_eq!(fx.status().pool, Value(before.pool.0 - 1_200));
    // The nullifier is spent: the same note cannot open an escrow.
    let spent = fx.engine.withdraw(
        WithdrawPublic {
            amount: Value(1),
            ..st
        },
        &proof,
    );
    assert_eq!(spent, Err(LedgerError::NullifierSpent));
}

#[test]
fn dev_params_ledger_opens() {
    let dir = tempfile::tempdir().unwrap();
    let l = veil_ledger::EmbeddedLedger::open_with_dev_params(
        &dir.path().join("l.redb"),
        LedgerConfig::default(),
    );
    assert!(l.is_ok());
    // A batch size without a circuit cannot be configured with real keys.
    let bad = LedgerConfig {
        settle_batch_sizes: vec![2],
        ..LedgerConfig::default()
    };
    assert!(matches!(
        veil_ledger::EmbeddedLedger::in_memory_with_dev_params(bad),
        Err(LedgerError::VerifyingKeys(_))
    ));
}
