//! Why a voucher operation failed.

use thiserror::Error;
use veil_proto::node::v1 as pb;
use veil_vouchers::{Balance, ClientError, DecodeError};

use crate::fsutil::FsError;

/// A voucher operation failed.
#[derive(Debug, Error)]
pub enum VoucherError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("voucher file is malformed: {0}")]
    Format(String),
    #[error("unsupported voucher file version {found} (this build reads version {supported})")]
    Version { found: u32, supported: u32 },
    /// The node's terms do not carry a usable voucher key.
    #[error("node voucher terms: {0}")]
    Terms(String),
    /// The node presented another key for an epoch the wallet already knows:
    /// it may be trying to tag this client. Do not use it.
    #[error(
        "node presents a different voucher key for epoch {epoch} than before (possible tagging)"
    )]
    KeyChanged { epoch: u64 },
    /// The key the node issues under is not the one its ledger profile
    /// publishes for that epoch with a valid proof (`docs/vouchers.md`
    /// §3.1): it may be a key for this client only. Do not use the node.
    #[error(
        "node issues under a voucher key for epoch {epoch} that its ledger profile does not publish ({why}): possible tagging"
    )]
    Unpublished { epoch: u64, why: String },
    #[error("malformed message from the node: {0}")]
    Decode(#[from] DecodeError),
    /// The node's issuance or re-issuance proof failed, or the balance is short.
    #[error(transparent)]
    Credential(#[from] ClientError),
    #[error("no voucher for this node holds {needed} KiB (largest: {largest} KiB)")]
    InsufficientBalance { needed: Balance, largest: Balance },
    #[error("node refused: {0}")]
    Rpc(#[from] tonic::Status),
    /// The node refused the voucher-paid open.
    #[error("node refused the voucher spend ({code:?}): {message}")]
    Refused {
        code: pb::ErrorCode,
        message: String,
    },
    #[error("relay ended before the stream opened: {0}")]
    Relay(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Opening the paying session failed (sync, token, ledger, node).
    #[error(transparent)]
    Session(#[from] crate::error::ClientError),
}
