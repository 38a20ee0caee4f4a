//! The `OpenSession` pipeline (`docs/protocol.md` §9.2): cheap checks of
//! the token against this node's terms, the ledger's state (known root,
//! nullifier unseen), the Groth16 check on the blocking pool behind a
//! bounded queue (C4, C8), then the ledger opens the escrow and the
//! session is persisted and installed. Returns domain errors; the I/O
//! shell (`rpc/`) maps them to statuses.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tracing::debug;
use veil_ledger::types::{AccessPublic, Escrow, EscrowState, MerkleRoot, SessionId};
use veil_ledger::{LedgerApi, LedgerError};
use veil_primitives::eddsa::VerifyingKey;

use crate::backend::AccessToken;
use crate::metering::SessionTerms;
use crate::session::{SessionSlot, terms_of};
use crate::state::Inner;
use crate::store::{SessionRecord, SessionStatus, StoreError};
use crate::sync::lock;

/// Exact length of an encoded access token (veil-proofs, §7).
pub const ACCESS_TOKEN_BYTES: usize = 337;

/// Why an `OpenSession` was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Token(String),
    #[error("token is for another node")]
    OtherNode,
    #[error("this node is retired: it takes no new sessions")]
    Retired,
    #[error("escrow size not accepted")]
    EscrowSize,
    #[error("session key does not match the token's session key hash")]
    KeyHashMismatch,
    #[error("invalid access proof")]
    InvalidProof,
    #[error("expiry {expiry} outside ({height}, {max}]")]
    Expiry { expiry: u64, height: u64, max: u64 },
    #[error("unknown root")]
    UnknownRoot,
    #[error("access token already used or being opened")]
    InProgress,
    #[error("access token already used")]
    TokenUsed,
    #[error("access token's note is already spent")]
    NoteSpent,
    #[error("verification queue full")]
    QueueFull,
    #[error("verification task failed")]
    Task,
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OpenError {
    /// Whether the peer sent something invalid: counts toward its ban
    /// (C4). State-dependent refusals (busy, already used, ledger down)
    /// do not.
    /// The refusal's reason as a metric label (docs/operations.md): a fixed
    /// name per kind, never the message (which may name a root or height).
    pub fn reason(&self) -> &'static str {
        match self {
            OpenError::Token(_) => "malformed",
            OpenError::OtherNode => "other_node",
            OpenError::Retired => "retired",
            OpenError::EscrowSize => "escrow_size",
            OpenError::KeyHashMismatch => "key_hash_mismatch",
            OpenError::InvalidProof => "invalid_proof",
            OpenError::Expiry { .. } => "expiry",
            OpenError::UnknownRoot => "unknown_root",
            OpenError::InProgress => "in_progress",
            OpenError::TokenUsed => "token_used",
            OpenError::NoteSpent => "note_spent",
            OpenError::QueueFull => "queue_full",
            OpenError::Task => "task",
            OpenError::Ledger(_) => "ledger",
            OpenError::Store(_) => "store",
        }
    }

    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            OpenError::Token(_)
                | OpenError::OtherNode
                | OpenError::EscrowSize
                | OpenError::KeyHashMismatch
                | OpenError::InvalidProof
        )
    }
}

type Opened = (SessionId, SessionTerms);

impl<L: LedgerApi> Inner<L> {
    /// `OpenSession` (§9.2) for a token of [`ACCESS_TOKEN_BYTES`] bytes.
    pub(crate) async fn open_session(
        self: &Arc<Self>,
        token_bytes: &[u8],
        session_key: VerifyingKey,
    ) -> Result<Opened, OpenError> {
        // 1, 2. Canonical encoding; statement against this node's terms.
        let token = self.check_token(token_bytes, &session_key)?;
        let st = &token.statement;
        let session_id = SessionId::from(st.nullifier);
        // F6: a retry of a token this node already installed, with the same
        // session key (the client lost the reply), gets the same answer.
        // Checked before the root, which may have aged out since.
        if let Some(opened) = self.installed(session_id, &session_key) {
            return Ok(opened);
        }
        // 3. Ledger state: known root, nullifier unseen (no pairing, C5).
        if !self.root_known(&st.root).await? {
            return Err(OpenError::UnknownRoot);
        }
        let _reservation = self
            .reserve_nullifier(session_id)
            .ok_or(OpenError::InProgress)?;
        if let Some(escrow) = self.ledger.get_escrow(session_id).await? {
            return self.resume(&escrow, st, session_key);
        }
        // A nullifier spent by a withdrawal has no escrow: ask the ledger's
        // nullifier set too, so a spent note never costs a pairing (R-2, C5).
        if self.ledger.nullifier_spent(st.nullifier).await? {
            return Err(OpenError::NoteSpent);
        }
        // 4. Groth16, off the runtime, bounded (C4, C8).
        self.verify_proof(&token).await?;
        // 5. The ledger: source of truth for one session per nullifier (C7).
        let AccessToken { statement, proof } = token;
        let escrow = match self.ledger.open_escrow(statement, proof).await {
            Err(LedgerError::NodeRetired) => {
                // Retired since start: later tokens stop at the cheap checks.
                self.view.retired.store(true, Ordering::Release);
                return Err(OpenError::Retired);
            }
            opened => opened?,
        };
        self.install_session(&escrow, session_key)
    }

