//! Shared fixtures of the token and ledger tests: a sandbox chain with the
//! committed `TestToken` (for the ledger also `PoseidonT4`,
//! `TreeInsert64Verifier` and `VeilLedger`) deployed, and accounts to call
//! them from.

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

use veil_evm::ledger::{self, LedgerRevert};

/// Gas (receipt `gasUsed`) of a later deposit and of the 64th (which
/// writes a checkpoint), pinned by `ledger_contract.rs`. Deterministic.
pub const DEPOSIT_GAS: u64 = 114_545;
pub const DEPOSIT_CHECKPOINT_GAS: u64 = 136_783;

/// §8.1 defaults of the embedded ledger.
pub const CHALLENGE_WINDOW: u64 = 20;
pub const MAX_EXPIRY_DELTA: u64 = 10_000;

/// The committed verifier of `tree_insert_64`.
pub fn tree_insert_verifier() -> String {
    veil_evm::verifier_contract_name(veil_proofs::CircuitId::TreeInsert64)
}

/// The `answer` circuit's verifier, which `VeilAudits` calls.
pub fn answer_verifier_name() -> String {
    veil_evm::verifier_contract_name(veil_proofs::CircuitId::Answer)
}

/// A chain with `TestToken`, `PoseidonT3`, `PoseidonT4`, the verifiers of
/// `tree_insert_64`, `access` (one and batched) and `withdraw`, and
/// `VeilLedger` deployed.
pub struct LedgerChain {
    pub c: Chain,
    /// Poseidon, the verifiers and the token.
    pub contracts: ledger::Contracts,
    pub ledger: EvmAddress,
    /// Gas of the ledger's deployment.
    pub deploy_gas: u64,
}

/// What a refused call must leave as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerState {
    pub balances: Vec<U256>,
    pub ledger_balance: U256,
    pub queue_head: [u8; 32],
    pub leaf_count: u64,
    pub pool: u64,
    pub staked: u64,
    pub tree_size: u64,
    pub current_root: [u8; 32],
}

impl LedgerChain {
    pub fn new() -> Self {
        Self::with_token(None)
    }

    /// The ledger over the token deployed from `token_initcode` instead of
    /// `TestToken` (a misbehaving token).
    pub fn with_token(token_initcode: Option<&[u8]>) -> Self {
        Self::with(token_initcode, &tree_insert_verifier())
    }

    /// The ledger over the token deployed from `token_initcode` (else
    /// `TestToken`), with the committed verifier `verifier` as its
    /// `tree_insert_64` verifier (another one: a wrong key).
    pub fn with(token_initcode: Option<&[u8]>, verifier: &str) -> Self {
        let mut c = Chain::new();
        let d = c.deployer;
        if let Some(code) = token_initcode {
            c.token = c.sandbox.deploy(d, code).expect("deploy token").0;
        }
        let base = ledger::Contracts {
            token: c.token,
            ..Default::default()
        };
        Self::over(c, base, verifier)
    }

    /// The dependencies and `VeilLedger` over `base`'s token, auditor and
    /// market, deployed on `c` by its deployer, with the committed
    /// `verifier` as its `tree_insert_64` verifier.
    fn over(mut c: Chain, base: ledger::Contracts, verifier: &str) -> Self {
        let d = c.deployer;
        let dep = ledger::deploy_with(
            &mut c.sandbox,
            d,
            base,
            verifier,
            CHALLENGE_WINDOW,
            MAX_EXPIRY_DELTA,
        )
        .expect("deploy Poseidon, the verifiers and VeilLedger");
        LedgerChain {
            c,
            contracts: dep.contracts,
            ledger: dep.ledger,
            deploy_gas: dep.deploy_gas,
        }
    }

    /// The ledger with `VeilAudits` (epochs of `epoch_blocks`, reveals in
    /// the first `reveal_blocks`) as its auditor, bound to it. Returns the
    /// audits' address too.
    pub fn audited(epoch_blocks: u64, reveal_blocks: u64) -> (Self, EvmAddress) {
        let (l, audits, bound) = Self::audited_unbound(epoch_blocks, reveal_blocks);
        assert_eq!(bound.status, Status::Success, "bind the audits");
        (l, audits)
    }

