//! `VeilAudits` with `VeilLedger` in revm (docs/market.md §5.1): the
//! assignment equals `veil_market::audit::assign` for the seed drawn on
//! chain; the seed's commit-reveal and draw rules; verdicts, slashes,
//! rewards and monitor outlier slashes equal `audit::judge` and
//! `OutlierRecord` over random report sets; the stake backs the claimed
//! capacity; who may call what, each refusal changing nothing; the gas of
//! a report (issue 14: at most 100,000) and of a verdict.

mod audit_fx;
mod chain;

use std::collections::BTreeMap;

use audit_fx::*;
use chain::LedgerChain;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use revm::primitives::U256;
use sha2::{Digest, Sha256};
use veil_evm::abi::{Word, word_u64};
use veil_evm::audits::{self, AuditRevert};
use veil_evm::ledger::{self, LedgerEvent, LedgerRevert};
use veil_evm::sandbox::{EvmAddress, Status};
use veil_market::audit::{
    self as core, AuditRule, MonitorRule, OutlierRecord, Party, Report, Verdict,
};

// ------------------------------------------------------------ assignment

#[test]
fn the_assignment_is_the_rust_cores_for_the_seed_drawn_on_chain() {
    let mut f = fixture(12);
    // One monitor retires in epoch 0 (not eligible in 1), one registers in
    // epoch 1 (not eligible in 1): neither is assigned there.
    let (retiring, late) = (f.monitors[0], f.l.c.account());
    f.ok(retiring, &audits::retire_monitor());
    f.at(EPOCH + 1);
    f.l.c.mint(late, 1_000);
    let a = f.audits;
    f.l.c.approve(late, a, U256::from(1_000u64));
    f.ok(late, &audits::register_monitor(MONITOR_STAKE));
    f.monitors.push(late);
    for (i, randao) in [[1u8; 32], [2u8; 32]].into_iter().enumerate() {
        let epoch = 1 + i as u64 * 3;
        f.draw(epoch, randao);
        let eligible: Vec<Party> = f.monitors[1..f.monitors.len() - usize::from(epoch == 1)]
            .iter()
            .map(|m| audits::monitor_party(*m))
            .collect();
        let expected = f.core_assigned(epoch, &eligible);
        assert_eq!(expected.len(), 5);
        assert_eq!(f.chain_assigned(epoch), expected, "by rank, epoch {epoch}");
        let (anyone, node) = (f.operator, f.node);
        f.ok(anyone, &audits::fix_assignment(epoch, node));
        assert_eq!(
            f.chain_assigned(epoch),
            expected,
            "by cutoff, epoch {epoch}"
        );
    }
    assert_ne!(f.seed(1), f.seed(4));
}

#[test]
fn with_fewer_monitors_than_a_node_needs_every_eligible_one_audits() {
    let mut f = fixture(3);
    f.draw(1, [3; 32]);
    let (anyone, node) = (f.operator, f.node);
    f.ok(anyone, &audits::fix_assignment(1, node));
    assert_eq!(f.chain_assigned(1), f.monitors);
}

/// A released monitor leaves `monitorList` (the last takes its place), so
/// fixing an assignment pays only for monitors not released; the
/// assignment stays the core's over the rest, before and after it is fixed.
#[test]
fn a_released_monitor_leaves_the_list_assignment_reads() {
    let mut f = fixture(4);
    let m0 = f.monitors[0];
    f.at(EPOCH);
    f.ok(m0, &audits::retire_monitor());
    f.at(3 * EPOCH);
    let listed = |f: &mut Fx| {
        let n = ledger::decode_u64(&f.view(&audits::monitor_count())).expect("count");
        let mut v: Vec<EvmAddress> = (0..n)
            .map(|i| EvmAddress::from_slice(&f.word(&audits::monitor_at(i))[12..]))
            .collect();
        v.sort();
        v
    };
    let mut all = f.monitors.clone();
    all.sort();
    assert_eq!(listed(&mut f), all);
    f.ok(m0, &audits::release_monitor());
    let mut rest = f.monitors[1..].to_vec();
    rest.sort();
    assert_eq!(listed(&mut f), rest);
    f.draw(4, [5; 32]);
    let parties: Vec<Party> = rest.iter().map(|m| audits::monitor_party(*m)).collect();
    let core = f.core_assigned(4, &parties);
    assert_eq!(f.chain_assigned(4), core, "before the cutoff is fixed");
    let (anyone, node) = (f.l.c.account(), f.node);
    f.ok(anyone, &audits::fix_assignment(4, node));
    assert_eq!(f.chain_assigned(4), core, "after");
}

