//! The demo's audit round (docs/market.md §7.1): three monitors stake,
//! the clock enters the next market epoch, each assigned monitor audits the
//! demo node through an ordinary paid session — fetching from the demo's
//! destination, timing the transfer and the session's challenge — and signs a
//! report; the node settles those sessions like any other; two epochs
//! later the ledger's verdict is the node's audited score. Each monitor
//! also challenges the node on the ledger (§8.3.14), which the node
//! answers with its key. In the `cheating-node` scenario the node relays
//! at a tenth of the capacity it claims (`--relay-limit-kbps`) and the
//! verdict slashes its stake; in `silent-node` it leaves the challenges
//! unanswered and loses its whole stake when their deadline passes.
//!
//! The demo moves the clock itself ([`Clock`]): the embedded ledger's, or
//! a development chain's by mining; on other ledgers the round is skipped
//! and says so. On the EVM ledger the monitors also take their seed turns
//! (commit, reveal), the node's answers go to the contract as `answer`
//! proofs, each monitor closes its own missed challenges (`slashMissed`,
//! as `veil monitor run` does) and the public handle sends `judge`.

use rand::rngs::OsRng;
use serde_json::json;
use veil_client::monitor::{AuditPlan, audit, challenge, register, report};
use veil_client::session::NodeConnection;
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_ledger::challenge::ChallengeState;
use veil_ledger::types::{AuditOutcome, NodeId};
use veil_primitives::ids::AccountId;
use veil_primitives::value::Value;

use super::Stage;
use super::clock::Clock;

/// Monitors in the round (the quorum is 3).
pub(super) const MONITORS: usize = 3;
/// Each monitor's stake.
const MONITOR_STAKE: u64 = 1_000;
/// Bytes each audit fetches through the node.
pub(super) const AUDIT_BYTES: u64 = 1 << 20;

/// What the round did and what the ledger concluded.
pub(super) struct AuditDemo {
    pub monitors: Vec<AccountId>,
    pub audits: usize,
    /// Ledger challenges issued (none where the ledger takes none), the
    /// node answered before the deadline, and missed.
    pub challenges_issued: usize,
    pub challenges_answered: usize,
    pub challenges_missed: u32,
    pub node: NodeId,
    /// The measurements each monitor reported, kbit/s.
    pub reported_kbps: Vec<u64>,
    pub verdict: Option<AuditOutcome>,
    /// Slashed from the node's stake in all.
    pub slashed: Value,
    /// The audit sessions the node settled (one batch).
    pub settled: usize,
    pub stake_before: Value,
}

