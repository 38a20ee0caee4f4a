//! A node's exit with the ledger (`veil node retire`, `veil node
//! release-stake`; docs/protocol.md §8.3.12): each step is signed by the
//! node's account key from its directory, at the account's next nonce.

use std::path::Path;

use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::exit::{ExitRequest, ExitStep};
use veil_ledger::types::NodeRecord;

use crate::keys::{KeyFileError, load_or_create_account_key, load_or_create_node_key};

/// Why an exit step was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("{0} is not a node directory (no node.key)")]
    NotANodeDirectory(String),
    #[error("the node is not registered with this ledger")]
    NotRegistered,
}

/// Takes `step` for the node whose directory is `dir`; returns the record
/// with its exit. A retry after a lost answer re-reads the nonce, so a
/// step the ledger applied is refused as applied (`NodeRetired`,
/// `StakeReleased`) rather than taken twice.
pub async fn exit<L: LedgerApi>(
    ledger: &L,
    dir: &Path,
    step: ExitStep,
) -> Result<NodeRecord, ExitError> {
    if !dir.join(crate::keys::NODE_KEY_FILE).exists() {
        return Err(ExitError::NotANodeDirectory(dir.display().to_string()));
    }
    let node_id = load_or_create_node_key(dir)?.verifying_key().node_id();
    let account_key = load_or_create_account_key(dir)?;
    if ledger.get_node(node_id).await?.is_none() {
        return Err(ExitError::NotRegistered);
    }
    let account = account_key.verifying_key().account_id();
    let nonce = ledger.account(account).await?.next_nonce;
    let request = ExitRequest::signed(&account_key, nonce, node_id, step);
    Ok(ledger.exit_node(request).await?)
}
