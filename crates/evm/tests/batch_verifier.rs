//! The batched verifier of access proofs (`AccessBatchVerifier`,
//! `docs/evm.md` §1.5), deployed from its committed artifact into revm:
//! honest batches are accepted, every refusal of `verifyBatch` reads as
//! `false` (never a revert), the native verifiers agree wherever a case can
//! be expressed natively, and its gas is pinned.
//!
//! Ten proofs are made (about a second each): eight distinct access proofs
//! (larger batches repeat them: duplicates are valid for the verifier), one
//! access proof under another setup and one withdraw proof.

mod common;

use std::sync::OnceLock;

use ark_bn254::{Bn254, Fr, G1Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{One, PrimeField};
use common::{p, r, returned_true, store, u256, veil_proof, vk, word};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::{U256, keccak256};
use veil_circuits::access::AccessCircuit;
use veil_evm::abi::{Word, decode_bool, word_u64};
use veil_evm::artifact::{Artifact, contracts_dir};
use veil_evm::generated::Freshness;
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, Status};
use veil_evm::solidity::{
    MAX_BATCH, ProofWords, batch_verifier_contract_name, fr_word, verify_batch_calldata,
};
use veil_evm::verifiers::{BATCH_VERIFIED, GeneratedVerifier};
use veil_proofs::groth16::PreparedKey;
use veil_proofs::{CircuitId, Proof, Prover, samples};

/// Public inputs of `access`.
const N: usize = veil_circuits::access::NUM_PUBLIC_INPUTS;
type Row = [Word; N];
type ArkProof = ark_groth16::Proof<Bn254>;

/// `verifyBatch` gas of the honest batches of 1 and 8 distinct proofs:
/// (n, tx gas, execution gas). Deterministic (seeded proofs: calldata gas
/// depends on their zero bytes); a change is a change of the contract or
/// its calldata, to be explained in docs/evm.md §1.5.
const GAS: [(usize, u64, u64); 2] = [(1, 299_282, 270_790), (8, 697_633, 621_281)];

/// One access proof and its statement.
#[derive(Clone)]
struct Item {
    proof: ArkProof,
    statement: Vec<Fr>,
}

impl Item {
    fn row(&self) -> Row {
        row(&self.statement)
    }
}

fn row(statement: &[Fr]) -> Row {
    let words: Vec<Word> = statement.iter().map(fr_word).collect();
    words.try_into().expect("9 public inputs")
}

fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| Prover::from_store(&store(), &[CircuitId::Access], None).expect("proving key"))
}

/// Eight distinct honest access proofs (statements `samples::access(s, …)`,
/// s = 1..=8), from seeded RNGs: the same on every run.
fn items() -> &'static [Item] {
    static ITEMS: OnceLock<Vec<Item>> = OnceLock::new();
    ITEMS.get_or_init(|| {
        (1..=8u64)
            .map(|s| {
                let (public, private) = samples::access(s, 100 + s).expect("sample");
                let mut rng = ChaCha20Rng::seed_from_u64(1_000 + s);
                let t = prover()
                    .prove_access(&public, &private, &mut rng)
                    .expect("prove");
                Item {
                    proof: t.proof.as_ark().clone(),
                    statement: public.to_field_elements(),
                }
            })
            .collect()
    })
}

/// An honest access statement proved under ANOTHER setup of the same
/// circuit (a development setup from another seed): valid under its own key.
fn other_setup_item() -> Item {
    let (public, private) = samples::access(9, 109).expect("sample");
    let statement = public.to_field_elements();
    let pk = veil_proofs::groth16::dev_setup("access (another setup)", AccessCircuit::dummy())
        .expect("setup");
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let circuit = AccessCircuit::new(&public, &private);
    let proof = veil_proofs::groth16::prove(&pk, circuit, &statement, &mut rng).expect("prove");
    assert!(PreparedKey::new(&pk.vk).verify(&statement, &proof).is_ok());
    Item {
        proof: proof.as_ark().clone(),
        statement,
    }
}

/// A withdraw proof (another circuit's key), its 5 inputs padded with zeros.
fn withdraw_item() -> Item {
    let case = common::prove(CircuitId::Withdraw);
    assert!(case.native_ok(&case.proof, &case.statement));
    let mut statement = case.statement.clone();
    statement.resize(N, Fr::from(0u64));
    Item {
        proof: case.proof.as_ark().clone(),
        statement,
    }
}

