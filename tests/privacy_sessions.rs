//! What the node and the public ledger learn about sessions
//! (docs/protocol.md §1 privacy goals, §7 access tokens, §9 settlement).
//!
//! Over real gRPC on 127.0.0.1, with a Groth16-verifying embedded ledger,
//! a real node and two wallets (alice opens two sessions, bob one), every
//! byte the node receives in `OpenSession` (the access token and session
//! public key exactly as the client sends them: the wallet persists them
//! before sending, `veil_client::session::open_session`), every file the
//! node stores, its status, the public ledger records and the captured log
//! output are searched for the wallets' linking data:
//!
//! - (a) no wallet account id, deposit commitment or deposit leaf index
//!   reaches the node;
//! - (b) two sessions of one wallet look like sessions of two wallets: same
//!   token length, same escrow, and no token field shared except the
//!   node-chosen ones;
//! - (c) settled escrows carry no per-session bytes, payment or refund,
//!   only the node's total is public;
//! - (d) no log line pairs a session id with a peer address;
//! - (e) the public observer (issue 8 §2): reading every public record over
//!   gRPC (every escrow, every commitment, the node's total `T`) and
//!   trying every refund a settlement can produce under every refund-note
//!   formula computable from public data, it recovers no session's bytes —
//!   while the same attack recovers every session's bytes from the former
//!   formula `H(NOTE, E − pay, addr_r)`; and each wallet still finds its
//!   refunds (§5.4, §6).

use std::collections::HashSet;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::OsRng;
use tokio::net::TcpListener;
use veil_client::flow::{LiveSession, finish_session, start_session};
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::sync::{LocalTree, sync};
use veil_client::wallet::{NoteOrigin, NoteRecord, Wallet};
use veil_ledger::types::{Escrow, EscrowState, NoteCommitment};
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger};
use veil_primitives::Fr;
use veil_primitives::field::fr_to_bytes;
use veil_primitives::ids::{AccountId, SessionId};
use veil_primitives::note::{Address, Rho};
use veil_primitives::poseidon::{DomainTag, hash_tagged};
use veil_primitives::value::Value;
use veil_proofs::{AccessToken, CircuitId, ParamStore, Prover};

const PRICE_PER_KIB: u64 = 1;
const ESCROW: u64 = 1024;
/// Body size fetched through each session.
const FETCH: usize = 48 * 1024;
/// Unrelated deposits made first, so the wallets' leaf indices are large
/// numbers whose 8-byte encodings cannot occur by chance in small counters.
const FILLER_DEPOSITS: u64 = 97;

/// A log sink shared by every thread of the test (the node's tasks run on
/// the runtime's worker threads, so the subscriber is the global default).
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuf {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}

#[path = "support/http.rs"]
mod http;
#[path = "support/log_scan.rs"]
mod log_scan;
use http::{fetch, http_server};
use log_scan::Needle;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every file under `dir`, recursively.
fn read_tree(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            read_tree(&p, out);
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

/// The wallet's deposit notes: (commitment bytes, leaf index).
fn deposits(w: &Wallet) -> Vec<([u8; 32], u64)> {
    let owner = w.spending_key().owner_key();
    w.data
        .notes
        .iter()
        .filter(|n| n.origin == NoteOrigin::Deposit)
        .map(|n: &NoteRecord| {
            let cm = NoteRecord::commitment_for(&owner, n.value, &n.rho());
            (cm.to_bytes(), n.leaf.expect("deposit found in the tree"))
        })
        .collect()
}

/// Token fields by the layout of [`AccessToken::to_bytes`].
const FIELDS: [(&str, std::ops::Range<usize>); 10] = [
    ("version", 0..1),
    ("root", 1..33),
    ("nullifier", 33..65),
    ("cm_change", 65..97),
    ("escrow", 97..105),
    ("node_id", 105..137),
    ("session_key_hash", 137..169),
    ("refund_owner", 169..201),
    ("expiry", 201..209),
    ("proof", 209..337),
];

/// Names of the token fields equal in `a` and `b`.
fn shared_fields(a: &[u8], b: &[u8]) -> Vec<&'static str> {
    FIELDS
        .iter()
        .filter(|(_, r)| a[r.clone()] == b[r.clone()])
        .map(|(n, _)| *n)
        .collect()
}

