//! The bandwidth market on chain (`docs/market.md` §7.2): `Trade`,
//! `GetMarket` and token balances over `BandwidthMarket`, the contract the
//! ledger names as its `market`. The sender is the trader: its transaction
//! signature stands in for the account signature of §8.3.11, and the
//! chain's transaction nonce for the account nonce (a resent transaction is
//! applied once; a second trade request is a second trade).

use alloy::primitives::{Address, U256};
use veil_evm::market::{self, MarketError, TradeEvent};
use veil_evm::token;
use veil_ledger::trade::{HandState, MarketState, Order, Tokens, TradeReceipt, TradeRequest};
use veil_ledger::types::{AccountId, BlockHeight, Value};
use veil_ledger::{LedgerApi, LedgerError};
use veil_market::CurveError;

use super::{EvmLedger, abi_err, chain_err, evm_address};
use crate::chain::{Receipt, RpcError};

/// The ledger was deployed without a market (its `market()` is zero).
const NO_MARKET: &str =
    "this EVM ledger was deployed without a market (market() is zero; docs/market.md §7.2)";

/// The `LedgerError` of a refusal by `BandwidthMarket` (the embedded
/// ledger's variants: `veil_ledger::machine::check_trade`).
pub fn from_market_revert(r: MarketError) -> LedgerError {
    use LedgerError as E;
    let amount = |v: U256| u128::try_from(v).unwrap_or(u128::MAX);
    match r {
        MarketError::Zero => E::Market(CurveError::Zero),
        MarketError::TooLarge => E::Market(CurveError::TooLarge),
        MarketError::BelowMinimum { got, min } => E::Market(CurveError::BelowMinimum {
            got: amount(got),
            min: amount(min),
        }),
        MarketError::ExceedsCirculating {
            amount: a,
            circulating,
        } => E::Market(CurveError::ExceedsCirculating {
            amount: amount(a),
            circulating: amount(circulating),
        }),
        MarketError::InsufficientBalance(..) => E::InsufficientTokens,
        other => E::Unavailable(format!("unexpected BandwidthMarket refusal {other:?}")),
    }
}

fn market_err(e: RpcError) -> LedgerError {
    match &e {
        RpcError::Reverted { data } => match MarketError::decode(data) {
            Ok(r) => from_market_revert(r),
            Err(_) => super::error::from_rpc(e),
        },
        _ => chain_err(e),
    }
}

impl EvmLedger {
    fn market_at(&self) -> Result<Address, LedgerError> {
        self.market.ok_or(LedgerError::Unsupported(NO_MARKET))
    }

    async fn market_words(&self, data: &[u8], n: usize) -> Result<Vec<u128>, LedgerError> {
        let out = self
            .chain
            .call(self.market_at()?, data)
            .await
            .map_err(chain_err)?;
        market::decode_u128s(&out, n).map_err(abi_err)
    }

    /// A trade by the sender, in the embedded ledger's order of checks:
    /// the order alone, the balance or holding, then the curve (simulated,
    /// so a refusal sends nothing).
    pub(super) async fn trade_on_chain(
        &self,
        t: TradeRequest,
    ) -> Result<TradeReceipt, LedgerError> {
        let m = self.market_at()?;
        let me = self.chain.address();
        self.require_sender(&t.account, "on chain a trade is the transaction sender's")?;
        t.order.check()?;
        let receipt = match t.order {
            Order::Buy { spend, min_tokens } => {
                if self.balance(t.account).await? < spend {
                    return Err(LedgerError::InsufficientBalance);
                }
                let data = market::buy(spend.get().into(), min_tokens.get());
                self.approve_and_send(m, &data, spend.get()).await?
            }
            Order::Sell { tokens, min_value } => {
                if self.tokens_of(me).await? < tokens {
                    return Err(LedgerError::InsufficientTokens);
                }
                let data = market::sell(tokens.get(), min_value.get().into());
                self.chain.wait_until_idle().await.map_err(chain_err)?;
                self.chain.call(m, &data).await.map_err(market_err)?;
                self.chain.send(m, &data).await.map_err(market_err)?
            }
        };
        self.trade_receipt(t.order, &receipt).await
    }