/// A batch as sent: the proofs' words and the input rows (their lengths may
/// differ), and its native form when there is one.
#[derive(Clone)]
struct Batch {
    proofs: Vec<ProofWords>,
    inputs: Vec<Row>,
    native: Option<Vec<Item>>,
}

impl Batch {
    fn of(items: &[Item]) -> Self {
        Batch {
            proofs: items
                .iter()
                .map(|i| ProofWords::from_ark(&i.proof))
                .collect(),
            inputs: items.iter().map(Item::row).collect(),
            native: Some(items.to_vec()),
        }
    }

    /// `n` honest proofs: the eight repeated.
    fn honest(n: usize) -> Self {
        let items: Vec<Item> = items().iter().cycle().take(n).cloned().collect();
        Self::of(&items)
    }

    /// The honest batch of 8 with item `k` changed by `f` (natively too).
    fn tampered(k: usize, f: impl FnOnce(&mut Item)) -> Self {
        let mut items = items().to_vec();
        f(&mut items[k]);
        Self::of(&items)
    }

    /// Word `w` of proof `k` set to `value`: no native form any more (not
    /// a valid encoding).
    fn set_word(mut self, k: usize, w: usize, value: Word) -> Self {
        let mut all = self.proofs[k].words();
        all[w] = value;
        self.proofs[k] = ProofWords {
            a: [all[0], all[1]],
            b: [[all[2], all[3]], [all[4], all[5]]],
            c: [all[6], all[7]],
        };
        self.native = None;
        self
    }

    fn calldata(&self) -> Vec<u8> {
        verify_batch_calldata(&self.proofs, &self.inputs)
    }

    /// The native verdicts: every proof alone, and `batch_verify`; `None` if
    /// not expressible (an encoding `Proof::from_bytes` refuses).
    fn native_verdict(&self) -> Option<bool> {
        let items = self.native.as_ref()?;
        let proofs: Vec<Proof> = items
            .iter()
            .map(|i| veil_proof(&i.proof))
            .collect::<Result<_, _>>()
            .ok()?;
        let key = PreparedKey::new(&vk(CircuitId::Access));
        let each = items
            .iter()
            .zip(&proofs)
            .all(|(i, p)| key.verify(&i.statement, p).is_ok());
        let pairs: Vec<(&[Fr], &Proof)> = items
            .iter()
            .zip(&proofs)
            .map(|(i, p)| (i.statement.as_slice(), p))
            .collect();
        let batch = key
            .batch_verify(&pairs, &mut ChaCha20Rng::seed_from_u64(5))
            .is_ok();
        assert_eq!(each, batch, "native single and batch verification agree");
        Some(each)
    }
}

/// A chain with `AccessBatchVerifier` deployed from its committed artifact.
struct Chain {
    sandbox: Sandbox,
    caller: EvmAddress,
    verifier: EvmAddress,
    deploy: Outcome,
}

fn artifact() -> Artifact {
    let name = batch_verifier_contract_name(CircuitId::Access);
    Artifact::load(&contracts_dir().join("artifacts"), &name).expect("committed artifact")
}

fn chain() -> Chain {
    let art = artifact();
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
    fn call_with_gas(&mut self, data: &[u8], gas: u64) -> Outcome {
        self.sandbox
            .call(self.caller, self.verifier, data, gas)
            .expect("call runs")
    }

    fn call(&mut self, data: &[u8]) -> Outcome {
        self.call_with_gas(data, DEFAULT_GAS_LIMIT)
    }

    /// The verdict: exactly ABI `true` or `false`; a revert or halt fails
    /// the test (`verifyBatch` never reverts on well-formed calldata).
    fn verdict(&mut self, batch: &Batch) -> bool {
        self.verdict_with_gas(batch, DEFAULT_GAS_LIMIT)
    }

    fn verdict_with_gas(&mut self, batch: &Batch, gas: u64) -> bool {
        let out = self.call_with_gas(&batch.calldata(), gas);
        assert_eq!(out.status, Status::Success, "{out:?}");
        decode_bool(&out.output).expect("an ABI bool")
    }

    /// Refused on chain, and natively too wherever the case is expressible.
    fn assert_refused(&mut self, batch: &Batch, what: &str) {
        assert!(!self.verdict(batch), "{what}: accepted on chain");
        assert_ne!(
            batch.native_verdict(),
            Some(true),
            "{what}: accepted natively"
        );
    }
}

