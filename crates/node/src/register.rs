//! The node's registration with the ledger at start (`docs/protocol.md`
//! §9.1, §8.3.6): signed by the node key `N` and by the account key `A`
//! with the account's next nonce; and its updates (§8.3.8): a restart with
//! new terms, and the rotation of its TLS key (`veil node rotate-tls`).
use std::path::Path;

use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{NodeRecord, NodeRegistration, NodeUpdate, Value};
use veil_primitives::eddsa::SigningKey;

use crate::config::NodeConfig;
use crate::keys::{KeyFileError, load_or_create_account_key, load_or_create_node_key};
use crate::tls::{TlsError, TlsInfo};

/// Registers the node unless the ledger already holds it. A record whose
/// terms in force are the configured ones is a restart (nothing sent); one
/// that differs only in what an update may change (TLS key hash, price,
/// escrow sizes) is updated (§8.3.8); any other difference (account,
/// stake) is refused by the ledger (`NodeExists`).
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
        Some(existing) if in_force(&existing, &registration) => Ok(existing),
        Some(existing)
            if ledger.acting_account().is_none() && updatable(&existing, &registration) =>
        {
            let terms = Terms::of(&registration);
            update(ledger, node_key, account_key, &existing, terms).await
        }
        _ => ledger.register_node(registration).await,
    }
}

/// The terms an update may change (§8.3.8).
struct Terms {
    price_per_kib: Value,
    escrow_sizes: Vec<Value>,
    tls_key_hash: [u8; 32],
}

impl Terms {
    fn of(g: &NodeRegistration) -> Self {
        Self {
            price_per_kib: g.price_per_kib,
            escrow_sizes: g.escrow_sizes.clone(),
            tls_key_hash: g.tls_key_hash,
        }
    }

    /// The terms in force of `record`.
    fn in_force(record: &NodeRecord) -> Self {
        Self {
            price_per_kib: record.price_per_kib(),
            escrow_sizes: record.escrow_sizes().to_vec(),
            tls_key_hash: record.tls_key_hash(),
        }
    }

    fn same(&self, other: &Self) -> bool {
        self.price_per_kib == other.price_per_kib
            && self.escrow_sizes == other.escrow_sizes
            && self.tls_key_hash == other.tls_key_hash
    }
}

/// Whether `record` was registered as `g` registers (node key, account,
/// stake): what no update changes.
fn updatable(record: &NodeRecord, g: &NodeRegistration) -> bool {
    let r = &record.registration;
    r.node_id == g.node_id
        && r.node_key == g.node_key
        && r.account == g.account
        && r.stake == g.stake
}

/// Whether `record` already holds every term of `g`, those in force
/// included.
fn in_force(record: &NodeRecord, g: &NodeRegistration) -> bool {
    match record.update {
        None => record.registration.same_terms(g),
        Some(_) => updatable(record, g) && Terms::in_force(record).same(&Terms::of(g)),
    }
}

/// Sends the update of `record` to `terms`, signed by the node key and by
/// the account key at the account's next nonce, with the next sequence.
async fn update<L: LedgerApi>(
    ledger: &L,
    node_key: &SigningKey,
    account_key: &SigningKey,
    record: &NodeRecord,
    terms: Terms,
) -> Result<NodeRecord, LedgerError> {
    let account = account_key.verifying_key().account_id();
    let nonce = ledger.account(account).await?.next_nonce;
    let u = NodeUpdate::signed(
        node_key,
        account_key,
        nonce,
        record,
        terms.price_per_kib,
        terms.escrow_sizes,
        terms.tls_key_hash,
    );
    ledger.update_node(u).await
}

/// Why a TLS rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("{0} is not a node directory (no node.key)")]
    NotANodeDirectory(String),
    #[error("the node is not registered with this ledger (start it once first)")]
    NotRegistered,
    #[error("the node serves plaintext (registered TLS key hash all zero): nothing to rotate")]
    Plaintext,
}

/// What a rotation did: the record after the update and the new identity.
#[derive(Debug)]
pub struct Rotation {
    pub record: NodeRecord,
    pub tls: TlsInfo,
}

/// Rotates the TLS key of the node whose directory is `dir`
/// (`veil node rotate-tls`, docs/node.md "Rotating the TLS key"): stages
/// a new identity in `dir` ([`crate::tls::stage`]) and registers its hash
/// with `UpdateNode` (§8.3.8), keeping the price and sizes in force. The
/// running node serves the new key once it reads the updated record; a
/// node that is down does so at its next start. A retry after a failure
/// reuses the staged key.
pub async fn rotate_tls<L: LedgerApi>(ledger: &L, dir: &Path) -> Result<Rotation, RotateError> {
    if !dir.join(crate::keys::NODE_KEY_FILE).exists() {
        return Err(RotateError::NotANodeDirectory(dir.display().to_string()));
    }
    let node_key = load_or_create_node_key(dir)?;
    let account_key = load_or_create_account_key(dir)?;
    let record = ledger
        .get_node(node_key.verifying_key().node_id())
        .await?
        .ok_or(RotateError::NotRegistered)?;
    if record.tls_key_hash() == [0u8; 32] {
        return Err(RotateError::Plaintext);
    }
    let tls = crate::tls::stage(dir)?;
    let terms = Terms {
        tls_key_hash: tls.spki_sha256,
        ..Terms::in_force(&record)
    };
    let record = update(ledger, &node_key, &account_key, &record, terms).await?;
    Ok(Rotation { record, tls })
}
