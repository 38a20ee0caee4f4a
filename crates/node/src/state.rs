//! Shared node state: sessions, ledger view, metrics, bans, connection
//! slots, voucher desk. It imports only the modules below it (sessions,
//! connection table, desk, store), never a handler.
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;
use veil_ledger::LedgerApi;
use veil_ledger::types::LedgerStatus;
use veil_ledger::types::{MerkleRoot, NodeId};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::{BlockHeight, SessionId};

use crate::admission::{AddressKey, Bans};
use crate::backend::{AccessVerifier, SettleProver};
use crate::config::NodeConfig;
use crate::conns::ConnTable;
use crate::history::{History, Sample, UnixTime};
use crate::metering::SessionState;
use crate::session::SessionTable;
use crate::store::NodeStore;
use crate::voucher_desk::VoucherDesk;

// Re-exported at their pre-issue-9 paths for `relay.rs` (being rewritten
// in parallel); new code imports them from `session` and `sync`.
pub(crate) use crate::metrics::Metrics;
pub(crate) use crate::session::SessionSlot;
pub(crate) use crate::sync::lock;

/// A snapshot of the node's metrics (the `Status` RPC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStatus {
    pub sessions_open: u64,
    pub sessions_total: u64,
    pub streams_open: u64,
    pub bytes_relayed: u64,
    pub receipts_accepted: u64,
    pub receipts_rejected: u64,
    pub settled_batches: u64,
    pub settled_sessions: u64,
    pub pending_settlement: u64,
    pub total_paid: u64,
    pub tokens_rejected: u64,
    /// Groth16 verifications run by the node (cheap rejections never count, C5).
    pub proof_verifications: u64,
    pub banned_peers: u64,
}

impl NodeStatus {
    /// What the status page's history keeps of this snapshot, taken `at`.
    pub fn sample(&self, at: UnixTime) -> Sample {
        Sample {
            at,
            earnings: self.total_paid,
            sessions_open: self.sessions_open,
            sessions_total: self.sessions_total,
            bytes_relayed: self.bytes_relayed,
        }
    }
}

/// The ledger's state as last seen.
pub(crate) struct LedgerView {
    pub height: AtomicU64,
    pub max_expiry_delta: AtomicU64,
    pub challenge_window: AtomicU64,
    pub roots: Mutex<Vec<MerkleRoot>>,
    /// The node's account retired it (§8.3.12): learnt from its record at
    /// start or from the ledger refusing an open; never unset (a
    /// retirement is final).
    pub retired: AtomicBool,
}

impl LedgerView {
    /// The view of a ledger at `status` with recent `roots`.
    pub fn new(status: LedgerStatus, roots: Vec<MerkleRoot>) -> Self {
        Self {
            height: AtomicU64::new(status.height.0),
            max_expiry_delta: AtomicU64::new(status.max_expiry_delta),
            challenge_window: AtomicU64::new(status.challenge_window),
            roots: Mutex::new(roots),
            retired: AtomicBool::new(false),
        }
    }

    fn update(&self, status: &LedgerStatus) {
        self.height.store(status.height.0, Ordering::Release);
        self.max_expiry_delta
            .store(status.max_expiry_delta, Ordering::Release);
        self.challenge_window
            .store(status.challenge_window, Ordering::Release);
    }
}

