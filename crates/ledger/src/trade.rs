//! The bandwidth market in the ledger (docs/protocol.md §8.3.11,
//! docs/market.md §7): token amounts, the curve's public state, and a
//! trade — a buy or a sale on the bonding curve — signed by the trading
//! account's key. The curve arithmetic is `veil_market::curve`'s, unchanged.

use veil_market::curve::{Curve, CurveError, ReserveRatio};
use veil_market::hand::Demand;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::{Fr, poseidon};

use crate::error::LedgerError;
use crate::types::{AccountAuth, AccountId, AccountOp, BlockHeight, Value};

/// An amount of the bandwidth token, in base units (the curve's `Amount`;
/// at most `veil_market::curve::MAX_AMOUNT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tokens(pub u128);

impl Tokens {
    pub const ZERO: Self = Self(0);

    pub fn get(self) -> u128 {
        self.0
    }

    /// The 16-byte big-endian wire and storage form.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Exactly 16 bytes, big-endian; anything else is refused.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(b)
            .ok()
            .map(|a| Self(u128::from_be_bytes(a)))
    }
}

impl std::fmt::Display for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The ledger's curve at genesis (§8.3.11): a reserve of 1,000,000 value
/// base units minted into the curve, backing a float of 10^9 token base
/// units that belongs to nobody, at a reserve ratio of 50%: the opening
/// price is 0.002 value units per token unit.
pub const GENESIS_RESERVE: Value = Value(1_000_000);
/// The genesis float (see [`GENESIS_RESERVE`]).
pub const GENESIS_FLOAT: Tokens = Tokens(1_000_000_000);
/// The genesis reserve ratio, in parts per million.
pub const GENESIS_RATIO_PPM: u32 = 500_000;

/// Blocks per market epoch: at each epoch boundary the reserve ratio takes
/// one step of the invisible hand (§8.3.11, `docs/market.md` §3, §7).
pub const MARKET_EPOCH_BLOCKS: u64 = 100;

/// The ledger's rule for the hand: `veil_market::hand`'s default (30–80%,
/// at most 2.5 points per epoch, saturated when the epoch's escrows equal
/// the staked value).
pub fn hand_rule() -> veil_market::hand::HandRule {
    veil_market::hand::HandRule::default()
}

/// The ledger's trading fee (`docs/market.md` §3.3): `veil_market::fee`'s
/// default, 0.5% of each buy's spend and of each sale's proceeds, kept in
/// the reserve. Quotes and the ledger both apply it through this.
pub fn trade_fee() -> veil_market::fee::TradeFee {
    veil_market::fee::TradeFee::DEFAULT
}

/// The curve a new ledger starts with.
pub fn genesis_curve() -> Result<Curve, LedgerError> {
    let ratio = ReserveRatio::from_ppm(GENESIS_RATIO_PPM).map_err(LedgerError::Market)?;
    Curve::new(
        u128::from(GENESIS_RESERVE.get()),
        GENESIS_FLOAT.get(),
        ratio,
    )
    .map_err(LedgerError::Market)
}

/// What the hand's next step reads (§8.3.11, `docs/market.md` §7): the
/// value escrowed so far in the current market epoch, the value staked by
/// nodes, and the height at which the step is taken. Public, so that
/// anyone can recompute the next reserve ratio ([`HandState::next_ratio`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandState {
    pub epoch_escrowed: Value,
    pub staked: Value,
    /// The next multiple of [`MARKET_EPOCH_BLOCKS`] above the height.
    pub next_step_at: BlockHeight,
}

impl HandState {
    /// The state at `height` with these sums.
    pub fn at(height: BlockHeight, epoch_escrowed: Value, staked: Value) -> Self {
        let epoch = height.0 / MARKET_EPOCH_BLOCKS;
        Self {
            epoch_escrowed,
            staked,
            next_step_at: BlockHeight(epoch.saturating_add(1).saturating_mul(MARKET_EPOCH_BLOCKS)),
        }
    }

