//! `veil demo`: ledger, node, destination and clients end to end on this
//! machine, over real loopback gRPC and SOCKS5.
//!
//! Scenario: two wallets deposit (development faucet), open three sessions
//! with one node (two for alice, one for bob), fetch several MiB from a
//! local HTTP server through SOCKS5, pay with cumulative receipts, the node
//! settles all sessions in ONE batch proof, the wallets find their refund
//! notes on the ledger and spend them (a withdraw proof). Bob also fetches
//! through a two-hop route (the node as entry, a second node as exit,
//! `demo/two_hop.rs`). Each party's view
//! is printed: the node sees tokens and bytes, never a wallet; the public
//! ledger shows totals only.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use veil_client::flow::{LiveSession, finish_session, start_session};
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::socks5::{self, Host, Target};
use veil_client::sync::{LocalTree, sync};
use veil_client::wallet::{NoteOrigin, NoteStatus, Wallet};
use veil_ledger::verifier::{Groth16Verifier, ProofVerifier};
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger};
use veil_primitives::Fr;
use veil_primitives::ids::AccountId;
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover};

/// Arguments of `veil demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object instead of the narrative.
    #[arg(long)]
    json: bool,
    /// Use a ledger running as its own process (`veil ledger serve`,
    /// e.g. `http://127.0.0.1:7100`) or the ledger contract on an EVM
    /// chain (`evm:URL#ADDRESS[@BLOCK]`, as `veil ledger deploy` prints
    /// it) instead of an embedded one.
    #[arg(long, value_name = "LEDGER")]
    ledger: Option<String>,
    /// With `--ledger evm:…`: the key file of the development token's
    /// minter (the deployer), which funds the demo's parties.
    #[arg(long, value_name = "FILE")]
    evm_key_file: Option<std::path::PathBuf>,
    /// MiB fetched through each session.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    mib_per_session: u64,
    /// `honest`: the demo node relays as fast as it can; `cheating-node`:
    /// it relays at a tenth of the capacity it claims, and the audit round
    /// slashes it (docs/market.md §7.1); `silent-node`: it leaves the
    /// monitors' ledger challenges unanswered and loses its whole stake
    /// (docs/protocol.md §8.3.14).
    #[arg(long, value_enum, default_value_t = Scenario::Honest)]
    scenario: Scenario,
}

/// Which demo runs (`--scenario`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Honest,
    CheatingNode,
    SilentNode,
}

/// The capacity the demo node claims in its profile, Mbit/s.
const CLAIMED_MBIT_S: u32 = 100;
/// The demo node's stake: what its claim needs (100 per Mbit/s); the audit
/// round's slash comes out of it.
const NODE_STAKE: u64 = 10_000;

/// Price per KiB and escrow size of the demo node.
const PRICE_PER_KIB: u64 = 1;
/// A small interval, so the demo shows many receipts (the default is 8 MiB).
const RECEIPT_INTERVAL_KIB: u64 = 256;

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(main(args))
}

macro_rules! say {
    ($json:expr, $($t:tt)*) => { if !$json { println!($($t)*); } };
}

mod audit;
mod clock;
mod market;
mod two_hop;

async fn main(args: Args) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let t_total = Instant::now();
    let store = super::keys::store()?;
    let t_keys = Instant::now();
    say!(
        args.json,
        "== parameters: loading{}",
        if store.set() == veil_proofs::KeySet::Dev {
            " (first run generates and caches dev keys)"
        } else {
            ""
        }
    );
    let prover = tokio::task::spawn_blocking({
        let store = store.clone();
        move || Prover::from_store(&store, &[CircuitId::Access, CircuitId::Withdraw], None)
    })
    .await??;
    let keys_ms = t_keys.elapsed().as_millis();
    let run = Run {
        store,
        prover,
        dir: tmp.path(),
        args: &args,
        keys_ms,
        t_total,
    };
    match &args.ledger {
        Some(spec) if spec.starts_with(veil_evm_rpc::EvmLedgerSpec::PREFIX) => {
            let funder = args.evm_key_file.as_deref().context(
                "--ledger evm:… needs --evm-key-file: the development token's minter, \
                 which funds the demo's parties",
            )?;
            scenario(evm_parties(spec, funder).await?, run).await
        }
        Some(_) if args.evm_key_file.is_some() => {
            bail!("--evm-key-file is only for --ledger evm:…")
        }
        Some(url) => {
            let ledger = RemoteLedger::connect(url)
                .await
                .with_context(|| format!("ledger {url}"))?;
            scenario(Parties::shared(ledger, None), run).await
        }
        None => {
            // The demo's own ledger mints its clients' funds: development faucet on.
            let config = LedgerConfig::with_dev_faucet();
            let verifier: Arc<dyn ProofVerifier> = Arc::new(Groth16Verifier::from_store(
                &run.store,
                &config.settle_batch_sizes,
            )?);
            let ledger = EmbeddedLedger::open(&tmp.path().join("ledger.redb"), verifier, config)?;
            scenario(Parties::shared(ledger.clone(), Some(ledger)), run).await
        }
    }
}

