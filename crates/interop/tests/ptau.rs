//! Reading snarkjs' `.ptau` files: a real one made by snarkjs 0.7.6
//! (`tests/data/pot4_final.ptau`, see `tests/data/README.md`), and the
//! damaged variants of it that must be refused.

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ff::{BigInteger, Field, PrimeField, Zero};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_interop::ptau::{self, Ptau};
use veil_interop::{InteropError, NumberError, SectionProblem};

const FIXTURE: &[u8] = include_bytes!("data/pot4_final.ptau");

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([3; 32])
}

mod common;

fn split(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    common::split(bytes)
}

fn join(sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    common::join(b"ptau", sections)
}

/// The fixture with section `id`'s body edited by `f`.
fn edited(id: u32, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    common::edited(b"ptau", FIXTURE, id, f)
}

fn section_error(r: Result<Ptau, InteropError>) -> (u32, SectionProblem) {
    match r {
        Err(InteropError::Section { id, problem, .. }) => (id, problem),
        other => panic!("expected a section error, got {other:?}"),
    }
}

fn point_error(r: Result<Ptau, InteropError>) -> (String, &'static str) {
    match r {
        Err(InteropError::Point { what, reason }) => (what, reason),
        other => panic!("expected a point error, got {other:?}"),
    }
}

fn inconsistent(bytes: &[u8]) -> &'static str {
    let p = Ptau::from_bytes(bytes).expect("well-formed");
    match p.check_powers(&mut rng()) {
        Err(InteropError::Inconsistent { check, .. }) => check,
        other => panic!("expected an inconsistency, got {other:?}"),
    }
}

fn lem_fq(x: &Fq) -> Vec<u8> {
    x.0.to_bytes_le()
}

#[test]
fn snarkjs_ptau_is_read_and_its_powers_check() {
    let p = Ptau::from_bytes(FIXTURE).unwrap();
    assert_eq!((p.power, p.ceremony_power, p.domain_size()), (4, 4, 16));
    assert_eq!(
        (p.tau_g1.len(), p.tau_g2.len(), p.alpha_tau_g1.len()),
        (31, 16, 16)
    );
    let names: Vec<_> = p.contributions.iter().map(|c| c.name.as_deref()).collect();
    assert_eq!(names, [Some("first"), Some("second"), Some("final beacon")]);
    assert!(p.contributions[..2].iter().all(|c| c.beacon.is_none()));
    let beacon = p.contributions[2].beacon.as_ref().unwrap();
    assert_eq!(beacon.iterations_exp, 10);
    assert_eq!(beacon.hash, (1..=32).collect::<Vec<u8>>());
    let l = p.lagrange.as_ref().unwrap();
    assert_eq!(
        (l.tau_g1.len(), l.tau_g2.len(), l.beta_tau_g1.len()),
        (63, 31, 31)
    );
    p.check_powers(&mut rng()).unwrap();
    assert_eq!(p.tau_g1[0], G1Affine::generator());
}

#[test]
fn unprepared_ptau_is_read_without_lagrange() {
    let s: Vec<_> = split(FIXTURE)
        .into_iter()
        .filter(|(id, _)| *id <= 7)
        .collect();
    let p = Ptau::from_bytes(&join(&s)).unwrap();
    assert!(p.lagrange.is_none());
    p.check_powers(&mut rng()).unwrap();
}

#[test]
fn insecure_writer_output_reads_and_checks() {
    let bytes = ptau::insecure_prepared_ptau(3, [9; 32]).unwrap();
    let p = Ptau::from_bytes(&bytes).unwrap();
    assert_eq!(p.contributions.len(), 1);
    p.check_powers(&mut rng()).unwrap();
}

