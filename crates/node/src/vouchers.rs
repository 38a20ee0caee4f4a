//! The node's voucher desk (`docs/vouchers.md` §9 "Purchase and use"):
//! the issuer key, the persistent spent-nullifier store, the purchase
//! records and the single-use spend challenges.
//!
//! * Purchase: a client that opened an ordinary escrow session signs a
//!   receipt for the session's full credit and asks for a credential on that
//!   many KiB. [`VoucherDesk::purchase`] issues it at most once per session
//!   (persisted, atomic; a retry of the same request gets the same answer).
//! * Spend: a voucher-paid `Open` carries a spend bound to
//!   [`spend_context`] (a fresh nonce from [`VoucherDesk::issue_challenge`]
//!   and the stream's `host:port`); [`VoucherDesk::spend`] consumes the
//!   nonce, verifies the spend and records its nullifier atomically.
//!
//! # Files in the node directory
//! * `voucher.key` (0600): the current epoch's issuer secret key
//!   (`IssuerSecretKey::to_bytes`, 41 bytes), created at first start.
//! * `vouchers.redb`:
//!   * `voucher_nullifiers_v1`: `epoch (8, BE) ‖ k (32)` → empty;
//!   * `voucher_purchases_v1`: `session_id (32)` → `version (1) ‖
//!     SHA-256(issuance request) (32) ‖ issuance response (137)`.
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};
use veil_vouchers::context::VoucherNonce;
use veil_vouchers::context::{purchase_context, purchase_message, spend_context};
use veil_vouchers::{
    Balance, DecodeError, Epoch, IssuanceRequest, IssuanceResponse, IssueError, Issuer,
    IssuerPublicKey, IssuerSecretKey, NodeId as VoucherNodeId, NullifierStore, NullifierStoreError,
    SpendError, SpendRequest, SpendResponse, VerifiedSpend, VoucherNullifier,
};

use tonic::Status;
use veil_ledger::LedgerApi;
use veil_primitives::eddsa::Signature;
use veil_primitives::field::fr_from_u64;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::SignedReceipt;
use veil_proto::node::v1 as pb;

use crate::keys::{KeyFileError, read_secret, write_secret};
use crate::metering::{SessionState, SessionTerms, VerifiedReceipt};
use crate::state::{Inner, SessionSlot, lock};
use veil_primitives::receipt::KIB;
use veil_proto::node::v1::WIRE_VERSION;

/// File name of the issuer secret key inside the node directory.
pub const VOUCHER_KEY_FILE: &str = "voucher.key";
/// File name of the voucher database inside the node directory.
pub const VOUCHER_DB_FILE: &str = "vouchers.redb";
/// How long a challenge nonce stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// Outstanding challenges the node keeps at most (bounds memory, C6).
pub const MAX_CHALLENGES: usize = 65_536;

const NULLIFIERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("voucher_nullifiers_v1");
const PURCHASES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("voucher_purchases_v1");
const PURCHASE_VERSION: u8 = 1;
const PURCHASE_BYTES: usize = 1 + 32 + IssuanceResponse::ENCODED_LEN;

