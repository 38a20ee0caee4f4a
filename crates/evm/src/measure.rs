//! Gas of veil's contracts, measured by executing them in the sandbox (the
//! embedded artifacts, real proofs): what `veil bench` reports. Gas is
//! deterministic for given code and calldata; nothing here is estimated.

use ark_bn254::Fr;
use rand::{CryptoRng, RngCore};
use revm::primitives::U256;
use veil_primitives::merkle::{Frontier, Tree};
use veil_proofs::{CircuitId, Proof, Prover};

use crate::abi::{Word, decode_bool, encode_call, selector, word_u64};
use crate::artifact::{Artifact, ArtifactError};
use veil_circuits::access::AccessPublic;
use veil_circuits::settle::{SettlePublic, Slot};
use veil_primitives::value::Value;

use crate::escrow::{self, AccessWords, EscrowTerms, WithdrawWords};
use crate::ledger::{self, BATCH, BatchError, DeployError};
use crate::poseidon::{self, UnsupportedWidth};
use crate::sample;
use crate::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, SandboxError, Status};
use crate::settle::{SettleCall, SettleCallError};
use crate::solidity::{ProofWords, fr_word, verify_proof_calldata};
use crate::token;
use crate::verifier_contract_name;

/// Gas of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gas {
    /// What the transaction is charged (receipt `gasUsed`).
    pub tx: u64,
    /// Of which spent executing code (no 21,000 base, no calldata).
    pub execution: u64,
}

impl From<&Outcome> for Gas {
    fn from(o: &Outcome) -> Self {
        Gas {
            tx: o.gas_used,
            execution: o.execution_gas(),
        }
    }
}

