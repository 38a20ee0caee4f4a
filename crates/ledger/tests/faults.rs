//! Adversarial D4: an fsync or write failure during commit. The operation
//! fails closed (an error, never an acknowledgement), no acknowledged write
//! is lost, and the handle refuses every later write until reopened.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use veil_ledger::audit::audit;
use veil_ledger::store::Store;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

/// Switches shared between a test and its [`FaultyFile`].
#[derive(Debug, Default)]
struct Faults {
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
}

/// A redb backend over a file that fails `sync_data` or `write` on demand.
#[derive(Debug)]
struct FaultyFile {
    file: File,
    faults: Arc<Faults>,
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected {what} failure"))
}

impl redb::StorageBackend for FaultyFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.file.metadata()?.len())
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.file.read_exact_at(out, offset)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(injected("fsync"));
        }
        self.file.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.faults.fail_write.load(Ordering::SeqCst) {
            return Err(injected("write"));
        }
        self.file.write_all_at(data, offset)
    }
}

fn account_key(i: u64) -> SigningKey {
    SigningKey::from_seed([i as u8; 32]).unwrap()
}

fn account(i: u64) -> AccountId {
    account_key(i).verifying_key().account_id()
}

fn faulty_engine(path: &Path) -> (Engine, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap();
    let store = Store::create_with_backend(FaultyFile {
        file,
        faults: faults.clone(),
    })
    .unwrap();
    let engine = Engine::with_store(
        store,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    );
    (engine, faults)
}

fn fails_closed(inject: impl Fn(&Faults), clear: impl Fn(&Faults)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let (engine, faults) = faulty_engine(&path);
    // Acknowledged writes before the fault.
    for i in 1..=20 {
        assert_eq!(engine.faucet(account(i), Value(100)).unwrap(), Value(100));
    }
    testing::deposit(
        &engine,
        &account_key(1),
        Value(40),
        Address::from_fr(Fr::from(9u64)),
    )
    .unwrap();
    let acked = engine.status().unwrap();

    inject(&faults);
    let failed = engine.faucet(account(1), Value(5));
    assert!(
        matches!(failed, Err(LedgerError::Storage(_))),
        "a failed commit is an error, never an acknowledgement: {failed:?}"
    );
    assert!(engine.store().is_poisoned());
    // The device recovers, but this handle stays closed for writing.
    clear(&faults);
    assert_eq!(
        engine.faucet(account(2), Value(5)),
        Err(LedgerError::Poisoned)
    );
    assert_eq!(
        testing::deposit(
            &engine,
            &account_key(2),
            Value(1),
            Address::from_fr(Fr::from(10u64))
        ),
        Err(LedgerError::Poisoned)
    );
    assert_eq!(engine.advance(1), Err(LedgerError::Poisoned));
    drop(engine);

    // Reopened from the plain file: everything acknowledged is there, the
    // turnstile holds, and the refused writes are not.
    let store = Store::open(&path).unwrap();
    let report = audit(&store).unwrap();
    assert!(report.ok(), "{:?}", report.violations);
    let engine = Engine::with_store(
        store,
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    );
    let after = engine.status().unwrap();
    assert_eq!(after.commitment_count, acked.commitment_count);
    assert_eq!(after.root, acked.root);
    assert_eq!(after.height, acked.height);
    assert_eq!(engine.balance(&account(2)).unwrap(), Value(100));
    for i in 3..=20 {
        assert_eq!(engine.balance(&account(i)).unwrap(), Value(100));
    }
    // The failed faucet was never acknowledged: present or not, never half.
    let b1 = engine.balance(&account(1)).unwrap();
    assert!(b1 == Value(60) || b1 == Value(65), "{b1:?}");
    // The reopened handle writes again.
    assert_eq!(engine.faucet(account(3), Value(1)).unwrap(), Value(101));
}

#[test]
fn d4_fsync_failure_fails_closed_and_poisons_until_reopen() {
    fails_closed(
        |f| f.fail_sync.store(true, Ordering::SeqCst),
        |f| f.fail_sync.store(false, Ordering::SeqCst),
    );
}

#[test]
fn d4_write_failure_fails_closed_and_poisons_until_reopen() {
    fails_closed(
        |f| f.fail_write.store(true, Ordering::SeqCst),
        |f| f.fail_write.store(false, Ordering::SeqCst),
    );
}
