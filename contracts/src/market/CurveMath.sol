// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// @title CurveMath: the bonding curve of docs/market.md §2 on the EVM.
/// @notice Step for step the Rust of crates/market (fixed.rs, power.rs,
/// curve.rs): every value below 2^256, every product through `mulDiv`, the
/// same series, bracket and exact-power check, so results agree to the base
/// unit (crates/evm/tests/curve_differential.rs). Rounding is in the
/// reserve's favour: mints and payouts down, costs up.
library CurveMath {
    /// Fractional bits of Q192 values, and of the Q64 bracket.
    uint256 internal constant FRAC = 192;
    uint256 internal constant Q = 64;
    uint256 internal constant ONE = 1 << 192;
    /// floor(ln 2 · 2^192) (crates/market/src/fixed.rs).
    uint256 internal constant LN2 = 0xb17217f7d1cf79abc9e3b39803f2f6af40f343267298b62d;
    uint256 internal constant PPM = 1_000_000;
    uint256 internal constant MIN_PPM = 10_000;
    /// The largest reserve, supply or trade: 2^112 − 1 base units.
    uint256 internal constant MAX_AMOUNT = (1 << 112) - 1;

    /// An amount or result past MAX_AMOUNT, or an intermediate past 2^256.
    error TooLarge();
    /// A sale of more than the circulating supply.
    error ExceedsCirculating(uint256 amount, uint256 circulating);

    // ---- the curve (curve.rs) -------------------------------------------

    /// Tokens minted for `deposit`: S·((R + ΔR)/R)^RR − S, rounded down.
    function quoteBuy(uint256 r, uint256 s, uint256 ppm, uint256 deposit) internal pure returns (uint256) {
        uint256 reserveAfter = checkedSum(r, deposit);
        uint256 supplyAfter = scaledPower(s, reserveAfter, r, ppm, PPM, false);
        return supplyAfter > s ? supplyAfter - s : 0;
    }

    /// Reserve that minting exactly `tokens` costs: R·((S + T)/S)^(1/RR) − R, rounded up.
    function quoteBuyExact(uint256 r, uint256 s, uint256 ppm, uint256 tokens) internal pure returns (uint256) {
        uint256 supplyAfter = checkedSum(s, tokens);
        return scaledPower(r, supplyAfter, s, PPM, ppm, true) - r;
    }

    /// Reserve paid for selling `amount`: R − R·((S − ΔS)/S)^(1/RR), what stays rounded up.
    function quoteSell(uint256 r, uint256 s, uint256 f, uint256 ppm, uint256 amount) internal pure returns (uint256) {
        uint256 circulating = s - f;
        if (amount > circulating) revert ExceedsCirculating(amount, circulating);
        uint256 stays = scaledPower(r, s - amount, s, PPM, ppm, true);
        return r - (stays < r ? stays : r);
    }

    function checkedSum(uint256 a, uint256 b) private pure returns (uint256) {
        if (b > MAX_AMOUNT || a + b > MAX_AMOUNT) revert TooLarge();
        return a + b;
    }

    // ---- value·(num/den)^(p/q) (power.rs) --------------------------------

    function scaledPower(uint256 value, uint256 num, uint256 den, uint256 p, uint256 q, bool up)
        internal
        pure
        returns (uint256)
    {
        uint256 g = gcd(p, q);
        if (g == 0) g = 1;
        (p, q) = (p / g, q / g);
        if (p == q || num == den) return exactRatio(value, p == q ? num : den, den, up);
        (uint256 lower, uint256 upper) = bracket(value, num, den, p, q);
        uint256 candidate = up ? ceilQ(lower) : upper >> Q;
        bool straddles = up ? candidate < ceilQ(upper) : candidate > lower >> Q;
        if (straddles) {
            (bool exact, uint256 v) = exactPower(value, num, den, p, q);
            if (!exact || v != candidate) candidate = up ? ceilQ(upper) : lower >> Q;
        }
        return toAmount(candidate);
    }

    function bracket(uint256 value, uint256 num, uint256 den, uint256 p, uint256 q)
        private
        pure
        returns (uint256 lower, uint256 upper)
    {
        bool growing = num > den;
        uint256 y = mulDiv(growing ? lnRatio(num, den) : lnRatio(den, num), p, q);
        uint256 approx;
        if (growing) {
            (uint256 n, uint256 m) = expPos(y);
            if (n > FRAC - Q) revert TooLarge();
            approx = mulShr(value, m, FRAC - Q - n);
        } else {
            (uint256 k, uint256 m) = expNeg(y);
            uint256 shift = FRAC - Q + k;
            approx = shift < 256 ? mulShr(value, m, shift) : 0;
        }
        uint256 scale = value << Q;
        uint256 margin = ((approx > scale ? approx : scale) >> 160) + 4;
        lower = approx > margin ? approx - margin : 0;
        if (approx > type(uint256).max - margin) revert TooLarge();
        upper = approx + margin;
    }

    function ceilQ(uint256 x) private pure returns (uint256) {
        uint256 whole = x >> Q;
        return whole << Q == x ? whole : whole + 1;
    }

    function exactRatio(uint256 value, uint256 num, uint256 den, bool up) private pure returns (uint256) {
        uint256 product = value * num;
        uint256 floor = product / den;
        return toAmount(up && floor * den != product ? floor + 1 : floor);
    }

    /// value·(num/den)^(p/q) when it is an integer: u/s in lowest terms are
    /// perfect q-th powers U^q, S^q and S^p divides value.
    function exactPower(uint256 value, uint256 num, uint256 den, uint256 p, uint256 q)
        private
        pure
        returns (bool, uint256)
    {
        uint256 g = gcd(num, den);
        (bool okU, uint256 rootU) = exactRoot(num / g, q);
        (bool okS, uint256 rootS) = exactRoot(den / g, q);
        if (!okU || !okS) return (false, 0);
        return scaleByRoots(value, rootU, rootS, p);
    }

    /// value·(rootU/rootS)^p when rootS^p divides value.
    function scaleByRoots(uint256 value, uint256 rootU, uint256 rootS, uint256 p) private pure returns (bool, uint256) {
        (bool okD, uint256 divisor) = checkedPow(rootS, p);
        if (!okD || divisor > value || value % divisor != 0) return (false, 0);
        (bool okP, uint256 power) = checkedPow(rootU, p);
        if (!okP) return (false, 0);
        uint256 quotient = value / divisor;
        if (power != 0 && quotient > type(uint256).max / power) return (false, 0);
        return (true, quotient * power);
    }

    /// The integer r with r^q = x, by Newton's iteration from above.
    function exactRoot(uint256 x, uint256 q) private pure returns (bool, uint256) {
        if (x <= 1 || q == 1) return (true, x);
        if (q >= 128) return (false, 0);
        uint256 r = 1 << ((bitLen(x) + q - 1) / q);
        while (true) {
            (bool ok, uint256 power) = checkedPow(r, q - 1);
            if (!ok) return (false, 0);
            uint256 next = ((q - 1) * r + x / power) / q;
            if (next >= r) break;
            r = next;
        }
        (bool fits, uint256 back) = checkedPow(r, q);
        return (fits && back == x, r);
    }

    function checkedPow(uint256 base, uint256 e) private pure returns (bool, uint256) {
        if (e == 0) return (true, 1);
        if (base <= 1) return (true, base);
        if (e >= 256) return (false, 0);
        uint256 result = 1;
        for (uint256 i = 0; i < e; ++i) {
            if (result > type(uint256).max / base) return (false, 0);
            result *= base;
        }
        return (true, result);
    }

    function gcd(uint256 a, uint256 b) private pure returns (uint256) {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    function toAmount(uint256 x) private pure returns (uint256) {
        if (x > MAX_AMOUNT) revert TooLarge();
        return x;
    }

    // ---- Q192 ln and exp (fixed.rs) --------------------------------------

    /// ln(a/b) in Q192, rounded down, for a ≥ b ≥ 1.
    function lnRatio(uint256 a, uint256 b) internal pure returns (uint256) {
        if (b == 0 || a < b) revert TooLarge();
        uint256 n = bitLen(a) - bitLen(b);
        uint256 m = mantissa(a, b, n);
        if (m < ONE) {
            n -= 1;
            m = mantissa(a, b, n);
        }
        return n * LN2 + lnMantissa(m);
    }

    function mantissa(uint256 a, uint256 b, uint256 n) private pure returns (uint256) {
        if (n > FRAC) revert TooLarge();
        return mulDiv(a, 1 << (FRAC - n), b);
    }

    /// ln m for m in [1, 2): 2·atanh((m − 1)/(m + 1)).
    function lnMantissa(uint256 m) private pure returns (uint256) {
        uint256 u = mulDiv(m - ONE, ONE, m + ONE);
        uint256 u2 = mulShr(u, u, FRAC);
        uint256 power = u;
        uint256 sum = 0;
        for (uint256 k = 1; power != 0; k += 2) {
            sum += power / k;
            power = mulShr(power, u2, FRAC);
        }
        return sum << 1;
    }

    /// e^r for r in [0, ln 2] (Q192), by Taylor's series.
    function expReduced(uint256 r) private pure returns (uint256 sum) {
        uint256 term = ONE;
        sum = ONE;
        for (uint256 k = 1; ; ++k) {
            term = mulShr(term, r, FRAC) / k;
            if (term == 0) return sum;
            sum += term;
        }
    }

    /// e^y = 2^n · m / 2^192.
    function expPos(uint256 y) internal pure returns (uint256 n, uint256 m) {
        n = y / LN2;
        m = expReduced(y - n * LN2);
    }

    /// e^−y = m / 2^(192 + k), as 2^−(n+1)·e^(ln 2 − r).
    function expNeg(uint256 y) internal pure returns (uint256 k, uint256 m) {
        uint256 n = y / LN2;
        k = n + 1;
        m = expReduced(LN2 - (y - n * LN2));
    }

    /// Number of significant bits (0 for 0).
    function bitLen(uint256 x) private pure returns (uint256 n) {
        for (uint256 step = 128; step > 0; step >>= 1) {
            if (x >> step != 0) {
                x >>= step;
                n += step;
            }
        }
        if (x != 0) n += 1;
    }

    /// floor(a·b/2^s) for s < 256: mulDiv by a power of two, without the
    /// division (Rust computes the same value with `mul_div`). The 512-bit
    /// product is written out here and in mulDiv: a shared function cost
    /// about 3,000 gas more per trade (measured, docs/market.md §5).
    function mulShr(uint256 a, uint256 b, uint256 s) internal pure returns (uint256 result) {
        uint256 lo;
        uint256 hi;
        assembly ("memory-safe") {
            let mm := mulmod(a, b, not(0))
            lo := mul(a, b)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
        if (s == 0) {
            if (hi != 0) revert TooLarge();
            return lo;
        }
        if (hi >> s != 0) revert TooLarge();
        result = (lo >> s) | (hi << (256 - s));
    }

    /// floor(a·b/d) with a 512-bit product; reverts TooLarge when d = 0 or
    /// the quotient needs more than 256 bits (Rust: `mul_div` → None).
    function mulDiv(uint256 a, uint256 b, uint256 d) internal pure returns (uint256) {
        if (d == 0) revert TooLarge();
        uint256 lo;
        uint256 hi;
        assembly ("memory-safe") {
            let mm := mulmod(a, b, not(0))
            lo := mul(a, b)
            hi := sub(sub(mm, lo), lt(mm, lo))
        }
        if (hi == 0) return lo / d;
        if (d <= hi) revert TooLarge();
        return divide512(lo, hi, mulmod(a, b, d), d);
    }

    /// (hi·2^256 + lo) / d for d > hi, given the remainder `rem` = product mod d.
    function divide512(uint256 lo, uint256 hi, uint256 rem, uint256 d) private pure returns (uint256 q) {
        unchecked {
            // Subtract the remainder: the quotient is then exact.
            hi -= rem > lo ? 1 : 0;
            lo -= rem;
            // Divide out d's factor of two from d and the 512-bit numerator.
            uint256 twos = d & (~d + 1);
            d /= twos;
            lo /= twos;
            uint256 flip = (0 - twos) / twos + 1; // 2^256 / twos
            lo |= hi * flip;
            // d is odd: its inverse mod 2^256 by Newton, 4 → 256 bits.
            uint256 inv = (3 * d) ^ 2;
            for (uint256 i = 0; i < 6; ++i) {
                inv *= 2 - d * inv;
            }
            q = lo * inv;
        }
    }
}
