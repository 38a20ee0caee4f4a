//! Monitors, reports and verdicts on chain (`docs/market.md` §5.1): the
//! `LedgerApi` audit operations over `VeilAudits`, the contract the
//! ledger names as its `auditor`. The sender is the monitor (its
//! transaction signature stands in for the account signature of §8.3.13).
//!
//! A verdict on chain runs when someone calls `judge`; this backend does
//! so for a node's verdicts that are due whenever it reports on the node,
//! and for the monitor's own reports before releasing its stake, so a
//! monitor that keeps auditing keeps the verdicts it took part in coming.

use alloy::primitives::{Address, U256};
use veil_evm::abi::Word;
use veil_evm::audits::{self, AuditRevert, MonitorView as ChainMonitor, SeedCommit, VerdictView};
use veil_evm::escrow;
use veil_evm::solidity::fr_word;
use veil_evm::token;
use veil_ledger::LedgerError;
use veil_ledger::exit::ExitStep;
use veil_ledger::intern::intern;
use veil_ledger::monitor::{
    AuditReport, MonitorExit, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView,
    StoredReport,
};
use veil_ledger::types::{AppliedStep, AuditOutcome, BlockHeight, NodeId, Value};
use veil_market::audit::OutlierRecord;

use super::{EvmLedger, abi_err, chain_err, evm_address};
use crate::chain::RpcError;

/// The domain of a monitor's seed secrets ([`crate::RpcChain::derive_secret`]).
const SEED_SECRET: &[u8] = b"veil/evm/audit-seed-secret/v1";

/// The ledger was deployed without audits (its `auditor()` is zero).
const NO_AUDITS: &str =
    "this EVM ledger was deployed without audits (auditor() is zero; docs/market.md §5.1)";

/// The `LedgerError` of a refusal by `VeilAudits`.
pub fn from_audit_revert(r: AuditRevert) -> LedgerError {
    use LedgerError as E;
    match r {
        AuditRevert::InvalidArgument(why) => E::InvalidArgument(intern(&why)),
        AuditRevert::MonitorExists => E::MonitorExists,
        AuditRevert::NotAMonitor => E::NotAMonitor,
        AuditRevert::MonitorRetired => E::MonitorRetired,
        AuditRevert::MonitorNotRetired => E::MonitorNotRetired,
        AuditRevert::StakeReleased => E::StakeReleased,
        AuditRevert::StakeLocked { height, .. } => E::StakeLocked(BlockHeight(height)),
        AuditRevert::InsufficientBalance => E::InsufficientBalance,
        AuditRevert::NotAssigned => E::NotAssigned,
        AuditRevert::ReportExists => E::ReportExists,
        // Before the seed is drawn (its reveal window) reports are not open.
        AuditRevert::ReportNotOpen | AuditRevert::SeedNotDrawn(_) => E::ReportNotOpen,
        AuditRevert::UnknownNode => E::UnknownNode,
        AuditRevert::ChallengeExists => E::ChallengeExists,
        AuditRevert::ChallengeEpoch(now) => E::ChallengeEpoch(now),
        AuditRevert::NodeRetired => E::NodeRetired,
        AuditRevert::UnknownChallenge => E::UnknownChallenge,
        AuditRevert::BadChallengeAnswer => E::BadChallengeAnswer,
        AuditRevert::ChallengeClosed => E::ChallengeClosed,
        // `slashMissed` before the deadline: the node may still answer.
        AuditRevert::ChallengeOpen(_) => {
            E::InvalidArgument("a challenge is closed as missed only after its deadline")
        }
        other => E::Unavailable(format!("unexpected VeilAudits refusal {other:?}")),
    }
}

fn audit_err(e: RpcError) -> LedgerError {
    match &e {
        RpcError::Reverted { data } => match AuditRevert::decode(data) {
            Ok(r) => from_audit_revert(r),
            Err(_) => super::error::from_rpc(e),
        },
        _ => chain_err(e),
    }
}

impl EvmLedger {
    pub(super) fn audits(&self) -> Result<Address, LedgerError> {
        self.auditor.ok_or(LedgerError::Unsupported(NO_AUDITS))
    }

    pub(super) async fn audit_view(&self, data: &[u8]) -> Result<Vec<u8>, LedgerError> {
        let a = self.audits()?;
        self.chain.call(a, data).await.map_err(chain_err)
    }

