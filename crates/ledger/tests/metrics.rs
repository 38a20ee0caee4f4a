//! The ledger's metrics (docs/operations.md, "Ledger metrics") after real
//! calls over gRPC on loopback, rendered and read back with a Prometheus
//! scrape parser: accepted calls by op, refused ones by op and kind (a
//! double spend and a bad proof each move their counter and nothing
//! else), the store's gauges equal to what the ledger reports, and no
//! identifier anywhere on the page.
//!
//! One test in this file: the store's commit histogram is process-wide.

use std::collections::BTreeMap;
use std::sync::Arc;

use veil_ledger::metrics::LedgerMetrics;
use veil_ledger::service::{bind, serve_with_metrics};
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, RemoteLedger, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

const E: Value = Value(1_000);

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}

/// Every sample of a page: `name{label=value,…}` (labels sorted) → value.
fn samples(page: &str) -> BTreeMap<String, String> {
    let scrape = prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_owned())))
        .expect("a Prometheus scrape parser accepts the page");
    scrape
        .samples
        .iter()
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let value = match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v.to_string(),
                other => format!("{other:?}"),
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), value)
        })
        .collect()
}

/// The samples that differ between two pages: (key, before, after).
fn changed(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| ((*k).clone(), before.get(k).cloned(), after.get(k).cloned()))
        .collect()
}

fn value(s: &BTreeMap<String, String>, key: &str) -> f64 {
    s.get(key)
        .unwrap_or_else(|| panic!("{key} missing"))
        .parse()
        .expect("a number")
}

