//! `veil node …`: run a bandwidth node (docs/node.md, docs/protocol.md §9).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use veil_ledger::types::{AccountId, Value};
use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger};
use veil_node::egress::EgressPolicy;
use veil_node::{BatchPolicy, NodeConfig, Transport};

/// Subcommands of `veil node`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve the node (veil.node.v1): sessions, metered relay, settlement.
    Serve {
        /// Ledger: `http://HOST:PORT` (a `veil ledger serve`) or
        /// `embedded:PATH` (an in-process ledger database).
        #[arg(long)]
        ledger: String,
        /// Address to listen on (port 0 picks one; the bound address is printed).
        #[arg(long, default_value = "127.0.0.1:7500")]
        listen: SocketAddr,
        /// Price per KiB in base units (both directions count).
        #[arg(long)]
        price_per_kib: String,
        /// Accepted escrow sizes, comma-separated base units (e.g. 1024,4096).
        #[arg(long)]
        escrow_sizes: String,
        /// A client receipt is required every N KiB.
        #[arg(long, default_value = "8192")]
        receipt_interval_kib: String,
        /// Node directory: node key and TLS key (0600), certificate, node.redb.
        #[arg(long)]
        db: PathBuf,
        /// Egress allowances, comma-separated: ports (443), port ranges
        /// (8000-8999), CIDRs or addresses (127.0.0.1/32). Loopback and
        /// private ranges are denied unless listed. No port listed: every port.
        #[arg(long, default_value = "")]
        egress_allow: String,
        /// Account (64 hex digits) that stakes and receives payouts.
        #[arg(long)]
        account: Option<String>,
        /// Stake posted at registration (base units).
        #[arg(long, default_value = "0")]
        stake: String,
        /// Settle finished sessions every N seconds (0: never).
        #[arg(long, default_value_t = 30)]
        settle_every: u64,
        /// Fewest real sessions per settlement batch: a lone session's
        /// pay is public through the batch total. Sessions wait for company
        /// until their settlement deadline is within --settle-margin-blocks.
        #[arg(long, default_value_t = 2)]
        min_batch_sessions: usize,
        /// Settle a session whatever the batch size once its deadline
        /// (expiry + challenge window) is this many blocks away. Must cover
        /// the worker period plus proving time.
        #[arg(long, default_value_t = 20)]
        settle_margin_blocks: u64,
        /// Serve plaintext HTTP/2 instead of TLS. The link carries people's
        /// traffic: tests and local demos only.
        #[arg(long)]
        insecure_plaintext: bool,
    },
}

fn parse_u64(what: &str, s: &str) -> anyhow::Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{what} must be plain decimal digits, got {s:?}");
    }
    s.parse::<u64>()
        .with_context(|| format!("{what} does not fit in 64 bits"))
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

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Serve {
        ledger,
        listen,
        price_per_kib,
        escrow_sizes,
        receipt_interval_kib,
        db,
        egress_allow,
        account,
        stake,
        settle_every,
        min_batch_sessions,
        settle_margin_blocks,
        insecure_plaintext,
    } = cmd;
    let price = Value(parse_u64("price per KiB", &price_per_kib)?);
    let sizes = escrow_sizes
        .split(',')
        .map(|s| parse_u64("escrow size", s.trim()).map(Value))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = NodeConfig::new(listen, db, price, sizes);
    config.receipt_interval_kib = parse_u64("receipt interval", &receipt_interval_kib)?;
    config.egress = EgressPolicy::parse(&egress_allow).context("--egress-allow")?;
    if let Some(a) = account {
        config.account = parse_account(&a)?;
    }
    config.stake = Value(parse_u64("stake", &stake)?);
    config.settle_every = (settle_every > 0).then(|| Duration::from_secs(settle_every));
    config.batch_policy = BatchPolicy {
        min_sessions: min_batch_sessions,
        deadline_margin: settle_margin_blocks,
    };
    config.transport = if insecure_plaintext {
        eprintln!("WARNING: --insecure-plaintext: client traffic to this node is NOT encrypted.");
        Transport::InsecurePlaintext
    } else {
        Transport::Tls
    };
    config.validate().context("node configuration")?;
    eprintln!("{}", veil_proofs::INSECURE_WARNING);
    let params = veil_proofs::ParamStore::open_default().context("opening proof parameters")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(path) = ledger.strip_prefix("embedded:") {
            let verifier = Groth16Verifier::dev(&LedgerConfig::default().settle_batch_sizes)
                .context("loading the pinned verifying keys")?;
            let l = EmbeddedLedger::open(
                std::path::Path::new(path),
                Arc::new(verifier),
                LedgerConfig::default(),
            )
            .with_context(|| format!("opening ledger {path}"))?;
            serve(config, l, params).await
        } else {
            let l = RemoteLedger::connect(&ledger)
                .await
                .with_context(|| format!("connecting to ledger {ledger}"))?;
            serve(config, l, params).await
        }
    })
}

async fn serve<L: LedgerApi>(
    config: NodeConfig,
    ledger: L,
    params: veil_proofs::ParamStore,
) -> anyhow::Result<()> {
    let shutdown = async {
        #[cfg(unix)]
        {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    };
    let node = veil_node::spawn(config, ledger, params, shutdown)
        .await
        .context("starting the node")?;
    println!("listening on {}", node.local_addr);
    println!("node id {}", node.node_id);
    if let Some(tls) = &node.tls {
        println!("tls spki sha256 {}", hex::encode(tls.spki_sha256));
    }
    std::io::stdout().flush()?;
    node.join().await.context("node stopped")?;
    Ok(())
}