    async fn audit_u64(&self, data: &[u8]) -> Result<u64, LedgerError> {
        let out = self.audit_view(data).await?;
        veil_evm::ledger::decode_u64(&out).map_err(abi_err)
    }

    /// Simulates `data` on the audits (a refusal sends nothing), then sends it.
    pub(super) async fn audit_send(&self, data: &[u8]) -> Result<(), LedgerError> {
        let a = self.audits()?;
        self.chain.wait_until_idle().await.map_err(chain_err)?;
        self.chain.call(a, data).await.map_err(audit_err)?;
        self.chain.send(a, data).await.map_err(audit_err)?;
        Ok(())
    }

    /// The audit epoch of the latest block (`VeilAudits.currentEpoch`).
    pub async fn current_audit_epoch(&self) -> Result<u64, LedgerError> {
        self.audit_u64(&audits::current_epoch()).await
    }

    /// The first block of audit epoch `epoch`; its seed can be drawn from
    /// that height plus [`EvmLedger::audit_reveal_blocks`].
    pub async fn audit_epoch_start(&self, epoch: u64) -> Result<u64, LedgerError> {
        self.audit_u64(&audits::epoch_start(epoch)).await
    }

    /// The blocks of each epoch's seed reveal window.
    pub async fn audit_reveal_blocks(&self) -> Result<u64, LedgerError> {
        self.audit_u64(&audits::reveal_blocks()).await
    }

    async fn chain_monitor(&self, who: Address) -> Result<ChainMonitor, LedgerError> {
        ChainMonitor::decode(&self.audit_view(&audits::monitor(who)).await?).map_err(abi_err)
    }

    /// The monitor's record in the embedded ledger's shape: no account
    /// nonce on chain (0), the registered stake is the stake before
    /// slashes and release as far as the chain keeps it (the stake held
    /// plus what was paid back is not stored: the stake held is given).
    pub(super) async fn monitor_record(
        &self,
        who: Address,
    ) -> Result<Option<MonitorRecord>, LedgerError> {
        let m = self.chain_monitor(who).await?;
        if !m.registered {
            return Ok(None);
        }
        let step = |at: u64| AppliedStep {
            at: BlockHeight(at),
            nonce: 0,
        };
        let recent = (0..m.recent_len)
            .rev()
            .map(|bit| (m.recent >> bit) & 1 == 1)
            .collect();
        Ok(Some(MonitorRecord {
            account: escrow::recipient_account(who),
            stake: Value(m.stake),
            registered_stake: Value(m.stake),
            registered_at: BlockHeight(m.registered_at),
            nonce: 0,
            outliers: OutlierRecord::from_recent(recent),
            exit: (m.retired_at != 0).then(|| MonitorExit {
                retired: step(m.retired_at),
                released: (m.released_at != 0).then(|| step(m.released_at)),
            }),
        }))
    }

    pub(super) async fn register_monitor_on_chain(
        &self,
        r: MonitorRegistration,
    ) -> Result<MonitorRecord, LedgerError> {
        let a = self.audits()?;
        let me = self.chain.address();
        self.require_sender(
            &r.account,
            "on chain a monitor stakes from the transaction's sender",
        )?;
        if let Some(rec) = self.monitor_record(me).await? {
            return if rec.stake == r.stake && rec.exit.is_none() {
                Ok(rec)
            } else {
                Err(LedgerError::MonitorExists)
            };
        }
        let data = audits::register_monitor(r.stake.get());
        let allowance = self
            .chain
            .call(self.token, &token::allowance(me, a))
            .await
            .map_err(chain_err)?;
        if token::decode_u256(&allowance).map_or(true, |x| x < U256::from(r.stake.get())) {
            // The approval is sent only if the registration would pass with it.
            let approve = token::approve(a, U256::from(r.stake.get()));
            self.chain.wait_until_idle().await.map_err(chain_err)?;
            self.chain
                .simulate(&[(self.token, &approve), (a, &data)])
                .await
                .map_err(audit_err)?;
            self.chain
                .send(self.token, &approve)
                .await
                .map_err(chain_err)?;
        }
        self.audit_send(&data).await?;
        self.monitor_record(me)
            .await?
            .ok_or_else(|| LedgerError::Unavailable("the registration left no record".into()))
    }

