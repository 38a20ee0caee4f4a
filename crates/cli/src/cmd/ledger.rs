//! `veil ledger …`: run the settlement ledger as its own process, audit a
//! ledger database, and (development only) mint from the faucet.
//! Operations and failure behaviour: docs/ledger.md.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use veil_ledger::metrics::LedgerMetrics;
use veil_ledger::types::{AccountId, Value};
use veil_ledger::verifier::{FakeVerifier, ProofVerifier};
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger};

/// Subcommands of `veil ledger`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve the ledger over gRPC (veil.ledger.v1) from a redb database.
    Serve {
        /// Ledger database (created if missing; a corrupt file is refused).
        #[arg(long)]
        db: PathBuf,
        /// Address to listen on (port 0 picks one; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:7400")]
        listen: SocketAddr,
        /// Advance the block height every MS milliseconds (0: never).
        #[arg(long, default_value_t = 1000)]
        block_interval: u64,
        /// Blocks after expiry during which a node may still settle.
        #[arg(long, default_value_t = 20)]
        challenge_window: u64,
        /// TEST ONLY, INSECURE: accept any proof whose first byte is 0xA5
        /// (crash tests of the store without real proofs). Without it,
        /// proofs are verified with Groth16 over the pinned development keys.
        #[arg(long, hide = true)]
        insecure_fake_verifier: bool,
        /// DEVELOPMENT ONLY: serve `Faucet`, which mints value from nothing.
        /// Without it the faucet is refused (PERMISSION_DENIED).
        #[arg(long)]
        dev_faucet: bool,
        /// Serve Prometheus metrics at `http://ADDR/metrics` (port 0 picks
        /// one; the bound address is printed). For the operator's scraper
        /// only: bind loopback or a management network (docs/operations.md,
        /// "Ledger metrics").
        #[arg(long, value_name = "ADDR")]
        metrics: Option<SocketAddr>,
    },
    /// A readable summary of a running ledger, from its metrics endpoint
    /// (`veil ledger serve --metrics ADDR`; docs/operations.md).
    Status(super::ledger_status::Args),
    /// Check a ledger database: turnstile, tree, nullifier/escrow consistency.
    /// Exits non-zero on any violation.
    Audit {
        #[arg(long)]
        db: PathBuf,
    },
    /// DEVELOPMENT ONLY: mint value into an account on a ledger's faucet
    /// (the ledger must run with `--dev-faucet`).
    Faucet {
        /// Ledger URL, e.g. http://127.0.0.1:7400
        #[arg(long)]
        ledger: String,
        /// Account: 32 bytes hex (64 digits, optional 0x), a field element < r.
        #[arg(long)]
        account: String,
        /// Amount in base units (decimal digits only).
        #[arg(long)]
        amount: String,
    },
    /// Deploy the ledger contract and the contracts it calls to an EVM
    /// chain over JSON-RPC (docs/evm.md §6); prints the addresses as JSON.
    Deploy(super::ledger_evm::DeployArgs),
    /// Write a new secp256k1 key file (mode 0600) for `deploy` and the EVM
    /// ledger; prints its address. An existing file is never overwritten.
    EvmKey {
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_account(s: &str) -> anyhow::Result<AccountId> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.len() != 64 {
        bail!(
            "account must be 64 hex digits (32 bytes), got {} characters",
            h.len()
        );
    }
    let b = hex::decode(h).context("account is not hex")?;
    AccountId::from_slice(&b).context("account is not a canonical field element")
}

fn parse_amount(s: &str) -> anyhow::Result<Value> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        bail!("amount must be plain decimal digits, got {s:?}");
    }
    Ok(Value(
        s.parse::<u64>().context("amount does not fit in 64 bits")?,
    ))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Deploy(args) => runtime()?.block_on(super::ledger_evm::deploy(args)),
        Command::EvmKey { out } => super::ledger_evm::new_key(&out),
        Command::Serve {
            db,
            listen,
            block_interval,
            challenge_window,
            insecure_fake_verifier,
            dev_faucet,
            metrics,
        } => {
            let verifier: Arc<dyn ProofVerifier> = if insecure_fake_verifier {
                eprintln!(
                    "WARNING: --insecure-fake-verifier: proofs are NOT verified. Test use only."
                );
                Arc::new(FakeVerifier::default())
            } else {
                Arc::new(
                    super::keys::verifier(&LedgerConfig::default().settle_batch_sizes)
                        .context("loading the pinned verifying keys")?,
                )
            };
            if dev_faucet {
                eprintln!("WARNING: --dev-faucet: anyone may mint value. Development only.");
            }
            let config = LedgerConfig {
                challenge_window,
                dev_faucet,
                ..LedgerConfig::default()
            };
            let ledger = EmbeddedLedger::open(&db, verifier, config)
                .with_context(|| format!("opening ledger {}", db.display()))?;
            runtime()?.block_on(serve(ledger, listen, block_interval, metrics))
        }
        Command::Status(args) => super::ledger_status::run(args),
        Command::Audit { db } => {
            let store = veil_ledger::store::Store::open(&db)
                .with_context(|| format!("opening {}", db.display()))?;
            let r = veil_ledger::audit::audit(&store)?;
            println!(
                "commitments {} nullifiers {} escrows {} (open {})\nminted {} = accounts {} + pool {} + escrowed {} + staked {}",
                r.commitments,
                r.nullifiers,
                r.escrows,
                r.open_escrows,
                r.minted,
                r.accounts,
                r.pool,
                r.escrowed,
                r.staked
            );
            if r.ok() {
                println!("audit: OK");
                Ok(())
            } else {
                for v in &r.violations {
                    println!("VIOLATION: {v}");
                }
                bail!("audit failed: {} violation(s)", r.violations.len())
            }
        }
        Command::Faucet {
            ledger,
            account,
            amount,
        } => {
            let account = parse_account(&account)?;
            let amount = parse_amount(&amount)?;
            eprintln!("faucet: development only — this mints value from nothing");
            runtime()?.block_on(async {
                let l = RemoteLedger::connect(&ledger).await?;
                let b = l.faucet(account, amount).await?;
                println!("balance {}", b.0);
                Ok(())
            })
        }
    }
}

async fn serve(
    ledger: EmbeddedLedger,
    listen: SocketAddr,
    block_interval: u64,
    metrics_addr: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let (listener, addr) = veil_ledger::service::bind(listen)
        .await
        .context("binding")?;
    let metrics = Arc::new(LedgerMetrics::new());
    // Bound before anything is served: a bad address fails first.
    let metrics_listener = match metrics_addr {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding --metrics {a}"))?,
        ),
        None => None,
    };
    println!("listening on {addr}");
    if let Some(l) = metrics_listener {
        println!("metrics on http://{}/metrics", l.local_addr()?);
        let (m, l2) = (metrics.clone(), ledger.clone());
        let render = std::sync::Arc::new(move || m.render(l2.engine().store()));
        tokio::spawn(veil_ops::serve_prometheus(
            l,
            render,
            std::future::pending::<()>(),
        ));
    }
    std::io::stdout().flush()?;
    if block_interval > 0 {
        let l = ledger.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(block_interval));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = l.advance(1).await {
                    eprintln!("block clock stopped: {e}");
                    return;
                }
            }
        });
    }
    let signal = super::shutdown_signal()?;
    let shutdown = async {
        signal.await;
        eprintln!("shutting down");
    };
    veil_ledger::service::serve_with_metrics(ledger, metrics, listener, shutdown).await?;
    Ok(())
}
