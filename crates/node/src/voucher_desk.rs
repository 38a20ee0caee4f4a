//! The node's voucher desk (`docs/vouchers.md` §9 "Purchase and use"):
//! the issuer keys by epoch, the spent-nullifier set, the purchase records
//! and the single-use spend challenges. It knows nothing of gRPC, sessions
//! or the relay: callers pass decoded messages (and the time, for the
//! epoch rule) and get domain errors.
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
//!   nonce, checks the credential's epoch ([`check_epoch`]), verifies the
//!   spend and records its nullifier atomically.
//! * Exchange (§3): [`VoucherDesk::exchange`] turns a previous-epoch
//!   credential into a current-epoch one on the same balance during the
//!   grace period.
//! * Epochs (§3.2): the key files and the acceptance rule are
//!   [`crate::voucher_keys`]; [`VoucherDesk::promote_if_published`] makes a
//!   staged key current once the node's ledger profile names it.
//!
//! # Files in the node directory
//! * `voucher.key`, `voucher.next.key`, `voucher.prev.key` (0600): the
//!   epoch keys ([`crate::voucher_keys`]);
//! * the voucher tables live in `node.redb` ([`crate::store`]).
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use veil_primitives::ids::SessionId;
use veil_primitives::receipt::SignedReceipt;
use veil_vouchers::context::{VoucherNonce, exchange_context, purchase_context, spend_context};
use veil_vouchers::{
    Balance, DecodeError, IssuanceRequest, IssuanceResponse, IssueError, Issuer, IssuerPublicKey,
    KeyProof, NodeId as VoucherNodeId, SpendError, SpendRequest, SpendResponse, VerifiedSpend,
};

use crate::keys::KeyFileError;
use crate::store::{NodeNullifiers, NodeStore, PurchaseRecord, StoreError};
use crate::sync::lock;
use crate::voucher_keys::{self, EpochRefused, Grace, UnixSecs, VoucherKeyError, check_epoch};

