//! Parameters: committed verifying keys equal the current dev setup, the
//! default set pins no development key, keys load only by pinned hash (B8),
//! the cache refuses corrupted files and survives concurrent writers.

use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use veil_proofs::params::{
    self, CeremonyRecord, ContributionRecord, KeyOrigin, SetupEvent, SetupRecord,
};
use veil_proofs::{CircuitId, KeySet, ParamStore, ParamsError};

/// `params/dev/`: the development keys' pins and verifying keys.
fn params_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../params/dev"))
}

/// `params/`: the ceremony keys' pins and verifying keys.
fn ceremony_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../params"))
}

/// The circuits whose dev setup is cheap enough to redo in a test (< 20 s);
/// settle_64 (hundreds of thousands of constraints) is checked by
/// `committed_settle_64_key_equals_the_current_dev_setup` (ignored).
const CHEAP: [CircuitId; 5] = [
    CircuitId::Access,
    CircuitId::Withdraw,
    CircuitId::Settle(veil_proofs::SettleSize::K1),
    CircuitId::Settle(veil_proofs::SettleSize::K8),
    CircuitId::TreeInsert64,
];

#[test]
fn committed_verifying_keys_equal_the_current_dev_setup() {
    // If this fails, the circuit changed: run
    // `veil setup --dev --circuit all --write-params` and commit params/dev/.
    let record = SetupRecord::committed(KeySet::Dev).expect("committed record parses");
    for id in CHEAP {
        let keys = params::dev_keys(id).expect("dev setup");
        let committed = std::fs::read(params_dir().join(format!("{id}.vk"))).expect("vk file");
        assert_eq!(keys.vk_bytes, committed, "{id}: params/{id}.vk is stale");
        assert_eq!(
            &keys.record,
            record.get(id).expect("pinned"),
            "{id}: setup.json is stale"
        );
    }
}

#[test]
#[ignore = "settle_64 setup takes minutes and hundreds of MB; run by hand after circuit changes"]
fn committed_settle_64_key_equals_the_current_dev_setup() {
    let id = CircuitId::Settle(veil_proofs::SettleSize::K64);
    let record = SetupRecord::committed(KeySet::Dev).unwrap();
    let keys = params::dev_keys(id).expect("dev setup");
    let committed = std::fs::read(params_dir().join(format!("{id}.vk"))).expect("vk file");
    assert_eq!(keys.vk_bytes, committed);
    assert_eq!(&keys.record, record.get(id).expect("pinned"));
}

#[test]
fn every_committed_vk_file_matches_its_pin_and_is_labelled_insecure() {
    let record = SetupRecord::committed(KeySet::Dev).unwrap();
    assert!(!record.circuits.is_empty());
    for (name, rec) in &record.circuits {
        let bytes = std::fs::read(params_dir().join(format!("{name}.vk"))).expect("vk file");
        assert_eq!(hex::encode(Sha256::digest(&bytes)), rec.vk_sha256, "{name}");
        assert_eq!(bytes.len(), rec.vk_bytes);
        assert!(
            matches!(&rec.origin, KeyOrigin::Dev { security, .. } if security == "INSECURE development setup")
        );
        assert_eq!(rec.reduction, veil_proofs::Reduction::Libsnark);
        let id: CircuitId = name.parse().unwrap();
        let vk = params::vk_from_pinned_bytes(id, rec, &bytes).expect("decodes");
        assert_eq!(vk.gamma_abc_g1.len(), rec.public_inputs + 1);
    }
    // The on-disk record is the compiled-in one.
    let on_disk = std::fs::read_to_string(params_dir().join("setup.json")).unwrap();
    assert_eq!(
        SetupRecord::parse(&on_disk, Path::new("setup.json")).unwrap(),
        record
    );
}

