//! Trading on the ledger's bonding curve (docs/protocol.md §8.3.11,
//! docs/market.md §7): quote against the curve's public state (the
//! ledger's fee included, `veil_ledger::trade::trade_fee`), set the
//! slippage limit, sign with the account key at its next nonce, submit.
//!
//! The limit is the caller's when given; otherwise the quote less a
//! tolerance in basis points, so a trade that lands after others moved
//! the price more than that is refused by the ledger and changes nothing.

use veil_ledger::LedgerApi;
use veil_ledger::trade::{MarketState, Order, Tokens, TradeReceipt, TradeRequest, trade_fee};
use veil_ledger::types::Value;
use veil_primitives::eddsa::SigningKey;

use crate::error::ClientError;

/// The default tolerance: 1%.
pub const DEFAULT_SLIPPAGE_BPS: u32 = 100;

/// What to trade and how far the price may move against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Spend this much value; at least `min_tokens` if given.
    Buy {
        spend: Value,
        min_tokens: Option<Tokens>,
    },
    /// Sell this many tokens; at least `min_value` if given.
    Sell {
        tokens: Tokens,
        min_value: Option<Value>,
    },
}

/// `quote` less `bps` basis points, rounded down (at most 10,000 bps).
pub fn with_tolerance(quote: u128, bps: u32) -> Result<u128, ClientError> {
    if bps > 10_000 {
        return Err(ClientError::Input(format!(
            "slippage tolerance {bps} bps is above 10000 (100%)"
        )));
    }
    // quote < 2^112 and bps ≤ 2^14: no overflow.
    Ok(quote * u128::from(10_000 - bps) / 10_000)
}

/// The order `intent` becomes against `market`: the caller's limit, or the
/// quote less `bps`. A trade the curve refuses is refused here first.
pub fn order(market: &MarketState, intent: Intent, bps: u32) -> Result<Order, ClientError> {
    let curve = market.curve().map_err(market_err)?;
    Ok(match intent {
        Intent::Buy { spend, min_tokens } => {
            let (quote, _fee) = trade_fee()
                .quote_buy(&curve, u128::from(spend.get()))
                .map_err(market_err)?;
            let min_tokens = match min_tokens {
                Some(t) => t,
                None => Tokens(with_tolerance(quote, bps)?),
            };
            Order::Buy { spend, min_tokens }
        }
        Intent::Sell { tokens, min_value } => {
            let (quote, _fee) = trade_fee()
                .quote_sell(&curve, tokens.get())
                .map_err(market_err)?;
            let min_value = match min_value {
                Some(v) => v,
                None => Value(u64::try_from(with_tolerance(quote, bps)?).unwrap_or(u64::MAX)),
            };
            Order::Sell { tokens, min_value }
        }
    })
}

fn market_err(e: veil_market::curve::CurveError) -> ClientError {
    ClientError::Ledger(veil_ledger::LedgerError::Market(e))
}

/// Quotes, limits, signs with `key` at its account's next nonce, and
/// submits; on a ledger that authenticates its sender (an EVM chain) the
/// sender trades and `key` signs nothing.
pub async fn trade<L: LedgerApi>(
    ledger: &L,
    key: &SigningKey,
    intent: Intent,
    bps: u32,
) -> Result<TradeReceipt, ClientError> {
    let market = ledger.market().await?;
    let order = order(&market, intent, bps)?;
    let request = match ledger.acting_account() {
        // A chain: the transaction's sender trades (docs/market.md §7.2).
        Some(me) => TradeRequest::from_sender(me, order),
        None => {
            let account = key.verifying_key().account_id();
            let nonce = ledger.account(account).await?.next_nonce;
            TradeRequest::signed(key, nonce, order)
        }
    };
    Ok(ledger.trade(request).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tolerance_rounds_down_and_is_bounded() {
        assert_eq!(with_tolerance(10_000, 100).unwrap(), 9_900);
        assert_eq!(with_tolerance(999, 100).unwrap(), 989);
        assert_eq!(with_tolerance(7, 0).unwrap(), 7);
        assert_eq!(with_tolerance(7, 10_000).unwrap(), 0);
        assert!(with_tolerance(7, 10_001).is_err());
    }

    #[test]
    fn orders_take_the_callers_limit_or_the_quote_less_the_tolerance() {
        let zero = veil_ledger::types::Value(0);
        let hand =
            veil_ledger::trade::HandState::at(veil_ledger::types::BlockHeight(0), zero, zero);
        let m = MarketState::of(&veil_ledger::trade::genesis_curve().unwrap(), hand).unwrap();
        let (q, fee) = trade_fee().quote_buy(&m.curve().unwrap(), 1_000).unwrap();
        assert_eq!(fee, 5, "0.5% of 1,000");
        assert!(
            q < m.curve().unwrap().quote_buy(1_000).unwrap(),
            "the fee is quoted"
        );
        let spend = Value(1_000);
        let buy = |min_tokens, bps| order(&m, Intent::Buy { spend, min_tokens }, bps).unwrap();
        let wants = |t| Order::Buy {
            spend,
            min_tokens: Tokens(t),
        };
        assert_eq!(buy(None, 0), wants(q));
        assert_eq!(buy(None, 100), wants(q * 9_900 / 10_000));
        assert_eq!(buy(Some(Tokens(5)), 100), wants(5));
        // Selling from the float is refused before anything is signed.
        let tokens = Tokens(1);
        assert!(matches!(
            order(
                &m,
                Intent::Sell {
                    tokens,
                    min_value: None
                },
                100
            ),
            Err(ClientError::Ledger(veil_ledger::LedgerError::Market(_)))
        ));
    }
}
