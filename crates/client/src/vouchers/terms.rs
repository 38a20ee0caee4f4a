//! A node's voucher terms (§9.1, `docs/vouchers.md`).

use veil_ledger::LedgerApi;
use veil_ledger::profile::NodeProfile;
use veil_ledger::types::NodeRecord;
use veil_primitives::field::fr_to_bytes;
use veil_vouchers::{Epoch, IssuerPublicKey, NodeId};

use super::error::VoucherError;
use crate::session::{NodeConnection, NodeTerms};

/// A node's voucher terms, as published by `GetTerms` and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherTerms {
    pub node_id: NodeId,
    /// The key the node issues under now (its current epoch's).
    pub key: IssuerPublicKey,
    /// The previous epoch's key while the node's ledger profile still
    /// lists it (`docs/vouchers.md` §3.2): credentials under it are spent
    /// (and re-issued under `key`) or exchanged during the grace period.
    pub previous: Option<IssuerPublicKey>,
    pub price_per_kib: u64,
}

impl VoucherTerms {
    /// The voucher view of a node's checked terms (§9.1); refused if the
    /// node does not sell vouchers. The key is not yet checked against the
    /// node's ledger profile, and no previous key is known.
    pub fn from_node_terms(t: &NodeTerms) -> Result<Self, VoucherError> {
        let key = t
            .voucher_key
            .ok_or_else(|| VoucherError::Terms("this node does not sell vouchers".into()))?;
        Ok(Self {
            node_id: NodeId::new(fr_to_bytes(&t.node_id.inner())),
            key,
            previous: None,
            price_per_kib: t.price_per_kib,
        })
    }

    /// Fetches and checks the node's voucher terms (not against the
    /// ledger: see [`Self::fetch_published`]).
    pub async fn fetch(node: &mut NodeConnection) -> Result<Self, VoucherError> {
        Self::from_node_terms(&node.terms().await?)
    }

    /// Fetches the node's voucher terms and checks them against its
    /// ledger profile ([`Self::check_published`]).
    pub async fn fetch_published<L: LedgerApi>(
        node: &mut NodeConnection,
        ledger: &L,
    ) -> Result<Self, VoucherError> {
        Self::published(&node.terms().await?, ledger).await
    }

    /// The voucher terms of `t` checked against the node's record on
    /// `ledger` ([`Self::check_published`]).
    pub async fn published<L: LedgerApi>(t: &NodeTerms, ledger: &L) -> Result<Self, VoucherError> {
        let record = ledger
            .get_node(t.node_id)
            .await
            .map_err(crate::error::ClientError::from)?
            .ok_or_else(|| VoucherError::Terms("the node is not registered".into()))?;
        Self::from_node_terms(t)?.check_published(&record)
    }

    /// Checks the key the node issues under against the one its ledger
    /// profile publishes for that epoch, with a valid proof of
    /// well-formedness (`docs/vouchers.md` §3.1, §9.1): a node that hands
    /// this client another key than the one every client can read on the
    /// ledger is trying to tag it, and is refused
    /// ([`VoucherError::Unpublished`]). Also takes the previous epoch's
    /// key if the profile lists it (§3.2).
    pub fn check_published(mut self, record: &NodeRecord) -> Result<Self, VoucherError> {
        let epoch = self.key.epoch();
        let unpublished = |why: &str| VoucherError::Unpublished {
            epoch: epoch.get(),
            why: why.to_owned(),
        };
        let profile = match record.profile() {
            Ok(Some(p)) => p,
            Ok(None) => return Err(unpublished("the node publishes no profile")),
            Err(e) => return Err(unpublished(&e.to_string())),
        };
        let listed = published_key(&profile, &self.node_id, epoch)
            .ok_or_else(|| unpublished("no key for this epoch in the profile"))?
            .map_err(|e| unpublished(&e.to_string()))?;
        if listed != self.key {
            return Err(unpublished("the profile lists another key for this epoch"));
        }
        self.previous = epoch
            .previous()
            .and_then(|e| published_key(&profile, &self.node_id, e))
            .and_then(Result::ok);
        Ok(self)
    }
}

