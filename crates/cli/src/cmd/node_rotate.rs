//! `veil node rotate-tls`: rotates the TLS key of a node, running or not
//! (docs/node.md "Rotating the TLS key", docs/protocol.md §8.3.8).

use std::path::PathBuf;

use anyhow::Context;
use veil_ledger::LedgerApi;

use super::wallet::{open_ledger, with_ledger};

/// `veil node rotate-tls` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The node's ledger: `http://HOST:PORT` or `embedded:PATH` (as given
    /// to `veil node serve`; the embedded ledger file must not be open in
    /// a running node). An EVM ledger has no node update yet.
    #[arg(long)]
    ledger: String,
    /// The node directory (`veil node serve --db`): its node key and
    /// account key sign the update; the new TLS key is staged there.
    #[arg(long)]
    db: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ledger = open_ledger(&args.ledger).await?;
        with_ledger!(ledger, l => rotate(&l, &args.db).await)
    })
}

async fn rotate<L: LedgerApi>(ledger: &L, db: &std::path::Path) -> anyhow::Result<()> {
    let r = veil_node::rotate_tls(ledger, db)
        .await
        .context("rotating the TLS key")?;
    println!("node id {}", r.record.registration.node_id);
    println!("update sequence {}", r.record.sequence());
    println!("tls spki sha256 {}", hex::encode(r.tls.spki_sha256));
    eprintln!(
        "the ledger pins the new key; a running node serves it to new connections \
         within one ledger poll, a stopped node at its next start"
    );
    Ok(())
}