/// Runs the round against the demo node `node` (claiming capacity in its
/// profile), each monitor acting through its handle in `parties` (its own
/// key on a chain); `None` where the demo cannot move the clock.
pub(super) async fn round<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    clock: Option<&Clock>,
    parties: &[L],
    node: &veil_node::NodeHandle,
    dir: &std::path::Path,
) -> anyhow::Result<Option<AuditDemo>> {
    let Some(clock) = clock else {
        say!(
            stage.json,
            "== audits: skipped (three epochs must pass: the demo moves the clock of its embedded ledger or of a development chain only)"
        );
        return Ok(None);
    };
    let stake_before = node_stake(stage.ledger, node.node_id).await?;
    let mut monitors = Vec::new();
    for (i, ledger) in parties.iter().take(MONITORS).enumerate() {
        let wallet = enlist(stage, ledger, &dir.join(format!("monitor{i}.wallet"))).await?;
        monitors.push(Monitor { ledger, wallet });
    }
    draw_seed(clock, &monitors).await?;
    let mut reported_kbps = Vec::new();
    let mut epoch = None;
    for m in &mut monitors {
        let view = m.ledger.monitor(m.account()).await?;
        if !view.assigned.contains(&node.node_id) {
            continue;
        }
        epoch = Some(view.epoch);
        reported_kbps.push(m.audit(stage, node.node_id, view.epoch).await?);
    }
    // The node answers the ledger challenges from its poll loop (a silent
    // node never does); the node settles the audit sessions like any
    // others; then the clock passes the challenges' deadline and the
    // report window closes: what the node missed and the verdict land.
    let issued = reported_kbps.len();
    let answered = await_answers(stage.ledger, node.node_id, issued).await?;
    let settled = node.settle_now().await?.sessions;
    if let Some(e) = epoch {
        clock.past_deadlines(e).await?;
        for m in &monitors {
            m.ledger.close_missed_challenges().await?;
        }
        clock.judge(e, node.node_id).await?;
    }
    let record = stage
        .ledger
        .get_node(node.node_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo node is not registered"))?;
    let demo = AuditDemo {
        monitors: monitors.iter().map(Monitor::account).collect(),
        audits: reported_kbps.len(),
        challenges_issued: issued,
        challenges_answered: answered,
        challenges_missed: record.audit.missed_challenges,
        node: node.node_id,
        reported_kbps,
        verdict: record.audit.last,
        slashed: record.audit.slashed,
        settled,
        stake_before,
    };
    say!(stage.json, "{}", describe(&demo));
    Ok(Some(demo))
}

/// A monitor of the round: its wallet (notes for the audit sessions, the
/// account key) and its handle on the ledger.
struct Monitor<'a, L> {
    ledger: &'a L,
    wallet: Wallet,
}

impl<L: LedgerApi> Monitor<'_, L> {
    /// The monitor's account: the sender on a chain, else the wallet's key.
    fn account(&self) -> AccountId {
        self.ledger
            .acting_account()
            .unwrap_or_else(|| self.wallet.account())
    }

    /// Audits `node` in `epoch` through an ordinary paid session, reports
    /// the measurement and, where the ledger takes them, challenges the
    /// node there; returns the throughput reported.
    async fn audit(
        &mut self,
        stage: &Stage<'_, L>,
        node: NodeId,
        epoch: u64,
    ) -> anyhow::Result<u64> {
        let plan = AuditPlan {
            target: Target {
                host: Host::Ip(stage.dest.ip()),
                port: stage.dest.port(),
            },
            bytes: AUDIT_BYTES,
        };
        let mut conn = NodeConnection::connect_via_ledger(&stage.node_url, self.ledger).await?;
        let mut tree = LocalTree::new();
        let seen = audit(
            self.ledger,
            &mut conn,
            stage.prover,
            &mut self.wallet,
            &mut tree,
            stage.escrow,
            epoch,
            &plan,
            &mut OsRng,
        )
        .await?;
        let m = seen.measurement();
        let key = self.wallet.account_key().clone();
        report(self.ledger, &key, epoch, node, m).await?;
        challenge(self.ledger, &key, epoch, node).await?;
        Ok(m.throughput_kbps)
    }
}

