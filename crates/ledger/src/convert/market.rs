//! `Trade` and `GetMarket` ↔ domain types (docs/protocol.md §8.3.11):
//! token amounts are exactly 16 bytes, big-endian.

use veil_primitives::EncodingError;
use veil_proto::ledger::v1 as pb;

use super::{account, account_auth, account_auth_to_pb};
use crate::error::LedgerError;
use crate::trade::{HandState, MarketState, Order, Tokens, TradeReceipt, TradeRequest};
use crate::types::{AccountId, BlockHeight, Value};

/// A token amount: exactly 16 bytes.
pub fn tokens(name: &'static str, b: &[u8]) -> Result<Tokens, LedgerError> {
    Tokens::from_slice(b).ok_or(LedgerError::Encoding {
        field: name,
        source: EncodingError::Length {
            expected: 16,
            actual: b.len(),
        },
    })
}

pub fn trade_from_pb(r: &pb::TradeRequest) -> Result<TradeRequest, LedgerError> {
    use pb::trade_request::Order as O;
    let order = match &r.order {
        Some(O::Buy(b)) => Order::Buy {
            spend: Value(b.spend),
            min_tokens: tokens("min_tokens", &b.min_tokens)?,
        },
        Some(O::Sell(s)) => Order::Sell {
            tokens: tokens("tokens", &s.tokens)?,
            min_value: Value(s.min_value),
        },
        None => return Err(LedgerError::InvalidArgument("a trade is a buy or a sell")),
    };
    Ok(TradeRequest {
        account: account(&r.account)?,
        order,
        auth: account_auth(&r.account_key, r.nonce, &r.signature)?,
    })
}

pub fn trade_to_pb(t: &TradeRequest) -> pb::TradeRequest {
    use pb::trade_request::Order as O;
    let (account_key, nonce, signature) = account_auth_to_pb(&t.auth);
    let order = match t.order {
        Order::Buy { spend, min_tokens } => O::Buy(pb::Buy {
            spend: spend.get(),
            min_tokens: min_tokens.to_bytes().to_vec(),
        }),
        Order::Sell { tokens, min_value } => O::Sell(pb::Sell {
            tokens: tokens.to_bytes().to_vec(),
            min_value: min_value.get(),
        }),
    };
    pb::TradeRequest {
        account: t.account.to_bytes().to_vec(),
        order: Some(order),
        account_key,
        nonce,
        signature,
    }
}

pub fn receipt_to_pb(r: &TradeReceipt) -> pb::TradeResponse {
    pb::TradeResponse {
        tokens: r.tokens.to_bytes().to_vec(),
        value: r.value.get(),
        nonce: r.nonce,
    }
}

/// The receipt of `order` from its response.
pub fn receipt_from_pb(order: Order, r: &pb::TradeResponse) -> Result<TradeReceipt, LedgerError> {
    Ok(TradeReceipt {
        order,
        tokens: tokens("tokens", &r.tokens)?,
        value: Value(r.value),
        nonce: r.nonce,
    })
}

/// The account of a `GetMarket` request: empty is none.
pub fn market_account(r: &pb::GetMarketRequest) -> Result<Option<AccountId>, LedgerError> {
    match r.account.is_empty() {
        true => Ok(None),
        false => account(&r.account).map(Some),
    }
}

pub fn market_to_pb(m: &MarketState, held: Option<Tokens>) -> pb::GetMarketResponse {
    pb::GetMarketResponse {
        reserve: m.reserve.get(),
        supply: m.supply.to_bytes().to_vec(),
        float: m.float.to_bytes().to_vec(),
        ratio_ppm: m.ratio_ppm,
        tokens: held.map(|t| t.to_bytes().to_vec()).unwrap_or_default(),
        epoch_escrowed: m.hand.epoch_escrowed.get(),
        staked: m.hand.staked.get(),
        next_step_at: m.hand.next_step_at.0,
    }
}

/// The state of a response; it must describe a curve (a server is not trusted).
pub fn market_from_pb(r: &pb::GetMarketResponse) -> Result<MarketState, LedgerError> {
    let m = MarketState {
        reserve: Value(r.reserve),
        supply: tokens("supply", &r.supply)?,
        float: tokens("float", &r.float)?,
        ratio_ppm: r.ratio_ppm,
        hand: HandState {
            epoch_escrowed: Value(r.epoch_escrowed),
            staked: Value(r.staked),
            next_step_at: BlockHeight(r.next_step_at),
        },
    };
    m.curve().map_err(LedgerError::Market)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::eddsa::SigningKey;

    #[test]
    fn trades_round_trip_and_token_fields_are_exactly_16_bytes() {
        let key = SigningKey::from_seed([5; 32]).expect("seed");
        for order in [
            Order::Buy {
                spend: Value(9),
                min_tokens: Tokens(u128::MAX),
            },
            Order::Sell {
                tokens: Tokens(1),
                min_value: Value(u64::MAX),
            },
        ] {
            let t = TradeRequest::signed(&key, 3, order);
            let pb = trade_to_pb(&t);
            assert_eq!(trade_from_pb(&pb).unwrap(), t);
            assert!(t.authenticate().is_ok());
        }
        let mut pb = trade_to_pb(&TradeRequest::signed(
            &key,
            0,
            Order::Sell {
                tokens: Tokens(1),
                min_value: Value(0),
            },
        ));
        if let Some(pb::trade_request::Order::Sell(s)) = &mut pb.order {
            s.tokens.push(0);
        }
        assert!(matches!(
            trade_from_pb(&pb),
            Err(LedgerError::Encoding {
                field: "tokens",
                ..
            })
        ));
        pb.order = None;
        assert!(matches!(
            trade_from_pb(&pb),
            Err(LedgerError::InvalidArgument(_))
        ));
        let hand = HandState::at(BlockHeight(250), Value(7), Value(40));
        assert_eq!(hand.next_step_at, BlockHeight(300));
        let m = MarketState::of(&crate::trade::genesis_curve().unwrap(), hand).unwrap();
        let wire = market_to_pb(&m, Some(Tokens(4)));
        assert_eq!(market_from_pb(&wire).unwrap(), m);
        let mut bad = wire.clone();
        bad.float = Tokens(m.supply.0 + 1).to_bytes().to_vec();
        assert!(market_from_pb(&bad).is_err());
    }
}
