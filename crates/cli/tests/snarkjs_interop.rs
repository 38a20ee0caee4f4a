//! Interoperability with snarkjs 0.7.6 itself (`tools/snarkjs`, installed
//! by `npm ci`; `docs/interop.md`), through the `veil export` commands:
//!
//! - `snarkjs groth16 verify` accepts veil's verifying keys, proofs and
//!   public inputs, and refuses them with one public input altered;
//! - `snarkjs wtns check` accepts veil's `.r1cs` with its `.wtns`, refuses an
//!   altered witness, and `snarkjs r1cs info` reports veil's counts;
//! - a proof snarkjs makes (its own Groth16 setup on veil's `.r1cs`, its own
//!   prover on veil's `.wtns`) verifies in veil under the verifying key
//!   snarkjs exports, and is refused for an altered statement.
//!
//! Without snarkjs installed these tests FAIL when `VEIL_REQUIRE_INTEROP=1`
//! (CI sets it) and otherwise print a loud skip line and pass.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use veil_interop::{export, ptau, snarkjs as sj};
use veil_primitives::Fr;
use veil_proofs::groth16::PreparedKey;
use veil_proofs::{CircuitId, VerifyError};

/// snarkjs and the prover use every core: one test at a time.
static HEAVY: Mutex<()> = Mutex::new(());

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `snarkjs args…` ([`veil_interop::tool::run`]).
fn snarkjs(cli: &Path, dir: &Path, args: &[&str]) -> Output {
    veil_interop::tool::run(cli, dir, args).expect("run node")
}

fn ok(out: Output, what: &str) -> String {
    let t = text(&out);
    assert!(out.status.success(), "{what} failed:\n{t}");
    t
}

