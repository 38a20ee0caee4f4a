//! §8.3.14 ledger challenges: an assigned monitor challenges a node, the
//! node answers with its key, and a challenge the clock passes unanswered
//! slashes the node at once (`veil_market::audit::slash_for_evidence`).
//! Every check runs before the first write.

use veil_market::audit::{self as core, Party};

use super::audit::{assigned_to, slash_node};
use super::{Checked, check_nonce, consume_nonce};
use crate::challenge::{
    ANSWER_BLOCKS, ChallengeAnswer, ChallengeKey, ChallengeRecord, ChallengeRequest, ChallengeState,
};
use crate::error::LedgerError;
use crate::monitor::audit_rule;
use crate::state::{StateRead, StateWrite};
use crate::types::{BlockHeight, MerkleRoot, NodeRecord};

/// Every check of a challenge: the monitor's signature; it is a monitor;
/// a retry (same nonce) answers the record, another challenge of the same
/// node in the same epoch is refused; the epoch is the current one; the
/// node is registered and active; the monitor is among those the epoch
/// assigns it; the nonce is the account's next.
pub fn check_challenge(
    s: &impl StateRead,
    r: &ChallengeRequest,
) -> Result<Checked<u64, ChallengeRecord>, LedgerError> {
    let nonce = r.authenticate()?;
    let monitor = s.monitor(&r.key.monitor)?.ok_or(LedgerError::NotAMonitor)?;
    if let Some(c) = s.challenge(&r.key)? {
        return if c.nonce == nonce {
            Ok(Checked::Done(c))
        } else {
            Err(LedgerError::ChallengeExists)
        };
    }
    let seeds = s.audit_seeds()?;
    if r.key.epoch != seeds.epoch {
        return Err(LedgerError::ChallengeEpoch(seeds.epoch));
    }
    let node = s.node(&r.key.node_id)?.ok_or(LedgerError::UnknownNode)?;
    if node.exit.is_some() {
        return Err(LedgerError::NodeRetired);
    }
    let assigned = assigned_to(s, &seeds.current, seeds.epoch, &r.key.node_id)?;
    if !assigned.contains(&Party(monitor.account.to_bytes())) {
        return Err(LedgerError::NotAssigned);
    }
    check_nonce(s, &r.key.monitor, nonce)?;
    Ok(Checked::New(nonce))
}

/// Records the open challenge: its value binds the tree's latest root; the
/// node may answer until `ANSWER_BLOCKS` after now.
pub fn apply_challenge(
    w: &mut impl StateWrite,
    r: &ChallengeRequest,
) -> Result<ChallengeRecord, LedgerError> {
    let nonce = match check_challenge(w, r)? {
        Checked::Done(c) => return Ok(c),
        Checked::New(nonce) => nonce,
    };
    let mut node = known_node(w, &r.key)?;
    let now = w.height()?;
    let root = w.roots()?.latest().unwrap_or_else(MerkleRoot::empty);
    let record = ChallengeRecord {
        key: r.key,
        root,
        issued_at: now,
        deadline: now
            .checked_add(ANSWER_BLOCKS)
            .ok_or(LedgerError::Overflow)?,
        nonce,
        state: ChallengeState::Open,
    };
    node.audit.open_challenges = node
        .audit
        .open_challenges
        .checked_add(1)
        .ok_or(LedgerError::Overflow)?;
    consume_nonce(w, &r.key.monitor, nonce)?;
    w.put_node(&node)?;
    w.put_challenge(&record)?;
    Ok(record)
}

/// Every check of an answer: the challenge exists; the signature is the
/// node key's over its value; an answered challenge answers its record
/// again; a missed one is closed. (An open challenge is never past its
/// deadline: the clock's advance closes it first.)
pub fn check_answer(
    s: &impl StateRead,
    a: &ChallengeAnswer,
) -> Result<Checked<ChallengeRecord, ChallengeRecord>, LedgerError> {
    let c = s.challenge(&a.key)?.ok_or(LedgerError::UnknownChallenge)?;
    let node = known_node(s, &a.key)?;
    node.registration
        .node_key
        .verify(&c.value(), &a.signature)
        .map_err(|_| LedgerError::BadChallengeAnswer)?;
    match c.state {
        ChallengeState::Open => Ok(Checked::New(c)),
        ChallengeState::Answered(_) => Ok(Checked::Done(c)),
        ChallengeState::Missed { .. } => Err(LedgerError::ChallengeClosed),
    }
}

/// Marks the challenge answered.
pub fn apply_answer(
    w: &mut impl StateWrite,
    a: &ChallengeAnswer,
) -> Result<ChallengeRecord, LedgerError> {
    let mut c = match check_answer(w, a)? {
        Checked::Done(c) => return Ok(c),
        Checked::New(c) => c,
    };
    let mut node = known_node(w, &a.key)?;
    node.audit.open_challenges = close_one(node.audit.open_challenges)?;
    c.state = ChallengeState::Answered(w.height()?);
    w.put_node(&node)?;
    w.put_challenge(&c)?;
    Ok(c)
}

/// The node's challenges of the current and the previous epoch (every
/// open one is among them: a deadline is one epoch after the challenge).
pub fn recent_challenges(
    s: &impl StateRead,
    node: &crate::types::NodeId,
) -> Result<Vec<ChallengeRecord>, LedgerError> {
    let epoch = s.audit_seeds()?.epoch;
    s.challenges_of(node, epoch.saturating_sub(1))
}

/// The clock moves to `to`: every open challenge whose deadline is below
/// it was missed, and slashes its node at once — the evidence share to the
/// challenging monitor, the rest burnt. A failure here can only be a
/// broken store: it aborts the whole write.
pub fn on_advance(w: &mut impl StateWrite, to: BlockHeight) -> Result<(), LedgerError> {
    for key in w.challenges_due(to)? {
        miss(w, &key).map_err(|err| match err {
            fatal @ (LedgerError::Storage(_) | LedgerError::Corrupted(_)) => fatal,
            other => LedgerError::Corrupted(format!("a missed challenge: {other}")),
        })?;
    }
    Ok(())
}

fn miss(w: &mut impl StateWrite, key: &ChallengeKey) -> Result<(), LedgerError> {
    let mut c = w
        .challenge(key)?
        .filter(ChallengeRecord::is_open)
        .ok_or_else(|| LedgerError::Corrupted("a due challenge is not open".into()))?;
    let mut node = known_node(w, key)?;
    let slash = core::slash_for_evidence(
        &audit_rule(),
        u128::from(node.locked_stake().get()),
        vec![Party(key.monitor.to_bytes())],
    );
    let slashed = slash_node(w, &mut node, &slash)?;
    node.audit.open_challenges = close_one(node.audit.open_challenges)?;
    node.audit.missed_challenges = node.audit.missed_challenges.saturating_add(1);
    c.state = ChallengeState::Missed { slashed };
    w.put_node(&node)?;
    w.put_challenge(&c)
}

fn known_node(s: &impl StateRead, key: &ChallengeKey) -> Result<NodeRecord, LedgerError> {
    s.node(&key.node_id)?
        .ok_or_else(|| LedgerError::Corrupted("a challenge names an unknown node".into()))
}

fn close_one(open: u32) -> Result<u32, LedgerError> {
    open.checked_sub(1)
        .ok_or_else(|| LedgerError::Corrupted("a node's open challenges count".into()))
}
