//! The one mapping of core errors to gRPC statuses (`docs/protocol.md`
//! §9.2). Handlers never build a `Status` themselves.
use tonic::Status;
use veil_ledger::LedgerError;
use veil_vouchers::{IssueError, SpendError};

use crate::error::CoreError;
use crate::open::OpenError;
use crate::purchase::PurchaseError;
use crate::voucher_desk::DeskError;

impl From<CoreError> for Status {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Wire(e) => Status::invalid_argument(e.to_string()),
            CoreError::Banned => Status::permission_denied(e.to_string()),
            CoreError::Open(e) => open_status(e),
            CoreError::Purchase(e) => purchase_status(e),
            CoreError::Desk(e) => desk_status(e),
        }
    }
}

fn open_status(e: OpenError) -> Status {
    let m = e.to_string();
    match e {
        OpenError::Token(_)
        | OpenError::OtherNode
        | OpenError::EscrowSize
        | OpenError::KeyHashMismatch => Status::invalid_argument(m),
        OpenError::InvalidProof => Status::unauthenticated(m),
        OpenError::Expiry { .. } | OpenError::UnknownRoot | OpenError::Retired => {
            Status::failed_precondition(m)
        }
        OpenError::InProgress | OpenError::TokenUsed | OpenError::NoteSpent => {
            Status::already_exists(m)
        }
        OpenError::QueueFull => Status::resource_exhausted(m),
        OpenError::Task | OpenError::Store(_) => Status::internal(m),
        OpenError::Ledger(e) => ledger_status(e),
    }
}

/// A ledger refusal of the open pipeline.
fn ledger_status(e: LedgerError) -> Status {
    match e {
        LedgerError::NullifierSpent => Status::already_exists("access token already used"),
        LedgerError::UnknownRoot(_) => Status::failed_precondition("unknown root"),
        LedgerError::ExpiryOutOfRange { .. } => Status::failed_precondition("expiry out of range"),
        LedgerError::InvalidProof => Status::unauthenticated("invalid access proof"),
        LedgerError::EscrowSizeNotAccepted(_) => {
            Status::invalid_argument("escrow size not accepted")
        }
        LedgerError::UnknownNode => Status::failed_precondition("node is not registered"),
        LedgerError::Busy => Status::resource_exhausted("ledger busy"),
        LedgerError::Unavailable(m) => Status::unavailable(m),
        other => Status::internal(format!("ledger: {other}")),
    }
}

fn purchase_status(e: PurchaseError) -> Status {
    let m = e.to_string();
    match e {
        PurchaseError::UnknownSession => Status::not_found(m),
        PurchaseError::NotAuthorised | PurchaseError::BadReceipt(_) => Status::unauthenticated(m),
        PurchaseError::ForeignReceipt | PurchaseError::NotFullCredit { .. } => {
            Status::invalid_argument(m)
        }
        PurchaseError::Expired | PurchaseError::SessionUsed | PurchaseError::Meter(_) => {
            Status::failed_precondition(m)
        }
        PurchaseError::Desk(e) => desk_status(e),
    }
}

fn desk_status(e: DeskError) -> Status {
    let m = e.to_string();
    match e {
        DeskError::Store(_)
        | DeskError::Key(_)
        | DeskError::KeyFile(_)
        | DeskError::Task
        | DeskError::Spend(SpendError::Store(_)) => Status::internal(m),
        DeskError::Malformed(_)
        | DeskError::BalanceMismatch { .. }
        | DeskError::ZeroSpend
        | DeskError::Issue(IssueError::Verification(_))
        | DeskError::Spend(_) => Status::invalid_argument(m),
        DeskError::Issue(IssueError::WrongEpoch { .. })
        | DeskError::UnknownChallenge
        | DeskError::Epoch(_) => Status::failed_precondition(m),
        DeskError::TooManyChallenges => Status::resource_exhausted(m),
        DeskError::AlreadyPurchased => Status::already_exists(m),
    }
}
