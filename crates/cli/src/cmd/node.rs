//! `veil node …`: run a bandwidth node (docs/node.md, docs/protocol.md §9).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::builder::TypedValueParser as _;
use veil_ledger::profile::Endpoint;
use veil_ledger::types::Value;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger};
use veil_node::egress::EgressPolicy;
use veil_node::{BatchPolicy, Limits, NodeConfig, Transport};

/// Subcommands of `veil node`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Serve the node (veil.node.v1): sessions, metered relay, settlement.
    Serve(ServeArgs),
    /// A readable summary of a running node, from its metrics endpoint
    /// (`veil node serve --metrics ADDR`; docs/operations.md).
    Status(super::node_status::Args),
    /// Rotate the node's TLS key: stage a new key in --db and register its
    /// hash with the ledger (UpdateNode); a running node serves it to new
    /// connections once the ledger holds it (docs/node.md).
    RotateTls(super::node_rotate::Args),
    /// Rotate the node's voucher issuing key: stage the next epoch's key
    /// in --db and publish it with the ledger (UpdateNode); a running node
    /// issues under it once the ledger holds it, and accepts the previous
    /// epoch for its grace period (docs/node.md).
    RotateVoucherKey(super::node_voucher_rotate::Args),
    /// Retire the node (docs/protocol.md §8.3.12): no new session opens
    /// with it; open ones still settle; its stake stays locked until every
    /// one is past settling and the evidence window has passed.
    Retire(super::node_rotate::Args),
    /// Release a retired node's stake to its account, once the lock-up
    /// `veil node retire` printed has passed.
    ReleaseStake(super::node_rotate::Args),
}

/// `veil node serve`'s flags (every one is also a `--config` key).
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Ledger: `http://HOST:PORT` (a `veil ledger serve`),
    /// `embedded:PATH` (an in-process ledger database) or
    /// `evm:URL#ADDRESS[@BLOCK]` (the ledger contract; the operator's
    /// key is `$VEIL_EVM_KEY_FILE`, else `evm.key` in `--db`).
    #[arg(long)]
    ledger: String,
    /// Address to listen on (port 0 picks one; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:7500")]
    listen: SocketAddr,
    /// The `HOST:PORT` published in the node's ledger profile, where
    /// clients and other nodes reach it (docs/protocol.md §8.3.9). Default:
    /// the bound address, unless it is unspecified (0.0.0.0), then none.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// The relay capacity the node claims in its profile, in Mbit/s
    /// (0: not stated).
    #[arg(long, default_value_t = 0)]
    capacity_mbit_s: u32,
    /// Seconds the previous voucher epoch's key stays accepted after a
    /// voucher key rotation (published in the profile; docs/vouchers.md
    /// §3.2).
    #[arg(long, default_value_t = veil_node::voucher_keys::DEFAULT_GRACE_SECS)]
    voucher_grace_secs: u64,
    /// Price per KiB in base units (both directions count).
    #[arg(long)]
    price_per_kib: String,
    /// Accepted escrow sizes, comma-separated base units (e.g. 1024,4096).
    #[arg(long)]
    escrow_sizes: String,
    /// A client receipt is required every N KiB.
    #[arg(long, default_value = "8192")]
    receipt_interval_kib: String,
    /// Node directory: node key, account key (`account.key`: the account
    /// that stakes and receives payouts) and TLS key (0600), certificate,
    /// node.redb.
    #[arg(long)]
    db: PathBuf,
    /// Egress allowances, comma-separated: ports (443), port ranges
    /// (8000-8999), CIDRs or addresses (127.0.0.1/32). Loopback and
    /// private ranges are denied unless listed. No port listed: every port.
    #[arg(long, default_value = "")]
    egress_allow: String,
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
    /// Serve Prometheus metrics at `http://ADDR/metrics` and the status
    /// page at `http://ADDR/` (docs/operations.md). For the operator, no
    /// authentication: bind loopback or a management network, never the
    /// clients' side.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Connection limits and bans (docs/node.md "Limits and metrics", §9.7).
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Connections held at once, all addresses together.
    #[arg(long, default_value_t = Limits::default().max_connections,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000).map(|v| v as usize))]
    max_connections: usize,
    /// Connections held at once by one address (IPv4 address or IPv6 /64).
    #[arg(long, default_value_t = Limits::default().max_connections_per_address,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000).map(|v| v as usize))]
    max_connections_per_address: usize,
    /// Seconds a connection may stay open without a paid Relay stream.
    #[arg(long, default_value_t = Limits::default().unpaid_idle_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    unpaid_idle_secs: u64,
    /// Seconds a ban for repeated invalid tokens lasts.
    #[arg(long, default_value_t = Limits::default().ban_duration.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    ban_secs: u64,
    /// The most the node relays toward its clients, all sessions
    /// together, in kbit/s (0: no cap). Below the claimed capacity this is
    /// under-delivery, which audits slash (docs/market.md §7.1).
    #[arg(long, default_value_t = 0)]
    relay_limit_kbps: u64,
}

impl LimitArgs {
    fn apply(&self, limits: &mut Limits) {
        limits.max_connections = self.max_connections;
        limits.max_connections_per_address = self.max_connections_per_address;
        limits.unpaid_idle_timeout = Duration::from_secs(self.unpaid_idle_secs);
        limits.ban_duration = Duration::from_secs(self.ban_secs);
        limits.relay_limit_kbps = self.relay_limit_kbps;
    }
}

