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
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_proofs::{CircuitId, ParamStore, Prover};

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
    /// The node, e.g. `http://127.0.0.1:7200`.
    #[arg(long)]
    node: String,
    /// Local SOCKS5 listen address (loopback only).
    #[arg(long, default_value = "127.0.0.1:1080")]
    socks: SocketAddr,
    /// Escrow per session (one of the node's sizes), base units.
    #[arg(long)]
    escrow: String,
    /// Speak plaintext HTTP/2 to the node (development only).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Intent label: re-running with the same label after a timeout resumes
    /// the persisted token instead of spending another note (F6).
    #[arg(long, default_value = "connect")]
    intent: String,
    /// Pay each connection by a voucher spend (`veil voucher buy` first)
    /// instead of a session: connections unlinkable to each other at the
    /// node (docs/vouchers.md §9). `--ledger` and `--escrow` are unused.
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
    if !args.insecure_plaintext {
        bail!(
            "this build talks to nodes over plaintext only: pass --insecure-plaintext (development)"
        );
    }
    if args.voucher {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(super::voucher::connect_with_vouchers(
            &args.wallet,
            &args.node,
            args.socks,
            args.voucher_kib,
        ));
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

async fn serve<L: LedgerApi>(ledger: L, args: &Args, escrow: u64) -> anyhow::Result<()> {
    let store = ParamStore::open_default()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let mut tree = LocalTree::new();
    let mut node = NodeConnection::connect_plaintext(&args.node).await?;
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
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let low = live.relay.remaining_kib()
            < live
                .session
                .receipt_interval_kib
                .max(live.session.credit_kib / 5);
        if low || !live.relay.usable() {
            if live.relay.distrusted() {
                eprintln!("node failed a challenge: not paying it further");
                break;
            }
            n += 1;
            let intent = format!("{}#{n}", args.intent);
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
                    finish_session(&mut wallet, &live)?;
                    let _ = relay_tx.send(Some(next.relay.clone()));
                    live = next;
                    eprintln!("credit low: opened a new session");
                }
                Err(e) => {
                    eprintln!("could not open a new session: {e}");
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
