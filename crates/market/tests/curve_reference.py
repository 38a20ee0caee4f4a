"""The bonding curve computed with Python's decimal at 160 digits: the
reference `tests/reference.rs` compares veil-market with, to the base unit.

Reads one JSON case per line ({"op", "reserve", "supply", "float", "ppm",
"amount"}, integers as strings), writes one line per case: the result, or
"err" where the curve must refuse. Rounding is the curve's: mints and
payouts down, costs up (docs/market.md §2)."""
import json
import sys
from fractions import Fraction
from math import gcd
from decimal import Decimal, getcontext, ROUND_CEILING, ROUND_FLOOR

getcontext().prec = 160
MAX = 2**112 - 1
PPM = 10**6


def floor(x):
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def ceil(x):
    return int(x.to_integral_value(rounding=ROUND_CEILING))


def iroot(x, q):
    """The integer r with r**q == x, or None."""
    if x <= 1:
        return x
    if q >= x.bit_length():
        return None  # 2**q > x
    lo, hi = 0, 1 << (x.bit_length() // q + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**q <= x:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo**q == x else None


def scaled_power(value, num, den, p, q, rounding):
    """value*(num/den)^(p/q), rounded: exact (fractions) where the power is
    rational, decimal at 160 digits where it is irrational."""
    g = gcd(p, q)
    p, q = p // g, q // g
    g = gcd(num, den)
    u, s = num // g, den // g
    ru, rs = iroot(u, q), iroot(s, q)
    if ru is not None and rs is not None:
        exact = Fraction(value) * Fraction(ru, rs) ** p
        fl = exact.numerator // exact.denominator
        return fl if rounding == "down" or fl == exact else fl + 1
    x = Decimal(value) * ((Decimal(u) / Decimal(s)).ln() * Decimal(p) / Decimal(q)).exp()
    return floor(x) if rounding == "down" else ceil(x)


def buy(r, s, ppm, deposit):
    if deposit > MAX or r + deposit > MAX:
        return None
    after = scaled_power(s, r + deposit, r, ppm, PPM, "down")
    return None if after > MAX else after - s


def buy_exact(r, s, ppm, tokens):
    if tokens > MAX or s + tokens > MAX:
        return None
    after = scaled_power(r, s + tokens, s, PPM, ppm, "up")
    return None if after > MAX else after - r


def sell(r, s, f, ppm, amount):
    if amount > s - f:
        return None
    stays = scaled_power(r, s - amount, s, PPM, ppm, "up")
    return r - min(stays, r)


def main():
    for line in sys.stdin:
        c = json.loads(line)
        op = c["op"]
        r, s, f, ppm, a = (int(c[k]) for k in ("reserve", "supply", "float", "ppm", "amount"))
        if op == "buy":
            out = buy(r, s, ppm, a)
        elif op == "buy_exact":
            out = buy_exact(r, s, ppm, a)
        else:
            out = sell(r, s, f, ppm, a)
        print("err" if out is None else out)


main()