/// A measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The contract is not in this build.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The sandbox refused the transaction.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// No such Poseidon width.
    #[error(transparent)]
    Width(#[from] UnsupportedWidth),
    /// The ledger's contracts could not be deployed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The batch could not be proved.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An access, withdraw or settle proof could not be made.
    #[error(transparent)]
    Proof(#[from] veil_proofs::ProofError),
    /// The settle call does not match its statement (a bug).
    #[error(transparent)]
    SettleCall(#[from] SettleCallError),
    /// No `settle_K` circuit for this batch size, or more sessions than
    /// `K` or than the sample's notes.
    #[error("cannot settle {sessions} sessions with settle_{k}")]
    SettleSize {
        /// The batch size asked for.
        k: usize,
        /// The sessions asked for.
        sessions: usize,
    },
    /// The sample state is inconsistent (a bug: its notes are fixed).
    #[error("the sample ledger state is inconsistent")]
    Sample,
    /// The call did not return what it must (a valid proof refused, a hash
    /// reverted): the gas of a failure is not a measurement.
    #[error("{what}: {status:?}, output 0x{output}")]
    Unexpected {
        /// The contract.
        what: String,
        /// How it ended.
        status: Status,
        /// Its output, hex.
        output: String,
    },
}

fn deployed(name: &str) -> Result<(Sandbox, EvmAddress, EvmAddress), MeasureError> {
    let art = Artifact::embedded(name)?;
    let mut sandbox = Sandbox::new();
    let caller = sandbox.funded_account(U256::from(10u64).pow(U256::from(21u64)));
    let (at, _) = sandbox.deploy(caller, &art.bytecode)?;
    Ok((sandbox, caller, at))
}

/// `verifyProof` of `id`'s verifier on a proof that must verify.
pub fn verify_gas(id: CircuitId, proof: &Proof, statement: &[Fr]) -> Result<Gas, MeasureError> {
    let name = verifier_contract_name(id);
    let (mut sandbox, caller, at) = deployed(&name)?;
    let data = verify_proof_calldata(&ProofWords::from_proof(proof), statement);
    let out = sandbox.transact(caller, at, &data, DEFAULT_GAS_LIMIT)?;
    if out.status != Status::Success || decode_bool(&out.output) != Ok(true) {
        return Err(unexpected(name, &out));
    }
    Ok(Gas::from(&out))
}

/// `PoseidonT{t}.hash([1, 2, …])`.
pub fn poseidon_gas(t: usize) -> Result<Gas, MeasureError> {
    if !poseidon::WIDTHS.contains(&t) {
        return Err(UnsupportedWidth(t).into());
    }
    let name = poseidon::contract_name(t);
    let (mut sandbox, caller, at) = deployed(&name)?;
    let words: Vec<Word> = (1..t as u64).map(word_u64).collect();
    let data = encode_call(selector(&poseidon::hash_signature(t)), &words);
    let out = sandbox.transact(caller, at, &data, DEFAULT_GAS_LIMIT)?;
    if out.status != Status::Success {
        return Err(unexpected(name, &out));
    }
    Ok(Gas::from(&out))
}

/// Gas of the ledger contract's operations (docs/evm.md §4.5, §5.4), on
/// one fresh chain holding the sample state (`crate::sample`): 64 deposits,
/// the append of their batch, a node's registration, one escrow opened
/// alone and a batch opened together, a withdrawal and a reclaim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerGas {
    /// A deposit after the first (warm counters), not at a checkpoint.
    pub deposit: Gas,
    /// `appendBatch` of the 64 leaves.
    pub append_batch: Gas,
    /// What a deposit costs all in, in steady state: the mean over a
    /// batch of 64 deposits (63 like [`LedgerGas::deposit`], one writing
    /// the checkpoint) plus 1/64 of its append. The ledger's very first
    /// deposit, which also initialises its counters, is counted as a
    /// later one.
    pub deposit_all_in: u64,
    /// `openEscrow` of one token.
    pub open: Gas,
    /// `openEscrows` of [`LedgerGas::open_batch_size`] tokens.
    pub open_batch: Gas,
    pub open_batch_size: usize,
    /// `withdraw`.
    pub withdraw: Gas,
    /// `reclaim` after the window.
    pub reclaim: Gas,
}

impl LedgerGas {
    /// `openEscrows` per token.
    pub fn open_per_session_batched(&self) -> u64 {
        self.open_batch
            .tx
            .div_ceil(self.open_batch_size.max(1) as u64)
    }
}

/// Deploys the test token and the ledger and runs the sample state's
/// operations with real proofs (`prover` must hold the `tree_insert_64`,
/// `access` and `withdraw` keys), measuring each transaction. `open_batch`
/// tokens (at most 62) are opened together.
pub fn ledger_gas(
    prover: &Prover,
    open_batch: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<LedgerGas, MeasureError> {
    let mut run = Run::new()?;
    let deposits = run.deposit_sample()?;
    let tree = sample::tree();
    let append_batch = run.append_and_register(prover, &tree, rng)?;
    let open = run.open(prover, &tree, &[0], rng)?;
    let batch_notes: Vec<usize> = (1..=open_batch.min(BATCH - 2)).collect();
    let open_batch_gas = run.open(prover, &tree, &batch_notes, rng)?;
    let withdraw = run.withdraw(prover, &tree, batch_notes.len() + 1, rng)?;
    run.sandbox
        .set_block_number(sample::EXPIRY + CHALLENGE_WINDOW + 1);
    let reclaim = run.reclaim(&tree)?;
    let steady_batch = deposits[1].tx + deposits[1..].iter().map(|g| g.tx).sum::<u64>();
    Ok(LedgerGas {
        deposit: deposits[1],
        append_batch,
        deposit_all_in: (steady_batch + append_batch.tx).div_ceil(BATCH as u64),
        open,
        open_batch: open_batch_gas,
        open_batch_size: batch_notes.len(),
        withdraw,
        reclaim,
    })
}

/// Gas of one `settle` (docs/evm.md §7.4) of `sessions` escrows with a
/// `settle_k` proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleGas {
    pub settle: Gas,
    pub k: usize,
    pub sessions: usize,
}

impl SettleGas {
    /// Receipt gas per session settled.
    pub fn per_session(&self) -> u64 {
        self.settle.tx.div_ceil(self.sessions.max(1) as u64)
    }
}

/// The sample state (64 deposits appended, the node registered by the
/// sender, which is therefore its operator), then escrows of 300 opened
/// from notes `0..sessions` in one `openEscrows`, then one `settle` of all
/// of them with a real `settle_k` proof (each session's receipt for
/// `10 + i` KiB, so `T = Σ 3·(10 + i)` and every refund is positive).
/// `prover` must hold the `tree_insert_64`, `access` and `settle_k` keys.
pub fn settle_gas(
    prover: &Prover,
    k: usize,
    sessions: usize,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<SettleGas, MeasureError> {
    let size = MeasureError::SettleSize { k, sessions };
    if !crate::settle::BATCH_SIZES.contains(&(k as u64)) || sessions == 0 || sessions > k {
        return Err(size);
    }
    let mut run = Run::new()?;
    run.deposit_sample()?;
    let tree = sample::tree();
    run.append_and_register(prover, &tree, rng)?;
    let notes: Vec<usize> = (0..sessions).collect();
    let (_, statements) = run.open_tokens(prover, &tree, &notes, rng)?;
    let mut slots = Vec::with_capacity(k);
    for (i, st) in statements.iter().enumerate() {
        slots.push(sample::settle_slot(st, i, 10 + i as u64).ok_or(MeasureError::Sample)?);
    }
    slots.resize(k, Slot::padding());
    let node = statements.first().ok_or(MeasureError::Sample)?.node_id;
    let public = SettlePublic::for_slots(node, Value(sample::PRICE), &slots);
    let proof = match k {
        1 => prover.prove_settle::<1>(&public, slots, rng)?,
        8 => prover.prove_settle::<8>(&public, slots, rng)?,
        64 => prover.prove_settle::<64>(&public, slots, rng)?,
        _ => return Err(size),
    };
    let escrows: Vec<_> = statements
        .iter()
        .map(|st| {
            (
                fr_word(&st.nullifier.inner()),
                EscrowTerms::of_token(st, sample::PRICE),
            )
        })
        .collect();
    let call = SettleCall::new(&public, &escrows, &proof.proof)?;
    Ok(SettleGas {
        settle: run.send("settle", &call.calldata())?,
        k,
        sessions,
    })
}

/// The sample node.
const NODE: u8 = 1;
/// The measured ledger's challenge window and expiry bound (§8.1 defaults).
const CHALLENGE_WINDOW: u64 = 20;
const MAX_EXPIRY_DELTA: u64 = 10_000;

/// A chain with the ledger deployed and a funded, approving user.
struct Run {
    sandbox: Sandbox,
    ledger: EvmAddress,
    user: EvmAddress,
}

impl Run {
    fn new() -> Result<Self, MeasureError> {
        let mut sandbox = Sandbox::new();
        let eth = U256::from(10u64).pow(U256::from(21u64));
        let deployer = sandbox.funded_account(eth);
        let token_art = Artifact::embedded(token::CONTRACT)?;
        let (token_at, _) = sandbox.deploy(deployer, &token_art.bytecode)?;
        let verifier = verifier_contract_name(CircuitId::TreeInsert64);
        let d = ledger::deploy(
            &mut sandbox,
            deployer,
            token_at,
            &verifier,
            CHALLENGE_WINDOW,
            MAX_EXPIRY_DELTA,
        )?;
        let user = sandbox.funded_account(eth);
        let setup = [
            (deployer, token::mint(user, U256::from(u64::MAX))),
            (user, token::approve(d.ledger, U256::MAX)),
        ];
        for (from, data) in setup {
            let out = sandbox.transact(from, token_at, &data, DEFAULT_GAS_LIMIT)?;
            succeeded(token::CONTRACT, out)?;
        }
        Ok(Run {
            sandbox,
            ledger: d.ledger,
            user,
        })
    }

    /// Sends `data` to the ledger from the user; it must succeed.
    fn send(&mut self, what: &str, data: &[u8]) -> Result<Gas, MeasureError> {
        let out = self
            .sandbox
            .transact(self.user, self.ledger, data, DEFAULT_GAS_LIMIT)?;
        Ok(Gas::from(&succeeded(
            &format!("{} {what}", ledger::CONTRACT),
            out,
        )?))
    }

    /// The 64 sample deposits, each measured.
    fn deposit_sample(&mut self) -> Result<Vec<Gas>, MeasureError> {
        sample::deposit_addrs()
            .into_iter()
            .map(|a| self.send("deposit", &ledger::deposit(a, word_u64(sample::NOTE_VALUE))))
            .collect()
    }

    /// The append of the sample's batch of 64 (measured), then the sample
    /// node's registration by the user.
    fn append_and_register(
        &mut self,
        prover: &Prover,
        tree: &Tree,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Gas, MeasureError> {
        let queued: Vec<Fr> = (0..BATCH as u64)
            .filter_map(|i| tree.leaf(i).map(|c| c.inner()))
            .collect();
        let (batch, _) = ledger::prove_next_batch(prover, &Frontier::new(), &queued, rng)?;
        let append_batch = self.send("appendBatch", &batch.calldata())?;
        let reg = sample::registration(NODE).ok_or(MeasureError::Sample)?;
        let commitment = ledger::registration_commitment(self.user, &reg.node_key);
        self.send(
            "commitRegistration",
            &ledger::commit_registration(commitment),
        )?;
        let height = self.sandbox.block_number();
        self.sandbox.set_block_number(height + 1);
        self.send("registerNode", &ledger::register_node(&reg))?;
        Ok(append_batch)
    }

    /// Opens escrows of 300 at the sample node spending `notes`: one with
    /// `openEscrow`, several with `openEscrows`.
    fn open(
        &mut self,
        prover: &Prover,
        tree: &Tree,
        notes: &[usize],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Gas, MeasureError> {
        Ok(self.open_tokens(prover, tree, notes, rng)?.0)
    }

    /// [`Run::open`], also returning the tokens' statements.
    fn open_tokens(
        &mut self,
        prover: &Prover,
        tree: &Tree,
        notes: &[usize],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<(Gas, Vec<AccessPublic>), MeasureError> {
        let mut tokens = Vec::with_capacity(notes.len());
        let mut statements = Vec::with_capacity(notes.len());
        for &i in notes {
            let private = sample::spend(tree, i).ok_or(MeasureError::Sample)?;
            let st =
                sample::access_statement(&private, i, 300, NODE).ok_or(MeasureError::Sample)?;
            let t = prover.prove_access(&st, &private, rng)?;
            tokens.push(AccessWords::new(&st, &t.proof));
            statements.push(st);
        }
        let node = sample::node_id(NODE).ok_or(MeasureError::Sample)?;
        let gas = match tokens.as_slice() {
            [one] => self.send("openEscrow", &escrow::open_escrow(node, one)),
            many => self.send("openEscrows", &escrow::open_escrows(node, many)),
        }?;
        Ok((gas, statements))
    }

    /// Withdraws 250 from sample note `i` to a fresh account.
    fn withdraw(
        &mut self,
        prover: &Prover,
        tree: &Tree,
        i: usize,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<Gas, MeasureError> {
        let recipient = self.sandbox.funded_account(U256::ZERO);
        let private = sample::spend(tree, i).ok_or(MeasureError::Sample)?;
        let st =
            sample::withdraw_statement(&private, 250, recipient).ok_or(MeasureError::Sample)?;
        let w = prover.prove_withdraw(&st, &private, rng)?;
        self.send(
            "withdraw",
            &escrow::withdraw(&WithdrawWords::new(&st, &w.proof)),
        )
    }

    /// Reclaims the escrow `open` made from sample note 0.
    fn reclaim(&mut self, tree: &Tree) -> Result<Gas, MeasureError> {
        let private = sample::spend(tree, 0).ok_or(MeasureError::Sample)?;
        let st = sample::access_statement(&private, 0, 300, NODE).ok_or(MeasureError::Sample)?;
        let terms = EscrowTerms::of_token(&st, sample::PRICE);
        let sid = fr_word(&st.nullifier.inner());
        self.send("reclaim", &escrow::reclaim(sid, &terms.words()))
    }
}

fn succeeded(what: &str, out: Outcome) -> Result<Outcome, MeasureError> {
    match out.status {
        Status::Success => Ok(out),
        _ => Err(unexpected(what.to_owned(), &out)),
    }
}

fn unexpected(what: String, out: &Outcome) -> MeasureError {
    MeasureError::Unexpected {
        what,
        status: out.status,
        output: hex::encode(&out.output),
    }
}
