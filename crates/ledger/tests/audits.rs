//! Audits in the ledger (docs/protocol.md §8.3.13, docs/market.md §6–7),
//! against the engine with a fake verifier: monitors stake, the epoch's
//! seed assigns them, only assigned monitors' signed reports count, and
//! when the report window closes a throttling node is slashed — the
//! agreeing monitors rewarded, the rest burnt — while a lying minority
//! cannot slash an honest node. Every refusal changes nothing, the books
//! balance, the records survive a reopen, and the gRPC ledger answers like
//! the embedded one.

use veil_ledger::audit::audit;
use veil_ledger::monitor::{AuditReport, MonitorRegistration};
use veil_ledger::profile::NodeProfile;
use veil_ledger::state::StateRead;
use veil_ledger::trade::MARKET_EPOCH_BLOCKS;
use veil_ledger::types::*;
use veil_ledger::{LedgerApi, LedgerError, testing};
use veil_primitives::eddsa::SigningKey;

#[path = "support/audit_fx.rs"]
mod fx;
use fx::*;

#[test]
fn a_throttling_node_is_slashed_and_the_agreeing_monitors_rewarded() {
    let fx = fixture();
    let before: Vec<u64> = fx.assigned.iter().map(|k| balance(&fx.e, k)).collect();
    let staked = fx.totals().staked;
    for m in &fx.assigned {
        // 40% of the claimed capacity.
        fx.e.submit_report(report(&fx.e, m, 1, fx.node, 40_000))
            .expect("report");
    }
    // Epoch 2: the window is still open; nothing judged.
    fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    assert_eq!(fx.node().audit.last, None);
    // Epoch 3: judged. Slash = (80% − 40%) / 80% × 20% = 10% of the stake.
    fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    let node = fx.node();
    let last = node.audit.last.expect("a verdict");
    assert_eq!(
        (
            last.epoch,
            last.reports,
            last.throughput_kbps,
            last.delivered_ppm
        ),
        (1, 5, 40_000, 400_000)
    );
    assert_eq!(last.slashed, Value(1_000));
    assert_eq!(node.audit.slashed, Value(1_000));
    assert_eq!(node.locked_stake(), Value(9_000));
    // 25% of the slash shared by the five agreeing monitors; the rest burnt.
    for (k, b) in fx.assigned.iter().zip(before) {
        assert_eq!(balance(&fx.e, k), b + 50);
    }
    let t = fx.totals();
    assert_eq!((t.staked, t.burnt), (staked - 1_000, 750));
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
    // Judged once: later epochs change nothing.
    fx.e.advance(5 * MARKET_EPOCH_BLOCKS).expect("advance");
    assert_eq!(fx.node().audit, node.audit);
}

#[test]
fn a_lying_minority_cannot_slash_an_honest_node_and_is_named() {
    let fx = fixture();
    let staked = fx.totals().staked;
    for (i, m) in fx.assigned.iter().enumerate() {
        let kbps = if i < 2 { 0 } else { 95_000 };
        fx.e.submit_report(report(&fx.e, m, 1, fx.node, kbps))
            .expect("report");
    }
    fx.e.advance(2 * MARKET_EPOCH_BLOCKS).expect("advance");
    let last = fx.node().audit.last.expect("a verdict");
    assert_eq!((last.delivered_ppm, last.slashed), (950_000, Value::ZERO));
    assert_eq!(fx.totals().staked, staked);
    let r = fx.e.store().read().expect("read");
    for (i, m) in fx.assigned.iter().enumerate() {
        let rec = r
            .monitor(&m.verifying_key().account_id())
            .expect("read")
            .expect("monitor");
        assert_eq!(rec.outliers.recent(), [i < 2], "monitor {i}");
    }
}

#[test]
fn fewer_reports_than_a_quorum_conclude_nothing() {
    let fx = fixture();
    for m in &fx.assigned[..2] {
        fx.e.submit_report(report(&fx.e, m, 1, fx.node, 0))
            .expect("report");
    }
    fx.e.advance(2 * MARKET_EPOCH_BLOCKS).expect("advance");
    assert_eq!(fx.node().audit, NodeAudit::default());
}

