//! `VeilLedger.settle` (docs/evm.md §7; docs/protocol.md §5, §8.3.3):
//! escrows opened from real access proofs settled by their node's operator
//! with real `settle_K` proofs over `[node_id, T, price, esc.., cm..]`.
//! The honest settle pays `T`, returns `Σ E − T` to the pool, queues the
//! refund notes and marks the sessions Settled; every refusal asserts its
//! custom error (named like the embedded `LedgerError`), no event, and
//! balances, queue, counters, pool, escrowed total and the sessions' spend
//! words unchanged.

mod chain;
mod escrow;

use std::sync::OnceLock;

use escrow::{EXPIRY, Fx, NODE, OTHER_NODE, fq_neg, node_id, token, tokens};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::access::AccessPublic;
use veil_circuits::settle::{SettlePublic, Slot};
use veil_evm::abi::{Word, word_u64};
use veil_evm::escrow::{self as calls, AccessWords, EscrowStatus, EscrowTerms, SpendWord};
use veil_evm::ledger::{self, LedgerEvent, LedgerRevert, NodeUpdateCall, queue_step};
use veil_evm::sample;
use veil_evm::sandbox::Outcome;
use veil_evm::settle::{SettleCall, SettleSession};
use veil_evm::token::TokenEvent;
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Proof, Prover, SettleSize};

/// Receipt gas of `settle` of 8 sessions with a `settle_8` proof (notes
/// 0..8), and of 3 sessions, each the operator's first payout (its token
/// balance slot goes from zero). Deterministic (seeded proofs).
const SETTLE_8_OF_8_GAS: u64 = 479_941;
const SETTLE_3_OF_8_GAS: u64 = 426_484;

/// The field modulus r as a word (the first non-canonical value).
fn r_word() -> Word {
    hex::decode("30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001")
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| {
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
        let ids = [
            CircuitId::Settle(SettleSize::K1),
            CircuitId::Settle(SettleSize::K8),
        ];
        Prover::from_store(&store, &ids, None).expect("settle_1 and settle_8 keys")
    })
}

/// KiB of the receipt each session of note `i` is settled with: pays
/// `3 · (10 + i)`, less than its escrow of 300.
fn kib(i: usize) -> u64 {
    10 + i as u64
}

/// The escrow `st` opened at a node pricing `price` per KiB, as `settle`
/// takes it.
fn escrow_of(st: &AccessPublic, price: u64) -> (Word, EscrowTerms) {
    (st.nullifier.to_bytes(), EscrowTerms::of_token(st, price))
}

/// A real settlement of the sessions `sts` (opened from notes `notes`, in
/// slot order) with a `settle_k` proof: its statement and call.
fn settlement(sts: &[(usize, AccessPublic)], k: usize, seed: u64) -> (SettlePublic, SettleCall) {
    settlement_at(sts, k, seed, sample::PRICE)
}

/// [`settlement`] of escrows that recorded `price` when they were opened.
fn settlement_at(
    sts: &[(usize, AccessPublic)],
    k: usize,
    seed: u64,
    price: u64,
) -> (SettlePublic, SettleCall) {
    let mut slots: Vec<Slot> = sts
        .iter()
        .map(|(i, st)| sample::settle_slot_at(st, *i, kib(*i), price).expect("slot"))
        .collect();
    slots.resize(k, Slot::padding());
    let node = sts[0].1.node_id;
    let public = SettlePublic::for_slots(node, Value(price), &slots);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let proof: Proof = match k {
        1 => prover().prove_settle::<1>(&public, slots, &mut rng),
        8 => prover().prove_settle::<8>(&public, slots, &mut rng),
        _ => panic!("no settle_{k} here"),
    }
    .expect("prove settle")
    .proof;
    let escrows: Vec<_> = sts.iter().map(|(_, st)| escrow_of(st, price)).collect();
    let call = SettleCall::new(&public, &escrows, &proof).expect("the call of the statement");
    (public, call)
}

