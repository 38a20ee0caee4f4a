//! `veil demo`: ledger, node, destination and clients end to end on this
//! machine, over real loopback gRPC and SOCKS5.
//!
//! Scenario: two wallets deposit (development faucet), open three sessions
//! with one node (two for alice, one for bob), fetch several MiB from a
//! local HTTP server through SOCKS5, pay with cumulative receipts, the node
//! settles all sessions in ONE batch proof, the wallets find their refund
//! notes on the ledger and spend them (a withdraw proof). Each party's view
//! is printed: the node sees tokens and bytes, never a wallet; the public
//! ledger shows totals only.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
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
    /// Use a ledger running as its own process (`veil ledger serve`)
    /// instead of an embedded one, e.g. `http://127.0.0.1:7100`.
    #[arg(long, value_name = "URL")]
    ledger: Option<String>,
    /// MiB fetched through each session.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    mib_per_session: u64,
}

/// Price per KiB and escrow size of the demo node.
const PRICE_PER_KIB: u64 = 1;
/// A small interval, so the demo shows many receipts (the default is 8 MiB).
const RECEIPT_INTERVAL_KIB: u64 = 256;

pub fn run(args: Args) -> anyhow::Result<()> {
    eprintln!("\n!!! {} !!!\n", veil_proofs::INSECURE_WARNING);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(main(args))
}

macro_rules! say {
    ($json:expr, $($t:tt)*) => { if !$json { println!($($t)*); } };
}

async fn main(args: Args) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let t_total = Instant::now();
    let store = ParamStore::open_default()?;
    let t_keys = Instant::now();
    say!(
        args.json,
        "== parameters: loading (first run generates and caches dev keys)"
    );
    let prover = tokio::task::spawn_blocking({
        let store = store.clone();
        move || Prover::from_store(&store, &[CircuitId::Access, CircuitId::Withdraw], None)
    })
    .await??;
    let keys_ms = t_keys.elapsed().as_millis();
    match &args.ledger {
        Some(url) => {
            let ledger = RemoteLedger::connect(url)
                .await
                .with_context(|| format!("ledger {url}"))?;
            scenario(
                ledger,
                None,
                store,
                prover,
                tmp.path(),
                &args,
                keys_ms,
                t_total,
            )
            .await
        }
        None => {
            // The demo's own ledger mints its clients' funds: development faucet on.
            let config = LedgerConfig::with_dev_faucet();
            let verifier: Arc<dyn ProofVerifier> = Arc::new(Groth16Verifier::from_store(
                &store,
                &config.settle_batch_sizes,
            )?);
            let ledger = EmbeddedLedger::open(&tmp.path().join("ledger.redb"), verifier, config)?;
            scenario(
                ledger.clone(),
                Some(ledger),
                store,
                prover,
                tmp.path(),
                &args,
                keys_ms,
                t_total,
            )
            .await
        }
    }
}

/// A local HTTP/1.0 destination: `GET /N` answers N bytes of a fixed pattern.
async fn http_server() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                let line = String::from_utf8_lossy(&req);
                let n: usize = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.trim_start_matches('/').parse().ok())
                    .unwrap_or(1024)
                    .min(256 << 20);
                let head =
                    format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n");
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
                let mut left = n;
                while left > 0 {
                    let k = left.min(chunk.len());
                    if s.write_all(chunk.get(..k).unwrap_or_default())
                        .await
                        .is_err()
                    {
                        return;
                    }
                    left -= k;
                }
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(addr)
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
        .all(|(i, b)| *b == ((i % 65536) % 251) as u8);
    if !pattern_ok {
        bail!("body corrupted in transit");
    }
    Ok(body.len() as u64)
}

struct Client {
    name: &'static str,
    wallet: Wallet,
    tree: LocalTree,
}