fn parse_u64(what: &str, s: &str) -> anyhow::Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{what} must be plain decimal digits, got {s:?}");
    }
    s.parse::<u64>()
        .with_context(|| format!("{what} does not fit in 64 bits"))
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Serve(args) => run_serve(args),
        Command::Status(args) => super::node_status::run(args),
        Command::RotateTls(args) => super::node_rotate::run(args),
        Command::RotateVoucherKey(args) => super::node_voucher_rotate::run(args),
        Command::Retire(args) => super::node_exit::run(args, veil_ledger::exit::ExitStep::Retire),
        Command::ReleaseStake(args) => {
            super::node_exit::run(args, veil_ledger::exit::ExitStep::Release)
        }
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        ledger,
        listen,
        advertise,
        capacity_mbit_s,
        voucher_grace_secs,
        price_per_kib,
        escrow_sizes,
        receipt_interval_kib,
        db,
        egress_allow,
        stake,
        settle_every,
        min_batch_sessions,
        settle_margin_blocks,
        insecure_plaintext,
        metrics,
        limits,
    } = args;
    let price = Value(parse_u64("price per KiB", &price_per_kib)?);
    let sizes = escrow_sizes
        .split(',')
        .map(|s| parse_u64("escrow size", s.trim()).map(Value))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = NodeConfig::new(listen, db, price, sizes);
    config.advertise = advertise
        .map(|a| Endpoint::parse(&a))
        .transpose()
        .context("--advertise must be HOST:PORT with a port in 1..=65535")?;
    config.capacity_mbit_s = capacity_mbit_s;
    config.voucher_grace_secs = voucher_grace_secs;
    config.receipt_interval_kib = parse_u64("receipt interval", &receipt_interval_kib)?;
    config.egress = EgressPolicy::parse(&egress_allow).context("--egress-allow")?;
    std::fs::create_dir_all(&config.dir).context("creating the node directory")?;
    // The account is that of the node's own key (§8.3): shown before the
    // registration, so an operator can fund a stake into it.
    let account_key = veil_node::keys::load_or_create_account_key(&config.dir)?;
    eprintln!("account {}", account_key.verifying_key().account_id());
    config.stake = Value(parse_u64("stake", &stake)?);
    config.settle_every = (settle_every > 0).then(|| Duration::from_secs(settle_every));
    limits.apply(&mut config.limits);
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
    let params = super::keys::store().context("opening proof parameters")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = rt.block_on(async move {
        if let Some(path) = ledger.strip_prefix("embedded:") {
            let verifier = super::keys::verifier(&LedgerConfig::default().settle_batch_sizes)
                .context("loading the pinned verifying keys")?;
            let l = EmbeddedLedger::open(
                std::path::Path::new(path),
                Arc::new(verifier),
                LedgerConfig::default(),
            )
            .with_context(|| format!("opening ledger {path}"))?;
            serve(config, l, params, metrics).await
        } else if ledger.starts_with(veil_evm_rpc::EvmLedgerSpec::PREFIX) {
            let key = super::ledger_evm::node_key_file(&config.dir)?;
            let l = super::ledger_evm::open_as(&ledger, &key, false, false)
                .await?
                .with_answer_prover(super::ledger_evm::answer_prover().await?);
            eprintln!(
                "operator {} (settles and is paid on chain)",
                l.chain().address()
            );
            serve(config, l, params, metrics).await
        } else {
            let l = RemoteLedger::connect(&ledger)
                .await
                .with_context(|| format!("connecting to ledger {ledger}"))?;
            serve(config, l, params, metrics).await
        }
    });
    // Once the node has stopped, work still on a blocking thread — a
    // settlement proof, a proving key being loaded — belongs to tasks the
    // stop abandoned (their sessions stay open in the store and settle
    // after a restart): the process does not wait for it past this bound.
    rt.shutdown_timeout(STOP_BLOCKING_GRACE);
    served
}

/// How long a stopped node waits for blocking work before it exits.
const STOP_BLOCKING_GRACE: Duration = Duration::from_secs(10);

async fn serve<L: LedgerApi>(
    config: NodeConfig,
    ledger: L,
    params: veil_proofs::ParamStore,
    metrics: Option<SocketAddr>,
) -> anyhow::Result<()> {
    // Bound first: a bad address fails before the node registers.
    let metrics = match metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding --metrics {addr}"))?,
        ),
        None => None,
    };
    let shutdown = super::shutdown_signal().context("installing the signal handlers")?;
    let node = veil_node::spawn(config, ledger, params, shutdown)
        .await
        .context("starting the node")?;
    println!("listening on {}", node.local_addr);
    println!("node id {}", node.node_id);
    println!("account {}", node.account);
    if let Some(tls) = node.tls() {
        println!("tls spki sha256 {}", hex::encode(tls.spki_sha256));
    }
    let metrics = match metrics {
        Some(listener) => {
            println!("metrics on http://{}/metrics", listener.local_addr()?);
            println!("status page on http://{}/", listener.local_addr()?);
            let source = node.metrics_source();
            let serve =
                veil_node::ops_http::serve_metrics(listener, source, std::future::pending());
            Some(tokio::spawn(serve))
        }
        None => None,
    };
    std::io::stdout().flush()?;
    let stopped = node.join().await.context("node stopped");
    if let Some(task) = metrics {
        task.abort();
    }
    stopped?;
    Ok(())
}