/// The only keys that may move when `op` is refused with `kind`.
fn only_refusal_moved(diff: &[(String, Option<String>, Option<String>)], op: &str, kind: &str) {
    let refused = format!("veil_ledger_requests_refused_total{{kind={kind},op={op}}}");
    let timed = format!("veil_ledger_request_seconds{{op={op}}}");
    let mut saw_refusal = false;
    for (k, before, after) in diff {
        if *k == refused {
            assert_eq!(before.as_deref().unwrap_or("0"), "0", "{k}");
            assert_eq!(after.as_deref(), Some("1"), "{k}");
            saw_refusal = true;
        } else {
            assert!(
                *k == timed
                    || *k == format!("veil_ledger_request_seconds_sum{{op={op}}}")
                    || *k == format!("veil_ledger_request_seconds_count{{op={op}}}"),
                "{k} moved on a refused {op}: {before:?} -> {after:?}"
            );
        }
    }
    assert!(saw_refusal, "{refused} did not move: {diff:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_accepted_and_refused_calls_and_mirror_the_store() {
    let ledger = EmbeddedLedger::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .unwrap();
    let metrics = Arc::new(LedgerMetrics::new());
    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with_metrics(
        ledger.clone(),
        metrics.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    let page = || samples(&metrics.render(ledger.engine().store()));
    let empty = page();
    assert_eq!(
        value(&empty, "veil_ledger_requests_accepted_total{op=deposit}"),
        0.0
    );
    assert_eq!(value(&empty, "veil_ledger_note_tree_leaves{}"), 0.0);

    // A node and a wallet, over gRPC: every call below is counted.
    let remote = RemoteLedger::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let (node_key, node_account_key, wallet_key) = (key(1), key(2), key(3));
    remote
        .faucet(node_account_key.verifying_key().account_id(), Value(1_000))
        .await
        .unwrap();
    let g = testing::registration(
        ledger.engine(),
        &node_key,
        &node_account_key,
        Value(2),
        vec![E],
        Value(100),
        [0; 32],
    )
    .unwrap();
    remote.register_node(g).await.unwrap();
    let wallet = wallet_key.verifying_key().account_id();
    remote.faucet(wallet, Value(100_000)).await.unwrap();
    let nonce = remote.account(wallet).await.unwrap().next_nonce;
    let d = DepositRequest::signed(&wallet_key, nonce, Value(10_000), Address::from_fr(fr(1)));
    remote.deposit(d).await.unwrap();
    let root = *remote.roots().await.unwrap().last().unwrap();
    let node = node_key.verifying_key().node_id();
    let token = |nf: u64, change: u64| AccessPublic {
        root,
        nullifier: Nullifier::from_fr(fr(nf)),
        cm_change: NoteCommitment::from_fr(fr(change)),
        escrow: E,
        node_id: node,
        session_key_hash: SessionKeyHash::from_fr(fr(502)),
        refund_owner: OwnerKey::from_fr(fr(503)),
        expiry: BlockHeight(10),
    };
    let e = remote
        .open_escrow(token(500, 501), FakeVerifier::valid_proof())
        .await
        .unwrap();

    let before = page();
    for (op, n) in [
        ("faucet", 2.0),
        ("register_node", 1.0),
        ("get_balance", 1.0),
        ("deposit", 1.0),
        ("get_roots", 1.0),
        ("open_escrow", 1.0),
        ("settle", 0.0),
    ] {
        let k = format!("veil_ledger_requests_accepted_total{{op={op}}}");
        assert_eq!(value(&before, &k), n, "{k}");
    }
    assert!(
        !before
            .keys()
            .any(|k| k.starts_with("veil_ledger_requests_refused_total")),
        "nothing refused yet"
    );
    assert_eq!(value(&before, "veil_ledger_escrows_open{}"), 1.0);
    assert_eq!(value(&before, "veil_ledger_nullifiers_spent{}"), 1.0);
    assert_eq!(value(&before, "veil_ledger_registered_nodes{}"), 1.0);
    assert_eq!(value(&before, "veil_ledger_escrowed_value{}"), E.0 as f64);
    assert_eq!(value(&before, "veil_ledger_staked_value{}"), 100.0);
    assert!(value(&before, "veil_ledger_store_commit_seconds_count{}") >= 5.0);

    // A double spend: the same nullifier in another token.
    assert_eq!(
        remote
            .open_escrow(token(500, 999), FakeVerifier::valid_proof())
            .await,
        Err(LedgerError::NullifierSpent)
    );
    let spent = page();
    only_refusal_moved(&changed(&before, &spent), "open_escrow", "nullifier_spent");

    // A bad proof on a fresh nullifier.
    assert_eq!(
        remote
            .open_escrow(token(600, 601), FakeVerifier::invalid_proof())
            .await,
        Err(LedgerError::InvalidProof)
    );
    let bad = page();
    only_refusal_moved(&changed(&spent, &bad), "open_escrow", "invalid_proof");

    // The node settles its session: one batch, no escrow left open.
    let s = key(77).verifying_key().point().to_affine();
    let refund = veil_primitives::refund::refund_note(Value(700), e.refund_owner, &s).commitment();
    let mut settle = SettleRequest {
        node_id: node,
        k: 1,
        session_ids: vec![e.session_id],
        total: Value(300),
        cm_refunds: vec![refund],
        proof: FakeVerifier::valid_proof(),
        authorisation: None,
    };
    testing::authorise_settle(ledger.engine(), &node_key, &mut settle).unwrap();
    remote.settle(settle).await.unwrap();
    let status = remote.status().await.unwrap();
    let after = page();
    assert_eq!(
        value(&after, "veil_ledger_requests_accepted_total{op=settle}"),
        1.0
    );
    assert_eq!(
        value(&after, "veil_ledger_requests_accepted_total{op=status}"),
        1.0
    );
    assert_eq!(value(&after, "veil_ledger_settled_batches{}"), 1.0);
    assert_eq!(value(&after, "veil_ledger_escrows_open{}"), 0.0);
    assert_eq!(value(&after, "veil_ledger_escrowed_value{}"), 0.0);
    assert_eq!(
        value(&after, "veil_ledger_note_tree_leaves{}"),
        status.commitment_count as f64
    );
    assert_eq!(
        value(&after, "veil_ledger_pool_value{}"),
        status.pool.0 as f64
    );
    assert_eq!(
        value(&after, "veil_ledger_minted_value{}"),
        status.minted.0 as f64
    );
    assert_eq!(
        value(&after, "veil_ledger_height{}"),
        status.height.0 as f64
    );
    assert_eq!(value(&after, "veil_ledger_store_poisoned{}"), 0.0);
    assert_eq!(
        value(&after, "veil_ledger_request_seconds_count{op=open_escrow}"),
        3.0
    );

    // No identifier on the page: not the nullifier, the session, the
    // node, an account, the commitment; labels are op, kind and le only.
    let text = metrics.render(ledger.engine().store());
    for id in [
        hex::encode(Nullifier::from_fr(fr(500)).to_bytes()),
        hex::encode(e.session_id.to_bytes()),
        hex::encode(node.to_bytes()),
        hex::encode(wallet.to_bytes()),
        addr.to_string(),
    ] {
        assert!(!text.contains(&id), "{id} on the page");
    }
    for k in after.keys() {
        let labels = k
            .split_once('{')
            .map_or("", |(_, l)| l.trim_end_matches('}'));
        for label in labels.split(',').filter(|l| !l.is_empty()) {
            let name = label.split_once('=').map_or(label, |(n, _)| n);
            assert!(matches!(name, "op" | "kind" | "le"), "label {name} in {k}");
        }
    }
}