/// The settlement of notes `0..n` (opened at [`NODE`] by [`opened`]) at
/// `settle_8`, proved once per test binary per `n`.
fn settle_8(n: usize) -> (SettlePublic, SettleCall) {
    static S: OnceLock<std::sync::Mutex<Vec<(usize, (SettlePublic, SettleCall))>>> =
        OnceLock::new();
    let cache = S.get_or_init(Default::default);
    let mut c = cache.lock().expect("cache");
    if let Some((_, s)) = c.iter().find(|(m, _)| *m == n) {
        return s.clone();
    }
    let sts: Vec<(usize, AccessPublic)> = tokens(n)
        .into_iter()
        .enumerate()
        .map(|(i, (st, _))| (i, st))
        .collect();
    let s = settlement(&sts, 8, 500 + n as u64);
    c.push((n, s.clone()));
    s
}

/// A fixture with the escrows of notes `0..n` opened at [`NODE`] (one
/// `openEscrows`, sent by the relayer).
fn opened(n: usize) -> (Fx, Vec<(AccessPublic, AccessWords)>) {
    let mut f = Fx::new();
    let ts = tokens(n);
    let words: Vec<AccessWords> = ts.iter().map(|(_, t)| *t).collect();
    let relayer = f.relayer;
    f.ok(relayer, &calls::open_escrows(node_id(NODE), &words));
    (f, ts)
}

fn ledger_events(f: &Fx, out: &Outcome) -> Vec<LedgerEvent> {
    out.logs
        .iter()
        .filter(|e| e.address == f.l.ledger)
        .map(|e| LedgerEvent::decode(e).expect("ledger event"))
        .collect()
}

fn sids(ts: &[(AccessPublic, AccessWords)]) -> Vec<Word> {
    ts.iter().map(|(_, t)| t.nullifier()).collect()
}

// ------------------------------------------------------------- honest

#[test]
fn an_honest_settle_pays_the_operator_queues_the_refunds_and_settles() {
    let (mut f, ts) = opened(3);
    let (public, call) = settle_8(3);
    let total = public.total.get();
    assert_eq!(total, 3 * (10 + 11 + 12));
    let before = f.state();
    let operator = f.operator;
    let out = f.ok(operator, &call.calldata());
    let cms: Vec<Word> = public.slots[..3]
        .iter()
        .map(|s| s.cm_refund.to_bytes())
        .collect();
    let token_events: Vec<TokenEvent> = out
        .logs
        .iter()
        .filter(|e| e.address == f.l.c.token)
        .map(|e| TokenEvent::decode(e).expect("token event"))
        .collect();
    assert_eq!(
        token_events,
        vec![TokenEvent::Transfer {
            from: f.l.ledger,
            to: operator,
            value: revm::primitives::U256::from(total),
        }]
    );
    assert_eq!(
        ledger_events(&f, &out),
        vec![LedgerEvent::Settled {
            node_id: node_id(NODE),
            total,
            first_index: 64 + 3,
            session_ids: sids(&ts),
            cm_refunds: cms.clone(),
        }]
    );
    let after = f.state();
    // T to the operator (accounts: alice, operator, relayer, recipient).
    let t = revm::primitives::U256::from(total);
    assert_eq!(after.ledger.balances[1], before.ledger.balances[1] + t);
    assert_eq!(
        after.ledger.ledger_balance,
        before.ledger.ledger_balance - t
    );
    assert_eq!(after.ledger.pool, before.ledger.pool + 900 - total);
    assert_eq!(after.escrowed, before.escrowed - 900);
    assert_eq!(after.escrowed, 0);
    // The refunds queued like deposits, in slot order.
    assert_eq!(after.ledger.leaf_count, before.ledger.leaf_count + 3);
    let head = cms
        .iter()
        .fold(before.ledger.queue_head, |h, cm| queue_step(&h, cm));
    assert_eq!(after.ledger.queue_head, head);
    // The turnstile: the ledger's balance is pool + escrowed + staked.
    assert_eq!(
        after.ledger.ledger_balance,
        revm::primitives::U256::from(after.ledger.pool + after.escrowed + after.ledger.staked)
    );
    for (st, t) in &ts {
        assert_eq!(
            f.spend_word(t.nullifier()),
            SpendWord::escrow(
                &EscrowTerms::of_token(st, sample::PRICE),
                EscrowStatus::Settled
            )
        );
    }
    eprintln!("settle 3 of 8 gas {}", out.gas_used);
    assert_eq!(out.gas_used, SETTLE_3_OF_8_GAS);
    // A retry is refused (the embedded ledger answers it with the
    // receipt; on chain a transaction applies once, docs/evm.md §7.3).
    f.refused(
        operator,
        &call.calldata(),
        LedgerRevert::AlreadySettled,
        &sids(&ts),
    );
}