/// Refund-note addresses a public observer can compute for an escrow: the
/// former formula (the refund address itself, then `addr_r`, now `rk`) and
/// the obvious blindings by public values (`h_S`, the session id, tags
/// over them, the reclaim's `ρ`). The real one, `H(ADDR, rk, H(REFUND, S))`,
/// needs the session key `S`, which is not public.
fn public_refund_addresses(e: &Escrow) -> Vec<(&'static str, Address)> {
    let (rk, sid, h_s) = (
        e.refund_owner.inner(),
        e.session_id.inner(),
        e.session_key_hash.inner(),
    );
    let addr = |rho: Fr| Address::from_fr(hash_tagged(DomainTag::Addr, &[rk, rho]));
    vec![
        ("former: addr_r itself", Address::from_fr(rk)),
        ("H(ADDR, rk, h_S)", addr(h_s)),
        ("H(ADDR, rk, sid)", addr(sid)),
        ("H(ADDR, rk, 0)", addr(Fr::from(0u64))),
        (
            "H(ADDR, rk, H(REFUND, sid))",
            addr(hash_tagged(DomainTag::Refund, &[sid])),
        ),
        (
            "H(ADDR, rk, H(REFUND, h_S))",
            addr(hash_tagged(DomainTag::Refund, &[h_s])),
        ),
        (
            "H(ADDR, rk, H(RECLAIM, sid))",
            addr(hash_tagged(DomainTag::Reclaim, &[sid])),
        ),
        ("addr = h_S", Address::from_fr(h_s)),
    ]
}

/// The observer's attack on one escrow: for every public address formula
/// and every `k = 0..=⌊E/price⌋` (each refund `E − k·price`, then 0), is
/// `H(NOTE, E − min(k·price, E), addr)` among `leaves`? Returns the
/// `(formula, k)` recovered.
fn observer_attack(e: &Escrow, leaves: &HashSet<[u8; 32]>) -> Vec<(&'static str, u64)> {
    let (escrow, price) = (e.escrow.0, e.price_per_kib.0);
    let mut found = Vec::new();
    for (formula, addr) in public_refund_addresses(e) {
        for k in 0..=escrow / price + 1 {
            let refund = escrow - (k * price).min(escrow);
            let cm = NoteCommitment::from_value_and_address(Value(refund), &addr);
            if leaves.contains(&cm.to_bytes()) {
                found.push((formula, k));
            }
        }
    }
    found
}

#[test]
fn shared_fields_detects_a_reused_field() {
    // The check of (b) is not vacuous: a reused refund address is reported.
    let a = vec![1u8; AccessToken::BYTES];
    let mut b = vec![2u8; AccessToken::BYTES];
    b[169..201].copy_from_slice(&a[169..201]);
    assert_eq!(shared_fields(&a, &b), vec!["refund_owner"]);
}

#[test]
fn the_node_and_the_ledger_learn_no_wallet_data() {
    let logs = LogBuf::default();
    let sink = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_env_filter(log_scan::TRACE_FILTER)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario(logs));
}