#[test]
fn truncated_or_extended_files_are_refused() {
    for cut in 0..FIXTURE.len() {
        assert!(Ptau::from_bytes(&FIXTURE[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = FIXTURE.to_vec();
    long.push(0);
    assert!(Ptau::from_bytes(&long).is_err(), "a trailing byte");
    // A trailing byte inside a section (its length adjusted to match).
    let r = Ptau::from_bytes(&edited(6, |b| b.push(0)));
    assert_eq!(
        section_error(r),
        (
            6,
            SectionProblem::Length {
                expected: 128,
                found: 129
            }
        )
    );
    let r = Ptau::from_bytes(&edited(7, |b| b.push(0)));
    assert!(matches!(r, Err(InteropError::Binary { .. })), "{r:?}");
}

#[test]
fn missing_duplicate_and_unknown_sections_are_refused() {
    let s = split(FIXTURE);
    let without = |id: u32| {
        join(
            &s.iter()
                .filter(|(i, _)| *i != id)
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    for id in [1, 2, 3, 4, 5, 6, 7, 13] {
        assert_eq!(
            section_error(Ptau::from_bytes(&without(id))),
            (id, SectionProblem::Missing),
            "section {id}"
        );
    }
    let mut dup = s.clone();
    dup.push(s[5].clone());
    assert_eq!(
        section_error(Ptau::from_bytes(&join(&dup))),
        (s[5].0, SectionProblem::Duplicated)
    );
    let mut unknown = s.clone();
    unknown.push((8, vec![]));
    assert_eq!(
        section_error(Ptau::from_bytes(&join(&unknown))),
        (8, SectionProblem::Unknown)
    );
    let mut magic = FIXTURE.to_vec();
    magic[0] = b'z';
    assert!(Ptau::from_bytes(&magic).is_err());
    let mut version = FIXTURE.to_vec();
    version[4] = 2;
    assert!(matches!(
        Ptau::from_bytes(&version),
        Err(InteropError::Unsupported {
            field: "version",
            ..
        })
    ));
}

#[test]
fn wrong_headers_are_refused() {
    let header = |f: &dyn Fn(&mut Vec<u8>)| Ptau::from_bytes(&edited(1, |b| f(b)));
    let field = |r: Result<Ptau, InteropError>| match r {
        Err(InteropError::Unsupported { field, .. }) => field,
        other => panic!("expected an unsupported header, got {other:?}"),
    };
    // Power 3 with ceremony power 4: the sections are the wrong length.
    let (id, problem) = section_error(header(&|b| b[36] = 3));
    assert_eq!(id, 2);
    assert!(matches!(problem, SectionProblem::Length { .. }));
    assert_eq!(field(header(&|b| b[36] = 5)), "power");
    assert_eq!(field(header(&|b| b[36] = 0)), "power");
    assert_eq!(field(header(&|b| b[40] = 29)), "ceremony power");
    assert_eq!(field(header(&|b| b[0] = 48)), "field size n8");
    assert_eq!(field(header(&|b| b[4] ^= 1)), "prime");
    let r = header(&|b| b.push(0));
    assert!(matches!(
        section_error(r),
        (1, SectionProblem::Length { .. })
    ));
}

#[test]
fn bad_points_are_refused() {
    // Section 2, point 3: x at bytes 192..224, y at 224..256.
    let (what, why) = point_error(Ptau::from_bytes(&edited(2, |b| b[224] ^= 1)));
    assert_eq!(
        (what.as_str(), why),
        (".ptau section 2 (τ·G1) point 3", "not on the curve")
    );

    let q = Fq::MODULUS.to_bytes_le();
    let r = Ptau::from_bytes(&edited(2, |b| b[192..224].copy_from_slice(&q)));
    assert!(
        matches!(
            r,
            Err(InteropError::Number {
                reason: NumberError::NotReduced,
                ..
            })
        ),
        "x = q: {r:?}"
    );

    let (_, why) = point_error(Ptau::from_bytes(&edited(4, |b| b[64..128].fill(0))));
    assert_eq!(why, "the point at infinity");

    let (what, why) = point_error(Ptau::from_bytes(&edited(3, |b| b[128] ^= 1)));
    assert_eq!(
        (what.as_str(), why),
        (".ptau section 3 (τ·G2) point 1", "not on the curve")
    );

    // A point on the twist outside the prime-order subgroup.
    let p = twist_point_outside_subgroup();
    let mut enc = Vec::new();
    for c in [p.0.c0, p.0.c1, p.1.c0, p.1.c1] {
        enc.extend(lem_fq(&c));
    }
    let (what, why) = point_error(Ptau::from_bytes(&edited(13, |b| {
        b[128..256].copy_from_slice(&enc)
    })));
    assert_eq!(
        (what.as_str(), why),
        (
            ".ptau section 13 (Lagrange τ·G2) point 1",
            "not in the prime-order subgroup"
        )
    );

    // In a contribution record: its τ·G1 (the record's first bytes after
    // the count) off the curve.
    let (what, why) = point_error(Ptau::from_bytes(&edited(7, |b| b[4 + 32] ^= 1)));
    assert_eq!(
        (what.as_str(), why),
        (".ptau contribution 0 tau_g1", "not on the curve")
    );
}

/// `(x, y)` with `y² = x³ + b'` on the twist, not in G2 (the twist's
/// cofactor is large, so the first solution is outside it).
fn twist_point_outside_subgroup() -> (Fq2, Fq2) {
    let b = ark_bn254::g2::Config::COEFF_B;
    for i in 1u64.. {
        let x = Fq2::new(Fq::from(i), Fq::zero());
        if let Some(y) = (x * x * x + b).sqrt() {
            let p = G2Affine::new_unchecked(x, y);
            assert!(p.is_on_curve());
            if !p.is_in_correct_subgroup_assuming_on_curve() {
                return (x, y);
            }
        }
    }
    unreachable!()
}

#[test]
fn swapped_or_altered_powers_fail_the_check() {
    let swap = |id: u32, size: usize, i: usize| {
        edited(id, |b| {
            let (a, c) = b.split_at_mut((i + 1) * size);
            a[i * size..].swap_with_slice(&mut c[..size]);
        })
    };
    assert_eq!(
        inconsistent(&swap(2, 64, 3)),
        "τ·G1, ατ·G1, βτ·G1 are powers of τ"
    );
    assert_eq!(
        inconsistent(&swap(4, 64, 5)),
        "τ·G1, ατ·G1, βτ·G1 are powers of τ"
    );
    assert_eq!(
        inconsistent(&swap(5, 64, 1)),
        "τ·G1, ατ·G1, βτ·G1 are powers of τ"
    );
    assert_eq!(inconsistent(&swap(3, 128, 4)), "τ·G2 are powers of τ");
    assert_eq!(inconsistent(&swap(2, 64, 0)), "τ^0 is the generator");
    assert_eq!(
        inconsistent(&swap(12, 64, 20)),
        "section 12 is τ·G1 in the Lagrange basis"
    );
    assert_eq!(
        inconsistent(&swap(13, 128, 7)),
        "section 13 is τ·G2 in the Lagrange basis"
    );
    assert_eq!(
        inconsistent(&swap(14, 64, 2)),
        "section 14 is ατ·G1 in the Lagrange basis"
    );
    assert_eq!(
        inconsistent(&swap(15, 64, 29)),
        "section 15 is βτ·G1 in the Lagrange basis"
    );

    // β·G2 replaced by the generator (a valid point, another β).
    let g2 = G2Affine::generator();
    let mut enc = Vec::new();
    for c in [g2.x.c0, g2.x.c1, g2.y.c0, g2.y.c1] {
        enc.extend(lem_fq(&c));
    }
    assert_eq!(
        inconsistent(&edited(6, |b| b.copy_from_slice(&enc))),
        "β·G1 and β·G2 share β"
    );

    // The last record's τ·G1 replaced by the generator: it no longer names
    // the file's τ. Records are `4 + k·len` in; compute the last one's start
    // from the parsed length of the earlier ones.
    let p = Ptau::from_bytes(FIXTURE).unwrap();
    let s = split(FIXTURE);
    let body = &s.iter().find(|(i, _)| *i == 7).unwrap().1;
    let last = record_starts(body, p.contributions.len())[2];
    let g1 = G1Affine::generator();
    let mut enc = lem_fq(&g1.x);
    enc.extend(lem_fq(&g1.y));
    assert_eq!(
        inconsistent(&edited(7, |b| b[last..last + 64].copy_from_slice(&enc))),
        "the last contribution names the file's points"
    );
}

/// Offsets of each contribution record in section 7's body.
fn record_starts(body: &[u8], n: usize) -> Vec<usize> {
    let fixed = 3 * 64 + 2 * 128 + 6 * 64 + 3 * 128 + 216 + 64 + 4;
    let mut at = 4;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(at);
        let plen = u32::from_le_bytes(body[at + fixed..at + fixed + 4].try_into().unwrap());
        at += fixed + 4 + plen as usize;
    }
    assert_eq!(at, body.len());
    out
}

#[test]
fn malformed_contribution_records_are_refused() {
    let p = Ptau::from_bytes(FIXTURE).unwrap();
    let s = split(FIXTURE);
    let body = &s.iter().find(|(i, _)| *i == 7).unwrap().1;
    let starts = record_starts(body, p.contributions.len());
    let kind_at = starts[0] + 3 * 64 + 2 * 128 + 6 * 64 + 3 * 128 + 216 + 64;
    let binary = |b: Vec<u8>| matches!(Ptau::from_bytes(&b), Err(InteropError::Binary { .. }));
    assert!(binary(edited(7, |b| b[kind_at] = 2)), "type 2");
    // A plain contribution claiming to be a beacon lacks the beacon's parameters.
    assert!(
        binary(edited(7, |b| b[kind_at] = 1)),
        "type 1 without beacon params"
    );
    // The count says one more record than there is.
    assert!(binary(edited(7, |b| b[0] += 1)), "count");
    // The first record's name ("first") is its first parameter: id 1, len 5.
    let params = kind_at + 8;
    assert_eq!(&body[params..params + 2], &[1, 5]);
    assert!(binary(edited(7, |b| b[params] = 4)), "unknown parameter");
    assert!(
        binary(edited(7, |b| b[params + 2] = 0xff)),
        "name not UTF-8"
    );
    assert!(
        binary(edited(7, |b| b[params + 1] = 6)),
        "name longer than its parameters"
    );
}

fn hex64(s: &str) -> [u8; 64] {
    let v = hex::decode(s.replace(' ', "")).unwrap();
    v.try_into().unwrap()
}

/// What `snarkjs powersoftau verify pot4_final.ptau` printed (snarkjs
/// 0.7.6): each contribution's response hash, and the first challenge.
const SNARKJS_RESPONSE_HASHES: [&str; 3] = [
    "1bb263c9 6e6e924c c31a404e 15848608 09d94449 e850c598 a538a4f5 044910e4 e30e823d a1122896 f1e35f6f 936b6d4c bc3707a3 e83b9136 55d63642 9fa42fbb",
    "8733ac46 2fdbee3b b4ebf8b7 d06d3f88 0153acca d8cdd32b 880d970d 75e43f1c 76c63c57 1655ffc4 f866078e 518f4499 8c806af6 be5a299e 05844f22 76db55fd",
    "9b5afa29 baa1d279 f3f73d70 83e269c9 b54c5ed6 678e4fca d76ba993 730120c0 709747c1 f0373be8 a9ebbd86 2c14c3b4 11a7997a 3b9b3859 04f9a829 321ac40e",
];
const SNARKJS_FIRST_CHALLENGE_4: &str = "20544320 85403180 e1678602 c83562f1 f4ddefaf b4b9e717 1b530704 55a4cc6d b11b2e5b fe5e89c0 cb9ab4a7 b3b9fd5a 17bad62a d5ba013c 34e7dd2f bb4f143b";

#[test]
fn snarkjs_contribution_chain_verifies_with_snarkjs_hashes() {
    let p = Ptau::from_bytes(FIXTURE).unwrap();
    assert_eq!(ptau::first_challenge(4), hex64(SNARKJS_FIRST_CHALLENGE_4));
    let chain = p.verify_chain().expect("snarkjs says Powers of Tau Ok!");
    let names: Vec<_> = chain.iter().map(|c| c.name.as_deref()).collect();
    assert_eq!(names, [Some("first"), Some("second"), Some("final beacon")]);
    for (c, want) in chain.iter().zip(SNARKJS_RESPONSE_HASHES) {
        assert_eq!(c.response_hash, hex64(want), "{:?}", c.name);
    }
    let beacon = chain[2].beacon.as_ref().expect("the last is the beacon");
    assert_eq!(beacon.iterations_exp, 10);
    assert_eq!(beacon.hash, (1u8..=32).collect::<Vec<_>>());
    assert!(chain[..2].iter().all(|c| c.beacon.is_none()));
}

fn chain_failure(p: &Ptau) -> (usize, veil_interop::Phase1Failure) {
    match p.verify_chain() {
        Err(InteropError::Phase1Contribution { index, failure }) => (index, failure),
        other => panic!("expected a chain failure, got {other:?}"),
    }
}

#[test]
fn a_broken_contribution_chain_is_refused() {
    use veil_interop::Phase1Failure::*;
    let good = Ptau::from_bytes(FIXTURE).unwrap();
    let g1 = G1Affine::generator();
    let g2 = G2Affine::generator();

    // A proof of knowledge that does not hold (a τ key part's g2_spx).
    let mut p = good.clone();
    p.contributions[1].key[0].g2_spx = g2;
    assert_eq!(chain_failure(&p), (1, ProofOfKnowledge("τ")));
    // Key parts swapped: the α proof answers the τ challenge.
    let mut p = good.clone();
    p.contributions[0].key.swap(0, 1);
    assert!(matches!(chain_failure(&p), (0, ProofOfKnowledge(_))));
    // A middle record whose points do not follow (τ·G1 replaced): the
    // next contribution no longer follows from it either.
    let mut p = good.clone();
    p.contributions[0].tau_g1 = g1;
    assert_eq!(chain_failure(&p), (0, DoesNotFollow("τ·G1")));
    for (edit, what) in [(0, "τ·G2"), (1, "α·G1"), (2, "β·G1"), (3, "β·G2")] {
        let mut p = good.clone();
        let c = &mut p.contributions[1];
        match edit {
            0 => c.tau_g2 = g2,
            1 => c.alpha_g1 = g1,
            2 => c.beta_g1 = g1,
            _ => c.beta_g2 = g2,
        }
        assert_eq!(chain_failure(&p), (1, DoesNotFollow(what)), "{what}");
    }
    // A beacon value or exponent other than the one its key came from.
    let mut p = good.clone();
    if let Some(b) = &mut p.contributions[2].beacon {
        b.hash[0] ^= 1;
    }
    assert_eq!(chain_failure(&p), (2, BeaconKey));
    let mut p = good.clone();
    if let Some(b) = &mut p.contributions[2].beacon {
        b.iterations_exp = 3;
    }
    assert_eq!(chain_failure(&p), (2, BeaconParameters));
    // A contribution relabelled as a beacon it did not come from.
    let mut p = good.clone();
    p.contributions[1].beacon = p.contributions[2].beacon.clone();
    assert_eq!(chain_failure(&p), (1, BeaconKey));
    // The last next challenge, or the saved response state, altered.
    let mut p = good.clone();
    p.contributions[2].next_challenge[5] ^= 1;
    assert_eq!(chain_failure(&p), (2, NextChallenge));
    let mut p = good.clone();
    p.contributions[2].partial_hash[0] ^= 1;
    assert_eq!(chain_failure(&p), (2, NextChallenge));
    let mut p = good.clone();
    p.contributions[1].partial_hash[128 + 4 * 18] = 200;
    assert_eq!(chain_failure(&p), (1, PartialHash));
    // An intermediate next challenge: the next proof of knowledge fails.
    let mut p = good.clone();
    p.contributions[0].next_challenge[0] ^= 1;
    assert!(matches!(chain_failure(&p), (1, ProofOfKnowledge(_))));
    // A chain that does not start from the generators: drop the first.
    let mut p = good.clone();
    p.contributions.remove(0);
    assert!(matches!(chain_failure(&p), (0, _)));
    // No contribution at all.
    let mut p = good;
    p.contributions.clear();
    assert!(matches!(
        p.verify_chain(),
        Err(InteropError::Inconsistent { file: ".ptau", .. })
    ));
}

#[test]
fn insecure_files_record_their_one_known_contribution() {
    let p = Ptau::from_bytes(&ptau::insecure_prepared_ptau(3, [9; 32]).unwrap()).unwrap();
    p.check_powers(&mut rng()).unwrap();
    let chain = p.verify_chain().expect("its chain verifies");
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0].name.as_deref(), Some(ptau::INSECURE_CONTRIBUTOR));
}

/// The chain check's cost at `access`'s power (docs/ceremony.md,
/// "Measured"): the first challenge, three proofs of knowledge, five
/// same-ratio checks and the hash of every point.
#[test]
#[ignore = "a measurement: cargo test -p veil-interop --test ptau -- --ignored --nocapture"]
fn measure_verify_chain_at_power_14() {
    let bytes = ptau::insecure_prepared_ptau(14, [14; 32]).unwrap();
    let p = Ptau::from_bytes(&bytes).unwrap();
    let t = std::time::Instant::now();
    let chain = p.verify_chain().unwrap();
    eprintln!(
        "verify_chain at 2^14 ({} contribution): {:.2} s",
        chain.len(),
        t.elapsed().as_secs_f64()
    );
}
