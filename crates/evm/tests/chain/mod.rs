//! Shared fixtures of the token tests: a sandbox chain with the committed
//! `TestToken` deployed, and accounts to call them from.

#![allow(dead_code)]

use revm::primitives::U256;
use veil_evm::artifact::{Artifact, contracts_dir};
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, Status};
use veil_evm::token;

pub fn eth() -> U256 {
    U256::from(10u64).pow(U256::from(21u64))
}

pub fn artifact(name: &str) -> Artifact {
    Artifact::load(&contracts_dir().join("artifacts"), name).expect("committed artifact")
}

/// A chain with `TestToken` deployed by `deployer`.
pub struct Chain {
    pub sandbox: Sandbox,
    pub deployer: EvmAddress,
    pub token: EvmAddress,
}

impl Chain {
    pub fn new() -> Self {
        let mut sandbox = Sandbox::new();
        let deployer = sandbox.funded_account(eth());
        let (token, _) = sandbox
            .deploy(deployer, &artifact(token::CONTRACT).bytecode)
            .expect("deploy TestToken");
        Chain {
            sandbox,
            deployer,
            token,
        }
    }

    pub fn account(&mut self) -> EvmAddress {
        self.sandbox.funded_account(eth())
    }

    /// A committed transaction.
    pub fn tx(&mut self, from: EvmAddress, to: EvmAddress, data: &[u8]) -> Outcome {
        self.sandbox
            .transact(from, to, data, DEFAULT_GAS_LIMIT)
            .expect("transaction runs")
    }

    /// A committed transaction that must succeed.
    pub fn ok(&mut self, from: EvmAddress, to: EvmAddress, data: &[u8]) -> Outcome {
        let out = self.tx(from, to, data);
        assert_eq!(
            out.status,
            Status::Success,
            "reverted: 0x{}",
            hex::encode(&out.output)
        );
        out
    }

    /// A read-only call that must succeed; its return data.
    pub fn view(&mut self, to: EvmAddress, data: &[u8]) -> Vec<u8> {
        let out = self
            .sandbox
            .call(self.deployer, to, data, DEFAULT_GAS_LIMIT)
            .expect("call runs");
        assert_eq!(out.status, Status::Success, "view reverted");
        out.output
    }

    pub fn balance(&mut self, owner: EvmAddress) -> U256 {
        let out = self.view(self.token, &token::balance_of(owner));
        token::decode_u256(&out).expect("uint256")
    }

    pub fn allowance(&mut self, owner: EvmAddress, spender: EvmAddress) -> U256 {
        let out = self.view(self.token, &token::allowance(owner, spender));
        token::decode_u256(&out).expect("uint256")
    }

    pub fn supply(&mut self) -> U256 {
        let out = self.view(self.token, &token::total_supply());
        token::decode_u256(&out).expect("uint256")
    }

    /// Mints `value` to `to` (as the deployer).
    pub fn mint(&mut self, to: EvmAddress, value: u64) {
        let (d, t) = (self.deployer, self.token);
        self.ok(d, t, &token::mint(to, U256::from(value)));
    }

    /// `owner` approves `spender` for `value`.
    pub fn approve(&mut self, owner: EvmAddress, spender: EvmAddress, value: U256) {
        let t = self.token;
        self.ok(owner, t, &token::approve(spender, value));
    }
}

