//! The `veil` binary for tests that run it as a separate process.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `$VEIL_BIN`, else `<target>/debug/veil` (built with cargo if absent).
pub fn veil_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("VEIL_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("veil");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "veil-cli", "--bin", "veil"])
            .current_dir(&root)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "could not build the veil binary (set VEIL_BIN)");
    }
    bin
}
