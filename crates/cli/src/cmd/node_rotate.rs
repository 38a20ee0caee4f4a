//! `veil node rotate-tls`: rotates the TLS key of a node, running or not
//! (docs/node.md "Rotating the TLS key", docs/protocol.md §8.3.8).

use std::path::PathBuf;

use anyhow::Context;
use veil_ledger::LedgerApi;

use super::wallet::{AnyLedger, open_ledger, with_ledger};

/// `veil node rotate-tls` and `rotate-voucher-key` flags.
#[derive(clap::Args)]
pub struct Args {
    /// The node's ledger, as given to `veil node serve`: `http://HOST:PORT`,
    /// `embedded:PATH` (the file must not be open in a running node) or
    /// `evm:URL#ADDRESS[@BLOCK]` (sent from the operator's key:
    /// `$VEIL_EVM_KEY_FILE`, else `evm.key` in `--db`).
    #[arg(long)]
    pub(super) ledger: String,
    /// The node directory (`veil node serve --db`): its node key and
    /// account key sign the update; the new key is staged there.
    #[arg(long)]
    pub(super) db: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ledger = open_node_ledger(&args.ledger, &args.db).await?;
        with_ledger!(ledger, l => rotate(&l, &args.db).await)
    })
}

/// The node's ledger; an EVM one acting as the node's operator, whose key
/// `veil node serve` used (docs/evm.md §8.1): only it may update the node.
pub(super) async fn open_node_ledger(
    spec: &str,
    db: &std::path::Path,
) -> anyhow::Result<AnyLedger> {
    if !spec.starts_with(veil_evm_rpc::EvmLedgerSpec::PREFIX) {
        return open_ledger(spec).await;
    }
    let key = super::ledger_evm::existing_node_key_file(db)?;
    let l = super::ledger_evm::open_as(spec, &key, false, false).await?;
    Ok(AnyLedger::Evm(l))
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