#[test]
fn honest_batches_are_accepted_on_chain_and_natively() {
    let mut chain = chain();
    for n in [1, 2, 8] {
        let batch = Batch::honest(n);
        assert!(chain.verdict(&batch), "n = {n} on chain");
        assert_eq!(batch.native_verdict(), Some(true), "n = {n} natively");
    }
    // Every proof alone, by the native verifier of veil_proofs.
    let key = PreparedKey::new(&vk(CircuitId::Access));
    for (k, item) in items().iter().enumerate() {
        let proof = veil_proof(&item.proof).expect("canonical");
        assert!(key.verify(&item.statement, &proof).is_ok(), "proof {k}");
    }
    // Duplicates are valid: 64 = MAX_BATCH proofs, each of the eight 8 times.
    assert!(chain.verdict(&Batch::honest(MAX_BATCH)));
}

#[test]
fn one_tampered_proof_fails_the_batch() {
    let mut chain = chain();
    let g1 = G1Affine::generator();
    let other_c = items()[0].proof.c;
    let cases: [(&str, Batch); 6] = [
        // The caller negated A itself: the contract negates it again.
        ("-A", Batch::tampered(3, |i| i.proof.a = -i.proof.a)),
        (
            "A + G",
            Batch::tampered(5, |i| i.proof.a = (i.proof.a + g1).into_affine()),
        ),
        ("C replaced", Batch::tampered(7, |i| i.proof.c = other_c)),
        (
            "C + G",
            Batch::tampered(0, |i| i.proof.c = (i.proof.c + g1).into_affine()),
        ),
        (
            "B of another proof",
            Batch::tampered(2, |i| i.proof.b = items()[6].proof.b),
        ),
        (
            "one input changed",
            Batch::tampered(4, |i| i.statement[6] += Fr::one()),
        ),
    ];
    for (what, batch) in cases {
        chain.assert_refused(&batch, what);
    }
}

#[test]
fn swapped_statements_and_cancelling_errors_are_refused() {
    // Two proofs' inputs swapped: every point valid, the sum of inputs the
    // same; only distinct weights tell them apart.
    let mut chain = chain();
    let mut batch = items().to_vec();
    let (s1, s2) = (batch[1].statement.clone(), batch[2].statement.clone());
    batch[1].statement = s2;
    batch[2].statement = s1;
    chain.assert_refused(&Batch::of(&batch), "inputs of 1 and 2 swapped");
    // C_1 + D and C_2 - D: with equal weights the errors would cancel.
    let d = (G1Affine::generator() * Fr::from(12_345u64)).into_affine();
    let mut batch = items().to_vec();
    batch[1].proof.c = (batch[1].proof.c + d).into_affine();
    batch[2].proof.c = (batch[2].proof.c - d).into_affine();
    chain.assert_refused(&Batch::of(&batch), "errors that cancel with equal weights");
    // The same statement twice with two different proofs of which one is
    // wrong: also refused (weights depend on the position).
    let mut batch = items().to_vec();
    batch[3] = batch[0].clone();
    batch[3].proof.a = (batch[3].proof.a + d).into_affine();
    chain.assert_refused(&Batch::of(&batch), "a wrong duplicate");
}

/// The weights `verifyBatch` derives for `batch` (docs/evm.md §1.5):
/// `seed = keccak256(proofs' words ‖ inputs' words)`,
/// `ρ_i = (keccak256(seed ‖ i) >> 128) | (1 << 127)`.
fn weights(batch: &Batch) -> Vec<Fr> {
    let mut bytes = Vec::new();
    batch
        .proofs
        .iter()
        .flat_map(ProofWords::words)
        .for_each(|w| bytes.extend(w));
    batch.inputs.iter().flatten().for_each(|w| bytes.extend(w));
    let seed = keccak256(&bytes);
    (0..batch.proofs.len() as u64)
        .map(|i| {
            let h = keccak256([seed.0, word_u64(i)].concat());
            let rho: U256 = (U256::from_be_bytes(h.0) >> 128usize) | (U256::from(1u8) << 127usize);
            Fr::from_be_bytes_mod_order(&rho.to_be_bytes::<32>())
        })
        .collect()
}

