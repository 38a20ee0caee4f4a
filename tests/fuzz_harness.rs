//! The fuzz targets on stable Rust, in `cargo test` (CI): every target of
//! `fuzz/` (docs/reliability.md, "Fuzzing"; docs/security.md §4) runs its
//! body — the same function the cargo-fuzz binary calls, from `fuzz/src/`
//! — on every file of its committed corpus `fuzz/corpus/<target>/`, then on
//! a bounded number of mutations of that corpus (bit flips, interesting
//! bytes, insertions, deletions, truncations, duplicated ranges, splices of
//! two entries, a few random inputs), drawn from a seeded generator: the
//! same cases on every run.
//!
//! `VEIL_FUZZ_CASES=N` runs N mutations per target instead of the default
//! counts (chosen so all targets together take about a minute on a 2-core
//! machine); `VEIL_FUZZ_SEED=S` draws other cases. A failing input is
//! written to `<target dir>/tmp/fuzz-failures/` and printed in hex; it
//! becomes a named test in [`regressions`] with its bytes.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_bodies;
#[path = "support/seeds.rs"]
mod seeds;

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fuzz_bodies::{TARGETS, Target};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mutations per target in CI, sized by measurement (docs/reliability.md,
/// "Fuzzing"): a decoder case takes microseconds, a gRPC case tens of
/// microseconds (most mutants are refused before any proof check).
const DEFAULT_CASES: u64 = 100_000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Panics anywhere in the process (a handler's task, a blocking pool
/// thread), counted so that a panic the body cannot see still fails it.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

fn target(name: &str) -> &'static Target {
    match TARGETS.iter().find(|t| t.name == name) {
        Some(t) => t,
        None => panic!("no fuzz target {name}"),
    }
}

/// The committed corpus of `name`, in file-name order.
fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect()
}

/// Runs one input; on a failure (a panic of the body or of any thread
/// meanwhile) saves it and fails with its bytes.
fn run_case(t: &Target, what: &str, input: &[u8]) {
    let panics = PANICS.load(Ordering::SeqCst);
    let caught = std::panic::catch_unwind(|| (t.body)(input));
    if caught.is_ok() && PANICS.load(Ordering::SeqCst) == panics {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    let path = dir.join(format!("{}-{what}", t.name));
    let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    panic!(
        "fuzz target {} failed on {what} ({} bytes, saved to {}: {saved:?}): {}",
        t.name,
        input.len(),
        path.display(),
        hex::encode(input)
    );
}

/// One mutation step of `v`; `other` is another corpus entry to splice.
fn mutate_once(v: &mut Vec<u8>, other: &[u8], rng: &mut ChaCha8Rng) {
    const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x40];
    let n = v.len();
    let at = if n == 0 { 0 } else { rng.gen_range(0..n) };
    match rng.gen_range(0..9) {
        0 if n > 0 => v[at] ^= 1 << rng.gen_range(0..8),
        1 if n > 0 => v[at] = INTERESTING[rng.gen_range(0..INTERESTING.len())],
        2 if n > 0 => v[at] = rng.r#gen(),
        3 => {
            let len = rng.gen_range(1..=16);
            let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            v.splice(at..at, bytes);
        }
        4 if n > 0 => {
            let end = (at + rng.gen_range(1..=16)).min(n);
            v.drain(at..end);
        }
        5 => v.truncate(at),
        6 if n > 0 => {
            let end = (at + rng.gen_range(1..=32)).min(n);
            let range = v[at..end].to_vec();
            let to = rng.gen_range(0..=n);
            v.splice(to..to, range);
        }
        7 if !other.is_empty() => {
            let cut = rng.gen_range(0..other.len());
            v.truncate(at);
            v.extend_from_slice(&other[cut..]);
        }
        _ if n > 0 => {
            // A word of 0xff or 0x00 (a field element >= r, a zero key).
            let fill = if rng.r#gen() { 0xff } else { 0x00 };
            let end = (at + 32).min(n);
            v[at..end].fill(fill);
        }
        _ => v.push(rng.r#gen()),
    }
}

/// A case: a corpus entry under 1–4 mutations, or (1 in 16) random bytes.
fn mutant(corpus: &[(String, Vec<u8>)], rng: &mut ChaCha8Rng) -> Vec<u8> {
    if corpus.is_empty() || rng.gen_ratio(1, 16) {
        let len = rng.gen_range(0..512);
        return (0..len).map(|_| rng.r#gen()).collect();
    }
    let mut v = corpus[rng.gen_range(0..corpus.len())].1.clone();
    let other = &corpus[rng.gen_range(0..corpus.len())].1;
    for _ in 0..rng.gen_range(1..=4) {
        mutate_once(&mut v, other, rng);
    }
    v
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.parse() {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={v:?}: {e}"),
    }
}

/// The corpus, then the mutations, of one target; prints what ran.
fn fuzz(name: &str) {
    count_panics();
    let t = target(name);
    let started = Instant::now();
    let corpus = corpus(name);
    assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ is empty");
    for (file, bytes) in &corpus {
        run_case(t, file, bytes);
    }
    let cases = env_u64("VEIL_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let seed = env_u64("VEIL_FUZZ_SEED").unwrap_or(0);
    let salt = name
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    for i in 0..cases {
        let input = mutant(&corpus, &mut rng);
        run_case(t, &format!("seed{seed}-case{i}"), &input);
    }
    println!(
        "fuzz {name}: {} corpus entries, {cases} mutations (seed {seed}), {:.1} s",
        corpus.len(),
        started.elapsed().as_secs_f64()
    );
}

macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name));
            }
        )*
        /// The targets this file runs, as listed above.
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

