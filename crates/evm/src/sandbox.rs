//! An in-memory EVM chain (revm, pinned to `=43.0.3`, spec Cancun) to deploy
//! and call contracts in-process: tests today, `veil bench` later.
//!
//! A thin adapter: every revm type stays in this module (its API changes
//! between majors; `docs/evm.md`, "revm"). Gas is deterministic, so callers
//! may assert it exactly.

use revm::context::result::{ExecutionResult, Output};
use revm::context::{Context, TxEnv};
use revm::context_interface::ContextTr;
use revm::context_interface::cfg::gas::calculate_initial_tx_gas;
use revm::database::InMemoryDB;
use revm::handler::{MainBuilder, MainContext, MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, U256};
use revm::state::AccountInfo;
use revm::{Database, ExecuteCommitEvm, ExecuteEvm};

/// The hard fork the sandbox runs (the contracts are compiled for it:
/// `evmVersion: "cancun"` in `contracts/build.js`).
pub const SPEC: SpecId = SpecId::CANCUN;

/// The gas limit of a transaction unless the caller sets one.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// An address on the sandbox chain (20 bytes).
pub type EvmAddress = Address;

/// How a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Returned normally.
    Success,
    /// `REVERT`: state rolled back, unused gas returned.
    Revert,
    /// Exceptional halt (out of gas, invalid opcode, …): all gas spent.
    Halt,
}

/// The result of a call or transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Return data (or revert data; empty on a halt).
    pub output: Vec<u8>,
    /// Gas the transaction is charged (receipt `gasUsed`, after refunds).
    pub gas_used: u64,
    /// Of which intrinsic: 21,000 (53,000 for a create) plus calldata.
    pub intrinsic_gas: u64,
    /// The contract created by a deployment.
    pub created: Option<EvmAddress>,
    /// Events emitted, in order (empty unless it succeeded).
    pub logs: Vec<Event>,
}

/// One event (`LOG0`–`LOG4`) of a successful transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The contract that emitted it.
    pub address: EvmAddress,
    /// Its topics (for a Solidity event, the first is the signature hash).
    pub topics: Vec<[u8; 32]>,
    /// Its non-indexed data, ABI-encoded.
    pub data: Vec<u8>,
}

impl Outcome {
    /// Gas spent executing code: `gas_used − intrinsic_gas`.
    pub fn execution_gas(&self) -> u64 {
        self.gas_used.saturating_sub(self.intrinsic_gas)
    }
}

/// The sandbox refused a transaction (it never ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SandboxError {
    /// revm rejected the transaction (nonce, balance, gas limit, …).
    #[error("transaction rejected: {0}")]
    Rejected(String),
    /// A deployment did not create a contract.
    #[error("deployment failed: {status:?}, gas {gas_used}, output 0x{output}")]
    DeployFailed {
        /// How it ended.
        status: Status,
        /// Gas charged.
        gas_used: u64,
        /// Revert data, hex.
        output: String,
    },
}

/// An in-memory chain with funded accounts.
pub struct Sandbox {
    evm: MainnetEvm<MainnetContext<InMemoryDB>>,
    next_account: u64,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// An empty chain at [`SPEC`].
    pub fn new() -> Self {
        let evm = Context::mainnet()
            .with_db(InMemoryDB::default())
            .modify_cfg_chained(|c| c.set_spec_and_mainnet_gas_params(SPEC))
            .build_mainnet();
        Sandbox {
            evm,
            next_account: 1,
        }
    }

    /// A fresh account holding `balance` wei (addresses `0x…0001`, `0x…0002`, …
    /// offset so they never collide with precompiles).
    pub fn funded_account(&mut self, balance: U256) -> EvmAddress {
        let mut bytes = [0u8; 20];
        bytes[0] = 0xee;
        bytes[12..].copy_from_slice(&self.next_account.to_be_bytes());
        self.next_account += 1;
        let address = Address::from(bytes);
        self.evm
            .ctx
            .db_mut()
            .insert_account_info(address, AccountInfo::from_balance(balance));
        address
    }

    /// The account's nonce as committed on the chain.
    pub fn nonce(&mut self, address: EvmAddress) -> u64 {
        // The in-memory database cannot fail.
        match self.evm.ctx.db_mut().basic(address) {
            Ok(Some(info)) => info.nonce,
            _ => 0,
        }
    }

    /// The runtime code at `address` (empty if none).
    pub fn code(&mut self, address: EvmAddress) -> Vec<u8> {
        let db = self.evm.ctx.db_mut();
        match db.basic(address) {
            Ok(Some(info)) => match info.code {
                Some(code) => code.original_bytes().to_vec(),
                None => db
                    .code_by_hash(info.code_hash)
                    .map(|c| c.original_bytes().to_vec())
                    .unwrap_or_default(),
            },
            _ => Vec::new(),
        }
    }

