//! The production verifier with REAL Groth16 proofs over the pinned
//! development keys (docs/protocol.md §7, §8.3). Keys come from the
//! `ParamStore` cache; a handful of proofs are generated per run.

use std::sync::{Arc, OnceLock};

use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{EmbeddedLedger, LedgerConfig};

fn verifier() -> Arc<Groth16Verifier> {
    static V: OnceLock<Arc<Groth16Verifier>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Groth16Verifier::dev(&[1, 8]).expect("pinned dev verifying keys")))
        .clone()
}

#[tokio::test]
async fn dev_params_ledger_opens() {
    let _ = verifier();
    let dir = tempfile::tempdir().unwrap();
    let cfg = LedgerConfig::default();
    let l = EmbeddedLedger::open_with_dev_params(&dir.path().join("l.redb"), cfg).unwrap();
    drop(l);
}
