//! Fixed-point `ln` and `exp` for the bonding curve
//! ([`docs/market.md` §2.2](../../../docs/market.md)).
//!
//! Every value is an unsigned integer below 2^256 and every product goes
//! through [`mul_div`] (`⌊a·b/d⌋` with a 512-bit intermediate), so the same
//! steps run unchanged on the EVM (`mulDiv` of 256-bit words). Fractions are
//! Q192: `x` stands for `x / 2^192`.
//!
//! Error: each series step truncates by under one unit in the last place
//! (ulp, 2^-192); [`ln_ratio`] is within 2^9 ulp below the true value for
//! arguments below 2^113, and [`exp_pos`]/[`exp_neg`] are within a relative
//! 2^-175 for the exponents the curve produces (`docs/market.md` §2.2 has
//! the count). The curve adds a margin of a relative 2^-160 on top, so its
//! results are directed (rounded in the reserve's favour) without relying on
//! the analysis being tight.

use ruint::aliases::{U256, U512};

/// Fractional bits of a Q192 value.
pub(crate) const FRAC: usize = 192;

/// `⌊ln 2 · 2^192⌋` (from Python's `decimal` at 200 digits; the unit test
/// `ln2_is_the_series_value` checks it against this module's own series).
pub(crate) const LN2: U256 = U256::from_limbs([
    0x40f3_4326_7298_b62d,
    0xc9e3_b398_03f2_f6af,
    0xb172_17f7_d1cf_79ab,
    0,
]);

/// 1.0 in Q192.
pub(crate) const ONE: U256 = U256::from_limbs([0, 0, 0, 1]);

/// `⌊a·b/d⌋`, or `None` when `d = 0` or the quotient needs more than 256 bits.
pub(crate) fn mul_div(a: U256, b: U256, d: U256) -> Option<U256> {
    if d.is_zero() {
        return None;
    }
    let product: U512 = a.widening_mul(b);
    narrow(product / widen(d))
}

fn widen(x: U256) -> U512 {
    let mut limbs = [0u64; 8];
    limbs[..4].copy_from_slice(x.as_limbs());
    U512::from_limbs(limbs)
}

fn narrow(x: U512) -> Option<U256> {
    (x.bit_len() <= 256).then(|| U256::from_limbs_slice(&x.as_limbs()[..4]))
}

/// `2^k` for `k < 256`.
pub(crate) fn pow2(k: usize) -> U256 {
    U256::from(1u8) << k
}

/// `ln(a/b)` in Q192, rounded down, for `a ≥ b ≥ 1` and `a/b < 2^192`.
pub(crate) fn ln_ratio(a: U256, b: U256) -> Option<U256> {
    if b.is_zero() || a < b {
        return None;
    }
    // a/b = 2^n·m with m in [1, 2).
    let mut n = a.bit_len() - b.bit_len();
    let mut m = mantissa(a, b, n)?;
    if m < ONE {
        n -= 1;
        m = mantissa(a, b, n)?;
    }
    let whole = U256::from(n).checked_mul(LN2)?;
    whole.checked_add(ln_mantissa(m)?)
}

/// `a / (b·2^n)` in Q192.
fn mantissa(a: U256, b: U256, n: usize) -> Option<U256> {
    if n > FRAC {
        return None;
    }
    mul_div(a, pow2(FRAC - n), b)
}

/// `ln m` for `m` in `[1, 2)` (Q192): `2·atanh(u)` with `u = (m−1)/(m+1) < 1/3`,
/// summed until the terms vanish (at most 62 terms).
fn ln_mantissa(m: U256) -> Option<U256> {
    let u = mul_div(m - ONE, ONE, m.checked_add(ONE)?)?;
    let u2 = mul_div(u, u, ONE)?;
    let (mut power, mut sum, mut k) = (u, U256::ZERO, 1u64);
    while !power.is_zero() {
        sum += power / U256::from(k);
        power = mul_div(power, u2, ONE)?;
        k += 2;
    }
    Some(sum << 1)
}

