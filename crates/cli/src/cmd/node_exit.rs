//! `veil node retire` and `veil node release-stake`: a node's exit with the
//! ledger, signed by the account key in its directory (docs/node.md
//! "Leaving the network", docs/protocol.md §8.3.12).

use anyhow::Context;
use veil_ledger::LedgerApi;
use veil_ledger::exit::ExitStep;

pub use super::node_rotate::Args;
use super::node_rotate::open_node_ledger;
use super::wallet::with_ledger;

pub fn run(args: Args, step: ExitStep) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let ledger = open_node_ledger(&args.ledger, &args.db).await?;
        with_ledger!(ledger, l => exit(&l, &args.db, step).await)
    })
}

async fn exit<L: LedgerApi>(
    ledger: &L,
    db: &std::path::Path,
    step: ExitStep,
) -> anyhow::Result<()> {
    let what = match step {
        ExitStep::Retire => "retiring the node",
        ExitStep::Release => "releasing the node's stake",
    };
    let record = veil_node::exit_node(ledger, db, step).await.context(what)?;
    let x = record
        .exit
        .context("the ledger answered without the exit")?;
    let status = ledger.status().await?;
    let at = x.releasable_at(status.max_expiry_delta, status.challenge_window);
    println!("node id {}", record.registration.node_id);
    println!("retired at height {}", x.retired.at.0);
    match x.released {
        Some(r) => println!(
            "stake {} released to account {} at height {}",
            record.registration.stake.get(),
            record.registration.account,
            r.at.0
        ),
        None => {
            println!(
                "stake {} locked until height {}",
                record.registration.stake.get(),
                at.0
            );
            eprintln!(
                "no new session opens with this node; keep it running until its open \
                 sessions are settled, then run `veil node release-stake` at height {}",
                at.0
            );
        }
    }
    Ok(())
}
