//! The `veil.node.v1.Node` gRPC service: parse at the edge, call the
//! domain logic, convert back (`docs/protocol.md` §9.2).
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::debug;
use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{Escrow, EscrowState, SessionId};
use veil_primitives::eddsa::VerifyingKey;
use veil_proto::node::v1 as pb;

use veil_proto::node::v1::WIRE_VERSION;

use crate::backend::AccessToken;
use crate::metering::{SessionState, SessionTerms};
use crate::state::{Inner, Metrics, SessionSlot, lock};
use crate::store::{SessionRecord, SessionStatus};

/// Exact length of an encoded access token (veil-proofs, §7).
pub const ACCESS_TOKEN_BYTES: usize = 337;

/// The gRPC service; holds only a handle to the node state.
pub struct NodeService<L> {
    pub(crate) inner: Arc<Inner<L>>,
}

impl<L> Clone for NodeService<L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn check_version(v: u32) -> Result<(), Status> {
    if v == WIRE_VERSION {
        Ok(())
    } else {
        Err(Status::invalid_argument(format!(
            "unsupported version {v} (expected {WIRE_VERSION})"
        )))
    }
}

/// Maps a ledger refusal of `open_escrow` to a status.
fn ledger_status(e: LedgerError) -> Status {
    match e {
        LedgerError::NullifierSpent => Status::already_exists("access token already used"),
        LedgerError::UnknownRoot(_) => Status::failed_precondition("unknown root"),
        LedgerError::ExpiryOutOfRange { .. } => Status::failed_precondition("expiry out of range"),
        LedgerError::InvalidProof => Status::unauthenticated("invalid access proof"),
        LedgerError::EscrowSizeNotAccepted(_) => {
            Status::invalid_argument("escrow size not accepted")
        }
        LedgerError::UnknownNode => Status::failed_precondition("node is not registered"),
        LedgerError::Busy => Status::resource_exhausted("ledger busy"),
        LedgerError::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(format!("ledger: {other}")),
    }
}

/// Outcome of the open pipeline, before conversion to a status.
enum Reject {
    /// The peer sent something invalid: counts toward its ban (C4).
    Invalid(Status),
    /// A state-dependent refusal (busy, already used, ledger down).
    Other(Status),
}

