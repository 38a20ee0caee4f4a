//! §8.3.13 audits in the ledger: monitors register with stake, assigned
//! monitors report, and when an epoch's report window closes the ledger
//! judges each reported node with `veil_market::audit` and moves value:
//! slashes from node and monitor stakes, rewards to the agreeing monitors'
//! accounts, the rest burnt. Every check runs before the first write.

use std::collections::BTreeMap;

use veil_market::audit::{self as core, Party, Report, Slash, Verdict};

use super::{Checked, add, check_nonce, consume_nonce, sub};
use crate::error::LedgerError;
use crate::exit::{AppliedStep, ExitStep};
use crate::monitor::{
    AuditReport, AuditSeeds, MonitorExit, MonitorExitRequest, MonitorRecord, MonitorRegistration,
    MonitorView, StoredReport, audit_rule, claimed_kbps, epoch_of, monitor_rule,
};
use crate::state::{StateRead, StateWrite};
use crate::types::{AccountId, AuditOutcome, BlockHeight, NodeId, NodeRecord, Value};

/// Stateless checks of a monitor registration: a positive stake, the
/// account's signature. Returns the nonce.
pub fn check_monitor_stateless(m: &MonitorRegistration) -> Result<u64, LedgerError> {
    if m.stake == Value::ZERO {
        return Err(LedgerError::InvalidArgument(
            "a monitor's stake must be positive",
        ));
    }
    m.authenticate()
}

/// Every check of a monitor registration: a retry (same stake, same
/// nonce) answers the record; an account is a monitor once; the nonce is
/// the account's next and the balance covers the stake.
pub fn check_register_monitor(
    s: &impl StateRead,
    m: &MonitorRegistration,
) -> Result<Checked<u64, MonitorRecord>, LedgerError> {
    let nonce = check_monitor_stateless(m)?;
    if let Some(rec) = s.monitor(&m.account)? {
        return if rec.nonce == nonce && rec.registered_stake == m.stake {
            Ok(Checked::Done(rec))
        } else {
            Err(LedgerError::MonitorExists)
        };
    }
    check_nonce(s, &m.account, nonce)?;
    if s.account(&m.account)? < m.stake {
        return Err(LedgerError::InsufficientBalance);
    }
    Ok(Checked::New(nonce))
}

/// Moves the stake from the account to the monitors' stake and records the
/// monitor; it takes part in assignments from the next epoch on.
pub fn apply_register_monitor(
    w: &mut impl StateWrite,
    m: &MonitorRegistration,
) -> Result<MonitorRecord, LedgerError> {
    let nonce = match check_register_monitor(w, m)? {
        Checked::Done(rec) => return Ok(rec),
        Checked::New(nonce) => nonce,
    };
    let balance = sub(
        w.account(&m.account)?.get(),
        m.stake.get(),
        LedgerError::InsufficientBalance,
    )?;
    let mut t = w.totals()?;
    t.monitor_staked = add(t.monitor_staked, m.stake.get())?;
    let record = MonitorRecord {
        account: m.account,
        stake: m.stake,
        registered_stake: m.stake,
        registered_at: w.height()?,
        nonce,
        outliers: Default::default(),
        exit: None,
    };
    w.set_account(&m.account, Value(balance))?;
    consume_nonce(w, &m.account, nonce)?;
    w.set_totals(&t)?;
    w.put_monitor(&record)?;
    Ok(record)
}

