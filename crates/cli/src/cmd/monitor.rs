//! `veil monitor`: audit nodes (docs/market.md §7.1, docs/protocol.md
//! §8.3.13). `register` stakes from the wallet's account; `show` prints
//! the monitor and the nodes the current epoch assigns it; `run` audits
//! each of them through an ordinary paid session, signs a report and
//! challenges the node on the ledger (§8.3.14); `retire` and `release`
//! leave, taking the stake back;
//! `target` serves the bytes audits fetch.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use serde_json::json;
use veil_client::amount::parse_positive_amount;
use veil_client::choice::Candidate;
use veil_client::monitor::{AuditPlan, audit, challenge, report, serve_target};
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_ledger::exit::ExitStep;
use veil_ledger::monitor::{MonitorExit, MonitorExitRequest, MonitorRecord, MonitorView};
use veil_ledger::types::Value;
use veil_proofs::{CircuitId, Prover};

use super::node_conn::connect_chosen;
use super::wallet::{open_ledger, open_ledger_with, with_ledger};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Stake value from the wallet's account to become a monitor.
    Register(RegisterArgs),
    /// The monitor's stake, outlier record and assigned nodes.
    Show(ShowArgs),
    /// Audit every node the current epoch assigns, report, and challenge
    /// each on the ledger (its node key must answer, §8.3.14).
    Run(RunArgs),
    /// Serve the measurement target audits fetch from (`GET /N`).
    Target(TargetArgs),
    /// Stop auditing: no assignment from the next epoch on (its last
    /// epoch's reports still count, and are judged).
    Retire(ExitArgs),
    /// Take the stake back, once the last epoch it audited is judged.
    Release(ExitArgs),
}

#[derive(clap::Args)]
pub struct ExitArgs {
    #[arg(long)]
    ledger: String,
    /// The monitor's wallet (its account key signs).
    #[arg(long)]
    wallet: PathBuf,
}

#[derive(clap::Args)]
pub struct RegisterArgs {
    /// `http://HOST:PORT`, `embedded:PATH` or `evm:…` (as `veil wallet`).
    #[arg(long)]
    ledger: String,
    /// The wallet whose account key signs and whose account stakes.
    #[arg(long)]
    wallet: PathBuf,
    /// The stake, in value base units.
    stake: String,
    /// DEVELOPMENT ONLY: mint the stake first with the ledger's faucet.
    #[arg(long)]
    dev_faucet: bool,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    #[arg(long)]
    ledger: String,
    #[arg(long)]
    wallet: PathBuf,
    #[arg(long)]
    json: bool,
}

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
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct TargetArgs {
    #[arg(long, default_value = "127.0.0.1:7300")]
    listen: SocketAddr,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Register(a) => rt.block_on(register(a)),
        Command::Show(a) => rt.block_on(show(a)),
        Command::Run(a) => rt.block_on(run_audits(a)),
        Command::Retire(a) => rt.block_on(exit(a, ExitStep::Retire)),
        Command::Release(a) => rt.block_on(exit(a, ExitStep::Release)),
        Command::Target(a) => rt.block_on(async move {
            let l = tokio::net::TcpListener::bind(a.listen)
                .await
                .with_context(|| format!("binding {}", a.listen))?;
            eprintln!("measurement target on {}", l.local_addr()?);
            tokio::select! {
                _ = serve_target(l) => {}
                _ = super::shutdown_signal()? => {}
            }
            Ok(())
        }),
    }
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let stake = Value(parse_positive_amount(&args.stake).context("stake")?);
    let wallet = Wallet::open(&args.wallet)?;
    let key = wallet.account_key().clone();
    let rec = with_ledger!(open_ledger_with(&args.ledger, args.dev_faucet).await?, l => {
        if args.dev_faucet {
            let me = l.acting_account().unwrap_or(wallet.account());
            l.faucet(me, stake).await.context("faucet")?;
        }
        veil_client::monitor::register(&l, &key, stake).await?
    });
    println!(
        "monitor {} staked {} at height {}; it audits from the next epoch",
        rec.account, rec.stake, rec.registered_at.0
    );
    Ok(())
}

async fn exit(args: ExitArgs, step: ExitStep) -> anyhow::Result<()> {
    let wallet = Wallet::open(&args.wallet)?;
    let key = wallet.account_key().clone();
    let rec = with_ledger!(open_ledger(&args.ledger).await?, l => {
        match l.acting_account() {
            Some(me) => l.exit_monitor(MonitorExitRequest::from_sender(me, step)).await?,
            None => {
                let nonce = l.account(wallet.account()).await?.next_nonce;
                l.exit_monitor(MonitorExitRequest::signed(&key, nonce, step)).await?
            }
        }
    });
    println!("{}", exit_line(&rec));
    Ok(())
}