async fn scenario(logs: LogBuf) {
    let t0 = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap();
    let prover = Prover::from_store(&store, &[CircuitId::Access], None).unwrap();
    eprintln!("[{:?}] prover loaded", t0.elapsed());
    let ledger =
        EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet()).unwrap();

    // Unrelated deposits first.
    let filler_key = veil_primitives::eddsa::SigningKey::generate(&mut OsRng);
    let filler = filler_key.verifying_key().account_id();
    ledger.faucet(filler, Value(FILLER_DEPOSITS)).await.unwrap();
    for _ in 0..FILLER_DEPOSITS {
        let a = Address::derive(
            &veil_primitives::keys::SpendingKey::random(&mut OsRng).owner_key(),
            &Rho::random(&mut OsRng),
        );
        veil_ledger::testing::deposit(ledger.engine(), &filler_key, Value(1), a).unwrap();
    }

    eprintln!("[{:?}] filler deposits done", t0.elapsed());
    // -- node
    let node_dir = tmp.path().join("node");
    let mut config = veil_node::NodeConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        node_dir.clone(),
        Value(PRICE_PER_KIB),
        vec![Value(ESCROW)],
    );
    config.transport = veil_node::Transport::InsecurePlaintext;
    config.receipt_interval_kib = 16;
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

    // -- two wallets, one deposit each (room for two sessions)
    let mut wallets = Vec::new();
    for i in 0..2u64 {
        let sk = veil_primitives::keys::SpendingKey::random(&mut OsRng);
        let mut w = Wallet::create(
            &tmp.path().join(format!("w{i}.wallet")),
            sk.inner(),
            rand::random::<[u8; 32]>(),
        )
        .unwrap();
        veil_client::ops::deposit(&ledger, &mut w, 3 * ESCROW, true, &mut OsRng)
            .await
            .unwrap();
        wallets.push((w, LocalTree::new()));
    }

    // -- sessions: alice ×2, bob ×1; each fetches FETCH bytes through SOCKS5
    let plan = [(0usize, "a1"), (1, "b1"), (0, "a2")];
    let mut live: Vec<(usize, LiveSession)> = Vec::new();
    let mut sent: Vec<(usize, Vec<u8>, Vec<u8>)> = Vec::new(); // (wallet, token, session pk)
    for (wi, intent) in plan {
        let (w, tree) = &mut wallets[wi];
        let mut conn = NodeConnection::connect_plaintext(&node_url).await.unwrap();
        let l = start_session(
            &ledger, &mut conn, &prover, w, tree, ESCROW, intent, &mut OsRng,
        )
        .await
        .unwrap();
        // The exact bytes `open_session` sent: the persisted token and S.
        let rec = w.data.sessions.iter().find(|s| s.intent == intent).unwrap();
        let token = hex::decode(&rec.token).unwrap();
        let pk = l.session.session_key.verifying_key().to_bytes().to_vec();
        assert_eq!(
            AccessToken::from_bytes(&token).unwrap().session_id(),
            l.session.session_id
        );
        let (relay_tx, relay_rx) = tokio::sync::watch::channel(Some(l.relay.clone()));
        let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let socks_addr = socks.local_addr().unwrap();
        tokio::spawn(serve(socks, Payer::Session(relay_rx), stop_rx.clone()));
        let body = fetch(socks_addr, dest, FETCH).await;
        assert_eq!(body.len(), FETCH);
        assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        tokio::time::sleep(Duration::from_millis(200)).await;
        l.relay.challenge().await.unwrap();
        drop(relay_tx);
        eprintln!("[{:?}] session {intent} done", t0.elapsed());
        sent.push((wi, token, pk));
        live.push((wi, l));
    }
    for (wi, l) in &live {
        finish_session(&mut wallets[*wi].0, l).unwrap();
    }
    for (w, tree) in wallets.iter_mut() {
        sync(&ledger, w, tree).await.unwrap();
    }

    // Escrow records as opened (public), then settle.
    let sids: Vec<SessionId> = live.iter().map(|(_, l)| l.session.session_id).collect();
    let mut opened: Vec<Escrow> = Vec::new();
    for sid in &sids {
        let e = ledger.get_escrow(*sid).await.unwrap().unwrap();
        assert_eq!(e.state, EscrowState::Open);
        opened.push(e);
    }
    let report = node.settle_now().await.unwrap();
    eprintln!("[{:?}] settled", t0.elapsed());
    assert_eq!(report.sessions, 3);
    let status = node.status();
    let _ = stop_tx.send(true);
    node.join().await.ok();

    // ---------- (a) nothing the node received or stored names a wallet
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, (w, _)) in wallets.iter().enumerate() {
        secrets.push((
            format!("account of wallet {i}"),
            fr_to_bytes(&w.account().inner()).to_vec(),
        ));
        let ds = deposits(w);
        assert!(!ds.is_empty());
        for (cm, leaf) in ds {
            assert!(leaf >= FILLER_DEPOSITS, "leaf {leaf} is after the filler");
            secrets.push((format!("deposit commitment of wallet {i}"), cm.to_vec()));
            secrets.push((
                format!("deposit leaf {leaf} of wallet {i}"),
                leaf.to_be_bytes().to_vec(),
            ));
        }
    }
    let mut received: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, (_, token, pk)) in sent.iter().enumerate() {
        received.push((format!("token {k}"), token.clone()));
        received.push((format!("session key {k}"), pk.clone()));
    }
    let mut files = Vec::new();
    read_tree(&node_dir, &mut files);
    assert!(!files.is_empty(), "the node stores its sessions");
    let node_files: std::collections::HashSet<String> =
        files.iter().map(|(p, _)| p.clone()).collect();
    received.extend(files);
    received.push(("node status".into(), format!("{status:?}").into_bytes()));
    let log_text = logs.text();
    received.push(("logs".into(), log_text.clone().into_bytes()));
    for (what, hay) in &received {
        for (name, needle) in &secrets {
            // A leaf index is a small integer: its 8-byte encoding (seven
            // zero bytes and one or two more) occurs by chance in any
            // binary file with a small little-endian integer before a
            // random byte (seen with leaf 97 in redb pages and in
            // `voucher.key`, epoch 1 then the scalar). It is searched raw
            // in everything the node received and logged and in its text
            // files, and as hex in every file; 32-byte accounts and
            // commitments are searched raw everywhere.
            let binary_file = node_files.contains(what) && std::str::from_utf8(hay).is_err();
            let weak = name.starts_with("deposit leaf");
            if !(binary_file && weak) {
                assert!(!contains(hay, needle), "{name} found in {what}");
            }
            // Also as hex, in text files and logs.
            assert!(
                !contains(hay, hex::encode(needle).as_bytes()),
                "{name} (hex) found in {what}"
            );
        }
    }
    // The search is not vacuous: the session ids the node must know are found.
    let all_files: Vec<u8> = received.iter().flat_map(|(_, b)| b.clone()).collect();
    for sid in &sids {
        let b = sid.to_bytes();
        assert!(contains(&all_files, &b) || contains(&all_files, hex::encode(b).as_bytes()));
    }

    // ---------- (b) two sessions of one wallet ≈ sessions of two wallets
    let (a1, b1, a2) = (&sent[0].1, &sent[1].1, &sent[2].1);
    assert_eq!(a1.len(), AccessToken::BYTES);
    assert_eq!(a1.len(), a2.len());
    assert_eq!(a1.len(), b1.len());
    for (_, _, pk) in &sent {
        assert_eq!(pk.len(), sent[0].2.len());
    }
    let escrows: Vec<u64> = opened.iter().map(|e| e.escrow.0).collect();
    assert_eq!(escrows, vec![ESCROW; 3]);
    // Fields that may coincide across sessions are the ones fixed by the
    // node's terms (version, E, node id) or by time (root, expiry); every
    // field derived from the wallet differs, within one wallet as across two.
    let public_terms = ["version", "root", "escrow", "node_id", "expiry"];
    for (x, y, what) in [
        (a1, a2, "one wallet"),
        (a1, b1, "two wallets"),
        (a2, b1, "two wallets"),
    ] {
        let shared = shared_fields(x, y);
        assert!(shared.contains(&"node_id") && shared.contains(&"escrow"));
        for f in &shared {
            assert!(public_terms.contains(f), "{what}: tokens share {f}");
        }
    }
    assert_ne!(sent[0].2, sent[2].2, "one wallet reuses a session key");

    // ---------- (c) settled escrows carry no per-session amounts
    for (before, sid) in opened.iter().zip(&sids) {
        let after = ledger.get_escrow(*sid).await.unwrap().unwrap();
        // Exhaustive: a new field (e.g. a paid amount) breaks this test.
        let Escrow {
            session_id,
            node_id,
            escrow,
            price_per_kib,
            session_key_hash,
            refund_owner,
            expiry,
            cm_change,
            opened_at,
            state,
        } = after;
        assert_eq!(
            (
                session_id,
                node_id,
                escrow,
                price_per_kib,
                session_key_hash,
                refund_owner,
                expiry,
                cm_change,
                opened_at
            ),
            (
                before.session_id,
                before.node_id,
                before.escrow,
                before.price_per_kib,
                before.session_key_hash,
                before.refund_owner,
                before.expiry,
                before.cm_change,
                before.opened_at
            ),
            "settlement changed an opened escrow's public fields"
        );
        match state {
            // The refund is a hiding commitment; no kib, pay or refund value.
            EscrowState::Settled { cm_refund, .. } => {
                let b = cm_refund.to_bytes();
                for (_, l) in &live {
                    for kib in l.relay.signed_kibs() {
                        assert!(!contains(&b, &kib.to_be_bytes()));
                    }
                }
            }
            other => panic!("escrow {sid:?} not settled: {other:?}"),
        }
    }
    // Only the node's total T is public: its balance is the sum paid.
    assert_eq!(
        ledger.balance(node_account).await.unwrap().get(),
        report.total_paid.0
    );
    assert!(report.total_paid.0 >= 3 * (FETCH as u64 / 1024));

    // ---------- (e) the public observer, over gRPC, reads no session's bytes
    observer(&ledger, &sids, node_account, &mut wallets, &live).await;

    // ---------- (d) no log line pairs a session id with a peer address
    assert!(!log_text.is_empty(), "no log output captured");
    // (support/log_scan.rs: the id, or its first 4 bytes in either byte
    // order, on a line naming an address; tests/log_privacy.rs applies the
    // same search to the JSON logs of every process of a run.)
    let needles: Vec<Needle> = sids
        .iter()
        .map(|sid| Needle::fr(&format!("{sid:?}"), &sid.inner()))
        .collect();
    for line in log_text.lines().filter(|l| log_scan::has_ipv4(l)) {
        let found = log_scan::scan(line, &needles);
        assert!(
            found.is_empty(),
            "log line pairs a session with a peer ({found:?}): {line}"
        );
    }
    eprintln!(
        "privacy_sessions: {} log lines, {} node files, settled {} sessions, T = {}",
        log_text.lines().count(),
        received.len() - 2 * sent.len() - 2,
        report.sessions,
        report.total_paid.0
    );
}

