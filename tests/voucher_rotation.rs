//! Voucher key rotation end to end over real gRPC on 127.0.0.1 (issue 17,
//! `docs/vouchers.md` §3.1–§3.2, `docs/node.md` "Rotating the voucher
//! key"): a client buys vouchers under the key the node's ledger profile
//! publishes, `rotate_voucher_key` (what `veil node rotate-voucher-key`
//! runs) rotates the key of the running node, and credentials of the
//! previous epoch are spent and exchanged inside the grace period and
//! refused after it, with nothing recorded, and the node unlists the
//! expired key from its profile. A node that hands out another
//! key than the one it publishes is refused by the client.
//!
//! The ledger is embedded (shared with the node) with its fake proof
//! verifier, as in `voucher_grpc.rs`; waits are bounded guards, never
//! measurements.

#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{World, echo_server};
use rand::rngs::OsRng;
use tonic::Code;
use veil_client::session::NodeConnection;
use veil_client::vouchers::{self as cv, PaidSession, VoucherError, VoucherTerms, VoucherWallet};
use veil_ledger::LedgerApi;
use veil_ledger::profile::{NodeProfile, PublishedVoucherKey};
use veil_ledger::types::{NodeRecord, NodeTerms, NodeUpdate};
use veil_node::voucher_keys::PREVIOUS_FILE;
use veil_proto::node::v1 as pb;
use veil_vouchers::{Balance, Credential, Epoch, IssuerSecretKey};

/// A guard against a hung test only.
const WAIT: Duration = Duration::from_secs(60);

/// The node's ledger record and the profile it publishes.
async fn published(world: &World) -> (NodeRecord, NodeProfile) {
    let record = world
        .ledger
        .get_node(world.node.node_id)
        .await
        .expect("read")
        .expect("registered");
    let profile = record.profile().expect("parses").expect("profile");
    (record, profile)
}

/// The epochs the node's profile lists, newest first.
async fn listed_epochs(world: &World) -> Vec<u64> {
    let (_, profile) = published(world).await;
    profile.voucher_keys.iter().map(|k| k.epoch).collect()
}

async fn connection(world: &World) -> NodeConnection {
    NodeConnection::connect_plaintext(&format!("http://{}", world.node.local_addr))
        .await
        .expect("connect")
}

/// The node's voucher terms, checked against its ledger profile.
async fn published_terms(world: &World) -> Result<VoucherTerms, VoucherError> {
    VoucherTerms::fetch_published(&mut connection(world).await, &world.ledger).await
}

/// Opens a session and buys a voucher for its whole credit under the
/// published key.
async fn buy(world: &World) -> Credential {
    let session = world.session().await;
    let opened = world.open(&session).await.expect("session");
    let terms = published_terms(world).await.expect("published key");
    cv::buy(
        &mut world.client().await,
        &terms,
        PaidSession {
            session_id: opened.session_id.as_slice().try_into().expect("32 bytes"),
            session_key: &session.key,
            credit_kib: opened.credit_kib,
        },
        &mut OsRng,
    )
    .await
    .expect("bought")
}

