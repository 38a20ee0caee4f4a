//! Monitors and their audit reports (docs/protocol.md §8.3.13,
//! docs/market.md §6–7): an account stakes value to become a monitor; each
//! market epoch the ledger assigns monitors to nodes from the epoch's seed;
//! an assigned monitor reports what it measured of its node, signed by its
//! account key; when the epoch's report window closes the ledger judges
//! each node with `veil_market::audit` and slashes on under-delivery.

use sha2::{Digest, Sha256};
use veil_market::audit::{AuditRule, MonitorRule, OutlierRecord, Party, Report};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::{Fr, poseidon};

use crate::error::LedgerError;
use crate::trade::MARKET_EPOCH_BLOCKS;
use crate::types::{AccountAuth, AccountId, AccountOp, BlockHeight, NodeId, NodeRecord, Value};
pub use crate::types::{AuditOutcome, NodeAudit};

/// The first Poseidon input of a monitor registration's digest, after
/// `EXIT_TAG` (67) in the ledger's reserved range.
pub const MONITOR_TAG: u64 = 68;
/// The first Poseidon input of a report's digest.
pub const REPORT_TAG: u64 = 69;
/// The first Poseidon input of a monitor exit step's digest, after
/// `ANSWER_TAG` (71).
pub const MONITOR_EXIT_TAG: u64 = 72;

/// A monitor's exit: the steps of a node's (§8.3.12), the same record.
pub type MonitorExit = crate::exit::NodeExit;

/// The audit rule every ledger applies (`docs/market.md` §6.2).
pub fn audit_rule() -> AuditRule {
    AuditRule::default()
}

/// When a monitor's outliers slash it (`docs/market.md` §6.3).
pub fn monitor_rule() -> MonitorRule {
    MonitorRule::default()
}

/// The market epoch of a height.
pub fn epoch_of(h: BlockHeight) -> u64 {
    h.0 / MARKET_EPOCH_BLOCKS
}

/// The first height of `epoch`.
pub fn epoch_start(epoch: u64) -> BlockHeight {
    BlockHeight(epoch.saturating_mul(MARKET_EPOCH_BLOCKS))
}

/// An account staking value to audit nodes (§8.3.13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRegistration {
    pub account: AccountId,
    pub stake: Value,
    pub auth: Option<AccountAuth>,
}

impl MonitorRegistration {
    /// `H(68, stake)`: the digest the account key signs (op 6).
    pub fn digest(&self) -> Fr {
        registration_digest(self.stake)
    }

    /// A registration for a ledger that authenticates its sender
    /// ([`crate::LedgerApi::acting_account`], an EVM chain): staked by
    /// `account`, the sender's, with no account signature.
    pub fn from_sender(account: AccountId, stake: Value) -> Self {
        Self {
            account,
            stake,
            auth: None,
        }
    }

    /// A registration by the account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, stake: Value) -> Self {
        Self {
            account: key.verifying_key().account_id(),
            stake,
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::RegisterMonitor,
                nonce,
                registration_digest(stake),
            )),
        }
    }

    /// [`AccountAuth::verify`] for this registration; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::RegisterMonitor,
            &self.account,
            self.digest(),
        )
    }
}

fn registration_digest(stake: Value) -> Fr {
    poseidon::hash(&[Fr::from(MONITOR_TAG), Fr::from(stake.get())])
}

/// A monitor as recorded: its stake after slashes, when and with which
/// nonce it registered (a retry's answer), its outlier history and its
/// exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRecord {
    pub account: AccountId,
    /// The stake still held (registered stake less slashes; zero once
    /// released).
    pub stake: Value,
    pub registered_stake: Value,
    pub registered_at: BlockHeight,
    pub nonce: u64,
    pub outliers: OutlierRecord,
    /// `None` while the monitor audits.
    pub exit: Option<MonitorExit>,
}

impl MonitorRecord {
    /// Whether the monitor takes part in `epoch`'s assignment: registered
    /// before the epoch began (before its seed was drawn), and not retired
    /// before it began. Nothing else, and nothing that changes later: the
    /// assignment checked at a report and recomputed at the verdict must be
    /// the same, whatever slashes happened in between (a slash takes a
    /// tenth, rounded down, so a positive stake stays positive).
    pub fn eligible_in(&self, epoch: u64) -> bool {
        let start = epoch_start(epoch);
        self.registered_at < start && self.exit.is_none_or(|x| x.retired.at >= start)
    }

