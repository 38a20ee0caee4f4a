//! `value·(num/den)^(p/q)` rounded to a base unit in a stated direction
//! ([`docs/market.md` §2.2](../../../docs/market.md)): the one power every
//! curve formula is made of.
//!
//! The fixed-point series give a bracket `[lower, upper]` around the exact
//! value. When no integer lies inside, rounding the bracket's ends is exact.
//! When one does, the exact value may be that integer (it is, for example,
//! whenever `num/den` is a perfect `q`-th power): [`exact_power`] decides
//! it in integers; otherwise the result takes the reserve's side.

use ruint::aliases::U256;

use crate::fixed::{self, FRAC, mul_div, pow2};
use crate::units::{Amount, CurveError, MAX_AMOUNT};

/// Fractional bits of the Q64 bracket.
const Q: usize = 64;

/// Which way a result is rounded: mints and payouts down, costs and what
/// stays in the reserve up.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Round {
    Down,
    Up,
}

/// The exponent `p/q`, in lowest terms.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Exponent {
    p: u64,
    q: u64,
}

impl Exponent {
    pub(crate) fn new(p: u64, q: u64) -> Self {
        let g = gcd(u128::from(p), u128::from(q)).max(1) as u64;
        Self { p: p / g, q: q / g }
    }
}

/// `value·(num/den)^e`, rounded as asked; `num, den ≥ 1`.
pub(crate) fn scaled_power(
    value: Amount,
    num: Amount,
    den: Amount,
    e: Exponent,
    round: Round,
) -> Result<Amount, CurveError> {
    if e.p == e.q || num == den {
        let n = if e.p == e.q { num } else { den };
        return exact_ratio(value, n, den, round);
    }
    let (lower, upper) = bracket(value, num, den, e)?;
    let candidate = match round {
        Round::Down => upper >> Q,
        Round::Up => ceil(lower),
    };
    let straddles = match round {
        Round::Down => candidate > lower >> Q,
        Round::Up => candidate < ceil(upper),
    };
    let result = if !straddles || exact_power(value, num, den, e) == Some(candidate) {
        candidate
    } else {
        match round {
            Round::Down => lower >> Q,
            Round::Up => ceil(upper),
        }
    };
    to_amount(result)
}

/// Q64 bounds around `value·(num/den)^(p/q)`.
fn bracket(
    value: Amount,
    num: Amount,
    den: Amount,
    e: Exponent,
) -> Result<(U256, U256), CurveError> {
    let too_large = || CurveError::TooLarge;
    let growing = num > den;
    let (big, small) = if growing { (num, den) } else { (den, num) };
    let ln = fixed::ln_ratio(U256::from(big), U256::from(small)).ok_or(CurveError::TooLarge)?;
    let y = mul_div(ln, U256::from(e.p), U256::from(e.q)).ok_or_else(too_large)?;
    let approx = if growing {
        let (n, m) = fixed::exp_pos(y).ok_or_else(too_large)?;
        // value·2^n·m/2^192 in Q64: divide by 2^(192 − 64 − n).
        let shift = (FRAC - Q).checked_sub(n).ok_or_else(too_large)?;
        mul_div(U256::from(value), m, pow2(shift)).ok_or_else(too_large)?
    } else {
        let (k, m) = fixed::exp_neg(y).ok_or_else(too_large)?;
        // value·m/2^(192 + k) in Q64; below 2^-64 once the shift passes 255.
        let shift = FRAC - Q + k;
        if shift < 256 {
            mul_div(U256::from(value), m, pow2(shift)).ok_or_else(too_large)?
        } else {
            U256::ZERO
        }
    };
    let margin = margin(approx.max(U256::from(value) << Q));
    Ok((
        approx.saturating_sub(margin),
        approx.checked_add(margin).ok_or_else(too_large)?,
    ))
}

/// The half-width of the bracket: a relative 2^-160 of the larger of the
/// value and the result (the analysis in [`crate::fixed`] gives 2^-175)
/// plus four units of 2^-64.
fn margin(scale: U256) -> U256 {
    (scale >> 160) + U256::from(4u8)
}

fn ceil(x: U256) -> U256 {
    let whole = x >> Q;
    if whole << Q == x {
        whole
    } else {
        whole + U256::from(1u8)
    }
}

/// `value·num/den`, rounded as asked.
fn exact_ratio(
    value: Amount,
    num: Amount,
    den: Amount,
    round: Round,
) -> Result<Amount, CurveError> {
    let (product, den) = (U256::from(value) * U256::from(num), U256::from(den));
    let floor = product / den;
    let up = matches!(round, Round::Up) && floor * den != product;
    to_amount(if up { floor + U256::from(1u8) } else { floor })
}

