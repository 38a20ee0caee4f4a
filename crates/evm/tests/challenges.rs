//! Ledger challenges on `VeilAudits` in revm (docs/protocol.md §8.3.14,
//! docs/evm.md §8.6): an assigned monitor challenges a node in the current
//! epoch; the node key's answer is an `answer` proof, which the contract
//! verifies against the challenge it recorded; a challenge past its
//! deadline unanswered slashes the node's stake (`slash_for_evidence`: all
//! of it, a quarter to the challenger, the rest burnt). Who may do what,
//! each refusal changing nothing, and the gas of each step.

mod audit_fx;
mod chain;

use audit_fx::*;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_circuits::answer::{AnswerPrivate, AnswerPublic};
use veil_evm::abi::{Word, word_u64};
use veil_evm::audits::{self, AuditRevert, ChallengeStatus, ChallengeView};
use veil_evm::escrow::recipient_account;
use veil_evm::ledger::{self, LedgerEvent, LedgerRevert};
use veil_evm::sandbox::{EvmAddress, Status};
use veil_evm::solidity::ProofWords;
use veil_market::audit::{AuditRule, slash_for_evidence};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::NodeId;
use veil_primitives::merkle::MerkleRoot;
use veil_proofs::{CircuitId, KeySet, ParamStore, Prover};

/// The fixture's node key (`registration(7, ..)`).
fn node_key() -> SigningKey {
    SigningKey::from_seed([7; 32]).expect("seed")
}

fn prover() -> Prover {
    let store = ParamStore::open_default(KeySet::Dev).expect("param store");
    Prover::from_store(&store, &[CircuitId::Answer], None).expect("answer proving key")
}

/// A fixture in epoch 1 with its seed drawn: the assigned monitors and one
/// that is not.
fn drawn() -> (Fx, Vec<EvmAddress>, EvmAddress) {
    let mut f = fixture(6);
    f.draw(1, [9; 32]);
    let assigned = f.chain_assigned(1);
    assert_eq!(assigned.len(), 5);
    let other = *f
        .monitors
        .iter()
        .find(|m| !assigned.contains(m))
        .expect("one monitor is not assigned");
    (f, assigned, other)
}

fn view(f: &mut Fx, epoch: u64, monitor: EvmAddress) -> ChallengeView {
    let node = f.node;
    ChallengeView::decode(&f.view(&audits::challenge_of(epoch, node, monitor))).expect("challenge")
}

/// The proof a node key signing `public`'s value carries.
fn answer_proof(prover: &Prover, key: &SigningKey, public: &AnswerPublic) -> [Word; 8] {
    let private = AnswerPrivate::new(&key.verifying_key(), key.sign(&public.value()));
    let proof = prover
        .prove_answer(public, &private, &mut ChaCha20Rng::seed_from_u64(3))
        .expect("prove");
    ProofWords::from_proof(&proof).words()
}

/// The statement of `monitor`'s challenge as the contract recorded it.
fn statement(f: &mut Fx, epoch: u64, monitor: EvmAddress) -> AnswerPublic {
    let v = view(f, epoch, monitor);
    AnswerPublic {
        node_id: NodeId::from_bytes(&f.node).expect("node id"),
        monitor: recipient_account(monitor),
        epoch,
        root: MerkleRoot::from_bytes(&v.root).expect("root"),
    }
}

#[test]
fn only_an_assigned_monitor_challenges_a_registered_active_node_once_per_epoch() {
    let (mut f, assigned, other) = drawn();
    let (m, node, operator) = (assigned[0], f.node, f.operator);
    f.refused(
        operator,
        &audits::challenge(1, node),
        AuditRevert::NotAMonitor,
    );
    f.refused(other, &audits::challenge(1, node), AuditRevert::NotAssigned);
    f.refused(
        m,
        &audits::challenge(2, node),
        AuditRevert::ChallengeEpoch(1),
    );
    f.refused(
        m,
        &audits::challenge(0, node),
        AuditRevert::ChallengeEpoch(1),
    );
    f.refused(
        m,
        &audits::challenge(1, word_u64(12_345)),
        AuditRevert::UnknownNode,
    );
    assert_eq!(view(&mut f, 1, m).status, ChallengeStatus::None);

    let out = f.ok(m, &audits::challenge(1, node));
    eprintln!("challenge gas: {}", out.gas_used);
    let v = view(&mut f, 1, m);
    let root = f.l.view(&ledger::view::current_root());
    assert_eq!(v.root.as_slice(), &root[..32], "the ledger's current root");
    assert_eq!(
        (v.issued_at, v.deadline),
        (110, 110 + 100),
        "one epoch to answer"
    );
    assert_eq!(v.status, ChallengeStatus::Open);
    f.refused(m, &audits::challenge(1, node), AuditRevert::ChallengeExists);

    // A retired node is not challenged (it need not stay online).
    f.l.c.ok(operator, f.l.ledger, &ledger::retire_node(node));
    f.refused(
        assigned[1],
        &audits::challenge(1, node),
        AuditRevert::NodeRetired,
    );
}

