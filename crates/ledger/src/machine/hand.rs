//! The invisible hand in the ledger (§8.3.11, `docs/market.md` §7): each
//! escrow opened adds its value to the epoch's demand; when the clock
//! crosses an epoch boundary the reserve ratio takes one bounded step
//! toward the ratio that demand points to (`veil_market::hand`), with the
//! price held (`Curve::set_ratio`). Demand is the epoch's escrowed value
//! over the value staked by nodes: staked value stands in for capacity,
//! which it bounds (100 per claimed Mbit/s, `crate::monitor::STAKE_PER_MBIT_S`);
//! demand over claimed capacity itself is `docs/market.md` §8.

use crate::error::LedgerError;
use crate::state::StateWrite;
use crate::trade::{HandState, MARKET_EPOCH_BLOCKS, step_hand};
use crate::types::{BlockHeight, Value};

/// Counts an opened escrow in the current epoch's demand.
pub fn count_escrow(w: &mut impl StateWrite, escrow: Value) -> Result<(), LedgerError> {
    let so_far = w.epoch_escrowed()?;
    w.set_epoch_escrowed(
        so_far
            .checked_add(escrow.get())
            .ok_or(LedgerError::Overflow)?,
    )
}

/// The clock moved from `from` to `to`: for each epoch boundary crossed,
/// one step of the hand ([`crate::trade::step_hand`]: the first with the
/// finished epoch's demand, the rest with none). The new epoch's demand
/// starts at zero.
pub fn on_advance(
    w: &mut impl StateWrite,
    from: BlockHeight,
    to: BlockHeight,
) -> Result<(), LedgerError> {
    let crossed = to.0 / MARKET_EPOCH_BLOCKS - from.0 / MARKET_EPOCH_BLOCKS;
    if crossed == 0 {
        return Ok(());
    }
    let staked = Value(w.totals()?.staked);
    let hand = HandState::at(from, Value(w.epoch_escrowed()?), staked);
    let mut curve = w.curve()?;
    step_hand(&mut curve, hand, crossed);
    w.set_curve(&curve)?;
    w.set_epoch_escrowed(0)
}
