//! Phase-2 contributions, beacons and transcript verification
//! (`veil_interop::phase2`), against snarkjs 0.7.6: committed fixtures made
//! by the snarkjs CLI (`tests/data/README.md`) with the hashes it printed,
//! and, where `tools/snarkjs` is installed, snarkjs itself on chains veil
//! and snarkjs build together. Without snarkjs the CLI tests FAIL when
//! `VEIL_REQUIRE_INTEROP=1` (CI sets it) and otherwise skip loudly.

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use ark_bn254::G1Affine;
use ark_ec::CurveGroup;
use ark_ff::One;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_interop::phase2::{ContributionHash, Transcript, verify_from_initial, verify_transcript};
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;
use veil_interop::{ContributionFailure, InteropError, R1cs, Witness, qap};
use veil_proofs::groth16::PreparedKey;

mod common;
use common::{PTAU, TOY_ZKEY, TOY_ZKEY_1, TOY_ZKEY_2, snarkjs, toy, toy_witness};

/// snarkjs and the prover use every core: one CLI test at a time.
static HEAVY: Mutex<()> = Mutex::new(());

/// The beacon of `toy_0002.zkey` (`tests/data/README.md`).
const BEACON: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";

/// What `snarkjs zkey verify toy.r1cs pot4_final.ptau toy_0002.zkey`
/// printed for contribution #1 ("toy contributor", by `snarkjs zkey
/// contribute`) and #2 (the beacon).
const SNARKJS_HASH_1: &str = "b7d20f51cd6b17f00388a75ba36b071125f271d834fcb21b97439ffa25246be2\
                              e27bb1732dfbd711350c016f706cd835f18c3311288ae13949cbc8da4a3d31e9";
const SNARKJS_HASH_2: &str = "cac8e6c042fb4dadca38b8e8041a02c5300b3f5670bd3dbf5cc73ba0db0a848f\
                              5933a3e95953ec6a4c41867fb5147546d8bfecd587aee044f39f9015a85d852f";
/// snarkjs' circuit hash of the toy key.
const CIRCUIT_HASH: &str = "6ceb677082136677cb55ba76e817251b99fb427feb08562f49319430435a1411\
                            740c0ff4fb0512f7435c68a60f60900e20b048b42dfaa7352e91d702605383b8";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn beacon_bytes() -> Vec<u8> {
    (1..=32u8).collect()
}

fn ptau() -> Ptau {
    Ptau::from_bytes(PTAU).unwrap()
}

fn verify(z: &Zkey) -> Result<Transcript, InteropError> {
    verify_transcript(z, &toy(), &ptau())
}

fn hashes(t: &Transcript) -> Vec<ContributionHash> {
    t.contributions.iter().map(|c| c.hash).collect()
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    eprintln!("veil {what}: {:.3} s", t.elapsed().as_secs_f64());
    v
}

/// veil: two contributions and a beacon on the toy key.
fn veil_chain() -> (Zkey, Vec<ContributionHash>) {
    let z0 = Zkey::from_bytes(TOY_ZKEY).unwrap();
    let (z1, h1) = timed("contribute toy", || {
        z0.contribute(b"first", Some("alice")).unwrap()
    });
    let (z2, h2) = z1.contribute(b"", None).unwrap();
    let (z3, h3) = timed("beacon toy (2^10 SHA-256)", || {
        z2.beacon(&beacon_bytes(), 10, Some("veil beacon")).unwrap()
    });
    (z3, vec![h1, h2, h3])
}