/// §8.3.8: an escrow settles at the price it recorded when it was opened.
/// The node raises its price between two opens: the escrows opened before
/// settle at the old price (a statement at the new one is refused), the
/// one opened after at the new price, and a batch mixing the two is
/// refused as the embedded ledger's `batch_price` refuses it.
#[test]
fn escrows_opened_before_a_price_update_settle_at_their_recorded_price() {
    const NEW_PRICE: u64 = 5;
    let mut f = Fx::new();
    let ts = tokens(3);
    let (relayer, operator) = (f.relayer, f.operator);
    f.ok(
        relayer,
        &calls::open_escrows(node_id(NODE), &[ts[0].1, ts[1].1]),
    );
    let update = NodeUpdateCall {
        node_id: node_id(NODE),
        sequence: word_u64(1),
        price_per_kib: word_u64(NEW_PRICE),
        escrow_sizes: sample::SIZES.iter().map(|s| word_u64(*s)).collect(),
        tls_key_hash: [0x6b; 32],
        profile: vec![],
        node_signature: [[0; 32]; 3],
    };
    f.ok(operator, &ledger::update_node(&update));
    let out = f.ok(relayer, &calls::open_escrow(node_id(NODE), &ts[2].1));
    assert!(matches!(&ledger_events(&f, &out)[..],
        [LedgerEvent::EscrowOpened { terms, .. }] if terms.price_per_kib == NEW_PRICE));
    let nfs = sids(&ts);
    // Notes 0 and 1 with note 2 in one batch: two prices.
    let (_, old) = settle_8(2);
    let mut mixed = old.clone();
    mixed.sessions[1].session_id = ts[2].1.nullifier();
    mixed.sessions[1].terms = EscrowTerms::of_token(&ts[2].0, NEW_PRICE);
    f.refused(
        operator,
        &mixed.calldata(),
        LedgerRevert::InvalidArgument("escrows of one batch record different prices".into()),
        &nfs,
    );
    // Notes 0 and 1 proved at the new price: the contract's statement
    // has the recorded one.
    let sts: Vec<(usize, AccessPublic)> = (0..2).map(|i| (i, ts[i].0)).collect();
    let (_, at_new) = settlement_at(&sts, 8, 91, NEW_PRICE);
    let mut at_new_recorded = at_new.clone();
    for (s, (_, st)) in at_new_recorded.sessions.iter_mut().zip(&sts) {
        s.terms = EscrowTerms::of_token(st, sample::PRICE);
    }
    f.refused(
        operator,
        &at_new_recorded.calldata(),
        LedgerRevert::InvalidProof,
        &nfs,
    );
    // At their recorded price they settle, and so does note 2 at the new.
    let out = f.ok(operator, &old.calldata());
    assert!(matches!(&ledger_events(&f, &out)[..],
        [LedgerEvent::Settled { total, .. }] if *total == sample::PRICE * (kib(0) + kib(1))));
    let (_, new) = settlement_at(&[(2, ts[2].0)], 1, 92, NEW_PRICE);
    let out = f.ok(operator, &new.calldata());
    assert!(matches!(&ledger_events(&f, &out)[..],
        [LedgerEvent::Settled { total, .. }] if *total == NEW_PRICE * kib(2)));
}