    /// [`LedgerChain::audited`], returning the outcome of `bind` instead of
    /// requiring it to succeed.
    pub fn audited_unbound(epoch_blocks: u64, reveal_blocks: u64) -> (Self, EvmAddress, Outcome) {
        let mut c = Chain::new();
        let d = c.deployer;
        let answer = artifact(&answer_verifier_name()).bytecode;
        let answer_verifier = c
            .sandbox
            .deploy(d, &answer)
            .expect("deploy AnswerVerifier")
            .0;
        let code = [
            artifact(veil_evm::audits::CONTRACT).bytecode,
            veil_evm::audits::constructor(c.token, answer_verifier, epoch_blocks, reveal_blocks),
        ]
        .concat();
        let audits = c.sandbox.deploy(d, &code).expect("deploy VeilAudits").0;
        let base = ledger::Contracts {
            token: c.token,
            auditor: audits,
            ..Default::default()
        };
        let mut l = Self::over(c, base, &tree_insert_verifier());
        let ledger_at = l.ledger;
        let bound = l.c.tx(d, audits, &veil_evm::audits::bind(ledger_at));
        (l, audits, bound)
    }

    /// The ledger with `BandwidthMarket` as its market — the embedded
    /// ledger's genesis curve and fee (`veil_ledger::trade`), epochs of
    /// `epoch_blocks` — opened by the deployer and bound. Returns the
    /// market's address too.
    pub fn with_market(epoch_blocks: u64) -> (Self, EvmAddress) {
        use veil_evm::market;
        use veil_ledger::trade::{GENESIS_FLOAT, GENESIS_RATIO_PPM, GENESIS_RESERVE, trade_fee};
        let mut c = Chain::new();
        let d = c.deployer;
        let ctor = market::market_constructor(
            c.token,
            GENESIS_FLOAT.get(),
            GENESIS_RATIO_PPM,
            trade_fee().ppm(),
            epoch_blocks,
        );
        let code = [artifact(market::MARKET).bytecode, ctor].concat();
        let m = c
            .sandbox
            .deploy(d, &code)
            .expect("deploy BandwidthMarket")
            .0;
        let base = ledger::Contracts {
            token: c.token,
            market: m,
            ..Default::default()
        };
        let mut l = Self::over(c, base, &tree_insert_verifier());
        l.c.mint(d, GENESIS_RESERVE.get());
        l.c.approve(d, m, U256::MAX);
        l.c.ok(d, m, &market::open(GENESIS_RESERVE.get().into()));
        let ledger_at = l.ledger;
        l.c.ok(d, m, &market::bind(ledger_at));
        (l, m)
    }

    /// `from` calls the ledger (committed).
    pub fn tx(&mut self, from: EvmAddress, data: &[u8]) -> Outcome {
        let l = self.ledger;
        self.c.tx(from, l, data)
    }

    pub fn view(&mut self, data: &[u8]) -> Vec<u8> {
        let l = self.ledger;
        self.c.view(l, data)
    }

    /// `from` commits to registering `reg`'s node key, and the chain moves
    /// to the next block (docs/evm.md §4.2).
    pub fn commit(&mut self, from: EvmAddress, reg: &ledger::Registration) {
        let c = ledger::registration_commitment(from, &reg.node_key);
        let l = self.ledger;
        self.c.ok(from, l, &ledger::commit_registration(c));
        let n = self.c.sandbox.block_number();
        self.c.sandbox.set_block_number(n + 1);
    }

    /// `from` registers `reg`: its commitment, a block, then
    /// `registerNode`.
    pub fn register(&mut self, from: EvmAddress, reg: &ledger::Registration) -> Outcome {
        self.commit(from, reg);
        self.tx(from, &ledger::register_node(reg))
    }

