//! Spent-nullifier storage (docs/vouchers.md §6, §10).

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use thiserror::Error;

use crate::types::{Epoch, VoucherNullifier};

/// Why [`NullifierStore::insert_if_absent`] did not insert.
#[derive(Debug, Error)]
pub enum NullifierStoreError {
    #[error("nullifier already spent")]
    AlreadySpent,
    #[error("nullifier store backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

/// The node's set of spent nullifiers, keyed by the credential's epoch so
/// an epoch can be pruned once its key is gone (§3).
pub trait NullifierStore: Send + Sync {
    /// Atomically records `(epoch, nullifier)` as spent. Of any number of
    /// concurrent calls with one pair, exactly one returns `Ok`; the others
    /// return [`NullifierStoreError::AlreadySpent`].
    fn insert_if_absent(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<(), NullifierStoreError>;
}

/// A thread-safe in-memory [`NullifierStore`].
#[derive(Debug, Default)]
pub struct MemoryNullifierStore {
    spent: Mutex<HashSet<(Epoch, [u8; 32])>>,
}

impl MemoryNullifierStore {
    pub fn new() -> Self {
        Self::default()
    }

    // A panic while holding the lock cannot leave the set half-updated
    // (`HashSet::insert` is the only mutation), so a poisoned lock is safe
    // to reuse.
    fn lock(&self) -> MutexGuard<'_, HashSet<(Epoch, [u8; 32])>> {
        self.spent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn contains(&self, epoch: Epoch, nullifier: &VoucherNullifier) -> bool {
        self.lock().contains(&(epoch, nullifier.to_bytes()))
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the nullifiers of epochs before `epoch` (their keys are gone,
    /// so they can no longer be spent).
    pub fn prune_before(&self, epoch: Epoch) {
        self.lock().retain(|(e, _)| *e >= epoch);
    }
}

impl NullifierStore for MemoryNullifierStore {
    fn insert_if_absent(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<(), NullifierStoreError> {
        if self.lock().insert((epoch, nullifier.to_bytes())) {
            Ok(())
        } else {
            Err(NullifierStoreError::AlreadySpent)
        }
    }
}