#[test]
fn a_full_settle_8_is_measured_exactly() {
    let (mut f, ts) = opened(8);
    let (public, call) = settle_8(8);
    let operator = f.operator;
    let out = f.ok(operator, &call.calldata());
    assert!(matches!(
        &ledger_events(&f, &out)[..],
        [LedgerEvent::Settled { total, first_index: 72, session_ids, .. }]
            if *total == public.total.get() && *session_ids == sids(&ts)
    ));
    eprintln!(
        "settle 8 of 8 gas {}, per session {}",
        out.gas_used,
        out.gas_used.div_ceil(8)
    );
    assert_eq!(out.gas_used, SETTLE_8_OF_8_GAS);
}

#[test]
fn settle_1_and_the_last_height_of_the_window() {
    let (mut f, ts) = opened(2);
    let (st, _) = &ts[1];
    let (public, call) = settlement(&[(1, *st)], 1, 77);
    let operator = f.operator;
    // The window's last height is expiry + challenge window.
    f.l.c
        .sandbox
        .set_block_number(EXPIRY + chain::CHALLENGE_WINDOW);
    let before = f.state();
    f.ok(operator, &call.calldata());
    let after = f.state();
    assert_eq!(after.escrowed, before.escrowed - 300);
    assert_eq!(
        after.ledger.pool,
        before.ledger.pool + 300 - public.total.get()
    );
    assert_eq!(after.ledger.leaf_count, before.ledger.leaf_count + 1);
    assert!(matches!(
        f.spend_word(st.nullifier.to_bytes()),
        SpendWord::Escrow {
            status: EscrowStatus::Settled,
            ..
        }
    ));
    // The other escrow is still open.
    assert!(matches!(
        f.spend_word(ts[0].1.nullifier()),
        SpendWord::Escrow {
            status: EscrowStatus::Open,
            ..
        }
    ));
}

/// `SettleCall::new` takes its sessions from the statement's real slots
/// and refuses escrows that are not theirs.
#[test]
fn the_call_is_built_only_from_the_statements_escrows() {
    use veil_evm::settle::SettleCallError;
    let (public, honest) = settle_8(3);
    let ts = tokens(4);
    // Any proof: `new` only encodes it.
    let (_, _, proof) = escrow::token_with_proof(0, 300, NODE);
    let escrows: Vec<_> = ts[..3]
        .iter()
        .map(|(st, _)| escrow_of(st, sample::PRICE))
        .collect();
    let call = SettleCall::new(&public, &escrows, &proof).expect("the statement's escrows");
    assert_eq!(
        (call.node_id, call.k, call.total, call.sessions),
        (honest.node_id, honest.k, honest.total, honest.sessions)
    );
    let mut other = escrows.clone();
    other[1] = escrow_of(&ts[3].0, sample::PRICE);
    assert_eq!(
        SettleCall::new(&public, &other, &proof),
        Err(SettleCallError::EscrowMismatch { slot: 1 })
    );
    assert_eq!(
        SettleCall::new(&public, &escrows[..2], &proof),
        Err(SettleCallError::NotPadding { slot: 2 })
    );
    assert_eq!(
        SettleCall::new(&public, &[], &proof),
        Err(SettleCallError::SessionCount { given: 0, k: 8 })
    );
    let nine = vec![escrows[0]; 9];
    assert_eq!(
        SettleCall::new(&public, &nine, &proof),
        Err(SettleCallError::SessionCount { given: 9, k: 8 })
    );
    let mut seven_slots = public.clone();
    seven_slots.slots.pop();
    assert_eq!(
        SettleCall::new(&seven_slots, &escrows, &proof),
        Err(SettleCallError::BatchSize(7))
    );
}