/// Rotates the running node's voucher key and waits until it issues under
/// the new one; returns the terms then.
async fn rotate(world: &World) -> VoucherTerms {
    let r = veil_node::rotate_voucher_key(&world.ledger, world.dir.path())
        .await
        .expect("rotation");
    let deadline = Instant::now() + WAIT;
    loop {
        let terms = published_terms(world).await.expect("published");
        if terms.key == r.next {
            return terms;
        }
        assert!(Instant::now() < deadline, "the node never promoted its key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn spends_accepted(world: &World) -> u64 {
    world
        .client()
        .await
        .status(pb::StatusRequest {})
        .await
        .expect("status")
        .into_inner()
        .voucher_spends
}

/// One voucher-paid stream of `kib` to the echo server, on a fresh
/// connection (the client picks a previous-epoch credential first).
async fn spend(
    world: &World,
    terms: &VoucherTerms,
    wallet: &mut VoucherWallet,
    kib: u64,
    port: u16,
) -> Result<cv::VoucherStream, VoucherError> {
    let amount = Balance::from_kib(kib);
    let mut node = world.client().await;
    cv::open_stream(
        &mut node,
        terms,
        wallet,
        amount,
        "127.0.0.1",
        port,
        &mut OsRng,
    )
    .await
}

fn epochs(wallet: &VoucherWallet) -> Vec<u64> {
    wallet
        .credentials()
        .iter()
        .map(|c| c.epoch().get())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_epoch_spends_and_exchanges_are_accepted_inside_the_grace_period() {
    let world = World::new().await;
    let port = echo_server().await;
    let wallets = tempfile::tempdir().expect("tempdir");
    let mut wallet = VoucherWallet::open(&wallets.path().join("w")).expect("wallet");
    let before = published_terms(&world).await.expect("published");
    assert_eq!((before.key.epoch(), before.previous), (Epoch::new(0), None));
    wallet.add(buy(&world).await).expect("store");
    wallet.add(buy(&world).await).expect("store");
    let credit = wallet.credentials()[0].balance();

    let after = rotate(&world).await;
    assert_eq!(after.key.epoch(), Epoch::new(1));
    assert_eq!(after.previous, Some(before.key), "the profile lists both");
    let (_, profile) = published(&world).await;
    assert_eq!(listed_epochs(&world).await, vec![1, 0]);
    assert_eq!(
        profile.voucher_grace_secs,
        veil_node::voucher_keys::DEFAULT_GRACE_SECS
    );

    // Inside the grace period: a previous-epoch spend is accepted and the
    // rest re-issued under the new key.
    let stream = spend(&world, &after, &mut wallet, 10, port)
        .await
        .expect("accepted");
    assert_eq!(stream.amount, Balance::from_kib(10));
    let mut got = epochs(&wallet);
    got.sort_unstable();
    assert_eq!(got, vec![0, 1], "one credential moved to epoch 1");
    drop(stream);
    assert_eq!(spends_accepted(&world).await, 1);

    // Exchange: the other previous-epoch credential, same balance, epoch 1.
    let moved = cv::exchange_previous(&mut world.client().await, &after, &mut wallet, &mut OsRng)
        .await
        .expect("exchanged");
    assert_eq!(moved, credit);
    assert_eq!(epochs(&wallet), vec![1, 1]);
    assert_eq!(
        wallet.balance(None),
        Balance::from_kib(2 * credit.kib() - 10)
    );
    // A current-epoch credential is not exchanged (the node's refusal of
    // one is tested in crates/node/src/voucher_desk.rs).
    assert!(
        cv::exchange_one(
            &mut world.client().await,
            &after,
            &mut wallet,
            0,
            &mut OsRng
        )
        .await
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_epoch_spends_are_refused_after_the_grace_period_with_nothing_recorded() {
    let world = World::with(|c| c.voucher_grace_secs = 2).await;
    let port = echo_server().await;
    let wallets = tempfile::tempdir().expect("tempdir");
    let mut wallet = VoucherWallet::open(&wallets.path().join("w")).expect("wallet");
    wallet.add(buy(&world).await).expect("store");
    wallet.add(buy(&world).await).expect("store");
    let after = rotate(&world).await;
    assert!(world.dir.path().join(PREVIOUS_FILE).exists(), "in grace");
    // Wait past the grace end: the node deletes the previous key then.
    let deadline = Instant::now() + WAIT;
    while world.dir.path().join(PREVIOUS_FILE).exists() {
        assert!(Instant::now() < deadline, "the grace period never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and unlists it from its profile without a restart.
    loop {
        let listed = listed_epochs(&world).await;
        if listed == [1] {
            break;
        }
        assert_eq!(listed, [1, 0], "only the expired epoch may go");
        assert!(Instant::now() < deadline, "the expired key stays published");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let accepted = spends_accepted(&world).await;

    // A spend of a previous-epoch credential: refused with its own code.
    match spend(&world, &after, &mut wallet, 10, port).await {
        Err(VoucherError::Refused { code, message }) => {
            assert_eq!(code, pb::ErrorCode::VoucherEpochExpired, "{message}");
            assert!(message.contains("grace period ended"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(spends_accepted(&world).await, accepted, "nothing recorded");
    assert_eq!(
        epochs(&wallet),
        vec![0],
        "the client drops the worthless one"
    );

    // An exchange: FAILED_PRECONDITION, nothing changes.
    match cv::exchange_previous(&mut world.client().await, &after, &mut wallet, &mut OsRng).await {
        Err(VoucherError::Rpc(status)) => {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            assert!(
                status.message().contains("grace period ended"),
                "{status:?}"
            );
        }
        other => panic!("expected FAILED_PRECONDITION, got {other:?}"),
    }
    assert_eq!(epochs(&wallet), vec![0]);
    assert_eq!(spends_accepted(&world).await, accepted);

    // A credential of the new epoch is spent as usual.
    let mut fresh = VoucherWallet::open(&wallets.path().join("fresh")).expect("wallet");
    fresh.add(buy(&world).await).expect("store");
    let stream = spend(&world, &after, &mut fresh, 10, port).await;
    assert!(stream.is_ok(), "{stream:?}");
    assert_eq!(spends_accepted(&world).await, accepted + 1);
}

/// A node whose ledger profile publishes another key than the one it
/// issues under (a key for some clients only) is refused before a purchase.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_issuing_under_an_unpublished_key_is_refused() {
    let world = World::new().await;
    let honest = published_terms(&world).await.expect("published");
    // The node's own keys sign a profile listing a key it does not use.
    let dir = world.dir.path();
    let node_key = veil_node::keys::load_or_create_node_key(dir).expect("node key");
    let account_key = veil_node::keys::load_or_create_account_key(dir).expect("account key");
    let (record, mut profile) = published(&world).await;
    let decoy = IssuerSecretKey::generate(Epoch::new(0), &mut OsRng);
    profile.voucher_keys = vec![PublishedVoucherKey {
        epoch: 0,
        public_key: decoy.public_key().w_bytes(),
        proof: decoy.published_proof(&honest.node_id).to_bytes(),
    }];
    let terms = NodeTerms {
        profile: profile.encode().expect("encodes"),
        ..record.terms()
    };
    let account = account_key.verifying_key().account_id();
    let nonce = world
        .ledger
        .account(account)
        .await
        .expect("account")
        .next_nonce;
    let update = NodeUpdate::sign(&node_key, &account_key, nonce, &record, terms);
    world.ledger.update_node(update).await.expect("updated");

    match published_terms(&world).await {
        Err(VoucherError::Unpublished { epoch: 0, why }) => {
            assert!(why.contains("another key"), "{why}");
        }
        other => panic!("expected Unpublished, got {other:?}"),
    }
}