#[test]
fn b8_a_verifying_key_with_another_hash_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Put the withdraw key where the access key should be.
    std::fs::copy(
        params_dir().join("withdraw.vk"),
        dir.path().join("access.vk"),
    )
    .unwrap();
    let store = ParamStore::open_dir(dir.path().join("cache"), KeySet::Dev)
        .unwrap()
        .with_params_dir(dir.path());
    match store.verifying_key(CircuitId::Access, None) {
        Err(ParamsError::HashMismatch {
            what: "verifying key",
            ..
        }) => {}
        other => panic!("accepted a foreign VK: {:?}", other.map(|_| ())),
    }
    // The genuine file loads.
    std::fs::copy(params_dir().join("access.vk"), dir.path().join("access.vk")).unwrap();
    assert!(store.verifying_key(CircuitId::Access, None).is_ok());
    // Without a directory, the compiled-in key is used (no proving key needed:
    // the empty cache stays empty), and it is checked against the pin too.
    let bare = ParamStore::open_dir(dir.path().join("cache2"), KeySet::Dev).unwrap();
    for id in CircuitId::ALL {
        assert!(bare.verifying_key(id, None).is_ok(), "{id}");
    }
    assert!(!dir.path().join("cache2").exists());
    let mut wrong_pin = SetupRecord::committed(KeySet::Dev).unwrap();
    if let Some(r) = wrong_pin.circuits.get_mut("settle_64") {
        r.vk_sha256 = "11".repeat(32);
    }
    let bare = bare.with_record(wrong_pin);
    assert!(matches!(
        bare.verifying_key(CircuitId::Settle(veil_proofs::SettleSize::K64), None),
        Err(ParamsError::HashMismatch { .. })
    ));
    // And the raw loader refuses a VK of another circuit under this pin.
    let record = SetupRecord::committed(KeySet::Dev).unwrap();
    let withdraw_vk = std::fs::read(params_dir().join("withdraw.vk")).unwrap();
    assert!(matches!(
        params::vk_from_pinned_bytes(
            CircuitId::Access,
            record.get(CircuitId::Access).unwrap(),
            &withdraw_vk
        ),
        Err(ParamsError::HashMismatch { .. })
    ));
}

#[test]
fn unpinned_circuit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParamStore::open_dir(dir.path(), KeySet::Dev)
        .unwrap()
        .with_record(SetupRecord::default());
    assert!(matches!(
        store.proving_key(CircuitId::Access, None),
        Err(ParamsError::NotPinned {
            circuit: CircuitId::Access,
            ..
        })
    ));
    assert!(matches!(
        store.verifying_key(CircuitId::Access, None),
        Err(ParamsError::NotPinned { .. })
    ));
}

#[test]
fn cache_generates_once_then_loads_and_refuses_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParamStore::open_dir(dir.path(), KeySet::Dev).unwrap();
    let events = Mutex::new(Vec::new());
    let progress = |e: SetupEvent| events.lock().unwrap().push(format!("{e:?}"));

    let pk1 = store
        .proving_key(CircuitId::Withdraw, Some(&progress))
        .expect("generated");
    let path = store.pk_cache_path(CircuitId::Withdraw).unwrap();
    assert!(path.exists());
    let pk2 = store
        .proving_key(CircuitId::Withdraw, Some(&progress))
        .expect("cached");
    assert_eq!(pk1.vk, pk2.vk);
    {
        let ev = events.lock().unwrap();
        assert!(ev[0].starts_with("Generating"), "{ev:?}");
        assert!(ev[1].starts_with("Generated"), "{ev:?}");
        assert!(ev[2].starts_with("Cached"), "{ev:?}");
    }
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // Corrupt one byte: refused with a clear error, not silently replaced.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    match store.proving_key(CircuitId::Withdraw, None) {
        Err(e @ ParamsError::HashMismatch { .. }) => {
            assert!(e.to_string().contains("delete it to regenerate"), "{e}")
        }
        other => panic!("corrupted cache accepted: {:?}", other.map(|_| ())),
    }
    // Truncated: same.
    std::fs::write(&path, &bytes[..100]).unwrap();
    assert!(matches!(
        store.proving_key(CircuitId::Withdraw, None),
        Err(ParamsError::HashMismatch { .. })
    ));
}