/// File name of the current issuer secret key inside the node directory.
pub const VOUCHER_KEY_FILE: &str = voucher_keys::CURRENT_FILE;
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
    #[error(transparent)]
    KeyFile(#[from] VoucherKeyError),
    /// A message from the client does not decode canonically.
    #[error("malformed voucher message: {0}")]
    Malformed(#[from] DecodeError),
    /// The nonce was never issued, was used before, or expired.
    #[error("unknown, used or expired voucher challenge")]
    UnknownChallenge,
    #[error("too many outstanding voucher challenges")]
    TooManyChallenges,
    /// The credential's epoch is not accepted now (§3.2): the previous
    /// epoch after its grace period, or an unknown epoch.
    #[error(transparent)]
    Epoch(#[from] EpochRefused),
    /// The spend was refused (bad proof, already spent, store).
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

/// The issuer (current key, previous key) and the previous epoch's grace
/// period, which outlives the previous key (deleted once it is over), so a
/// late spend is told that its epoch's grace ended.
#[derive(Debug)]
struct Epochs {
    issuer: Issuer<NodeNullifiers>,
    grace: Option<Grace>,
}

impl Epochs {
    /// [`check_epoch`] for this node's keys.
    fn check(&self, request: &SpendRequest, now: UnixSecs) -> Result<(), EpochRefused> {
        let current = self.issuer.current_key().epoch();
        check_epoch(current, self.grace, request.epoch(), now)
    }
}

/// The node's voucher desk: issuer keys, nullifier set, purchases, challenges.
#[derive(Debug)]
pub struct VoucherDesk {
    dir: PathBuf,
    epochs: RwLock<Epochs>,
    store: Arc<NodeStore>,
    challenges: Mutex<HashMap<VoucherNonce, Instant>>,
    challenge_ttl: Duration,
    purchases: AtomicU64,
    spends: AtomicU64,
}

impl VoucherDesk {
    /// Opens the desk: the issuer keys in the node directory `dir` (created
    /// at first start, [`voucher_keys::load`]), the voucher tables in
    /// `store`. `node_id` is the node's ledger id bytes.
    pub fn open(
        dir: &Path,
        node_id: VoucherNodeId,
        store: Arc<NodeStore>,
    ) -> Result<Self, DeskError> {
        let files = voucher_keys::load(dir)?;
        let nullifiers = NodeNullifiers(store.clone());
        let (issuer, grace) = match files.previous {
            Some((previous, until)) => {
                let epoch = previous.epoch();
                let mut issuer = Issuer::new(node_id, previous, nullifiers);
                issuer
                    .rotate(files.current)
                    .map_err(|_| VoucherKeyError::Invalid(voucher_keys::PREVIOUS_FILE))?;
                (issuer, Some(Grace { epoch, until }))
            }
            None => (Issuer::new(node_id, files.current, nullifiers), None),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            epochs: RwLock::new(Epochs { issuer, grace }),
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

    fn read(&self) -> RwLockReadGuard<'_, Epochs> {
        self.epochs.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Epochs> {
        self.epochs.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key published in `GetTerms`: the current epoch's.
    pub fn current_key(&self) -> IssuerPublicKey {
        *self.read().issuer.current_key()
    }

    /// The previous epoch's key and the end of its grace period, if the
    /// node still holds it.
    pub fn grace(&self) -> Option<(IssuerPublicKey, UnixSecs)> {
        let e = self.read();
        Some((*e.issuer.grace_key()?, e.grace?.until))
    }

    /// The node id bound into every voucher transcript.
    pub fn node_id(&self) -> VoucherNodeId {
        *self.read().issuer.node_id()
    }

    /// The keys the node's ledger profile lists at `now` (§3.1), newest
    /// first: the current one and the previous one during its grace
    /// period, each with its (deterministic) proof of well-formedness.
    pub fn published_keys(&self, now: UnixSecs) -> Vec<(IssuerPublicKey, KeyProof)> {
        let e = self.read();
        let in_grace = e.grace.is_some_and(|g| now < g.until);
        let mut keys = e.issuer.published_keys();
        keys.truncate(if in_grace { 2 } else { 1 });
        keys
    }

    /// The staged next key of a rotation, if any (`voucher.next.key`).
    pub fn staged_key(&self) -> Result<Option<IssuerPublicKey>, DeskError> {
        Ok(voucher_keys::staged(&self.dir)?.map(|k| *k.public_key()))
    }

    /// Promotes the staged key once the node's ledger profile publishes it
    /// as its newest key (`newest`, §3.2): the staged key becomes current,
    /// the current one is accepted for spends until `now + grace_secs`
    /// (the profile's `voucher_grace_secs`), and both survive a restart.
    /// Returns the new current key, or `None` if nothing was staged or the
    /// profile does not name the staged key.
    pub fn promote_if_published(
        &self,
        newest: &IssuerPublicKey,
        grace_secs: u64,
        now: UnixSecs,
    ) -> Result<Option<IssuerPublicKey>, DeskError> {
        let Some(staged) = voucher_keys::staged(&self.dir)? else {
            return Ok(None);
        };
        let mut e = self.write();
        if staged.public_key() != newest || staged.epoch() <= e.issuer.current_key().epoch() {
            return Ok(None);
        }
        let until = now.plus(grace_secs);
        voucher_keys::promote(&self.dir, until)?;
        let key = *staged.public_key();
        let epoch = e.issuer.current_key().epoch();
        e.issuer
            .rotate(staged)
            .map_err(|_| VoucherKeyError::Invalid(voucher_keys::STAGED_FILE))?;
        e.grace = Some(Grace { epoch, until });
        Ok(Some(key))
    }

    /// Drops the previous key once its grace period is over at `now`
    /// (spends under it are refused from then on either way, and still
    /// told that their grace ended until the node restarts); returns
    /// whether it did.
    pub fn forget_expired_grace(&self, now: UnixSecs) -> Result<bool, DeskError> {
        let mut e = self.write();
        match e.grace {
            Some(g) if now >= g.until && e.issuer.grace_key().is_some() => {
                voucher_keys::forget_previous(&self.dir)?;
                e.issuer.end_grace();
                Ok(true)
            }
            _ => Ok(false),
        }
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

    /// Issues a fresh single-use nonce for one voucher-paid open or exchange.
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

    /// Accepts a voucher spend for a stream to `host:port` at time `now`:
    /// consumes the nonce (even if the spend then fails: a nonce is
    /// single-use), checks the credential's epoch (§3.2), verifies the
    /// spend bound to [`spend_context`], records its nullifier atomically
    /// and re-issues the rest under the current key. Blocking (≈ 2 ms and
    /// one fsync).
    pub fn spend(
        &self,
        request: &SpendRequest,
        nonce: &VoucherNonce,
        host: &str,
        port: u16,
        now: UnixSecs,
    ) -> Result<(VerifiedSpend, SpendResponse), DeskError> {
        self.take_challenge(nonce)?;
        let context = spend_context(nonce, host, port);
        let e = self.read();
        e.check(request, now)?;
        let out = e.issuer.verify_spend(request, &context)?;
        self.spends.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    /// Exchanges a previous-epoch credential for a current-epoch one on the
    /// same balance during the grace period (§3): a spend of `0` bound to
    /// [`exchange_context`], with the same nonce, epoch and record rules
    /// as [`VoucherDesk::spend`]. Blocking.
    pub fn exchange(
        &self,
        request: &SpendRequest,
        nonce: &VoucherNonce,
        now: UnixSecs,
    ) -> Result<(VerifiedSpend, SpendResponse), DeskError> {
        self.take_challenge(nonce)?;
        let e = self.read();
        e.check(request, now)?;
        Ok(e.issuer.exchange(request, &exchange_context(nonce))?)
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
            response: self.read().issuer.issue(request, &context)?,
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

    use crate::voucher_keys;

    const NODE: VoucherNodeId = VoucherNodeId::new([9; 32]);
    /// The time passed to the epoch rule (no clock in these tests).
    const NOW: UnixSecs = UnixSecs(1_000_000);

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
            &desk.current_key(),
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
        let key = d.current_key();
        let cred = bought(&d, 100);
        let nonce = d.issue_challenge().unwrap();
        let ctx = spend_context(&nonce, "example.org", 443);
        let (spend, _) = cred
            .prepare_spend(Balance::from_kib(10), &ctx, &mut rand::thread_rng())
            .unwrap();
        d.spend(&spend, &nonce, "example.org", 443, NOW).unwrap();
        drop(d);
        let d = desk(dir.path());
        assert_eq!(d.current_key(), key);
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
            d.spend(&again, &nonce, "example.org", 443, NOW),
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
            d.spend(&spend, &forged, "h", 1, NOW),
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
            d.spend(&spend, &nonce, "h", 2, NOW),
            Err(DeskError::Spend(SpendError::Verification(_)))
        ));
        assert!(matches!(
            d.spend(&spend, &nonce, "h", 1, NOW),
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
        let (verified, resp) = d.spend(&spend, &nonce, "h", 1, NOW).unwrap();
        assert_eq!(verified.amount, Balance::from_kib(1));
        let next = pending.finish_spend(&resp, &d.current_key()).unwrap();
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
            d.spend(&spend, &nonce, "h", 1, NOW),
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
                std::thread::spawn(move || d.spend(&spend, &nonce, "h", 80, NOW))
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
        d.spend(&spend, &nonce, "h", 1, NOW).unwrap();
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

    /// A spend of `kib` from `cred` at `now`, on a fresh challenge.
    fn spend_at(
        d: &VoucherDesk,
        cred: &Credential,
        kib: u64,
        now: UnixSecs,
    ) -> (
        Result<(VerifiedSpend, SpendResponse), DeskError>,
        SpendRequest,
    ) {
        let nonce = d.issue_challenge().unwrap();
        let ctx = spend_context(&nonce, "h", 1);
        let (spend, _) = cred
            .prepare_spend(Balance::from_kib(kib), &ctx, &mut rand::thread_rng())
            .unwrap();
        (d.spend(&spend, &nonce, "h", 1, now), spend)
    }

    /// §3.2: a staged key is promoted only when the ledger profile names
    /// it; then the previous epoch is accepted until `now + grace`, that
    /// deadline survives a restart, and after it a spend is refused with
    /// nothing recorded.
    #[test]
    fn a_staged_key_is_promoted_when_published_and_the_previous_epoch_expires() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let old_key = d.current_key();
        let old_a = bought(&d, 100);
        let (req, awaiting) = request_for(&d, session(7), 100);
        let old_b = awaiting
            .finish_issuance(&buy(&d, session(7), 100, &req).unwrap())
            .unwrap();
        assert_eq!(d.staged_key().unwrap(), None);
        // Nothing staged: a published key changes nothing.
        assert_eq!(d.promote_if_published(&old_key, 60, NOW).unwrap(), None);
        let (_, staged) = voucher_keys::stage(dir.path()).unwrap();
        let staged = *staged.public_key();
        assert_eq!(d.staged_key().unwrap(), Some(staged));
        // The profile still names the current key: no promotion.
        assert_eq!(d.promote_if_published(&old_key, 60, NOW).unwrap(), None);
        assert_eq!(d.current_key(), old_key);
        assert_eq!(d.published_keys(NOW).len(), 1);
        // Named: promoted, the old key in grace until NOW + 60.
        let promoted = d.promote_if_published(&staged, 60, NOW).unwrap();
        assert_eq!(promoted, Some(staged));
        assert_eq!(d.current_key(), staged);
        assert_eq!(d.grace(), Some((old_key, NOW.plus(60))));
        let published: Vec<_> = d.published_keys(NOW).iter().map(|(k, _)| *k).collect();
        assert_eq!(published, vec![staged, old_key], "newest first");
        for (k, proof) in d.published_keys(NOW) {
            assert_eq!(k.verify_well_formed(&NODE, &proof), Ok(()));
        }
        // A restart keeps the keys and the deadline.
        drop(d);
        let d = desk(dir.path());
        assert_eq!(d.current_key(), staged);
        assert_eq!(d.grace(), Some((old_key, NOW.plus(60))));
        // Inside the grace period: accepted, re-issued under the new key.
        let (ok, _) = spend_at(&d, &old_a, 10, NOW.plus(59));
        let (verified, _) = ok.unwrap();
        assert_eq!(verified.epoch, old_key.epoch());
        // At the deadline: refused, nothing recorded.
        let (refused, spend) = spend_at(&d, &old_b, 10, NOW.plus(60));
        assert!(matches!(
            refused,
            Err(DeskError::Epoch(EpochRefused::GraceOver { epoch, ended }))
                if epoch == old_key.epoch() && ended == NOW.plus(60)
        ));
        assert!(
            !d.store()
                .nullifier_spent(spend.epoch(), &spend.nullifier())
                .unwrap()
        );
        assert_eq!(d.counters().1, 1);
        assert_eq!(d.published_keys(NOW.plus(60)).len(), 1);
        // The expired key is dropped, also from the directory.
        assert!(!d.forget_expired_grace(NOW.plus(59)).unwrap());
        assert!(d.forget_expired_grace(NOW.plus(60)).unwrap());
        assert!(!d.forget_expired_grace(NOW.plus(61)).unwrap(), "once");
        assert_eq!(d.grace(), None);
        assert!(!dir.path().join(voucher_keys::PREVIOUS_FILE).exists());
        let (refused, _) = spend_at(&d, &old_b, 10, NOW.plus(61));
        assert!(matches!(
            refused,
            Err(DeskError::Epoch(EpochRefused::GraceOver { .. }))
        ));
        drop(d);
        let d = desk(dir.path());
        assert_eq!(d.grace(), None);
        let (refused, _) = spend_at(&d, &old_b, 10, NOW);
        assert!(matches!(
            refused,
            Err(DeskError::Epoch(EpochRefused::Unknown { .. }))
        ));
    }

    /// §3: an exchange keeps the balance, needs a fresh challenge, works
    /// only for the previous epoch during its grace period and only for `0`.
    #[test]
    fn exchange_of_a_previous_epoch_credential_during_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        let old = bought(&d, 100);
        let current_cred = |d: &VoucherDesk| {
            let (req, awaiting) = request_for(d, session(8), 30);
            awaiting
                .finish_issuance(&buy(d, session(8), 30, &req).unwrap())
                .unwrap()
        };
        let (_, staged) = voucher_keys::stage(dir.path()).unwrap();
        d.promote_if_published(staged.public_key(), 60, NOW)
            .unwrap();
        let exchange = |cred: &Credential, kib: u64, now: UnixSecs| {
            let nonce = d.issue_challenge().unwrap();
            let (req, pending) = cred
                .prepare_spend(
                    Balance::from_kib(kib),
                    &exchange_context(&nonce),
                    &mut rand::thread_rng(),
                )
                .unwrap();
            (d.exchange(&req, &nonce, now), pending, req)
        };
        // A non-zero amount or a current-epoch credential is no exchange.
        let (r, _, _) = exchange(&old, 1, NOW);
        assert!(matches!(
            r,
            Err(DeskError::Spend(SpendError::NotAnExchange { .. }))
        ));
        let (r, _, _) = exchange(&current_cred(&d), 0, NOW);
        assert!(matches!(
            r,
            Err(DeskError::Spend(SpendError::NotAnExchange { .. }))
        ));
        // After the grace end: refused, nothing recorded.
        let (r, _, req) = exchange(&old, 0, NOW.plus(60));
        assert!(matches!(
            r,
            Err(DeskError::Epoch(EpochRefused::GraceOver { .. }))
        ));
        assert!(
            !d.store()
                .nullifier_spent(req.epoch(), &req.nullifier())
                .unwrap()
        );
        // A spend context is not an exchange context.
        let nonce = d.issue_challenge().unwrap();
        let (req, _) = old
            .prepare_spend(
                Balance::ZERO,
                &spend_context(&nonce, "h", 1),
                &mut rand::thread_rng(),
            )
            .unwrap();
        assert!(matches!(
            d.exchange(&req, &nonce, NOW),
            Err(DeskError::Spend(SpendError::Verification(_)))
        ));
        // Inside the grace period: the same balance under the new key, once.
        let (r, pending, req) = exchange(&old, 0, NOW);
        let (_, resp) = r.unwrap();
        let renewed = pending.finish_spend(&resp, &d.current_key()).unwrap();
        assert_eq!(renewed.epoch(), staged.epoch());
        assert_eq!(renewed.balance(), Balance::from_kib(100));
        assert!(
            d.store()
                .nullifier_spent(req.epoch(), &req.nullifier())
                .unwrap()
        );
        let (again, _, _) = exchange(&old, 0, NOW);
        assert!(matches!(
            again,
            Err(DeskError::Spend(SpendError::AlreadySpent))
        ));
    }
}
