//! Differential test of `VeilLedger` stages 3 and 4 against the embedded
//! ledger (`veil_ledger::Engine` with the real Groth16 verifier and the
//! same development keys; docs/protocol.md §8.3.2–§8.3.5): seeded random
//! sequences of escrow opens (honest, altered, replayed), settlements of
//! fixed batches at `settle_8` (honest, with `T` changed, with a session
//! twice, replayed), reclaims (early, late, replayed), withdrawals and
//! clock moves are applied to both. Both accept or refuse alike, with the same
//! `LedgerError` variant (and text, for `InvalidArgument` and `Encoding`),
//! the same leaf indices and commitments; after every step the pool, the
//! escrowed total, the leaf count, the queue (the engine's leaves,
//! keccak-chained), every nullifier's state, the recipient's balance and
//! the node's (the operator's on chain, the node account's embedded)
//! agree.
//!
//! Mapping (docs/evm.md §5.3): a retry of an applied operation returns the
//! original result in the embedded ledger (§8.2) and is refused on chain
//! (`NullifierSpent` for an open or a withdrawal, `EscrowNotOpen` for a
//! reclaim, `AlreadySettled` for a settlement: a transaction applies
//! once), with nothing changed on either. The node authorises a settlement
//! by its key's signature embedded and by sending it from its operator
//! address on chain.
//! `reclaim` given terms other than the escrow's (`EscrowTermsMismatch`)
//! has no embedded twin (the engine reads its own record): it is tested in
//! `ledger_escrow.rs`.

mod chain;
mod differential;
mod escrow;

use differential::{Res, chain_err, embedded_err};

use std::sync::{Arc, OnceLock};

use escrow::{EXPIRY, Fx, NODE, NOTE_VALUE, OWNED, PRICE, SIZES};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_circuits::access::AccessPublic;
use veil_circuits::settle::{SettlePublic, Slot};
use veil_circuits::withdraw::WithdrawPublic;
use veil_evm::abi::{Word, word_u64};
use veil_evm::escrow::{
    self as calls, AccessWords, EscrowStatus, EscrowTerms, SpendWord, WithdrawWords,
};
use veil_evm::ledger::{LedgerEvent, queue_head};
use veil_evm::sample;
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_evm::settle::SettleCall;
use veil_ledger::records::NullifierUse;
use veil_ledger::state::StateRead;
use veil_ledger::types::EscrowState;
use veil_ledger::types::{SettleBatch, SettleRequest, SettleSlot};
use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{Engine, LedgerConfig, testing};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::SessionId;
use veil_primitives::note::Address;
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Proof, Prover, SettleSize};

fn chain_res(out: &Outcome) -> Res {
    if out.status == Status::Success {
        return match out
            .logs
            .iter()
            .rev()
            .find_map(|e| LedgerEvent::decode(e).ok())
        {
            Some(LedgerEvent::EscrowOpened {
                terms: _,
                cm_change,
                change_index,
                ..
            }) => Res::Ok(change_index, cm_change),
            Some(LedgerEvent::Withdrawn {
                cm_change,
                change_index,
                ..
            }) => Res::Ok(change_index, cm_change),
            Some(LedgerEvent::Reclaimed {
                commitment, index, ..
            }) => Res::Ok(index, commitment),
            Some(LedgerEvent::Settled {
                first_index,
                cm_refunds,
                ..
            }) => Res::Ok(first_index, cm_refunds[0]),
            other => panic!("no escrow event: {other:?}"),
        };
    }
    chain_err(out)
}

/// One note's real proofs: an escrow of 300 at the node and a withdrawal
/// of 10 to the recipient (each note is spent by at most one of them).
#[derive(Clone)]
struct NoteProofs {
    open: (AccessPublic, AccessWords, Proof),
    withdraw: (WithdrawPublic, WithdrawWords, Proof),
}

fn proofs(recipient: EvmAddress) -> &'static [NoteProofs] {
    static P: OnceLock<Vec<NoteProofs>> = OnceLock::new();
    P.get_or_init(|| {
        (0..OWNED)
            .map(|i| NoteProofs {
                open: escrow::token_with_proof(i, 300, NODE),
                withdraw: escrow::withdrawal_with_proof(i, 10, recipient),
            })
            .collect()
    })
}

/// The batches settled (notes, in slot order), each at `settle_8`.
const SETTLE_BATCHES: [&[usize]; 3] = [&[0], &[1, 2], &[3, 4, 5]];

/// One batch's settlement, proved once per test binary: the chain's call,
/// and the embedded ledger's statement and proof.
struct Settlement {
    call: SettleCall,
    statement: SettleBatch,
    proof: Proof,
}

