//! The market's tables and records (docs/protocol.md §8.3.11): the curve
//! singleton (in `meta`), token balances and applied trades.

use redb::TableDefinition;
use veil_market::curve::{Curve, ReserveRatio};

use super::{RECORD_V1, Reader, corrupted};
use crate::error::LedgerError;
use crate::trade::{Order, Tokens, TradeReceipt};
use crate::types::Value;

/// Account → token balance in base units; absent = 0.
pub const TOKENS: TableDefinition<[u8; 32], u128> = TableDefinition::new("tokens");
/// (account, nonce) → the trade applied with that nonce: answers a retry.
pub const TRADES: TableDefinition<([u8; 32], u64), &[u8]> = TableDefinition::new("trades");

/// `v1 ‖ reserve ‖ supply ‖ float` (u128 each) `‖ ratio_ppm` (u32), big-endian.
pub fn encode_curve(c: &Curve) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    for v in [c.reserve(), c.supply(), c.float()] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&c.ratio().ppm().to_be_bytes());
    out
}

/// A stored curve, checked like any input ([`Curve::from_state`]).
pub fn decode_curve(buf: &[u8]) -> Result<Curve, LedgerError> {
    let mut r = Reader::new(buf, "curve")?;
    let (reserve, supply, float) = (r.u128()?, r.u128()?, r.u128()?);
    let ratio = ReserveRatio::from_ppm(r.u32()?).map_err(|_| corrupted("curve"))?;
    r.finish()?;
    Curve::from_state(reserve, supply, float, ratio).map_err(|_| corrupted("curve"))
}

/// `v1 ‖ side (1 buy, 2 sell) ‖ amount ‖ limit` (u128 each) `‖ tokens`
/// (u128) `‖ value ‖ nonce` (u64 each).
pub fn encode_trade(t: &TradeReceipt) -> Vec<u8> {
    let (side, amount, limit) = match t.order {
        Order::Buy { spend, min_tokens } => (1u8, u128::from(spend.get()), min_tokens.0),
        Order::Sell { tokens, min_value } => (2, tokens.0, u128::from(min_value.get())),
    };
    let mut out = vec![RECORD_V1, side];
    for v in [amount, limit, t.tokens.0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&t.value.get().to_be_bytes());
    out.extend_from_slice(&t.nonce.to_be_bytes());
    out
}

pub fn decode_trade(buf: &[u8]) -> Result<TradeReceipt, LedgerError> {
    let mut r = Reader::new(buf, "trade")?;
    let side = r.u8()?;
    let (amount, limit) = (r.u128()?, r.u128()?);
    let value64 = |v: u128| u64::try_from(v).map(Value).map_err(|_| corrupted("trade"));
    let order = match side {
        1 => Order::Buy {
            spend: value64(amount)?,
            min_tokens: Tokens(limit),
        },
        2 => Order::Sell {
            tokens: Tokens(amount),
            min_value: value64(limit)?,
        },
        _ => return Err(corrupted("trade")),
    };
    let tokens = Tokens(r.u128()?);
    let (value, nonce) = (Value(r.u64()?), r.u64()?);
    r.finish()?;
    Ok(TradeReceipt {
        order,
        tokens,
        value,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_and_trade_records_round_trip_and_reject_garbage() {
        let c = crate::trade::genesis_curve().unwrap();
        let b = encode_curve(&c);
        assert_eq!(decode_curve(&b).unwrap(), c);
        for bad in [
            &b[..b.len() - 1],
            &[b.as_slice(), &[0]].concat()[..],
            &b[1..],
        ] {
            assert!(matches!(decode_curve(bad), Err(LedgerError::Corrupted(_))));
        }
        // A float above the supply is refused, not trusted.
        let mut f = b.clone();
        f[33..49].copy_from_slice(&u128::MAX.to_be_bytes());
        assert!(decode_curve(&f).is_err());
        for order in [
            Order::Buy {
                spend: Value(7),
                min_tokens: Tokens(3),
            },
            Order::Sell {
                tokens: Tokens(u128::from(u64::MAX) + 5),
                min_value: Value(9),
            },
        ] {
            let t = TradeReceipt {
                order,
                tokens: Tokens(11),
                value: Value(12),
                nonce: 4,
            };
            let b = encode_trade(&t);
            assert_eq!(decode_trade(&b).unwrap(), t);
            assert!(decode_trade(&b[..b.len() - 1]).is_err());
            let mut s = b.clone();
            s[1] = 3;
            assert!(decode_trade(&s).is_err());
        }
    }
}
