//! The demo's market round (docs/market.md §7): a trader account, funded
//! by the development faucet, buys tokens on the ledger's bonding curve
//! and sells half of them back, each trade with a slippage limit from the
//! quote — signed by the trader's own key, or on a chain sent by the
//! ledger handle's key (§7.2). On a ledger without a market the round is
//! skipped and says so.

use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::json;
use veil_client::market::{DEFAULT_SLIPPAGE_BPS, Intent, trade};
use veil_ledger::trade::{GENESIS_RESERVE, Tokens};
use veil_ledger::{LedgerApi, LedgerError};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::AccountId;
use veil_primitives::value::Value;

/// Value the trader spends on its buy.
const SPEND: u64 = 5_000;

/// What the round traded and what the curve showed before and after.
pub(super) struct MarketDemo {
    pub trader: AccountId,
    pub tokens_bought: u128,
    pub value_spent: u64,
    pub tokens_sold: u128,
    pub value_received: u64,
    pub price_before: f64,
    pub price_after: f64,
    /// The part of the curve's reserve the turnstile's `minted` counts:
    /// on a chain all of it (the token minted the genesis reserve too),
    /// else what the trades added to the genesis reserve.
    pub reserve_counted: u64,
}

/// Runs the round; `None` on a ledger without a market. `on_chain`: the
/// genesis reserve was minted by the value token (an EVM ledger).
pub(super) async fn round<L: LedgerApi>(
    ledger: &L,
    quiet: bool,
    on_chain: bool,
) -> anyhow::Result<Option<MarketDemo>> {
    let before = match ledger.market().await {
        Ok(m) => m,
        Err(LedgerError::Unsupported(why)) => {
            say!(quiet, "== market: skipped on this ledger ({why})");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_seed(seed).ok_or_else(|| anyhow::anyhow!("trader key"))?;
    let trader = ledger
        .acting_account()
        .unwrap_or_else(|| key.verifying_key().account_id());
    ledger.faucet(trader, Value(SPEND)).await?;
    let spend = Value(SPEND);
    let bought = trade(
        ledger,
        &key,
        Intent::Buy {
            spend,
            min_tokens: None,
        },
        DEFAULT_SLIPPAGE_BPS,
    )
    .await?;
    let half = Tokens(bought.tokens.get() / 2);
    let sold = trade(
        ledger,
        &key,
        Intent::Sell {
            tokens: half,
            min_value: None,
        },
        DEFAULT_SLIPPAGE_BPS,
    )
    .await?;
    let after = ledger.market().await?;
    let price = |m: &veil_ledger::trade::MarketState| {
        m.curve().map(|c| c.price().as_f64()).unwrap_or(f64::NAN)
    };
    let demo = MarketDemo {
        trader,
        tokens_bought: bought.tokens.get(),
        value_spent: bought.value.get(),
        tokens_sold: sold.tokens.get(),
        value_received: sold.value.get(),
        price_before: price(&before),
        price_after: price(&after),
        reserve_counted: match on_chain {
            true => after.reserve.get(),
            false => after.reserve.get().saturating_sub(GENESIS_RESERVE.get()),
        },
    };
    say!(
        quiet,
        "== market: a trader bought {} tokens for {}, sold {} back for {} (price {:.6} → {:.6} value per token)",
        demo.tokens_bought,
        demo.value_spent,
        demo.tokens_sold,
        demo.value_received,
        demo.price_before,
        demo.price_after
    );
    Ok(Some(demo))
}

/// A token count as a JSON number when it fits 64 bits, else a decimal string.
fn tokens_json(t: u128) -> serde_json::Value {
    u64::try_from(t).map_or_else(|_| json!(t.to_string()), |t| json!(t))
}

/// The demo's `"market"` object: the trades, then the audit round's
/// fields (`audits`, `node_scores`, `slashed`, … of `demo/audit.rs`).
pub(super) fn json(m: Option<&MarketDemo>, audits: serde_json::Value) -> serde_json::Value {
    match m {
        None => serde_json::Value::Null,
        Some(m) => {
            let mut v = json!({
                "tokens_bought": tokens_json(m.tokens_bought),
                "value_spent": m.value_spent,
                "tokens_sold": tokens_json(m.tokens_sold),
                "value_received": m.value_received,
                "price_before": m.price_before,
                "price_after": m.price_after,
            });
            if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), audits) {
                obj.extend(extra);
            }
            v
        }
    }
}
