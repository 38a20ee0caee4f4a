//! The committed seed corpus of the cargo-fuzz targets
//! (`fuzz/corpus/<target>/seed-<name>`), made from valid encodings.
//!
//! [`seed_corpus`] checks that the committed seeds equal the current
//! encodings, so a format change cannot leave them stale; with
//! `VEIL_WRITE_FUZZ_SEEDS=1` it rewrites them instead.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Checks (or, with `VEIL_WRITE_FUZZ_SEEDS=1`, writes) the seeds of `target`.
pub fn seed_corpus(target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = corpus_dir(target);
    let write = std::env::var_os("VEIL_WRITE_FUZZ_SEEDS").is_some_and(|v| v == "1");
    if write {
        std::fs::create_dir_all(&dir).expect("corpus directory");
    }
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        if write {
            std::fs::write(&path, bytes).expect("write seed");
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            committed == *bytes,
            "{} is stale: rerun this test with VEIL_WRITE_FUZZ_SEEDS=1 and commit",
            path.display()
        );
    }
}