#[test]
fn snarkjs_fixtures_verify_with_the_hashes_snarkjs_printed() {
    let t = verify(&Zkey::from_bytes(TOY_ZKEY_2).unwrap()).unwrap();
    assert_eq!(hex(&t.circuit_hash), CIRCUIT_HASH);
    let h: Vec<String> = hashes(&t).iter().map(ContributionHash::to_hex).collect();
    assert_eq!(h, [SNARKJS_HASH_1, SNARKJS_HASH_2]);
    assert_eq!(t.contributions[0].name.as_deref(), Some("toy contributor"));
    assert_eq!(t.contributions[1].name.as_deref(), Some("toy beacon"));
    let b = t.contributions[1].beacon.as_ref().unwrap();
    assert_eq!((b.iterations_exp, hex(&b.hash)), (10, BEACON.to_owned()));
    // veil rewrites snarkjs' contributed files byte for byte.
    for f in [TOY_ZKEY_1, TOY_ZKEY_2] {
        assert!(Zkey::from_bytes(f).unwrap().to_bytes() == f);
    }
    let t1 = verify(&Zkey::from_bytes(TOY_ZKEY_1).unwrap()).unwrap();
    assert_eq!(t1.contributions[0].hash.to_hex(), SNARKJS_HASH_1);
    let t0 = verify(&Zkey::from_bytes(TOY_ZKEY).unwrap()).unwrap();
    assert!(t0.contributions.is_empty());
}

/// The beacon is deterministic: veil's on snarkjs' `toy_0001.zkey` is
/// snarkjs' `toy_0002.zkey` byte for byte (same ChaCha draws of `Fr`, `G1`,
/// hash-to-G2 and the same encodings).
#[test]
fn veil_beacon_is_snarkjs_beacon_byte_for_byte() {
    let z1 = Zkey::from_bytes(TOY_ZKEY_1).unwrap();
    let (z2, h) = z1.beacon(&beacon_bytes(), 10, Some("toy beacon")).unwrap();
    assert_eq!(h.to_hex(), SNARKJS_HASH_2);
    assert!(
        z2.to_bytes() == TOY_ZKEY_2,
        "veil's beacon differs from snarkjs'"
    );
}

#[test]
fn beacon_parameters_outside_snarkjs_range_are_refused() {
    let z = Zkey::from_bytes(TOY_ZKEY).unwrap();
    for (hash, exp) in [(beacon_bytes(), 9), (beacon_bytes(), 64), (vec![], 10)] {
        assert!(matches!(
            z.beacon(&hash, exp, None),
            Err(InteropError::Unsupported { .. })
        ));
    }
    assert!(z.beacon(&[7; 256], 10, None).is_err());
}

#[test]
fn veil_chain_verifies_and_its_key_proves() {
    let (z, h) = veil_chain();
    let back = Zkey::from_bytes(&z.to_bytes()).unwrap();
    assert_eq!(back, z);
    let t = timed("verify_transcript toy", || verify(&back).unwrap());
    assert_eq!(hashes(&t), h);
    let names: Vec<_> = t.contributions.iter().map(|c| c.name.as_deref()).collect();
    assert_eq!(names, [Some("alice"), None, Some("veil beacon")]);
    assert_eq!(hex(&t.circuit_hash), CIRCUIT_HASH);
    assert!(t.contributions[2].beacon.is_some());
    assert_eq!(
        verify_from_initial(&back, &Zkey::from_bytes(TOY_ZKEY).unwrap()).unwrap(),
        t
    );
    // A reference that is not an initial key is refused.
    assert!(verify_from_initial(&back, &back).is_err());
    // Two contributions from the same key differ (fresh OS entropy).
    let z0 = Zkey::from_bytes(TOY_ZKEY).unwrap();
    let (a, _) = z0.contribute(b"same", None).unwrap();
    let (b, _) = z0.contribute(b"same", None).unwrap();
    assert_ne!(a.delta_g1, b.delta_g1);

    // A proof under the final key verifies under its verifying key; one
    // under the initial key does not.
    let w = Witness(toy_witness());
    let statement = w.public_inputs(2).unwrap().to_vec();
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let pk = z.proving_key();
    let proof = qap::prove(&pk, &toy(), &w, &mut rng).unwrap();
    let vk = PreparedKey::new(&pk.vk);
    vk.verify(&statement, &proof).unwrap();
    let initial = qap::prove(&z0.proving_key(), &toy(), &w, &mut rng).unwrap();
    assert!(vk.verify(&statement, &initial).is_err());
    let mut bad = statement.clone();
    bad[0] += ark_bn254::Fr::one();
    assert!(vk.verify(&bad, &proof).is_err());
}

