//! `veil monitor`: audit nodes (docs/market.md §7.1, docs/protocol.md
//! §8.3.13). `register` stakes from the wallet's account; `show` prints
//! the monitor and the nodes the current epoch assigns it; `run` audits
//! each of them through an ordinary paid session, signs a report and
//! challenges the node on the ledger (§8.3.14); `retire` and `release`
//! leave, taking the stake back;
//! `target` serves the bytes audits fetch.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use veil_client::amount::parse_positive_amount;
use veil_client::monitor::serve_target;
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_ledger::exit::ExitStep;
use veil_ledger::monitor::{MonitorExit, MonitorExitRequest, MonitorRecord, MonitorView};
use veil_ledger::types::Value;

use super::wallet::{open_ledger, open_ledger_with, with_ledger};

mod run;
use run::{RunArgs, run_audits};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Stake value from the wallet's account to become a monitor.
    Register(RegisterArgs),
    /// The monitor's stake, outlier record and assigned nodes.
    Show(ShowArgs),
    /// Audit every node the current epoch assigns, report, and challenge
    /// each on the ledger (its node key must answer, §8.3.14); `--watch`
    /// keeps doing so every epoch, taking the monitor's seed turns.
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
