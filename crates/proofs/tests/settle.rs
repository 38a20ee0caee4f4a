//! Settlement proofs (settle_1, settle_8): prove, encode, verify, and the
//! rejections of a changed statement, a wrong batch size and a wrong key.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_primitives::Fr;
use veil_primitives::escrow::EscrowCommitment;
use veil_primitives::ids::NodeId;
use veil_primitives::note::NoteCommitment;
use veil_primitives::value::Value;
use veil_proofs::{
    CircuitId, ParamStore, ProofError, Prover, SettleProof, SettleSize, Verifier, VerifyError,
    samples,
};

const CIRCUITS: [CircuitId; 3] = [
    CircuitId::Access,
    CircuitId::Settle(SettleSize::K1),
    CircuitId::Settle(SettleSize::K8),
];

fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| {
        Prover::from_store(
            &ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(),
            &CIRCUITS[1..],
            None,
        )
        .unwrap()
    })
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::from_store(
            &ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(),
            &CIRCUITS,
            None,
        )
        .unwrap()
    })
}

fn settle1() -> &'static SettleProof {
    static S: OnceLock<SettleProof> = OnceLock::new();
    S.get_or_init(|| {
        let (public, slots) = samples::settle(1, 7).unwrap();
        prover()
            .prove_settle::<1>(&public, slots, &mut ChaCha20Rng::seed_from_u64(7))
            .unwrap()
    })
}

#[test]
fn settle_1_verifies_roundtrips_and_binds_every_input() {
    let p = settle1();
    assert_eq!(verifier().verify_settle_proof(p), Ok(()));
    let bytes = p.to_bytes();
    assert_eq!(bytes.len(), SettleProof::bytes_for(SettleSize::K1));
    assert_eq!(bytes.len(), 242);
    assert_eq!(bytes[1], 1);
    let back = SettleProof::from_bytes(&bytes).unwrap();
    assert_eq!(&back, p);

    let mut q = p.clone();
    q.public.node_id = NodeId::from_fr(p.public.node_id.inner() + Fr::from(1u64));
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "node_id"
    );
    let mut q = p.clone();
    q.public.total = Value(p.public.total.get() + 1);
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "T"
    );
    let mut q = p.clone();
    q.public.price = Value(p.public.price.get() + 1);
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "price"
    );
    let mut q = p.clone();
    q.public.slots[0].escrow_commitment =
        EscrowCommitment::from_fr(p.public.slots[0].escrow_commitment.inner() + Fr::from(1u64));
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "esc"
    );
    let mut q = p.clone();
    q.public.slots[0].cm_refund =
        NoteCommitment::from_fr(p.public.slots[0].cm_refund.inner() + Fr::from(1u64));
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "cm_refund"
    );
}

#[test]
fn settle_batch_size_is_part_of_the_encoding_and_the_key() {
    let bytes = settle1().to_bytes();
    for k in [0u8, 2, 9, 65, 255] {
        let mut bad = bytes.clone();
        bad[1] = k;
        assert_eq!(
            SettleProof::from_bytes(&bad),
            Err(ProofError::UnknownBatchSize(u64::from(k)))
        );
    }
    // Claiming K = 8 for a settle_1 proof: K fixes the length (2K + 3 inputs).
    let mut as8 = bytes.clone();
    as8[1] = 8;
    assert_eq!(
        SettleProof::from_bytes(&as8),
        Err(ProofError::Length {
            expected: SettleProof::bytes_for(SettleSize::K8),
            actual: bytes.len()
        })
    );
    // The settle_8 and access keys refuse a settle_1 statement outright (B8, B6).
    let settle8 = verifier().key(CircuitId::Settle(SettleSize::K8)).unwrap();
    assert_eq!(
        settle8.verify(&settle1().public.to_field_elements(), &settle1().proof),
        Err(VerifyError::PublicInputCount {
            expected: 19,
            actual: 5
        })
    );
    let access = verifier().key(CircuitId::Access).unwrap();
    assert_eq!(
        access.verify(&settle1().public.to_field_elements(), &settle1().proof),
        Err(VerifyError::PublicInputCount {
            expected: 9,
            actual: 5
        })
    );
    // Non-canonical escrow and refund commitments.
    for (range, field) in [(50..82, "esc"), (82..114, "cm_refund")] {
        let mut nc = bytes.clone();
        nc[range].copy_from_slice(&[0xff; 32]);
        assert!(
            matches!(
                SettleProof::from_bytes(&nc),
                Err(ProofError::PublicInput { field: f, .. }) if f == field
            ),
            "{field}"
        );
    }
    for short in [&bytes[..0], &bytes[..1]] {
        assert!(matches!(
            SettleProof::from_bytes(short),
            Err(ProofError::Length { .. })
        ));
    }
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(SettleProof::from_bytes(&v2), Err(ProofError::Version(2)));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        SettleProof::from_bytes(&long),
        Err(ProofError::Length { .. })
    ));
}

#[test]
fn settle_8_proves_and_verifies() {
    let (public, slots) = samples::settle(8, 8).unwrap();
    let p = prover()
        .prove_settle::<8>(&public, slots, &mut ChaCha20Rng::seed_from_u64(8))
        .unwrap();
    assert_eq!(p.k, SettleSize::K8);
    assert_eq!(
        verifier().verify_settle(SettleSize::K8, &public, &p.proof),
        Ok(())
    );
    assert_eq!(
        verifier().verify_settle(SettleSize::K1, &public, &p.proof),
        Err(VerifyError::PublicInputCount {
            expected: 5,
            actual: 19
        })
    );
}

#[test]
fn settle_with_wrong_slot_count_or_total_gives_no_proof() {
    let (public, slots) = samples::settle(2, 9).unwrap();
    assert!(matches!(
        prover().prove_settle::<1>(&public, slots, &mut ChaCha20Rng::seed_from_u64(9)),
        Err(ProofError::StatementMismatch(_))
    ));
    let (mut public, slots) = samples::settle(1, 10).unwrap();
    public.total = Value(public.total.get() + 1);
    assert!(matches!(
        prover().prove_settle::<1>(&public, slots, &mut ChaCha20Rng::seed_from_u64(10)),
        Err(ProofError::Unsatisfied(_))
    ));
}