/// What the scenario runs with, whatever the ledger.
struct Run<'a> {
    store: ParamStore,
    prover: Prover,
    dir: &'a Path,
    args: &'a Args,
    keys_ms: u128,
    t_total: Instant,
}

/// The ledger as each party reaches it. The embedded and gRPC ledgers take
/// every party's signature in its requests, so one handle serves all; on
/// an EVM chain each party sends from its own key (docs/evm.md §8).
struct Parties<L> {
    /// Reads, withdrawals (any sender may relay one) and the sequencer.
    public: L,
    /// The node operator's.
    node: L,
    /// Alice's and bob's, for their deposits.
    payers: [L; 2],
    /// The audit round's monitors'.
    monitors: Vec<L>,
    embedded: Option<EmbeddedLedger>,
    /// The clock the audit round moves, where the demo may move one.
    clock: Option<clock::Clock>,
    /// On a chain: the contract, for its own turnstile.
    contract: Option<veil_evm_rpc::EvmLedger>,
    kind: &'static str,
}

impl<L: LedgerApi> Parties<L> {
    fn shared(ledger: L, embedded: Option<EmbeddedLedger>) -> Self {
        let kind = if embedded.is_some() {
            "embedded"
        } else {
            "remote"
        };
        Parties {
            node: ledger.clone(),
            payers: [ledger.clone(), ledger.clone()],
            monitors: vec![ledger.clone(); audit::MONITORS],
            public: ledger,
            clock: embedded.clone().map(clock::Clock::Embedded),
            embedded,
            contract: None,
            kind,
        }
    }
}

/// The parties on the ledger contract at `spec`: the funder (the
/// development token's minter) reads and sequences; the node operator,
/// alice, bob and the monitors get fresh keys, gas money and (through the
/// faucet) tokens. The clock moves if the chain mines on request.
async fn evm_parties(
    spec: &str,
    funder: &Path,
) -> anyhow::Result<Parties<veil_evm_rpc::EvmLedger>> {
    let public = super::ledger_evm::open_as(spec, funder, true, true).await?;
    let rpc = veil_evm_rpc::EvmLedgerSpec::parse(spec)?.rpc;
    let mut fresh = Vec::new();
    for _ in 0..3 + audit::MONITORS {
        let signer = veil_evm_rpc::key::Signer::random();
        let chain = veil_evm_rpc::RpcChain::connect(&rpc, signer).await?;
        public.faucet_gas(chain.address()).await?;
        fresh.push(public.acting_as(chain));
    }
    let monitors = fresh.split_off(3);
    let [node, alice, bob] =
        <[_; 3]>::try_from(fresh).map_err(|_| anyhow::anyhow!("three keys"))?;
    // The node's handle carries its key's challenge answers as proofs.
    let node = node.with_answer_prover(super::ledger_evm::answer_prover().await?);
    Ok(Parties {
        clock: clock::Clock::of_chain(&public).await?,
        monitors,
        contract: Some(public.clone()),
        public,
        node,
        payers: [alice, bob],
        embedded: None,
        kind: "evm",
    })
}

/// A local HTTP/1.0 destination: `GET /N` answers N bytes of the
/// measurement pattern (the monitors' target, `veil_client::monitor`).
async fn http_server() -> anyhow::Result<SocketAddr> {
    Ok(veil_client::monitor::spawn_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?)
}

