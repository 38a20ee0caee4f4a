//! `veil market show|buy|sell`: the ledger's bonding curve
//! (docs/protocol.md §8.3.11, docs/market.md §7). Trades are signed by the
//! wallet's account key; amounts are parsed strictly (adversarial F1).

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use veil_client::amount::{parse_positive_amount, parse_token_amount};
use veil_client::market::{DEFAULT_SLIPPAGE_BPS, Intent, trade};
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_ledger::trade::{MarketState, Order, Tokens, TradeReceipt};
use veil_ledger::types::Value;

use super::wallet::{open_ledger, open_ledger_with, with_ledger};

#[derive(clap::Args)]
pub struct ShowArgs {
    /// `http://HOST:PORT`, `embedded:PATH` or `evm:…` (as `veil wallet`).
    #[arg(long)]
    ledger: String,
    /// Also show this wallet's account's tokens.
    #[arg(long)]
    wallet: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct TradeArgs {
    #[arg(long)]
    ledger: String,
    /// The wallet whose account key signs the trade (its account pays or is paid).
    #[arg(long)]
    wallet: PathBuf,
    /// Buy: value base units to spend. Sell: token base units to sell.
    amount: String,
    /// The least the trade may yield (tokens for a buy, value for a sale);
    /// default: the current quote less `--slippage-bps`.
    #[arg(long, value_name = "BASE_UNITS")]
    min_out: Option<String>,
    /// Tolerance against the current quote when `--min-out` is not given.
    #[arg(long, default_value_t = DEFAULT_SLIPPAGE_BPS, conflicts_with = "min_out")]
    slippage_bps: u32,
    /// DEVELOPMENT ONLY: a buy first mints the shortfall with the ledger's
    /// faucet (a ledger run with `--dev-faucet`; enables it on an embedded one).
    #[arg(long)]
    dev_faucet: bool,
    #[arg(long)]
    json: bool,
}

/// `veil market show`.
pub async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let account = match &args.wallet {
        Some(w) => Some(Wallet::open(w)?.account()),
        None => None,
    };
    let (market, held) = with_ledger!(open_ledger(&args.ledger).await?, l => {
        let market = l.market().await?;
        // On a chain the account is the handle's key (`VEIL_EVM_KEY_FILE`).
        let account = account.map(|a| l.acting_account().unwrap_or(a));
        let held = match account { Some(a) => Some(l.tokens(a).await?), None => None };
        (market, held)
    });
    if args.json {
        let mut v = market_json(&market);
        if let Some(t) = held {
            v["tokens"] = json!(t.get().to_string());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{}", describe(&market));
    if let Some(t) = held {
        println!("your tokens {t}");
    }
    Ok(())
}

/// `veil market buy` / `veil market sell`.
pub async fn buy_or_sell(args: TradeArgs, buy: bool) -> anyhow::Result<()> {
    let intent = intent(&args, buy)?;
    let wallet = Wallet::open(&args.wallet)?;
    let key = wallet.account_key().clone();
    let (receipt, market) = with_ledger!(open_ledger_with(&args.ledger, args.dev_faucet).await?, l => {
        if let (true, Intent::Buy { spend, .. }) = (args.dev_faucet, intent) {
            fund(&l, l.acting_account().unwrap_or(wallet.account()), spend).await?;
        }
        let r = trade(&l, &key, intent, args.slippage_bps).await?;
        (r, l.market().await?)
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "receipt": receipt_json(&receipt),
                "market": market_json(&market),
            }))?
        );
    } else {
        println!("{}\n{}", summary(&receipt), describe(&market));
    }
    Ok(())
}

fn intent(args: &TradeArgs, buy: bool) -> anyhow::Result<Intent> {
    let min = args.min_out.as_deref();
    Ok(match buy {
        true => Intent::Buy {
            spend: Value(parse_positive_amount(&args.amount).context("spend")?),
            min_tokens: min
                .map(parse_token_amount)
                .transpose()
                .context("--min-out")?
                .map(Tokens),
        },
        false => {
            let tokens = parse_token_amount(&args.amount).context("tokens")?;
            anyhow::ensure!(tokens > 0, "tokens: amount must be positive");
            Intent::Sell {
                tokens: Tokens(tokens),
                min_value: min
                    .map(veil_client::amount::parse_amount)
                    .transpose()
                    .context("--min-out")?
                    .map(Value),
            }
        }
    })
}

/// DEVELOPMENT ONLY: mints what the account lacks for `spend`.
async fn fund(
    l: &impl LedgerApi,
    account: veil_ledger::types::AccountId,
    spend: Value,
) -> anyhow::Result<()> {
    eprintln!("DEVELOPMENT: the account is funded by the ledger's faucet");
    let have = l.balance(account).await?;
    if have < spend {
        l.faucet(account, Value(spend.get() - have.get())).await?;
    }
    Ok(())
}

fn summary(r: &TradeReceipt) -> String {
    match r.order {
        Order::Buy { .. } => format!(
            "bought {} tokens for {} (nonce {})",
            r.tokens, r.value, r.nonce
        ),
        Order::Sell { .. } => format!(
            "sold {} tokens for {} (nonce {})",
            r.tokens, r.value, r.nonce
        ),
    }
}

fn describe(m: &MarketState) -> String {
    let price = m.curve().map(|c| c.price().as_f64()).unwrap_or(f64::NAN);
    format!(
        "reserve {}  supply {} (float {})  reserve ratio {:.2}%  price {price:.6} value per token  fee {:.2}% a trade\n\
         this epoch: escrowed {} against staked {} (demand {:.1}%); at height {} the ratio becomes {:.2}% if nothing changes",
        m.reserve,
        m.supply,
        m.float,
        f64::from(m.ratio_ppm) / 1e4,
        f64::from(veil_ledger::trade::trade_fee().ppm()) / 1e4,
        m.hand.epoch_escrowed,
        m.hand.staked,
        m.hand.demand().ppm() as f64 / 1e4,
        m.hand.next_step_at.0,
        next_ratio_ppm(m).map_or(f64::NAN, |p| f64::from(p) / 1e4),
    )
}

/// The ratio the hand's next step sets, by the ledger's own rule.
fn next_ratio_ppm(m: &MarketState) -> Option<u32> {
    let current = veil_market::curve::ReserveRatio::from_ppm(m.ratio_ppm).ok()?;
    Some(m.hand.next_ratio(current).ppm())
}

/// Token amounts as decimal strings: they pass 2^64.
pub fn market_json(m: &MarketState) -> serde_json::Value {
    json!({
        "reserve": m.reserve.get(),
        "supply": m.supply.get().to_string(),
        "float": m.float.get().to_string(),
        "ratio_ppm": m.ratio_ppm,
        "price": m.curve().map(|c| c.price().as_f64()).ok(),
        "epoch_escrowed": m.hand.epoch_escrowed.get(),
        "staked": m.hand.staked.get(),
        "next_step_at": m.hand.next_step_at.0,
        "next_ratio_ppm": next_ratio_ppm(m),
        "fee_ppm": veil_ledger::trade::trade_fee().ppm(),
    })
}

pub fn receipt_json(r: &TradeReceipt) -> serde_json::Value {
    let side = match r.order {
        Order::Buy { .. } => "buy",
        Order::Sell { .. } => "sell",
    };
    json!({"side": side, "tokens": r.tokens.get().to_string(), "value": r.value.get(), "nonce": r.nonce})
}