// ------------------------------------------------------------------ seed

#[test]
fn the_seed_mixes_every_reveal_with_the_drawing_blocks_prevrandao() {
    let mut f = fixture(4);
    let secrets: Vec<Word> = (0..3u8).map(|i| [i + 40; 32]).collect();
    let ms = f.monitors.clone();
    f.at(EPOCH); // epoch 1: commits for epoch 2
    f.refused(
        ms[0],
        &audits::commit_seed(1, [9; 32]),
        AuditRevert::CommitWindow(1),
    );
    f.refused(
        ms[0],
        &audits::commit_seed(3, [9; 32]),
        AuditRevert::CommitWindow(3),
    );
    let outsider = f.l.c.account();
    f.refused(
        outsider,
        &audits::commit_seed(2, [9; 32]),
        AuditRevert::NotEligible(2),
    );
    for (m, s) in ms.iter().zip(&secrets) {
        f.ok(
            *m,
            &audits::commit_seed(2, audits::seed_commitment(*s, *m, 2)),
        );
    }
    f.refused(
        ms[0],
        &audits::commit_seed(2, [9; 32]),
        AuditRevert::AlreadyCommitted,
    );
    // Reveals: only in epoch 2's first REVEAL blocks, only the secret committed.
    f.refused(
        ms[0],
        &audits::reveal_seed(2, secrets[0]),
        AuditRevert::RevealWindow(2),
    );
    f.at(2 * EPOCH);
    f.refused(
        ms[0],
        &audits::reveal_seed(2, secrets[1]),
        AuditRevert::BadReveal,
    );
    f.refused(
        ms[3],
        &audits::reveal_seed(2, secrets[0]),
        AuditRevert::BadReveal,
    );
    f.ok(ms[0], &audits::reveal_seed(2, secrets[0]));
    f.ok(ms[1], &audits::reveal_seed(2, secrets[1]));
    f.refused(
        ms[0],
        &audits::reveal_seed(2, secrets[0]),
        AuditRevert::BadReveal,
    );
    let anyone = f.operator;
    f.refused(anyone, &audits::draw_seed(2), AuditRevert::SeedNotDrawn(2));
    f.at(2 * EPOCH + REVEAL);
    f.refused(
        ms[2],
        &audits::reveal_seed(2, secrets[2]),
        AuditRevert::RevealWindow(2),
    );
    let randao = [0x77; 32];
    let seed = f.draw(2, randao);
    f.refused(
        anyone,
        &audits::draw_seed(2),
        AuditRevert::SeedAlreadyDrawn(2),
    );
    // Recomputed: the XOR of the revealed secrets' hashes (the third never
    // revealed), then SHA-256 with the epoch and prevrandao.
    let mut mix = [0u8; 32];
    for s in &secrets[..2] {
        let h = revm::primitives::keccak256(s);
        mix.iter_mut().zip(h.0).for_each(|(a, b)| *a ^= b);
    }
    assert_eq!(seed, expected_seed(2, mix, randao));
    // With no reveals the seed is the drawing block's prevrandao alone
    // (and the epoch): two chains drawing under two values get two seeds,
    // each the formula's.
    let (mut g, mut k) = (fixture(1), fixture(1));
    let (sg, sk) = (g.draw(2, [0x78; 32]), k.draw(2, [0x79; 32]));
    assert_eq!(sg, expected_seed(2, [0; 32], [0x78; 32]));
    assert_eq!(sk, expected_seed(2, [0; 32], [0x79; 32]));
    assert_ne!(sg, sk);
}

