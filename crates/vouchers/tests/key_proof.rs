//! Proof of well-formedness of a published epoch key (docs/vouchers.md §3.1).

mod common;

use common::*;
use proptest::prelude::*;
use veil_vouchers::*;

const OTHER_NODE: NodeId = NodeId::new([10; 32]);

/// The same secret `x` under another epoch (the secret encoding is
/// version ‖ epoch LE ‖ x).
fn same_x_other_epoch(key: &IssuerSecretKey, epoch: u64) -> IssuerSecretKey {
    let mut bytes = key.to_bytes();
    bytes[1..9].copy_from_slice(&epoch.to_le_bytes());
    IssuerSecretKey::from_bytes(&bytes).expect("re-encoded key")
}

#[test]
fn honest_proof_is_accepted_and_round_trips() {
    let mut rng = rng(71);
    let key = IssuerSecretKey::generate(Epoch::new(4), &mut rng);
    let proof = key.prove_well_formed(&NODE, &mut rng);
    let decoded = KeyProof::from_bytes(&proof.to_bytes()).expect("decode");
    assert_eq!(decoded, proof);
    assert_eq!(key.public_key().verify_well_formed(&NODE, &decoded), Ok(()));
    // The published form (epoch, W) gives back the same key.
    let public = key.public_key();
    let published = IssuerPublicKey::from_published(public.epoch(), &public.w_bytes()).expect("W");
    assert_eq!(&published, public);
    assert_eq!(published.verify_well_formed(&NODE, &proof), Ok(()));
}

#[test]
fn the_published_proof_is_deterministic_and_verifies() {
    let mut rng = rng(75);
    let key = IssuerSecretKey::generate(Epoch::new(2), &mut rng);
    let a = key.published_proof(&NODE);
    assert_eq!(a, key.published_proof(&NODE), "same key, same bytes");
    assert_eq!(key.public_key().verify_well_formed(&NODE, &a), Ok(()));
    assert_ne!(a, key.published_proof(&OTHER_NODE));
    assert_eq!(
        key.public_key().verify_well_formed(&OTHER_NODE, &a),
        Err(VerificationError::Proof)
    );
    let other = IssuerSecretKey::generate(Epoch::new(2), &mut rng);
    assert_ne!(a, other.published_proof(&NODE), "the nonce depends on x");
}

#[test]
fn proof_for_another_epoch_node_or_key_is_refused() {
    let mut rng = rng(72);
    let key = IssuerSecretKey::generate(Epoch::new(4), &mut rng);
    let proof = key.prove_well_formed(&NODE, &mut rng);
    let refused = Err(VerificationError::Proof);

    // Same W, another epoch: the proof names epoch 4.
    let other_epoch = same_x_other_epoch(&key, 5);
    assert_eq!(
        other_epoch.public_key().verify_well_formed(&NODE, &proof),
        refused
    );
    // Another node's id.
    assert_eq!(
        key.public_key().verify_well_formed(&OTHER_NODE, &proof),
        refused
    );
    // Another key of the same epoch.
    let other = IssuerSecretKey::generate(Epoch::new(4), &mut rng);
    assert_eq!(
        other.public_key().verify_well_formed(&NODE, &proof),
        refused
    );
    // The other key's own proof does not pass for this key either.
    let other_proof = other.prove_well_formed(&NODE, &mut rng);
    assert_eq!(
        key.public_key().verify_well_formed(&NODE, &other_proof),
        refused
    );
    // Each honest proof passes for its own statement (the negatives above
    // are not failing for another reason).
    assert_eq!(
        other.public_key().verify_well_formed(&NODE, &other_proof),
        Ok(())
    );
    let proof5 = other_epoch.prove_well_formed(&NODE, &mut rng);
    assert_eq!(
        other_epoch.public_key().verify_well_formed(&NODE, &proof5),
        Ok(())
    );
    let proof_other_node = key.prove_well_formed(&OTHER_NODE, &mut rng);
    assert_eq!(
        key.public_key()
            .verify_well_formed(&OTHER_NODE, &proof_other_node),
        Ok(())
    );
}

#[test]
fn every_single_bit_flip_is_refused() {
    let mut rng = rng(73);
    let key = IssuerSecretKey::generate(Epoch::new(1), &mut rng);
    let bytes = key.prove_well_formed(&NODE, &mut rng).to_bytes();
    for i in 0..KeyProof::ENCODED_LEN {
        for bit in 0..8 {
            let mut altered = bytes;
            altered[i] ^= 1 << bit;
            match KeyProof::from_bytes(&altered) {
                Err(_) => {}
                Ok(proof) => assert_eq!(
                    key.public_key().verify_well_formed(&NODE, &proof),
                    Err(VerificationError::Proof),
                    "byte {i} bit {bit}"
                ),
            }
        }
    }
}