/// Every check of a monitor's exit step (§8.3.13): the signature; the
/// account is a monitor; a retry of the applied step (same step, same
/// nonce) answers the record; then the steps' order (retire once, release
/// once, after retiring and once its last assigned epoch is judged) and
/// the nonce.
pub fn check_exit_monitor(
    s: &impl StateRead,
    x: &MonitorExitRequest,
) -> Result<Checked<(MonitorRecord, u64), MonitorRecord>, LedgerError> {
    let nonce = x.authenticate()?;
    let monitor = s.monitor(&x.account)?.ok_or(LedgerError::NotAMonitor)?;
    let applied = match (x.step, monitor.exit) {
        (ExitStep::Retire, Some(e)) => Some(e.retired),
        (ExitStep::Release, Some(e)) => e.released,
        (ExitStep::Release, None) => return Err(LedgerError::MonitorNotRetired),
        (ExitStep::Retire, None) => None,
    };
    match (applied, x.step) {
        (Some(a), _) if a.nonce == nonce => return Ok(Checked::Done(monitor)),
        (Some(_), ExitStep::Retire) => return Err(LedgerError::MonitorRetired),
        (Some(_), ExitStep::Release) => return Err(LedgerError::StakeReleased),
        (None, _) => {}
    }
    if let (ExitStep::Release, Some(e)) = (x.step, monitor.exit) {
        let at = MonitorRecord::releasable_at(e.retired.at);
        if s.height()? < at {
            return Err(LedgerError::StakeLocked(at));
        }
    }
    check_nonce(s, &x.account, nonce)?;
    Ok(Checked::New((monitor, nonce)))
}

/// Records the step and consumes the nonce; a release moves the stake
/// still held from the monitors' stakes to the account.
pub fn apply_exit_monitor(
    w: &mut impl StateWrite,
    x: &MonitorExitRequest,
) -> Result<MonitorRecord, LedgerError> {
    let (mut monitor, nonce) = match check_exit_monitor(w, x)? {
        Checked::Done(m) => return Ok(m),
        Checked::New(new) => new,
    };
    let step = AppliedStep {
        at: w.height()?,
        nonce,
    };
    monitor.exit = Some(match (x.step, monitor.exit) {
        (ExitStep::Retire, _) => MonitorExit {
            retired: step,
            released: None,
        },
        (ExitStep::Release, Some(e)) => {
            let mut t = w.totals()?;
            let corrupted = LedgerError::Corrupted("monitor stakes below a monitor's".into());
            t.monitor_staked = sub(t.monitor_staked, monitor.stake.get(), corrupted)?;
            let balance = add(w.account(&x.account)?.get(), monitor.stake.get())?;
            w.set_totals(&t)?;
            w.set_account(&x.account, Value(balance))?;
            monitor.stake = Value::ZERO;
            MonitorExit {
                released: Some(step),
                ..e
            }
        }
        (ExitStep::Release, None) => return Err(LedgerError::MonitorNotRetired),
    });
    consume_nonce(w, &x.account, nonce)?;
    w.put_monitor(&monitor)?;
    Ok(monitor)
}

/// Every check of a report: the monitor's signature; it is a monitor; a
/// retry (same measurement, same nonce) answers the stored report, any
/// other second report on the same node and epoch is refused; the epoch's
/// window is open (the current epoch or the one before); the node is
/// registered and the monitor is among those assigned to it; the nonce is
/// the account's next.
pub fn check_report(
    s: &impl StateRead,
    r: &AuditReport,
) -> Result<Checked<u64, StoredReport>, LedgerError> {
    let nonce = r.authenticate()?;
    let monitor = s.monitor(&r.monitor)?.ok_or(LedgerError::NotAMonitor)?;
    if let Some(stored) = s.report(r.epoch, &r.node_id, &r.monitor)? {
        return if stored.nonce == nonce && stored.measured == r.measured {
            Ok(Checked::Done(stored))
        } else {
            Err(LedgerError::ReportExists)
        };
    }
    let seed = s
        .audit_seeds()?
        .of(r.epoch)
        .ok_or(LedgerError::ReportNotOpen)?;
    s.node(&r.node_id)?.ok_or(LedgerError::UnknownNode)?;
    let assigned = assigned_to(s, &seed, r.epoch, &r.node_id)?;
    if !assigned.contains(&Party(monitor.account.to_bytes())) {
        return Err(LedgerError::NotAssigned);
    }
    check_nonce(s, &r.monitor, nonce)?;
    Ok(Checked::New(nonce))
}

/// Stores the report and consumes the nonce.
pub fn apply_report(w: &mut impl StateWrite, r: &AuditReport) -> Result<StoredReport, LedgerError> {
    let nonce = match check_report(w, r)? {
        Checked::Done(stored) => return Ok(stored),
        Checked::New(nonce) => nonce,
    };
    let stored = StoredReport {
        measured: r.measured,
        nonce,
    };
    consume_nonce(w, &r.monitor, nonce)?;
    w.put_report(r.epoch, &r.node_id, &r.monitor, &stored)?;
    Ok(stored)
}

