//! The custom errors of `VeilLedger`, named like the embedded ledger's
//! `LedgerError` variants where one exists (docs/evm.md §4.2, §5).

use crate::abi::{AbiError, Reader, Word, selector, split_revert};

/// A custom error of `VeilLedger`. Every variant but the last is named
/// like the embedded ledger's `LedgerError` variant for the same refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRevert {
    /// A malformed field, named as in the embedded ledger's wire decoding.
    Encoding(String),
    InvalidArgument(String),
    /// The token allowance does not cover the debit, or `updateNode` not
    /// sent by the node's operator (the embedded ledger: no valid
    /// signature by the node's account).
    AccountUnauthenticated(String),
    /// `registerNode` without the sender's commitment to the node key in
    /// an earlier block (the embedded ledger: no valid node signature).
    RegistrationUnauthenticated(String),
    InsufficientBalance,
    DuplicateDeposit,
    NodeExists,
    Overflow,
    /// The token's `transferFrom` failed (chain only: no embedded twin).
    TokenTransferFailed,
    /// `appendBatch` not at the tree's size (chain only).
    WrongBatchStart {
        expected: u64,
        given: Word,
    },
    /// Fewer than 64 leaves queued from the tree's size (chain only).
    BatchNotFull {
        queued: u64,
        needed: u64,
    },
    /// The leaves are not the queued ones (chain only).
    QueueMismatch,
    /// `padQueue` with a multiple of 64 leaves queued (chain only).
    NothingToPad,
    /// The verifier refused the proof.
    InvalidProof,
    NullifierSpent,
    /// The root is not among the last `window` roots.
    UnknownRoot {
        window: u64,
    },
    UnknownNode,
    EscrowSizeNotAccepted(u64),
    /// `expiry` is not in `(height, height + max_delta]`.
    ExpiryOutOfRange {
        expiry: u64,
        height: u64,
        max_delta: u64,
    },
    PoolUnderflow,
    UnknownEscrow,
    EscrowNotOpen,
    /// Reclaimable from this height on.
    NotYetReclaimable(u64),
    /// `reclaim` or `settle` was given other terms than the escrow's
    /// (chain only).
    EscrowTermsMismatch,
    /// `settle` not sent by the node's operator (the embedded ledger: no
    /// valid signature by the node key).
    SettleUnauthorized(String),
    WrongNode,
    DuplicateSession,
    AlreadySettled,
    SettleWindowClosed,
    TotalExceedsEscrow,
    /// `updateNode` whose sequence is not the node's latest plus one.
    StaleNodeUpdate,
    /// The stake does not back the capacity the profile claims.
    StakeBelowCapacity {
        stake: u64,
        needed: u64,
    },
    /// `slash` not sent by the ledger's auditor (chain only).
    SlashUnauthorized,
    NodeRetired,
    NodeNotRetired,
    /// Releasable from this height on.
    StakeLocked(u64),
    StakeReleased,
    /// `slash` of more than the stake, or rewards above it (chain only).
    SlashTooLarge,
}

