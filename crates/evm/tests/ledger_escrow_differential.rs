//! Differential test of `VeilLedger` stage 3 against the embedded ledger
//! (`veil_ledger::Engine` with the real Groth16 verifier and the same
//! development keys; docs/protocol.md §8.3.2, §8.3.4, §8.3.5): seeded
//! random sequences of escrow opens (honest, altered, replayed), reclaims
//! (early, late, replayed, with wrong terms), withdrawals and clock moves
//! are applied to both. Both accept or refuse alike, with the same
//! `LedgerError` variant (and text, for `InvalidArgument` and `Encoding`),
//! the same leaf indices and commitments; after every step the pool, the
//! escrowed total, the leaf count, the queue (the engine's leaves,
//! keccak-chained), every nullifier's state and the recipient's balance
//! agree.
//!
//! Mapping (docs/evm.md §5.3): a retry of an applied operation returns the
//! original result in the embedded ledger (§8.2) and is refused on chain
//! (`NullifierSpent` for an open or a withdrawal, `EscrowNotOpen` for a
//! reclaim: a transaction applies once), with nothing changed on either.
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
use veil_circuits::withdraw::WithdrawPublic;
use veil_evm::abi::{Word, word_u64};
use veil_evm::escrow::{
    self as calls, AccessWords, EscrowStatus, EscrowTerms, SpendWord, WithdrawWords,
};
use veil_evm::ledger::{LedgerEvent, queue_head};
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_ledger::records::NullifierUse;
use veil_ledger::state::StateRead;
use veil_ledger::types::EscrowState;
use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{Engine, LedgerConfig, testing};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::SessionId;
use veil_primitives::note::Address;
use veil_primitives::value::Value;
use veil_proofs::Proof;

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

#[derive(Debug, Clone, Copy)]
enum Op {
    Open { note: usize, alter: Alter },
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
}

impl World {
    fn new() -> Self {
        let f = Fx::new();
        let recipient = f.recipient;
        let verifier = Groth16Verifier::dev(&[1]).expect("development verifying keys");
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
            SpendWord::escrow(&EscrowTerms::of_token(st, e.price_per_kib.0), status)
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
        Op::Advance(_) => return false,
    };
    matches!((e, c), (Res::Ok(..), Res::Err(name, None)) if name == refused_as)
}

fn random_op(rng: &mut ChaCha20Rng) -> Op {
    let note = rng.gen_range(0..OWNED);
    match rng.gen_range(0..10) {
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
        _ => Op::Advance(rng.gen_range(1..=EXPIRY / 2)),
    }
}

fn run(ops: &[Op]) -> (usize, usize) {
    let mut w = World::new();
    w.assert_agree(0);
    let (mut applied, mut refused) = (0, 0);
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
        let key = format!("{op:?}");
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
        seen.push((key, e));
        w.assert_agree(step + 1);
    }
    (applied, refused)
}

#[test]
fn a_fixed_sequence_agrees() {
    use Alter::*;
    let ops = [
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
    ];
    let (applied, refused) = run(&ops);
    assert!(
        applied >= 6 && refused >= 8,
        "{applied} applied, {refused} refused"
    );
}

#[test]
fn random_sequences_agree() {
    for seed in 0..3u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let ops: Vec<Op> = (0..40).map(|_| random_op(&mut rng)).collect();
        let (applied, refused) = run(&ops);
        eprintln!("seed {seed}: {applied} applied, {refused} refused");
        assert!(applied > 5 && refused > 5);
    }
}
