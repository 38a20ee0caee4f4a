//! Keys from a ceremony (`docs/ceremony.md`; `veil_interop::ceremony`): a
//! verified transcript of `settle_1` becomes keys that veil's own `Prover`
//! and `Verifier` use through a pinned record; a transcript that breaks
//! the chain, falls short of the policy, or belongs to another circuit
//! gives no keys.

mod common;

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use veil_interop::ceremony::{Policy, Reference};
use veil_interop::ptau::{self, Ptau};
use veil_interop::zkey::Zkey;
use veil_interop::{ContributionFailure, InteropError};
use veil_proofs::params::{KeyOrigin, ParamStore, SetupKeys, SetupRecord};
use veil_proofs::{CircuitId, ParamsError, Prover, Reduction, SettleSize, Verifier, samples};

const SETTLE_1: CircuitId = CircuitId::Settle(SettleSize::K1);

struct Fixture {
    reference: Reference<'static>,
    /// The transcript after 1, 2, 3 contributions and the beacon.
    steps: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static PTAU: OnceLock<(Ptau, String)> = OnceLock::new();
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (p, sha) = PTAU.get_or_init(|| {
            let bytes = ptau::insecure_prepared_ptau(13, [13; 32]).expect("ptau");
            let sha = hex::encode(Sha256::digest(&bytes));
            (Ptau::from_bytes(&bytes).expect("reads"), sha)
        });
        let reference = Reference::new(SETTLE_1, p, sha.clone()).expect("R1CS");
        let mut z = reference.initial().expect("initial key");
        let mut steps = Vec::new();
        for name in ["alice", "bob", "carol"] {
            z = z
                .contribute(name.as_bytes(), Some(name))
                .expect("contribute")
                .0;
            steps.push(z.to_bytes());
        }
        z = z.beacon(&[0xbe; 32], 10, Some("beacon")).expect("beacon").0;
        steps.push(z.to_bytes());
        Fixture { reference, steps }
    })
}

fn final_keys() -> SetupKeys {
    let f = fixture();
    f.reference
        .keys(&f.steps[3], &Policy::PROJECT)
        .expect("verified")
}

#[test]
fn a_verified_transcript_is_pinned_and_proves_through_veils_prover() {
    let f = fixture();
    let keys = final_keys();
    let KeyOrigin::Ceremony(c) = &keys.record.origin else {
        panic!("not a ceremony record")
    };
    assert_eq!(
        c.transcript_sha256,
        hex::encode(Sha256::digest(&f.steps[3]))
    );
    assert_eq!(c.contributions.len(), 4);
    assert_eq!(c.contributions[1].name.as_deref(), Some("bob"));
    assert!(c.contributions[3].beacon.is_some() && c.contributions[2].beacon.is_none());
    assert_eq!(keys.record.reduction, Reduction::Circom);
    assert_eq!(keys.record.constraints, 7346);

    // Pinned and cached like any key: the prover follows the record.
    let dir = tempfile::tempdir().unwrap();
    let mut record = SetupRecord::default();
    record
        .circuits
        .insert(SETTLE_1.name().into(), keys.record.clone());
    std::fs::write(dir.path().join("settle_1.vk"), &keys.vk_bytes).unwrap();
    let store = ParamStore::open_dir(dir.path().join("cache"), veil_proofs::KeySet::Ceremony)
        .unwrap()
        .with_record(record.clone())
        .with_params_dir(dir.path());
    assert!(matches!(
        Prover::from_store(&store, &[SETTLE_1], None),
        Err(ParamsError::NotInstalled(SETTLE_1))
    ));
    store.cache_keys(&keys).unwrap();
    let prover = Prover::from_store(&store, &[SETTLE_1], None).unwrap();
    assert_eq!(prover.insecure_warning(), None);
    let verifier = Verifier::from_store(&store, &[SETTLE_1], None).unwrap();
    let (public, slots) = samples::settle(1, 3).unwrap();
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let proof = prover
        .prove_settle::<1>(&public, slots.clone(), &mut rng)
        .unwrap();
    verifier
        .verify_settle_proof(&proof)
        .expect("a ceremony key's proof verifies");
    // `veil export proof` proves with the key's reduction too.
    let (statement, sample) =
        veil_interop::export::sample_proof(SETTLE_1, prover.context(SETTLE_1).unwrap(), &mut rng)
            .expect("the sample statement proves");
    veil_proofs::PreparedKey::new(&store.verifying_key(SETTLE_1, None).unwrap())
        .verify(&statement, &sample)
        .expect("the exported sample proof verifies under the ceremony key");

    // The same key under arkworks' reduction gives proofs that fail: the
    // record's reduction is what makes the key usable.
    let mut wrong = record;
    if let Some(r) = wrong.circuits.get_mut("settle_1") {
        r.reduction = Reduction::Libsnark;
    }
    let prover = Prover::from_store(&store.clone().with_record(wrong), &[SETTLE_1], None).unwrap();
    let proof = prover.prove_settle::<1>(&public, slots, &mut rng).unwrap();
    assert!(verifier.verify_settle_proof(&proof).is_err());
}