#[allow(clippy::too_many_arguments)]
async fn scenario<L: LedgerApi>(
    ledger: L,
    embedded: Option<EmbeddedLedger>,
    store: ParamStore,
    prover: Prover,
    dir: &Path,
    args: &Args,
    keys_ms: u128,
    t_total: Instant,
) -> anyhow::Result<()> {
    let json = args.json;
    let mib = args.mib_per_session;
    // Escrow: room for the fetch plus headers and a margin, so a refund remains.
    let escrow = (mib * 1024 + 512) * PRICE_PER_KIB * 2;
    let mut rng = OsRng;

    // -- node
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut config = veil_node::NodeConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        dir.join("node"),
        Value(PRICE_PER_KIB),
        vec![Value(escrow)],
    );
    // TLS as in production; clients pin the node's key from its ledger
    // registration (docs/protocol.md §9.8).
    config.transport = veil_node::Transport::Tls;
    config.receipt_interval_kib = RECEIPT_INTERVAL_KIB;
    config.egress = veil_node::egress::EgressPolicy::new()
        .allow_range(veil_node::egress::Cidr::new(Ipv4Addr::LOCALHOST.into(), 8).context("cidr")?);
    let node_stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let node = veil_node::spawn(config, ledger.clone(), store, node_stop).await?;
    // The node's account is that of its own account key (§8.3).
    let node_account = node.account;
    let node_url = format!("https://{}", node.local_addr);
    let dest = http_server().await?;
    say!(
        json,
        "== node {} on {node_url} (TLS key sha256 {}), destination http://{dest}/",
        short(&node.node_id.inner()),
        node.tls
            .as_ref()
            .map(|t| hex::encode(&t.spki_sha256[..8]))
            .unwrap_or_default()
    );
    // Each connection: TLS recording the key, GetTerms, ledger lookup,
    // TLS strictly pinned to the registered key (NodeConnection::connect_via_ledger).
    let mut tls_connect_ms = Vec::new();

    // -- clients deposit
    let mut clients = Vec::new();
    for name in ["alice", "bob"] {
        let path = dir.join(format!("{name}.wallet"));
        let sk = veil_primitives::keys::SpendingKey::random(&mut rng);
        let mut account_seed = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rng, &mut account_seed);
        let mut wallet = Wallet::create(&path, sk.inner(), account_seed)?;
        veil_client::ops::deposit(&ledger, &mut wallet, 3 * escrow, true, &mut rng).await?;
        clients.push(Client {
            name,
            wallet,
            tree: LocalTree::new(),
        });
    }
    say!(
        json,
        "== alice and bob each deposit {} (development faucet)",
        3 * escrow
    );

    // -- sessions: alice ×2, bob ×1
    let plan: [(usize, &str); 3] = [(0, "s1"), (1, "s1"), (0, "s2")];
    let mut sessions: Vec<(usize, LiveSession)> = Vec::new();
    let mut prove_ms = Vec::new();
    let mut rtts = Vec::new();
    let mut fetched = 0u64;
    let t_relay_total = Instant::now();
    let mut relay_ms = 0u128;
    for (ci, intent) in plan {
        let c = clients.get_mut(ci).context("client")?;
        eprintln!("-- {} opens session {intent}", c.name);
        let t_connect = Instant::now();
        let mut conn = NodeConnection::connect_via_ledger(&node_url, &ledger).await?;
        tls_connect_ms.push(t_connect.elapsed().as_millis());
        let live = start_session(
            &ledger,
            &mut conn,
            &prover,
            &mut c.wallet,
            &mut c.tree,
            escrow,
            intent,
            &mut rng,
        )
        .await?;
        prove_ms.push(live.session.prove_ms);
        rtts.push(live.first_rtt_us);
        // A SOCKS5 proxy in front of this session's relay.
        let (relay_tx, relay_rx) = watch::channel(Some(live.relay.clone()));
        let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let socks_addr = socks.local_addr()?;
        tokio::spawn(serve(socks, Payer::Session(relay_rx), stop_rx.clone()));
        let t = Instant::now();
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
        // Two parallel fetches per session: streams multiplexed on one relay.
        let half = mib * 1024 * 1024 / 2;
        let (a, b) = tokio::join!(
            fetch_via_socks(socks_addr, dest, half),
            fetch_via_socks(socks_addr, dest, half)
        );
        let got = a? + b?;
        relay_ms += t.elapsed().as_millis();
        if got != 2 * half {
            bail!("fetched {got} bytes, expected {}", 2 * half);
        }
        fetched += got;
        // Let the last receipts reach the node.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let rtt2 = live.relay.challenge().await?;
        rtts.push(rtt2.as_micros());
        drop(relay_tx);
        say!(
            json,
            "   {} session {}: token {} B, proved in {} ms, fetched {} KiB, {} receipts (highest {} KiB), challenge RTT {} µs",
            c.name,
            short(&live.session.session_id.inner()),
            live.session.token_bytes,
            live.session.prove_ms,
            got / 1024,
            live.relay
                .stats()
                .receipts_sent
                .load(std::sync::atomic::Ordering::Relaxed),
            live.relay
                .stats()
                .highest_receipt_kib
                .load(std::sync::atomic::Ordering::Relaxed),
            live.first_rtt_us
        );
        sessions.push((ci, live));
    }
    let _ = t_relay_total;
    let receipts: u64 = sessions
        .iter()
        .map(|(_, l)| {
            l.relay
                .stats()
                .receipts_sent
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    for (ci, live) in &sessions {
        let c = clients.get_mut(*ci).context("client")?;
        finish_session(&mut c.wallet, live)?;
    }

    // -- vouchers: alice buys with one escrow session, then pays several
    // connections by unlinkable spends (docs/vouchers.md §9).
    let vd = {
        let c = clients.get_mut(0).context("client")?;
        let t_connect = Instant::now();
        let conn = NodeConnection::connect_via_ledger(&node_url, &ledger).await?;
        tls_connect_ms.push(t_connect.elapsed().as_millis());
        super::voucher::demo_round(
            &ledger,
            conn,
            &prover,
            &mut c.wallet,
            &mut c.tree,
            escrow,
            3,
            64,
            |socks| fetch_via_socks(socks, dest, 32 * 1024),
        )
        .await?
    };
    say!(
        json,
        "== alice buys {} KiB of vouchers with one escrow session, then fetches {} KiB over {} connections, each paid by its own voucher spend ({} KiB left)",
        vd.bought_kib,
        vd.fetched / 1024,
        vd.spends,
        vd.balance_left_kib
    );

    // -- settlement: one batch
    let t_settle = Instant::now();
    let report = node.settle_now().await?;
    let settle_ms = t_settle.elapsed().as_millis();
    let node_status = node.status();
    say!(
        json,
        "== node settles {} sessions in one settle_{} proof ({} ms proving): paid {}",
        report.sessions,
        report.batch_size,
        report.prove_ms,
        report.total_paid
    );

    // -- refunds found and spent
    let t_sync = Instant::now();
    let mut refunds = Vec::new();
    for c in clients.iter_mut() {
        let r = sync(&ledger, &mut c.wallet, &mut c.tree).await?;
        for v in &r.refunds_found {
            refunds.push((c.name, *v));
        }
    }
    let sync_ms = t_sync.elapsed().as_millis();
    let recipient = AccountId::from_fr(Fr::from(0x7769746864u64));
    let t_w = Instant::now();
    let mut refund_spends = 0u64;
    let mut withdrawn = 0u64;
    for c in clients.iter_mut() {
        let refund_values: Vec<u64> = c
            .wallet
            .data
            .notes
            .iter()
            .filter(|n| {
                n.origin == NoteOrigin::Refund && n.status == NoteStatus::Unspent && n.value > 0
            })
            .map(|n| n.value)
            .collect();
        // Withdrawing exactly a refund's value spends that refund note (the
        // smallest note that covers it).
        if let Some(v) = refund_values.first() {
            veil_client::ops::withdraw(
                &ledger,
                &prover,
                &mut c.wallet,
                &c.tree,
                *v,
                recipient,
                &mut rng,
            )
            .await?;
            refund_spends += 1;
            withdrawn += v;
        }
    }
    let withdraw_ms = t_w.elapsed().as_millis();
    for c in clients.iter_mut() {
        sync(&ledger, &mut c.wallet, &mut c.tree).await?;
    }

    // -- public view and audit
    let status = ledger.status().await?;
    let mut accounts_total = 0u64;
    for a in [
        node_account,
        recipient,
        clients[0].wallet.account(),
        clients[1].wallet.account(),
    ] {
        accounts_total += ledger.balance(a).await?.get();
    }
    let turnstile_ok = status.minted.get() == accounts_total + status.pool.get();
    let store_audit_ok = match &embedded {
        Some(e) => {
            let e = e.clone();
            tokio::task::spawn_blocking(move || veil_ledger::audit::audit(e.engine().store()))
                .await??
                .ok()
        }
        None => true,
    };
    let audit_ok = turnstile_ok && store_audit_ok;
    let node_paid = ledger.balance(node_account).await?.get();

    say!(json, "\n== what each party saw");
    say!(
        json,
        "node:   {} tokens verified, {} sessions, {} bytes relayed, {} receipts accepted, {} settled in {} batch(es), paid {} — no account, no wallet, no deposit",
        node_status.proof_verifications,
        node_status.sessions_total,
        node_status.bytes_relayed,
        node_status.receipts_accepted,
        node_status.settled_sessions,
        node_status.settled_batches,
        node_status.total_paid
    );
    say!(
        json,
        "ledger: height {}, {} commitments, minted {}, pool {}, node balance {}, withdrawn {} — totals only, no per-session bytes or refunds",
        status.height,
        status.commitment_count,
        status.minted,
        status.pool,
        node_paid,
        withdrawn
    );
    for c in &clients {
        say!(
            json,
            "{}:  balance {} (+{} pending), sessions {}, refunds found {:?}",
            c.name,
            c.wallet.balance(),
            c.wallet.pending(),
            c.wallet.data.sessions.len(),
            refunds
                .iter()
                .filter(|(n, _)| *n == c.name)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        );
    }
    let total_ms = t_total.elapsed().as_millis();
    let mbps = if relay_ms > 0 {
        fetched as f64 * 8.0 / 1000.0 / relay_ms as f64
    } else {
        0.0
    };
    say!(
        json,
        "timings: keys {keys_ms} ms, access proofs {prove_ms:?} ms, relay {relay_ms} ms ({mbps:.1} Mbit/s), settle {settle_ms} ms, refund sync {sync_ms} ms, refund withdraw {withdraw_ms} ms, total {total_ms} ms"
    );
    say!(json, "audit: {}", if audit_ok { "OK" } else { "FAILED" });

    if json {
        let v = serde_json::json!({
            "sessions": sessions.len(),
            "bytes_relayed": node_status.bytes_relayed,
            "bytes_fetched": fetched,
            "receipts": receipts,
            "receipts_accepted": node_status.receipts_accepted,
            "settled_sessions": report.sessions,
            "settle_batches": node_status.settled_batches,
            "settle_batch_size": report.batch_size,
            "node_paid": node_paid,
            "refunds": refunds.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "refund_spends": refund_spends,
            "withdrawn": withdrawn,
            "audit_ok": audit_ok,
            "ledger": if embedded.is_some() { "embedded" } else { "remote" },
            "timings_ms": {
                "keys": keys_ms, "tls_connect": tls_connect_ms,
                "access_prove": prove_ms, "relay": relay_ms,
                "settle": settle_ms, "settle_prove": report.prove_ms,
                "refund_sync": sync_ms, "withdraw": withdraw_ms, "total": total_ms,
            },
            "challenge_rtt_us": rtts,
            "voucher_spends": vd.spends,
            "voucher_bought_kib": vd.bought_kib,
            "voucher_fetched": vd.fetched,
            "voucher_balance_left_kib": vd.balance_left_kib,
        });
        println!("{v}");
    }
    let _ = stop_tx.send(true);
    let _ = stop_rx.changed().await;
    node.join().await.ok();
    if !audit_ok {
        bail!("ledger audit failed");
    }
    // The voucher purchase session is settled too (its refund is 0).
    if report.sessions != sessions.len() + vd.sessions || refunds.len() < sessions.len() {
        bail!(
            "expected {} sessions settled and {} refunds found, got {} and {}",
            sessions.len() + vd.sessions,
            sessions.len(),
            report.sessions,
            refunds.len()
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
