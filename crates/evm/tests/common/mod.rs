//! Shared fixtures: the pinned keys, real proofs (proved once per test
//! binary), and a sandbox with each verifier deployed from its committed
//! artifact.

#![allow(dead_code)]

use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr};
use ark_groth16::VerifyingKey;
use ark_serialize::CanonicalSerialize;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_evm::abi::{Word, decode_bool};
use veil_evm::artifact::{Artifact, contracts_dir};
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, Status};
use veil_evm::solidity::{ProofWords, fr_word, verify_proof_calldata_words};
use veil_evm::verifier_contract_name;
use veil_proofs::groth16::PreparedKey;
use veil_proofs::{CircuitId, ParamStore, Proof, Prover, SettleSize, samples};

/// The circuits proved for real in `cargo test` (settle_64 proving is
/// slow: its full test is `#[ignore]`d).
pub const PROVED: [CircuitId; 6] = [
    CircuitId::Access,
    CircuitId::Withdraw,
    CircuitId::Settle(SettleSize::K1),
    CircuitId::Settle(SettleSize::K8),
    CircuitId::TreeInsert64,
    CircuitId::Answer,
];

pub fn store() -> ParamStore {
    ParamStore::open_default(veil_proofs::KeySet::Dev).expect("param store")
}

pub fn vk(id: CircuitId) -> VerifyingKey<Bn254> {
    store()
        .verifying_key(id, None)
        .expect("pinned verifying key")
}

/// A real proof and its statement.
#[derive(Clone)]
pub struct Case {
    pub circuit: CircuitId,
    pub proof: Proof,
    pub statement: Vec<Fr>,
}

impl Case {
    pub fn words(&self) -> ProofWords {
        ProofWords::from_proof(&self.proof)
    }

    pub fn input_words(&self) -> Vec<Word> {
        self.statement.iter().map(fr_word).collect()
    }

    /// Native verification with the pinned key.
    pub fn native_ok(&self, proof: &Proof, statement: &[Fr]) -> bool {
        PreparedKey::new(&vk(self.circuit))
            .verify(statement, proof)
            .is_ok()
    }
}

/// Proves `id` once per test binary.
pub fn case(id: CircuitId) -> Case {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    let cases = CASES.get_or_init(|| PROVED.iter().map(|&c| prove(c)).collect());
    cases
        .iter()
        .find(|c| c.circuit == id)
        .cloned()
        .unwrap_or_else(|| prove(id))
}

pub fn prove(id: CircuitId) -> Case {
    let prover = Prover::from_store(&store(), &[id], None).expect("proving key");
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let (proof, statement) = match id {
        CircuitId::Access => {
            let (public, private) = samples::access(1, 300).expect("sample");
            let t = prover
                .prove_access(&public, &private, &mut rng)
                .expect("prove");
            (t.proof, public.to_field_elements())
        }
        CircuitId::Withdraw => {
            let (public, private) = samples::withdraw(1, 400).expect("sample");
            let w = prover
                .prove_withdraw(&public, &private, &mut rng)
                .expect("prove");
            (w.proof, public.to_field_elements())
        }
        CircuitId::Settle(k) => {
            let (public, slots) = samples::settle(k.get(), 3).expect("sample");
            let p = match k.get() {
                1 => prover.prove_settle::<1>(&public, slots, &mut rng),
                8 => prover.prove_settle::<8>(&public, slots, &mut rng),
                _ => prover.prove_settle::<64>(&public, slots, &mut rng),
            }
            .expect("prove");
            (p.proof, public.to_field_elements())
        }
        CircuitId::TreeInsert64 => {
            let (public, siblings) = samples::tree_insert_64(3).expect("sample");
            let p = prover
                .prove_tree_insert_64(&public, siblings, &mut rng)
                .expect("prove");
            (p, public.to_field_elements())
        }
        CircuitId::Answer => {
            let (public, private) = samples::answer(3).expect("sample");
            let p = prover
                .prove_answer(&public, &private, &mut rng)
                .expect("prove");
            (p, public.to_field_elements())
        }
    };
    Case {
        circuit: id,
        proof,
        statement,
    }
}

/// An arkworks proof as a veil proof (through the canonical encoding, so
/// every validity check of `Proof::from_bytes` applies).
pub fn veil_proof(p: &ark_groth16::Proof<Bn254>) -> Result<Proof, veil_proofs::ProofError> {
    let mut bytes = Vec::new();
    p.a.serialize_compressed(&mut bytes).expect("serialize");
    p.b.serialize_compressed(&mut bytes).expect("serialize");
    p.c.serialize_compressed(&mut bytes).expect("serialize");
    Proof::from_bytes(&bytes)
}

/// A chain with one funded caller and `id`'s verifier deployed from its
/// committed artifact.
pub struct Chain {
    pub sandbox: Sandbox,
    pub caller: EvmAddress,
    pub verifier: EvmAddress,
    pub deploy: Outcome,
}

pub fn artifact(id: CircuitId) -> Artifact {
    let dir = contracts_dir().join("artifacts");
    Artifact::load(&dir, &verifier_contract_name(id)).expect("committed artifact")
}

pub fn chain(id: CircuitId) -> Chain {
    let art = artifact(id);
    let mut sandbox = Sandbox::new();
    let caller = sandbox.funded_account(U256::from(10u64).pow(U256::from(21u64)));
    let (verifier, deploy) = sandbox.deploy(caller, &art.bytecode).expect("deploy");
    assert_eq!(sandbox.code(verifier), art.deployed_bytecode);
    Chain {
        sandbox,
        caller,
        verifier,
        deploy,
    }
}

impl Chain {
    /// `verifyProof` as a call (nothing committed) with `gas` gas.
    pub fn verify_with_gas(&mut self, proof: &ProofWords, input: &[Word], gas: u64) -> Outcome {
        let data = verify_proof_calldata_words(proof, input);
        self.sandbox
            .call(self.caller, self.verifier, &data, gas)
            .expect("call runs")
    }

    pub fn verify(&mut self, proof: &ProofWords, input: &[Word]) -> Outcome {
        self.verify_with_gas(proof, input, DEFAULT_GAS_LIMIT)
    }

    /// The call returned exactly ABI `true`.
    pub fn accepts(&mut self, proof: &ProofWords, input: &[Word]) -> bool {
        returned_true(&self.verify(proof, input))
    }

    /// The call returned exactly ABI `false` (not a revert, not a halt).
    pub fn refuses(&mut self, proof: &ProofWords, input: &[Word]) -> bool {
        let out = self.verify(proof, input);
        out.status == Status::Success && decode_bool(&out.output) == Ok(false)
    }
}

pub fn returned_true(out: &Outcome) -> bool {
    out.status == Status::Success && decode_bool(&out.output) == Ok(true)
}

pub fn u256(w: &Word) -> U256 {
    U256::from_be_bytes(*w)
}

pub fn word(x: U256) -> Word {
    x.to_be_bytes()
}

/// BN254 scalar field order r.
pub fn r() -> U256 {
    U256::from_str_radix(
        "21888242871839275222246405745257275088548364400416034343698204186575808495617",
        10,
    )
    .expect("r")
}

/// BN254 base field prime p.
pub fn p() -> U256 {
    U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208583",
        10,
    )
    .expect("p")
}
