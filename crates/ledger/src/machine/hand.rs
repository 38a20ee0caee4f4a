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
use crate::trade::{HandState, MARKET_EPOCH_BLOCKS};
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
/// one step of the hand — the first with the finished epoch's demand, the
/// rest (epochs without a single operation) with none, stopping once the
/// ratio no longer moves. The new epoch's demand starts at zero.
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
    let mut hand = HandState::at(from, Value(w.epoch_escrowed()?), staked);
    let mut curve = w.curve()?;
    for _ in 0..crossed {
        let current = curve.ratio();
        if curve.set_ratio(hand.next_ratio(current)) == current {
            break;
        }
        hand.epoch_escrowed = Value::ZERO; // the epochs after: no operation
    }
    w.set_curve(&curve)?;
    w.set_epoch_escrowed(0)
}