/// Fetches `GET /n` from `dest` through the SOCKS5 proxy at `socks`;
/// returns the body length.
pub async fn fetch_via_socks(socks: SocketAddr, dest: SocketAddr, n: u64) -> anyhow::Result<u64> {
    let mut s = TcpStream::connect(socks).await?;
    let target = Target {
        host: Host::Ip(dest.ip()),
        port: dest.port(),
    };
    let code = socks5::client_connect(&mut s, &target).await?;
    if code != 0 {
        bail!("SOCKS5 CONNECT refused with code {code}");
    }
    s.write_all(format!("GET /{n} HTTP/1.0\r\nHost: {dest}\r\n\r\n").as_bytes())
        .await?;
    // Read the header, then exactly Content-Length bytes, and hang up:
    // the proxy then sends the node the stream's `Close`.
    let mut resp = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let body_at = loop {
        if let Some(p) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let k = s.read(&mut buf).await?;
        if k == 0 {
            bail!("no HTTP header end in {} bytes", resp.len());
        }
        resp.extend_from_slice(buf.get(..k).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(resp.get(..body_at).unwrap_or_default()).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .context("no Content-Length")?;
    while resp.len() < body_at + len {
        let k = s.read(&mut buf).await?;
        if k == 0 {
            bail!("body truncated at {} of {len} bytes", resp.len() - body_at);
        }
        resp.extend_from_slice(buf.get(..k).unwrap_or_default());
    }
    let body = resp.get(body_at..).unwrap_or_default();
    let pattern_ok = body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == veil_client::monitor::pattern(i));
    if !pattern_ok {
        bail!("body corrupted in transit");
    }
    Ok(body.len() as u64)
}

struct Client {
    name: &'static str,
    /// The public account it deposited from.
    account: AccountId,
    wallet: Wallet,
    tree: LocalTree,
}

/// What every phase of the scenario shares.
struct Stage<'a, L> {
    ledger: &'a L,
    prover: &'a Prover,
    json: bool,
    mib: u64,
    escrow: u64,
    node_url: String,
    dest: SocketAddr,
    stop_rx: watch::Receiver<bool>,
    /// TLS connect times (TLS recording the key, GetTerms, ledger lookup,
    /// TLS strictly pinned to the registered key).
    tls_connect_ms: Vec<u128>,
}

/// The escrow sessions' part of the run.
#[derive(Default)]
struct Relayed {
    sessions: Vec<(usize, LiveSession)>,
    prove_ms: Vec<u128>,
    rtts: Vec<u128>,
    fetched: u64,
    relay_ms: u128,
    receipts: u64,
}