#[test]
fn repeated_outliers_slash_a_monitor() {
    let fx = fixture();
    let liar = &fx.assigned[0];
    let liar_id = liar.verifying_key().account_id();
    // Epochs until the liar's report was an outlier four times (4 of 10);
    // the liar is not assigned in every epoch.
    let all: Vec<&SigningKey> = fx.assigned.iter().chain(&fx.others).collect();
    let mut lied = 0;
    for _ in 0..40 {
        let epoch = fx.e.monitor(&liar_id).expect("view").epoch;
        let assigned: Vec<&&SigningKey> = all
            .iter()
            .filter(|m| {
                let view = fx.e.monitor(&m.verifying_key().account_id()).expect("view");
                view.assigned.contains(&fx.node)
            })
            .collect();
        let is_liar = |m: &SigningKey| m.verifying_key().account_id() == liar_id;
        if assigned.iter().any(|m| is_liar(m)) && lied < 4 {
            lied += 1;
            for m in assigned {
                let kbps = if is_liar(m) { 0 } else { 95_000 };
                fx.e.submit_report(report(&fx.e, m, epoch, fx.node, kbps))
                    .expect("report");
            }
        }
        fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    }
    assert_eq!(lied, 4, "the liar was assigned in four of forty epochs");
    let r = fx.e.store().read().expect("read");
    let rec = r.monitor(&liar_id).expect("read").expect("monitor");
    assert_eq!(rec.stake, Value(450), "10% of its stake burnt, once");
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
    assert_eq!(a.burnt, 50);
}