/// `veil export <kind> --circuit <c> --out <dir>`.
fn veil_export(kind: &str, circuit: &str, dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["--dev-keys", "export", kind, "--circuit", circuit, "--out"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run veil");
    ok(out, &format!("veil export {kind} --circuit {circuit}"));
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `public.json` with input `i` increased by one.
fn altered_public(dir: &Path, i: usize) -> Vec<Fr> {
    let mut p = sj::public_from_json(&read(dir, "public.json")).unwrap();
    p[i] += Fr::from(1u64);
    p
}

#[test]
fn snarkjs_verifies_veil_proofs_and_refuses_altered_inputs() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs interop test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    for circuit in ["access", "withdraw", "settle_1"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        veil_export("vk", circuit, d);
        veil_export("proof", circuit, d);
        let t = ok(
            snarkjs(
                &cli,
                d,
                &[
                    "groth16",
                    "verify",
                    "verification_key.json",
                    "public.json",
                    "proof.json",
                ],
            ),
            circuit,
        );
        assert!(t.contains("OK!"), "{circuit}: {t}");
        let n = sj::public_from_json(&read(d, "public.json")).unwrap().len();
        for i in [0, n - 1] {
            std::fs::write(
                d.join("bad.json"),
                sj::public_to_json(&altered_public(d, i)),
            )
            .unwrap();
            let out = snarkjs(
                &cli,
                d,
                &[
                    "groth16",
                    "verify",
                    "verification_key.json",
                    "bad.json",
                    "proof.json",
                ],
            );
            assert!(
                !out.status.success(),
                "{circuit}: altered input {i} accepted:\n{}",
                text(&out)
            );
            assert!(
                text(&out).contains("Invalid proof"),
                "{circuit}: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn snarkjs_checks_veil_r1cs_and_witness() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs interop test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let record = veil_proofs::params::SetupRecord::committed(veil_proofs::KeySet::Dev).unwrap();
    for circuit in ["access", "settle_1"] {
        let id: CircuitId = circuit.parse().unwrap();
        let pin = record.get(id).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        veil_export("r1cs", circuit, d);
        veil_export("witness", circuit, d);
        let (r1cs, wtns) = (format!("{circuit}.r1cs"), format!("{circuit}.wtns"));

        let info = ok(snarkjs(&cli, d, &["r1cs", "info", &r1cs]), "r1cs info");
        assert!(
            info.contains(&format!("# of Constraints: {}", pin.constraints)),
            "{info}"
        );
        assert!(
            info.contains(&format!("# of Public Inputs: {}", pin.public_inputs)),
            "{info}"
        );
        assert!(info.contains("# of Outputs: 0"), "{info}");

        let check = ok(
            snarkjs(&cli, d, &["wtns", "check", &r1cs, &wtns]),
            "wtns check",
        );
        assert!(check.contains("WITNESS IS CORRECT"), "{check}");

        // One private wire changed: snarkjs must find the broken constraint.
        let mut w =
            veil_interop::Witness::from_bytes(&std::fs::read(d.join(&wtns)).unwrap()).unwrap();
        let last = w.0.len() - 1;
        w.0[last] += Fr::from(1u64);
        std::fs::write(d.join("bad.wtns"), w.to_bytes()).unwrap();
        let out = snarkjs(&cli, d, &["wtns", "check", &r1cs, "bad.wtns"]);
        assert!(
            !text(&out).contains("WITNESS IS CORRECT"),
            "{circuit}: altered witness accepted:\n{}",
            text(&out)
        );
    }
}

#[test]
fn snarkjs_proof_of_veil_circuit_verifies_in_veil() {
    let Some(cli) = veil_interop::tool::snarkjs_cli("snarkjs interop test") else {
        return;
    };
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let circuit = "settle_1";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    veil_export("r1cs", circuit, d);
    veil_export("witness", circuit, d);

    // settle_1: 7,346 constraints + 6 input rows fit 2^13.
    let t = Instant::now();
    let ptau = ptau::insecure_prepared_ptau(13, [42; 32]).unwrap();
    std::fs::write(d.join("pot13.ptau"), &ptau).unwrap();
    eprintln!(
        "veil insecure prepared ptau 2^13: {:.1} s, {} bytes",
        t.elapsed().as_secs_f64(),
        ptau.len()
    );

    let (r1cs, wtns) = (format!("{circuit}.r1cs"), format!("{circuit}.wtns"));
    ok(
        snarkjs(
            &cli,
            d,
            &["groth16", "setup", &r1cs, "pot13.ptau", "s0.zkey"],
        ),
        "groth16 setup",
    );
    ok(
        snarkjs(
            &cli,
            d,
            &[
                "zkey",
                "contribute",
                "s0.zkey",
                "s1.zkey",
                "--name=veil-test",
                "-e=veil interop test entropy",
            ],
        ),
        "zkey contribute",
    );
    ok(
        snarkjs(
            &cli,
            d,
            &[
                "groth16",
                "prove",
                "s1.zkey",
                &wtns,
                "proof.json",
                "public.json",
            ],
        ),
        "groth16 prove",
    );
    ok(
        snarkjs(
            &cli,
            d,
            &["zkey", "export", "verificationkey", "s1.zkey", "vk.json"],
        ),
        "export vk",
    );
    // snarkjs accepts its own proof (the ptau is sound for snarkjs too).
    ok(
        snarkjs(
            &cli,
            d,
            &["groth16", "verify", "vk.json", "public.json", "proof.json"],
        ),
        "snarkjs verify",
    );

    let vk_text = read(d, "vk.json");
    let vk = sj::vk_from_json(&vk_text).unwrap();
    // veil writes exactly what snarkjs wrote (same values, same shape).
    let ours: serde_json::Value = serde_json::from_str(&sj::vk_to_json(&vk)).unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&vk_text).unwrap();
    assert_eq!(ours, theirs);

    let proof = sj::proof_from_json(&read(d, "proof.json")).unwrap();
    let public = sj::public_from_json(&read(d, "public.json")).unwrap();
    let (statement, _) = export::sample_witness(circuit.parse().unwrap()).unwrap();
    assert_eq!(
        public, statement,
        "snarkjs' public.json is veil's statement"
    );
    let key = PreparedKey::new(&vk);
    assert_eq!(key.public_inputs(), 5);
    assert_eq!(key.verify(&public, &proof), Ok(()));
    for i in 0..public.len() {
        assert_eq!(
            key.verify(&altered_public(d, i), &proof),
            Err(VerifyError::InvalidProof),
            "input {i}"
        );
    }
    // The committed (development) key of settle_1 does not accept it.
    let dev = veil_proofs::params::ParamStore::open_dir(d, veil_proofs::KeySet::Dev)
        .unwrap()
        .verifying_key(circuit.parse().unwrap(), None)
        .unwrap();
    assert_eq!(
        PreparedKey::new(&dev).verify(&public, &proof),
        Err(VerifyError::InvalidProof)
    );
}
