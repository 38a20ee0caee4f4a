//! Adversarial row F6: re-running "open session" after a failure with the
//! same intent is idempotent — the token persisted before `OpenSession`
//! (`docs/protocol.md` §9.2, docs/client.md) is re-sent, so there is no
//! second escrow and no second nullifier. A real node on loopback
//! (plaintext) over the embedded ledger with the development keys.
//!
//! The first attempt goes through a TCP forwarder to the node that is torn
//! down after the node's terms were read: `OpenSession` fails with a
//! transport error after the token was saved, and the port then refuses.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use veil_client::error::ClientError;
use veil_client::session::{NodeConnection, NodeTerms, OpenedSession, open_session};
use veil_client::sync::{LocalTree, sync};
use veil_client::wallet::{NoteStatus, SessionStatus, Wallet};
use veil_ledger::types::{EscrowState, Nullifier};
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_primitives::ids::SessionId;
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover};

const ESCROW: u64 = 256;

/// Forwards every connection accepted on its port to `to` until aborted;
/// aborting drops the listener and every forwarded connection.
async fn forwarder(to: SocketAddr) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut pipes = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            pipes.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, task)
}

/// Like [`forwarder`], but once `mute` is set every byte from the node is
/// dropped: requests still reach the node, responses are lost.
async fn lossy_forwarder(
    to: SocketAddr,
    mute: Arc<AtomicBool>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut pipes = tokio::task::JoinSet::new();
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(to).await else {
                continue;
            };
            let (mut in_r, mut in_w) = inbound.into_split();
            let (mut out_r, mut out_w) = outbound.into_split();
            pipes.spawn(async move {
                let _ = tokio::io::copy(&mut in_r, &mut out_w).await;
            });
            let mute = mute.clone();
            pipes.spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match out_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) if !mute.load(Ordering::SeqCst) => {
                            if in_w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (addr, task)
}

