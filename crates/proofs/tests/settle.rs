//! Settlement proofs (settle_1, settle_8): prove, encode, verify, and the
//! rejections of a changed statement, a wrong batch size and a wrong key.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_primitives::Fr;
use veil_primitives::ids::NodeId;
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
        Prover::from_store(&ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(), &CIRCUITS[1..], None).unwrap()
    })
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::from_store(&ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(), &CIRCUITS, None).unwrap()
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
    assert_eq!(bytes.len(), SettleProof::BYTES);
    assert_eq!(SettleProof::BYTES, 202);
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
    q.public.batch_digest += Fr::from(1u64);
    assert_eq!(
        verifier().verify_settle_proof(&q),
        Err(VerifyError::InvalidProof),
        "digest"
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
    // Claiming K = 8 for a settle_1 proof: decoded, but the settle_8 key rejects it.
    let mut as8 = bytes.clone();
    as8[1] = 8;
    let p = SettleProof::from_bytes(&as8).unwrap();
    assert_eq!(
        verifier().verify_settle_proof(&p),
        Err(VerifyError::InvalidProof)
    );
    // The access key refuses a settlement statement outright (B8, B6).
    let access = verifier().key(CircuitId::Access).unwrap();
    assert_eq!(
        access.verify(&settle1().public.to_field_elements(), &settle1().proof),
        Err(VerifyError::PublicInputCount {
            expected: 8,
            actual: 3
        })
    );
    // Non-canonical digest.
    let mut nc = bytes.clone();
    nc[42..74].copy_from_slice(&[0xff; 32]);
    assert!(matches!(
        SettleProof::from_bytes(&nc),
        Err(ProofError::PublicInput {
            field: "batch_digest",
            ..
        })
    ));
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
        Err(VerifyError::InvalidProof)
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