/// The monitors assigned to `node` in `epoch` (`docs/market.md` §6.1):
/// among those eligible in the epoch, by the epoch's seed.
pub fn assigned_to(
    s: &impl StateRead,
    seed: &[u8; 32],
    epoch: u64,
    node: &NodeId,
) -> Result<Vec<Party>, LedgerError> {
    let node = Party(node.to_bytes());
    let mut assigned = core::assign(
        seed,
        epoch,
        &[node],
        &eligible(s, epoch)?,
        audit_rule().per_node,
    );
    Ok(assigned.remove(&node).unwrap_or_default())
}

/// `GetMonitor`'s answer: the monitor's record and which of `nodes` the
/// current epoch assigns it.
pub fn monitor_view(
    s: &impl StateRead,
    monitor: &AccountId,
    nodes: &[NodeId],
) -> Result<MonitorView, LedgerError> {
    let seeds = s.audit_seeds()?;
    let record = s.monitor(monitor)?;
    let me = Party(monitor.to_bytes());
    let parties: Vec<Party> = nodes.iter().map(|n| Party(n.to_bytes())).collect();
    let assignment = match &record {
        Some(m) if m.eligible_in(seeds.epoch) => core::assign(
            &seeds.current,
            seeds.epoch,
            &parties,
            &eligible(s, seeds.epoch)?,
            audit_rule().per_node,
        ),
        _ => BTreeMap::new(),
    };
    let assigned = nodes
        .iter()
        .filter(|n| {
            assignment
                .get(&Party(n.to_bytes()))
                .is_some_and(|ms| ms.contains(&me))
        })
        .copied()
        .collect();
    Ok(MonitorView {
        record,
        epoch: seeds.epoch,
        assigned,
    })
}

fn eligible(s: &impl StateRead, epoch: u64) -> Result<Vec<Party>, LedgerError> {
    Ok(s.monitors()?
        .into_iter()
        .filter(|m| m.eligible_in(epoch))
        .map(|m| Party(m.account.to_bytes()))
        .collect())
}

/// The clock moved from `from` to `to`: every epoch whose report window
/// closed (the clock entered the epoch two after it) is judged, then the
/// seeds of the epochs entered are drawn from the tree's latest root.
/// A failure here can only be a broken store: it aborts the whole write.
pub fn on_advance(
    w: &mut impl StateWrite,
    from: BlockHeight,
    to: BlockHeight,
) -> Result<(), LedgerError> {
    let (a, b) = (epoch_of(from), epoch_of(to));
    if a == b {
        return Ok(());
    }
    let seeds = w.audit_seeds()?;
    for e in [a.checked_sub(1), Some(a)].into_iter().flatten() {
        if e.saturating_add(2) <= b
            && let Some(seed) = seeds.of(e)
        {
            judge_epoch(w, e, &seed).map_err(|err| match err {
                fatal @ (LedgerError::Storage(_) | LedgerError::Corrupted(_)) => fatal,
                other => LedgerError::Corrupted(format!("audit of epoch {e}: {other}")),
            })?;
        }
    }
    let root = w.roots()?.latest().map(|r| r.to_bytes()).unwrap_or([0; 32]);
    w.set_audit_seeds(&AuditSeeds::entering(&seeds, b, &root))
}

/// Judges every node reported on in `epoch`.
fn judge_epoch(w: &mut impl StateWrite, epoch: u64, seed: &[u8; 32]) -> Result<(), LedgerError> {
    let mut by_node: BTreeMap<[u8; 32], (NodeId, Vec<Report>)> = BTreeMap::new();
    for (node, monitor, stored) in w.reports(epoch)? {
        by_node
            .entry(node.to_bytes())
            .or_insert_with(|| (node, Vec::new()))
            .1
            .push(stored.to_core(epoch, &node, &monitor));
    }
    let monitors = eligible(w, epoch)?;
    for (node_id, reports) in by_node.into_values() {
        let node = w
            .node(&node_id)?
            .ok_or_else(|| LedgerError::Corrupted("a report names an unknown node".into()))?;
        let party = Party(node_id.to_bytes());
        let assigned = core::assign(seed, epoch, &[party], &monitors, audit_rule().per_node)
            .remove(&party)
            .unwrap_or_default();
        judge_node(w, epoch, node, &assigned, &reports)?;
    }
    Ok(())
}

