//! Signed-window recoding: a magnitude `m` as `Σ d_w·2^(w·c)` with digits
//! `d_w ∈ (−2^(c−1), 2^(c−1)]`, so a window needs `2^(c−1)` buckets
//! (digit `±d` lands in bucket `d − 1` with the base negated for `−d`).

use ark_ff::BigInteger;

/// The largest window width: digits must fit an `i16`.
pub(crate) const MAX_WINDOW: usize = 15;

/// How many `c`-bit windows a magnitude of `bits` bits needs: one spare bit
/// absorbs the last carry.
pub(crate) fn window_count(bits: usize, c: usize) -> usize {
    (bits + 1).div_ceil(c)
}

/// Bits `[start, start + c)` of `limbs` (zero past the end), `c ≤ 64`.
fn window_bits(limbs: &[u64], start: usize, c: usize) -> u64 {
    let (i, s) = (start / 64, start % 64);
    let mut v = limbs.get(i).map_or(0, |l| l >> s);
    if s + c > 64 {
        v |= limbs.get(i + 1).map_or(0, |l| l << (64 - s));
    }
    v & ((1u64 << c) - 1)
}

/// Writes the signed digits of `mag` (negated if `neg`) into `out`, one per
/// window, lowest first. `out.len()` must be
/// `window_count(mag.num_bits(), c)` or more.
pub(crate) fn recode<B: BigInteger>(mag: &B, neg: bool, c: usize, out: &mut [i16]) {
    let half = 1u64 << (c - 1);
    let mut carry = 0;
    for (w, d) in out.iter_mut().enumerate() {
        let v = window_bits(mag.as_ref(), w * c, c) + carry;
        let digit = if v > half {
            carry = 1;
            v as i32 - (1i32 << c)
        } else {
            carry = 0;
            v as i32
        };
        // |digit| ≤ 2^(c−1) ≤ 2^14: fits.
        *d = (if neg { -digit } else { digit }) as i16;
    }
    debug_assert_eq!(carry, 0, "window count too small for the magnitude");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::BigInteger256;

    /// Σ d_w·2^(w·c) as an i128 (for magnitudes below 2^100).
    fn value(digits: &[i16], c: usize) -> i128 {
        digits
            .iter()
            .rev()
            .fold(0i128, |acc, &d| (acc << c) + i128::from(d))
    }

    #[test]
    fn digits_sum_back_to_the_magnitude() {
        for c in 2..=MAX_WINDOW {
            for m in [
                1u64,
                2,
                3,
                255,
                256,
                1 << 20,
                u64::MAX,
                0x8000_0000_0000_0001,
            ] {
                let mag = BigInteger256::from(m);
                let mut out = vec![0i16; window_count(64, c)];
                recode(&mag, false, c, &mut out);
                assert_eq!(value(&out, c), i128::from(m), "c = {c}, m = {m}");
                recode(&mag, true, c, &mut out);
                assert_eq!(value(&out, c), -i128::from(m), "c = {c}, m = {m}");
                let bound = 1i16 << (c - 1).min(14);
                assert!(out.iter().all(|d| d.unsigned_abs() <= bound.unsigned_abs()));
            }
        }
    }
}
