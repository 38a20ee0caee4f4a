//! The contract's refusals as the embedded ledger's errors
//! (`docs/evm.md` §8.3): every custom error of `VeilLedger` is named like
//! the `LedgerError` variant for the same check, so the mapping is one to
//! one; the chain-only ones become `InvalidArgument` with their name.

use veil_evm::ledger::LedgerRevert;
use veil_ledger::LedgerError;
use veil_ledger::intern::intern;
use veil_ledger::types::{BlockHeight, Value};
use veil_primitives::EncodingError;

use crate::chain::RpcError;

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
        LedgerRevert::RegistrationUnauthenticated(why) => {
            E::RegistrationUnauthenticated(intern(&why))
        }
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
        LedgerRevert::StakeBelowCapacity { stake, needed } => E::StakeBelowCapacity {
            stake: Value(stake),
            needed: Value(needed),
        },
        LedgerRevert::NodeRetired => E::NodeRetired,
        LedgerRevert::NodeNotRetired => E::NodeNotRetired,
        LedgerRevert::StakeLocked(h) => E::StakeLocked(BlockHeight(h)),
        LedgerRevert::StakeReleased => E::StakeReleased,
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
}
