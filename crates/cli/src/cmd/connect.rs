//! `veil connect`: open an anonymous session with a node and serve a local
//! SOCKS5 proxy through it (`docs/client.md`).
//!
//! New sessions are opened as the current one runs low on credit; new
//! SOCKS connections go to the newest session. Receipts signed are saved in
//! the wallet (refund discovery) when each session is retired and on exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use rand::rngs::OsRng;
use tokio::sync::watch;
use veil_client::amount::parse_positive_amount;
use veil_client::flow::{LiveSession, finish_session, start_session};
use veil_client::proxy::serve_socks;
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_proofs::{CircuitId, ParamStore, Prover};

use super::node_conn::{NodeFlags, connect_node, connect_node_at};
use super::wallet::{AnyLedger, open_ledger};

/// Arguments of `veil connect`.
#[derive(clap::Args)]
pub struct Args {
    /// The wallet file (mode 0600).
    #[arg(long)]
    wallet: PathBuf,
    /// `http://HOST:PORT` or `embedded:PATH`.
    #[arg(long)]
    ledger: String,
    #[command(flatten)]
    node: NodeFlags,
    /// Local SOCKS5 listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:1080")]
    socks: SocketAddr,
    /// Escrow per session (one of the node's sizes), base units.
    #[arg(long)]
    escrow: String,
    /// Intent label: re-running with the same label after a timeout resumes
    /// the persisted token instead of spending another note (F6).
    #[arg(long, default_value = "connect")]
    intent: String,
    /// Pay each connection by a voucher spend (`veil voucher buy` first)
    /// instead of a session: connections unlinkable to each other at the
    /// node (docs/vouchers.md §9). `--escrow` is unused; `--ledger` only
    /// serves the node's TLS pin (unused with `--node-pin`).
    #[arg(long)]
    voucher: bool,
    /// KiB spent per voucher-paid connection (both directions count).
    #[arg(long, default_value_t = 1024)]
    voucher_kib: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.socks.ip().is_loopback() {
        bail!("--socks must be a loopback address: the proxy is a local front end");
    }
    if args.voucher {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(async {
            let node = connect_node_at(&args.node, &args.ledger).await?;
            super::voucher::connect_with_vouchers(&args.wallet, node, args.socks, args.voucher_kib)
                .await
        });
    }
    let escrow = parse_positive_amount(&args.escrow)?;
    eprintln!("{}", veil_proofs::INSECURE_WARNING);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match open_ledger(&args.ledger).await? {
            AnyLedger::Remote(l) => serve(l, &args, escrow).await,
            AnyLedger::Embedded(l) => serve(l, &args, escrow).await,
        }
    })
}

/// Wait between attempts to open the next session after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(10);

async fn serve<L: LedgerApi>(ledger: L, args: &Args, escrow: u64) -> anyhow::Result<()> {
    let store = ParamStore::open_default()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let mut tree = LocalTree::new();
    let mut node = connect_node(&args.node, &ledger).await?;
    let mut n = 0u32;
    let mut live: LiveSession = start_session(
        &ledger,
        &mut node,
        &prover,
        &mut wallet,
        &mut tree,
        escrow,
        &args.intent,
        &mut OsRng,
    )
    .await?;
    eprintln!(
        "session open: credit {} KiB, first challenge RTT {} µs",
        live.session.credit_kib, live.first_rtt_us
    );
    let (relay_tx, relay_rx) = watch::channel(Some(live.relay.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(args.socks).await?;
    eprintln!(
        "SOCKS5 on {} (use curl --socks5-hostname {})",
        args.socks, args.socks
    );
    let proxy = tokio::spawn(serve_socks(listener, relay_rx, stop_rx));
    let mut next_attempt = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        // Save the receipts signed since the last tick: a client killed now
        // still finds its refund without the full scan (docs/protocol.md §6).
        if let Err(e) = live.checkpoint(&mut wallet) {
            eprintln!("could not save receipts in the wallet: {e}");
        }
        // Open the next session while a fifth of the credit is left (the
        // receipt interval plays no part: it bounds how far the node serves
        // ahead of receipts, not how much credit remains).
        let low = live.relay.remaining_kib() < (live.session.credit_kib / 5).max(1);
        if (low || !live.relay.usable()) && std::time::Instant::now() >= next_attempt {
            if live.relay.distrusted() {
                eprintln!("node failed a challenge: not paying it further");
                break;
            }
            // The intent only advances once a session opened: a retry after
            // a failed OpenSession re-sends the persisted token (F6) instead
            // of spending another note.
            let intent = format!("{}#{}", args.intent, n + 1);
            match start_session(
                &ledger,
                &mut node,
                &prover,
                &mut wallet,
                &mut tree,
                escrow,
                &intent,
                &mut OsRng,
            )
            .await
            {
                Ok(next) => {
                    n += 1;
                    finish_session(&mut wallet, &live)?;
                    let _ = relay_tx.send(Some(next.relay.clone()));
                    live = next;
                    eprintln!("credit low: opened a new session");
                }
                Err(e) => {
                    eprintln!(
                        "could not open a new session (retrying in {} s): {e}",
                        RETRY_AFTER.as_secs()
                    );
                    next_attempt = std::time::Instant::now() + RETRY_AFTER;
                    if !live.relay.usable() {
                        break;
                    }
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    finish_session(&mut wallet, &live)?;
    let _ = proxy.await;
    Ok(())
}
