//! `ExitNode` and a record's `NodeExit` ↔ domain types (docs/protocol.md
//! §8.3.12).

use veil_proto::ledger::v1 as pb;

use super::{account, account_auth, account_auth_to_pb, node_id};
use crate::error::LedgerError;
use crate::exit::{AppliedStep, ExitRequest, ExitStep, NodeExit};
use crate::types::BlockHeight;

/// An exit step on the wire: RETIRE or RELEASE, nothing else.
pub(super) fn step_from_pb(step: i32) -> Result<ExitStep, LedgerError> {
    u32::try_from(step)
        .ok()
        .and_then(ExitStep::from_u32)
        .ok_or(LedgerError::InvalidArgument(
            "exit step must be RETIRE or RELEASE",
        ))
}

pub(super) fn step_to_pb(step: ExitStep) -> pb::ExitStep {
    match step {
        ExitStep::Retire => pb::ExitStep::Retire,
        ExitStep::Release => pb::ExitStep::Release,
    }
}

pub fn exit_from_pb(r: &pb::ExitNodeRequest) -> Result<ExitRequest, LedgerError> {
    Ok(ExitRequest {
        node_id: node_id(&r.node_id)?,
        account: account(&r.account)?,
        step: step_from_pb(r.step)?,
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn exit_to_pb(x: &ExitRequest) -> pb::ExitNodeRequest {
    let (account_key, nonce, signature) = account_auth_to_pb(&x.auth);
    pb::ExitNodeRequest {
        node_id: x.node_id.to_bytes().to_vec(),
        account: x.account.to_bytes().to_vec(),
        step: step_to_pb(x.step) as i32,
        account_key,
        nonce,
        signature,
    }
}

pub fn node_exit_to_pb(x: &NodeExit) -> pb::NodeExit {
    let step = |s: &AppliedStep| pb::AppliedExitStep {
        at: s.at.0,
        nonce: s.nonce,
    };
    pb::NodeExit {
        retired: Some(step(&x.retired)),
        released: x.released.as_ref().map(step),
    }
}

pub fn node_exit_from_pb(x: &pb::NodeExit) -> Result<NodeExit, LedgerError> {
    let step = |s: &pb::AppliedExitStep| AppliedStep {
        at: BlockHeight(s.at),
        nonce: s.nonce,
    };
    let retired = x.retired.as_ref().ok_or(LedgerError::InvalidArgument(
        "a node exit without its retirement",
    ))?;
    Ok(NodeExit {
        retired: step(retired),
        released: x.released.as_ref().map(step),
    })
}