/// Refunds found after settlement and the withdrawals that spent them.
struct Refunds {
    found: Vec<(&'static str, u64)>,
    spends: u64,
    withdrawn: u64,
    sync_ms: u128,
    withdraw_ms: u128,
}

/// Times measured outside the phases.
struct Clock {
    keys_ms: u128,
    settle_ms: u128,
    t_total: Instant,
}

/// Recipient account of the demo's withdrawals.
fn recipient() -> AccountId {
    AccountId::from_fr(Fr::from(0x7769746864u64))
}

async fn scenario<L: LedgerApi>(parties: Parties<L>, run: Run<'_>) -> anyhow::Result<()> {
    let Run {
        store,
        prover,
        dir,
        args,
        keys_ms,
        t_total,
    } = run;
    let ledger = parties.public.clone();
    let mib = args.mib_per_session;
    // Escrow: room for the fetch plus headers and a margin, so a refund remains.
    let escrow = (mib * 1024 + 512) * PRICE_PER_KIB * 2;
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let node_dir = dir.join("node");
    let setup = NodeSetup::demo(args.scenario);
    let node = start_node(
        &parties.node,
        store.clone(),
        &node_dir,
        escrow,
        setup,
        stop_rx.clone(),
    )
    .await?;
    let node_url = format!("https://{}", node.local_addr);
    let dest = http_server().await?;
    say!(
        args.json,
        "== node {} on {node_url} (TLS key sha256 {}), destination http://{dest}/",
        short(&node.node_id.inner()),
        node.tls()
            .map(|t| hex::encode(&t.spki_sha256[..8]))
            .unwrap_or_default()
    );
    let mut stage = Stage {
        ledger: &ledger,
        prover: &prover,
        json: args.json,
        mib,
        escrow,
        node_url,
        dest,
        stop_rx: stop_rx.clone(),
        tls_connect_ms: Vec::new(),
    };
    let market = market::round(&ledger, args.json, parties.kind == "evm").await?;
    let mut clients = deposit_clients(&stage, &parties.payers, dir).await?;
    let relayed = relay_sessions(&mut stage, &mut clients).await?;
    let vd = voucher_round(&mut stage, &mut clients).await?;
    // -- two hops: the demo node as entry, a second node as exit
    let exit_dir = dir.join("exit");
    let exit_setup = NodeSetup::default();
    let exit = start_node(
        &parties.node,
        store,
        &exit_dir,
        escrow,
        exit_setup,
        stop_rx.clone(),
    )
    .await?;
    let bob = clients.get_mut(1).context("bob")?;
    let th = two_hop::round(
        &mut stage,
        bob,
        &parties.payers[1],
        exit.local_addr,
        (&node_dir, &exit_dir),
    )
    .await?;

    // -- settlement: one batch
    let t_settle = Instant::now();
    let progress = std::sync::Arc::new(super::progress::Reporter::new(args.json));
    let report = node.settle_now_with(progress).await?;
    // The exit settles the route's exit session (its refund, its pay).
    exit.settle_now().await?;
    let clock = Clock {
        keys_ms,
        settle_ms: t_settle.elapsed().as_millis(),
        t_total,
    };
    say!(
        args.json,
        "== node settles {} sessions in one settle_{} proof ({} ms proving): paid {}",
        report.sessions,
        report.batch_size,
        report.prove_ms,
        report.total_paid
    );
    let refunds = refund_and_withdraw(&stage, &mut clients).await?;
    // The node as the clients' sessions left it (the audit round's own
    // sessions and batch are reported with the audits).
    let node_status = node.status();
    let audits = audit::round(
        &mut stage,
        parties.clock.as_ref(),
        &parties.monitors,
        &node,
        dir,
    )
    .await?;
    // On a chain both nodes send from the operator's one account.
    let mut nodes = vec![node.account];
    if exit.account != node.account {
        nodes.push(exit.account);
    }
    let audit_ok = public_audit(
        &ledger,
        parties.embedded.as_ref(),
        &nodes,
        &clients,
        market.as_ref(),
        audits.as_ref(),
    )
    .await?
        && match &parties.contract {
            Some(c) => c.turnstile().await?.holds(),
            None => true,
        };
    let summary = Summary {
        relayed: &relayed,
        refunds: &refunds,
        vd: &vd,
        th: &th,
        market: market.as_ref(),
        audits: audits.as_ref(),
        clock: &clock,
        report,
        node: node_status,
        ledger: ledger.status().await?,
        node_paid: ledger.balance(node.account).await?.get(),
        audit_ok,
        kind: parties.kind,
        tls_connect_ms: &stage.tls_connect_ms,
        total_ms: clock.t_total.elapsed().as_millis(),
    };
    if args.json {
        println!("{}", summary.json());
    } else {
        summary.print(&clients);
    }
    let _ = stop_tx.send(true);
    let _ = stop_rx.changed().await;
    node.join().await.ok();
    exit.join().await.ok();
    check_outcome(audit_ok, &report, &relayed, &refunds, &vd, &th)?;
    check_audits(args.scenario, audits.as_ref())
}

/// How the demo node is set up: the capacity it claims, the relay cap it
/// keeps (the cheating node's tenth of its claim) and its stake.
#[derive(Clone, Copy, Debug, Default)]
struct NodeSetup {
    capacity_mbit_s: u32,
    relay_limit_kbps: u64,
    stake: u64,
    answer_challenges: bool,
}

impl NodeSetup {
    /// The demo node of `scenario`, staked as its claim requires
    /// (`veil_ledger::monitor::STAKE_PER_MBIT_S`) from the development
    /// faucet.
    fn demo(scenario: Scenario) -> Self {
        let claimed_kbps = u64::from(CLAIMED_MBIT_S) * 1_000;
        Self {
            capacity_mbit_s: CLAIMED_MBIT_S,
            relay_limit_kbps: match scenario {
                Scenario::Honest | Scenario::SilentNode => 0,
                Scenario::CheatingNode => claimed_kbps / 10,
            },
            stake: NODE_STAKE,
            answer_challenges: scenario != Scenario::SilentNode,
        }
    }
}

/// The audit round must match the scenario: the honest node audited by a
/// quorum, every ledger challenge answered, nothing slashed; the cheating
/// node slashed by the verdict; the silent node's challenges missed and
/// its stake slashed. Skipped rounds (no embedded ledger) check nothing.
fn check_audits(scenario: Scenario, audits: Option<&audit::AuditDemo>) -> anyhow::Result<()> {
    let Some(a) = audits else { return Ok(()) };
    let Some(v) = a.verdict else {
        bail!("audits: {} reports reached no verdict", a.audits);
    };
    let slashed = a.slashed > Value::ZERO;
    let all_answered = a.challenges_answered == a.challenges_issued && a.challenges_missed == 0;
    match scenario {
        Scenario::Honest if slashed => bail!(
            "audits slashed the honest node {} (median {} kbit/s of {} claimed, {} ledger challenges missed): this machine relays below the demo's claim",
            a.slashed,
            v.throughput_kbps,
            u64::from(CLAIMED_MBIT_S) * 1_000,
            a.challenges_missed
        ),
        Scenario::Honest | Scenario::CheatingNode if !all_answered => bail!(
            "the node answered {} of {} ledger challenges",
            a.challenges_answered,
            a.challenges_issued
        ),
        Scenario::CheatingNode if !slashed => bail!(
            "audits did not slash the throttling node (median {} kbit/s)",
            v.throughput_kbps
        ),
        Scenario::SilentNode if a.challenges_missed == 0 || a.slashed != a.stake_before => bail!(
            "the silent node missed {} ledger challenges and lost {} of {}",
            a.challenges_missed,
            a.slashed,
            a.stake_before
        ),
        _ => Ok(()),
    }
}

/// Starts a demo node storing in `dir`: TLS as in production (clients pin the node's key
/// from its ledger registration, docs/protocol.md §9.8), egress to
/// loopback only, a small receipt interval so the demo shows many receipts.
async fn start_node<L: LedgerApi>(
    ledger: &L,
    store: ParamStore,
    dir: &Path,
    escrow: u64,
    setup: NodeSetup,
    stop_rx: watch::Receiver<bool>,
) -> anyhow::Result<veil_node::NodeHandle> {
    let mut config = veil_node::NodeConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        dir.to_path_buf(),
        Value(PRICE_PER_KIB),
        vec![Value(escrow)],
    );
    config.capacity_mbit_s = setup.capacity_mbit_s;
    config.limits.relay_limit_kbps = setup.relay_limit_kbps;
    config.answer_challenges = setup.answer_challenges;
    if setup.stake > 0 {
        // The node stakes from its own account: the sender on a chain,
        // else the key in its directory.
        std::fs::create_dir_all(dir)?;
        let account = match ledger.acting_account() {
            Some(me) => me,
            None => veil_node::keys::load_or_create_account_key(dir)?
                .verifying_key()
                .account_id(),
        };
        ledger.faucet(account, Value(setup.stake)).await?;
        config.stake = Value(setup.stake);
    }
    config.transport = veil_node::Transport::Tls;
    config.receipt_interval_kib = RECEIPT_INTERVAL_KIB;
    config.egress = veil_node::egress::EgressPolicy::new()
        .allow_range(veil_node::egress::Cidr::new(Ipv4Addr::LOCALHOST.into(), 8).context("cidr")?);
    let node_stop = {
        let mut rx = stop_rx;
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    Ok(veil_node::spawn(config, ledger.clone(), store, node_stop).await?)
}

/// Alice and bob create wallets and deposit three escrows each from the
/// development faucet.
async fn deposit_clients<L: LedgerApi>(
    stage: &Stage<'_, L>,
    payers: &[L; 2],
    dir: &Path,
) -> anyhow::Result<Vec<Client>> {
    let mut rng = OsRng;
    let mut clients = Vec::new();
    for (name, payer) in ["alice", "bob"].into_iter().zip(payers) {
        let path = dir.join(format!("{name}.wallet"));
        let sk = veil_primitives::keys::SpendingKey::random(&mut rng);
        let mut account_seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rng, &mut account_seed);
        let mut wallet = Wallet::create(&path, sk.inner(), account_seed)?;
        let amount = 3 * stage.escrow;
        veil_client::ops::deposit(payer, &mut wallet, amount, true, &mut rng).await?;
        clients.push(Client {
            name,
            account: payer.acting_account().unwrap_or_else(|| wallet.account()),
            wallet,
            tree: LocalTree::new(),
        });
    }
    say!(
        stage.json,
        "== alice and bob each deposit {} (development faucet)",
        3 * stage.escrow
    );
    Ok(clients)
}