pub(crate) struct Inner<L> {
    pub config: NodeConfig,
    pub ledger: L,
    pub verifier: Arc<dyn AccessVerifier>,
    pub prover: Arc<dyn SettleProver>,
    pub node_key: SigningKey,
    pub node_id: NodeId,
    /// The TLS identity served to new handshakes, replaced by a rotation
    /// (§9.8); shared with the [`crate::NodeHandle`].
    pub tls: crate::tls::CurrentTls,
    pub store: Arc<NodeStore>,
    pub sessions: Mutex<SessionTable>,
    /// Nullifiers with an OpenSession in progress (C7).
    pub opening: Mutex<HashSet<SessionId>>,
    pub view: LedgerView,
    pub metrics: Metrics,
    /// Samples and settlement batches for the status page (bounded).
    pub history: Arc<Mutex<History>>,
    pub verify_slots: Arc<Semaphore>,
    /// Failure counts and bans per address (C4).
    pub bans: Mutex<Bans>,
    /// Connection slots (C6), shared with the accept loop.
    pub conns: Arc<ConnTable>,
    /// Serialises settlement runs.
    pub settle_lock: tokio::sync::Mutex<()>,
    /// Voucher issuer, nullifiers, purchases, challenges (docs/vouchers.md §9).
    pub vouchers: Arc<VoucherDesk>,
    /// Other registered nodes' endpoints, allowed past the port list (§9.4).
    pub peers: crate::peers::Peers,
    /// The relay tasks: a stopped node waits for them (they hold the
    /// store), so that its database is closed when `NodeHandle::join`
    /// returns.
    pub relays: tokio_util::task::TaskTracker,
    /// The operator's relay cap, if any (`Limits::relay_limit_kbps`).
    pub pace: Option<crate::pace::Pace>,
}

impl<L: LedgerApi> Inner<L> {
    /// Polls the ledger's status and recent roots (errors keep the old view).
    pub async fn refresh_view(&self) {
        match self.ledger.status().await {
            Ok(s) => self.view.update(&s),
            Err(_) => self.metrics.ledger_error("status"),
        }
        match self.ledger.roots().await {
            Ok(r) => *lock(&self.view.roots) = r,
            Err(_) => self.metrics.ledger_error("roots"),
        }
    }
}

impl<L> Inner<L> {
    pub fn height(&self) -> BlockHeight {
        BlockHeight(self.view.height.load(Ordering::Acquire))
    }

    pub fn session(&self, id: &SessionId) -> Option<Arc<SessionSlot>> {
        lock(&self.sessions).get(id).cloned()
    }

    pub fn is_banned(&self, peer: Option<IpAddr>) -> bool {
        let Some(ip) = peer else { return false };
        lock(&self.bans).is_banned(AddressKey::of(ip), Instant::now())
    }

    /// An invalid token or request from `peer`: counted for `reason`, and
    /// towards the peer's ban (C4).
    pub fn record_failure(&self, peer: Option<IpAddr>, reason: &str) {
        self.metrics.token_refused(reason);
        if let Some(ip) = peer {
            lock(&self.bans).record_failure(AddressKey::of(ip), Instant::now());
        }
    }

    pub fn status(&self) -> NodeStatus {
        let m = &self.metrics;
        let (open, pending) = {
            let sessions = lock(&self.sessions);
            let mut open = 0;
            let mut pending = 0;
            for slot in sessions.values() {
                let st = lock(&slot.state);
                match &*st {
                    SessionState::Closed(_) => {}
                    _ => open += 1,
                }
                if st.highest().is_some() {
                    pending += 1;
                }
            }
            (open, pending)
        };
        let banned = lock(&self.bans).banned(Instant::now()) as u64;
        NodeStatus {
            sessions_open: open,
            sessions_total: m.sessions_total.get(),
            streams_open: u64::try_from(m.streams_open.get()).unwrap_or(0),
            bytes_relayed: m.bytes_relayed.get(),
            receipts_accepted: m.receipts_accepted.get(),
            receipts_rejected: m.receipts_refused_total(),
            settled_batches: m.settled_batches.get(),
            settled_sessions: m.settled_sessions.get(),
            pending_settlement: pending,
            total_paid: m.total_paid.get(),
            tokens_rejected: m.tokens_refused_total(),
            proof_verifications: m.proof_verifications.get(),
            banned_peers: banned,
        }
    }

    /// The metrics in Prometheus text format, the gauges read from the
    /// node's state now (docs/operations.md, "Metrics").
    pub fn metrics_text(&self) -> String {
        let status = self.status();
        let m = &self.metrics;
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        m.sessions_open.set(gauge(status.sessions_open));
        m.pending_settlement.set(gauge(status.pending_settlement));
        m.banned_peers.set(gauge(status.banned_peers));
        let capacity = self.config.limits.verify_queue.max(1);
        let free = self.verify_slots.available_permits();
        m.verify_queue
            .set(gauge(capacity.saturating_sub(free) as u64));
        m.encode()
    }
}
