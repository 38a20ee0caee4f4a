//! Groth16 proving time of `settle_K` on this machine (`docs/protocol.md`
//! §5.5). Ignored by default: setup and proving take seconds to minutes.
//! Run: `cargo test -p veil-circuits --test settle_prove_time -- --ignored --nocapture`.

use std::time::Instant;

use ark_bn254::Bn254;
use ark_groth16::{Groth16, prepare_verifying_key};
use rand::SeedableRng;
use veil_circuits::settle::{SettleCircuit, SettlePublic, Slot};
use veil_primitives::{
    Fr,
    eddsa::SigningKey,
    escrow::EscrowTerms,
    ids::{BlockHeight, NodeId, SessionId},
    keys::OwnerKey,
    receipt::Receipt,
    value::Value,
};

const PRICE: Value = Value(2);

fn node() -> NodeId {
    NodeId::from_fr(Fr::from(3u64))
}

fn slot(n: u64) -> Slot {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_be_bytes());
    let sk = SigningKey::from_seed(seed).expect("test key");
    let terms = EscrowTerms {
        session_id: SessionId::from_fr(Fr::from(10_000 + n)),
        node_id: node(),
        escrow: Value(1_000_000),
        session_key_hash: sk.verifying_key().session_key_hash(),
        refund_owner: OwnerKey::from_fr(Fr::from(n + 1)),
        expiry: BlockHeight(100_000),
    };
    let receipt = Receipt {
        session_id: terms.session_id.inner(),
        kib: 1_000 + n,
    }
    .sign(&sk);
    Slot::new(terms, PRICE, &sk.verifying_key(), &receipt)
}

fn measure<const K: usize>() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let t = Instant::now();
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        SettleCircuit::<K>::dummy(),
        &mut rng,
    )
    .expect("setup");
    println!("settle_{K}: setup {:.2?}", t.elapsed());
    let slots: Vec<Slot> = (0..K as u64).map(slot).collect();
    let public = SettlePublic::for_slots(node(), PRICE, &slots);
    let circuit = SettleCircuit::<K>::from_slots(public, &slots).expect("K slots");
    let inputs = circuit.public_inputs();
    let t = Instant::now();
    let proof = Groth16::<Bn254>::create_random_proof_with_reduction(circuit, &pk, &mut rng)
        .expect("prove");
    let prove = t.elapsed();
    println!(
        "settle_{K}: prove {prove:.2?} ({:.1?} per session)",
        prove / K as u32
    );
    let pvk = prepare_verifying_key(&pk.vk);
    let t = Instant::now();
    let ok = Groth16::<Bn254>::verify_proof(&pvk, &proof, &inputs).expect("verify");
    println!("settle_{K}: verify {:.2?}", t.elapsed());
    assert!(ok);
}

#[test]
#[ignore = "Groth16 setup + prove of settle_8 (~10 s)"]
fn settle_8_prove_time() {
    measure::<8>();
}

#[test]
#[ignore = "Groth16 setup + prove of settle_64 (minutes, several GB)"]
fn settle_64_prove_time() {
    measure::<64>();
}