/// Three escrow sessions (alice ×2, bob ×1), each fetching through its
/// own SOCKS5 proxy; the wallets record them as finished.
async fn relay_sessions<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    clients: &mut [Client],
) -> anyhow::Result<Relayed> {
    let plan: [(usize, &str); 3] = [(0, "s1"), (1, "s1"), (0, "s2")];
    let mut out = Relayed::default();
    for (ci, intent) in plan {
        let c = clients.get_mut(ci).context("client")?;
        let live = relay_one(stage, c, intent, &mut out).await?;
        out.sessions.push((ci, live));
    }
    out.receipts = out
        .sessions
        .iter()
        .map(|(_, l)| l.relay.stats().receipts_sent.load(Ordering::Relaxed))
        .sum();
    for (ci, live) in &out.sessions {
        let c = clients.get_mut(*ci).context("client")?;
        finish_session(&mut c.wallet, live)?;
    }
    Ok(out)
}

/// One session: connect (pinned TLS), prove and open, fetch `mib` MiB as
/// two parallel streams through a SOCKS5 proxy, send a second challenge.
async fn relay_one<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    c: &mut Client,
    intent: &str,
    out: &mut Relayed,
) -> anyhow::Result<LiveSession> {
    eprintln!("-- {} opens session {intent}", c.name);
    let t_connect = Instant::now();
    let mut conn = NodeConnection::connect_via_ledger(&stage.node_url, stage.ledger).await?;
    stage.tls_connect_ms.push(t_connect.elapsed().as_millis());
    let live = start_session(
        stage.ledger,
        &mut conn,
        stage.prover,
        &mut c.wallet,
        &mut c.tree,
        stage.escrow,
        intent,
        &mut OsRng,
    )
    .await?;
    out.prove_ms.push(live.session.prove_ms);
    out.rtts.push(live.first_rtt_us);
    let (relay_tx, relay_rx) = watch::channel(Some(live.relay.clone()));
    let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let socks_addr = socks.local_addr()?;
    tokio::spawn(serve(
        socks,
        Payer::Session(relay_rx),
        stage.stop_rx.clone(),
    ));
    eprintln!("-- session open; fetching through SOCKS5 {socks_addr}");
    if std::env::var_os("VEIL_DEMO_DEBUG").is_some() {
        let st = live.relay.stats();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                eprintln!("   [debug] {st:?}");
            }
        });
    }
    let t = Instant::now();
    // Two parallel fetches per session: streams multiplexed on one relay.
    let half = stage.mib * 1024 * 1024 / 2;
    let (a, b) = tokio::join!(
        fetch_via_socks(socks_addr, stage.dest, half),
        fetch_via_socks(socks_addr, stage.dest, half)
    );
    let got = a? + b?;
    out.relay_ms += t.elapsed().as_millis();
    if got != 2 * half {
        bail!("fetched {got} bytes, expected {}", 2 * half);
    }
    out.fetched += got;
    // Let the last receipts reach the node.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    out.rtts.push(live.relay.challenge().await?.as_micros());
    drop(relay_tx);
    let stats = live.relay.stats();
    say!(
        stage.json,
        "   {} session {}: token {} B, proved in {} ms, fetched {} KiB, {} receipts (highest {} KiB), challenge RTT {} µs",
        c.name,
        short(&live.session.session_id.inner()),
        live.session.token_bytes,
        live.session.prove_ms,
        got / 1024,
        stats.receipts_sent.load(Ordering::Relaxed),
        stats.highest_receipt_kib.load(Ordering::Relaxed),
        live.first_rtt_us
    );
    Ok(live)
}

