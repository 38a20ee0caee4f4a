//! Proof verification as the ledger sees it: a trait over statements the
//! ledger built itself, so the state machine is testable with a fake and
//! runs with the Groth16 verifier of `veil-proofs` in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::types::{AccessStatement, Proof, SettleStatement, WithdrawStatement};

/// Verifies the three kinds of proof the ledger accepts. Implementations
/// must return `true` only for a proof that verifies (`Ok(true)` from
/// Groth16; a decode error or `Ok(false)` is `false`).
pub trait ProofVerifier: Send + Sync + 'static {
    fn verify_access(&self, statement: &AccessStatement, proof: &Proof) -> bool;
    fn verify_withdraw(&self, statement: &WithdrawStatement, proof: &Proof) -> bool;
    fn verify_settle(&self, statement: &SettleStatement, proof: &Proof) -> bool;
}

impl<V: ProofVerifier + ?Sized> ProofVerifier for Arc<V> {
    fn verify_access(&self, s: &AccessStatement, p: &Proof) -> bool {
        (**self).verify_access(s, p)
    }
    fn verify_withdraw(&self, s: &WithdrawStatement, p: &Proof) -> bool {
        (**self).verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleStatement, p: &Proof) -> bool {
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
    fn verify_access(&self, s: &AccessStatement, p: &Proof) -> bool {
        self.count();
        self.inner.verify_access(s, p)
    }
    fn verify_withdraw(&self, s: &WithdrawStatement, p: &Proof) -> bool {
        self.count();
        self.inner.verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleStatement, p: &Proof) -> bool {
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
    fn verify_access(&self, _: &AccessStatement, p: &Proof) -> bool {
        self.check(p)
    }
    fn verify_withdraw(&self, _: &WithdrawStatement, p: &Proof) -> bool {
        self.check(p)
    }
    fn verify_settle(&self, _: &SettleStatement, p: &Proof) -> bool {
        self.check(p)
    }
}

/// Refuses every proof: what a ledger without verifying keys runs with
/// (fail closed).
pub struct RejectAll;

impl ProofVerifier for RejectAll {
    fn verify_access(&self, _: &AccessStatement, _: &Proof) -> bool {
        false
    }
    fn verify_withdraw(&self, _: &WithdrawStatement, _: &Proof) -> bool {
        false
    }
    fn verify_settle(&self, _: &SettleStatement, _: &Proof) -> bool {
        false
    }
}