#[test]
fn inputs_chosen_after_the_weights_are_refused() {
    // With the honest batch's weights, move input 0 of proof 1 by +1 and of
    // proof 2 by -ρ_1/ρ_2: every weighted sum Σ ρ_i·x_ij is unchanged, so the
    // batch would pass if the weights did not hash the inputs. They do: the
    // changed inputs change every weight, and the batch is refused. (A
    // variant of the contract whose seed hashed the proofs only accepted this
    // batch, forged with `weights` over the proofs only: `weights` is the
    // contract's derivation.)
    let mut chain = chain();
    let honest = Batch::honest(8);
    let rho = weights(&honest);
    let mut batch = items().to_vec();
    batch[1].statement[0] += Fr::one();
    batch[2].statement[0] -= rho[1] / rho[2];
    let sums = |b: &[Item]| -> Fr { b.iter().zip(&rho).map(|(i, r)| *r * i.statement[0]).sum() };
    assert_eq!(sums(&batch), sums(items()), "the forged sums match");
    let forged = Batch::of(&batch);
    assert_ne!(weights(&forged), rho);
    chain.assert_refused(&forged, "inputs moved along the honest weights");
}

#[test]
fn non_canonical_inputs_are_refused() {
    // input + r is the same scalar mod r: the sums mod r alone would accept it.
    let mut chain = chain();
    for j in 0..N {
        for k in [0, 7] {
            let mut batch = Batch::honest(8);
            batch.inputs[k][j] = word(u256(&batch.inputs[k][j]) + r());
            batch.native = None;
            assert!(!chain.verdict(&batch), "proof {k} input {j} + r");
        }
        let mut batch = Batch::honest(8);
        batch.inputs[3][j] = word(r());
        batch.native = None;
        assert!(!chain.verdict(&batch), "input {j} = r");
    }
}

#[test]
fn non_canonical_coordinates_are_refused() {
    let mut chain = chain();
    let honest = Batch::honest(8);
    for w in 0..8 {
        let shifted = word(u256(&honest.proofs[6].words()[w]) + p());
        assert!(
            !chain.verdict(&Batch::honest(8).set_word(6, w, shifted)),
            "word {w} + p"
        );
    }
}

#[test]
fn points_at_infinity_are_refused() {
    let mut chain = chain();
    let zero = [0u8; 32];
    for (what, words) in [("A", 0..2), ("B", 2..6), ("C", 6..8)] {
        let mut batch = Batch::honest(8);
        for w in words {
            batch = batch.set_word(4, w, zero);
        }
        assert!(!chain.verdict(&batch), "{what} at infinity");
    }
    // Natively no proof with a point at infinity decodes.
    let mut p = items()[4].proof.clone();
    p.c = G1Affine::zero();
    assert!(veil_proof(&p).is_err());
}

#[test]
fn failing_precompile_calls_read_as_false() {
    // Points not on the curve: ecMul (A, C) or ecPairing (B) fails. A failed
    // call uses 63/64 of the gas left, so the contract must return false at
    // once: going on, the next ecMul would run out of gas and the call halt.
    // Hence a budget near what an honest batch needs (10% over), not 30M.
    let mut chain = chain();
    let budget = chain.call(&Batch::honest(8).calldata()).gas_used * 11 / 10;
    let one = word_u64(1);
    for (what, words) in [("A", 0..2), ("B", 2..6), ("C", 6..8)] {
        let mut batch = Batch::honest(8);
        for w in words {
            batch = batch.set_word(1, w, one);
        }
        assert!(
            !chain.verdict_with_gas(&batch, budget),
            "{what} = (1, 1…) off the curve"
        );
    }
    // B in arkworks order (c0 first): not a point, the pairing fails.
    let mut batch = Batch::honest(8);
    for row in &mut batch.proofs[5].b {
        row.swap(0, 1);
    }
    batch.native = None;
    assert!(
        !chain.verdict_with_gas(&batch, budget),
        "B in arkworks order"
    );
}

#[test]
fn proofs_under_other_keys_are_refused() {
    let mut chain = chain();
    for (what, foreign) in [
        ("another setup of access", other_setup_item()),
        ("a withdraw proof", withdraw_item()),
    ] {
        assert!(
            !chain.verdict(&Batch::of(std::slice::from_ref(&foreign))),
            "{what} alone"
        );
        let mut items = items().to_vec();
        items[2] = foreign;
        chain.assert_refused(&Batch::of(&items), what);
    }
}

