//! Errors of the client library.

use thiserror::Error;

use crate::pin::{PinParseError, TlsKeyHash};
use crate::wallet::WalletError;

/// A client failure. Nothing here carries a secret.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error("ledger: {0}")]
    Ledger(#[from] veil_ledger::LedgerError),
    #[error("proof: {0}")]
    Proof(#[from] veil_proofs::ProofError),
    #[error("parameters: {0}")]
    Params(#[from] veil_proofs::ParamsError),
    #[error("node: {0}")]
    Node(#[from] tonic::Status),
    #[error("cannot connect to node: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The node presented a TLS key other than the pinned one (§9.8).
    /// Raised during the handshake: no request reached the server.
    #[error("node TLS key {presented} does not match the pin {expected}")]
    PinMismatch {
        expected: TlsKeyHash,
        presented: TlsKeyHash,
    },
    /// The ledger has no registration for the node id the node claims.
    #[error("node {node_id} is not registered with the ledger")]
    NodeNotRegistered { node_id: String },
    /// The node's account retired it (§8.3.12): the ledger opens no new
    /// escrow with it, so nothing is proved or spent.
    #[error("node {node_id} is retired: it takes no new sessions")]
    NodeRetired { node_id: String },
    /// The node's registration does not match what the node presented
    /// (§9.8): another key, or another TLS key than the registered pin.
    #[error("node {node_id}: {what}")]
    RegistrationMismatch { node_id: String, what: String },
    #[error("node url {url:?}: {reason}")]
    NodeUrl { url: String, reason: String },
    #[error("TLS: {0}")]
    Tls(String),
    #[error(
        "no single note holds {need} (largest spendable note: {largest}); deposit more or sync"
    )]
    InsufficientFunds { need: u64, largest: u64 },
    #[error("the node's answer violates the protocol: {0}")]
    Protocol(String),
    /// The node refused a stream to a destination its egress policy does
    /// not allow (§9.4, `CLOSE_REASON_EGRESS_DENIED`).
    #[error("node refused the stream: its egress policy denies {0}")]
    EgressDenied(String),
    /// The node answered a bandwidth challenge wrongly or not in time
    /// (§9.5): the relay distrusts it and signs no receipt for it again.
    #[error("node failed a bandwidth challenge")]
    ChallengeFailed,
    #[error("invalid input: {0}")]
    Input(String),
    #[error("local tree: {0}")]
    Tree(String),
}

impl From<PinParseError> for ClientError {
    fn from(e: PinParseError) -> Self {
        ClientError::Input(e.to_string())
    }
}
