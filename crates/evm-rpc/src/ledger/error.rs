//! The contract's refusals as the embedded ledger's errors
//! (`docs/evm.md` §8.3): every custom error of `VeilLedger` is named like
//! the `LedgerError` variant for the same check, so the mapping is one to
//! one; the chain-only ones become `InvalidArgument` with their name.

use std::collections::HashSet;
use std::sync::Mutex;

use veil_evm::ledger::LedgerRevert;
use veil_ledger::LedgerError;
use veil_ledger::types::{BlockHeight, Value};
use veil_primitives::EncodingError;

use crate::chain::RpcError;

/// Distinct texts kept for `&'static str` errors; the contract has a
/// fixed set, so a contract answering more is not the ledger.
const MAX_INTERNED: usize = 256;

/// Texts made `&'static str` by leaking each distinct one once, at most
/// `cap` of them.
struct Interner {
    seen: HashSet<&'static str>,
    cap: usize,
}

impl Interner {
    fn get(&mut self, s: &str) -> &'static str {
        if let Some(k) = self.seen.get(s) {
            return k;
        }
        if self.seen.len() >= self.cap {
            return "refused by the ledger contract";
        }
        let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
        self.seen.insert(k);
        k
    }
}

/// `s` as a `&'static str` (the contract's error texts are a fixed, small
/// set; past [`MAX_INTERNED`] a generic text is returned).
fn intern(s: &str) -> &'static str {
    static SEEN: Mutex<Option<Interner>> = Mutex::new(None);
    let Ok(mut guard) = SEEN.lock() else {
        return "refused by the ledger contract";
    };
    guard
        .get_or_insert_with(|| Interner {
            seen: HashSet::new(),
            cap: MAX_INTERNED,
        })
        .get(s)
}

/// The `LedgerError` for a contract refusal.
pub fn from_revert(r: LedgerRevert) -> LedgerError {
    use LedgerError as E;
    match r {
        LedgerRevert::Encoding(field) => E::Encoding {
            field: intern(&field),
            source: EncodingError::NonCanonicalField,
        },
        LedgerRevert::InvalidArgument(why) => E::InvalidArgument(intern(&why)),
        LedgerRevert::AccountUnauthenticated(why) => E::AccountUnauthenticated(intern(&why)),
        LedgerRevert::SettleUnauthorized(why) => E::SettleUnauthorized(intern(&why)),
        LedgerRevert::InsufficientBalance => E::InsufficientBalance,
        LedgerRevert::DuplicateDeposit => E::DuplicateDeposit,
        LedgerRevert::NodeExists => E::NodeExists,
        LedgerRevert::Overflow => E::Overflow,
        LedgerRevert::InvalidProof => E::InvalidProof,
        LedgerRevert::NullifierSpent => E::NullifierSpent,
        LedgerRevert::UnknownRoot { window } => E::UnknownRoot(window as usize),
        LedgerRevert::UnknownNode => E::UnknownNode,
        LedgerRevert::EscrowSizeNotAccepted(v) => E::EscrowSizeNotAccepted(Value(v)),
        LedgerRevert::ExpiryOutOfRange {
            expiry,
            height,
            max_delta,
        } => E::ExpiryOutOfRange {
            expiry: BlockHeight(expiry),
            height: BlockHeight(height),
            max_delta,
        },
        LedgerRevert::PoolUnderflow => E::PoolUnderflow,
        LedgerRevert::UnknownEscrow => E::UnknownEscrow,
        LedgerRevert::EscrowNotOpen => E::EscrowNotOpen,
        LedgerRevert::NotYetReclaimable(h) => E::NotYetReclaimable(BlockHeight(h)),
        LedgerRevert::WrongNode => E::WrongNode,
        LedgerRevert::DuplicateSession => E::DuplicateSession,
        LedgerRevert::AlreadySettled => E::AlreadySettled,
        LedgerRevert::SettleWindowClosed => E::SettleWindowClosed,
        LedgerRevert::TotalExceedsEscrow => E::TotalExceedsEscrow,
        // Chain-only refusals: the embedded ledger has no such check.
        other => E::InvalidArgument(other.name()),
    }
}

/// The `LedgerError` for a failed JSON-RPC exchange: a revert is the
/// contract's refusal; anything else means the chain is unavailable.
pub fn from_rpc(e: RpcError) -> LedgerError {
    match e {
        RpcError::Reverted { ref data } => match LedgerRevert::decode(data) {
            Ok(r) => from_revert(r),
            Err(_) => LedgerError::Unavailable(format!("unexpected revert: {e}")),
        },
        other => LedgerError::Unavailable(other.to_string()),
    }
}

/// The contract's refusal in `e`, if it is one.
pub fn revert_of(e: &RpcError) -> Option<LedgerRevert> {
    match e {
        RpcError::Reverted { data } => LedgerRevert::decode(data).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_refusals_map_to_their_variant() {
        assert_eq!(
            from_revert(LedgerRevert::NullifierSpent),
            LedgerError::NullifierSpent
        );
        assert_eq!(
            from_revert(LedgerRevert::UnknownRoot { window: 128 }),
            LedgerError::UnknownRoot(128)
        );
        assert_eq!(
            from_revert(LedgerRevert::InvalidArgument("x".into())),
            LedgerError::InvalidArgument("x")
        );
        assert_eq!(
            from_revert(LedgerRevert::QueueMismatch),
            LedgerError::InvalidArgument("QueueMismatch")
        );
    }

    #[test]
    fn interning_is_bounded() {
        for i in 0..(MAX_INTERNED + 10) {
            let _ = intern(&format!("text {i}"));
        }
        assert_eq!(
            intern("never seen before"),
            "refused by the ledger contract"
        );
    }
}
