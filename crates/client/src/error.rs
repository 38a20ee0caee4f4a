//! Errors of the client library.

use thiserror::Error;

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
    #[error(
        "no single note holds {need} (largest spendable note: {largest}); deposit more or sync"
    )]
    InsufficientFunds { need: u64, largest: u64 },
    #[error("the node's answer violates the protocol: {0}")]
    Protocol(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("local tree: {0}")]
    Tree(String),
}