#[test]
fn bad_batch_shapes_are_refused() {
    let mut chain = chain();
    let empty = Batch::of(&[]);
    assert!(!chain.verdict(&empty), "empty");
    let mut fewer_inputs = Batch::honest(8);
    fewer_inputs.inputs.pop();
    assert!(!chain.verdict(&fewer_inputs), "7 input rows");
    let mut fewer_proofs = Batch::honest(8);
    fewer_proofs.proofs.pop();
    assert!(!chain.verdict(&fewer_proofs), "7 proofs");
    let mut extra = Batch::honest(8);
    extra.inputs.push(items()[0].row());
    assert!(!chain.verdict(&extra), "9 input rows");
    // One over MAX_BATCH, every proof valid: refused (and MAX_BATCH passes).
    assert!(!chain.verdict(&Batch::honest(MAX_BATCH + 1)), "n = 65");
    assert!(chain.verdict(&Batch::honest(MAX_BATCH)), "n = 64");
}

#[test]
fn too_little_gas_never_returns_true() {
    let mut chain = chain();
    let data = Batch::honest(8).calldata();
    let full = chain.call(&data);
    assert!(returned_true(&full));
    let mut silent_false = 0;
    for short in [1, 100, 1_000, 10_000, 50_000, 150_000, 300_000] {
        let out = chain.call_with_gas(&data, full.gas_used - short);
        assert!(!returned_true(&out), "{short} short");
        if out.status == Status::Success && decode_bool(&out.output) == Ok(false) {
            silent_false += 1;
        }
    }
    assert!(
        silent_false > 0,
        "out of gas never read as false: callers' `require` is then unneeded, update the docs"
    );
}

/// `(tx gas, execution gas)` of the honest batch of `n`.
fn measure(chain: &mut Chain, n: usize) -> (u64, u64) {
    let out = chain.call(&Batch::honest(n).calldata());
    assert!(returned_true(&out), "n = {n}");
    (out.gas_used, out.execution_gas())
}

#[test]
fn verify_batch_gas_is_exact() {
    let mut chain = chain();
    let measured: Vec<(usize, u64, u64)> = GAS
        .iter()
        .map(|&(n, _, _)| {
            let (tx, exec) = measure(&mut chain, n);
            (n, tx, exec)
        })
        .collect();
    eprintln!(
        "AccessBatchVerifier: deploy gas {}, runtime {} B; {measured:?}",
        chain.deploy.gas_used,
        artifact().deployed_bytecode.len()
    );
    assert_eq!(measured, GAS);
}

#[test]
fn gas_table() {
    // docs/evm.md §1.5: printed, not asserted (n = 1 and 8 are, above).
    let mut chain = chain();
    eprintln!("| n | tx gas | per proof | execution | per proof |");
    for n in [1, 2, 4, 8, 16, 32, 64] {
        let (tx, exec) = measure(&mut chain, n);
        let per = |g: u64| g / n as u64;
        eprintln!("| {n} | {tx} | {} | {exec} | {} |", per(tx), per(exec));
    }
}

#[test]
fn committed_batch_verifier_matches_the_pinned_key_and_is_embedded() {
    let dir = contracts_dir().join("src/verifiers");
    for id in BATCH_VERIFIED {
        let v = GeneratedVerifier::batch_from_key(id, &vk(id)).expect("generate");
        assert_eq!(
            v.file.freshness(&dir).expect("read"),
            Freshness::Same,
            "{} is stale: run `veil --dev-keys export solidity --circuit all` \
             and `cd contracts && node build.js`",
            v.file.file_name()
        );
        let name = batch_verifier_contract_name(id);
        assert_eq!(name, "AccessBatchVerifier");
        assert_eq!(Artifact::embedded(&name).expect("embedded"), artifact());
    }
}

#[test]
fn calldata_layout() {
    // verifyBatch(uint256[8][] proofs, uint256[9][] inputs): two offsets,
    // then proofs' length and 8 words each, then inputs' length and rows
    // of 9.
    let batch = Batch::honest(2);
    let data = batch.calldata();
    let word_at = |k: usize| -> Word { data[4 + 32 * k..4 + 32 * (k + 1)].try_into().unwrap() };
    assert_eq!(data.len(), 4 + 32 * (2 + 1 + 16 + 1 + 18));
    assert_eq!(
        &data[..4],
        &veil_evm::abi::selector("verifyBatch(uint256[8][],uint256[9][])")
    );
    assert_eq!(word_at(0), word_u64(0x40));
    assert_eq!(word_at(1), word_u64(0x60 + 2 * 0x100));
    assert_eq!(word_at(2), word_u64(2));
    assert_eq!(word_at(3 + 8), batch.proofs[1].words()[0]);
    assert_eq!(word_at(19), word_u64(2));
    assert_eq!(word_at(20 + 9 + 8), batch.inputs[1][8]);
}