impl<L: LedgerApi> Inner<L> {
    /// `OpenSession` (§9.2): cheap checks, then the Groth16 check on the
    /// blocking pool behind a bounded queue, then the ledger.
    async fn open_session(
        self: &Arc<Self>,
        token_bytes: &[u8],
        session_key_bytes: &[u8],
    ) -> Result<(SessionId, SessionTerms), Reject> {
        use Reject::{Invalid, Other};
        // 1. Sizes and canonical encodings.
        if token_bytes.len() != ACCESS_TOKEN_BYTES {
            return Err(Invalid(Status::invalid_argument(format!(
                "access token must be {ACCESS_TOKEN_BYTES} bytes, got {}",
                token_bytes.len()
            ))));
        }
        let key_arr: &[u8; 64] = session_key_bytes
            .try_into()
            .map_err(|_| Invalid(Status::invalid_argument("session key must be 64 bytes")))?;
        let session_key = VerifyingKey::from_bytes(key_arr)
            .map_err(|e| Invalid(Status::invalid_argument(format!("session key: {e}"))))?;
        let token = self
            .verifier
            .decode(token_bytes)
            .map_err(|e| Invalid(Status::invalid_argument(e.to_string())))?;
        let st = &token.statement;
        // 2. Statement against this node's terms.
        if st.node_id != self.node_id {
            return Err(Invalid(Status::invalid_argument(
                "token is for another node",
            )));
        }
        if !self.config.escrow_sizes.contains(&st.escrow) {
            return Err(Invalid(Status::invalid_argument(
                "escrow size not accepted",
            )));
        }
        if session_key.session_key_hash() != st.session_key_hash {
            return Err(Invalid(Status::invalid_argument(
                "session key does not match the token's session key hash",
            )));
        }
        let height = self.height();
        let max_delta = self
            .config
            .max_session_lifetime
            .min(self.view.max_expiry_delta.load(Ordering::Acquire));
        if st.expiry <= height || st.expiry.0 > height.0.saturating_add(max_delta) {
            return Err(Other(Status::failed_precondition(format!(
                "expiry {} outside ({}, {}]",
                st.expiry,
                height,
                height.0.saturating_add(max_delta)
            ))));
        }
        // F6: a retry of a token this node already installed, with the same
        // session key (the client lost the reply), gets the same answer.
        // Checked before the root, which may have aged out since.
        let session_id = SessionId::from(st.nullifier);
        if let Some(slot) = self.session(&session_id)
            && slot.session_key == session_key
        {
            let terms = *lock(&slot.state).terms();
            debug!("OpenSession retried for an installed session");
            return Ok((session_id, terms));
        }
        // 3. Ledger state: known root, nullifier unseen (no pairing for these, C5).
        if !self.root_known(&st.root).await.map_err(Other)? {
            return Err(Other(Status::failed_precondition("unknown root")));
        }
        let _reservation = self.reserve_nullifier(session_id).ok_or_else(|| {
            Other(Status::already_exists(
                "access token already used or being opened",
            ))
        })?;
        match self.ledger.get_escrow(session_id).await {
            Ok(None) => {}
            Ok(Some(escrow)) => {
                // the ledger opened this very token's escrow for this
                // node but the node stopped before installing the session.
                // The client's retry of the same token (F6) resumes it.
                if self.is_uninstalled_open_of(&escrow, st)? {
                    debug!("resuming an escrow opened before a restart");
                    return self.install_session(&escrow, session_key).map_err(Other);
                }
                return Err(Other(Status::already_exists("access token already used")));
            }
            Err(e) => return Err(Other(ledger_status(e))),
        }
        // A nullifier spent by a withdrawal has no escrow: ask the ledger's
        // nullifier set too, so a spent note never costs a pairing (R-2, C5).
        match self.ledger.nullifier_spent(st.nullifier).await {
            Ok(false) => {}
            Ok(true) => {
                return Err(Other(Status::already_exists(
                    "access token's note is already spent",
                )));
            }
            Err(e) => return Err(Other(ledger_status(e))),
        }
        // 4. Groth16, off the runtime, bounded (C4, C8).
        let permit = self
            .verify_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Other(Status::resource_exhausted("verification queue full")))?;
        Metrics::inc(&self.metrics.proof_verifications);
        let verifier = self.verifier.clone();
        let t = token.clone();
        let valid = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verifier.verify(&t)
        })
        .await
        .map_err(|_| Other(Status::internal("verification task failed")))?;
        if !valid {
            return Err(Invalid(Status::unauthenticated("invalid access proof")));
        }
        // 5. The ledger: source of truth for one session per nullifier (C7).
        let AccessToken { statement, proof } = token;
        let escrow: Escrow = self
            .ledger
            .open_escrow(statement, proof)
            .await
            .map_err(|e| Other(ledger_status(e)))?;
        self.install_session(&escrow, session_key).map_err(Other)
    }

    /// Whether `escrow` is the Open escrow of exactly the statement `st`
    /// (same node, amount, key hash, refund address, expiry and change)
    /// and this node holds no record of it: the open reached the ledger
    /// but the install did not reach the node's store.
    fn is_uninstalled_open_of(
        &self,
        escrow: &Escrow,
        st: &veil_ledger::types::AccessPublic,
    ) -> Result<bool, Reject> {
        let same = escrow.state == EscrowState::Open
            && escrow.node_id == self.node_id
            && escrow.escrow == st.escrow
            && escrow.session_key_hash == st.session_key_hash
            && escrow.refund_owner == st.refund_owner
            && escrow.expiry == st.expiry
            && escrow.cm_change == st.cm_change;
        if !same {
            return Ok(false);
        }
        let stored = self
            .store
            .session(&escrow.session_id)
            .map_err(|e| Reject::Other(Status::internal(e.to_string())))?;
        Ok(stored.is_none())
    }

    async fn root_known(&self, root: &veil_ledger::types::MerkleRoot) -> Result<bool, Status> {
        if lock(&self.view.roots).contains(root) {
            return Ok(true);
        }
        let roots = self.ledger.roots().await.map_err(ledger_status)?;
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

    /// Persists and installs a session opened on the ledger.
    fn install_session(
        &self,
        escrow: &Escrow,
        session_key: VerifyingKey,
    ) -> Result<(SessionId, SessionTerms), Status> {
        let record = SessionRecord {
            session_id: escrow.session_id,
            escrow: escrow.escrow,
            price_per_kib: escrow.price_per_kib,
            expiry: escrow.expiry,
            interval_kib: self.config.receipt_interval_kib,
            session_key,
            status: SessionStatus::Open,
        };
        self.store
            .put_session(&record)
            .map_err(|e| Status::internal(e.to_string()))?;
        let terms = terms_of(&record);
        let slot = Arc::new(SessionSlot {
            session_key,
            state: std::sync::Mutex::new(SessionState::new(terms)),
            notify: tokio::sync::Notify::new(),
        });
        lock(&self.sessions).insert(escrow.session_id, slot);
        Metrics::inc(&self.metrics.sessions_total);
        Ok((escrow.session_id, terms))
    }
}

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

fn peer_ip<T>(req: &Request<T>) -> Option<IpAddr> {
    req.remote_addr().map(|a| a.ip())
}

