//! Compatibility: a spend encoded by v1 of this crate (fixed-seed RNG) must
//! keep decoding and verifying (docs/vouchers.md §8). Regenerate with
//! `VEIL_VOUCHERS_PRINT_VECTOR=1 cargo test -p veil-vouchers --test frozen_spend_vector -- --nocapture`
//! only on a deliberate format change (and bump the version).

mod common;

use common::*;
use veil_vouchers::*;

const VECTOR: &str = include_str!("vectors/spend_v1.hex");

fn build() -> (IssuerSecretKey, Vec<u8>) {
    let mut rng = rng(0x7665_696c);
    let key = IssuerSecretKey::generate(Epoch::new(1), &mut rng);
    let issuer = Issuer::new(NODE, key.clone(), MemoryNullifierStore::new());
    let cred = credential(&issuer, 4096, &mut rng);
    let (req, _) = cred
        .prepare_spend(Balance::from_kib(1024), CTX, &mut rng)
        .expect("prepare");
    (key, req.to_bytes())
}

#[test]
fn frozen_spend_decodes_and_verifies() {
    let (key, bytes) = build();
    if std::env::var_os("VEIL_VOUCHERS_PRINT_VECTOR").is_some() {
        println!("{}\n{}", hex::encode(key.to_bytes()), hex::encode(&bytes));
    }
    let mut lines = VECTOR.lines();
    let key_hex = lines.next().expect("key line");
    let spend_hex = lines.next().expect("spend line");
    let key = IssuerSecretKey::from_bytes(&hex::decode(key_hex).expect("hex")).expect("key");
    let spend_bytes = hex::decode(spend_hex).expect("hex");
    let spend = SpendRequest::from_bytes(&spend_bytes).expect("frozen spend decodes");
    assert_eq!(spend.to_bytes(), spend_bytes);
    assert_eq!(spend.amount(), Balance::from_kib(1024));
    let issuer = Issuer::new(NODE, key, MemoryNullifierStore::new());
    issuer
        .verify_spend(&spend, CTX)
        .expect("frozen spend verifies");
    // The encoder still produces the frozen bytes from the same seed.
    assert_eq!(hex::encode(bytes), spend_hex);
}