    /// The first height at which a monitor retired at `retired` may take
    /// its stake back: when the clock enters the second epoch after the
    /// one it retired in, the last epoch it was assigned in is judged
    /// (its outliers counted, and slashed) first.
    pub fn releasable_at(retired: BlockHeight) -> BlockHeight {
        epoch_start(epoch_of(retired).saturating_add(2))
    }
}

/// One exit step of a monitor, signed by its account key (op 9 over
/// `H(72, step)`, §8.3.13): retire (no assignment from the next epoch on),
/// then, once its last epoch is judged, release its stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorExitRequest {
    pub account: AccountId,
    pub step: crate::exit::ExitStep,
    pub auth: Option<AccountAuth>,
}

impl MonitorExitRequest {
    /// `H(72, step)`: the digest the account key signs (op 9).
    pub fn digest(&self) -> Fr {
        monitor_exit_digest(self.step)
    }

    /// A step for a ledger that authenticates its sender (an EVM chain).
    pub fn from_sender(account: AccountId, step: crate::exit::ExitStep) -> Self {
        Self {
            account,
            step,
            auth: None,
        }
    }

    /// A step by the monitor account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, step: crate::exit::ExitStep) -> Self {
        Self {
            account: key.verifying_key().account_id(),
            step,
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::ExitMonitor,
                nonce,
                monitor_exit_digest(step),
            )),
        }
    }

    /// [`AccountAuth::verify`] for this step; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::ExitMonitor,
            &self.account,
            self.digest(),
        )
    }
}

fn monitor_exit_digest(step: crate::exit::ExitStep) -> Fr {
    poseidon::hash(&[Fr::from(MONITOR_EXIT_TAG), Fr::from(step as u64)])
}

/// What `GetMonitor` answers: the record (`None`: not a monitor) and the
/// nodes the current epoch's assignment gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorView {
    pub record: Option<MonitorRecord>,
    pub epoch: u64,
    pub assigned: Vec<NodeId>,
}

/// What a monitor measured of a node through an ordinary session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Throughput through the node, kbit/s.
    pub throughput_kbps: u64,
    /// Round-trip time through the node, ms.
    pub rtt_ms: u32,
    /// Challenges answered correctly in time, and not.
    pub challenges_ok: u32,
    pub challenges_failed: u32,
}

/// A monitor's signed report on one node for one epoch (§8.3.13).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    pub epoch: u64,
    pub node_id: NodeId,
    pub monitor: AccountId,
    pub measured: Measurement,
    pub auth: Option<AccountAuth>,
}

impl AuditReport {
    /// `H(69, epoch, node_id, throughput, rtt, ok, failed)`: the digest the
    /// monitor's account key signs (op 7).
    pub fn digest(&self) -> Fr {
        report_digest(self.epoch, &self.node_id, &self.measured)
    }

    /// A report for a ledger that authenticates its sender (an EVM chain).
    pub fn from_sender(
        account: AccountId,
        epoch: u64,
        node_id: NodeId,
        measured: Measurement,
    ) -> Self {
        Self {
            epoch,
            node_id,
            monitor: account,
            measured,
            auth: None,
        }
    }

    /// A report by the monitor account of `key`, whose next nonce is `nonce`.
    pub fn signed(
        key: &SigningKey,
        nonce: u64,
        epoch: u64,
        node_id: NodeId,
        measured: Measurement,
    ) -> Self {
        Self {
            epoch,
            node_id,
            monitor: key.verifying_key().account_id(),
            measured,
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::Report,
                nonce,
                report_digest(epoch, &node_id, &measured),
            )),
        }
    }

    /// [`AccountAuth::verify`] for this report; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::Report,
            &self.monitor,
            self.digest(),
        )
    }

    /// The core's view of this report (`veil_market::audit::judge`).
    pub fn to_core(&self) -> Report {
        StoredReport {
            measured: self.measured,
            nonce: 0,
        }
        .to_core(self.epoch, &self.node_id, &self.monitor)
    }
}

