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

/// `BandwidthMarket`'s constructor arguments, to append to its creation code.
pub fn market_constructor(reserve_token: EvmAddress, genesis_supply: u128, ppm: u32) -> Vec<u8> {
    let args = [
        word_address(reserve_token),
        word(genesis_supply),
        word(ppm.into()),
    ];
    encode_args(&args.map(Arg::Word))
}

/// `open(genesisReserve)` (deployer only, once).
pub fn open(genesis_reserve: u128) -> Vec<u8> {
    call("open(uint256)", &[word(genesis_reserve)])
}

/// `buy(deposit, minOut)`.
pub fn buy(deposit: u128, min_out: u128) -> Vec<u8> {
    call("buy(uint256,uint256)", &[word(deposit), word(min_out)])
}

/// `buyExact(tokens, maxIn)`.
pub fn buy_exact(tokens: u128, max_in: u128) -> Vec<u8> {
    call("buyExact(uint256,uint256)", &[word(tokens), word(max_in)])
}

/// `sell(amount, minOut)`.
pub fn sell(amount: u128, min_out: u128) -> Vec<u8> {
    call("sell(uint256,uint256)", &[word(amount), word(min_out)])
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
    AboveMaximum { cost: U256, max: U256 },
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
            s if s == selector("BelowMinimum(uint256,uint256)") => {
                words(2)?;
                Self::BelowMinimum {
                    got: u(0)?,
                    min: u(1)?,
                }
            }
            s if s == selector("AboveMaximum(uint256,uint256)") => {
                words(2)?;
                Self::AboveMaximum {
                    cost: u(0)?,
                    max: u(1)?,
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
