//! `veil connect`: open an anonymous session with a node and serve a local
//! SOCKS5 proxy through it (`docs/client.md`).
//!
//! New sessions are opened as the current one runs low on credit; new
//! SOCKS connections go to the newest session. Receipts signed are saved in
//! the wallet (refund discovery) when each session is retired and on exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use tokio::sync::watch;
use veil_client::amount::parse_positive_amount;
use veil_client::flow::{LiveSession, finish_session, start_session};
use veil_client::proxy::serve_socks;
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::transport::{NodeTransport, TlsKeyHash};
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

/// How `veil` reaches a node (`docs/protocol.md` §9.8): TLS pinned by the
/// ledger registration unless `--node-pin` gives the pin, plaintext only
/// with `--insecure-plaintext`.
#[derive(clap::Args, Clone, Debug)]
pub struct NodeFlags {
    /// The node, `https://HOST:PORT` (`http://` is read the same way: the
    /// transport is decided by the flags below, not by the scheme).
    #[arg(long)]
    pub node: String,
    /// The node's TLS key hash (64 hex digits, as `veil node serve` prints
    /// it) instead of looking it up in the node's ledger registration.
    #[arg(long, value_name = "HEX", conflicts_with = "insecure_plaintext")]
    pub node_pin: Option<String>,
    /// Speak plaintext HTTP/2 to the node: unencrypted and unauthenticated.
    /// Tests and local demos only.
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// The warning printed whenever a client talks plaintext to a node.
pub const PLAINTEXT_WARNING: &str = "WARNING: --insecure-plaintext: traffic to the node is NOT \
     encrypted or authenticated; anyone on the path can read it, and anyone can impersonate \
     the node. Tests and local demos only.";

/// Connects to the node as `flags` say, looking its TLS pin up on `ledger`
/// unless `--node-pin` gives it.
pub async fn connect_node<L: LedgerApi>(
    flags: &NodeFlags,
    ledger: &L,
) -> anyhow::Result<NodeConnection> {
    if let Some(conn) = connect_without_ledger(flags).await? {
        return Ok(conn);
    }
    let conn = NodeConnection::connect_via_ledger(&flags.node, ledger)
        .await
        .with_context(|| format!("connecting to node {}", flags.node))?;
    report_pin(&conn, "its ledger registration");
    Ok(conn)
}

/// [`connect_node`], opening the ledger at `ledger_spec` only if needed.
pub async fn connect_node_at(
    flags: &NodeFlags,
    ledger_spec: &str,
) -> anyhow::Result<NodeConnection> {
    if let Some(conn) = connect_without_ledger(flags).await? {
        return Ok(conn);
    }
    match open_ledger(ledger_spec).await? {
        AnyLedger::Remote(l) => connect_node(flags, &l).await,
        AnyLedger::Embedded(l) => connect_node(flags, &l).await,
    }
}

/// Plaintext or explicitly pinned connections; `None` when the pin must
/// come from the ledger.
async fn connect_without_ledger(flags: &NodeFlags) -> anyhow::Result<Option<NodeConnection>> {
    let node = &flags.node;
    if flags.insecure_plaintext {
        eprintln!("{PLAINTEXT_WARNING}");
        let conn = NodeConnection::connect_plaintext(node)
            .await
            .with_context(|| format!("connecting to node {node}"))?;
        return Ok(Some(conn));
    }
    let Some(pin) = &flags.node_pin else {
        return Ok(None);
    };
    let pin: TlsKeyHash = pin.parse().context("--node-pin")?;
    let conn = NodeConnection::connect_pinned(node, pin)
        .await
        .with_context(|| format!("connecting to node {node}"))?;
    report_pin(&conn, "--node-pin");
    Ok(Some(conn))
}

fn report_pin(conn: &NodeConnection, source: &str) {
    if let NodeTransport::Pinned(pin) = conn.endpoint().transport() {
        eprintln!("node TLS key sha256 {pin} (pinned by {source})");
    }
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