#[test]
fn only_an_assigned_monitor_reports_once_per_node_and_epoch() {
    let fx = fixture();
    let m = &fx.assigned[0];
    let refused = |r: AuditReport, want: LedgerError| {
        let before = fx.snapshot();
        assert_eq!(fx.e.submit_report(r), Err(want));
        assert_eq!(fx.snapshot(), before, "a refusal changed the ledger");
    };
    // A monitor the epoch did not assign to the node.
    refused(
        report(&fx.e, &fx.others[0], 1, fx.node, 1),
        LedgerError::NotAssigned,
    );
    // An account that is no monitor.
    refused(
        report(&fx.e, &key(9), 1, fx.node, 1),
        LedgerError::NotAMonitor,
    );
    // A report claiming a monitor's account, signed by another key.
    let mut forged = report(&fx.e, &key(9), 1, fx.node, 1);
    forged.monitor = m.verifying_key().account_id();
    assert!(matches!(
        fx.e.submit_report(forged),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // A signed report whose measurement was altered afterwards.
    let mut altered = report(&fx.e, m, 1, fx.node, 1);
    altered.measured.throughput_kbps = 2;
    assert!(matches!(
        fx.e.submit_report(altered),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // Epoch 0's window is open, but monitors registered in it audit from
    // epoch 1 on; the next epoch's is not open yet.
    refused(report(&fx.e, m, 0, fx.node, 1), LedgerError::NotAssigned);
    refused(report(&fx.e, m, 2, fx.node, 1), LedgerError::ReportNotOpen);
    // An unknown node.
    refused(
        report(&fx.e, m, 1, key(3).verifying_key().node_id(), 1),
        LedgerError::UnknownNode,
    );
    // A stale nonce.
    let mut stale = AuditReport::signed(m, nonce(&fx.e, m) + 1, 1, fx.node, measured(1));
    refused(stale.clone(), LedgerError::BadNonce);
    // The report; its retry answers the same; a second opinion is refused.
    let first = report(&fx.e, m, 1, fx.node, 70_000);
    let stored = fx.e.submit_report(first.clone()).expect("report");
    let after = fx.snapshot();
    assert_eq!(fx.e.submit_report(first), Ok(stored));
    assert_eq!(fx.snapshot(), after, "a retry changed the ledger");
    stale = report(&fx.e, m, 1, fx.node, 90_000);
    refused(stale, LedgerError::ReportExists);
    // A monitor registered during the epoch takes part only from the next.
    let late = key(120);
    register_monitor(&fx.e, &late);
    let view =
        fx.e.monitor(&late.verifying_key().account_id())
            .expect("view");
    assert!(view.assigned.is_empty());
    refused(
        report(&fx.e, &late, 1, fx.node, 1),
        LedgerError::NotAssigned,
    );
    // Once the clock is two epochs on, epoch 1's window is closed.
    fx.e.advance(2 * MARKET_EPOCH_BLOCKS).expect("advance");
    refused(
        report(&fx.e, &fx.assigned[1], 1, fx.node, 1),
        LedgerError::ReportNotOpen,
    );
}

#[test]
fn monitor_registration_is_the_accounts_and_happens_once() {
    let e = engine();
    let k = key(100);
    let id = k.verifying_key().account_id();
    e.faucet(id, Value(1_000)).expect("faucet");
    let status = e.status().expect("status");
    assert!(matches!(
        e.register_monitor(MonitorRegistration::signed(&k, 0, Value::ZERO)),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(
        e.register_monitor(MonitorRegistration::signed(&k, 0, Value(1_001))),
        Err(LedgerError::InsufficientBalance)
    );
    assert_eq!(
        e.register_monitor(MonitorRegistration::signed(&k, 1, MONITOR_STAKE)),
        Err(LedgerError::BadNonce)
    );
    let mut forged = MonitorRegistration::signed(&key(9), 0, MONITOR_STAKE);
    forged.account = id;
    assert!(matches!(
        e.register_monitor(forged),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    assert_eq!(e.status().expect("status"), status);
    assert_eq!(e.balance(&id).expect("balance"), Value(1_000));
    let m = MonitorRegistration::signed(&k, 0, MONITOR_STAKE);
    let rec = e.register_monitor(m.clone()).expect("monitor");
    assert_eq!((rec.stake, rec.nonce), (MONITOR_STAKE, 0));
    assert_eq!(e.register_monitor(m), Ok(rec), "a retry answers the record");
    assert_eq!(
        e.register_monitor(MonitorRegistration::signed(&k, 1, Value(1))),
        Err(LedgerError::MonitorExists)
    );
    assert_eq!(e.balance(&id).expect("balance"), Value(500));
    let a = audit(e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
    assert_eq!(a.monitor_staked, 500);
}

#[test]
fn audits_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("ledger.redb");
    let open = || open_at(&path);
    let e = open();
    let (node, monitors) = node_and_three_monitors(&e);
    for m in &monitors {
        e.submit_report(report(&e, m, 1, node, 10_000))
            .expect("report");
    }
    let monitor_id = monitors[0].verifying_key().account_id();
    let view = e.monitor(&monitor_id).expect("view");
    drop(e);
    let e = open();
    assert_eq!(e.monitor(&monitor_id).expect("view"), view);
    e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    drop(e);
    let e = open();
    e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    let node = e.get_node(&node).expect("node").expect("registered");
    // 10% delivered: (80 − 10) / 80 × 20% = 17.5% of 10,000.
    assert_eq!(node.audit.slashed, Value(1_750));
    drop(e);
    let e = open();
    let a = audit(e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_like_the_embedded_ledger() {
    let (ledger, remote, _url) = testing::served_in_memory().await.expect("served");
    let (node_key, account_key, m) = (key(1), key(2), key(100));
    let node_id = node_key.verifying_key().node_id();
    let embedded_nonce = |k: &SigningKey| {
        let l = ledger.clone();
        let id = k.verifying_key().account_id();
        async move { l.account(id).await.expect("account").next_nonce }
    };
    remote
        .faucet(account_key.verifying_key().account_id(), STAKE)
        .await
        .expect("faucet");
    let g = NodeRegistration::signed(
        &node_key,
        &account_key,
        embedded_nonce(&account_key).await,
        Value(2),
        vec![Value(1_000)],
        STAKE,
        [1; 32],
    );
    remote.register_node(g).await.expect("register");
    remote
        .faucet(m.verifying_key().account_id(), Value(1_000))
        .await
        .expect("faucet");
    let reg = MonitorRegistration::signed(&m, 0, MONITOR_STAKE);
    let rec = remote.register_monitor(reg.clone()).await.expect("monitor");
    assert_eq!(ledger.register_monitor(reg).await, Ok(rec.clone()));
    assert_eq!(
        remote
            .register_monitor(MonitorRegistration::signed(&m, 1, Value(1)))
            .await,
        Err(LedgerError::MonitorExists)
    );
    let id = m.verifying_key().account_id();
    assert_eq!(remote.monitor(id).await, ledger.monitor(id).await);
    // Registered in epoch 0: not assigned before epoch 1.
    let early = AuditReport::signed(&m, 1, 0, node_id, measured(1));
    assert_eq!(
        remote.submit_report(early).await,
        Err(LedgerError::NotAssigned)
    );
    ledger.advance(MARKET_EPOCH_BLOCKS).await.expect("advance");
    let view = remote.monitor(id).await.expect("view");
    assert_eq!(view.record, Some(rec));
    assert_eq!(
        view.assigned,
        vec![node_id],
        "the only monitor of the only node"
    );
    let r = AuditReport::signed(&m, 1, 1, node_id, measured(5));
    let stored = remote.submit_report(r.clone()).await.expect("report");
    assert_eq!(ledger.submit_report(r).await, Ok(stored));
    for (req, want) in [
        (
            AuditReport::signed(&m, 2, 1, node_id, measured(6)),
            LedgerError::ReportExists,
        ),
        (
            AuditReport::signed(&m, 2, 3, node_id, measured(6)),
            LedgerError::ReportNotOpen,
        ),
        (
            AuditReport::signed(&key(9), 0, 1, node_id, measured(6)),
            LedgerError::NotAMonitor,
        ),
    ] {
        assert_eq!(remote.submit_report(req.clone()).await, Err(want.clone()));
        assert_eq!(ledger.submit_report(req).await, Err(want));
    }
}

/// Issue 14 item 3 (docs/protocol.md §8.3.6, §8.3.8): a claimed capacity
/// needs 100 value per Mbit/s of stake — at registration, and at every
/// update of the claim against the stake still locked (after slashes).
/// Refusals name both numbers and change nothing, on both backends.
#[test]
fn a_claimed_capacity_needs_stake_in_proportion() {
    use veil_ledger::monitor::STAKE_PER_MBIT_S;
    let e = engine();
    let (node_key, account_key) = (key(1), key(2));
    e.faucet(account_key.verifying_key().account_id(), Value(100_000))
        .expect("faucet");
    let claim = |mbit: u32| {
        let mut terms = NodeTerms::new(Value(2), vec![Value(1_000)], [1; 32]);
        terms.profile = NodeProfile {
            capacity_mbit_s: mbit,
            ..NodeProfile::default()
        }
        .encode()
        .expect("profile");
        terms
    };
    assert_eq!(STAKE_PER_MBIT_S, Value(100));
    let status = e.status().expect("status");
    let short = NodeRegistration::sign(&node_key, &account_key, 0, Value(9_999), claim(100));
    assert_eq!(
        e.register_node(short),
        Err(LedgerError::StakeBelowCapacity {
            stake: Value(9_999),
            needed: Value(10_000)
        })
    );
    assert_eq!(e.status().expect("status"), status, "nothing changed");
    let exact = NodeRegistration::sign(&node_key, &account_key, 0, Value(10_000), claim(100));
    let rec = e.register_node(exact).expect("10,000 backs 100 Mbit/s");
    // Raising the claim past the stake is refused; lowering it is not.
    let up = NodeUpdate::sign(&node_key, &account_key, 1, &rec, claim(101));
    assert_eq!(
        e.update_node(up),
        Err(LedgerError::StakeBelowCapacity {
            stake: Value(10_000),
            needed: Value(10_100)
        })
    );
    let down = NodeUpdate::sign(&node_key, &account_key, 1, &rec, claim(50));
    e.update_node(down).expect("a lower claim");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stake_rule_answers_alike_over_grpc() {
    let (_ledger, remote, _url) = testing::served_in_memory().await.expect("served");
    let (node_key, account_key) = (key(1), key(2));
    remote
        .faucet(account_key.verifying_key().account_id(), Value(100_000))
        .await
        .expect("faucet");
    let mut terms = NodeTerms::new(Value(2), vec![Value(1_000)], [1; 32]);
    terms.profile = NodeProfile {
        capacity_mbit_s: 900,
        ..NodeProfile::default()
    }
    .encode()
    .expect("profile");
    let g = NodeRegistration::sign(&node_key, &account_key, 0, Value(5), terms);
    assert_eq!(
        remote.register_node(g).await,
        Err(LedgerError::StakeBelowCapacity {
            stake: Value(5),
            needed: Value(90_000)
        })
    );
}

/// The status codes of docs/protocol.md §8.6 on the wire: an unsigned or
/// forged report and registration are PERMISSION_DENIED, a second
/// registration ALREADY_EXISTS, a non-monitor's report FAILED_PRECONDITION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_rpcs_answer_the_specified_status_codes() {
    use tonic::Code;
    use veil_ledger::convert::{monitor_registration_to_pb, report_to_pb};
    use veil_proto::ledger::v1::ledger_client::LedgerClient;
    let (_ledger, remote, url) = testing::served_in_memory().await.expect("served");
    let mut raw = LedgerClient::connect(url).await.expect("connect");
    let m = key(100);
    remote
        .faucet(m.verifying_key().account_id(), Value(1_000))
        .await
        .expect("faucet");
    let reg = MonitorRegistration::signed(&m, 0, MONITOR_STAKE);
    // Unsigned: no key and no signature (one without the other is a
    // malformed field, INVALID_ARGUMENT, as for every account operation).
    let mut unsigned = monitor_registration_to_pb(&reg);
    unsigned.signature.clear();
    unsigned.account_key.clear();
    let code = |r: Result<
        tonic::Response<veil_proto::ledger::v1::MonitorResponse>,
        tonic::Status,
    >| { r.map_or_else(|s| s.code(), |_| Code::Ok) };
    assert_eq!(
        code(raw.register_monitor(unsigned).await),
        Code::PermissionDenied
    );
    let mut forged = MonitorRegistration::signed(&key(9), 0, MONITOR_STAKE);
    forged.account = m.verifying_key().account_id();
    let forged = monitor_registration_to_pb(&forged);
    assert_eq!(
        code(raw.register_monitor(forged).await),
        Code::PermissionDenied
    );
    let ok = monitor_registration_to_pb(&reg);
    assert_eq!(code(raw.register_monitor(ok.clone()).await), Code::Ok);
    let again = monitor_registration_to_pb(&MonitorRegistration::signed(&m, 1, Value(1)));
    assert_eq!(code(raw.register_monitor(again).await), Code::AlreadyExists);
    let node = key(1).verifying_key().node_id();
    let report_code =
        |r: Result<_, tonic::Status>| r.map_or_else(|s: tonic::Status| s.code(), |_| Code::Ok);
    let mut altered = report_to_pb(&AuditReport::signed(&m, 1, 0, node, measured(1)));
    altered.throughput_kbps = 2;
    assert_eq!(
        report_code(raw.submit_report(altered).await),
        Code::PermissionDenied
    );
    let stranger = report_to_pb(&AuditReport::signed(&key(9), 0, 0, node, measured(1)));
    assert_eq!(
        report_code(raw.submit_report(stranger).await),
        Code::FailedPrecondition
    );
}

/// A monitor leaves (§8.3.13): its account retires it — it is assigned in
/// the epoch it retired in and never after — and once that epoch is
/// judged (the clock entered the second epoch after it), it releases the
/// stake still held to the account. Only its account key takes either
/// step, in order, once each; every refusal changes nothing.
#[test]
fn a_monitor_retires_then_takes_its_stake_back_after_its_last_verdict() {
    use veil_ledger::exit::ExitStep;
    use veil_ledger::monitor::{MonitorExitRequest, MonitorRecord};
    let fx = fixture();
    let m = &fx.assigned[0];
    let id = m.verifying_key().account_id();
    let step = |k: &SigningKey, s: ExitStep| MonitorExitRequest::signed(k, nonce(&fx.e, k), s);
    let before = fx.snapshot();
    // Nobody else, and not out of order.
    let mut forged = step(&key(9), ExitStep::Retire);
    forged.account = id;
    assert!(matches!(
        fx.e.exit_monitor(forged),
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    assert_eq!(
        fx.e.exit_monitor(step(&key(9), ExitStep::Retire)),
        Err(LedgerError::NotAMonitor)
    );
    assert_eq!(
        fx.e.exit_monitor(step(m, ExitStep::Release)),
        Err(LedgerError::MonitorNotRetired)
    );
    assert_eq!(fx.snapshot(), before);
    // Retired in epoch 1: still assigned there, and it reports.
    let retire = step(m, ExitStep::Retire);
    let rec = fx.e.exit_monitor(retire.clone()).expect("retire");
    let retired_at = rec.exit.expect("retired").retired.at;
    assert_eq!(fx.e.exit_monitor(retire), Ok(rec.clone()), "a retry");
    assert_eq!(
        fx.e.exit_monitor(step(m, ExitStep::Retire)),
        Err(LedgerError::MonitorRetired)
    );
    assert!(fx.e.monitor(&id).expect("view").assigned.contains(&fx.node));
    for k in &fx.assigned {
        fx.e.submit_report(report(&fx.e, k, 1, fx.node, 95_000))
            .expect("report");
    }
    // Epoch 2: no longer assigned; the release waits for epoch 1's verdict.
    fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    assert!(fx.e.monitor(&id).expect("view").assigned.is_empty());
    let at = MonitorRecord::releasable_at(retired_at);
    assert_eq!(at, BlockHeight(3 * MARKET_EPOCH_BLOCKS));
    let locked = fx.snapshot();
    assert_eq!(
        fx.e.exit_monitor(step(m, ExitStep::Release)),
        Err(LedgerError::StakeLocked(at))
    );
    assert_eq!(fx.snapshot(), locked);
    // Epoch 3: epoch 1 judged, its report counted; the stake comes back.
    fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    assert_eq!(fx.node().audit.last.expect("a verdict").reports, 5);
    let balance_before = balance(&fx.e, m);
    let staked = fx.totals().monitor_staked;
    let release = step(m, ExitStep::Release);
    let rec = fx.e.exit_monitor(release.clone()).expect("release");
    assert_eq!(rec.stake, Value::ZERO);
    assert_eq!(balance(&fx.e, m), balance_before + MONITOR_STAKE.get());
    assert_eq!(fx.totals().monitor_staked, staked - MONITOR_STAKE.get());
    assert_eq!(fx.e.exit_monitor(release), Ok(rec), "a retry");
    assert_eq!(
        fx.e.exit_monitor(step(m, ExitStep::Release)),
        Err(LedgerError::StakeReleased)
    );
    // Gone for good: no assignment, no report, no second registration.
    fx.e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    assert!(fx.e.monitor(&id).expect("view").assigned.is_empty());
    assert_eq!(
        fx.e.register_monitor(MonitorRegistration::signed(
            m,
            nonce(&fx.e, m),
            MONITOR_STAKE
        )),
        Err(LedgerError::MonitorExists)
    );
    let a = audit(fx.e.store()).expect("audit");
    assert!(a.ok(), "{:?}", a.violations);
}

/// Over gRPC: the steps, the record's exit and the refusals arrive alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitors_exit_answers_alike_over_grpc() {
    use veil_ledger::exit::ExitStep;
    use veil_ledger::monitor::MonitorExitRequest;
    let (ledger, remote, _url) = testing::served_in_memory().await.expect("served");
    let m = key(100);
    let id = m.verifying_key().account_id();
    remote.faucet(id, Value(1_000)).await.expect("faucet");
    let reg = MonitorRegistration::signed(&m, 0, MONITOR_STAKE);
    remote.register_monitor(reg).await.expect("monitor");
    assert_eq!(
        remote
            .exit_monitor(MonitorExitRequest::signed(&m, 1, ExitStep::Release))
            .await,
        Err(LedgerError::MonitorNotRetired)
    );
    let rec = remote
        .exit_monitor(MonitorExitRequest::signed(&m, 1, ExitStep::Retire))
        .await
        .expect("retire");
    assert_eq!(
        ledger.monitor(id).await.expect("view").record,
        Some(rec.clone())
    );
    let at = veil_ledger::monitor::MonitorRecord::releasable_at(rec.exit.expect("exit").retired.at);
    assert_eq!(
        remote
            .exit_monitor(MonitorExitRequest::signed(&m, 2, ExitStep::Release))
            .await,
        Err(LedgerError::StakeLocked(at))
    );
    ledger.advance(at.0).await.expect("advance");
    let released = remote
        .exit_monitor(MonitorExitRequest::signed(&m, 2, ExitStep::Release))
        .await
        .expect("release");
    assert_eq!(released.stake, Value::ZERO);
    assert_eq!(remote.balance(id).await.expect("balance"), Value(1_000));
}
