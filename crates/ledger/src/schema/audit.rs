//! The audits' tables and records (docs/protocol.md §8.3.13): monitors,
//! reports, the epoch seeds, and a node record's audit section.

use redb::TableDefinition;
use veil_market::audit::OutlierRecord;

use super::{RECORD_V1, Reader, corrupted};
use crate::error::LedgerError;
use crate::monitor::{AuditSeeds, Measurement, MonitorRecord, StoredReport};
use crate::types::{AccountId, AuditOutcome, BlockHeight, NodeAudit, Value};

/// Monitor account → its record.
pub const MONITORS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("monitors");
/// (epoch, node, monitor) → the report the monitor made.
pub const REPORTS: TableDefinition<(u64, [u8; 32], [u8; 32]), &[u8]> =
    TableDefinition::new("reports");
/// The current and previous epochs' seeds (§8.3.13).
pub const META_AUDIT_SEEDS: &str = "audit_seeds";

/// The longest outlier history kept (`MonitorRule::window` is 10).
const MAX_OUTLIER_HISTORY: usize = 255;

/// `v1 ‖ account ‖ stake ‖ registered_stake ‖ registered_at ‖ nonce`
/// (u64 each) `‖ n (u8) ‖ n outlier flags (0/1)`.
pub fn encode_monitor(m: &MonitorRecord) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&m.account.to_bytes());
    for v in [
        m.stake.get(),
        m.registered_stake.get(),
        m.registered_at.0,
        m.nonce,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let recent = m.outliers.recent();
    let kept = &recent[recent.len().saturating_sub(MAX_OUTLIER_HISTORY)..];
    out.push(kept.len() as u8);
    out.extend(kept.iter().map(|o| u8::from(*o)));
    out
}

pub fn decode_monitor(buf: &[u8]) -> Result<MonitorRecord, LedgerError> {
    let mut r = Reader::new(buf, "monitor")?;
    let account = r.field(AccountId::from_bytes)?;
    let (stake, registered_stake) = (Value(r.u64()?), Value(r.u64()?));
    let registered_at = BlockHeight(r.u64()?);
    let nonce = r.u64()?;
    let n = usize::from(r.u8()?);
    let recent = r
        .bytes(n)?
        .into_iter()
        .map(|b| match b {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(corrupted("monitor")),
        })
        .collect::<Result<Vec<bool>, _>>()?;
    r.finish()?;
    if stake > registered_stake {
        return Err(corrupted("monitor"));
    }
    Ok(MonitorRecord {
        account,
        stake,
        registered_stake,
        registered_at,
        nonce,
        outliers: OutlierRecord::from_recent(recent),
    })
}

/// `v1 ‖ throughput (u64) ‖ rtt ‖ ok ‖ failed (u32 each) ‖ nonce (u64)`.
pub fn encode_report(s: &StoredReport) -> Vec<u8> {
    let m = &s.measured;
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&m.throughput_kbps.to_be_bytes());
    for v in [m.rtt_ms, m.challenges_ok, m.challenges_failed] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&s.nonce.to_be_bytes());
    out
}

pub fn decode_report(buf: &[u8]) -> Result<StoredReport, LedgerError> {
    let mut r = Reader::new(buf, "report")?;
    let measured = Measurement {
        throughput_kbps: r.u64()?,
        rtt_ms: r.u32()?,
        challenges_ok: r.u32()?,
        challenges_failed: r.u32()?,
    };
    let nonce = r.u64()?;
    r.finish()?;
    Ok(StoredReport { measured, nonce })
}

/// `v1 ‖ epoch (u64) ‖ current ‖ previous` (32 bytes each).
pub fn encode_seeds(s: &AuditSeeds) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&s.epoch.to_be_bytes());
    out.extend_from_slice(&s.current);
    out.extend_from_slice(&s.previous);
    out
}

pub fn decode_seeds(buf: &[u8]) -> Result<AuditSeeds, LedgerError> {
    let mut r = Reader::new(buf, "audit seeds")?;
    let s = AuditSeeds {
        epoch: r.u64()?,
        current: r.take::<32>()?,
        previous: r.take::<32>()?,
    };
    r.finish()?;
    Ok(s)
}

/// A node record's audit (§8.3.13) as its last section (`4`), present only
/// once an audit reached a verdict: `slashed (u64) ‖ epoch (u64) ‖ reports
/// (u32) ‖ throughput ‖ rtt (u64 each) ‖ delivered_ppm (u32) ‖ slashed by
/// that verdict (u64)`.
pub(super) fn encode_node_audit(out: &mut Vec<u8>, a: &NodeAudit) {
    let Some(last) = &a.last else { return };
    out.push(4);
    out.extend_from_slice(&a.slashed.get().to_be_bytes());
    out.extend_from_slice(&last.epoch.to_be_bytes());
    out.extend_from_slice(&last.reports.to_be_bytes());
    out.extend_from_slice(&last.throughput_kbps.to_be_bytes());
    out.extend_from_slice(&last.rtt_ms.to_be_bytes());
    out.extend_from_slice(&last.delivered_ppm.to_be_bytes());
    out.extend_from_slice(&last.slashed.get().to_be_bytes());
}

/// Reads [`encode_node_audit`]'s section, if there is one.
pub(super) fn decode_node_audit(r: &mut Reader<'_>) -> Result<NodeAudit, LedgerError> {
    if r.buf.first() != Some(&4) {
        return Ok(NodeAudit::default());
    }
    r.u8()?;
    let slashed = Value(r.u64()?);
    let last = AuditOutcome {
        epoch: r.u64()?,
        reports: r.u32()?,
        throughput_kbps: r.u64()?,
        rtt_ms: r.u64()?,
        delivered_ppm: r.u32()?,
        slashed: Value(r.u64()?),
    };
    if last.slashed > slashed || last.delivered_ppm > 1_000_000 {
        return Err(corrupted("node"));
    }
    Ok(NodeAudit {
        slashed,
        last: Some(last),
    })
}