impl LedgerRevert {
    /// Decodes revert data; another selector or malformed arguments are an
    /// error.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let (sel, r) = split_revert(data)?;
        let with_text = |name: &str| selector(&format!("{name}(string)")) == sel;
        let plain = |name: &str| selector(&format!("{name}()")) == sel;
        let unit = |v: Self| r.expect_words(0).map(|_| v);
        if with_text("Encoding") {
            Ok(Self::Encoding(r.string(0)?))
        } else if with_text("InvalidArgument") {
            Ok(Self::InvalidArgument(r.string(0)?))
        } else if with_text("AccountUnauthenticated") {
            Ok(Self::AccountUnauthenticated(r.string(0)?))
        } else if with_text("RegistrationUnauthenticated") {
            Ok(Self::RegistrationUnauthenticated(r.string(0)?))
        } else if with_text("SettleUnauthorized") {
            Ok(Self::SettleUnauthorized(r.string(0)?))
        } else if plain("InsufficientBalance") {
            unit(Self::InsufficientBalance)
        } else if plain("DuplicateDeposit") {
            unit(Self::DuplicateDeposit)
        } else if plain("NodeExists") {
            unit(Self::NodeExists)
        } else if plain("Overflow") {
            unit(Self::Overflow)
        } else if plain("TokenTransferFailed") {
            unit(Self::TokenTransferFailed)
        } else if sel == selector("WrongBatchStart(uint64,uint256)") {
            r.expect_words(2)?;
            Ok(Self::WrongBatchStart {
                expected: r.u64(0)?,
                given: r.word(1)?,
            })
        } else if sel == selector("BatchNotFull(uint64,uint256)") {
            r.expect_words(2)?;
            Ok(Self::BatchNotFull {
                queued: r.u64(0)?,
                needed: r.u64(1)?,
            })
        } else if plain("QueueMismatch") {
            unit(Self::QueueMismatch)
        } else if plain("NothingToPad") {
            unit(Self::NothingToPad)
        } else if plain("InvalidProof") {
            unit(Self::InvalidProof)
        } else {
            Self::decode_escrow_error(sel, &r)
        }
    }

    /// The errors of escrows, reclaim and withdrawal (docs/evm.md §5).
    fn decode_escrow_error(sel: [u8; 4], r: &Reader) -> Result<Self, AbiError> {
        let unit = |v: Self| r.expect_words(0).map(|_| v);
        if sel == selector("NullifierSpent()") {
            unit(Self::NullifierSpent)
        } else if sel == selector("UnknownRoot(uint256)") {
            r.expect_words(1)?;
            Ok(Self::UnknownRoot { window: r.u64(0)? })
        } else if sel == selector("UnknownNode()") {
            unit(Self::UnknownNode)
        } else if sel == selector("EscrowSizeNotAccepted(uint64)") {
            r.expect_words(1)?;
            Ok(Self::EscrowSizeNotAccepted(r.u64(0)?))
        } else if sel == selector("ExpiryOutOfRange(uint256,uint256,uint64)") {
            r.expect_words(3)?;
            Ok(Self::ExpiryOutOfRange {
                expiry: r.u64(0)?,
                height: r.u64(1)?,
                max_delta: r.u64(2)?,
            })
        } else if sel == selector("PoolUnderflow()") {
            unit(Self::PoolUnderflow)
        } else if sel == selector("UnknownEscrow()") {
            unit(Self::UnknownEscrow)
        } else if sel == selector("EscrowNotOpen()") {
            unit(Self::EscrowNotOpen)
        } else if sel == selector("NotYetReclaimable(uint256)") {
            r.expect_words(1)?;
            Ok(Self::NotYetReclaimable(r.u64(0)?))
        } else if sel == selector("EscrowTermsMismatch()") {
            unit(Self::EscrowTermsMismatch)
        } else if sel == selector("WrongNode()") {
            unit(Self::WrongNode)
        } else if sel == selector("DuplicateSession()") {
            unit(Self::DuplicateSession)
        } else if sel == selector("AlreadySettled()") {
            unit(Self::AlreadySettled)
        } else if sel == selector("SettleWindowClosed()") {
            unit(Self::SettleWindowClosed)
        } else if sel == selector("TotalExceedsEscrow()") {
            unit(Self::TotalExceedsEscrow)
        } else if sel == selector("StaleNodeUpdate()") {
            unit(Self::StaleNodeUpdate)
        } else if sel == selector("StakeBelowCapacity(uint64,uint64)") {
            r.expect_words(2)?;
            Ok(Self::StakeBelowCapacity {
                stake: r.u64(0)?,
                needed: r.u64(1)?,
            })
        } else if sel == selector("SlashUnauthorized()") {
            unit(Self::SlashUnauthorized)
        } else if sel == selector("NodeRetired()") {
            unit(Self::NodeRetired)
        } else if sel == selector("NodeNotRetired()") {
            unit(Self::NodeNotRetired)
        } else if sel == selector("StakeLocked(uint64)") {
            r.expect_words(1)?;
            Ok(Self::StakeLocked(r.u64(0)?))
        } else if sel == selector("StakeReleased()") {
            unit(Self::StakeReleased)
        } else if sel == selector("SlashTooLarge()") {
            unit(Self::SlashTooLarge)
        } else {
            Err(AbiError::Malformed("VeilLedger error selector"))
        }
    }

    /// The error's name: the `LedgerError` variant it stands for.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Encoding(_) => "Encoding",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::AccountUnauthenticated(_) => "AccountUnauthenticated",
            Self::RegistrationUnauthenticated(_) => "RegistrationUnauthenticated",
            Self::InsufficientBalance => "InsufficientBalance",
            Self::DuplicateDeposit => "DuplicateDeposit",
            Self::NodeExists => "NodeExists",
            Self::Overflow => "Overflow",
            Self::TokenTransferFailed => "TokenTransferFailed",
            Self::WrongBatchStart { .. } => "WrongBatchStart",
            Self::BatchNotFull { .. } => "BatchNotFull",
            Self::QueueMismatch => "QueueMismatch",
            Self::NothingToPad => "NothingToPad",
            Self::InvalidProof => "InvalidProof",
            Self::NullifierSpent => "NullifierSpent",
            Self::UnknownRoot { .. } => "UnknownRoot",
            Self::UnknownNode => "UnknownNode",
            Self::EscrowSizeNotAccepted(_) => "EscrowSizeNotAccepted",
            Self::ExpiryOutOfRange { .. } => "ExpiryOutOfRange",
            Self::PoolUnderflow => "PoolUnderflow",
            Self::UnknownEscrow => "UnknownEscrow",
            Self::EscrowNotOpen => "EscrowNotOpen",
            Self::NotYetReclaimable(_) => "NotYetReclaimable",
            Self::EscrowTermsMismatch => "EscrowTermsMismatch",
            Self::SettleUnauthorized(_) => "SettleUnauthorized",
            Self::WrongNode => "WrongNode",
            Self::DuplicateSession => "DuplicateSession",
            Self::AlreadySettled => "AlreadySettled",
            Self::SettleWindowClosed => "SettleWindowClosed",
            Self::TotalExceedsEscrow => "TotalExceedsEscrow",
            Self::StaleNodeUpdate => "StaleNodeUpdate",
            Self::StakeBelowCapacity { .. } => "StakeBelowCapacity",
            Self::SlashUnauthorized => "SlashUnauthorized",
            Self::NodeRetired => "NodeRetired",
            Self::NodeNotRetired => "NodeNotRetired",
            Self::StakeLocked(_) => "StakeLocked",
            Self::StakeReleased => "StakeReleased",
            Self::SlashTooLarge => "SlashTooLarge",
        }
    }
}
