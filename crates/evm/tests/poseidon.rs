//! The generated Poseidon contracts against veil's native Poseidon
//! (`veil_primitives::poseidon`, spec §2.2): the same outputs on circomlibjs
//! vectors and on random and edge inputs, the same refusals of non-canonical
//! inputs, exact gas, and the committed sources equal to the generator's.

mod common;

use ark_ff::UniformRand;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use revm::primitives::U256;
use veil_evm::abi::{Word, encode_call, selector, word_u64};
use veil_evm::artifact::{Artifact, contracts_dir};
use veil_evm::generated::Freshness;
use veil_evm::poseidon::{POSEIDON_DIR, WIDTHS, contract_name, generated, hash_signature};
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Sandbox, Status};
use veil_evm::solidity::fr_word;
use veil_primitives::field::{Fr, fr_from_bytes, fr_from_decimal};
use veil_primitives::poseidon;

/// Tx gas of `hash` on the inputs `[1, 2, …]`: (width, tx gas, execution gas).
/// Deterministic; a change is a change of the generated code (docs/evm.md).
const GAS: [(usize, u64, u64); 3] = [
    (2, 33_838, 12_634),
    (3, 43_631, 22_287),
    (4, 55_942, 34_458),
];

struct Hashers {
    sandbox: Sandbox,
    caller: EvmAddress,
    at: Vec<(usize, EvmAddress)>,
}

fn deploy() -> Hashers {
    let dir = contracts_dir().join("artifacts");
    let mut sandbox = Sandbox::new();
    let caller = sandbox.funded_account(U256::from(10u64).pow(U256::from(21u64)));
    let at = WIDTHS
        .map(|t| {
            let art = Artifact::load(&dir, &contract_name(t)).expect("committed artifact");
            let (addr, _) = sandbox.deploy(caller, &art.bytecode).expect("deploy");
            (t, addr)
        })
        .collect();
    Hashers {
        sandbox,
        caller,
        at,
    }
}

impl Hashers {
    fn call(&mut self, words: &[Word]) -> Outcome {
        let t = words.len() + 1;
        let (_, addr) = *self.at.iter().find(|(w, _)| *w == t).expect("width");
        let data = encode_call(selector(&hash_signature(t)), words);
        self.sandbox
            .call(self.caller, addr, &data, DEFAULT_GAS_LIMIT)
            .expect("call runs")
    }

    fn hash(&mut self, inputs: &[Fr]) -> Word {
        let words: Vec<Word> = inputs.iter().map(fr_word).collect();
        let out = self.call(&words);
        assert_eq!(out.status, Status::Success, "hash({inputs:?}) reverted");
        out.output.as_slice().try_into().expect("one word")
    }
}

#[test]
fn committed_sources_are_what_the_generator_writes() {
    let dir = contracts_dir().join("src/poseidon");
    for t in WIDTHS {
        let file = generated(t).expect("generate");
        assert_eq!(
            file.freshness(&dir).expect("read"),
            Freshness::Same,
            "{POSEIDON_DIR}/{} is stale: run `veil export poseidon` and \
             `cd contracts && node build.js`",
            file.file_name()
        );
    }
}

#[test]
fn circomlibjs_vectors_agree_on_chain() {
    let text = std::fs::read_to_string(vectors_path()).expect("vectors");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut hashers = deploy();
    let mut n = 0;
    for case in v["vectors"].as_array().expect("vectors") {
        let inputs: Vec<Fr> = case["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|s| fr_from_decimal(s.as_str().expect("string")).expect("canonical"))
            .collect();
        if !WIDTHS.contains(&(inputs.len() + 1)) {
            continue;
        }
        let want = fr_from_decimal(case["output"].as_str().expect("output")).expect("canonical");
        assert_eq!(hashers.hash(&inputs), fr_word(&want), "{case}");
        n += 1;
    }
    assert_eq!(n, 12, "the vector file has 4 cases per arity 1..=3");
}

#[test]
fn agrees_with_native_on_random_and_edge_inputs() {
    let mut hashers = deploy();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let max = -Fr::from(1u64);
    for t in WIDTHS {
        let n = t - 1;
        let mut cases = vec![vec![Fr::from(0u64); n], vec![max; n]];
        cases.extend((0..32).map(|_| (0..n).map(|_| Fr::rand(&mut rng)).collect()));
        for inputs in cases {
            let native = poseidon::hash(&inputs);
            assert_eq!(
                hashers.hash(&inputs),
                fr_word(&native),
                "t = {t}, {inputs:?}"
            );
        }
    }
}

#[test]
fn tagged_and_node_hashes_agree() {
    let mut hashers = deploy();
    let (a, b) = (Fr::from(11u64), Fr::from(12u64));
    let tag = poseidon::DomainTag::Addr;
    assert_eq!(
        hashers.hash(&[tag.fr(), a, b]),
        fr_word(&poseidon::hash_tagged(tag, &[a, b]))
    );
    assert_eq!(hashers.hash(&[a, b]), fr_word(&poseidon::hash_node(&a, &b)));
}

#[test]
fn non_canonical_inputs_are_refused_like_the_native_decoder() {
    let mut hashers = deploy();
    let r = common::r();
    let bad = [r, r + U256::from(1u64), U256::MAX];
    let refusal = |i: u64| {
        let mut out = selector("NonCanonicalInput(uint256)").to_vec();
        out.extend_from_slice(&word_u64(i));
        out
    };
    for t in WIDTHS {
        for i in 0..t - 1 {
            for b in bad {
                let mut words = vec![fr_word(&Fr::from(5u64)); t - 1];
                words[i] = b.to_be_bytes();
                assert!(fr_from_bytes(&words[i]).is_err(), "native accepts {b}");
                let out = hashers.call(&words);
                assert_eq!(out.status, Status::Revert, "t = {t}, input {i} = {b}");
                assert_eq!(out.output, refusal(i as u64), "t = {t}, input {i}");
            }
        }
    }
}

#[test]
fn short_calldata_is_refused() {
    let mut hashers = deploy();
    let (_, addr) = hashers.at[1];
    let mut data = encode_call(selector(&hash_signature(3)), &[word_u64(1), word_u64(2)]);
    data.truncate(data.len() - 1);
    let out = hashers
        .sandbox
        .call(hashers.caller, addr, &data, DEFAULT_GAS_LIMIT)
        .expect("runs");
    assert_eq!(out.status, Status::Revert);
}

#[test]
fn gas_is_pinned() {
    let mut hashers = deploy();
    for (t, tx, exec) in GAS {
        let words: Vec<Word> = (1..t as u64).map(word_u64).collect();
        let out = hashers.call(&words);
        assert_eq!(out.status, Status::Success);
        eprintln!(
            "PoseidonT{t}: tx {} exec {}",
            out.gas_used,
            out.execution_gas()
        );
        assert_eq!(
            (out.gas_used, out.execution_gas()),
            (tx, exec),
            "PoseidonT{t}"
        );
        let bench = veil_evm::measure::poseidon_gas(t).expect("measure");
        assert_eq!(
            (bench.tx, bench.execution),
            (tx, exec),
            "veil bench, PoseidonT{t}"
        );
    }
    assert!(
        veil_evm::measure::poseidon_gas(5).is_err(),
        "no T5 contract"
    );
}

fn vectors_path() -> std::path::PathBuf {
    const FILE: &str = "shared/vectors/poseidon_circomlib_bn254.json";
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|dir| dir.join(FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{FILE} not found above {}", here.display()))
}
