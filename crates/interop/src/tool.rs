//! The pinned snarkjs (`tools/snarkjs`, `docs/interop.md`) for the tests
//! that run it beside veil.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// `tools/snarkjs/node_modules/snarkjs/cli.js` of this checkout when it is
/// installed and `node` runs; otherwise `None` after a loud skip notice
/// naming `what` is skipped, or a panic when `VEIL_REQUIRE_INTEROP=1` (CI
/// must not skip).
pub fn snarkjs_cli(what: &str) -> Option<PathBuf> {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/snarkjs/node_modules/snarkjs/cli.js");
    let node = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success());
    if cli.exists() && matches!(node, Ok(true)) {
        return Some(cli);
    }
    let why = format!(
        "snarkjs is not installed ({} missing or no `node` on PATH); run `(cd tools/snarkjs && npm ci --ignore-scripts)`",
        cli.display()
    );
    if std::env::var("VEIL_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("VEIL_REQUIRE_INTEROP=1 but {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPED {what}: {why} !!!!!!!!\n");
    None
}

/// Runs `node cli args…` in `dir` with stdin closed, and prints how long
/// it took (the interop tests' record of snarkjs' speed).
pub fn run(cli: &Path, dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    let t = Instant::now();
    let out = Command::new("node")
        .arg(cli)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()?;
    eprintln!(
        "snarkjs {}: {:.1} s",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
    Ok(out)
}