#[test]
fn a_published_key_is_taken_only_with_its_proof() {
    let mut rng = rng(76);
    let key = IssuerSecretKey::generate(Epoch::new(3), &mut rng);
    let (w, proof) = (
        key.public_key().w_bytes(),
        key.published_proof(&NODE).to_bytes(),
    );
    let taken = IssuerPublicKey::verify_published(&NODE, Epoch::new(3), &w, &proof);
    assert_eq!(taken.as_ref(), Ok(key.public_key()));
    let refused = Err(PublishedKeyError::Proof(VerificationError::Proof));
    assert_eq!(
        IssuerPublicKey::verify_published(&NODE, Epoch::new(4), &w, &proof),
        refused
    );
    assert_eq!(
        IssuerPublicKey::verify_published(&OTHER_NODE, Epoch::new(3), &w, &proof),
        refused
    );
    let other = IssuerSecretKey::generate(Epoch::new(3), &mut rng)
        .public_key()
        .w_bytes();
    assert_eq!(
        IssuerPublicKey::verify_published(&NODE, Epoch::new(3), &other, &proof),
        refused
    );
    assert!(matches!(
        IssuerPublicKey::verify_published(&NODE, Epoch::new(3), &w, &proof[..63]),
        Err(PublishedKeyError::Decode(_))
    ));
    assert!(matches!(
        IssuerPublicKey::verify_published(&NODE, Epoch::new(3), &[0; 32], &proof),
        Err(PublishedKeyError::Decode(_))
    ));
}

#[test]
fn decoding_is_canonical() {
    let mut rng = rng(74);
    let key = IssuerSecretKey::generate(Epoch::new(1), &mut rng);
    let bytes = key.prove_well_formed(&NODE, &mut rng).to_bytes();
    for len in [0, 32, 63, 65, 96] {
        let mut v = bytes.to_vec();
        v.resize(len, 0);
        assert!(
            matches!(KeyProof::from_bytes(&v), Err(DecodeError::Length { expected: 64, found, .. }) if found == len),
            "length {len}"
        );
    }
    // z ≥ ℓ: all ones in the top byte is above the group order.
    let mut high_z = bytes;
    high_z[63] = 0xff;
    assert!(matches!(
        KeyProof::from_bytes(&high_z),
        Err(DecodeError::NonCanonicalScalar { field: "z", .. })
    ));
    // A non-canonical ristretto encoding (negative field element: odd low bit).
    let mut bad_r = bytes;
    bad_r[0] |= 1;
    assert!(matches!(
        KeyProof::from_bytes(&bad_r),
        Err(DecodeError::NonCanonicalPoint { field: "R", .. })
    ));
    // The identity as R.
    let mut identity_r = bytes;
    identity_r[..32].fill(0);
    assert!(matches!(
        KeyProof::from_bytes(&identity_r),
        Err(DecodeError::IdentityPoint { field: "R", .. })
    ));
    // A published W must be a canonical non-identity point too.
    assert!(IssuerPublicKey::from_published(Epoch::new(1), &[0; 32]).is_err());
    assert!(IssuerPublicKey::from_published(Epoch::new(1), &[0xff; 32]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Honest proofs verify exactly for their own (node, epoch, key).
    #[test]
    fn proofs_verify_only_for_their_statement(
        seed in any::<u64>(),
        epoch in any::<u64>(),
        other_epoch in any::<u64>(),
        node in any::<[u8; 32]>(),
        other_node in any::<[u8; 32]>(),
    ) {
        let mut rng = rng(seed);
        let node = NodeId::new(node);
        let key = IssuerSecretKey::generate(Epoch::new(epoch), &mut rng);
        let proof = KeyProof::from_bytes(&key.prove_well_formed(&node, &mut rng).to_bytes())
            .expect("round trip");
        prop_assert_eq!(key.public_key().verify_well_formed(&node, &proof), Ok(()));
        let other_node = NodeId::new(other_node);
        prop_assume!(other_node != node && other_epoch != epoch);
        prop_assert!(key.public_key().verify_well_formed(&other_node, &proof).is_err());
        let moved = same_x_other_epoch(&key, other_epoch);
        prop_assert!(moved.public_key().verify_well_formed(&node, &proof).is_err());
    }
}
