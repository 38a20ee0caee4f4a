//! Ledger challenges (docs/protocol.md §8.3.14): a monitor the epoch
//! assigns to a node challenges it; only the node key's signature over the
//! challenge's value answers it; a challenge the clock passes unanswered
//! slashes the node at once — a quarter to the challenger, the rest burnt.
//! Every refusal changes nothing, the books balance, the records survive a
//! reopen, and the gRPC ledger answers like the embedded one.

use veil_ledger::audit::audit;
use veil_ledger::challenge::{
    ANSWER_BLOCKS, ChallengeAnswer, ChallengeKey, ChallengeRecord, ChallengeRequest, ChallengeState,
};
use veil_ledger::exit::{ExitRequest, ExitStep};
use veil_ledger::trade::MARKET_EPOCH_BLOCKS;
use veil_ledger::types::*;
use veil_ledger::{LedgerApi, LedgerConfig, LedgerError, testing};
use veil_primitives::eddsa::SigningKey;

#[path = "support/audit_fx.rs"]
mod fx;
use fx::*;

/// The node key of the fixture's node.
fn node_key() -> SigningKey {
    key(1)
}

fn challenge(fx: &Fx, m: &SigningKey) -> Result<ChallengeRecord, LedgerError> {
    fx.e.challenge_node(ChallengeRequest::signed(m, nonce(&fx.e, m), 1, fx.node))
}

/// Everything a challenge operation could touch, the challenges included.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    ledger: Snapshot,
    challenges: Vec<ChallengeRecord>,
}

fn seen(fx: &Fx) -> Seen {
    Seen {
        ledger: fx.snapshot(),
        challenges: fx.e.challenges(&fx.node).expect("challenges"),
    }
}

#[test]
fn an_answered_challenge_costs_the_node_nothing() {
    let fx = fixture();
    let m = &fx.assigned[0];
    let h = fx.e.status().expect("status").height;
    let c = challenge(&fx, m).expect("challenge");
    assert_eq!(c.state, ChallengeState::Open);
    assert_eq!(
        (c.issued_at, c.deadline),
        (h, BlockHeight(h.0 + ANSWER_BLOCKS))
    );
    assert_eq!(fx.node().audit.open_challenges, 1);
    assert_eq!(fx.e.challenges(&fx.node).expect("list"), vec![c]);
    let before = fx.totals();
    let answered =
        fx.e.answer_challenge(ChallengeAnswer::sign(&node_key(), &c))
            .expect("answer");
    assert_eq!(answered.state, ChallengeState::Answered(h));
    // A retry of the answer returns the record and changes nothing.
    let again = seen(&fx);
    assert_eq!(
        fx.e.answer_challenge(ChallengeAnswer::sign(&node_key(), &c)),
        Ok(answered)
    );
    assert_eq!(seen(&fx), again);
    fx.e.advance(3 * MARKET_EPOCH_BLOCKS).expect("advance");
    let node = fx.node();
    assert_eq!(
        (node.audit.open_challenges, node.audit.missed_challenges),
        (0, 0)
    );
    assert_eq!(node.audit.slashed, Value::ZERO);
    assert_eq!(fx.totals(), before);
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
}

#[test]
fn an_unanswered_challenge_slashes_the_node_when_its_deadline_passes() {
    let fx = fixture();
    let m = &fx.assigned[0];
    let c = challenge(&fx, m).expect("challenge");
    let reward_before = balance(&fx.e, m);
    let t = fx.totals();
    // The deadline itself is still in time.
    fx.e.advance(ANSWER_BLOCKS).expect("advance");
    assert_eq!(fx.e.status().expect("status").height, c.deadline);
    assert!(fx.e.challenges(&fx.node).expect("list")[0].is_open());
    // One block later it is evidence: the whole stake (the default
    // `evidence_slash_ppm`), 25% to the challenger, the rest burnt.
    fx.e.advance(1).expect("advance");
    let node = fx.node();
    assert_eq!(node.audit.slashed, STAKE);
    assert_eq!(node.locked_stake(), Value::ZERO);
    assert_eq!(
        (node.audit.open_challenges, node.audit.missed_challenges),
        (0, 1)
    );
    let missed = fx.e.challenges(&fx.node).expect("list");
    assert_eq!(missed[0].state, ChallengeState::Missed { slashed: STAKE });
    assert_eq!(balance(&fx.e, m), reward_before + STAKE.get() / 4);
    let after = fx.totals();
    assert_eq!(after.staked, t.staked - STAKE.get());
    assert_eq!(after.burnt, t.burnt + STAKE.get() * 3 / 4);
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
    // Too late to answer now, and the refusal changes nothing.
    let before = seen(&fx);
    assert_eq!(
        fx.e.answer_challenge(ChallengeAnswer::sign(&node_key(), &c)),
        Err(LedgerError::ChallengeClosed)
    );
    assert_eq!(seen(&fx), before);
}