    /// The epoch's demand: escrowed over staked value (staked value stands
    /// in for capacity, `docs/market.md` §8); nothing escrowed is no
    /// demand, whatever is staked, and escrows with nothing staked saturate.
    pub fn demand(&self) -> Demand {
        if self.epoch_escrowed == Value::ZERO {
            return Demand::from_ppm(0);
        }
        Demand::from_values(
            u128::from(self.epoch_escrowed.get()),
            u128::from(self.staked.get()),
        )
    }

    /// The ratio after the step at `next_step_at`, if nothing more is
    /// escrowed or staked before it: the one rule the ledger applies.
    pub fn next_ratio(&self, current: ReserveRatio) -> ReserveRatio {
        hand_rule().next(current, self.demand())
    }
}

/// The hand's steps for `crossed` epoch boundaries (§8.3.11,
/// `docs/market.md` §7): the first with `hand`'s demand, the ones after
/// (epochs without an escrow) with none, stopping once a step without
/// demand leaves the ratio where it was — every later one would too. The
/// one rule every backend applies (`BandwidthMarket.current` on the EVM,
/// tested equal to this).
pub fn step_hand(curve: &mut Curve, mut hand: HandState, crossed: u64) {
    for _ in 0..crossed {
        let current = curve.ratio();
        let moved = curve.set_ratio(hand.next_ratio(current)) != current;
        if !moved && hand.demand().ppm() == 0 {
            break;
        }
        hand.epoch_escrowed = Value::ZERO;
    }
}

/// The curve's public state: what any party needs to quote a trade, and
/// what the hand's next step reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarketState {
    /// Reserve backing the supply, in value base units.
    pub reserve: Value,
    /// Every token: the float plus what accounts hold.
    pub supply: Tokens,
    /// Tokens that belong to nobody (never sold).
    pub float: Tokens,
    pub ratio_ppm: u32,
    pub hand: HandState,
}

/// The reserve of `curve` as a value: below 2^64, since the turnstile
/// (§8.4) counts it in `minted`, a `u64`.
pub fn reserve_value(curve: &Curve) -> Result<Value, LedgerError> {
    u64::try_from(curve.reserve())
        .map(Value)
        .map_err(|_| LedgerError::Overflow)
}

impl MarketState {
    /// The public state of `curve`, with the hand's.
    pub fn of(curve: &Curve, hand: HandState) -> Result<Self, LedgerError> {
        Ok(Self {
            reserve: reserve_value(curve)?,
            supply: Tokens(curve.supply()),
            float: Tokens(curve.float()),
            ratio_ppm: curve.ratio().ppm(),
            hand,
        })
    }

    /// The curve this state describes (quotes without the ledger).
    pub fn curve(&self) -> Result<Curve, CurveError> {
        let ratio = ReserveRatio::from_ppm(self.ratio_ppm)?;
        Curve::from_state(
            u128::from(self.reserve.get()),
            self.supply.0,
            self.float.0,
            ratio,
        )
    }
}

/// What a trade does, with its slippage limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Spend `spend` of the account's balance; mint at least `min_tokens`.
    Buy { spend: Value, min_tokens: Tokens },
    /// Burn `tokens` of the account's tokens; receive at least `min_value`.
    Sell { tokens: Tokens, min_value: Value },
}

impl Order {
    /// The checks of an order alone, before any signature or state: a zero
    /// amount is `Market(Zero)`, one above the curve's bound `Market(TooLarge)`.
    pub fn check(&self) -> Result<(), LedgerError> {
        let amount = match *self {
            Order::Buy { spend, .. } => u128::from(spend.get()),
            Order::Sell { tokens, .. } => tokens.get(),
        };
        if amount == 0 {
            return Err(LedgerError::Market(CurveError::Zero));
        }
        if amount > veil_market::curve::MAX_AMOUNT {
            return Err(LedgerError::Market(CurveError::TooLarge));
        }
        Ok(())
    }
}

