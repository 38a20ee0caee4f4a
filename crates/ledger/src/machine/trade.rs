//! §8.3.11 trade: a buy or a sale on the bonding curve by an account,
//! authorised by its key. The curve arithmetic and the fee are
//! `veil_market`'s; this module only moves the account's value and tokens
//! with them.

use veil_market::curve::Curve;

use super::{Checked, add, check_nonce, consume_nonce};
use crate::error::LedgerError;
use crate::state::{StateRead, StateWrite};
use crate::trade::{Order, Tokens, TradeReceipt, TradeRequest, reserve_value, trade_fee};
use crate::types::Value;

/// A trade worked out against state, not yet written.
pub struct Fill {
    nonce: u64,
    curve: Curve,
    tokens: Tokens,
    value: Value,
    balance: Value,
    holding: Tokens,
}

/// Stateless checks: a positive amount within the curve's bound, then the
/// account's signature. Returns the nonce.
pub fn check_trade_stateless(t: &TradeRequest) -> Result<u64, LedgerError> {
    t.order.check()?;
    t.authenticate()
}

/// Every check of a trade (§8.3.11): stateless, then a retry of the trade
/// applied with this nonce answers its receipt, then the nonce, the
/// account's balance (buy) or tokens (sale), and the curve with its
/// slippage limit, on a copy of the curve.
pub fn check_trade(
    s: &impl StateRead,
    t: &TradeRequest,
) -> Result<Checked<Fill, TradeReceipt>, LedgerError> {
    let nonce = check_trade_stateless(t)?;
    if let Some(applied) = s.trade(&t.account, nonce)? {
        return match applied.order == t.order {
            true => Ok(Checked::Done(applied)),
            false => Err(LedgerError::BadNonce),
        };
    }
    check_nonce(s, &t.account, nonce)?;
    fill(s, t, nonce).map(Checked::New)
}

fn fill(s: &impl StateRead, t: &TradeRequest, nonce: u64) -> Result<Fill, LedgerError> {
    let mut curve = s.curve()?;
    let balance = s.account(&t.account)?;
    let holding = s.tokens(&t.account)?;
    let f = match t.order {
        Order::Buy { spend, min_tokens } => {
            let left = balance.get().checked_sub(spend.get());
            let left = left.ok_or(LedgerError::InsufficientBalance)?;
            let bought = trade_fee().buy(&mut curve, u128::from(spend.get()), min_tokens.get());
            let (minted, _fee) = bought.map_err(LedgerError::Market)?;
            Fill {
                nonce,
                tokens: Tokens(minted),
                value: spend,
                balance: Value(left),
                holding: Tokens(
                    holding
                        .get()
                        .checked_add(minted)
                        .ok_or(LedgerError::Overflow)?,
                ),
                curve,
            }
        }
        Order::Sell { tokens, min_value } => {
            let kept = holding.get().checked_sub(tokens.get());
            let kept = kept.ok_or(LedgerError::InsufficientTokens)?;
            let sold = trade_fee().sell(&mut curve, tokens.get(), u128::from(min_value.get()));
            let (paid, _fee) = sold.map_err(LedgerError::Market)?;
            let paid = u64::try_from(paid).map_err(|_| LedgerError::Overflow)?;
            Fill {
                nonce,
                tokens,
                value: Value(paid),
                balance: Value(add(balance.get(), paid)?),
                holding: Tokens(kept),
                curve,
            }
        }
    };
    // The reserve stays a u64 (§8.4 counts it with the accounts).
    reserve_value(&f.curve)?;
    Ok(f)
}

/// Executes a trade: the account's value and tokens, the curve, the nonce
/// and the trade record, all in the caller's transaction.
pub fn apply_trade(w: &mut impl StateWrite, t: &TradeRequest) -> Result<TradeReceipt, LedgerError> {
    let f = match check_trade(w, t)? {
        Checked::Done(r) => return Ok(r),
        Checked::New(f) => f,
    };
    let receipt = TradeReceipt {
        order: t.order,
        tokens: f.tokens,
        value: f.value,
        nonce: f.nonce,
    };
    w.set_account(&t.account, f.balance)?;
    w.set_tokens(&t.account, f.holding)?;
    w.set_curve(&f.curve)?;
    consume_nonce(w, &t.account, f.nonce)?;
    w.put_trade(&t.account, &receipt)?;
    Ok(receipt)
}