#[test]
fn only_an_assigned_monitor_challenges_once_per_node_and_epoch() {
    let fx = fixture();
    let m = &fx.assigned[0];
    let before = seen(&fx);
    let refused = |r: ChallengeRequest, e: LedgerError| {
        assert_eq!(fx.e.challenge_node(r), Err(e));
        assert_eq!(seen(&fx), before, "a refused challenge changed the ledger");
    };
    // Not a monitor (the node's own account key).
    let stranger = key(2);
    refused(
        ChallengeRequest::signed(&stranger, nonce(&fx.e, &stranger), 1, fx.node),
        LedgerError::NotAMonitor,
    );
    // A monitor the epoch does not assign to this node.
    let other = &fx.others[0];
    refused(
        ChallengeRequest::signed(other, nonce(&fx.e, other), 1, fx.node),
        LedgerError::NotAssigned,
    );
    // Another epoch than the current one.
    refused(
        ChallengeRequest::signed(m, nonce(&fx.e, m), 2, fx.node),
        LedgerError::ChallengeEpoch(1),
    );
    // A node nobody registered.
    refused(
        ChallengeRequest::signed(m, nonce(&fx.e, m), 1, key(50).verifying_key().node_id()),
        LedgerError::UnknownNode,
    );
    // Signed by another key for the monitor's account; no signature; a
    // signature over another node.
    let mut forged = ChallengeRequest::signed(&key(9), 0, 1, fx.node);
    forged.key.monitor = m.verifying_key().account_id();
    assert!(matches!(
        fx.e.challenge_node(forged),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    let mut unsigned = ChallengeRequest::signed(m, nonce(&fx.e, m), 1, fx.node);
    unsigned.auth = None;
    assert!(matches!(
        fx.e.challenge_node(unsigned),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    let mut moved =
        ChallengeRequest::signed(m, nonce(&fx.e, m), 1, key(50).verifying_key().node_id());
    moved.key.node_id = fx.node;
    assert!(matches!(
        fx.e.challenge_node(moved),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // A stale nonce.
    let stale = ChallengeRequest::signed(m, nonce(&fx.e, m) + 1, 1, fx.node);
    assert_eq!(fx.e.challenge_node(stale), Err(LedgerError::BadNonce));
    assert_eq!(seen(&fx), before);
    // The assigned monitor, once; its retry answers the record; another
    // challenge of the same node in the same epoch is refused.
    let first = ChallengeRequest::signed(m, nonce(&fx.e, m), 1, fx.node);
    let c = fx.e.challenge_node(first.clone()).expect("challenge");
    assert_eq!(fx.e.challenge_node(first), Ok(c));
    let after = seen(&fx);
    assert_eq!(challenge(&fx, m), Err(LedgerError::ChallengeExists));
    assert_eq!(seen(&fx), after);
}

#[test]
fn only_the_node_key_answers() {
    let fx = fixture();
    let c = challenge(&fx, &fx.assigned[0]).expect("challenge");
    let before = seen(&fx);
    // The node's account key, the monitor's, a key of another node.
    for k in [key(2), fx.assigned[0].clone(), key(50)] {
        assert_eq!(
            fx.e.answer_challenge(ChallengeAnswer::sign(&k, &c)),
            Err(LedgerError::BadChallengeAnswer)
        );
    }
    // The node key over another value: a relay challenge's message, the
    // value of another root.
    let nonce_msg = veil_primitives::receipt::challenge_message(&c.value());
    let relayed = ChallengeAnswer {
        key: c.key,
        signature: node_key().sign(&nonce_msg),
    };
    assert_eq!(
        fx.e.answer_challenge(relayed),
        Err(LedgerError::BadChallengeAnswer)
    );
    let other_root = ChallengeRecord {
        root: MerkleRoot::from_fr(c.root.inner() + veil_primitives::Fr::from(1u64)),
        ..c
    };
    assert_eq!(
        fx.e.answer_challenge(ChallengeAnswer::sign(&node_key(), &other_root)),
        Err(LedgerError::BadChallengeAnswer)
    );
    // A challenge that does not exist.
    let unknown = ChallengeRecord {
        key: ChallengeKey { epoch: 0, ..c.key },
        ..c
    };
    assert_eq!(
        fx.e.answer_challenge(ChallengeAnswer::sign(&node_key(), &unknown)),
        Err(LedgerError::UnknownChallenge)
    );
    assert_eq!(seen(&fx), before);
}

#[test]
fn a_retired_node_is_not_challenged_and_its_stake_pays_a_missed_challenge_first() {
    let fx = fixture();
    let c = challenge(&fx, &fx.assigned[0]).expect("challenge");
    let account = key(2);
    let retire = ExitRequest::signed(&account, nonce(&fx.e, &account), fx.node, ExitStep::Retire);
    fx.e.exit_node(retire).expect("retire");
    // No new challenge of a retired node (it need not stay online).
    assert_eq!(
        challenge(&fx, &fx.assigned[1]),
        Err(LedgerError::NodeRetired)
    );
    // The open one still binds it: missed before the stake can be released.
    let exit = fx.node().exit.expect("retired");
    let cfg = LedgerConfig::default();
    let at = exit.releasable_at(cfg.max_expiry_delta, cfg.challenge_window);
    assert!(at > c.deadline);
    fx.e.advance(at.0 - fx.e.status().expect("status").height.0)
        .expect("advance");
    assert_eq!(fx.node().audit.missed_challenges, 1);
    let before = balance(&fx.e, &account);
    let release = ExitRequest::signed(&account, nonce(&fx.e, &account), fx.node, ExitStep::Release);
    fx.e.exit_node(release).expect("release");
    // Nothing left to release: the missed challenge took the whole stake.
    assert_eq!(balance(&fx.e, &account), before);
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
}

#[test]
fn challenges_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ledger.redb");
    let open = || open_at(&path);
    let e = open();
    let (node, monitors) = node_and_three_monitors(&e);
    let mut open_ones = Vec::new();
    for m in &monitors {
        let r = ChallengeRequest::signed(m, nonce(&e, m), 1, node);
        open_ones.push(e.challenge_node(r).expect("challenge"));
    }
    e.answer_challenge(ChallengeAnswer::sign(&key(1), &open_ones[0]))
        .expect("answer");
    let listed = e.challenges(&node).expect("list");
    drop(e);
    let e = open();
    assert_eq!(e.challenges(&node).expect("list"), listed);
    e.advance(ANSWER_BLOCKS + 1).expect("advance");
    drop(e);
    let e = open();
    let node = e.get_node(&node).expect("node").expect("registered");
    assert_eq!(
        (node.audit.open_challenges, node.audit.missed_challenges),
        (0, 2)
    );
    // The first missed challenge took the whole stake; the second found none.
    assert_eq!(node.audit.slashed, STAKE);
    let a = audit(e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
}

fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> tonic::Code {
    r.map_or_else(|s| s.code(), |_| tonic::Code::Ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_like_the_embedded_ledger_with_the_specified_codes() {
    use tonic::Code;
    use veil_ledger::convert::{answer_to_pb, challenge_request_to_pb};
    use veil_proto::ledger::v1::ledger_client::LedgerClient;
    let (ledger, remote, url) = testing::served_in_memory().await.expect("served");
    let node = key(1).verifying_key().node_id();
    let account = key(2);
    remote
        .faucet(account.verifying_key().account_id(), STAKE)
        .await
        .expect("faucet");
    let registration = node_registration(&key(1), &account, 0);
    remote.register_node(registration).await.expect("register");
    let monitors: Vec<SigningKey> = (0..5).map(|i| key(100 + i)).collect();
    for m in &monitors {
        remote
            .faucet(m.verifying_key().account_id(), Value(1_000))
            .await
            .expect("faucet");
        let reg = veil_ledger::monitor::MonitorRegistration::signed(m, 0, MONITOR_STAKE);
        remote.register_monitor(reg).await.expect("monitor");
    }
    ledger.advance(MARKET_EPOCH_BLOCKS).await.expect("advance");
    // Five monitors, five per node: every one is assigned.
    let m = &monitors[0];
    let request = ChallengeRequest::signed(m, 1, 1, node);
    let c = remote
        .challenge_node(request.clone())
        .await
        .expect("challenge");
    assert_eq!(remote.challenges(node).await.expect("list"), vec![c]);
    assert_eq!(ledger.challenges(node).await.expect("list"), vec![c]);
    let mut raw = LedgerClient::connect(url).await.expect("connect");
    // A second challenge: ALREADY_EXISTS; another epoch: FAILED_PRECONDITION;
    // unsigned: PERMISSION_DENIED.
    let second = challenge_request_to_pb(&ChallengeRequest::signed(m, 2, 1, node));
    assert_eq!(code(raw.challenge_node(second).await), Code::AlreadyExists);
    let epoch = challenge_request_to_pb(&ChallengeRequest::signed(&monitors[1], 1, 7, node));
    assert_eq!(
        code(raw.challenge_node(epoch).await),
        Code::FailedPrecondition
    );
    let mut unsigned = challenge_request_to_pb(&ChallengeRequest::signed(&monitors[1], 1, 1, node));
    unsigned.signature.clear();
    unsigned.account_key.clear();
    assert_eq!(
        code(raw.challenge_node(unsigned).await),
        Code::PermissionDenied
    );
    // A wrong answer: PERMISSION_DENIED; an unknown challenge: NOT_FOUND.
    let wrong = answer_to_pb(&ChallengeAnswer::sign(&key(2), &c));
    assert_eq!(
        code(raw.answer_challenge(wrong).await),
        Code::PermissionDenied
    );
    let mut unknown = answer_to_pb(&ChallengeAnswer::sign(&key(1), &c));
    unknown.epoch = 0;
    assert_eq!(code(raw.answer_challenge(unknown).await), Code::NotFound);
    // The errors come back as the same variants.
    assert_eq!(
        remote
            .challenge_node(ChallengeRequest::signed(m, 2, 1, node))
            .await,
        Err(LedgerError::ChallengeExists)
    );
    assert_eq!(
        remote
            .answer_challenge(ChallengeAnswer::sign(&key(2), &c))
            .await,
        Err(LedgerError::BadChallengeAnswer)
    );
    // The answer over gRPC; the node's record says so.
    let done = remote
        .answer_challenge(ChallengeAnswer::sign(&key(1), &c))
        .await
        .expect("answer");
    assert!(matches!(done.state, ChallengeState::Answered(_)));
    let record = remote
        .get_node(node)
        .await
        .expect("node")
        .expect("registered");
    assert_eq!(record.audit.open_challenges, 0);
    // Missed over gRPC: the slash shows in the record the remote reads.
    let c2 = remote
        .challenge_node(ChallengeRequest::signed(&monitors[1], 1, 1, node))
        .await
        .expect("challenge");
    ledger.advance(ANSWER_BLOCKS + 1).await.expect("advance");
    let late = answer_to_pb(&ChallengeAnswer::sign(&key(1), &c2));
    assert_eq!(
        code(raw.answer_challenge(late).await),
        Code::FailedPrecondition
    );
    let record = remote
        .get_node(node)
        .await
        .expect("node")
        .expect("registered");
    assert_eq!(
        (record.audit.missed_challenges, record.audit.slashed),
        (1, STAKE)
    );
}