#[test]
fn the_policy_needs_three_contributions_and_a_final_beacon() {
    let f = fixture();
    let err = f.reference.keys(&f.steps[2], &Policy::PROJECT).unwrap_err();
    assert!(
        matches!(&err, InteropError::Policy(m) if m.contains("beacon")),
        "{err}"
    );
    let two_then_beacon = Zkey::from_bytes(&f.steps[1])
        .unwrap()
        .beacon(&[1; 32], 10, None)
        .unwrap()
        .0
        .to_bytes();
    let err = f
        .reference
        .keys(&two_then_beacon, &Policy::PROJECT)
        .unwrap_err();
    assert!(
        matches!(&err, InteropError::Policy(m) if m.contains("2 contribution")),
        "{err}"
    );
    let lenient = Policy {
        min_contributions: 2,
        final_beacon: true,
    };
    assert!(f.reference.keys(&two_then_beacon, &lenient).is_ok());
    let no_beacon = Policy {
        min_contributions: 3,
        final_beacon: false,
    };
    assert!(f.reference.keys(&f.steps[2], &no_beacon).is_ok());
}

#[test]
fn a_broken_or_damaged_transcript_gives_no_keys() {
    let f = fixture();
    let last = Zkey::from_bytes(&f.steps[3]).unwrap();

    let mut broken = last.clone();
    broken.contributions[1].delta_after = broken.contributions[0].delta_after;
    let err = f
        .reference
        .keys(&broken.to_bytes(), &Policy::PROJECT)
        .unwrap_err();
    assert!(
        matches!(
            err,
            InteropError::Contribution {
                index: 1 | 2,
                failure: ContributionFailure::DeltaAfter
                    | ContributionFailure::ProofOfKnowledge
                    | ContributionFailure::Transcript
            }
        ),
        "{err}"
    );

    // A key point changed after the contributions: not the key the
    // transcript describes.
    let mut altered = last.clone();
    altered.a.swap(3, 4);
    assert!(
        f.reference
            .keys(&altered.to_bytes(), &Policy::PROJECT)
            .is_err()
    );

    let bytes = &f.steps[3];
    assert!(
        f.reference
            .keys(&bytes[..bytes.len() - 1], &Policy::PROJECT)
            .is_err()
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(f.reference.keys(&longer, &Policy::PROJECT).is_err());
}

#[test]
fn another_circuits_transcript_gives_no_keys() {
    let toy = include_bytes!("data/toy_0002.zkey");
    let err = fixture()
        .reference
        .keys(
            toy,
            &Policy {
                min_contributions: 1,
                final_beacon: true,
            },
        )
        .unwrap_err();
    assert!(!matches!(err, InteropError::Policy(_)), "{err}");
}

#[test]
fn differences_name_what_a_pin_does_not_match() {
    let f = fixture();
    let keys = final_keys();
    assert!(keys.record.differences(&keys.record).is_empty());
    let other = Zkey::from_bytes(&f.steps[2])
        .unwrap()
        .beacon(&[2; 32], 10, None)
        .unwrap()
        .0
        .to_bytes();
    let other = f.reference.keys(&other, &Policy::PROJECT).unwrap();
    let d = keys.record.differences(&other.record);
    for field in [
        "transcript_sha256",
        "contributions",
        "vk_sha256",
        "pk_sha256",
    ] {
        assert!(d.contains(&field), "{field} missing from {d:?}");
    }
    assert!(
        !d.contains(&"ptau_sha256") && !d.contains(&"circuit_hash"),
        "{d:?}"
    );
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let v = f();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    eprintln!("{what}: {:.1} s ({hwm})", t.elapsed().as_secs_f64());
    v
}

/// `settle_64` (2^19): the phase-1 file (2^20), the initial key, a contribution,
/// a beacon and a whole verification, with times and peak memory. A
/// benchmark, not a check (`docs/ceremony.md`, "Measured"): `cargo test
/// -p veil-interop --test ceremony -- --ignored --nocapture`.
#[test]
#[ignore = "long run (about half an hour on 2 cores): settle_64's ceremony, a benchmark"]
fn measure_settle_64() {
    let id = CircuitId::Settle(SettleSize::K64);
    // Power 20: snarkjs' circuit hash of a 2^19 domain reads τ^(2^20 − 1).
    let bytes = timed("insecure_prepared_ptau(20)", || {
        ptau::insecure_prepared_ptau(20, [20; 32]).unwrap()
    });
    eprintln!("ptau bytes: {}", bytes.len());
    let sha = hex::encode(Sha256::digest(&bytes));
    let p = timed("Ptau::from_bytes 2^20", || {
        Ptau::from_bytes(&bytes).unwrap()
    });
    drop(bytes);
    timed("Ptau::check_powers 2^20", || {
        p.check_powers(&mut rand::rngs::OsRng).unwrap()
    });
    let reference = Reference::new(id, &p, sha).unwrap();
    let z0 = timed("Zkey::new settle_64", || reference.initial().unwrap());
    let (z1, _) = timed("contribute settle_64", || z0.contribute(b"", None).unwrap());
    drop(z0);
    let (z2, _) = timed("beacon settle_64 (2^10)", || {
        z1.beacon(&[0xbe; 32], 10, None).unwrap()
    });
    drop(z1);
    let out = timed("Zkey::to_bytes settle_64", || z2.to_bytes());
    drop(z2);
    eprintln!("zkey bytes: {}", out.len());
    let policy = Policy {
        min_contributions: 1,
        final_beacon: true,
    };
    let keys = timed(
        "Reference::keys settle_64 (read, whole transcript verified)",
        || reference.keys(&out, &policy).unwrap(),
    );
    eprintln!("proving key bytes: {}", keys.pk_bytes.len());
}