fn settlements(recipient: EvmAddress) -> &'static [Settlement] {
    static S: OnceLock<Vec<Settlement>> = OnceLock::new();
    S.get_or_init(|| {
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
        let k8 = CircuitId::Settle(SettleSize::K8);
        let prover = Prover::from_store(&store, &[k8], None).expect("settle_8 key");
        SETTLE_BATCHES
            .iter()
            .enumerate()
            .map(|(b, notes)| {
                let opens: Vec<&AccessPublic> = notes
                    .iter()
                    .map(|&i| &proofs(recipient)[i].open.0)
                    .collect();
                let mut slots: Vec<Slot> = notes
                    .iter()
                    .zip(&opens)
                    .map(|(&i, st)| sample::settle_slot(st, i, 10 + i as u64).expect("slot"))
                    .collect();
                slots.resize(8, Slot::padding());
                let public = SettlePublic::for_slots(opens[0].node_id, Value(PRICE), &slots);
                let mut rng = ChaCha20Rng::seed_from_u64(700 + b as u64);
                let proof = prover
                    .prove_settle::<8>(&public, slots, &mut rng)
                    .expect("prove settle")
                    .proof;
                let escrows: Vec<_> = opens
                    .iter()
                    .map(|st| (st.nullifier.to_bytes(), EscrowTerms::of_token(st, PRICE)))
                    .collect();
                let call = SettleCall::new(&public, &escrows, &proof).expect("call");
                let statement = SettleBatch {
                    node_id: public.node_id,
                    k: 8,
                    total: public.total,
                    price: Value(PRICE),
                    slots: opens
                        .iter()
                        .zip(&public.slots)
                        .map(|(st, slot)| SettleSlot {
                            session_id: st.nullifier.into(),
                            escrow: st.escrow,
                            public: *slot,
                        })
                        .collect(),
                };
                Settlement {
                    call,
                    statement,
                    proof,
                }
            })
            .collect()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SettleAlter {
    None,
    /// `T + 1` (still `≤ Σ E`): the proof does not verify.
    TotalUp,
    /// The first session twice (in the second slot, or appended).
    Duplicate,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Open { note: usize, alter: Alter },
    Settle { batch: usize, alter: SettleAlter },
    Withdraw { note: usize, amount_zero: bool },
    Reclaim { note: usize },
    Advance(u64),
}

#[derive(Debug, Clone, Copy)]
enum Alter {
    None,
    /// An escrow size the node does not accept.
    Size,
    /// Another accepted size: the proof does not verify.
    OtherSize,
    /// A root never current.
    Root,
    Zero,
}

struct World {
    engine: Engine,
    f: Fx,
    recipient: EvmAddress,
    /// The embedded node's account (paid by settlements).
    node_account: veil_primitives::ids::AccountId,
}

impl World {
    fn new() -> Self {
        let f = Fx::new();
        let recipient = f.recipient;
        let verifier = Groth16Verifier::dev(&[1, 8]).expect("development verifying keys");
        let engine =
            Engine::in_memory(Arc::new(verifier), LedgerConfig::with_dev_faucet()).expect("engine");
        let account_key = SigningKey::from_seed([0xac; 32]).expect("seed");
        let account = account_key.verifying_key().account_id();
        engine
            .faucet(account, Value(NOTE_VALUE * 64))
            .expect("faucet");
        for a in escrow::deposit_addrs() {
            let addr = Address::from_bytes(&a).expect("canonical");
            testing::deposit(&engine, &account_key, Value(NOTE_VALUE), addr).expect("deposit");
        }
        let node = escrow::node_key(NODE);
        let sizes = SIZES.iter().map(|s| Value(*s)).collect();
        let reg = testing::registration(
            &engine,
            &node,
            &account_key,
            Value(PRICE),
            sizes,
            Value(0),
            [0x5a; 32],
        )
        .expect("sign");
        engine.register_node(reg).expect("register");
        World {
            engine,
            f,
            recipient,
            node_account: account,
        }
    }

    /// Applies `op` to both sides: their two outcomes, or `None` for a
    /// clock move (both clocks set to the engine's new height; nothing to
    /// compare but the state after it).
    fn apply(&mut self, op: Op) -> Option<(Res, Res)> {
        let relayer = self.f.relayer;
        Some(match op {
            Op::Open { note, alter } => {
                let (mut st, mut words, proof) = proofs(self.recipient)[note].open.clone();
                alter_token(&mut st, &mut words, alter);
                let e = match self.engine.open_escrow(st, &wire(&proof)) {
                    Ok(e) => Res::Ok(
                        self.change_index(&e.cm_change.to_bytes()),
                        e.cm_change.to_bytes(),
                    ),
                    Err(e) => embedded_err(&e),
                };
                let out = self
                    .f
                    .l
                    .tx(relayer, &calls::open_escrow(words.node_id(), &words));
                (e, chain_res(&out))
            }
            Op::Settle { batch, alter } => {
                let s = &settlements(self.recipient)[batch];
                let (mut call, mut statement) = (s.call.clone(), s.statement.clone());
                if alter == SettleAlter::TotalUp {
                    statement.total = Value(statement.total.0 + 1);
                    call.total = word_u64(statement.total.0);
                }
                let mut req =
                    SettleRequest::signed(&escrow::node_key(NODE), &statement, wire(&s.proof))
                        .expect("sign");
                if alter == SettleAlter::Duplicate {
                    // Not a statement the node could sign: refused
                    // before the signature is looked at.
                    let (sid, cm) = (req.session_ids[0], req.cm_refunds[0]);
                    if req.session_ids.len() > 1 {
                        (req.session_ids[1], req.cm_refunds[1]) = (sid, cm);
                        call.sessions[1] = call.sessions[0];
                    } else {
                        req.session_ids.push(sid);
                        req.cm_refunds.push(cm);
                        call.sessions.push(call.sessions[0]);
                    }
                }
                let e = match self.engine.settle(req) {
                    Ok(r) => Res::Ok(
                        r.first_leaf_index,
                        statement.slots[0].public.cm_refund.to_bytes(),
                    ),
                    Err(e) => embedded_err(&e),
                };
                let operator = self.f.operator;
                let out = self.f.l.tx(operator, &call.calldata());
                (e, chain_res(&out))
            }
            Op::Withdraw { note, amount_zero } => {
                let (mut st, mut words, proof) = proofs(self.recipient)[note].withdraw.clone();
                if amount_zero {
                    st.amount = Value(0);
                    words.inputs[3] = word_u64(0);
                }
                let e = match self.engine.withdraw(st, &wire(&proof)) {
                    Ok(r) => Res::Ok(r.leaf_index, st.cm_change.to_bytes()),
                    Err(e) => embedded_err(&e),
                };
                let out = self.f.l.tx(relayer, &calls::withdraw(&words));
                (e, chain_res(&out))
            }
            Op::Reclaim { note } => {
                let (st, words, _) = &proofs(self.recipient)[note].open;
                let sid = words.nullifier();
                let e = match self
                    .engine
                    .reclaim(SessionId::from_bytes(&sid).expect("sid"))
                {
                    Ok(r) => Res::Ok(r.leaf_index, r.commitment.to_bytes()),
                    Err(e) => embedded_err(&e),
                };
                let terms = EscrowTerms::of_token(st, PRICE).words();
                let out = self.f.l.tx(relayer, &calls::reclaim(sid, &terms));
                (e, chain_res(&out))
            }
            Op::Advance(n) => {
                let h = self.engine.advance(n).expect("advance").0;
                self.f.l.c.sandbox.set_block_number(h);
                return None;
            }
        })
    }

    /// The leaf index of a commitment in the engine's leaves.
    fn change_index(&self, cm: &Word) -> u64 {
        let n = self.engine.status().expect("status").commitment_count;
        let leaves = self.engine.commitments(0, n as u32).expect("leaves");
        leaves
            .iter()
            .rposition(|c| c.to_bytes() == *cm)
            .expect("appended") as u64
    }

    /// Pool, escrowed, leaf count, queue, spend words, recipient balance.
    fn assert_agree(&mut self, step: usize) {
        let read = self.engine.store().read().expect("read");
        let totals = read.totals().expect("totals");
        let n = self.engine.status().expect("status").commitment_count;
        let leaves: Vec<Word> = self
            .engine
            .commitments(0, n as u32)
            .expect("leaves")
            .iter()
            .map(|c| c.to_bytes())
            .collect();
        let s = self.f.state();
        assert_eq!(s.ledger.pool, totals.pool, "pool at step {step}");
        assert_eq!(s.escrowed, totals.escrowed, "escrowed at step {step}");
        assert_eq!(s.ledger.leaf_count, n, "leaf count at step {step}");
        assert_eq!(
            s.ledger.queue_head,
            queue_head(&leaves),
            "queue at step {step}"
        );
        for p in proofs(self.recipient) {
            let nf = p.open.1.nullifier();
            let expected = embedded_word(&read, &p.open.0);
            assert_eq!(self.f.spend_word(nf), expected, "nullifier at step {step}");
        }
        let paid = self
            .engine
            .balance(&calls::recipient_account(self.recipient))
            .expect("balance");
        assert_eq!(
            self.f.l.c.balance(self.recipient),
            U256::from(paid.0),
            "recipient at step {step}"
        );
        let node = self.engine.balance(&self.node_account).expect("balance");
        assert_eq!(
            self.f.l.c.balance(self.f.operator),
            U256::from(node.0),
            "the node's pay at step {step}"
        );
    }
}

/// A proof as the embedded ledger takes it (its 128-byte encoding).
fn wire(p: &Proof) -> veil_ledger::types::Proof {
    veil_ledger::types::Proof(p.to_bytes())
}

/// The chain's spend word for the embedded ledger's record of `st`'s
/// nullifier.
fn embedded_word(read: &impl StateRead, st: &AccessPublic) -> SpendWord {
    let sid = SessionId::from(st.nullifier);
    match read.nullifier(&st.nullifier).expect("read") {
        None => SpendWord::Unspent,
        Some(NullifierUse::Withdrawal { .. }) => SpendWord::Withdrawn,
        Some(_) => {
            let e = read.escrow(&sid).expect("read").expect("escrow record");
            let status = match e.state {
                EscrowState::Open => EscrowStatus::Open,
                EscrowState::Settled { .. } => EscrowStatus::Settled,
                EscrowState::Reclaimed { .. } => EscrowStatus::Reclaimed,
            };
            // The terms as the embedded record holds them (not the token's).
            let terms = EscrowTerms {
                node_id: e.node_id.to_bytes(),
                escrow: e.escrow.0,
                refund_owner: e.refund_owner.to_bytes(),
                expiry: e.expiry.0,
                esc: e.terms().commitment().to_bytes(),
                price_per_kib: e.price_per_kib.0,
            };
            assert_eq!(terms, EscrowTerms::of_token(st, PRICE));
            SpendWord::escrow(&terms, status)
        }
    }
}

fn alter_token(st: &mut AccessPublic, w: &mut AccessWords, alter: Alter) {
    use veil_circuits::access::{ESCROW, ROOT};
    let set_e = |st: &mut AccessPublic, w: &mut AccessWords, e: u64| {
        st.escrow = Value(e);
        w.inputs[ESCROW] = word_u64(e);
    };
    match alter {
        Alter::None => {}
        Alter::Size => set_e(st, w, 200),
        Alter::OtherSize => set_e(st, w, 500),
        Alter::Zero => set_e(st, w, 0),
        Alter::Root => {
            st.root = veil_primitives::merkle::MerkleRoot::from_fr(12345u64.into());
            w.inputs[ROOT] = veil_evm::solidity::fr_word(&st.root.inner());
        }
    }
}

/// A retry of an applied operation: the embedded ledger answers with the
/// original result, the chain refuses it; both change nothing.
fn is_retry_pair(e: &Res, c: &Res, op: Op) -> bool {
    let refused_as = match op {
        Op::Open { .. } | Op::Withdraw { .. } => "NullifierSpent",
        Op::Reclaim { .. } => "EscrowNotOpen",
        Op::Settle { .. } => "AlreadySettled",
        Op::Advance(_) => return false,
    };
    matches!((e, c), (Res::Ok(..), Res::Err(name, None)) if name == refused_as)
}

/// What identifies a retry: the operation, except that an open of a note is
/// a retry of its applied open whatever the token's root (the embedded
/// ledger's `same_token` compares the terms and the change note, not the
/// root: its record does not keep it), and a settlement of a batch a retry
/// of its applied settlement (the embedded ledger answers only an identical
/// one with the receipt; anything else is refused on both sides alike).
fn retry_key(op: &Op) -> String {
    match op {
        Op::Open { note, .. } => format!("open {note}"),
        Op::Settle { batch, .. } => format!("settle {batch}"),
        other => format!("{other:?}"),
    }
}

fn random_op(rng: &mut ChaCha20Rng) -> Op {
    let note = rng.gen_range(0..OWNED);
    match rng.gen_range(0..12) {
        0..=3 => Op::Open {
            note,
            alter: match rng.gen_range(0..8) {
                0 => Alter::Size,
                1 => Alter::OtherSize,
                2 => Alter::Root,
                3 => Alter::Zero,
                _ => Alter::None,
            },
        },
        4..=5 => Op::Withdraw {
            note,
            amount_zero: rng.gen_range(0..6) == 0,
        },
        6..=7 => Op::Reclaim { note },
        8..=9 => Op::Settle {
            batch: rng.gen_range(0..SETTLE_BATCHES.len()),
            alter: match rng.gen_range(0..6) {
                0 => SettleAlter::TotalUp,
                1 => SettleAlter::Duplicate,
                _ => SettleAlter::None,
            },
        },
        _ => Op::Advance(rng.gen_range(1..=EXPIRY / 2)),
    }
}

/// Applies `ops` to both sides; (applied, refused, settlements applied).
fn run(ops: &[Op]) -> (usize, usize, usize) {
    let mut w = World::new();
    w.assert_agree(0);
    let (mut applied, mut refused, mut settled) = (0, 0, 0);
    let mut seen: Vec<(String, Res)> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let before = (
            w.f.state(),
            w.engine.status().expect("status").commitment_count,
        );
        let Some((e, c)) = w.apply(*op) else {
            w.assert_agree(step + 1);
            continue;
        };
        let key = retry_key(op);
        let earlier = seen
            .iter()
            .rev()
            .find(|(k, r)| *k == key && matches!(r, Res::Ok(..)))
            .map(|(_, r)| r.clone());
        if is_retry_pair(&e, &c, *op) && earlier.as_ref() == Some(&e) {
            let after = (
                w.f.state(),
                w.engine.status().expect("status").commitment_count,
            );
            assert_eq!(
                after, before,
                "a retry changed state at step {step}: {op:?}"
            );
        } else {
            assert_eq!(e, c, "step {step}: {op:?}");
        }
        match e {
            Res::Ok(..) => applied += 1,
            Res::Err(..) => refused += 1,
        }
        if matches!((op, &c), (Op::Settle { .. }, Res::Ok(..))) {
            settled += 1;
        }
        seen.push((key, e));
        w.assert_agree(step + 1);
    }
    (applied, refused, settled)
}

#[test]
fn a_fixed_sequence_agrees() {
    use Alter::*;
    let settle = |batch: usize, alter: SettleAlter| Op::Settle { batch, alter };
    let ops = [
        // Settlements in the window: batch 2 is notes 3, 4, 5.
        Op::Open {
            note: 3,
            alter: None,
        },
        Op::Open {
            note: 4,
            alter: None,
        },
        settle(2, SettleAlter::None),
        Op::Open {
            note: 5,
            alter: None,
        },
        settle(2, SettleAlter::Duplicate),
        settle(2, SettleAlter::TotalUp),
        settle(2, SettleAlter::None),
        settle(2, SettleAlter::None),
        Op::Reclaim { note: 3 },
        settle(0, SettleAlter::None),
        Op::Open {
            note: 0,
            alter: Zero,
        },
        Op::Open {
            note: 0,
            alter: Size,
        },
        Op::Open {
            note: 0,
            alter: OtherSize,
        },
        Op::Open {
            note: 0,
            alter: Root,
        },
        Op::Reclaim { note: 0 },
        Op::Open {
            note: 0,
            alter: None,
        },
        Op::Open {
            note: 0,
            alter: None,
        },
        Op::Withdraw {
            note: 0,
            amount_zero: false,
        },
        Op::Reclaim { note: 0 },
        Op::Advance(EXPIRY + 20),
        Op::Reclaim { note: 0 },
        Op::Advance(1),
        Op::Reclaim { note: 0 },
        Op::Reclaim { note: 0 },
        Op::Withdraw {
            note: 1,
            amount_zero: true,
        },
        Op::Withdraw {
            note: 1,
            amount_zero: false,
        },
        Op::Withdraw {
            note: 1,
            amount_zero: false,
        },
        Op::Open {
            note: 1,
            alter: None,
        },
        Op::Reclaim { note: 1 },
        Op::Open {
            note: 2,
            alter: None,
        },
        // Settlements, after the clock moved: note 2's escrow expires at
        // EXPIRY like every other, so its window has closed.
        Op::Settle {
            batch: 1,
            alter: SettleAlter::None,
        },
    ];
    let (applied, refused, settled) = run(&ops);
    assert!(
        applied >= 8 && refused >= 12 && settled == 1,
        "{applied} applied, {refused} refused, {settled} settled"
    );
}

#[test]
fn random_sequences_agree() {
    let mut settled_in_all = 0;
    for seed in 0..3u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ops: Vec<Op> = (0..40).map(|_| random_op(&mut rng)).collect();
        let (applied, refused, settled) = run(&ops);
        eprintln!("seed {seed}: {applied} applied, {refused} refused, {settled} settled");
        assert!(applied > 5 && refused > 5);
        settled_in_all += settled;
    }
    assert!(settled_in_all > 0, "no settlement applied");
}
