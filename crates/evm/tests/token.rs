//! `TestToken` (docs/evm.md §4.1) in revm: every ERC-20 function, its
//! events, every refusal with its custom error and nothing changed, and
//! the gas of a transfer.

mod chain;

use chain::Chain;
use revm::primitives::U256;
use veil_evm::abi::decode_bool;
use veil_evm::sandbox::{EvmAddress, Outcome, Status};
use veil_evm::token::{self, TokenError, TokenEvent};

/// Gas of `transfer` to an account that already holds tokens, and to one
/// that holds none (a zero slot written): deterministic (docs/evm.md §4.4).
const TRANSFER_GAS: u64 = 34_041;
const TRANSFER_TO_NEW_GAS: u64 = 51_141;

fn refused(out: &Outcome) -> TokenError {
    assert_eq!(out.status, Status::Revert, "expected a revert");
    assert!(out.logs.is_empty());
    TokenError::decode(&out.output).expect("a TestToken error")
}

fn events(out: &Outcome, token: EvmAddress) -> Vec<TokenEvent> {
    out.logs
        .iter()
        .map(|e| {
            assert_eq!(e.address, token);
            TokenEvent::decode(e).expect("ERC-20 event")
        })
        .collect()
}

/// Balances of `who` and the total supply.
fn snapshot(c: &mut Chain, who: &[EvmAddress]) -> (Vec<U256>, U256) {
    (who.iter().map(|a| c.balance(*a)).collect(), c.supply())
}

#[test]
fn mint_by_the_deployer_creates_tokens() {
    let mut c = Chain::new();
    let alice = c.account();
    let (d, t) = (c.deployer, c.token);
    let out = c.ok(d, t, &token::mint(alice, U256::from(500)));
    assert_eq!(
        events(&out, t),
        vec![TokenEvent::Transfer {
            from: EvmAddress::ZERO,
            to: alice,
            value: U256::from(500)
        }]
    );
    assert_eq!(c.balance(alice), U256::from(500));
    assert_eq!(c.supply(), U256::from(500));
}

#[test]
fn mint_by_anyone_else_is_refused_and_changes_nothing() {
    let mut c = Chain::new();
    let alice = c.account();
    c.mint(alice, 100);
    let t = c.token;
    let before = snapshot(&mut c, &[alice]);
    let out = c.tx(alice, t, &token::mint(alice, U256::from(1)));
    assert_eq!(refused(&out), TokenError::NotMinter(alice));
    assert_eq!(snapshot(&mut c, &[alice]), before);
}

#[test]
fn mint_past_the_supply_cap_reverts() {
    let mut c = Chain::new();
    let alice = c.account();
    let (d, t) = (c.deployer, c.token);
    c.ok(d, t, &token::mint(alice, U256::MAX));
    let out = c.tx(d, t, &token::mint(alice, U256::from(1)));
    assert_eq!(
        out.status,
        Status::Revert,
        "checked arithmetic: Panic(0x11)"
    );
    assert_eq!(c.supply(), U256::MAX);
    let out = c.tx(d, t, &token::mint(EvmAddress::ZERO, U256::from(1)));
    assert_eq!(refused(&out), TokenError::ZeroAddress);
}

#[test]
fn transfer_moves_tokens_and_emits() {
    let mut c = Chain::new();
    let (alice, bob) = (c.account(), c.account());
    c.mint(alice, 100);
    let t = c.token;
    let out = c.ok(alice, t, &token::transfer(bob, U256::from(30)));
    assert_eq!(decode_bool(&out.output), Ok(true));
    assert_eq!(
        events(&out, t),
        vec![TokenEvent::Transfer {
            from: alice,
            to: bob,
            value: U256::from(30)
        }]
    );
    assert_eq!(c.balance(alice), U256::from(70));
    assert_eq!(c.balance(bob), U256::from(30));
    assert_eq!(c.supply(), U256::from(100));
    // The whole balance, and zero, are transfers too.
    c.ok(alice, t, &token::transfer(bob, U256::from(70)));
    c.ok(alice, t, &token::transfer(bob, U256::ZERO));
    assert_eq!(c.balance(alice), U256::ZERO);
    assert_eq!(c.balance(bob), U256::from(100));
}