/// Where a monitor stands in its exit.
fn exit_line(m: &MonitorRecord) -> String {
    match m.exit {
        None => format!("monitor {} audits", m.account),
        Some(MonitorExit {
            released: Some(r), ..
        }) => format!(
            "monitor {} released its stake at height {}",
            m.account, r.at.0
        ),
        Some(x) => format!(
            "monitor {} retired at height {}: stake {} releasable from height {}",
            m.account,
            x.retired.at.0,
            m.stake,
            MonitorRecord::releasable_at(x.retired.at).0
        ),
    }
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let account = Wallet::open(&args.wallet)?.account();
    let view = with_ledger!(open_ledger(&args.ledger).await?, l => {
        l.monitor(l.acting_account().unwrap_or(account)).await?
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view_json(&view))?);
        return Ok(());
    }
    match &view.record {
        None => println!("{account} is not a monitor"),
        Some(m) => {
            println!(
                "monitor {account}: stake {} of {} registered at height {}; {} outliers in its last {} counted reports",
                m.stake,
                m.registered_stake,
                m.registered_at.0,
                m.outliers.recent().iter().filter(|o| **o).count(),
                m.outliers.recent().len()
            );
            if m.exit.is_some() {
                println!("{}", exit_line(m));
            }
        }
    }
    println!(
        "epoch {}: assigned {} node(s)",
        view.epoch,
        view.assigned.len()
    );
    for n in &view.assigned {
        println!("  {n}");
    }
    Ok(())
}

fn view_json(v: &MonitorView) -> serde_json::Value {
    json!({
        "epoch": v.epoch,
        "monitor": v.record.as_ref().map(|m| json!({
            "account": m.account.to_string(),
            "stake": m.stake.get(),
            "registered_stake": m.registered_stake.get(),
            "registered_at": m.registered_at.0,
            "recent_outliers": m.outliers.recent(),
            "retired_at": m.exit.map(|x| x.retired.at.0),
            "releasable_at": m.exit.map(|x| MonitorRecord::releasable_at(x.retired.at).0),
            "released_at": m.exit.and_then(|x| x.released).map(|r| r.at.0),
        })),
        "assigned": v.assigned.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
    })
}

async fn run_audits(args: RunArgs) -> anyhow::Result<()> {
    let escrow = parse_positive_amount(&args.escrow).context("escrow")?;
    let store = super::keys::store()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let key = wallet.account_key().clone();
    let plan = AuditPlan {
        target: Target {
            host: Host::Ip(args.target.ip()),
            port: args.target.port(),
        },
        bytes: args.bytes,
    };
    let results = with_ledger!(open_ledger(&args.ledger).await?, l => {
        // On a chain the monitor commits to and reveals its part of the
        // seeds, and the epoch's seed is a transaction: draw it if due.
        l.take_seed_turn().await.context("committing or revealing an audit seed secret")?;
        l.draw_audit_seed().await.context("drawing the epoch's audit seed")?;
        let view = l.monitor(l.acting_account().unwrap_or(wallet.account())).await?;
        if view.record.is_none() {
            bail!("{} is not a monitor: `veil monitor register` first", wallet.account());
        }
        let mut tree = LocalTree::new();
        let mut out = Vec::new();
        for node in &view.assigned {
            let record = l.get_node(*node).await?.context("an assigned node vanished")?;
            let chosen = Candidate::from_record(&record, Value(escrow)).with_context(|| {
                format!("node {node} publishes no endpoint or takes no escrow of {escrow}")
            })?;
            let mut conn = connect_chosen(&chosen, "audited node").await?;
            let seen = audit(&l, &mut conn, &prover, &mut wallet, &mut tree, escrow, view.epoch, &plan, &mut OsRng).await?;
            let m = seen.measurement();
            let stored = report(&l, &key, view.epoch, *node, m).await?;
            let c = challenge(&l, &key, view.epoch, *node).await?;
            out.push(json!({
                "node": node.to_string(),
                "epoch": view.epoch,
                "throughput_kbps": m.throughput_kbps,
                "rtt_ms": m.rtt_ms,
                "challenges_ok": m.challenges_ok,
                "challenges_failed": m.challenges_failed,
                "nonce": stored.nonce,
                "ledger_challenge_deadline": c.deadline.0,
            }));
        }
        out
    });
    if args.json {
        println!("{}", json!({ "reports": results }));
    } else if results.is_empty() {
        println!("no node assigned in this epoch");
    } else {
        for r in &results {
            println!(
                "reported node {} (epoch {}): {} kbit/s, rtt {} ms, challenges {} ok {} failed; challenged it on the ledger (answer due by height {})",
                r["node"].as_str().unwrap_or(""),
                r["epoch"],
                r["throughput_kbps"],
                r["rtt_ms"],
                r["challenges_ok"],
                r["challenges_failed"],
                r["ledger_challenge_deadline"]
            );
        }
    }
    Ok(())
}
