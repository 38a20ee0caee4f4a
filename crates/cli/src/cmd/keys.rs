//! Which Groth16 keys this process uses (`docs/protocol.md` §7.3): the
//! ceremony keys pinned in `params/` unless the global `--dev-keys` flag
//! asks for the INSECURE development keys of `params/dev/`. Chosen once in
//! `main`; the library crates take a [`KeySet`] explicitly. Unchosen means
//! the ceremony keys: forgetting to choose never selects the insecure ones.

use std::sync::{Once, OnceLock};

use veil_ledger::verifier::Groth16Verifier;
use veil_proofs::{INSECURE_WARNING, KeySet, ParamStore};

static SET: OnceLock<KeySet> = OnceLock::new();
static BANNER: Once = Once::new();

/// Records the choice of `--dev-keys` for the whole process.
pub fn choose(dev_keys: bool) {
    let _ = SET.set(if dev_keys {
        KeySet::Dev
    } else {
        KeySet::Ceremony
    });
}

/// The keys this process uses.
pub fn set() -> KeySet {
    SET.get().copied().unwrap_or(KeySet::Ceremony)
}

/// The banner shown wherever development keys are made or used.
pub fn print_insecure_banner() {
    let line = "!".repeat(78);
    eprintln!("{line}\n!! {INSECURE_WARNING}\n{line}");
}

/// Shows the banner once per process if the development keys are in use.
pub fn warn_if_insecure() {
    if set() == KeySet::Dev {
        BANNER.call_once(print_insecure_banner);
    }
}

/// The default parameter store of the chosen keys.
pub fn store() -> anyhow::Result<ParamStore> {
    warn_if_insecure();
    Ok(ParamStore::open_default(set())?)
}

/// The ledger's verifier over the chosen keys' verifying keys.
pub fn verifier(settle_sizes: &[u32]) -> anyhow::Result<Groth16Verifier> {
    warn_if_insecure();
    Ok(Groth16Verifier::open(set(), settle_sizes)?)
}