#[test]
fn the_node_keys_answer_closes_the_challenge_and_nothing_else_does() {
    let (mut f, assigned, _) = drawn();
    let (m, node) = (assigned[0], f.node);
    let anyone = f.l.c.account();
    let p = prover();
    f.refused(
        anyone,
        &audits::answer_challenge(1, node, m, &[[0; 32]; 8]),
        AuditRevert::UnknownChallenge,
    );
    f.ok(m, &audits::challenge(1, node));
    let public = statement(&mut f, 1, m);
    let honest = answer_proof(&p, &node_key(), &public);

    // Another key's answer (the statement binds the node id) cannot be
    // proved; a proof of another challenge does not answer this one.
    let other_monitor = AnswerPublic {
        monitor: recipient_account(assigned[1]),
        ..public
    };
    let elsewhere = answer_proof(&p, &node_key(), &other_monitor);
    let other_root = AnswerPublic {
        root: MerkleRoot::from_fr(public.root.inner() + veil_primitives::Fr::from(1u64)),
        ..public
    };
    let stale = answer_proof(&p, &node_key(), &other_root);
    let mut altered = honest;
    altered[0][31] ^= 1;
    for bad in [elsewhere, stale, altered, [[0; 32]; 8]] {
        f.refused(
            anyone,
            &audits::answer_challenge(1, node, m, &bad),
            AuditRevert::BadChallengeAnswer,
        );
    }
    assert_eq!(view(&mut f, 1, m).status, ChallengeStatus::Open);
    let imposter = SigningKey::from_seed([8; 32]).expect("seed");
    let forged = AnswerPrivate::new(&imposter.verifying_key(), imposter.sign(&public.value()));
    assert!(
        p.prove_answer(&public, &forged, &mut ChaCha20Rng::seed_from_u64(1))
            .is_err(),
        "the prover refuses a key that is not the node's"
    );

    let out = f.ok(anyone, &audits::answer_challenge(1, node, m, &honest));
    eprintln!("answerChallenge gas: {}", out.gas_used);
    let at = f.l.c.sandbox.block_number();
    assert_eq!(view(&mut f, 1, m).status, ChallengeStatus::Answered { at });
    // Carried again: accepted, nothing changes.
    let before = (f.state(), view(&mut f, 1, m));
    f.ok(anyone, &audits::answer_challenge(1, node, m, &honest));
    assert_eq!((f.state(), view(&mut f, 1, m)), before);
    f.at(210 + 1);
    f.refused(
        anyone,
        &audits::slash_missed(1, node, m),
        AuditRevert::ChallengeClosed,
    );
}

