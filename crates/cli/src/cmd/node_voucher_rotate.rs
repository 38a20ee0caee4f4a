//! `veil node rotate-voucher-key`: rotates the voucher issuing key of a
//! node, running or not (docs/node.md "Rotating the voucher key",
//! docs/vouchers.md §3.2).

use anyhow::Context;
use veil_ledger::LedgerApi;

pub use super::node_rotate::Args;
use super::node_rotate::open_node_ledger;
use super::wallet::with_ledger;

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ledger = open_node_ledger(&args.ledger, &args.db).await?;
        with_ledger!(ledger, l => rotate(&l, &args.db).await)
    })
}

async fn rotate<L: LedgerApi>(ledger: &L, db: &std::path::Path) -> anyhow::Result<()> {
    let r = veil_node::rotate_voucher_key(ledger, db)
        .await
        .context("rotating the voucher key")?;
    println!("node id {}", r.record.registration.node_id);
    println!("update sequence {}", r.record.sequence());
    println!(
        "voucher epoch {} key id {}",
        r.next.epoch(),
        hex::encode(r.next.key_id().as_bytes())
    );
    println!(
        "previous epoch {} accepted for {} s after that",
        r.current.epoch(),
        r.grace_secs
    );
    eprintln!(
        "the ledger publishes the new key; a running node issues under it within one \
         ledger poll, a stopped node at its next start"
    );
    Ok(())
}
