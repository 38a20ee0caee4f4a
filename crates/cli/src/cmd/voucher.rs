//! `veil voucher …`: buy unlinkable prepaid credit at one node and inspect
//! it (`docs/vouchers.md` §9).

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{Mutex, watch};
use veil_client::amount::parse_positive_amount;

use super::node_conn::{NodeFlags, connect_node};
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::vouchers::{VoucherPayer, VoucherWallet, buy_with_escrow, voucher_path};
use veil_client::wallet::Wallet;
use veil_ledger::{LedgerApi, RemoteLedger};
use veil_proofs::{CircuitId, Prover};
use veil_vouchers::Balance;

/// Subcommands of `veil voucher`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Open an escrow session with the node and turn its whole credit
    /// (⌊escrow / price⌋ KiB) into a voucher.
    Buy {
        /// Wallet file; credentials go to `<wallet>.vouchers.json` (0600).
        #[arg(long)]
        wallet: PathBuf,
        /// Ledger URL (`http://HOST:PORT`).
        #[arg(long)]
        ledger: String,
        #[command(flatten)]
        node: NodeFlags,
        /// Escrow in base units: one of the node's escrow sizes.
        #[arg(long)]
        escrow: String,
    },
    /// Show the voucher balance of a wallet, per node.
    Balance {
        /// Wallet file.
        #[arg(long)]
        wallet: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Buy {
            wallet,
            ledger,
            node,
            escrow,
        } => {
            let escrow = parse_positive_amount(&escrow).context("--escrow")?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(buy(wallet, ledger, node, escrow))
        }
        Command::Balance { wallet, json } => balance(wallet, json),
    }
}

async fn buy(
    wallet_path: PathBuf,
    ledger: String,
    node: NodeFlags,
    escrow: u64,
) -> anyhow::Result<()> {
    let mut wallet = Wallet::open(&wallet_path)
        .with_context(|| format!("opening wallet {}", wallet_path.display()))?;
    let mut vouchers = VoucherWallet::open(&wallet_path)?;
    let ledger = RemoteLedger::connect(&ledger)
        .await
        .with_context(|| format!("connecting to ledger {ledger}"))?;
    let mut node = connect_node(&node, &ledger).await?;
    let store = super::keys::store().context("opening proof parameters")?;
    let prover = Prover::from_store(&store, &[CircuitId::Access], None)?;
    let mut tree = LocalTree::new();
    let purchase = buy_with_escrow(
        &ledger,
        &mut node,
        &prover,
        &mut wallet,
        &mut vouchers,
        &mut tree,
        escrow,
        &mut rand::rngs::OsRng,
    )
    .await?;
    println!(
        "bought {} KiB at node {} (voucher key epoch {}); balance there: {} KiB; stored in {}",
        purchase.balance,
        hex::encode(purchase.terms.node_id.as_bytes()),
        purchase.terms.key.epoch(),
        vouchers.balance(Some(&purchase.terms.node_id)),
        vouchers.path().display()
    );
    Ok(())
}

fn balance(wallet: PathBuf, json: bool) -> anyhow::Result<()> {
    let vouchers = VoucherWallet::open(&wallet)
        .with_context(|| format!("opening {}", voucher_path(&wallet).display()))?;
    let mut per_node: Vec<([u8; 32], u64, usize)> = Vec::new();
    for c in vouchers.credentials() {
        let id = *c.node_id().as_bytes();
        match per_node.iter_mut().find(|(n, _, _)| *n == id) {
            Some(entry) => {
                entry.1 = entry.1.saturating_add(c.balance().kib());
                entry.2 += 1;
            }
            None => per_node.push((id, c.balance().kib(), 1)),
        }
    }
    let total = vouchers.balance(None).kib();
    if json {
        let nodes: Vec<_> = per_node
            .iter()
            .map(|(n, kib, count)| {
                serde_json::json!({ "node_id": hex::encode(n), "kib": kib, "vouchers": count })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "total_kib": total, "nodes": nodes })
        );
    } else {
        for (n, kib, count) in &per_node {
            println!("node {}: {kib} KiB in {count} voucher(s)", hex::encode(n));
        }
        println!("total: {total} KiB");
    }
    Ok(())
}

/// What the voucher part of `veil demo` did.
#[derive(Debug, Clone, Copy)]
pub struct VoucherDemo {
    /// KiB bought with one escrow session.
    pub bought_kib: u64,
    /// Voucher-paid connections made (one spend each).
    pub spends: u64,
    /// Body bytes fetched through them.
    pub fetched: u64,
    /// KiB left on the wallet's vouchers at the node.
    pub balance_left_kib: u64,
    /// Escrow sessions opened to buy (settled with the others).
    pub sessions: usize,
}

/// The voucher part of `veil demo`: the wallet buys a voucher with one
/// escrow session of `escrow`, then makes `connections` SOCKS5 connections
/// each paid by a spend of `per_connection_kib`, fetching with `fetch`
/// (given the SOCKS5 address, returns the bytes fetched).
#[allow(clippy::too_many_arguments)]
pub async fn demo_round<L, F, Fut>(
    ledger: &L,
    mut node: NodeConnection,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    escrow: u64,
    connections: usize,
    per_connection_kib: u64,
    fetch: F,
) -> anyhow::Result<VoucherDemo>
where
    L: LedgerApi,
    F: Fn(SocketAddr) -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let mut vouchers = VoucherWallet::open(wallet.path())?;
    let purchase = buy_with_escrow(
        ledger,
        &mut node,
        prover,
        wallet,
        &mut vouchers,
        tree,
        escrow,
        &mut rand::rngs::OsRng,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let socks = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Mutex::new(vouchers));
    let payer = Arc::new(VoucherPayer::new(
        node.endpoint().clone(),
        purchase.terms.clone(),
        shared.clone(),
        Balance::from_kib(per_connection_kib),
    ));
    let proxy = tokio::spawn(serve(listener, Payer::Voucher(payer.clone()), stop_rx));
    let mut fetched = 0u64;
    for _ in 0..connections {
        fetched += fetch(socks).await?;
    }
    let _ = stop_tx.send(true);
    proxy.await??;
    let spends = payer.spends();
    let balance_left_kib = shared
        .lock()
        .await
        .balance(Some(&purchase.terms.node_id))
        .kib();
    Ok(VoucherDemo {
        bought_kib: purchase.balance.kib(),
        spends,
        fetched,
        balance_left_kib,
        sessions: 1,
    })
}