#[tonic::async_trait]
impl<L: LedgerApi> pb::node_server::Node for NodeService<L> {
    async fn get_terms(
        &self,
        request: Request<pb::GetTermsRequest>,
    ) -> Result<Response<pb::GetTermsResponse>, Status> {
        check_version(request.get_ref().version)?;
        let inner = &self.inner;
        let roots = lock(&inner.view.roots)
            .iter()
            .rev()
            .map(|r| r.to_bytes().to_vec())
            .collect();
        let max_delta = inner.view.max_expiry_delta.load(Ordering::Acquire);
        let (voucher_public_key, voucher_key_id, voucher_epoch) = inner.voucher_terms();
        Ok(Response::new(pb::GetTermsResponse {
            version: WIRE_VERSION,
            node_id: inner.node_id.to_bytes().to_vec(),
            node_public_key: inner.node_key.verifying_key().to_bytes().to_vec(),
            price_per_kib: inner.config.price_per_kib.0,
            escrow_sizes: inner.config.escrow_sizes.iter().map(|v| v.0).collect(),
            receipt_interval_kib: inner.config.receipt_interval_kib,
            ledger_height: inner.height().0,
            recent_roots: roots,
            max_session_lifetime: inner.config.max_session_lifetime.min(max_delta),
            max_frame_bytes: u32::try_from(inner.config.limits.max_frame_bytes).unwrap_or(u32::MAX),
            max_streams_per_session: u32::try_from(inner.config.limits.max_streams_per_relay)
                .unwrap_or(u32::MAX),
            tls_cert_sha256: inner
                .tls_cert_sha256
                .map(|h| h.to_vec())
                .unwrap_or_default(),
            voucher_public_key,
            voucher_key_id,
            voucher_epoch,
        }))
    }

    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        let peer = peer_ip(&request);
        let inner = &self.inner;
        if inner.is_banned(peer) {
            return Err(Status::permission_denied(
                "too many invalid tokens from this address",
            ));
        }
        let req = request.into_inner();
        if let Err(s) = check_version(req.version) {
            inner.record_failure(peer);
            return Err(s);
        }
        match inner
            .open_session(&req.access_token, &req.session_public_key)
            .await
        {
            Ok((session_id, terms)) => {
                // No nullifier next to a peer address in logs (C10).
                debug!("session opened");
                Ok(Response::new(pb::OpenSessionResponse {
                    version: WIRE_VERSION,
                    session_id: session_id.to_bytes().to_vec(),
                    credit_kib: terms.credit_kib,
                    receipt_interval_kib: terms.interval_kib,
                    expiry_height: terms.expiry.0,
                }))
            }
            Err(Reject::Invalid(s)) => {
                inner.record_failure(peer);
                debug!(code = ?s.code(), "invalid access token");
                Err(s)
            }
            Err(Reject::Other(s)) => {
                Metrics::inc(&inner.metrics.tokens_rejected);
                Err(s)
            }
        }
    }

    type RelayStream = crate::server::PaidRelayStream;

    async fn relay(
        &self,
        request: Request<tonic::Streaming<pb::ClientFrame>>,
    ) -> Result<Response<Self::RelayStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let inner = self.inner.clone();
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        tokio::spawn(async move {
            if let Err(status) = crate::relay::run(inner, inbound, tx.clone()).await
                && tx.send(Err(status)).await.is_err()
            {
                debug!("relay ended; client gone");
            }
        });
        Ok(Response::new(crate::server::PaidRelayStream::new(
            ReceiverStream::new(rx),
            self.inner.conns.clone(),
            peer,
        )))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let s = self.inner.status();
        let (voucher_purchases, voucher_spends) = self.inner.vouchers.counters();
        Ok(Response::new(pb::StatusResponse {
            version: WIRE_VERSION,
            sessions_open: s.sessions_open,
            sessions_total: s.sessions_total,
            streams_open: s.streams_open,
            bytes_relayed: s.bytes_relayed,
            receipts_accepted: s.receipts_accepted,
            receipts_rejected: s.receipts_rejected,
            settled_batches: s.settled_batches,
            settled_sessions: s.settled_sessions,
            pending_settlement: s.pending_settlement,
            total_paid: s.total_paid,
            tokens_rejected: s.tokens_rejected,
            proof_verifications: s.proof_verifications,
            banned_peers: s.banned_peers,
            voucher_purchases,
            voucher_spends,
        }))
    }

    async fn buy_voucher(
        &self,
        request: Request<pb::BuyVoucherRequest>,
    ) -> Result<Response<pb::BuyVoucherResponse>, Status> {
        self.inner
            .buy_voucher(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn voucher_challenge(
        &self,
        request: Request<pb::VoucherChallengeRequest>,
    ) -> Result<Response<pb::VoucherChallengeResponse>, Status> {
        check_version(request.get_ref().version)?;
        self.inner.voucher_challenge().map(Response::new)
    }
}
