//! Proof verification as the ledger sees it: a trait over statements the
//! ledger built itself, so the state machine is testable with a fake and
//! runs with the Groth16 verifier of `veil-proofs` in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use veil_proofs::{CircuitId, SettleSize};

use crate::types::{AccessPublic, Proof, SettleBatch, WithdrawPublic};

/// Verifies the three kinds of proof the ledger accepts. Implementations
/// must return `true` only for a proof that verifies (`Ok(true)` from
/// Groth16; a decode error or `Ok(false)` is `false`).
pub trait ProofVerifier: Send + Sync + 'static {
    fn verify_access(&self, statement: &AccessPublic, proof: &Proof) -> bool;
    fn verify_withdraw(&self, statement: &WithdrawPublic, proof: &Proof) -> bool;
    fn verify_settle(&self, statement: &SettleBatch, proof: &Proof) -> bool;
}

impl<V: ProofVerifier + ?Sized> ProofVerifier for Arc<V> {
    fn verify_access(&self, s: &AccessPublic, p: &Proof) -> bool {
        (**self).verify_access(s, p)
    }
    fn verify_withdraw(&self, s: &WithdrawPublic, p: &Proof) -> bool {
        (**self).verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleBatch, p: &Proof) -> bool {
        (**self).verify_settle(s, p)
    }
}

/// Wraps a verifier and counts every call: the evidence that cheap checks
/// run before any pairing (adversarial C5).
pub struct CountingVerifier<V> {
    inner: V,
    calls: AtomicU64,
}

impl<V: ProofVerifier> CountingVerifier<V> {
    pub fn new(inner: V) -> Self {
        Self {
            inner,
            calls: AtomicU64::new(0),
        }
    }
    /// Number of proofs verified so far (valid or not).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl<V: ProofVerifier> ProofVerifier for CountingVerifier<V> {
    fn verify_access(&self, s: &AccessPublic, p: &Proof) -> bool {
        self.count();
        self.inner.verify_access(s, p)
    }
    fn verify_withdraw(&self, s: &WithdrawPublic, p: &Proof) -> bool {
        self.count();
        self.inner.verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleBatch, p: &Proof) -> bool {
        self.count();
        self.inner.verify_settle(s, p)
    }
}

/// TEST ONLY: accepts every proof whose first byte is [`FakeVerifier::VALID`]
/// while [`FakeVerifier::set_accept`] is on. Never used by `veil ledger serve`.
#[derive(Default)]
pub struct FakeVerifier {
    reject_all: AtomicBool,
}

impl FakeVerifier {
    /// First proof byte the fake accepts.
    pub const VALID: u8 = 0xA5;
    /// A proof the fake accepts.
    pub fn valid_proof() -> Proof {
        let mut p = [0u8; Proof::LEN];
        p[0] = Self::VALID;
        Proof(p)
    }
    /// A proof the fake rejects.
    pub fn invalid_proof() -> Proof {
        Proof([0u8; Proof::LEN])
    }
    /// Turns acceptance of valid-looking proofs on or off.
    pub fn set_accept(&self, accept: bool) {
        self.reject_all.store(!accept, Ordering::Relaxed);
    }
    fn check(&self, p: &Proof) -> bool {
        !self.reject_all.load(Ordering::Relaxed) && p.0[0] == Self::VALID
    }
}

impl ProofVerifier for FakeVerifier {
    fn verify_access(&self, _: &AccessPublic, p: &Proof) -> bool {
        self.check(p)
    }
    fn verify_withdraw(&self, _: &WithdrawPublic, p: &Proof) -> bool {
        self.check(p)
    }
    fn verify_settle(&self, _: &SettleBatch, p: &Proof) -> bool {
        self.check(p)
    }
}

/// Refuses every proof: what a ledger without verifying keys runs with
/// (fail closed).
pub struct RejectAll;

impl ProofVerifier for RejectAll {
    fn verify_access(&self, _: &AccessPublic, _: &Proof) -> bool {
        false
    }
    fn verify_withdraw(&self, _: &WithdrawPublic, _: &Proof) -> bool {
        false
    }
    fn verify_settle(&self, _: &SettleBatch, _: &Proof) -> bool {
        false
    }
}

/// The production verifier: Groth16 over the pinned verifying keys of
/// `veil-proofs` (docs/protocol.md §7.4, §8.3). Every statement is the one
/// the ledger built from its own state; for a settlement the batch digest is
/// recomputed here from the ledger's escrow records and the submitted
/// `cm_refund`s, zero-padded to `K` (§5.3). Accepts only `Ok(true)` from
/// arkworks (a decode failure of the proof is a rejection).
#[derive(Clone, Debug)]
pub struct Groth16Verifier {
    inner: veil_proofs::Verifier,
}

impl Groth16Verifier {
    /// Wraps a loaded verifier. It should hold the access and withdraw keys
    /// and a settle key for every `K` in [`crate::LedgerConfig::settle_batch_sizes`];
    /// a missing key rejects every proof of that kind (fail closed).
    pub fn new(inner: veil_proofs::Verifier) -> Self {
        Self { inner }
    }

