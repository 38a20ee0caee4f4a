//! Answers the ledger's challenges of this node (docs/protocol.md §8.3.14):
//! each poll, the open ones are signed with the node key and sent back. A
//! challenge unanswered past its deadline slashes the node's stake, so a
//! failure here is logged and retried on the next poll.
//!
//! The node signs only values it computes itself,
//! `H(71, node_id, monitor, epoch, root)` ([`ChallengeRecord::value`]):
//! a ledger, honest or not, cannot turn this into a signing oracle.

use tracing::{info, warn};
use veil_ledger::LedgerApi;
use veil_ledger::challenge::{ChallengeAnswer, ChallengeRecord};

use crate::state::Inner;

/// The challenges of this node among `recent` still waiting for an answer.
fn to_answer<'a>(
    recent: &'a [ChallengeRecord],
    node_id: &'a veil_ledger::types::NodeId,
) -> impl Iterator<Item = &'a ChallengeRecord> {
    recent
        .iter()
        .filter(move |c| c.is_open() && c.key.node_id == *node_id)
}

/// One round: reads the node's recent challenges and answers the open ones.
pub(crate) async fn answer_open<L: LedgerApi>(inner: &Inner<L>) {
    let recent = match inner.ledger.challenges(inner.node_id).await {
        Ok(recent) => recent,
        Err(e) => {
            inner.metrics.ledger_error("get_challenges");
            warn!("reading the node's ledger challenges failed (will retry): {e}");
            return;
        }
    };
    for c in to_answer(&recent, &inner.node_id) {
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
        let picked: Vec<_> = to_answer(&recent, &me).collect();
        assert_eq!(picked, vec![&recent[0]]);
    }
}