#[test]
fn generated_keys_that_differ_from_the_pin_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut record = SetupRecord::committed(KeySet::Dev).unwrap();
    if let Some(r) = record.circuits.get_mut("withdraw") {
        r.vk_sha256 = "00".repeat(32);
    }
    let store = ParamStore::open_dir(dir.path(), KeySet::Dev)
        .unwrap()
        .with_record(record);
    match store.proving_key(CircuitId::Withdraw, None) {
        Err(e @ ParamsError::HashMismatch { .. }) => {
            assert!(e.to_string().contains("--write-params"), "{e}")
        }
        other => panic!("unpinned keys accepted: {:?}", other.map(|_| ())),
    }
    // Nothing was cached under the bad pin.
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

#[test]
fn concurrent_atomic_writers_leave_one_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pk");
    let content: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| params::write_atomic(&path, &content).unwrap());
        }
    });
    assert_eq!(std::fs::read(&path).unwrap(), content);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn write_params_regenerates_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let keys = params::dev_keys(CircuitId::Withdraw).unwrap();
    // Development keys never go into a ceremony record: nothing written.
    let err = params::write_params(dir.path(), KeySet::Ceremony, &[&keys]).unwrap_err();
    assert!(err.to_string().contains("development key"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    params::write_params(dir.path(), KeySet::Dev, &[&keys]).unwrap();
    let text = std::fs::read_to_string(dir.path().join("setup.json")).unwrap();
    let rec = SetupRecord::parse(&text, Path::new("setup.json")).unwrap();
    assert_eq!(rec.get(CircuitId::Withdraw).unwrap(), &keys.record);
    assert!(rec.warning.contains("INSECURE"));
    assert_eq!(
        std::fs::read(dir.path().join("withdraw.vk")).unwrap(),
        keys.vk_bytes
    );
}

/// A record pinning `withdraw` to a ceremony key that is not installed.
fn ceremony_record() -> SetupRecord {
    let mut record = SetupRecord::committed(KeySet::Dev).unwrap();
    if let Some(r) = record.circuits.get_mut("withdraw") {
        r.origin = KeyOrigin::Ceremony(CeremonyRecord {
            transcript_sha256: "ab".repeat(32),
            transcript_bytes: 1234,
            ptau_sha256: "cd".repeat(32),
            circuit_hash: "ef".repeat(64),
            contributions: vec![ContributionRecord {
                hash: "01".repeat(64),
                name: Some("alice".into()),
                beacon: None,
            }],
        });
        r.reduction = veil_proofs::Reduction::Circom;
    }
    record
}

#[test]
fn a_ceremony_pin_is_never_filled_with_a_development_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = ParamStore::open_dir(dir.path(), KeySet::Dev)
        .unwrap()
        .with_record(ceremony_record());
    match store.proving_key(CircuitId::Withdraw, None) {
        Err(e @ ParamsError::NotInstalled(CircuitId::Withdraw)) => {
            assert!(e.to_string().contains("--from-ceremony"), "{e}")
        }
        other => panic!("expected NotInstalled, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
    // The warning follows the circuits asked for.
    assert!(store.insecure_warning(&[CircuitId::Withdraw]).is_none());
    assert!(
        store
            .insecure_warning(&[CircuitId::Withdraw, CircuitId::Access])
            .is_some()
    );
}

#[test]
fn a_ceremony_record_round_trips_and_says_what_differs() {
    let record = ceremony_record();
    let text = record.to_json();
    assert!(text.contains("\"source\": \"ceremony\""), "{text}");
    assert!(text.contains("\"reduction\": \"circom\""), "{text}");
    let back = SetupRecord::parse(&text, Path::new("setup.json")).unwrap();
    assert_eq!(back, record);
    let pin = record.get(CircuitId::Withdraw).unwrap();
    let dev = SetupRecord::committed(KeySet::Dev).unwrap();
    let dev = dev.get(CircuitId::Withdraw).unwrap();
    assert_eq!(pin.differences(dev), vec!["source", "reduction"]);
    let mut other = pin.clone();
    if let KeyOrigin::Ceremony(c) = &mut other.origin {
        c.contributions[0].name = None;
    }
    assert_eq!(pin.differences(&other), vec!["contributions"]);
    // A record without a source or reduction does not parse.
    let stripped = text.replace("\"source\": \"ceremony\",", "");
    assert!(SetupRecord::parse(&stripped, Path::new("setup.json")).is_err());
}

#[test]
fn the_default_set_pins_no_development_key_and_never_makes_one() {
    let record = SetupRecord::committed(KeySet::Ceremony).expect("params/setup.json parses");
    assert!(record.circuits.values().all(|r| !r.is_dev()));
    let on_disk = std::fs::read_to_string(ceremony_dir().join("setup.json")).unwrap();
    assert_eq!(
        SetupRecord::parse(&on_disk, Path::new("setup.json")).unwrap(),
        record
    );
    let dir = tempfile::tempdir().unwrap();
    let store = ParamStore::open_dir(dir.path(), KeySet::Ceremony).unwrap();
    assert_eq!(store.set(), KeySet::Ceremony);
    for id in CircuitId::ALL {
        if record.circuits.contains_key(id.name()) {
            // A ceremony key: never generated, only installed.
            assert!(store.verifying_key(id, None).is_ok(), "{id}");
            assert!(
                matches!(
                    store.proving_key(id, None),
                    Err(ParamsError::NotInstalled(_)) | Ok(_)
                ),
                "{id}"
            );
            continue;
        }
        for err in [
            store.proving_key(id, None).map(|_| ()).unwrap_err(),
            store.verifying_key(id, None).map(|_| ()).unwrap_err(),
        ] {
            assert!(
                matches!(err, ParamsError::NotPinned { circuit, ceremony: true } if circuit == id),
                "{id}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("--dev-keys") && text.contains("--from-ceremony"),
                "{text}"
            );
        }
    }
    // Nothing was generated into the cache.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_record_holding_keys_of_the_other_set_is_refused() {
    let path = Path::new("setup.json");
    let dev = SetupRecord::committed(KeySet::Dev).unwrap();
    assert!(dev.check_set(KeySet::Dev, path).is_ok());
    let err = dev
        .check_set(KeySet::Ceremony, path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("development key") && err.contains("params/dev/setup.json"),
        "{err}"
    );
    // One ceremony entry among development ones (and the reverse).
    let mixed = ceremony_record();
    let err = mixed.check_set(KeySet::Dev, path).unwrap_err().to_string();
    assert!(
        err.contains("withdraw is pinned as a ceremony key"),
        "{err}"
    );
    assert!(mixed.check_set(KeySet::Ceremony, path).is_err());
    let mut only_ceremony = mixed.clone();
    only_ceremony.circuits.retain(|name, _| name == "withdraw");
    assert!(only_ceremony.check_set(KeySet::Ceremony, path).is_ok());
    assert!(only_ceremony.check_set(KeySet::Dev, path).is_err());
    // The empty record belongs to either set.
    assert!(
        SetupRecord::default()
            .check_set(KeySet::Ceremony, path)
            .is_ok()
    );
}

#[test]
fn both_sets_compile_in_a_verifying_key_for_every_pin() {
    for set in [KeySet::Dev, KeySet::Ceremony] {
        let dir = tempfile::tempdir().unwrap();
        let store = ParamStore::open_dir(dir.path(), set).unwrap();
        for name in store.record().circuits.keys() {
            let id: CircuitId = name.parse().unwrap();
            assert!(store.verifying_key(id, None).is_ok(), "{set:?} {id}");
        }
    }
}
