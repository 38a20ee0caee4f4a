//! The node's registration with the ledger at start (`docs/protocol.md`
//! §9.1, §8.3.6): signed by the node key `N` and by the account key `A`
//! with the account's next nonce; and its updates (§8.3.8): a restart with
//! new terms, and the rotation of its TLS key (`veil node rotate-tls`).
use std::net::SocketAddr;
use std::path::Path;

use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::profile::{Endpoint, NodeProfile, ProfileError, PublishedVoucherKey};
use veil_ledger::types::{NodeRecord, NodeRegistration, NodeTerms, NodeUpdate};
use veil_primitives::eddsa::SigningKey;

use crate::config::NodeConfig;
use crate::keys::{KeyFileError, load_or_create_account_key, load_or_create_node_key};
use crate::tls::{TlsError, TlsInfo};

/// Registers the node unless the ledger already holds it. A record whose
/// terms in force are the configured ones is a restart (nothing sent); one
/// that differs only in what an update may change (TLS key hash, price,
/// escrow sizes, profile) is updated (§8.3.8); any other difference
/// (account, stake) is refused by the ledger (`NodeExists`). A retired
/// node (§8.3.12) sends nothing: the ledger refuses updates of it, and it
/// must still start to settle the sessions it has.
pub(crate) async fn register<L: LedgerApi>(
    ledger: &L,
    node_key: &SigningKey,
    account_key: &SigningKey,
    config: &NodeConfig,
    terms: NodeTerms,
) -> Result<NodeRecord, LedgerError> {
    let registration = match ledger.acting_account() {
        // An EVM chain: the operator is the transaction's sender.
        Some(operator) => {
            NodeRegistration::sign_for_sender(node_key, operator, config.stake, terms)
        }
        None => {
            let account = account_key.verifying_key().account_id();
            let nonce = ledger.account(account).await?.next_nonce;
            NodeRegistration::sign(node_key, account_key, nonce, config.stake, terms)
        }
    };
    match ledger.get_node(registration.node_id).await? {
        Some(existing) if existing.is_retired() => {
            tracing::warn!(
                "this node is retired: it settles the sessions it has and takes no new one"
            );
            Ok(existing)
        }
        Some(existing) if in_force(&existing, &registration) => Ok(existing),
        Some(existing) if updatable(&existing, &registration) => {
            update(
                ledger,
                node_key,
                account_key,
                &existing,
                registration.terms(),
            )
            .await
        }
        _ => ledger.register_node(registration).await,
    }
}

/// The terms the node registers (§8.3.6) from its configuration, its TLS
/// key hash (all zero: plaintext) and its profile (§8.3.9).
pub(crate) fn configured_terms(
    config: &NodeConfig,
    tls_key_hash: [u8; 32],
    profile: &NodeProfile,
) -> Result<NodeTerms, ProfileError> {
    Ok(NodeTerms {
        profile: profile.encode()?,
        ..NodeTerms::new(
            config.price_per_kib,
            config.escrow_sizes.clone(),
            tls_key_hash,
        )
    })
}

/// The profile the node publishes (§8.3.9): its endpoint — the configured
/// `advertise`, else the bound address unless it is unspecified
/// (`0.0.0.0`: the node cannot know its public address) —, its capacity,
/// and its voucher keys with their proofs.
pub(crate) fn node_profile(
    config: &NodeConfig,
    bound: SocketAddr,
    voucher_grace_secs: u64,
    voucher_keys: Vec<PublishedVoucherKey>,
) -> NodeProfile {
    let endpoint = config.advertise.clone().or_else(|| {
        (!bound.ip().is_unspecified())
            .then(|| Endpoint::parse(&bound.to_string()).ok())
            .flatten()
    });
    NodeProfile {
        endpoint,
        capacity_mbit_s: config.capacity_mbit_s,
        voucher_grace_secs,
        voucher_keys,
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
/// included. Profiles compare by what they publish: a voucher key's proof
/// is randomised, so a restart that proves the same keys again is no
/// change.
fn in_force(record: &NodeRecord, g: &NodeRegistration) -> bool {
    let (held, wanted) = (record.terms(), g.terms());
    updatable(record, g)
        && held.price_per_kib == wanted.price_per_kib
        && held.escrow_sizes == wanted.escrow_sizes
        && held.tls_key_hash == wanted.tls_key_hash
        && same_publication(&held.profile, &wanted.profile)
}

/// Two profiles' bytes publish the same endpoint, capacity, grace and
/// voucher keys (proofs aside). Bytes that do not parse compare as bytes.
fn same_publication(a: &[u8], b: &[u8]) -> bool {
    let facts = |p: &NodeProfile| {
        let keys: Vec<_> = p
            .voucher_keys
            .iter()
            .map(|k| (k.epoch, k.public_key))
            .collect();
        (
            p.endpoint.clone(),
            p.capacity_mbit_s,
            p.voucher_grace_secs,
            keys,
        )
    };
    match (NodeProfile::decode(a), NodeProfile::decode(b)) {
        _ if a.is_empty() || b.is_empty() => a == b,
        (Ok(a), Ok(b)) => facts(&a) == facts(&b),
        _ => a == b,
    }
}

/// Sends the update of `record` to `terms`, signed by the node key and by
/// the account key at the account's next nonce, with the next sequence.
/// On an EVM chain the operator is the transaction's sender and the
/// update carries no account signature (docs/evm.md §8.1).
pub(crate) async fn update<L: LedgerApi>(
    ledger: &L,
    node_key: &SigningKey,
    account_key: &SigningKey,
    record: &NodeRecord,
    terms: NodeTerms,
) -> Result<NodeRecord, LedgerError> {
    let u = match ledger.acting_account() {
        Some(_) => NodeUpdate::sign_for_sender(node_key, record, terms),
        None => {
            let account = account_key.verifying_key().account_id();
            let nonce = ledger.account(account).await?.next_nonce;
            NodeUpdate::sign(node_key, account_key, nonce, record, terms)
        }
    };
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
    let terms = NodeTerms {
        tls_key_hash: tls.spki_sha256,
        ..record.terms()
    };
    let record = update(ledger, &node_key, &account_key, &record, terms).await?;
    Ok(Rotation { record, tls })
}
