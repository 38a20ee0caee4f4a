//! `veil export solidity` and `veil export poseidon` as a user (and CI)
//! runs them: the committed contracts pass `--check`, a written copy is
//! byte-identical, a stale or missing file fails `--check` by name and is
//! left as it was, and a bad circuit name is a usage error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn veil(args: &[&str]) -> Output {
    export("solidity", args)
}

fn export(what: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["--dev-keys", "export", what])
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run veil")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn committed_verifiers_pass_check() {
    let out = veil(&["--circuit", "all", "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn written_verifiers_equal_the_committed_ones_and_check_names_stale_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = veil(&["--circuit", "all", "--out", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = repo().join("contracts/src/verifiers");
    for name in [
        "Access",
        "Withdraw",
        "Settle1",
        "Settle8",
        "Settle64",
        "TreeInsert64",
        "AccessBatch",
    ] {
        let file = format!("{name}Verifier.sol");
        let written = std::fs::read(dir.path().join(&file)).expect("written");
        assert_eq!(
            written,
            std::fs::read(committed.join(&file)).expect("committed"),
            "{file}"
        );
    }

    let stale = dir.path().join("Settle8Verifier.sol");
    std::fs::write(&stale, b"// edited\n").expect("edit");
    std::fs::remove_file(dir.path().join("WithdrawVerifier.sol")).expect("remove");
    let out = veil(&["--circuit", "all", "--out", d, "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("Settle8Verifier.sol differs"), "{err}");
    assert!(err.contains("WithdrawVerifier.sol is missing"), "{err}");
    assert!(!err.contains("AccessVerifier.sol"), "{err}");
    // --check writes nothing.
    assert_eq!(std::fs::read(&stale).expect("read"), b"// edited\n");
    assert!(!dir.path().join("WithdrawVerifier.sol").exists());
}

#[test]
fn bad_circuit_names_are_usage_errors() {
    for bad in ["settle_2", "", "ALL", "access,,withdraw"] {
        let out = veil(&["--circuit", bad, "--check"]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("--circuit"),
            "{bad:?}: {}",
            stderr(&out)
        );
    }
    let out = veil(&["--check"]);
    assert_eq!(out.status.code(), Some(2), "--circuit is required");
}

#[test]
fn poseidon_contracts_pass_check_and_are_rewritten_identically() {
    let out = export("poseidon", &["--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8 path");
    let out = export("poseidon", &["--out", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let committed = repo().join("contracts/src/poseidon");
    for t in 2..=4 {
        let file = format!("PoseidonT{t}.sol");
        assert_eq!(
            std::fs::read(dir.path().join(&file)).expect("written"),
            std::fs::read(committed.join(&file)).expect("committed"),
            "{file}"
        );
    }
    std::fs::write(dir.path().join("PoseidonT3.sol"), "// edited").expect("write");
    let out = export("poseidon", &["--out", d, "--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PoseidonT3.sol differs"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("PoseidonT3.sol")).expect("read"),
        "// edited",
        "--check writes nothing"
    );
}
