//! Monitors, reports and a record's `NodeAudit` ↔ domain types
//! (docs/protocol.md §8.3.13).

use veil_market::audit::OutlierRecord;
use veil_proto::ledger::v1 as pb;

use super::exit::{node_exit_from_pb, node_exit_to_pb};
use super::{account, account_auth, account_auth_to_pb, node_id};
use crate::error::LedgerError;
use crate::monitor::{
    AuditReport, Measurement, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView,
};
use crate::types::{AuditOutcome, BlockHeight, NodeAudit, Value};

pub fn monitor_registration_from_pb(
    r: &pb::RegisterMonitorRequest,
) -> Result<MonitorRegistration, LedgerError> {
    Ok(MonitorRegistration {
        account: account(&r.account)?,
        stake: Value(r.stake),
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn monitor_registration_to_pb(m: &MonitorRegistration) -> pb::RegisterMonitorRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&m.auth);
    pb::RegisterMonitorRequest {
        account: m.account.to_bytes().to_vec(),
        stake: m.stake.get(),
        account_key,
        nonce,
        signature,
    }
}

pub fn monitor_exit_from_pb(r: &pb::ExitMonitorRequest) -> Result<MonitorExitRequest, LedgerError> {
    Ok(MonitorExitRequest {
        account: account(&r.account)?,
        step: super::exit::step_from_pb(r.step)?,
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn monitor_exit_to_pb(x: &MonitorExitRequest) -> pb::ExitMonitorRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&x.auth);
    pb::ExitMonitorRequest {
        account: x.account.to_bytes().to_vec(),
        step: super::exit::step_to_pb(x.step) as i32,
        account_key,
        nonce,
        signature,
    }
}

pub fn report_from_pb(r: &pb::SubmitReportRequest) -> Result<AuditReport, LedgerError> {
    Ok(AuditReport {
        epoch: r.epoch,
        node_id: node_id(&r.node_id)?,
        monitor: account(&r.monitor)?,
        measured: Measurement {
            throughput_kbps: r.throughput_kbps,
            rtt_ms: r.rtt_ms,
            challenges_ok: r.challenges_ok,
            challenges_failed: r.challenges_failed,
        },
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn report_to_pb(r: &AuditReport) -> pb::SubmitReportRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&r.auth);
    pb::SubmitReportRequest {
        epoch: r.epoch,
        node_id: r.node_id.to_bytes().to_vec(),
        monitor: r.monitor.to_bytes().to_vec(),
        throughput_kbps: r.measured.throughput_kbps,
        rtt_ms: r.measured.rtt_ms,
        challenges_ok: r.measured.challenges_ok,
        challenges_failed: r.measured.challenges_failed,
        account_key,
        nonce,
        signature,
    }
}

pub fn monitor_view_to_pb(v: &MonitorView) -> pb::MonitorResponse {
    pb::MonitorResponse {
        monitor: v.record.as_ref().map(|m| pb::Monitor {
            account: m.account.to_bytes().to_vec(),
            stake: m.stake.get(),
            registered_stake: m.registered_stake.get(),
            registered_at: m.registered_at.0,
            nonce: m.nonce,
            recent_outliers: m.outliers.recent().to_vec(),
            exit: m.exit.as_ref().map(node_exit_to_pb),
        }),
        epoch: v.epoch,
        assigned: v.assigned.iter().map(|n| n.to_bytes().to_vec()).collect(),
    }
}

pub fn monitor_view_from_pb(r: &pb::MonitorResponse) -> Result<MonitorView, LedgerError> {
    let record = match &r.monitor {
        None => None,
        Some(m) => {
            if m.stake > m.registered_stake {
                return Err(LedgerError::InvalidArgument(
                    "a monitor's stake above its registered stake",
                ));
            }
            Some(MonitorRecord {
                account: account(&m.account)?,
                stake: Value(m.stake),
                registered_stake: Value(m.registered_stake),
                registered_at: BlockHeight(m.registered_at),
                nonce: m.nonce,
                outliers: OutlierRecord::from_recent(m.recent_outliers.clone()),
                exit: m.exit.as_ref().map(node_exit_from_pb).transpose()?,
            })
        }
    };
    Ok(MonitorView {
        record,
        epoch: r.epoch,
        assigned: r
            .assigned
            .iter()
            .map(|n| node_id(n))
            .collect::<Result<_, _>>()?,
    })
}

pub fn node_audit_to_pb(a: &NodeAudit) -> Option<pb::NodeAudit> {
    if *a == NodeAudit::default() {
        return None;
    }
    Some(pb::NodeAudit {
        slashed: a.slashed.get(),
        last: a.last.as_ref().map(|last| pb::AuditOutcome {
            epoch: last.epoch,
            reports: last.reports,
            throughput_kbps: last.throughput_kbps,
            rtt_ms: last.rtt_ms,
            delivered_ppm: last.delivered_ppm,
            slashed: last.slashed.get(),
        }),
        open_challenges: a.open_challenges,
        missed_challenges: a.missed_challenges,
    })
}

pub fn node_audit_from_pb(a: Option<&pb::NodeAudit>) -> Result<NodeAudit, LedgerError> {
    let Some(a) = a else {
        return Ok(NodeAudit::default());
    };
    if let Some(last) = &a.last
        && (last.delivered_ppm > 1_000_000 || last.slashed > a.slashed)
    {
        return Err(LedgerError::InvalidArgument("a node audit out of range"));
    }
    let audit = NodeAudit {
        slashed: Value(a.slashed),
        last: a.last.as_ref().map(|last| AuditOutcome {
            epoch: last.epoch,
            reports: last.reports,
            throughput_kbps: last.throughput_kbps,
            rtt_ms: last.rtt_ms,
            delivered_ppm: last.delivered_ppm,
            slashed: Value(last.slashed),
        }),
        open_challenges: a.open_challenges,
        missed_challenges: a.missed_challenges,
    };
    if audit == NodeAudit::default() {
        return Err(LedgerError::InvalidArgument("an empty node audit"));
    }
    Ok(audit)
}
