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
//! The demo advances the embedded ledger's clock itself; on other ledgers
//! the round is skipped and says so.

use rand::rngs::OsRng;
use serde_json::json;
use veil_client::monitor::{AuditPlan, audit, challenge, report};
use veil_client::session::NodeConnection;
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::challenge::ChallengeState;
use veil_ledger::monitor::MonitorRegistration;
use veil_ledger::trade::MARKET_EPOCH_BLOCKS;
use veil_ledger::types::{AuditOutcome, NodeId};
use veil_ledger::{EmbeddedLedger, LedgerApi};
use veil_primitives::ids::AccountId;
use veil_primitives::value::Value;

use super::Stage;

/// Monitors in the round (the quorum is 3).
const MONITORS: usize = 3;
/// Each monitor's stake.
const MONITOR_STAKE: u64 = 1_000;
/// Bytes each audit fetches through the node.
pub(super) const AUDIT_BYTES: u64 = 1 << 20;

/// What the round did and what the ledger concluded.
pub(super) struct AuditDemo {
    pub monitors: Vec<AccountId>,
    pub audits: usize,
    /// Ledger challenges the node answered before the deadline, and missed.
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
/// profile); `None` without an embedded ledger.
pub(super) async fn round<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    embedded: Option<&EmbeddedLedger>,
    node: &veil_node::NodeHandle,
    dir: &std::path::Path,
) -> anyhow::Result<Option<AuditDemo>> {
    let Some(clock) = embedded else {
        say!(
            stage.json,
            "== audits: skipped (the demo advances the clock of its embedded ledger only)"
        );
        return Ok(None);
    };
    let ledger = stage.ledger;
    let stake_before = node_stake(ledger, node.node_id).await?;
    let mut monitors = Vec::new();
    for i in 0..MONITORS {
        monitors.push(enlist(stage, &dir.join(format!("monitor{i}.wallet"))).await?);
    }
    let h = ledger.status().await?.height.0;
    clock
        .advance(MARKET_EPOCH_BLOCKS - h % MARKET_EPOCH_BLOCKS)
        .await?;
    let plan = AuditPlan {
        target: Target {
            host: Host::Ip(stage.dest.ip()),
            port: stage.dest.port(),
        },
        bytes: AUDIT_BYTES,
    };
    let mut reported_kbps = Vec::new();
    for wallet in &mut monitors {
        let view = ledger.monitor(wallet.account()).await?;
        if !view.assigned.contains(&node.node_id) {
            continue;
        }
        let mut conn = NodeConnection::connect_via_ledger(&stage.node_url, ledger).await?;
        let mut tree = LocalTree::new();
        let seen = audit(
            ledger,
            &mut conn,
            stage.prover,
            wallet,
            &mut tree,
            stage.escrow,
            view.epoch,
            &plan,
            &mut OsRng,
        )
        .await?;
        let m = seen.measurement();
        let key = wallet.account_key().clone();
        report(ledger, &key, view.epoch, node.node_id, m).await?;
        challenge(ledger, &key, view.epoch, node.node_id).await?;
        reported_kbps.push(m.throughput_kbps);
    }
    // The node answers the ledger challenges from its poll loop (a silent
    // node never does); the node settles the audit sessions like any
    // others; then the clock passes the challenges' deadline and the
    // report window closes: what the node missed and the verdict land.
    let answered = await_answers(ledger, node.node_id, reported_kbps.len()).await?;
    let settled = node.settle_now().await?.sessions;
    clock.advance(2 * MARKET_EPOCH_BLOCKS).await?;
    let record = ledger
        .get_node(node.node_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo node is not registered"))?;
    let demo = AuditDemo {
        monitors: monitors.iter().map(Wallet::account).collect(),
        audits: reported_kbps.len(),
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

/// A monitor: a wallet with one escrow's worth of notes and a stake.
async fn enlist<L: LedgerApi>(
    stage: &Stage<'_, L>,
    path: &std::path::Path,
) -> anyhow::Result<Wallet> {
    let mut rng = OsRng;
    let sk = veil_primitives::keys::SpendingKey::random(&mut rng);
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rng, &mut seed);
    let mut wallet = Wallet::create(path, sk.inner(), seed)?;
    veil_client::ops::deposit(stage.ledger, &mut wallet, stage.escrow, true, &mut rng).await?;
    let account = wallet.account();
    stage.ledger.faucet(account, Value(MONITOR_STAKE)).await?;
    let nonce = stage.ledger.account(account).await?.next_nonce;
    let reg = MonitorRegistration::signed(wallet.account_key(), nonce, Value(MONITOR_STAKE));
    stage.ledger.register_monitor(reg).await?;
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
            "== audits: {} monitors audited the node as ordinary clients ({:?} kbit/s) and challenged it on the ledger ({} answered, {} missed); verdict for epoch {}: median {} kbit/s = {:.1}% of its claimed capacity, rtt {} ms; slashed {} of its stake {}",
            d.audits,
            d.reported_kbps,
            d.challenges_answered,
            d.challenges_missed,
            v.epoch,
            v.throughput_kbps,
            f64::from(v.delivered_ppm) / 10_000.0,
            v.rtt_ms,
            d.slashed,
            d.stake_before
        ),
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
            "issued": d.audits,
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
