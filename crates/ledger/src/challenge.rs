//! Ledger challenges: objective evidence of a node's liveness
//! (docs/protocol.md §8.3.14, docs/market.md §6.2). A monitor assigned to
//! a node this epoch challenges it on the ledger; the challenge's value is
//! fixed by the ledger (it binds the tree root at the time, which nobody
//! knows in advance); the node answers with its node key's signature over
//! it within [`ANSWER_BLOCKS`]; a challenge still open when the clock passes
//! its deadline is evidence, and slashes the node's stake at once
//! (`veil_market::audit::slash_for_evidence`).

use veil_primitives::eddsa::{Signature, SigningKey};
use veil_primitives::{Fr, poseidon};

use crate::error::LedgerError;
use crate::types::{AccountAuth, AccountId, AccountOp, BlockHeight, MerkleRoot, NodeId, Value};

/// The first Poseidon input of a challenge request's digest (the monitor's
/// account op 8), after `REPORT_TAG` (69).
pub const CHALLENGE_TAG: u64 = 70;
pub use veil_primitives::challenge::ANSWER_TAG;

/// Blocks a node has to answer: a challenge issued at height `h` may be
/// answered until `h + ANSWER_BLOCKS` inclusive; when the clock passes that
/// height unanswered, the node is slashed. One market epoch.
pub const ANSWER_BLOCKS: u64 = crate::trade::MARKET_EPOCH_BLOCKS;

// A retired node cannot be challenged, and its stake is released no sooner
// than `EVIDENCE_WINDOW_BLOCKS` after it retired: every challenge of it has
// been answered or missed — and slashed — by then (§8.3.12).
const _: () = assert!(ANSWER_BLOCKS < crate::exit::EVIDENCE_WINDOW_BLOCKS);

/// Which challenge: one per monitor, node and epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChallengeKey {
    pub node_id: NodeId,
    pub epoch: u64,
    pub monitor: AccountId,
}

/// A monitor's challenge of a node in the current epoch, signed by the
/// monitor's account key (op 8 over `H(70, epoch, node_id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeRequest {
    pub key: ChallengeKey,
    pub auth: Option<AccountAuth>,
}

impl ChallengeRequest {
    /// `H(70, epoch, node_id)`: the digest the monitor's account key signs.
    pub fn digest(&self) -> Fr {
        request_digest(self.key.epoch, &self.key.node_id)
    }

    /// A challenge for a ledger that authenticates its sender
    /// ([`crate::LedgerApi::acting_account`], an EVM chain): by `monitor`,
    /// the sender's account, with no account signature.
    pub fn from_sender(monitor: AccountId, epoch: u64, node_id: NodeId) -> Self {
        Self {
            key: ChallengeKey {
                node_id,
                epoch,
                monitor,
            },
            auth: None,
        }
    }

    /// A challenge by the monitor account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, epoch: u64, node_id: NodeId) -> Self {
        Self {
            key: ChallengeKey {
                node_id,
                epoch,
                monitor: key.verifying_key().account_id(),
            },
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::Challenge,
                nonce,
                request_digest(epoch, &node_id),
            )),
        }
    }

    /// [`AccountAuth::verify`] for this challenge; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::Challenge,
            &self.key.monitor,
            self.digest(),
        )
    }
}

fn request_digest(epoch: u64, node_id: &NodeId) -> Fr {
    poseidon::hash(&[Fr::from(CHALLENGE_TAG), Fr::from(epoch), node_id.inner()])
}

/// The value a challenge asks the node key to sign:
/// `H(71, node_id, monitor, epoch, root)`, with `root` the tree's latest
/// root when the challenge was recorded.
pub fn challenge_value(key: &ChallengeKey, root: &MerkleRoot) -> Fr {
    veil_primitives::challenge::challenge_value(&key.node_id, &key.monitor, key.epoch, root)
}

/// Where a challenge stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeState {
    /// Waiting for the node's answer until the deadline.
    Open,
    /// Answered at this height.
    Answered(BlockHeight),
    /// The clock passed the deadline unanswered: the node lost this much.
    Missed { slashed: Value },
}

/// A challenge as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub key: ChallengeKey,
    /// The tree's latest root when the challenge was recorded: the part of
    /// [`ChallengeRecord::value`] nobody knew in advance.
    pub root: MerkleRoot,
    pub issued_at: BlockHeight,
    /// The last height at which an answer is taken.
    pub deadline: BlockHeight,
    /// The monitor's account nonce the request carried (a retry's answer).
    pub nonce: u64,
    pub state: ChallengeState,
}

impl ChallengeRecord {
    pub fn is_open(&self) -> bool {
        self.state == ChallengeState::Open
    }

    /// What the node key must sign: [`challenge_value`] of the key and
    /// root. Derived, never carried: a node signs only values of this
    /// form, so whoever asks cannot make it sign anything else.
    pub fn value(&self) -> Fr {
        challenge_value(&self.key, &self.root)
    }
}

/// A node's answer: its node key's signature over the challenge's value.
/// Anyone may carry it to the ledger; only the node key can make it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeAnswer {
    pub key: ChallengeKey,
    pub signature: Signature,
}

impl ChallengeAnswer {
    /// The node key's answer to `record`.
    pub fn sign(node_key: &SigningKey, record: &ChallengeRecord) -> Self {
        Self {
            key: record.key,
            signature: node_key.sign(&record.value()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::poseidon::DomainTag;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed([seed; 32]).expect("a key")
    }

    #[test]
    fn the_value_binds_every_part_and_differs_from_the_relay_challenge() {
        let k = ChallengeKey {
            node_id: key(1).verifying_key().node_id(),
            epoch: 3,
            monitor: key(2).verifying_key().account_id(),
        };
        let root = MerkleRoot::from_fr(Fr::from(9u64));
        let v = challenge_value(&k, &root);
        let other_root = MerkleRoot::from_fr(Fr::from(10u64));
        assert_ne!(v, challenge_value(&k, &other_root));
        assert_ne!(v, challenge_value(&ChallengeKey { epoch: 4, ..k }, &root));
        let m3 = key(3).verifying_key().account_id();
        assert_ne!(
            v,
            challenge_value(&ChallengeKey { monitor: m3, ..k }, &root)
        );
        // The relay's challenge message is H(NONCE, nonce): another tag.
        assert_ne!(ANSWER_TAG, DomainTag::Nonce as u64);
    }

    #[test]
    fn a_request_authenticates_only_as_signed() {
        let m = key(2);
        let node = key(1).verifying_key().node_id();
        let r = ChallengeRequest::signed(&m, 4, 7, node);
        assert_eq!(r.authenticate(), Ok(4));
        let mut other_epoch = r.clone();
        other_epoch.key.epoch = 8;
        assert!(other_epoch.authenticate().is_err());
        let mut other_node = r.clone();
        other_node.key.node_id = key(5).verifying_key().node_id();
        assert!(other_node.authenticate().is_err());
        let mut unsigned = r;
        unsigned.auth = None;
        assert!(unsigned.authenticate().is_err());
    }
}
