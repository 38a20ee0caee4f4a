//! `veil ceremony contribute | beacon | verify` on the toy fixtures of
//! `crates/interop/tests/data` (made by snarkjs 0.7.6): a chain the
//! library verifies with the hashes the commands print; a forged key and a
//! missing file fail (exit 1) writing nothing; entropy on the command line
//! is refused (exit 2). The project's ceremony script end to end with
//! `veil setup --from-ceremony` and `--verify`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use veil_interop::R1cs;
use veil_interop::phase2::verify_transcript;
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/tests/data");

fn veil(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run veil");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(d: &Path, name: &str) -> String {
    d.join(name).to_str().unwrap().to_owned()
}

#[test]
fn contribute_beacon_verify_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = Path::new(DATA);
    let (z0, z1, z2, z3) = (
        format!("{DATA}/toy_0000.zkey"),
        p(d, "1.zkey"),
        p(d, "2.zkey"),
        p(d, "3.zkey"),
    );
    let o = veil(
        &[
            "ceremony",
            "contribute",
            "--in",
            &z0,
            "--out",
            &z1,
            "--name",
            "alice",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = veil(
        &[
            "ceremony",
            "contribute",
            "--in",
            &z1,
            "--out",
            &z2,
            "--entropy-stdin",
        ],
        Some(b"typed by bob"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let beacon = "0102030405060708090a0b0c0d0e0f10";
    let args = [
        "ceremony",
        "beacon",
        "--in",
        &z2,
        "--out",
        &z3,
        "--beacon",
        beacon,
        "--iterations-exp",
        "10",
    ];
    let o = veil(&args, None);
    assert!(o.status.success(), "{}", text(&o));

    let z = Zkey::from_bytes(&std::fs::read(&z3).unwrap()).unwrap();
    let r1cs = R1cs::from_bytes(&std::fs::read(data.join("toy.r1cs")).unwrap()).unwrap();
    let ptau = Ptau::from_bytes(&std::fs::read(data.join("pot4_final.ptau")).unwrap()).unwrap();
    let t = verify_transcript(&z, &r1cs, &ptau).unwrap();
    assert_eq!(t.contributions.len(), 3);
    assert_eq!(t.contributions[0].name.as_deref(), Some("alice"));

    let ptau_path = format!("{DATA}/pot4_final.ptau");
    let r1cs_path = format!("{DATA}/toy.r1cs");
    let args = [
        "ceremony", "verify", "--r1cs", &r1cs_path, "--ptau", &ptau_path, "--zkey", &z3,
    ];
    let o = veil(&args, None);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    for c in &t.contributions {
        assert!(out.contains(&c.hash.to_hex()), "{out}");
    }
    assert!(out.contains("transcript OK (3 contributions)"), "{out}");

    // A forged key: the last contribution's δ altered.
    let mut forged = z.clone();
    forged.delta_g1 = forged.contributions[1].delta_after;
    let bad = p(d, "bad.zkey");
    std::fs::write(&bad, forged.to_bytes()).unwrap();
    let args = [
        "ceremony", "verify", "--r1cs", &r1cs_path, "--ptau", &ptau_path, "--zkey", &bad,
    ];
    let o = veil(&args, None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("δ·G1 is the last contribution's"),
        "{}",
        text(&o)
    );
    // A contribution to a missing file writes nothing.
    let none = p(d, "none.zkey");
    let o = veil(
        &[
            "ceremony",
            "contribute",
            "--in",
            &none,
            "--out",
            &p(d, "x.zkey"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!d.join("x.zkey").exists());
}

#[test]
fn entropy_on_the_command_line_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = p(dir.path(), "x.zkey");
    let z0 = format!("{DATA}/toy_0000.zkey");
    let o = veil(
        &[
            "ceremony",
            "contribute",
            "--in",
            &z0,
            "--out",
            &out,
            "--entropy=hunter2",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!text(&o).contains("hunter2"));
    assert!(text(&o).contains("--entropy-stdin"), "{}", text(&o));
    assert!(!dir.path().join("x.zkey").exists());
}

#[test]
fn new_writes_snarkjs_initial_key_and_no_step_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = p(dir.path(), "0.zkey");
    let (r1cs, ptau) = (
        format!("{DATA}/toy.r1cs"),
        format!("{DATA}/pot4_final.ptau"),
    );
    let args = [
        "ceremony", "new", "--r1cs", &r1cs, "--ptau", &ptau, "--out", &out,
    ];
    let o = veil(&args, None);
    assert!(o.status.success(), "{}", text(&o));
    let snarkjs = std::fs::read(format!("{DATA}/toy_0000.zkey")).unwrap();
    assert_eq!(
        std::fs::read(&out).unwrap(),
        snarkjs,
        "snarkjs zkey new's bytes"
    );

    // Every step refuses an existing output and leaves it as it was.
    std::fs::write(&out, b"keep").unwrap();
    let z0 = format!("{DATA}/toy_0000.zkey");
    for args in [
        vec![
            "ceremony", "new", "--r1cs", &r1cs, "--ptau", &ptau, "--out", &out,
        ],
        vec!["ceremony", "contribute", "--in", &z0, "--out", &out],
        vec![
            "ceremony",
            "beacon",
            "--in",
            &z0,
            "--out",
            &out,
            "--beacon",
            "01",
            "--iterations-exp",
            "10",
        ],
    ] {
        let o = veil(&args, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("exists"), "{}", text(&o));
        assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    }

    // Neither or both of --circuit and --r1cs: a usage error.
    let o = veil(
        &[
            "ceremony",
            "new",
            "--ptau",
            &ptau,
            "--out",
            &p(dir.path(), "n.zkey"),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let args = [
        "ceremony",
        "new",
        "--circuit",
        "access",
        "--r1cs",
        &r1cs,
        "--ptau",
        &ptau,
        "--out",
        &p(dir.path(), "n.zkey"),
    ];
    assert_eq!(veil(&args, None).status.code(), Some(2));
}

/// Two contributions racing to the same output: exactly one wins, the
/// file is that one complete key, and no temporary file is left.
#[test]
fn racing_contributions_to_one_output_leave_one_complete_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = p(dir.path(), "1.zkey");
    let z0 = format!("{DATA}/toy_0000.zkey");
    for _ in 0..3 {
        let _ = std::fs::remove_file(&out);
        let spawn = |name: &str| {
            Command::new(env!("CARGO_BIN_EXE_veil"))
                .args(["ceremony", "contribute", "--in", &z0, "--out", &out])
                .args(["--name", name])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn("a"), spawn("b"));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert_eq!(
            usize::from(a.status.success()) + usize::from(b.status.success()),
            1,
            "{}\n{}",
            text(&a),
            text(&b)
        );
        let loser = if a.status.success() { &b } else { &a };
        assert!(text(loser).contains("exists"), "{}", text(loser));
        let z = Zkey::from_bytes(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(z.contributions.len(), 1);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}

/// Runs `tools/ceremony/run.sh` with this build's `veil` and a private
/// proving-key cache.
fn script(args: &[&str], cache: &Path) -> Output {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/ceremony/run.sh");
    Command::new("bash")
        .arg(path)
        .args(args)
        .env("VEIL", env!("CARGO_BIN_EXE_veil"))
        .env("VEIL_PARAMS_CACHE", cache)
        .stdin(Stdio::null())
        .output()
        .expect("run the ceremony script")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    text(o)
}

fn cached(cache: &Path) -> usize {
    std::fs::read_dir(cache).map(|d| d.count()).unwrap_or(0)
}

/// The project's script runs a ceremony for `settle_1` (three
/// contributions and a beacon), pins its keys with `veil ceremony
/// finalize` (a policy it does not meet first: nothing written), and
/// `veil setup --verify` re-checks
/// them; a changed verifying key, the development pins, or keys that
/// differ from the compiled-in pins are refused, installing nothing.
#[test]
fn ceremony_script_pins_keys_that_setup_verify_rechecks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (cer, params, cache) = (p(d, "ceremony"), p(d, "params"), d.join("cache"));
    let ptau = d.join("pot13.ptau");
    std::fs::write(
        &ptau,
        veil_interop::ptau::insecure_prepared_ptau(13, [3; 32]).unwrap(),
    )
    .unwrap();
    ok(&script(
        &["init", &cer, ptau.to_str().unwrap(), "settle_1"],
        &cache,
    ));
    for name in ["alice", "bob", "carol"] {
        ok(&script(&["contribute", &cer, name], &cache));
    }
    ok(&script(&["beacon", &cer, &"be".repeat(32), "10"], &cache));
    let refused = script(&["contribute", &cer, "late"], &cache);
    assert!(!refused.status.success(), "{}", text(&refused));
    // A policy the transcript does not meet: nothing pinned, installed or
    // reported.
    let o = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "ceremony",
            "finalize",
            "--dir",
            &cer,
            "--circuit",
            "settle_1",
        ])
        .args(["--min-contributions", "4", "--params-dir", &params])
        .env("VEIL_PARAMS_CACHE", &cache)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("at least 4 required"), "{}", text(&o));
    assert!(!Path::new(&params).join("setup.json").exists());
    assert!(!Path::new(&cer).join("transcript.txt").exists());
    assert_eq!(cached(&cache), 0);
    let out = ok(&script(&["finalize", &cer, &params], &cache));
    assert!(out.contains("beacon #4 final beacon"), "{out}");
    // Phase 1's chain was verified and listed (the test file records one
    // contribution, of its known secrets).
    assert!(
        out.contains("phase 1: 1 contribution(s), chain verified"),
        "{out}"
    );
    assert!(
        out.contains("phase-1 contribution #1 INSECURE test phase 1"),
        "{out}"
    );
    assert_eq!(cached(&cache), 1);
    let record = std::fs::read_to_string(Path::new(&params).join("setup.json")).unwrap();
    assert!(record.contains("\"source\": \"ceremony\""), "{record}");
    let report = std::fs::read_to_string(Path::new(&cer).join("transcript.txt")).unwrap();
    // The published report is what finalize printed.
    assert!(
        report.lines().all(|l| out.contains(l)),
        "{report}\n---\n{out}"
    );
    assert!(report.contains("beacon #4 final beacon"), "{report}");
    assert!(report.contains("phase-1 contribution #1"), "{report}");

    let out = ok(&script(&["verify", &cer, &params], &cache));
    assert!(out.contains("settle_1: OK"), "{out}");

    // A verifying key that is not the transcript's.
    let vk = Path::new(&params).join("settle_1.vk");
    let good = std::fs::read(&vk).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    std::fs::write(&vk, &bad).unwrap();
    let o = script(&["verify", &cer, &params], &cache);
    assert!(
        !o.status.success() && text(&o).contains("settle_1: FAILED"),
        "{}",
        text(&o)
    );
    std::fs::write(&vk, &good).unwrap();

    // The ceremony pins compiled into the binary do not hold this key.
    let o = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["setup", "--verify", &cer, "--circuit", "settle_1"])
        .env("VEIL_PARAMS_CACHE", &cache)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("compiled into this binary"), "{out}");
    assert!(out.contains("settle_1: FAILED"), "{out}");
    // The committed development pins are not a ceremony's.
    let dev_pins = concat!(env!("CARGO_MANIFEST_DIR"), "/../../params/dev");
    let o = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["setup", "--verify", &cer, "--circuit", "settle_1"])
        .args(["--params-dir", dev_pins])
        .env("VEIL_PARAMS_CACHE", &cache)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("INSECURE development key"), "{out}");
    // --dev-keys has no meaning for ceremony keys.
    let o = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args([
            "--dev-keys",
            "setup",
            "--verify",
            &cer,
            "--circuit",
            "settle_1",
        ])
        .env("VEIL_PARAMS_CACHE", &cache)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("--dev-keys does not apply"),
        "{}",
        text(&o)
    );

    // Installing against the compiled-in pins (none for settle_1 yet):
    // refused, nothing new in the cache.
    let o = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["setup", "--from-ceremony", &cer, "--circuit", "settle_1"])
        .env("VEIL_PARAMS_CACHE", &cache)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("nothing installed"),
        "{}",
        text(&o)
    );
    assert_eq!(cached(&cache), 1);
}