// ------------------------------------------------------------ refusals

#[test]
fn settle_refusals_follow_the_embedded_rules_and_change_nothing() {
    let (mut f, ts) = opened(3);
    // An escrow of the other node (note 5).
    let (other_st, other_t) = token(5, 300, OTHER_NODE);
    let relayer = f.relayer;
    f.ok(relayer, &calls::open_escrow(node_id(OTHER_NODE), &other_t));
    let (_, honest) = settle_8(3);
    let operator = f.operator;
    let mut nfs = sids(&ts);
    nfs.push(other_t.nullifier());
    let with = |edit: &dyn Fn(&mut SettleCall)| {
        let mut c = honest.clone();
        edit(&mut c);
        c.calldata()
    };
    let invalid = |s: &str| LedgerRevert::InvalidArgument(s.into());
    let big = {
        let mut w = [0u8; 32];
        w[23] = 1; // 2^64
        w
    };
    let other_session = SettleSession {
        session_id: other_t.nullifier(),
        terms: EscrowTerms::of_token(&other_st, sample::PRICE),
        cm_refund: word_u64(42),
    };
    let cases: Vec<(&str, Vec<u8>, LedgerRevert)> = vec![
        (
            "65 sessions",
            with(&|c| c.sessions = vec![c.sessions[0]; 65]),
            invalid("batch too large"),
        ),
        (
            "node id ≥ r",
            with(&|c| c.node_id = r_word()),
            LedgerRevert::Encoding("node_id".into()),
        ),
        (
            "T ≥ 2^64",
            with(&|c| c.total = big),
            LedgerRevert::Encoding("total".into()),
        ),
        (
            "a session id ≥ r",
            with(&|c| c.sessions[2].session_id = r_word()),
            LedgerRevert::Encoding("session_id".into()),
        ),
        (
            "a refund ≥ r",
            with(&|c| c.sessions[2].cm_refund = r_word()),
            LedgerRevert::Encoding("cm_refund".into()),
        ),
        (
            "session ids before refunds, as the wire decoder",
            with(&|c| {
                c.sessions[0].cm_refund = r_word();
                c.sessions[2].session_id = r_word();
            }),
            LedgerRevert::Encoding("session_id".into()),
        ),
        (
            "K = 2",
            with(&|c| c.k = word_u64(2)),
            invalid("unsupported batch size k"),
        ),
        (
            "K = 0",
            with(&|c| c.k = word_u64(0)),
            invalid("unsupported batch size k"),
        ),
        (
            "n = 0",
            with(&|c| c.sessions.clear()),
            invalid("batch must hold 1..=k sessions"),
        ),
        (
            "n = 3 > K = 1",
            with(&|c| c.k = word_u64(1)),
            invalid("batch must hold 1..=k sessions"),
        ),
        (
            "a session twice",
            with(&|c| c.sessions[2] = c.sessions[0]),
            LedgerRevert::DuplicateSession,
        ),
        (
            "an unknown node",
            with(&|c| c.node_id = node_id(9)),
            LedgerRevert::UnknownNode,
        ),
        (
            "an unknown escrow",
            with(&|c| c.sessions[1].session_id = word_u64(5)),
            LedgerRevert::UnknownEscrow,
        ),
        (
            "another node's escrow",
            with(&|c| c.sessions[1] = other_session),
            LedgerRevert::WrongNode,
        ),
        (
            "T > Σ E",
            with(&|c| c.total = word_u64(901)),
            LedgerRevert::TotalExceedsEscrow,
        ),
        (
            "T changed",
            with(&|c| c.total = word_u64(honest_total(c) - 1)),
            LedgerRevert::InvalidProof,
        ),
        (
            "a refund changed",
            with(&|c| c.sessions[1].cm_refund = word_u64(42)),
            LedgerRevert::InvalidProof,
        ),
        (
            "two refunds swapped",
            with(&|c| {
                let r = c.sessions[0].cm_refund;
                c.sessions[0].cm_refund = c.sessions[1].cm_refund;
                c.sessions[1].cm_refund = r;
            }),
            LedgerRevert::InvalidProof,
        ),
        (
            "two sessions swapped",
            with(&|c| c.sessions.swap(0, 1)),
            LedgerRevert::InvalidProof,
        ),
        (
            "a session left out",
            with(&|c| {
                c.sessions.pop();
            }),
            LedgerRevert::InvalidProof,
        ),
        (
            "A negated",
            with(&|c| c.proof.a[1] = fq_neg(&c.proof.a[1])),
            LedgerRevert::InvalidProof,
        ),
        (
            "C replaced by A",
            with(&|c| c.proof.c = c.proof.a),
            LedgerRevert::InvalidProof,
        ),
        (
            "the settle_8 proof presented as settle_64",
            with(&|c| c.k = word_u64(64)),
            LedgerRevert::InvalidProof,
        ),
    ];
    for (why, data, expected) in cases {
        eprintln!("{why}");
        f.refused(operator, &data, expected, &nfs);
    }
    // Terms other than the escrow's, each word.
    for k in 0..veil_evm::escrow::ESCROW_TERMS_WORDS {
        let data = with(&|c| {
            let mut w = c.sessions[1].terms.words();
            w[k][31] ^= 1;
            c.sessions[1].terms = EscrowTerms {
                node_id: w[0],
                escrow: u64::from_be_bytes(w[1][24..].try_into().expect("8")),
                refund_owner: w[2],
                expiry: u64::from_be_bytes(w[3][24..].try_into().expect("8")),
                esc: w[4],
                price_per_kib: u64::from_be_bytes(w[5][24..].try_into().expect("8")),
            };
        });
        f.refused(operator, &data, LedgerRevert::EscrowTermsMismatch, &nfs);
    }
    // Only the node's operator: not the relayer, not the client.
    for who in [f.relayer, f.alice] {
        f.refused(
            who,
            &honest.calldata(),
            LedgerRevert::SettleUnauthorized("sender is not the node's operator".into()),
            &nfs,
        );
    }
    // A withdrawn nullifier is no escrow.
    let (_, w) = escrow::withdrawal(6, 10, relayer);
    f.ok(relayer, &calls::withdraw(&w));
    let withdrawn = w.inputs[1];
    f.refused(
        operator,
        &with(&|c| c.sessions[2].session_id = withdrawn),
        LedgerRevert::UnknownEscrow,
        &nfs,
    );
    // Past the window.
    f.l.c
        .sandbox
        .set_block_number(EXPIRY + chain::CHALLENGE_WINDOW + 1);
    f.refused(
        operator,
        &honest.calldata(),
        LedgerRevert::SettleWindowClosed,
        &nfs,
    );
    // The honest call still settles in the window: the refusals were the
    // alterations'.
    f.l.c.sandbox.set_block_number(EXPIRY);
    f.ok(operator, &honest.calldata());
}

