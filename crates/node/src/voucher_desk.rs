//! The node's voucher desk (`docs/vouchers.md` §9 "Purchase and use"):
//! the issuer key, the spent-nullifier set, the purchase records and the
//! single-use spend challenges. It knows nothing of gRPC, sessions or the
//! relay: callers pass decoded messages and get domain errors.
//!
//! * Purchase: [`VoucherDesk::purchase`] issues a credential for a
//!   session's full credit at most once per session, and records it with
//!   the receipt that paid for it in one transaction of the node database
//!   ([`NodeStore::record_purchase`]); a retry of the same request gets
//!   the same answer. The session-side checks and the reservation are the
//!   sans-IO [`crate::purchase`].
//! * Spend: a voucher-paid `Open` carries a spend bound to
//!   [`spend_context`] (a fresh nonce from [`VoucherDesk::issue_challenge`]
//!   and the stream's `host:port`); [`VoucherDesk::spend`] consumes the
//!   nonce, verifies the spend and records its nullifier atomically.
//!
//! # Files in the node directory
//! * `voucher.key` (0600): the current epoch's issuer secret key
//!   (`IssuerSecretKey::to_bytes`, 41 bytes), created at first start.
//! * the voucher tables live in `node.redb` ([`crate::store`]).
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use veil_primitives::ids::SessionId;
use veil_primitives::receipt::SignedReceipt;
use veil_vouchers::context::{VoucherNonce, purchase_context, spend_context};
use veil_vouchers::{
    Balance, DecodeError, Epoch, IssuanceRequest, IssuanceResponse, IssueError, Issuer,
    IssuerPublicKey, IssuerSecretKey, NodeId as VoucherNodeId, SpendError, SpendRequest,
    SpendResponse, VerifiedSpend,
};

use crate::keys::{KeyFileError, read_secret, write_secret};
use crate::store::{NodeNullifiers, NodeStore, PurchaseRecord, StoreError};
use crate::sync::lock;

/// File name of the issuer secret key inside the node directory.
pub const VOUCHER_KEY_FILE: &str = "voucher.key";
/// How long a challenge nonce stays valid.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(60);
/// Outstanding challenges the node keeps at most (bounds memory, C6).
pub const MAX_CHALLENGES: usize = 65_536;

/// Why the desk refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("voucher database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("voucher key file: {0}")]
    KeyFile(DecodeError),
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
    /// A blocking desk task did not finish.
    #[error("voucher task failed")]
    Task,
}

/// The node's voucher desk: issuer, nullifier set, purchases, challenges.
#[derive(Debug)]
pub struct VoucherDesk {
    issuer: Issuer<NodeNullifiers>,
    store: Arc<NodeStore>,
    challenges: Mutex<HashMap<VoucherNonce, Instant>>,
    challenge_ttl: Duration,
    purchases: AtomicU64,
    spends: AtomicU64,
}

fn load_or_create_key(dir: &Path) -> Result<IssuerSecretKey, DeskError> {
    let path = dir.join(VOUCHER_KEY_FILE);
    if !path.exists() {
        let key = IssuerSecretKey::generate(Epoch::new(0), &mut rand::rngs::OsRng);
        write_secret(
            &path,
            &veil_primitives::secret::Zeroizing::new(key.to_bytes()),
        )?;
        return Ok(key);
    }
    let bytes = veil_primitives::secret::Zeroizing::new(read_secret(&path)?);
    IssuerSecretKey::from_bytes(&bytes).map_err(DeskError::KeyFile)
}

