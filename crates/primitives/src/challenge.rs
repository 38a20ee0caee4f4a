//! The value a ledger challenge asks a node key to sign (docs/protocol.md
//! §8.3.14): defined here once, for the ledgers that check the signature
//! natively and for the `answer` circuit that proves it to a chain.

use crate::Fr;
use crate::ids::{AccountId, NodeId};
use crate::merkle::MerkleRoot;
use crate::poseidon;

/// The first Poseidon input of a challenge's value (after the ledger's
/// account-op tags: `REPORT_TAG` 69, `CHALLENGE_TAG` 70).
pub const ANSWER_TAG: u64 = 71;

/// `H(71, node_id, monitor, epoch, root)`: what the node key of `node_id`
/// signs to answer `monitor`'s challenge of `epoch`, `root` being the
/// note tree's latest root when the challenge was recorded (nobody knows
/// it in advance).
pub fn challenge_value(node_id: &NodeId, monitor: &AccountId, epoch: u64, root: &MerkleRoot) -> Fr {
    poseidon::hash(&[
        Fr::from(ANSWER_TAG),
        node_id.inner(),
        monitor.inner(),
        Fr::from(epoch),
        root.inner(),
    ])
}
