//! Shared node state: sessions, ledger view, metrics, bans, connection slots.
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};
use veil_ledger::types::{MerkleRoot, NodeId};
use veil_primitives::eddsa::{SigningKey, VerifyingKey};
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::SignedReceipt;

use crate::admission::{AddressKey, Bans};
use crate::backend::{AccessVerifier, SettleProver};
use crate::config::NodeConfig;
use crate::metering::SessionState;
use crate::server::ConnTable;
use crate::store::NodeStore;

/// Locks a std mutex, recovering from poisoning (the guarded data is
/// plain state that every writer leaves consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One open session.
pub(crate) struct SessionSlot {
    pub session_key: VerifyingKey,
    pub state: Mutex<SessionState<SignedReceipt>>,
    /// Woken when a receipt raises the allowance.
    pub notify: Notify,
}

/// Counters behind the `Status` RPC.
#[derive(Default)]
pub(crate) struct Metrics {
    pub sessions_total: AtomicU64,
    pub streams_open: AtomicU64,
    pub bytes_relayed: AtomicU64,
    pub receipts_accepted: AtomicU64,
    pub receipts_rejected: AtomicU64,
    pub settled_batches: AtomicU64,
    pub settled_sessions: AtomicU64,
    pub total_paid: AtomicU64,
    pub tokens_rejected: AtomicU64,
    pub proof_verifications: AtomicU64,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

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

/// The ledger's state as last seen.
pub(crate) struct LedgerView {
    pub height: AtomicU64,
    pub max_expiry_delta: AtomicU64,
    pub challenge_window: AtomicU64,
    pub roots: Mutex<Vec<MerkleRoot>>,
}

pub(crate) struct Inner<L> {
    pub config: NodeConfig,
    pub ledger: L,
    pub verifier: Arc<dyn AccessVerifier>,
    pub prover: Arc<dyn SettleProver>,
    pub node_key: SigningKey,
    pub node_id: NodeId,
    pub tls_cert_sha256: Option<[u8; 32]>,
    pub store: Arc<NodeStore>,
    pub sessions: Mutex<HashMap<SessionId, Arc<SessionSlot>>>,
    /// Nullifiers with an OpenSession in progress (C7).
    pub opening: Mutex<HashSet<SessionId>>,
    pub view: LedgerView,
    pub metrics: Metrics,
    pub verify_slots: Arc<Semaphore>,
    /// Failure counts and bans per address (C4).
    pub bans: Mutex<Bans>,
    /// Connection slots (C6), shared with the accept loop.
    pub conns: Arc<ConnTable>,
    /// Serialises settlement runs.
    pub settle_lock: tokio::sync::Mutex<()>,
    /// Voucher issuer, nullifiers, purchases, challenges (docs/vouchers.md §9).
    pub vouchers: Arc<crate::vouchers::VoucherDesk>,
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

    pub fn record_failure(&self, peer: Option<IpAddr>) {
        Metrics::inc(&self.metrics.tokens_rejected);
        if let Some(ip) = peer {
            lock(&self.bans).record_failure(AddressKey::of(ip), Instant::now());
        }
    }

    pub fn status(&self) -> NodeStatus {
        let m = &self.metrics;
        let ld = |c: &AtomicU64| c.load(Ordering::Relaxed);
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
            sessions_total: ld(&m.sessions_total),
            streams_open: ld(&m.streams_open),
            bytes_relayed: ld(&m.bytes_relayed),
            receipts_accepted: ld(&m.receipts_accepted),
            receipts_rejected: ld(&m.receipts_rejected),
            settled_batches: ld(&m.settled_batches),
            settled_sessions: ld(&m.settled_sessions),
            pending_settlement: pending,
            total_paid: ld(&m.total_paid),
            tokens_rejected: ld(&m.tokens_rejected),
            proof_verifications: ld(&m.proof_verifications),
            banned_peers: banned,
        }
    }
}
