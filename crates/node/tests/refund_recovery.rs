//! No refund lost when the client dies mid-session (`docs/protocol.md` §6):
//! receipts checkpointed while the relay runs are found by sync's candidate
//! path; receipts never saved are recovered by the full scan once the
//! session has expired; a record with the wrong terms finds nothing.
//! Node and client library over real gRPC on 127.0.0.1.
mod client_support;
mod common;

use std::time::Duration;

use client_support::*;
use common::*;
use rand::rngs::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veil_client::sync::{LocalTree, sync};
use veil_client::wallet::{HexFr, NoteOrigin, SessionRecord, SessionStatus, Wallet};
use veil_ledger::LedgerApi;
use veil_ledger::types::{EscrowState, NoteCommitment};
use veil_primitives::Fr;
use veil_primitives::keys::SpendingKey;
use veil_primitives::note::Rho;
use veil_primitives::refund::refund_spending_key;

/// A wallet file holding one `Open` session record for a harness session
/// whose refund owner is the wallet's refund key `H(REFUND_KEY, sk, ρ_r)`,
/// as after a crash: no receipt saved.
struct TestWallet {
    _dir: tempfile::TempDir,
    wallet: Wallet,
}

fn wallet_with_session(
    sk: u64,
    refund_rho: Rho,
    s: &Session,
    escrow: u64,
    price: u64,
) -> TestWallet {
    let dir = tempfile::tempdir().unwrap();
    let mut wallet = Wallet::create(&dir.path().join("w.wallet"), Fr::from(sk), [1u8; 32]).unwrap();
    wallet.data.sessions.push(SessionRecord {
        intent: "crashed".into(),
        node_id: HexFr(s.statement.node_id.inner()),
        escrow,
        price_per_kib: price,
        expiry: s.statement.expiry.0,
        spent_rho: HexFr(Fr::from(2u64)),
        nullifier: HexFr(s.statement.nullifier.inner()),
        change_rho: HexFr(Fr::from(3u64)),
        refund_rho: HexFr(refund_rho.inner()),
        session_seed: veil_client::wallet::HexSeed(*s.key.seed()),
        token: hex::encode(&s.token),
        receipts_kib: Vec::new(),
        status: SessionStatus::Open,
    });
    wallet.save().unwrap();
    TestWallet { _dir: dir, wallet }
}

/// A harness session refunding to the refund key of (`sk`, `refund_rho`).
async fn session_refunding_to(w: &World, sk: u64, refund_rho: &Rho) -> Session {
    let rk = refund_spending_key(&SpendingKey::from_fr(Fr::from(sk)), refund_rho).owner_key();
    w.session_with(|st| st.refund_owner = rk).await
}

/// Echoes `n` bytes through the SOCKS front end of `live` (both directions count).
async fn echo_traffic(live: &veil_client::flow::LiveSession, n: usize) {
    let proxy = socks(&live.relay).await;
    let port = echo_server().await;
    let mut sock = socks_connect(&proxy, port).await;
    // Round trips of 4 KiB: the client pays after it sends, so a burst must
    // stay within the node's unpaid allowance (one 16 KiB interval here).
    for chunk in vec![3u8; n].chunks(4096) {
        sock.write_all(chunk).await.unwrap();
        let mut back = vec![0u8; chunk.len()];
        tokio::time::timeout(Duration::from_secs(10), sock.read_exact(&mut back))
            .await
            .expect("echo in time")
            .unwrap();
    }
    drop(sock);
    wait_receipts_acked(&live.relay).await;
}

/// The ledger's refund commitment for a settled session.
async fn settled_refund(w: &World, s: &Session) -> NoteCommitment {
    match w.ledger.get_escrow(s.id()).await.unwrap().unwrap().state {
        EscrowState::Settled { cm_refund, .. } => cm_refund,
        other => panic!("escrow not settled: {other:?}"),
    }
}