fn contribution_failure(r: Result<Transcript, InteropError>) -> (usize, ContributionFailure) {
    match r {
        Err(InteropError::Contribution { index, failure }) => (index, failure),
        other => panic!("expected a contribution failure, got {other:?}"),
    }
}

fn inconsistent(r: Result<Transcript, InteropError>) -> &'static str {
    match r {
        Err(InteropError::Inconsistent { check, .. }) => check,
        other => panic!("expected an inconsistency, got {other:?}"),
    }
}

fn double(p: G1Affine) -> G1Affine {
    (p + p).into_affine()
}

/// Each forgery of a valid 3-contribution transcript, with the error veil
/// names for it.
enum Expect {
    Contribution(usize, ContributionFailure),
    Inconsistent(&'static str),
}

fn forgeries(z: &Zkey) -> Vec<(&'static str, Zkey, Expect)> {
    use ContributionFailure as F;
    use Expect::{Contribution as C, Inconsistent as I};
    let edit = |f: &dyn Fn(&mut Zkey)| {
        let mut o = z.clone();
        f(&mut o);
        o
    };
    let last = "δ·G1 is the last contribution's";
    vec![
        (
            "altered deltaAfter of #1",
            edit(&|o| o.contributions[0].delta_after = double(o.contributions[0].delta_after)),
            C(0, F::DeltaAfter),
        ),
        (
            "altered deltaAfter of the last (and vk δ with it)",
            edit(&|o| {
                let d = double(o.contributions[2].delta_after);
                o.contributions[2].delta_after = d;
                o.delta_g1 = d;
            }),
            C(2, F::DeltaAfter),
        ),
        (
            "broken proof of knowledge (g2_spx)",
            edit(&|o| {
                let p = o.contributions[1].key.g2_spx;
                o.contributions[1].key.g2_spx = (p + p).into_affine();
            }),
            C(1, F::ProofOfKnowledge),
        ),
        (
            "g1_sx altered",
            edit(&|o| o.contributions[1].key.g1_sx = double(o.contributions[1].key.g1_sx)),
            C(1, F::Transcript),
        ),
        (
            "transcript hash altered",
            edit(&|o| o.contributions[0].transcript[5] ^= 1),
            C(0, F::Transcript),
        ),
        (
            "a contribution dropped from the middle",
            edit(&|o| {
                o.contributions.remove(1);
            }),
            C(1, F::Transcript),
        ),
        (
            "beacon value altered",
            edit(&|o| o.contributions[2].beacon.as_mut().unwrap().hash[0] ^= 1),
            C(2, F::BeaconKey),
        ),
        (
            "beacon iterations exponent below snarkjs' 10",
            edit(&|o| o.contributions[2].beacon.as_mut().unwrap().iterations_exp = 9),
            C(2, F::BeaconParameters),
        ),
        (
            "L section not divided by delta",
            edit(&|o| o.c[0] = double(o.c[0])),
            I("C (snarkjs' L section) is the circuit's divided by δ"),
        ),
        (
            "H section not divided by delta",
            edit(&|o| o.h[1] = double(o.h[1])),
            I("H section is the circuit's divided by δ"),
        ),
        (
            "vk δ·G1 not the last contribution's",
            edit(&|o| o.delta_g1 = o.contributions[1].delta_after),
            I(last),
        ),
        (
            "vk δ·G2 not δ",
            edit(&|o| o.delta_g2 = (o.delta_g2 + o.delta_g2).into_affine()),
            I("δ·G1 and δ·G2 share δ"),
        ),
        (
            "contributions dropped, δ kept",
            edit(&|o| o.contributions.clear()),
            I(last),
        ),
    ]
}

#[test]
fn forged_transcripts_are_refused_naming_the_failure() {
    let (z, _) = veil_chain();
    for (what, forged, expect) in forgeries(&z) {
        let r = verify(&forged);
        match expect {
            Expect::Contribution(i, f) => assert_eq!(contribution_failure(r), (i, f), "{what}"),
            Expect::Inconsistent(c) => assert_eq!(inconsistent(r), c, "{what}"),
        }
    }
    // The original still verifies (nothing above changed it).
    verify(&z).unwrap();
}

#[test]
fn zkey_of_another_circuit_is_refused() {
    let (z, _) = veil_chain();
    let mut other: R1cs = toy();
    other.constraints[2].a[0].1 += ark_bn254::Fr::one();
    let r = verify_transcript(&z, &other, &ptau());
    assert_eq!(inconsistent(r), "A, B·G1 and B·G2 are the circuit's");
}

#[test]
fn truncated_or_extended_zkey_is_refused() {
    let (z, _) = veil_chain();
    let bytes = z.to_bytes();
    for cut in [1, 64, bytes.len() / 2, bytes.len() - 1] {
        assert!(Zkey::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Zkey::from_bytes(&longer).is_err(), "trailing byte");
    // A trailing byte inside section 10 (the contributions).
    let edited = common::edited(b"zkey", &bytes, 10, |b| b.push(0));
    assert!(
        Zkey::from_bytes(&edited).is_err(),
        "trailing byte in section 10"
    );
}

// ---- against the snarkjs CLI ----

/// Lower-case hex runs of `text` with all whitespace removed, so snarkjs'
/// grouped hashes (`formatHash`) read as one string.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn setup(d: &Path) {
    std::fs::write(d.join("toy.r1cs"), common::TOY_R1CS).unwrap();
    std::fs::write(d.join("pot.ptau"), PTAU).unwrap();
}

fn snarkjs_verify(cli: &Path, d: &Path, file: &str) -> (bool, String) {
    snarkjs(cli, d, &["zkey", "verify", "toy.r1cs", "pot.ptau", file])
}

fn snarkjs_accepts_with(cli: &Path, d: &Path, file: &str, hashes: &[ContributionHash]) {
    let (ok, out) = snarkjs_verify(cli, d, file);
    assert!(
        ok && out.contains("ZKey Ok!"),
        "snarkjs refuses {file}:\n{out}"
    );
    let s = squeezed(&out);
    for h in hashes {
        assert!(
            s.contains(&h.to_hex()),
            "snarkjs does not print {h}:\n{out}"
        );
    }
}

#[test]
fn snarkjs_accepts_veil_chain_and_prints_its_hashes() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs phase-2 contribution test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let (z, h) = veil_chain();
    std::fs::write(d.join("veil.zkey"), z.to_bytes()).unwrap();
    snarkjs_accepts_with(&cli, d, "veil.zkey", &h);
}