    /// Steps 1 and 2: decode the token and check its statement against
    /// this node's terms and the ledger height.
    fn check_token(
        &self,
        token_bytes: &[u8],
        session_key: &VerifyingKey,
    ) -> Result<AccessToken, OpenError> {
        let token = self
            .verifier
            .decode(token_bytes)
            .map_err(|e| OpenError::Token(e.to_string()))?;
        let st = &token.statement;
        if st.node_id != self.node_id {
            return Err(OpenError::OtherNode);
        }
        if self.view.retired.load(Ordering::Acquire) {
            return Err(OpenError::Retired);
        }
        if !self.config.escrow_sizes.contains(&st.escrow) {
            return Err(OpenError::EscrowSize);
        }
        if session_key.session_key_hash() != st.session_key_hash {
            return Err(OpenError::KeyHashMismatch);
        }
        let height = self.height();
        let max_delta = self
            .config
            .max_session_lifetime
            .min(self.view.max_expiry_delta.load(Ordering::Acquire));
        let max = height.0.saturating_add(max_delta);
        if st.expiry <= height || st.expiry.0 > max {
            return Err(OpenError::Expiry {
                expiry: st.expiry.0,
                height: height.0,
                max,
            });
        }
        Ok(token)
    }

    /// The installed session `id` if it is under `session_key` (F6).
    fn installed(&self, id: SessionId, session_key: &VerifyingKey) -> Option<Opened> {
        let slot = self.session(&id)?;
        if slot.session_key != *session_key {
            return None;
        }
        let terms = *lock(&slot.state).terms();
        debug!("OpenSession retried for an installed session");
        Some((id, terms))
    }

    /// The ledger already holds an escrow for this token. R-8: if the
    /// ledger opened this very token's escrow for this node but the node
    /// stopped before installing the session, the client's retry of the
    /// same token (F6) resumes it; anything else is a used token.
    fn resume(
        &self,
        escrow: &Escrow,
        st: &AccessPublic,
        session_key: VerifyingKey,
    ) -> Result<Opened, OpenError> {
        if !self.is_uninstalled_open_of(escrow, st)? {
            return Err(OpenError::TokenUsed);
        }
        debug!("resuming an escrow opened before a restart");
        self.install_session(escrow, session_key)
    }

    /// Whether `escrow` is the Open escrow of exactly the statement `st`
    /// (same node, amount, key hash, refund address, expiry and change)
    /// and this node holds no record of it: the open reached the ledger
    /// but the install did not reach the node's store.
    fn is_uninstalled_open_of(
        &self,
        escrow: &Escrow,
        st: &AccessPublic,
    ) -> Result<bool, OpenError> {
        let same = escrow.state == EscrowState::Open
            && escrow.node_id == self.node_id
            && escrow.escrow == st.escrow
            && escrow.session_key_hash == st.session_key_hash
            && escrow.refund_owner == st.refund_owner
            && escrow.expiry == st.expiry
            && escrow.cm_change == st.cm_change;
        Ok(same && self.store.session(&escrow.session_id)?.is_none())
    }

    async fn root_known(&self, root: &MerkleRoot) -> Result<bool, OpenError> {
        if lock(&self.view.roots).contains(root) {
            return Ok(true);
        }
        let roots = self.ledger.roots().await?;
        let known = roots.contains(root);
        *lock(&self.view.roots) = roots;
        Ok(known)
    }

    fn reserve_nullifier(self: &Arc<Self>, id: SessionId) -> Option<Reservation<L>> {
        if lock(&self.sessions).contains_key(&id) {
            return None;
        }
        lock(&self.opening).insert(id).then(|| Reservation {
            inner: self.clone(),
            id,
        })
    }

    /// Step 4: the Groth16 check on the blocking pool, behind the bounded
    /// verification queue.
    async fn verify_proof(&self, token: &AccessToken) -> Result<(), OpenError> {
        let permit = self
            .verify_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| OpenError::QueueFull)?;
        self.metrics.proof_verifications.inc();
        let verifier = self.verifier.clone();
        let t = token.clone();
        let timer = self.metrics.verify_seconds.start_timer();
        let valid = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verifier.verify(&t)
        })
        .await
        .map_err(|_| OpenError::Task)?;
        timer.observe_duration();
        if valid {
            Ok(())
        } else {
            Err(OpenError::InvalidProof)
        }
    }

    /// Persists and installs a session opened on the ledger.
    fn install_session(
        &self,
        escrow: &Escrow,
        session_key: VerifyingKey,
    ) -> Result<Opened, OpenError> {
        let record = SessionRecord {
            session_id: escrow.session_id,
            escrow: escrow.escrow,
            price_per_kib: escrow.price_per_kib,
            expiry: escrow.expiry,
            interval_kib: self.config.receipt_interval_kib,
            session_key,
            status: SessionStatus::Open,
        };
        self.store.put_session(&record)?;
        let terms = terms_of(&record);
        let slot = Arc::new(SessionSlot::new(session_key, terms));
        lock(&self.sessions).insert(escrow.session_id, slot);
        self.metrics.sessions_total.inc();
        Ok((escrow.session_id, terms))
    }
}

/// Releases an in-progress nullifier when the open finishes either way.
struct Reservation<L> {
    inner: Arc<Inner<L>>,
    id: SessionId,
}

impl<L> Drop for Reservation<L> {
    fn drop(&mut self) {
        lock(&self.inner.opening).remove(&self.id);
    }
}
