//! `tree_insert_K` against its native twin and against the ledger's own
//! tree (`Frontier`): honest batches agree at several tree sizes, and every
//! relation refused natively is refused by the circuit (and conversely);
//! shapes pinned; a real Groth16 proof verifies and refuses altered inputs.

use ark_ff::UniformRand;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::tree_insert::{
    TreeInsertCircuit, TreeInsertError, TreeInsertPublic, TreeInsertRelation, log2_batch, prepare,
};
use veil_primitives::Fr;
use veil_primitives::merkle::{Frontier, MerkleRoot};
use veil_primitives::note::NoteCommitment;

const K: usize = 4;

fn leaves(rng: &mut ChaCha20Rng, n: usize) -> Vec<Fr> {
    (0..n).map(|_| Fr::rand(rng)).collect()
}

fn frontier_of(rng: &mut ChaCha20Rng, size: usize) -> Frontier {
    let mut f = Frontier::new();
    for leaf in leaves(rng, size) {
        f.append(NoteCommitment::from_fr(leaf)).expect("fits");
    }
    f
}

fn satisfied(public: &TreeInsertPublic, siblings: &[Fr]) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let c = TreeInsertCircuit::<K>::unchecked(public.clone(), siblings.to_vec());
    match c.generate_constraints(cs.clone()) {
        Ok(()) => cs.is_satisfied().expect("satisfiability"),
        Err(_) => false,
    }
}

/// Native and circuit give the same verdict; returns it.
fn agree(public: &TreeInsertPublic, siblings: &[Fr]) -> Result<(), TreeInsertError> {
    let native = TreeInsertRelation::check(public, siblings);
    assert_eq!(native.is_ok(), satisfied(public, siblings), "{native:?}");
    native
}

#[test]
fn honest_batches_match_the_ledger_tree_at_every_size() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for size in [0, K, 2 * K, 3 * K, 8 * K, 13 * K] {
        let before = frontier_of(&mut rng, size);
        let batch = leaves(&mut rng, K);
        let (public, siblings, after) = prepare(&before, &batch).expect("prepare");
        assert_eq!(public.start, size as u64);
        assert_eq!(public.old_root, before.root());
        assert_eq!(public.new_root, after.root());
        assert_eq!(agree(&public, &siblings), Ok(()), "size {size}");
    }
}

#[test]
fn padding_with_empty_leaves_is_a_valid_batch() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let before = frontier_of(&mut rng, K);
    let mut batch = leaves(&mut rng, 1);
    batch.resize(K, Fr::from(0u64));
    let (public, siblings, _) = prepare(&before, &batch).expect("prepare");
    assert_eq!(agree(&public, &siblings), Ok(()));
}

#[test]
fn unaligned_trees_have_no_batch() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let before = frontier_of(&mut rng, K + 1);
    let batch = leaves(&mut rng, K);
    assert_eq!(
        prepare(&before, &batch).map(|_| ()),
        Err(TreeInsertError::BadStart(K as u64 + 1))
    );
    assert_eq!(log2_batch(3), Err(TreeInsertError::BadBatchSize(3)));
    assert_eq!(log2_batch(0), Err(TreeInsertError::BadBatchSize(0)));
    assert_eq!(log2_batch(64), Ok(6));
}

