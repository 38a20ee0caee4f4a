//! The audit tests' fixture (`audits.rs`, `challenges.rs`): a node
//! claiming 100 Mbit/s, monitors, reports, and a snapshot of everything an
//! audit operation could touch.
#![allow(dead_code)]

use std::sync::Arc;

use veil_ledger::monitor::{AuditReport, Measurement, MonitorRegistration};
use veil_ledger::profile::NodeProfile;
use veil_ledger::state::StateRead;
use veil_ledger::trade::MARKET_EPOCH_BLOCKS;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig};
use veil_primitives::eddsa::SigningKey;

pub const STAKE: Value = Value(10_000);
pub const MONITOR_STAKE: Value = Value(500);
/// The node claims 100 Mbit/s.
pub const CLAIMED_KBPS: u64 = 100_000;

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

pub fn engine() -> Engine {
    Engine::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("engine")
}

pub fn nonce(e: &Engine, k: &SigningKey) -> u64 {
    e.account(&k.verifying_key().account_id())
        .expect("account")
        .next_nonce
}

pub fn balance(e: &Engine, k: &SigningKey) -> u64 {
    e.balance(&k.verifying_key().account_id())
        .expect("balance")
        .get()
}

/// A node claiming [`CLAIMED_KBPS`] with [`STAKE`], signed with the
/// account's `nonce`.
pub fn node_registration(
    node_key: &SigningKey,
    account_key: &SigningKey,
    nonce: u64,
) -> NodeRegistration {
    let mut terms = NodeTerms::new(Value(2), vec![Value(1_000)], [1; 32]);
    terms.profile = NodeProfile {
        capacity_mbit_s: (CLAIMED_KBPS / 1_000) as u32,
        ..NodeProfile::default()
    }
    .encode()
    .expect("profile");
    NodeRegistration::sign(node_key, account_key, nonce, STAKE, terms)
}

/// [`node_registration`] on the engine, the stake from the faucet.
pub fn register_node(e: &Engine, node_key: &SigningKey, account_key: &SigningKey) -> NodeId {
    e.faucet(account_key.verifying_key().account_id(), STAKE)
        .expect("faucet");
    let g = node_registration(node_key, account_key, nonce(e, account_key));
    e.register_node(g).expect("register").registration.node_id
}

pub fn register_monitor(e: &Engine, k: &SigningKey) {
    e.faucet(k.verifying_key().account_id(), Value(1_000))
        .expect("faucet");
    let m = MonitorRegistration::signed(k, nonce(e, k), MONITOR_STAKE);
    e.register_monitor(m).expect("monitor");
}

pub fn measured(kbps: u64) -> Measurement {
    Measurement {
        throughput_kbps: kbps,
        rtt_ms: 40,
        challenges_ok: 3,
        challenges_failed: 0,
    }
}

pub fn report(e: &Engine, k: &SigningKey, epoch: u64, node: NodeId, kbps: u64) -> AuditReport {
    AuditReport::signed(k, nonce(e, k), epoch, node, measured(kbps))
}

/// A node, six monitors registered in epoch 0, the clock in epoch 1; the
/// monitors split into those the epoch assigns to the node and the rest.
pub struct Fx {
    pub e: Engine,
    pub node: NodeId,
    pub assigned: Vec<SigningKey>,
    pub others: Vec<SigningKey>,
}

pub fn fixture() -> Fx {
    let e = engine();
    let node = register_node(&e, &key(1), &key(2));
    let monitors: Vec<SigningKey> = (0..6).map(|i| key(100 + i)).collect();
    for m in &monitors {
        register_monitor(&e, m);
    }
    e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    let (assigned, others): (Vec<_>, Vec<_>) = monitors.into_iter().partition(|m| {
        let view = e.monitor(&m.verifying_key().account_id()).expect("view");
        assert_eq!(view.epoch, 1);
        view.assigned.contains(&node)
    });
    assert_eq!(assigned.len(), 5, "five of six monitors audit the node");
    Fx {
        e,
        node,
        assigned,
        others,
    }
}

/// Everything a report or a registration could touch.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub status: LedgerStatus,
    pub node: Option<NodeRecord>,
    pub monitors: Vec<veil_ledger::monitor::MonitorRecord>,
    pub nonces: Vec<u64>,
}

impl Fx {
    pub fn snapshot(&self) -> Snapshot {
        let r = self.e.store().read().expect("read");
        let keys = self.assigned.iter().chain(&self.others);
        Snapshot {
            status: self.e.status().expect("status"),
            node: self.e.get_node(&self.node).expect("node"),
            monitors: r.monitors().expect("monitors"),
            nonces: keys.map(|k| nonce(&self.e, k)).collect(),
        }
    }

    pub fn node(&self) -> NodeRecord {
        self.e
            .get_node(&self.node)
            .expect("node")
            .expect("registered")
    }

    pub fn totals(&self) -> veil_ledger::records::Totals {
        self.e
            .store()
            .read()
            .expect("read")
            .totals()
            .expect("totals")
    }
}

/// The engine of the ledger file at `path` (opened again after a drop).
pub fn open_at(path: &std::path::Path) -> Engine {
    Engine::open(
        path,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("open")
}

/// The node of keys 1 and 2 and three monitors on `e`, the clock moved
/// into epoch 1, where all three are assigned to the node.
pub fn node_and_three_monitors(e: &Engine) -> (NodeId, Vec<SigningKey>) {
    let node = register_node(e, &key(1), &key(2));
    let monitors: Vec<SigningKey> = (0..3).map(|i| key(100 + i)).collect();
    for m in &monitors {
        register_monitor(e, m);
    }
    e.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    (node, monitors)
}
