//! `veil connect`: open an anonymous session with a node and serve a local
//! SOCKS5 proxy through it (`docs/client.md`).
//!
//! New sessions are opened as the current one runs low on credit; new
//! SOCKS connections go to the newest session. Receipts signed are saved in
//! the wallet (refund discovery) when each session is retired and on exit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use rand::rngs::OsRng;
use tokio::sync::{Mutex, watch};
use veil_client::amount::parse_positive_amount;
use veil_client::flow::{LiveSession, finish_session, start_session};
use veil_client::proxy::{Payer, serve as serve_socks};
use veil_client::relay::Relay;
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::vouchers::{VoucherPayer, VoucherTerms, VoucherWallet};
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_proofs::{CircuitId, Prover};
use veil_vouchers::Balance;

use super::node_conn::{NodeFlags, choose_nodes, connect_chosen, connect_node, connect_node_at};
use super::wallet::{open_ledger, with_ledger};

mod two_hop;

/// Arguments of `veil connect`.
#[derive(clap::Args)]
pub struct Args {
    /// The wallet file (mode 0600).
    #[arg(long)]
    wallet: PathBuf,
    /// `http://HOST:PORT`, `embedded:PATH` or `evm:URL#ADDRESS[@BLOCK]`
    /// (as `veil wallet`; the wallet's EVM key file is `$VEIL_EVM_KEY_FILE`).
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
    /// node (docs/vouchers.md §9). `--escrow` is unused; `--ledger` serves
    /// the node's TLS pin (unless `--node-pin`) and the voucher key its
    /// profile publishes, which the node's key must be (§9.1).
    #[arg(long)]
    voucher: bool,
    /// KiB spent per voucher-paid connection (both directions count).
    #[arg(long, default_value_t = 1024)]
    voucher_kib: u64,
    /// Nodes on the route: 1 (the node sees your address and your
    /// destinations) or 2 (`--entry` sees your address, `--exit` your
    /// destinations; docs/client.md "Two hops").
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    hops: u8,
    /// The exit node of a two-hop route, `https://HOST:PORT` as the entry
    /// reaches it; its TLS pin comes from its ledger registration unless
    /// `--exit-pin` gives it. Without it the exit is chosen from the
    /// ledger's registry, of another operator than the entry's.
    #[arg(long)]
    exit: Option<String>,
    /// The exit's TLS key hash (64 hex digits) instead of its registration.
    #[arg(long, value_name = "HEX", requires = "exit")]
    exit_pin: Option<String>,
    /// The exit's node id (64 hex digits): its pin and escrow sizes are read
    /// from its ledger record first and its access proof is made while the
    /// entry session opens (docs/client.md "Two hops").
    #[arg(long, value_name = "HEX", requires = "exit")]
    exit_node: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if !args.socks.ip().is_loopback() {
        bail!("--socks must be a loopback address: the proxy is a local front end");
    }
    match (args.hops, args.voucher, args.exit.is_some()) {
        (2, true, _) => bail!("--hops 2 pays each hop by a session; --voucher is one hop only"),
        (1, _, true) => bail!("--exit names the exit of a two-hop route: add --hops 2"),
        _ => {}
    }
    if args.voucher {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(async {
            let node = connect_node_at(&args.node, &args.ledger).await?;
            with_ledger!(open_ledger(&args.ledger).await?, l => {
                connect_with_vouchers(&args.wallet, node, &l, args.socks, args.voucher_kib).await
            })
        });
    }
    let escrow = parse_positive_amount(&args.escrow)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        with_ledger!(open_ledger(&args.ledger).await?, l => {
            if args.hops == 2 {
                two_hop::serve(l, &args, escrow).await
            } else {
                serve(l, &args, escrow).await
            }
        })
    })
}

/// Wait between attempts to open the next session after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(10);

async fn serve<L: LedgerApi>(ledger: L, args: &Args, escrow: u64) -> anyhow::Result<()> {
    let store = super::keys::store()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let mut tree = LocalTree::new();
    let mut node = match args.node.node {
        Some(_) => connect_node(&args.node, &ledger).await?,
        None => {
            let chosen = choose_nodes(&ledger, escrow, &[], 1).await?;
            connect_chosen(&chosen[0], "node").await?
        }
    };
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
    let proxy = SocksProxy::start(args.socks, live.relay.clone()).await?;
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
                    proxy.switch_to(next.relay.clone());
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
    proxy.signal_stop();
    finish_session(&mut wallet, &live)?;
    proxy.join().await;
    Ok(())
}

/// The local SOCKS5 proxy of `veil connect`: every new connection pays
/// through the newest session's relay (replaced when a session or route is
/// renewed), until stopped.
struct SocksProxy {
    relays: watch::Sender<Option<Relay>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl SocksProxy {
    /// Binds `addr` and serves SOCKS5 through `relay`.
    async fn start(addr: SocketAddr, relay: Relay) -> anyhow::Result<Self> {
        let (relays, relay_rx) = watch::channel(Some(relay));
        let (stop, stop_rx) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("SOCKS5 on {addr} (use curl --socks5-hostname {addr})");
        let task = tokio::spawn(serve_socks(listener, Payer::Session(relay_rx), stop_rx));
        Ok(Self { relays, stop, task })
    }

    /// New connections pay through `relay` from now on.
    fn switch_to(&self, relay: Relay) {
        let _ = self.relays.send(Some(relay));
    }

    /// Stops accepting connections.
    fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for the proxy to wind down.
    async fn join(self) {
        let _ = self.task.await;
    }
}

/// `veil connect --voucher`: serves SOCKS5 on `socks`, paying every
/// connection by a spend of `kib` KiB from the wallet's vouchers at `node`
/// (each on its own gRPC connection under `node`'s transport policy: the
/// same pin), until Ctrl-C. The node's voucher key must be the one its
/// ledger profile publishes (a node handing this client another key, for
/// the credentials it re-issues, would tag it: docs/vouchers.md §9.1).
async fn connect_with_vouchers<L: LedgerApi>(
    wallet: &Path,
    mut node: NodeConnection,
    ledger: &L,
    socks: SocketAddr,
    kib: u64,
) -> anyhow::Result<()> {
    if kib == 0 {
        bail!("--voucher-kib must be positive");
    }
    let vouchers = VoucherWallet::open(wallet)?;
    let terms = VoucherTerms::fetch_published(&mut node, ledger).await?;
    vouchers.check_key(&terms)?;
    let balance = vouchers.balance(Some(&terms.node_id));
    if balance.kib() < kib {
        bail!(
            "voucher balance at this node is {balance} KiB, below {kib} KiB per connection: \
             buy with `veil voucher buy`"
        );
    }
    let listener = tokio::net::TcpListener::bind(socks).await?;
    eprintln!(
        "SOCKS5 on {socks}, each connection paid by a {kib} KiB voucher spend \
         (balance {balance} KiB, about {} connections)",
        balance.kib() / kib
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let wallet = Arc::new(Mutex::new(vouchers));
    let payer = Arc::new(VoucherPayer::new(
        node.endpoint().clone(),
        terms.clone(),
        wallet.clone(),
        Balance::from_kib(kib),
    ));
    let proxy = tokio::spawn(serve_socks(
        listener,
        Payer::Voucher(payer.clone()),
        stop_rx,
    ));
    tokio::signal::ctrl_c().await?;
    let _ = stop_tx.send(true);
    proxy.await??;
    let spends = payer.spends();
    eprintln!(
        "{spends} voucher-paid connection(s); balance left {} KiB",
        wallet.lock().await.balance(Some(&terms.node_id))
    );
    Ok(())
}