/// A monitor that commits and then withholds its secret chooses between
/// two seeds; it pays `WITHHELD_SLASH_PPM` of its stake, reported by
/// anyone once the window closed, the reporter paid a quarter of the
/// slash, the rest burnt: the audits' tokens still equal the stakes plus
/// what they burnt. A revealed secret, no commitment, a window still open,
/// a second report and a mark passed off as a commitment are refused and
/// change nothing; a retired monitor's release waits until its own
/// withheld secret is slashed.
#[test]
fn a_withheld_seed_secret_is_slashed_and_its_reporter_paid() {
    let mut f = fixture(4);
    let ppm = f.word(&audits::withheld_slash_ppm());
    assert_eq!(word_u64(audits::WITHHELD_SLASH_PPM), ppm, "one rule");
    let ms = f.monitors.clone();
    let secrets: Vec<Word> = (0..3u8).map(|i| [i + 60; 32]).collect();
    f.at(EPOCH);
    for mark in [1u64, 2] {
        f.refused(
            ms[3],
            &audits::commit_seed(2, word_u64(mark)),
            AuditRevert::AlreadyCommitted,
        );
    }
    let mut events = Vec::new();
    for (m, s) in ms.iter().zip(&secrets) {
        let out = f.ok(
            *m,
            &audits::commit_seed(2, audits::seed_commitment(*s, *m, 2)),
        );
        events.extend(out.logs);
    }
    // The committers, as the backend finds them from the commit window's
    // events: these three, for epoch 2 only.
    let mut committed = ms[..3].to_vec();
    committed.sort();
    assert_eq!(audits::seed_committers(&events, 2), committed);
    assert!(audits::seed_committers(&events, 3).is_empty());
    f.at(2 * EPOCH);
    f.ok(ms[0], &audits::reveal_seed(2, secrets[0]));
    f.ok(ms[1], &audits::reveal_seed(2, secrets[1]));
    let reporter = f.l.c.account();
    f.refused(
        reporter,
        &audits::punish_withheld(2, ms[2]),
        AuditRevert::RevealWindow(2),
    );
    // ms[3] commits for epoch 3 and retires: eligible in neither after.
    let c3 = audits::seed_commitment([70; 32], ms[3], 3);
    f.ok(ms[3], &audits::commit_seed(3, c3));
    f.ok(ms[3], &audits::retire_monitor());
    f.at(2 * EPOCH + REVEAL);
    for (m, why) in [(ms[0], "revealed"), (ms[3], "never committed")] {
        eprintln!("{why}");
        f.refused(
            reporter,
            &audits::punish_withheld(2, m),
            AuditRevert::NotWithheld,
        );
    }
    let held = |f: &mut Fx| {
        let a = f.audits;
        f.l.c.balance(a)
    };
    let stakes = |f: &mut Fx| ms.iter().map(|m| f.monitor(*m).stake).sum::<u64>();
    let out = f.ok(reporter, &audits::punish_withheld(2, ms[2]));
    eprintln!("punishWithheld gas: {}", out.gas_used);
    let slash = MONITOR_STAKE * audits::WITHHELD_SLASH_PPM / 1_000_000;
    let reward = slash * u64::from(AuditRule::default().reward_ppm) / 1_000_000;
    assert_eq!(f.monitor(ms[2]).stake, MONITOR_STAKE - slash);
    assert_eq!(f.l.c.balance(reporter), U256::from(reward));
    let burnt = f.word(&audits::burnt());
    assert_eq!(burnt, word_u64(slash - reward));
    assert_eq!(
        held(&mut f),
        U256::from(stakes(&mut f) + slash - reward),
        "held = stakes + burnt"
    );
    assert_eq!(
        audits::SeedCommit::decode(&f.view(&audits::seed_commit(2, ms[2]))),
        Ok(audits::SeedCommit::Withheld)
    );
    f.refused(
        reporter,
        &audits::punish_withheld(2, ms[2]),
        AuditRevert::NotWithheld,
    );
    // ms[3]'s release, from epoch 4, waits for its secret of epoch 3.
    f.at(4 * EPOCH);
    f.refused(
        ms[3],
        &audits::release_monitor(),
        AuditRevert::SeedUnrevealed(3),
    );
    let before = f.l.c.balance(ms[3]);
    f.ok(ms[3], &audits::punish_withheld(3, ms[3]));
    f.ok(ms[3], &audits::release_monitor());
    assert_eq!(
        f.l.c.balance(ms[3]),
        before + U256::from(MONITOR_STAKE - slash + reward),
        "its stake less the slash, and the reporter's part: itself"
    );
    f.refused(
        reporter,
        &audits::punish_withheld(3, ms[3]),
        AuditRevert::NotWithheld,
    );
}