#[test]
fn settle_checks_come_in_the_embedded_order() {
    let (mut f, ts) = opened(3);
    let (_, honest) = settle_8(3);
    let (operator, relayer) = (f.operator, f.relayer);
    let nfs = sids(&ts);
    // Session 2 reclaimed after the window; the clock stays there.
    let deadline = EXPIRY + chain::CHALLENGE_WINDOW;
    f.l.c.sandbox.set_block_number(deadline + 1);
    let (st2, _) = &ts[2];
    f.ok(
        relayer,
        &calls::reclaim(
            st2.nullifier.to_bytes(),
            &EscrowTerms::of_token(st2, sample::PRICE).words(),
        ),
    );
    // The first session's state error: session 0 past the window...
    f.refused(
        operator,
        &honest.calldata(),
        LedgerRevert::SettleWindowClosed,
        &nfs,
    );
    // ... or, first in the batch, the reclaimed session 2 (not open comes
    // before the window).
    let mut c = honest.clone();
    c.sessions.swap(0, 2);
    f.refused(operator, &c.calldata(), LedgerRevert::EscrowNotOpen, &nfs);
    // The lookups of every session come before the sender and the state:
    // an unknown escrow last, sent by a stranger.
    let mut c = honest.clone();
    c.sessions.push(SettleSession {
        session_id: word_u64(5),
        ..c.sessions[0]
    });
    f.refused(relayer, &c.calldata(), LedgerRevert::UnknownEscrow, &nfs);
    // The sender before the state.
    f.refused(
        relayer,
        &honest.calldata(),
        LedgerRevert::SettleUnauthorized("sender is not the node's operator".into()),
        &nfs,
    );
    // A duplicate (stateless) before an unknown node.
    let mut c = honest.clone();
    c.node_id = node_id(9);
    c.sessions[1] = c.sessions[0];
    f.refused(
        operator,
        &c.calldata(),
        LedgerRevert::DuplicateSession,
        &nfs,
    );
    // The window before T ≤ Σ E.
    let mut c = honest.clone();
    c.sessions.truncate(2);
    c.total = word_u64(10_000);
    f.refused(
        operator,
        &c.calldata(),
        LedgerRevert::SettleWindowClosed,
        &nfs,
    );
}

