//! The Bancor bonding curve in fixed point
//! ([`docs/market.md` §2](../../../docs/market.md)).
//!
//! With reserve `R`, supply `S` and reserve ratio `RR`, the spot price is
//! `R / (S·RR)`; buying with `ΔR` mints `S·((1 + ΔR/R)^RR − 1)`, selling `ΔS`
//! pays `R·(1 − (1 − ΔS/S)^(1/RR))`, and minting exactly `T` costs
//! `R·((1 + T/S)^(1/RR) − 1)`. Every result is rounded in the reserve's
//! favour: mints and payouts down, costs up ([`crate::power`] brackets the
//! exact value, so the direction holds whatever the series' last bits);
//! `tests/reference.rs` checks the results to the base unit against
//! Python's `decimal`.

use ruint::aliases::U256;
use serde::{Deserialize, Serialize};

use crate::fixed::mul_div;
use crate::power::{Exponent, Round, scaled_power};
pub use crate::units::{Amount, CurveError, MAX_AMOUNT, ReserveRatio};

/// The spot price `R / (S·RR)`, reserve base units per token base unit,
/// kept exact as a fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Price {
    reserve: Amount,
    supply: Amount,
    ratio: ReserveRatio,
}

impl Price {
    /// For display and plots only: comparisons use [`Ord`].
    pub fn as_f64(&self) -> f64 {
        self.reserve as f64 * f64::from(ReserveRatio::PPM)
            / (self.supply as f64 * f64::from(self.ratio.ppm()))
    }

    fn numerator(&self) -> U256 {
        U256::from(self.reserve) * U256::from(ReserveRatio::PPM)
    }

    fn denominator(&self) -> U256 {
        U256::from(self.supply) * self.ratio.u256()
    }
}

impl Ord for Price {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Both sides are below 2^112·2^20·2^112: no overflow.
        (self.numerator() * other.denominator()).cmp(&(other.numerator() * self.denominator()))
    }
}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A bonding curve's state. Part of the supply, the float, belongs to nobody
/// and can never be sold, so the reserve and the supply stay positive; the
/// float absorbs reserve-ratio changes ([`Curve::set_ratio`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CurveRecord")]
pub struct Curve {
    reserve: Amount,
    supply: Amount,
    float: Amount,
    ratio: ReserveRatio,
}

/// A stored curve before [`Curve::from_state`] has checked it: a curve is
/// never decoded on trust (a float above the supply would underflow).
#[derive(Deserialize)]
struct CurveRecord {
    reserve: Amount,
    supply: Amount,
    float: Amount,
    ratio: ReserveRatio,
}

impl TryFrom<CurveRecord> for Curve {
    type Error = CurveError;
    fn try_from(r: CurveRecord) -> Result<Self, CurveError> {
        Curve::from_state(r.reserve, r.supply, r.float, r.ratio)
    }
}

impl Curve {
    /// A curve seeded with `reserve` backing a float of `supply` unsellable
    /// tokens: the opening price is `reserve / (supply·ratio)`.
    pub fn new(reserve: Amount, supply: Amount, ratio: ReserveRatio) -> Result<Self, CurveError> {
        let valid = 1..=MAX_AMOUNT;
        if !valid.contains(&reserve) || !valid.contains(&supply) {
            return Err(CurveError::Genesis);
        }
        Ok(Self {
            reserve,
            supply,
            float: supply,
            ratio,
        })
    }

    /// A curve restored from stored state (a ledger's record of it).
    pub fn from_state(
        reserve: Amount,
        supply: Amount,
        float: Amount,
        ratio: ReserveRatio,
    ) -> Result<Self, CurveError> {
        let valid = 1..=MAX_AMOUNT;
        if !valid.contains(&reserve) || !valid.contains(&supply) || !(1..=supply).contains(&float) {
            return Err(CurveError::Genesis);
        }
        Ok(Self {
            reserve,
            supply,
            float,
            ratio,
        })
    }

    pub fn reserve(&self) -> Amount {
        self.reserve
    }

    pub fn supply(&self) -> Amount {
        self.supply
    }

    /// Tokens held by someone: the supply less the float.
    pub fn circulating(&self) -> Amount {
        self.supply - self.float
    }

    pub fn ratio(&self) -> ReserveRatio {
        self.ratio
    }

    pub fn price(&self) -> Price {
        Price {
            reserve: self.reserve,
            supply: self.supply,
            ratio: self.ratio,
        }
    }

    /// The float: supply that belongs to nobody.
    pub fn float(&self) -> Amount {
        self.float
    }

    /// Moves the reserve ratio (the invisible hand, [`crate::hand`]) without
    /// moving the spot price: the supply becomes `S·old/new`, rounded up, the
    /// difference minted into or burnt from the float (`docs/market.md`
    /// §3.2: a price jump at a known epoch boundary would be free money).
    /// A rise the float cannot absorb stops where the float would reach one
    /// base unit. Returns the ratio applied.
    pub fn set_ratio(&mut self, ratio: ReserveRatio) -> ReserveRatio {
        let ratio = ratio.min(self.largest_ratio_the_float_absorbs());
        let (supply, old, new) = (U256::from(self.supply), self.ratio.u256(), ratio.u256());
        let supply_after = mul_div(supply, old, new)
            .map(|floor| {
                if floor * new == supply * old {
                    floor
                } else {
                    floor + U256::from(1u8)
                }
            })
            .and_then(|s| u128::try_from(s).ok())
            .filter(|s| *s <= MAX_AMOUNT);
        let Some(supply_after) = supply_after else {
            return self.ratio;
        };
        self.float = supply_after - self.circulating();
        self.supply = supply_after;
        self.ratio = ratio;
        ratio
    }

