//! `veil monitor run` (docs/market.md §7.1): a round is the monitor's seed
//! turn (on a chain: reveal this epoch's secret in its window, commit for
//! the next, report withheld secrets), the epoch's seed drawn if due, and
//! for each node the epoch assigns an audit through an ordinary paid
//! session, a signed report and, where the ledger takes them, a ledger
//! challenge (§8.3.14); on a chain the round first closes the monitor's
//! own challenges that passed their deadline unanswered (`slashMissed`,
//! the keeper's part: the challenger is paid). Once by default; with `--watch` a round every
//! `--poll-secs` until SIGINT or SIGTERM, each node audited once per
//! epoch — the daemon that is in every reveal window.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use serde_json::json;
use veil_client::amount::parse_positive_amount;
use veil_client::choice::Candidate;
use veil_client::error::ClientError;
use veil_client::monitor::{AuditPlan, audit, challenge, report};
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::types::{NodeId, Value};
use veil_ledger::{LedgerApi, LedgerError};
use veil_primitives::eddsa::SigningKey;
use veil_proofs::{CircuitId, Prover};

use super::super::node_conn::connect_chosen;
use super::super::wallet::{open_ledger, with_ledger};

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long)]
    ledger: String,
    /// The monitor's wallet: its notes pay the audit sessions, its account
    /// key signs the reports.
    #[arg(long)]
    wallet: PathBuf,
    /// The measurement target, `HOST:PORT` (`veil monitor target`),
    /// reached through each audited node.
    #[arg(long)]
    target: SocketAddr,
    /// Bytes fetched through each node.
    #[arg(long, default_value_t = 4 << 20)]
    bytes: u64,
    /// Escrow of each audit session, in value base units.
    #[arg(long)]
    escrow: String,
    /// Keep running: a round every `--poll-secs` until interrupted, each
    /// node audited once per epoch; an audit that fails is logged and the
    /// daemon goes on. One JSON object per line with `--json`.
    #[arg(long)]
    watch: bool,
    /// Seconds between rounds with `--watch` (a chain's reveal window is
    /// ten blocks: poll well inside it).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    poll_secs: u64,
    #[arg(long)]
    json: bool,
}

pub(super) async fn run_audits(args: RunArgs) -> anyhow::Result<()> {
    let escrow = parse_positive_amount(&args.escrow).context("escrow")?;
    let store = super::super::keys::store()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let plan = AuditPlan {
        target: Target {
            host: Host::Ip(args.target.ip()),
            port: args.target.port(),
        },
        bytes: args.bytes,
    };
    with_ledger!(open_ledger(&args.ledger).await?, l => {
        let mut a = Auditor {
            ledger: &l,
            prover: &prover,
            key: wallet.account_key().clone(),
            wallet: &mut wallet,
            escrow,
            plan,
            tree: LocalTree::new(),
            done: BTreeSet::new(),
            keep_going: args.watch,
        };
        match args.watch {
            true => a.watch(Duration::from_secs(args.poll_secs), args.json).await,
            false => print_round(&a.round().await?, args.json),
        }
    })
}

/// The monitor's state across rounds.
struct Auditor<'a, L> {
    ledger: &'a L,
    prover: &'a Prover,
    key: SigningKey,
    wallet: &'a mut Wallet,
    escrow: u64,
    plan: AuditPlan,
    tree: LocalTree,
    /// (epoch, node) audited, or tried, in this epoch and the one before.
    done: BTreeSet<(u64, NodeId)>,
    /// Log a failed audit and go on (the daemon) instead of failing.
    keep_going: bool,
}

