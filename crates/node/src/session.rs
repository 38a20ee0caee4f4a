//! The node's sessions: one [`SessionSlot`] per open session (its key and
//! its meter, [`crate::metering`]) and the table of them, restored from
//! the node database at start (`docs/protocol.md` §9.3, §9.6).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
use veil_primitives::eddsa::{PreparedVerifyingKey, VerifyingKey};
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::{KIB, SignedReceipt};

use crate::metering::{SessionState, SessionTerms};
use crate::store::{NodeStore, SessionRecord, SessionStatus, StoreError};

/// One open session.
pub(crate) struct SessionSlot {
    pub session_key: VerifyingKey,
    /// The session key's fixed-base table (48 KiB), built at the first
    /// receipt: a receipt then verifies in about half the time (docs/benchmarks.md).
    prepared: OnceLock<PreparedVerifyingKey>,
    pub state: Mutex<SessionState<SignedReceipt>>,
    /// Woken when a receipt raises the allowance.
    pub notify: Notify,
}

impl SessionSlot {
    /// A slot for a session of `terms` under `session_key`, fresh.
    pub fn new(session_key: VerifyingKey, terms: SessionTerms) -> Self {
        Self::with_state(session_key, SessionState::new(terms))
    }

    fn with_state(session_key: VerifyingKey, state: SessionState<SignedReceipt>) -> Self {
        Self {
            session_key,
            prepared: OnceLock::new(),
            state: Mutex::new(state),
            notify: Notify::new(),
        }
    }

    /// The session key, prepared for verifying its receipts (built on first use).
    pub fn receipt_verifier(&self) -> &PreparedVerifyingKey {
        self.prepared.get_or_init(|| self.session_key.prepare())
    }
}

/// The meter bytes are charged to: a session's slot in the session table,
/// or a voucher-paid stream's own.
#[derive(Clone)]
pub(crate) struct Meter(pub Arc<SessionSlot>);

impl std::ops::Deref for Meter {
    type Target = SessionSlot;
    fn deref(&self) -> &SessionSlot {
        &self.0
    }
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Meter").field(&Arc::as_ptr(&self.0)).finish()
    }
}

/// The table of open sessions.
pub(crate) type SessionTable = HashMap<SessionId, Arc<SessionSlot>>;

/// Metering terms of a stored session.
pub(crate) fn terms_of(r: &SessionRecord) -> SessionTerms {
    let credit_kib = r.escrow.0.checked_div(r.price_per_kib.0).unwrap_or(0);
    SessionTerms {
        session_id: r.session_id,
        credit_kib,
        interval_kib: r.interval_kib.max(1),
        expiry: r.expiry,
    }
}

/// The open sessions of `store` with their highest receipts. Bytes served
/// before a restart are not persisted: the node assumes the receipt covered
/// them (at most one interval is forgiven per restart).
pub(crate) fn restore(store: &NodeStore) -> Result<SessionTable, StoreError> {
    let mut sessions = HashMap::new();
    for (record, receipt) in store.sessions()? {
        if record.status != SessionStatus::Open {
            continue;
        }
        let terms = terms_of(&record);
        let highest = receipt.map(|r| (r.receipt.kib, r));
        let served = highest.as_ref().map_or(0, |(k, _)| k.saturating_mul(KIB));
        let state = SessionState::restore(terms, served, highest);
        let slot = SessionSlot::with_state(record.session_key, state);
        sessions.insert(record.session_id, Arc::new(slot));
    }
    Ok(sessions)
}
