//! Voucher key rotation through the ledger (`docs/vouchers.md` §3.2,
//! `docs/node.md` "Rotating the voucher key"): what the node publishes in
//! its profile, `veil node rotate-voucher-key` ([`rotate_voucher_key`]),
//! and the running node following its record ([`follow`]).
use std::path::Path;

use tracing::{info, warn};
use veil_ledger::profile::{NodeProfile, ProfileError, PublishedVoucherKey};
use veil_ledger::types::{NodeRecord, NodeTerms};
use veil_ledger::{LedgerApi, LedgerError};
use veil_vouchers::{Epoch, IssuerPublicKey, IssuerSecretKey, KeyProof, NodeId as VoucherNodeId};

use crate::keys::{KeyFileError, load_or_create_account_key, load_or_create_node_key};
use crate::state::Inner;
use crate::voucher_desk::{DeskError, VoucherDesk};
use crate::voucher_keys::{self, DEFAULT_GRACE_SECS, UnixSecs, VoucherKeyError};

/// A key as the profile lists it (§3.1).
pub(crate) fn published(key: &IssuerPublicKey, proof: &KeyProof) -> PublishedVoucherKey {
    PublishedVoucherKey {
        epoch: key.epoch().get(),
        public_key: key.w_bytes(),
        proof: proof.to_bytes(),
    }
}

/// The keys the node publishes at `now`: [`VoucherDesk::published_keys`].
pub(crate) fn published_keys(desk: &VoucherDesk, now: UnixSecs) -> Vec<PublishedVoucherKey> {
    desk.published_keys(now)
        .iter()
        .map(|(k, p)| published(k, p))
        .collect()
}

/// The profile's newest key, if it is well formed for `node` (§3.1).
fn newest_published(profile: &NodeProfile, node: &VoucherNodeId) -> Option<IssuerPublicKey> {
    let k = profile.voucher_keys.first()?;
    IssuerPublicKey::verify_published(node, Epoch::new(k.epoch), &k.public_key, &k.proof).ok()
}

/// Promotes the desk's staged key if `record`'s profile publishes it
/// (§3.2), with the profile's grace period from `now`.
pub(crate) fn promote_published(
    desk: &VoucherDesk,
    record: &NodeRecord,
    now: UnixSecs,
) -> Result<Option<IssuerPublicKey>, DeskError> {
    let Ok(Some(profile)) = record.profile() else {
        return Ok(None);
    };
    let Some(newest) = newest_published(&profile, &desk.node_id()) else {
        return Ok(None);
    };
    desk.promote_if_published(&newest, profile.voucher_grace_secs, now)
}

/// Once per ledger poll: drops an expired previous key, and while a key
/// is staged reads the node's record and promotes the key once the
/// profile names it.
pub(crate) async fn follow<L: LedgerApi>(inner: &Inner<L>) {
    let now = UnixSecs::now();
    let desk = &inner.vouchers;
    if desk.grace().is_some_and(|(_, until)| now >= until) {
        match desk.forget_expired_grace(now) {
            Ok(true) => {
                info!("previous voucher epoch expired; its key is deleted");
                drop_stale_keys(inner).await;
            }
            Ok(false) => {}
            Err(e) => warn!("deleting the expired voucher key failed (will retry): {e}"),
        }
    }
    if !matches!(desk.staged_key(), Ok(Some(_))) {
        return;
    }
    let record = match inner.ledger.get_node(inner.node_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(e) => {
            inner.metrics.ledger_error("get_node");
            warn!("reading the node record for a voucher key rotation failed (will retry): {e}");
            return;
        }
    };
    match promote_published(desk, &record, now) {
        Ok(Some(key)) => info!(
            voucher_epoch = key.epoch().get(),
            "voucher key rotated: issuing under the new epoch, the previous one in its grace period"
        ),
        Ok(None) => {}
        Err(e) => warn!("promoting the staged voucher key failed (will retry): {e}"),
    }
}

/// [`unpublish_stale_keys`], its outcome logged; the poller also runs it
/// every few polls, so a failed update is retried.
pub(crate) async fn drop_stale_keys<L: LedgerApi>(inner: &Inner<L>) {
    match unpublish_stale_keys(inner).await {
        Ok(true) => info!("published voucher keys updated: the expired epoch is no longer listed"),
        Ok(false) => {}
        Err(e) => {
            inner.metrics.ledger_error("update_node");
            warn!("unlisting the expired voucher key failed (will retry): {e}");
        }
    }
}

