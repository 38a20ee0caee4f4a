//! A node leaving the network (docs/protocol.md §8.3.12): its account
//! retires it — no new escrow opens with it from then on — and, once every
//! session it could still settle has closed and the evidence window has
//! passed, releases its stake back to the account. Both steps are signed
//! by the node's registered account key.

use veil_primitives::eddsa::SigningKey;
use veil_primitives::{Fr, poseidon};

use crate::error::LedgerError;
use crate::trade::MARKET_EPOCH_BLOCKS;
use crate::types::{AccountAuth, AccountId, AccountOp, BlockHeight, NodeId};
pub use crate::types::{AppliedStep, NodeExit};

/// The first Poseidon input of an exit step's digest, in the ledger's
/// reserved range beside `REGISTRATION_TAG` (64), `UPDATE_TAG` (65) and
/// `TRADE_TAG` (66).
pub const EXIT_TAG: u64 = 67;

/// Blocks after the last session a retired node could settle during which
/// its stake stays locked, so that evidence against it (§8.3.12, the
/// audits of `docs/market.md` §6) still has stake to slash: two market
/// epochs, the one the last session ended in and the next.
pub const EVIDENCE_WINDOW_BLOCKS: u64 = 2 * MARKET_EPOCH_BLOCKS;

/// The two steps of an exit, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStep {
    /// No new escrow opens with the node; open ones settle or are
    /// reclaimed as before. Starts the stake's lock-up.
    Retire = 1,
    /// After the lock-up: the stake returns to the account.
    Release = 2,
}

impl ExitStep {
    /// The step a wire number stands for.
    pub fn from_u32(n: u32) -> Option<Self> {
        match n {
            1 => Some(Self::Retire),
            2 => Some(Self::Release),
            _ => None,
        }
    }
}

/// One exit step of `node_id` by its registered `account` (§8.3.12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitRequest {
    pub node_id: NodeId,
    pub account: AccountId,
    pub step: ExitStep,
    pub auth: Option<AccountAuth>,
}

impl ExitRequest {
    /// `H(67, step, node_id)`: the digest the account key signs (op 5).
    pub fn digest(&self) -> Fr {
        exit_digest(self.step, &self.node_id)
    }

    /// A step by the account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, node_id: NodeId, step: ExitStep) -> Self {
        Self {
            node_id,
            account: key.verifying_key().account_id(),
            step,
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::ExitNode,
                nonce,
                exit_digest(step, &node_id),
            )),
        }
    }

    /// [`AccountAuth::verify`] for this step; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::ExitNode,
            &self.account,
            self.digest(),
        )
    }
}

fn exit_digest(step: ExitStep, node_id: &NodeId) -> Fr {
    poseidon::hash(&[Fr::from(EXIT_TAG), Fr::from(step as u64), node_id.inner()])
}

impl NodeExit {
    /// The first height at which the stake of a node retired at `retired`
    /// may be released: after the last height at which a session opened
    /// before the retirement could still settle (`max_expiry_delta +
    /// challenge_window`), plus [`EVIDENCE_WINDOW_BLOCKS`].
    /// The ledger's parameters are in its `Status`.
    pub fn releasable_at(&self, max_expiry_delta: u64, challenge_window: u64) -> BlockHeight {
        let lock = max_expiry_delta
            .saturating_add(challenge_window)
            .saturating_add(1)
            .saturating_add(EVIDENCE_WINDOW_BLOCKS);
        BlockHeight(self.retired.at.0.saturating_add(lock))
    }
}
