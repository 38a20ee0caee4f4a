//! The audits' tables and records (docs/protocol.md §8.3.13): monitors,
//! reports, the epoch seeds, and a node record's audit section.

use redb::TableDefinition;
use veil_market::audit::OutlierRecord;

use super::{RECORD_V1, Reader, corrupted};
use crate::challenge::{ChallengeKey, ChallengeRecord, ChallengeState};
use crate::error::LedgerError;
use crate::monitor::{AuditSeeds, Measurement, MonitorRecord, StoredReport};
use crate::types::{AccountId, AuditOutcome, BlockHeight, NodeAudit, NodeId, Value};
use veil_primitives::merkle::MerkleRoot;

/// Monitor account → its record.
pub const MONITORS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("monitors");
/// (epoch, node, monitor) → the report the monitor made.
pub const REPORTS: TableDefinition<(u64, [u8; 32], [u8; 32]), &[u8]> =
    TableDefinition::new("reports");
/// The current and previous epochs' seeds (§8.3.13).
pub const META_AUDIT_SEEDS: &str = "audit_seeds";
/// (node, epoch, monitor) → the challenge the monitor made (§8.3.14).
pub const CHALLENGES: TableDefinition<([u8; 32], u64, [u8; 32]), &[u8]> =
    TableDefinition::new("challenges");
/// (deadline, node, epoch, monitor) → (): the open challenges, by deadline.
pub const CHALLENGES_DUE: TableDefinition<(u64, [u8; 32], u64, [u8; 32]), ()> =
    TableDefinition::new("challenges_due");

/// The longest outlier history kept (`MonitorRule::window` is 10).
const MAX_OUTLIER_HISTORY: usize = 255;