fn report_digest(epoch: u64, node_id: &NodeId, m: &Measurement) -> Fr {
    poseidon::hash(&[
        Fr::from(REPORT_TAG),
        Fr::from(epoch),
        node_id.inner(),
        Fr::from(m.throughput_kbps),
        Fr::from(u64::from(m.rtt_ms)),
        Fr::from(u64::from(m.challenges_ok)),
        Fr::from(u64::from(m.challenges_failed)),
    ])
}

/// A report as stored under (epoch, node, monitor): what was measured and
/// the nonce it was signed with (a retry's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredReport {
    pub measured: Measurement,
    pub nonce: u64,
}

impl StoredReport {
    pub fn to_core(&self, epoch: u64, node: &NodeId, monitor: &AccountId) -> Report {
        Report {
            epoch,
            node: Party(node.to_bytes()),
            monitor: Party(monitor.to_bytes()),
            throughput_kbps: self.measured.throughput_kbps,
            rtt_ms: self.measured.rtt_ms,
            challenges_ok: self.measured.challenges_ok,
            challenges_failed: self.measured.challenges_failed,
        }
    }
}

/// The seeds of the current and the previous epoch: the two whose reports
/// the ledger still takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditSeeds {
    pub epoch: u64,
    pub current: [u8; 32],
    pub previous: [u8; 32],
}

impl AuditSeeds {
    /// Epoch 0's seeds: fixed, so epoch 0 assigns from public constants
    /// (monitors registered at genesis only: none).
    pub fn genesis() -> Self {
        Self {
            epoch: 0,
            current: seed(0, &[0; 32], &[0; 32]),
            previous: [0; 32],
        }
    }

    /// The seed of `epoch`, if it is the current or the previous one.
    pub fn of(&self, epoch: u64) -> Option<[u8; 32]> {
        if epoch == self.epoch {
            Some(self.current)
        } else if epoch.checked_add(1) == Some(self.epoch) {
            Some(self.previous)
        } else {
            None
        }
    }

    /// The seeds once the clock has entered `epoch` with the tree at
    /// `root`: the epoch's seed is `SHA-256(len ‖ tag ‖ epoch ‖ root ‖
    /// previous seed)`. Entering several epochs at once derives each of
    /// them in turn from the same root.
    pub fn entering(&self, epoch: u64, root: &[u8; 32]) -> Self {
        let mut s = *self;
        let first = epoch.saturating_sub(1).max(self.epoch.saturating_add(1));
        for e in first..=epoch {
            s = Self {
                epoch: e,
                previous: s.current,
                current: seed(e, root, &s.current),
            };
        }
        s
    }
}

const SEED_TAG: &[u8] = b"veil/ledger/audit-seed/v1";

fn seed(epoch: u64, root: &[u8; 32], previous: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((SEED_TAG.len() as u64).to_be_bytes());
    h.update(SEED_TAG);
    h.update(epoch.to_be_bytes());
    h.update(root);
    h.update(previous);
    h.finalize().into()
}

/// The claimed capacity a node is judged against, in kbit/s: its profile's
/// `capacity_mbit_s` (§8.3.9) in force; zero (never under-delivering) if the
/// profile is absent or does not parse.
pub fn claimed_kbps(node: &NodeRecord) -> u64 {
    u64::from(claimed_mbit_s(&node.terms().profile)) * 1_000
}

/// The capacity a profile's bytes claim, Mbit/s (0: none, or a profile
/// that does not parse).
pub fn claimed_mbit_s(profile: &[u8]) -> u32 {
    crate::profile::NodeProfile::decode(profile).map_or(0, |p| p.capacity_mbit_s)
}

/// Value a node stakes per Mbit/s it claims (§8.3.6, §8.3.8): a claim of
/// 100 Mbit/s needs 10,000.
pub const STAKE_PER_MBIT_S: Value = Value(100);

/// The least stake that backs the capacity `profile` claims.
pub fn required_stake(profile: &[u8]) -> Value {
    Value(u64::from(claimed_mbit_s(profile)).saturating_mul(STAKE_PER_MBIT_S.get()))
}

/// A stake of `stake` backs the capacity `profile` claims, or the refusal
/// naming both.
pub fn check_stake_backs(stake: Value, profile: &[u8]) -> Result<(), LedgerError> {
    let needed = required_stake(profile);
    if stake < needed {
        return Err(LedgerError::StakeBelowCapacity { stake, needed });
    }
    Ok(())
}