/// The node's terms once it accepts the wallet's current root.
async fn terms_for(conn: &mut NodeConnection, tree: &LocalTree) -> NodeTerms {
    for _ in 0..200 {
        let terms = conn.terms().await.unwrap();
        if terms.recent_roots.contains(&tree.root().inner()) {
            return terms;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node never learned the wallet's root");
}

fn spent_notes(w: &Wallet) -> usize {
    w.data
        .notes
        .iter()
        .filter(|n| n.status == NoteStatus::Spent)
        .count()
}

async fn escrows(ledger: &EmbeddedLedger) -> u64 {
    let l = ledger.clone();
    let report = tokio::task::spawn_blocking(move || veil_ledger::audit::audit(l.engine().store()))
        .await
        .unwrap()
        .unwrap();
    assert!(report.ok(), "{:?}", report.violations);
    report.escrows
}

/// A node on loopback over an in-memory ledger, and a synced wallet holding
/// three notes of exactly `ESCROW`.
struct Env {
    tmp: tempfile::TempDir,
    ledger: EmbeddedLedger,
    node: veil_node::NodeHandle,
    stop: tokio::sync::watch::Sender<bool>,
    prover: Prover,
    wallet_path: std::path::PathBuf,
    tree: LocalTree,
}

async fn env(seed: u64) -> (Env, Wallet, StdRng) {
    let mut rng = StdRng::seed_from_u64(seed);
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
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let node = veil_node::spawn(config, ledger.clone(), store, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    })
    .await
    .unwrap();
    let wallet_path = tmp.path().join("w.wallet");
    let sk = veil_primitives::keys::SpendingKey::random(&mut rng);
    let mut w = Wallet::create(&wallet_path, sk.inner(), [0x77u8; 32]).unwrap();
    for _ in 0..3 {
        veil_client::ops::deposit(&ledger, &mut w, ESCROW, true, &mut rng)
            .await
            .unwrap();
    }
    let mut tree = LocalTree::new();
    sync(&ledger, &mut w, &mut tree).await.unwrap();
    assert_eq!(spent_notes(&w), 0);
    let env = Env {
        tmp,
        ledger,
        node,
        stop,
        prover,
        wallet_path,
        tree,
    };
    (env, w, rng)
}

impl Env {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.node.join().await.ok();
        drop(self.tmp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_retry_of_the_same_intent_resends_the_persisted_token() {
    let (env, mut w, mut rng) = env(0xf6).await;
    let (ledger, node, prover, wallet_path, tree) = (
        &env.ledger,
        &env.node,
        &env.prover,
        &env.wallet_path,
        &env.tree,
    );
    // 1. The first attempt fails after the token was persisted.
    let (fwd_addr, fwd) = forwarder(node.local_addr).await;
    let mut flaky = NodeConnection::connect_plaintext(&format!("http://{fwd_addr}"))
        .await
        .unwrap();
    let terms = terms_for(&mut flaky, tree).await;
    fwd.abort();
    let _ = fwd.await;
    let first = open_session(
        &mut flaky, &terms, prover, &mut w, tree, ESCROW, "f6", &mut rng,
    )
    .await;
    assert!(first.is_err(), "the node was unreachable");
    // What a restarted client finds on disk: one Pending record, one note spent.
    let mut w = Wallet::open(wallet_path).unwrap();
    assert_eq!(w.data.sessions.len(), 1);
    let pending = w.data.sessions[0].clone();
    assert_eq!(pending.status, SessionStatus::Pending);
    assert_eq!(spent_notes(&w), 1);
    let nf = SessionId::from_fr(pending.nullifier.0);
    assert_eq!(ledger.get_escrow(nf).await.unwrap(), None);
    assert_eq!(escrows(ledger).await, 0);

    // 2. The retry of the same intent against the working node re-sends
    // the same token: same nullifier, one escrow, one note spent.
    let mut conn = NodeConnection::connect_plaintext(&format!("http://{}", node.local_addr))
        .await
        .unwrap();
    let opened = open_session(
        &mut conn, &terms, prover, &mut w, tree, ESCROW, "f6", &mut rng,
    )
    .await
    .unwrap();
    assert!(
        opened.resumed,
        "the persisted token was re-sent, not re-proved"
    );
    assert_eq!(opened.session_id, nf);
    let e = ledger.get_escrow(nf).await.unwrap().unwrap();
    assert_eq!(e.state, EscrowState::Open);
    assert_eq!(e.escrow, Value(ESCROW));
    assert_eq!(escrows(ledger).await, 1);
    let w = Wallet::open(wallet_path).unwrap();
    assert_eq!(w.data.sessions.len(), 1);
    assert_eq!(w.data.sessions[0].token, pending.token);
    assert_eq!(w.data.sessions[0].status, SessionStatus::Open);
    assert_eq!(spent_notes(&w), 1);

    // 3. Control: another intent spends another note.
    let mut w = w;
    let terms = terms_for(&mut conn, tree).await;
    let other = open_session(
        &mut conn, &terms, prover, &mut w, tree, ESCROW, "other", &mut rng,
    )
    .await
    .unwrap();
    assert!(!other.resumed);
    assert_ne!(other.session_id, nf);
    assert_eq!(escrows(ledger).await, 2);
    assert_eq!(spent_notes(&w), 2);
    assert_eq!(w.data.sessions.len(), 2);

    // 4. The same intent after its session opened: only a Pending record is
    // re-sent (`open_session` docs), so this is a new session on a new note.
    let again = open_session(
        &mut conn, &terms, prover, &mut w, tree, ESCROW, "f6", &mut rng,
    )
    .await
    .unwrap();
    assert!(!again.resumed);
    assert_ne!(again.session_id, nf);
    assert_ne!(again.session_id, other.session_id);
    assert_eq!(escrows(ledger).await, 3);
    assert_eq!(spent_notes(&w), 3);
    assert_eq!(
        ledger.get_escrow(nf).await.unwrap().map(|e| e.state),
        Some(EscrowState::Open),
        "the first session is untouched"
    );

    env.shutdown().await;
}

/// Returns once the wallet file names a pending session whose escrow is
/// open on the ledger; panics after two minutes.
async fn escrow_of_pending_session_opens(ledger: &EmbeddedLedger, wallet_path: &std::path::Path) {
    let watch = async {
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let Ok(w) = Wallet::open(wallet_path) else {
                continue;
            };
            let Some(s) = w.data.sessions.first() else {
                continue;
            };
            let nf = SessionId::from_fr(s.nullifier.0);
            if ledger.get_escrow(nf).await.unwrap().is_some() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), watch)
        .await
        .expect("the node opened the escrow");
}

/// F6 "after a timeout": the node receives `OpenSession`, the ledger opens
/// the escrow, but the response never reaches the client, which gives up.
/// The retry of the same intent then re-sends the same token. Checks the
/// safety half (one escrow, one spent note, the same token) and returns the
/// node's answer to the retry, with the session id the token names.
async fn lost_response_then_retry(
    seed: u64,
) -> (Result<OpenedSession, ClientError>, SessionId, Wallet, Env) {
    let (env, mut w, mut rng) = env(seed).await;
    let (ledger, prover, wallet_path, tree) =
        (&env.ledger, &env.prover, &env.wallet_path, &env.tree);
    let mute = Arc::new(AtomicBool::new(false));
    let (fwd_addr, fwd) = lossy_forwarder(env.node.local_addr, mute.clone()).await;
    let mut lossy = NodeConnection::connect_plaintext(&format!("http://{fwd_addr}"))
        .await
        .unwrap();
    let terms = terms_for(&mut lossy, tree).await;
    mute.store(true, Ordering::SeqCst);
    // The client gives up once the escrow is open on the ledger (an event,
    // not a clock: proving may take seconds on a loaded machine).
    let call = open_session(
        &mut lossy, &terms, prover, &mut w, tree, ESCROW, "f6", &mut rng,
    );
    tokio::select! {
        r = call => panic!("the response was dropped, yet the call returned (ok: {})", r.is_ok()),
        () = escrow_of_pending_session_opens(ledger, wallet_path) => {}
    }
    drop(lossy);
    fwd.abort();
    let _ = fwd.await;
    let mut w = Wallet::open(wallet_path).unwrap();
    let pending = w.data.sessions[0].clone();
    assert_eq!(pending.status, SessionStatus::Pending);
    let nf = SessionId::from_fr(pending.nullifier.0);
    // The request did reach the node: the ledger opened the escrow.
    let mut opened = None;
    for _ in 0..100 {
        opened = ledger.get_escrow(nf).await.unwrap();
        if opened.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(opened.map(|e| e.state), Some(EscrowState::Open));

    let mut conn = NodeConnection::connect_plaintext(&format!("http://{}", env.node.local_addr))
        .await
        .unwrap();
    let retry = open_session(
        &mut conn, &terms, prover, &mut w, tree, ESCROW, "f6", &mut rng,
    )
    .await;
    let w = Wallet::open(wallet_path).unwrap();
    assert_eq!(w.data.sessions.len(), 1);
    assert_eq!(w.data.sessions[0].token, pending.token);
    assert_eq!(spent_notes(&w), 1);
    assert_eq!(escrows(ledger).await, 1);
    assert!(
        ledger
            .nullifier_spent(Nullifier::from_fr(pending.nullifier.0))
            .await
            .unwrap()
    );
    (retry, nf, w, env)
}

/// Safety of F6 when the response is lost: whatever the node answers the
/// retry, no second escrow and no second nullifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_retry_after_a_lost_response_spends_nothing_more() {
    let (retry, nf, _, env) = lost_response_then_retry(0xf7).await;
    if let Ok(o) = &retry {
        assert_eq!(o.session_id, nf);
        assert!(o.resumed);
    }
    env.shutdown().await;
}

/// Liveness of F6 when the response is lost: the retry resumes the session
/// the node installed (an `OpenSession` of an installed session with the
/// same session key returns the same terms, `docs/protocol.md` §9.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f6_retry_after_a_lost_response_resumes_the_session() {
    let (retry, nf, w, env) = lost_response_then_retry(0xf8).await;
    let o = retry.unwrap();
    assert_eq!(o.session_id, nf);
    assert!(o.resumed);
    assert_eq!(w.data.sessions[0].status, SessionStatus::Open);
    env.shutdown().await;
}