/// `v1 ‖ account ‖ stake ‖ registered_stake ‖ registered_at ‖ nonce`
/// (u64 each) `‖ n (u8) ‖ n outlier flags (0/1)`, then the exit's section
/// once retired (a node's, `3 ‖ …`).
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
    super::encode_exit(&mut out, m.exit.as_ref());
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
    let exit = super::decode_exit(&mut r, "monitor")?;
    r.finish()?;
    let released = exit.is_some_and(|x| x.released.is_some());
    if stake > registered_stake || (released && stake != Value::ZERO) {
        return Err(corrupted("monitor"));
    }
    Ok(MonitorRecord {
        account,
        stake,
        registered_stake,
        registered_at,
        nonce,
        outliers: OutlierRecord::from_recent(recent),
        exit,
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

/// A node record's audit (§8.3.13, §8.3.14) as its last section (`4`),
/// present only once something happened (a verdict, a slash or a
/// challenge): `slashed (u64) ‖ open ‖ missed challenges (u32 each) ‖ 0,
/// or 1 ‖ the latest verdict: epoch (u64) ‖ reports (u32) ‖ throughput ‖
/// rtt (u64 each) ‖ delivered_ppm (u32) ‖ slashed by that verdict (u64)`.
pub(super) fn encode_node_audit(out: &mut Vec<u8>, a: &NodeAudit) {
    if *a == NodeAudit::default() {
        return;
    }
    out.push(4);
    out.extend_from_slice(&a.slashed.get().to_be_bytes());
    out.extend_from_slice(&a.open_challenges.to_be_bytes());
    out.extend_from_slice(&a.missed_challenges.to_be_bytes());
    let Some(last) = &a.last else {
        out.push(0);
        return;
    };
    out.push(1);
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
    let (open_challenges, missed_challenges) = (r.u32()?, r.u32()?);
    let last = match r.u8()? {
        0 => None,
        1 => Some(AuditOutcome {
            epoch: r.u64()?,
            reports: r.u32()?,
            throughput_kbps: r.u64()?,
            rtt_ms: r.u64()?,
            delivered_ppm: r.u32()?,
            slashed: Value(r.u64()?),
        }),
        _ => return Err(corrupted("node")),
    };
    if last.is_some_and(|l| l.slashed > slashed || l.delivered_ppm > 1_000_000) {
        return Err(corrupted("node"));
    }
    let audit = NodeAudit {
        slashed,
        last,
        open_challenges,
        missed_challenges,
    };
    if audit == NodeAudit::default() {
        return Err(corrupted("node"));
    }
    Ok(audit)
}

/// `v1 ‖ root (32) ‖ issued_at ‖ deadline ‖ nonce (u64 each) ‖ state (u8:
/// 0 open, 1 answered, 2 missed) ‖ the answer's height or the slash (u64;
/// 0 when open)`. The key (node, epoch, monitor) is the table's.
pub fn encode_challenge(c: &ChallengeRecord) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    out.extend_from_slice(&c.root.to_bytes());
    for v in [c.issued_at.0, c.deadline.0, c.nonce] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    let (tag, v) = match c.state {
        ChallengeState::Open => (0u8, 0),
        ChallengeState::Answered(h) => (1, h.0),
        ChallengeState::Missed { slashed } => (2, slashed.get()),
    };
    out.push(tag);
    out.extend_from_slice(&v.to_be_bytes());
    out
}

pub fn decode_challenge(key: ChallengeKey, buf: &[u8]) -> Result<ChallengeRecord, LedgerError> {
    let mut r = Reader::new(buf, "challenge")?;
    let root = MerkleRoot::from_bytes(&r.take::<32>()?).map_err(|_| corrupted("challenge"))?;
    let (issued_at, deadline) = (BlockHeight(r.u64()?), BlockHeight(r.u64()?));
    let nonce = r.u64()?;
    let (tag, v) = (r.u8()?, r.u64()?);
    r.finish()?;
    let state = match (tag, v) {
        (0, 0) => ChallengeState::Open,
        (1, h) => ChallengeState::Answered(BlockHeight(h)),
        (2, s) => ChallengeState::Missed { slashed: Value(s) },
        _ => return Err(corrupted("challenge")),
    };
    if deadline < issued_at {
        return Err(corrupted("challenge"));
    }
    Ok(ChallengeRecord {
        key,
        root,
        issued_at,
        deadline,
        nonce,
        state,
    })
}

/// The key of [`CHALLENGES`].
pub fn challenge_key(k: &ChallengeKey) -> ([u8; 32], u64, [u8; 32]) {
    (k.node_id.to_bytes(), k.epoch, k.monitor.to_bytes())
}

/// The [`ChallengeKey`] of a [`CHALLENGES`] key.
pub fn challenge_key_from(k: ([u8; 32], u64, [u8; 32])) -> Result<ChallengeKey, LedgerError> {
    Ok(ChallengeKey {
        node_id: NodeId::from_bytes(&k.0).map_err(|_| corrupted("challenge key"))?,
        epoch: k.1,
        monitor: AccountId::from_bytes(&k.2).map_err(|_| corrupted("challenge key"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{AppliedStep, NodeExit};

    fn step(at: u64, nonce: u64) -> AppliedStep {
        AppliedStep {
            at: BlockHeight(at),
            nonce,
        }
    }

    fn monitor(exit: Option<NodeExit>, stake: u64) -> MonitorRecord {
        MonitorRecord {
            account: AccountId::from_fr(veil_primitives::Fr::from(7u64)),
            stake: Value(stake),
            registered_stake: Value(500),
            registered_at: BlockHeight(12),
            nonce: 3,
            outliers: OutlierRecord::from_recent(vec![false, true]),
            exit,
        }
    }

    #[test]
    fn monitors_round_trip_with_and_without_their_exit() {
        let retired = NodeExit {
            retired: step(150, 4),
            released: None,
        };
        let released = NodeExit {
            released: Some(step(300, 5)),
            ..retired
        };
        for m in [
            monitor(None, 450),
            monitor(Some(retired), 450),
            monitor(Some(released), 0),
        ] {
            let bytes = encode_monitor(&m);
            assert_eq!(decode_monitor(&bytes), Ok(m));
            // Nothing trails, nothing is missing.
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_monitor(&longer).is_err());
            assert!(decode_monitor(&bytes[..bytes.len() - 1]).is_err());
        }
        // A released monitor holds nothing.
        let bad = encode_monitor(&monitor(Some(released), 1));
        assert!(decode_monitor(&bad).is_err());
    }

    #[test]
    fn node_audits_round_trip_and_the_empty_one_is_absent() {
        let mut out = Vec::new();
        encode_node_audit(&mut out, &NodeAudit::default());
        assert!(out.is_empty());
        let with = NodeAudit {
            slashed: Value(10),
            last: None,
            open_challenges: 2,
            missed_challenges: 1,
        };
        let mut record = vec![RECORD_V1];
        encode_node_audit(&mut record, &with);
        let mut r = Reader::new(&record, "node").expect("reader");
        assert_eq!(decode_node_audit(&mut r), Ok(with));
        assert!(r.finish().is_ok());
    }
}
