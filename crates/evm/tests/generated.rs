//! The generator: committed verifiers are what it writes now from
//! `params/dev/*.vk` (CI catches drift even without Node), and it refuses keys
//! with which proofs can be forged.

mod common;

use ark_bn254::{G1Affine, G2Affine};
use ark_ec::AffineRepr;
use common::vk;
use veil_evm::artifact::contracts_dir;
use veil_evm::generated::Freshness;
use veil_evm::solidity::{GenerateError, groth16_verifier};
use veil_evm::verifier_contract_name;
use veil_evm::verifiers::{GeneratedVerifier, VERIFIERS_DIR};
use veil_proofs::CircuitId;

#[test]
fn committed_verifiers_match_the_pinned_keys() {
    let dir = contracts_dir().join("src/verifiers");
    for id in CircuitId::ALL {
        let v = GeneratedVerifier::from_key(id, &vk(id)).expect("generate");
        assert_eq!(
            v.file.freshness(&dir).expect("read"),
            Freshness::Same,
            "{VERIFIERS_DIR}/{} is stale: run `veil export solidity --circuit all` \
             and `cd contracts && node build.js`",
            v.file.file_name()
        );
    }
}

#[test]
fn committed_artifacts_exist_for_every_verifier() {
    for id in CircuitId::ALL {
        let art = common::artifact(id);
        assert_eq!(art.name, verifier_contract_name(id));
    }
}

#[test]
fn generation_is_deterministic_and_names_are_stable() {
    let names: Vec<String> = CircuitId::ALL
        .iter()
        .map(|&c| verifier_contract_name(c))
        .collect();
    assert_eq!(
        names,
        [
            "AccessVerifier",
            "WithdrawVerifier",
            "Settle1Verifier",
            "Settle8Verifier",
            "Settle64Verifier",
            "TreeInsert64Verifier",
            "AnswerVerifier"
        ]
    );
    let key = vk(CircuitId::Access);
    let a = groth16_verifier(&key, "X").expect("generate");
    assert_eq!(a, groth16_verifier(&key, "X").expect("generate"));
    assert!(a.contains("pragma solidity 0.8.28;"));
    assert!(a.contains("uint256[9] calldata input"));
}

type Spoil = Box<dyn Fn(&mut ark_groth16::VerifyingKey<ark_bn254::Bn254>)>;

#[test]
fn degenerate_keys_are_refused() {
    let good = vk(CircuitId::Settle(veil_proofs::SettleSize::K1));
    assert!(groth16_verifier(&good, "V").is_ok());
    let cases: [(&str, Spoil, GenerateError); 6] = [
        (
            "alpha",
            Box::new(|k| k.alpha_g1 = G1Affine::zero()),
            GenerateError::PointAtInfinity("alpha"),
        ),
        (
            "beta",
            Box::new(|k| k.beta_g2 = G2Affine::zero()),
            GenerateError::PointAtInfinity("beta"),
        ),
        (
            "gamma",
            Box::new(|k| k.gamma_g2 = G2Affine::zero()),
            GenerateError::PointAtInfinity("gamma"),
        ),
        (
            "delta",
            Box::new(|k| k.delta_g2 = G2Affine::zero()),
            GenerateError::PointAtInfinity("delta"),
        ),
        (
            "gamma = delta",
            Box::new(|k| k.delta_g2 = k.gamma_g2),
            GenerateError::GammaEqualsDelta,
        ),
        (
            "no IC",
            Box::new(|k| k.gamma_abc_g1.clear()),
            GenerateError::NoIcPoints,
        ),
    ];
    for (what, spoil, expected) in cases {
        let mut k = good.clone();
        spoil(&mut k);
        assert_eq!(groth16_verifier(&k, "V"), Err(expected), "{what}");
    }
    // The all-zero key (which accepts B = ∞ on chain) is refused too.
    let zero = ark_groth16::VerifyingKey::<ark_bn254::Bn254> {
        alpha_g1: G1Affine::zero(),
        beta_g2: G2Affine::zero(),
        gamma_g2: G2Affine::zero(),
        delta_g2: G2Affine::zero(),
        gamma_abc_g1: vec![G1Affine::zero(); 4],
    };
    assert!(groth16_verifier(&zero, "V").is_err());
}

#[test]
fn contract_names_must_be_identifiers() {
    let key = vk(CircuitId::Access);
    for bad in ["", "1V", "V-1", "V W", "V;contract", "Ṽ"] {
        assert!(
            matches!(
                groth16_verifier(&key, bad),
                Err(GenerateError::BadContractName(_))
            ),
            "{bad:?}"
        );
    }
    for ok in ["V", "_v", "AccessVerifier2"] {
        assert!(groth16_verifier(&key, ok).is_ok(), "{ok:?}");
    }
}

#[test]
fn embedded_artifacts_are_the_committed_files_and_all_of_them() {
    let dir = contracts_dir().join("artifacts");
    let mut names: Vec<&str> = veil_evm::artifact::embedded_names().collect();
    for name in &names {
        assert_eq!(
            veil_evm::Artifact::embedded(name).expect("embedded"),
            veil_evm::Artifact::load(&dir, name).expect("committed"),
            "{name}"
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("artifacts dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|f| f.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort_unstable();
    files.sort_unstable();
    assert_eq!(
        names, files,
        "artifact.rs EMBEDDED lists every committed artifact"
    );
    assert!(veil_evm::Artifact::embedded("NoSuchContract").is_err());
}