#[tokio::test]
async fn unsaved_receipts_refund_found_by_scan_after_expiry() {
    const SK: u64 = 0x5eed;
    let w = World::new().await;
    let refund_rho = Rho::random(&mut OsRng);
    let s = session_refunding_to(&w, SK, &refund_rho).await;
    let live = live_session(&w, &s).await;
    echo_traffic(&live, 24 * 1024).await;
    let signed = live.relay.signed_kibs();
    let kib = *signed.last().expect("receipts were signed");
    // The client dies here: nothing recorded in any wallet.
    live.relay.close();
    let report = w.node.settle_now().await.unwrap();
    assert_eq!(report.sessions, 1);
    let cm_refund = settled_refund(&w, &s).await;
    let expected = ESCROW - kib * PRICE;

    let mut good = wallet_with_session(SK, refund_rho, &s, ESCROW, PRICE);
    // The same session recorded with the wrong price (its candidates are
    // only E and 0), and with the wrong escrow (odd: every candidate
    // E' − 2k is odd, the real refund E − 2·kib is even and non-zero).
    assert!(expected > 0 && expected < ESCROW);
    let mut bad_price = wallet_with_session(SK, refund_rho, &s, ESCROW, ESCROW + 1);
    let mut bad_escrow = wallet_with_session(SK, refund_rho, &s, ESCROW - 1, PRICE);

    // Before expiry the session might still be in use: no scan, nothing found.
    let mut tree = LocalTree::new();
    let r = sync(&w.ledger, &mut good.wallet, &mut tree).await.unwrap();
    assert!(r.refunds_found.is_empty(), "{r:?}");
    assert_eq!(good.wallet.data.sessions[0].status, SessionStatus::Open);

    w.ledger.advance(s.statement.expiry.0 + 1).await.unwrap();
    let r = sync(&w.ledger, &mut good.wallet, &mut tree).await.unwrap();
    assert_eq!(r.refunds_found, vec![expected]);
    assert_eq!(r.refunds_recovered_by_scan, 1);
    // The recovered note is exactly the one the node's settlement appended.
    let reloaded = Wallet::open(good.wallet.path()).unwrap();
    assert_eq!(reloaded.data.sessions[0].status, SessionStatus::Finished);
    let note = reloaded
        .data
        .notes
        .iter()
        .find(|n| n.origin == NoteOrigin::Refund)
        .expect("refund note saved");
    assert_eq!(note.value, expected);
    // Owned by the session's refund key, which spends it.
    assert_eq!(note.refund_key_rho, Some(HexFr(refund_rho.inner())));
    assert_eq!(note.commitment(&reloaded.spending_key()), cm_refund);
    assert_eq!(tree.find(&cm_refund), note.leaf);

    // Negative: wrong terms in the record hash to other commitments.
    for (bad, what) in [(&mut bad_price, "price"), (&mut bad_escrow, "escrow")] {
        let mut tree = LocalTree::new();
        let r = sync(&w.ledger, &mut bad.wallet, &mut tree).await.unwrap();
        assert!(r.refunds_found.is_empty(), "wrong {what} found {r:?}");
        assert_eq!(r.refunds_recovered_by_scan, 0);
        assert_eq!(bad.wallet.data.sessions[0].status, SessionStatus::Open);
    }
}

#[tokio::test]
async fn checkpoint_saves_receipts_and_sync_finds_the_refund_without_scan() {
    const SK: u64 = 0xc0ffee;
    let w = World::new().await;
    let refund_rho = Rho::random(&mut OsRng);
    let s = session_refunding_to(&w, SK, &refund_rho).await;
    let mut tw = wallet_with_session(SK, refund_rho, &s, ESCROW, PRICE);
    let live = live_session(&w, &s).await;
    let mut watch = live.relay.signed_watch();

    // Nothing signed yet: nothing to save.
    assert!(!live.checkpoint(&mut tw.wallet).unwrap());
    echo_traffic(&live, 16 * 1024).await;
    assert!(watch.has_changed().unwrap());
    let first = live.relay.signed_kibs();
    assert_eq!(*watch.borrow_and_update(), *first.last().unwrap());
    assert!(live.checkpoint(&mut tw.wallet).unwrap());
    let on_disk = Wallet::open(tw.wallet.path()).unwrap();
    assert_eq!(on_disk.data.sessions[0].receipts_kib, first);
    assert_eq!(on_disk.data.sessions[0].status, SessionStatus::Open);
    // No new receipt since: no rewrite.
    assert!(!live.checkpoint(&mut tw.wallet).unwrap());
    echo_traffic(&live, 8 * 1024).await;
    assert!(live.checkpoint(&mut tw.wallet).unwrap());
    let all = live.relay.signed_kibs();
    assert!(all.len() > first.len());
    assert_eq!(
        Wallet::open(tw.wallet.path()).unwrap().data.sessions[0].receipts_kib,
        all
    );

    // A wallet without this session's record cannot checkpoint it.
    let mut stranger = wallet_with_session(SK, refund_rho, &w.session().await, ESCROW, PRICE);
    assert!(live.checkpoint(&mut stranger.wallet).is_err());

    // Crash now (no finish_session): the checkpoint suffices, before expiry.
    live.relay.close();
    assert_eq!(w.node.settle_now().await.unwrap().sessions, 1);
    let cm_refund = settled_refund(&w, &s).await;
    let mut tree = LocalTree::new();
    let r = sync(&w.ledger, &mut tw.wallet, &mut tree).await.unwrap();
    assert_eq!(r.refunds_found, vec![ESCROW - all.last().unwrap() * PRICE]);
    assert_eq!(r.refunds_recovered_by_scan, 0);
    assert!(tree.find(&cm_refund).is_some());
}