/// (e): plays the public observer against a gRPC view of the ledger, then
/// shows the same attack succeeding on the former refund formula, then
/// checks each wallet finds its own refunds.
async fn observer(
    ledger: &EmbeddedLedger,
    sids: &[SessionId],
    node_account: AccountId,
    wallets: &mut [(Wallet, LocalTree)],
    live: &[(usize, LiveSession)],
) {
    let (listener, addr) = veil_ledger::service::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    tokio::spawn(veil_ledger::service::serve(
        ledger.clone(),
        listener,
        std::future::pending(),
    ));
    let public = RemoteLedger::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    // Every public record: every escrow (GetEscrow), every commitment
    // (StreamCommitments), the node's total T (its public balance).
    let mut escrows = Vec::new();
    for sid in sids {
        escrows.push(public.get_escrow(*sid).await.unwrap().unwrap());
    }
    let mut leaves = HashSet::new();
    loop {
        let page = public.commitments(leaves.len() as u64, 1024).await.unwrap();
        if page.is_empty() {
            break;
        }
        leaves.extend(page.iter().map(|c| c.to_bytes()));
    }
    let total = public.balance(node_account).await.unwrap().get();
    let mut settled = Vec::new();
    for e in &escrows {
        let EscrowState::Settled { cm_refund, .. } = e.state else {
            panic!("not settled: {e:?}");
        };
        assert!(leaves.contains(&cm_refund.to_bytes()), "refund appended");
        settled.push(cm_refund);
        // The attack, on the real records: nothing recovered.
        assert_eq!(
            observer_attack(e, &leaves),
            vec![],
            "observer read {:?}",
            e.session_id
        );
    }

    // Each wallet finds its refunds (§6): the settled commitments, owned by
    // the sessions' refund keys, worth 3E − T in all.
    let mut refunds: Vec<(SessionId, u64)> = Vec::new();
    for (w, tree) in wallets.iter_mut() {
        let r = sync(ledger, w, tree).await.unwrap();
        assert_eq!(r.refunds_recovered_by_scan, 0, "found from saved receipts");
        let sk = w.spending_key();
        for s in &w.data.sessions {
            let note = w
                .data
                .notes
                .iter()
                .find(|n| n.origin == NoteOrigin::Refund && n.refund_key_rho == Some(s.refund_rho))
                .expect("refund found");
            assert!(settled.contains(&note.commitment(&sk)));
            refunds.push((s.session_id(), note.value));
        }
    }
    assert_eq!(refunds.len(), 3);
    assert_eq!(
        refunds.iter().map(|r| r.1).sum::<u64>(),
        3 * ESCROW - total,
        "refunds and T account for every escrow"
    );
    for (_, l) in live {
        assert!(!l.relay.signed_kibs().is_empty());
    }

    // The same attack on the former formula `H(NOTE, E − pay, addr_r)`
    // (what the ledger would have held for the same settlements): every
    // session's KiB is read off.
    let former: HashSet<[u8; 32]> = escrows
        .iter()
        .map(|e| {
            let refund = refunds.iter().find(|r| r.0 == e.session_id).unwrap().1;
            NoteCommitment::from_value_and_address(
                Value(refund),
                &Address::from_fr(e.refund_owner.inner()),
            )
            .to_bytes()
        })
        .collect();
    for e in &escrows {
        let refund = refunds.iter().find(|r| r.0 == e.session_id).unwrap().1;
        let kib = (ESCROW - refund) / PRICE_PER_KIB;
        assert_eq!(
            observer_attack(e, &former),
            vec![("former: addr_r itself", kib)],
            "the attack works on the former formula"
        );
    }
}