/// Chains alternating veil and snarkjs: veil, snarkjs, veil, then a beacon
/// by snarkjs that veil's beacon reproduces byte for byte; both verifiers
/// accept every step with the same hashes.
#[test]
fn mixed_veil_and_snarkjs_chain_verifies_in_both() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs phase-2 contribution test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let z0 = Zkey::new(&toy(), &ptau()).unwrap();
    let (z1, h1) = z0.contribute(b"veil one", Some("veil 1")).unwrap();
    std::fs::write(d.join("z1.zkey"), z1.to_bytes()).unwrap();
    let (ok, out) = snarkjs(
        &cli,
        d,
        &[
            "zkey",
            "contribute",
            "z1.zkey",
            "z2.zkey",
            "--name=snarkjs 2",
            "-e=test entropy",
        ],
    );
    assert!(ok, "{out}");
    let z2 = Zkey::from_bytes(&std::fs::read(d.join("z2.zkey")).unwrap()).unwrap();
    let t2 = verify(&z2).unwrap();
    let h2 = t2.contributions[1].hash;
    assert!(
        squeezed(&out).contains(&h2.to_hex()),
        "snarkjs printed another hash:\n{out}"
    );
    assert_eq!(t2.contributions[0].hash, h1);
    assert_eq!(t2.contributions[1].name.as_deref(), Some("snarkjs 2"));

    let (z3, h3) = z2.contribute(b"veil three", Some("veil 3")).unwrap();
    std::fs::write(d.join("z3.zkey"), z3.to_bytes()).unwrap();
    let (ok, out) = snarkjs(
        &cli,
        d,
        &[
            "zkey",
            "beacon",
            "z3.zkey",
            "z4.zkey",
            BEACON,
            "10",
            "-n=final beacon",
        ],
    );
    assert!(ok, "{out}");
    let theirs = std::fs::read(d.join("z4.zkey")).unwrap();
    let (z4, h4) = z3
        .beacon(&beacon_bytes(), 10, Some("final beacon"))
        .unwrap();
    assert!(
        z4.to_bytes() == theirs,
        "veil's beacon differs from snarkjs'"
    );
    let t4 = verify(&Zkey::from_bytes(&theirs).unwrap()).unwrap();
    assert_eq!(hashes(&t4), [h1, h2, h3, h4]);
    snarkjs_accepts_with(&cli, d, "z4.zkey", &[h1, h2, h3, h4]);

    // The final key proves; snarkjs verifies veil's proof under it.
    let w = Witness(toy_witness());
    let statement = w.public_inputs(2).unwrap().to_vec();
    let pk = z4.proving_key();
    let proof = qap::prove(&pk, &toy(), &w, &mut ChaCha20Rng::from_seed([5; 32])).unwrap();
    PreparedKey::new(&pk.vk).verify(&statement, &proof).unwrap();
}

