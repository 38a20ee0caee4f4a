//! Answers the ledger's challenges of this node (docs/protocol.md §8.3.14):
//! each poll, the open ones are signed with the node key and sent back. A
//! challenge unanswered past its deadline slashes the node's stake, so a
//! failure here is logged and retried on the next poll.
//!
//! The node signs only values it computes itself,
//! `H(71, node_id, monitor, epoch, root)` ([`ChallengeRecord::value`]):
//! a ledger, honest or not, cannot turn this into a signing oracle.

use std::collections::BTreeSet;

use tracing::{info, warn};
use veil_ledger::challenge::{ChallengeAnswer, ChallengeKey, ChallengeRecord};
use veil_ledger::{LedgerApi, LedgerError};

use crate::state::Inner;

/// The challenges of this node among `recent` still waiting for an answer
/// (open, and not among those the ledger already called `closed`).
fn to_answer<'a>(
    recent: &'a [ChallengeRecord],
    node_id: &'a veil_ledger::types::NodeId,
    closed: &'a BTreeSet<ChallengeKey>,
) -> impl Iterator<Item = &'a ChallengeRecord> {
    recent
        .iter()
        .filter(move |c| c.is_open() && c.key.node_id == *node_id && !closed.contains(&c.key))
}

/// One round: reads the node's recent challenges and answers the open ones.
/// A challenge the ledger calls closed while it still lists it open (on a
/// chain: past its deadline, until someone sends `slashMissed`) is logged
/// once and added to `closed` (the poll loop's), not tried again.
pub(crate) async fn answer_open<L: LedgerApi>(
    inner: &Inner<L>,
    closed: &mut BTreeSet<ChallengeKey>,
) {
    let recent = match inner.ledger.challenges(inner.node_id).await {
        Ok(recent) => recent,
        Err(e) => {
            inner.metrics.ledger_error("get_challenges");
            warn!("reading the node's ledger challenges failed (will retry): {e}");
            return;
        }
    };
    closed.retain(|k| recent.iter().any(|c| c.key == *k));
    let open: Vec<ChallengeRecord> = to_answer(&recent, &inner.node_id, closed)
        .cloned()
        .collect();
    for c in &open {
        let answer = ChallengeAnswer::sign(&inner.node_key, c);
        match inner.ledger.answer_challenge(answer).await {
            Ok(done) => {
                inner.metrics.challenges_answered.inc();
                info!(
                    epoch = done.key.epoch,
                    monitor = %done.key.monitor,
                    deadline = done.deadline.0,
                    "answered a ledger challenge"
                );
            }
            Err(LedgerError::ChallengeClosed) => {
                closed.insert(c.key);
                warn!(
                    epoch = c.key.epoch,
                    monitor = %c.key.monitor,
                    deadline = c.deadline.0,
                    "a ledger challenge passed its deadline unanswered: the stake will be slashed"
                );
            }
            Err(e) => {
                inner.metrics.ledger_error("answer_challenge");
                warn!("answering a ledger challenge failed (will retry): {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use veil_ledger::challenge::{ChallengeKey, ChallengeState};
    use veil_ledger::types::{BlockHeight, MerkleRoot, Value};
    use veil_primitives::eddsa::SigningKey;

    use super::*;

    fn record(node: u8, state: ChallengeState) -> ChallengeRecord {
        let key = |s: u8| {
            SigningKey::from_seed([s; 32])
                .expect("a key")
                .verifying_key()
        };
        ChallengeRecord {
            key: ChallengeKey {
                node_id: key(node).node_id(),
                epoch: 2,
                monitor: key(9).account_id(),
            },
            root: MerkleRoot::empty(),
            issued_at: BlockHeight(200),
            deadline: BlockHeight(300),
            nonce: 0,
            state,
        }
    }

    #[test]
    fn only_this_nodes_open_challenges_are_answered() {
        let me = record(1, ChallengeState::Open).key.node_id;
        let recent = [
            record(1, ChallengeState::Open),
            record(1, ChallengeState::Answered(BlockHeight(201))),
            record(1, ChallengeState::Missed { slashed: Value(5) }),
            record(2, ChallengeState::Open),
        ];
        let none = BTreeSet::new();
        let picked: Vec<_> = to_answer(&recent, &me, &none).collect();
        assert_eq!(picked, vec![&recent[0]]);
        // One the ledger called closed is not tried again.
        let closed = BTreeSet::from([recent[0].key]);
        assert_eq!(to_answer(&recent, &me, &closed).count(), 0);
    }
}