#[test]
fn every_false_statement_is_refused_by_both() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let before = frontier_of(&mut rng, 3 * K);
    let (good, siblings, _) = prepare(&before, &leaves(&mut rng, K)).expect("prepare");
    let other = MerkleRoot::from_fr(Fr::rand(&mut rng));
    let mut cases: Vec<(&str, TreeInsertPublic, Vec<Fr>, TreeInsertError)> = Vec::new();
    let mut p = good.clone();
    p.old_root = other;
    cases.push(("old root", p, siblings.clone(), TreeInsertError::OldRoot));
    let mut p = good.clone();
    p.new_root = other;
    cases.push(("new root", p, siblings.clone(), TreeInsertError::NewRoot));
    for i in 0..K {
        let mut p = good.clone();
        p.leaves[i] += Fr::from(1u64);
        cases.push(("a leaf", p, siblings.clone(), TreeInsertError::NewRoot));
    }
    let mut p = good.clone();
    p.leaves.swap(0, 1);
    cases.push(("leaf order", p, siblings.clone(), TreeInsertError::NewRoot));
    // Another aligned position: the old subtree there is not empty (or the
    // path does not lead to old_root).
    for start in [0, K as u64, 2 * K as u64, 4 * K as u64] {
        let mut p = good.clone();
        p.start = start;
        cases.push(("other start", p, siblings.clone(), TreeInsertError::OldRoot));
    }
    for start in [3 * K as u64 + 1, 3 * K as u64 + 2, (1 << 32) - K as u64 + 1] {
        let mut p = good.clone();
        p.start = start;
        cases.push((
            "unaligned",
            p,
            siblings.clone(),
            TreeInsertError::BadStart(start),
        ));
    }
    for start in [1u64 << 32, (1 << 40) + 3 * K as u64] {
        let mut p = good.clone();
        p.start = start;
        cases.push((
            "outside",
            p,
            siblings.clone(),
            TreeInsertError::BadStart(start),
        ));
    }
    for i in 0..siblings.len() {
        let mut s = siblings.clone();
        s[i] += Fr::from(1u64);
        cases.push(("a sibling", good.clone(), s, TreeInsertError::OldRoot));
    }
    for (what, public, sibs, want) in cases {
        assert_eq!(agree(&public, &sibs), Err(want), "{what}");
    }
}

#[test]
fn a_wrong_number_of_siblings_or_leaves_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (good, siblings, _) = prepare(&Frontier::new(), &leaves(&mut rng, K)).expect("prepare");
    let short = siblings[1..].to_vec();
    assert!(matches!(
        TreeInsertRelation::check(&good, &short),
        Err(TreeInsertError::SiblingCount { .. })
    ));
    assert!(!satisfied(&good, &short));
    let mut p = good.clone();
    p.leaves.pop();
    assert!(matches!(
        TreeInsertCircuit::<K>::new(p, siblings),
        Err(TreeInsertError::LeafCount {
            expected: 4,
            actual: 3
        })
    ));
}

/// Constraint counts: `K − 1` subtree hashes and two climbs of
/// `32 − log2 K` levels (241 each: one select, one hash) sharing the
/// position bits (one booleanity constraint each), and two equalities:
/// 63 · 240 + 2 · 26 · 241 + 26 + 2 ≈ 27,681 at K = 64 (a 2^15 domain).
#[test]
fn shapes_are_pinned() {
    for (k, want) in [(4usize, 15_213usize), (64, 27_681)] {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let n = match k {
            4 => {
                TreeInsertCircuit::<4>::blank()
                    .expect("blank")
                    .generate_constraints(cs.clone())
                    .expect("synthesis");
                cs.num_constraints()
            }
            _ => {
                TreeInsertCircuit::<64>::blank()
                    .expect("blank")
                    .generate_constraints(cs.clone())
                    .expect("synthesis");
                cs.num_constraints()
            }
        };
        assert!(cs.is_satisfied().expect("sat"));
        assert_eq!(cs.num_instance_variables(), 1 + 3 + k, "K = {k}");
        eprintln!("tree_insert_{k}: {n} constraints");
        assert_eq!(n, want, "tree_insert_{k}");
    }
}

#[test]
fn a_groth16_proof_verifies_and_binds_every_input() {
    use ark_bn254::Bn254;
    use ark_groth16::Groth16;
    use ark_snark::SNARK;
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(
        TreeInsertCircuit::<K>::blank().expect("blank"),
        &mut rng,
    )
    .expect("setup");
    let before = frontier_of(&mut rng, 2 * K);
    let (public, siblings, _) = prepare(&before, &leaves(&mut rng, K)).expect("prepare");
    let circuit = TreeInsertCircuit::<K>::new(public.clone(), siblings).expect("honest");
    let proof = Groth16::<Bn254>::prove(&pk, circuit, &mut rng).expect("prove");
    let inputs = public.to_field_elements();
    assert_eq!(
        Groth16::<Bn254>::verify(&vk, &inputs, &proof).expect("verify runs"),
        true
    );
    for i in 0..inputs.len() {
        let mut bad = inputs.clone();
        bad[i] += Fr::from(1u64);
        assert_eq!(
            Groth16::<Bn254>::verify(&vk, &bad, &proof).expect("verify runs"),
            false,
            "input {i}"
        );
    }
}