    /// Storage slot `slot` of `address`.
    pub fn storage(&mut self, address: EvmAddress, slot: U256) -> U256 {
        // The in-memory database cannot fail (its error type is empty).
        self.evm
            .ctx
            .db_mut()
            .storage(address, slot)
            .unwrap_or_else(|e| match e {})
    }

    /// Overwrites storage slot `slot` of `address`: for tests of states
    /// too costly to reach by transactions (a full leaf queue).
    pub fn set_storage(&mut self, address: EvmAddress, slot: U256, value: U256) {
        self.evm
            .ctx
            .db_mut()
            .insert_account_storage(address, slot, value)
            .unwrap_or_else(|e| match e {})
    }

    /// The height of the block every later transaction runs in (0 at
    /// first): the ledger's clock (docs/protocol.md §8.1).
    pub fn block_number(&self) -> u64 {
        self.evm.ctx.block.number.saturating_to()
    }

    /// Moves the chain to height `n` (tests of expiries and windows; the
    /// sandbox has no block production of its own).
    pub fn set_block_number(&mut self, n: u64) {
        self.evm.ctx.block.number = U256::from(n);
    }

    /// Sets the `prevrandao` of the block every later transaction runs in
    /// (the beacon chain's randomness; docs/market.md §5.1's seed).
    pub fn set_prevrandao(&mut self, value: [u8; 32]) {
        self.evm.ctx.block.prevrandao = Some(revm::primitives::B256::from(value));
    }

    /// Deploys `initcode` (creation bytecode ‖ ABI-encoded constructor
    /// arguments) from `from`, committed. Returns the new contract's address
    /// and the outcome.
    pub fn deploy(
        &mut self,
        from: EvmAddress,
        initcode: &[u8],
    ) -> Result<(EvmAddress, Outcome), SandboxError> {
        let out = self.run(from, TxKind::Create, initcode, DEFAULT_GAS_LIMIT, true)?;
        match (out.status, out.created) {
            (Status::Success, Some(address)) => Ok((address, out)),
            _ => Err(SandboxError::DeployFailed {
                status: out.status,
                gas_used: out.gas_used,
                output: hex::encode(&out.output),
            }),
        }
    }

    /// Executes a call without committing anything (`eth_call`-style, but
    /// charged and measured like a transaction).
    pub fn call(
        &mut self,
        from: EvmAddress,
        to: EvmAddress,
        data: &[u8],
        gas_limit: u64,
    ) -> Result<Outcome, SandboxError> {
        self.run(from, TxKind::Call(to), data, gas_limit, false)
    }

    /// Executes a transaction and commits its effects (and the nonce).
    pub fn transact(
        &mut self,
        from: EvmAddress,
        to: EvmAddress,
        data: &[u8],
        gas_limit: u64,
    ) -> Result<Outcome, SandboxError> {
        self.run(from, TxKind::Call(to), data, gas_limit, true)
    }

    fn run(
        &mut self,
        from: EvmAddress,
        kind: TxKind,
        data: &[u8],
        gas_limit: u64,
        commit: bool,
    ) -> Result<Outcome, SandboxError> {
        let is_create = kind.is_create();
        let tx = TxEnv::builder()
            .caller(from)
            .kind(kind)
            .data(Bytes::copy_from_slice(data))
            .gas_limit(gas_limit)
            .gas_price(0)
            .nonce(self.nonce(from))
            .build()
            .map_err(|e| SandboxError::Rejected(format!("{e:?}")))?;
        let result = if commit {
            self.evm.transact_commit(tx)
        } else {
            self.evm.transact(tx).map(|r| r.result)
        }
        .map_err(|e| SandboxError::Rejected(e.to_string()))?;
        let intrinsic_gas =
            calculate_initial_tx_gas(SPEC, data, is_create, 0, 0, 0, None).initial_regular_gas;
        Ok(outcome(result, intrinsic_gas))
    }
}

fn outcome(result: ExecutionResult, intrinsic_gas: u64) -> Outcome {
    let gas_used = result.tx_gas_used();
    let (status, output, created, logs) = match result {
        ExecutionResult::Success { output, logs, .. } => {
            let logs = logs
                .into_iter()
                .map(|l| Event {
                    address: l.address,
                    topics: l.data.topics().iter().map(|t| t.0).collect(),
                    data: l.data.data.to_vec(),
                })
                .collect();
            match output {
                Output::Call(b) => (Status::Success, b.to_vec(), None, logs),
                Output::Create(b, addr) => (Status::Success, b.to_vec(), addr, logs),
            }
        }
        ExecutionResult::Revert { output, .. } => (Status::Revert, output.to_vec(), None, vec![]),
        ExecutionResult::Halt { .. } => (Status::Halt, Vec::new(), None, vec![]),
    };
    Outcome {
        status,
        output,
        gas_used,
        intrinsic_gas,
        created,
        logs,
    }
}
