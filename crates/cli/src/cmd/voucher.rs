//! `veil voucher …`: buy unlinkable prepaid credit at one node and inspect
//! it (`docs/vouchers.md` §9).

use std::path::PathBuf;

use anyhow::{Context, bail};
use veil_client::amount::parse_positive_amount;
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::vouchers::{VoucherWallet, buy_with_escrow, voucher_path};
use veil_client::wallet::Wallet;
use veil_ledger::RemoteLedger;
use veil_proofs::{CircuitId, ParamStore, Prover};

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
        /// Node URL (`http://HOST:PORT`).
        #[arg(long)]
        node: String,
        /// Escrow in base units: one of the node's escrow sizes.
        #[arg(long)]
        escrow: String,
        /// Talk plaintext HTTP/2 to the node (tests and local demos only).
        #[arg(long)]
        insecure_plaintext: bool,
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
            insecure_plaintext,
        } => {
            let escrow = parse_positive_amount(&escrow).context("--escrow")?;
            if !insecure_plaintext {
                bail!(
                    "the client talks to nodes over plaintext only in this build: \
                     pass --insecure-plaintext (tests and local demos)"
                );
            }
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(buy(wallet, ledger, node, escrow))
        }
        Command::Balance { wallet, json } => balance(wallet, json),
    }
}

async fn buy(
    wallet_path: PathBuf,
    ledger: String,
    node: String,
    escrow: u64,
) -> anyhow::Result<()> {
    let mut wallet = Wallet::open(&wallet_path)
        .with_context(|| format!("opening wallet {}", wallet_path.display()))?;
    let mut vouchers = VoucherWallet::open(&wallet_path)?;
    let ledger = RemoteLedger::connect(&ledger)
        .await
        .with_context(|| format!("connecting to ledger {ledger}"))?;
    let mut node = NodeConnection::connect_plaintext(&node)
        .await
        .with_context(|| format!("connecting to node {node}"))?;
    let store = ParamStore::open_default().context("opening proof parameters")?;
    let prover = Prover::from_store(&store, &[CircuitId::Access], None)?;
    eprintln!("{}", prover.insecure_warning());
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