/// `value·(num/den)^(p/q)` when it is an integer, in integer arithmetic:
/// with `num/den = u/s` in lowest terms it is one exactly when `u` and `s`
/// are perfect `q`-th powers `U^q`, `S^q` and `S^p` divides `value`.
pub(crate) fn exact_power(value: Amount, num: Amount, den: Amount, e: Exponent) -> Option<U256> {
    let g = gcd(num, den);
    let (u, s) = (num / g, den / g);
    let (root_u, root_s) = (exact_root(u, e.q)?, exact_root(s, e.q)?);
    let divisor = checked_pow(root_s, e.p).filter(|d| *d <= U256::from(value))?;
    let value = U256::from(value);
    if !(value % divisor).is_zero() {
        return None;
    }
    (value / divisor).checked_mul(checked_pow(root_u, e.p)?)
}

/// The integer `r` with `r^q = x`, if there is one: Newton's iteration from
/// above on integers (no floating point, so the EVM port is the same).
fn exact_root(x: Amount, q: u64) -> Option<U256> {
    if x <= 1 || q == 1 {
        return Some(U256::from(x));
    }
    if q >= 128 {
        return None; // 2^q > x
    }
    let x = U256::from(x);
    let one = U256::from(1u8);
    let (q_big, q_less) = (U256::from(q), U256::from(q - 1));
    // 2^⌈bits/q⌉ is at least the root; every step stays at least the root
    // until the floor is reached.
    let mut r = one << (x.bit_len() as u64).div_ceil(q) as usize;
    loop {
        let next = (q_less * r + x / checked_pow(r, q - 1)?) / q_big;
        if next >= r {
            break;
        }
        r = next;
    }
    (checked_pow(r, q) == Some(x)).then_some(r)
}

fn checked_pow(base: U256, exp: u64) -> Option<U256> {
    base.checked_pow(U256::from(exp))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn to_amount(x: U256) -> Result<Amount, CurveError> {
    u128::try_from(x)
        .ok()
        .filter(|v| *v <= MAX_AMOUNT)
        .ok_or(CurveError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_powers_are_found_and_others_are_not() {
        let half = Exponent::new(500_000, 1_000_000);
        // 100·(9/4)^(1/2) = 150.
        assert_eq!(exact_power(100, 9, 4, half), Some(U256::from(150u8)));
        // 100·(2/1)^(1/2) is irrational.
        assert_eq!(exact_power(100, 2, 1, half), None);
        // 3·(9/4)^(1/2) = 4.5 is not an integer.
        assert_eq!(exact_power(3, 9, 4, half), None);
        // 7·(4/1)^2 = 112.
        assert_eq!(
            exact_power(7, 4, 1, Exponent::new(2, 1)),
            Some(U256::from(112u8))
        );
    }

    #[test]
    fn integer_roots_are_exact() {
        for q in [2u64, 3, 7, 55, 112] {
            for root in [2u128, 3, 5, 1 << 20, (1 << 56) + 1] {
                let Some(x) = root.checked_pow(q as u32).filter(|x| *x <= MAX_AMOUNT) else {
                    continue;
                };
                assert_eq!(exact_root(x, q), Some(U256::from(root)), "{root}^{q}");
                assert_eq!(exact_root(x - 1, q), None, "{root}^{q} − 1");
                assert_eq!(exact_root(x + 1, q), None, "{root}^{q} + 1");
            }
        }
        assert_eq!(exact_root(MAX_AMOUNT, 2), None);
        assert_eq!(exact_root(1 << 112, 112), Some(U256::from(2u8)));
        assert_eq!(exact_root(1 << 112, 127), None);
    }

    #[test]
    fn an_exact_integer_result_is_returned_in_both_directions() {
        let two = Exponent::new(1_000_000, 500_000);
        // R·((S+T)/S)^2 with S = 2, T = 2: exactly 4R.
        assert_eq!(
            scaled_power(264_484_839_014, 4, 2, two, Round::Up),
            Ok(4 * 264_484_839_014)
        );
        assert_eq!(
            scaled_power(264_484_839_014, 4, 2, two, Round::Down),
            Ok(4 * 264_484_839_014)
        );
        // And shrinking: 4R·(1/2)^2 = R.
        assert_eq!(
            scaled_power(4 * 1_000_003, 1, 2, two, Round::Up),
            Ok(1_000_003)
        );
    }

    #[test]
    fn an_inexact_result_is_rounded_as_asked() {
        let half = Exponent::new(1, 2);
        // 1000·√2 = 1414.21…
        assert_eq!(scaled_power(1000, 2, 1, half, Round::Down), Ok(1414));
        assert_eq!(scaled_power(1000, 2, 1, half, Round::Up), Ok(1415));
    }
}