/// The first Poseidon input of a trade's digest (§8.3.11), in the ledger's
/// reserved range beside `REGISTRATION_TAG` (64) and `UPDATE_TAG` (65).
pub const TRADE_TAG: u64 = 66;

impl Order {
    /// `H(66, side, amount, limit)`, side 1 for a buy and 2 for a sale:
    /// the digest the account key signs (op 4), binding every field.
    pub fn digest(&self) -> Fr {
        let (side, amount, limit) = match *self {
            Order::Buy { spend, min_tokens } => (1u64, u128::from(spend.get()), min_tokens.0),
            Order::Sell { tokens, min_value } => (2, tokens.0, u128::from(min_value.get())),
        };
        poseidon::hash(&[
            Fr::from(TRADE_TAG),
            Fr::from(side),
            Fr::from(amount),
            Fr::from(limit),
        ])
    }
}

/// A trade on the curve by `account`, authorised by its key (§8.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeRequest {
    pub account: AccountId,
    pub order: Order,
    pub auth: Option<AccountAuth>,
}

impl TradeRequest {
    /// A trade by the account of `key`, whose next nonce is `nonce`.
    pub fn signed(key: &SigningKey, nonce: u64, order: Order) -> Self {
        Self {
            account: key.verifying_key().account_id(),
            order,
            auth: Some(AccountAuth::sign(
                key,
                AccountOp::Trade,
                nonce,
                order.digest(),
            )),
        }
    }

    /// A trade for a ledger that authenticates its sender
    /// ([`crate::LedgerApi::acting_account`], an EVM chain): by `account`,
    /// the sender's, with no account signature.
    pub fn from_sender(account: AccountId, order: Order) -> Self {
        Self {
            account,
            order,
            auth: None,
        }
    }

    /// [`AccountAuth::verify`] for this trade; returns its nonce.
    pub fn authenticate(&self) -> Result<u64, LedgerError> {
        AccountAuth::verify(
            self.auth.as_ref(),
            AccountOp::Trade,
            &self.account,
            self.order.digest(),
        )
    }
}

/// What an applied trade moved: tokens minted (buy) or burnt (sale), and
/// value paid in (buy) or out (sale). A retry returns the same receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeReceipt {
    pub order: Order,
    pub tokens: Tokens,
    pub value: Value,
    /// The account nonce the trade consumed.
    pub nonce: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve_at(ppm: u32) -> Curve {
        let mut c = genesis_curve().unwrap();
        c.buy(500_000, 0).unwrap();
        c.set_ratio(ReserveRatio::from_ppm(ppm).unwrap());
        assert_eq!(c.ratio().ppm(), ppm);
        c
    }

    fn hand(escrowed: u64, staked: u64) -> HandState {
        HandState::at(BlockHeight(0), Value(escrowed), Value(staked))
    }

    #[test]
    fn idle_epochs_after_a_step_that_did_not_move_still_step_down() {
        // At the top of the range, a saturated epoch leaves the ratio; the
        // two idle epochs after it each take it one step down.
        let mut c = curve_at(800_000);
        step_hand(&mut c, hand(1_000, 1_000), 3);
        assert_eq!(c.ratio().ppm(), 750_000);
    }

    #[test]
    fn the_first_step_reads_the_demand_and_the_rest_none() {
        let mut c = curve_at(500_000);
        step_hand(&mut c, hand(1_000, 1_000), 1);
        assert_eq!(c.ratio().ppm(), 525_000, "saturated: one step up");
        step_hand(&mut c, hand(1_000, 1_000), 2);
        assert_eq!(c.ratio().ppm(), 525_000, "up, then down");
        step_hand(&mut c, hand(0, 1_000), 1);
        assert_eq!(c.ratio().ppm(), 500_000);
    }

    #[test]
    fn an_idle_stretch_of_any_length_ends_at_the_minimum() {
        let mut c = curve_at(700_000);
        step_hand(&mut c, hand(0, 0), u64::MAX);
        assert_eq!(c.ratio(), hand_rule().min);
    }
}