    pub(super) async fn submit_report_on_chain(
        &self,
        r: AuditReport,
    ) -> Result<StoredReport, LedgerError> {
        self.audits()?;
        let me = self.chain.address();
        self.require_sender(&r.monitor, "on chain a report is the transaction sender's")?;
        let node = fr_word(&r.node_id.inner());
        let stored = StoredReport {
            measured: r.measured,
            nonce: 0,
        };
        let sent =
            audits::submit_report(r.epoch, node, r.measured.throughput_kbps, r.measured.rtt_ms);
        // A report the chain refuses anyway sends nothing; one that would
        // pass draws the seed first if it is not drawn, so that it is then
        // simulated under the seed it will be judged by.
        let a = self.audits()?;
        let sent_or_refused = match self.chain.call(a, &sent).await.map_err(audit_err) {
            Ok(_) => {
                self.draw_seed_if_due(r.epoch).await?;
                self.audit_send(&sent).await
            }
            Err(e) => Err(e),
        };
        match sent_or_refused {
            Ok(()) => {}
            // A retry of the same measurement answers it, as embedded.
            Err(LedgerError::ReportExists)
                if self.reported(r.epoch, node, me).await?
                    == Some((r.measured.throughput_kbps, r.measured.rtt_ms.into())) => {}
            Err(e) => return Err(e),
        }
        self.judge_due(r.epoch, node).await?;
        Ok(stored)
    }

    /// What `monitor` reported on `node` in `epoch`: `(kbps, rtt)`.
    async fn reported(
        &self,
        epoch: u64,
        node: Word,
        monitor: Address,
    ) -> Result<Option<(u64, u64)>, LedgerError> {
        let out = self.audit_view(&audits::reports_of(epoch, node)).await?;
        let reports = audits::decode_reports(&out).map_err(abi_err)?;
        Ok(reports
            .into_iter()
            .find(|(m, _, _)| *m == monitor)
            .map(|(_, k, t)| (k, t)))
    }

    /// Judges `node`'s verdicts of the two epochs before `epoch` that are
    /// due, reported on and not judged yet.
    async fn judge_due(&self, epoch: u64, node: Word) -> Result<(), LedgerError> {
        for e in [epoch.checked_sub(3), epoch.checked_sub(2)]
            .into_iter()
            .flatten()
        {
            self.judge_if_due(e, node).await?;
        }
        Ok(())
    }

    /// Sends `judge(epoch, node)` if it is due, not run and has reports.
    pub async fn judge_if_due(&self, epoch: u64, node: Word) -> Result<bool, LedgerError> {
        let now = self.audit_u64(&audits::current_epoch()).await?;
        if now < epoch + 2 || self.audit_u64(&audits::judged(epoch, node)).await? != 0 {
            return Ok(false);
        }
        let out = self.audit_view(&audits::reports_of(epoch, node)).await?;
        if audits::decode_reports(&out).map_err(abi_err)?.is_empty() {
            return Ok(false);
        }
        self.audit_send(&audits::judge(epoch, node)).await?;
        Ok(true)
    }

    pub(super) async fn monitor_view_on_chain(
        &self,
        account: veil_ledger::types::AccountId,
    ) -> Result<MonitorView, LedgerError> {
        self.audits()?;
        let who = evm_address(&account)?;
        let record = self.monitor_record(who).await?;
        let epoch = self.audit_u64(&audits::current_epoch()).await?;
        let mut assigned = Vec::new();
        if record.is_some() {
            let nodes = self.synced().await?.nodes_after(None, usize::MAX)?;
            for n in nodes {
                let id = n.registration.node_id;
                let out = self
                    .audit_view(&audits::is_assigned(epoch, fr_word(&id.inner()), who))
                    .await?;
                if veil_evm::abi::decode_bool(&out).map_err(abi_err)? {
                    assigned.push(id);
                }
            }
        }
        Ok(MonitorView {
            record,
            epoch,
            assigned,
        })
    }