/// Alice buys with one escrow session, then pays several connections by
/// unlinkable spends (docs/vouchers.md §9).
async fn voucher_round<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    clients: &mut [Client],
) -> anyhow::Result<super::voucher::VoucherDemo> {
    let c = clients.get_mut(0).context("client")?;
    let t_connect = Instant::now();
    let conn = NodeConnection::connect_via_ledger(&stage.node_url, stage.ledger).await?;
    stage.tls_connect_ms.push(t_connect.elapsed().as_millis());
    let dest = stage.dest;
    let vd = super::voucher::demo_round(
        stage.ledger,
        conn,
        stage.prover,
        &mut c.wallet,
        &mut c.tree,
        stage.escrow,
        3,
        64,
        |socks| fetch_via_socks(socks, dest, 32 * 1024),
    )
    .await?;
    say!(
        stage.json,
        "== alice buys {} KiB of vouchers with one escrow session, then fetches {} KiB over {} connections, each paid by its own voucher spend ({} KiB left)",
        vd.bought_kib,
        vd.fetched / 1024,
        vd.spends,
        vd.balance_left_kib
    );
    Ok(vd)
}

/// The wallets sync, find their refund notes and each withdraw one of
/// them (withdrawing exactly a refund's value spends that note, the
/// smallest that covers it), then sync again.
async fn refund_and_withdraw<L: LedgerApi>(
    stage: &Stage<'_, L>,
    clients: &mut [Client],
) -> anyhow::Result<Refunds> {
    let t_sync = Instant::now();
    let mut found = Vec::new();
    for c in clients.iter_mut() {
        let r = sync(stage.ledger, &mut c.wallet, &mut c.tree).await?;
        found.extend(r.refunds_found.iter().map(|v| (c.name, *v)));
    }
    let sync_ms = t_sync.elapsed().as_millis();
    let t_w = Instant::now();
    let (mut spends, mut withdrawn) = (0u64, 0u64);
    for c in clients.iter_mut() {
        let first_refund = c.wallet.data.notes.iter().find(|n| {
            n.origin == NoteOrigin::Refund && n.status == NoteStatus::Unspent && n.value > 0
        });
        if let Some(v) = first_refund.map(|n| n.value) {
            veil_client::ops::withdraw(
                stage.ledger,
                stage.prover,
                &mut c.wallet,
                &c.tree,
                v,
                recipient(),
                &mut OsRng,
            )
            .await?;
            spends += 1;
            withdrawn += v;
        }
    }
    let withdraw_ms = t_w.elapsed().as_millis();
    for c in clients.iter_mut() {
        sync(stage.ledger, &mut c.wallet, &mut c.tree).await?;
    }
    Ok(Refunds {
        found,
        spends,
        withdrawn,
        sync_ms,
        withdraw_ms,
    })
}