/// Why the desk refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("voucher database: {0}")]
    Db(#[from] redb::Error),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("voucher key file: {0}")]
    KeyFile(DecodeError),
    #[error("corrupted voucher database record: {0}")]
    Corrupted(&'static str),
    /// A message from the client does not decode canonically.
    #[error("malformed voucher message: {0}")]
    Malformed(#[from] DecodeError),
    /// The nonce was never issued, was used before, or expired.
    #[error("unknown, used or expired voucher challenge")]
    UnknownChallenge,
    #[error("too many outstanding voucher challenges")]
    TooManyChallenges,
    /// The spend was refused (bad proof, unknown epoch, already spent, store).
    #[error("voucher spend refused: {0}")]
    Spend(#[from] SpendError),
    /// The issuance request was refused (wrong epoch, bad proof).
    #[error("voucher issuance refused: {0}")]
    Issue(#[from] IssueError),
    /// The request asks for another balance than the escrow paid for.
    #[error("voucher balance {requested} KiB, the session paid for {credit} KiB")]
    BalanceMismatch { requested: Balance, credit: Balance },
    /// This session already bought a voucher with another request.
    #[error("this session already bought a voucher")]
    AlreadyPurchased,
    /// A voucher-paid stream must buy at least 1 KiB.
    #[error("a voucher spend must be at least 1 KiB")]
    ZeroSpend,
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for DeskError {
            fn from(e: $t) -> Self {
                DeskError::Db(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

fn nullifier_key(epoch: Epoch, nullifier: &VoucherNullifier) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&epoch.get().to_be_bytes());
    key[8..].copy_from_slice(&nullifier.to_bytes());
    key
}

/// Spent nullifiers in `vouchers.redb`. One write transaction per insert:
/// redb serialises writers, so of concurrent inserts of one nullifier
/// exactly one commits.
#[derive(Debug, Clone)]
pub struct RedbNullifierStore {
    db: Arc<Database>,
}

impl RedbNullifierStore {
    /// Whether `(epoch, nullifier)` is recorded as spent.
    pub fn contains(&self, epoch: Epoch, nullifier: &VoucherNullifier) -> Result<bool, DeskError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(NULLIFIERS)?;
        Ok(t.get(nullifier_key(epoch, nullifier).as_slice())?.is_some())
    }

    fn insert(&self, epoch: Epoch, nullifier: &VoucherNullifier) -> Result<bool, DeskError> {
        let key = nullifier_key(epoch, nullifier);
        let txn = self.db.begin_write()?;
        let fresh = {
            let mut t = txn.open_table(NULLIFIERS)?;
            let fresh = t.get(key.as_slice())?.is_none();
            if fresh {
                t.insert(key.as_slice(), [].as_slice())?;
            }
            fresh
        };
        if fresh {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(fresh)
    }
}

impl NullifierStore for RedbNullifierStore {
    fn insert_if_absent(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<(), NullifierStoreError> {
        match self.insert(epoch, nullifier) {
            Ok(true) => Ok(()),
            Ok(false) => Err(NullifierStoreError::AlreadySpent),
            Err(e) => Err(NullifierStoreError::Backend(Box::new(e))),
        }
    }
}

/// A recorded purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// SHA-256 of the issuance request that was answered.
    pub request_digest: [u8; 32],
    /// The answer, returned again on a retry of the same request.
    pub response: IssuanceResponse,
}

impl PurchaseRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PURCHASE_BYTES);
        out.push(PURCHASE_VERSION);
        out.extend_from_slice(&self.request_digest);
        out.extend_from_slice(&self.response.to_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, DeskError> {
        if bytes.len() != PURCHASE_BYTES || bytes.first() != Some(&PURCHASE_VERSION) {
            return Err(DeskError::Corrupted("purchase record layout"));
        }
        let mut request_digest = [0u8; 32];
        request_digest.copy_from_slice(bytes.get(1..33).unwrap_or_default());
        let response = IssuanceResponse::from_bytes(bytes.get(33..).unwrap_or_default())
            .map_err(|_| DeskError::Corrupted("purchase record response"))?;
        Ok(Self {
            request_digest,
            response,
        })
    }
}

/// The node's voucher desk: issuer, nullifier store, purchases, challenges.
#[derive(Debug)]
pub struct VoucherDesk {
    issuer: Issuer<RedbNullifierStore>,
    db: Arc<Database>,
    challenges: Mutex<HashMap<VoucherNonce, Instant>>,
    challenge_ttl: Duration,
    purchases: AtomicU64,
    spends: AtomicU64,
}

fn load_or_create_key(dir: &Path) -> Result<IssuerSecretKey, DeskError> {
    let path = dir.join(VOUCHER_KEY_FILE);
    if !path.exists() {
        let key = IssuerSecretKey::generate(Epoch::new(0), &mut rand::rngs::OsRng);
        write_secret(&path, &key.to_bytes())?;
        return Ok(key);
    }
    IssuerSecretKey::from_bytes(&read_secret(&path)?).map_err(DeskError::KeyFile)
}

impl VoucherDesk {
    /// Opens the desk in the node directory `dir` (creating the key and
    /// database at first start). `node_id` is the node's ledger id bytes.
    pub fn open(dir: &Path, node_id: VoucherNodeId) -> Result<Self, DeskError> {
        let key = load_or_create_key(dir)?;
        let db = Arc::new(Database::create(dir.join(VOUCHER_DB_FILE))?);
        let txn = db.begin_write()?;
        txn.open_table(NULLIFIERS)?;
        txn.open_table(PURCHASES)?;
        txn.commit()?;
        let store = RedbNullifierStore { db: db.clone() };
        Ok(Self {
            issuer: Issuer::new(node_id, key, store),
            db,
            challenges: Mutex::new(HashMap::new()),
            challenge_ttl: CHALLENGE_TTL,
            purchases: AtomicU64::new(0),
            spends: AtomicU64::new(0),
        })
    }

    /// Shortens the challenge lifetime (tests).
    pub fn with_challenge_ttl(mut self, ttl: Duration) -> Self {
        self.challenge_ttl = ttl;
        self
    }

    /// The key published in `GetTerms`.
    pub fn current_key(&self) -> &IssuerPublicKey {
        self.issuer.current_key()
    }

    /// The node id bound into every voucher transcript.
    pub fn node_id(&self) -> &VoucherNodeId {
        self.issuer.node_id()
    }

    /// The spent-nullifier store.
    pub fn nullifiers(&self) -> &RedbNullifierStore {
        self.issuer.store()
    }

    /// Vouchers sold and spends accepted since start.
    pub fn counters(&self) -> (u64, u64) {
        (
            self.purchases.load(Ordering::Relaxed),
            self.spends.load(Ordering::Relaxed),
        )
    }

    /// Issues a fresh single-use nonce for one voucher-paid open.
    pub fn issue_challenge(&self) -> Result<VoucherNonce, DeskError> {
        let now = Instant::now();
        let mut c = lock(&self.challenges);
        if c.len() >= MAX_CHALLENGES {
            let ttl = self.challenge_ttl;
            c.retain(|_, t| now.duration_since(*t) <= ttl);
            if c.len() >= MAX_CHALLENGES {
                return Err(DeskError::TooManyChallenges);
            }
        }
        let nonce: VoucherNonce = rand::random();
        c.insert(nonce, now);
        Ok(nonce)
    }

    /// Consumes `nonce`: succeeds once per issued, unexpired nonce.
    fn take_challenge(&self, nonce: &VoucherNonce) -> Result<(), DeskError> {
        match lock(&self.challenges).remove(nonce) {
            Some(t) if t.elapsed() <= self.challenge_ttl => Ok(()),
            _ => Err(DeskError::UnknownChallenge),
        }
    }

    /// Accepts a voucher spend for a stream to `host:port`: consumes the
    /// nonce (even if the spend then fails: a nonce is single-use), verifies
    /// the spend bound to [`spend_context`], records its nullifier
    /// atomically and re-issues the rest. Blocking (≈ 2 ms and one fsync).
    pub fn spend(
        &self,
        request: &SpendRequest,
        nonce: &VoucherNonce,
        host: &str,
        port: u16,
    ) -> Result<(VerifiedSpend, SpendResponse), DeskError> {
        self.take_challenge(nonce)?;
        let context = spend_context(nonce, host, port);
        let out = self.issuer.verify_spend(request, &context)?;
        self.spends.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    /// The purchase recorded for `session_id`, if any.
    pub fn purchase_of(&self, session_id: &[u8; 32]) -> Result<Option<PurchaseRecord>, DeskError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PURCHASES)?;
        t.get(session_id.as_slice())?
            .map(|v| PurchaseRecord::decode(v.value()))
            .transpose()
    }

    /// Issues the voucher bought by `session_id` for `credit` KiB (§9):
    /// the request must ask for exactly `credit` under the current epoch
    /// with a valid proof, bound to [`purchase_context`]. At most one
    /// request per session is answered, atomically; the same request again
    /// gets the stored answer (a retry after a lost reply).
    ///
    /// The caller must have checked that the session exists, is unused,
    /// and holds the full-credit receipt.
    pub fn purchase(
        &self,
        session_id: &[u8; 32],
        credit: Balance,
        request: &IssuanceRequest,
    ) -> Result<IssuanceResponse, DeskError> {
        let digest: [u8; 32] = Sha256::digest(request.to_bytes()).into();
        if let Some(record) = self.purchase_of(session_id)? {
            return if record.request_digest == digest {
                Ok(record.response)
            } else {
                Err(DeskError::AlreadyPurchased)
            };
        }
        if request.balance() != credit {
            return Err(DeskError::BalanceMismatch {
                requested: request.balance(),
                credit,
            });
        }
        let response = self.issuer.issue(request, &purchase_context(session_id))?;
        let record = PurchaseRecord {
            request_digest: digest,
            response,
        };
        let txn = self.db.begin_write()?;
        let stored = {
            let mut t = txn.open_table(PURCHASES)?;
            let existing = t
                .get(session_id.as_slice())?
                .map(|v| PurchaseRecord::decode(v.value()))
                .transpose()?;
            match existing {
                Some(r) => r,
                None => {
                    t.insert(session_id.as_slice(), record.encode().as_slice())?;
                    record.clone()
                }
            }
        };
        txn.commit()?;
        if stored.request_digest != digest {
            return Err(DeskError::AlreadyPurchased);
        }
        if stored == record {
            self.purchases.fetch_add(1, Ordering::Relaxed);
        }
        Ok(stored.response)
    }
}

// ------------------------------------------------------------ node hooks

/// Errors a voucher hook reports on the wire.
impl DeskError {
    /// The gRPC status of a refused unary voucher call.
    pub(crate) fn status(&self) -> Status {
        let m = self.to_string();
        match self {
            DeskError::Db(_)
            | DeskError::Key(_)
            | DeskError::KeyFile(_)
            | DeskError::Corrupted(_)
            | DeskError::Spend(SpendError::Store(_)) => Status::internal(m),
            DeskError::Malformed(_)
            | DeskError::BalanceMismatch { .. }
            | DeskError::ZeroSpend
            | DeskError::Issue(IssueError::Verification(_))
            | DeskError::Spend(_) => Status::invalid_argument(m),
            DeskError::Issue(IssueError::WrongEpoch { .. }) | DeskError::UnknownChallenge => {
                Status::failed_precondition(m)
            }
            DeskError::TooManyChallenges => Status::resource_exhausted(m),
            DeskError::AlreadyPurchased => Status::already_exists(m),
        }
    }

    /// The relay `Error` code of a refused voucher-paid `Open`.
    pub(crate) fn error_code(&self) -> pb::ErrorCode {
        match self {
            DeskError::Spend(SpendError::AlreadySpent) => pb::ErrorCode::VoucherSpent,
            DeskError::Spend(SpendError::Store(_))
            | DeskError::Db(_)
            | DeskError::Key(_)
            | DeskError::KeyFile(_)
            | DeskError::Corrupted(_) => pb::ErrorCode::Internal,
            DeskError::UnknownChallenge | DeskError::TooManyChallenges => {
                pb::ErrorCode::VoucherChallengeUnknown
            }
            DeskError::Malformed(_) | DeskError::ZeroSpend => pb::ErrorCode::Malformed,
            _ => pb::ErrorCode::VoucherInvalid,
        }
    }
}

/// A voucher payment carried by an `Open`, decoded but not yet checked.
#[derive(Debug)]
pub(crate) struct VoucherPayment {
    request: SpendRequest,
    nonce: VoucherNonce,
}

impl VoucherPayment {
    /// Decodes `Open.voucher_spend` (canonical encodings, non-zero amount).
    pub(crate) fn decode(v: &pb::VoucherSpend) -> Result<Self, DeskError> {
        let nonce: VoucherNonce = v
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| DeskError::UnknownChallenge)?;
        let request = SpendRequest::from_bytes(&v.spend_request)?;
        if request.amount() == Balance::ZERO {
            return Err(DeskError::ZeroSpend);
        }
        Ok(Self { request, nonce })
    }

    /// The KiB this payment buys for its stream.
    pub(crate) fn amount(&self) -> Balance {
        self.request.amount()
    }
}

/// The meter of one voucher-paid stream: `amount` KiB, no receipts (one
/// interval spans the whole credit), no expiry. It never enters the session
/// table, so settlement never sees it; its session key is never used.
pub(crate) fn stream_slot<L>(inner: &Inner<L>, amount: Balance) -> Arc<SessionSlot> {
    let terms = SessionTerms {
        session_id: SessionId::from_fr(fr_from_u64(0)),
        credit_kib: amount.kib(),
        interval_kib: amount.kib().max(1),
        expiry: BlockHeight(u64::MAX),
    };
    Arc::new(SessionSlot {
        session_key: inner.node_key.verifying_key(),
        state: Mutex::new(SessionState::new(terms)),
        notify: tokio::sync::Notify::new(),
    })
}

/// Checks and records a stream's voucher payment once its upstream
/// connection is up (so a failed connect never costs the client), and
/// builds the `VoucherAccepted` frame with the re-issued credential.
pub(crate) async fn pay_stream<L: LedgerApi>(
    inner: &Arc<Inner<L>>,
    payment: VoucherPayment,
    stream_id: u32,
    host: &str,
    port: u16,
) -> Result<pb::VoucherAccepted, DeskError> {
    let desk = inner.vouchers.clone();
    let host = host.to_owned();
    let (verified, response) = tokio::task::spawn_blocking(move || {
        desk.spend(&payment.request, &payment.nonce, &host, port)
    })
    .await
    .map_err(|_| DeskError::Corrupted("voucher verification task failed"))??;
    Ok(pb::VoucherAccepted {
        stream_id,
        amount_kib: verified.amount.kib(),
        spend_response: response.to_bytes(),
    })
}

impl<L: LedgerApi> Inner<L> {
    /// The voucher fields of `GetTerms`: key bytes, key id, epoch.
    pub(crate) fn voucher_terms(&self) -> (Vec<u8>, Vec<u8>, u64) {
        let key = self.vouchers.current_key();
        (
            key.to_bytes(),
            key.key_id().as_bytes().to_vec(),
            key.epoch().get(),
        )
    }

    /// `VoucherChallenge`.
    pub(crate) fn voucher_challenge(&self) -> Result<pb::VoucherChallengeResponse, Status> {
        let nonce = self.vouchers.issue_challenge().map_err(|e| e.status())?;
        Ok(pb::VoucherChallengeResponse {
            version: WIRE_VERSION,
            nonce: nonce.to_vec(),
            ttl_seconds: u32::try_from(CHALLENGE_TTL.as_secs()).unwrap_or(u32::MAX),
        })
    }

    /// `BuyVoucher` (§9): the session must exist, be unused (nothing
    /// served, no receipt), be authorised by its session key, and come with
    /// a receipt for its full credit. The session is reserved first (it
    /// serves nothing more), the voucher issued and recorded once, the
    /// receipt persisted before the answer and held for settlement.
    pub(crate) async fn buy_voucher(
        self: &Arc<Self>,
        req: pb::BuyVoucherRequest,
    ) -> Result<pb::BuyVoucherResponse, Status> {
        if req.version != WIRE_VERSION {
            return Err(Status::invalid_argument(format!(
                "unsupported version {} (expected {WIRE_VERSION})",
                req.version
            )));
        }
        let session_id = SessionId::from_slice(&req.session_id)
            .map_err(|e| Status::invalid_argument(format!("session id: {e}")))?;
        let sid = session_id.to_bytes();
        let request = IssuanceRequest::from_bytes(&req.issuance_request)
            .map_err(|e| DeskError::from(e).status())?;
        let receipt = SignedReceipt::from_bytes(&req.full_receipt)
            .map_err(|e| Status::invalid_argument(format!("receipt: {e}")))?;
        let auth = Signature::from_slice(&req.authorization)
            .map_err(|e| Status::invalid_argument(format!("authorization: {e}")))?;
        let slot = self
            .session(&session_id)
            .ok_or_else(|| Status::not_found("unknown session"))?;
        slot.session_key
            .verify(&purchase_message(&sid, &req.issuance_request), &auth)
            .map_err(|_| Status::unauthenticated("purchase not signed by the session key"))?;
        if SessionId::from_fr(receipt.receipt.session_id) != session_id {
            return Err(Status::invalid_argument("receipt is for another session"));
        }
        receipt
            .verify(&slot.session_key)
            .map_err(|e| Status::unauthenticated(format!("receipt: {e}")))?;
        let terms = *lock(&slot.state).terms();
        if receipt.receipt.kib != terms.credit_kib {
            return Err(Status::invalid_argument(format!(
                "the receipt must cover the session's full credit ({} KiB), not {} KiB",
                terms.credit_kib, receipt.receipt.kib
            )));
        }
        let now = self.height();
        if now > terms.expiry {
            return Err(Status::failed_precondition("session expired"));
        }
        // Reserve: an unused session serves nothing from here on.
        let fresh = {
            let mut st = lock(&slot.state);
            let unused = matches!(&*st, SessionState::Opened(_) | SessionState::Active(_))
                && st.served_bytes() == 0
                && st.highest().is_none();
            if unused {
                *st = SessionState::restore(terms, terms.credit_kib.saturating_mul(KIB), None);
            }
            unused
        };
        if !fresh {
            // Only a retry of the recorded purchase may go on.
            let digest: [u8; 32] = Sha256::digest(&req.issuance_request).into();
            let desk = self.vouchers.clone();
            let recorded = tokio::task::spawn_blocking(move || desk.purchase_of(&sid))
                .await
                .map_err(|_| Status::internal("voucher task failed"))?
                .map_err(|e| e.status())?;
            if recorded.map(|r| r.request_digest) != Some(digest) {
                return Err(Status::failed_precondition(
                    "session already used (relayed bytes, receipts or another voucher)",
                ));
            }
        }
        let desk = self.vouchers.clone();
        let credit = Balance::from_kib(terms.credit_kib);
        let issued = tokio::task::spawn_blocking(move || desk.purchase(&sid, credit, &request))
            .await
            .map_err(|_| Status::internal("voucher task failed"))?;
        let response = match issued {
            Ok(r) => r,
            Err(e) => {
                if fresh {
                    let mut st = lock(&slot.state);
                    if st.highest().is_none() && matches!(&*st, SessionState::Exhausted(_)) {
                        *st = SessionState::new(terms);
                    }
                }
                return Err(e.status());
            }
        };
        // Persist the payment before answering (§9.6), then hold it for
        // the settlement worker like any receipt.
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.put_receipt_if_higher(&receipt))
            .await
            .map_err(|_| Status::internal("receipt persistence task failed"))?
            .map_err(|e| Status::internal(format!("node database: {e}")))?;
        {
            let mut st = lock(&slot.state);
            if st.highest().is_none() {
                let verified = VerifiedReceipt {
                    session_id,
                    kib: receipt.receipt.kib,
                    receipt,
                };
                if let Err(e) = st.accept_receipt(verified, now) {
                    return Err(Status::failed_precondition(format!("receipt: {e}")));
                }
            }
        }
        Ok(pb::BuyVoucherResponse {
            version: WIRE_VERSION,
            issuance_response: response.to_bytes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_vouchers::context::NONCE_BYTES;
    use veil_vouchers::{AwaitingIssuance, Credential};

    const NODE: VoucherNodeId = VoucherNodeId::new([9; 32]);
    const SESSION: [u8; 32] = [4; 32];

    fn desk(dir: &Path) -> VoucherDesk {
        VoucherDesk::open(dir, NODE).unwrap()
    }

    fn request(desk: &VoucherDesk, kib: u64) -> (IssuanceRequest, AwaitingIssuance) {
        Credential::request_issuance(
            desk.current_key(),
            NODE,
            Balance::from_kib(kib),
            &purchase_context(&SESSION),
            &mut rand::thread_rng(),
        )
    }

    fn bought(desk: &VoucherDesk, kib: u64) -> Credential {
        let (req, awaiting) = request(desk, kib);
        let resp = desk
            .purchase(&SESSION, Balance::from_kib(kib), &req)
            .unwrap();
        awaiting.finish_issuance(&resp).unwrap()
    }

    #[test]
    fn key_and_nullifiers_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let key = *d.current_key();
        let cred = bought(&d, 100);
        let nonce = d.issue_challenge().unwrap();
        let ctx = spend_context(&nonce, "example.org", 443);
        let (spend, _) = cred
            .prepare_spend(Balance::from_kib(10), &ctx, &mut rand::thread_rng())
            .unwrap();
        d.spend(&spend, &nonce, "example.org", 443).unwrap();
        drop(d);
        let d = desk(dir.path());
        assert_eq!(d.current_key(), &key);
        assert!(
            d.nullifiers()
                .contains(spend.epoch(), &spend.nullifier())
                .unwrap()
        );
        // The same credential again, with a fresh nonce: already spent.
        let nonce = d.issue_challenge().unwrap();
        let ctx = spend_context(&nonce, "example.org", 443);
        let (again, _) = cred
            .prepare_spend(Balance::from_kib(10), &ctx, &mut rand::thread_rng())
            .unwrap();
        assert!(matches!(
            d.spend(&again, &nonce, "example.org", 443),
            Err(DeskError::Spend(SpendError::AlreadySpent))
        ));
        // The purchase record survived too.
        assert!(d.purchase_of(&SESSION).unwrap().is_some());
    }

    #[test]
    fn challenge_is_single_use_and_bound_to_host_and_port() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let cred = bought(&d, 100);
        let mut rng = rand::thread_rng();
        // Never issued.
        let forged = [7u8; NONCE_BYTES];
        let ctx = spend_context(&forged, "h", 1);
        let (spend, _) = cred
            .prepare_spend(Balance::from_kib(1), &ctx, &mut rng)
            .unwrap();
        assert!(matches!(
            d.spend(&spend, &forged, "h", 1),
            Err(DeskError::UnknownChallenge)
        ));
        // Issued, but the spend names another port: proof fails, nonce burnt.
        let nonce = d.issue_challenge().unwrap();
        let (spend, _) = cred
            .prepare_spend(
                Balance::from_kib(1),
                &spend_context(&nonce, "h", 1),
                &mut rng,
            )
            .unwrap();
        assert!(matches!(
            d.spend(&spend, &nonce, "h", 2),
            Err(DeskError::Spend(SpendError::Verification(_)))
        ));
        assert!(matches!(
            d.spend(&spend, &nonce, "h", 1),
            Err(DeskError::UnknownChallenge)
        ));
        assert!(
            !d.nullifiers()
                .contains(spend.epoch(), &spend.nullifier())
                .unwrap()
        );
        // Fresh nonce, right target: accepted.
        let nonce = d.issue_challenge().unwrap();
        let (spend, pending) = cred
            .prepare_spend(
                Balance::from_kib(1),
                &spend_context(&nonce, "h", 1),
                &mut rng,
            )
            .unwrap();
        let (verified, resp) = d.spend(&spend, &nonce, "h", 1).unwrap();
        assert_eq!(verified.amount, Balance::from_kib(1));
        let next = pending.finish_spend(&resp, d.current_key()).unwrap();
        assert_eq!(next.balance(), Balance::from_kib(99));
        assert_eq!(d.counters(), (1, 1));
    }

    #[test]
    fn expired_challenge_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path()).with_challenge_ttl(Duration::ZERO);
        let cred = bought(&d, 10);
        let nonce = d.issue_challenge().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let (spend, _) = cred
            .prepare_spend(
                Balance::from_kib(1),
                &spend_context(&nonce, "h", 1),
                &mut rand::thread_rng(),
            )
            .unwrap();
        assert!(matches!(
            d.spend(&spend, &nonce, "h", 1),
            Err(DeskError::UnknownChallenge)
        ));
    }

    #[test]
    fn purchase_is_once_per_session_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let (req, awaiting) = request(&d, 50);
        // Asking for more than the escrow paid for.
        assert!(matches!(
            d.purchase(&SESSION, Balance::from_kib(49), &req),
            Err(DeskError::BalanceMismatch { .. })
        ));
        assert!(d.purchase_of(&SESSION).unwrap().is_none());
        let first = d.purchase(&SESSION, Balance::from_kib(50), &req).unwrap();
        // Retry of the same request: same answer, still one purchase.
        let again = d.purchase(&SESSION, Balance::from_kib(50), &req).unwrap();
        assert_eq!(first, again);
        assert_eq!(d.counters().0, 1);
        assert_eq!(
            awaiting.finish_issuance(&first).unwrap().balance(),
            Balance::from_kib(50)
        );
        // Another request on the same session: refused.
        let (other, _) = request(&d, 50);
        assert!(matches!(
            d.purchase(&SESSION, Balance::from_kib(50), &other),
            Err(DeskError::AlreadyPurchased)
        ));
    }

    #[test]
    fn purchase_bound_to_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        // Request made for SESSION, presented for another session.
        let (req, _) = request(&d, 50);
        assert!(matches!(
            d.purchase(&[5; 32], Balance::from_kib(50), &req),
            Err(DeskError::Issue(_))
        ));
        assert!(d.purchase_of(&[5; 32]).unwrap().is_none());
    }

    #[test]
    fn concurrent_double_spend_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let d = Arc::new(desk(dir.path()));
        let cred = bought(&d, 100);
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let nonce = d.issue_challenge().unwrap();
                let (spend, _) = cred
                    .prepare_spend(
                        Balance::from_kib(5),
                        &spend_context(&nonce, "h", 80),
                        &mut rand::thread_rng(),
                    )
                    .unwrap();
                let d = d.clone();
                std::thread::spawn(move || d.spend(&spend, &nonce, "h", 80))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Ok(_) | Err(DeskError::Spend(SpendError::AlreadySpent))))
        );
    }

    proptest::proptest! {
        /// Untrusted voucher payments and stored records never panic the
        /// decoders; only exact lengths can decode.
        #[test]
        fn decoders_never_panic(
            nonce in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            spend in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
            record in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let decoded = VoucherPayment::decode(&pb::VoucherSpend {
                nonce: nonce.clone(),
                spend_request: spend.clone(),
            });
            if nonce.len() != NONCE_BYTES || spend.len() != SpendRequest::ENCODED_LEN {
                proptest::prop_assert!(decoded.is_err());
            }
            if PurchaseRecord::decode(&record).is_ok() {
                proptest::prop_assert_eq!(record.len(), PURCHASE_BYTES);
            }
        }

    }

    #[test]
    fn corrupted_purchase_record_is_an_error() {
        assert!(PurchaseRecord::decode(&[1, 2, 3]).is_err());
        let mut bytes = vec![0u8; PURCHASE_BYTES];
        assert!(PurchaseRecord::decode(&bytes).is_err());
        bytes[0] = PURCHASE_VERSION;
        assert!(PurchaseRecord::decode(&bytes).is_err());
    }
}
