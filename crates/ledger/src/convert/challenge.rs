//! Ledger challenges ↔ `veil.ledger.v1` (docs/protocol.md §8.3.14).

use veil_proto::ledger::v1 as pb;

use super::{account, account_auth, account_auth_to_pb, field, node_id, signature};
use crate::challenge::{
    ChallengeAnswer, ChallengeKey, ChallengeRecord, ChallengeRequest, ChallengeState,
};
use crate::error::LedgerError;
use crate::types::{BlockHeight, MerkleRoot, Value};

fn key(node: &[u8], epoch: u64, monitor: &[u8]) -> Result<ChallengeKey, LedgerError> {
    Ok(ChallengeKey {
        node_id: node_id(node)?,
        epoch,
        monitor: account(monitor)?,
    })
}

pub fn challenge_request_from_pb(
    r: &pb::ChallengeNodeRequest,
) -> Result<ChallengeRequest, LedgerError> {
    Ok(ChallengeRequest {
        key: key(&r.node_id, r.epoch, &r.monitor)?,
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn challenge_request_to_pb(r: &ChallengeRequest) -> pb::ChallengeNodeRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&r.auth);
    pb::ChallengeNodeRequest {
        node_id: r.key.node_id.to_bytes().to_vec(),
        epoch: r.key.epoch,
        monitor: r.key.monitor.to_bytes().to_vec(),
        account_key,
        nonce,
        signature,
    }
}

pub fn answer_from_pb(a: &pb::AnswerChallengeRequest) -> Result<ChallengeAnswer, LedgerError> {
    Ok(ChallengeAnswer {
        key: key(&a.node_id, a.epoch, &a.monitor)?,
        signature: signature(&a.signature)?,
    })
}

pub fn answer_to_pb(a: &ChallengeAnswer) -> pb::AnswerChallengeRequest {
    pb::AnswerChallengeRequest {
        node_id: a.key.node_id.to_bytes().to_vec(),
        epoch: a.key.epoch,
        monitor: a.key.monitor.to_bytes().to_vec(),
        signature: a.signature.to_bytes().to_vec(),
    }
}

pub fn challenge_to_pb(c: &ChallengeRecord) -> pb::Challenge {
    let (state, answered_at, slashed) = match c.state {
        ChallengeState::Open => (pb::ChallengeState::Open, 0, 0),
        ChallengeState::Answered(h) => (pb::ChallengeState::Answered, h.0, 0),
        ChallengeState::Missed { slashed } => (pb::ChallengeState::Missed, 0, slashed.get()),
    };
    pb::Challenge {
        node_id: c.key.node_id.to_bytes().to_vec(),
        epoch: c.key.epoch,
        monitor: c.key.monitor.to_bytes().to_vec(),
        root: c.root.to_bytes().to_vec(),
        issued_at: c.issued_at.0,
        deadline: c.deadline.0,
        nonce: c.nonce,
        state: state as i32,
        answered_at,
        slashed,
    }
}

pub fn challenge_from_pb(c: &pb::Challenge) -> Result<ChallengeRecord, LedgerError> {
    let state = match (
        pb::ChallengeState::try_from(c.state),
        c.answered_at,
        c.slashed,
    ) {
        (Ok(pb::ChallengeState::Open), 0, 0) => ChallengeState::Open,
        (Ok(pb::ChallengeState::Answered), h, 0) => ChallengeState::Answered(BlockHeight(h)),
        (Ok(pb::ChallengeState::Missed), 0, s) => ChallengeState::Missed { slashed: Value(s) },
        _ => return Err(LedgerError::InvalidArgument("a challenge's state")),
    };
    if c.deadline < c.issued_at {
        return Err(LedgerError::InvalidArgument("a challenge's deadline"));
    }
    Ok(ChallengeRecord {
        key: key(&c.node_id, c.epoch, &c.monitor)?,
        root: field("root", &c.root, MerkleRoot::from_slice)?,
        issued_at: BlockHeight(c.issued_at),
        deadline: BlockHeight(c.deadline),
        nonce: c.nonce,
        state,
    })
}

/// A `ChallengeResponse`'s record (present: the ledger always answers one).
pub fn challenge_response_from_pb(
    r: &pb::ChallengeResponse,
) -> Result<ChallengeRecord, LedgerError> {
    challenge_from_pb(r.challenge.as_ref().ok_or(LedgerError::InvalidArgument(
        "a challenge response without its challenge",
    ))?)
}