/// One node's verdict and what it moves.
fn judge_node(
    w: &mut impl StateWrite,
    epoch: u64,
    mut node: NodeRecord,
    assigned: &[Party],
    reports: &[Report],
) -> Result<(), LedgerError> {
    let party = Party(node.registration.node_id.to_bytes());
    let stake = u128::from(node.locked_stake().get());
    let verdict = core::judge(
        &audit_rule(),
        epoch,
        party,
        assigned,
        reports,
        claimed_kbps(&node),
        stake,
    );
    let (score, outliers, slash) = match verdict {
        Verdict::NoQuorum { .. } => return Ok(()),
        Verdict::Delivered { score, outliers } => (score, outliers, None),
        Verdict::UnderDelivered {
            score,
            outliers,
            slash,
        } => (score, outliers, Some(slash)),
    };
    let counted: Vec<Party> = reports
        .iter()
        .map(|r| r.monitor)
        .filter(|m| assigned.contains(m))
        .collect();
    let slashed = match &slash {
        Some(s) => slash_node(w, &mut node, s)?,
        None => Value::ZERO,
    };
    node.audit.last = Some(AuditOutcome {
        epoch,
        reports: counted.len() as u32,
        throughput_kbps: score.throughput_kbps,
        rtt_ms: score.rtt_ms,
        delivered_ppm: score.delivered_ppm,
        slashed,
    });
    w.put_node(&node)?;
    for m in counted {
        record_outlier(w, &m, outliers.contains(&m))?;
    }
    Ok(())
}

/// Takes `slash` from the node's stake: the reward to each agreeing
/// monitor's account, the rest burnt.
pub(super) fn slash_node(
    w: &mut impl StateWrite,
    node: &mut NodeRecord,
    slash: &Slash,
) -> Result<Value, LedgerError> {
    let amount = to_value(slash.amount)?;
    let reward_each = to_value(slash.reward_each)?;
    let mut t = w.totals()?;
    t.staked = sub(t.staked, amount.get(), LedgerError::Overflow)?;
    t.burnt = add(t.burnt, to_value(slash.burnt)?.get())?;
    for m in &slash.rewarded {
        let account = account_of(m)?;
        let balance = add(w.account(&account)?.get(), reward_each.get())?;
        w.set_account(&account, Value(balance))?;
    }
    w.set_totals(&t)?;
    node.audit.slashed = Value(add(node.audit.slashed.get(), amount.get())?);
    Ok(amount)
}

/// Feeds one counted report to the monitor's outlier record; a slash it
/// triggers is burnt.
fn record_outlier(w: &mut impl StateWrite, m: &Party, outlier: bool) -> Result<(), LedgerError> {
    let account = account_of(m)?;
    let mut rec = w
        .monitor(&account)?
        .ok_or_else(|| LedgerError::Corrupted("a counted report names no monitor".into()))?;
    let slash = to_value(rec.outliers.record(
        &monitor_rule(),
        outlier,
        u128::from(rec.stake.get()),
    ))?;
    if slash > Value::ZERO {
        let mut t = w.totals()?;
        t.monitor_staked = sub(t.monitor_staked, slash.get(), LedgerError::Overflow)?;
        t.burnt = add(t.burnt, slash.get())?;
        w.set_totals(&t)?;
        rec.stake = Value(sub(rec.stake.get(), slash.get(), LedgerError::Overflow)?);
    }
    w.put_monitor(&rec)
}

fn account_of(p: &Party) -> Result<AccountId, LedgerError> {
    AccountId::from_bytes(&p.0).map_err(|_| LedgerError::Corrupted("monitor account".into()))
}

fn to_value(a: u128) -> Result<Value, LedgerError> {
    u64::try_from(a)
        .map(Value)
        .map_err(|_| LedgerError::Overflow)
}