/// The next epoch's seed (docs/market.md §5.1), as `veil monitor run`
/// takes its turns: each monitor commits to a secret for the next epoch,
/// reveals it in that epoch's reveal window, and once the window closed
/// the seed is drawn (the embedded ledger has no turns to take: its seed
/// is drawn as its clock enters the epoch).
async fn draw_seed<L: LedgerApi>(clock: &Clock, monitors: &[Monitor<'_, L>]) -> anyhow::Result<()> {
    for m in monitors {
        m.ledger.take_seed_turn().await?;
    }
    clock.to_next_epoch().await?;
    for m in monitors {
        m.ledger.take_seed_turn().await?;
    }
    clock.past_reveal_window().await?;
    for m in monitors {
        m.ledger.draw_audit_seed().await?;
    }
    Ok(())
}

/// How long the demo waits for the node to answer its ledger challenges:
/// the node looks every second.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until the node answered `issued` challenges or [`ANSWER_WAIT`]
/// passed; returns how many it answered.
async fn await_answers<L: LedgerApi>(
    ledger: &L,
    node: NodeId,
    issued: usize,
) -> anyhow::Result<usize> {
    let until = std::time::Instant::now() + ANSWER_WAIT;
    loop {
        let answered = ledger
            .challenges(node)
            .await?
            .iter()
            .filter(|c| matches!(c.state, ChallengeState::Answered(_)))
            .count();
        if answered >= issued || std::time::Instant::now() >= until {
            return Ok(answered);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A monitor: a wallet with one escrow's worth of notes and a stake, on
/// `ledger` (the monitor's own handle).
async fn enlist<L: LedgerApi>(
    stage: &Stage<'_, L>,
    ledger: &L,
    path: &std::path::Path,
) -> anyhow::Result<Wallet> {
    let mut rng = OsRng;
    let sk = veil_primitives::keys::SpendingKey::random(&mut rng);
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rng, &mut seed);
    let mut wallet = Wallet::create(path, sk.inner(), seed)?;
    veil_client::ops::deposit(ledger, &mut wallet, stage.escrow, true, &mut rng).await?;
    let account = ledger.acting_account().unwrap_or_else(|| wallet.account());
    ledger.faucet(account, Value(MONITOR_STAKE)).await?;
    register(ledger, wallet.account_key(), Value(MONITOR_STAKE)).await?;
    Ok(wallet)
}

async fn node_stake<L: LedgerApi>(ledger: &L, id: NodeId) -> anyhow::Result<Value> {
    Ok(ledger
        .get_node(id)
        .await?
        .map_or(Value::ZERO, |r| r.locked_stake()))
}

fn describe(d: &AuditDemo) -> String {
    match &d.verdict {
        None => format!(
            "== audits: {} monitors audited the node ({:?} kbit/s): no quorum, no verdict",
            d.audits, d.reported_kbps
        ),
        Some(v) => format!(
            "== audits: {} monitors audited the node as ordinary clients ({:?} kbit/s){}; verdict for epoch {}: median {} kbit/s = {:.1}% of its claimed capacity, rtt {} ms; slashed {} of its stake {}",
            d.audits,
            d.reported_kbps,
            challenges(d),
            v.epoch,
            v.throughput_kbps,
            f64::from(v.delivered_ppm) / 10_000.0,
            v.rtt_ms,
            d.slashed,
            d.stake_before
        ),
    }
}

fn challenges(d: &AuditDemo) -> String {
    if d.challenges_issued == 0 {
        " (no ledger challenges: this ledger takes none)".into()
    } else {
        format!(
            " and challenged it on the ledger ({} answered, {} missed)",
            d.challenges_answered, d.challenges_missed
        )
    }
}

/// `"audits"`, `"node_scores"`, `"slashed"` and `"slashed_amount"` of the
/// demo's `"market"` object.
pub(super) fn json(d: Option<&AuditDemo>) -> serde_json::Value {
    let Some(d) = d else {
        return json!({ "audits": null, "node_scores": null, "slashed": null });
    };
    let score = d.verdict.map(|v| {
        json!({
            "epoch": v.epoch,
            "reports": v.reports,
            "throughput_kbps": v.throughput_kbps,
            "rtt_ms": v.rtt_ms,
            "delivered_ppm": v.delivered_ppm,
            "slashed": v.slashed.get(),
        })
    });
    json!({
        "audits": d.audits,
        "ledger_challenges": {
            "issued": d.challenges_issued,
            "answered": d.challenges_answered,
            "missed": d.challenges_missed,
        },
        "monitors": d.monitors.len(),
        "reported_kbps": d.reported_kbps,
        "audit_sessions_settled": d.settled,
        "node_scores": { d.node.to_string(): score },
        "slashed": d.slashed > Value::ZERO,
        "slashed_amount": d.slashed.get(),
        "stake_before": d.stake_before.get(),
    })
}
