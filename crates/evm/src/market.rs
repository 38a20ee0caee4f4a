//! Typed calls and errors of the market contracts
//! (`contracts/src/market/`, `docs/market.md` §5): `CurveQuoter`, the
//! curve's quotes for any state, and `BandwidthMarket`, the bandwidth token
//! on the curve. The ERC-20 calls and events are those of [`crate::token`].

use revm::primitives::U256;

use crate::abi::{
    AbiError, Arg, Word, encode_args, encode_call_args, selector, split_revert, word_address,
};
use crate::sandbox::EvmAddress;

/// The quoter's name in `contracts/artifacts/`.
pub const QUOTER: &str = "CurveQuoter";
/// The market's name in `contracts/artifacts/`.
pub const MARKET: &str = "BandwidthMarket";

fn word(v: u128) -> Word {
    U256::from(v).to_be_bytes()
}

fn call(signature: &str, args: &[Word]) -> Vec<u8> {
    let args: Vec<Arg> = args.iter().map(|w| Arg::Word(*w)).collect();
    encode_call_args(selector(signature), &args)
}

/// A curve state as the quoter takes it.
#[derive(Debug, Clone, Copy)]
pub struct CurveState {
    pub reserve: u128,
    pub supply: u128,
    pub float: u128,
    pub ppm: u32,
}

impl CurveState {
    fn words(&self, amount: u128) -> [Word; 5] {
        [
            word(self.reserve),
            word(self.supply),
            word(self.float),
            word(self.ppm.into()),
            word(amount),
        ]
    }
}

/// `CurveQuoter.quoteBuy(reserve, supply, float, ppm, deposit)`.
pub fn quote_buy(state: &CurveState, deposit: u128) -> Vec<u8> {
    call(
        "quoteBuy(uint256,uint256,uint256,uint256,uint256)",
        &state.words(deposit),
    )
}

/// `CurveQuoter.quoteBuyExact(reserve, supply, float, ppm, tokens)`.
pub fn quote_buy_exact(state: &CurveState, tokens: u128) -> Vec<u8> {
    call(
        "quoteBuyExact(uint256,uint256,uint256,uint256,uint256)",
        &state.words(tokens),
    )
}

/// `CurveQuoter.quoteSell(reserve, supply, float, ppm, amount)`.
pub fn quote_sell(state: &CurveState, amount: u128) -> Vec<u8> {
    call(
        "quoteSell(uint256,uint256,uint256,uint256,uint256)",
        &state.words(amount),
    )
}

/// `BandwidthMarket`'s constructor arguments, to append to its creation
/// code: the reserve token, the genesis float, the genesis ratio, the
/// trading fee (ppm) and the hand's epoch (blocks).
pub fn market_constructor(
    reserve_token: EvmAddress,
    genesis_supply: u128,
    ppm: u32,
    fee_ppm: u32,
    epoch_blocks: u64,
) -> Vec<u8> {
    let args = [
        word_address(reserve_token),
        word(genesis_supply),
        word(ppm.into()),
        word(fee_ppm.into()),
        word(epoch_blocks.into()),
    ];
    encode_args(&args.map(Arg::Word))
}

/// `open(genesisReserve)` (deployer only, once).
pub fn open(genesis_reserve: u128) -> Vec<u8> {
    call("open(uint256)", &[word(genesis_reserve)])
}

/// `bind(ledger)` (deployer only, once, after `open`): the ledger whose
/// demand moves the ratio, deployed naming this market.
pub fn bind(ledger: EvmAddress) -> Vec<u8> {
    call("bind(address)", &[word_address(ledger)])
}

/// `buy(spend, minOut)`: `spend` includes the fee.
pub fn buy(spend: u128, min_out: u128) -> Vec<u8> {
    call("buy(uint256,uint256)", &[word(spend), word(min_out)])
}

/// `sell(amount, minOut)`: `minOut` is after the fee.
pub fn sell(amount: u128, min_out: u128) -> Vec<u8> {
    call("sell(uint256,uint256)", &[word(amount), word(min_out)])
}

/// `quoteBuy(spend)` → (minted, fee), the hand's pending steps applied.
pub fn quote_buy_now(spend: u128) -> Vec<u8> {
    call("quoteBuy(uint256)", &[word(spend)])
}

/// `quoteSell(amount)` → (paid, fee), the hand's pending steps applied.
pub fn quote_sell_now(amount: u128) -> Vec<u8> {
    call("quoteSell(uint256)", &[word(amount)])
}

/// `sync()`: the hand's steps for the epochs that ended (anyone).
pub fn sync() -> Vec<u8> {
    call("sync()", &[])
}

/// `current()` → (supply, float, ratio ppm) after the pending steps.
pub fn current() -> Vec<u8> {
    call("current()", &[])
}

/// `setRatio(supply, float, ppm, next)` → (supply, float, ppm): the
/// price-holding ratio change, for the differential test.
pub fn set_ratio(supply: u128, float: u128, ppm: u32, next: u32) -> Vec<u8> {
    call(
        "setRatio(uint256,uint256,uint256,uint256)",
        &[
            word(supply),
            word(float),
            word(ppm.into()),
            word(next.into()),
        ],
    )
}

/// `nextRatio(ppm, demand)` → ppm: one step of the hand's rule.
pub fn next_ratio(ppm: u32, demand_ppm: u64) -> Vec<u8> {
    call(
        "nextRatio(uint256,uint256)",
        &[word(ppm.into()), word(demand_ppm.into())],
    )
}