/// `SHA-256(len ‖ "veil/evm/audit-seed/v1" ‖ epoch ‖ mix ‖ prevrandao)`.
fn expected_seed(epoch: u64, mix: [u8; 32], randao: [u8; 32]) -> [u8; 32] {
    let tag = b"veil/evm/audit-seed/v1";
    let mut h = Sha256::new();
    h.update((tag.len() as u64).to_be_bytes());
    h.update(tag);
    h.update(epoch.to_be_bytes());
    h.update(mix);
    h.update(randao);
    h.finalize().into()
}

// --------------------------------------------------------------- verdicts

/// The assigned monitors report `kbps[i]` on the node in `epoch`; returns
/// the reports as the core takes them, and the gas of each.
fn report_all(
    f: &mut Fx,
    epoch: u64,
    assigned: &[EvmAddress],
    kbps: &[u64],
) -> (Vec<Report>, Vec<u64>) {
    let node = f.node;
    let mut reports = Vec::new();
    let mut gas = Vec::new();
    for (i, (m, k)) in assigned.iter().zip(kbps).enumerate() {
        let rtt = 20 + i as u32;
        let out = f.ok(*m, &audits::submit_report(epoch, node, *k, rtt));
        gas.push(out.gas_used);
        reports.push(report(epoch, node, *m, *k, rtt));
    }
    (reports, gas)
}

#[test]
fn a_throttling_node_is_slashed_as_the_core_judges_and_the_monitors_paid() {
    let mut f = fixture(8);
    f.draw(1, [5; 32]);
    let parties = f.parties();
    let assigned = f.core_assigned(1, &parties);
    let (anyone, node) = (f.operator, f.node);
    let fix = f.ok(anyone, &audits::fix_assignment(1, node)).gas_used;
    let (reports, gas) = report_all(&mut f, 1, &assigned, &[40_000; 5]);
    eprintln!("fixAssignment gas over 8 monitors: {fix}; report gas: {gas:?}");
    assert!(gas.iter().all(|g| *g <= REPORT_GAS_CEILING), "{gas:?}");
    let before: Vec<U256> = assigned.iter().map(|m| f.l.c.balance(*m)).collect();
    let staked = f.l.u64_view(&ledger::view::staked());
    f.refused(
        anyone,
        &audits::judge(1, node),
        AuditRevert::NotYetJudgeable(3),
    );
    f.at(3 * EPOCH);
    let out = f.ok(anyone, &audits::judge(1, node));
    eprintln!(
        "judge gas (5 reports, a slash paying 5 monitors): {}",
        out.gas_used
    );
    let ledger_at = f.l.ledger;
    let slashed: Vec<LedgerEvent> = out
        .logs
        .iter()
        .filter(|e| e.address == ledger_at)
        .map(|e| LedgerEvent::decode(e).expect("a ledger event"))
        .collect();
    assert_eq!(
        slashed,
        [LedgerEvent::Slashed {
            node_id: node,
            amount: 1_000,
            reward_each: 50,
            rewarded: assigned.clone(),
            burnt: 750,
        }]
    );
    let verdict = core::judge(
        &AuditRule::default(),
        1,
        audits::node_party(node),
        &parties_of(&assigned),
        &reports,
        100_000,
        10_000,
    );
    let Verdict::UnderDelivered { score, slash, .. } = verdict else {
        panic!("40% delivered is under-delivery: {verdict:?}")
    };
    assert_eq!(
        (slash.amount, slash.reward_each, slash.burnt),
        (1_000, 50, 750)
    );
    assert_eq!(f.node_stake(), 9_000);
    assert_eq!(f.l.u64_view(&ledger::view::staked()), staked - 1_000);
    assert_eq!(f.l.u64_view(&ledger::view::burnt()), 750);
    for (m, b) in assigned.iter().zip(before) {
        assert_eq!(f.l.c.balance(*m), b + U256::from(50u64));
        assert_eq!(f.monitor(*m).pending, 0);
    }
    let v = f.verdict();
    assert_eq!(
        (
            v.epoch,
            v.reports,
            v.throughput_kbps,
            v.rtt_ms,
            v.delivered_ppm,
            v.slashed
        ),
        (
            1,
            5,
            score.throughput_kbps,
            score.rtt_ms,
            u64::from(score.delivered_ppm),
            1_000
        )
    );
    f.refused(anyone, &audits::judge(1, node), AuditRevert::AlreadyJudged);
}