/// The public view: the turnstile (minted = accounts + pool) and, on the
/// embedded ledger, the full store audit.
async fn public_audit<L: LedgerApi>(
    ledger: &L,
    embedded: Option<&EmbeddedLedger>,
    node_accounts: &[AccountId],
    clients: &[Client],
    market: Option<&market::MarketDemo>,
    audits: Option<&audit::AuditDemo>,
) -> anyhow::Result<bool> {
    let status = ledger.status().await?;
    let mut accounts_total = 0u64;
    let wallets = clients.iter().map(|c| c.account);
    let nodes = node_accounts.iter().copied();
    let trader = market.map(|m| m.trader);
    let monitors = audits.map_or(Vec::new(), |a| a.monitors.clone());
    for a in nodes
        .chain([recipient()])
        .chain(wallets)
        .chain(trader)
        .chain(monitors)
    {
        accounts_total += ledger.balance(a).await?.get();
    }
    // Value the trader paid into the curve's reserve, and the turnstile's
    // other public totals (docs/protocol.md §8.4).
    let reserve_counted = market.map_or(0, |m| m.reserve_counted);
    let held = [
        accounts_total,
        status.pool.get(),
        status.escrowed.get(),
        status.staked.get(),
        status.monitor_staked.get(),
        status.burnt.get(),
        reserve_counted,
    ];
    let turnstile_ok =
        u128::from(status.minted.get()) == held.iter().map(|v| u128::from(*v)).sum::<u128>();
    let store_audit_ok = match embedded {
        Some(e) => {
            let e = e.clone();
            tokio::task::spawn_blocking(move || veil_ledger::audit::audit(e.engine().store()))
                .await??
                .ok()
        }
        None => true,
    };
    Ok(turnstile_ok && store_audit_ok)
}

/// Everything the run measured and each party saw, printed at the end.
struct Summary<'a> {
    relayed: &'a Relayed,
    refunds: &'a Refunds,
    vd: &'a super::voucher::VoucherDemo,
    th: &'a two_hop::TwoHopDemo,
    market: Option<&'a market::MarketDemo>,
    audits: Option<&'a audit::AuditDemo>,
    clock: &'a Clock,
    report: veil_node::SettlementReport,
    node: veil_node::NodeStatus,
    ledger: veil_ledger::types::LedgerStatus,
    node_paid: u64,
    audit_ok: bool,
    /// Which ledger: embedded, remote or evm.
    kind: &'static str,
    tls_connect_ms: &'a [u128],
    total_ms: u128,
}