    /// Draws `epoch`'s seed if nobody has and its reveal window closed
    /// (the seed depends on the drawing block's `prevrandao`, so no
    /// simulation can foretell it: it is a transaction of its own).
    pub(super) async fn draw_seed_if_due(&self, epoch: u64) -> Result<(), LedgerError> {
        if self.seed_drawn(epoch).await? {
            return Ok(());
        }
        match self.audit_send(&audits::draw_seed(epoch)).await {
            // Not yet due (the reveal window), or drawn meanwhile.
            Ok(()) | Err(LedgerError::ReportNotOpen) => Ok(()),
            Err(LedgerError::Unavailable(_)) if self.seed_drawn(epoch).await? => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// This monitor's part in the seeds (docs/market.md §5.1): reveals
    /// the secret it committed for the current epoch while the epoch's
    /// reveal window is open, and commits for the next epoch if it is
    /// eligible there and has not. The secret of an epoch is derived from
    /// the monitor's key ([`crate::RpcChain::derive_secret`]), so a later
    /// run reveals what an earlier one committed. Each call is simulated
    /// first; a window closing meanwhile is not an error.
    pub(super) async fn seed_turn_on_chain(&self) -> Result<(), LedgerError> {
        let me = self.chain.address();
        let epoch = self.current_audit_epoch().await?;
        let secret = |e: u64| self.chain.derive_secret(SEED_SECRET, &e.to_be_bytes());
        let height = self.chain.block_number().await.map_err(chain_err)?;
        let start = self.audit_epoch_start(epoch).await?;
        let window = self.audit_reveal_blocks().await?;
        let committed = self.seed_commit(epoch, me).await?;
        let mine = audits::seed_commitment(secret(epoch), me, epoch);
        // The next transaction lands in the next block.
        let open = height + 1 < start + window;
        if committed == SeedCommit::Committed(mine) && open {
            self.seed_send(&audits::reveal_seed(epoch, secret(epoch)))
                .await?;
        }
        // Withheld secrets: the previous epoch's while this window is
        // open, this epoch's once it closed.
        match open {
            true => self.punish_withheld(epoch.saturating_sub(1)).await?,
            false => self.punish_withheld(epoch).await?,
        };
        let next = epoch + 1;
        let eligible = self.audit_view(&audits::eligible(me, next)).await?;
        if eligible.iter().any(|b| *b != 0) && self.seed_commit(next, me).await? == SeedCommit::None
        {
            let c = audits::seed_commitment(secret(next), me, next);
            self.seed_send(&audits::commit_seed(next, c)).await?;
        }
        Ok(())
    }

    /// Reports every monitor that committed to a secret for `epoch` and
    /// did not reveal it in the window (`punishWithheld`: the reporter is
    /// paid part of the slash); call once the window closed. The
    /// committers are read from the `SeedCommitted` events of the commit
    /// window (the epoch before), one `eth_getLogs`, not a scan of every
    /// monitor. Returns how many it reported.
    pub async fn punish_withheld(&self, epoch: u64) -> Result<usize, LedgerError> {
        let a = self.audits()?;
        let from = self.audit_epoch_start(epoch.saturating_sub(1)).await?;
        let to = self.audit_epoch_start(epoch).await?;
        let events: Vec<_> = self
            .chain
            .logs(a, from, to)
            .await
            .map_err(chain_err)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let mut reported = 0;
        for who in audits::seed_committers(&events, epoch) {
            if let SeedCommit::Committed(_) = self.seed_commit(epoch, who).await? {
                self.seed_send(&audits::punish_withheld(epoch, who)).await?;
                reported += 1;
            }
        }
        Ok(reported)
    }

    async fn seed_commit(&self, epoch: u64, who: Address) -> Result<SeedCommit, LedgerError> {
        let w = self.audit_view(&audits::seed_commit(epoch, who)).await?;
        SeedCommit::decode(&w).map_err(abi_err)
    }

    /// A seed transaction (commit, reveal, report of a withheld secret);
    /// one overtaken meanwhile — its window closed, the secret reported
    /// by someone else, the stake released — is dropped.
    async fn seed_send(&self, data: &[u8]) -> Result<(), LedgerError> {
        let a = self.audits()?;
        let closed = |e: &RpcError| match e {
            RpcError::Reverted { data } => matches!(
                AuditRevert::decode(data),
                Ok(AuditRevert::CommitWindow(_)
                    | AuditRevert::RevealWindow(_)
                    | AuditRevert::NotWithheld
                    | AuditRevert::StakeReleased)
            ),
            _ => false,
        };
        self.chain.wait_until_idle().await.map_err(chain_err)?;
        for step in [false, true] {
            let r = match step {
                false => self.chain.call(a, data).await.map(drop),
                true => self.chain.send(a, data).await.map(drop),
            };
            match r {
                Err(e) if closed(&e) => return Ok(()),
                r => r.map_err(audit_err)?,
            }
        }
        Ok(())
    }

    async fn seed_drawn(&self, epoch: u64) -> Result<bool, LedgerError> {
        let seed = self.audit_view(&audits::seed_of(epoch)).await?;
        Ok(seed.iter().any(|b| *b != 0))
    }

    pub(super) async fn exit_monitor_on_chain(
        &self,
        x: MonitorExitRequest,
    ) -> Result<MonitorRecord, LedgerError> {
        self.audits()?;
        let me = self.chain.address();
        self.require_sender(
            &x.account,
            "on chain a monitor's exit is the transaction sender's",
        )?;
        let m = self.chain_monitor(me).await?;
        match x.step {
            ExitStep::Retire => self.audit_send(&audits::retire_monitor()).await?,
            ExitStep::Release => {
                if m.retired_at != 0 && m.pending != 0 {
                    self.judge_own_reports(me, m.retired_at).await?;
                }
                self.own_withheld_slashed(me, m.retired_at).await?;
                self.audit_send(&audits::release_monitor()).await?
            }
        }
        self.monitor_record(me)
            .await?
            .ok_or(LedgerError::NotAMonitor)
    }

    /// A secret `me` withheld in the last two epochs it could commit for,
    /// having retired at `retired_at`, is slashed before its release
    /// (which waits for it): the monitor reports itself.
    async fn own_withheld_slashed(&self, me: Address, retired_at: u64) -> Result<(), LedgerError> {
        if retired_at == 0 {
            return Ok(());
        }
        let last = self.audit_u64(&audits::epoch_of(retired_at)).await?;
        let window = self.audit_reveal_blocks().await?;
        let height = self.chain.block_number().await.map_err(chain_err)?;
        for e in [last, last + 1] {
            let closed = height + 1 >= self.audit_epoch_start(e).await? + window;
            if closed && matches!(self.seed_commit(e, me).await?, SeedCommit::Committed(_)) {
                self.seed_send(&audits::punish_withheld(e, me)).await?;
            }
        }
        Ok(())
    }

    /// Judges the due verdicts on every node `me` reported on in the
    /// epochs it could still report in when it retired at `retired_at`.
    async fn judge_own_reports(&self, me: Address, retired_at: u64) -> Result<(), LedgerError> {
        // The contract's own epochs (its genesis and length are its
        // deployment's, not this backend's constants).
        let last = self.audit_u64(&audits::epoch_of(retired_at)).await?;
        let nodes = self.synced().await?.nodes_after(None, usize::MAX)?;
        for e in [last.checked_sub(1), Some(last)].into_iter().flatten() {
            for n in &nodes {
                let node = fr_word(&n.registration.node_id.inner());
                if self.reported(e, node, me).await?.is_some() {
                    self.judge_if_due(e, node).await?;
                }
            }
        }
        Ok(())
    }

    /// The node's latest verdict on chain (`None`: never judged with a
    /// quorum, or no audits).
    pub(super) async fn latest_verdict(
        &self,
        node_id: &NodeId,
    ) -> Result<Option<AuditOutcome>, LedgerError> {
        if self.auditor.is_none() {
            return Ok(None);
        }
        let out = self
            .audit_view(&audits::verdict(fr_word(&node_id.inner())))
            .await?;
        let v = VerdictView::decode(&out).map_err(abi_err)?;
        Ok((v.reports != 0).then_some(AuditOutcome {
            epoch: v.epoch,
            reports: v.reports as u32,
            throughput_kbps: v.throughput_kbps,
            rtt_ms: v.rtt_ms,
            delivered_ppm: v.delivered_ppm as u32,
            slashed: Value(v.slashed),
        }))
    }

    /// How many challenges of `node_id` wait for its answer (0 without
    /// audits): `openChallenges`, which `releaseNode` checks.
    pub(super) async fn open_challenges(&self, node_id: &NodeId) -> Result<u32, LedgerError> {
        if self.auditor.is_none() {
            return Ok(0);
        }
        let open = self
            .audit_u64(&audits::open_challenges(fr_word(&node_id.inner())))
            .await?;
        Ok(u32::try_from(open).unwrap_or(u32::MAX))
    }

    /// Σ monitor stakes held and Σ burnt by the audits (0 without audits).
    pub(super) async fn audit_totals(&self) -> Result<(u64, u64), LedgerError> {
        let Some(a) = self.auditor else {
            return Ok((0, 0));
        };
        let held = self
            .chain
            .call(self.token, &token::balance_of(a))
            .await
            .map_err(chain_err)?;
        let held = token::decode_u256(&held).map_err(abi_err)?;
        let held = u64::try_from(held).map_err(|_| LedgerError::Overflow)?;
        let burnt = self.audit_u64(&audits::burnt()).await?;
        Ok((held.saturating_sub(burnt), burnt))
    }
}