fn parties_of(ms: &[EvmAddress]) -> Vec<Party> {
    ms.iter().map(|m| audits::monitor_party(*m)).collect()
}

/// Random report sets over many epochs: every verdict, slash, reward and
/// monitor stake on chain equals the Rust core's (`judge`, `OutlierRecord`).
#[test]
fn verdicts_and_outlier_slashes_equal_the_rust_core_over_random_epochs() {
    let mut f = fixture(7);
    let mut rng = StdRng::seed_from_u64(14);
    let rule = AuditRule::default();
    let mut records: BTreeMap<EvmAddress, OutlierRecord> = BTreeMap::new();
    let mut stakes: BTreeMap<EvmAddress, u128> = f
        .monitors
        .iter()
        .map(|m| (*m, u128::from(MONITOR_STAKE)))
        .collect();
    let mut node_stake: u128 = 10_000;
    for epoch in (1..=40u64).step_by(2) {
        f.draw(epoch, rng.r#gen());
        let parties = f.parties();
        let assigned = f.core_assigned(epoch, &parties);
        let n = rng.gen_range(0..=assigned.len());
        // Honest around a delivery level, but the first monitor always
        // lies and the others now and then.
        let level = rng.gen_range(20_000..=120_000u64);
        let liar = f.monitors[0];
        let kbps: Vec<u64> = assigned[..n]
            .iter()
            .map(|m| match (*m == liar, rng.gen_range(0..6)) {
                (true, _) => [0, 4 * level][rng.gen_range(0..2)],
                (false, 0) => rng.gen_range(0..=200_000),
                _ => level + rng.gen_range(0..=5_000),
            })
            .collect();
        let (reports, _) = report_all(&mut f, epoch, &assigned[..n], &kbps);
        f.at((epoch + 2) * EPOCH);
        let before: Vec<U256> = assigned.iter().map(|m| f.l.c.balance(*m)).collect();
        let (anyone, node) = (f.operator, f.node);
        f.ok(anyone, &audits::judge(epoch, node));
        let verdict = core::judge(
            &rule,
            epoch,
            audits::node_party(node),
            &parties_of(&assigned),
            &reports,
            100_000,
            node_stake,
        );
        let (outliers, slash) = match verdict {
            Verdict::NoQuorum { .. } => (vec![], None),
            Verdict::Delivered { outliers, .. } => (outliers, None),
            Verdict::UnderDelivered {
                outliers, slash, ..
            } => (outliers, Some(slash)),
        };
        let counted = n >= rule.quorum;
        for (i, m) in assigned.iter().enumerate() {
            let reward = slash
                .as_ref()
                .filter(|s| s.rewarded.contains(&audits::monitor_party(*m)))
                .map_or(0, |s| s.reward_each);
            assert_eq!(
                f.l.c.balance(*m),
                before[i] + U256::from(reward),
                "epoch {epoch}"
            );
            if counted && i < n {
                let outlier = outliers.contains(&audits::monitor_party(*m));
                let stake = stakes.get_mut(m).expect("monitor");
                *stake -=
                    records
                        .entry(*m)
                        .or_default()
                        .record(&MonitorRule::default(), outlier, *stake);
            }
        }
        node_stake -= slash.as_ref().map_or(0, |s| s.amount);
        assert_eq!(u128::from(f.node_stake()), node_stake, "epoch {epoch}");
        for m in f.monitors.clone() {
            assert_eq!(u128::from(f.monitor(m).stake), stakes[&m], "epoch {epoch}");
        }
    }
    assert!(node_stake < 10_000, "some epoch slashed the node");
    assert!(
        stakes.values().any(|s| *s < u128::from(MONITOR_STAKE)),
        "some monitor was slashed for outliers"
    );
}

/// `fixAssignment` reads every monitor ever registered: its gas, and the
/// gas of a report once it is fixed, for 8, 32 and 128 monitors.
#[test]
fn fixing_an_assignment_costs_a_score_per_monitor_and_a_report_stays_under_100k() {
    let mut costs = Vec::new();
    for m in [8usize, 32, 128] {
        let mut f = fixture(m);
        f.draw(1, [4; 32]);
        let parties = f.parties();
        let assigned = f.core_assigned(1, &parties);
        let (anyone, node) = (f.operator, f.node);
        let fix = f.ok(anyone, &audits::fix_assignment(1, node)).gas_used;
        let (_, gas) = report_all(&mut f, 1, &assigned, &[90_000; 5]);
        eprintln!("{m} monitors: fixAssignment {fix} gas; reports {gas:?}");
        assert!(gas.iter().all(|g| *g <= REPORT_GAS_CEILING), "{gas:?}");
        costs.push(fix);
    }
    let per_monitor = (costs[2] - costs[1]) / 96;
    eprintln!("fixAssignment: {per_monitor} gas per monitor");
    assert!(per_monitor < 8_000, "{per_monitor}");
}

// ------------------------------------------------------------ who may

#[test]
fn reports_only_from_assigned_monitors_once_in_their_window() {
    let mut f = fixture(8);
    f.draw(1, [6; 32]);
    let parties = f.parties();
    let assigned = f.core_assigned(1, &parties);
    let spare = *f
        .monitors
        .iter()
        .find(|m| !assigned.contains(m))
        .expect("8 > 5");
    let (node, stranger) = (f.node, f.l.c.account());
    let r = |e| audits::submit_report(e, node, 1_000, 10);
    f.refused(stranger, &r(1), AuditRevert::NotAMonitor);
    f.refused(spare, &r(1), AuditRevert::NotAssigned);
    f.refused(assigned[0], &r(2), AuditRevert::ReportNotOpen);
    f.refused(
        assigned[0],
        &audits::submit_report(1, [3; 32], 1_000, 10),
        AuditRevert::UnknownNode,
    );
    f.ok(assigned[0], &r(1));
    f.refused(assigned[0], &r(1), AuditRevert::ReportExists);
    f.at(3 * EPOCH);
    f.refused(assigned[1], &r(1), AuditRevert::ReportNotOpen);
    // Only the auditor slashes; the ledger refuses everyone else.
    let before = f.state();
    for who in [stranger, assigned[0], f.operator, f.l.c.deployer] {
        let out = f.l.tx(who, &ledger::slash(node, 100, &[who], 10));
        assert_eq!(chain::refusal(&out), LedgerRevert::SlashUnauthorized);
    }
    assert_eq!(f.state(), before);
}

#[test]
fn binding_registration_and_exit_refusals_change_nothing() {
    let mut f = fixture(2);
    let (m, stranger, deployer) = (f.monitors[0], f.l.c.account(), f.l.c.deployer);
    let ledger_at = f.l.ledger;
    f.refused(
        stranger,
        &audits::bind(ledger_at),
        AuditRevert::NotDeployer(stranger),
    );
    f.refused(
        deployer,
        &audits::bind(ledger_at),
        AuditRevert::AlreadyBound,
    );
    f.refused(
        m,
        &audits::register_monitor(MONITOR_STAKE),
        AuditRevert::MonitorExists,
    );
    f.refused(
        stranger,
        &audits::register_monitor(0),
        AuditRevert::InvalidArgument("a monitor's stake must be positive".into()),
    );
    f.refused(
        stranger,
        &audits::retire_monitor(),
        AuditRevert::NotAMonitor,
    );
    f.refused(
        m,
        &audits::release_monitor(),
        AuditRevert::MonitorNotRetired,
    );
    // m reports in epoch 1, retires in epoch 1: its stake waits for epoch 3
    // and for the verdict on its report.
    let mut g = fixture(3);
    g.draw(1, [8; 32]);
    let m = g.monitors[0];
    let node = g.node;
    g.ok(m, &audits::submit_report(1, node, 100_000, 10));
    g.ok(m, &audits::retire_monitor());
    g.refused(m, &audits::retire_monitor(), AuditRevert::MonitorRetired);
    g.refused(
        m,
        &audits::release_monitor(),
        AuditRevert::StakeLocked {
            height: 300,
            pending: 1,
        },
    );
    g.at(3 * EPOCH);
    g.refused(
        m,
        &audits::release_monitor(),
        AuditRevert::StakeLocked {
            height: 300,
            pending: 1,
        },
    );
    let anyone = g.operator;
    g.ok(anyone, &audits::judge(1, node));
    let before = g.l.c.balance(m);
    g.ok(m, &audits::release_monitor());
    assert_eq!(g.l.c.balance(m), before + U256::from(MONITOR_STAKE));
    g.refused(m, &audits::release_monitor(), AuditRevert::StakeReleased);
}

#[test]
fn a_ledger_not_naming_the_audits_cannot_be_bound() {
    let mut l = LedgerChain::new();
    let d = l.c.deployer;
    let answer = chain::artifact(&chain::answer_verifier_name()).bytecode;
    let verifier = l.c.sandbox.deploy(d, &answer).expect("deploy").0;
    let code = [
        chain::artifact(audits::CONTRACT).bytecode,
        audits::constructor(l.c.token, verifier, EPOCH, REVEAL),
    ]
    .concat();
    let a = l.c.sandbox.deploy(d, &code).expect("deploy").0;
    let out = l.c.tx(d, a, &audits::bind(l.ledger));
    assert_eq!(
        AuditRevert::decode(&out.output).expect("error"),
        AuditRevert::WrongLedger
    );
    // Unbound, nothing that needs the ledger runs.
    let m = l.c.account();
    l.c.mint(m, 1_000);
    l.c.approve(m, a, U256::from(1_000u64));
    l.c.ok(m, a, &audits::register_monitor(MONITOR_STAKE));
    let out = l.c.tx(m, a, &audits::submit_report(0, [1; 32], 1, 1));
    assert_eq!(
        AuditRevert::decode(&out.output).expect("error"),
        AuditRevert::NotBound
    );
}

// ------------------------------------------------------------ stake rule

#[test]
fn the_stake_backs_the_claimed_capacity_at_registration_and_update() {
    let (mut l, _) = LedgerChain::audited(EPOCH, REVEAL);
    let op = l.c.account();
    l.c.mint(op, 100_000);
    l.approve(op, U256::from(100_000u64));
    let short = registration(9, 9_999, 100);
    l.commit(op, &short);
    let out = l.tx(op, &ledger::register_node(&short));
    assert_eq!(
        chain::refusal(&out),
        LedgerRevert::StakeBelowCapacity {
            stake: 9_999,
            needed: 10_000
        }
    );
    let reg = registration(9, 10_000, 100);
    let out = l.register(op, &reg);
    assert_eq!(out.status, Status::Success);
    let id = node_id_of(&reg);
    let capacity = |l: &mut LedgerChain| {
        let out = l.view(&ledger::view::audited_node(id));
        veil_evm::abi::Reader::new(&out).u64(2).expect("capacity")
    };
    assert_eq!(capacity(&mut l), 100);
    let update = |cap: u32, seq: u64| {
        ledger::update_node(&ledger::NodeUpdateCall {
            node_id: id,
            sequence: word_u64(seq),
            price_per_kib: word_u64(3),
            escrow_sizes: vec![word_u64(1_000)],
            tls_key_hash: [1; 32],
            profile: profile(cap),
            node_signature: [[0; 32]; 3],
        })
    };
    let out = l.tx(op, &update(101, 1));
    assert_eq!(
        chain::refusal(&out),
        LedgerRevert::StakeBelowCapacity {
            stake: 10_000,
            needed: 10_100
        }
    );
    assert_eq!(capacity(&mut l), 100);
    let out = l.tx(op, &update(50, 1));
    assert_eq!(out.status, Status::Success);
    assert_eq!(capacity(&mut l), 50);
}
