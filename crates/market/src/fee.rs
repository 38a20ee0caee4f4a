//! The trading fee ([`docs/market.md` §3.3](../../../docs/market.md)): a
//! share of every buy's deposit and of every sale's proceeds, rounded up,
//! that stays in the reserve. It closes what a reserve-ratio step leaves
//! to a trader who buys before a known rise and sells after it (§3.2): at
//! the default 0.5% a side, the step's gain is smaller than the two fees
//! for any trade up to the whole reserve.

use crate::curve::{Amount, Curve, CurveError, ReserveRatio};

/// A fee of `ppm` parts per million of the value traded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeFee {
    ppm: u32,
}

impl TradeFee {
    /// 0.5% of the value of each trade (5,000 ppm).
    pub const DEFAULT: Self = Self { ppm: 5_000 };

    /// A fee of `ppm`; `None` above 100%.
    pub fn from_ppm(ppm: u32) -> Option<Self> {
        (ppm <= ReserveRatio::PPM).then_some(Self { ppm })
    }

    pub fn ppm(self) -> u32 {
        self.ppm
    }

    /// The fee on `amount`, rounded up (in the reserve's favour).
    pub fn of(self, amount: Amount) -> Amount {
        let ppm = u128::from(ReserveRatio::PPM);
        // amount ≤ 2^128 − 1 would overflow times 10^6: split it.
        let (hi, lo) = (amount / ppm, amount % ppm);
        hi * u128::from(self.ppm) + (lo * u128::from(self.ppm)).div_ceil(ppm)
    }

    /// What a buy of `spend` mints on `curve` after the fee, and the fee.
    pub fn quote_buy(self, curve: &Curve, spend: Amount) -> Result<(Amount, Amount), CurveError> {
        let mut c = curve.clone();
        self.buy(&mut c, spend, 0)
    }

    /// What a sale of `tokens` pays from `curve` after the fee, and the fee.
    pub fn quote_sell(self, curve: &Curve, tokens: Amount) -> Result<(Amount, Amount), CurveError> {
        let mut c = curve.clone();
        self.sell(&mut c, tokens, 0)
    }

    /// Buys with `spend`, the fee taken first and kept in the reserve;
    /// refuses, changing nothing, if fewer than `min_out` tokens result.
    /// Returns the tokens minted and the fee.
    pub fn buy(
        self,
        curve: &mut Curve,
        spend: Amount,
        min_out: Amount,
    ) -> Result<(Amount, Amount), CurveError> {
        if spend == 0 {
            return Err(CurveError::Zero);
        }
        let fee = self.of(spend);
        let mut c = curve.clone();
        let minted = c.buy(spend - fee, min_out)?;
        c.retain(fee)?;
        *curve = c;
        Ok((minted, fee))
    }

    /// Sells `tokens`; the fee is taken from the proceeds and kept in the
    /// reserve; refuses, changing nothing, if less than `min_out` would be
    /// paid. Returns what is paid and the fee.
    pub fn sell(
        self,
        curve: &mut Curve,
        tokens: Amount,
        min_out: Amount,
    ) -> Result<(Amount, Amount), CurveError> {
        let mut c = curve.clone();
        let proceeds = c.sell(tokens, 0)?;
        let fee = self.of(proceeds);
        let paid = proceeds - fee;
        if paid < min_out {
            return Err(CurveError::BelowMinimum {
                got: paid,
                min: min_out,
            });
        }
        c.retain(fee)?;
        *curve = c;
        Ok((paid, fee))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rr(ppm: u32) -> ReserveRatio {
        ReserveRatio::from_ppm(ppm).unwrap()
    }

    #[test]
    fn the_fee_rounds_up_and_is_exact_for_any_amount() {
        let f = TradeFee::from_ppm(3_000).unwrap();
        assert_eq!(f.of(0), 0);
        assert_eq!(f.of(1), 1);
        assert_eq!(f.of(1_000_000), 3_000);
        assert_eq!(f.of(1_000_001), 3_001);
        assert_eq!(
            f.of(u128::MAX),
            u128::MAX / 1_000_000 * 3_000 + (u128::MAX % 1_000_000 * 3_000).div_ceil(1_000_000)
        );
        assert_eq!(TradeFee::from_ppm(1_000_001), None);
        assert!(TradeFee::from_ppm(1_000_000).is_some());
        assert_eq!(TradeFee::from_ppm(0).unwrap().of(u128::MAX), 0);
    }

    #[test]
    fn a_refused_trade_changes_nothing() {
        let f = TradeFee::from_ppm(3_000).unwrap();
        let mut c = Curve::new(1_000_000, 1_000_000_000, rr(500_000)).unwrap();
        let before = c.clone();
        assert_eq!(f.buy(&mut c, 0, 0), Err(CurveError::Zero));
        assert_eq!(f.buy(&mut c, 1, 0), Err(CurveError::Zero), "all fee");
        let (q, _) = f.quote_buy(&c, 10_000).unwrap();
        assert!(matches!(
            f.buy(&mut c, 10_000, q + 1),
            Err(CurveError::BelowMinimum { .. })
        ));
        assert!(matches!(
            f.sell(&mut c, 1, 0),
            Err(CurveError::ExceedsCirculating { .. })
        ));
        assert_eq!(c, before);
    }

    proptest! {
        /// The fee stays in the reserve: what the trader pays in equals
        /// the reserve's gain, what is paid out its loss plus nothing
        /// more; a buy then a sale never returns more than was spent, by
        /// at least the two fees' worth of rounding in the reserve's favour.
        #[test]
        fn the_fee_stays_in_the_reserve_and_round_trips_lose(
            ppm in 0u32..20_000,
            ratio in 100_000u32..=900_000,
            spend in 1u128..1_000_000_000_000,
        ) {
            let f = TradeFee::from_ppm(ppm).unwrap();
            let mut c = Curve::new(1_000_000_000, 1_000_000_000_000, rr(ratio)).unwrap();
            let r0 = c.reserve();
            let Ok((minted, fee_in)) = f.buy(&mut c, spend, 0) else { return Ok(()) };
            prop_assert_eq!(c.reserve(), r0 + spend);
            prop_assert_eq!(fee_in, f.of(spend));
            if minted == 0 { return Ok(()); }
            let r1 = c.reserve();
            let (paid, _) = f.sell(&mut c, minted, 0).unwrap();
            prop_assert_eq!(c.reserve(), r1 - paid);
            prop_assert!(paid <= spend - fee_in);
        }
    }
}
