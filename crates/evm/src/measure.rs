//! Gas of veil's contracts, measured by executing them in the sandbox (the
//! embedded artifacts, real proofs): what `veil bench` reports. Gas is
//! deterministic for given code and calldata; nothing here is estimated.

use ark_bn254::Fr;
use revm::primitives::U256;
use veil_proofs::{CircuitId, Proof};

use crate::abi::{Word, decode_bool, encode_call, selector, word_u64};
use crate::artifact::{Artifact, ArtifactError};
use crate::poseidon::{self, UnsupportedWidth};
use crate::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, SandboxError, Status};
use crate::solidity::{ProofWords, verify_proof_calldata};
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

fn unexpected(what: String, out: &Outcome) -> MeasureError {
    MeasureError::Unexpected {
        what,
        status: out.status,
        output: hex::encode(&out.output),
    }
}
