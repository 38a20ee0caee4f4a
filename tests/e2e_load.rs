//! Load: N sessions (`VEIL_LOAD_SESSIONS`, default 20) opened on one node,
//! each fetching a small body through SOCKS5 with receipts, then settled in
//! batches (docs/protocol.md §9); no error, every escrow settled, the
//! ledger audit passes.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use tokio::net::TcpListener;
use veil_client::flow::{finish_session, start_session};
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::types::EscrowState;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_primitives::progress::{Step, Throttle, line};
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover};

const ESCROW: u64 = 256;
const FETCH: usize = 24 * 1024;

#[path = "support/http.rs"]
mod http;
use http::{fetch, http_server};

/// Progress of the run as the CLI prints it when stderr is not a terminal
/// (docs/operations.md, "Progress"): a line at each quarter of a step, and
/// one every 10 s within it; the full 1,000-session run takes minutes.
struct Lines {
    started: Instant,
    throttle: Throttle,
}

impl Lines {
    fn new(started: Instant) -> Self {
        Self {
            started,
            throttle: Throttle::new(Duration::from_secs(10)),
        }
    }

    fn report(&mut self, step: Step<'_>) {
        if self.throttle.admit(step, self.started.elapsed()) {
            eprintln!("{}", line(step));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_open_relay_and_settle() {
    let n: usize = std::env::var("VEIL_LOAD_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap();
    let prover = Prover::from_store(&store, &[CircuitId::Access], None).unwrap();
    let ledger =
        EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet()).unwrap();
    let mut config = veil_node::NodeConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        tmp.path().join("node"),
        Value(1),
        vec![Value(ESCROW)],
    );
    config.transport = veil_node::Transport::InsecurePlaintext;
    config.receipt_interval_kib = 8;
    config.egress = veil_node::egress::EgressPolicy::parse("127.0.0.1/32").unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let node = veil_node::spawn(config, ledger.clone(), store, {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    })
    .await
    .unwrap();
    let node_account = node.account;
    let node_url = format!("http://{}", node.local_addr);
    let dest = http_server().await;

    let mut sids = Vec::new();
    let mut accounts = Vec::new();
    let mut progress = Lines::new(t0);
    for i in 0..n {
        progress.report(Step::new("load: sessions relayed", i as u64, n as u64));
        let sk = veil_primitives::keys::SpendingKey::random(&mut OsRng);
        let mut w = Wallet::create(
            &tmp.path().join(format!("w{i}.wallet")),
            sk.inner(),
            rand::random::<[u8; 32]>(),
        )
        .unwrap();
        accounts.push(w.account());
        veil_client::ops::deposit(&ledger, &mut w, ESCROW, true, &mut OsRng)
            .await
            .unwrap();
        let mut tree = LocalTree::new();
        let mut conn = NodeConnection::connect_plaintext(&node_url).await.unwrap();
        let l = start_session(
            &ledger, &mut conn, &prover, &mut w, &mut tree, ESCROW, "load", &mut OsRng,
        )
        .await
        .unwrap();
        let (relay_tx, relay_rx) = tokio::sync::watch::channel(Some(l.relay.clone()));
        let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let socks_addr = socks.local_addr().unwrap();
        tokio::spawn(serve(socks, Payer::Session(relay_rx), stop_rx.clone()));
        let body = fetch(socks_addr, dest, FETCH).await;
        assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        tokio::time::sleep(Duration::from_millis(50)).await;
        l.relay.challenge().await.unwrap();
        drop(relay_tx);
        finish_session(&mut w, &l).unwrap();
        sids.push(l.session.session_id);
    }
    progress.report(Step::new("load: sessions relayed", n as u64, n as u64));
    let t_open = t0.elapsed();
    let mut settled = 0;
    let mut paid = 0u64;
    while settled < n {
        progress.report(Step::new(
            "load: sessions settled",
            settled as u64,
            n as u64,
        ));
        let r = node.settle_now().await.unwrap();
        assert!(
            r.sessions > 0,
            "settlement made no progress at {settled}/{n}"
        );
        settled += r.sessions;
        paid += r.total_paid.0;
    }
    progress.report(Step::new(
        "load: sessions settled",
        settled as u64,
        n as u64,
    ));
    assert_eq!(settled, n);
    for sid in &sids {
        let e = ledger.get_escrow(*sid).await.unwrap().unwrap();
        assert!(matches!(e.state, EscrowState::Settled { .. }), "{sid:?}");
    }
    assert_eq!(ledger.balance(node_account).await.unwrap().get(), paid);
    assert!(paid >= n as u64 * (FETCH as u64 / 1024 - 8));
    let e = ledger.clone();
    let audit = tokio::task::spawn_blocking(move || veil_ledger::audit::audit(e.engine().store()))
        .await
        .unwrap()
        .unwrap();
    assert!(audit.ok(), "ledger audit failed");
    let _ = stop_tx.send(true);
    node.join().await.ok();
    eprintln!(
        "e2e_load: {n} sessions opened+relayed in {:?}, settled (paid {paid}) by {:?}",
        t_open,
        t0.elapsed()
    );
}