/// `demandPpm(escrowed, staked)` → ppm.
pub fn demand_ppm(escrowed: u64, staked: u64) -> Vec<u8> {
    call(
        "demandPpm(uint256,uint256)",
        &[word(escrowed.into()), word(staked.into())],
    )
}

/// `feeOf(amount)` → the fee of a trade of `amount`.
pub fn fee_of(amount: u128) -> Vec<u8> {
    call("feeOf(uint256)", &[word(amount)])
}

/// Decodes `n` uint256 words each below 2^128 (a quote, `current()`).
pub fn decode_u128s(data: &[u8], n: usize) -> Result<Vec<u128>, AbiError> {
    if data.len() != 32 * n {
        return Err(AbiError::Malformed("return words"));
    }
    data.chunks(32)
        .map(|w| {
            let v = U256::from_be_slice(w);
            u128::try_from(v).map_err(|_| AbiError::Malformed("a word above 2^128"))
        })
        .collect()
}

/// `reserve()`, `float()`, `totalSupply()`, `ratioPpm()`: the curve state.
pub fn getter(name: &str) -> Vec<u8> {
    call(&format!("{name}()"), &[])
}

/// A custom error of `CurveMath`, `CurveQuoter` or `BandwidthMarket`,
/// named like `veil_market::CurveError` where one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketError {
    TooLarge,
    ExceedsCirculating { amount: U256, circulating: U256 },
    Genesis,
    ReserveRatio(U256),
    Zero,
    BelowMinimum { got: U256, min: U256 },
    Fee(U256),
    AlreadyBound,
    WrongLedger,
    NotDeployer(EvmAddress),
    AlreadyOpen,
    NotOpen,
    InsufficientBalance(EvmAddress, U256, U256),
}

impl MarketError {
    /// Decodes revert data; any other selector or shape is an error.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let (sel, r) = split_revert(data)?;
        let u = |i| r.word(i).map(U256::from_be_bytes);
        let words = |n| r.expect_words(n);
        Ok(match sel {
            s if s == selector("TooLarge()") => words(0).map(|_| Self::TooLarge)?,
            s if s == selector("ExceedsCirculating(uint256,uint256)") => {
                words(2)?;
                Self::ExceedsCirculating {
                    amount: u(0)?,
                    circulating: u(1)?,
                }
            }
            s if s == selector("Genesis()") => words(0).map(|_| Self::Genesis)?,
            s if s == selector("ReserveRatio(uint256)") => {
                words(1).and_then(|_| u(0)).map(Self::ReserveRatio)?
            }
            s if s == selector("Zero()") => words(0).map(|_| Self::Zero)?,
            s if s == selector("Fee(uint256)") => words(1).and_then(|_| u(0)).map(Self::Fee)?,
            s if s == selector("AlreadyBound()") => words(0).map(|_| Self::AlreadyBound)?,
            s if s == selector("WrongLedger()") => words(0).map(|_| Self::WrongLedger)?,
            s if s == selector("BelowMinimum(uint256,uint256)") => {
                words(2)?;
                Self::BelowMinimum {
                    got: u(0)?,
                    min: u(1)?,
                }
            }
            s if s == selector("NotDeployer(address)") => {
                words(1).and_then(|_| r.address(0)).map(Self::NotDeployer)?
            }
            s if s == selector("AlreadyOpen()") => words(0).map(|_| Self::AlreadyOpen)?,
            s if s == selector("NotOpen()") => words(0).map(|_| Self::NotOpen)?,
            s if s == selector("InsufficientBalance(address,uint256,uint256)") => {
                words(3)?;
                Self::InsufficientBalance(r.address(0)?, u(1)?, u(2)?)
            }
            _ => return Err(AbiError::Malformed("market error selector")),
        })
    }
}

/// A trade's event (`Bought`, `Sold`): who traded, the tokens minted or
/// burnt, the reserve paid in (the fee included) or out (after it), and
/// the fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeEvent {
    Bought {
        buyer: EvmAddress,
        paid: u128,
        minted: u128,
        fee: u128,
    },
    Sold {
        seller: EvmAddress,
        burnt: u128,
        paid: u128,
        fee: u128,
    },
}

impl TradeEvent {
    /// The trade event of a log, if it is one (any other log: `None`; a
    /// malformed one: an error).
    pub fn decode(e: &crate::sandbox::Event) -> Result<Option<Self>, AbiError> {
        let bought = crate::abi::event_topic("Bought(address,uint256,uint256,uint256)");
        let sold = crate::abi::event_topic("Sold(address,uint256,uint256,uint256)");
        let Some(topic) = e.topics.first() else {
            return Ok(None);
        };
        if *topic != bought && *topic != sold {
            return Ok(None);
        }
        let who = e
            .topics
            .get(1)
            .filter(|t| t[..12].iter().all(|b| *b == 0))
            .map(|t| EvmAddress::from_slice(&t[12..]))
            .ok_or(AbiError::Malformed("trade event topics"))?;
        let w = decode_u128s(&e.data, 3)?;
        Ok(Some(if *topic == bought {
            Self::Bought {
                buyer: who,
                paid: w[0],
                minted: w[1],
                fee: w[2],
            }
        } else {
            Self::Sold {
                seller: who,
                burnt: w[0],
                paid: w[1],
                fee: w[2],
            }
        }))
    }
}
