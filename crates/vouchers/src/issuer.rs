//! The node's side: epoch keys, issuance, spend verification (docs/vouchers.md §3, §5, §6).

use rand_core::{CryptoRng, RngCore};

use crate::error::{IssueError, KeyError, SpendError};
use crate::issuance::{self, IssuanceRequest, IssuanceResponse};
use crate::key_proof::KeyProof;
use crate::keys::{IssuerPublicKey, IssuerSecretKey};
use crate::nullifier::{MemoryNullifierStore, NullifierStore, NullifierStoreError};
use crate::spend::{self, SpendRequest, SpendResponse};
use crate::types::{Balance, Epoch, NodeId, VoucherNullifier};

/// What an accepted spend tells the node: the amount to credit to the
/// connection, and the (now recorded) nullifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedSpend {
    pub amount: Balance,
    pub nullifier: VoucherNullifier,
    /// Epoch of the spent credential.
    pub epoch: Epoch,
}

/// A node's voucher issuer: the current epoch key, the previous one during
/// its grace period, and the spent-nullifier store.
///
/// `verify_spend` and `issue` take `&self` and are safe to call from many
/// threads; double spends are excluded by [`NullifierStore::insert_if_absent`].
#[derive(Debug)]
pub struct Issuer<S: NullifierStore = MemoryNullifierStore> {
    node_id: NodeId,
    current: IssuerSecretKey,
    grace: Option<IssuerSecretKey>,
    store: S,
}

impl<S: NullifierStore> Issuer<S> {
    pub fn new(node_id: NodeId, current: IssuerSecretKey, store: S) -> Self {
        Issuer {
            node_id,
            current,
            grace: None,
            store,
        }
    }

    pub fn node_id(&self) -> &NodeId {
        &self.node_id
    }

    /// The key to publish for the current epoch.
    pub fn current_key(&self) -> &IssuerPublicKey {
        self.current.public_key()
    }

    /// The previous epoch's key while it is still accepted.
    pub fn grace_key(&self) -> Option<&IssuerPublicKey> {
        self.grace.as_ref().map(IssuerSecretKey::public_key)
    }

    /// The keys to publish (§3.1), newest first: the current one and the
    /// grace key if any, each with its deterministic proof of
    /// well-formedness for this node ([`IssuerSecretKey::published_proof`]).
    pub fn published_keys(&self) -> Vec<(IssuerPublicKey, KeyProof)> {
        core::iter::once(&self.current)
            .chain(self.grace.as_ref())
            .map(|k| (*k.public_key(), k.published_proof(&self.node_id)))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn current_secret(&self) -> &IssuerSecretKey {
        &self.current
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Starts epoch `next.epoch()`. The current key stays accepted for spends
    /// (grace) if `next` is the immediately following epoch; older keys are
    /// dropped.
    pub fn rotate(&mut self, next: IssuerSecretKey) -> Result<(), KeyError> {
        let current = self.current.epoch();
        if next.epoch() <= current {
            return Err(KeyError::NonIncreasingEpoch {
                current,
                next: next.epoch(),
            });
        }
        let old = core::mem::replace(&mut self.current, next);
        self.grace = (self.current.epoch().previous() == Some(current)).then_some(old);
        Ok(())
    }

    /// Ends the grace period of the previous epoch early.
    pub fn end_grace(&mut self) {
        self.grace = None;
    }

    /// Issues a fresh credential under the current key (§5). The caller must
    /// have checked that the client paid for `request.balance()` (§9).
    pub fn issue(
        &self,
        request: &IssuanceRequest,
        context: &[u8],
    ) -> Result<IssuanceResponse, IssueError> {
        self.issue_with_rng(request, context, &mut rand::thread_rng())
    }

    pub fn issue_with_rng<R: RngCore + CryptoRng>(
        &self,
        request: &IssuanceRequest,
        context: &[u8],
        rng: &mut R,
    ) -> Result<IssuanceResponse, IssueError> {
        issuance::issue(&self.current, &self.node_id, request, context, rng)
    }

    /// Verifies a spend of a current- or grace-epoch credential, records its
    /// nullifier atomically, and re-issues the rest under the current key
    /// (§6). On any error nothing is recorded.
    pub fn verify_spend(
        &self,
        request: &SpendRequest,
        context: &[u8],
    ) -> Result<(VerifiedSpend, SpendResponse), SpendError> {
        self.verify_spend_with_rng(request, context, &mut rand::thread_rng())
    }

    pub fn verify_spend_with_rng<R: RngCore + CryptoRng>(
        &self,
        request: &SpendRequest,
        context: &[u8],
        rng: &mut R,
    ) -> Result<(VerifiedSpend, SpendResponse), SpendError> {
        let epoch = request.epoch();
        let key = if epoch == self.current.epoch() {
            &self.current
        } else {
            match &self.grace {
                Some(grace) if grace.epoch() == epoch => grace,
                _ => return Err(SpendError::UnknownEpoch(epoch)),
            }
        };
        spend::verify_request(key, &self.node_id, request, context, rng)?;
        let nullifier = request.nullifier();
        self.store
            .insert_if_absent(epoch, &nullifier)
            .map_err(|e| match e {
                NullifierStoreError::AlreadySpent => SpendError::AlreadySpent,
                NullifierStoreError::Backend(b) => SpendError::Store(b),
            })?;
        let response = spend::reissue(&self.current, &self.node_id, request, context, rng);
        Ok((
            VerifiedSpend {
                amount: request.amount(),
                nullifier,
                epoch,
            },
            response,
        ))
    }

    /// Exchanges a grace-epoch credential for a current-epoch one on the same
    /// balance (§3): a spend of `0` from the previous epoch.
    pub fn exchange(
        &self,
        request: &SpendRequest,
        context: &[u8],
    ) -> Result<(VerifiedSpend, SpendResponse), SpendError> {
        let is_grace = self.grace_key().map(IssuerPublicKey::epoch) == Some(request.epoch());
        if !is_grace || request.amount() != Balance::ZERO {
            return Err(SpendError::NotAnExchange {
                epoch: request.epoch(),
                amount: request.amount(),
            });
        }
        self.verify_spend(request, context)
    }
}
