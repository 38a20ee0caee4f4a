//! Mutex helper shared by every node module.
use std::sync::{Mutex, MutexGuard};

/// Locks a std mutex, recovering from poisoning (the guarded data is
/// plain state that every writer leaves consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
