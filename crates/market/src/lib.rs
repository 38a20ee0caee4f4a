//! The bandwidth market's pure core ([`docs/market.md`](../../../docs/market.md)):
//!
//! - [`curve`]: the Bancor bonding curve in fixed point, every rounding in
//!   the reserve's favour;
//! - [`fee`]: the trading fee, kept in the reserve;
//! - [`hand`]: the invisible hand, a reserve ratio that follows demand;
//! - [`simulate`]: demand scenarios replayed through both;
//! - [`audit`]: monitor assignment, quorum verdicts and slashes.
//!
//! No I/O, no clock: the ledger backends and the CLI call into it.

mod fixed;
mod power;
mod units;

pub mod audit;
pub mod curve;
pub mod fee;
pub mod hand;
pub mod simulate;

pub use curve::{Amount, Curve, CurveError, MAX_AMOUNT, Price, ReserveRatio};
pub use hand::{Demand, HandRule};