fn honest_total(c: &SettleCall) -> u64 {
    u64::from_be_bytes(c.total[24..].try_into().expect("8 bytes"))
}

// ------------------------------------------------------------ the bench

/// `veil_evm::measure::settle_gas` at K = 64 with 64 sessions, what `veil
/// bench --json` reports as `settle_gas_per_session_k64`. Ignored: it
/// proves 64 access proofs and a `settle_64` proof (its key is 182 MB,
/// cached in `$VEIL_PARAMS_CACHE`).
#[test]
#[ignore]
fn settle_64_gas_per_session() {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
    let ids = [
        CircuitId::TreeInsert64,
        CircuitId::Access,
        CircuitId::Settle(SettleSize::K64),
    ];
    let prover = Prover::from_store(&store, &ids, None).expect("keys");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let g = veil_evm::measure::settle_gas(&prover, 64, 64, &mut rng).expect("settle 64");
    eprintln!(
        "settle_64 of 64: tx {} execution {} per session {}",
        g.settle.tx,
        g.settle.execution,
        g.per_session()
    );
    assert_eq!(g.sessions, 64);
    assert_eq!((g.settle.tx, g.per_session()), (1_800_683, 28_136));
}

/// `measure::settle_gas` at K = 8 (what the bench would report at K = 8),
/// on its own fresh chain: the same contract path as the tests above.
#[test]
fn bench_settle_gas_at_k8() {
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
    let ids = [
        CircuitId::TreeInsert64,
        CircuitId::Access,
        CircuitId::Settle(SettleSize::K8),
    ];
    let prover = Prover::from_store(&store, &ids, None).expect("keys");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let g = veil_evm::measure::settle_gas(&prover, 8, 8, &mut rng).expect("settle 8");
    eprintln!("{g:?} per session {}", g.per_session());
    assert_eq!((g.k, g.sessions), (8, 8));
    assert_eq!(g.per_session(), g.settle.tx.div_ceil(8));
    // Less than `SETTLE_8_OF_8_GAS` by the payee's balance slot: here the
    // operator already holds tokens, there its first payout writes a
    // fresh slot (+17.1k).
    assert_eq!(g.settle.tx, 462_853);
    assert!(veil_evm::measure::settle_gas(&prover, 8, 9, &mut rng).is_err());
    assert!(veil_evm::measure::settle_gas(&prover, 2, 1, &mut rng).is_err());
}
