//! Gas of veil's contracts, measured by executing them in the sandbox (the
//! embedded artifacts, real proofs): what `veil bench` reports. Gas is
//! deterministic for given code and calldata; nothing here is estimated.

use ark_bn254::Fr;
use rand::{CryptoRng, RngCore};
use revm::primitives::U256;
use veil_primitives::merkle::Frontier;
use veil_proofs::{CircuitId, Proof, Prover};

use crate::abi::{Word, decode_bool, encode_call, selector, word_u64};
use crate::artifact::{Artifact, ArtifactError};
use crate::ledger::{self, BATCH, BatchError, DeployError, LedgerEvent};
use crate::poseidon::{self, UnsupportedWidth};
use crate::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, SandboxError, Status};
use crate::solidity::{ProofWords, verify_proof_calldata};
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

/// Gas of the ledger contract's operations built so far (docs/evm.md
/// §4.5), on one fresh chain: 64 deposits, then the append of their batch.
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
}

/// Deploys the test token and the ledger, deposits 64 notes and appends
/// their batch with a real `tree_insert_64` proof (`prover` must hold its
/// key), measuring each transaction.
pub fn ledger_gas(
    prover: &Prover,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<LedgerGas, MeasureError> {
    let mut sandbox = Sandbox::new();
    let eth = U256::from(10u64).pow(U256::from(21u64));
    let deployer = sandbox.funded_account(eth);
    let (token_at, _) = sandbox.deploy(deployer, &Artifact::embedded(token::CONTRACT)?.bytecode)?;
    let verifier = verifier_contract_name(CircuitId::TreeInsert64);
    let d = ledger::deploy(&mut sandbox, deployer, token_at, &verifier, 20, 10_000)?;
    let user = sandbox.funded_account(eth);
    let setup = [
        (deployer, token::mint(user, U256::from(u64::MAX))),
        (user, token::approve(d.ledger, U256::MAX)),
    ];
    for (from, data) in setup {
        succeeded(
            token::CONTRACT,
            sandbox.transact(from, token_at, &data, DEFAULT_GAS_LIMIT)?,
        )?;
    }
    let (mut deposits, mut queued) = (Vec::with_capacity(BATCH), Vec::with_capacity(BATCH));
    for i in 1..=BATCH as u64 {
        let data = ledger::deposit(word_u64(i), word_u64(1_000));
        let out = sandbox.transact(user, d.ledger, &data, DEFAULT_GAS_LIMIT)?;
        let out = succeeded(ledger::CONTRACT, out)?;
        queued.push(deposited_leaf(&out)?);
        deposits.push(Gas::from(&out));
    }
    let (batch, _) = ledger::prove_next_batch(prover, &Frontier::new(), &queued, rng)?;
    let out = sandbox.transact(user, d.ledger, &batch.calldata(), DEFAULT_GAS_LIMIT)?;
    let append_batch = Gas::from(&succeeded(ledger::CONTRACT, out)?);
    let steady_batch = deposits[1].tx + deposits[1..].iter().map(|g| g.tx).sum::<u64>();
    let total = steady_batch + append_batch.tx;
    Ok(LedgerGas {
        deposit: deposits[1],
        append_batch,
        deposit_all_in: total.div_ceil(BATCH as u64),
    })
}

/// The leaf a deposit queued, from its `Deposited` event.
fn deposited_leaf(out: &Outcome) -> Result<Fr, MeasureError> {
    for e in &out.logs {
        if let Ok(LedgerEvent::Deposited { commitment, .. }) = LedgerEvent::decode(e) {
            if let Ok(leaf) = veil_primitives::field::fr_from_bytes(&commitment) {
                return Ok(leaf);
            }
        }
    }
    Err(unexpected("VeilLedger: no Deposited event".into(), out))
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