#[test]
fn a_missed_challenge_slashes_the_node_and_pays_its_challenger() {
    let (mut f, assigned, _) = drawn();
    let (m, node) = (assigned[1], f.node);
    let anyone = f.l.c.account();
    f.refused(
        anyone,
        &audits::slash_missed(1, node, m),
        AuditRevert::UnknownChallenge,
    );
    f.ok(m, &audits::challenge(1, node));
    let public = statement(&mut f, 1, m);
    let honest = answer_proof(&prover(), &node_key(), &public);
    f.at(210);
    f.refused(
        anyone,
        &audits::slash_missed(1, node, m),
        AuditRevert::ChallengeOpen(210),
    );
    f.at(211);
    f.refused(
        anyone,
        &audits::answer_challenge(1, node, m, &honest),
        AuditRevert::ChallengeClosed,
    );

    let stake = f.node_stake();
    let (m_before, burnt_before) = (f.l.c.balance(m), f.l.u64_view(&ledger::view::burnt()));
    let out = f.ok(anyone, &audits::slash_missed(1, node, m));
    eprintln!("slashMissed gas: {}", out.gas_used);
    let expected = slash_for_evidence(
        &AuditRule::default(),
        stake.into(),
        vec![audits::monitor_party(m)],
    );
    assert_eq!(
        u128::from(stake),
        expected.amount,
        "all of the stake by default"
    );
    assert_eq!(expected.rewarded, vec![audits::monitor_party(m)]);
    assert_eq!(f.node_stake(), stake - expected.amount as u64);
    assert_eq!(
        f.l.c.balance(m),
        m_before + U256::from(expected.reward_each)
    );
    assert_eq!(
        u128::from(f.l.u64_view(&ledger::view::burnt()) - burnt_before),
        expected.burnt
    );
    assert_eq!(
        view(&mut f, 1, m).status,
        ChallengeStatus::Missed { slashed: stake }
    );
    let ppm = ledger::decode_u64(&f.view(&audits::evidence_slash_ppm())).expect("u64");
    assert_eq!(ppm, u64::from(AuditRule::default().evidence_slash_ppm));
    f.refused(
        anyone,
        &audits::slash_missed(1, node, m),
        AuditRevert::ChallengeClosed,
    );
    f.refused(
        anyone,
        &audits::answer_challenge(1, node, m, &honest),
        AuditRevert::ChallengeClosed,
    );
}

#[test]
fn the_audits_bind_only_a_ledger_whose_evidence_window_outlasts_an_answer() {
    // An epoch (the answer window) longer than the ledger's evidence
    // window would let a retired node's stake leave before its last
    // challenge's deadline: such audits refuse to bind.
    let epoch = veil_ledger::exit::EVIDENCE_WINDOW_BLOCKS + 1;
    let (_, _, out) = chain::LedgerChain::audited_unbound(epoch, 10);
    assert_eq!(out.status, Status::Revert);
    assert_eq!(
        AuditRevert::decode(&out.output).expect("audit error"),
        AuditRevert::InvalidArgument("epochBlocks > evidence window".into())
    );
    // An epoch as long as the evidence window binds.
    let (_, _, out) = chain::LedgerChain::audited_unbound(epoch - 1, 10);
    assert_eq!(out.status, Status::Success, "{out:?}");
}

#[test]
fn a_missed_challenge_not_yet_slashed_keeps_a_retired_nodes_stake() {
    let (mut f, assigned, _) = drawn();
    let (m, node, operator, ledger_at) = (assigned[2], f.node, f.operator, f.l.ledger);
    f.ok(m, &audits::challenge(1, node));
    let open =
        |f: &mut Fx| ledger::decode_u64(&f.view(&audits::open_challenges(node))).expect("u64");
    assert_eq!(open(&mut f), 1);
    // Retiring after the challenge does not end it: the deadline runs.
    let out = f.l.c.ok(operator, ledger_at, &ledger::retire_node(node));
    let at = out
        .logs
        .iter()
        .find_map(|e| match LedgerEvent::decode(e) {
            Ok(LedgerEvent::NodeRetiring { releasable_at, .. }) => Some(releasable_at),
            _ => None,
        })
        .expect("NodeRetiring");
    f.at(at);
    let stake = f.node_stake();
    let refused = f.l.c.tx(operator, ledger_at, &ledger::release_node(node));
    assert_eq!(refused.status, Status::Revert);
    assert_eq!(
        LedgerRevert::decode(&refused.output).expect("ledger error"),
        LedgerRevert::StakeLocked(at + 1)
    );
    assert_eq!(f.node_stake(), stake, "nothing released");
    // Anyone closes it: the stake goes as evidence, then the release pays
    // what is left (nothing).
    let anyone = f.l.c.account();
    f.ok(anyone, &audits::slash_missed(1, node, m));
    assert_eq!(open(&mut f), 0);
    assert_eq!(f.node_stake(), 0);
    f.l.c.ok(operator, ledger_at, &ledger::release_node(node));
}

#[test]
fn an_answer_releases_the_open_count() {
    let (mut f, assigned, _) = drawn();
    let (m, node) = (assigned[3], f.node);
    f.ok(m, &audits::challenge(1, node));
    let public = statement(&mut f, 1, m);
    let proof = answer_proof(&prover(), &node_key(), &public);
    let anyone = f.l.c.account();
    f.ok(anyone, &audits::answer_challenge(1, node, m, &proof));
    let open = ledger::decode_u64(&f.view(&audits::open_challenges(node))).expect("u64");
    assert_eq!(open, 0);
}