/// Sends `UpdateNode` (§8.3.8) when the node's profile lists the keys it
/// publishes now ([`published_keys`]) followed by others — an epoch whose
/// grace period ended — so clients stop seeing a key the node refuses
/// (§3.2). Any other difference (a rotation staged, a profile signed
/// elsewhere) is left to the operator. Returns whether it sent one.
async fn unpublish_stale_keys<L: LedgerApi>(inner: &Inner<L>) -> Result<bool, VoucherRotateError> {
    if !matches!(inner.vouchers.staged_key(), Ok(None)) {
        return Ok(false);
    }
    let Some(record) = inner.ledger.get_node(inner.node_id).await? else {
        return Ok(false);
    };
    let Some(mut profile) = record.profile()? else {
        return Ok(false);
    };
    let keys = published_keys(&inner.vouchers, UnixSecs::now());
    let stale_tail =
        profile.voucher_keys.len() > keys.len() && profile.voucher_keys.starts_with(&keys);
    if !stale_tail {
        return Ok(false);
    }
    profile.voucher_keys = keys;
    let account_key = load_or_create_account_key(&inner.config.dir)?;
    let terms = NodeTerms {
        profile: profile.encode()?,
        ..record.terms()
    };
    crate::register::update(&inner.ledger, &inner.node_key, &account_key, &record, terms).await?;
    Ok(true)
}

/// Why a voucher key rotation failed.
#[derive(Debug, thiserror::Error)]
pub enum VoucherRotateError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    VoucherKey(#[from] VoucherKeyError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the node's published profile: {0}")]
    Profile(#[from] ProfileError),
    #[error("{0} is not a node directory (no node.key)")]
    NotANodeDirectory(String),
    #[error("the node is not registered with this ledger (start it once first)")]
    NotRegistered,
}

/// What a rotation did.
#[derive(Debug)]
pub struct VoucherRotation {
    /// The record after the update.
    pub record: NodeRecord,
    /// The staged key, issued under once the node reads the record.
    pub next: IssuerPublicKey,
    /// The key in force until then, accepted for `grace_secs` after it.
    pub current: IssuerPublicKey,
    pub grace_secs: u64,
}

/// Rotates the voucher key of the node whose directory is `dir`
/// (`veil node rotate-voucher-key`, §3.2): stages the next epoch's key in
/// `dir` ([`voucher_keys::stage`]) and sends `UpdateNode` (§8.3.8) whose
/// profile lists it and the current key, newest first, keeping every
/// other term and profile field in force. A record without a profile gets
/// one with [`DEFAULT_GRACE_SECS`]. A retry after a failure reuses the
/// staged key.
pub async fn rotate_voucher_key<L: LedgerApi>(
    ledger: &L,
    dir: &Path,
) -> Result<VoucherRotation, VoucherRotateError> {
    if !dir.join(crate::keys::NODE_KEY_FILE).exists() {
        return Err(VoucherRotateError::NotANodeDirectory(
            dir.display().to_string(),
        ));
    }
    let node_key = load_or_create_node_key(dir)?;
    let account_key = load_or_create_account_key(dir)?;
    let node_id = node_key.verifying_key().node_id();
    let record = ledger
        .get_node(node_id)
        .await?
        .ok_or(VoucherRotateError::NotRegistered)?;
    let mut profile = record.profile()?.unwrap_or_else(|| NodeProfile {
        voucher_grace_secs: DEFAULT_GRACE_SECS,
        ..NodeProfile::default()
    });
    let (current, next) = voucher_keys::stage(dir)?;
    let voucher_node = VoucherNodeId::new(node_id.to_bytes());
    let publish =
        |k: &IssuerSecretKey| published(k.public_key(), &k.published_proof(&voucher_node));
    profile.voucher_keys = vec![publish(&next), publish(&current)];
    let terms = NodeTerms {
        profile: profile.encode()?,
        ..record.terms()
    };
    let record = crate::register::update(ledger, &node_key, &account_key, &record, terms).await?;
    Ok(VoucherRotation {
        record,
        next: *next.public_key(),
        current: *current.public_key(),
        grace_secs: profile.voucher_grace_secs,
    })
}