impl Summary<'_> {
    /// The narrative: what the node, the ledger and each wallet saw.
    fn print(&self, clients: &[Client]) {
        let (n, l) = (&self.node, &self.ledger);
        println!("\n== what each party saw");
        println!(
            "node:   {} tokens verified, {} sessions, {} bytes relayed, {} receipts accepted, {} settled in {} batch(es), paid {} — no account, no wallet, no deposit",
            n.proof_verifications,
            n.sessions_total,
            n.bytes_relayed,
            n.receipts_accepted,
            n.settled_sessions,
            n.settled_batches,
            n.total_paid
        );
        println!(
            "ledger: height {}, {} commitments, minted {}, pool {}, node balance {}, withdrawn {} — totals only, no per-session bytes or refunds",
            l.height, l.commitment_count, l.minted, l.pool, self.node_paid, self.refunds.withdrawn
        );
        for c in clients {
            let found: Vec<_> = (self.refunds.found.iter())
                .filter(|(n, _)| *n == c.name)
                .map(|(_, v)| v)
                .collect();
            println!(
                "{}:  balance {} (+{} pending), sessions {}, refunds found {found:?}",
                c.name,
                c.wallet.balance(),
                c.wallet.pending(),
                c.wallet.data.sessions.len(),
            );
        }
        let r = self.relayed;
        let mbps = if r.relay_ms > 0 {
            r.fetched as f64 * 8.0 / 1000.0 / r.relay_ms as f64
        } else {
            0.0
        };
        println!(
            "timings: keys {} ms, access proofs {:?} ms, relay {} ms ({mbps:.1} Mbit/s), settle {} ms, refund sync {} ms, refund withdraw {} ms, total {} ms",
            self.clock.keys_ms,
            r.prove_ms,
            r.relay_ms,
            self.clock.settle_ms,
            self.refunds.sync_ms,
            self.refunds.withdraw_ms,
            self.total_ms
        );
        println!("audit: {}", if self.audit_ok { "OK" } else { "FAILED" });
    }

    /// The same as one JSON object (`veil demo --json`).
    fn json(&self) -> serde_json::Value {
        let (r, f, vd) = (self.relayed, self.refunds, self.vd);
        serde_json::json!({
            "sessions": r.sessions.len(),
            "bytes_relayed": self.node.bytes_relayed,
            "bytes_fetched": r.fetched,
            "receipts": r.receipts,
            "receipts_accepted": self.node.receipts_accepted,
            "settled_sessions": self.report.sessions,
            "settle_batches": self.node.settled_batches,
            "settle_batch_size": self.report.batch_size,
            "node_paid": self.node_paid,
            "refunds": f.found.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "refund_spends": f.spends,
            "withdrawn": f.withdrawn,
            "audit_ok": self.audit_ok,
            "ledger": self.kind,
            "timings_ms": {
                "keys": self.clock.keys_ms, "tls_connect": self.tls_connect_ms,
                "access_prove": r.prove_ms, "relay": r.relay_ms,
                "settle": self.clock.settle_ms, "settle_prove": self.report.prove_ms,
                "refund_sync": f.sync_ms, "withdraw": f.withdraw_ms,
                "total": self.total_ms,
            },
            "challenge_rtt_us": r.rtts,
            "voucher_spends": vd.spends,
            "voucher_bought_kib": vd.bought_kib,
            "voucher_fetched": vd.fetched,
            "voucher_balance_left_kib": vd.balance_left_kib,
            "two_hop": self.th.json(),
            "market": market::json(self.market, audit::json(self.audits)),
        })
    }
}

/// The demo fails unless the audit passed, every session at the demo node
/// (the voucher purchase session and the two-hop entry session too) was
/// settled, every escrow session found its refund, three connections were
/// voucher-paid, and the two-hop route fetched with neither node seeing
/// the other side.
fn check_outcome(
    audit_ok: bool,
    report: &veil_node::SettlementReport,
    r: &Relayed,
    refunds: &Refunds,
    vd: &super::voucher::VoucherDemo,
    th: &two_hop::TwoHopDemo,
) -> anyhow::Result<()> {
    if !audit_ok {
        bail!("ledger audit failed");
    }
    if th.bytes_fetched == 0 || th.entry_saw_destination || th.exit_saw_client {
        bail!(
            "two hops: fetched {} bytes, entry saw the destination: {}, exit saw the client: {}",
            th.bytes_fetched,
            th.entry_saw_destination,
            th.exit_saw_client
        );
    }
    let settled = r.sessions.len() + vd.sessions + th.entry_sessions;
    if report.sessions != settled || refunds.found.len() < r.sessions.len() {
        bail!(
            "expected {} sessions settled and {} refunds found, got {} and {}",
            settled,
            r.sessions.len(),
            report.sessions,
            refunds.found.len()
        );
    }
    if vd.spends != 3 {
        bail!("expected 3 voucher-paid connections, got {}", vd.spends);
    }
    Ok(())
}

fn short(x: &Fr) -> String {
    let b = veil_primitives::field::fr_to_bytes(x);
    hex::encode(b.get(..4).unwrap_or_default())
}
