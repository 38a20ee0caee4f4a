//! The invisible hand: the reserve ratio follows demand, one bounded step
//! per epoch ([`docs/market.md` §3](../../../docs/market.md)).
//!
//! High demand raises the ratio: more of the token's value is kept in
//! reserve, the curve flattens (a purchase moves the price less) and the
//! spot price `R / (S·RR)` falls by `old / new`, against the demand's push.
//! Low demand lowers it again. The rule is integer arithmetic on ledger
//! state, so every backend computes the same ratio.

use serde::{Deserialize, Serialize};

use crate::units::{Amount, ReserveRatio};

/// Demand in an epoch: the value escrowed for sessions over the value of the
/// staked capacity, in parts per million (1,000,000 = every staked Mbit/s
/// was paid for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Demand(u64);

impl Demand {
    pub fn from_ppm(ppm: u64) -> Self {
        Self(ppm)
    }

    pub fn ppm(self) -> u64 {
        self.0
    }

    /// `escrowed / capacity_value`; no staked capacity reads as saturated.
    pub fn from_values(escrowed: Amount, capacity_value: Amount) -> Self {
        if capacity_value == 0 {
            return Self(u64::MAX);
        }
        let ppm = escrowed.saturating_mul(u128::from(ReserveRatio::PPM)) / capacity_value;
        Self(u64::try_from(ppm).unwrap_or(u64::MAX))
    }
}

/// The rule's parameters (`docs/market.md` §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandRule {
    /// The ratio at zero demand.
    pub min: ReserveRatio,
    /// The ratio at and above `saturation`.
    pub max: ReserveRatio,
    /// The largest change in one epoch, in ppm of ratio.
    pub max_step_ppm: u32,
    /// The demand at which the target reaches `max`.
    pub saturation: Demand,
}

impl Default for HandRule {
    fn default() -> Self {
        Self {
            min: ReserveRatio::at(300_000),
            max: ReserveRatio::at(800_000),
            max_step_ppm: 25_000,
            saturation: Demand(1_000_000),
        }
    }
}

impl HandRule {
    /// The ratio demand points to: linear from `min` at zero demand to `max`
    /// at `saturation`.
    pub fn target(&self, demand: Demand) -> ReserveRatio {
        let (lo, hi) = (u64::from(self.min.ppm()), u64::from(self.max.ppm()));
        let saturation = self.saturation.ppm().max(1);
        let d = demand.ppm().min(saturation);
        let ppm = lo + (hi.saturating_sub(lo) * d) / saturation;
        ReserveRatio::from_ppm(ppm as u32).unwrap_or(self.max)
    }

    /// The next epoch's ratio: toward the target by at most `max_step_ppm`,
    /// and always within `[min, max]`.
    pub fn next(&self, current: ReserveRatio, demand: Demand) -> ReserveRatio {
        let target = i64::from(self.target(demand).ppm());
        let now = i64::from(current.ppm());
        let step = i64::from(self.max_step_ppm);
        let moved = now + (target - now).clamp(-step, step);
        // max/min rather than clamp: a rule with min > max must not panic.
        let clamped = moved
            .max(i64::from(self.min.ppm()))
            .min(i64::from(self.max.ppm()));
        ReserveRatio::from_ppm(clamped as u32).unwrap_or(current)
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
    fn the_default_rule_is_in_range() {
        let rule = HandRule::default();
        assert_eq!((rule.min.ppm(), rule.max.ppm()), (300_000, 800_000));
    }

    #[test]
    fn the_target_runs_from_min_to_max_with_demand() {
        let rule = HandRule::default();
        assert_eq!(rule.target(Demand(0)), rule.min);
        assert_eq!(rule.target(Demand(500_000)).ppm(), 550_000);
        assert_eq!(rule.target(Demand(1_000_000)), rule.max);
        assert_eq!(rule.target(Demand(u64::MAX)), rule.max);
    }

    #[test]
    fn an_inverted_rule_stays_in_range_without_panicking() {
        let rule = HandRule {
            min: rr(800_000),
            max: rr(300_000),
            ..HandRule::default()
        };
        for d in [0, 500_000, u64::MAX] {
            let next = rule.next(rr(500_000), Demand(d));
            assert!((300_000..=800_000).contains(&next.ppm()), "{next:?}");
        }
    }

    #[test]
    fn demand_is_escrowed_over_capacity() {
        assert_eq!(Demand::from_values(1, 4).ppm(), 250_000);
        assert_eq!(Demand::from_values(5, 0).ppm(), u64::MAX);
        assert_eq!(Demand::from_values(u128::MAX, 1).ppm(), u64::MAX);
    }

    proptest! {
        #[test]
        fn a_step_is_bounded_and_stays_in_range(now in 10_000u32..=1_000_000, d in any::<u64>()) {
            let rule = HandRule::default();
            let next = rule.next(rr(now), Demand(d));
            prop_assert!(next >= rule.min && next <= rule.max);
            let inside = now.clamp(rule.min.ppm(), rule.max.ppm());
            prop_assert!(next.ppm().abs_diff(inside) <= rule.max_step_ppm);
            // It moves toward the target, never past it.
            let target = rule.target(Demand(d)).ppm();
            prop_assert!(next.ppm().abs_diff(target) <= inside.abs_diff(target));
        }

        #[test]
        fn higher_demand_never_lowers_the_next_ratio(now in 300_000u32..=800_000, a in any::<u64>(), b in any::<u64>()) {
            let rule = HandRule::default();
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(rule.next(rr(now), Demand(lo)) <= rule.next(rr(now), Demand(hi)));
        }
    }
}