/// `e^r` for `r` in `[0, ln 2]` (Q192), a value in `[1, 2]`: the Taylor
/// series summed until the terms vanish (at most 48 terms).
fn exp_reduced(r: U256) -> Option<U256> {
    let (mut term, mut sum, mut k) = (ONE, ONE, 1u64);
    loop {
        term = mul_div(term, r, ONE)? / U256::from(k);
        if term.is_zero() {
            return Some(sum);
        }
        sum += term;
        k += 1;
    }
}

/// `e^y = 2^n · m / 2^192` for `y ≥ 0` (Q192): returns `(n, m)`, `m` in `[1, 2]`.
pub(crate) fn exp_pos(y: U256) -> Option<(usize, U256)> {
    let n = y / LN2;
    let r = y - n * LN2;
    Some((usize::try_from(n).ok()?, exp_reduced(r)?))
}

/// `e^−y = m / 2^(192 + k)` for `y ≥ 0` (Q192): returns `(k, m)`, `m` in `[1, 2]`.
/// Written as `2^−(n+1)·e^(ln 2 − r)` so the series has no negative terms.
pub(crate) fn exp_neg(y: U256) -> Option<(usize, U256)> {
    let n = y / LN2;
    let r = y - n * LN2;
    let k = usize::try_from(n).ok()?.checked_add(1)?;
    Some((k, exp_reduced(LN2 - r)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(x: f64) -> U256 {
        // Exact for the dyadic values used below.
        U256::from((x * 2f64.powi(52)) as u128) << (FRAC - 52)
    }

    fn to_f64(x: U256) -> f64 {
        let top = x >> (FRAC - 52);
        top.to::<u128>() as f64 / 2f64.powi(52)
    }

    #[test]
    fn mul_div_is_the_floor_and_refuses_overflow_and_zero() {
        let max = U256::MAX;
        assert_eq!(mul_div(max, max, max), Some(max));
        assert_eq!(
            mul_div(U256::from(7u8), U256::from(3u8), U256::from(2u8)),
            Some(U256::from(10u8))
        );
        assert_eq!(mul_div(max, U256::from(2u8), U256::from(1u8)), None);
        assert_eq!(mul_div(max, max, U256::ZERO), None);
    }

    #[test]
    fn ln_of_powers_of_two_is_a_multiple_of_ln2() {
        for n in [0usize, 1, 5, 64, 112] {
            let ln = ln_ratio(pow2(n) * U256::from(3u8), U256::from(3u8)).unwrap();
            assert_eq!(ln, U256::from(n) * LN2, "n = {n}");
        }
    }

    #[test]
    fn ln_refuses_ratios_below_one_and_zero_denominators() {
        assert_eq!(ln_ratio(U256::from(2u8), U256::from(3u8)), None);
        assert_eq!(ln_ratio(U256::from(2u8), U256::ZERO), None);
    }

    #[test]
    fn ln2_is_the_series_value() {
        // ln 2 = 2·atanh(1/3), by the same series, to within its error.
        let via_series = ln_mantissa(ONE << 1usize).unwrap();
        assert!(LN2.abs_diff(via_series) < U256::from(512u32));
    }

    #[test]
    fn exp_inverts_ln() {
        for x in [1.0, 1.5, 2.75, 1000.25] {
            let ln = ln_ratio(q(x), ONE).unwrap();
            let (n, m) = exp_pos(ln).unwrap();
            let back = to_f64(m) * 2f64.powi(n as i32);
            assert!((back - x).abs() / x < 1e-14, "{x} → {back}");
            let (k, m) = exp_neg(ln).unwrap();
            let inv = to_f64(m) / 2f64.powi(k as i32);
            assert!((inv * x - 1.0).abs() < 1e-14, "{x} → {inv}");
        }
    }

    #[test]
    fn exp_of_zero_is_one() {
        assert_eq!(exp_pos(U256::ZERO), Some((0, ONE)));
        let (k, m) = exp_neg(U256::ZERO).unwrap();
        assert_eq!(k, 1);
        // e^(ln 2) computed by the series: 2 within its error.
        assert!((ONE << 1usize).abs_diff(m) < U256::from(256u32));
    }
}
