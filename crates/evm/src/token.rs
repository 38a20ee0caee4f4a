//! Typed calls, errors and events of `TestToken`
//! (`contracts/src/token/TestToken.sol`): the ERC-20 that holds value in
//! tests and development deployments (`docs/evm.md` §4.1).

use revm::primitives::U256;

use crate::abi::{
    AbiError, Arg, Reader, Word, encode_call_args, event_topic, selector, split_revert,
    word_address,
};
use crate::sandbox::{Event, EvmAddress};

/// The contract's name in `contracts/artifacts/`.
pub const CONTRACT: &str = "TestToken";

fn word_u256(v: U256) -> Word {
    v.to_be_bytes()
}

fn call(signature: &str, args: &[Word]) -> Vec<u8> {
    let args: Vec<Arg> = args.iter().map(|w| Arg::Word(*w)).collect();
    encode_call_args(selector(signature), &args)
}

/// `mint(to, value)` (deployer only).
pub fn mint(to: EvmAddress, value: U256) -> Vec<u8> {
    call(
        "mint(address,uint256)",
        &[word_address(to), word_u256(value)],
    )
}

/// `transfer(to, value)`.
pub fn transfer(to: EvmAddress, value: U256) -> Vec<u8> {
    call(
        "transfer(address,uint256)",
        &[word_address(to), word_u256(value)],
    )
}

/// `approve(spender, value)`.
pub fn approve(spender: EvmAddress, value: U256) -> Vec<u8> {
    call(
        "approve(address,uint256)",
        &[word_address(spender), word_u256(value)],
    )
}

/// `transferFrom(from, to, value)`.
pub fn transfer_from(from: EvmAddress, to: EvmAddress, value: U256) -> Vec<u8> {
    call(
        "transferFrom(address,address,uint256)",
        &[word_address(from), word_address(to), word_u256(value)],
    )
}

/// `balanceOf(owner)`.
pub fn balance_of(owner: EvmAddress) -> Vec<u8> {
    call("balanceOf(address)", &[word_address(owner)])
}

/// `allowance(owner, spender)`.
pub fn allowance(owner: EvmAddress, spender: EvmAddress) -> Vec<u8> {
    call(
        "allowance(address,address)",
        &[word_address(owner), word_address(spender)],
    )
}

/// `totalSupply()`.
pub fn total_supply() -> Vec<u8> {
    call("totalSupply()", &[])
}

/// Decodes a `uint256` result.
pub fn decode_u256(data: &[u8]) -> Result<U256, AbiError> {
    let r = Reader::new(data);
    r.expect_words(1)?;
    Ok(U256::from_be_bytes(r.word(0)?))
}

/// A custom error of `TestToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// `mint` by someone other than the deployer.
    NotMinter(EvmAddress),
    /// A transfer of more than the balance: `(from, balance, needed)`.
    InsufficientBalance(EvmAddress, U256, U256),
    /// A `transferFrom` over the allowance: `(owner, spender, allowance, needed)`.
    InsufficientAllowance(EvmAddress, EvmAddress, U256, U256),
    /// To the zero address.
    ZeroAddress,
}

impl TokenError {
    /// Decodes revert data; anything else (another selector, bad
    /// arguments) is an error.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let (sel, r) = split_revert(data)?;
        let u = |i| r.word(i).map(U256::from_be_bytes);
        if sel == selector("NotMinter(address)") {
            r.expect_words(1)?;
            Ok(Self::NotMinter(r.address(0)?))
        } else if sel == selector("InsufficientBalance(address,uint256,uint256)") {
            r.expect_words(3)?;
            Ok(Self::InsufficientBalance(r.address(0)?, u(1)?, u(2)?))
        } else if sel == selector("InsufficientAllowance(address,address,uint256,uint256)") {
            r.expect_words(4)?;
            Ok(Self::InsufficientAllowance(
                r.address(0)?,
                r.address(1)?,
                u(2)?,
                u(3)?,
            ))
        } else if sel == selector("ZeroAddress()") {
            r.expect_words(0)?;
            Ok(Self::ZeroAddress)
        } else {
            Err(AbiError::Malformed("TestToken error selector"))
        }
    }
}

/// An event of `TestToken`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    /// `Transfer(from, to, value)` (`from` = 0 for a mint).
    Transfer {
        from: EvmAddress,
        to: EvmAddress,
        value: U256,
    },
    /// `Approval(owner, spender, value)`.
    Approval {
        owner: EvmAddress,
        spender: EvmAddress,
        value: U256,
    },
}

impl TokenEvent {
    /// Decodes an ERC-20 event (two indexed addresses, the value as data).
    pub fn decode(e: &Event) -> Result<Self, AbiError> {
        let [sig, a, b] = e.topics.as_slice() else {
            return Err(AbiError::Malformed("ERC-20 event topics"));
        };
        let topics = [*a, *b].concat();
        let t = Reader::new(&topics);
        let d = Reader::new(&e.data);
        d.expect_words(1)?;
        let value = U256::from_be_bytes(d.word(0)?);
        if *sig == event_topic("Transfer(address,address,uint256)") {
            Ok(Self::Transfer {
                from: t.address(0)?,
                to: t.address(1)?,
                value,
            })
        } else if *sig == event_topic("Approval(address,address,uint256)") {
            Ok(Self::Approval {
                owner: t.address(0)?,
                spender: t.address(1)?,
                value,
            })
        } else {
            Err(AbiError::Malformed("ERC-20 event signature"))
        }
    }
}
