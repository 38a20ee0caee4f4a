//! §8.3.12 exit_node: a node's account retires it, then releases its
//! stake once the lock-up ([`NodeExit::releasable_at`]) has passed.
//!
//! No open-escrow count is needed: a retired node takes no new escrow, and
//! every escrow opened before has `expiry ≤ retired_at + max_expiry_delta`,
//! so none can settle after `retired_at + max_expiry_delta +
//! challenge_window` — the stake outlives every session the node could
//! still be paid for, plus the evidence window.

use super::{Checked, LedgerConfig, add, check_nonce, consume_nonce, sub};
use crate::error::LedgerError;
use crate::exit::{AppliedStep, ExitRequest, ExitStep, NodeExit};
use crate::state::{StateRead, StateWrite};
use crate::types::{NodeRecord, Value};

/// Stateless checks: the account's signature. Returns the nonce.
pub fn check_exit_stateless(x: &ExitRequest) -> Result<u64, LedgerError> {
    x.authenticate()
}

/// Every check of an exit step (§8.3.12): the signature; the node is
/// registered with this account; a retry of the applied step (same step,
/// same nonce) answers the record; then the step's order (retire once,
/// release once, after retiring and after the lock-up) and the nonce.
/// On `New`, carries the record and the nonce to consume.
pub fn check_exit(
    s: &impl StateRead,
    cfg: &LedgerConfig,
    x: &ExitRequest,
) -> Result<Checked<(NodeRecord, u64), NodeRecord>, LedgerError> {
    let nonce = check_exit_stateless(x)?;
    let node = s.node(&x.node_id)?.ok_or(LedgerError::UnknownNode)?;
    if node.registration.account != x.account {
        return Err(LedgerError::AccountUnauthenticated(
            "the exit is not signed by the node's registered account",
        ));
    }
    let applied = match (x.step, node.exit) {
        (ExitStep::Retire, Some(e)) => Some(e.retired),
        (ExitStep::Release, Some(e)) => e.released,
        (ExitStep::Release, None) => return Err(LedgerError::NodeNotRetired),
        (ExitStep::Retire, None) => None,
    };
    match (applied, x.step) {
        (Some(a), _) if a.nonce == nonce => return Ok(Checked::Done(node)),
        (Some(_), ExitStep::Retire) => return Err(LedgerError::NodeRetired),
        (Some(_), ExitStep::Release) => return Err(LedgerError::StakeReleased),
        (None, _) => {}
    }
    if let (ExitStep::Release, Some(e)) = (x.step, node.exit) {
        let at = e.releasable_at(cfg.max_expiry_delta, cfg.challenge_window);
        if s.height()? < at {
            return Err(LedgerError::StakeLocked(at));
        }
    }
    check_nonce(s, &x.account, nonce)?;
    Ok(Checked::New((node, nonce)))
}

/// Executes an exit step: records it in the node's record and consumes the
/// nonce; a release also moves the stake from `staked` to the account
/// (the turnstile's sum is unchanged).
pub fn apply_exit(
    w: &mut impl StateWrite,
    cfg: &LedgerConfig,
    x: &ExitRequest,
) -> Result<NodeRecord, LedgerError> {
    let (mut node, nonce) = match check_exit(w, cfg, x)? {
        Checked::Done(node) => return Ok(node),
        Checked::New(new) => new,
    };
    let step = AppliedStep {
        at: w.height()?,
        nonce,
    };
    match (x.step, node.exit) {
        (ExitStep::Retire, _) => {
            node.exit = Some(NodeExit {
                retired: step,
                released: None,
            })
        }
        (ExitStep::Release, Some(e)) => {
            release_stake(w, &node)?;
            node.exit = Some(NodeExit {
                released: Some(step),
                ..e
            });
        }
        (ExitStep::Release, None) => return Err(LedgerError::NodeNotRetired),
    }
    consume_nonce(w, &x.account, nonce)?;
    w.put_node(&node)?;
    Ok(node)
}

/// `staked` → the node's account, by the stake still locked (the
/// registered stake less what audits slashed, §8.3.13).
fn release_stake(w: &mut impl StateWrite, node: &NodeRecord) -> Result<(), LedgerError> {
    let stake = node.locked_stake();
    let account = node.registration.account;
    let mut t = w.totals()?;
    let corrupted = LedgerError::Corrupted("staked total below a registered node's stake".into());
    t.staked = sub(t.staked, stake.get(), corrupted)?;
    let balance = add(w.account(&account)?.get(), stake.get())?;
    w.set_totals(&t)?;
    w.set_account(&account, Value(balance))
}
