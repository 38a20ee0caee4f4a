//! The errors the node core returns to its I/O shell. The shell maps them
//! to gRPC statuses in one place (`rpc/status.rs`); nothing below it
//! builds a `tonic::Status`.
use crate::open::OpenError;
use crate::purchase::PurchaseError;
use crate::voucher_desk::DeskError;

/// A request field that does not decode (the domain layer at the proto
/// edge, §9.2).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("unsupported version {got} (expected {expected})")]
    Version { got: u32, expected: u32 },
    #[error("access token must be {expected} bytes, got {got}")]
    TokenLength { expected: usize, got: usize },
    #[error("session key must be 64 bytes")]
    SessionKeyLength,
    /// `field` does not decode canonically.
    #[error("{field}: {reason}")]
    Field { field: &'static str, reason: String },
}

/// Every refusal of a node RPC.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer's address is banned after too many invalid tokens (C4).
    #[error("too many invalid tokens from this address")]
    Banned,
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Purchase(#[from] PurchaseError),
    #[error(transparent)]
    Desk(#[from] DeskError),
}