#[test]
fn transfer_beyond_the_balance_or_to_zero_is_refused_and_changes_nothing() {
    let mut c = Chain::new();
    let (alice, bob) = (c.account(), c.account());
    c.mint(alice, 100);
    let t = c.token;
    let before = snapshot(&mut c, &[alice, bob]);
    let out = c.tx(alice, t, &token::transfer(bob, U256::from(101)));
    assert_eq!(
        refused(&out),
        TokenError::InsufficientBalance(alice, U256::from(100), U256::from(101))
    );
    let out = c.tx(alice, t, &token::transfer(EvmAddress::ZERO, U256::from(1)));
    assert_eq!(refused(&out), TokenError::ZeroAddress);
    assert_eq!(snapshot(&mut c, &[alice, bob]), before);
}

#[test]
fn approve_and_transfer_from_spend_the_allowance() {
    let mut c = Chain::new();
    let (alice, bob, carol) = (c.account(), c.account(), c.account());
    c.mint(alice, 100);
    let t = c.token;
    let out = c.ok(alice, t, &token::approve(bob, U256::from(40)));
    assert_eq!(decode_bool(&out.output), Ok(true));
    assert_eq!(
        events(&out, t),
        vec![TokenEvent::Approval {
            owner: alice,
            spender: bob,
            value: U256::from(40)
        }]
    );
    assert_eq!(c.allowance(alice, bob), U256::from(40));
    let out = c.ok(bob, t, &token::transfer_from(alice, carol, U256::from(25)));
    assert_eq!(decode_bool(&out.output), Ok(true));
    assert_eq!(
        events(&out, t),
        vec![TokenEvent::Transfer {
            from: alice,
            to: carol,
            value: U256::from(25)
        }]
    );
    assert_eq!(c.allowance(alice, bob), U256::from(15));
    assert_eq!(c.balance(alice), U256::from(75));
    assert_eq!(c.balance(carol), U256::from(25));
    // Approve overwrites.
    c.approve(alice, bob, U256::from(3));
    assert_eq!(c.allowance(alice, bob), U256::from(3));
}

#[test]
fn an_unlimited_allowance_is_not_spent() {
    let mut c = Chain::new();
    let (alice, bob) = (c.account(), c.account());
    c.mint(alice, 100);
    let t = c.token;
    c.approve(alice, bob, U256::MAX);
    c.ok(bob, t, &token::transfer_from(alice, bob, U256::from(60)));
    assert_eq!(c.allowance(alice, bob), U256::MAX);
    assert_eq!(c.balance(bob), U256::from(60));
}

#[test]
fn transfer_from_without_allowance_or_balance_is_refused_and_changes_nothing() {
    let mut c = Chain::new();
    let (alice, bob, carol) = (c.account(), c.account(), c.account());
    c.mint(alice, 100);
    let t = c.token;
    let before = snapshot(&mut c, &[alice, bob, carol]);
    // No allowance at all; then one too small; then enough allowance but
    // not enough balance; then someone else's allowance.
    let out = c.tx(bob, t, &token::transfer_from(alice, carol, U256::from(1)));
    assert_eq!(
        refused(&out),
        TokenError::InsufficientAllowance(alice, bob, U256::ZERO, U256::from(1))
    );
    c.approve(alice, bob, U256::from(10));
    let out = c.tx(bob, t, &token::transfer_from(alice, carol, U256::from(11)));
    assert_eq!(
        refused(&out),
        TokenError::InsufficientAllowance(alice, bob, U256::from(10), U256::from(11))
    );
    c.approve(alice, bob, U256::from(1_000));
    let out = c.tx(bob, t, &token::transfer_from(alice, carol, U256::from(101)));
    assert_eq!(
        refused(&out),
        TokenError::InsufficientBalance(alice, U256::from(100), U256::from(101))
    );
    let out = c.tx(carol, t, &token::transfer_from(alice, carol, U256::from(1)));
    assert_eq!(
        refused(&out),
        TokenError::InsufficientAllowance(alice, carol, U256::ZERO, U256::from(1))
    );
    assert_eq!(snapshot(&mut c, &[alice, bob, carol]), before);
    assert_eq!(c.allowance(alice, bob), U256::from(1_000));
}

#[test]
fn transfer_gas_is_exact() {
    let mut c = Chain::new();
    let (alice, bob, carol) = (c.account(), c.account(), c.account());
    c.mint(alice, 100);
    c.mint(bob, 1);
    let t = c.token;
    let to_holder = c.ok(alice, t, &token::transfer(bob, U256::from(1)));
    let to_new = c.ok(alice, t, &token::transfer(carol, U256::from(1)));
    assert_eq!(
        (to_holder.gas_used, to_new.gas_used),
        (TRANSFER_GAS, TRANSFER_TO_NEW_GAS)
    );
}
