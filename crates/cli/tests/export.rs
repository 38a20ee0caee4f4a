//! `veil export`: files that parse back to what veil holds, usage errors
//! (exit 2) and clear failures (exit 1) that write nothing.

use std::process::{Command, Output, Stdio};

use veil_interop::{R1cs, Witness, export, snarkjs};
use veil_proofs::CircuitId;
use veil_proofs::params::ParamStore;

/// `veil --dev-keys ARGS` (the committed keys are development keys).
fn veil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .arg("--dev-keys")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run veil")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exported_vk_r1cs_and_witness_parse_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("new/sub");
    let out_dir = d.to_str().unwrap();
    for kind in ["vk", "r1cs", "witness"] {
        let out = veil(&["export", kind, "--circuit", "withdraw", "--out", out_dir]);
        assert!(out.status.success(), "{kind}: {}", stderr(&out));
    }
    let vk =
        snarkjs::vk_from_json(&std::fs::read_to_string(d.join("verification_key.json")).unwrap())
            .unwrap();
    let committed = ParamStore::open_dir(dir.path(), veil_proofs::KeySet::Dev)
        .unwrap()
        .verifying_key(CircuitId::Withdraw, None)
        .unwrap();
    assert_eq!(vk, committed);
    let r1cs = R1cs::from_bytes(&std::fs::read(d.join("withdraw.r1cs")).unwrap()).unwrap();
    assert_eq!(r1cs, export::circuit_r1cs(CircuitId::Withdraw).unwrap());
    let w = Witness::from_bytes(&std::fs::read(d.join("withdraw.wtns")).unwrap()).unwrap();
    r1cs.check(&w.0).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    for args in [
        vec!["export", "vk", "--circuit", "settle_2", "--out", out_dir],
        vec!["export", "vk", "--circuit", "access"],
        vec!["export", "vk", "--out", out_dir],
        vec!["export", "zkey", "--circuit", "access", "--out", out_dir],
        vec!["export"],
    ] {
        let out = veil(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    let out = veil(&["export", "vk", "--circuit", "settle_2", "--out", out_dir]);
    assert!(stderr(&out).contains("unknown circuit"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn an_output_path_that_is_a_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"keep").unwrap();
    let out = veil(&[
        "export",
        "r1cs",
        "--circuit",
        "settle_1",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: creating"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
}