    /// Sends `data` to the market, approving `spend` first if the
    /// allowance is short — only if the trade would pass with it.
    async fn approve_and_send(
        &self,
        m: Address,
        data: &[u8],
        spend: u64,
    ) -> Result<Receipt, LedgerError> {
        let me = self.chain.address();
        let allowance = self
            .chain
            .call(self.token, &token::allowance(me, m))
            .await
            .map_err(chain_err)?;
        self.chain.wait_until_idle().await.map_err(chain_err)?;
        if token::decode_u256(&allowance).map_or(true, |a| a < U256::from(spend)) {
            let approve = token::approve(m, U256::from(spend));
            self.chain
                .simulate(&[(self.token, &approve), (m, data)])
                .await
                .map_err(market_err)?;
            self.chain
                .send(self.token, &approve)
                .await
                .map_err(chain_err)?;
        } else {
            self.chain.call(m, data).await.map_err(market_err)?;
        }
        self.chain.send(m, data).await.map_err(market_err)
    }

    /// The receipt of a mined trade, from its `Bought` or `Sold` event.
    async fn trade_receipt(&self, order: Order, r: &Receipt) -> Result<TradeReceipt, LedgerError> {
        let m = self.market_at()?;
        let event = r
            .logs
            .iter()
            .filter(|e| e.address == m)
            .find_map(|e| TradeEvent::decode(e).transpose())
            .ok_or_else(|| LedgerError::Unavailable("the trade emitted no trade event".into()))?
            .map_err(abi_err)?;
        let value = |v: u128| {
            u64::try_from(v)
                .map(Value)
                .map_err(|_| LedgerError::Overflow)
        };
        let (tokens, value) = match event {
            TradeEvent::Bought { minted, paid, .. } => (Tokens(minted), value(paid)?),
            TradeEvent::Sold { burnt, paid, .. } => (Tokens(burnt), value(paid)?),
        };
        let nonce = self
            .chain
            .nonce_of(self.chain.address())
            .await
            .map_err(chain_err)?
            .saturating_sub(1);
        Ok(TradeReceipt {
            order,
            tokens,
            value,
            nonce,
        })
    }

    async fn tokens_of(&self, who: Address) -> Result<Tokens, LedgerError> {
        let w = self.market_words(&token::balance_of(who), 1).await?;
        Ok(Tokens(w[0]))
    }

    pub(super) async fn tokens_on_chain(&self, account: AccountId) -> Result<Tokens, LedgerError> {
        self.tokens_of(evm_address(&account)?).await
    }

    /// The curve as the next trade meets it (`current()`: the hand's
    /// pending steps applied) and what the next step reads (`hand()`).
    pub(super) async fn market_on_chain(&self) -> Result<MarketState, LedgerError> {
        let now = self.market_words(&market::current(), 3).await?;
        let reserve = self.market_words(&market::getter("reserve"), 1).await?[0];
        let blocks = self.market_epoch_blocks.max(1);
        let hand = self.view(&veil_evm::ledger::view::hand()).await?;
        let hand = market::decode_u128s(&hand, 3).map_err(abi_err)?;
        let height = self.chain.block_number().await.map_err(chain_err)?;
        let epoch = height / blocks;
        let u64_of = |v: u128| u64::try_from(v).map_err(|_| LedgerError::Overflow);
        let escrowed = if hand[0] == u128::from(epoch) {
            u64_of(hand[1])?
        } else {
            0
        };
        Ok(MarketState {
            reserve: Value(u64_of(reserve)?),
            supply: Tokens(now[0]),
            float: Tokens(now[1]),
            ratio_ppm: u32::try_from(now[2]).map_err(|_| LedgerError::Overflow)?,
            hand: HandState {
                epoch_escrowed: Value(escrowed),
                staked: Value(u64_of(hand[2])?),
                next_step_at: BlockHeight(epoch.saturating_add(1).saturating_mul(blocks)),
            },
        })
    }
}
