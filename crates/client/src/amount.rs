//! Strict parsing of amounts typed by a person (adversarial F1).
//!
//! An amount is a `u64` count of base units written as plain ASCII decimal
//! digits: no sign, no whitespace, no exponent, no radix prefix, no decimal
//! point, no digit outside `0-9` (full-width digits are rejected), no
//! leading zero (one value, one spelling), and nothing above `u64::MAX`.
//! Spec: `docs/protocol.md` §2.5 (values are `u64` base units).

use thiserror::Error;

/// Why a typed amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    /// The empty string.
    #[error("amount is empty")]
    Empty,
    /// A character other than an ASCII digit (sign, space, `.`, `e`, `x`, full-width digit, ...).
    #[error("amount must be plain decimal digits 0-9 in base units (found {found:?} at byte {at})")]
    NotDigit { found: char, at: usize },
    /// A leading zero (`"007"`): amounts have one spelling.
    #[error("amount has a leading zero")]
    LeadingZero,
    /// Above `u64::MAX`.
    #[error("amount exceeds the maximum {max}", max = u64::MAX)]
    Overflow,
    /// A token amount above the curve's bound.
    #[error("token amount exceeds the maximum 2^112 - 1 = {max}", max = veil_market::curve::MAX_AMOUNT)]
    TokenOverflow,
    /// Zero where a positive amount is required.
    #[error("amount must be positive")]
    Zero,
}

/// Longest accepted input: `u64::MAX` has 20 digits. Longer input is refused
/// before any arithmetic (a 1 MB argument costs nothing, F7).
const MAX_DIGITS: usize = 20;

/// Parses an amount in base units (`0` allowed).
pub fn parse_amount(s: &str) -> Result<u64, AmountError> {
    u64::try_from(digits(s, MAX_DIGITS)?).map_err(|_| AmountError::Overflow)
}

/// Longest accepted token amount: `2^112 − 1` has 34 digits.
const MAX_TOKEN_DIGITS: usize = 34;

/// Parses a token amount in base units (`0` allowed), by the same rules
/// as [`parse_amount`], up to the curve's bound `2^112 − 1`
/// (`veil_market::curve::MAX_AMOUNT`, docs/market.md §1).
pub fn parse_token_amount(s: &str) -> Result<u128, AmountError> {
    match digits(s, MAX_TOKEN_DIGITS)? {
        v if v > veil_market::curve::MAX_AMOUNT => Err(AmountError::TokenOverflow),
        v => Ok(v),
    }
}

/// Plain ASCII digits, no leading zero, at most `max` of them (`max` ≤ 38,
/// so the value fits a `u128`).
fn digits(s: &str, max: usize) -> Result<u128, AmountError> {
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if let Some((at, found)) = s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(AmountError::NotDigit { found, at });
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(AmountError::LeadingZero);
    }
    if s.len() > max {
        return Err(match max {
            MAX_DIGITS => AmountError::Overflow,
            _ => AmountError::TokenOverflow,
        });
    }
    Ok(s.bytes()
        .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0')))
}

/// Parses a strictly positive amount in base units.
pub fn parse_positive_amount(s: &str) -> Result<u64, AmountError> {
    match parse_amount(s)? {
        0 => Err(AmountError::Zero),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn f1_rejects_every_listed_input() {
        let cases: &[(&str, AmountError)] = &[
            ("-1", AmountError::NotDigit { found: '-', at: 0 }),
            ("18446744073709551616", AmountError::Overflow),
            ("99999999999999999999999", AmountError::Overflow),
            ("1e3", AmountError::NotDigit { found: 'e', at: 1 }),
            ("0x10", AmountError::NotDigit { found: 'x', at: 1 }),
            (
                "１２３",
                AmountError::NotDigit {
                    found: '１', at: 0
                },
            ),
            ("1.0000000001", AmountError::NotDigit { found: '.', at: 1 }),
            ("", AmountError::Empty),
            (" 5 ", AmountError::NotDigit { found: ' ', at: 0 }),
            ("5 ", AmountError::NotDigit { found: ' ', at: 1 }),
            ("+5", AmountError::NotDigit { found: '+', at: 0 }),
            ("007", AmountError::LeadingZero),
            ("٣", AmountError::NotDigit { found: '٣', at: 0 }),
        ];
        for (input, want) in cases {
            assert_eq!(parse_amount(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn token_amounts_follow_the_same_rules_up_to_the_curves_bound() {
        let max = veil_market::curve::MAX_AMOUNT;
        assert_eq!(parse_token_amount(&max.to_string()), Ok(max));
        assert_eq!(parse_token_amount("18446744073709551616"), Ok(1 << 64));
        assert_eq!(parse_token_amount("0"), Ok(0));
        assert_eq!(
            parse_token_amount(&(max + 1).to_string()),
            Err(AmountError::TokenOverflow)
        );
        assert_eq!(
            parse_token_amount(&"9".repeat(35)),
            Err(AmountError::TokenOverflow)
        );
        assert_eq!(
            parse_token_amount(&"9".repeat(10_000)),
            Err(AmountError::TokenOverflow)
        );
        assert_eq!(parse_token_amount("007"), Err(AmountError::LeadingZero));
        assert_eq!(
            parse_token_amount("1e3"),
            Err(AmountError::NotDigit { found: 'e', at: 1 })
        );
        assert_eq!(parse_token_amount(""), Err(AmountError::Empty));
    }

    #[test]
    fn boundaries() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_positive_amount("0"), Err(AmountError::Zero));
        assert_eq!(parse_positive_amount("1"), Ok(1));
    }

    proptest! {
        #[test]
        fn roundtrip(v in any::<u64>()) {
            prop_assert_eq!(parse_amount(&v.to_string()), Ok(v));
        }

        #[test]
        fn never_panics_and_only_accepts_canonical(s in ".{0,40}") {
            if let Ok(v) = parse_amount(&s) {
                prop_assert_eq!(v.to_string(), s);
            }
        }
    }
}