/// The key `profile` lists for `epoch`, checked (§3.1); `None` if it
/// lists none.
fn published_key(
    profile: &NodeProfile,
    node: &NodeId,
    epoch: Epoch,
) -> Option<Result<IssuerPublicKey, veil_vouchers::PublishedKeyError>> {
    let k = profile.voucher_key(epoch.get())?;
    Some(IssuerPublicKey::verify_published(
        node,
        epoch,
        &k.public_key,
        &k.proof,
    ))
}

#[cfg(test)]
mod tests {
    use veil_ledger::profile::PublishedVoucherKey;
    use veil_ledger::types::{NodeRegistration, NodeTerms as LedgerTerms, Value};
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::ids::BlockHeight;
    use veil_vouchers::IssuerSecretKey;

    use super::*;

    /// A node's record whose profile lists `keys`, and the voucher node id.
    fn record(node_key: &SigningKey, keys: &[(&IssuerSecretKey, [u8; 64])]) -> NodeRecord {
        let profile = NodeProfile {
            voucher_grace_secs: 60,
            voucher_keys: keys
                .iter()
                .map(|(k, proof)| PublishedVoucherKey {
                    epoch: k.epoch().get(),
                    public_key: k.public_key().w_bytes(),
                    proof: *proof,
                })
                .collect(),
            ..NodeProfile::default()
        };
        let terms = LedgerTerms {
            profile: profile.encode().unwrap(),
            ..LedgerTerms::new(Value(1), vec![Value(8)], [0; 32])
        };
        let account = SigningKey::from_seed([2; 32]).unwrap();
        let g = NodeRegistration::sign(node_key, &account, 0, Value(0), terms);
        NodeRecord::registered(g, BlockHeight(1))
    }

    fn voucher_node(node_key: &SigningKey) -> NodeId {
        NodeId::new(fr_to_bytes(&node_key.verifying_key().node_id().inner()))
    }

    fn terms(node: NodeId, key: &IssuerSecretKey) -> VoucherTerms {
        VoucherTerms {
            node_id: node,
            key: *key.public_key(),
            previous: None,
            price_per_kib: 1,
        }
    }

    #[test]
    fn only_the_published_key_is_taken_and_the_previous_one_is_learnt() {
        let node_key = SigningKey::from_seed([1; 32]).unwrap();
        let node = voucher_node(&node_key);
        let mut rng = rand::thread_rng();
        let old = IssuerSecretKey::generate(Epoch::new(3), &mut rng);
        let new = IssuerSecretKey::generate(Epoch::new(4), &mut rng);
        let proof = |k: &IssuerSecretKey| k.published_proof(&node).to_bytes();
        let r = record(&node_key, &[(&new, proof(&new)), (&old, proof(&old))]);
        let checked = terms(node, &new).check_published(&r).unwrap();
        assert_eq!(checked.previous, Some(*old.public_key()));
        // Before the node promotes, it still issues under the older key.
        let before = terms(node, &old).check_published(&r).unwrap();
        assert_eq!(before.previous, None);

        // A tagging node: it hands this client a key of its own for epoch 4.
        let tag = IssuerSecretKey::generate(Epoch::new(4), &mut rng);
        let refused = terms(node, &tag).check_published(&r);
        assert!(matches!(
            refused,
            Err(VoucherError::Unpublished { epoch: 4, .. })
        ));
        // An epoch the profile does not list, no profile, a bad proof.
        let later = IssuerSecretKey::generate(Epoch::new(5), &mut rng);
        assert!(matches!(
            terms(node, &later).check_published(&r),
            Err(VoucherError::Unpublished { epoch: 5, .. })
        ));
        let bare = NodeRecord::registered(
            NodeRegistration::sign(
                &node_key,
                &SigningKey::from_seed([2; 32]).unwrap(),
                0,
                Value(0),
                LedgerTerms::new(Value(1), vec![Value(8)], [0; 32]),
            ),
            BlockHeight(1),
        );
        assert!(matches!(
            terms(node, &new).check_published(&bare),
            Err(VoucherError::Unpublished { .. })
        ));
        let forged = record(&node_key, &[(&new, proof(&old))]);
        assert!(matches!(
            terms(node, &new).check_published(&forged),
            Err(VoucherError::Unpublished { .. })
        ));
        // A proof made for another node does not pass either.
        let elsewhere = NodeId::new([7; 32]);
        let copied = record(
            &node_key,
            &[(&new, new.published_proof(&elsewhere).to_bytes())],
        );
        assert!(terms(node, &new).check_published(&copied).is_err());
    }
}