/// snarkjs refuses what veil refuses: every forgery above, written out.
#[test]
fn snarkjs_refuses_the_forgeries_veil_refuses() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs phase-2 contribution test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let (z, h) = veil_chain();
    std::fs::write(d.join("good.zkey"), z.to_bytes()).unwrap();
    snarkjs_accepts_with(&cli, d, "good.zkey", &h);
    for (i, (what, forged, _)) in forgeries(&z).into_iter().enumerate() {
        assert!(verify(&forged).is_err(), "{what}");
        let name = format!("forged{i}.zkey");
        std::fs::write(d.join(&name), forged.to_bytes()).unwrap();
        let (ok, out) = snarkjs_verify(&cli, d, &name);
        assert!(
            !ok || !out.contains("ZKey Ok!"),
            "snarkjs accepts {what}:\n{out}"
        );
    }
    let bytes = z.to_bytes();
    std::fs::write(d.join("cut.zkey"), &bytes[..bytes.len() - 1]).unwrap();
    assert!(!snarkjs_verify(&cli, d, "cut.zkey").0, "truncated");
}

/// Timings of a contribution and of transcript verification for `access`
/// (2^14): a benchmark, not a check (`docs/interop.md`):
/// `cargo test -p veil-interop --test phase2 -- --ignored --nocapture`.
#[test]
#[ignore = "long run: Zkey::new for access, a benchmark"]
fn measure_access_contribute_and_verify() {
    use veil_interop::{export, ptau};
    use veil_proofs::CircuitId;
    let r1cs = export::circuit_r1cs(CircuitId::Access).unwrap();
    let bytes = timed("insecure_prepared_ptau(14)", || {
        ptau::insecure_prepared_ptau(14, [14; 32]).unwrap()
    });
    let p = timed("Ptau::from_bytes 2^14", || {
        Ptau::from_bytes(&bytes).unwrap()
    });
    timed("Ptau::check_powers 2^14", || {
        p.check_powers(&mut rand::rngs::OsRng).unwrap()
    });
    let z0 = timed("Zkey::new access", || Zkey::new(&r1cs, &p).unwrap());
    let (z1, _) = timed("contribute access", || z0.contribute(b"", None).unwrap());
    let (z2, _) = timed("contribute access (2nd)", || {
        z1.contribute(b"", None).unwrap()
    });
    let (z3, _) = timed("beacon access (2^10)", || {
        z2.beacon(&beacon_bytes(), 10, None).unwrap()
    });
    let out = timed("to_bytes + from_bytes access", || {
        Zkey::from_bytes(&z3.to_bytes()).unwrap()
    });
    let t = timed("verify_from_initial access (transcript, C and H)", || {
        verify_from_initial(&out, &z0).unwrap()
    });
    assert_eq!(t.contributions.len(), 3);
    let t = timed(
        "verify_transcript access (initial key by initial_for)",
        || verify_transcript(&out, &r1cs, &p).unwrap(),
    );
    assert_eq!(t.contributions.len(), 3);
}