fuzz_tests!(
    proofs_decode,
    primitives_decode,
    vouchers_decode,
    ledger_proto,
    ledger_records,
    client_inputs,
    socks5_request,
    ledger_grpc,
    node_grpc,
    node_relay,
);

/// Every body has a test here, a cargo-fuzz binary that calls it, and a
/// corpus; no binary is left without a body.
#[test]
fn every_target_runs_here_and_under_cargo_fuzz() {
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, TESTED);
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let bins = manifest.matches("[[bin]]").count();
    assert_eq!(
        bins,
        names.len(),
        "fuzz/Cargo.toml declares {bins} binaries"
    );
    for name in names {
        let src = fuzz_dir().join(format!("fuzz_targets/{name}.rs"));
        let src =
            std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            src.contains(&format!("::{name}(data)")),
            "{name}.rs does not call its body"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "no [[bin]] {name}"
        );
        assert!(!corpus(name).is_empty(), "no corpus for {name}");
    }
}

/// The gRPC targets' committed seeds equal what `fuzz/src` builds from the
/// other targets' seeds (`VEIL_WRITE_FUZZ_SEEDS=1` rewrites them).
#[test]
fn grpc_seed_corpus_is_current() {
    let as_refs = |v: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> { v.to_vec() };
    let ledger = as_refs(&fuzz_bodies::ledger_grpc::seeds());
    let (unary, relay) = fuzz_bodies::node_grpc::seeds();
    for (target, seeds_of) in [
        ("ledger_grpc", ledger),
        ("node_grpc", unary),
        ("node_relay", relay),
    ] {
        let named: Vec<(&str, Vec<u8>)> = seeds_of
            .iter()
            .map(|(n, b)| (n.as_str(), b.clone()))
            .collect();
        seeds::seed_corpus(target, &named);
    }
}

/// The mutator reaches every step and keeps inputs bounded.
#[test]
fn mutants_differ_from_the_corpus_and_stay_small() {
    let corpus = vec![
        ("a".to_owned(), vec![7u8; 64]),
        ("b".to_owned(), vec![9u8; 100]),
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mutants: Vec<Vec<u8>> = (0..1000).map(|_| mutant(&corpus, &mut rng)).collect();
    let changed = mutants
        .iter()
        .filter(|m| !corpus.iter().any(|(_, c)| c == *m))
        .count();
    assert!(
        changed > 900,
        "only {changed} of 1000 mutants differ from the corpus"
    );
    assert!(mutants.iter().any(|m| m.len() < 64) && mutants.iter().any(|m| m.len() > 100));
    assert!(mutants.iter().all(|m| m.len() < 1024));
}

/// Inputs that failed a target once, each with its bytes (none yet).
mod regressions {}