impl VoucherDesk {
    /// Opens the desk: the issuer key in the node directory `dir` (created
    /// at first start), the voucher tables in `store`. `node_id` is the
    /// node's ledger id bytes.
    pub fn open(
        dir: &Path,
        node_id: VoucherNodeId,
        store: Arc<NodeStore>,
    ) -> Result<Self, DeskError> {
        let key = load_or_create_key(dir)?;
        Ok(Self {
            issuer: Issuer::new(node_id, key, NodeNullifiers(store.clone())),
            store,
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

    /// The node database holding the voucher tables.
    pub fn store(&self) -> &NodeStore {
        &self.store
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
    pub fn purchase_of(&self, session_id: &SessionId) -> Result<Option<PurchaseRecord>, DeskError> {
        Ok(self.store.purchase(session_id)?)
    }

    /// Issues the voucher bought by `session_id` for `credit` KiB (§9.2):
    /// the request must ask for exactly `credit` under the current epoch
    /// with a valid proof, bound to [`purchase_context`]. At most one
    /// request per session is answered; the same request again (same
    /// `request_digest`, SHA-256 of its bytes) gets the stored answer (a
    /// retry after a lost reply). The answer and `receipt` are committed
    /// together. Blocking.
    ///
    /// The caller must have checked and reserved the session
    /// ([`crate::purchase`]).
    pub fn purchase(
        &self,
        session_id: &SessionId,
        credit: Balance,
        request: &IssuanceRequest,
        request_digest: [u8; 32],
        receipt: &SignedReceipt,
    ) -> Result<IssuanceResponse, DeskError> {
        if let Some(record) = self.purchase_of(session_id)? {
            return answer_again(&record, request_digest);
        }
        if request.balance() != credit {
            return Err(DeskError::BalanceMismatch {
                requested: request.balance(),
                credit,
            });
        }
        let context = purchase_context(&session_id.to_bytes());
        let record = PurchaseRecord {
            request_digest,
            response: self.issuer.issue(request, &context)?,
        };
        let stored = self.store.record_purchase(session_id, &record, receipt)?;
        if stored == record {
            self.purchases.fetch_add(1, Ordering::Relaxed);
        }
        answer_again(&stored, request_digest)
    }
}

/// The recorded answer, for the request it answered only.
fn answer_again(
    record: &PurchaseRecord,
    request_digest: [u8; 32],
) -> Result<IssuanceResponse, DeskError> {
    if record.request_digest == request_digest {
        Ok(record.response.clone())
    } else {
        Err(DeskError::AlreadyPurchased)
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::field::fr_from_u64;
    use veil_primitives::receipt::Receipt;
    use veil_vouchers::context::NONCE_BYTES;
    use veil_vouchers::{AwaitingIssuance, Credential};

    const NODE: VoucherNodeId = VoucherNodeId::new([9; 32]);

    fn session(n: u64) -> SessionId {
        SessionId::from_fr(fr_from_u64(n))
    }

    fn desk(dir: &Path) -> VoucherDesk {
        let store = Arc::new(NodeStore::open(&dir.join("node.redb")).unwrap());
        VoucherDesk::open(dir, NODE, store).unwrap()
    }

    fn request_for(
        desk: &VoucherDesk,
        sid: SessionId,
        kib: u64,
    ) -> (IssuanceRequest, AwaitingIssuance) {
        Credential::request_issuance(
            desk.current_key(),
            NODE,
            Balance::from_kib(kib),
            &purchase_context(&sid.to_bytes()),
            &mut rand::thread_rng(),
        )
    }

    fn request(desk: &VoucherDesk, kib: u64) -> (IssuanceRequest, AwaitingIssuance) {
        request_for(desk, session(4), kib)
    }

    fn receipt(sid: SessionId, kib: u64) -> SignedReceipt {
        let sk = SigningKey::from_seed([3; 32]).unwrap();
        Receipt {
            session_id: sid.inner(),
            kib,
        }
        .sign(&sk)
    }

    fn digest(req: &IssuanceRequest) -> [u8; 32] {
        Sha256::digest(req.to_bytes()).into()
    }

    /// Buys for `sid` with a receipt for `credit` KiB.
    fn buy(
        desk: &VoucherDesk,
        sid: SessionId,
        credit: u64,
        req: &IssuanceRequest,
    ) -> Result<IssuanceResponse, DeskError> {
        let r = receipt(sid, credit);
        desk.purchase(&sid, Balance::from_kib(credit), req, digest(req), &r)
    }

    fn bought(desk: &VoucherDesk, kib: u64) -> Credential {
        let (req, awaiting) = request(desk, kib);
        let resp = buy(desk, session(4), kib, &req).unwrap();
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
            d.store()
                .nullifier_spent(spend.epoch(), &spend.nullifier())
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
        // The purchase record and its receipt survived too.
        assert!(d.purchase_of(&session(4)).unwrap().is_some());
        assert!(d.store().receipt(&session(4)).unwrap().is_some());
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
            !d.store()
                .nullifier_spent(spend.epoch(), &spend.nullifier())
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
            buy(&d, session(4), 49, &req),
            Err(DeskError::BalanceMismatch { .. })
        ));
        assert!(d.purchase_of(&session(4)).unwrap().is_none());
        assert!(d.store().receipt(&session(4)).unwrap().is_none());
        let first = buy(&d, session(4), 50, &req).unwrap();
        // Retry of the same request: same answer, still one purchase.
        let again = buy(&d, session(4), 50, &req).unwrap();
        assert_eq!(first, again);
        assert_eq!(d.counters().0, 1);
        assert_eq!(
            awaiting.finish_issuance(&first).unwrap().balance(),
            Balance::from_kib(50)
        );
        // Another request on the same session: refused.
        let (other, _) = request(&d, 50);
        assert!(matches!(
            buy(&d, session(4), 50, &other),
            Err(DeskError::AlreadyPurchased)
        ));
    }

    #[test]
    fn purchase_bound_to_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        // Request made for session 4, presented for session 5.
        let (req, _) = request(&d, 50);
        assert!(matches!(
            buy(&d, session(5), 50, &req),
            Err(DeskError::Issue(_))
        ));
        assert!(d.purchase_of(&session(5)).unwrap().is_none());
        assert!(d.store().receipt(&session(5)).unwrap().is_none());
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

    /// §9.2 and issue 9: a purchase and the receipt that reserves its
    /// session commit in one transaction. A failure while writing the
    /// receipt (here: a corrupted stored receipt) leaves neither.
    #[test]
    fn purchase_and_its_receipt_are_both_present_or_both_absent() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let sid = session(4);
        d.store().put_raw_receipt(&sid, b"not a receipt").unwrap();
        let (req, _) = request(&d, 50);
        assert!(matches!(
            buy(&d, sid, 50, &req),
            Err(DeskError::Store(StoreError::Corrupted(_)))
        ));
        assert!(d.purchase_of(&sid).unwrap().is_none());
        assert_eq!(d.counters().0, 0);
        // Both present after a successful purchase, also after a reopen.
        let (req, _) = request_for(&d, session(6), 50);
        let resp = buy(&d, session(6), 50, &req).unwrap();
        drop(d);
        let d = desk(dir.path());
        let record = d.purchase_of(&session(6)).unwrap().unwrap();
        assert_eq!(record.response, resp);
        let held = d.store().receipt(&session(6)).unwrap().unwrap();
        assert_eq!(held.receipt.kib, 50);
    }

    /// A pre-issue-9 `vouchers.redb` is moved into `node.redb` once: its
    /// purchases answer retries and its nullifiers stay spent.
    #[test]
    fn a_legacy_voucher_database_is_migrated_once() {
        let old = tempfile::tempdir().unwrap();
        let d = desk(old.path());
        let cred = bought(&d, 100);
        let nonce = d.issue_challenge().unwrap();
        let ctx = spend_context(&nonce, "h", 1);
        let (spend, _) = cred
            .prepare_spend(Balance::from_kib(10), &ctx, &mut rand::thread_rng())
            .unwrap();
        d.spend(&spend, &nonce, "h", 1).unwrap();
        let record = d.purchase_of(&session(4)).unwrap().unwrap();
        drop(d);
        // The same two tables, same names and encodings, as the old file.
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(crate::store::LEGACY_VOUCHER_DB_FILE);
        std::fs::copy(old.path().join("node.redb"), &legacy).unwrap();
        let store = NodeStore::open(&dir.path().join("node.redb")).unwrap();
        assert!(store.import_legacy_vouchers(dir.path()).unwrap());
        assert_eq!(store.purchase(&session(4)).unwrap(), Some(record));
        assert!(
            store
                .nullifier_spent(spend.epoch(), &spend.nullifier())
                .unwrap()
        );
        assert!(!legacy.exists());
        assert!(
            dir.path()
                .join(crate::store::MIGRATED_VOUCHER_DB_FILE)
                .exists()
        );
        // Once: nothing left to import.
        assert!(!store.import_legacy_vouchers(dir.path()).unwrap());
    }

    /// A legacy purchase that contradicts the node database is refused:
    /// nothing is imported and the legacy file stays.
    #[test]
    fn a_conflicting_legacy_purchase_is_refused() {
        let old = tempfile::tempdir().unwrap();
        let d = desk(old.path());
        bought(&d, 100);
        drop(d);
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        bought(&d, 100); // another request for the same session id
        let mine = d.purchase_of(&session(4)).unwrap();
        let legacy = dir.path().join(crate::store::LEGACY_VOUCHER_DB_FILE);
        std::fs::copy(old.path().join("node.redb"), &legacy).unwrap();
        assert!(matches!(
            d.store().import_legacy_vouchers(dir.path()),
            Err(StoreError::MigrationConflict)
        ));
        assert_eq!(d.purchase_of(&session(4)).unwrap(), mine);
        assert!(legacy.exists());
    }
}
