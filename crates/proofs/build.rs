//! Compiles in the committed verifying keys that exist: `params/<name>.vk`
//! (ceremony keys) and `params/dev/<name>.vk` (development keys), so that
//! committing a key and its pin is all it takes (`docs/protocol.md` §7.3).
//! Each is still checked against its pin before use.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let params = manifest.join("../../params");
    let mut table = String::from("&[\n");
    for (set, dir) in [("Ceremony", params.clone()), ("Dev", params.join("dev"))] {
        // Not the directory itself: cargo would scan it recursively, and
        // CI caches proving keys under `params/cache/`.
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("setup.json").display()
        );
        for (name, path) in vk_files(&dir) {
            println!("cargo:rerun-if-changed={}", path.display());
            let _ = writeln!(
                table,
                "    (KeySet::{set}, {name:?}, include_bytes!({:?}).as_slice()),",
                path.display().to_string()
            );
        }
    }
    table.push_str("]\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out.join("committed_vks.rs"), table).expect("write committed_vks.rs");
}

/// `(name, path)` of every `<name>.vk` directly in `dir`, sorted.
fn vk_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".vk")?.to_owned();
            Some((name, path))
        })
        .collect();
    v.sort();
    v
}