    /// Loads the access, withdraw and `settle_K` (for each `K` in
    /// `settle_sizes`) verifying keys from `store`, each checked against its
    /// pinned hash.
    pub fn from_store(
        store: &veil_proofs::ParamStore,
        settle_sizes: &[u32],
    ) -> Result<Self, crate::error::VerifierSetupError> {
        let mut circuits = vec![CircuitId::Access, CircuitId::Withdraw];
        for &k in settle_sizes {
            let size = SettleSize::new(u64::from(k))
                .map_err(|_| crate::error::VerifierSetupError::NoCircuit(k))?;
            circuits.push(CircuitId::Settle(size));
        }
        Ok(Self::new(veil_proofs::Verifier::from_store(
            store, &circuits, None,
        )?))
    }

    /// [`Self::from_store`] over the default store of `set`.
    pub fn open(
        set: veil_proofs::KeySet,
        settle_sizes: &[u32],
    ) -> Result<Self, crate::error::VerifierSetupError> {
        Self::from_store(&veil_proofs::ParamStore::open_default(set)?, settle_sizes)
    }

    /// [`Self::open`] with the INSECURE development keys pinned in
    /// `params/dev/` (tests and demos only).
    pub fn dev(settle_sizes: &[u32]) -> Result<Self, crate::error::VerifierSetupError> {
        Self::open(veil_proofs::KeySet::Dev, settle_sizes)
    }

    /// The wrapped `veil-proofs` verifier.
    pub fn inner(&self) -> &veil_proofs::Verifier {
        &self.inner
    }
}

fn decode_proof(p: &Proof) -> Option<veil_proofs::Proof> {
    veil_proofs::Proof::from_bytes(&p.0).ok()
}

impl ProofVerifier for Groth16Verifier {
    fn verify_access(&self, s: &AccessPublic, p: &Proof) -> bool {
        let Some(proof) = decode_proof(p) else {
            return false;
        };
        let token = veil_proofs::AccessToken { public: *s, proof };
        self.inner.verify_access(&token).is_ok()
    }

    fn verify_withdraw(&self, s: &WithdrawPublic, p: &Proof) -> bool {
        let Some(proof) = decode_proof(p) else {
            return false;
        };
        let w = veil_proofs::WithdrawProof { public: *s, proof };
        self.inner.verify_withdraw(&w).is_ok()
    }

    fn verify_settle(&self, s: &SettleBatch, p: &Proof) -> bool {
        let (Some(proof), Some((k, public))) = (decode_proof(p), s.public()) else {
            return false;
        };
        self.inner.verify_settle(k, &public, &proof).is_ok()
    }
}

/// One queued access verification and where its answer goes.
type AccessJob = (AccessPublic, Proof, std::sync::mpsc::SyncSender<bool>);

/// [`Groth16Verifier`] that verifies concurrently submitted access tokens
/// together: one worker thread drains the queue (up to `max_batch`) and
/// checks them with one randomised multi-pairing (docs/protocol.md §7.5,
/// 128-bit weights from the OS RNG). If the batch fails, each token is
/// verified on its own, so an invalid token never makes a valid one fail.
/// Withdraw and settle proofs are verified individually.
pub struct BatchingVerifier {
    inner: Arc<Groth16Verifier>,
    queue: std::sync::Mutex<std::sync::mpsc::Sender<AccessJob>>,
}

impl BatchingVerifier {
    /// Starts the worker thread; it stops when the verifier is dropped.
    pub fn new(inner: Groth16Verifier, max_batch: usize) -> std::io::Result<Self> {
        let inner = Arc::new(inner);
        let (tx, rx) = std::sync::mpsc::channel::<AccessJob>();
        let worker = inner.clone();
        std::thread::Builder::new()
            .name("veil-ledger-batch-verify".into())
            .spawn(move || batch_worker(&worker, &rx, max_batch.max(1)))?;
        Ok(Self {
            inner,
            queue: std::sync::Mutex::new(tx),
        })
    }
}

fn batch_worker(v: &Groth16Verifier, rx: &std::sync::mpsc::Receiver<AccessJob>, max: usize) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut ok = vec![false; jobs.len()];
        let mut tokens = Vec::with_capacity(jobs.len());
        let mut index = Vec::with_capacity(jobs.len());
        for (i, (s, p, _)) in jobs.iter().enumerate() {
            // An undecodable proof is rejected without a pairing.
            if let Some(proof) = decode_proof(p) {
                tokens.push(veil_proofs::AccessToken { public: *s, proof });
                index.push(i);
            }
        }
        let batch_ok = tokens.len() > 1
            && v.inner
                .batch_verify_access(&tokens, &mut rand::rngs::OsRng)
                .is_ok();
        for (t, &i) in tokens.iter().zip(&index) {
            if let Some(slot) = ok.get_mut(i) {
                *slot = batch_ok || v.inner.verify_access(t).is_ok();
            }
        }
        for ((_, _, reply), ok) in jobs.into_iter().zip(ok) {
            let _ = reply.send(ok);
        }
    }
}

impl ProofVerifier for BatchingVerifier {
    fn verify_access(&self, s: &AccessPublic, p: &Proof) -> bool {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let sent = match self.queue.lock() {
            Ok(q) => q.send((s.clone(), p.clone(), tx)).is_ok(),
            Err(_) => false,
        };
        // A stopped worker fails closed.
        sent && rx.recv().unwrap_or(false)
    }
    fn verify_withdraw(&self, s: &WithdrawPublic, p: &Proof) -> bool {
        self.inner.verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleBatch, p: &Proof) -> bool {
        self.inner.verify_settle(s, p)
    }
}
