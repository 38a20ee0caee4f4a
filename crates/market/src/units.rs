//! The curve's units, bounds and refusals
//! ([`docs/market.md` §1](../../../docs/market.md)): amounts in base units,
//! the reserve ratio in parts per million, and why an operation is refused.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

/// An amount of tokens or of the reserve asset, in base units.
pub type Amount = u128;

/// The largest reserve, supply or trade the curve accepts: 2^112 − 1 base
/// units (5·10^15 whole tokens at 18 decimals). It keeps every intermediate
/// below 2^256.
pub const MAX_AMOUNT: Amount = (1 << 112) - 1;

/// Why a curve operation was refused. A refused operation changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurveError {
    #[error("reserve ratio {0} ppm is outside [{min}, {max}]", min = ReserveRatio::MIN_PPM, max = ReserveRatio::PPM)]
    ReserveRatio(u32),
    #[error(
        "the reserve and supply must be between 1 and 2^112 − 1 base units, and the float between 1 and the supply"
    )]
    Genesis,
    #[error("zero amount")]
    Zero,
    #[error("amount or result exceeds the curve's bound of 2^112 − 1 base units")]
    TooLarge,
    #[error("selling {amount} exceeds the circulating supply {circulating}")]
    ExceedsCirculating { amount: Amount, circulating: Amount },
    #[error("slippage: the trade yields {got}, below the minimum {min}")]
    BelowMinimum { got: Amount, min: Amount },
    #[error("slippage: the trade costs {cost}, above the maximum {max}")]
    AboveMaximum { cost: Amount, max: Amount },
}

/// The share of the token's market value kept in the reserve, in parts per
/// million, within `[MIN_PPM, PPM]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ReserveRatio(u32);

impl ReserveRatio {
    /// 100%: a constant price.
    pub const PPM: u32 = 1_000_000;
    /// 1%: the smallest ratio the fixed-point bounds cover.
    pub const MIN_PPM: u32 = 10_000;

    pub fn from_ppm(ppm: u32) -> Result<Self, CurveError> {
        if (Self::MIN_PPM..=Self::PPM).contains(&ppm) {
            Ok(Self(ppm))
        } else {
            Err(CurveError::ReserveRatio(ppm))
        }
    }

    /// A constant ratio: out of range fails the build where it is used in
    /// a `const`, and panics otherwise (for literals only).
    pub const fn at(ppm: u32) -> Self {
        assert!(
            ppm >= Self::MIN_PPM && ppm <= Self::PPM,
            "reserve ratio out of range"
        );
        Self(ppm)
    }

    pub fn ppm(self) -> u32 {
        self.0
    }

    pub(crate) fn u256(self) -> U256 {
        U256::from(self.0)
    }
}

impl TryFrom<u32> for ReserveRatio {
    type Error = CurveError;
    fn try_from(ppm: u32) -> Result<Self, CurveError> {
        Self::from_ppm(ppm)
    }
}

impl From<ReserveRatio> for u32 {
    fn from(ratio: ReserveRatio) -> u32 {
        ratio.0
    }
}