    /// `from` approves the ledger for `value`.
    pub fn approve(&mut self, from: EvmAddress, value: U256) {
        let l = self.ledger;
        self.c.approve(from, l, value);
    }

    pub fn queue_head(&mut self) -> [u8; 32] {
        ledger::decode_word(&self.view(&ledger::view::queue_head())).expect("word")
    }

    pub fn u64_view(&mut self, data: &[u8]) -> u64 {
        ledger::decode_u64(&self.view(data)).expect("uint64")
    }

    pub fn state(&mut self, accounts: &[EvmAddress]) -> LedgerState {
        let l = self.ledger;
        LedgerState {
            balances: accounts.iter().map(|a| self.c.balance(*a)).collect(),
            ledger_balance: self.c.balance(l),
            queue_head: self.queue_head(),
            leaf_count: self.u64_view(&ledger::view::leaf_count()),
            pool: self.u64_view(&ledger::view::pool()),
            staked: self.u64_view(&ledger::view::staked()),
            tree_size: self.u64_view(&ledger::view::tree_size()),
            current_root: ledger::decode_word(&self.view(&ledger::view::current_root()))
                .expect("word"),
        }
    }
}

/// The ledger's custom error of a reverted call, which must have emitted
/// nothing.
pub fn refusal(out: &Outcome) -> LedgerRevert {
    assert_eq!(
        out.status,
        Status::Revert,
        "expected a refusal, got {:?}",
        out.status
    );
    assert!(out.logs.is_empty());
    LedgerRevert::decode(&out.output).expect("a VeilLedger error")
}

// ------------------------------------------------------ batched appends

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_evm::ledger::BatchAppend;
use veil_primitives::Fr;
use veil_primitives::merkle::Frontier;
use veil_proofs::{CircuitId, ParamStore, Prover};

/// The prover of `tree_insert_64` (pinned key, cached), loaded once per
/// test binary.
pub fn tree_insert_prover() -> &'static Prover {
    static PROVER: OnceLock<Prover> = OnceLock::new();
    PROVER.get_or_init(|| {
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store");
        Prover::from_store(&store, &[CircuitId::TreeInsert64], None).expect("tree_insert_64 key")
    })
}

/// The contract's tree mirrored natively: the ledger's own `Frontier` of
/// the appended leaves, and the leaves queued after them.
#[derive(Clone, Default)]
pub struct Mirror {
    pub tree: Frontier,
    pub queued: Vec<Fr>,
}

impl Mirror {
    /// Records a queued leaf (from its `Deposited` event).
    pub fn queue(&mut self, cm: &[u8; 32]) {
        self.queued
            .push(veil_primitives::field::fr_from_bytes(cm).expect("canonical leaf"));
    }

    /// Proves the next batch (seeded: the proof, and so the calldata and
    /// its gas, are deterministic).
    pub fn prove_next(&self, seed: u64) -> (BatchAppend, Frontier) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        veil_evm::ledger::prove_next_batch(tree_insert_prover(), &self.tree, &self.queued, &mut rng)
            .expect("prove the next batch")
    }

    /// The contract accepted `batch`: move its leaves into the tree.
    pub fn appended(&mut self, after: Frontier) {
        self.tree = after;
        self.queued.drain(..ledger::BATCH);
    }
}

impl LedgerChain {
    /// Proves and appends the next batch of `m`, which must be accepted.
    pub fn append_next(&mut self, m: &mut Mirror, from: EvmAddress) -> Outcome {
        let (batch, after) = m.prove_next(m.tree.size());
        let out = self.tx(from, &batch.calldata());
        assert_eq!(
            out.status,
            Status::Success,
            "append refused: 0x{}",
            hex::encode(&out.output)
        );
        m.appended(after);
        out
    }

    pub fn is_known_root(&mut self, root: [u8; 32]) -> bool {
        veil_evm::abi::decode_bool(&self.view(&ledger::view::is_known_root(root))).expect("bool")
    }
}