    /// `RR·S/(circulating + 1)`: the ratio at which the float would be one
    /// base unit.
    fn largest_ratio_the_float_absorbs(&self) -> ReserveRatio {
        let bound = mul_div(
            self.ratio.u256(),
            U256::from(self.supply),
            U256::from(self.circulating() + 1),
        )
        .unwrap_or(U256::MAX);
        let ppm = u32::try_from(bound)
            .unwrap_or(u32::MAX)
            .min(ReserveRatio::PPM);
        ReserveRatio::from_ppm(ppm).unwrap_or(self.ratio)
    }

    /// Tokens minted for `deposit` reserve units, rounded down:
    /// `S·((R + ΔR)/R)^RR − S`.
    pub fn quote_buy(&self, deposit: Amount) -> Result<Amount, CurveError> {
        let reserve_after = checked_sum(self.reserve, deposit)?;
        let e = Exponent::new(self.ratio.ppm().into(), ReserveRatio::PPM.into());
        let supply_after = scaled_power(self.supply, reserve_after, self.reserve, e, Round::Down)?;
        Ok(supply_after.saturating_sub(self.supply))
    }

    /// Reserve units that minting exactly `tokens` costs, rounded up:
    /// `R·((S + T)/S)^(1/RR) − R`.
    pub fn quote_buy_exact(&self, tokens: Amount) -> Result<Amount, CurveError> {
        let supply_after = checked_sum(self.supply, tokens)?;
        let reserve_after = scaled_power(
            self.reserve,
            supply_after,
            self.supply,
            self.inverse(),
            Round::Up,
        )?;
        Ok(reserve_after - self.reserve)
    }

    /// Reserve units paid for selling `amount` tokens, rounded down:
    /// `R − R·((S − ΔS)/S)^(1/RR)`, what stays rounded up.
    pub fn quote_sell(&self, amount: Amount) -> Result<Amount, CurveError> {
        let circulating = self.circulating();
        if amount > circulating {
            return Err(CurveError::ExceedsCirculating {
                amount,
                circulating,
            });
        }
        let stays = scaled_power(
            self.reserve,
            self.supply - amount,
            self.supply,
            self.inverse(),
            Round::Up,
        )?;
        Ok(self.reserve - stays.min(self.reserve))
    }

    /// The exponent `1/RR`.
    fn inverse(&self) -> Exponent {
        Exponent::new(ReserveRatio::PPM.into(), self.ratio.ppm().into())
    }

    /// Buys with `deposit`, refusing if fewer than `min_out` tokens result.
    pub fn buy(&mut self, deposit: Amount, min_out: Amount) -> Result<Amount, CurveError> {
        nonzero(deposit)?;
        let minted = self.quote_buy(deposit)?;
        if minted < min_out {
            return Err(CurveError::BelowMinimum {
                got: minted,
                min: min_out,
            });
        }
        self.reserve += deposit;
        self.supply += minted;
        Ok(minted)
    }

    /// Mints exactly `tokens`, refusing if they cost more than `max_in`;
    /// returns the cost.
    pub fn buy_exact(&mut self, tokens: Amount, max_in: Amount) -> Result<Amount, CurveError> {
        nonzero(tokens)?;
        let cost = self.quote_buy_exact(tokens)?;
        if cost > max_in {
            return Err(CurveError::AboveMaximum { cost, max: max_in });
        }
        self.reserve += cost;
        self.supply += tokens;
        Ok(cost)
    }

    /// Sells `amount`, refusing if less than `min_out` would be paid.
    pub fn sell(&mut self, amount: Amount, min_out: Amount) -> Result<Amount, CurveError> {
        nonzero(amount)?;
        let paid = self.quote_sell(amount)?;
        if paid < min_out {
            return Err(CurveError::BelowMinimum {
                got: paid,
                min: min_out,
            });
        }
        self.reserve -= paid;
        self.supply -= amount;
        Ok(paid)
    }
}

impl Curve {
    /// Adds `fee` to the reserve without minting (`crate::fee`): the price
    /// rises for every holder.
    pub(crate) fn retain(&mut self, fee: Amount) -> Result<(), CurveError> {
        self.reserve = checked_sum(self.reserve, fee)?;
        Ok(())
    }
}

fn nonzero(amount: Amount) -> Result<(), CurveError> {
    if amount == 0 {
        Err(CurveError::Zero)
    } else {
        Ok(())
    }
}

fn bounded(amount: Amount) -> Result<Amount, CurveError> {
    if amount > MAX_AMOUNT {
        Err(CurveError::TooLarge)
    } else {
        Ok(amount)
    }
}

fn checked_sum(a: Amount, b: Amount) -> Result<Amount, CurveError> {
    bounded(b)?;
    bounded(a + b)
}