impl<L: LedgerApi> Auditor<'_, L> {
    /// Rounds every `poll` until SIGINT or SIGTERM, printing each report
    /// as it is made.
    async fn watch(&mut self, poll: Duration, json: bool) -> anyhow::Result<()> {
        let stop = super::super::shutdown_signal()?;
        tokio::pin!(stop);
        loop {
            match self.round().await {
                Ok(round) => {
                    print_closed(round.closed_missed, json);
                    for r in &round.reports {
                        print_report(r, json);
                    }
                }
                Err(e) => eprintln!("monitor round: {e:#}"),
            }
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One round: the missed challenges closed and a JSON object per node
    /// audited.
    async fn round(&mut self) -> anyhow::Result<Round> {
        // On a chain the monitor commits to and reveals its part of the
        // seeds, and the epoch's seed is a transaction: draw it if due.
        self.ledger
            .take_seed_turn()
            .await
            .context("committing or revealing an audit seed secret")?;
        self.ledger
            .draw_audit_seed()
            .await
            .context("drawing the epoch's audit seed")?;
        let closed_missed = match self.ledger.close_missed_challenges().await {
            Ok(n) => n,
            Err(e) if self.keep_going => {
                eprintln!("closing missed challenges: {e}");
                0
            }
            Err(e) => return Err(e).context("closing missed challenges"),
        };
        let me = self
            .ledger
            .acting_account()
            .unwrap_or_else(|| self.wallet.account());
        let view = self.ledger.monitor(me).await?;
        if view.record.is_none() {
            bail!("{me} is not a monitor: `veil monitor register` first");
        }
        self.done.retain(|(e, _)| e + 1 >= view.epoch);
        let mut out = Vec::new();
        for node in view.assigned {
            if !self.done.insert((view.epoch, node)) {
                continue;
            }
            match self.audit_node(view.epoch, node).await {
                Ok(r) => out.push(r),
                Err(e) if self.keep_going => {
                    eprintln!("audit of node {node} in epoch {}: {e:#}", view.epoch)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Round {
            closed_missed,
            reports: out,
        })
    }

    /// Audits `node`, reports the measurement and challenges it on the
    /// ledger where the ledger takes challenges.
    async fn audit_node(&mut self, epoch: u64, node: NodeId) -> anyhow::Result<serde_json::Value> {
        let l = self.ledger;
        let record = l
            .get_node(node)
            .await?
            .context("an assigned node vanished")?;
        let chosen = Candidate::from_record(&record, Value(self.escrow)).with_context(|| {
            format!(
                "node {node} publishes no endpoint or takes no escrow of {}",
                self.escrow
            )
        })?;
        let mut conn = connect_chosen(&chosen, "audited node").await?;
        let seen = audit(
            l,
            &mut conn,
            self.prover,
            self.wallet,
            &mut self.tree,
            self.escrow,
            epoch,
            &self.plan,
            &mut OsRng,
        )
        .await?;
        let m = seen.measurement();
        let stored = report(l, &self.key, epoch, node, m).await?;
        let deadline = match challenge(l, &self.key, epoch, node).await {
            Ok(c) => Some(c.deadline.0),
            Err(ClientError::Ledger(LedgerError::Unsupported(_))) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(json!({
            "node": node.to_string(),
            "epoch": epoch,
            "throughput_kbps": m.throughput_kbps,
            "rtt_ms": m.rtt_ms,
            "challenges_ok": m.challenges_ok,
            "challenges_failed": m.challenges_failed,
            "nonce": stored.nonce,
            "ledger_challenge_deadline": deadline,
        }))
    }
}

/// What a round did.
struct Round {
    /// The monitor's challenges closed as missed (`slashMissed`).
    closed_missed: usize,
    /// A JSON object per node audited.
    reports: Vec<serde_json::Value>,
}

fn print_round(round: &Round, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            json!({ "reports": round.reports, "closed_missed_challenges": round.closed_missed })
        );
        return Ok(());
    }
    print_closed(round.closed_missed, false);
    if round.reports.is_empty() {
        println!("no node assigned in this epoch");
    }
    for r in &round.reports {
        print_report(r, false);
    }
    Ok(())
}

/// A line for the missed challenges a round closed, if any.
fn print_closed(n: usize, json: bool) {
    match (n, json) {
        (0, _) => {}
        (n, true) => println!("{}", json!({ "closed_missed_challenges": n })),
        (n, false) => println!(
            "closed {n} missed challenge(s): the nodes were slashed, a quarter paid to this monitor"
        ),
    }
}

fn print_report(r: &serde_json::Value, json: bool) {
    if json {
        println!("{r}");
        return;
    }
    let challenged = match r["ledger_challenge_deadline"].as_u64() {
        Some(h) => format!("challenged it on the ledger (answer due by height {h})"),
        None => "no ledger challenge (this ledger takes none)".into(),
    };
    println!(
        "reported node {} (epoch {}): {} kbit/s, rtt {} ms, challenges {} ok {} failed; {challenged}",
        r["node"].as_str().unwrap_or(""),
        r["epoch"],
        r["throughput_kbps"],
        r["rtt_ms"],
        r["challenges_ok"],
        r["challenges_failed"],
    );
}
