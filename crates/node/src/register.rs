//! The node's registration with the ledger at start (`docs/protocol.md`
//! §9.1, §8.3.6): signed by the node key `N` and by the account key `A`
//! with the account's next nonce.
use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{NodeRecord, NodeRegistration};
use veil_primitives::eddsa::SigningKey;

use crate::config::NodeConfig;

/// Registers the node unless the ledger already holds a registration with
/// the same terms (a restart). Different terms for this node id are
/// refused by the ledger (`NodeExists`).
pub(crate) async fn register<L: LedgerApi>(
    ledger: &L,
    node_key: &SigningKey,
    account_key: &SigningKey,
    config: &NodeConfig,
    tls_key_hash: [u8; 32],
) -> Result<NodeRecord, LedgerError> {
    let registration = match ledger.acting_account() {
        // An EVM chain: the operator is the transaction's sender.
        Some(operator) => NodeRegistration::signed_for_sender(
            node_key,
            operator,
            config.price_per_kib,
            config.escrow_sizes.clone(),
            config.stake,
            tls_key_hash,
        ),
        None => {
            let account = account_key.verifying_key().account_id();
            let nonce = ledger.account(account).await?.next_nonce;
            NodeRegistration::signed(
                node_key,
                account_key,
                nonce,
                config.price_per_kib,
                config.escrow_sizes.clone(),
                config.stake,
                tls_key_hash,
            )
        }
    };
    match ledger.get_node(registration.node_id).await? {
        Some(existing) if existing.registration.same_terms(&registration) => Ok(existing),
        _ => ledger.register_node(registration).await,
    }
}
